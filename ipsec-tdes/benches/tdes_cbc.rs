//! 3DES-CBC batch encryption and decryption of 1400-byte packets, one key per packet, at batch
//! sizes 1, 8, 32, 64 and 256: this crate (automatic width, and each width forced) beside
//! RustCrypto `des` (+ `cbc`) packet by packet. Run `benches/openssl_speed.sh` in the same
//! session for OpenSSL's figure (`openssl speed -evp des-ede3-cbc`); compare ratios, not
//! absolute MB/s, on a shared machine.
//!
//! `TDES_BENCH_BATCHES=64,256` limits the batch sizes.

use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipsec_tdes::{DecryptJob, EncryptJob, TdesCbc, TdesKey, Width};
use std::time::Duration;

const PACKET: usize = 1400;

fn batches() -> Vec<usize> {
    std::env::var("TDES_BENCH_BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64, 256])
}

fn keys(n: usize) -> Vec<[u8; 24]> {
    (0..n)
        .map(|i| {
            let mut k = [0u8; 24];
            for (j, b) in k.iter_mut().enumerate() {
                *b = (i * 31 + j * 7 + 1) as u8;
            }
            k
        })
        .collect()
}

fn contexts() -> Vec<(String, TdesCbc)> {
    let mut v = vec![("ours-auto".to_string(), TdesCbc::new())];
    for w in Width::available() {
        v.push((format!("ours-{w:?}"), TdesCbc::with_width(w).unwrap()));
        if w == Width::U64 || w == Width::Avx2 {
            // Without AVX-512VL's three-input logic, for its ratio.
            let mut ctx = TdesCbc::with_width(w).unwrap();
            ctx.set_ternlog(false);
            v.push((format!("ours-{w:?}-no-ternlog"), ctx));
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    for &n in &batches() {
        let raw = keys(n);
        let tkeys: Vec<TdesKey> = raw.iter().map(TdesKey::new).collect();
        let mut bufs = vec![vec![0x5au8; PACKET]; n];
        let src = vec![vec![0xa5u8; PACKET]; n];

        let mut g = c.benchmark_group("tdes_cbc_encrypt");
        g.throughput(Throughput::Bytes((n * PACKET) as u64));
        for (name, mut ctx) in contexts() {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    let mut jobs: Vec<EncryptJob<'_>> = bufs
                        .iter_mut()
                        .zip(&tkeys)
                        .map(|(d, key)| EncryptJob {
                            key,
                            iv: [7; 8],
                            data: d,
                        })
                        .collect();
                    ctx.encrypt(&mut jobs).unwrap();
                })
            });
        }
        g.bench_with_input(BenchmarkId::new("rustcrypto-des", n), &n, |b, _| {
            b.iter(|| {
                for (d, k) in bufs.iter_mut().zip(&raw) {
                    let enc = cbc::Encryptor::<des::TdesEde3>::new(k.into(), &[7u8; 8].into());
                    enc.encrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(d, PACKET)
                        .unwrap();
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group("tdes_cbc_decrypt");
        g.throughput(Throughput::Bytes((n * PACKET) as u64));
        for (name, mut ctx) in contexts() {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    let mut jobs: Vec<DecryptJob<'_>> = bufs
                        .iter_mut()
                        .zip(&src)
                        .zip(&tkeys)
                        .map(|((d, s), key)| DecryptJob {
                            key,
                            iv: [7; 8],
                            src: s,
                            dst: d,
                        })
                        .collect();
                    ctx.decrypt(&mut jobs).unwrap();
                })
            });
        }
        g.bench_with_input(BenchmarkId::new("rustcrypto-des", n), &n, |b, _| {
            b.iter(|| {
                for ((d, s), k) in bufs.iter_mut().zip(&src).zip(&raw) {
                    d.copy_from_slice(s);
                    let dec = cbc::Decryptor::<des::TdesEde3>::new(k.into(), &[7u8; 8].into());
                    dec.decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(d)
                        .unwrap();
                }
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
