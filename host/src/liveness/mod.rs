//! Tunnel liveness: a BFD-like probe per tunnel over its inside addresses
//! (`bfd`, RFC 5880 asynchronous mode, carried as RFC 5881 single-hop packets
//! built by `crate::packet`) and the active/standby choice of a static
//! connection (`failover`). Both are sans-IO: they take bytes, events and a
//! caller-supplied `now: Instant`, and return packets, transitions and
//! decisions. This module must not open sockets, spawn tasks, read the clock or
//! touch the FIB: the service shell does the I/O, and the failover plugin (or
//! its native default) turns decisions into tunnel weights.

pub mod bfd;
pub mod failover;
