//! CPU cost of one complete Main Mode + Quick Mode between two in-memory endpoints, next to the
//! cost of the four Diffie-Hellman exponentiations it cannot avoid (two keygens, two shared
//! secrets via `crypto::dh`), for 3DES/SHA-1/group 2 and AES-256/SHA-256 with groups 14, 15,
//! 16, 19, 20, 21 and 24 (Phase 1 only: Quick Mode has no PFS here). After the
//! criterion runs a summary prints both mean times, measured interleaved in the same run, and
//! their ratio (goal: at most 1.3).
//!
//! `IKE_BENCH_PROFILE=exchange-g2|dh-g2|exchange-g14|dh-g19|... cargo bench --bench ike` runs only that
//! workload 20 times and exits, for `valgrind --tool=callgrind` instruction counts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ipsec_proto::crypto::{DhGroup, DhSecret};
use ipsec_proto::ike::fuzzing::{pair_configs, BackToBack, Suite, PEER_ADDR, RESPONDER_ADDR};
use ipsec_proto::ike::{Endpoint, EndpointConfig, PeerId};
use ipsec_proto::rng::Rng;

/// Base suite, the Phase 1 group it runs with, and the row name.
const SUITES: [(Suite, u16, &str); 8] = [
    (Suite::TripleDesSha1Group2, 2, "3des-sha1-g2"),
    (Suite::Aes256Sha256Group14, 14, "aes256-sha256-g14"),
    (Suite::Aes256Sha256Group14, 15, "aes256-sha256-g15"),
    (Suite::Aes256Sha256Group14, 16, "aes256-sha256-g16"),
    (Suite::Aes256Sha256Group14, 19, "aes256-sha256-g19"),
    (Suite::Aes256Sha256Group14, 20, "aes256-sha256-g20"),
    (Suite::Aes256Sha256Group14, 21, "aes256-sha256-g21"),
    (Suite::Aes256Sha256Group14, 24, "aes256-sha256-g24"),
];

/// Both endpoints' configurations of `suite` with every ISAKMP policy on `group`.
fn configs(suite: Suite, group: u16) -> (EndpointConfig, EndpointConfig, DhGroup) {
    let (mut a, mut b) = pair_configs(suite);
    for c in [&mut a, &mut b] {
        for p in c
            .peers
            .iter_mut()
            .flat_map(|p| p.isakmp_policies.iter_mut())
        {
            p.group = group;
        }
    }
    let dh = DhGroup::from_ike_id(group).expect("a group the stack implements");
    (a, b, dh)
}

/// One Main Mode + Quick Mode from scratch: both endpoints built, MM1..MM6, QM1..QM3.
fn exchange(a: &EndpointConfig, b: &EndpointConfig, seed: u64) -> bool {
    let mut p = BackToBack::new(
        Endpoint::new(a.clone(), Rng::from_u64(seed)),
        PEER_ADDR,
        Endpoint::new(b.clone(), Rng::from_u64(seed ^ 0xffff)),
        RESPONDER_ADDR,
    );
    p.establish(PeerId(0), 0)
}

/// The DH work of one exchange: each side draws its exponent and computes g^x, then g^xy.
fn dh_only(group: DhGroup, rng: &mut Rng) -> usize {
    let i = DhSecret::generate(group, rng);
    let r = DhSecret::generate(group, rng);
    let zi = i.compute_shared(r.public_value()).map_or(0, |z| z.len());
    let zr = r.compute_shared(i.public_value()).map_or(0, |z| z.len());
    zi + zr
}

fn bench_ike(c: &mut Criterion) {
    for (suite, id, name) in SUITES {
        let (a, b, group) = configs(suite, id);
        assert!(exchange(&a, &b, 1), "{name}: exchange failed");
        let mut g = c.benchmark_group(format!("ike/{name}"));
        g.sample_size(20);
        let mut seed = 0u64;
        g.bench_function("main mode + quick mode", |bch| {
            bch.iter(|| {
                seed += 1;
                black_box(exchange(&a, &b, seed))
            })
        });
        let mut rng = Rng::from_u64(3);
        g.bench_function("4 DH modexps", |bch| {
            bch.iter(|| black_box(dh_only(group, &mut rng)))
        });
        g.finish();
    }
}

fn summary() {
    println!(
        "\nOne Main Mode + Quick Mode vs its 4 DH modexps (interleaved, mean of best halves):"
    );
    println!("suite                 MM+QM        4 modexps    ratio");
    for (suite, id, name) in SUITES {
        let (a, b, group) = configs(suite, id);
        let mut rng = Rng::from_u64(4);
        let n = 40u64;
        let mut ex = Vec::new();
        let mut dh = Vec::new();
        // Interleave so load from other processes hits both alike; keep the faster half of each
        // to drop preempted samples.
        for k in 0..n {
            let t = Instant::now();
            black_box(exchange(&a, &b, k + 100));
            ex.push(t.elapsed());
            let t = Instant::now();
            black_box(dh_only(group, &mut rng));
            dh.push(t.elapsed());
        }
        let mean_fast = |v: &mut Vec<Duration>| {
            v.sort();
            let half = &v[..v.len() / 2];
            half.iter().sum::<Duration>().as_secs_f64() / half.len() as f64
        };
        let e = mean_fast(&mut ex);
        let d = mean_fast(&mut dh);
        println!(
            "{name:<20}  {:>8.3} ms  {:>8.3} ms  {:>6.3}",
            e * 1e3,
            d * 1e3,
            e / d
        );
    }
}

criterion_group!(benches, bench_ike);

fn main() {
    if let Ok(w) = std::env::var("IKE_BENCH_PROFILE") {
        let (suite, id, _) = SUITES
            .iter()
            .find(|(_, _, n)| w.ends_with(&n[n.len() - 3..]))
            .copied()
            .unwrap_or(SUITES[0]);
        let (a, b, group) = configs(suite, id);
        let mut rng = Rng::from_u64(5);
        for k in 0..20 {
            if w.starts_with("exchange") {
                assert!(exchange(&a, &b, k));
            } else {
                black_box(dh_only(group, &mut rng));
            }
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
