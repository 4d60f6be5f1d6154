//! Per-thread CPU of both tunnel processes during a steady window of the
//! TCP test: /proc/PID/task/TID/stat (utime + stime) and the thread's name
//! (/proc/PID/task/TID/comm) read at the window's start and end. Issue 14's
//! target for sitelink: at saturation, no single thread does more than a
//! third of the data path's CPU.
//!
//! The data path of sitelink is its `tun-rx` (one per TUN queue), `udp-rx-N`
//! (one per endpoint socket) and `dp-worker-N` threads
//! (host/src/dataplane/io.rs, pipeline.rs); its control, admin, BGP, log and policy
//! threads are listed but not counted. The plain WireGuard daemons have no
//! control plane worth the name, so every thread of theirs counts:
//! boringtun-cli's event-loop threads, GotaTun's tokio workers and
//! wireguard-go's OS threads (goroutines are not visible from outside).
//! In the N-tunnel test a plain daemon runs one process per tunnel and side:
//! the threads of all of them count, and a main thread is labelled with its
//! process id.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use sitelink_lab::proc_stat::{busy_ticks, ticks_per_second};
use sitelink_lab::{Error, Result};

use crate::systems::{Side, System};

/// Name prefixes of sitelink's data-path threads.
pub const SITELINK_DATA_PATH: [&str; 3] = ["tun-rx", "udp-rx", "dp-worker"];

/// The bound on one thread's share of the data path's CPU.
const TARGET_SHARE: f64 = 1.0 / 3.0;

/// One thread's CPU over the window.
#[derive(Debug, Clone)]
pub struct ThreadRow {
    pub side: Side,
    /// Its name, and "(main)" or "#N" where that tells threads apart.
    pub label: String,
    pub cpu_s: f64,
    pub data_path: bool,
}

/// The threads of one round's window.
#[derive(Debug, Clone)]
pub struct ThreadSample {
    /// From the start of the test.
    pub from_s: f64,
    pub window_s: f64,
    pub rows: Vec<ThreadRow>,
}

/// The busiest data-path thread, by its share.
pub struct Largest<'a> {
    pub row: &'a ThreadRow,
    /// Of its own process's data-path CPU.
    pub of_side: f64,
    /// Of both processes' data-path CPU.
    pub of_both: f64,
}

impl ThreadSample {
    fn data_path_cpu(&self, side: Option<Side>) -> f64 {
        self.rows
            .iter()
            .filter(|r| r.data_path && side.is_none_or(|s| r.side == s))
            .map(|r| r.cpu_s)
            .sum()
    }

    /// The data-path thread with the largest share of its own process's
    /// data-path CPU.
    pub fn largest(&self) -> Option<Largest<'_>> {
        let both = self.data_path_cpu(None);
        self.rows
            .iter()
            .filter(|r| r.data_path && r.cpu_s > 0.0)
            .map(|row| Largest {
                row,
                of_side: row.cpu_s / self.data_path_cpu(Some(row.side)),
                of_both: row.cpu_s / both,
            })
            .max_by(|x, y| x.of_side.total_cmp(&y.of_side))
    }
}

struct Ticks {
    side: Side,
    pid: u32,
    name: String,
    ticks: u64,
}

/// utime + stime of every thread of `procs`, by thread id.
fn snapshot(procs: &[(Side, u32)]) -> HashMap<u32, Ticks> {
    let mut out = HashMap::new();
    for &(side, pid) in procs {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let dir = task.path();
            let (Ok(stat), Ok(comm)) = (
                std::fs::read_to_string(dir.join("stat")),
                std::fs::read_to_string(dir.join("comm")),
            ) else {
                continue; // the thread ended meanwhile
            };
            if let Some(ticks) = busy_ticks(&stat) {
                let name = comm.trim().to_string();
                out.insert(
                    tid,
                    Ticks {
                        side,
                        pid,
                        name,
                        ticks,
                    },
                );
            }
        }
    }
    out
}

/// The steady window of a `seconds`-long test: from a fifth of the way in
/// to a fifth before its end (2-8 s of 10 s, 1-4 s of 5 s).
pub fn window(seconds: u32) -> (Duration, Duration) {
    let skip = (seconds / 5).max(1);
    let len = seconds.saturating_sub(2 * skip).max(1);
    (
        Duration::from_secs(u64::from(skip)),
        Duration::from_secs(u64::from(len)),
    )
}

/// Runs `test` (which must last past `from + len`) while sampling the
/// threads of `procs` over [from, from + len) of it.
pub fn during<T: Send>(
    system: System,
    procs: &[(Side, u32)],
    (from, len): (Duration, Duration),
    test: impl FnOnce() -> Result<T> + Send,
) -> Result<(T, ThreadSample)> {
    let (result, sampled) = thread::scope(|s| {
        let started = Instant::now();
        let test = s.spawn(test);
        thread::sleep(from.saturating_sub(started.elapsed()));
        let before = snapshot(procs);
        let t0 = Instant::now();
        thread::sleep(len);
        let after = snapshot(procs);
        let window_s = t0.elapsed().as_secs_f64();
        (test.join(), (before, after, window_s))
    });
    let result = result.map_err(|_| Error::msg("the test thread panicked"))??;
    let (before, after, window_s) = sampled;
    let hz = ticks_per_second();
    let mut rows: Vec<(u32, Ticks, u64)> = after
        .into_iter()
        .map(|(tid, t)| {
            // A thread born inside the window counts from zero.
            let start = before.get(&tid).map_or(0, |b| b.ticks);
            let used = t.ticks.saturating_sub(start);
            (tid, t, used)
        })
        .collect();
    rows.sort_by_key(|(tid, t, _)| (t.side.name(), t.name.clone(), *tid));
    // Threads of one name in one process are told apart by number.
    let mut same: HashMap<(Side, String), usize> = HashMap::new();
    for (tid, t, _) in &rows {
        if *tid != t.pid {
            *same.entry((t.side, t.name.clone())).or_default() += 1;
        }
    }
    // More than one process on a side (a plain daemon per tunnel): main
    // threads are told apart by process id.
    let mut pids: HashMap<Side, Vec<u32>> = HashMap::new();
    for &(side, pid) in procs {
        pids.entry(side).or_default().push(pid);
    }
    let mut nth: HashMap<(Side, String), usize> = HashMap::new();
    let rows = rows
        .into_iter()
        .map(|(tid, t, used)| {
            let key = (t.side, t.name.clone());
            let label = if tid == t.pid && pids.get(&t.side).is_some_and(|p| p.len() > 1) {
                format!("{} (main, pid {})", t.name, t.pid)
            } else if tid == t.pid {
                format!("{} (main)", t.name)
            } else if same.get(&key).is_some_and(|n| *n > 1) {
                let n = nth.entry(key).or_default();
                *n += 1;
                format!("{} #{n}", t.name)
            } else {
                t.name.clone()
            };
            ThreadRow {
                side: t.side,
                label,
                cpu_s: used as f64 / hz,
                data_path: is_data_path(system, &t.name),
            }
        })
        .collect();
    Ok((
        result,
        ThreadSample {
            from_s: from.as_secs_f64(),
            window_s,
            rows,
        },
    ))
}

fn is_data_path(system: System, name: &str) -> bool {
    system != System::Sitelink || SITELINK_DATA_PATH.iter().any(|p| name.starts_with(p))
}

fn side_label(side: Side) -> &'static str {
    match side {
        Side::A => "a (sends)",
        Side::B => "b (receives)",
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0} %", x * 100.0)
    } else {
        "-".into()
    }
}

/// One round's per-thread table for `system` during `test` (e.g. "TCP 1
/// stream"), and its largest share.
pub fn print_table(system: System, test: &str, round: usize, t: &ThreadSample) {
    println!(
        "\n{}, {test}, threads over seconds {:.0}-{:.0} of the test ({:.1} s), round {round}. \
         Side a runs the iperf3 client (its tunnel process encrypts the data), b the server.\n",
        system.name(),
        t.from_s,
        t.from_s + t.window_s,
        t.window_s
    );
    println!(
        "| side | thread | CPU s | % of one core | share of its side's data path | \
         share of both sides' data path |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let both = t.data_path_cpu(None);
    let mut rows: Vec<&ThreadRow> = t.rows.iter().filter(|r| r.cpu_s > 0.0).collect();
    rows.sort_by(|x, y| {
        (x.side.name(), !x.data_path)
            .cmp(&(y.side.name(), !y.data_path))
            .then(y.cpu_s.total_cmp(&x.cpu_s))
    });
    for r in rows {
        let (own, all) = if r.data_path {
            (
                pct(r.cpu_s / t.data_path_cpu(Some(r.side))),
                pct(r.cpu_s / both),
            )
        } else {
            ("(not data path)".to_string(), "-".to_string())
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {own} | {all} |",
            side_label(r.side),
            r.label,
            r.cpu_s,
            r.cpu_s / t.window_s * 100.0
        );
    }
    for side in [Side::A, Side::B] {
        let idle: Vec<&str> = t
            .rows
            .iter()
            .filter(|r| r.side == side && r.cpu_s <= 0.0)
            .map(|r| r.label.as_str())
            .collect();
        if !idle.is_empty() {
            println!(
                "\nNo CPU in the window, side {}: {}.",
                side.name(),
                idle.join(", ")
            );
        }
    }
    match t.largest() {
        Some(l) => println!(
            "\n**Largest single thread's share of the data path's CPU ({}): {} ({} {}, {:.0} % \
             of one core; {} of both sides' data path). Issue 14's target: at most {}.**",
            system.name(),
            pct(l.of_side),
            l.row.side.name(),
            l.row.label,
            l.row.cpu_s / t.window_s * 100.0,
            pct(l.of_both),
            pct(TARGET_SHARE)
        ),
        None => println!("\nNo data-path thread used CPU in the window."),
    }
}

/// Per system, over the rounds: the largest data-path thread's share of
/// its side's data-path CPU (and of both sides') during `test` (e.g. "the
/// TCP 1-stream test"), and how busy it was.
pub fn print_summary(test: &str, samples: &[(System, ThreadSample)]) {
    println!(
        "\nLargest single data-path thread during {test}, medians (min-max) over \
         the rounds; its share of its own side's data-path CPU is the figure issue 14 bounds \
         (at most {} at saturation).\n",
        pct(TARGET_SHARE)
    );
    println!(
        "| system | thread (last round) | share of its side's data path | \
         share of both sides' | % of one core | data-path threads with CPU |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for system in System::ALL {
        let rounds: Vec<&ThreadSample> = samples
            .iter()
            .filter(|(s, _)| *s == system)
            .map(|(_, t)| t)
            .collect();
        let Some(last) = rounds.last() else {
            continue;
        };
        let pick = |get: &dyn Fn(&Largest, &ThreadSample) -> f64| {
            let mut v: Vec<f64> = rounds
                .iter()
                .filter_map(|t| t.largest().map(|l| get(&l, t)))
                .collect();
            crate::stats(&mut v)
        };
        let share = |(m, lo, hi): (f64, f64, f64)| {
            format!("{:.0} % ({:.0}-{:.0})", m * 100.0, lo * 100.0, hi * 100.0)
        };
        let name = last.largest().map_or("-".to_string(), |l| {
            format!("{} {}", l.row.side.name(), l.row.label)
        });
        let busy = pick(&|l, t| l.row.cpu_s / t.window_s);
        let working = last
            .rows
            .iter()
            .filter(|r| r.data_path && r.cpu_s > 0.0)
            .count();
        println!(
            "| {} | {name} | {} | {} | {:.0} ({:.0}-{:.0}) | {working} |",
            system.name(),
            share(pick(&|l, _| l.of_side)),
            share(pick(&|l, _| l.of_both)),
            busy.0 * 100.0,
            busy.1 * 100.0,
            busy.2 * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_leaves_a_fifth_each_end() {
        let secs = |(a, b): (Duration, Duration)| (a.as_secs(), b.as_secs());
        assert_eq!(secs(window(10)), (2, 6));
        assert_eq!(secs(window(5)), (1, 3));
        assert_eq!(secs(window(2)), (1, 1));
    }

    #[test]
    fn the_largest_share_is_of_its_own_side() {
        let row = |side, label: &str, cpu_s, data_path| ThreadRow {
            side,
            label: label.into(),
            cpu_s,
            data_path,
        };
        let t = ThreadSample {
            from_s: 2.0,
            window_s: 6.0,
            rows: vec![
                row(Side::A, "tun-rx", 3.0, true),
                row(Side::A, "udp-rx-0", 1.0, true),
                row(Side::A, "control", 5.0, false),
                row(Side::B, "udp-rx-0", 4.0, true),
                row(Side::B, "tun-rx", 0.0, true),
            ],
        };
        let l = t.largest().expect("a busy data-path thread");
        assert_eq!((l.row.side, l.row.label.as_str()), (Side::B, "udp-rx-0"));
        assert!((l.of_side - 1.0).abs() < 1e-9);
        assert!((l.of_both - 0.5).abs() < 1e-9);
    }
}
