//! The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake with WireGuard's
//! identifier and messages (whitepaper section 5.4.2 and 5.4.3): building and
//! consuming the initiation and the response, down to the two transport keys.
//! It owns the chaining key and hash of one handshake and TAI64N timestamps;
//! MACs are `cookie`'s, timing and retries are `peer`'s. Random values (the
//! ephemeral keys) are passed in; it must not read a clock or a random source.

use std::time::{Duration, Instant};

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::cookie;
use super::crypto::{aead_open, aead_seal, dh, hash, kdf, Key, KEY_LEN, TAG_LEN};
use super::error::Error;
use super::wire::{put_header, Initiation, MessageType, Response, INITIATION_LEN, RESPONSE_LEN};

const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";

/// TAI64N's label for 1970-01-01 00:00:00 TAI plus the 10 s offset.
const TAI64_BASE: u64 = 0x4000_0000_0000_000a;
/// Nanoseconds are rounded down to this (about 16.8 ms) so that the timestamp
/// does not leak fine timing.
const WHITEN_MASK: u32 = (1 << 24) - 1;

/// Our static key pair and the keys derived from our public key.
pub struct StaticKeys {
    pub(crate) private: StaticSecret,
    pub(crate) public: PublicKey,
    /// HASH(LABEL_MAC1 || our public): checks MAC1 of what we receive.
    pub(crate) mac1_key: [u8; 32],
    /// HASH(LABEL_COOKIE || our public): seals cookies we send.
    pub(crate) cookie_key: [u8; 32],
}

impl StaticKeys {
    pub fn new(private: StaticSecret) -> StaticKeys {
        let public = PublicKey::from(&private);
        StaticKeys {
            mac1_key: cookie::mac1_key(&public),
            cookie_key: cookie::cookie_key(&public),
            private,
            public,
        }
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The static key of whoever sent the initiation `datagram` to us
    /// (MAC1 checked, the whole initiation decrypted), for a caller with
    /// many peers on one key to find the one to hand it to: initiations
    /// carry no receiver index. It costs two DH operations, and takes no
    /// lock: an initiation forged with a peer's public key (which needs no
    /// private one to encrypt) fails here, at its timestamp, so it never
    /// reaches the peer's lock. The peer's own check then costs one (the
    /// static DH is computed once per peer).
    pub fn initiator_of(&self, datagram: &[u8]) -> Result<PublicKey, Error> {
        match super::wire::parse(datagram)? {
            super::wire::Message::Initiation(m) => {
                cookie::check_mac1(datagram, &self.mac1_key)?;
                let opened = open_static(self, &m)?;
                let remote_static = opened.remote_static;
                let static_shared = dh(&self.private, &remote_static)?;
                open_rest(opened, &m, &static_shared)?;
                Ok(remote_static)
            }
            _ => Err(Error::UnexpectedMessage),
        }
    }
}

/// What we know of the far side: its static key, the pre-shared key, the
/// keys derived from them.
pub(crate) struct Remote {
    pub public: PublicKey,
    pub psk: Key,
    /// DH(our static, its static), computed once.
    pub static_shared: Key,
    pub mac1_key: [u8; 32],
    pub cookie_key: [u8; 32],
}

impl Remote {
    pub fn new(
        local: &StaticKeys,
        public: PublicKey,
        psk: Option<[u8; 32]>,
    ) -> Result<Remote, Error> {
        Ok(Remote {
            public,
            psk: Zeroizing::new(psk.unwrap_or([0; 32])),
            static_shared: dh(&local.private, &public)?,
            mac1_key: cookie::mac1_key(&public),
            cookie_key: cookie::cookie_key(&public),
        })
    }
}

/// Turns the caller's monotonic `now` into TAI64N timestamps: a wall-clock
/// reading and the `Instant` it was taken at, given once. Timestamps only
/// grow within a process, whatever the wall clock does meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Tai64nClock {
    base: Instant,
    /// Time since the Unix epoch at `base`.
    wall: Duration,
}

impl Tai64nClock {
    pub fn new(base: Instant, since_unix_epoch: Duration) -> Tai64nClock {
        Tai64nClock {
            base,
            wall: since_unix_epoch,
        }
    }

    /// The whitened TAI64N timestamp at `now` (12 bytes, big-endian, so that
    /// byte order is time order).
    pub fn timestamp(&self, now: Instant) -> [u8; 12] {
        let t = self.wall + now.saturating_duration_since(self.base);
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&TAI64_BASE.wrapping_add(t.as_secs()).to_be_bytes());
        out[8..].copy_from_slice(&(t.subsec_nanos() & !WHITEN_MASK).to_be_bytes());
        out
    }
}

/// Transport keys from a completed handshake.
pub(crate) struct TransportKeys {
    pub send: Key,
    pub recv: Key,
    pub local_index: u32,
    pub remote_index: u32,
    /// Whether we were the initiator of this handshake.
    pub initiator: bool,
}

/// The initiator's state between sending an initiation and its response.
pub(crate) struct InitiatorState {
    pub local_index: u32,
    chaining: Key,
    hash: [u8; 32],
    ephemeral: StaticSecret,
}

fn initial(responder_public: &PublicKey) -> (Key, [u8; 32]) {
    let ck = hash(&[CONSTRUCTION]);
    let h = hash(&[&hash(&[&ck, IDENTIFIER]), responder_public.as_bytes()]);
    (Zeroizing::new(ck), h)
}

/// Mixes `input` into the chaining key; returns the new key and one more.
fn mix2(ck: &Key, input: &[u8]) -> (Key, Key) {
    let [c, k] = kdf::<2>(ck, input);
    (c, k)
}

/// Writes an initiation (type 1) into `out`, MACs left zero for `cookie` to
/// stamp. `ephemeral` comes from the caller's RNG.
pub(crate) fn create_initiation(
    local: &StaticKeys,
    remote: &Remote,
    local_index: u32,
    timestamp: [u8; 12],
    ephemeral: StaticSecret,
    out: &mut [u8; INITIATION_LEN],
) -> Result<InitiatorState, Error> {
    let (ck, h) = initial(&remote.public);
    let e_pub = PublicKey::from(&ephemeral);
    let [ck] = kdf::<1>(&ck, e_pub.as_bytes());
    let h = hash(&[&h, e_pub.as_bytes()]);
    let (ck, k) = mix2(&ck, &dh(&ephemeral, &remote.public)?[..]);
    let mut enc_static = [0u8; 32 + TAG_LEN];
    aead_seal(&k, 0, local.public.as_bytes(), &h, &mut enc_static);
    let h = hash(&[&h, &enc_static]);
    let (ck, k) = mix2(&ck, &remote.static_shared[..]);
    let mut enc_ts = [0u8; 12 + TAG_LEN];
    aead_seal(&k, 0, &timestamp, &h, &mut enc_ts);
    let h = hash(&[&h, &enc_ts]);

    out.fill(0);
    put_header(out, MessageType::Initiation);
    out[4..8].copy_from_slice(&local_index.to_le_bytes());
    out[8..40].copy_from_slice(e_pub.as_bytes());
    out[40..88].copy_from_slice(&enc_static);
    out[88..116].copy_from_slice(&enc_ts);
    Ok(InitiatorState {
        local_index,
        chaining: ck,
        hash: h,
        ephemeral,
    })
}

/// An initiation decrypted by the responder from the peer it expected, not
/// yet accepted: the caller checks the timestamp before answering.
pub(crate) struct SeenInitiation {
    pub timestamp: [u8; 12],
    pub sender: u32,
    remote_ephemeral: PublicKey,
    chaining: Key,
    hash: [u8; 32],
}

/// An initiation read up to its static key: the first DH (ours with its
/// ephemeral) and the static key's AEAD.
struct OpenedStatic {
    remote_static: PublicKey,
    remote_ephemeral: PublicKey,
    chaining: Key,
    hash: [u8; 32],
}

fn open_static(local: &StaticKeys, msg: &Initiation) -> Result<OpenedStatic, Error> {
    let (ck, h) = initial(&local.public);
    let e_pub = PublicKey::from(msg.ephemeral);
    let [ck] = kdf::<1>(&ck, &msg.ephemeral);
    let h = hash(&[&h, &msg.ephemeral]);
    let (ck, k) = mix2(&ck, &dh(&local.private, &e_pub)?[..]);
    let mut s_pub = [0u8; 32];
    aead_open(&k, 0, &msg.encrypted_static, &h, &mut s_pub)?;
    Ok(OpenedStatic {
        remote_static: PublicKey::from(s_pub),
        remote_ephemeral: e_pub,
        chaining: ck,
        hash: hash(&[&h, &msg.encrypted_static]),
    })
}

/// Decrypts an initiation addressed to `local` from `remote` (MAC1 already
/// checked): another static key is [`Error::WrongPeer`]. The static DH is
/// `remote`'s, computed once.
pub(crate) fn consume_initiation(
    local: &StaticKeys,
    msg: &Initiation,
    remote: &Remote,
) -> Result<SeenInitiation, Error> {
    let opened = open_static(local, msg)?;
    if opened.remote_static != remote.public {
        return Err(Error::WrongPeer);
    }
    open_rest(opened, msg, &remote.static_shared)
}

/// The rest of an initiation after its static key: the timestamp, under
/// the static DH `static_shared` (ours with the static key it named).
fn open_rest(
    opened: OpenedStatic,
    msg: &Initiation,
    static_shared: &Key,
) -> Result<SeenInitiation, Error> {
    let (ck, k) = mix2(&opened.chaining, &static_shared[..]);
    let h = opened.hash;
    let mut timestamp = [0u8; 12];
    aead_open(&k, 0, &msg.encrypted_timestamp, &h, &mut timestamp)?;
    let h = hash(&[&h, &msg.encrypted_timestamp]);
    Ok(SeenInitiation {
        timestamp,
        sender: msg.sender,
        remote_ephemeral: opened.remote_ephemeral,
        chaining: ck,
        hash: h,
    })
}

/// Writes the response (type 2) to an accepted initiation, MACs left zero,
/// and returns the responder's transport keys.
pub(crate) fn create_response(
    remote: &Remote,
    seen: SeenInitiation,
    local_index: u32,
    ephemeral: StaticSecret,
    out: &mut [u8; RESPONSE_LEN],
) -> Result<TransportKeys, Error> {
    let e_pub = PublicKey::from(&ephemeral);
    let [ck] = kdf::<1>(&seen.chaining, e_pub.as_bytes());
    let h = hash(&[&seen.hash, e_pub.as_bytes()]);
    let [ck] = kdf::<1>(&ck, &dh(&ephemeral, &seen.remote_ephemeral)?[..]);
    let [ck] = kdf::<1>(&ck, &dh(&ephemeral, &remote.public)?[..]);
    let [ck, tau, k] = kdf::<3>(&ck, &remote.psk[..]);
    let h = hash(&[&h, &tau[..]]);
    let mut empty = [0u8; TAG_LEN];
    aead_seal(&k, 0, &[], &h, &mut empty);

    out.fill(0);
    put_header(out, MessageType::Response);
    out[4..8].copy_from_slice(&local_index.to_le_bytes());
    out[8..12].copy_from_slice(&seen.sender.to_le_bytes());
    out[12..44].copy_from_slice(e_pub.as_bytes());
    out[44..60].copy_from_slice(&empty);
    let [initiator_send, responder_send] = kdf::<2>(&ck, &[]);
    Ok(TransportKeys {
        send: responder_send,
        recv: initiator_send,
        local_index,
        remote_index: seen.sender,
        initiator: false,
    })
}

/// Consumes the response to our initiation (MAC1 already checked) and returns
/// the initiator's transport keys.
pub(crate) fn consume_response(
    local: &StaticKeys,
    remote: &Remote,
    state: &InitiatorState,
    msg: &Response,
) -> Result<TransportKeys, Error> {
    let e_pub = PublicKey::from(msg.ephemeral);
    let [ck] = kdf::<1>(&state.chaining, &msg.ephemeral);
    let h = hash(&[&state.hash, &msg.ephemeral]);
    let [ck] = kdf::<1>(&ck, &dh(&state.ephemeral, &e_pub)?[..]);
    let [ck] = kdf::<1>(&ck, &dh(&local.private, &e_pub)?[..]);
    let [ck, tau, k] = kdf::<3>(&ck, &remote.psk[..]);
    let h = hash(&[&h, &tau[..]]);
    aead_open(&k, 0, &msg.encrypted_nothing, &h, &mut [])?;
    let [initiator_send, responder_send] = kdf::<2>(&ck, &[]);
    Ok(TransportKeys {
        send: initiator_send,
        recv: responder_send,
        local_index: state.local_index,
        remote_index: msg.sender,
        initiator: true,
    })
}

/// A fresh ephemeral key from the caller's RNG.
pub(crate) fn ephemeral(rng: &mut impl rand_core::CryptoRngCore) -> StaticSecret {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(&mut bytes[..]);
    StaticSecret::from(*bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    /// An initiation that names a peer's public key, made by someone who
    /// has only that public key: its static key decrypts (anyone can
    /// encrypt it), its timestamp does not. `initiator_of` refuses it, so
    /// it never reaches the peer's lock; a genuine one passes.
    #[test]
    fn an_initiation_forged_with_a_peers_public_key_fails_before_the_peer() {
        let responder = StaticKeys::new(StaticSecret::random_from_rng(OsRng));
        let peer = StaticKeys::new(StaticSecret::random_from_rng(OsRng));
        let attacker = StaticSecret::random_from_rng(OsRng);
        let initiation = |local: &StaticKeys| {
            let remote = Remote::new(local, responder.public(), None).expect("remote");
            let mut out = [0u8; INITIATION_LEN];
            create_initiation(local, &remote, 7, [1; 12], ephemeral(&mut OsRng), &mut out)
                .expect("initiation");
            cookie::stamp(&mut out, &cookie::mac1_key(&responder.public()), None);
            out
        };
        assert_eq!(
            responder.initiator_of(&initiation(&peer)),
            Ok(peer.public())
        );
        // The attacker's own private key behind the peer's public one.
        let forged = StaticKeys {
            public: peer.public(),
            ..StaticKeys::new(attacker)
        };
        assert!(responder.initiator_of(&initiation(&forged)).is_err());
    }
}
