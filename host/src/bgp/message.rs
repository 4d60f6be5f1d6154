//! BGP messages as values: what the codec decodes from bytes and encodes to
//! bytes, what the session FSM and the RIB exchange. Pure data; the wire
//! format lives in `codec`, the protocol in `fsm`, the tables in `rib`.
//!
//! RFC 4271 section 4 (message formats), RFC 4760 (multiprotocol), RFC 6793
//! (4-octet AS numbers), RFC 5492 (capabilities), RFC 2918 (route refresh),
//! RFC 1997 (communities), RFC 8092 (large communities).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// BGP's TCP port.
pub const BGP_PORT: u16 = 179;
/// Shortest message: the header (RFC 4271 section 4.1).
pub const HEADER_LEN: usize = 19;
/// Longest message without the extended-message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The AS number sent in a 2-octet field by a speaker whose ASN does not fit
/// (RFC 6793 section 9).
pub const AS_TRANS: u32 = 23456;

/// An address family and sub-address family (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    pub afi: u16,
    pub safi: u8,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family { afi: 1, safi: 1 };
    pub const IPV6_UNICAST: Family = Family { afi: 2, safi: 1 };
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Family::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Family::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            Family { afi, safi } => write!(f, "afi {afi} safi {safi}"),
        }
    }
}

/// One message (RFC 4271 section 4; ROUTE-REFRESH from RFC 2918).
// A message is a transient value, decoded and handled one at a time, so the
// size of the UPDATE variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(Family),
}

/// OPEN (RFC 4271 section 4.2). `asn` is the speaker's real ASN: taken from
/// the 4-octet-AS capability when present (the 2-octet field then holds
/// AS_TRANS), else from the 2-octet field. Encoding does the reverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub asn: u32,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// Whether the speaker offered 4-octet AS numbers (RFC 6793).
    pub fn four_octet_as(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    }

    /// Whether the OPEN offers the Extended Next Hop Encoding `tuple`.
    pub fn offers_extended_next_hop(&self, tuple: ExtendedNextHop) -> bool {
        self.capabilities.iter().any(|c| match c {
            Capability::ExtendedNextHop(list) => list.contains(&tuple),
            _ => false,
        })
    }

    /// The families the speaker offered; IPv4 unicast alone when it offered
    /// none (RFC 4760 section 8).
    pub fn families(&self) -> Vec<Family> {
        let offered: Vec<Family> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if offered.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            offered
        }
    }

    pub fn route_refresh(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::RouteRefresh))
    }

    /// The speaker's Graceful Restart capability (RFC 4724 section 3): the
    /// last if it sent several, as the RFC says to ignore all but the last.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }
}

/// One tuple of the Extended Next Hop Encoding capability (RFC 8950
/// section 3): routes of `family` may carry a next hop of `next_hop_afi`.
/// The capability's SAFI is 2 bytes wide; SAFIs beyond 255 are not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedNextHop {
    pub family: Family,
    pub next_hop_afi: u16,
}

impl ExtendedNextHop {
    /// IPv4 unicast routes with IPv6 next hops, the one sitelink offers.
    pub const IPV4_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        family: Family::IPV4_UNICAST,
        next_hop_afi: 2,
    };
}

/// The Graceful Restart capability's value (RFC 4724 section 3; the N bit
/// from RFC 8538 section 2, parsed and shown, not acted on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GracefulRestart {
    /// R: the speaker has restarted (its peer should not wait for its
    /// End-of-RIB before sending its own routes).
    pub restarting: bool,
    /// N: the speaker does graceful restart on NOTIFICATIONs (RFC 8538).
    pub notification: bool,
    /// Seconds its peer should keep its routes after a drop: 12 bits, at
    /// most 4095.
    pub restart_time: u16,
    /// The families whose forwarding it can keep across a restart, each
    /// with the Forwarding State (F) bit: whether it did keep it this time.
    /// None: it keeps no forwarding, only helps its peers (a "helper").
    pub families: Vec<(Family, bool)>,
}

impl GracefulRestart {
    /// The largest Restart Time the 12-bit field holds.
    pub const MAX_RESTART_TIME: u16 = 0x0fff;

    /// Whether `family` is listed with its Forwarding State bit set.
    pub fn forwarding_kept(&self, family: Family) -> bool {
        self.families.iter().any(|(f, kept)| *f == family && *kept)
    }
}

/// A capability in an OPEN's optional parameters (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Code 1 (RFC 4760).
    Multiprotocol(Family),
    /// Code 2 (RFC 2918).
    RouteRefresh,
    /// Code 5 (RFC 8950): the families whose routes may carry a next hop of
    /// another address family. A value not a multiple of 6 bytes is kept as
    /// `Unknown`.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Code 64 (RFC 4724). A value of the wrong length is kept as
    /// `Unknown`: the peer is then treated as not offering it.
    GracefulRestart(GracefulRestart),
    /// Code 65 (RFC 6793), with the speaker's ASN.
    FourOctetAs(u32),
    /// Any other code, kept as received.
    Unknown { code: u8, value: Vec<u8> },
}

/// BGP ORIGIN (RFC 4271 section 5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// A segment of AS_PATH (RFC 4271 section 5.1.2; RFC 5065 confederation
/// segments are kept by type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: SegmentKind,
    pub asns: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// A path attribute the codec does not interpret, kept to be passed on
/// (optional transitive ones get the Partial bit when re-advertised).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// The path attributes of an UPDATE that carries routes, decoded. The
/// multiprotocol attributes are not here: their routes are in [`Update`].
/// AS_PATH is always in 4-octet form (merged with AS4_PATH when the peer
/// speaks 2-octet AS numbers, RFC 6793 section 4.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Origin,
    pub as_path: Vec<AsSegment>,
    /// NEXT_HOP (IPv4 routes in the NLRI field).
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    /// AGGREGATOR: ASN and address.
    pub aggregator: Option<(u32, Ipv4Addr)>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<LargeCommunity>,
    /// Unrecognised optional transitive attributes, in order received.
    pub unknown: Vec<RawAttribute>,
}

impl Default for PathAttributes {
    fn default() -> Self {
        PathAttributes {
            origin: Origin::Igp,
            as_path: Vec::new(),
            next_hop: None,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

impl PathAttributes {
    /// The AS path flattened, nearest AS first (sets in their order).
    pub fn as_path_flat(&self) -> Vec<u32> {
        self.as_path
            .iter()
            .flat_map(|s| s.asns.iter().copied())
            .collect()
    }

    /// The AS path length for best-path selection (RFC 4271 section
    /// 9.1.2.2: a set counts as 1; confederation segments count 0).
    pub fn as_path_len(&self) -> usize {
        self.as_path
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
            })
            .sum()
    }
}

/// MP_REACH_NLRI (RFC 4760 section 3): routes of another family and their
/// next hop(s) (an IPv6 global address, optionally followed by a link-local
/// one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    pub family: Family,
    pub next_hops: Vec<IpAddr>,
    pub nlri: Vec<IpNet>,
}

/// MP_UNREACH_NLRI (RFC 4760 section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<IpNet>,
}

/// UPDATE (RFC 4271 section 4.3), with what RFC 7606 error handling decided
/// while decoding it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// IPv4 routes withdrawn (the Withdrawn Routes field).
    pub withdrawn: Vec<IpNet>,
    /// `None` when the UPDATE carries no path attributes (a pure withdrawal).
    pub attributes: Option<PathAttributes>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// IPv4 routes announced (the NLRI field).
    pub nlri: Vec<IpNet>,
    /// Set by the decoder when RFC 7606 says "treat-as-withdraw": every
    /// route announced in this UPDATE must be handled as withdrawn. Holds the
    /// reason, for the log.
    pub treat_as_withdraw: Option<String>,
    /// Attributes the decoder discarded (RFC 7606 "attribute discard"), with
    /// the reason, for the log. The rest of the UPDATE is valid.
    pub discarded: Vec<String>,
}

impl Update {
    /// Every route announced (IPv4 NLRI, then MP_REACH's).
    pub fn announced(&self) -> impl Iterator<Item = &IpNet> {
        self.nlri
            .iter()
            .chain(self.mp_reach.iter().flat_map(|m| m.nlri.iter()))
    }

    /// Every route withdrawn (Withdrawn Routes, then MP_UNREACH's).
    pub fn withdrawn_all(&self) -> impl Iterator<Item = &IpNet> {
        self.withdrawn
            .iter()
            .chain(self.mp_unreach.iter().flat_map(|m| m.withdrawn.iter()))
    }

    /// An End-of-RIB marker (RFC 4724 section 2): an UPDATE with nothing in
    /// it, or an MP_UNREACH with no routes and nothing else (no other path
    /// attribute: `attributes` is `None`).
    pub fn is_end_of_rib(&self) -> Option<Family> {
        let empty_v4 = self.withdrawn.is_empty() && self.nlri.is_empty();
        match (&self.attributes, &self.mp_reach, &self.mp_unreach) {
            (None, None, None) if empty_v4 => Some(Family::IPV4_UNICAST),
            (None, None, Some(u)) if empty_v4 && u.withdrawn.is_empty() => Some(u.family),
            _ => None,
        }
    }
}

/// NOTIFICATION (RFC 4271 section 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// Error codes and subcodes (RFC 4271 section 4.5 and 6; RFC 4486 for
/// Cease; RFC 7313 for ROUTE-REFRESH).
pub mod error_code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;

    // Message header error subcodes.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;

    // OPEN message error subcodes.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;

    // UPDATE message error subcodes.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;

    // Cease subcodes (RFC 4486).
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// RFC 9384: the BFD session protecting the BGP session went down.
    pub const BFD_DOWN: u8 = 10;
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// The operator's message of a Cease, Administrative Shutdown or
    /// Administrative Reset (the shutdown communication of RFC 9003: a
    /// length byte, then that many bytes of UTF-8), such as \"maintenance,
    /// back at 02:00\". None when there is none or it is malformed (the
    /// NOTIFICATION stands either way).
    pub fn shutdown_communication(&self) -> Option<&str> {
        use error_code::*;
        if self.code != CEASE
            || !matches!(self.subcode, ADMINISTRATIVE_SHUTDOWN | ADMINISTRATIVE_RESET)
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len)).filter(|t| !t.is_empty())?;
        std::str::from_utf8(text).ok()
    }

    /// What the code and subcode mean, in words.
    pub fn meaning(&self) -> String {
        use error_code::*;
        let code = match self.code {
            MESSAGE_HEADER => "message header error",
            OPEN_MESSAGE => "OPEN message error",
            UPDATE_MESSAGE => "UPDATE message error",
            HOLD_TIMER_EXPIRED => "hold timer expired",
            FSM => "finite state machine error",
            CEASE => "cease",
            ROUTE_REFRESH => "ROUTE-REFRESH message error",
            _ => return format!("unknown error code {} subcode {}", self.code, self.subcode),
        };
        let sub = match (self.code, self.subcode) {
            (_, 0) => None,
            (MESSAGE_HEADER, CONNECTION_NOT_SYNCHRONIZED) => Some("connection not synchronized"),
            (MESSAGE_HEADER, BAD_MESSAGE_LENGTH) => Some("bad message length"),
            (MESSAGE_HEADER, BAD_MESSAGE_TYPE) => Some("bad message type"),
            (OPEN_MESSAGE, UNSUPPORTED_VERSION) => Some("unsupported version number"),
            (OPEN_MESSAGE, BAD_PEER_AS) => Some("bad peer AS"),
            (OPEN_MESSAGE, BAD_BGP_IDENTIFIER) => Some("bad BGP identifier"),
            (OPEN_MESSAGE, UNSUPPORTED_OPTIONAL_PARAMETER) => {
                Some("unsupported optional parameter")
            }
            (OPEN_MESSAGE, UNACCEPTABLE_HOLD_TIME) => Some("unacceptable hold time"),
            (OPEN_MESSAGE, UNSUPPORTED_CAPABILITY) => Some("unsupported capability"),
            (UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST) => Some("malformed attribute list"),
            (UPDATE_MESSAGE, UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE) => {
                Some("unrecognized well-known attribute")
            }
            (UPDATE_MESSAGE, MISSING_WELL_KNOWN_ATTRIBUTE) => Some("missing well-known attribute"),
            (UPDATE_MESSAGE, ATTRIBUTE_FLAGS_ERROR) => Some("attribute flags error"),
            (UPDATE_MESSAGE, ATTRIBUTE_LENGTH_ERROR) => Some("attribute length error"),
            (UPDATE_MESSAGE, INVALID_ORIGIN_ATTRIBUTE) => Some("invalid ORIGIN attribute"),
            (UPDATE_MESSAGE, INVALID_NEXT_HOP_ATTRIBUTE) => Some("invalid NEXT_HOP attribute"),
            (UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR) => Some("optional attribute error"),
            (UPDATE_MESSAGE, INVALID_NETWORK_FIELD) => Some("invalid network field"),
            (UPDATE_MESSAGE, MALFORMED_AS_PATH) => Some("malformed AS_PATH"),
            (CEASE, MAXIMUM_PREFIXES_REACHED) => Some("maximum number of prefixes reached"),
            (CEASE, ADMINISTRATIVE_SHUTDOWN) => Some("administrative shutdown"),
            (CEASE, PEER_DECONFIGURED) => Some("peer de-configured"),
            (CEASE, ADMINISTRATIVE_RESET) => Some("administrative reset"),
            (CEASE, CONNECTION_REJECTED) => Some("connection rejected"),
            (CEASE, OTHER_CONFIGURATION_CHANGE) => Some("other configuration change"),
            (CEASE, CONNECTION_COLLISION_RESOLUTION) => Some("connection collision resolution"),
            (CEASE, OUT_OF_RESOURCES) => Some("out of resources"),
            (CEASE, BFD_DOWN) => Some("BFD down"),
            _ => None,
        };
        match sub {
            Some(sub) => format!("{code}: {sub}"),
            None if self.subcode == 0 => code.to_string(),
            None => format!("{code} (subcode {})", self.subcode),
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.meaning(), self.code, self.subcode)?;
        match self.shutdown_communication() {
            // Quoted with its control characters escaped: it is the peer's.
            Some(text) => write!(f, ": {text:?}"),
            None => Ok(()),
        }
    }
}
