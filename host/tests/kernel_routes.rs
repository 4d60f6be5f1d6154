//! `KernelRoutes` against a real kernel: the initial routes replace what is
//! there, deltas add and delete, a foreign route with the same prefix and
//! metric is neither replaced nor deleted, and a flood of changes ends in
//! the latest wishes. Everything happens in a network namespace of its own
//! (`slkr-<pid>`, deleted even on failure), so nothing touches the host's
//! routing; the netlink socket is opened by a thread that entered the
//! namespace. Needs root; skipped otherwise.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use sitelink::dataplane::kernel_routes::KernelRoutes;

const METRIC: u32 = 4242;
const DEV: &str = "slk0";
/// Holds the routes that are not ours.
const OTHER: &str = "slk1";

/// A network namespace, deleted when dropped (also on a failed assertion).
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let name = format!("slkr-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ns = Netns { name };
        run(Command::new("ip").args(["netns", "add", &ns.name]));
        ns
    }

    /// `ip -n <ns> <args>`; panics unless it succeeds.
    fn ip(&self, args: &[&str]) -> String {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `ip -n <ns> <args>`, whether it succeeded.
    fn try_ip(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A device that is up: a dummy, or a persistent TUN device where the
    /// kernel has no dummy driver.
    fn device(&self, name: &str) -> u32 {
        if !self.try_ip(&["link", "add", name, "type", "dummy"]) {
            self.ip(&["tuntap", "add", "mode", "tun", "name", name]);
        }
        self.ip(&["link", "set", name, "up"]);
        let line = self.ip(&["-o", "link", "show", "dev", name]);
        line.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index in {line:?}"))
    }

    /// Every route of both families as (prefix, device, metric).
    fn routes(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for family in ["-4", "-6"] {
            for line in self.ip(&[family, "route", "show"]).lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let after = |key: &str| {
                    words
                        .iter()
                        .position(|w| *w == key)
                        .and_then(|i| words.get(i + 1))
                        .map(|w| w.to_string())
                        .unwrap_or_default()
                };
                // `ip` shows a host route without its length.
                let prefix = match words.first() {
                    Some(p) if p.contains('/') => p.to_string(),
                    Some(p) if family == "-4" => format!("{p}/32"),
                    Some(p) => format!("{p}/128"),
                    None => continue,
                };
                out.push((prefix, after("dev"), after("metric")));
            }
        }
        out
    }

    /// The devices `prefix` is routed to with our metric.
    fn devices_of(&self, prefix: &str) -> Vec<String> {
        let metric = METRIC.to_string();
        self.routes()
            .into_iter()
            .filter(|(p, _, m)| p == prefix && *m == metric)
            .map(|(_, dev, _)| dev)
            .collect()
    }

    /// Waits until every prefix of `on` is routed into our device and none
    /// of `off` is.
    fn wait_for(&self, on: &[&str], off: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = on
                .iter()
                .all(|p| self.devices_of(p).iter().any(|d| d == DEV))
                && off
                    .iter()
                    .all(|p| !self.devices_of(p).iter().any(|d| d == DEV));
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "wanted {on:?} on {DEV} and not {off:?}; routes: {:#?}",
                self.routes()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

/// Starts `KernelRoutes` from a thread inside `ns`: its netlink socket, and
/// so every route it installs, belongs to that namespace.
fn start_in(ns: &Netns, if_index: u32, initial: Vec<IpNet>) -> KernelRoutes {
    start_on(ns, DEV, if_index, initial)
}

/// [`start_in`] for the device `name`.
fn start_on(ns: &Netns, name: &'static str, if_index: u32, initial: Vec<IpNet>) -> KernelRoutes {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: `file` is an open descriptor of a network namespace for the
        // whole call; setns changes only this thread's namespace, and this
        // thread exists only to open the netlink socket there.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns {path}: {}", io::Error::last_os_error()));
        }
        KernelRoutes::start(name, if_index, METRIC, &initial)
            .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))
    })
    .join()
    .expect("start thread panicked")
    .expect("KernelRoutes::start")
}

#[test]
fn deltas_reach_the_kernel_inside_a_namespace() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: kernel route test needs root (network namespaces)");
        return;
    }
    let ns = Netns::create();
    let index = ns.device(DEV);
    let other = ns.device(OTHER);
    // Someone else's routes, with our metric.
    ns.ip(&[
        "route",
        "add",
        "10.50.0.0/24",
        "dev",
        OTHER,
        "metric",
        "4242",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.77.0.0/24",
        "dev",
        OTHER,
        "metric",
        "4242",
    ]);

    // The initial routes are installed, never over someone else's.
    let initial = vec![
        net("10.50.0.0/24"),
        net("10.51.0.0/24"),
        net("fd00:51::/64"),
    ];
    let kernel = start_in(&ns, index, initial);
    ns.wait_for(&["10.51.0.0/24", "fd00:51::/64"], &["10.50.0.0/24"]);
    assert_eq!(ns.devices_of("10.50.0.0/24"), vec![OTHER]);
    // The own-traffic rules are in, and a default route goes into our table.
    let rules = ns.ip(&["-4", "rule", "show"]);
    assert!(
        rules.contains("not from all fwmark 0x534c lookup 21324")
            && rules.contains("lookup main suppress_prefixlength 0"),
        "{rules}"
    );
    kernel.apply([(net("0.0.0.0/0"), true)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ns
        .ip(&["-4", "route", "show", "table", "21324"])
        .contains("default dev")
    {
        assert!(Instant::now() < deadline, "no default route in table 21324");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !ns.ip(&["-4", "route", "show", "table", "main"])
            .contains("default"),
        "a default route never goes into main"
    );

    // Adds; never over someone else's route.
    kernel.apply([
        (net("10.60.0.0/24"), true),
        (net("10.61.0.0/24"), true),
        (net("fd00:60::/64"), true),
        (net("10.77.0.0/24"), true),
    ]);
    ns.wait_for(&["10.60.0.0/24", "10.61.0.0/24", "fd00:60::/64"], &[]);
    // A marker applied later: once it is in, the batch before is done.
    kernel.apply([(net("10.99.0.1/32"), true)]);
    ns.wait_for(&["10.99.0.1/32"], &[]);
    assert_eq!(ns.devices_of("10.77.0.0/24"), vec![OTHER]);

    // Deletes what we installed (initial ones too), and only that; the
    // latest wish wins, within a call and across calls.
    kernel.apply([
        (net("10.61.0.0/24"), false),
        (net("fd00:51::/64"), false),
        (net("10.50.0.0/24"), false),
        (net("10.77.0.0/24"), false),
        (net("10.70.0.0/24"), true),
        (net("10.60.0.0/24"), false),
        (net("10.60.0.0/24"), true),
    ]);
    kernel.apply([(net("10.70.0.0/24"), false)]);
    kernel.apply([(net("10.99.0.2/32"), true)]);
    ns.wait_for(
        &[
            "10.99.0.2/32",
            "10.60.0.0/24",
            "10.51.0.0/24",
            "fd00:60::/64",
        ],
        &[
            "10.61.0.0/24",
            "fd00:51::/64",
            "10.50.0.0/24",
            "10.70.0.0/24",
        ],
    );
    assert_eq!(ns.devices_of("10.77.0.0/24"), vec![OTHER]);
    assert_eq!(
        ns.devices_of("10.50.0.0/24"),
        vec![OTHER],
        "never ours, never deleted"
    );

    // A flood of alternating changes to ten prefixes ends in the last wish:
    // odd ones in, even ones out.
    let flood: Vec<IpNet> = (0..10).map(|i| net(&format!("10.8{i}.0.0/24"))).collect();
    for round in 0..10_000 {
        kernel.apply(
            flood
                .iter()
                .enumerate()
                .map(|(i, p)| (*p, (round + i) % 2 == 0)),
        );
    }
    let names: Vec<String> = flood.iter().map(|p| p.to_string()).collect();
    let (odd, even): (Vec<_>, Vec<_>) = names.iter().enumerate().partition(|(i, _)| i % 2 == 1);
    let odd: Vec<&str> = odd.into_iter().map(|(_, p)| p.as_str()).collect();
    let even: Vec<&str> = even.into_iter().map(|(_, p)| p.as_str()).collect();
    kernel.apply([(net("10.99.0.3/32"), true)]);
    ns.wait_for(&[&odd[..], &["10.99.0.3/32"]].concat(), &even);

    // Dropping the handle stops the thread, which removes the rules; the
    // namespace goes with `ns`.
    assert_eq!(sync_threads(), 1);
    kernel.apply([(net("0.0.0.0/0"), false)]);
    drop(kernel);
    let rules = ns.ip(&["-4", "rule", "show"]);
    assert!(!rules.contains("21324"), "rules left after stop: {rules}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sync_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "the sync thread outlived its handle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    two_gateways_on_one_host_share_the_rules(&ns, index, other);
}

/// Two gateways on one host: the first stops while our table is empty and
/// takes the rules with it; the second's default route, learned later,
/// brings them back (without them it would sit in a table nobody reads).
fn two_gateways_on_one_host_share_the_rules(ns: &Netns, index: u32, other: u32) {
    // What the stop above left (a stop does not wait for its deletes).
    ns.ip(&["-4", "route", "flush", "table", "21324"]);
    let first = start_on(ns, DEV, index, Vec::new());
    let second = start_on(ns, OTHER, other, Vec::new());
    drop(first);
    let rules = ns.ip(&["-4", "rule", "show"]);
    assert!(!rules.contains("21324"), "{rules}");
    second.apply([(net("0.0.0.0/0"), true)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rules = ns.ip(&["-4", "rule", "show"]);
        let table = ns.ip(&["-4", "route", "show", "table", "21324"]);
        if rules.contains("not from all fwmark 0x534c lookup 21324")
            && rules.contains("lookup main suppress_prefixlength 0")
            && table.contains(&format!("default dev {OTHER}"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the default route came without its rules: {rules} / {table}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(second);
    let rules = ns.ip(&["-4", "rule", "show"]);
    assert!(
        !rules.contains("21324"),
        "rules left after both stopped: {rules}"
    );
}

/// How many threads of this process are named like the sync thread.
fn sync_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim() == "kernel-routes")
        .count()
}
