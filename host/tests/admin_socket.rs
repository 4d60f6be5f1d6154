//! The admin socket as a local user meets it: only root and the gateway's
//! own user are answered (the socket's mode, and the kernel's word on who
//! connected, should someone loosen the mode), and a client that connects
//! and then sends slowly, or not at all, holds neither the socket nor the
//! other clients. Gateways run inside a network namespace of the test's
//! own (root is needed), deleted at the end even when an assertion fails.

mod common;

use common::*;
use sitelink::control::client::{MAX_CLIENTS, REQUEST_TIME};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `sitelink ARGS` as the unprivileged user `nobody`.
fn as_nobody(args: &[&str], socket: &Path) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .arg("--socket")
        .arg(socket)
        .output()
        .expect("setpriv (util-linux) runs")
}

/// `sitelink status --socket SOCKET` as root, and how long it took.
fn status(socket: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["status", "--socket"])
        .arg(socket)
        .output()
        .expect("sitelink runs");
    (out, started.elapsed())
}

/// A running one-tunnel gateway and its admin socket.
fn gateway(scene: &mut Scene, tag: &str) -> std::path::PathBuf {
    let key = scene.key(&format!("{tag}.key"), 0o600);
    let config = scene.config(tag, &key, "127.0.0.1:51820", &format!("sl{tag}0"));
    let socket = scene.path(&format!("{tag}.sock"));
    scene.start(&config, &socket);
    socket
}

/// Reads the one line the gateway answers a connection with.
fn answer_line(stream: &UnixStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line
}

#[test]
fn a_user_without_permission_is_told_so() {
    if not_root() {
        println!("skipped: needs root to make a root-only socket and drop to another user");
        return;
    }
    let scene = Scene::new("perm");
    let path = scene.path("admin.sock");
    let _listener = UnixListener::bind(&path).expect("a socket");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The scene directory must let the other user reach the socket.
    std::fs::set_permissions(&scene.dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = as_nobody(&["status"], &path);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied: only root may use it")
            && stderr(&out).contains("fix: run the command as root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn another_user_is_refused_by_the_gateway_even_where_the_socket_mode_would_let_them_in() {
    if not_root() {
        println!("skipped: needs root to run a gateway and drop to another user");
        return;
    }
    let mut scene = Scene::new("cred");
    let socket = gateway(&mut scene, "cred");
    // Someone loosens the socket's mode and its directory's.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    std::fs::set_permissions(&scene.dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let out = as_nobody(&["status"], &socket);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("permission denied") && err.contains("not uid 65534"),
        "the gateway names the refused user: {err}"
    );
    assert!(err.contains("fix: run the command as root"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("tunnel"),
        "nothing of the gateway's status is shown"
    );
    // A change is refused the same way, and root is still answered.
    let out = as_nobody(&["plugin", "remove", "failover"], &socket);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("not uid 65534"), "{}", stderr(&out));
    let (out, _) = status(&socket);
    assert!(out.status.success(), "root is answered: {}", stderr(&out));
}

#[test]
fn a_slow_or_silent_client_holds_neither_the_socket_nor_other_clients() {
    if not_root() {
        println!("skipped: needs root to run a gateway");
        return;
    }
    let mut scene = Scene::new("slow");
    let socket = gateway(&mut scene, "slow");

    // One client trickles a byte every 200 ms and never ends its line.
    let trickler = UnixStream::connect(&socket).expect("connect");
    let trickling = trickler.try_clone().expect("clone");
    let connected = Instant::now();
    let trickle = std::thread::spawn(move || {
        while (&trickling).write_all(b" ").is_ok() && connected.elapsed() < REQUEST_TIME * 5 {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // Meanwhile another client is answered at once.
    let (out, took) = status(&socket);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        took < Duration::from_secs(1),
        "status took {took:?} while a slow client was connected"
    );
    // The trickling client is cut at its deadline, with the reason.
    let line = answer_line(&trickler);
    let held = connected.elapsed();
    assert!(
        line.contains("did not arrive within 2s") && line.contains("fix: "),
        "{line}"
    );
    assert!(
        held >= REQUEST_TIME - Duration::from_millis(100)
            && held < REQUEST_TIME + Duration::from_secs(2),
        "the trickling client was cut after {held:?}, its deadline is {REQUEST_TIME:?}"
    );
    drop(trickler);
    let _ = trickle.join();

    // Clients that connect and send nothing fill the places; one more
    // waits for a place, which comes free when their time is up, and is
    // answered then.
    let silent: Vec<UnixStream> = (0..MAX_CLIENTS)
        .map(|_| UnixStream::connect(&socket).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (out, took) = status(&socket);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        took < REQUEST_TIME + Duration::from_secs(1),
        "status took {took:?} behind {MAX_CLIENTS} silent clients"
    );
    for client in &silent {
        assert!(answer_line(client).contains("did not arrive"));
    }
    // And with the places free again, at once.
    let (out, took) = status(&socket);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(1), "status took {took:?}");
}
