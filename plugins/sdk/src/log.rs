//! The host's log (`sitelink:policy/log`): lines land in the gateway's log
//! tagged with the plugin's name. Off `wasm32` (native tests) they go to
//! stderr.
//!
//! A call may log 16 KiB (each line counts 128 bytes besides its text);
//! the rest is dropped. A line is cut at 1 KiB, its control characters
//! escaped. `println!` and `eprintln!` go to the log at `info` level,
//! within the same allowance.

use std::collections::BTreeSet;
use std::sync::Mutex;

pub use sitelink_plugin_world_bgp_filter::sitelink::policy::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    #[cfg(target_arch = "wasm32")]
    sitelink_plugin_world_bgp_filter::sitelink::policy::log::log(level, message.as_ref());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {}", message.as_ref());
}

/// Logs at `error` level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message)
}

/// Logs at `warn` level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message)
}

/// Logs at `info` level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message)
}

/// Logs at `debug` level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message)
}

/// Logs `message` at `level` only the first time this instance sees this
/// exact message (e.g. a bad parameter, which every call would otherwise
/// repeat); returns whether it logged. Remembers at most 256 messages; later
/// ones are always logged.
pub fn once(level: Level, message: impl AsRef<str>) -> bool {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let message = message.as_ref();
    let first = match SEEN.lock() {
        Ok(mut seen) if seen.len() < 256 => seen.insert(message.to_owned()),
        Ok(seen) => !seen.contains(message),
        Err(_) => true,
    };
    if first {
        log(level, message);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_logs_each_message_once() {
        assert!(once(Level::Debug, "sdk test: a"));
        assert!(!once(Level::Debug, "sdk test: a"));
        assert!(once(Level::Debug, "sdk test: b"));
    }
}
