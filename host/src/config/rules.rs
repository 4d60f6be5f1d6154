//! The rules for single values of the configuration: names, integer ranges,
//! socket addresses, route prefixes and tunnel inside CIDRs, each turning one
//! spanned raw value into a checked one or an error pointing at it (with the
//! exact wording of what is wrong and how to fix it). Rules that relate
//! several values (uniqueness, references, overlaps) are in `validate`; this
//! module must not look beyond the value it is given.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use toml::Spanned;

use super::error::{ConfigError, Source};

/// The /30s AWS reserves inside 169.254.0.0/16: they cannot be a tunnel's
/// inside CIDR (network addresses; the prefix length is 30).
pub const RESERVED_INSIDE: [Ipv4Addr; 7] = [
    Ipv4Addr::new(169, 254, 0, 0),
    Ipv4Addr::new(169, 254, 1, 0),
    Ipv4Addr::new(169, 254, 2, 0),
    Ipv4Addr::new(169, 254, 3, 0),
    Ipv4Addr::new(169, 254, 4, 0),
    Ipv4Addr::new(169, 254, 5, 0),
    Ipv4Addr::new(169, 254, 169, 252),
];

/// Whether `net` lies inside 169.254.0.0/16.
fn in_link_local_v4(net: &Ipv4Net) -> bool {
    let o = net.network().octets();
    net.prefix_len() >= 16 && o[0] == 169 && o[1] == 254
}

/// Whether `net` lies inside fe80::/10.
fn in_link_local_v6(net: &ipnet::Ipv6Net) -> bool {
    net.prefix_len() >= 10 && net.network().segments()[0] & 0xffc0 == 0xfe80
}

const NAME_MAX: usize = 32;
const TUN_NAME_MAX: usize = 15;

/// A gateway, endpoint or connection name: 1 to 32 of `[A-Za-z0-9_-]`.
/// `kind` is e.g. "gateway name", `example` a valid name for the fix.
pub fn name(
    src: &Source,
    v: &Spanned<String>,
    kind: &str,
    example: &str,
) -> Result<String, ConfigError> {
    let s = v.get_ref();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !s.is_empty() && s.len() <= NAME_MAX && s.chars().all(ok_char) {
        return Ok(s.clone());
    }
    let suggestion: String = s
        .chars()
        .map(|c| if ok_char(c) { c } else { '-' })
        .take(NAME_MAX)
        .collect();
    let suggestion = if suggestion.trim_matches('-').is_empty() {
        example.to_string()
    } else {
        suggestion
    };
    Err(src.err(
        v.span(),
        format!(
            "{kind} {s:?} is not valid: use 1 to {NAME_MAX} characters of A-Z, a-z, 0-9, `_` and `-`"
        ),
        format!("e.g. name = {suggestion:?}"),
    ))
}

/// A TUN interface name as Linux accepts it.
pub fn tun_name(src: &Source, v: &Spanned<String>) -> Result<String, ConfigError> {
    let s = v.get_ref();
    let bad_char = |c: char| c == '/' || c == ':' || c.is_whitespace() || c.is_control();
    if !s.is_empty() && s.len() <= TUN_NAME_MAX && !s.contains(bad_char) && s != "." && s != ".." {
        return Ok(s.clone());
    }
    let mut suggestion = String::new();
    for c in s.chars().map(|c| if bad_char(c) { '-' } else { c }) {
        if suggestion.len() + c.len_utf8() > TUN_NAME_MAX {
            break;
        }
        suggestion.push(c);
    }
    if suggestion.trim_matches(|c| c == '-' || c == '.').is_empty() {
        suggestion = "sl0".to_string();
    }
    Err(src.err(
        v.span(),
        format!(
            "TUN name {s:?} is not valid: an interface name is 1 to {TUN_NAME_MAX} bytes, \
             without `/`, `:`, spaces or control characters, and not \".\" or \"..\""
        ),
        format!("e.g. name = {suggestion:?}"),
    ))
}

/// An optional integer in `range`, `default` when absent.
pub fn int_in(
    src: &Source,
    v: Option<&Spanned<i64>>,
    key: &str,
    range: RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    let n = *v.get_ref();
    if range.contains(&n) {
        return Ok(n);
    }
    Err(src.err(
        v.span(),
        format!("{key} = {n} is out of range"),
        format!(
            "use a value from {} to {}, or leave {key} out for the default {default}",
            range.start(),
            range.end()
        ),
    ))
}

/// A UDP address and port (`listen`, `remote`): no host names, no port 0.
pub fn socket_addr(
    src: &Source,
    v: &Spanned<String>,
    key: &str,
) -> Result<SocketAddr, ConfigError> {
    let s = v.get_ref().trim();
    let example = "\"198.18.1.2:51820\" or \"[2001:db8::1]:51820\"";
    let addr = match s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            if let Ok(ip) = s.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
                return Err(src.err(
                    v.span(),
                    format!("{key} = {s:?} has no port"),
                    format!("add the UDP port, e.g. \"{}\"", SocketAddr::new(ip, 51820)),
                ));
            }
            return Err(src.err(
                v.span(),
                format!("{key} = {s:?} is not an IP address and port"),
                format!("write it as ADDRESS:PORT, e.g. {example} (host names are not resolved)"),
            ));
        }
    };
    // Endpoints on IPv6 take IPv6 only (IPV6_V6ONLY): a mapped IPv4
    // address passed the family checks and was never reached.
    if let IpAddr::V6(ip) = addr.ip() {
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Err(src.err(
                v.span(),
                format!("{key} = {s:?} is an IPv4 address written as IPv6 (::ffff:{v4})"),
                format!(
                    "write the IPv4 address itself, \"{}\"",
                    SocketAddr::new(IpAddr::V4(v4), addr.port())
                ),
            ));
        }
    }
    if addr.port() == 0 {
        return Err(src.err(
            v.span(),
            format!("{key} = {s:?} has port 0"),
            format!(
                "use a fixed UDP port that the far side knows, e.g. \"{}\"",
                SocketAddr::new(addr.ip(), 51820)
            ),
        ));
    }
    Ok(addr)
}

/// A far-side address: as [`socket_addr`], and not 0.0.0.0 / `::`.
pub fn remote_addr(src: &Source, v: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
    let addr = socket_addr(src, v, "remote")?;
    if addr.ip().is_unspecified() {
        return Err(src.err(
            v.span(),
            format!("remote = \"{addr}\" is the unspecified address"),
            "use the far gateway's public address and port, e.g. \"198.18.1.2:51820\"",
        ));
    }
    Ok(addr)
}

/// A route prefix in network form, not link-local.
pub fn static_route(src: &Source, v: &Spanned<String>) -> Result<IpNet, ConfigError> {
    prefix(src, v, "static route")
}

/// A prefix the gateway routes or advertises (`kind`: "static route",
/// "network"): in network form, outside the link-local ranges.
pub fn prefix(src: &Source, v: &Spanned<String>, kind: &str) -> Result<IpNet, ConfigError> {
    let s = v.get_ref().trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => {
            if let Ok(ip) = s.parse::<IpAddr>() {
                return Err(src.err(
                    v.span(),
                    format!("{kind} {s:?} has no prefix length"),
                    format!(
                        "write it as a prefix, e.g. \"{}\" for this one address",
                        IpNet::from(ip)
                    ),
                ));
            }
            return Err(src.err(
                v.span(),
                format!("{kind} {s:?} is not an IPv4 or IPv6 prefix"),
                "write it as ADDRESS/LENGTH, e.g. \"10.1.0.0/24\" or \"fd00:1::/64\"",
            ));
        }
    };
    if net.trunc() != net {
        return Err(src.err(
            v.span(),
            format!("{kind} {s:?} has host bits set"),
            format!("did you mean {}?", net.trunc()),
        ));
    }
    let link_local = match net {
        IpNet::V4(n) => in_link_local_v4(&n).then_some("169.254.0.0/16"),
        IpNet::V6(n) => in_link_local_v6(&n).then_some("fe80::/10"),
    };
    if let Some(range) = link_local {
        return Err(src.err(
            v.span(),
            format!(
                "{kind} {s:?} is inside the link-local range {range}, \
                 which holds the tunnels' inside addresses"
            ),
            "remove it: inside addresses are reached over their tunnel without a route",
        ));
    }
    Ok(net)
}

/// A tunnel's inside CIDR: an IPv4 /30 of 169.254.0.0/16 in network form,
/// not one of AWS's reserved ones.
pub fn inside_cidr(src: &Source, v: &Spanned<String>) -> Result<Ipv4Net, ConfigError> {
    let s = v.get_ref().trim();
    let example = "e.g. \"169.254.10.0/30\"";
    let Ok(net) = s.parse::<Ipv4Net>() else {
        return Err(src.err(
            v.span(),
            format!("inside_cidr {s:?} is not an IPv4 prefix"),
            format!("use an IPv4 /30 from 169.254.0.0/16, {example}"),
        ));
    };
    if net.prefix_len() != 30 {
        return Err(src.err(
            v.span(),
            format!(
                "inside_cidr {s:?} is a /{}; a tunnel's inside CIDR is a /30",
                net.prefix_len()
            ),
            format!("use a /30 from 169.254.0.0/16, {example}"),
        ));
    }
    if !in_link_local_v4(&net) {
        return Err(src.err(
            v.span(),
            format!("inside_cidr {s:?} is outside 169.254.0.0/16"),
            format!("use a /30 from 169.254.0.0/16 (as AWS requires), {example}"),
        ));
    }
    if net.trunc() != net {
        return Err(src.err(
            v.span(),
            format!("inside_cidr {s:?} has host bits set"),
            format!("did you mean {}?", net.trunc()),
        ));
    }
    if RESERVED_INSIDE.contains(&net.network()) {
        return Err(src.err(
            v.span(),
            format!(
                "inside_cidr {s:?} is reserved (169.254.0.0/30 to 169.254.5.0/30 \
                 and 169.254.169.252/30 are reserved, as in AWS)"
            ),
            format!("pick another /30 from 169.254.0.0/16, {example}"),
        ));
    }
    Ok(net)
}

/// A tunnel's IPv6 inside CIDR: a /126 of fd00::/8 in network form, as AWS
/// gives one per tunnel (its first usable address is the VGW's).
pub fn inside_ipv6_cidr(src: &Source, v: &Spanned<String>) -> Result<Ipv6Net, ConfigError> {
    let s = v.get_ref().trim();
    let example = "e.g. \"fd00:0:0:10::/126\"";
    let Ok(net) = s.parse::<Ipv6Net>() else {
        return Err(src.err(
            v.span(),
            format!("inside_ipv6_cidr {s:?} is not an IPv6 prefix"),
            format!("use an IPv6 /126 from fd00::/8, {example}"),
        ));
    };
    if net.prefix_len() != 126 {
        return Err(src.err(
            v.span(),
            format!(
                "inside_ipv6_cidr {s:?} is a /{}; a tunnel's IPv6 inside CIDR is a /126",
                net.prefix_len()
            ),
            format!("use a /126 from fd00::/8, {example}"),
        ));
    }
    if net.network().segments()[0] & 0xff00 != 0xfd00 {
        return Err(src.err(
            v.span(),
            format!("inside_ipv6_cidr {s:?} is outside fd00::/8"),
            format!("use a /126 from fd00::/8 (as AWS requires), {example}"),
        ));
    }
    if net.trunc() != net {
        return Err(src.err(
            v.span(),
            format!("inside_ipv6_cidr {s:?} has host bits set"),
            format!("did you mean {}?", net.trunc()),
        ));
    }
    Ok(net)
}

/// A path value (`private_key_file`, `admin_socket`): must not be empty.
pub fn path_text<'v>(
    src: &Source,
    v: &'v Spanned<String>,
    key: &str,
    example: &str,
) -> Result<&'v str, ConfigError> {
    let s = v.get_ref();
    if s.trim().is_empty() {
        return Err(src.err(
            v.span(),
            format!("{key} is empty"),
            format!("give a path, e.g. {key} = {example:?}"),
        ));
    }
    Ok(s)
}
