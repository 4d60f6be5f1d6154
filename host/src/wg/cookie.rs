//! MAC1, MAC2 and cookie replies (whitepaper section 5.4.4 and 5.4.7). A
//! handshake message ends in MAC1 (keyed by the receiver's public key: proves
//! the sender knows whom it talks to) and MAC2 (keyed by a cookie the
//! receiver handed out for the sender's address: proves the sender can
//! receive there). It owns the responder's rotating cookie secret
//! ([`CookieChecker`]) and the initiator's stored cookie ([`CookieJar`]).
//! When to demand a cookie (load) is the caller's decision.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2sMac;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use super::crypto::{hash, mac, xaead_open, xaead_seal};
use super::error::Error;
use super::wire::{mac1_offset, put_header, CookieReply, MessageType, COOKIE_REPLY_LEN};

const LABEL_MAC1: &[u8] = b"mac1----";
const LABEL_COOKIE: &[u8] = b"cookie--";
/// How long a cookie secret (responder) and a received cookie (initiator)
/// are used.
pub(crate) const COOKIE_LIFETIME: Duration = Duration::from_secs(120);

pub(crate) fn mac1_key(public: &PublicKey) -> [u8; 32] {
    hash(&[LABEL_MAC1, public.as_bytes()])
}

pub(crate) fn cookie_key(public: &PublicKey) -> [u8; 32] {
    hash(&[LABEL_COOKIE, public.as_bytes()])
}

/// Constant-time check of a 16-byte MAC.
fn verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match <Blake2sMac<U16> as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            Mac::update(&mut m, data);
            m.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

/// Writes MAC1 (keyed by the receiver's `mac1_key`) and MAC2 (by `cookie`,
/// zeros without one) into the last 32 bytes of a handshake message; returns
/// MAC1, which a cookie reply to this message will be bound to.
pub(crate) fn stamp(
    msg: &mut [u8],
    receiver_mac1_key: &[u8; 32],
    cookie: Option<&[u8; 16]>,
) -> [u8; 16] {
    let at = mac1_offset(msg.len());
    let mac1 = mac(receiver_mac1_key, &[&msg[..at]]);
    msg[at..at + 16].copy_from_slice(&mac1);
    let mac2 = cookie.map_or([0; 16], |c| mac(c, &[&msg[..at + 16]]));
    msg[at + 16..at + 32].copy_from_slice(&mac2);
    mac1
}

/// Checks MAC1 of a handshake message addressed to the owner of `mac1_key`.
pub(crate) fn check_mac1(msg: &[u8], own_mac1_key: &[u8; 32]) -> Result<(), Error> {
    let at = mac1_offset(msg.len());
    if verify(own_mac1_key, &msg[..at], &msg[at..at + 16]) {
        Ok(())
    } else {
        Err(Error::Mac1)
    }
}

fn addr_bytes(src: SocketAddr) -> ([u8; 18], usize) {
    let mut b = [0u8; 18];
    let n = match src {
        SocketAddr::V4(a) => {
            b[..4].copy_from_slice(&a.ip().octets());
            b[4..6].copy_from_slice(&a.port().to_be_bytes());
            6
        }
        SocketAddr::V6(a) => {
            b[..16].copy_from_slice(&a.ip().octets());
            b[16..18].copy_from_slice(&a.port().to_be_bytes());
            18
        }
    };
    (b, n)
}

/// The responder's side: hands out cookies for source addresses and checks
/// MAC2. The secret changes every two minutes (from the caller's RNG).
pub struct CookieChecker {
    own_cookie_key: [u8; 32],
    secret: Zeroizing<[u8; 32]>,
    born: Option<Instant>,
}

impl CookieChecker {
    pub(crate) fn new(own_cookie_key: [u8; 32]) -> CookieChecker {
        CookieChecker {
            own_cookie_key,
            secret: Zeroizing::new([0; 32]),
            born: None,
        }
    }

    fn current(&self, now: Instant) -> Option<&[u8; 32]> {
        let born = self.born?;
        (now.saturating_duration_since(born) < COOKIE_LIFETIME).then_some(&*self.secret)
    }

    fn cookie(secret: &[u8; 32], src: SocketAddr) -> [u8; 16] {
        let (b, n) = addr_bytes(src);
        mac(secret, &[&b[..n]])
    }

    /// Whether MAC2 of `msg` is the one the cookie for `src` gives.
    pub fn check_mac2(&self, msg: &[u8], src: SocketAddr, now: Instant) -> bool {
        let Some(secret) = self.current(now) else {
            return false;
        };
        let cookie = Self::cookie(secret, src);
        let at = mac1_offset(msg.len()) + 16;
        verify(&cookie, &msg[..at], &msg[at..at + 16])
    }

    /// A cookie reply (type 3) to handshake message `msg` from `src`, whose
    /// sender index is `sender`.
    pub fn reply(
        &mut self,
        msg: &[u8],
        sender: u32,
        src: SocketAddr,
        now: Instant,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> [u8; COOKIE_REPLY_LEN] {
        if self.current(now).is_none() {
            rng.fill_bytes(&mut self.secret[..]);
            self.born = Some(now);
        }
        let cookie = Self::cookie(&self.secret, src);
        let at = mac1_offset(msg.len());
        let mut out = [0u8; COOKIE_REPLY_LEN];
        put_header(&mut out, MessageType::CookieReply);
        out[4..8].copy_from_slice(&sender.to_le_bytes());
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        out[8..32].copy_from_slice(&nonce);
        xaead_seal(
            &self.own_cookie_key,
            &nonce,
            &cookie,
            &msg[at..at + 16],
            &mut out[32..],
        );
        out
    }
}

/// The initiator's side: the MAC1 of the latest handshake message sent (a
/// cookie reply is bound to it) and the cookie received, for two minutes.
#[derive(Default)]
pub(crate) struct CookieJar {
    last_mac1: Option<[u8; 16]>,
    cookie: Option<([u8; 16], Instant)>,
}

impl CookieJar {
    pub fn cookie(&self, now: Instant) -> Option<&[u8; 16]> {
        self.cookie
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < COOKIE_LIFETIME)
            .map(|(c, _)| c)
    }

    pub fn sent(&mut self, mac1: [u8; 16]) {
        self.last_mac1 = Some(mac1);
    }

    /// Takes a cookie reply sealed with the far side's `cookie_key`.
    pub fn consume(
        &mut self,
        msg: &CookieReply,
        remote_cookie_key: &[u8; 32],
        now: Instant,
    ) -> Result<(), Error> {
        let mac1 = self.last_mac1.ok_or(Error::UnexpectedMessage)?;
        let mut cookie = [0u8; 16];
        xaead_open(
            remote_cookie_key,
            &msg.nonce,
            &msg.encrypted_cookie,
            &mac1,
            &mut cookie,
        )?;
        self.cookie = Some((cookie, now));
        // One reply per message sent.
        self.last_mac1 = None;
        Ok(())
    }
}
