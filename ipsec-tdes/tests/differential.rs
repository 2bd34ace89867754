//! Differential tests against RustCrypto `des` (+ `cbc`): random keys per packet, random batch
//! shapes (empty packets, one-block packets, long packets, batches wider than a pass), every
//! width this CPU runs plus the automatic choice.

use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ipsec_tdes::{DecryptJob, EncryptJob, Error, TdesCbc, TdesKey, Width};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Debug builds run the bitsliced core unoptimised: keep their batches small.
const SCALE: usize = if cfg!(debug_assertions) { 1 } else { 8 };

fn reference_encrypt(key: &[u8; 24], iv: &[u8; 8], data: &mut [u8]) {
    let len = data.len();
    cbc::Encryptor::<des::TdesEde3>::new(key.into(), iv.into())
        .encrypt_padded_mut::<NoPadding>(data, len)
        .unwrap();
}

fn reference_decrypt(key: &[u8; 24], iv: &[u8; 8], data: &mut [u8]) {
    cbc::Decryptor::<des::TdesEde3>::new(key.into(), iv.into())
        .decrypt_padded_mut::<NoPadding>(data)
        .unwrap();
}

struct Batch {
    keys: Vec<[u8; 24]>,
    ivs: Vec<[u8; 8]>,
    data: Vec<Vec<u8>>,
}

fn random_batch(rng: &mut ChaCha20Rng, max_jobs: usize, max_blocks: usize) -> Batch {
    let jobs = (rng.next_u32() as usize) % (max_jobs + 1);
    let mut b = Batch {
        keys: vec![],
        ivs: vec![],
        data: vec![],
    };
    for _ in 0..jobs {
        let mut key = [0u8; 24];
        rng.fill_bytes(&mut key);
        // Now and then a key shared with the previous packet (same SA).
        if !b.keys.is_empty() && rng.next_u32().is_multiple_of(4) {
            key = *b.keys.last().unwrap();
        }
        let mut iv = [0u8; 8];
        rng.fill_bytes(&mut iv);
        let blocks = match rng.next_u32() % 8 {
            0 => 0,
            1 => 1,
            _ => (rng.next_u32() as usize) % (max_blocks + 1),
        };
        let mut d = vec![0u8; 8 * blocks];
        rng.fill_bytes(&mut d);
        b.keys.push(key);
        b.ivs.push(iv);
        b.data.push(d);
    }
    b
}

fn contexts() -> Vec<(String, TdesCbc)> {
    let mut v = vec![("auto".to_string(), TdesCbc::new())];
    for w in Width::available() {
        v.push((format!("{w:?}"), TdesCbc::with_width(w).unwrap()));
        // Where AVX-512VL gives these widths three-input logic, the plain kernels too.
        if w <= Width::Avx2 {
            let mut ctx = TdesCbc::with_width(w).unwrap();
            ctx.set_ternlog(false);
            v.push((format!("{w:?}-no-ternlog"), ctx));
        }
    }
    v
}

fn run(seed: u64, max_jobs: usize, max_blocks: usize, rounds: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for (name, mut ctx) in contexts() {
        for round in 0..rounds {
            let b = random_batch(&mut rng, max_jobs, max_blocks);
            let keys: Vec<TdesKey> = b.keys.iter().map(TdesKey::new).collect();
            let mut want = b.data.clone();
            for ((d, k), iv) in want.iter_mut().zip(&b.keys).zip(&b.ivs) {
                reference_encrypt(k, iv, d);
            }
            let mut got = b.data.clone();
            let mut jobs: Vec<EncryptJob<'_>> = got
                .iter_mut()
                .zip(&keys)
                .zip(&b.ivs)
                .map(|((data, key), iv)| EncryptJob { key, iv: *iv, data })
                .collect();
            ctx.encrypt(&mut jobs).unwrap();
            drop(jobs);
            assert!(
                got == want,
                "{name} seed {seed} round {round}: encrypt differs"
            );

            // Decrypt the ciphertexts back, into buffers longer than needed.
            let mut out: Vec<Vec<u8>> = want.iter().map(|c| vec![0xEE; c.len() + 3]).collect();
            let mut jobs: Vec<DecryptJob<'_>> = out
                .iter_mut()
                .zip(&want)
                .zip(&keys)
                .zip(&b.ivs)
                .map(|(((dst, src), key), iv)| DecryptJob {
                    key,
                    iv: *iv,
                    src,
                    dst,
                })
                .collect();
            ctx.decrypt(&mut jobs).unwrap();
            drop(jobs);
            for (i, (o, p)) in out.iter().zip(&b.data).enumerate() {
                assert!(
                    o[..p.len()] == p[..],
                    "{name} seed {seed} round {round} job {i}"
                );
                assert!(
                    o[p.len()..].iter().all(|&x| x == 0xEE),
                    "wrote past the plaintext"
                );
            }
            // And the reference decrypts what we encrypt (both directions cross-checked).
            for (((c, k), iv), p) in want.iter().zip(&b.keys).zip(&b.ivs).zip(&b.data) {
                let mut c = c.clone();
                reference_decrypt(k, iv, &mut c);
                assert!(&c == p);
            }
        }
    }
}

#[test]
fn small_batches_random_shapes() {
    run(1, 12, 24, 4 * SCALE);
}

#[test]
fn batches_wider_than_a_pass() {
    // Up to 700 packets: more than 512 lanes, so lanes are refilled mid-batch.
    run(2, 90 * SCALE, 4 * SCALE, 2);
}

#[test]
fn long_packets() {
    // 1400-byte ESP-sized packets and longer: decryption spreads one packet over many lanes.
    run(3, 4 * SCALE, 200, 2);
}

#[test]
fn errors_are_checked_before_any_write() {
    let key = TdesKey::new(&[3; 24]);
    let mut ctx = TdesCbc::new();
    let mut a = [1u8; 16];
    let mut b = [2u8; 12];
    let mut jobs = [
        EncryptJob {
            key: &key,
            iv: [0; 8],
            data: &mut a,
        },
        EncryptJob {
            key: &key,
            iv: [0; 8],
            data: &mut b,
        },
    ];
    assert_eq!(
        ctx.encrypt(&mut jobs),
        Err(Error::NotBlockAligned { job: 1, len: 12 })
    );
    assert_eq!(a, [1u8; 16]);
    let src = [0u8; 24];
    let mut dst = [9u8; 16];
    assert_eq!(
        ctx.decrypt_one(&key, [0; 8], &src, &mut dst),
        Err(Error::BufferTooSmall { job: 0, needed: 24 })
    );
    assert_eq!(dst, [9u8; 16]);
}

#[test]
fn width_choice() {
    let ctx = TdesCbc::with_max_width(Width::Avx512);
    let narrow = if Width::Vbmi.is_available() {
        Width::Vbmi
    } else {
        Width::U64
    };
    assert_eq!(ctx.width_for(1), narrow);
    // Two passes of the narrow kernel's four registers beat one 64-lane bitsliced pass.
    assert_eq!(ctx.width_for(64), narrow);
    let widest = Width::available().last().unwrap();
    assert_eq!(ctx.width_for(100_000), widest);
    let mut no_vbmi = TdesCbc::with_max_width(Width::Avx512);
    no_vbmi.set_vbmi_narrow_path(false);
    assert_eq!(no_vbmi.width_for(1), Width::U64);
    for w in Width::available() {
        assert_eq!(TdesCbc::with_width(w).unwrap().width_for(1), w);
    }
}
