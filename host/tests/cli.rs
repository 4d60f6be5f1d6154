//! The `sitelink` binary as an operator meets it: key tools, `check`, and
//! `run` refusing bad input with exit 2, a message that names the fix, and
//! nothing left half-started. Gateways run inside a network namespace of the
//! test's own (root is needed, as for every end-to-end test), which is
//! deleted at the end even when an assertion fails. The admin socket's own
//! tests are in `admin_socket.rs`.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn keys_interoperate_with_wireguard_tools() {
    let private = genkey();
    assert_eq!(private.len(), 44, "a WireGuard key is 44 base64 characters");
    let ours = pubkey(&private);
    let theirs = pubkey_of("wg", private.as_bytes());
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout).trim());
    // And a key from `wg genkey` works in `sitelink pubkey`.
    let wg_key = Command::new("wg").arg("genkey").output().unwrap();
    let wg_key = String::from_utf8(wg_key.stdout).unwrap();
    assert_eq!(pubkey(&wg_key).len(), 44);
}

/// The binary allocates with jemalloc and the options of
/// `control::heap` (a typo there would only be a line on stderr): jemalloc
/// prints its options at exit when asked to, and nothing it refused.
#[test]
#[cfg(feature = "jemalloc")]
fn the_binary_runs_on_jemalloc_with_the_gateways_options() {
    let out = Command::new(BIN)
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("<jemalloc>"),
        "jemalloc refused an option:\n{err}"
    );
    for option in [
        "opt.background_thread: true (background_thread: true)",
        "opt.oversize_threshold: 262144",
    ] {
        assert!(
            err.contains(option),
            "no {option:?} in jemalloc's stats:\n{err}"
        );
    }
}

/// A pipe whose reading end is already closed.
fn pipe_with_no_reader() -> fs::File {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` is an array of two ints for pipe(2) to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: pipe(2) succeeded: both are open descriptors of ours, each
    // wrapped once.
    let (read, write) = unsafe { (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// `sitelink ... | head` that stops reading: the command ends as any Unix
/// tool does (SIGPIPE), not with a panic and exit 101.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(BIN)
        .arg("genkey")
        .stdout(pipe_with_no_reader())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        out.status
    );
}

#[test]
fn pubkey_refuses_garbage_with_exit_2() {
    let out = pubkey_of(BIN, b"not a key");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("fix:"), "{}", stderr(&out));
}

#[test]
fn check_points_at_file_line_and_column() {
    let scene = Scene::new("chk");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slchk0");
    let ok = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));

    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("169.254.77.0/30", "169.254.1.0/30");
    fs::write(&config, text).unwrap();
    let bad = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = stderr(&bad);
    let line = fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.contains("169.254.1.0/30"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("{}:{line}:", config.display())),
        "error must name file and line {line}: {err}"
    );
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn a_key_file_readable_by_others_is_refused_before_anything_starts() {
    let scene = Scene::new("key");
    let key = scene.key("gw.key", 0o644);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slkey0");
    let out = scene.run_to_end(&[], &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(!scene.link_exists("slkey0"), "no TUN may be left behind");
    assert!(!scene.path("gw.sock").exists());
}

#[test]
fn a_missing_key_file_is_refused() {
    let scene = Scene::new("nok");
    let config = scene.config("gw", &scene.path("absent.key"), "127.0.0.1:51820", "slnok0");
    let out = scene.run_to_end(&[], &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sitelink genkey"), "{}", stderr(&out));
}

#[test]
fn an_endpoint_address_in_use_is_refused_and_nothing_is_half_started() {
    let mut scene = Scene::new("use");
    let key = scene.key("gw.key", 0o600);
    let first = scene.config("first", &key, "127.0.0.1:51820", "sluse0");
    scene.start(&first, &scene.path("first.sock"));
    let second = scene.config("second", &key, "127.0.0.1:51820", "sluse1");
    let out = scene.run_to_end(&[], &["run", "-c", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("endpoint wan") && err.contains("already in use"),
        "{err}"
    );
    assert!(
        !scene.link_exists("sluse1"),
        "the second TUN must not exist"
    );
    assert!(!scene.path("second.sock").exists());
    assert!(
        scene.link_exists("sluse0"),
        "the first gateway keeps running"
    );

    // The same admin socket twice is refused too, naming the running gateway.
    let text = fs::read_to_string(&second)
        .unwrap()
        .replace("127.0.0.1:51820", "127.0.0.1:51821")
        .replace("second.sock", "first.sock");
    fs::write(&second, text).unwrap();
    let out = scene.run_to_end(&[], &["run", "-c", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("another sitelink is running"),
        "{}",
        stderr(&out)
    );
    assert!(
        scene.path("first.sock").exists(),
        "the running gateway's socket stays"
    );
}

#[test]
fn no_permission_for_tun_is_a_clear_error() {
    let scene = Scene::new("cap");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slcap0");
    // Root without CAP_NET_ADMIN cannot create a TUN device.
    let out = scene.run_to_end(
        &[
            "setpriv",
            "--bounding-set=-net_admin",
            "--inh-caps=-net_admin",
        ],
        &["run", "-c", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("permission denied") && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(
        !scene.path("gw.sock").exists(),
        "the admin socket is removed again"
    );
}

/// Another program deletes the gateway's TUN device: its reader ends, and
/// the gateway stops and exits 1 naming the thread, so that a service
/// manager starts it again, rather than running on without forwarding.
#[test]
fn a_deleted_tun_device_stops_the_gateway_with_exit_1() {
    let scene = Scene::new("tdel");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "sltdel0");
    let socket = scene.path("gw.sock");
    let child = Command::new("ip")
        .args(["netns", "exec", &scene.netns, BIN, "run", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "gateway did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let del = sh(&scene.netns, &["ip", "link", "del", "sltdel0"]);
    assert!(del.status.success(), "{}", stderr(&del));
    let out = wait_bounded(child, std::time::Duration::from_secs(10));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the data path's tun-rx thread ended, so the gateway stopped"),
        "{err}"
    );
}

#[test]
fn status_without_a_running_gateway_says_so() {
    let scene = Scene::new("sta");
    let out = Command::new(BIN)
        .args(["status", "--socket"])
        .arg(scene.path("none.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no gateway is running there")
            && stderr(&out).contains("fix: start it"),
        "{}",
        stderr(&out)
    );
}

/// The built plugins (scripts/build-plugins.sh).
fn built_plugin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first: scripts/build-plugins.sh",
        path.display()
    );
    path
}

fn with_failover_plugin(config: &Path, plugin: &Path, cache: &Path) {
    let mut text = fs::read_to_string(config).unwrap();
    text += &format!(
        "\n[plugins]\ncache_dir = \"{}\"\n\n[plugins.failover]\npath = \"{}\"\n\n[plugins.failover.params]\nprefer = \"169.254.77.0/30\"\n",
        cache.display(),
        plugin.display()
    );
    fs::write(config, text).unwrap();
}

#[test]
fn a_config_plugin_that_is_not_a_component_stops_the_start() {
    let scene = Scene::new("plg");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slplg0");
    let fake = scene.path("fake.wasm");
    fs::write(&fake, "not wasm").unwrap();
    with_failover_plugin(&config, &fake, &scene.path("cache"));
    let out = scene.run_to_end(&[], &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a WebAssembly component"),
        "{}",
        stderr(&out)
    );
    assert!(!scene.link_exists("slplg0"), "no TUN may be left behind");
    assert!(!scene.path("gw.sock").exists());
}

#[test]
fn a_config_plugin_is_loaded_at_start_and_cached_for_the_next_start() {
    let mut scene = Scene::new("plo");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slplo0");
    let cache = scene.path("cache");
    with_failover_plugin(&config, &built_plugin("prefer_zone"), &cache);
    let socket = scene.path("gw.sock");
    scene.start(&config, &socket);
    let out = Command::new(BIN)
        .args(["plugin", "list", "--json", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failover = list["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slot"] == "failover")
        .unwrap();
    assert_eq!(failover["plugin"], "prefer-zone", "{list}");
    let cached: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "the compiled plugin is kept for the next start"
    );
}

#[test]
fn bgp_and_routes_on_a_static_gateway() {
    let mut scene = Scene::new("bgr");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slbgr0");
    let socket = scene.path("gw.sock");
    scene.start(&config, &socket);
    let command = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap()
    };
    let ask = |args: &[&str]| {
        let out = command(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = ask(&["bgp"]);
    assert!(
        text.contains("(no dynamic connection: no BGP session)"),
        "{text}"
    );
    let routes: serde_json::Value = serde_json::from_str(&ask(&["routes", "--json"])).unwrap();
    let list = routes["routes"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{routes}");
    assert_eq!(list[0]["prefix"], "10.77.0.0/24");
    assert_eq!(list[0]["source"], "static");
    assert_eq!(list[0]["selected"], true, "{routes}");
    let text = ask(&["routes"]);
    assert!(text.contains("* 10.77.0.0/24"), "{text}");
    // A listing larger than one answer may hold (the control loop builds
    // it between its probes), and a connection it does not have: refused,
    // with the fix or the names.
    let refused = |args: &[&str]| {
        let out = command(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        stderr(&out)
    };
    let err = refused(&["routes", "--limit", "100001"]);
    assert!(
        err.contains("a limit of 100001 is over the most one answer lists (100000)")
            && err.contains("fix: give --limit 100000 or less"),
        "{err}"
    );
    let text = ask(&["routes", "--limit", "100000"]);
    assert!(text.contains("* 10.77.0.0/24"), "{text}");
    let err = refused(&["routes", "--connection", "nosuch"]);
    assert!(
        err.contains("no connection \"nosuch\"; connections: "),
        "{err}"
    );
    // A refresh of a tunnel without a session names the ones that have one.
    let out = Command::new(BIN)
        .args(["bgp", "refresh", "--tunnel", "169.254.77.0/30", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "no BGP session runs over tunnel \"169.254.77.0/30\"; tunnels with one: none"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bgp_without_a_running_gateway_says_so() {
    let scene = Scene::new("bgn");
    for cmd in ["bgp", "routes"] {
        let out = Command::new(BIN)
            .args([cmd, "--socket"])
            .arg(scene.path("none.sock"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&out).contains("no gateway is running there"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn check_compiles_each_plugin_against_its_slot() {
    let scene = Scene::new("plg");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slplg0");
    let failover_only =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy/testdata/only_failover.wasm");
    let base = fs::read_to_string(&config).unwrap();
    let with = |slot: &str| {
        format!(
            "{base}\n[plugins.{slot}]\npath = \"{}\"\n",
            failover_only.display()
        )
    };
    fs::write(&config, with("failover")).unwrap();
    let ok = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        out.contains("plugin failover:") && out.contains(": ok"),
        "{out}"
    );
    // The same component in the wrong slot: refused, naming the slot.
    fs::write(&config, with("bgp-filter")).unwrap();
    let bad = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert!(err.contains("[plugins.bgp-filter]"), "{err}");
}

#[test]
fn plugin_test_runs_a_filter_offline_over_recorded_routes() {
    let scene = Scene::new("ptst");
    let chaos = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy/testdata/chaos.wasm");
    let routes = scene.dir.join("routes.json");
    // The chaos plugin acts by connection name: "prepend" puts the peer's
    // AS in front, "reject" rejects, "trap" traps.
    fs::write(
        &routes,
        r#"{"routes": [
            {"prefix": "10.1.0.0/24", "connection": "prepend", "tunnel": "169.254.10.0/30", "as_path": [65000]},
            {"prefix": "10.2.0.0/24", "connection": "reject", "tunnel": "169.254.11.0/30", "as_path": [65000]},
            {"prefix": "10.3.0.0/24", "connection": "office", "tunnel": "169.254.10.0/30", "as_path": [65000], "accepted": true}
        ]}"#,
    )
    .unwrap();
    let run = |routes: &Path, extra: &[&str]| {
        Command::new(BIN)
            .args(["plugin", "test"])
            .arg(&chaos)
            .args(["--slot", "bgp-filter", "--routes"])
            .arg(routes)
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&routes, &[]);
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{out}{}", stderr(&ok));
    assert!(out.contains("as_path: [65000] -> [65000, 65000]"), "{out}");
    assert!(out.contains("1 accepted, 1 modified, 1 rejected"), "{out}");
    let json = run(&routes, &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["verdicts"].as_array().map(Vec::len), Some(3), "{doc}");

    // A fault: exit 1, naming the first route it happens on.
    let trapping = scene.dir.join("trap.json");
    fs::write(
        &trapping,
        r#"[{"prefix": "10.7.0.0/16", "connection": "trap"}]"#,
    )
    .unwrap();
    let fault = run(&trapping, &[]);
    let out = String::from_utf8_lossy(&fault.stdout).to_string();
    assert_eq!(fault.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAULT:") && out.contains("(first on 10.7.0.0/16)"),
        "{out}"
    );

    // Bad input: exit 2 with the fix.
    let bad = scene.dir.join("bad.json");
    fs::write(&bad, r#"[{"prefix": "10.7.0.0/16", "communities": ["x"]}]"#).unwrap();
    let refused = run(&bad, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("community \"x\""),
        "{}",
        stderr(&refused)
    );
    let wrong_slot = Command::new(BIN)
        .args(["plugin", "test"])
        .arg(&chaos)
        .args(["--slot", "failover", "--routes"])
        .arg(&routes)
        .output()
        .unwrap();
    assert_eq!(wrong_slot.status.code(), Some(2));
    assert!(
        stderr(&wrong_slot).contains("fix:"),
        "{}",
        stderr(&wrong_slot)
    );
}

#[test]
fn check_and_plugin_test_show_a_plugins_bad_parameters() {
    let scene = Scene::new("prm");
    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "127.0.0.1:51820", "slprm0");
    let bogon = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release/bogon_filter.wasm");
    assert!(
        bogon.is_file(),
        "build the plugins first: scripts/build-plugins.sh"
    );
    let base = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{base}\n[plugins.bgp-filter]\npath = \"{}\"\n[plugins.bgp-filter.params]\nmax_as_path = \"abc\"\nallow_privat = \"true\"\n",
            bogon.display()
        ),
    )
    .unwrap();
    let bad = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert!(
        err.contains("[plugins.bgp-filter]: the plugin faulted on an empty call")
            && err.contains("max_as_path = \"abc\" is not a whole number")
            && err.contains("unknown parameter \"allow_privat\""),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
    let routes = scene.dir.join("routes.json");
    fs::write(&routes, r#"[{"prefix": "10.0.0.0/8"}]"#).unwrap();
    let test = Command::new(BIN)
        .args(["plugin", "test"])
        .arg(&bogon)
        .args([
            "--slot",
            "bgp-filter",
            "--param",
            "max_as_path=x",
            "--routes",
        ])
        .arg(&routes)
        .output()
        .unwrap();
    assert_eq!(test.status.code(), Some(1));
    let out = String::from_utf8_lossy(&test.stdout).to_string();
    assert!(out.contains("max_as_path = \"x\""), "{out}");
}
