//! The BFD control packet (RFC 5880 §4.1) without authentication section:
//! its fields, the state and diagnostic codes, and the codec with the
//! reception checks of §6.8.6 that do not depend on session state.
//!
//! Owns: the wire format. Must not: keep session state (`super::Session`).

use std::fmt;

/// Length of a control packet without authentication section (§4.1).
pub const CONTROL_LEN: usize = 24;
const VERSION: u8 = 1;
const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
/// Control Plane Independent (C, §4.1): BFD survives a control-plane restart.
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
/// Demand (D, §4.1): the sender asks that periodic packets cease (§6.6).
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

/// Session state (§4.1 "Sta", §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    fn from_code(code: u8) -> State {
        match code & 0x03 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// Diagnostic code (§4.1 "Diag"): why the session last changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// Codes 9-31, reserved for future use.
    Reserved(u8),
}

impl Diag {
    /// The diag of a 5-bit wire code (higher bits are ignored).
    pub fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }

    /// The 5-bit wire code.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("No Diagnostic"),
            Diag::ControlDetectionTimeExpired => f.write_str("Control Detection Time Expired"),
            Diag::EchoFunctionFailed => f.write_str("Echo Function Failed"),
            Diag::NeighborSignaledSessionDown => f.write_str("Neighbor Signaled Session Down"),
            Diag::ForwardingPlaneReset => f.write_str("Forwarding Plane Reset"),
            Diag::PathDown => f.write_str("Path Down"),
            Diag::ConcatenatedPathDown => f.write_str("Concatenated Path Down"),
            Diag::AdministrativelyDown => f.write_str("Administratively Down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("Reverse Concatenated Path Down"),
            Diag::Reserved(c) => write!(f, "Reserved ({c})"),
        }
    }
}

/// Why a received control packet was discarded (§6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BfdError {
    /// Fewer than 24 bytes.
    Truncated,
    /// Version other than 1.
    Version(u8),
    /// Length field below 24 or beyond the bytes received.
    Length(u8),
    ZeroDetectMult,
    Multipoint,
    ZeroMyDiscr,
    /// Your Discriminator zero while the state is Init or Up.
    ZeroYourDiscr,
    /// Authentication present: not used here.
    Auth,
    /// Poll and Final both set (§4.1).
    PollAndFinal,
}

impl fmt::Display for BfdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BfdError::Truncated => f.write_str("bfd: packet shorter than 24 bytes"),
            BfdError::Version(v) => write!(f, "bfd: version {v}"),
            BfdError::Length(l) => write!(f, "bfd: bad length field {l}"),
            BfdError::ZeroDetectMult => f.write_str("bfd: detect mult 0"),
            BfdError::Multipoint => f.write_str("bfd: multipoint bit set"),
            BfdError::ZeroMyDiscr => f.write_str("bfd: my discriminator 0"),
            BfdError::ZeroYourDiscr => f.write_str("bfd: your discriminator 0 in Init/Up"),
            BfdError::Auth => f.write_str("bfd: authentication not supported"),
            BfdError::PollAndFinal => f.write_str("bfd: poll and final both set"),
        }
    }
}

impl std::error::Error for BfdError {}

/// A BFD control packet without authentication section (§4.1). Times are in
/// microseconds, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: u8,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub detect_mult: u8,
    pub my_discr: u32,
    pub your_discr: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub required_min_echo_rx_us: u32,
    /// C: the sender's BFD does not share fate with its control plane
    /// (§4.1). We send it clear: our BFD runs in the control thread.
    pub control_plane_independent: bool,
    /// D: the sender runs demand mode (§6.6). We send it clear.
    pub demand: bool,
}

impl ControlPacket {
    /// Encodes version 1, Length 24, A/D/M bits clear.
    pub fn encode(&self) -> [u8; CONTROL_LEN] {
        let mut flags = self.state.code() << 6;
        if self.control_plane_independent {
            flags |= FLAG_CPI;
        }
        if self.poll {
            flags |= FLAG_POLL;
        }
        if self.final_ {
            flags |= FLAG_FINAL;
        }
        if self.demand {
            flags |= FLAG_DEMAND;
        }
        let mut out = [0u8; CONTROL_LEN];
        let words = [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ];
        let head = [
            VERSION << 5 | (self.diag & 0x1f),
            flags,
            self.detect_mult,
            24,
        ];
        for (chunk, bytes) in out
            .chunks_exact_mut(4)
            .zip(std::iter::once(head).chain(words.map(u32::to_be_bytes)))
        {
            chunk.copy_from_slice(&bytes);
        }
        out
    }

    /// Decodes a control packet, applying the reception checks of §6.8.6
    /// that do not depend on session state. Bytes past the Length field are
    /// ignored.
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, BfdError> {
        let b: &[u8; CONTROL_LEN] = buf
            .get(..CONTROL_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(BfdError::Truncated)?;
        // In bounds: `b` holds exactly 24 bytes.
        let word = |i: usize| {
            b.get(i..i + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map_or(0, u32::from_be_bytes)
        };
        let [b0, flags, detect_mult, length, ..] = *b;
        if b0 >> 5 != VERSION {
            return Err(BfdError::Version(b0 >> 5));
        }
        if usize::from(length) < CONTROL_LEN || usize::from(length) > buf.len() {
            return Err(BfdError::Length(length));
        }
        if flags & FLAG_AUTH != 0 {
            return Err(BfdError::Auth);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(BfdError::Multipoint);
        }
        let pkt = ControlPacket {
            diag: b0 & 0x1f,
            state: State::from_code(flags >> 6),
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            detect_mult,
            my_discr: word(4),
            your_discr: word(8),
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
            control_plane_independent: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
        };
        pkt.check()?;
        Ok(pkt)
    }

    /// The field checks of §6.8.6 (shared by `decode` and `handle_packet`).
    pub(super) fn check(&self) -> Result<(), BfdError> {
        if self.detect_mult == 0 {
            return Err(BfdError::ZeroDetectMult);
        }
        if self.my_discr == 0 {
            return Err(BfdError::ZeroMyDiscr);
        }
        if self.your_discr == 0 && !matches!(self.state, State::Down | State::AdminDown) {
            return Err(BfdError::ZeroYourDiscr);
        }
        if self.poll && self.final_ {
            return Err(BfdError::PollAndFinal);
        }
        Ok(())
    }
}
