//! The CAVP / SP 800-20 TDES CBC Monte Carlo procedure (TMOVS: 400 outer × 10 000 inner
//! iterations, three-key option with K1 ^= C[9999], K2 ^= C[9998], K3 ^= C[9997]), encrypt and
//! decrypt, for several independent chains run as parallel lanes, checked against the same
//! procedure on RustCrypto `des`.
//!
//! The `cryptography-vectors` package does not ship NIST's `TCBCMonte*.rsp` answers, so the
//! reference is RustCrypto here, from fixed arbitrary initial keys, IVs and texts. 4 million
//! sequential passes per direction: run in release builds only (`cargo test --release -p ipsec-tdes`, a step of `.ci/run`).

use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use ipsec_tdes::{DecryptJob, EncryptJob, TdesCbc, TdesKey, Width};

#[derive(Clone, Copy)]
struct Chain {
    key: [u64; 3],
    iv: u64,
    text: u64,
}

fn key_bytes(k: &[u64; 3]) -> [u8; 24] {
    let mut b = [0u8; 24];
    for i in 0..3 {
        b[8 * i..8 * i + 8].copy_from_slice(&k[i].to_be_bytes());
    }
    b
}

fn chains() -> Vec<Chain> {
    (0..4u64)
        .map(|i| Chain {
            key: [
                0x0123_4567_89AB_CDEF ^ i,
                0x2345_6789_ABCD_EF01 ^ (i << 8),
                0x4567_89AB_CDEF_0123 ^ (i << 16),
            ],
            iv: 0xF69F_2445_DF4F_9B17 ^ i,
            text: 0x6BC1_BEE2_2E40_9F96 ^ i,
        })
        .collect()
}

/// Result of one outer iteration: the last ciphertext (or plaintext) of the chain.
fn reference(c: Chain, outer: usize, decrypt: bool) -> Vec<u64> {
    let mut c = c;
    let mut out = Vec::new();
    for _ in 0..outer {
        let cipher = des::TdesEde3::new(&key_bytes(&c.key).into());
        let mut last = [0u64; 3];
        let (mut cv, mut x) = (c.iv, c.text);
        for j in 0..10_000 {
            let mut b = if decrypt { x } else { x ^ cv }.to_be_bytes().into();
            if decrypt {
                cipher.decrypt_block(&mut b);
            } else {
                cipher.encrypt_block(&mut b);
            }
            let y = u64::from_be_bytes(b.into());
            let y = if decrypt { y ^ cv } else { y };
            last = [y, last[0], last[1]];
            if decrypt {
                cv = x;
                x = y;
            } else {
                x = if j == 0 { cv } else { last[1] };
                cv = y;
            }
        }
        out.push(last[0]);
        c.key = [c.key[0] ^ last[0], c.key[1] ^ last[1], c.key[2] ^ last[2]];
        if decrypt {
            c.iv = cv;
            c.text = x;
        } else {
            c.text = last[1];
            c.iv = last[0];
        }
    }
    out
}

fn ours(ctx: &mut TdesCbc, cs: &[Chain], outer: usize, decrypt: bool) -> Vec<Vec<u64>> {
    let mut cs = cs.to_vec();
    let mut out = vec![Vec::new(); cs.len()];
    for _ in 0..outer {
        let keys: Vec<TdesKey> = cs
            .iter()
            .map(|c| TdesKey::new(&key_bytes(&c.key)))
            .collect();
        let mut last = vec![[0u64; 3]; cs.len()];
        let mut cv: Vec<u64> = cs.iter().map(|c| c.iv).collect();
        let mut x: Vec<u64> = cs.iter().map(|c| c.text).collect();
        let mut bufs = vec![[0u8; 8]; cs.len()];
        for j in 0..10_000 {
            if decrypt {
                let src: Vec<[u8; 8]> = x.iter().map(|v| v.to_be_bytes()).collect();
                let mut jobs: Vec<DecryptJob<'_>> = bufs
                    .iter_mut()
                    .zip(&src)
                    .zip(&keys)
                    .zip(&cv)
                    .map(|(((d, s), key), cv)| DecryptJob {
                        key,
                        iv: cv.to_be_bytes(),
                        src: s,
                        dst: d,
                    })
                    .collect();
                ctx.decrypt(&mut jobs).unwrap();
            } else {
                for (b, v) in bufs.iter_mut().zip(&x) {
                    *b = v.to_be_bytes();
                }
                let mut jobs: Vec<EncryptJob<'_>> = bufs
                    .iter_mut()
                    .zip(&keys)
                    .zip(&cv)
                    .map(|((d, key), cv)| EncryptJob {
                        key,
                        iv: cv.to_be_bytes(),
                        data: d,
                    })
                    .collect();
                ctx.encrypt(&mut jobs).unwrap();
            }
            for i in 0..cs.len() {
                let y = u64::from_be_bytes(bufs[i]);
                last[i] = [y, last[i][0], last[i][1]];
                if decrypt {
                    cv[i] = x[i];
                    x[i] = y;
                } else {
                    x[i] = if j == 0 { cv[i] } else { last[i][1] };
                    cv[i] = y;
                }
            }
        }
        for i in 0..cs.len() {
            let l = last[i];
            out[i].push(l[0]);
            let c = &mut cs[i];
            c.key = [c.key[0] ^ l[0], c.key[1] ^ l[1], c.key[2] ^ l[2]];
            if decrypt {
                c.iv = cv[i];
                c.text = x[i];
            } else {
                c.text = l[1];
                c.iv = l[0];
            }
        }
    }
    out
}

fn check(w: Option<Width>, outer: usize) {
    let cs = chains();
    for decrypt in [false, true] {
        let want: Vec<Vec<u64>> = cs.iter().map(|c| reference(*c, outer, decrypt)).collect();
        let mut ctx = match w {
            Some(w) => TdesCbc::with_width(w).unwrap(),
            None => TdesCbc::new(),
        };
        assert_eq!(
            ours(&mut ctx, &cs, outer, decrypt),
            want,
            "{w:?} decrypt={decrypt}"
        );
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "4 million passes: release builds only")]
fn monte_carlo_full_400_outer() {
    check(None, 400);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release builds only")]
fn monte_carlo_every_width_40_outer() {
    for w in Width::available() {
        check(Some(w), 40);
    }
}
