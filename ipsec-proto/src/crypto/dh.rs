//! MODP Diffie-Hellman for IKEv1: groups 1 (768 bit), 2 (1024), 5 (1536) and 14 (2048), g = 2.
//!
//! Every exponentiation with our secret exponent runs in constant time: crypto-bigint's Montgomery
//! arithmetic with `pow_bounded_exp(x, 256)`, whose running time depends only on the 256-bit bound,
//! never on the exponent's value. Peer public values are validated before use (exact length,
//! 1 < y < p-1).
//!
//! With the `fuzzing` cargo feature (fuzz targets and their corpus replay tests only) one more
//! group exists, [`DhGroup::Fuzz64`]: a 64-bit safe prime under a private-use Group Description
//! number, so fuzzed Main Modes and Quick Modes cost microseconds instead of milliseconds while
//! the protocol treats it like any other group. Without the feature the variant does not exist,
//! so no configuration can name it; IOS configuration and policy validation reject the number
//! even with it (it is not in [`crate::policy::KNOWN_GROUPS`]).

use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
#[cfg(feature = "fuzzing")]
use crypto_bigint::U64;
use crypto_bigint::{Limb, Uint, Word, U1024, U1536, U2048, U256, U768};
use zeroize::Zeroize;

use super::secret::SecretBytes;
use crate::rng::Rng;

/// A shared secret g^xy, big-endian, left-padded to the prime length, wiped on drop.
pub type SharedSecret = SecretBytes;

/// Bits of the private exponent. Each group's strength against the best discrete-log attacks is
/// well under 128 bits (about 76, 80, 90 and 110 bits for groups 1, 2, 5 and 14), and the
/// exponent needs twice the symmetric strength to resist Pollard rho/lambda, so 2 x 128 = 256
/// bits covers all four groups with margin (RFC 3526 §8 gives 2 x strength as well).
pub const EXPONENT_BITS: usize = 256;

/// A MODP Diffie-Hellman group we implement.
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
    /// Fuzzing only (cargo feature `fuzzing`): MODP over the 64-bit safe prime 2^64 - 8489,
    /// g = 2, Group Description [`FUZZ_GROUP_ID`]. Offers no security at all.
    #[cfg(feature = "fuzzing")]
    Fuzz64,
}

/// Group Description number of [`DhGroup::Fuzz64`], from the private-use range (RFC 2409
/// appendix A: 32768-65535), outside the 1..=24 an IOS `group` command accepts.
#[cfg(feature = "fuzzing")]
pub const FUZZ_GROUP_ID: u16 = 65_001;

impl DhGroup {
    /// All supported groups (without the fuzzing-only [`DhGroup::Fuzz64`]).
    pub const ALL: [DhGroup; 4] = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
    ];

    /// The IKE Group Description value (attribute 4) / IOS `group N`.
    pub const fn ike_id(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
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
            #[cfg(feature = "fuzzing")]
            FUZZ_GROUP_ID => Some(DhGroup::Fuzz64),
            _ => None,
        }
    }

    /// Length of the prime, of public values (KE payload data) and of g^xy, in bytes.
    pub const fn prime_len(self) -> usize {
        match self {
            DhGroup::Modp768 => 96,
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => 8,
        }
    }

    /// The prime p, big-endian.
    pub fn prime_bytes(self) -> Vec<u8> {
        let mut out = vec![0u8; self.prime_len()];
        match self {
            DhGroup::Modp768 => uint_to_be(&P768, &mut out),
            DhGroup::Modp1024 => uint_to_be(&P1024, &mut out),
            DhGroup::Modp1536 => uint_to_be(&P1536, &mut out),
            DhGroup::Modp2048 => uint_to_be(&P2048, &mut out),
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => uint_to_be(&P_FUZZ64, &mut out),
        }
        out
    }
}

/// A rejected peer public value or private exponent. Every variant but `ZeroExponent` is caused
/// by the peer's KE payload and is worth counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhError {
    /// The public value is not exactly the prime length.
    #[error("public value is {got} bytes, the group needs exactly {expected}")]
    WrongLength {
        /// Prime length in bytes.
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
    /// The computed g^xy is 1; cannot happen for a validated value and a non-zero exponent, kept
    /// as a last line of defence.
    #[error("degenerate shared secret")]
    DegenerateShared,
    /// A private exponent given by the caller is zero or longer than 256 bits.
    #[error("private exponent must be 1..=32 bytes and non-zero")]
    BadExponent,
}

const P768: U768 = U768::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
));
const P1024: U1024 = U1024::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
));
const P1536: U1536 = U1536::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
));
const P2048: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));
/// 2^64 - 8489: the largest 64-bit safe prime p = 2q + 1 with p = 7 mod 8, so that 2, like in
/// the RFC groups, generates the subgroup of prime order q.
#[cfg(feature = "fuzzing")]
const P_FUZZ64: U64 = U64::from_be_hex("FFFFFFFFFFFFDED7");

// Montgomery parameters cost a few long divisions to set up; compute them once per process.
static M768: OnceLock<DynResidueParams<{ U768::LIMBS }>> = OnceLock::new();
static M1024: OnceLock<DynResidueParams<{ U1024::LIMBS }>> = OnceLock::new();
static M1536: OnceLock<DynResidueParams<{ U1536::LIMBS }>> = OnceLock::new();
static M2048: OnceLock<DynResidueParams<{ U2048::LIMBS }>> = OnceLock::new();
#[cfg(feature = "fuzzing")]
static M_FUZZ64: OnceLock<DynResidueParams<{ U64::LIMBS }>> = OnceLock::new();

/// Big-endian bytes of `x` into `out` (which is `L * Limb::BYTES` long).
fn uint_to_be<const L: usize>(x: &Uint<L>, out: &mut [u8]) {
    for (chunk, w) in out.rchunks_exact_mut(Limb::BYTES).zip(x.as_words().iter()) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
}

/// Parses exactly `L * Limb::BYTES` big-endian bytes.
fn be_to_uint<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    if bytes.len() != L * Limb::BYTES {
        return None;
    }
    let mut words = [0 as Word; L];
    for (w, chunk) in words.iter_mut().zip(bytes.rchunks_exact(Limb::BYTES)) {
        let mut b = [0u8; Limb::BYTES];
        b.copy_from_slice(chunk);
        *w = Word::from_be_bytes(b);
    }
    Some(Uint::from_words(words))
}

/// One group's arithmetic: prime, cached Montgomery parameters, and the two operations.
struct Field<const L: usize> {
    prime: &'static Uint<L>,
    params: &'static OnceLock<DynResidueParams<L>>,
    /// Exponent bits used: [`EXPONENT_BITS`], except for the fuzzing group (64).
    exp_bits: usize,
}

impl<const L: usize> Field<L> {
    fn params(&self) -> DynResidueParams<L> {
        // The primes are odd constants, so `new` (which rejects even moduli) cannot fail here.
        *self
            .params
            .get_or_init(|| DynResidueParams::new(self.prime))
    }

    /// base^x mod p, constant time in `x` (the loop always runs over all `exp_bits` exponent
    /// bits, 256 for the real groups).
    fn pow(&self, base: &Uint<L>, x: &U256) -> Uint<L> {
        #[cfg(feature = "fuzzing")]
        if L * Limb::BYTES == 8 {
            return pow_u64(self.prime, base, x);
        }
        let mut b = DynResidue::new(base, self.params());
        let mut r = b.pow_bounded_exp(x, self.exp_bits);
        let out = r.retrieve();
        b.zeroize();
        r.zeroize();
        out
    }

    fn public(&self, x: &U256, out: &mut [u8]) {
        let mut y = self.pow(&Uint::from_u8(2), x);
        uint_to_be(&y, out);
        y.zeroize();
    }

    fn shared(&self, x: &U256, peer: &[u8], out: &mut [u8]) -> Result<(), DhError> {
        let y = be_to_uint::<L>(peer).ok_or(DhError::WrongLength {
            expected: L * Limb::BYTES,
            got: peer.len(),
        })?;
        if y <= Uint::ONE {
            return Err(DhError::TooSmall);
        }
        let p_minus_1 = self.prime.wrapping_sub(&Uint::ONE);
        if y == p_minus_1 {
            return Err(DhError::PMinusOne);
        }
        if y > p_minus_1 {
            return Err(DhError::NotBelowPrime);
        }
        let mut z = self.pow(&y, x);
        let degenerate = z == Uint::ONE;
        uint_to_be(&z, out);
        z.zeroize();
        if degenerate {
            return Err(DhError::DegenerateShared);
        }
        Ok(())
    }
}

/// base^x mod p for the 64-bit fuzzing group in plain `u128` arithmetic, square and multiply over
/// the exponent's low 64 bits: a few hundred instructions where the constant-time Montgomery
/// ladder, under fuzzing instrumentation, takes about a hundred thousand. Timing leaks do not
/// matter for a group that protects nothing.
#[cfg(feature = "fuzzing")]
fn pow_u64<const L: usize>(p: &Uint<L>, base: &Uint<L>, x: &U256) -> Uint<L> {
    let word = |v: &[u8]| {
        let mut b = [0u8; 8];
        if let Some(tail) = v.get(v.len().saturating_sub(8)..) {
            b.copy_from_slice(tail);
        }
        u64::from_be_bytes(b)
    };
    let (mut pb, mut bb, mut xb) = ([0u8; 8], [0u8; 8], [0u8; 32]);
    uint_to_be(p, &mut pb);
    uint_to_be(base, &mut bb);
    uint_to_be(x, &mut xb);
    let p = u128::from(word(&pb));
    let mut b = u128::from(word(&bb)) % p;
    let mut e = word(&xb);
    let mut r: u128 = 1;
    while e != 0 {
        if e & 1 == 1 {
            r = r * b % p;
        }
        b = b * b % p;
        e >>= 1;
    }
    xb.zeroize();
    let out = be_to_uint::<L>(&u64::try_from(r).unwrap_or(0).to_be_bytes());
    out.unwrap_or(Uint::ZERO)
}

const F768: Field<{ U768::LIMBS }> = Field {
    prime: &P768,
    params: &M768,
    exp_bits: EXPONENT_BITS,
};
const F1024: Field<{ U1024::LIMBS }> = Field {
    prime: &P1024,
    params: &M1024,
    exp_bits: EXPONENT_BITS,
};
const F1536: Field<{ U1536::LIMBS }> = Field {
    prime: &P1536,
    params: &M1536,
    exp_bits: EXPONENT_BITS,
};
const F2048: Field<{ U2048::LIMBS }> = Field {
    prime: &P2048,
    params: &M2048,
    exp_bits: EXPONENT_BITS,
};
#[cfg(feature = "fuzzing")]
const F_FUZZ64: Field<{ U64::LIMBS }> = Field {
    prime: &P_FUZZ64,
    params: &M_FUZZ64,
    // The low 64 bits of the exponent: a quarter of the work, and plenty for a 64-bit group.
    exp_bits: 64,
};

/// Our Diffie-Hellman private exponent x for one exchange, with its public value g^x.
/// The exponent is wiped on drop.
pub struct DhSecret {
    group: DhGroup,
    x: U256,
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
        self.x.zeroize();
    }
}

impl DhSecret {
    /// Draws a fresh 256-bit exponent from `rng` and computes g^x.
    pub fn generate(group: DhGroup, rng: &mut Rng) -> DhSecret {
        let mut buf = [0u8; EXPONENT_BITS / 8];
        loop {
            rng.fill(&mut buf);
            // Zero (probability 2^-256) would make g^x = 1; draw again. OR-fold rather than
            // a short-circuiting scan, so timing does not reveal where the first non-zero byte is.
            if buf.iter().fold(0u8, |acc, &b| acc | b) != 0 {
                break;
            }
        }
        let s = Self::from_exponent(group, &buf);
        buf.zeroize();
        s
    }

    /// Uses the given big-endian exponent (1..=32 bytes, non-zero) instead of a random one.
    /// For known-answer tests and for reproducing a peer's logged exchange; production code uses
    /// [`DhSecret::generate`].
    pub fn from_exponent_bytes(group: DhGroup, x: &[u8]) -> Result<DhSecret, DhError> {
        if x.is_empty() || x.len() > EXPONENT_BITS / 8 || x.iter().fold(0u8, |acc, &b| acc | b) == 0
        {
            return Err(DhError::BadExponent);
        }
        let mut buf = [0u8; EXPONENT_BITS / 8];
        let start = buf.len() - x.len();
        if let Some(dst) = buf.get_mut(start..) {
            dst.copy_from_slice(x);
        }
        let s = Self::from_exponent(group, &buf);
        buf.zeroize();
        Ok(s)
    }

    fn from_exponent(group: DhGroup, buf: &[u8; EXPONENT_BITS / 8]) -> DhSecret {
        let x = be_to_uint::<{ U256::LIMBS }>(buf).unwrap_or(U256::ONE);
        let mut public = vec![0u8; group.prime_len()];
        match group {
            DhGroup::Modp768 => F768.public(&x, &mut public),
            DhGroup::Modp1024 => F1024.public(&x, &mut public),
            DhGroup::Modp1536 => F1536.public(&x, &mut public),
            DhGroup::Modp2048 => F2048.public(&x, &mut public),
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => F_FUZZ64.public(&x, &mut public),
        }
        DhSecret { group, x, public }
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// g^x, big-endian, left-padded to the prime length (the KE payload data).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Validates the peer's public value y (exact prime length, 1 < y < p-1) and returns
    /// g^xy = y^x mod p, big-endian, left-padded to the prime length.
    pub fn compute_shared(&self, peer_public: &[u8]) -> Result<SharedSecret, DhError> {
        let mut out = vec![0u8; self.group.prime_len()];
        let r = match self.group {
            DhGroup::Modp768 => F768.shared(&self.x, peer_public, &mut out),
            DhGroup::Modp1024 => F1024.shared(&self.x, peer_public, &mut out),
            DhGroup::Modp1536 => F1536.shared(&self.x, peer_public, &mut out),
            DhGroup::Modp2048 => F2048.shared(&self.x, peer_public, &mut out),
            #[cfg(feature = "fuzzing")]
            DhGroup::Fuzz64 => F_FUZZ64.shared(&self.x, peer_public, &mut out),
        };
        // Wrap first so the bytes are wiped on the error path too.
        let secret = SharedSecret::new(out);
        r.map(|()| secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;
    use num_bigint::BigUint;

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn primes_match_rfc_fingerprints() {
        let want = [
            (
                DhGroup::Modp768,
                "b52ba6a3026520a6c49d37e4587601801bee500123b3259b6bf03e7cecc3e63d",
            ),
            (
                DhGroup::Modp1024,
                "3f35a3f5f6c4376a744acad409bb22f8d897f949d2311d885adaa890981b67a0",
            ),
            (
                DhGroup::Modp1536,
                "64fcc83ec403930bf18393dbc883ccaa1fbb08ac876f77f7aa99748ca945019b",
            ),
            (
                DhGroup::Modp2048,
                "d66436f79bbd6b2e38c0ffbd079be904d2641415e2e67140e09448be9a60890e",
            ),
        ];
        for (g, fp) in want {
            let p = g.prime_bytes();
            assert_eq!(p.len(), g.prime_len());
            let d = crate::crypto::hmac::HashAlg::Sha256.digest(&[&p]);
            assert_eq!(to_hex(&d), fp, "{g:?}");
            assert_eq!(DhGroup::from_ike_id(g.ike_id()), Some(g));
        }
        assert_eq!(DhGroup::from_ike_id(15), None);
    }

    fn oracle_pow(g: DhGroup, base: &[u8], x: &[u8]) -> Vec<u8> {
        let p = BigUint::from_bytes_be(&g.prime_bytes());
        let r = BigUint::from_bytes_be(base).modpow(&BigUint::from_bytes_be(x), &p);
        let b = r.to_bytes_be();
        let mut out = vec![0u8; g.prime_len() - b.len()];
        out.extend_from_slice(&b);
        out
    }

    #[test]
    fn differential_against_num_bigint() {
        let mut rng = Rng::from_u64(0x1dff);
        for g in DhGroup::ALL {
            let rounds = if g == DhGroup::Modp2048 { 24 } else { 48 };
            for i in 0..rounds {
                let mut x = [0u8; 32];
                rng.fill(&mut x);
                if i == 0 {
                    // Small exponents exercise the leading-zero path of the bounded loop.
                    x = [0; 32];
                    x[31] = 3;
                }
                let s = DhSecret::from_exponent_bytes(g, &x).unwrap();
                assert_eq!(
                    s.public_value(),
                    oracle_pow(g, &[2], &x).as_slice(),
                    "{g:?}"
                );
                // A random peer value below p (top byte cleared keeps it below every prime here).
                let mut y = vec![0u8; g.prime_len()];
                rng.fill(&mut y);
                y[0] &= 0x7f;
                let z = s.compute_shared(&y).unwrap();
                assert_eq!(z.expose_secret(), oracle_pow(g, &y, &x).as_slice(), "{g:?}");
                assert_eq!(z.len(), g.prime_len());
            }
        }
    }

    #[test]
    fn generated_pairs_agree() {
        let mut rng = Rng::from_u64(5);
        for g in [DhGroup::Modp768, DhGroup::Modp2048] {
            let a = DhSecret::generate(g, &mut rng);
            let b = DhSecret::generate(g, &mut rng);
            assert_ne!(a.public_value(), b.public_value());
            let ab = a.compute_shared(b.public_value()).unwrap();
            let ba = b.compute_shared(a.public_value()).unwrap();
            assert_eq!(ab.expose_secret(), ba.expose_secret());
            assert!(!format!("{a:?}").contains("x:"));
        }
    }

    #[test]
    fn vector_5_2_group2() {
        let g = DhGroup::Modp1024;
        let i = DhSecret::from_exponent_bytes(g, &[0x11; 32]).unwrap();
        let r = DhSecret::from_exponent_bytes(g, &[0x22; 32]).unwrap();
        let gxi = hex(
            "a3616141ace28df1503b7975754b8c03513504fbe6e5373c7334642867b0bfc3
             4f34b23d197bddfcebb0544f05314647406a35f3a460490a86f201e051503691
             1542486fed3e087748d5e5079e17a362555f92c501caf3c5227c47fb2f9f1f0e
             1470a8935cfb5b58df64efa5cd0b19880cf20cd472e142af343f983240de1980",
        );
        let gxr = hex(
            "5daba0bf13f733d5e49510ade27c8ec1c5a89328278291f7548c6204ca0408c5
             a20d7dc64829f77c3b7ef03eb279deade1f98e9d5a4198cbc4249b1a90d68501
             94e5c8dcdc80e4eb4b663245c0e776ac8eb4dae6ec48146c206d27cf2d8f8a49
             a53a51f7822245b6ab41d49c1cb91e1609be707945c0be75d67e16ec3011a2bb",
        );
        let gxy = hex(
            "6130d1167ba0e97f35edfb8a334f34997c37326988b09b3f1bf5a0e0a479e3b0
             b4a2812e86ff53e9cf31ed8b7c402f532516d2bdec88539d50e37f1bef54557d
             51fd96ef0b5ee20c5e56dfa751973820555b1e67b70aa6f8ceeb5129fd69a0f8
             e72d4d317825c77e3bbb4ad988d794db22c704f8fa6667e2a233ed748fb5c1a9",
        );
        assert_eq!(i.public_value(), gxi.as_slice());
        assert_eq!(r.public_value(), gxr.as_slice());
        assert_eq!(
            i.compute_shared(&gxr).unwrap().expose_secret(),
            gxy.as_slice()
        );
        assert_eq!(
            r.compute_shared(&gxi).unwrap().expose_secret(),
            gxy.as_slice()
        );
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn fuzz_group_against_num_bigint() {
        let g = DhGroup::Fuzz64;
        assert_eq!(DhGroup::from_ike_id(FUZZ_GROUP_ID), Some(g));
        assert!(!DhGroup::ALL.contains(&g));
        assert!(!crate::policy::KNOWN_GROUPS.contains(&FUZZ_GROUP_ID));
        let p = BigUint::from_bytes_be(&g.prime_bytes());
        assert_eq!(p, (BigUint::from(1u8) << 64u32) - BigUint::from(8489u32));
        let q = (&p - 1u8) >> 1u32;
        // 2 has order q (a quadratic residue of a safe prime).
        assert_eq!(BigUint::from(2u8).modpow(&q, &p), BigUint::from(1u8));
        let mut rng = Rng::from_u64(0xf64);
        for _ in 0..32 {
            let a = DhSecret::generate(g, &mut rng);
            let b = DhSecret::generate(g, &mut rng);
            assert_eq!(a.public_value().len(), 8);
            let ab = a.compute_shared(b.public_value()).unwrap();
            let ba = b.compute_shared(a.public_value()).unwrap();
            assert_eq!(ab.expose_secret(), ba.expose_secret());
            let mut x = [0u8; 32];
            rng.fill(&mut x);
            let s = DhSecret::from_exponent_bytes(g, &x).unwrap();
            // Only the exponent's low 64 bits count in this group.
            assert_eq!(s.public_value(), oracle_pow(g, &[2], &x[24..]).as_slice());
        }
        let s = DhSecret::from_exponent_bytes(g, &[7]).unwrap();
        let pm1 = (&p - 1u8).to_bytes_be();
        assert_eq!(s.compute_shared(&pm1).unwrap_err(), DhError::PMinusOne);
        assert_eq!(s.compute_shared(&[0; 8]).unwrap_err(), DhError::TooSmall);
        assert_eq!(
            s.compute_shared(&[1; 128]).unwrap_err(),
            DhError::WrongLength {
                expected: 8,
                got: 128
            }
        );
    }

    #[test]
    fn bad_peer_values_are_distinct_errors() {
        let g = DhGroup::Modp768;
        let s = DhSecret::from_exponent_bytes(g, &[7]).unwrap();
        let n = g.prime_len();
        assert_eq!(
            s.compute_shared(&vec![1u8; n - 1]).unwrap_err(),
            DhError::WrongLength {
                expected: n,
                got: n - 1
            }
        );
        assert_eq!(
            s.compute_shared(&vec![1u8; n + 1]).unwrap_err(),
            DhError::WrongLength {
                expected: n,
                got: n + 1
            }
        );
        assert_eq!(
            s.compute_shared(&vec![0u8; n]).unwrap_err(),
            DhError::TooSmall
        );
        let mut one = vec![0u8; n];
        one[n - 1] = 1;
        assert_eq!(s.compute_shared(&one).unwrap_err(), DhError::TooSmall);
        let mut two = one.clone();
        two[n - 1] = 2;
        assert!(s.compute_shared(&two).is_ok());
        let p = g.prime_bytes();
        let mut pm1 = p.clone();
        pm1[n - 1] -= 1;
        assert_eq!(s.compute_shared(&pm1).unwrap_err(), DhError::PMinusOne);
        let mut pm2 = p.clone();
        pm2[n - 1] -= 2;
        assert!(s.compute_shared(&pm2).is_ok());
        assert_eq!(s.compute_shared(&p).unwrap_err(), DhError::NotBelowPrime);
        assert_eq!(
            s.compute_shared(&vec![0xff; n]).unwrap_err(),
            DhError::NotBelowPrime
        );
        assert_eq!(
            DhSecret::from_exponent_bytes(g, &[0; 4]).unwrap_err(),
            DhError::BadExponent
        );
        assert_eq!(
            DhSecret::from_exponent_bytes(g, &[1; 33]).unwrap_err(),
            DhError::BadExponent
        );
    }
}
