//! A bounds-checked cursor over received bytes: big-endian integers,
//! addresses and sub-slices, each read returning `None` past the end. It
//! owns only that; it must not know any BGP layout. Every parser in the
//! codec reads through it, which is how the codec never indexes out of
//! bounds on a hostile message.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How far into the buffer the cursor is; with [`Reader::since`] it
    /// recovers the raw bytes of something just read.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes from `start` (an earlier [`Reader::pos`]) to the cursor.
    pub(super) fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }

    /// The next `n` bytes, or `None` (and nothing consumed) if fewer remain.
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// Everything not yet read.
    pub(super) fn rest(&mut self) -> &'a [u8] {
        let bytes = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        bytes
    }

    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(super) fn ipv4(&mut self) -> Option<Ipv4Addr> {
        self.array::<4>().map(Ipv4Addr::from)
    }

    pub(super) fn ipv6(&mut self) -> Option<Ipv6Addr> {
        self.array::<16>().map(Ipv6Addr::from)
    }
}
