//! Hash functions and keyed HMAC state shared by the IKE PRF, the IKE HASH payloads and ESP
//! integrity (HMAC-MD5-96, HMAC-SHA1-96, HMAC-SHA-256-128, -384-192, -512-256).
//!
//! An [`HmacKey`] keeps the HMAC state after the key was absorbed (the inner and outer pads), so
//! each MAC costs only the message compressions. That state is as good as the key. The `hmac`
//! crate does not zeroize it, so [`HmacKey`]'s `Drop` overwrites it in place with the state of an
//! empty key; temporary clones made while computing one MAC live on the stack only for that call
//! and are not wiped (a documented limit of working without `unsafe`).

use hmac::digest::core_api::CoreWrapper;
use hmac::digest::KeyInit;
use hmac::Mac;
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A hash algorithm as negotiated by IKE (Phase 1 hash attribute) or ESP (authentication
/// algorithm), used plainly or as HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// MD5 (16-byte output).
    Md5,
    /// SHA-1 (20-byte output).
    Sha1,
    /// SHA2-256 (32-byte output).
    Sha256,
    /// SHA2-384 (48-byte output).
    Sha384,
    /// SHA2-512 (64-byte output).
    Sha512,
}

/// Largest output of any supported hash, in bytes.
pub const MAX_DIGEST_LEN: usize = 64;

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Hashes the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Digest {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Digest {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            Digest::from_slice(&h.finalize())
        }
        match self {
            HashAlg::Md5 => run::<Md5>(parts),
            HashAlg::Sha1 => run::<Sha1>(parts),
            HashAlg::Sha256 => run::<Sha256>(parts),
            HashAlg::Sha384 => run::<Sha384>(parts),
            HashAlg::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// A hash or MAC output held on the stack and wiped on drop (PRF outputs are keys).
#[derive(Clone)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST_LEN],
    len: usize,
}

impl Digest {
    fn from_slice(s: &[u8]) -> Digest {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let len = s.len().min(MAX_DIGEST_LEN);
        bytes[..len].copy_from_slice(&s[..len]);
        Digest { bytes, len }
    }

    /// The output bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Compares with `other` in constant time (for equal lengths).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.as_bytes().ct_eq(other).into()
    }
}

impl core::ops::Deref for Digest {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Digest({} bytes)", self.len)
    }
}

impl Drop for Digest {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The keyed inner and outer hash states only, without the block buffers a streaming MAC adds:
/// 64 bytes for HMAC-SHA-1 instead of about 200. The SHA-384/512 states (160 bytes) are boxed so
/// that the common algorithms do not pay for them.
type Core<D> = hmac::HmacCore<D>;

#[derive(Clone)]
enum State {
    Md5(Core<Md5>),
    Sha1(Core<Sha1>),
    Sha256(Core<Sha256>),
    Sha384(Box<Core<Sha384>>),
    Sha512(Box<Core<Sha512>>),
}

// The HMAC core of one hash keyed with `key`. HMAC accepts keys of any length (longer ones are
// hashed first), so this cannot fail; fall back to the empty key rather than panic if a crate
// ever changed that. (Macros rather than generics: the `hmac` crate's bounds on its core type
// are long and say nothing here.)
macro_rules! keyed {
    ($h:ty, $key:expr) => {
        <Core<$h> as KeyInit>::new_from_slice($key)
            .unwrap_or_else(|_| <Core<$h> as KeyInit>::new(&Default::default()))
    };
}

// The MAC of `parts` from a keyed core: a streaming wrapper around a copy of the core.
macro_rules! mac {
    ($core:expr, $parts:expr) => {{
        let mut m = CoreWrapper::from_core($core.clone());
        for p in $parts {
            Mac::update(&mut m, p);
        }
        Digest::from_slice(&m.finalize().into_bytes())
    }};
}

impl State {
    fn new(alg: HashAlg, key: &[u8]) -> State {
        match alg {
            HashAlg::Md5 => State::Md5(keyed!(Md5, key)),
            HashAlg::Sha1 => State::Sha1(keyed!(Sha1, key)),
            HashAlg::Sha256 => State::Sha256(keyed!(Sha256, key)),
            HashAlg::Sha384 => State::Sha384(Box::new(keyed!(Sha384, key))),
            HashAlg::Sha512 => State::Sha512(Box::new(keyed!(Sha512, key))),
        }
    }

    /// Overwrites the keyed state where it lives with the state of an empty key.
    fn wipe(&mut self) {
        match self {
            State::Md5(c) => *c = keyed!(Md5, &[]),
            State::Sha1(c) => *c = keyed!(Sha1, &[]),
            State::Sha256(c) => *c = keyed!(Sha256, &[]),
            State::Sha384(c) => **c = keyed!(Sha384, &[]),
            State::Sha512(c) => **c = keyed!(Sha512, &[]),
        }
    }
}

/// A keyed HMAC, ready to MAC many messages.
#[derive(Clone)]
pub struct HmacKey {
    alg: HashAlg,
    state: State,
}

impl core::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HmacKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl HmacKey {
    /// Absorbs `key` (any length) for HMAC with `alg`.
    pub fn new(alg: HashAlg, key: &[u8]) -> HmacKey {
        HmacKey {
            alg,
            state: State::new(alg, key),
        }
    }

    /// The underlying hash.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Full-length HMAC of the concatenation of `parts`.
    pub fn compute(&self, parts: &[&[u8]]) -> Digest {
        match &self.state {
            State::Md5(c) => mac!(c, parts),
            State::Sha1(c) => mac!(c, parts),
            State::Sha256(c) => mac!(c, parts),
            State::Sha384(c) => mac!(**c, parts),
            State::Sha512(c) => mac!(**c, parts),
        }
    }

    /// Writes the leading `out.len()` bytes of the HMAC of `parts` into `out` (the truncated ICV
    /// of ESP). Returns the number of bytes written, which is `out.len()` capped at the output
    /// length.
    pub fn compute_into(&self, parts: &[&[u8]], out: &mut [u8]) -> usize {
        let d = self.compute(parts);
        let n = out.len().min(d.len());
        out[..n].copy_from_slice(&d[..n]);
        n
    }

    /// Checks a (possibly truncated) tag in constant time. An empty tag or one longer than the
    /// hash output never verifies.
    pub fn verify_truncated(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let d = self.compute(parts);
        if tag.is_empty() || tag.len() > d.len() {
            return false;
        }
        d[..tag.len()].ct_eq(tag).into()
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        // Overwrite the keyed state where it lives; black_box keeps the store from being elided
        // as dead.
        self.state.wipe();
        core::hint::black_box(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    fn check(alg: HashAlg, key: &[u8], data: &[u8], expect: &str) {
        let k = HmacKey::new(alg, key);
        let e = hex(expect);
        let mut out = vec![0u8; e.len()];
        assert_eq!(k.compute_into(&[data], &mut out), e.len());
        assert_eq!(out, e, "{alg:?}");
        // Split input gives the same MAC.
        let (a, b) = data.split_at(data.len() / 2);
        assert!(k.verify_truncated(&[a, b], &e));
        let mut bad = e.clone();
        bad[0] ^= 1;
        assert!(!k.verify_truncated(&[data], &bad));
    }

    #[test]
    fn rfc2202_hmac_md5_and_sha1() {
        check(
            HashAlg::Md5,
            &[0x0b; 16],
            b"Hi There",
            "9294727a3638bb1c13f48ef8158bfc9d",
        );
        check(
            HashAlg::Md5,
            b"Jefe",
            b"what do ya want for nothing?",
            "750c783e6ab0b503eaa86e310a5db738",
        );
        check(
            HashAlg::Md5,
            &[0xaa; 16],
            &[0xdd; 50],
            "56be34521d144c88dbb8c733f0e8b3f6",
        );
        check(
            HashAlg::Sha1,
            &[0x0b; 20],
            b"Hi There",
            "b617318655057264e28bc0b6fb378c8ef146be00",
        );
        check(
            HashAlg::Sha1,
            b"Jefe",
            b"what do ya want for nothing?",
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        );
        check(
            HashAlg::Sha1,
            &[0xaa; 20],
            &[0xdd; 50],
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
        );
        check(
            HashAlg::Sha1,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        );
        // RFC 2403 / 2404: the -96 variants are the leading 12 bytes.
        check(
            HashAlg::Md5,
            &[0x0b; 16],
            b"Hi There",
            "9294727a3638bb1c13f48ef8",
        );
        check(
            HashAlg::Sha1,
            &[0x0b; 20],
            b"Hi There",
            "b617318655057264e28bc0b6",
        );
    }

    #[test]
    fn rfc4231_hmac_sha2() {
        check(
            HashAlg::Sha256,
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        );
        check(
            HashAlg::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        );
        check(
            HashAlg::Sha256,
            &[0xaa; 20],
            &[0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        );
        let key4: Vec<u8> = (1u8..=0x19).collect();
        check(
            HashAlg::Sha256,
            &key4,
            &[0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        );
        check(
            HashAlg::Sha256,
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        );
        // RFC 4231 test case 2 for SHA-384 and SHA-512.
        check(
            HashAlg::Sha384,
            b"Jefe",
            b"what do ya want for nothing?",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        );
        check(
            HashAlg::Sha512,
            b"Jefe",
            b"what do ya want for nothing?",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        );
    }

    #[test]
    fn rfc4868_hmac_sha256_128() {
        check(
            HashAlg::Sha256,
            &[0x0b; 32],
            b"Hi There",
            "198a607eb44bfbc69903a0f1cf2bbdc5",
        );
        check(
            HashAlg::Sha256,
            b"JefeJefeJefeJefeJefeJefeJefeJefe",
            b"what do ya want for nothing?",
            "167f928588c5cc2eef8e3093caa0e87c",
        );
    }

    #[test]
    fn plain_digests_and_bad_tags() {
        assert_eq!(
            HashAlg::Md5.digest(&[b"RFC ", b"3947"]).as_bytes(),
            hex("4a131c81070358455c5728f20e95452f")
        );
        let k = HmacKey::new(HashAlg::Sha1, b"k");
        assert!(!k.verify_truncated(&[b"x"], &[]));
        assert!(!k.verify_truncated(&[b"x"], &[0u8; 21]));
    }
}
