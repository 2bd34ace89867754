//! The seed's tunnel (esp-3des esp-sha-hmac) through the batch verbs: 32 packets of 1400 bytes
//! in one call (the bitsliced `ipsec-tdes` pass, `tunnel::tdes_batch`) against the same 32
//! packets one call each (RustCrypto `des` per packet), both ways, in the same run.
//!
//! - `encap/batch32` vs `encap/single32`: classification, ESP and queueing at site A;
//! - `decap/batch32` vs `decap/single32`: SPI lookup, ICV, decryption, proxy check at site B
//!   (its anti-replay is off so the same packets can be fed again).
//!
//! Criterion reports 32 packets per iteration. Read the batch/single ratios, not the absolute
//! figures (the machine is shared). `IPSEC_TDES_WIDTH` caps the bitsliced width.
//!
//! One run (2026-12-02, 2 cores shared with another build, so noisy; automatic width, AVX-512
//! VBMI machine; `--warm-up-time 1 --measurement-time 4`), per 32 packets:
//! encap batch 0.64 ms vs single 5.55 ms (8.7x); decap batch 0.161 ms vs single 5.98 ms (37x).

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
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
