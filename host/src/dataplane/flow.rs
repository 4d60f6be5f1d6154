//! What names a flow, and the two uses of it: the ECMP hash that keeps a
//! flow on one tunnel, and the TUN queue a flow is written through (the same
//! for both directions). Pure functions over untrusted bytes: anything
//! short or odd hashes as far as it goes, never a panic.

/// The fields that name a flow.
struct Flow<'a> {
    /// Source and destination address, as in the packet (8 or 32 bytes).
    addrs: &'a [u8],
    proto: u8,
    /// Source and destination port of TCP and UDP; None for other
    /// protocols, for fragments (they carry no ports, or someone else's:
    /// all fragments of a datagram must go the same way) and when the
    /// packet is too short.
    ports: Option<&'a [u8; 4]>,
}

fn flow(pkt: &[u8]) -> Option<Flow<'_>> {
    let (addrs, proto, l4) = match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(pkt.first().copied().unwrap_or(0) & 0x0f) * 4;
            let frag = pkt
                .get(6..8)
                .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & 0x3fff != 0);
            (pkt.get(12..20)?, *pkt.get(9)?, (!frag).then_some(ihl))
        }
        Some(6) => (pkt.get(8..40)?, *pkt.get(6)?, Some(40)),
        _ => return None,
    };
    let ports = match proto {
        6 | 17 => l4
            .and_then(|at| pkt.get(at..at.checked_add(4)?))
            .and_then(|p| p.try_into().ok()),
        _ => None,
    };
    Some(Flow {
        addrs,
        proto,
        ports,
    })
}

/// FNV-1a, one run of bytes at a time.
fn mix(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// A hash of the packet's addresses, protocol and ports, so that all packets
/// of one flow take the same tunnel when several are active (ECMP).
pub fn flow_hash(pkt: &[u8]) -> u64 {
    let Some(f) = flow(pkt) else {
        return mix(FNV_BASIS, &[0]);
    };
    let h = mix(mix(FNV_BASIS, f.addrs), &[f.proto]);
    f.ports.map_or(h, |p| mix(h, p))
}

/// The TUN queue (of `queues`) a packet's flow is written through: the same
/// for both directions of a flow (its two ends, address and port, taken in
/// sorted order), so that the kernel reads the flow's other direction from
/// that queue too. 0 for anything that is not IPv4 or IPv6.
pub fn flow_queue(pkt: &[u8], queues: usize) -> usize {
    if queues <= 1 {
        return 0;
    }
    let Some(f) = flow(pkt) else {
        return 0;
    };
    let (src, dst) = f.addrs.split_at(f.addrs.len() / 2);
    let (sport, dport) = f.ports.map_or((&[][..], &[][..]), |p| p.split_at(2));
    let (a, b) = if (src, sport) <= (dst, dport) {
        ((src, sport), (dst, dport))
    } else {
        ((dst, dport), (src, sport))
    };
    let h = [a.0, a.1, b.0, b.1, &[f.proto]]
        .iter()
        .fold(FNV_BASIS, |h, part| mix(h, part));
    (h % queues as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_or_a_short_packet_hashes_without_ports_and_never_panics() {
        // An IPv4 UDP fragment (MF set): no ports read.
        let mut frag = vec![0u8; 24];
        frag[0] = 0x45;
        frag[6] = 0x20;
        frag[9] = 17;
        frag[12..16].copy_from_slice(&[10, 1, 0, 10]);
        frag[16..20].copy_from_slice(&[10, 2, 0, 10]);
        let q = flow_queue(&frag, 4);
        assert!(q < 4);
        let mut other_ports = frag.clone();
        other_ports[20..24].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(flow_hash(&frag), flow_hash(&other_ports));
        assert_eq!(flow_queue(&other_ports, 4), q);
        for len in 0..frag.len() {
            let _ = (flow_hash(&frag[..len]), flow_queue(&frag[..len], 4));
        }
    }
}
