//! Vocabulary shared by the path attribute decoder and encoder: type codes
//! and flag bits (RFC 4271 §4.3, §5; RFC 4760; RFC 6793; RFC 8092) and the
//! error-handling approaches of RFC 7606 §2 with the rule of §3.h that the
//! strongest one wins. It owns how problems found in one UPDATE are
//! collected into one verdict; it must not parse or write any bytes.

use crate::bgp::message::{error_code, Notification};

/// Attribute type codes.
pub(super) const ORIGIN: u8 = 1;
pub(super) const AS_PATH: u8 = 2;
pub(super) const NEXT_HOP: u8 = 3;
pub(super) const MULTI_EXIT_DISC: u8 = 4;
pub(super) const LOCAL_PREF: u8 = 5;
pub(super) const ATOMIC_AGGREGATE: u8 = 6;
pub(super) const AGGREGATOR: u8 = 7;
pub(super) const COMMUNITIES: u8 = 8;
pub(super) const MP_REACH_NLRI: u8 = 14;
pub(super) const MP_UNREACH_NLRI: u8 = 15;
pub(super) const AS4_PATH: u8 = 17;
pub(super) const AS4_AGGREGATOR: u8 = 18;
pub(super) const LARGE_COMMUNITIES: u8 = 32;

/// Attribute flag bits (RFC 4271 §4.3). The low four bits are unused: sent
/// as zero, ignored on receipt.
pub(super) const OPTIONAL: u8 = 0x80;
pub(super) const TRANSITIVE: u8 = 0x40;
pub(super) const PARTIAL: u8 = 0x20;
pub(super) const EXTENDED_LENGTH: u8 = 0x10;
/// The Optional and Transitive bits, the ones RFC 7606 §3.c checks.
pub(super) const CATEGORY: u8 = OPTIONAL | TRANSITIVE;
/// Category of a well-known attribute (transitive, not optional).
pub(super) const WELL_KNOWN: u8 = TRANSITIVE;
pub(super) const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;
pub(super) const OPTIONAL_NON_TRANSITIVE: u8 = OPTIONAL;

/// Whether the codec encodes attribute `code` itself from [`PathAttributes`]
/// or [`Update`] fields (so a raw attribute of that code is never emitted).
///
/// [`PathAttributes`]: crate::bgp::message::PathAttributes
/// [`Update`]: crate::bgp::message::Update
pub(super) fn is_owned(code: u8) -> bool {
    matches!(
        code,
        ORIGIN
            | AS_PATH
            | NEXT_HOP
            | MULTI_EXIT_DISC
            | LOCAL_PREF
            | ATOMIC_AGGREGATE
            | AGGREGATOR
            | COMMUNITIES
            | MP_REACH_NLRI
            | MP_UNREACH_NLRI
            | AS4_PATH
            | AS4_AGGREGATOR
            | LARGE_COMMUNITIES
    )
}

/// A name for the log.
pub(super) fn name(code: u8) -> String {
    let known = match code {
        ORIGIN => "ORIGIN",
        AS_PATH => "AS_PATH",
        NEXT_HOP => "NEXT_HOP",
        MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
        LOCAL_PREF => "LOCAL_PREF",
        ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AGGREGATOR => "AGGREGATOR",
        COMMUNITIES => "COMMUNITIES",
        MP_REACH_NLRI => "MP_REACH_NLRI",
        MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        AS4_PATH => "AS4_PATH",
        AS4_AGGREGATOR => "AS4_AGGREGATOR",
        LARGE_COMMUNITIES => "LARGE_COMMUNITIES",
        _ => return format!("attribute {code}"),
    };
    known.to_string()
}

/// The error-handling approaches of RFC 7606 §2, weakest first. (sitelink
/// never uses "AFI/SAFI disable": where it is offered as an alternative to
/// session reset, session reset is used.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Approach {
    AttributeDiscard,
    TreatAsWithdraw,
    SessionReset,
}

/// One error found in an UPDATE: what to do about it, the RFC 4271
/// NOTIFICATION that describes it (sent if the approach is, or becomes,
/// session reset), and a reason for the log.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub(super) approach: Approach,
    pub(super) notification: Notification,
    pub(super) reason: String,
}

impl Problem {
    /// A problem reported as UPDATE Message Error / `subcode` with `data`.
    pub(super) fn new(
        approach: Approach,
        subcode: u8,
        data: Vec<u8>,
        reason: impl Into<String>,
    ) -> Problem {
        Problem {
            approach,
            notification: Notification::new(error_code::UPDATE_MESSAGE, subcode, data),
            reason: reason.into(),
        }
    }
}

/// The problems of one UPDATE, collected. Per RFC 7606 §3.h the strongest
/// approach wins: a session reset ends decoding at once, treat-as-withdraw
/// marks the whole UPDATE, discards are listed.
#[derive(Debug, Default)]
pub(super) struct Verdict {
    withdraw: Vec<String>,
    /// The NOTIFICATION of the first treat-as-withdraw problem, sent if
    /// RFC 7606 §5.2 turns treat-as-withdraw into session reset.
    withdraw_notification: Option<Notification>,
    discarded: Vec<String>,
}

impl Verdict {
    /// Records `p`; `Err` with the NOTIFICATION if it calls for session
    /// reset.
    pub(super) fn record(&mut self, p: Problem) -> Result<(), Notification> {
        match p.approach {
            Approach::SessionReset => return Err(p.notification),
            Approach::TreatAsWithdraw => {
                self.withdraw.push(p.reason);
                self.withdraw_notification.get_or_insert(p.notification);
            }
            Approach::AttributeDiscard => self.discarded.push(p.reason),
        }
        Ok(())
    }

    /// Lists a discarded attribute that is not an error (a duplicate,
    /// RFC 7606 §3.g).
    pub(super) fn note_discarded(&mut self, reason: String) {
        self.discarded.push(reason);
    }

    /// The NOTIFICATION to send if treat-as-withdraw must become session
    /// reset, when treat-as-withdraw was called for.
    pub(super) fn withdraw_notification(&self) -> Option<&Notification> {
        self.withdraw_notification.as_ref()
    }

    /// The treat-as-withdraw reason (all of them, joined) and the discards.
    pub(super) fn finish(self) -> (Option<String>, Vec<String>) {
        let withdraw = (!self.withdraw.is_empty()).then(|| self.withdraw.join("; "));
        (withdraw, self.discarded)
    }
}
