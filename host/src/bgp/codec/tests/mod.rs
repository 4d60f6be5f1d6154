//! Tests of the BGP wire codec, with byte vectors written by hand from the
//! RFC layouts: the header and small messages (`header`), OPEN (`open`),
//! well-formed UPDATEs and route splitting (`update`), the RFC 7606 error
//! cases (`malformed`) and a property test that no input panics (`fuzz`).
//! This file holds only the helpers they share; the tests must not reach
//! past the codec's public API except through these helpers.

mod extended_next_hop;
mod fuzz;
mod graceful;
mod header;
mod malformed;
mod open;
mod update;

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::{decode, encode, Context};
use crate::bgp::message::{Message, Notification, Update};

/// 2-octet AS numbers (no 4-octet AS capability on the session).
pub(super) const TWO: Context = Context {
    four_octet_as: false,
};
/// 4-octet AS numbers negotiated.
pub(super) const FOUR: Context = Context {
    four_octet_as: true,
};

pub(super) const TYPE_OPEN: u8 = 1;
pub(super) const TYPE_UPDATE: u8 = 2;
pub(super) const TYPE_NOTIFICATION: u8 = 3;
pub(super) const TYPE_KEEPALIVE: u8 = 4;
pub(super) const TYPE_ROUTE_REFRESH: u8 = 5;

/// A whole message: 16-byte marker, 2-byte length, type, body.
pub(super) fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).expect("test message too long");
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An UPDATE message from its three variable fields, with their lengths.
pub(super) fn update_frame(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    frame(TYPE_UPDATE, &body)
}

/// Decodes `bytes`, which must be an UPDATE without error.
pub(super) fn decode_update(bytes: &[u8], ctx: &Context) -> Update {
    match decode(bytes, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

/// The NOTIFICATION decoding `bytes` yields.
pub(super) fn decode_err(bytes: &[u8], ctx: &Context) -> Notification {
    match decode(bytes, ctx) {
        Err(n) => n,
        Ok(m) => panic!("expected an error, decoded {m:?}"),
    }
}

/// Encodes `msg`, which must fit.
pub(super) fn encode_ok(msg: &Message, ctx: &Context) -> Vec<u8> {
    let mut out = Vec::new();
    encode(msg, ctx, &mut out).expect("message fits");
    out
}

/// Encodes `msg`, decodes the bytes and checks the same value comes back.
pub(super) fn round_trip(msg: &Message, ctx: &Context) -> Vec<u8> {
    let bytes = encode_ok(msg, ctx);
    assert_eq!(
        decode(&bytes, ctx).as_ref(),
        Ok(msg),
        "round trip of {msg:?}"
    );
    bytes
}

pub(super) fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

pub(super) fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}
