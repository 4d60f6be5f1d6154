//! Batches of the data path's threads: packets read from the TUN device into
//! fixed-size segments, encrypted datagrams grouped for UDP generic
//! segmentation offload (GSO), and decrypted packets queued for one batched,
//! coalescing TUN write.
//!
//! This module owns the grouping rules and the reusable buffers, and nothing
//! else: it makes no system call (the `io` module reads and flushes the
//! batches through the sockets and the TUN device) and never looks inside a
//! packet. Buffers are allocated once, or on first use, and reused, so a
//! steady flow allocates nothing; a buffer no packet has used yet holds no
//! resident memory (an idle gateway held 8 MB of them).

use std::net::SocketAddr;

/// Largest UDP payload one GSO send may carry (the IP length field's limit,
/// less the IPv6 and UDP headers).
pub const MAX_GSO_BYTES: usize = 65_535 - 40 - 8;
/// Bytes the datagram batch reserves at first. A batch is bounded by what
/// one read returns (at most a few hundred packets), so it grows past this
/// only for large MTUs, once, and keeps the room.
const UDP_BATCH_BYTES: usize = 512 * 1024;

/// One run of datagrams that leave by one send: same endpoint, same peer,
/// every datagram `segment` bytes long except perhaps the last, which may be
/// shorter (the kernel's rule for UDP_SEGMENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub endpoint: usize,
    pub to: SocketAddr,
    /// Offset of the first datagram in the batch's buffer.
    pub start: usize,
    /// Total bytes of the run.
    pub len: usize,
    /// Size of every datagram but the last.
    pub segment: usize,
    /// Number of datagrams.
    pub count: usize,
    /// A shorter last datagram ends the run.
    closed: bool,
}

/// Equal buffers (segments) in one allocation, each read into by index:
/// the allocation is large enough that the allocator gives it pages the
/// kernel maps on first touch (jemalloc's arena for blocks of 256 KiB or
/// more, `control/heap.rs`; glibc above its mmap threshold), and zeroed
/// memory from there is not written again, so a segment's pages become
/// resident when a packet is first read into it, not when the segments
/// are made (4 x 256 per TUN queue, most never used at low rates).
pub struct Segments {
    slab: Vec<u8>,
    len: usize,
}

impl Segments {
    /// `count` segments of `len` bytes each.
    pub fn new(count: usize, len: usize) -> Segments {
        let len = len.max(1);
        Segments {
            slab: vec![0u8; count.saturating_mul(len)],
            len,
        }
    }

    /// Segments holding copies of `packets`, each as long as the longest.
    pub fn of<'p>(packets: impl IntoIterator<Item = &'p [u8]>) -> Segments {
        let packets: Vec<&[u8]> = packets.into_iter().collect();
        let len = packets.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut segments = Segments::new(packets.len(), len);
        for (i, p) in packets.iter().enumerate() {
            if let Some(seg) = segments.get_mut(i, p.len()) {
                seg.copy_from_slice(p);
            }
        }
        segments
    }

    /// How many segments there are.
    pub fn count(&self) -> usize {
        self.slab.len() / self.len
    }

    /// The first `len` bytes of segment `i` (None: no such segment, or
    /// `len` longer than a segment).
    pub fn get(&self, i: usize, len: usize) -> Option<&[u8]> {
        if len > self.len {
            return None;
        }
        self.slab.get(i.checked_mul(self.len)?..)?.get(..len)
    }

    /// [`Segments::get`], writable.
    pub fn get_mut(&mut self, i: usize, len: usize) -> Option<&mut [u8]> {
        if len > self.len {
            return None;
        }
        self.slab
            .get_mut(i.checked_mul(self.len)?..)?
            .get_mut(..len)
    }

    /// `N` whole segments from segment `from`, for one vectored read (empty
    /// slices past the last segment).
    pub fn window<const N: usize>(&mut self, from: usize) -> [&mut [u8]; N] {
        let start = from.saturating_mul(self.len).min(self.slab.len());
        let mut chunks = self
            .slab
            .get_mut(start..)
            .unwrap_or_default()
            .chunks_mut(self.len);
        std::array::from_fn(|_| chunks.next().unwrap_or_default())
    }
}

/// Encrypted datagrams waiting to be sent, grouped into [`Run`]s.
pub struct UdpBatch {
    buf: Vec<u8>,
    runs: Vec<Run>,
    max_segments: usize,
}

impl UdpBatch {
    /// A batch whose runs hold at most `max_segments` datagrams (what the
    /// socket's GSO allows; 1 without GSO).
    pub fn new(max_segments: usize) -> UdpBatch {
        UdpBatch {
            buf: Vec::with_capacity(UDP_BATCH_BYTES),
            runs: Vec::with_capacity(UDP_BATCH_BYTES / 64),
            max_segments: max_segments.max(1),
        }
    }

    /// Lowers the number of datagrams per run (GSO turned out unsupported).
    pub fn set_max_segments(&mut self, max_segments: usize) {
        self.max_segments = max_segments.max(1);
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Queues `datagram` for `to` from local endpoint `endpoint`. It never
    /// refuses: the data path flushes only between batches, never while it
    /// holds a tunnel's lock.
    pub fn push(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
        self.push_with(endpoint, to, datagram.len(), |out| {
            out.copy_from_slice(datagram);
            Some(datagram.len())
        });
    }

    /// Queues a datagram of at most `max` bytes that `write` puts straight
    /// into the batch's buffer (sealing in place, no copy) and whose length
    /// it returns. Returns false, queuing nothing, when `write` fails.
    pub fn push_with(
        &mut self,
        endpoint: usize,
        to: SocketAddr,
        max: usize,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        let written = self
            .buf
            .get_mut(start..)
            .and_then(write)
            .filter(|len| *len > 0 && *len <= max);
        let Some(len) = written else {
            self.buf.truncate(start);
            return false;
        };
        self.buf.truncate(start + len);
        let max_segments = self.max_segments;
        if let Some(run) = self.runs.last_mut() {
            let joins = !run.closed
                && run.endpoint == endpoint
                && run.to == to
                && run.count < max_segments
                && len <= run.segment
                && run.len + len <= MAX_GSO_BYTES;
            if joins {
                run.len += len;
                run.count += 1;
                run.closed = len < run.segment;
                return true;
            }
        }
        self.runs.push(Run {
            endpoint,
            to,
            start,
            len,
            segment: len,
            count: 1,
            closed: false,
        });
        true
    }

    /// The queued runs with their bytes, in the order they were queued.
    pub fn runs(&self) -> impl Iterator<Item = (&Run, &[u8])> {
        self.runs.iter().filter_map(|run| {
            self.buf
                .get(run.start..run.start + run.len)
                .map(|bytes| (run, bytes))
        })
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.runs.clear();
    }
}

/// Room left in front of every queued TUN packet for the virtio-net header
/// that a TUN device with offloads expects.
pub const TUN_HEADROOM: usize = tun_rs::VIRTIO_NET_HDR_LEN;

/// Capacity of each queued packet's buffer: coalescing appends the payloads
/// of later segments to the first one's buffer, up to a 64 KB super-packet,
/// and needs room for two headers besides (`tun_rs`'s rule).
const TUN_BUFFER: usize = 2 * TUN_HEADROOM + 65_535;

/// Decrypted packets waiting for one batched TUN write. Each sits in its own
/// buffer after [`TUN_HEADROOM`] bytes, as `tun_rs`'s coalescing writer wants.
/// A buffer is reserved at full size when it first holds a packet, once;
/// its pages are touched only as super-packets grow into them.
pub struct TunBatch {
    bufs: Vec<Vec<u8>>,
    len: usize,
}

impl TunBatch {
    /// A batch of up to `capacity` packets. A buffer is reserved at full
    /// size when a packet first lands in it.
    pub fn new(capacity: usize) -> TunBatch {
        TunBatch {
            bufs: (0..capacity.max(1)).map(|_| Vec::new()).collect(),
            len: 0,
        }
    }

    /// Queues `packet`. Returns false, queuing nothing, when the batch is
    /// full: flush it and retry.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        let Some(buf) = self.bufs.get_mut(self.len) else {
            return false;
        };
        buf.clear();
        buf.reserve_exact(TUN_BUFFER);
        buf.resize(TUN_HEADROOM, 0);
        buf.extend_from_slice(packet);
        self.len += 1;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The queued packets' buffers (each with its headroom), for the writer.
    pub fn queued(&mut self) -> &mut [Vec<u8>] {
        let len = self.len;
        self.bufs.get_mut(..len).unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    fn runs(batch: &UdpBatch) -> Vec<(usize, SocketAddr, usize, usize, Vec<u8>)> {
        batch
            .runs()
            .map(|(r, bytes)| (r.endpoint, r.to, r.segment, r.count, bytes.to_vec()))
            .collect()
    }

    #[test]
    fn equal_datagrams_to_one_peer_form_one_run_ended_by_a_shorter_one() {
        let mut b = UdpBatch::new(64);
        b.push(0, peer(1), &[1; 4]);
        b.push(0, peer(1), &[2; 4]);
        b.push(0, peer(1), &[3; 2]);
        // After the shorter datagram the run is closed.
        b.push(0, peer(1), &[4; 2]);
        let got = runs(&b);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (0, peer(1), 4, 3, vec![1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
        );
        assert_eq!(got[1], (0, peer(1), 2, 1, vec![4, 4]));
    }

    #[test]
    fn another_peer_endpoint_or_a_longer_datagram_starts_a_run() {
        let mut b = UdpBatch::new(64);
        b.push(0, peer(1), &[1; 4]);
        b.push(0, peer(2), &[2; 4]);
        b.push(1, peer(2), &[3; 4]);
        b.push(1, peer(2), &[4; 8]);
        let got: Vec<_> = runs(&b).into_iter().map(|r| (r.0, r.1, r.3)).collect();
        assert_eq!(
            got,
            vec![
                (0, peer(1), 1),
                (0, peer(2), 1),
                (1, peer(2), 1),
                (1, peer(2), 1)
            ]
        );
    }

    #[test]
    fn runs_respect_the_segment_limit_and_the_gso_size_limit() {
        let mut b = UdpBatch::new(3);
        for _ in 0..7 {
            b.push(0, peer(1), &[0; 100]);
        }
        let counts: Vec<_> = b.runs().map(|(r, _)| r.count).collect();
        assert_eq!(counts, vec![3, 3, 1]);

        let mut b = UdpBatch::new(64);
        for _ in 0..50 {
            b.push(0, peer(1), &[0; 1452]);
        }
        for (run, bytes) in b.runs() {
            assert!(bytes.len() <= MAX_GSO_BYTES, "{} bytes", bytes.len());
            assert_eq!(bytes.len(), run.len);
        }
        assert_eq!(b.runs().map(|(r, _)| r.count).sum::<usize>(), 50);
    }

    #[test]
    fn a_batch_grows_past_its_first_reservation_and_clears() {
        let mut b = UdpBatch::new(64);
        let n = 2 * UDP_BATCH_BYTES / 9032 + 1;
        for i in 0..n {
            b.push(0, peer(1), &[i as u8; 9032]);
        }
        assert_eq!(b.runs().map(|(r, _)| r.count).sum::<usize>(), n);
        let first = b.runs().next().map(|(_, bytes)| bytes[0]);
        assert_eq!(first, Some(0), "order kept");
        b.clear();
        assert!(b.is_empty());
        b.push(0, peer(1), &[0; 1500]);
        assert!(!b.is_empty());
    }

    #[test]
    fn tun_batch_leaves_headroom_and_refuses_when_full() {
        let mut t = TunBatch::new(2);
        assert!(t.push(&[0x45, 1, 2]));
        assert!(t.push(&[0x60, 3]));
        assert!(!t.push(&[0x45]));
        let queued = t.queued();
        assert_eq!(queued.len(), 2);
        assert_eq!(&queued[0][..TUN_HEADROOM], &[0; TUN_HEADROOM]);
        assert_eq!(&queued[0][TUN_HEADROOM..], &[0x45, 1, 2]);
        assert_eq!(&queued[1][TUN_HEADROOM..], &[0x60, 3]);
        t.clear();
        assert!(t.is_empty());
        assert!(t.push(&[0x45]));
        assert_eq!(t.queued()[0].len(), TUN_HEADROOM + 1);
        assert!(
            t.queued()[0].capacity() >= TUN_BUFFER,
            "room reserved for coalescing"
        );
    }

    #[test]
    fn segments_are_read_into_by_index_and_in_windows() {
        let mut s = Segments::new(5, 4);
        assert_eq!(s.count(), 5);
        let window = s.window::<3>(3);
        assert_eq!(
            window.iter().map(|w| w.len()).collect::<Vec<_>>(),
            [4, 4, 0]
        );
        let [a, b, _] = s.window::<3>(1);
        a.copy_from_slice(&[1; 4]);
        b[..2].copy_from_slice(&[2, 2]);
        assert_eq!(s.get(1, 4), Some(&[1u8; 4][..]));
        assert_eq!(s.get(2, 2), Some(&[2u8, 2][..]));
        assert_eq!(s.get(2, 5), None, "longer than a segment");
        assert_eq!(s.get(5, 1), None, "past the last segment");
        assert!(s.window::<2>(usize::MAX).iter().all(|w| w.is_empty()));
        let copies = Segments::of([&[7u8, 7, 7][..], &[8]]);
        assert_eq!(copies.count(), 2);
        assert_eq!(copies.get(0, 3), Some(&[7u8, 7, 7][..]));
        assert_eq!(copies.get(1, 1), Some(&[8u8][..]));
    }
}
