//! Identifiers the admin API shows: a tunnel is named by its inside CIDR,
//! as in AWS ("169.254.10.0/30").

use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

/// A tunnel, by its inside CIDR. On the wire: the CIDR as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TunnelCidr(pub IpNet);

impl fmt::Display for TunnelCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that table widths apply (IpNet's Display ignores them).
        f.pad(&self.0.to_string())
    }
}

impl FromStr for TunnelCidr {
    type Err = ipnet::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(TunnelCidr)
    }
}

impl From<Ipv4Net> for TunnelCidr {
    fn from(cidr: Ipv4Net) -> Self {
        TunnelCidr(cidr.into())
    }
}

impl From<IpNet> for TunnelCidr {
    fn from(cidr: IpNet) -> Self {
        TunnelCidr(cidr)
    }
}

/// Display for the API's closed sets of names (`as_str`), padded so that
/// table widths apply.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    )*};
}
pub(crate) use display_as_str;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tunnel_is_its_cidr_string() {
        let t: TunnelCidr = "169.254.10.0/30".parse().unwrap();
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            serde_json::json!("169.254.10.0/30")
        );
        assert_eq!(format!("{t:<18}|"), "169.254.10.0/30   |");
        let v4: Ipv4Net = "169.254.10.0/30".parse().unwrap();
        assert_eq!(TunnelCidr::from(v4), t);
    }
}
