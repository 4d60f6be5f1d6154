//! Network namespaces and the links between them. A [`Lab`] owns a unique id
//! (`slt<pid>x<counter>`, so parallel tests in one process and concurrent
//! processes never clash, and the owner of a leftover is known) and a temp
//! directory for keys, configs and logs; it hands out [`Netns`] guards named
//! `<id>-<role>`. A `Netns` runs `ip -n` and `ip netns exec` commands inside
//! itself (addresses, routes, `ip rule`, sysctls) and deletes itself on drop,
//! which also removes its veths. Veth pairs are created from inside their
//! first namespace straight into the second, so interface names only need to
//! be unique per namespace (and at most 15 bytes). [`sweep_stale`] removes
//! `slt*` namespaces whose owner process is gone.

use crate::cleanup;
use crate::error::{Error, Result};
use crate::process::{self, CmdOutput, SHORT};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// Prefix of every namespace the lab creates.
pub const PREFIX: &str = "slt";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS` in the root namespace.
pub fn ip(args: &[&str]) -> Result<String> {
    process::run_ok(Command::new("ip").args(args), SHORT)
}

/// Names of all network namespaces (`ip netns list`).
pub fn list_netns() -> Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    rest[digits.len()..].starts_with('x').then_some(())?;
    digits.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Root of the lab directories: `$TMPDIR/sitelink-lab`.
pub fn lab_root() -> PathBuf {
    std::env::temp_dir().join("sitelink-lab")
}

/// Deletes `slt<pid>x*` namespaces whose owner pid no longer runs (killing
/// what still runs inside them), and lab directories of dead owners older than
/// a day. Returns the namespaces deleted.
pub fn sweep_stale() -> Vec<String> {
    let mut swept = Vec::new();
    for name in list_netns().unwrap_or_default() {
        if let Some(pid) = owner_pid(&name) {
            if pid != std::process::id() && !pid_alive(pid) {
                cleanup::delete_netns(&name);
                swept.push(name);
            }
        }
    }
    if let Ok(dirs) = fs::read_dir(lab_root()) {
        let day = Duration::from_secs(24 * 3600);
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let old = d
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > day);
            if old && owner_pid(&name).is_some_and(|p| !pid_alive(p)) {
                let _ = fs::remove_dir_all(d.path());
            }
        }
    }
    swept
}

/// One lab: a unique id and a directory for its files. Create namespaces
/// with [`Lab::netns`]. The directory is removed on drop, except while
/// panicking or when `SITELINK_LAB_KEEP` is set (then its path is printed).
pub struct Lab {
    id: String,
    dir: PathBuf,
}

impl Lab {
    /// Sweeps stale labs, then allocates a fresh id and directory.
    pub fn new() -> Result<Lab> {
        let swept = sweep_stale();
        if !swept.is_empty() {
            eprintln!("sitelink-lab: swept stale namespaces {swept:?}");
        }
        let id = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = lab_root().join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Lab { id, dir })
    }

    /// The unique id, e.g. `slt4242x0`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The directory for keys, configs, sockets and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A short string unique to this lab (for interface names): `<pid>x<n>`.
    pub fn short(&self) -> &str {
        &self.id[PREFIX.len()..]
    }

    /// Creates namespace `<id>-<role>` with lo up.
    pub fn netns(&self, role: &str) -> Result<Netns> {
        Netns::create(&format!("{}-{role}", self.id))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SITELINK_LAB_KEEP").is_some() {
            eprintln!("sitelink-lab: lab files kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A network namespace, deleted on drop (with whatever still runs in it).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

fn family(addr: &str) -> &'static str {
    if addr.contains(':') {
        "-6"
    } else {
        "-4"
    }
}

impl Netns {
    /// `ip netns add NAME`, then lo up.
    pub fn create(name: &str) -> Result<Netns> {
        ip(&["netns", "add", name])?;
        cleanup::register_netns(name);
        let ns = Netns {
            name: name.to_string(),
        };
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.arg("-n").arg(&self.name).args(args);
        process::run_ok(&mut cmd, SHORT)
    }

    /// A `Command` running `program ARGS` inside the namespace.
    pub fn command<S: AsRef<OsStr>>(&self, program: impl AsRef<OsStr>, args: &[S]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(program)
            .args(args);
        cmd
    }

    /// Runs `program ARGS` inside, bounded by `timeout`; any exit status.
    pub fn exec(&self, program: &str, args: &[&str], timeout: Duration) -> Result<CmdOutput> {
        process::run(&mut self.command(program, args), timeout)
    }

    /// Runs `program ARGS` inside (10 s bound); a failure is an error. Returns stdout.
    pub fn exec_ok(&self, program: &str, args: &[&str]) -> Result<String> {
        process::run_ok(&mut self.command(program, args), SHORT)
    }

    /// `sysctl -qw KEY=VALUE` inside.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec_ok("sysctl", &["-qw", &format!("{key}={value}")])
            .map(drop)
    }

    /// IPv4 and IPv6 forwarding on, reverse-path filtering off.
    pub fn enable_forwarding(&self) -> Result<()> {
        self.sysctl("net.ipv4.ip_forward", "1")?;
        self.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        self.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        self.sysctl("net.ipv4.conf.default.rp_filter", "0")
    }

    /// Sets `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }

    /// Sets `dev` down.
    pub fn link_down(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "down"]).map(drop)
    }

    /// Adds `cidr` (e.g. `10.1.0.1/24`, `fd00:1::1/64`) to `dev`; IPv6
    /// addresses skip duplicate address detection (`nodad`).
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        let mut args = vec!["addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.ip(&args).map(drop)
    }

    /// `ip route add DST via VIA [table T]` (the family follows `via`).
    pub fn add_route(&self, dst: &str, via: &str, table: Option<u32>) -> Result<()> {
        let t = table.map(|t| t.to_string());
        let mut args = vec![family(via), "route", "add", dst, "via", via];
        if let Some(t) = &t {
            args.extend(["table", t.as_str()]);
        }
        self.ip(&args).map(drop)
    }

    /// `ip route add DST dev DEV [table T]`: an on-link route.
    pub fn add_dev_route(&self, dst: &str, dev: &str, table: Option<u32>) -> Result<()> {
        let t = table.map(|t| t.to_string());
        let mut args = vec![family(dst), "route", "add", dst, "dev", dev];
        if let Some(t) = &t {
            args.extend(["table", t.as_str()]);
        }
        self.ip(&args).map(drop)
    }

    /// `ip rule add from SRC table T pref P`: source-based routing.
    pub fn add_rule_from(&self, src: &str, table: u32, pref: u32) -> Result<()> {
        let (t, p) = (table.to_string(), pref.to_string());
        self.ip(&[
            family(src),
            "rule",
            "add",
            "from",
            src,
            "table",
            &t,
            "pref",
            &p,
        ])
        .map(drop)
    }

    /// Pids of the processes running inside (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        ip(&["netns", "pids", &self.name])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        cleanup::delete_netns(&self.name);
        cleanup::unregister_netns(&self.name);
    }
}

/// Creates a veth pair `a_if` (in `a`) <-> `b_if` (in `b`) and sets both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    for n in [a_if, b_if] {
        if n.is_empty() || n.len() > 15 {
            return Err(Error::msg(format!(
                "bad interface name {n:?} (1..=15 bytes)"
            )));
        }
    }
    a.ip(&[
        "link",
        "add",
        a_if,
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    a.link_up(a_if)?;
    b.link_up(b_if)
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn owner_pid_parses_lab_names() {
        assert_eq!(owner_pid("slt4242x0-cgw"), Some(4242));
        assert_eq!(owner_pid("slt4242x17-inet"), Some(4242));
        assert_eq!(owner_pid("slt-foo"), None);
        assert_eq!(owner_pid("sltx1"), None);
        assert_eq!(owner_pid("other"), None);
    }
}
