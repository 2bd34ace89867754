//! AES-128-CBC encryption of 1400-byte packets, one key per packet: multi-buffer
//! (`aes_cbc_encrypt`, eight lanes) at batch sizes 1, 8 and 32 beside RustCrypto `aes` (+ `cbc`)
//! packet by packet, which keeps one block in flight. Compare ratios in one run.

use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipsec_tdes::{aes_cbc_encrypt, aes_is_available, AesEncryptJob, AesKey};
use std::time::Duration;

const PACKET: usize = 1400 / 16 * 16;

fn key(i: usize) -> [u8; 16] {
    core::array::from_fn(|j| (i * 31 + j * 7 + 1) as u8)
}

fn bench(c: &mut Criterion) {
    if !aes_is_available() {
        eprintln!("no AES-NI: nothing to measure");
        return;
    }
    let mut g = c.benchmark_group("aes128_cbc_encrypt");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for n in [1usize, 8, 32] {
        g.throughput(Throughput::Bytes((n * PACKET) as u64));
        let raw: Vec<[u8; 16]> = (0..n).map(key).collect();
        let mut bufs = vec![vec![0x5au8; PACKET]; n];
        g.bench_with_input(BenchmarkId::new("rustcrypto", n), &n, |b, _| {
            b.iter(|| {
                for (k, d) in raw.iter().zip(bufs.iter_mut()) {
                    cbc::Encryptor::<aes::Aes128>::new(k.into(), &[0u8; 16].into())
                        .encrypt_padded_mut::<NoPadding>(d, PACKET)
                        .unwrap();
                }
            })
        });
        let keys: Vec<AesKey> = raw.iter().map(|k| AesKey::new(k).unwrap()).collect();
        g.bench_with_input(BenchmarkId::new("multi_buffer", n), &n, |b, _| {
            b.iter(|| {
                let mut jobs: Vec<AesEncryptJob<'_>> = keys
                    .iter()
                    .zip(bufs.iter_mut())
                    .map(|(key, d)| AesEncryptJob {
                        key,
                        iv: [0; 16],
                        data: d.as_mut_slice(),
                    })
                    .collect();
                aes_cbc_encrypt(&mut jobs).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
