//! WireGuard key material: generating, encoding, decoding and loading
//! Curve25519 keys in the same text form as `wg genkey` / `wg pubkey` (32
//! bytes, standard base64 with padding, 44 characters). It owns the rules for
//! private key files (must exist, be readable, and not be accessible by group
//! or others) and the exact wording of their errors and fixes. It must not
//! log, print or put key bytes into any error message, and it knows nothing
//! of the configuration format or of tunnels (`config` calls it).

use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::{OsRng, RngCore};

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a key in base64 text, with padding.
pub const KEY_TEXT_LEN: usize = 44;

/// Why a key could not be produced, decoded or loaded. `Display` is one
/// terse line (plus `; fix: ...` for key files); the `io::Error`, where there
/// is one, is chained as `source()`. Use [`KeyError::problem`] and
/// [`KeyError::fix`] to get the two halves separately.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub enum KeyError {
    /// The operating system's random source failed (its message; rand_core's
    /// error type is not a `std::error::Error` without its `std` feature).
    Random(String),
    /// The text is not standard base64.
    NotBase64(#[source] base64::DecodeError),
    /// The text is base64 but not of 32 bytes.
    WrongLength(usize),
    /// The private key file does not exist.
    Missing {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The private key file exists but cannot be read (permission, a
    /// directory, an I/O error).
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The private key file can be read or written by group or others.
    Permissions { path: PathBuf, mode: u32 },
    /// The private key path is a symbolic link (not followed).
    Link { path: PathBuf },
    /// The private key path is not a regular file (a directory, a pipe, a
    /// device).
    NotRegular { path: PathBuf },
    /// The private key file belongs to another user than the one running
    /// sitelink.
    Owner { path: PathBuf, uid: u32, ours: u32 },
    /// The private key file's contents are not a key.
    Malformed {
        path: PathBuf,
        /// Why the contents are not a key (part of `Display`, not chained,
        /// so that no detail of the secret's bytes reaches a log via `source`).
        reason: Box<KeyError>,
    },
}

impl KeyError {
    /// What is wrong, without the fix.
    pub fn problem(&self) -> String {
        match self {
            KeyError::Random(why) => {
                format!("cannot get random bytes from the operating system: {why}")
            }
            KeyError::NotBase64(_) => {
                "key is not valid base64 (a WireGuard key is 32 bytes / 44 base64 characters)"
                    .into()
            }
            KeyError::WrongLength(n) => format!(
                "key decodes to {n} bytes; a WireGuard key is {KEY_LEN} bytes / {KEY_TEXT_LEN} base64 characters"
            ),
            KeyError::Missing { path, .. } => {
                format!("key file {} does not exist", path.display())
            }
            KeyError::Unreadable { path, .. } => {
                format!("cannot read key file {}", path.display())
            }
            KeyError::Permissions { path, mode } => format!(
                "key file {} is accessible by group or others (mode {:04o})",
                path.display(),
                mode & 0o7777
            ),
            KeyError::Link { path } => {
                format!("key file {} is a symbolic link", path.display())
            }
            KeyError::NotRegular { path } => {
                format!("key file {} is not a regular file", path.display())
            }
            KeyError::Owner { path, uid, ours } => format!(
                "key file {} belongs to uid {uid}, not to the user running sitelink (uid {ours})",
                path.display()
            ),
            KeyError::Malformed { path, reason } => format!(
                "key file {} does not hold a valid key: {}",
                path.display(),
                reason.problem()
            ),
        }
    }

    /// How to fix it, when there is a clear fix.
    pub fn fix(&self) -> Option<String> {
        match self {
            KeyError::Random(_) => None,
            KeyError::NotBase64(_) | KeyError::WrongLength(_) => Some(
                "use a key printed by `sitelink genkey` / `sitelink pubkey` (or `wg genkey` / `wg pubkey`)"
                    .into(),
            ),
            KeyError::Missing { path, .. } => {
                let p = path.display();
                Some(format!(
                    "create it with `sitelink genkey > {p} && chmod 600 {p}`"
                ))
            }
            KeyError::Unreadable { path, .. } => Some(format!(
                "make {} a regular file readable by the user running sitelink (chmod 600, owned by that user)",
                path.display()
            )),
            KeyError::Permissions { path, .. } => {
                Some(format!("chmod 600 {}", path.display()))
            }
            KeyError::Link { .. } => Some(
                "give the key file's own path (links are not followed: a link could be pointed at another file)"
                    .into(),
            ),
            KeyError::NotRegular { .. } => {
                Some("point the setting at the key file itself".into())
            }
            KeyError::Owner { path, ours, .. } => {
                Some(format!("chown {ours} {}", path.display()))
            }
            KeyError::Malformed { path, .. } => {
                let p = path.display();
                Some(format!(
                    "write one key into it, e.g. `sitelink genkey > {p} && chmod 600 {p}`"
                ))
            }
        }
    }

    fn render(&self) -> String {
        match self.fix() {
            Some(fix) if self.path().is_some() => format!("{}; fix: {fix}", self.problem()),
            _ => self.problem(),
        }
    }

    /// The key file concerned, for errors about a key file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            KeyError::Missing { path, .. }
            | KeyError::Unreadable { path, .. }
            | KeyError::Permissions { path, .. }
            | KeyError::Link { path }
            | KeyError::NotRegular { path }
            | KeyError::Owner { path, .. }
            | KeyError::Malformed { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A new private key from the OS random source, clamped as `wg genkey` does.
/// Fails only if the operating system cannot provide random bytes.
pub fn generate_private_key() -> Result<[u8; KEY_LEN], KeyError> {
    let mut b = [0u8; KEY_LEN];
    OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    b[0] &= 248;
    b[31] &= 127;
    b[31] |= 64;
    Ok(b)
}

/// The key as standard base64 with padding (44 characters), as `wg` writes it.
pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
    STANDARD.encode(key)
}

/// Parses a key written as base64 (surrounding whitespace ignored).
pub fn decode_key(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let bytes = STANDARD.decode(text.trim()).map_err(KeyError::NotBase64)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyError::WrongLength(bytes.len()))
}

/// The public key of a private key (X25519 base point multiplication; the
/// private key is clamped as part of it, so unclamped input is fine).
pub fn public_key_of(private: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let secret = StaticSecret::from(*private);
    PublicKey::from(&secret).to_bytes()
}

/// Whether `public` is a key no shared secret can come from: a point of
/// small order (the all-zero key among them), with which X25519 gives the
/// all-zero secret whatever the private key. The handshake refuses such a
/// peer, so the config does first.
pub fn is_weak_peer_key(private: &StaticSecret, public: &[u8; KEY_LEN]) -> bool {
    !private
        .diffie_hellman(&PublicKey::from(*public))
        .was_contributory()
}

/// The effective user of this process (who files must belong to, and who
/// may use the admin socket besides root).
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and
    // cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a key file owned by `owner` may be used by a process running as
/// `euid`: its own, or root's; root may use any user's (a gateway's service
/// user owns its key, and root runs `sitelink check` on its config).
pub fn owner_allowed(owner: u32, euid: u32) -> bool {
    owner == euid || owner == 0 || euid == 0
}

/// Loads a private key file: it must exist and be a regular file (a
/// symbolic link is not followed, a pipe is not waited on), belong to the
/// user running sitelink or to root ([`owner_allowed`]), not be readable
/// or writable by group or others (all checked on the opened file, before
/// reading it), and hold one base64 key.
pub fn read_private_key_file(path: &Path) -> Result<StaticSecret, KeyError> {
    let unreadable = |e| KeyError::Unreadable {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(KeyError::Link {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.file_type().is_file() {
        return Err(KeyError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let ours = euid();
    if !owner_allowed(meta.uid(), ours) {
        return Err(KeyError::Owner {
            path: path.to_path_buf(),
            uid: meta.uid(),
            ours,
        });
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    // A key file is 45 bytes; read a little more than that so a wrong file
    // (a certificate, a log) is reported as malformed without reading it all.
    let mut raw = Vec::with_capacity(128);
    file.take(4096).read_to_end(&mut raw).map_err(unreadable)?;
    let text = String::from_utf8_lossy(&raw);
    let bytes = decode_key(&text).map_err(|e| KeyError::Malformed {
        path: path.to_path_buf(),
        reason: Box::new(e),
    })?;
    Ok(StaticSecret::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// (private, public) pairs made with `wg genkey` and `wg pubkey`
    /// (wireguard-tools), plus two unclamped private keys given to `wg pubkey`.
    const WG_VECTORS: &[(&str, &str)] = &[
        (
            "wLzGEo5uIw+iVVqffwiTXZ6skT6wOToFNF4SM52QwGU=",
            "rNJmEdun3KzWR8UHIqlIWDxBbPNvlcsqfRUW1VRB5wU=",
        ),
        (
            "2DKBxE/Df+LY6mlytCzKMvw3oj0vYrPfwuKdUN4Kb0w=",
            "+rTuRA5NiuiE8d6LrKkC9oG9x6fIcXYuhy8aNt6vjyg=",
        ),
        (
            "cE0GY+MVIh06RWjcKh+bgT/XGFqP8G5JoRiAnF+kpnk=",
            "TeTdj7voMMAZHvn33BOsJQVYWJ//ou8WKKg3k7hS2HA=",
        ),
        (
            "//////////////////////////////////////////8=",
            "hHwNLDdSNPNl5mCVUYejc1oPdhPRYJ06ak2MU66qWiI=",
        ),
        (
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8=",
        ),
    ];

    fn temp_dir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sitelink-keys-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refused(path: &Path) -> KeyError {
        match read_private_key_file(path) {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(e) => e,
        }
    }

    fn write_mode(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn round_trip() {
        let k = generate_private_key().unwrap();
        let text = encode_key(&k);
        assert_eq!(text.len(), KEY_TEXT_LEN);
        assert_eq!(decode_key(&text).unwrap(), k);
        assert_eq!(decode_key(&format!("  {text}\n")).unwrap(), k);
    }

    #[test]
    fn generated_keys_are_clamped_and_differ() {
        for _ in 0..64 {
            let k = generate_private_key().unwrap();
            assert_eq!(k[0] & 7, 0);
            assert_eq!(k[31] & 0x80, 0);
            assert_eq!(k[31] & 0x40, 0x40);
        }
        assert_ne!(
            generate_private_key().unwrap(),
            generate_private_key().unwrap()
        );
    }

    #[test]
    fn public_keys_match_wireguard_tools() {
        for (private, public) in WG_VECTORS {
            let k = decode_key(private).unwrap();
            assert_eq!(encode_key(&public_key_of(&k)), *public, "for {private}");
            assert_eq!(encode_key(&k), *private);
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(matches!(
            decode_key("not a key!"),
            Err(KeyError::NotBase64(_))
        ));
        let e = decode_key("").unwrap_err();
        assert!(matches!(e, KeyError::WrongLength(0)), "{e:?}");
        let short = STANDARD.encode([1u8; 31]);
        let e = decode_key(&short).unwrap_err();
        assert!(matches!(e, KeyError::WrongLength(31)));
        assert_eq!(
            e.to_string(),
            "key decodes to 31 bytes; a WireGuard key is 32 bytes / 44 base64 characters"
        );
        let long = STANDARD.encode([1u8; 33]);
        assert!(matches!(decode_key(&long), Err(KeyError::WrongLength(33))));
        // Unpadded text is not what `wg` writes.
        let unpadded = "wLzGEo5uIw+iVVqffwiTXZ6skT6wOToFNF4SM52QwGU";
        assert!(decode_key(unpadded).is_err());
    }

    #[test]
    fn key_file_0600_accepted() {
        let dir = temp_dir("ok");
        let path = dir.join("k.key");
        write_mode(&path, &format!("{}\n", WG_VECTORS[0].0), 0o600);
        let s = read_private_key_file(&path).unwrap();
        assert_eq!(encode_key(&PublicKey::from(&s).to_bytes()), WG_VECTORS[0].1);
        write_mode(&path, WG_VECTORS[0].0, 0o400);
        assert!(read_private_key_file(&path).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_file_0644_refused_with_chmod_fix() {
        let dir = temp_dir("perm");
        let path = dir.join("k.key");
        write_mode(&path, WG_VECTORS[0].0, 0o644);
        let e = refused(&path);
        let p = path.display();
        assert_eq!(
            e.to_string(),
            format!(
                "key file {p} is accessible by group or others (mode 0644); fix: chmod 600 {p}"
            )
        );
        write_mode(&path, WG_VECTORS[0].0, 0o602);
        assert!(matches!(
            read_private_key_file(&path),
            Err(KeyError::Permissions { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_a_directory_a_pipe_or_another_users_file_is_refused() {
        let dir = temp_dir("kinds");
        let real = dir.join("real.key");
        write_mode(&real, WG_VECTORS[0].0, 0o600);
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = refused(&link);
        assert!(matches!(e, KeyError::Link { .. }), "{e}");
        assert!(e.to_string().contains("is a symbolic link; fix: "), "{e}");
        let fifo = dir.join("fifo.key");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Refused without waiting for a writer.
            assert!(matches!(refused(&fifo), KeyError::NotRegular { .. }));
        }
        let e = KeyError::Owner {
            path: real.clone(),
            uid: 1,
            ours: 1000,
        };
        assert!(e
            .to_string()
            .ends_with(&format!("fix: chown 1000 {}", real.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_file_is_ours_or_roots_and_root_may_use_any() {
        assert!(owner_allowed(1000, 1000));
        assert!(owner_allowed(0, 1000), "root's");
        assert!(!owner_allowed(1001, 1000), "another user's");
        assert!(owner_allowed(1001, 0), "root may use a service user's key");
    }

    #[test]
    fn missing_key_file_refused_with_genkey_fix() {
        let dir = temp_dir("missing");
        let path = dir.join("nope.key");
        let e = refused(&path);
        let p = path.display();
        assert_eq!(
            e.to_string(),
            format!(
                "key file {p} does not exist; fix: create it with `sitelink genkey > {p} && chmod 600 {p}`"
            )
        );
        assert!(e.source().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_key_file_refused_without_echoing_contents() {
        let dir = temp_dir("bad");
        let path = dir.join("k.key");
        write_mode(&path, "c2VjcmV0\n", 0o600);
        let e = refused(&path);
        let text = e.to_string();
        assert!(text.contains("does not hold a valid key"), "{text}");
        assert!(text.contains("decodes to 6 bytes"), "{text}");
        assert!(!text.contains("c2VjcmV0"));
        assert!(e.fix().unwrap().contains("sitelink genkey"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_is_refused_as_not_a_key_file() {
        let dir = temp_dir("dir");
        // A directory with mode 0700 would pass the mode check.
        let path = dir.join("sub");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = refused(&path);
        assert!(matches!(e, KeyError::NotRegular { .. }), "{e:?}");
        assert!(
            e.to_string().contains("is not a regular file; fix: "),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
