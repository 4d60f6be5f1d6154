//! Tests of the BFD codec and session with a fake clock: a base `Instant`
//! plus `Duration`s, two sessions wired back to back through encode/decode.

use super::*;

const IV: Duration = Duration::from_millis(200);

fn pkt(state: State, my: u32, your: u32) -> ControlPacket {
    ControlPacket {
        diag: 0,
        state,
        poll: false,
        final_: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: your,
        desired_min_tx_us: 200_000,
        required_min_rx_us: 200_000,
        required_min_echo_rx_us: 0,
        control_plane_independent: false,
        demand: false,
    }
}

/// Two sessions and a lossless, zero-delay wire that can be cut per direction.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
    ab: bool,
    ba: bool,
    last_ab: Option<Instant>,
    log: Vec<(char, Instant, Transition)>,
}

impl Pair {
    fn new(base: Instant) -> Pair {
        Pair {
            a: Session::new(0x1111, IV, 3, base, 1),
            b: Session::new(0x2222, IV, 3, base, 2),
            now: base,
            ab: true,
            ba: true,
            last_ab: None,
            log: Vec::new(),
        }
    }

    /// Advances to the next timeout of either session and runs it.
    fn step(&mut self) {
        let next = self.a.poll_timeout().min(self.b.poll_timeout());
        assert!(next >= self.now, "time went backwards");
        self.now = next;
        let now = self.now;
        for (name, t) in [
            ('a', self.a.handle_timeout(now)),
            ('b', self.b.handle_timeout(now)),
        ] {
            self.log.extend(t.map(|t| (name, now, t)));
        }
        loop {
            let mut sent = false;
            while let Some(p) = self.a.poll_transmit(now) {
                sent = true;
                if self.ab {
                    self.last_ab = Some(now);
                    let d = ControlPacket::decode(&p.encode()).unwrap();
                    self.log
                        .extend(self.b.handle_packet(&d, now).map(|t| ('b', now, t)));
                }
            }
            while let Some(p) = self.b.poll_transmit(now) {
                sent = true;
                if self.ba {
                    let d = ControlPacket::decode(&p.encode()).unwrap();
                    self.log
                        .extend(self.a.handle_packet(&d, now).map(|t| ('a', now, t)));
                }
            }
            if !sent {
                break;
            }
        }
    }

    fn run_until(&mut self, limit: Instant, done: impl Fn(&Pair) -> bool) -> Option<Instant> {
        while self.now <= limit {
            if done(self) {
                return Some(self.now);
            }
            self.step();
        }
        None
    }

    fn both_up(p: &Pair) -> bool {
        p.a.state() == State::Up && p.b.state() == State::Up
    }
}

#[test]
fn codec_round_trip() {
    let p = ControlPacket {
        diag: 3,
        state: State::Up,
        poll: true,
        final_: false,
        detect_mult: 3,
        my_discr: 0x0102_0304,
        your_discr: 0x0a0b_0c0d,
        desired_min_tx_us: 200_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        control_plane_independent: false,
        demand: false,
    };
    let bytes = p.encode();
    assert_eq!(
        bytes,
        [
            0x23, 0xe0, 3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 3, 0x0d, 0x40, 0, 4, 0x93,
            0xe0, 0, 0, 0, 0
        ]
    );
    assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0xff; 4]);
    assert_eq!(ControlPacket::decode(&longer), Ok(p));
    assert_eq!(Diag::from_code(3), Diag::NeighborSignaledSessionDown);
    assert_eq!(Diag::from_code(20).code(), 20);
    assert_eq!(
        Transition {
            from: State::Up,
            to: State::Down,
            diag: Diag::from_code(1)
        }
        .to_string(),
        "Up -> Down (Control Detection Time Expired)"
    );
}

#[test]
fn decode_rejects_malformed() {
    let good = pkt(State::Up, 7, 9).encode();
    let with = |i: usize, v: u8| {
        let mut b = good;
        b[i] = v;
        b
    };
    let cases: [(&str, [u8; 24], BfdError); 9] = [
        ("version 0", with(0, 0x00), BfdError::Version(0)),
        ("version 2", with(0, 0x40), BfdError::Version(2)),
        ("length 23", with(3, 23), BfdError::Length(23)),
        ("length 25", with(3, 25), BfdError::Length(25)),
        ("detect mult 0", with(2, 0), BfdError::ZeroDetectMult),
        ("multipoint", with(1, 0xc1), BfdError::Multipoint),
        ("auth", with(1, 0xc4), BfdError::Auth),
        ("my discr 0", with(7, 0), BfdError::ZeroMyDiscr),
        ("poll+final", with(1, 0xf0), BfdError::PollAndFinal),
    ];
    for (name, bytes, err) in cases {
        assert_eq!(ControlPacket::decode(&bytes), Err(err), "{name}");
        assert!(!err.to_string().is_empty());
    }
    // Your discr 0 is fine in Down/AdminDown, not in Init/Up.
    for (state, ok) in [
        (State::AdminDown, true),
        (State::Down, true),
        (State::Init, false),
        (State::Up, false),
    ] {
        let r = ControlPacket::decode(&pkt(state, 7, 0).encode());
        assert_eq!(r.is_ok(), ok, "{state}");
    }
    assert_eq!(ControlPacket::decode(&good[..23]), Err(BfdError::Truncated));
}

#[test]
fn decode_never_panics() {
    let good = pkt(State::Init, 7, 9).encode();
    for n in 0..good.len() {
        assert!(ControlPacket::decode(&good[..n]).is_err());
    }
    let mut x: u64 = 0xdead_beef_cafe_f00d;
    let mut buf = [0u8; 40];
    for i in 0..10_000 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        if i % 2 == 0 {
            buf[0] = 0x20 | (buf[0] & 0x1f); // version 1: reach the deeper checks
            buf[3] = 24 + (buf[3] % 17);
        }
        let len = i % 41;
        if let Ok(p) = ControlPacket::decode(&buf[..len]) {
            assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
    }
}

#[test]
fn comes_up_fails_and_recovers() {
    let base = Instant::now();
    let mut p = Pair::new(base);
    let up = p
        .run_until(base + 5 * IV, Pair::both_up)
        .expect("never came up");
    assert!(up <= base + 2 * IV, "up after {:?}", up - base);
    assert_eq!(p.a.remote_discr(), 0x2222);
    assert_eq!(p.b.remote_discr(), 0x1111);

    // Run a while: stays Up.
    let t = p.now;
    p.run_until(t + 10 * IV, |_| false);
    assert!(Pair::both_up(&p));

    // Cut A -> B: B detects after 3 x 200 ms, then tells A.
    p.ab = false;
    let stop_log = p.log.len();
    let down = p
        .run_until(p.now + 10 * IV, |p| p.b.state() == State::Down)
        .unwrap();
    let since = down - p.last_ab.unwrap();
    assert!(
        since >= 3 * IV && since <= 3 * IV + IV,
        "down after {since:?}"
    );
    let (who, _, tr) = p.log[stop_log];
    assert_eq!((who, tr.from, tr.to), ('b', State::Up, State::Down));
    assert_eq!(tr.diag, Diag::ControlDetectionTimeExpired);
    let a_down = p.run_until(p.now + 2 * IV, |p| p.a.state() == State::Down);
    assert!(a_down.is_some());
    let tr = p.log.iter().rev().find(|l| l.0 == 'a').unwrap().2;
    assert_eq!(tr.diag, Diag::NeighborSignaledSessionDown);

    // Resume: back Up within a few intervals.
    p.ab = true;
    let t = p.now;
    let up = p
        .run_until(t + 10 * IV, Pair::both_up)
        .expect("never recovered");
    assert!(up - t <= 3 * IV, "recovered after {:?}", up - t);
}

#[test]
fn wrong_your_discr_ignored() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    assert_eq!(s.handle_packet(&pkt(State::Down, 77, 6), now), None);
    assert_eq!((s.state(), s.remote_discr()), (State::Down, 0));
    let t = s.handle_packet(&pkt(State::Down, 77, 0), now).unwrap();
    assert_eq!((t.from, t.to), (State::Down, State::Init));
    assert_eq!(s.handle_packet(&pkt(State::Up, 77, 4), now), None);
    assert_eq!(s.state(), State::Init);
    let t = s.handle_packet(&pkt(State::Up, 77, 5), now).unwrap();
    assert_eq!((t.to, s.remote_discr()), (State::Up, 77));
    // A hand-built packet failing the field checks is ignored too.
    assert_eq!(s.handle_packet(&pkt(State::Down, 0, 5), now), None);
    assert_eq!(s.state(), State::Up);
}

#[test]
fn remote_admin_down_poll_final_and_local_admin_down() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    assert_eq!(s.state(), State::Up);
    assert!(s.poll_transmit(now).is_some());
    assert!(s.poll_transmit(now).is_none());

    let mut poll = pkt(State::Up, 8, 5);
    poll.poll = true;
    assert_eq!(s.handle_packet(&poll, now), None);
    assert_eq!(s.poll_timeout(), now);
    let f = s.poll_transmit(now).unwrap();
    assert!(f.final_ && !f.poll);
    assert!(s.poll_transmit(now).is_none());

    let t = s.handle_packet(&pkt(State::AdminDown, 8, 5), now).unwrap();
    assert_eq!(
        (t.to, t.diag),
        (State::Down, Diag::NeighborSignaledSessionDown)
    );
    assert_eq!(s.handle_packet(&pkt(State::AdminDown, 8, 5), now), None);

    let t = s.set_admin_down(true).unwrap();
    assert_eq!(
        (t.to, t.diag),
        (State::AdminDown, Diag::AdministrativelyDown)
    );
    assert_eq!(s.set_admin_down(true), None);
    assert_eq!(s.handle_packet(&pkt(State::Down, 8, 5), now), None);
    let later = now + IV;
    let p = s.poll_transmit(later).unwrap();
    assert_eq!((p.state, p.diag), (State::AdminDown, 7));
    assert_eq!(s.set_admin_down(false).unwrap().to, State::Down);
}

#[test]
fn detection_expiry_forgets_remote() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    let mut p = pkt(State::Down, 8, 0);
    p.desired_min_tx_us = 500_000;
    p.detect_mult = 2;
    s.handle_packet(&p, now);
    assert_eq!(s.state(), State::Init);
    // Detection time = 2 x max(200 ms, 500 ms) = 1 s.
    assert_eq!(s.handle_timeout(now + Duration::from_millis(999)), None);
    let t = s.handle_timeout(now + Duration::from_secs(1)).unwrap();
    assert_eq!((t.from, t.to), (State::Init, State::Down));
    assert_eq!(s.remote_discr(), 0);
    assert_eq!(s.handle_timeout(now + Duration::from_secs(5)), None);
}

#[test]
fn remote_min_rx_zero_stops_periodic() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    let mut p = pkt(State::Down, 8, 0);
    p.required_min_rx_us = 0;
    s.handle_packet(&p, now);
    for i in 0..5 {
        assert!(s.poll_transmit(now + IV * i).is_none());
    }
    assert!(s.poll_timeout() > now);
}

#[test]
fn transmit_interval_and_jitter() {
    for (mult, lo_pct, hi_pct) in [(3u8, 75u32, 100u32), (1, 75, 90)] {
        let base = Instant::now();
        let mut s = Session::new(5, IV, mult, base, 0x1234_5678);
        let mut now = base;
        assert!(s.poll_transmit(now).is_some(), "first packet at once");
        let (mut min, mut max) = (Duration::MAX, Duration::ZERO);
        for _ in 0..2000 {
            let next = s.poll_timeout();
            assert!(s.poll_transmit(next - Duration::from_micros(1)).is_none());
            let gap = next - now;
            min = min.min(gap);
            max = max.max(gap);
            now = next;
            assert!(s.poll_transmit(now).is_some());
        }
        assert!(min >= IV * lo_pct / 100, "mult {mult}: min {min:?}");
        assert!(max <= IV * hi_pct / 100, "mult {mult}: max {max:?}");
        // Not constant: the jitter does spread.
        assert!(max - min > IV / 10, "mult {mult}: {min:?}..{max:?}");
    }
    // The remote's larger required min RX wins.
    let base = Instant::now();
    let mut s = Session::new(5, IV, 3, base, 3);
    let mut p = pkt(State::Down, 8, 0);
    p.required_min_rx_us = 1_000_000;
    s.handle_packet(&p, base);
    s.poll_transmit(base);
    let gap = s.next_tx - base;
    assert!(gap >= Duration::from_millis(750) && gap <= Duration::from_secs(1));
}

#[test]
fn new_timers_go_through_a_poll_sequence_and_nobody_expires() {
    let base = Instant::now();
    let mut p = Pair::new(base);
    p.run_until(base + Duration::from_secs(5), Pair::both_up)
        .expect("up");
    // a slows down to 1 s: announced with Poll, in force after the Final.
    p.a.set_timers(Duration::from_secs(1), 3, p.now);
    assert_eq!(p.a.interval(), IV, "not before the peer answered");
    let t = p.now;
    p.run_until(t + Duration::from_secs(2), |p| {
        p.a.interval() == Duration::from_secs(1)
    })
    .expect("the Poll Sequence ended");
    // Ten seconds at the new pace: both stay up, a sends about once a second.
    let t = p.now;
    let before = p.log.len();
    let mut sent = 0;
    let mut last = None;
    while p.now < t + Duration::from_secs(10) {
        p.step();
        if p.last_ab != last {
            sent += 1;
            last = p.last_ab;
        }
    }
    assert_eq!(p.log.len(), before, "no transition: {:?}", &p.log[before..]);
    assert!(Pair::both_up(&p));
    // About one periodic packet a second, and a Final for each of b's
    // measuring Polls (one a second); at 200 ms it would be over 50.
    assert!((9..=25).contains(&sent), "a sent {sent} packets in 10 s");
    // Back to 200 ms: b (whose required min RX is 200 ms) shortens its
    // detection time for a as soon as a's Poll announces it, so a sends at
    // the new pace at once (RFC 5880 6.8.3 holds back only an increase),
    // and nobody expires.
    let before = p.log.len();
    p.a.set_timers(IV, 3, p.now);
    let t = p.now;
    p.run_until(t + Duration::from_secs(3), |p| p.a.interval() == IV)
        .expect("back to 200 ms");
    let t = p.now;
    p.run_until(t + Duration::from_secs(5), |_| false);
    assert_eq!(p.log.len(), before, "no transition: {:?}", &p.log[before..]);
    assert!(Pair::both_up(&p));
    let mut down = Session::new(9, IV, 3, base, 3);
    down.set_timers(Duration::from_millis(50), 5, base);
    assert_eq!(down.interval(), Duration::from_millis(50));
    let first = down.poll_transmit(base).expect("a packet");
    assert!(!first.poll && first.detect_mult == 5);
}

/// A timer change announced in a Poll Sequence that the session's going
/// down cut short is not taken up by the next Final: a change made while
/// Down is the one in force.
#[test]
fn a_timer_change_while_down_is_not_undone_by_an_earlier_poll() {
    let base = Instant::now();
    let mut p = Pair::new(base);
    p.run_until(base + Duration::from_secs(5), Pair::both_up)
        .expect("up");
    p.a.set_timers(Duration::from_secs(1), 3, p.now);
    // The path fails before b answers the Poll.
    (p.ab, p.ba) = (false, false);
    let t = p.now;
    p.run_until(t + Duration::from_secs(5), |p| p.a.state() == State::Down)
        .expect("down");
    let half = Duration::from_millis(500);
    p.a.set_timers(half, 3, p.now);
    assert_eq!(p.a.interval(), half);
    (p.ab, p.ba) = (true, true);
    let t = p.now;
    p.run_until(t + Duration::from_secs(10), Pair::both_up)
        .expect("up again");
    let t = p.now;
    p.run_until(t + Duration::from_secs(3), |_| false);
    assert_eq!(
        p.a.interval(),
        half,
        "the 1 s of the cut Poll is not in force"
    );
}

#[test]
fn an_up_session_measures_the_round_trip_with_a_poll_each_second() {
    let base = Instant::now();
    let mut p = Pair::new(base);
    p.run_until(base + Duration::from_secs(5), Pair::both_up)
        .expect("up");
    let t = p.now;
    p.run_until(t + Duration::from_secs(10), |_| false);
    let s = p.a.stats();
    // The wire has no delay: every Poll is answered at once.
    assert_eq!(s.rtt, Some(Duration::ZERO));
    assert!((8..=12).contains(&s.answers), "{s:?}");
    assert_eq!(s.requests, s.answers);
    assert_eq!(s.loss_permille(), Some(0));
    assert!(Pair::both_up(&p));
}

#[test]
fn the_loss_ratio_counts_the_latest_outcomes() {
    let mut s = crate::liveness::ProbeStats::default();
    assert_eq!(s.loss_permille(), None);
    s.answered(Duration::from_millis(3));
    s.lost();
    assert_eq!(s.loss_permille(), Some(500));
    for _ in 0..40 {
        s.answered(Duration::from_millis(2));
    }
    assert_eq!(s.loss_permille(), Some(0), "the loss left the window");
    for _ in 0..8 {
        s.lost();
    }
    assert_eq!(s.loss_permille(), Some(250));
    assert_eq!((s.requests, s.answers), (50, 41));
    assert_eq!(s.rtt, Some(Duration::from_millis(2)));
}

#[test]
fn the_c_bit_is_read_and_written_and_a_session_remembers_the_peers() {
    // Version 1, Up, C set: flags byte 0b11_0_0_1_000.
    let mut p = pkt(State::Up, 7, 9);
    p.control_plane_independent = true;
    let bytes = p.encode();
    assert_eq!(bytes[1], 0xc8);
    assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    let base = Instant::now();
    let mut s = Session::new(9, IV, 3, base, 1);
    assert!(!s.remote_shares_fate(), "nothing heard yet: unknown");
    s.handle_packet(&pkt(State::Down, 7, 0), base);
    assert!(s.remote_shares_fate(), "C clear: shares fate");
    s.handle_packet(&p, base);
    assert!(!s.remote_shares_fate(), "C set: independent");
}

#[test]
fn a_peers_slow_timers_cannot_stretch_detection_past_the_local_cap() {
    let t0 = Instant::now();
    let mut s = Session::new(0x1111, IV, 3, t0, 7);
    let cap = s.max_detection_time();
    assert_eq!(cap, 10 * 3 * IV, "ten times our own 600 ms");
    // The peer announces the slowest timers the packet can carry.
    let mut slow = pkt(State::Init, 0x2222, 0x1111);
    slow.desired_min_tx_us = u32::MAX;
    slow.detect_mult = 255;
    s.handle_packet(&pkt(State::Down, 0x2222, 0), t0);
    let up = s.handle_packet(&slow, t0 + IV).expect("comes up");
    assert_eq!(up.to, State::Up);
    assert!(s.remote_timers_capped());
    assert!(s.newly_capped(), "said once");
    s.handle_packet(&slow, t0 + IV * 2);
    assert!(!s.newly_capped(), "and not again");
    // Then nothing arrives: Down at the cap, not in 12 days.
    let last = t0 + IV * 2;
    assert!(
        s.poll_timeout() <= last + cap,
        "the caller is woken by the cap"
    );
    assert!(s
        .handle_timeout(last + cap - Duration::from_millis(1))
        .is_none());
    let down = s.handle_timeout(last + cap).expect("detected at the cap");
    assert_eq!(
        (down.to, down.diag),
        (State::Down, Diag::ControlDetectionTimeExpired)
    );
}

#[test]
fn a_peer_on_slower_but_common_timers_is_not_capped() {
    let t0 = Instant::now();
    let mut s = Session::new(0x1111, IV, 3, t0, 7);
    // 1 s × 5, slower than ours: the RFC's 5 s applies, inside the cap.
    let mut peer = pkt(State::Init, 0x2222, 0x1111);
    peer.desired_min_tx_us = 1_000_000;
    peer.detect_mult = 5;
    s.handle_packet(&pkt(State::Down, 0x2222, 0), t0);
    s.handle_packet(&peer, t0).expect("comes up");
    assert!(!s.remote_timers_capped());
    let five = Duration::from_secs(5);
    assert!(s
        .handle_timeout(t0 + five - Duration::from_millis(1))
        .is_none());
    assert!(s.handle_timeout(t0 + five).is_some());
}

#[test]
fn each_side_knows_how_long_the_other_waits_for_it() {
    let base = Instant::now();
    let mut p = Pair::new(base);
    p.a = Session::new(0x1111, Duration::from_secs(1), 5, base, 1);
    p.run_until(base + Duration::from_secs(10), Pair::both_up)
        .expect("both up");
    // What one side says it waits for the other (§6.8.4) is what the other
    // computes from its own timers: how long an AdminDown must last.
    assert_eq!(p.a.peer_detection_time(), Duration::from_secs(5));
    assert_eq!(p.b.peer_detection_time(), Duration::from_secs(3));
    assert_eq!(p.a.peer_detection_time(), p.b.detection_time());
    assert_eq!(p.b.peer_detection_time(), p.a.detection_time());
}

#[test]
fn an_admin_down_session_answers_no_poll() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    assert!(s.set_admin_down(true).is_some());
    while s.poll_transmit(now).is_some() {}
    let mut poll = pkt(State::Up, 8, 5);
    poll.poll = true;
    s.handle_packet(&poll, now);
    // §6.8.6: discarded before the Poll is answered; only the periodic
    // AdminDown packet goes, and it carries no Final.
    assert!(s.poll_transmit(now).is_none());
    let p = s.poll_transmit(now + IV).unwrap();
    assert_eq!((p.state, p.final_), (State::AdminDown, false));
}

#[test]
fn the_demand_bit_is_read_and_a_peers_demand_mode_stops_our_periodic_packets() {
    let mut demanding = pkt(State::Up, 8, 5);
    demanding.demand = true;
    let bytes = demanding.encode();
    assert_eq!(bytes[1] & 0x02, 0x02);
    assert_eq!(ControlPacket::decode(&bytes), Ok(demanding));

    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    assert_eq!(s.state(), State::Up);
    // Not yet: the peer said Init in its latest packet.
    let mut init_demanding = pkt(State::Init, 8, 5);
    init_demanding.demand = true;
    s.handle_packet(&init_demanding, now);
    assert!(!s.remote_demands());
    assert!(s.poll_transmit(now).is_some());

    s.handle_packet(&demanding, now);
    assert!(s.remote_demands());
    for i in 1..10 {
        assert_eq!(s.poll_transmit(now + IV * i), None, "periodic packet {i}");
    }
    // Its Polls are still answered, and its packets keep our detection.
    let t = now + IV * 10;
    let mut poll = demanding;
    poll.poll = true;
    assert_eq!(s.handle_packet(&poll, t), None);
    let f = s.poll_transmit(t).unwrap();
    assert!(f.final_ && !f.demand);
    assert_eq!(s.poll_transmit(t), None);
    assert_eq!(s.handle_timeout(t + Duration::from_millis(599)), None);
    assert_eq!(s.state(), State::Up);

    // Once it leaves demand mode, our packets come back.
    let t2 = t + IV;
    s.handle_packet(&pkt(State::Up, 8, 5), t2);
    assert!(!s.remote_demands());
    assert!(s.poll_transmit(t2 + IV).is_some());
}

#[test]
fn malformed_packets_are_warned_of_once_a_minute_with_their_count() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    assert_eq!(s.malformed(now), Some(1));
    for i in 1..250u32 {
        assert_eq!(s.malformed(now + Duration::from_millis(i.into())), None);
    }
    assert_eq!(s.malformed(now + MALFORMED_WARN_EVERY), Some(250));
    assert_eq!(s.malformed(now + MALFORMED_WARN_EVERY * 2), Some(1));
}

#[test]
fn under_a_peers_demand_mode_new_timers_still_go_out_in_a_poll_sequence() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    let mut demanding = pkt(State::Up, 8, 5);
    demanding.demand = true;
    s.handle_packet(&demanding, now);
    while s.poll_transmit(now).is_some() {}
    s.set_timers(IV * 2, 3, now);
    let p = s.poll_transmit(now + IV).unwrap();
    assert!(p.poll);
    assert_eq!(p.desired_min_tx_us, 400_000);
    let mut fin = demanding;
    fin.final_ = true;
    s.handle_packet(&fin, now + IV);
    assert_eq!(s.interval(), IV * 2);
    assert_eq!(s.poll_transmit(now + IV * 4), None);
}

#[test]
fn a_round_trip_ends_when_the_final_was_read_not_when_the_control_loop_took_it() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    let p = s.poll_transmit(now).unwrap();
    assert!(p.poll, "an Up session's first packet measures");
    let mut fin = pkt(State::Up, 8, 5);
    fin.final_ = true;
    let read = now + Duration::from_millis(3);
    s.handle_received(&fin, read, now + Duration::from_millis(50));
    assert_eq!(s.stats().rtt, Some(Duration::from_millis(3)));
}

#[test]
fn a_final_read_before_the_poll_went_out_measures_nothing() {
    let now = Instant::now();
    let mut s = Session::new(5, IV, 3, now, 9);
    s.handle_packet(&pkt(State::Init, 8, 5), now);
    let later = now + Duration::from_millis(10);
    assert!(s.poll_transmit(now).unwrap().poll);
    let mut fin = pkt(State::Up, 8, 5);
    fin.final_ = true;
    // Read by the data path before the Poll was sent (a late answer to an
    // earlier one), handled after.
    s.handle_received(&fin, now - Duration::from_millis(1), later);
    assert_eq!(s.stats().answers, 0);
    s.handle_received(&fin, now + Duration::from_millis(4), later);
    assert_eq!(s.stats().rtt, Some(Duration::from_millis(4)));
}
