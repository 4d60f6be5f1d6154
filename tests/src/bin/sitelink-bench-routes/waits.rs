//! How the receiver's and the feeder's threads shared the cores until 99%
//! of the routes were in: for each, the time it ran and the time it was
//! runnable but waited for a core (the scheduler's `schedstat`). On a
//! machine with fewer cores than busy threads, a receiver's time to 99% is
//! its busiest thread's run time plus what it waited, plus what it slept
//! waiting for input; the table says which.

use std::collections::HashMap;

use sitelink_lab::proc_stat::{thread_times, ThreadTimes};

/// Run and waited-for-a-core times, in seconds.
#[derive(Clone, Copy, Default)]
pub struct RunWait {
    pub run: f64,
    pub wait: f64,
}

impl RunWait {
    fn add(&mut self, other: RunWait) {
        self.run += other.run;
        self.wait += other.wait;
    }
}

/// Every thread of some processes at one moment, by (process, thread).
pub struct Snapshot {
    threads: HashMap<(u32, u32), (String, u64, u64)>,
}

impl Snapshot {
    pub fn take(pids: &[u32]) -> Snapshot {
        let threads = pids
            .iter()
            .flat_map(|p| thread_times(*p).into_iter().map(move |t| (*p, t)))
            .map(|(p, t): (u32, ThreadTimes)| ((p, t.tid), (t.name, t.run_ns, t.wait_ns)))
            .collect();
        Snapshot { threads }
    }

    /// Each thread's times from `start` to this snapshot (a thread started
    /// since counts from zero): (process, thread name, times).
    fn since(&self, start: &Snapshot) -> Vec<(u32, &str, RunWait)> {
        self.threads
            .iter()
            .map(|((pid, tid), (name, run, wait))| {
                let (run0, wait0) = start
                    .threads
                    .get(&(*pid, *tid))
                    .map_or((0, 0), |(_, r, w)| (*r, *w));
                let secs = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e9;
                let times = RunWait {
                    run: secs(*run, run0),
                    wait: secs(*wait, wait0),
                };
                (*pid, name.as_str(), times)
            })
            .collect()
    }
}

/// The receiver's busiest thread, the rest of the receiver, and the
/// feeder's BIRD and wireguard-go, from establishment to 99% in.
pub struct Waits {
    pub busiest: (String, RunWait),
    pub rest: RunWait,
    pub feeder_bird: RunWait,
    pub feeder_wg: Option<RunWait>,
}

impl Waits {
    /// `receiver` and `feeder` list the processes of each; the snapshots
    /// cover both.
    pub fn between(start: &Snapshot, end: &Snapshot, receiver: &[u32], feeder: &[u32]) -> Waits {
        let threads = end.since(start);
        let mut own: Vec<(&str, RunWait)> = threads
            .iter()
            .filter(|(p, _, _)| receiver.contains(p))
            .map(|(_, n, t)| (*n, *t))
            .collect();
        own.sort_by(|a, b| b.1.run.total_cmp(&a.1.run));
        let busiest = own
            .first()
            .map(|(n, t)| (n.to_string(), *t))
            .unwrap_or_default();
        let mut rest = RunWait::default();
        for (_, t) in own.iter().skip(1) {
            rest.add(*t);
        }
        let mut feeder_bird = RunWait::default();
        let mut feeder_wg: Option<RunWait> = None;
        for (pid, _, t) in threads.iter().filter(|(p, _, _)| feeder.contains(p)) {
            if crate::comm_is(*pid, "wireguard-go") {
                feeder_wg.get_or_insert_with(RunWait::default).add(*t);
            } else {
                feeder_bird.add(*t);
            }
        }
        Waits {
            busiest,
            rest,
            feeder_bird,
            feeder_wg,
        }
    }
}

/// The table, one row per receiver that has its figures.
pub fn print(rows: &[(&str, f64, &Waits)]) {
    println!(
        "\nWho waited for a core until 99% in (run / runnable but waiting, s; the scheduler's schedstat):\n"
    );
    println!(
        "| receiver | 99% in (s) | its busiest thread | the rest of it | feeder's BIRD | feeder's wireguard-go |"
    );
    println!("| --- | ---: | --- | --- | --- | --- |");
    let cell = |t: RunWait| format!("{:.2} / {:.2}", t.run, t.wait);
    for (receiver, most, w) in rows {
        println!(
            "| {receiver} | {most:.2} | {} {} | {} | {} | {} |",
            w.busiest.0,
            cell(w.busiest.1),
            cell(w.rest),
            cell(w.feeder_bird),
            w.feeder_wg.map_or("-".to_string(), cell),
        );
    }
}
