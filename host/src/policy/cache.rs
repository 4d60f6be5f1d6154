//! The compiled-component cache: `DIR/KEY.cwasm`, each file the key then
//! the serialized component, so a restart loads plugins without compiling
//! them. The key hashes the wasm bytes with the engine's code generation
//! settings (wasmtime version, target, every codegen option). Only a private
//! directory is trusted (owned by this user, writable by no one else); any
//! doubt means compiling again, never an error. This module owns the cache
//! files; it must not decide what to compile or check plugins.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::component::Component;
use wasmtime::Engine;

use super::check;

/// Whether `meta` belongs to us and no one else may write it.
fn private(meta: &std::fs::Metadata) -> bool {
    meta.uid() == crate::keys::euid() && meta.mode() & 0o022 == 0
}

/// `dir`, created 0700 if missing, if it is ours and private.
pub(crate) fn usable_dir(dir: &Path) -> Option<&Path> {
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        tracing::warn!(dir = %dir.display(), "plugin cache unusable, compiling every time: {e}");
        return None;
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() && private(&m) => Some(dir),
        _ => {
            tracing::warn!(dir = %dir.display(),
                "plugin cache ignored: it must be a directory owned by this user and writable by no one else (chmod 700)");
            None
        }
    }
}

pub(crate) fn load(engine: &Engine, dir: &Path, key: &str) -> Option<Component> {
    let file = dir.join(format!("{key}.cwasm"));
    let meta = std::fs::symlink_metadata(&file).ok()?;
    if !meta.is_file() || !private(&meta) {
        return None;
    }
    let bytes = std::fs::read(&file).ok()?;
    let code = bytes.strip_prefix(key.as_bytes())?;
    // SAFETY: deserializing runs native code produced by a compiler, so
    // the bytes must come from `Component::serialize`. These do: the file
    // is in a directory that only this user can write (checked above),
    // the file itself is ours and not writable by others, it was written
    // by `store` below (atomically, via rename), and it starts with the
    // key, which hashes the wasm bytes together with this engine's
    // version and codegen settings, so it is the artifact of exactly this
    // wasm for exactly this engine configuration. Wasmtime also checks
    // the engine compatibility itself and refuses a mismatch (then we
    // recompile). The bytes are copied into fresh memory, so later
    // changes to the file cannot affect the loaded code.
    match unsafe { Component::deserialize(engine, code) } {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(file = %file.display(), "cached plugin unusable, recompiling: {}", check::chain(&e));
            None
        }
    }
}

pub(crate) fn store(dir: &Path, key: &str, component: &Component) {
    let result = (|| -> std::io::Result<()> {
        let code = component
            .serialize()
            .map_err(|e| std::io::Error::other(check::chain(&e)))?;
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{key}.{}.{seq}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.write_all(&code)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(format!("{key}.cwasm")))
    })();
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), "cannot cache a compiled plugin: {e}");
    }
}
