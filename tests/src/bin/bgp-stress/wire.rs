//! The few BGP-4 messages `bgp-stress` speaks, encoded and decoded by hand:
//! OPEN with the Multiprotocol (IPv4 unicast, RFC 4760), Route Refresh (RFC
//! 2918) and 4-octet AS (RFC 6793) capabilities, KEEPALIVE, UPDATE with IPv4
//! NLRI (RFC 4271), ROUTE-REFRESH (type 5), and the framing of a byte stream
//! into messages. Decoding is bounds-checked: bad input is an error, never a
//! panic.

use std::io::{self, Read};
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 19;
pub const MAX_LEN: usize = 4096;
pub const OPEN: u8 = 1;
pub const UPDATE: u8 = 2;
pub const NOTIFICATION: u8 = 3;
pub const KEEPALIVE: u8 = 4;
pub const ROUTE_REFRESH: u8 = 5;
pub const AS_TRANS: u16 = 23456;

/// Errors are messages.
pub type Res<T> = Result<T, String>;

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Prefix(pub Ipv4Addr, pub u8);

impl Prefix {
    pub fn parse(s: &str) -> Res<Prefix> {
        let (a, l) = s.split_once('/').ok_or(format!("{s:?}: no /LEN"))?;
        let addr: Ipv4Addr = a.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let len: u8 = l.parse().map_err(|e| format!("{s:?}: {e}"))?;
        if len > 32 {
            return Err(format!("{s:?}: length over 32"));
        }
        Ok(Prefix(addr, len))
    }

    /// RFC 4271 section 4.3: the length, then the fewest octets holding it.
    fn encode(self, out: &mut Vec<u8>) {
        out.push(self.1);
        let n = usize::from(self.1).div_ceil(8);
        out.extend_from_slice(&self.0.octets()[..n]);
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// A message: the marker, the length, the type, `body` (RFC 4271 section 4.1).
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An OPEN (RFC 4271 section 4.2) with the Multiprotocol (IPv4 unicast),
/// Route Refresh and 4-octet AS capabilities (AS_TRANS in My AS when `asn`
/// needs four octets).
pub fn open(asn: u32, hold: u16, router_id: Ipv4Addr) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 2, 0, 65, 4];
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut b = vec![4];
    b.extend_from_slice(&u16::try_from(asn).unwrap_or(AS_TRANS).to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&router_id.octets());
    b.push((caps.len() + 2) as u8);
    b.extend_from_slice(&[2, caps.len() as u8]);
    b.extend_from_slice(&caps);
    message(OPEN, &b)
}

pub fn keepalive() -> Vec<u8> {
    message(KEEPALIVE, &[])
}

/// ROUTE-REFRESH for IPv4 unicast (RFC 2918 section 3).
pub fn route_refresh() -> Vec<u8> {
    message(ROUTE_REFRESH, &[0, 1, 0, 1])
}

/// How this speaker's UPDATEs are built: its AS (in 4 octets once both
/// OPENs offered them) and the NEXT_HOP.
pub struct Speaker {
    pub asn: u32,
    pub four_octet: bool,
    pub next_hop: Ipv4Addr,
}

/// An UPDATE withdrawing `withdrawn` and announcing `announced` with ORIGIN
/// IGP, AS_PATH [asn], NEXT_HOP and an optional MED.
pub fn update(
    s: &Speaker,
    withdrawn: &[Prefix],
    announced: &[Prefix],
    med: Option<u32>,
) -> Vec<u8> {
    let mut w = Vec::new();
    withdrawn.iter().for_each(|p| p.encode(&mut w));
    let mut attrs = Vec::new();
    if !announced.is_empty() {
        attrs.extend_from_slice(&[0x40, 1, 1, 0]);
        if s.four_octet {
            attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]);
            attrs.extend_from_slice(&s.asn.to_be_bytes());
        } else {
            attrs.extend_from_slice(&[0x40, 2, 4, 2, 1]);
            attrs.extend_from_slice(&u16::try_from(s.asn).unwrap_or(AS_TRANS).to_be_bytes());
        }
        attrs.extend_from_slice(&[0x40, 3, 4]);
        attrs.extend_from_slice(&s.next_hop.octets());
        if let Some(med) = med {
            attrs.extend_from_slice(&[0x80, 4, 4]);
            attrs.extend_from_slice(&med.to_be_bytes());
        }
    }
    let mut b = Vec::new();
    b.extend_from_slice(&(w.len() as u16).to_be_bytes());
    b.extend_from_slice(&w);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(&attrs);
    announced.iter().for_each(|p| p.encode(&mut b));
    message(UPDATE, &b)
}

/// A bounds-checked cursor over a message body.
pub struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    pub fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if self.0.len() < n {
            return Err(format!(
                "truncated: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    pub fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Res<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// One message: its type and what follows the header.
pub struct Msg {
    pub kind: u8,
    pub body: Vec<u8>,
}

/// Reads one message; `None` on a clean end of stream before it.
pub fn read_msg(r: &mut impl Read) -> Res<Option<Msg>> {
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("connection ended inside a header".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    if h[..16].iter().any(|b| *b != 0xff) {
        return Err(format!("bad marker {:02x?}", &h[..16]));
    }
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    if !(HEADER_LEN..=MAX_LEN).contains(&len) || !(1..=5).contains(&h[18]) {
        return Err(format!("bad header: length {len}, type {}", h[18]));
    }
    let mut body = vec![0u8; len - HEADER_LEN];
    r.read_exact(&mut body)
        .map_err(|e| format!("reading a {len}-byte message: {e}"))?;
    Ok(Some(Msg { kind: h[18], body }))
}

/// What the peer's OPEN offered.
pub struct PeerOpen {
    /// From the 4-octet AS capability if offered, else My AS.
    pub asn: u32,
    pub hold: u16,
    pub four_octet: bool,
    pub route_refresh: bool,
}

/// The peer's OPEN body, bounds-checked.
pub fn parse_open(body: &[u8]) -> Res<PeerOpen> {
    let mut c = Cur(body);
    let version = c.u8()?;
    if version != 4 {
        return Err(format!("OPEN version {version}"));
    }
    let mut asn = u32::from(c.u16()?);
    let hold = c.u16()?;
    c.take(4)?;
    let params_len = usize::from(c.u8()?);
    let mut p = Cur(c.take(params_len)?);
    let (mut four_octet, mut route_refresh) = (false, false);
    while !p.0.is_empty() {
        let (kind, len) = (p.u8()?, usize::from(p.u8()?));
        let mut v = Cur(p.take(len)?);
        if kind != 2 {
            continue;
        }
        while !v.0.is_empty() {
            let (code, len) = (v.u8()?, usize::from(v.u8()?));
            let value = v.take(len)?;
            match (code, value) {
                (2, _) => route_refresh = true,
                (65, [a, b, c, d]) => {
                    four_octet = true;
                    asn = u32::from_be_bytes([*a, *b, *c, *d]);
                }
                _ => {}
            }
        }
    }
    Ok(PeerOpen {
        asn,
        hold,
        four_octet,
        route_refresh,
    })
}

/// Whether an UPDATE is an IPv4 End-of-RIB (RFC 4724 section 2: empty);
/// an error if its length fields do not add up (RFC 4271 section 6.3).
pub fn end_of_rib(body: &[u8]) -> Res<bool> {
    let mut c = Cur(body);
    let w = usize::from(c.u16()?);
    c.take(w)?;
    let a = usize::from(c.u16()?);
    c.take(a)?;
    Ok(body.len() == 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Speaker = Speaker {
        asn: 65000,
        four_octet: true,
        next_hop: Ipv4Addr::new(169, 254, 10, 2),
    };

    #[test]
    fn an_open_reads_back() {
        let m = open(4_200_000_000, 90, Ipv4Addr::new(169, 254, 10, 2));
        let msg = read_msg(&mut &m[..]).unwrap().unwrap();
        assert_eq!(msg.kind, OPEN);
        let o = parse_open(&msg.body).unwrap();
        assert_eq!(
            (o.asn, o.hold, o.four_octet, o.route_refresh),
            (4_200_000_000, 90, true, true)
        );
        assert_eq!(&msg.body[1..3], &AS_TRANS.to_be_bytes());
    }

    #[test]
    fn updates_frame_and_an_empty_one_is_end_of_rib() {
        let p = |s| Prefix::parse(s).unwrap();
        let m = update(
            &ME,
            &[p("10.128.0.0/24")],
            &[p("10.1.0.0/24"), p("0.0.0.0/0")],
            Some(7),
        );
        // Header, withdrawn 2 + 4, attributes 2 + 4 + 9 + 7 + 7, NLRI 4 + 1.
        assert_eq!(m.len(), 19 + 6 + 29 + 5);
        let msg = read_msg(&mut &m[..]).unwrap().unwrap();
        assert_eq!((msg.kind, end_of_rib(&msg.body)), (UPDATE, Ok(false)));
        let eor = update(&ME, &[], &[], None);
        assert_eq!(
            end_of_rib(&read_msg(&mut &eor[..]).unwrap().unwrap().body),
            Ok(true)
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut m = keepalive();
        m[0] = 0;
        assert!(read_msg(&mut &m[..]).is_err());
        let mut long = keepalive();
        long[16..18].copy_from_slice(&5000u16.to_be_bytes());
        assert!(read_msg(&mut &long[..]).is_err());
        assert!(read_msg(&mut &keepalive()[..5]).is_err());
        assert!(read_msg(&mut &[][..]).unwrap().is_none());
        assert!(parse_open(&[4, 0, 1]).is_err());
        assert!(parse_open(&[4, 0, 1, 0, 90, 1, 2, 3, 4, 9, 2, 7, 65, 4]).is_err());
        assert!(end_of_rib(&[0, 9, 0]).is_err());
        assert!(Prefix::parse("10.0.0.0/33").is_err());
    }
}
