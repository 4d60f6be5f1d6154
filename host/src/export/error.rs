//! Why an export cannot be made, each with the fix: `Display` is
//! `WHAT\n  fix: HOW`, as the rest of the CLI prints bad input (exit 2).
//! It must not quote private key material (only public keys and paths).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::Format;
use crate::keys::KeyError;

#[derive(Debug, thiserror::Error)]
#[error("{}\n  fix: {}", self.problem(), self.fix())]
pub enum ExportError {
    /// `--connection` names no connection of the gateway.
    UnknownConnection { name: String, known: Vec<String> },
    /// `--format` is not one of [`Format::ALL`].
    UnknownFormat(String),
    /// A `--network` that is not a usable prefix.
    BadNetwork {
        text: String,
        problem: String,
        fix: String,
    },
    /// `--endpoint-address` is not a concrete IP address.
    BadEndpointAddress(String),
    /// `--name` is not a valid gateway name.
    BadName(String),
    /// The `--private-key` file cannot be used.
    Key(#[source] KeyError),
    /// The `--private-key` is not the far side of this connection.
    KeyMismatch {
        file: PathBuf,
        /// The key's public half.
        public: String,
        /// The tunnel's `remote_public_key`.
        expected: String,
        connection: String,
        tunnel: usize,
    },
    /// The tunnels name different far keys: one far gateway cannot hold both.
    SeveralRemoteKeys { connection: String },
    /// A BGP format for a static connection.
    NeedsDynamic { format: Format, connection: String },
    /// A format that writes IPv4 sessions for a connection whose sessions
    /// run over the IPv6 inside addresses.
    NeedsIpv4Sessions { format: Format, connection: String },
    /// Two tunnels end on the same far address and port: a stock peer has one
    /// UDP port per WireGuard interface.
    SameRemote {
        connection: String,
        first: usize,
        second: usize,
        remote: SocketAddr,
    },
    /// Our endpoint listens on 0.0.0.0 or ::, which the far side cannot
    /// connect to.
    UnspecifiedEndpoint {
        endpoint: String,
        listen: SocketAddr,
        connection: String,
        tunnel: usize,
    },
    /// `--endpoint-address` is not of the family the far side sends from.
    EndpointFamily {
        endpoint: String,
        address: IpAddr,
        remote: SocketAddr,
    },
    /// An output file or directory cannot be written.
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

impl ExportError {
    /// What is wrong.
    pub fn problem(&self) -> String {
        match self {
            ExportError::UnknownConnection { name, known } => format!(
                "no connection {name:?} in this gateway (it has: {})",
                known.join(", ")
            ),
            ExportError::UnknownFormat(f) => format!("unknown format {f:?}"),
            ExportError::BadNetwork { text, problem, .. } => {
                format!("--network {text:?} {problem}")
            }
            ExportError::BadEndpointAddress(a) => {
                format!("--endpoint-address {a:?} is not an IP address the far side can reach")
            }
            ExportError::BadName(n) => format!(
                "--name {n:?} is not a valid gateway name: use 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`"
            ),
            ExportError::Key(e) => format!("--private-key: {}", e.problem()),
            ExportError::KeyMismatch {
                file,
                public,
                expected,
                connection,
                tunnel,
            } => format!(
                "the private key in {} has public key {public}, but tunnel {tunnel} of connection \
                 {connection:?} expects the far side's key {expected}",
                file.display()
            ),
            ExportError::SeveralRemoteKeys { connection } => format!(
                "the tunnels of connection {connection:?} have different remote_public_keys; \
                 a sitelink gateway has one key"
            ),
            ExportError::NeedsDynamic { format, connection } => format!(
                "{} export needs a dynamic connection; {connection:?} is static",
                format.name()
            ),
            ExportError::NeedsIpv4Sessions { format, connection } => format!(
                "{} export writes BGP sessions over the IPv4 inside addresses; connection \
                 {connection:?} runs them over IPv6 (session = \"ipv6\"), which is not tested \
                 with that peer",
                format.name()
            ),
            ExportError::SameRemote {
                connection,
                first,
                second,
                remote,
            } => format!(
                "tunnels {first} and {second} of connection {connection:?} both end at {remote}: \
                 a stock WireGuard peer needs one UDP port per interface (one per tunnel)"
            ),
            ExportError::UnspecifiedEndpoint {
                endpoint,
                listen,
                connection,
                tunnel,
            } => format!(
                "endpoint {endpoint:?} (tunnel {tunnel} of connection {connection:?}) listens on \
                 {listen}: the far side needs a concrete address to connect to"
            ),
            ExportError::EndpointFamily {
                endpoint,
                address,
                remote,
            } => format!(
                "--endpoint-address {address} is {} but the far side of endpoint {endpoint:?} \
                 sends from {remote} ({})",
                family(*address),
                family(remote.ip())
            ),
            ExportError::Write { path, source } => {
                format!("cannot write {}: {source}", path.display())
            }
        }
    }

    /// How to fix it.
    pub fn fix(&self) -> String {
        match self {
            ExportError::UnknownConnection { .. } => {
                "give --connection one of the names above".into()
            }
            ExportError::UnknownFormat(_) => {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("use --format {}", names.join(", --format "))
            }
            ExportError::BadNetwork { fix, .. } => fix.clone(),
            ExportError::BadEndpointAddress(_) => {
                "give our endpoint's public address, e.g. --endpoint-address 203.0.113.10".into()
            }
            ExportError::BadName(_) => "e.g. --name office".into(),
            ExportError::Key(e) => e
                .fix()
                .unwrap_or_else(|| "check the key file and retry".into()),
            ExportError::KeyMismatch { file, .. } => format!(
                "give the far side's own private key, or, if {} is the right key, set the tunnels' \
                 remote_public_key to its public key (`sitelink pubkey < {}`)",
                file.display(),
                file.display()
            ),
            ExportError::SeveralRemoteKeys { .. } => {
                "give every tunnel of the connection the far gateway's one public key".into()
            }
            ExportError::NeedsDynamic { .. } => {
                "use --format wg-quick or sitelink for a static connection, or set routing = \
                 \"dynamic\" with a [connection.bgp] table"
                    .into()
            }
            ExportError::NeedsIpv4Sessions { .. } => {
                "use --format bird or sitelink, or session = \"ipv4\" in [connection.bgp]".into()
            }
            ExportError::SameRemote { .. } => {
                "give each tunnel's `remote` its own port (e.g. 51820 and 51821) in the config, \
                 so that each far-side interface listens on its own port"
                    .into()
            }
            ExportError::UnspecifiedEndpoint { .. } => {
                "add --endpoint-address IP with the address the far side reaches this gateway at, \
                 or set the endpoint's listen address"
                    .into()
            }
            ExportError::EndpointFamily { remote, .. } => {
                format!("give an {} --endpoint-address", family(remote.ip()))
            }
            ExportError::Write { .. } => "choose an --out directory this user can write to".into(),
        }
    }
}
