//! The gateway's heap over months: which allocator, with which options,
//! and why.
//!
//! Owns: the allocator's options ([`JEMALLOC_CONF`]). Must not: hold the
//! allocator itself: the `sitelink` binary sets jemalloc as its global
//! allocator and hands it these options (`main.rs`, feature `jemalloc`, on
//! by default), so that the library's tests and fuzz targets keep the
//! system allocator (and its sanitizers).
//!
//! Why jemalloc: a gateway runs for months while plugins are swapped and
//! tables churn. A swap compiles a component on an admin client's thread
//! (tens of MB of scratch) while the control thread filters the stored
//! routes again, and glibc's malloc kept part of each compile's memory in
//! its heaps: over a 30-minute soak (a swap a minute, 10,000 routes
//! churned every 5 s) RSS grew +15% like for like with glibc as it is,
//! and still +4.4% to +8.9% with its arenas capped at 2 and a
//! `malloc_trim` after each compile (+4.5% to +4.7% in the sitting that
//! tried jemalloc), though the live heap (heaptrack) was flat. jemalloc
//! gives freed memory back by itself (a background thread purges what
//! stayed free for a few seconds) and keeps small blocks of one size
//! together, so a compile's scratch does not pin pages among the routes:
//! +0.1% to +4.7% in the same soak (four runs), about 2 MB lower, with
//! nothing to call after a swap. A slow rise is left with either
//! allocator (0.5-1.4 MB per half hour; slowing, but not stopped after an
//! hour). BENCHMARKS.md ("Soak") has the runs. The purging thread
//! (`background_thread`) is one more thread, asleep but for a purge;
//! without it jemalloc purges only when an arena is used again, and a quiet
//! gateway would keep what it freed. One is enough for a gateway's few arenas
//! (jemalloc would start one per core).
//!
//! Why `oversize_threshold` at 256 KiB (jemalloc's default is 8 MiB):
//! blocks of that size or more (route-table shards, a compile's buffers)
//! get an arena that returns them to the kernel as soon as they are freed,
//! instead of after the decay time. While a full table arrives, the tables
//! grow by doubling and the halves they leave would otherwise stay resident
//! for seconds: at a million routes the peak RSS is 108.5-108.8 MB with it
//! against 117.1-117.5 MB with the default, for the same CPU time
//! (BENCHMARKS-routes-log.md, "jemalloc").
//!
//! `oversize_threshold` is accepted by jemalloc 5.3 (the version
//! tikv-jemalloc-sys 0.6 builds) but not in its manual yet; a CLI test
//! checks that jemalloc takes every option here.
//!
//! An operator can change any option at start with `_RJEM_MALLOC_CONF`
//! (jemalloc's `MALLOC_CONF`, under the prefix of the Rust build) or
//! `/etc/_rjem_malloc.conf`, which jemalloc reads after these (the
//! variable is ignored for a setuid binary or one with file capabilities).
//!
//! The symbols are prefixed (`_rjem_malloc`), so heap profilers that
//! intercept `malloc` (heaptrack) see nothing of the gateway's own heap:
//! profile a build without the `jemalloc` feature
//! (`cargo build --release -p sitelink --no-default-features`).

/// Makes jemalloc, under [`JEMALLOC_CONF`], the global allocator of the
/// crate that calls it, when the package's `jemalloc` feature is on: the
/// `sitelink` binary, and the ingest benchmark, which must pay what the
/// binary pays. (The library itself keeps the system allocator.)
#[macro_export]
macro_rules! gateway_allocator {
    () => {
        #[cfg(feature = "jemalloc")]
        #[global_allocator]
        static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

        /// jemalloc reads its options from this symbol (`malloc_conf`,
        /// under the Rust build's `_rjem_` prefix) at its first
        /// allocation; `_RJEM_MALLOC_CONF` in the environment comes after
        /// it.
        #[cfg(feature = "jemalloc")]
        #[export_name = "_rjem_malloc_conf"]
        static MALLOC_CONF: &[u8; $crate::control::heap::JEMALLOC_CONF.len()] =
            $crate::control::heap::JEMALLOC_CONF;
    };
}

/// jemalloc's options for the gateway, in its `malloc_conf` syntax
/// (`name:value` pairs, comma separated), NUL-terminated as jemalloc reads
/// them from the binary.
pub const JEMALLOC_CONF: &[u8; 74] =
    b"background_thread:true,max_background_threads:1,oversize_threshold:262144\0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_are_one_c_string_of_name_value_pairs() {
        let (nul, text) = JEMALLOC_CONF.split_last().expect("not empty");
        assert_eq!(*nul, 0, "NUL-terminated");
        let text = std::str::from_utf8(text).expect("ASCII");
        assert!(!text.contains('\0'));
        for pair in text.split(',') {
            let (name, value) = pair.split_once(':').expect("name:value");
            assert!(!name.is_empty() && !value.is_empty(), "{pair:?}");
        }
    }
}
