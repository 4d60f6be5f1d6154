//! OPEN messages (RFC 4271 §4.2) and the capabilities in their optional
//! parameters (RFC 5492 §4): multiprotocol (RFC 4760 §8), route refresh
//! (RFC 2918 §2), graceful restart (RFC 4724 §3) and 4-octet AS numbers
//! (RFC 6793 §3), others kept as received. It owns the syntax checks of RFC 4271 §6.2 that need only the
//! bytes (version, parameter types and lengths); the checks that need
//! configuration or policy (peer AS, hold time, BGP Identifier) are the
//! FSM's, and it must not look at any other message.

use crate::bgp::message::{
    error_code, Capability, ExtendedNextHop, Family, GracefulRestart, Notification, Open,
};

use super::aspath::two_octet;
use super::reader::Reader;
use super::EncodeError;

const BGP_VERSION: u8 = 4;
/// Optional parameter type "Capabilities" (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;

const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_EXTENDED_NEXT_HOP: u8 = 5;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;

/// Longest value of a one-byte length field.
const MAX_FIELD: usize = 255;

fn open_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification::new(error_code::OPEN_MESSAGE, subcode, data)
}

/// OPEN Message Error with no subcode: a parameter or capability whose
/// length does not fit (RFC 4271 §6.2 names no subcode for it).
fn malformed() -> Notification {
    open_error(0, Vec::new())
}

/// Decodes an OPEN body (the message after its header).
pub(super) fn decode_open(body: &[u8]) -> Result<Open, Notification> {
    let mut r = Reader::new(body);
    let version = r.u8().ok_or_else(malformed)?;
    if version != BGP_VERSION {
        // RFC 4271 §6.2: data is the version we support, as 2 bytes.
        return Err(open_error(
            error_code::UNSUPPORTED_VERSION,
            u16::from(BGP_VERSION).to_be_bytes().to_vec(),
        ));
    }
    let (Some(my_as), Some(hold_time), Some(router_id), Some(params_len)) =
        (r.u16(), r.u16(), r.ipv4(), r.u8())
    else {
        return Err(malformed());
    };
    let params = r.take(usize::from(params_len)).ok_or_else(malformed)?;
    if !r.is_empty() {
        return Err(malformed());
    }
    let capabilities = decode_parameters(params)?;
    let asn = capabilities
        .iter()
        .find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
        .unwrap_or(u32::from(my_as));
    Ok(Open {
        asn,
        hold_time,
        router_id,
        capabilities,
    })
}

/// The Optional Parameters field: type, length, value triples. Only
/// Capabilities are supported (RFC 4271 §6.2: any other type is
/// Unsupported Optional Parameter).
fn decode_parameters(field: &[u8]) -> Result<Vec<Capability>, Notification> {
    let mut r = Reader::new(field);
    let mut caps = Vec::new();
    while !r.is_empty() {
        let kind = r.u8().ok_or_else(malformed)?;
        let len = r.u8().ok_or_else(malformed)?;
        let value = r.take(usize::from(len)).ok_or_else(malformed)?;
        if kind != PARAM_CAPABILITIES {
            return Err(open_error(
                error_code::UNSUPPORTED_OPTIONAL_PARAMETER,
                Vec::new(),
            ));
        }
        decode_capabilities(value, &mut caps)?;
    }
    Ok(caps)
}

/// One Capabilities parameter: code, length, value triples (RFC 5492 §4).
fn decode_capabilities(field: &[u8], caps: &mut Vec<Capability>) -> Result<(), Notification> {
    let mut r = Reader::new(field);
    while !r.is_empty() {
        let code = r.u8().ok_or_else(malformed)?;
        let len = r.u8().ok_or_else(malformed)?;
        let value = r.take(usize::from(len)).ok_or_else(malformed)?;
        caps.push(decode_capability(code, value).ok_or_else(malformed)?);
    }
    Ok(())
}

/// One capability; `None` if a known one has the wrong length.
fn decode_capability(code: u8, value: &[u8]) -> Option<Capability> {
    let mut r = Reader::new(value);
    let cap = match code {
        // RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
        CAP_MULTIPROTOCOL if value.len() == 4 => {
            let afi = r.u16()?;
            let _reserved = r.u8()?;
            Capability::Multiprotocol(Family { afi, safi: r.u8()? })
        }
        // RFC 2918 §2: no value.
        CAP_ROUTE_REFRESH if value.is_empty() => Capability::RouteRefresh,
        // RFC 6793 §3: the 4-octet ASN.
        CAP_FOUR_OCTET_AS if value.len() == 4 => Capability::FourOctetAs(r.u32()?),
        // RFC 4724 §3: flags and Restart Time (2), then AFI (2), SAFI (1),
        // flags (1) per family. Any other length is not a session error
        // (RFC 4724 names none): it is kept as unknown, and the peer is
        // treated as not offering graceful restart.
        CAP_GRACEFUL_RESTART => match decode_graceful_restart(value) {
            Some(gr) => Capability::GracefulRestart(gr),
            None => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        },
        // RFC 8950 §3: (AFI (2), SAFI (2), next-hop AFI (2)) tuples. It
        // names no error for another length: kept as unknown, the peer is
        // treated as not offering it.
        CAP_EXTENDED_NEXT_HOP => match decode_extended_next_hop(value) {
            Some(list) => Capability::ExtendedNextHop(list),
            None => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        },
        CAP_MULTIPROTOCOL | CAP_ROUTE_REFRESH | CAP_FOUR_OCTET_AS => return None,
        _ => Capability::Unknown {
            code,
            value: value.to_vec(),
        },
    };
    Some(cap)
}

/// The Extended Next Hop Encoding tuples; `None` unless the length is a
/// non-zero multiple of 6 and a tuple names a family we could use (a SAFI
/// above 255 is skipped: no family of ours), so that a list of none is kept
/// as the unknown capability it is to us, with its bytes.
fn decode_extended_next_hop(value: &[u8]) -> Option<Vec<ExtendedNextHop>> {
    if value.is_empty() || !value.len().is_multiple_of(6) {
        return None;
    }
    let mut r = Reader::new(value);
    let mut list = Vec::new();
    while !r.is_empty() {
        let (afi, safi, next_hop_afi) = (r.u16()?, r.u16()?, r.u16()?);
        if let Ok(safi) = u8::try_from(safi) {
            list.push(ExtendedNextHop {
                family: Family { afi, safi },
                next_hop_afi,
            });
        }
    }
    (!list.is_empty()).then_some(list)
}

fn encode_extended_next_hop(list: &[ExtendedNextHop]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 6);
    for t in list {
        out.extend_from_slice(&t.family.afi.to_be_bytes());
        out.extend_from_slice(&u16::from(t.family.safi).to_be_bytes());
        out.extend_from_slice(&t.next_hop_afi.to_be_bytes());
    }
    out
}

/// Restart flags (4 bits: R, N, 2 reserved) and Restart Time (12 bits),
/// then (AFI, SAFI, flags) tuples whose flags' top bit is F (RFC 4724 §3,
/// RFC 8538 §2). `None` unless the length is 2 + 4k.
fn decode_graceful_restart(value: &[u8]) -> Option<GracefulRestart> {
    if value.len() < 2 || !(value.len() - 2).is_multiple_of(4) {
        return None;
    }
    let mut r = Reader::new(value);
    let head = r.u16()?;
    let mut families = Vec::new();
    while !r.is_empty() {
        let afi = r.u16()?;
        let safi = r.u8()?;
        let flags = r.u8()?;
        families.push((Family { afi, safi }, flags & GR_FORWARDING != 0));
    }
    Some(GracefulRestart {
        restarting: head & GR_RESTART_STATE != 0,
        notification: head & GR_NOTIFICATION != 0,
        restart_time: head & GracefulRestart::MAX_RESTART_TIME,
        families,
    })
}

/// The Restart State (R) bit, the Graceful Notification (N) bit, the
/// Forwarding State (F) bit of a family's flags.
const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_FORWARDING: u8 = 0x80;

fn encode_graceful_restart(gr: &GracefulRestart) -> Vec<u8> {
    let mut head = gr.restart_time.min(GracefulRestart::MAX_RESTART_TIME);
    if gr.restarting {
        head |= GR_RESTART_STATE;
    }
    if gr.notification {
        head |= GR_NOTIFICATION;
    }
    let mut out = head.to_be_bytes().to_vec();
    for (f, kept) in &gr.families {
        out.extend_from_slice(&f.afi.to_be_bytes());
        out.push(f.safi);
        out.push(if *kept { GR_FORWARDING } else { 0 });
    }
    out
}

/// Appends an OPEN body. My Autonomous System is the ASN, or AS_TRANS if
/// it does not fit in 2 bytes (RFC 6793 §4.2.1). Capabilities are grouped
/// into as few Capabilities parameters as their 255-byte limit allows.
pub(super) fn encode_open(open: &Open, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(BGP_VERSION);
    out.extend_from_slice(&two_octet(open.asn).to_be_bytes());
    out.extend_from_slice(&open.hold_time.to_be_bytes());
    out.extend_from_slice(&open.router_id.octets());
    let params = encode_parameters(&open.capabilities)?;
    let len = u8::try_from(params.len()).map_err(|_| EncodeError::TooLong { len: params.len() })?;
    out.push(len);
    out.extend_from_slice(&params);
    Ok(())
}

/// The Optional Parameters field holding `caps`.
fn encode_parameters(caps: &[Capability]) -> Result<Vec<u8>, EncodeError> {
    let mut params = Vec::new();
    let mut group: Vec<u8> = Vec::new();
    for cap in caps {
        let one = encode_capability(cap)?;
        if group.len() + one.len() > MAX_FIELD {
            push_parameter(&mut params, &group);
            group.clear();
        }
        group.extend_from_slice(&one);
    }
    if !group.is_empty() {
        push_parameter(&mut params, &group);
    }
    Ok(params)
}

fn push_parameter(params: &mut Vec<u8>, value: &[u8]) {
    params.push(PARAM_CAPABILITIES);
    params.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
    params.extend_from_slice(value);
}

/// One capability: code, length, value. A value over 253 bytes cannot fit
/// a parameter.
fn encode_capability(cap: &Capability) -> Result<Vec<u8>, EncodeError> {
    let (code, value) = match cap {
        Capability::Multiprotocol(f) => {
            let [hi, lo] = f.afi.to_be_bytes();
            (CAP_MULTIPROTOCOL, vec![hi, lo, 0, f.safi])
        }
        Capability::RouteRefresh => (CAP_ROUTE_REFRESH, Vec::new()),
        Capability::ExtendedNextHop(list) => {
            (CAP_EXTENDED_NEXT_HOP, encode_extended_next_hop(list))
        }
        Capability::FourOctetAs(asn) => (CAP_FOUR_OCTET_AS, asn.to_be_bytes().to_vec()),
        Capability::GracefulRestart(gr) => (CAP_GRACEFUL_RESTART, encode_graceful_restart(gr)),
        Capability::Unknown { code, value } => (*code, value.clone()),
    };
    if value.len() + 2 > MAX_FIELD {
        return Err(EncodeError::TooLong {
            len: value.len() + 2,
        });
    }
    let mut out = vec![code, value.len() as u8];
    out.extend_from_slice(&value);
    Ok(out)
}
