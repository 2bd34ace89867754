//! MODP arithmetic (RFC 2409 §6, RFC 3526, RFC 5114 §2.3): the primes, cached Montgomery
//! parameters, and the two operations a Diffie-Hellman exchange needs.
//!
//! Every exponentiation with our secret exponent runs in constant time: crypto-bigint's
//! Montgomery arithmetic with `pow_bounded_exp(x, bits)`, whose running time depends only on the
//! group's exponent bound, never on the exponent's value.

use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
#[cfg(feature = "fuzzing")]
use crypto_bigint::U64;
use crypto_bigint::{Limb, Uint, Word, U1024, U1536, U2048, U256, U3072, U4096, U512, U768};
use zeroize::Zeroize;

use super::DhError;

/// Storage of a MODP private exponent: wide enough for the largest bound (group 16's 384 bits).
pub(super) type Exponent = U512;

// Primes (and group 24's generator and subgroup order) as published in RFC 2409 §6.1-6.2,
// RFC 3526 §2-5 and RFC 5114 §2.3.
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

const P3072: U3072 = U3072::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
));
const P4096: U4096 = U4096::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
));
const P2048_256: U2048 = U2048::from_be_hex(concat!(
    "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00",
    "E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C",
    "209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B",
    "6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76",
    "B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8E",
    "F6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026",
    "C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103",
    "A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597",
));
const G2048_256: U2048 = U2048::from_be_hex(concat!(
    "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA125",
    "10DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62",
    "901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B",
    "777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193",
    "B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0A",
    "DB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915",
    "B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C3",
    "2F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659",
));
const Q2048_256: U256 =
    U256::from_be_hex("8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3");

// Montgomery parameters cost a few long divisions to set up; compute them once per process.
static M768: OnceLock<DynResidueParams<{ U768::LIMBS }>> = OnceLock::new();
static M1024: OnceLock<DynResidueParams<{ U1024::LIMBS }>> = OnceLock::new();
static M1536: OnceLock<DynResidueParams<{ U1536::LIMBS }>> = OnceLock::new();
static M2048: OnceLock<DynResidueParams<{ U2048::LIMBS }>> = OnceLock::new();
static M3072: OnceLock<DynResidueParams<{ U3072::LIMBS }>> = OnceLock::new();
static M4096: OnceLock<DynResidueParams<{ U4096::LIMBS }>> = OnceLock::new();
static M2048_256: OnceLock<DynResidueParams<{ U2048::LIMBS }>> = OnceLock::new();
#[cfg(feature = "fuzzing")]
static M_FUZZ64: OnceLock<DynResidueParams<{ U64::LIMBS }>> = OnceLock::new();

/// Big-endian bytes of `x` into `out` (which is `L * Limb::BYTES` long).
pub(super) fn uint_to_be<const L: usize>(x: &Uint<L>, out: &mut [u8]) {
    for (chunk, w) in out.rchunks_exact_mut(Limb::BYTES).zip(x.as_words().iter()) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
}

/// Parses exactly `L * Limb::BYTES` big-endian bytes.
pub(super) fn be_to_uint<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
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

/// The generator of a group: 2 for the RFC 2409/3526 groups, a large element for group 24.
#[derive(Clone, Copy)]
enum Generator<const L: usize> {
    Two,
    Element(&'static Uint<L>),
}

/// One MODP group's arithmetic.
pub(super) struct Field<const L: usize> {
    prime: &'static Uint<L>,
    generator: Generator<L>,
    /// The prime order q of the subgroup the generator spans, when it is much smaller than p
    /// (group 24). A peer value must then lie in that subgroup (RFC 6989 §2.2): a value of small
    /// order would confine g^xy to a handful of values and leak our exponent modulo that order.
    /// For the safe-prime groups every 1 < y < p-1 has large order, so the range check suffices.
    subgroup: Option<&'static U256>,
    params: &'static OnceLock<DynResidueParams<L>>,
    /// Exponent bits used (the bound that fixes the ladder's running time).
    pub(super) exp_bits: usize,
}

impl<const L: usize> Field<L> {
    /// Length of p (and of every public value and shared secret) in bytes.
    pub(super) const BYTES: usize = L * Limb::BYTES;

    fn params(&self) -> DynResidueParams<L> {
        // The primes are odd constants, so `new` (which rejects even moduli) cannot fail here.
        *self
            .params
            .get_or_init(|| DynResidueParams::new(self.prime))
    }

    /// Bytes of randomness an exponent is drawn from: the ladder's bound, but at least 32 (the
    /// fuzzing group uses only the low 64 bits of 32 drawn bytes, so a fuzzed exchange consumes
    /// the caller's RNG exactly as a real one does).
    pub(super) const fn draw_bytes(&self) -> usize {
        if self.exp_bits / 8 > 32 {
            self.exp_bits / 8
        } else {
            32
        }
    }

    /// The prime p, big-endian.
    pub(super) fn prime_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; Self::BYTES];
        uint_to_be(self.prime, &mut out);
        out
    }

    /// The subgroup order q, big-endian, for groups that have one.
    #[cfg(test)]
    pub(super) fn subgroup_order(&self) -> Option<[u8; 32]> {
        self.subgroup.map(|q| {
            let mut out = [0u8; 32];
            uint_to_be(q, &mut out);
            out
        })
    }

    /// base^x mod p, constant time in `x` (the ladder always runs over all `exp_bits` bits).
    fn pow<const X: usize>(&self, base: &Uint<L>, x: &Uint<X>, bits: usize) -> Uint<L> {
        #[cfg(feature = "fuzzing")]
        if L * Limb::BYTES == 8 {
            return pow_u64(self.prime, base, x);
        }
        let mut b = DynResidue::new(base, self.params());
        let mut r = b.pow_bounded_exp(x, bits);
        let out = r.retrieve();
        b.zeroize();
        r.zeroize();
        out
    }

    /// Whether `x` is a usable exponent for this group: non-zero and, for a group with a
    /// subgroup, below its order q (RFC 5114 §2.3 draws x from [1, q-1]).
    pub(super) fn accepts_exponent(&self, x: &Exponent) -> bool {
        let nonzero = x.as_words().iter().fold(0, |a, w| a | w) != 0;
        match self.subgroup {
            None => nonzero,
            Some(q) => nonzero && *x < q.resize::<{ Exponent::LIMBS }>(),
        }
    }

    /// g^x, big-endian, into `out` (`BYTES` long).
    pub(super) fn public(&self, x: &Exponent, out: &mut [u8]) {
        let base = match self.generator {
            Generator::Two => Uint::from_u8(2),
            Generator::Element(g) => *g,
        };
        let mut y = self.pow(&base, x, self.exp_bits);
        uint_to_be(&y, out);
        y.zeroize();
    }

    /// Validates the peer's value y and writes y^x mod p into `out` (`BYTES` long).
    pub(super) fn shared(&self, x: &Exponent, peer: &[u8], out: &mut [u8]) -> Result<(), DhError> {
        let y = be_to_uint::<L>(peer).ok_or(DhError::WrongLength {
            expected: Self::BYTES,
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
        if let Some(q) = self.subgroup {
            // Public data, yet the ladder is constant-time anyway; 256 bits bound q.
            if self.pow(&y, q, 256) != Uint::ONE {
                return Err(DhError::NotInSubgroup);
            }
        }
        let mut z = self.pow(&y, x, self.exp_bits);
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
fn pow_u64<const L: usize, const X: usize>(p: &Uint<L>, base: &Uint<L>, x: &Uint<X>) -> Uint<L> {
    let word = |v: &[u8]| {
        let mut b = [0u8; 8];
        if let Some(tail) = v.get(v.len().saturating_sub(8)..) {
            b.copy_from_slice(tail);
        }
        u64::from_be_bytes(b)
    };
    let (mut pb, mut bb) = ([0u8; 8], [0u8; 8]);
    let mut xb = vec![0u8; X * Limb::BYTES];
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

/// Exponent bits for a group whose discrete logarithm resists about 128 bits of work or less
/// (groups 1, 2, 5, 14, 15: roughly 76, 80, 90, 110 and 128 bits): the exponent needs twice the
/// strength to resist Pollard rho/lambda (RFC 3526 §8), so 256 bits covers them all.
const EXP_256: usize = 256;
/// Group 16 is estimated at about 150 bits (RFC 3526 §8, NIST SP 800-57): twice that, rounded up
/// to a multiple of 128.
const EXP_384: usize = 384;

const fn safe_prime<const L: usize>(
    prime: &'static Uint<L>,
    params: &'static OnceLock<DynResidueParams<L>>,
    exp_bits: usize,
) -> Field<L> {
    Field {
        prime,
        generator: Generator::Two,
        subgroup: None,
        params,
        exp_bits,
    }
}

pub(super) const F768: Field<{ U768::LIMBS }> = safe_prime(&P768, &M768, EXP_256);
pub(super) const F1024: Field<{ U1024::LIMBS }> = safe_prime(&P1024, &M1024, EXP_256);
pub(super) const F1536: Field<{ U1536::LIMBS }> = safe_prime(&P1536, &M1536, EXP_256);
pub(super) const F2048: Field<{ U2048::LIMBS }> = safe_prime(&P2048, &M2048, EXP_256);
pub(super) const F3072: Field<{ U3072::LIMBS }> = safe_prime(&P3072, &M3072, EXP_256);
pub(super) const F4096: Field<{ U4096::LIMBS }> = safe_prime(&P4096, &M4096, EXP_384);
/// Group 24: x is drawn below the 256-bit q, so the ladder needs 256 bits.
pub(super) const F2048_256: Field<{ U2048::LIMBS }> = Field {
    prime: &P2048_256,
    generator: Generator::Element(&G2048_256),
    subgroup: Some(&Q2048_256),
    params: &M2048_256,
    exp_bits: EXP_256,
};
#[cfg(feature = "fuzzing")]
pub(super) const F_FUZZ64: Field<{ U64::LIMBS }> =
    // The low 64 bits of the exponent: a quarter of the work, and plenty for a 64-bit group.
    safe_prime(&P_FUZZ64, &M_FUZZ64, 64);
