//! Diffie-Hellman for IKEv1: MODP groups 1 (768 bit), 2 (1024), 5 (1536), 14 (2048), 15 (3072),
//! 16 (4096) and 24 (2048 with a 256-bit subgroup), and ECP groups 19, 20 and 21 (P-256, P-384,
//! P-521). The group numbers are IKE's Group Description values, and IOS's `group N`.
//!
//! Our secret never steers a branch or an address: MODP exponentiation is a constant-time
//! Montgomery ladder bounded by the group's exponent size ([`modp`]), ECP uses the RustCrypto
//! curves' constant-time arithmetic ([`ecp`]). Peer public values are validated before use:
//! exact length, 1 < y < p-1 and, for group 24, membership of the prime-order subgroup; a curve
//! point must satisfy the curve equation.
//!
//! With the `fuzzing` cargo feature (fuzz targets and their corpus replay tests only) one more
//! group exists, [`DhGroup::Fuzz64`]: a 64-bit safe prime under a private-use Group Description
//! number, so fuzzed Main Modes and Quick Modes cost microseconds instead of milliseconds while
//! the protocol treats it like any other group. Without the feature the variant does not exist,
//! so no configuration can name it; IOS configuration and policy validation reject the number
//! even with it (it is not in [`crate::policy::KNOWN_GROUPS`]).

mod ecp;
mod modp;
#[cfg(test)]
mod tests;

use zeroize::Zeroize;

use self::ecp::EcpKey;
use self::modp::{be_to_uint, Exponent};
use super::secret::SecretBytes;
use crate::rng::Rng;

/// A shared secret g^xy (MODP: big-endian, left-padded to the prime length; ECP: the x
/// coordinate), wiped on drop.
pub type SharedSecret = SecretBytes;

/// A Diffie-Hellman group we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 1: 768-bit MODP (RFC 2409 §6.1). Weak; for old peers only.
    Modp768,
    /// Group 2: 1024-bit MODP (RFC 2409 §6.2).
    Modp1024,
    /// Group 5: 1536-bit MODP (RFC 3526 §2).
    Modp1536,
    /// Group 14: 2048-bit MODP (RFC 3526 §3).
    Modp2048,
    /// Group 15: 3072-bit MODP (RFC 3526 §4).
    Modp3072,
    /// Group 16: 4096-bit MODP (RFC 3526 §5).
    Modp4096,
    /// Group 24: 2048-bit MODP with a 256-bit prime-order subgroup (RFC 5114 §2.3). RFC 8247
    /// advises against it (its parameters come without a verifiable origin); IOS offers it.
    Modp2048S256,
    /// Group 19: 256-bit random ECP group, NIST P-256 (RFC 5903 §3.1).
    Ecp256,
    /// Group 20: 384-bit random ECP group, NIST P-384 (RFC 5903 §3.2).
    Ecp384,
    /// Group 21: 521-bit random ECP group, NIST P-521 (RFC 5903 §3.3).
    Ecp521,
    /// Fuzzing only (cargo feature `fuzzing`): MODP over the 64-bit safe prime 2^64 - 8489,
    /// g = 2, Group Description [`FUZZ_GROUP_ID`]. Offers no security at all.
    #[cfg(feature = "fuzzing")]
    Fuzz64,
}

/// Group Description number of [`DhGroup::Fuzz64`], from the private-use range (RFC 2409
/// appendix A: 32768-65535), outside the 1..=24 an IOS `group` command accepts.
#[cfg(feature = "fuzzing")]
pub const FUZZ_GROUP_ID: u16 = 65_001;

/// Bits of the private exponent for the groups up to 3072 bits (see [`modp`] for group 16).
pub const EXPONENT_BITS: usize = 256;

impl DhGroup {
    /// All supported groups (without the fuzzing-only [`DhGroup::Fuzz64`]).
    pub const ALL: [DhGroup; 10] = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Modp2048S256,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
    ];

    /// The IKE Group Description value (attribute 4) / IOS `group N`.
    pub const fn ike_id(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Modp2048S256 => 24,
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => FUZZ_GROUP_ID,
        }
    }

    /// The group with IKE Group Description `id`, if we implement it.
    pub const fn from_ike_id(id: u16) -> Option<DhGroup> {
        match id {
            1 => Some(DhGroup::Modp768),
            2 => Some(DhGroup::Modp1024),
            5 => Some(DhGroup::Modp1536),
            14 => Some(DhGroup::Modp2048),
            15 => Some(DhGroup::Modp3072),
            16 => Some(DhGroup::Modp4096),
            19 => Some(DhGroup::Ecp256),
            20 => Some(DhGroup::Ecp384),
            21 => Some(DhGroup::Ecp521),
            24 => Some(DhGroup::Modp2048S256),
            #[cfg(feature = "fuzzing")]
            FUZZ_GROUP_ID => Some(DhGroup::Fuzz64),
            _ => None,
        }
    }

    /// Whether this is an elliptic-curve group.
    pub const fn is_ecp(self) -> bool {
        matches!(self, DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521)
    }

    /// Length of the KE payload data in bytes: the prime's length for MODP, both coordinates
    /// for ECP.
    pub const fn public_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 2 * ecp::P256_BYTES,
            DhGroup::Ecp384 => 2 * ecp::P384_BYTES,
            DhGroup::Ecp521 => 2 * ecp::P521_BYTES,
            _ => self.shared_len(),
        }
    }

    /// Length of g^xy in bytes: the prime's length for MODP, one coordinate for ECP.
    pub const fn shared_len(self) -> usize {
        match self {
            DhGroup::Modp768 => 96,
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 | DhGroup::Modp2048S256 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Ecp256 => ecp::P256_BYTES,
            DhGroup::Ecp384 => ecp::P384_BYTES,
            DhGroup::Ecp521 => ecp::P521_BYTES,
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => 8,
        }
    }

    /// The MODP prime p, big-endian; `None` for the ECP groups.
    pub fn modp_prime(self) -> Option<Vec<u8>> {
        Some(match self {
            DhGroup::Modp768 => modp::F768.prime_bytes(),
            DhGroup::Modp1024 => modp::F1024.prime_bytes(),
            DhGroup::Modp1536 => modp::F1536.prime_bytes(),
            DhGroup::Modp2048 => modp::F2048.prime_bytes(),
            DhGroup::Modp3072 => modp::F3072.prime_bytes(),
            DhGroup::Modp4096 => modp::F4096.prime_bytes(),
            DhGroup::Modp2048S256 => modp::F2048_256.prime_bytes(),
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => modp::F_FUZZ64.prime_bytes(),
            DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 => return None,
        })
    }
}

/// A rejected peer public value or private exponent. Every variant but `BadExponent` is caused
/// by the peer's KE payload and is worth counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhError {
    /// The public value is not exactly the group's length.
    #[error("public value is {got} bytes, the group needs exactly {expected}")]
    WrongLength {
        /// KE data length the group needs.
        expected: usize,
        /// Received length.
        got: usize,
    },
    /// The public value is 0 or 1.
    #[error("public value is 0 or 1")]
    TooSmall,
    /// The public value is p-1 (order 2, would force g^xy into {1, p-1}).
    #[error("public value is p-1")]
    PMinusOne,
    /// The public value is not below the prime.
    #[error("public value is not less than the prime")]
    NotBelowPrime,
    /// Group 24: the public value lies outside the subgroup of order q (RFC 6989 §2.2).
    #[error("public value is not in the prime-order subgroup")]
    NotInSubgroup,
    /// ECP: the public value is not a point of the curve (or is a coordinate out of range).
    #[error("public value is not a point on the curve")]
    NotOnCurve,
    /// The computed g^xy is 1; cannot happen for a validated value and a non-zero exponent, kept
    /// as a last line of defence.
    #[error("degenerate shared secret")]
    DegenerateShared,
    /// A private exponent given by the caller is zero, too long or out of the group's range.
    #[error("private exponent must be non-zero and within the group's range")]
    BadExponent,
}

/// Our private value for one exchange.
enum Key {
    /// A MODP exponent (wiped by [`DhSecret`]'s `Drop`).
    Modp(Exponent),
    /// An ECP scalar (wipes itself).
    Ecp(EcpKey),
}

/// Our Diffie-Hellman private value for one exchange, with its public value. The private part is
/// wiped on drop.
pub struct DhSecret {
    group: DhGroup,
    key: Key,
    public: Vec<u8>,
}

impl core::fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DhSecret")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Drop for DhSecret {
    fn drop(&mut self) {
        if let Key::Modp(x) = &mut self.key {
            x.zeroize();
        }
    }
}

/// Runs `$body` with `$f` bound to the MODP field of `$group`; `$ecp` for the curves.
macro_rules! with_field {
    ($group:expr, $f:ident => $body:expr, ecp => $ecp:expr) => {
        match $group {
            DhGroup::Modp768 => {
                let $f = &modp::F768;
                $body
            }
            DhGroup::Modp1024 => {
                let $f = &modp::F1024;
                $body
            }
            DhGroup::Modp1536 => {
                let $f = &modp::F1536;
                $body
            }
            DhGroup::Modp2048 => {
                let $f = &modp::F2048;
                $body
            }
            DhGroup::Modp3072 => {
                let $f = &modp::F3072;
                $body
            }
            DhGroup::Modp4096 => {
                let $f = &modp::F4096;
                $body
            }
            DhGroup::Modp2048S256 => {
                let $f = &modp::F2048_256;
                $body
            }
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => {
                let $f = &modp::F_FUZZ64;
                $body
            }
            DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 => $ecp,
        }
    };
}

impl DhSecret {
    /// Draws a fresh private value from `rng` and computes the public value.
    pub fn generate(group: DhGroup, rng: &mut Rng) -> DhSecret {
        let key = with_field!(group, f => {
            let mut buf = [0u8; Exponent::BYTES];
            let bytes = f.draw_bytes();
            let start = buf.len() - bytes;
            let x = loop {
                if let Some(dst) = buf.get_mut(start..) {
                    rng.fill(dst);
                }
                let x = be_to_uint::<{ Exponent::LIMBS }>(&buf).unwrap_or(Exponent::ONE);
                // Zero (probability 2^-256) or, for group 24, a value not below q (about
                // half of all draws there): draw again.
                if f.accepts_exponent(&x) {
                    break x;
                }
            };
            buf.zeroize();
            Key::Modp(x)
        }, ecp => Key::Ecp(EcpKey::generate(group.ike_id(), rng)));
        Self::with_key(group, key)
    }

    /// Uses the given big-endian private value instead of a random one: for MODP 1 to the
    /// group's exponent bits (32 bytes; 48 for group 16), for ECP a scalar in [1, n-1]. For
    /// known-answer tests and for reproducing a peer's logged exchange; production code uses
    /// [`DhSecret::generate`].
    pub fn from_exponent_bytes(group: DhGroup, x: &[u8]) -> Result<DhSecret, DhError> {
        let key = with_field!(group, f => {
            if x.is_empty() || x.len() > f.draw_bytes() {
                return Err(DhError::BadExponent);
            }
            let mut buf = [0u8; Exponent::BYTES];
            let start = buf.len() - x.len();
            if let Some(dst) = buf.get_mut(start..) {
                dst.copy_from_slice(x);
            }
            let mut e = be_to_uint::<{ Exponent::LIMBS }>(&buf).unwrap_or(Exponent::ZERO);
            buf.zeroize();
            if !f.accepts_exponent(&e) {
                e.zeroize();
                return Err(DhError::BadExponent);
            }
            Key::Modp(e)
        }, ecp => Key::Ecp(EcpKey::from_scalar(group.ike_id(), x)?));
        Ok(Self::with_key(group, key))
    }

    fn with_key(group: DhGroup, key: Key) -> DhSecret {
        let public = match &key {
            Key::Modp(x) => {
                let mut out = vec![0u8; group.public_len()];
                with_field!(group, f => f.public(x, &mut out), ecp => ());
                out
            }
            Key::Ecp(k) => k.public(),
        };
        DhSecret { group, key, public }
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The KE payload data: g^x, big-endian, left-padded to the prime length (MODP), or the
    /// point's x | y (ECP, RFC 5903 §7).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Validates the peer's public value and returns the shared secret g^xy.
    pub fn compute_shared(&self, peer_public: &[u8]) -> Result<SharedSecret, DhError> {
        match &self.key {
            Key::Modp(x) => {
                let mut out = vec![0u8; self.group.shared_len()];
                let r = with_field!(self.group, f => f.shared(x, peer_public, &mut out),
                    ecp => Err(DhError::BadExponent));
                // Wrap first so the bytes are wiped on the error path too.
                let secret = SharedSecret::new(out);
                r.map(|()| secret)
            }
            Key::Ecp(k) => k.shared(peer_public).map(SharedSecret::new),
        }
    }
}
