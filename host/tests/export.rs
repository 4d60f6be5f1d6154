//! `sitelink export` as an operator meets it: the files it writes are read
//! by the real tools of the far side (`bird -p`, `gobgpd -d`, `wg-quick
//! strip`, `sitelink check`), and bad input exits 2 with a message that
//! names the fix. Every test works in a scratch directory of its own, removed
//! at the end; the one that runs gobgpd does so in a network namespace of its
//! own (root is needed, as for the CLI tests), deleted even on failure.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sitelink");
const DYNAMIC: &str = include_str!("../../examples/dynamic/vgw.toml");
const STATIC: &str = include_str!("../../examples/static/vgw.toml");
const FAR_NETWORKS: [&str; 4] = ["--network", "10.1.0.0/24", "--network", "fd00:1::/64"];

/// A scratch directory with the VGW's key (`vgw.key`), the far side's key
/// (`far.key`, public half in `far_pub`) and configs made from the examples.
struct Scene {
    dir: PathBuf,
    far_pub: String,
}

impl Scene {
    fn new(tag: &str) -> Scene {
        let dir = std::env::temp_dir().join(format!("sltexport{}{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut scene = Scene {
            far_pub: String::new(),
            dir,
        };
        scene.key("vgw.key");
        scene.far_pub = pubkey(&fs::read_to_string(scene.key("far.key")).unwrap());
        scene
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn key(&self, name: &str) -> PathBuf {
        let out = Command::new(BIN).arg("genkey").output().unwrap();
        assert!(out.status.success());
        let path = self.path(name);
        fs::write(&path, &out.stdout).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// `example` with the far key, written as `name`; `one_port` keeps both
    /// tunnels on the far side's one port (as the example has it).
    fn config(&self, name: &str, example: &str, one_port: bool) -> PathBuf {
        let mut text = example.replace("CGW_PUBLIC_KEY", &self.far_pub);
        if !one_port {
            let second = text.rfind("remote = \"198.18.10.2:51820\"").unwrap();
            text.replace_range(second..second + 28, "remote = \"198.18.10.2:51821\"");
        }
        if !text.contains("[bgp]") {
            text = text.replace(
                "[[connection]]",
                "[bgp]\nnetworks = [\"10.2.0.0/24\", \"fd00:2::/64\"]\n\n[[connection]]",
            );
        }
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// `sitelink export -c CONFIG ARGS`, with `--connection office` unless
    /// ARGS name one.
    fn export(&self, config: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("export").arg("-c").arg(config).args(args);
        if !args.contains(&"--connection") {
            cmd.args(["--connection", "office"]);
        }
        cmd.output().unwrap()
    }

    /// Exports into `out` and returns the files written, by name.
    fn export_ok(&self, config: &Path, out: &str, args: &[&str]) -> Vec<PathBuf> {
        let dir = self.path(out);
        let o = self.export(config, &[args, &["--out", dir.to_str().unwrap()]].concat());
        assert!(o.status.success(), "export {args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "--out prints nothing on stdout");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn pubkey(private: &str) -> String {
    let mut child = Command::new(BIN)
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(private.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs `cmd` to completion, killed after `limit`.
fn bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_tool_ok(cmd: &mut Command) -> String {
    let out = bounded(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bird_parses_the_exported_config() {
    let s = Scene::new("bird");
    let cfg = s.config("vgw.toml", DYNAMIC, true);
    let files = s.export_ok(
        &cfg,
        "out",
        &[&["--format", "bird"][..], &FAR_NETWORKS].concat(),
    );
    assert_eq!(files, [s.path("out/bird.conf")]);
    assert_tool_ok(Command::new("bird").arg("-p").arg("-c").arg(&files[0]));
    // One file on stdout is the file itself.
    let o = s.export(&cfg, &["--format", "bird"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: no far-side networks"));
    let printed = s.path("stdout-bird.conf");
    fs::write(&printed, &o.stdout).unwrap();
    assert_tool_ok(Command::new("bird").arg("-p").arg("-c").arg(&printed));
}

#[test]
fn gobgpd_reads_the_exported_config() {
    let s = Scene::new("gobgp");
    let cfg = s.config("vgw.toml", DYNAMIC, true);
    let files = s.export_ok(
        &cfg,
        "out",
        &[&["--format", "gobgp"][..], &FAR_NETWORKS].concat(),
    );
    assert_eq!(files, [s.path("out/gobgpd.toml")]);
    assert_tool_ok(
        Command::new("gobgpd")
            .arg("-f")
            .arg(&files[0])
            .args(["-t", "toml", "-d"]),
    );
}

/// gobgpd in a namespace of its own, killed and deleted on drop.
struct GobgpNs {
    name: String,
    daemon: Option<Child>,
}

impl Drop for GobgpNs {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn gobgpd_loads_the_policies_and_the_commands_in_the_file_work() {
    let s = Scene::new("gobgprun");
    let cfg = s.config("vgw.toml", DYNAMIC, true);
    let files = s.export_ok(
        &cfg,
        "out",
        &[&["--format", "gobgp"][..], &FAR_NETWORKS].concat(),
    );
    let text = fs::read_to_string(&files[0]).unwrap();
    let mut ns = GobgpNs {
        name: format!("sltexp{}", std::process::id() % 100_000),
        daemon: None,
    };
    let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
    assert_tool_ok(Command::new("ip").args(["netns", "add", &ns.name]));
    assert_tool_ok(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
    let api = "127.0.0.1:50051";
    ns.daemon = Some(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "gobgpd", "-t", "toml", "-f"])
            .arg(&files[0])
            .args(["--api-hosts", api])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let gobgp = |args: &[&str]| -> Output {
        bounded(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns.name,
                    "gobgp",
                    "-u",
                    "127.0.0.1",
                    "-p",
                    "50051",
                ])
                .args(args),
            Duration::from_secs(10),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let policies = loop {
        let o = gobgp(&["policy"]);
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "gobgpd never answered: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for name in [
        "office-import",
        "office-export",
        "office-import4",
        "office-export6",
    ] {
        assert!(policies.contains(name), "{name} not loaded:\n{policies}");
    }
    let neighbors = String::from_utf8_lossy(&gobgp(&["neighbor"]).stdout).into_owned();
    assert!(neighbors.contains("169.254.10.1") && neighbors.contains("169.254.11.1"));
    // The commands the file gives, as written.
    let commands: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#   gobgp "))
        .collect();
    assert_eq!(commands.len(), 2, "{text}");
    for c in commands {
        let o = gobgp(&c.split_whitespace().collect::<Vec<_>>());
        assert!(o.status.success(), "gobgp {c}: {}", stderr(&o));
    }
    let v4 = String::from_utf8_lossy(&gobgp(&["global", "rib", "-a", "ipv4"]).stdout).into_owned();
    let v6 = String::from_utf8_lossy(&gobgp(&["global", "rib", "-a", "ipv6"]).stdout).into_owned();
    assert!(
        v4.contains("10.1.0.0/24") && v6.contains("fd00:1::/64"),
        "{v4}{v6}"
    );
}

#[test]
fn wg_quick_strips_the_exported_files() {
    let s = Scene::new("wg");
    let key = s.path("far.key");
    let private = fs::read_to_string(&key).unwrap();
    for (example, out) in [(DYNAMIC, "dynamic"), (STATIC, "static")] {
        let cfg = s.config(&format!("{out}.toml"), example, false);
        let files = s.export_ok(
            &cfg,
            out,
            &[
                "--format",
                "wg-quick",
                "--private-key",
                key.to_str().unwrap(),
            ],
        );
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
        assert_eq!(names, ["office-tunnel1.conf", "office-tunnel2.conf"]);
        for f in &files {
            let mode = fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
            let stripped = assert_tool_ok(Command::new("wg-quick").arg("strip").arg(f));
            assert!(stripped.contains(&format!("PrivateKey = {}", private.trim())));
            assert!(!stripped.contains("PostUp") && !stripped.contains("Address"));
        }
    }
    // Without the key: a placeholder, still well-formed, and a warning.
    let cfg = s.path("dynamic.toml");
    let o = s.export(
        &cfg,
        &[
            "--format",
            "wg-quick",
            "--out",
            s.path("nokey").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("its public key must be {}", s.far_pub)));
    assert_tool_ok(
        Command::new("wg-quick")
            .arg("strip")
            .arg(s.path("nokey/office-tunnel1.conf")),
    );
}

#[test]
fn sitelink_checks_the_exported_far_gateway() {
    let s = Scene::new("sitelink");
    let key = s.path("far.key");
    for (example, out) in [(DYNAMIC, "dynamic"), (STATIC, "static")] {
        let cfg = s.config(&format!("{out}.toml"), example, true);
        let mut args = vec![
            "--format",
            "sitelink",
            "--private-key",
            key.to_str().unwrap(),
        ];
        if out == "dynamic" {
            args.extend(FAR_NETWORKS);
        }
        let files = s.export_ok(&cfg, out, &args);
        assert_eq!(
            files,
            [
                s.path(&format!("{out}/cgw.key")),
                s.path(&format!("{out}/cgw.toml"))
            ]
        );
        let mode = fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let ok = assert_tool_ok(Command::new(BIN).arg("check").arg("-c").arg(&files[1]));
        assert!(
            ok.contains("ok: gateway cgw (Cgw), 1 endpoint(s), 1 connection(s), 2 tunnel(s)"),
            "{ok}"
        );
    }
}

#[test]
fn stdout_marks_each_file_when_there_are_several() {
    let s = Scene::new("stdout");
    let cfg = s.config("vgw.toml", DYNAMIC, false);
    let o = s.export(&cfg, &["--format", "wg-quick"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("# ==> office-tunnel1.conf <==\n# Generated by `sitelink export`"));
    assert!(text.contains("\n# ==> office-tunnel2.conf <==\n"));
}

#[test]
fn bad_input_exits_2_and_names_the_fix() {
    let s = Scene::new("bad");
    let dynamic = s.config("dynamic.toml", DYNAMIC, false);
    let one_port = s.config("one-port.toml", DYNAMIC, true);
    let static_ = s.config("static.toml", STATIC, false);
    let unspecified = s.path("unspecified.toml");
    fs::write(
        &unspecified,
        fs::read_to_string(&dynamic)
            .unwrap()
            .replace("198.18.1.2:51820", "0.0.0.0:51830"),
    )
    .unwrap();
    let vgw_key = s.path("vgw.key");
    let cases: &[(&Path, &[&str], &[&str])] = &[
        (
            &dynamic,
            &["--format", "bird", "--connection", "lab"],
            &["no connection \"lab\" in this gateway (it has: office)"],
        ),
        (
            &dynamic,
            &["--format", "frr"],
            &[
                "unknown format \"frr\"",
                "--format wg-quick, --format bird, --format gobgp, --format sitelink",
            ],
        ),
        (
            &dynamic,
            &["--format", "bird", "--network", "10.1.0.1/24"],
            &["has host bits set", "did you mean --network 10.1.0.0/24?"],
        ),
        (
            &dynamic,
            &[
                "--format",
                "wg-quick",
                "--private-key",
                vgw_key.to_str().unwrap(),
            ],
            &[
                "has public key",
                &s.far_pub,
                "fix: give the far side's own private key",
            ],
        ),
        (
            &one_port,
            &["--format", "wg-quick"],
            &[
                "both end at 198.18.10.2:51820",
                "give each tunnel's `remote` its own port",
            ],
        ),
        (
            &unspecified,
            &["--format", "wg-quick"],
            &["listens on 0.0.0.0:51830", "add --endpoint-address IP"],
        ),
        (
            &static_,
            &["--format", "bird"],
            &["bird export needs a dynamic connection"],
        ),
    ];
    for (config, args, wanted) in cases {
        let o = s.export(config, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(
            err.starts_with("sitelink: ") && err.contains("\n  fix: "),
            "{err}"
        );
        for w in *wanted {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
    // The unspecified endpoint exports once its address is given.
    let o = s.export(
        &unspecified,
        &["--format", "wg-quick", "--endpoint-address", "203.0.113.7"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Endpoint = 203.0.113.7:51830"));
}
