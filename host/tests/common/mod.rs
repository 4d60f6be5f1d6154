//! What the CLI and admin tests share: the `sitelink` binary, a scratch
//! directory and network namespace that are removed on drop, gateways run
//! in it, key and config makers, bounded waits. Root is needed, as for every
//! end-to-end test.

// Each test file uses a part of this.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sitelink");

/// A scratch directory and network namespace, removed on drop.
pub struct Scene {
    pub dir: PathBuf,
    pub netns: String,
    pub children: Vec<Child>,
}

impl Scene {
    pub fn new(tag: &str) -> Scene {
        let id = format!("sltcli{}{tag}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("ip").args(["netns", "del", &id]).output();
        let ok = Command::new("ip")
            .args(["netns", "add", &id])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {id} failed (are we root?)");
        sh(&id, &["ip", "link", "set", "lo", "up"]);
        Scene {
            dir,
            netns: id,
            children: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a private key with `mode` and returns its path.
    pub fn key(&self, name: &str, mode: u32) -> PathBuf {
        let out = Command::new(BIN).arg("genkey").output().unwrap();
        assert!(out.status.success());
        let path = self.path(name);
        fs::write(&path, &out.stdout).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A one-tunnel gateway config listening on `listen`.
    pub fn config(&self, name: &str, key: &Path, listen: &str, tun: &str) -> PathBuf {
        let peer = pubkey(&genkey());
        let text = format!(
            r#"[gateway]
name = "{name}"
role = "cgw"
private_key_file = "{key}"
admin_socket = "{sock}"

[tun]
name = "{tun}"

[[endpoint]]
name = "wan"
listen = "{listen}"

[route_table]
kernel_routes = false

[[connection]]
name = "lab"
routing = "static"
static_routes = ["10.77.0.0/24"]

[[connection.tunnel]]
endpoint = "wan"
remote = "127.0.0.1:51999"
remote_public_key = "{peer}"
inside_cidr = "169.254.77.0/30"
"#,
            key = key.display(),
            sock = self.path(&format!("{name}.sock")).display(),
        );
        let path = self.path(&format!("{name}.toml"));
        fs::write(&path, text).unwrap();
        path
    }

    /// Runs `sitelink ARGS` in the namespace to completion (bounded).
    pub fn run_to_end(&self, prefix: &[&str], args: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .args(prefix)
            .arg(BIN)
            .args(args);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_bounded(child, Duration::from_secs(10))
    }

    /// Starts a gateway in the background and waits for its admin socket.
    pub fn start(&mut self, config: &Path, socket: &Path) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, BIN, "run", "-c"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "gateway did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn link_exists(&self, name: &str) -> bool {
        sh(&self.netns, &["ip", "link", "show", name])
            .status
            .success()
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn sh(netns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(args)
        .output()
        .unwrap()
}

pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sitelink did not exit within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn genkey() -> String {
    let out = Command::new(BIN).arg("genkey").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs `program pubkey` with `input` on stdin.
pub fn pubkey_of(program: &str, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); scripts/test.sh installs wireguard-tools")
        });
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn pubkey(private: &str) -> String {
    let out = pubkey_of(BIN, private.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Not root (the uid from /proc, no libc call needed).
pub fn not_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u != "0"))
        })
        .unwrap_or(true)
}
