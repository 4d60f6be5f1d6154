//! The calling thread's CPU clock: how much of a span a thread spent
//! running, as against waiting for a core. Plugin call deadlines count it
//! (`policy::deadline`), and the control loop's slow-turn warning gives it
//! beside the turn's time (`driver::control`).
//!
//! Owns: reading the clock. Must not: decide anything with it.

use std::time::Duration;

/// The CPU time the calling thread has used so far, or `None` where the
/// clock cannot be read.
pub fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call,
    // and CLOCK_THREAD_CPUTIME_ID names the calling thread's CPU clock.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_thread_clock_counts_work_and_not_sleep() {
        let ms = Duration::from_millis(1);
        let start = thread_cpu_time().expect("the thread's CPU clock");
        std::thread::sleep(50 * ms);
        let slept = thread_cpu_time().expect("clock").saturating_sub(start);
        assert!(slept < 20 * ms, "{slept:?} of CPU in a 50 ms sleep");
        let start = thread_cpu_time().expect("clock");
        let wall = Instant::now();
        let mut x = 0u64;
        while thread_cpu_time().map_or(Duration::ZERO, |t| t.saturating_sub(start)) < 20 * ms {
            x = std::hint::black_box(x.wrapping_add(1));
            assert!(
                wall.elapsed() < Duration::from_secs(10),
                "the CPU clock stands still"
            );
        }
    }
}
