//! Tunnel liveness: a BFD-like probe per tunnel over its inside addresses
//! (`bfd`, RFC 5880 asynchronous mode, carried as RFC 5881 single-hop packets
//! built by `crate::packet`). Sans-IO: it takes bytes, events and a
//! caller-supplied `now: Instant`, and returns packets and transitions. This
//! module must not open sockets, spawn tasks, read the clock or touch the FIB:
//! the service shell does the I/O, and the failover slot (a plugin or
//! `policy::defaults`) turns liveness into tunnel weights.

pub mod bfd;
