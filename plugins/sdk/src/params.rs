//! The plugin's parameters (`sitelink:policy/params`), as the operator set
//! them in `[plugins.SLOT.params]`. Values are strings; these helpers parse
//! them. Off `wasm32` (native tests) there are no parameters.

use std::str::FromStr;

/// The value of `key`, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return sitelink_plugin_world_bgp_filter::sitelink::policy::params::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        None
    }
}

/// All parameters, as `(key, value)` pairs.
pub fn entries() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return sitelink_plugin_world_bgp_filter::sitelink::policy::params::entries();
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}

/// `key` parsed as `T`; `default` if it is not set. A value that does not
/// parse is logged as a warning (once) and `default` is used.
pub fn get_or<T: FromStr>(key: &str, default: T) -> T {
    match get(key) {
        None => default,
        Some(v) => match v.trim().parse() {
            Ok(t) => t,
            Err(_) => {
                crate::log::once(
                    crate::log::Level::Warn,
                    format!("parameter {key} = {v:?} does not parse: using the default"),
                );
                default
            }
        },
    }
}

/// `key` as a boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`);
/// `default` if not set or not one of those (logged once).
pub fn get_bool(key: &str, default: bool) -> bool {
    match get(key) {
        None => default,
        Some(v) => match parse_bool(&v) {
            Some(b) => b,
            None => {
                crate::log::once(
                    crate::log::Level::Warn,
                    format!("parameter {key} = {v:?} is not a boolean: using {default}"),
                );
                default
            }
        },
    }
}

/// Parses `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` (any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Splits a comma-separated list, trimming items and dropping empty ones.
pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_and_lists() {
        assert_eq!(parse_bool(" Yes "), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        let items: Vec<_> = split_list(" a, b ,,c ").collect();
        assert_eq!(items, ["a", "b", "c"]);
        assert_eq!(get_or("absent", 7u32), 7);
    }
}
