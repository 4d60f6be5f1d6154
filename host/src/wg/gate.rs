//! The responder's guard in front of all peers of one static key (the
//! whitepaper's section 5.3 and 5.4.7): a handshake message must carry a
//! valid MAC1 for our public key, and once more than the limit of them
//! arrived since the caller last reset the count (once a second: under
//! load), a valid MAC2 for its source address too, or it is answered with a
//! cookie reply instead of being processed. It runs before the initiator's
//! static key is decrypted (two DH operations), so a flood of initiations
//! costs a MAC each, not a DH; only messages with a valid MAC1 count, so
//! junk cannot put the gateway under load. Under load, a message with a
//! valid cookie is still limited per source ([`SourceLimiter`]: 20 a second,
//! as the kernel's WireGuard), so one source cannot take all the handshake
//! work by answering its cookies.
//!
//! It owns the gateway-wide cookie secret, the count and the per-source
//! buckets. It must not touch sockets or the clock (the caller resets the
//! count).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand_core::CryptoRngCore;

use super::cookie::{check_mac1, CookieChecker};
use super::error::Error;
use super::handshake::StaticKeys;
use super::ratelimit::SourceLimiter;
use super::wire::{self, Message, COOKIE_REPLY_LEN};

/// What to do with a datagram, as far as the gate is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Hand it to its peer.
    Pass,
    /// Send back the cookie reply now in the caller's buffer's first
    /// [`COOKIE_REPLY_LEN`] bytes, and drop the message.
    CookieReply,
}

/// What the gate works with once under load.
struct UnderLoad {
    checker: CookieChecker,
    sources: SourceLimiter,
}

/// See the module documentation.
pub struct Gate {
    keys: Arc<StaticKeys>,
    under_load: Mutex<UnderLoad>,
    /// Handshake messages with a valid MAC1 since the last reset.
    count: AtomicU64,
    /// Past this many, the gateway is under load.
    limit: u64,
}

impl Gate {
    /// A gate that asks for cookies past `limit` handshake messages between
    /// two resets.
    pub fn new(keys: Arc<StaticKeys>, limit: u64) -> Gate {
        let under_load = Mutex::new(UnderLoad {
            checker: CookieChecker::new(keys.cookie_key),
            sources: SourceLimiter::default(),
        });
        Gate {
            keys,
            under_load,
            count: AtomicU64::new(0),
            limit,
        }
    }

    /// Starts counting afresh and forgets the sources idle for a second
    /// (call once a second).
    pub fn reset(&self, now: Instant) {
        self.count.store(0, Ordering::Relaxed);
        let mut state = self.under_load.lock().unwrap_or_else(|p| p.into_inner());
        state.sources.prune(now);
    }

    /// Checks `datagram` from `src`. Data messages and cookie replies pass
    /// (their peer authenticates them); handshake messages need MAC1, and
    /// under load MAC2 and a token of their source's bucket. Malformed
    /// input is an error, never a panic.
    /// `known` says whether a source is a tunnel's peer: asked only when
    /// the per-source table is full ([`SourceLimiter::allow`]).
    pub fn admit(
        &self,
        datagram: &[u8],
        src: SocketAddr,
        now: Instant,
        reply: &mut [u8; COOKIE_REPLY_LEN],
        rng: &mut impl CryptoRngCore,
        known: impl FnOnce(IpAddr) -> bool,
    ) -> Result<Admit, Error> {
        let sender = match wire::parse(datagram)? {
            Message::Initiation(m) => m.sender,
            Message::Response(m) => m.sender,
            Message::CookieReply(_) | Message::Data(_) => return Ok(Admit::Pass),
        };
        check_mac1(datagram, &self.keys.mac1_key)?;
        let under_load = self.count.fetch_add(1, Ordering::Relaxed) >= self.limit;
        if !under_load {
            return Ok(Admit::Pass);
        }
        let mut state = self.under_load.lock().unwrap_or_else(|p| p.into_inner());
        if !state.checker.check_mac2(datagram, src, now) {
            *reply = state.checker.reply(datagram, sender, src, now, rng);
            return Ok(Admit::CookieReply);
        }
        if state.sources.allow(src.ip(), now, || known(src.ip())) {
            Ok(Admit::Pass)
        } else {
            Err(Error::SourceFlood)
        }
    }
}
