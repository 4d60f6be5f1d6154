//! The gateway's heap over months: few malloc arenas, and freed memory
//! given back to the kernel after an admin request that compiled a plugin
//! (a swap, a shadow, a reload).
//!
//! Owns: the calls into the C allocator for that. Must not: run on the
//! data path or the control thread; [`give_back`] is called on the admin
//! client's thread after its answer is written, [`limit_arenas`] once at
//! start, before any thread.
//!
//! Why: compiling and instantiating a component allocates tens of MB on an
//! admin client's thread while the control thread filters the stored
//! routes again. glibc gives each thread that meets a locked arena another
//! one (up to 8 per core), keeps what is freed in each arena, and returns
//! to the kernel only a free block at the very top of a heap. Each swap
//! left the gateway's RSS a little higher: +28% over a 30-minute soak with
//! a swap a minute (BENCHMARKS.md, "Soak"). With at most
//! [`ARENAS`] arenas and `malloc_trim` (which releases the free pages
//! inside every arena with `MADV_DONTNEED`, moving nothing) after each
//! compile, 36 swaps in 3 minutes moved the lowest RSS by 0.4 MB
//! (BENCHMARKS.md, "Soak"). The data path's buffers are its batches',
//! allocated once, so it rarely meets an arena's lock.

use std::time::{Duration, Instant};

/// The most malloc arenas the gateway uses, unless `MALLOC_ARENA_MAX` is
/// set in its environment (glibc reads that itself; it wins).
pub const ARENAS: i32 = 2;

/// Caps glibc's arenas at [`ARENAS`]; call before starting threads.
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    cap_arenas(ARENAS);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_arenas(n: i32) {
    // SAFETY: mallopt only sets a parameter of the allocator, under its
    // lock; an arena already made stays valid.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_arenas(_n: i32) {}

/// Releases the heap's free pages to the kernel; returns how long it took
/// (a walk over each arena's free blocks under that arena's lock).
pub fn give_back() -> Duration {
    let start = Instant::now();
    trim();
    start.elapsed()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointer and only walks the allocator's
    // own free lists under its locks; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries (musl's mallocng) return freed pages on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Memory freed in the middle of a thread's arena (a block past it is
    /// still live, so the arena cannot shrink from the top) goes back to
    /// the kernel.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_pages_inside_an_arena_go_back() {
        let (before, after) = std::thread::spawn(|| {
            // Many small blocks (below the mmap threshold, so on the heap),
            // touched so that they are resident.
            let mut blocks: Vec<Vec<u8>> = (0..8192).map(|_| vec![1u8; 16 * 1024]).collect();
            let keep = blocks.pop();
            drop(blocks);
            let before = rss_kib();
            give_back();
            let after = rss_kib();
            drop(keep);
            (before, after)
        })
        .join()
        .expect("the allocating thread");
        let (Some(before), Some(after)) = (before, after) else {
            panic!("no VmRSS in /proc/self/status");
        };
        // 128 MiB were freed; at least half of it must be returned (other
        // tests of this binary run meanwhile and allocate too).
        assert!(
            before.saturating_sub(after) > 64 * 1024,
            "RSS {before} KiB -> {after} KiB: freed pages were kept"
        );
    }
}
