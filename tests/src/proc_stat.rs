//! What `/proc` says about CPU time and memory: a process's or a
//! thread's CPU time (`/proc/PID/stat`), how long each thread ran and
//! waited runnable for a core (`/proc/PID/task/TID/schedstat`), a size
//! from `/proc/PID/status`, and the whole machine's busy and idle time
//! (`/proc/stat`). The parsers are pure functions with unit tests.

use std::time::Duration;

use crate::error::{Error, Result};

/// utime + stime (fields 14 and 15 of a `/proc/PID[/task/TID]/stat`
/// line) in clock ticks.
pub fn busy_ticks(stat: &str) -> Option<u64> {
    // The fields after the ")" that closes the name start at field 3.
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let user: u64 = f.next()?.parse().ok()?;
    let sys: u64 = f.next()?.parse().ok()?;
    Some(user + sys)
}

/// The machine's CPU time since boot from the `cpu` line of `/proc/stat`:
/// (busy, all) in clock ticks over every core, where idle and waiting for
/// I/O are not busy.
pub fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user and nice.
    let all: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((all.saturating_sub(idle), all))
}

/// A thread's time on a core and time runnable but waiting for one, in
/// nanoseconds: the first two fields of its `schedstat` (the scheduler's
/// statistics; the third, its timeslices, is left).
pub fn sched_times(schedstat: &str) -> Option<(u64, u64)> {
    let mut f = schedstat.split_whitespace().map(str::parse::<u64>);
    Some((f.next()?.ok()?, f.next()?.ok()?))
}

/// One thread as the scheduler saw it so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadTimes {
    pub tid: u32,
    /// Its name (`comm`).
    pub name: String,
    /// Nanoseconds on a core.
    pub run_ns: u64,
    /// Nanoseconds runnable and waiting for a core.
    pub wait_ns: u64,
}

/// [`ThreadTimes`] of every thread of `pid` now (none if it is gone).
pub fn thread_times(pid: u32) -> Vec<ThreadTimes> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse().ok()?;
            let dir = task.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let (run_ns, wait_ns) =
                sched_times(&std::fs::read_to_string(dir.join("schedstat")).ok()?)?;
            Some(ThreadTimes {
                tid,
                name: name.trim().to_string(),
                run_ns,
                wait_ns,
            })
        })
        .collect()
}

/// [`machine_ticks`] now.
pub fn machine_cpu() -> Option<(u64, u64)> {
    machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Clock ticks per second (the unit of [`busy_ticks`]).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// The CPU time process `pid` has used (user + system, all threads).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(Duration::from_secs_f64(
        busy_ticks(&stat)? as f64 / ticks_per_second(),
    ))
}

/// A numeric field of `/proc/PID/status` (`VmRSS`, `VmHWM`, `Threads`, ...):
/// its first number, in kB for the sizes.
pub fn proc_status_value(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::msg(format!("cannot read /proc/{pid}/status: {e}")))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .ok_or_else(|| Error::msg(format!("no {field} in /proc/{pid}/status")))
}

/// A size field of `/proc/PID/status` (`VmRSS`, `VmHWM`) in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> Result<u64> {
    Ok(proc_status_value(pid, field)? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ticks_reads_fields_14_and_15_past_an_odd_name() {
        let stat = "4242 (udp-rx) 0) S 1 2 3 0 -1 4194368 100 0 0 0 170 30 0 0 20 0 5 0";
        assert_eq!(busy_ticks(stat), Some(200));
        assert_eq!(busy_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn machine_ticks_counts_idle_and_iowait_as_not_busy() {
        let stat = "cpu  100 5 50 800 40 1 4 0 7 0\ncpu0 50 2 25 400 20 0 2 0 3 0\n";
        // busy: user + nice + system + irq + softirq + steal; guest is in user.
        assert_eq!(machine_ticks(stat), Some((160, 1000)));
        assert_eq!(machine_ticks("cpu0 1 2 3 4\n"), None);
        assert_eq!(machine_ticks("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn sched_times_reads_run_and_wait() {
        assert_eq!(sched_times("543210 98765 42\n"), Some((543_210, 98_765)));
        assert_eq!(sched_times("543210\n"), None);
        assert_eq!(sched_times("x 1 2"), None);
        let me = thread_times(std::process::id());
        assert!(!me.is_empty() && me.iter().any(|t| t.run_ns > 0), "{me:?}");
    }

    #[test]
    fn status_fields_of_this_process() {
        let me = std::process::id();
        assert!(proc_status_bytes(me, "VmRSS").is_ok_and(|b| b > 0));
        assert!(proc_status_value(me, "Threads").is_ok_and(|n| n >= 1));
        assert!(proc_status_value(me, "NoSuchField").is_err());
    }
}
