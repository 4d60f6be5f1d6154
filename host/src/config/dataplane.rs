//! The `[dataplane]` table: how the data path spreads its work over the
//! machine. `workers` is the number of threads that seal and open packets
//! for every tunnel (default: one per core; 0: each reader thread does its
//! own crypto, one thread per direction as before the pool). This module
//! checks what is written; the driver sizes the pool at start.

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::DataplaneConfig;

/// More workers than this is a typo, not a machine.
pub const MAX_WORKERS: i64 = 1024;
/// TUN queues read at most: with 4 jobs of 256 packets in flight per
/// queue, a tunnel's counters stay within 4,096 of each other.
pub const MAX_TUN_QUEUES: i64 = 4;
/// Sockets per endpoint at most (each holds its receive jobs, about 12 MB).
pub const MAX_ENDPOINT_SOCKETS: i64 = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataplane {
    pub workers: Option<Spanned<i64>>,
    pub tun_queues: Option<Spanned<i64>>,
    pub endpoint_sockets: Option<Spanned<i64>>,
}

pub(crate) fn dataplane(
    src: &Source,
    raw: Option<&Spanned<RawDataplane>>,
) -> Result<DataplaneConfig, ConfigError> {
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return Ok(DataplaneConfig::default());
    };
    let workers = count(
        src,
        raw.workers.as_ref(),
        "workers",
        (0, "each reader does its own crypto"),
        MAX_WORKERS,
        "one worker per core",
    )?;
    let tun_queues = count(
        src,
        raw.tun_queues.as_ref(),
        "tun_queues",
        (1, "one queue, the default"),
        MAX_TUN_QUEUES,
        "the default",
    )?;
    let endpoint_sockets = count(
        src,
        raw.endpoint_sockets.as_ref(),
        "endpoint_sockets",
        (1, "one socket"),
        MAX_ENDPOINT_SOCKETS,
        "the default",
    )?;
    Ok(DataplaneConfig {
        workers,
        tun_queues,
        endpoint_sockets,
    })
}

/// A count of threads (`workers`, `tun_queues`, `endpoint_sockets`) from
/// `min` (what it means, for the fix) to `max`; None when absent (what that
/// means: `absent`).
fn count(
    src: &Source,
    v: Option<&Spanned<i64>>,
    key: &str,
    (min, meaning): (i64, &str),
    max: i64,
    absent: &str,
) -> Result<Option<usize>, ConfigError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let n = *v.get_ref();
    if !(min..=max).contains(&n) {
        return Err(src.err(
            v.span(),
            format!("[dataplane] {key} = {n} is out of range"),
            format!("use {min} ({meaning}) to {max}, or leave it out for {absent}"),
        ));
    }
    Ok(usize::try_from(n).ok())
}
