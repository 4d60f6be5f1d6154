//! Endpoints: the gateway's UDP sockets, one per uplink address, that carry
//! the tunnels' encrypted datagrams.
//!
//! This module owns binding a socket (with buffers sized for bursts, and
//! quinn-udp's state for batched receives with GRO and segmented sends with
//! GSO), or several on one address with SO_REUSEPORT so that several threads
//! read it (the kernel spreads the peers over them by address and port: one
//! tunnel stays on one socket, in order), the per-endpoint counters, and
//! turns bind failures into errors that name the endpoint and the fix. It
//! does not parse datagrams (the data path does).

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;

use socket2::{Domain, Protocol, Socket, Type};

/// Socket buffer size asked for on every endpoint: several MB absorb the
/// bursts a batched data path produces (wireguard-go uses 7 MB too).
const SOCKET_BUFFER: usize = 7 << 20;

#[derive(Default, Debug)]
pub struct EndpointCounters {
    /// Datagrams received.
    pub rx_datagrams: AtomicU64,
    /// Datagrams dropped: not WireGuard, for no tunnel of ours, replayed or
    /// failing authentication.
    pub dropped_datagrams: AtomicU64,
    /// Datagrams the kernel refused to send (e.g. no route while a link is down).
    pub tx_failed: AtomicU64,
    /// Datagrams dropped because the socket's send buffer stayed full.
    pub tx_queue_full: AtomicU64,
}

pub struct Endpoint {
    pub name: String,
    pub listen: SocketAddr,
    pub socket: UdpSocket,
    /// Batched I/O on `socket`: recvmmsg with UDP GRO, sendmsg with UDP GSO,
    /// each falling back by itself where the kernel refuses it. Once set up,
    /// the socket must be read through it (GRO joins datagrams).
    pub udp: quinn_udp::UdpSocketState,
    /// More sockets bound to the same address (SO_REUSEPORT), each read by
    /// its own thread. Everything is sent from `socket`.
    pub more: Vec<(UdpSocket, quinn_udp::UdpSocketState)>,
    pub counters: EndpointCounters,
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("endpoint {name}: {addr} is already in use\n  fix: stop the program holding it (`ss -lunp sport = :{port}`) or choose another port in [[endpoint]] listen")]
    InUse {
        name: String,
        addr: SocketAddr,
        port: u16,
    },
    #[error("endpoint {name}: {addr} is not an address of this machine\n  fix: configure it on an interface first, or listen on 0.0.0.0")]
    NotLocal { name: String, addr: SocketAddr },
    #[error("endpoint {name}: cannot bind {addr}")]
    Other {
        name: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl Endpoint {
    /// Binds the endpoint's socket.
    pub fn bind(name: &str, listen: SocketAddr) -> Result<Endpoint, BindError> {
        Self::bind_many(name, listen, 1)
    }

    /// Binds `sockets` sockets to `listen` (more than one: with
    /// SO_REUSEPORT). An address another program holds is refused as with
    /// one socket: it is tried without SO_REUSEPORT first, so a second
    /// gateway on the same port cannot silently take half the datagrams.
    pub fn bind_many(
        name: &str,
        listen: SocketAddr,
        sockets: usize,
    ) -> Result<Endpoint, BindError> {
        let classify = |source: io::Error| match source.kind() {
            io::ErrorKind::AddrInUse => BindError::InUse {
                name: name.to_string(),
                addr: listen,
                port: listen.port(),
            },
            io::ErrorKind::AddrNotAvailable => BindError::NotLocal {
                name: name.to_string(),
                addr: listen,
            },
            _ => BindError::Other {
                name: name.to_string(),
                addr: listen,
                source,
            },
        };
        let reuse = sockets > 1;
        if reuse && listen.port() != 0 {
            // Free, and ours to share: the probe closes before the group binds.
            drop(bind_socket(listen, false).map_err(classify)?);
        }
        let (socket, udp) = bind_socket(listen, reuse).map_err(classify)?;
        // With port 0 the first socket picked the port; the others join it.
        let bound = socket.local_addr().unwrap_or(listen);
        let mut more = Vec::new();
        for _ in 1..sockets {
            match bind_socket(bound, true) {
                Ok(pair) => more.push(pair),
                Err(e) => {
                    tracing::warn!(endpoint = %name, %bound, error = %e, "no more sockets on the endpoint; reading with those it has");
                    break;
                }
            }
        }
        Ok(Endpoint {
            name: name.to_string(),
            listen,
            socket,
            udp,
            more,
            counters: EndpointCounters::default(),
        })
    }

    /// Every socket of the endpoint, the sending one first.
    pub fn sockets(&self) -> impl Iterator<Item = (&UdpSocket, &quinn_udp::UdpSocketState)> {
        std::iter::once((&self.socket, &self.udp)).chain(self.more.iter().map(|(s, u)| (s, u)))
    }
}

fn bind_socket(
    listen: SocketAddr,
    reuse_port: bool,
) -> io::Result<(UdpSocket, quinn_udp::UdpSocketState)> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if listen.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    size_buffers(&socket);
    // The gateway's own datagrams are marked so that no route it installs
    // can carry them into its tunnels (see `own_traffic`). Without
    // CAP_NET_ADMIN the mark is refused; kernel routes then fail too.
    if let Err(e) = super::own_traffic::mark_socket(&socket) {
        tracing::debug!(%listen, error = %e, "endpoint socket not marked");
    }
    socket.bind(&listen.into())?;
    socket.set_nonblocking(true)?;
    let socket: UdpSocket = socket.into();
    let udp = quinn_udp::UdpSocketState::new((&socket).into())?;
    restore_fragmentation(&socket, listen.is_ipv6());
    Ok((socket, udp))
}

/// The MTU of the route the endpoint's datagrams from `local` (unspecified:
/// any address) to `remote` take now, as the kernel has it (the device's,
/// or a smaller path MTU it learned): a connected, marked UDP socket's
/// `IP_MTU` / `IPV6_MTU`. Sends nothing. Above 65535 (loopback) it is
/// 65535.
pub fn route_mtu(local: IpAddr, remote: SocketAddr) -> io::Result<u16> {
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if remote.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The route of the gateway's own datagrams (see `own_traffic`).
    let _ = super::own_traffic::mark_socket(&socket);
    if !local.is_unspecified() {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    socket.connect(&remote.into())?;
    let (level, name) = if remote.is_ipv6() {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU)
    };
    let mtu = get_option(&socket, level, name)?;
    Ok(u16::try_from(mtu).unwrap_or(u16::MAX))
}

fn get_option(socket: &Socket, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is open for the call (we hold `socket`), and
    // `value` and `len` describe a c_int that lives across it.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts back the kernel's default path-MTU handling, which quinn-udp turns
/// off (it sets DF on every datagram and ignores "fragmentation needed",
/// right for QUIC, which probes its own MTU). A tunnel's datagrams must
/// still pass an uplink with a smaller MTU (PPPoE, another tunnel): the
/// kernel learns the path MTU and fragments, as with kernel WireGuard.
/// Best effort.
fn restore_fragmentation(socket: &UdpSocket, ipv6: bool) {
    let socket = socket2::SockRef::from(socket);
    let _ = if ipv6 {
        set_option(
            &socket,
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_WANT,
        )
        .and_then(|()| set_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 0))
    } else {
        set_option(
            &socket,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_WANT,
        )
    };
}

/// Sizes the socket's buffers to [`SOCKET_BUFFER`]: past the
/// net.core.{r,w}mem_max caps where we may (CAP_NET_ADMIN, the *BUFFORCE
/// options), else as far as the caps allow. Best effort either way.
fn size_buffers(socket: &Socket) {
    for (force, capped) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        let size = libc::c_int::try_from(SOCKET_BUFFER).unwrap_or(libc::c_int::MAX);
        if set_option(socket, libc::SOL_SOCKET, force, size).is_err() {
            let _ = set_option(socket, libc::SOL_SOCKET, capped, size);
        }
    }
}

fn set_option(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the descriptor is open for the call (we hold `socket`), and the
    // option value points to a c_int of the length we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_in_use_names_the_endpoint_and_the_fix() {
        let first = Endpoint::bind("az1", "127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = first.socket.local_addr().unwrap();
        let err = Endpoint::bind("az2", taken).err().unwrap().to_string();
        assert!(err.contains("endpoint az2"), "{err}");
        assert!(err.contains("already in use"), "{err}");
        assert!(err.contains("fix:"), "{err}");
    }

    #[test]
    fn buffers_are_sized_for_bursts() {
        let ep = Endpoint::bind("az1", "127.0.0.1:0".parse().unwrap()).unwrap();
        let socket = socket2::SockRef::from(&ep.socket);
        // Where this process may pass the caps (CAP_NET_ADMIN), the buffer
        // is the full size (the kernel doubles what it is given).
        let probe = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let privileged =
            set_option(&probe, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 1 << 20).is_ok();
        let rcv = socket.recv_buffer_size().unwrap();
        if privileged {
            assert!(rcv >= 2 * SOCKET_BUFFER, "receive buffer {rcv}");
        } else {
            eprintln!("no CAP_NET_ADMIN: receive buffer {rcv} (capped)");
        }
    }

    #[test]
    fn datagrams_may_be_fragmented_as_the_kernel_decides() {
        let ep = Endpoint::bind("az1", "127.0.0.1:0".parse().unwrap()).unwrap();
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: valid descriptor, value and length of a c_int.
        let rc = unsafe {
            libc::getsockopt(
                ep.socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(value, libc::IP_PMTUDISC_WANT, "not DF on every datagram");
    }

    #[test]
    fn the_route_mtu_is_the_devices() {
        // Loopback's 65536, as much as a u16 holds.
        let v4 = route_mtu("127.0.0.1".parse().unwrap(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(v4.unwrap(), u16::MAX);
        let any = route_mtu("0.0.0.0".parse().unwrap(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(any.unwrap(), u16::MAX);
        // IPv6 (IPV6_MTU) alike.
        let v6 = route_mtu("::1".parse().unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(v6.unwrap(), u16::MAX);
    }

    #[test]
    fn several_sockets_share_one_address_and_another_program_is_still_refused() {
        let ep = Endpoint::bind_many("az1", "127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let addr = ep.socket.local_addr().unwrap();
        assert_eq!(ep.sockets().count(), 3);
        for (s, _) in ep.sockets() {
            assert_eq!(s.local_addr().unwrap(), addr);
        }
        // A datagram to the address reaches one of them.
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"x", addr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let got = ep
            .sockets()
            .filter(|(s, _)| s.recv_from(&mut [0u8; 8]).is_ok())
            .count();
        assert_eq!(got, 1);
        // Another gateway on the same port: refused, as with one socket.
        let err = Endpoint::bind_many("az2", addr, 2)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already in use"), "{err}");
        let err = Endpoint::bind_many("az2", addr, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already in use"), "{err}");
    }

    #[test]
    fn foreign_address_is_refused() {
        // 192.0.2.0/24 is TEST-NET-1: never configured here.
        let err = Endpoint::bind("az1", "192.0.2.1:51820".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not an address of this machine"), "{err}");
    }
}
