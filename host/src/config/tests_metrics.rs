//! Tests of the `[metrics]` table: off unless `listen` is set, loopback
//! unless `allow_remote = true`, each refusal asserting the full error text.
//! Helpers are in `tests`.

use std::net::SocketAddr;

use super::tests::{assert_err, Fixture};

fn with_metrics(fx: &Fixture, table: &str) -> String {
    format!("{}\n[metrics]\n{table}\n", fx.base())
}

fn listen_of(fx: &Fixture, text: &str) -> Option<SocketAddr> {
    fx.parse(text)
        .expect("must be accepted")
        .metrics
        .map(|m| m.listen)
}

#[test]
fn metrics_off_without_table_or_key() {
    let fx = Fixture::new();
    assert_eq!(listen_of(&fx, &fx.base()), None);
    assert_eq!(listen_of(&fx, &with_metrics(&fx, "")), None);
    assert_eq!(
        listen_of(&fx, &with_metrics(&fx, "allow_remote = true")),
        None
    );
}

#[test]
fn metrics_on_loopback() {
    let fx = Fixture::new();
    let text = with_metrics(&fx, "listen = \"127.0.0.1:9464\"");
    assert_eq!(
        listen_of(&fx, &text),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    let text = with_metrics(&fx, "listen = \"[::1]:9100\"");
    assert_eq!(listen_of(&fx, &text), Some("[::1]:9100".parse().unwrap()));
    let text = with_metrics(&fx, "listen = \"127.0.0.53:9464\"");
    assert_eq!(
        listen_of(&fx, &text),
        Some("127.0.0.53:9464".parse().unwrap())
    );
}

#[test]
fn metrics_remote_needs_allow_remote() {
    let fx = Fixture::new();
    for (value, port) in [("198.18.1.2:9464", 9464), ("0.0.0.0:9100", 9100)] {
        let text = with_metrics(&fx, &format!("listen = {value:?}"));
        assert_err(
            &fx,
            &text,
            &format!("{value:?}"),
            0,
            &format!(
                "[metrics] listen = {value:?} is not a loopback address: anyone who reaches it \
                 could read the gateway's tunnels, peers and traffic"
            ),
            &format!(
                "listen on loopback (e.g. \"127.0.0.1:{port}\") and scrape through a local agent, \
                 or add allow_remote = true to [metrics] and restrict the port with a firewall"
            ),
        );
        let allowed = with_metrics(&fx, &format!("listen = {value:?}\nallow_remote = true"));
        assert_eq!(listen_of(&fx, &allowed), Some(value.parse().unwrap()));
    }
    // allow_remote = false is the default, said out loud.
    let text = with_metrics(&fx, "listen = \"[::]:9464\"\nallow_remote = false");
    let e = fx.parse(&text).unwrap_err();
    assert!(e.what().contains("is not a loopback address"), "{e}");
}

#[test]
fn metrics_listen_syntax() {
    let fx = Fixture::new();
    let text = with_metrics(&fx, "listen = \"127.0.0.1\"");
    assert_err(
        &fx,
        &text,
        "\"127.0.0.1\"",
        0,
        "[metrics] listen = \"127.0.0.1\" has no port",
        "add the TCP port, e.g. \"127.0.0.1:9464\"",
    );
    let text = with_metrics(&fx, "listen = \"localhost:9464\"");
    assert_err(
        &fx,
        &text,
        "\"localhost:9464\"",
        0,
        "[metrics] listen = \"localhost:9464\" is not an IP address and port",
        "write it as ADDRESS:PORT, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\" \
         (host names are not resolved)",
    );
    let text = with_metrics(&fx, "listen = \"[::1]:0\"");
    assert_err(
        &fx,
        &text,
        "\"[::1]:0\"",
        0,
        "[metrics] listen = \"[::1]:0\" has port 0",
        "use a fixed TCP port that Prometheus scrapes, e.g. \"[::1]:9464\"",
    );
}

#[test]
fn metrics_unknown_key_and_type() {
    let fx = Fixture::new();
    let text = with_metrics(&fx, "listen = \"127.0.0.1:9464\"\nport = 9464");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.what(), "unknown key `port`");
    assert_eq!(
        e.fix(),
        "remove `port` or correct its spelling (expected `listen` or `allow_remote`)"
    );
    let text = with_metrics(&fx, "listen = 9464");
    let e = fx.parse(&text).unwrap_err();
    assert!(e.what().starts_with("invalid type"), "{e}");
}
