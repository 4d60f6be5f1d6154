//! `udp-garbage TARGET COUNT [SEED]`: sends COUNT garbage UDP datagrams to
//! TARGET (`ADDR:PORT`), for robustness tests of a WireGuard endpoint. The
//! first ones are crafted to look like WireGuard messages (a bare 4-byte type
//! header, a 148-byte handshake initiation, a 92-byte response, a 64-byte
//! cookie reply, a data message with a random receiver index), the rest are
//! random bytes of random length. Paced (about 5k/s) so the kernel's socket
//! buffer does not drop them before the gateway sees them. Prints `sent N`.

use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sitelink_lab::rng::Rng;

fn with_header(kind: u8, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut d = vec![kind, 0, 0, 0];
    d.extend(rng.bytes(len - 4));
    d
}

fn crafted(i: u32, rng: &mut Rng) -> Option<Vec<u8>> {
    Some(match i {
        0 => vec![4, 0, 0, 0],
        1 => rng.bytes(4),
        2 => with_header(1, 148, rng),
        3 => with_header(2, 92, rng),
        4 => with_header(3, 64, rng),
        // Data: type 4, random receiver index and counter, 32 bytes of "ciphertext".
        5 | 6 => with_header(4, 16 + 32, rng),
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: udp-garbage ADDR:PORT COUNT [SEED]");
        std::process::exit(2);
    }
    let target = &args[1];
    let count: u32 = args[2].parse().expect("COUNT is a number");
    let seed = args
        .get(3)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut rng = Rng::new(seed);
    let bind = if target.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let sock = UdpSocket::bind(bind).expect("bind");
    let mut sent = 0u32;
    for i in 0..count {
        let d = crafted(i, &mut rng).unwrap_or_else(|| {
            let len = 1 + (rng.next_u64() % 1400) as usize;
            rng.bytes(len)
        });
        match sock.send_to(&d, target) {
            Ok(_) => sent += 1,
            Err(e) => eprintln!("send {i}: {e}"),
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    println!("sent {sent}");
}
