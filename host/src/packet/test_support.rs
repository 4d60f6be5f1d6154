//! Test helpers over packet bytes, written independently of the module's
//! own checksum code so that tests check it rather than repeat it.

/// The plain RFC 1071 Internet checksum of `bytes` (0 when `bytes` already
/// carries a correct checksum).
pub fn plain_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let lo = if pair.len() == 2 { pair[1] } else { 0 };
        sum += u32::from(pair[0]) << 8 | u32::from(lo);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum of `p` after a test edited it.
pub fn fix_ipv4_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10..12].fill(0);
    let c = plain_checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}
