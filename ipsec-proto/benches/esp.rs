//! ESP data-path throughput beside the raw cost of its primitives, measured in the same run.
//!
//! For each suite and packet size: `encapsulate` and `decapsulate` through the SAs, and
//! `raw_encrypt` / `raw_decrypt`: the same CBC pass and HMAC over exactly the bytes ESP
//! processes (ciphertext, and header + IV + ciphertext for the ICV), with no ESP logic. The ratio
//! raw time / SA time is the efficiency of the per-packet path.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ipsec_proto::crypto::cipher::{CbcCipher, CipherAlg};
use ipsec_proto::crypto::hmac::HmacKey;
use ipsec_proto::esp::{
    EspConfig, EspIntegrity, EspKeys, EspTransform, InboundSa, LifetimeConfig, OutboundSa,
};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;
use std::hint::black_box;

const SIZES: [usize; 3] = [64, 512, 1400];

fn suites() -> [(&'static str, CipherAlg, EspIntegrity); 3] {
    [
        ("3des-sha1", CipherAlg::TripleDes, EspIntegrity::HmacSha1_96),
        ("aes128-sha1", CipherAlg::Aes128, EspIntegrity::HmacSha1_96),
        (
            "aes256-sha256",
            CipherAlg::Aes256,
            EspIntegrity::HmacSha256_128,
        ),
    ]
}

fn sas(cipher: CipherAlg, integ: EspIntegrity) -> (OutboundSa, InboundSa) {
    let t = EspTransform::new(cipher, Some(integ));
    let enc = vec![0x11u8; cipher.key_len()];
    let auth = vec![0x22u8; integ.key_len()];
    let cfg = EspConfig {
        lifetime: LifetimeConfig::unlimited(),
        ..EspConfig::default()
    };
    let mut rng = Rng::from_u64(1);
    (
        OutboundSa::new(
            EspKeys::new(0x100, t, &enc, &auth).unwrap(),
            cfg,
            Instant::ZERO,
            &mut rng,
        )
        .unwrap(),
        InboundSa::new(
            EspKeys::new(0x100, t, &enc, &auth).unwrap(),
            cfg,
            Instant::ZERO,
        )
        .unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    for (name, cipher, integ) in suites() {
        let mut g = c.benchmark_group(name);
        for size in SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            let (mut out_sa, mut in_sa) = sas(cipher, integ);
            let inner = vec![0x45u8; size];
            let total = out_sa.encapsulated_len(size).unwrap();
            let hdr = 8 + cipher.block_len();
            let ct_len = total - hdr - integ.icv_len();
            let mut wire = vec![0u8; size + out_sa.overhead()];

            g.bench_function(BenchmarkId::new("encapsulate", size), |b| {
                b.iter(|| {
                    out_sa
                        .encapsulate(Instant::ZERO, black_box(&inner), 4, &mut wire)
                        .unwrap()
                })
            });

            let raw_cipher = CbcCipher::new(cipher, &vec![0x11u8; cipher.key_len()]).unwrap();
            let raw_mac = HmacKey::new(integ.hash(), &vec![0x22u8; integ.key_len()]);
            let mut buf = vec![0x45u8; total];
            let iv = vec![7u8; cipher.block_len()];
            let icv_len = integ.icv_len();
            g.bench_function(BenchmarkId::new("raw_encrypt", size), |b| {
                b.iter(|| {
                    let (authed, icv) = buf.split_at_mut(hdr + ct_len);
                    raw_cipher
                        .encrypt_in_place(&iv, &mut authed[hdr..])
                        .unwrap();
                    raw_mac.compute_into(&[authed], &mut icv[..icv_len])
                })
            });

            // Every decapsulation needs a fresh sequence number, so packets are made outside
            // the timed routine.
            let (mut out_sa2, _) = sas(cipher, integ);
            let mut plain = vec![0u8; total];
            g.bench_function(BenchmarkId::new("decapsulate", size), |b| {
                b.iter_batched_ref(
                    || {
                        let mut w = vec![0u8; total];
                        out_sa2
                            .encapsulate(Instant::ZERO, &inner, 4, &mut w)
                            .unwrap();
                        w
                    },
                    |w| in_sa.decapsulate(Instant::ZERO, w, &mut plain).unwrap(),
                    BatchSize::SmallInput,
                )
            });

            g.bench_function(BenchmarkId::new("raw_decrypt", size), |b| {
                b.iter(|| {
                    let (authed, icv) = buf.split_at_mut(hdr + ct_len);
                    let ok = raw_mac.verify_truncated(&[authed], &icv[..icv_len]);
                    raw_cipher
                        .decrypt_in_place(&iv, &mut authed[hdr..])
                        .unwrap();
                    ok
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
