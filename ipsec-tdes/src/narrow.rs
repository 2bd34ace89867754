//! The narrow path's tables and key schedule (the kernel is `x86::vbmi_encrypt`).
//!
//! For a few packets, a bitsliced pass wastes most of its lanes. AVX-512 VBMI permutes
//! (`vpermt2b`) look up 64 bytes in a 128-byte table held in two registers in constant time
//! (the table index is a register operand, never an address), so DES's eight 6-to-32-bit SP
//! tables (S-box followed by P) become 4 pairs × 4 byte planes of register-held tables, and a
//! round of 8 blocks (one per 64-bit element) is about 40 vector instructions. Each of the
//! 48 rounds of 3DES costs the same for 1 to 8 blocks; the kernel runs one to four registers
//! (up to 32 packets).
//!
//! The SP tables are not transcribed: they are computed from the bitsliced S-box circuits of
//! `sbox.rs` (evaluated on words whose bit x is input x) and the P wiring of `des.rs`.

use crate::des::{KS, PINV};
use crate::sbox::{s1, s2, s3, s4, s5, s6, s7, s8};

/// Lanes of the narrow kernel: four 512-bit registers of eight 64-bit blocks.
pub(crate) const LANES: usize = 32;

/// `t[pair][plane]`: the 128-byte table for S-boxes `2 pair` (bytes 0..64) and `2 pair + 1`
/// (64..128); byte x is byte `plane` (0 = least significant) of SP(x), SP(x) being the 32-bit
/// f contribution with DES bit 1 most significant.
pub(crate) struct SpTables {
    pub(crate) t: [[[u8; 128]; 4]; 4],
}

pub(crate) fn sp_tables() -> &'static SpTables {
    static T: std::sync::OnceLock<SpTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        // Word a_i has bit x set iff input bit b_i of the 6-bit value x is set (b1 = MSB).
        let a: [u64; 6] =
            core::array::from_fn(|i| (0..64u64).fold(0, |w, x| w | (((x >> (5 - i)) & 1) << x)));
        let outs: [[u64; 4]; 8] = [
            s1(a[0], a[1], a[2], a[3], a[4], a[5]),
            s2(a[0], a[1], a[2], a[3], a[4], a[5]),
            s3(a[0], a[1], a[2], a[3], a[4], a[5]),
            s4(a[0], a[1], a[2], a[3], a[4], a[5]),
            s5(a[0], a[1], a[2], a[3], a[4], a[5]),
            s6(a[0], a[1], a[2], a[3], a[4], a[5]),
            s7(a[0], a[1], a[2], a[3], a[4], a[5]),
            s8(a[0], a[1], a[2], a[3], a[4], a[5]),
        ];
        let mut t = [[[0u8; 128]; 4]; 4];
        for (s, o) in outs.iter().enumerate() {
            for x in 0..64 {
                let mut sp = 0u32;
                for (q, oq) in o.iter().enumerate() {
                    let bit = ((oq >> x) & 1) as u32;
                    sp |= bit << (31 - PINV[4 * s + q] as u32);
                }
                for (plane, tp) in t[s / 2].iter_mut().enumerate() {
                    tp[64 * (s % 2) + x] = (sp >> (8 * plane)) as u8;
                }
            }
        }
        SpTables { t }
    })
}

/// The 48 round keys of 3DES encryption (E k1, D k2, E k3) for lane `lane`, in round order,
/// written to `out[round * LANES + lane]` (the kernel loads eight lanes of a round at once):
/// byte s of a round key is subkey bits 6s..6s+6 (first bit most significant), with bit 6
/// set for odd s to select the second half of the S-box pair's table. Branch-free bit moves.
pub(crate) fn round_keys(k: &[u64; 3], lane: usize, out: &mut [u64]) {
    for (stage, key) in k.iter().enumerate() {
        let decrypt = stage == 1;
        for r in 0..16 {
            let ks = &KS[if decrypt { 15 - r } else { r }];
            let mut v = 0u64;
            for s in 0..8 {
                let mut chunk = 0u64;
                for t in 0..6 {
                    chunk = (chunk << 1) | ((key >> ks[6 * s + t]) & 1);
                }
                v |= (chunk | ((s as u64 & 1) << 6)) << (8 * s);
            }
            out[(16 * stage + r) * LANES + lane] = v;
        }
    }
}

/// A fixed bit permutation of a u64 as shift groups: `(mask, shift)` moves the bits of
/// `mask` by `shift` (positive: left). Bits moving by the same distance move together, so IP
/// and FP cost a few shift/mask steps instead of 64 single-bit moves.
pub(crate) struct Moves {
    pub(crate) n: usize,
    pub(crate) mask: [u64; 127],
    pub(crate) shift: [i32; 127],
}

/// `moves(inverse = false)`: IP, output bit i (0 = first) from input bit IP[i]; `true`: FP.
const fn moves(inverse: bool) -> Moves {
    let mut by_delta = [0u64; 127];
    let mut i = 0;
    while i < 64 {
        // DES bit n (1 = first) is u64 bit 64 - n.
        let (src, dst) = if inverse {
            (63 - i as i32, 64 - crate::des::IP[i] as i32)
        } else {
            (64 - crate::des::IP[i] as i32, 63 - i as i32)
        };
        by_delta[(dst - src + 63) as usize] |= 1u64 << src;
        i += 1;
    }
    let mut m = Moves {
        n: 0,
        mask: [0; 127],
        shift: [0; 127],
    };
    let mut d = 0;
    while d < 127 {
        if by_delta[d] != 0 {
            m.mask[m.n] = by_delta[d];
            m.shift[m.n] = d as i32 - 63;
            m.n += 1;
        }
        d += 1;
    }
    m
}

/// IP as shift groups.
pub(crate) const IP_MOVES: Moves = moves(false);
/// FP (IP⁻¹) as shift groups.
pub(crate) const FP_MOVES: Moves = moves(true);

/// Applies `m` to `x` (scalar; the kernel does the same on vectors).
#[cfg(test)]
fn apply(m: &Moves, x: u64) -> u64 {
    let mut out = 0;
    for j in 0..m.n {
        let b = x & m.mask[j];
        out |= if m.shift[j] >= 0 {
            b << m.shift[j]
        } else {
            b >> -m.shift[j]
        };
    }
    out
}

/// The initial permutation on a big-endian block: L in the high half, R in the low half.
#[cfg(test)]
pub(crate) fn ip(x: u64) -> u64 {
    apply(&IP_MOVES, x)
}

/// The final permutation (inverse of [`ip`]).
#[cfg(test)]
pub(crate) fn fp(x: u64) -> u64 {
    apply(&FP_MOVES, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_moves_match_the_table() {
        let mut x = 0x0123_4567_89AB_CDEFu64;
        for _ in 0..100 {
            let mut want = 0u64;
            for (i, &src) in crate::des::IP.iter().enumerate() {
                want |= ((x >> (64 - src as u32)) & 1) << (63 - i);
            }
            assert_eq!(ip(x), want);
            x = x.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
        }
        const { assert!(IP_MOVES.n < 40 && FP_MOVES.n < 40) };
    }

    #[test]
    fn fp_inverts_ip() {
        let mut x = 0x0123_4567_89AB_CDEFu64;
        for _ in 0..100 {
            assert_eq!(fp(ip(x)), x);
            x = x.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
        }
    }

    #[test]
    fn sp_tables_hold_four_bits_per_entry() {
        let t = sp_tables();
        for pair in 0..4 {
            for x in 0..128 {
                let sp: u32 = (0..4).map(|p| (t.t[pair][p][x] as u32) << (8 * p)).sum();
                assert!(sp.count_ones() <= 4);
            }
        }
    }
}
