//! The primitives of the whitepaper's section 5.4, over RustCrypto: HASH
//! (BLAKE2s-256), MAC (keyed BLAKE2s-128), HMAC (HMAC-BLAKE2s), KDF1..3 (HKDF
//! shaped, from HMAC), AEAD (ChaCha20-Poly1305, nonce: 32 zero bits and the
//! little-endian counter), XAEAD (XChaCha20-Poly1305) and DH (X25519), and
//! the transport data cipher ([`DataKey`]). It owns nothing else: no state,
//! no message formats.
//!
//! The handshake uses RustCrypto; transport data uses ring's
//! ChaCha20-Poly1305 (already built for boringtun): its assembly seals about
//! three times faster per core than RustCrypto's here (`benches/wg.rs`), and
//! per-core speed is what parallel sealing multiplies. ring does not zeroize
//! its expanded key on drop; the handshake's keys (ours) are.

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Mac, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Tag, XChaCha20Poly1305, XNonce};
use hmac::SimpleHmac;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::error::Error;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) type Key = Zeroizing<[u8; KEY_LEN]>;

/// HASH(parts...): BLAKE2s with a 32-byte output.
pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    for p in parts {
        Digest::update(&mut h, p);
    }
    h.finalize().into()
}

/// MAC(key, parts...): keyed BLAKE2s with a 16-byte output.
pub(crate) fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // The keys are 32 bytes (HASH outputs) or 16 bytes (cookies): both are
    // within BLAKE2s's key size, so `new_from_slice` cannot fail here.
    let Ok(mut m) = <Blake2sMac<U16> as KeyInit>::new_from_slice(key) else {
        return [0; 16];
    };
    for p in parts {
        Mac::update(&mut m, p);
    }
    m.finalize_fixed().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Key {
    // HMAC accepts keys of any length.
    let mut m = <SimpleHmac<Blake2s256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <SimpleHmac<Blake2s256> as KeyInit>::new(&Default::default()));
    for p in parts {
        Update::update(&mut m, p);
    }
    Zeroizing::new(m.finalize_fixed().into())
}

/// KDFn(key, input): τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1),
/// τi = HMAC(τ0, τ(i-1) || i); returns τ1..τN.
pub(crate) fn kdf<const N: usize>(key: &[u8; KEY_LEN], input: &[u8]) -> [Key; N] {
    let t0 = hmac(key, &[input]);
    let mut out: [Key; N] = std::array::from_fn(|_| Zeroizing::new([0; KEY_LEN]));
    let mut prev: Option<Key> = None;
    for (i, slot) in out.iter_mut().enumerate() {
        let counter = [i as u8 + 1];
        let t = match &prev {
            None => hmac(&t0[..], &[&counter]),
            Some(p) => hmac(&t0[..], &[&p[..], &counter]),
        };
        slot.copy_from_slice(&t[..]);
        prev = Some(t);
    }
    out
}

pub(crate) fn nonce(counter: u64) -> chacha20poly1305::Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n.into()
}

/// AEAD(key, counter, plaintext, ad) into `out` (plaintext length + 16).
pub(crate) fn aead_seal(key: &[u8; KEY_LEN], counter: u64, pt: &[u8], ad: &[u8], out: &mut [u8]) {
    let cipher = ChaCha20Poly1305::new(key.into());
    seal_with(&cipher, counter, pt, ad, out);
}

/// Seals with a keyed cipher; `out` must be `pt.len() + TAG_LEN` long.
pub(crate) fn seal_with(
    cipher: &ChaCha20Poly1305,
    counter: u64,
    pt: &[u8],
    ad: &[u8],
    out: &mut [u8],
) {
    let (body, tag) = out.split_at_mut(pt.len());
    body.copy_from_slice(pt);
    // ChaCha20-Poly1305 fails only past 2^38 bytes of plaintext.
    if let Ok(t) = cipher.encrypt_in_place_detached(&nonce(counter), ad, body) {
        tag[..TAG_LEN].copy_from_slice(&t);
    }
}

/// Opens `ct` (ciphertext || tag) into `out` (ct.len() - 16 bytes).
pub(crate) fn aead_open(
    key: &[u8; KEY_LEN],
    counter: u64,
    ct: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let cipher = ChaCha20Poly1305::new(key.into());
    open_with(&cipher, counter, ct, ad, out)
}

pub(crate) fn open_with(
    cipher: &ChaCha20Poly1305,
    counter: u64,
    ct: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let n = ct.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
    if out.len() < n {
        return Err(Error::BufferTooSmall {
            need: n,
            have: out.len(),
        });
    }
    let (body, tag) = ct.split_at(n);
    let out = &mut out[..n];
    out.copy_from_slice(body);
    cipher
        .decrypt_in_place_detached(&nonce(counter), ad, out, Tag::from_slice(tag))
        .map_err(|_| {
            out.fill(0);
            Error::Decrypt
        })
}

/// XAEAD(key, nonce, plaintext, ad) into `out` (plaintext length + 16).
pub(crate) fn xaead_seal(key: &[u8; KEY_LEN], n: &[u8; 24], pt: &[u8], ad: &[u8], out: &mut [u8]) {
    let cipher = XChaCha20Poly1305::new(key.into());
    let (body, tag) = out.split_at_mut(pt.len());
    body.copy_from_slice(pt);
    if let Ok(t) = cipher.encrypt_in_place_detached(XNonce::from_slice(n), ad, body) {
        tag[..TAG_LEN].copy_from_slice(&t);
    }
}

pub(crate) fn xaead_open(
    key: &[u8; KEY_LEN],
    n: &[u8; 24],
    ct: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let len = ct.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
    if out.len() < len {
        return Err(Error::BufferTooSmall {
            need: len,
            have: out.len(),
        });
    }
    let (body, tag) = ct.split_at(len);
    let out = &mut out[..len];
    out.copy_from_slice(body);
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(n), ad, out, Tag::from_slice(tag))
        .map_err(|_| Error::Decrypt)
}

/// DH(private, public), refusing the all-zero result of a low-order point.
pub(crate) fn dh(private: &StaticSecret, public: &PublicKey) -> Result<Key, Error> {
    let shared = private.diffie_hellman(public);
    if !shared.was_contributory() {
        return Err(Error::WeakKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// A transport data key (one direction of a session), usable from many
/// threads at once (`&self`).
pub(crate) struct DataKey(ring::aead::LessSafeKey);

fn ring_nonce(counter: u64) -> ring::aead::Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    ring::aead::Nonce::assume_unique_for_key(n)
}

impl DataKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Result<DataKey, Error> {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key)
            .map_err(|_| Error::Crypto)?;
        Ok(DataKey(ring::aead::LessSafeKey::new(unbound)))
    }

    /// Encrypts `text` in place and writes the tag into `tag` (16 bytes).
    pub(crate) fn seal(&self, counter: u64, text: &mut [u8], tag: &mut [u8]) -> Result<(), Error> {
        let t = self
            .0
            .seal_in_place_separate_tag(ring_nonce(counter), ring::aead::Aad::empty(), text)
            .map_err(|_| Error::Crypto)?;
        tag[..TAG_LEN].copy_from_slice(t.as_ref());
        Ok(())
    }

    /// Opens `buf` (ciphertext || tag) in place; returns the plaintext's
    /// length (it is `buf`'s first bytes). `buf` is wiped on failure.
    pub(crate) fn open_in_place(&self, counter: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let n = buf.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
        match self
            .0
            .open_in_place(ring_nonce(counter), ring::aead::Aad::empty(), buf)
        {
            Ok(_) => Ok(n),
            Err(_) => {
                buf.fill(0);
                Err(Error::Decrypt)
            }
        }
    }

    /// Opens `ct` (ciphertext || tag) into `out`; returns the plaintext's
    /// length. `out` is wiped on failure.
    pub(crate) fn open(&self, counter: u64, ct: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let have = out.len();
        let buf = out.get_mut(..ct.len()).ok_or(Error::BufferTooSmall {
            need: ct.len(),
            have,
        })?;
        buf.copy_from_slice(ct);
        self.open_in_place(counter, buf)
    }
}
