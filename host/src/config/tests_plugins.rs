//! Tests of the `[plugins]` deadline against the connections' liveness: a
//! call may hold the probes for twice the deadline, so that must stay under
//! the shortest detection time. The error points at what the operator
//! wrote. Helpers are in `tests`.

use super::tests::{assert_err_after, replace_nth, Fixture};

/// The base config with its connection's liveness 30 ms x 3 (90 ms).
fn short_liveness(fx: &Fixture) -> String {
    replace_nth(
        &fx.base(),
        "[[connection.tunnel]]\nendpoint = \"az1\"",
        "[connection.liveness]\ninterval_ms = 30\nmultiplier = 3\n\n[[connection.tunnel]]\nendpoint = \"az1\"",
        0,
    )
}

#[test]
fn a_liveness_too_short_for_the_default_deadline_is_refused_at_its_interval() {
    let fx = Fixture::new();
    assert_err_after(
        &fx,
        &short_liveness(&fx),
        "interval_ms = 30",
        0,
        "interval_ms = ".len(),
        "connection \"office\"'s liveness detection time (90 ms: interval_ms x multiplier) is not \
         over twice the plugin deadline (50 ms, the default): a slow plugin call would delay the \
         probes past it",
        "lengthen its liveness to over 100 ms (interval_ms x multiplier), or set [plugins] \
         deadline_ms below 45",
    );
}

#[test]
fn a_deadline_too_long_for_the_liveness_is_refused_at_the_deadline() {
    let fx = Fixture::new();
    let text = format!("{}\n[plugins]\ndeadline_ms = 50\n", short_liveness(&fx));
    assert_err_after(
        &fx,
        &text,
        "deadline_ms = 50",
        0,
        "deadline_ms = ".len(),
        "plugin deadline_ms = 50 is not under half the shortest liveness detection time (90 ms, \
         connection \"office\"): a slow plugin call would delay the probes past it",
        "lengthen that connection's liveness, or set [plugins] deadline_ms below 45",
    );
    let text = format!("{}\n[plugins]\ndeadline_ms = 40\n", short_liveness(&fx));
    assert!(fx.parse(&text).is_ok(), "40 ms x 2 is under 90 ms");
}
