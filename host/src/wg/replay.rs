//! The receive side's sliding replay window (RFC 6479's bitmap ring): which
//! counters of one session were already accepted, over the latest
//! `WINDOW` counters; anything older is refused.
//!
//! Concurrency: many threads may open one session's packets at once. Each
//! checks the window before decrypting (a cheap early refusal, read under the
//! lock) and marks the counter after the tag verified ([`ReplayWindow::accept`],
//! which checks again and sets the bit in one critical section, so two threads
//! with the same counter cannot both succeed). The lock is a plain mutex held
//! for a few word operations, never across decryption; an atomic bitmap would
//! save the lock but sliding the window (clearing the blocks the top passes)
//! while others set bits needs a sequence of compare-and-swaps whose
//! correctness is much harder to show, for a cost (tens of nanoseconds) far
//! below sealing a packet's ChaCha20-Poly1305 (about a microsecond).
//! It owns the bitmap only; the counter limit is `session`'s.

use std::sync::Mutex;

const BLOCK_BITS: u64 = 64;
/// Blocks in the ring (a power of two).
const BLOCKS: usize = 128;
const RING_BITS: u64 = BLOCK_BITS * BLOCKS as u64;
/// How far behind the highest counter seen a counter may still be accepted
/// (one block of the ring is the one being reused): 8128.
pub const WINDOW: u64 = RING_BITS - BLOCK_BITS;

#[derive(Debug)]
struct Ring {
    /// Highest counter accepted plus one (0: none yet).
    next: u64,
    bits: [u64; BLOCKS],
}

impl Ring {
    fn fresh(&self, counter: u64) -> bool {
        if counter >= self.next {
            return true;
        }
        // `next` > `counter` here, so `next - 1` is the highest accepted.
        if self.next - 1 - counter > WINDOW {
            return false;
        }
        let (block, bit) = locate(counter);
        self.bits[block] & (1 << bit) == 0
    }
}

fn locate(counter: u64) -> (usize, u64) {
    (
        ((counter / BLOCK_BITS) as usize) % BLOCKS,
        counter % BLOCK_BITS,
    )
}

/// See the module documentation.
#[derive(Debug)]
pub struct ReplayWindow {
    ring: Mutex<Ring>,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            ring: Mutex::new(Ring {
                next: 0,
                bits: [0; BLOCKS],
            }),
        }
    }
}

impl ReplayWindow {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring is consistent between statements: a panic elsewhere
        // cannot leave it half-updated.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `counter` could still be accepted (before decrypting).
    pub fn check(&self, counter: u64) -> bool {
        self.lock().fresh(counter)
    }

    /// Marks `counter` as received; false if it was already, or is too old.
    pub fn accept(&self, counter: u64) -> bool {
        let mut r = self.lock();
        if !r.fresh(counter) {
            return false;
        }
        if counter >= r.next {
            // Slide: clear the blocks after the old top's, up to the new
            // top's (all of them at most once).
            if r.next > 0 {
                let old_block = (r.next - 1) / BLOCK_BITS;
                let new_block = counter / BLOCK_BITS;
                let n = (new_block - old_block).min(BLOCKS as u64);
                for i in 1..=n {
                    r.bits[((old_block + i) % BLOCKS as u64) as usize] = 0;
                }
            }
            r.next = counter + 1;
        }
        let (block, bit) = locate(counter);
        r.bits[block] |= 1 << bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_duplicates() {
        let w = ReplayWindow::default();
        for c in 0..20_000u64 {
            assert!(w.accept(c), "{c}");
            assert!(!w.accept(c), "{c} twice");
        }
    }

    #[test]
    fn out_of_order_within_window_and_too_old() {
        let w = ReplayWindow::default();
        assert!(w.accept(10_000));
        assert!(w.accept(10_000 - WINDOW));
        assert!(!w.accept(10_000 - WINDOW - 1), "too old");
        assert!(w.accept(9_999));
        assert!(!w.accept(9_999));
        // A jump far ahead clears the ring: old bits must not linger.
        assert!(w.accept(1_000_000));
        assert!(w.accept(1_000_000 - 64));
        assert!(w.accept(1_000_000 - 1));
        assert!(!w.accept(10_000));
        assert!(!w.check(1_000_000));
    }

    #[test]
    fn jumps_of_every_block_distance_keep_earlier_bits_right() {
        for jump in [
            1u64,
            63,
            64,
            65,
            127,
            128,
            4_000,
            WINDOW,
            WINDOW + 1,
            RING_BITS,
        ] {
            let w = ReplayWindow::default();
            for c in 0..200 {
                assert!(w.accept(c));
            }
            let top = 199 + jump;
            assert!(w.accept(top));
            for c in 0..200u64 {
                // Still in the window: refused as a duplicate; out: too old.
                assert!(!w.accept(c), "jump {jump}, counter {c}");
            }
            for c in 200..top {
                if top - c <= WINDOW {
                    assert!(w.check(c), "jump {jump}: {c} unseen, in window");
                }
            }
        }
    }

    /// Against a plain model (every counter seen, the highest): random
    /// walks forward, back and far ahead agree on every answer.
    #[test]
    fn agrees_with_a_model() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20 {
            let w = ReplayWindow::default();
            let mut seen = std::collections::HashSet::new();
            let mut top: Option<u64> = None;
            let mut cur = 0u64;
            for _ in 0..5_000 {
                let r = rnd();
                cur = match r % 10 {
                    0 => cur + rnd() % (3 * RING_BITS),
                    1..=4 => cur.saturating_sub(rnd() % (WINDOW + 200)),
                    _ => cur + rnd() % 100,
                };
                let expect =
                    !seen.contains(&cur) && top.is_none_or(|t| cur > t || t - cur <= WINDOW);
                assert_eq!(w.check(cur), expect, "check {cur}, top {top:?}");
                assert_eq!(w.accept(cur), expect, "accept {cur}, top {top:?}");
                if expect {
                    seen.insert(cur);
                    top = Some(top.map_or(cur, |t| t.max(cur)));
                }
            }
        }
    }
}
