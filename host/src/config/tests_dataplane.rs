//! Tests of the `[dataplane]` table: workers default to one per core, 0
//! turns the pool off, anything else out of range is refused naming the
//! fix. Helpers are in `tests`.

use super::tests::{assert_err_after, Fixture};

fn with_table(fx: &Fixture, table: &str) -> String {
    format!("{}\n[dataplane]\n{table}\n", fx.base())
}

#[test]
fn workers_default_to_the_cores_and_take_a_number_or_zero() {
    let fx = Fixture::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = fx.parse(&fx.base()).expect("no table");
    assert_eq!(c.dataplane.workers, None);
    assert_eq!(c.dataplane.workers(), cores);
    let c = fx.parse(&with_table(&fx, "")).expect("empty table");
    assert_eq!(c.dataplane.workers(), cores);
    for n in [0usize, 1, 6, 1024] {
        let c = fx
            .parse(&with_table(&fx, &format!("workers = {n}")))
            .expect("in range");
        assert_eq!(c.dataplane.workers(), n);
    }
}

#[test]
fn workers_out_of_range_or_misspelt_are_refused() {
    let fx = Fixture::new();
    for n in [-1i64, 1025] {
        let text = with_table(&fx, &format!("workers = {n}"));
        assert_err_after(
            &fx,
            &text,
            "workers = ",
            0,
            10,
            &format!("[dataplane] workers = {n} is out of range"),
            "use 0 (each reader does its own crypto) to 1024, or leave it out for one worker per core",
        );
    }
    let text = with_table(&fx, "worker = 2");
    let e = fx.parse(&text).expect_err("unknown key");
    assert!(e.to_string().contains("worker"), "{e}");
}

#[test]
fn reader_counts_default_and_ranges() {
    let fx = Fixture::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let c = fx.parse(&fx.base()).expect("no table");
    assert_eq!(c.dataplane.tun_queues(), 1);
    assert_eq!(c.dataplane.endpoint_sockets(), cores.min(4));
    for (q, e) in [(1usize, 1usize), (3, 5), (4, 16)] {
        let text = with_table(&fx, &format!("tun_queues = {q}\nendpoint_sockets = {e}"));
        let c = fx.parse(&text).expect("in range");
        assert_eq!(c.dataplane.tun_queues(), q);
        assert_eq!(c.dataplane.endpoint_sockets(), e);
    }
    for (key, max, one) in [
        ("tun_queues", 4, "1 (one queue, the default)"),
        ("endpoint_sockets", 16, "1 (one socket)"),
    ] {
        for n in [0i64, max + 1] {
            let text = with_table(&fx, &format!("{key} = {n}"));
            assert_err_after(
                &fx,
                &text,
                &format!("{key} = "),
                0,
                key.len() + 3,
                &format!("[dataplane] {key} = {n} is out of range"),
                &format!("use {one} to {max}, or leave it out for the default"),
            );
        }
    }
}
