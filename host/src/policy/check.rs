//! Checks of a plugin file before and after compiling it: that it is a
//! WebAssembly component at all, that it exports the slot's world, and that
//! it imports nothing beyond what the host provides. Each refusal is a
//! [`PluginError`] naming the file and the fix. This module owns only these
//! checks and their wording; it must not compile, instantiate or call
//! anything.

use std::path::Path;

use wasmtime::component::Component;
use wasmtime::Engine;

use super::{PluginError, Slot, CONTRACT_VERSION};

/// Reads `path` and makes sure it looks like a component (not something
/// else, not a core module).
/// The largest plugin file accepted (the defaults are about 50 KB).
const MAX_PLUGIN_BYTES: u64 = 64 << 20;

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, PluginError> {
    let unreadable = |source| PluginError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // A regular file of bounded size only: a FIFO would block the admin
    // thread, /dev/zero would grow until the gateway runs out of memory.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() || meta.len() > MAX_PLUGIN_BYTES {
        return Err(unreadable(std::io::Error::other(format!(
            "not a regular file of at most {} MiB",
            MAX_PLUGIN_BYTES >> 20
        ))));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(unreadable)?,
            MAX_PLUGIN_BYTES,
        ),
        &mut bytes,
    )
    .map_err(unreadable)?;
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(bytes),
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => Err(PluginError::CoreModule {
            path: path.to_path_buf(),
        }),
        _ => Err(PluginError::NotWasm {
            path: path.to_path_buf(),
        }),
    }
}

/// The WASI 0.2 interfaces the host links (all of them empty or denied).
const WASI: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// The policy interfaces the host provides to plugins (unversioned).
const HOST: &[&str] = &[
    "sitelink:policy/log",
    "sitelink:policy/params",
    "sitelink:policy/types",
];

/// Whether a plugin's `version` of the contract is the host's (the same
/// 0.MINOR: [`CONTRACT_VERSION`]).
fn compatible(version: &str) -> bool {
    version
        .split('.')
        .take(2)
        .eq(CONTRACT_VERSION.split('.').take(2))
}

/// Whether `version` (major.minor...) is later than [`CONTRACT_VERSION`];
/// one that does not parse is taken for an earlier one.
fn newer(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.').map(str::parse::<u64>);
        Some((parts.next()?.ok()?, parts.next()?.ok()?))
    };
    matches!((parse(version), parse(CONTRACT_VERSION)), (Some(v), Some(ours)) if v > ours)
}

/// Whether `name` (`pkg/iface@VERSION`) is `wanted` (`pkg/iface`) at a
/// compatible version.
fn is(name: &str, wanted: &str) -> bool {
    name.split_once('@')
        .is_some_and(|(n, v)| n == wanted && compatible(v))
}

/// Whether `exports` holds `wanted` (`pkg/iface`) at a compatible version.
fn has(exports: &[String], wanted: &str) -> bool {
    exports.iter().any(|e| is(e, wanted))
}

/// Checks the component's imports and exports against `slot`.
pub(crate) fn world(
    engine: &Engine,
    component: &Component,
    slot: Slot,
    path: &Path,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let old = ty
        .imports(engine)
        .map(|(n, _)| n)
        .chain(ty.exports(engine).map(|(n, _)| n))
        .find_map(|n| {
            n.strip_prefix("sitelink:policy/")
                .and_then(|n| n.split_once('@'))
                .map(|(_, v)| v.to_string())
                .filter(|v| !compatible(v))
        });
    if let Some(found) = old {
        let path = path.to_path_buf();
        return Err(if newer(&found) {
            PluginError::NewerContract { path, found }
        } else {
            PluginError::OldContract { path, found }
        });
    }
    for (import, _) in ty.imports(engine) {
        let known = WASI
            .iter()
            .any(|w| import.starts_with(w) && import.contains("@0.2."))
            || HOST.iter().any(|h| is(import, h));
        if !known {
            return Err(PluginError::UnknownImport {
                path: path.to_path_buf(),
                import: import.to_string(),
            });
        }
    }
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let versioned = |name: &str| format!("{name}@{CONTRACT_VERSION}");
    let mut missing: Vec<String> = Vec::new();
    for wanted in ["sitelink:policy/about", slot.interface()] {
        if !has(&exports, wanted) {
            missing.push(versioned(wanted));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let seems: Vec<Slot> = Slot::ALL
        .into_iter()
        .filter(|s| has(&exports, s.interface()))
        .collect();
    let mut detail = format!("it does not export {}", missing.join(" and "));
    match seems.as_slice() {
        [] => {
            let list = if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            };
            detail.push_str(&format!(
                " (it exports {list}); build it for world `{slot}` of wit/policy.wit \
                 (wit_bindgen::generate! with world \"{slot}\")"
            ));
        }
        [other] => detail.push_str(&format!(
            "; it looks like a {other} plugin (it exports {}): put it in [plugins.{other}], \
             or build it for world `{slot}`",
            versioned(other.interface())
        )),
        _ => detail.push_str(&format!(
            "; it exports the interfaces of the {} worlds: build it for world `{slot}`",
            seems
                .iter()
                .map(|s| s.world())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Err(PluginError::WrongWorld {
        path: path.to_path_buf(),
        slot,
        detail,
    })
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or("").trim().to_string();
        if !first.is_empty() && !parts.contains(&first) {
            parts.push(first);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin from a later gateway is told to upgrade, not to rebuild
    /// for an "earlier" contract.
    #[test]
    fn a_later_contract_is_told_from_an_earlier_one() {
        assert!(newer("0.4.0") && newer("1.0.0") && newer("0.10.2"));
        assert!(!newer("0.2.0") && !newer("0.1.0") && !newer("0.3.9"));
        assert!(!newer("x.y") && !newer(""));
    }

    #[test]
    fn versions_match_within_the_host_minor() {
        let e = vec!["sitelink:policy/about@0.3.7".to_string()];
        assert!(has(&e, "sitelink:policy/about"));
        assert!(!has(&e, "sitelink:policy/abo"));
        for old in ["0.2.0", "0.1.0", "0.30.0", "1.3.0"] {
            let e = vec![format!("sitelink:policy/about@{old}")];
            assert!(!has(&e, "sitelink:policy/about"), "{old}");
        }
        let e = vec!["sitelink:policy/about".to_string()];
        assert!(!has(&e, "sitelink:policy/about"));
    }

    #[test]
    fn sniffs_files() {
        let dir = std::env::temp_dir().join(format!("sitelink-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let f = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).ok();
            read(&p)
        };
        assert!(matches!(f("a", b"hello"), Err(PluginError::NotWasm { .. })));
        assert!(matches!(
            f("b", b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule { .. })
        ));
        assert!(f("c", b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            read(&dir.join("missing")),
            Err(PluginError::Unreadable { .. })
        ));
        let msg = f("a", b"x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("cargo build --target wasm32-wasip2"), "{msg}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
