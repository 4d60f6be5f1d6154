//! Known answers for the construction, computed with an independent
//! implementation (Python's hashlib BLAKE2s and hmac module), and the
//! agreement of transport keys with boringtun (see `interop`: data both ways
//! proves both sides derived the same two keys).

use std::time::{Duration, Instant};

use crate::wg::crypto::{hash, kdf, mac};
use crate::wg::handshake::Tai64nClock;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn initial_chaining_key_and_hash() {
    let ck = hash(&[b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"]);
    assert_eq!(
        hex(&ck),
        "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
    );
    let h = hash(&[&ck, b"WireGuard v1 zx2c4 Jason@zx2c4.com"]);
    assert_eq!(
        hex(&h),
        "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3"
    );
}

#[test]
fn kdf_and_mac() {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let [t1, t2, t3] = kdf::<3>(&key, b"input");
    assert_eq!(
        hex(&t1[..]),
        "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040"
    );
    assert_eq!(
        hex(&t2[..]),
        "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824"
    );
    assert_eq!(
        hex(&t3[..]),
        "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9"
    );
    // KDF1 and KDF2 are prefixes of KDF3.
    let [k1] = kdf::<1>(&key, b"input");
    assert_eq!(k1, t1);
    assert_eq!(
        hex(&mac(&key, &[b"mess", b"age"])),
        "2b75eb9c63ca8524ff53d01905b406eb"
    );
}

#[test]
fn tai64n_timestamps_order_and_whitening() {
    let base = Instant::now();
    let c = Tai64nClock::new(base, Duration::new(1_700_000_000, 999_999_999));
    let t0 = c.timestamp(base);
    // Label: 2^62 + 10 + seconds, big-endian.
    assert_eq!(
        u64::from_be_bytes(t0[..8].try_into().expect("8")),
        0x4000_0000_0000_000a + 1_700_000_000
    );
    // Nanoseconds rounded down to a multiple of 2^24.
    let nanos = u32::from_be_bytes(t0[8..].try_into().expect("4"));
    assert_eq!(nanos % (1 << 24), 0);
    assert!(nanos <= 999_999_999 && 999_999_999 - nanos < 1 << 24);
    let t1 = c.timestamp(base + Duration::from_millis(20));
    assert!(t1 > t0, "byte order is time order");
    assert!(c.timestamp(base + Duration::from_secs(1)) > t1);
}
