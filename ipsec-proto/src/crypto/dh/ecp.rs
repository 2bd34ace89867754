//! ECP Diffie-Hellman over the NIST prime curves for IKE (RFC 5903): groups 19 (P-256),
//! 20 (P-384) and 21 (P-521).
//!
//! RFC 5903 §7 fixes the encodings IKEv1 uses as well as IKEv2: the KE payload carries x | y,
//! each coordinate left-padded to the field length, with no SEC1 point-format byte; the shared
//! secret is the x coordinate of the product alone (the errata to RFC 4753, which had x | y).
//! A peer point is decoded with its curve equation checked, so an invalid-curve point is refused
//! before our scalar touches it; the curves have cofactor 1, so no small subgroup exists.
//! Scalar multiplication is the RustCrypto curves' constant-time arithmetic.

use p256::elliptic_curve::{
    self,
    sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint},
    AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, PublicKey, SecretKey,
};

use super::DhError;
use crate::rng::Rng;

/// A secret scalar on one of the three curves; each wipes itself on drop.
pub(super) enum EcpKey {
    P256(SecretKey<p256::NistP256>),
    P384(SecretKey<p384::NistP384>),
    P521(SecretKey<p521::NistP521>),
}

/// The curves' coordinate lengths in bytes (521 bits round up to 66).
pub(super) const P256_BYTES: usize = 32;
pub(super) const P384_BYTES: usize = 48;
pub(super) const P521_BYTES: usize = 66;

/// Draws a scalar uniformly in [1, n-1] by rejection: a random field-length string is kept only
/// if it is a valid non-zero scalar. P-256 and P-384 reject with probability below 2^-32; for
/// P-521 the top byte is first masked to the order's 521 bits, after which rejection is as rare.
fn random_key<C>(rng: &mut Rng, top_mask: u8) -> SecretKey<C>
where
    C: CurveArithmetic,
{
    let mut bytes = FieldBytes::<C>::default();
    loop {
        rng.fill(&mut bytes);
        if let Some(b) = bytes.first_mut() {
            *b &= top_mask;
        }
        let key = SecretKey::<C>::from_bytes(&bytes);
        zeroize::Zeroize::zeroize(bytes.as_mut_slice());
        if let Ok(k) = key {
            return k;
        }
    }
}

/// Parses a big-endian scalar given by the caller (known-answer tests, logged exchanges).
fn key_from_bytes<C>(x: &[u8]) -> Result<SecretKey<C>, DhError>
where
    C: CurveArithmetic,
{
    let len = core::mem::size_of::<FieldBytes<C>>();
    if x.is_empty() || x.len() > len {
        return Err(DhError::BadExponent);
    }
    let mut bytes = FieldBytes::<C>::default();
    if let Some(dst) = bytes.get_mut(len - x.len()..) {
        dst.copy_from_slice(x);
    }
    let key = SecretKey::<C>::from_bytes(&bytes).map_err(|_| DhError::BadExponent);
    zeroize::Zeroize::zeroize(bytes.as_mut_slice());
    key
}

/// x | y of our public point, without the SEC1 format byte.
fn public_of<C>(key: &SecretKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let point = key.public_key().to_encoded_point(false);
    point.as_bytes().get(1..).unwrap_or_default().to_vec()
}

/// Decodes the peer's x | y (checking the curve equation) and returns the x coordinate of our
/// scalar times it.
fn shared_of<C>(key: &SecretKey<C>, peer: &[u8], coord: usize) -> Result<Vec<u8>, DhError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    if peer.len() != 2 * coord {
        return Err(DhError::WrongLength {
            expected: 2 * coord,
            got: peer.len(),
        });
    }
    // SEC1 uncompressed form: 0x04 | x | y. At most 1 + 2 * 66 bytes.
    let mut sec1 = [0u8; 1 + 2 * P521_BYTES];
    sec1[0] = 0x04;
    let encoded = sec1.get_mut(..1 + peer.len()).ok_or(DhError::NotOnCurve)?;
    if let Some(dst) = encoded.get_mut(1..) {
        dst.copy_from_slice(peer);
    }
    let point = PublicKey::<C>::from_sec1_bytes(encoded).map_err(|_| DhError::NotOnCurve)?;
    let z = elliptic_curve::ecdh::diffie_hellman(key.to_nonzero_scalar(), point.as_affine());
    Ok(z.raw_secret_bytes().to_vec())
}

impl EcpKey {
    /// A fresh key on the curve of group `id` (19, 20 or 21).
    pub(super) fn generate(id: u16, rng: &mut Rng) -> EcpKey {
        match id {
            20 => EcpKey::P384(random_key(rng, 0xff)),
            21 => EcpKey::P521(random_key(rng, 0x01)),
            _ => EcpKey::P256(random_key(rng, 0xff)),
        }
    }

    /// The key with the given scalar on the curve of group `id`.
    pub(super) fn from_scalar(id: u16, x: &[u8]) -> Result<EcpKey, DhError> {
        Ok(match id {
            20 => EcpKey::P384(key_from_bytes(x)?),
            21 => EcpKey::P521(key_from_bytes(x)?),
            _ => EcpKey::P256(key_from_bytes(x)?),
        })
    }

    /// The KE payload data: x | y.
    pub(super) fn public(&self) -> Vec<u8> {
        match self {
            EcpKey::P256(k) => public_of(k),
            EcpKey::P384(k) => public_of(k),
            EcpKey::P521(k) => public_of(k),
        }
    }

    /// The x coordinate of the shared point.
    pub(super) fn shared(&self, peer: &[u8]) -> Result<Vec<u8>, DhError> {
        match self {
            EcpKey::P256(k) => shared_of(k, peer, P256_BYTES),
            EcpKey::P384(k) => shared_of(k, peer, P384_BYTES),
            EcpKey::P521(k) => shared_of(k, peer, P521_BYTES),
        }
    }
}
