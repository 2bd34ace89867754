//! The seed's tunnel (esp-3des esp-sha-hmac) through the batch verbs: 32 packets of 1400 bytes
//! in one call (the bitsliced `ipsec-tdes` pass, `tunnel::cbc_batch`) against the same 32
//! packets one call each (RustCrypto `des` per packet), both ways, in the same run.
//!
//! - `encap/batch32` vs `encap/single32`: classification, ESP and queueing at site A;
//! - `decap/batch32` vs `decap/single32`: SPI lookup, ICV, decryption, proxy check at site B
//!   (its anti-replay is off so the same packets can be fed again).
//!
//! Criterion reports 32 packets per iteration. Read the batch/single ratios, not the absolute
//! figures (the machine is shared). `IPSEC_TDES_WIDTH` caps the bitsliced width.
//!
//! - `decap/lone_batch` vs `decap/lone_single`: one packet through the batch verb (bitsliced
//!   decryption) and through `handle_esp` (RustCrypto);
//! - `tdes_lone/*`: the primitive alone on one 1400-byte packet: RustCrypto `des`, the
//!   automatic `ipsec-tdes` width (the narrow VBMI path where the CPU has it) and the `u64`
//!   bitsliced pass: what a constant-time lone encryption would cost.
//!
//! Three runs on 2026-12-02 (2 cores shared with another agent's builds, so noisy; AVX-512
//! VBMI machine, automatic width; `--warm-up-time 1 --measurement-time 3`). Quietest run, per
//! 32 packets: encap batch 0.60 ms vs single 3.89 ms (6.5x; other runs 8.7x, 5.4x); decap
//! batch 0.105 ms vs single 3.98 ms (38x; others 37x, 55x); a lone packet's decap 9.3 us vs
//! 114 us (12x); a lone packet's encryption: RustCrypto 128 us, VBMI 176 us (1.4x), `u64`
//! 497 us (3.9x).

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
use ipsec_proto::ios::seed::{SITE_A, SITE_B};
use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::{CoreOptions, Dest, Iface, TunVerdict, Tunnel};

const N: usize = 32;
const PEER_A: [u8; 4] = [198, 51, 100, 1];

fn tunnel(text: &str, seed: u64, replay: bool) -> Tunnel {
    let mut cfg = ipsec_proto::ios::parse(text).expect("config").config;
    if !replay {
        cfg.ipsec.replay_window = 0;
    }
    cfg.ipsec.sa_lifetime_kb = 1 << 40;
    Tunnel::new(cfg, CoreOptions::seeded(seed)).expect("tunnel")
}

fn packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 1400];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&1400u16.to_be_bytes());
    p[4..6].copy_from_slice(&seq.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[192, 168, 1, 10]);
    p[16..20].copy_from_slice(&[192, 168, 2, 10]);
    p
}

/// Moves every datagram from `from` to `to`; the ESP packets among them.
fn carry(from: &mut Tunnel, to: &mut Tunnel, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let mut esp = Vec::new();
    while let Ok(Some(t)) = from.poll_transmit(&mut buf) {
        let m = &buf[..t.len];
        let _ = match t.dest {
            Dest::Udp { local, remote } => to.handle_udp(now, remote, local, m),
            Dest::Esp { src, .. } => {
                esp.push(m.to_vec());
                to.handle_esp(now, src, m)
            }
            Dest::Tun | Dest::Vti(_) => Ok(()),
        };
    }
    while to.poll_plaintext(&mut buf).ok().flatten().is_some() {}
    esp
}

/// Polls everything `t` queued (the same copy for both variants), so its queue starts empty.
fn drain(t: &mut Tunnel, buf: &mut [u8]) {
    while t.poll_transmit(buf).ok().flatten().is_some() {}
    while t.poll_plaintext(buf).ok().flatten().is_some() {}
}

fn bench(c: &mut Criterion) {
    let mut a = tunnel(SITE_A, 1, true);
    let mut b = tunnel(SITE_B, 2, false);
    let mut now = Instant::from_millis(1_000);
    assert_eq!(a.handle_plaintext(now, &packet(0)), TunVerdict::NoSa);
    for _ in 0..20 {
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    assert_eq!(a.tunnels().installed_pairs(), 1);
    let pkts: Vec<Vec<u8>> = (0..N as u16).map(packet).collect();
    let v = a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, N);
    let esp = carry(&mut a, &mut b, now);
    assert_eq!(esp.len(), N);

    let mut buf = vec![0u8; 65_536];
    let mut g = c.benchmark_group("tdes_batch");
    g.throughput(Throughput::Bytes((N * 1400) as u64));
    g.bench_function("encap/batch32", |x| {
        x.iter(|| {
            let v = a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
            drain(&mut a, &mut buf);
            black_box(v)
        })
    });
    g.bench_function("encap/single32", |x| {
        x.iter(|| {
            for p in &pkts {
                black_box(a.handle_plaintext(now, p));
            }
            drain(&mut a, &mut buf);
        })
    });
    g.bench_function("decap/batch32", |x| {
        x.iter(|| {
            let v = b.handle_esp_batch(now, PEER_A.into(), esp.iter().map(|p| p.as_slice()));
            assert_eq!(v.protected, N);
            drain(&mut b, &mut buf);
            black_box(v)
        })
    });
    g.bench_function("decap/single32", |x| {
        x.iter(|| {
            for p in &esp {
                black_box(b.handle_esp(now, PEER_A.into(), p)).expect("delivered");
            }
            drain(&mut b, &mut buf);
        })
    });
    g.bench_function("decap/lone_batch", |x| {
        x.iter(|| {
            let v = b.handle_esp_batch(now, PEER_A.into(), [esp[0].as_slice()]);
            drain(&mut b, &mut buf);
            black_box(v)
        })
    });
    g.bench_function("decap/lone_single", |x| {
        x.iter(|| {
            black_box(b.handle_esp(now, PEER_A.into(), &esp[0])).expect("delivered");
            drain(&mut b, &mut buf);
        })
    });
    g.finish();

    // What a lone packet would cost on each path (the choice of `TDES_SEAL_MIN`): the
    // primitive alone, 1400 bytes, one key.
    use des::cipher::{BlockEncryptMut, KeyIvInit};
    let key = [0x5au8; 24];
    let tkey = ipsec_tdes::TdesKey::new(&key);
    let mut data = vec![0u8; 1400];
    let mut g = c.benchmark_group("tdes_lone");
    g.throughput(Throughput::Bytes(1400));
    g.bench_function("rustcrypto_des", |x| {
        x.iter(|| {
            let mut e = cbc::Encryptor::<des::TdesEde3>::new(&key.into(), &[0u8; 8].into());
            for b in data.chunks_exact_mut(8) {
                e.encrypt_block_mut(des::cipher::generic_array::GenericArray::from_mut_slice(b));
            }
            black_box(&data);
        })
    });
    let mut auto = ipsec_tdes::TdesCbc::new();
    let label = format!("tdes_auto_{:?}", auto.width_for(1));
    g.bench_function(label, |x| {
        x.iter(|| black_box(auto.encrypt_one(&tkey, [0; 8], &mut data)))
    });
    if let Some(mut u) = ipsec_tdes::TdesCbc::with_width(ipsec_tdes::Width::U64) {
        g.bench_function("tdes_u64", |x| {
            x.iter(|| black_box(u.encrypt_one(&tkey, [0; 8], &mut data)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
