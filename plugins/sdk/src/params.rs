//! The plugin's parameters (`sitelink:policy/params`), as the operator set
//! them in `[plugins.SLOT.params]`. Values are strings; these helpers parse
//! them, and [`check`] tells a misspelt key or a bad value apart. Off
//! `wasm32` (native tests) the parameters are those [`set_for_test`] gave
//! the current thread (none by default).

use std::str::FromStr;

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static TEST_PARAMS: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Native tests only: the parameters the plugin sees on this thread from
/// now on, as if the operator had set them.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_for_test(params: &[(&str, &str)]) {
    TEST_PARAMS.with(|p| {
        *p.borrow_mut() = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    });
}

/// The value of `key`, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return sitelink_plugin_world_bgp_filter::sitelink::policy::params::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    TEST_PARAMS.with(|p| {
        p.borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// All parameters, as `(key, value)` pairs.
pub fn entries() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return sitelink_plugin_world_bgp_filter::sitelink::policy::params::entries();
    #[cfg(not(target_arch = "wasm32"))]
    TEST_PARAMS.with(|p| p.borrow().clone())
}

/// What a parameter must look like, for [`check`].
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number, 0 or more.
    Unsigned,
    /// `true`/`false` (or yes/no, on/off, 1/0).
    Bool,
    /// Any text.
    Text,
    /// Text that `valid` accepts; `what` says what it must be.
    Custom {
        what: &'static str,
        valid: fn(&str) -> bool,
    },
}

/// A parameter the plugin understands.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub key: &'static str,
    pub kind: Kind,
}

/// Checks the operator's parameters against those the plugin declares:
/// every key must be declared and every value of its kind. `Err` lists each
/// problem, one line each, naming the fix.
pub fn check(declared: &[Param]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for (key, value) in entries() {
        let Some(param) = declared.iter().find(|p| p.key == key) else {
            let known: Vec<&str> = declared.iter().map(|p| p.key).collect();
            problems.push(format!(
                "unknown parameter {key:?}: this plugin takes {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
            continue;
        };
        let ok = match param.kind {
            Kind::Unsigned => value.trim().parse::<u64>().is_ok(),
            Kind::Bool => parse_bool(&value).is_some(),
            Kind::Text => true,
            Kind::Custom { valid, .. } => valid(&value),
        };
        if !ok {
            let what = match param.kind {
                Kind::Unsigned => "a whole number (0 or more)",
                Kind::Bool => "true or false",
                Kind::Text => "text",
                Kind::Custom { what, .. } => what,
            };
            problems.push(format!("parameter {key} = {value:?} is not {what}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// [`require`] when the plugin declares its parameters (the export
/// macros call it before every call).
#[doc(hidden)]
pub fn require_declared(declared: Option<&[Param]>) {
    if let Some(declared) = declared {
        require(declared);
    }
}

/// [`check`], or a panic that names every problem. The export macros call
/// it before every call when the trait impl declares `PARAMS`. The gateway
/// calls each plugin once with no input when it loads it and refuses it on
/// the panic, showing the message, so a misspelt key or a bad value is
/// seen at `sitelink check`, `plugin swap` or `plugin test`, not later.
pub fn require(declared: &[Param]) {
    if let Err(problems) = check(declared) {
        panic!("bad parameters: {}", problems.join("; "));
    }
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

    const DECLARED: &[Param] = &[
        Param {
            key: "max_len",
            kind: Kind::Unsigned,
        },
        Param {
            key: "strict",
            kind: Kind::Bool,
        },
    ];

    #[test]
    fn tests_set_parameters_and_checks_name_each_problem() {
        set_for_test(&[("max_len", "12"), ("strict", "yes")]);
        assert_eq!(get_or("max_len", 50u32), 12);
        assert!(get_bool("strict", false));
        assert_eq!(check(DECLARED), Ok(()));
        set_for_test(&[("max_len", "abc"), ("max-len", "3"), ("strict", "maybe")]);
        let problems = check(DECLARED).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "parameter max_len = \"abc\" is not a whole number (0 or more)".to_string(),
                "unknown parameter \"max-len\": this plugin takes max_len, strict".to_string(),
                "parameter strict = \"maybe\" is not true or false".to_string(),
            ]
        );
        set_for_test(&[("max_len", "-1")]);
        assert!(std::panic::catch_unwind(|| require(DECLARED)).is_err());
        set_for_test(&[]);
        require(DECLARED);
    }
}
