//! Property tests: `frame_len` and `decode` never panic, on random bytes or
//! on random mutations of valid messages, and whatever decodes can be
//! encoded again without panicking. A seeded xorshift keeps runs
//! reproducible without a new crate.

use super::*;
use crate::bgp::codec::{encode_end_of_rib, frame_len};
use crate::bgp::message::Family;

/// A seeded generator (xorshift64*), so failures reproduce.
use crate::policy::gen::XorShift as Rng;

/// `n` random bytes.
fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Runs everything on `bytes`; only a panic fails. Returns how many of the
/// two decodes (2- and 4-octet sessions) succeeded.
fn exercise(bytes: &[u8]) -> usize {
    let _ = frame_len(bytes);
    let mut ok = 0;
    for ctx in [TWO, FOUR] {
        if let Ok(msg) = decode(bytes, &ctx) {
            ok += 1;
            let mut out = Vec::new();
            if encode(&msg, &ctx, &mut out).is_ok() {
                let _ = decode(&out, &ctx);
            }
        }
    }
    ok
}

/// Sets the header's Length field to the frame's length, so a mutated
/// message gets past the header checks to its body.
fn fix_length(bytes: &mut [u8]) {
    let len = (bytes.len().min(u16::MAX as usize) as u16).to_be_bytes();
    if let Some(field) = bytes.get_mut(16..18) {
        field.copy_from_slice(&len);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    for i in 0..20_000 {
        let len = rng.index(120);
        let mut bytes = random_bytes(&mut rng, len);
        // Most get a valid marker, length and type so the body parsers run.
        if i % 4 != 0 && bytes.len() >= 19 {
            bytes[..16].fill(0xff);
            fix_length(&mut bytes);
            bytes[18] = 1 + rng.index(5) as u8;
        }
        exercise(&bytes);
    }
}

/// Valid messages of every type to mutate.
fn seeds() -> Vec<Vec<u8>> {
    #[rustfmt::skip]
    let attrs = [
        0x80, 0x0e, 0x1a, 0x00, 0x02, 0x01, 0x10, // MP_REACH_NLRI IPv6, NH 16
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x00, 0x20, 0x20, 0x01, 0x0d, 0xb8, // 2001:db8::/32
        0x40, 0x01, 0x01, 0x00, // ORIGIN
        0x40, 0x02, 0x0a, 0x02, 0x02, 0x00, 0x00, 0xfd, 0xe8, 0xfa, 0x56, 0xea, 0x00, // AS_PATH
        0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01, // NEXT_HOP
        0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64, // MED
        0xc0, 0x07, 0x08, 0x00, 0x00, 0xfd, 0xe8, 0x0a, 0x00, 0x00, 0x09, // AGGREGATOR
        0xc0, 0x08, 0x04, 0xfd, 0xe8, 0x00, 0x01, // COMMUNITIES
        0xc0, 0x11, 0x06, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00, // AS4_PATH
        0xc0, 0x20, 0x0c, 0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2, // LARGE_COMMUNITIES
        0xc0, 0x63, 0x01, 0x00, // unknown
    ];
    #[rustfmt::skip]
    let open = [
        0x04, 0xfd, 0xe8, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, 0x10,
        0x02, 0x0e, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, 0x02, 0x00,
        0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8,
    ];
    vec![
        update_frame(&[0x18, 0x0a, 0x01, 0x02], &attrs, &[0x10, 0x0a, 0x01, 0x00]),
        update_frame(
            &[],
            &[
                0x80, 0x0f, 0x08, 0x00, 0x02, 0x01, 0x20, 0x20, 0x01, 0x0d, 0xb8,
            ],
            &[],
        ),
        encode_end_of_rib(Family::IPV6_UNICAST, &FOUR),
        frame(TYPE_OPEN, &open),
        frame(TYPE_NOTIFICATION, &[0x06, 0x02, 0x41]),
        frame(TYPE_ROUTE_REFRESH, &[0x00, 0x01, 0x00, 0x01]),
        frame(TYPE_KEEPALIVE, &[]),
    ]
}

#[test]
fn mutated_messages_never_panic() {
    let seeds = seeds();
    for seed in &seeds {
        assert!(
            decode(seed, &FOUR).is_ok(),
            "seed must be valid: {seed:02x?}"
        );
    }
    let mut rng = Rng::new(0xdead_beef_cafe_f00d);
    let mut decoded = 0;
    for i in 0..20_000 {
        let mut bytes = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.index(4) {
            mutate(&mut rng, &mut bytes);
        }
        if rng.index(4) != 0 {
            fix_length(&mut bytes);
        }
        decoded += exercise(&bytes);
    }
    // Both outcomes are exercised, not just the header checks.
    assert!(
        (5_000..35_000).contains(&decoded),
        "{decoded} of 40000 decoded"
    );
}

/// One random edit: overwrite, flip a bit, cut, insert or delete.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(rng.next_u64() as u8);
        return;
    }
    // Edits past the header are the interesting ones.
    let at = if bytes.len() > 19 && rng.index(8) != 0 {
        19 + rng.index(bytes.len() - 19)
    } else {
        rng.index(bytes.len())
    };
    match rng.index(5) {
        0 => bytes[at] = rng.next_u64() as u8,
        1 => bytes[at] ^= 1 << rng.index(8),
        2 => bytes.truncate(at),
        3 => bytes.insert(at, rng.next_u64() as u8),
        _ => {
            bytes.remove(at);
        }
    }
}
