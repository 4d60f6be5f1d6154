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
//! routes again. glibc gives each new thread an arena of its own (reusing
//! the arenas of threads that ended, up to 8 per core), keeps what is
//! freed in each arena, and returns to the kernel only a free block at the
//! very top of a heap. Each swap left the gateway's RSS a little higher:
//! +28% over a 30-minute soak with a swap a minute (BENCHMARKS.md,
//! "Soak"). With at most [`ARENAS`] arenas and `malloc_trim` (which
//! releases the free pages inside every arena with `MADV_DONTNEED`, moving
//! nothing) after each compile, the soak's RSS is a fifth lower and grows
//! about half as fast, though not yet under the 5% the soak allows (the
//! same section). `malloc_trim` holds each arena's lock while it walks that
//! arena's free blocks: a thread that allocates meanwhile (the control
//! thread; the data path only for a liveness probe) waits. How long it
//! takes with a million routes is in BENCHMARKS-routes.md; a trim slower
//! than [`SLOW`] is logged at info.

use std::time::{Duration, Instant};

/// The most malloc arenas the gateway uses, unless its environment sets
/// them (`MALLOC_ARENA_MAX`, or `arena_max` in `GLIBC_TUNABLES`, which
/// glibc reads itself: the operator's choice wins).
pub const ARENAS: i32 = 2;

/// A trim that took this long is logged at info.
pub const SLOW: Duration = Duration::from_millis(10);

/// Caps glibc's arenas at [`ARENAS`] unless the environment sets a cap;
/// call before starting threads.
pub fn limit_arenas() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let arena_max = std::env::var("MALLOC_ARENA_MAX").unwrap_or_default();
    if !operator_sets_arenas(&arena_max, &tunables) {
        cap_arenas(ARENAS);
    }
}

/// Whether the environment's values cap the arenas already: a positive
/// `MALLOC_ARENA_MAX` (glibc ignores 0 and text), or `glibc.malloc.arena_max`
/// among the tunables.
fn operator_sets_arenas(arena_max: &str, tunables: &str) -> bool {
    arena_max.trim().parse::<u32>().is_ok_and(|n| n > 0)
        || tunables
            .split(':')
            .any(|t| t.starts_with("glibc.malloc.arena_max="))
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

/// Releases the heap's free pages to the kernel (a walk over each arena's
/// free blocks under that arena's lock), and logs how long it took: at
/// info if [`SLOW`] or slower, else at debug.
pub fn give_back() {
    let start = Instant::now();
    trim();
    let took = start.elapsed();
    if took >= SLOW {
        tracing::info!(?took, "heap: freed memory given back to the kernel");
    } else {
        tracing::debug!(?took, "heap: freed memory given back to the kernel");
    }
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

    #[test]
    fn the_operators_cap_wins_and_nonsense_is_not_a_cap() {
        assert!(operator_sets_arenas("4", ""));
        assert!(operator_sets_arenas("", "glibc.malloc.arena_max=1"));
        assert!(operator_sets_arenas(
            "",
            "glibc.malloc.check=0:glibc.malloc.arena_max=8"
        ));
        assert!(!operator_sets_arenas("", ""));
        assert!(!operator_sets_arenas("0", ""));
        assert!(!operator_sets_arenas("many", "glibc.malloc.tcache_count=0"));
    }

    /// Resident pages among `blocks` (each checked at its whole pages).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_pages(blocks: &[(usize, usize)]) -> usize {
        const PAGE: usize = 4096;
        let mut resident = 0;
        let mut vec = vec![0u8; 8];
        for &(addr, len) in blocks {
            let start = addr.div_ceil(PAGE) * PAGE;
            let end = (addr + len) / PAGE * PAGE;
            if end <= start {
                continue;
            }
            let pages = (end - start) / PAGE;
            vec.resize(pages, 0);
            // SAFETY: mincore only reads the page tables of the range and
            // writes one byte per page into `vec`, which holds `pages`
            // bytes; the range lies in the heap's mapping (freed blocks
            // stay mapped until trimmed, and a trimmed page stays mapped,
            // only not resident).
            let rc =
                unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
            if rc == 0 {
                resident += vec.iter().filter(|b| **b & 1 == 1).count();
            }
        }
        resident
    }

    /// Memory freed in the middle of a thread's arena (a block past it is
    /// still live, so the arena cannot shrink from the top) goes back to
    /// the kernel: its pages are no longer resident. Counted page by page
    /// with mincore, so other tests running meanwhile do not matter.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_pages_inside_an_arena_go_back() {
        let (before, after, total) = std::thread::spawn(|| {
            // Small blocks (below the mmap threshold, so on the heap),
            // touched so that they are resident.
            let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 16 * 1024]).collect();
            let keep = blocks.pop();
            let freed: Vec<(usize, usize)> = blocks
                .iter()
                .map(|b| (b.as_ptr() as usize, b.len()))
                .collect();
            drop(blocks);
            let before = resident_pages(&freed);
            give_back();
            let after = resident_pages(&freed);
            drop(keep);
            (before, after, freed.len() * 3)
        })
        .join()
        .expect("the allocating thread");
        // Each 16 KiB block has at least 3 whole pages.
        assert!(
            before >= total / 2,
            "only {before} of {total} pages resident before"
        );
        assert!(
            after * 10 < before,
            "{after} of the {before} freed pages still resident after the trim"
        );
    }
}
