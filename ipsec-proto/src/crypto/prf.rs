//! The IKEv1 pseudo-random function: HMAC with the negotiated Phase 1 hash.
//!
//! RFC 2409 allows a separately negotiated PRF attribute, but nobody uses it; strongSwan, Cisco
//! and Libreswan all take the HMAC form of the hash attribute, and so do we.

use super::hmac::{Digest, HashAlg, HmacKey};
use super::secret::SecretBytes;

/// `prf(key, ..)` with the key absorbed once, so the many PRF calls keyed with SKEYID,
/// SKEYID_a, SKEYID_d and SKEYID_e each cost only the message compressions.
#[derive(Clone, Debug)]
pub struct Prf {
    key: HmacKey,
}

impl Prf {
    /// Keys the PRF of `hash` with `key` (any length; HMAC hashes long keys first).
    pub fn new(hash: HashAlg, key: &[u8]) -> Prf {
        Prf {
            key: HmacKey::new(hash, key),
        }
    }

    /// The hash underneath the HMAC.
    pub fn hash(&self) -> HashAlg {
        self.key.alg()
    }

    /// Output length in bytes (the hash output length).
    pub fn output_len(&self) -> usize {
        self.key.alg().output_len()
    }

    /// `prf(key, parts[0] | parts[1] | ..)`; the result is wiped on drop because PRF outputs are
    /// usually keys.
    pub fn compute(&self, parts: &[&[u8]]) -> Digest {
        self.key.compute(parts)
    }

    /// Like [`Prf::compute`], into a heap [`SecretBytes`].
    pub fn compute_secret(&self, parts: &[&[u8]]) -> SecretBytes {
        SecretBytes::from_slice(&self.key.compute(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_is_hmac_of_the_hash() {
        // RFC 2202 case 2 through the PRF interface, split input.
        let p = Prf::new(HashAlg::Sha1, b"Jefe");
        assert_eq!(p.output_len(), 20);
        let d = p.compute(&[b"what do ya want ", b"for nothing?"]);
        let s = p.compute_secret(&[b"what do ya want for nothing?"]);
        assert_eq!(&*d, s.expose_secret());
        assert_eq!(d[..4], [0xef, 0xfc, 0xdf, 0x6a]);
    }
}
