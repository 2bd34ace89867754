//! MODP Diffie-Hellman cost: our constant-time crypto-bigint path (keygen g^x + shared y^x) next to
//! num-bigint's variable-time `modpow` doing the same two exponentiations, for groups 2 and 14.
//! After the criterion runs, a short summary prints both per-operation times and their ratio, then
//! the cost of every group we implement (MODP and ECP) relative to group 14.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use ipsec_proto::crypto::{DhGroup, DhSecret};
use ipsec_proto::rng::Rng;
use num_bigint::BigUint;

struct NumBig {
    p: BigUint,
    g: BigUint,
}

impl NumBig {
    fn new(group: DhGroup) -> NumBig {
        NumBig {
            p: BigUint::from_bytes_be(&group.modp_prime().expect("MODP")),
            g: BigUint::from(2u32),
        }
    }

    /// Keygen (g^x) and shared secret (y^x) with a 256-bit exponent, like `DhSecret`.
    fn exchange(&self, rng: &mut Rng, peer: &BigUint) -> (BigUint, BigUint) {
        let mut x = [0u8; 32];
        rng.fill(&mut x);
        let x = BigUint::from_bytes_be(&x);
        (self.g.modpow(&x, &self.p), peer.modpow(&x, &self.p))
    }
}

fn ours(group: DhGroup, rng: &mut Rng, peer: &[u8]) -> usize {
    let s = DhSecret::generate(group, rng);
    let z = s.compute_shared(peer).map(|z| z.len()).unwrap_or(0);
    s.public_value().len() + z
}

fn peer_value(group: DhGroup) -> Vec<u8> {
    DhSecret::generate(group, &mut Rng::from_u64(99))
        .public_value()
        .to_vec()
}

fn bench_dh(c: &mut Criterion) {
    for group in [DhGroup::Modp1024, DhGroup::Modp2048] {
        let peer = peer_value(group);
        let peer_big = BigUint::from_bytes_be(&peer);
        let nb = NumBig::new(group);
        let mut g = c.benchmark_group(format!("dh/group{}/keygen+shared", group.ike_id()));
        let mut rng = Rng::from_u64(1);
        g.bench_function("crypto-bigint (constant time)", |b| {
            b.iter(|| black_box(ours(group, &mut rng, black_box(&peer))))
        });
        let mut rng = Rng::from_u64(1);
        g.bench_function("num-bigint modpow", |b| {
            b.iter(|| black_box(nb.exchange(&mut rng, black_box(&peer_big))))
        });
        g.finish();
    }
}

fn summary() {
    println!("\nDH keygen+shared (two 256-bit-exponent modexps), mean per exchange:");
    println!("group  crypto-bigint   num-bigint   ratio");
    for group in [DhGroup::Modp1024, DhGroup::Modp2048] {
        let peer = peer_value(group);
        let peer_big = BigUint::from_bytes_be(&peer);
        let nb = NumBig::new(group);
        let n = 200u32;
        let mut rng = Rng::from_u64(2);
        let t = Instant::now();
        for _ in 0..n {
            black_box(ours(group, &mut rng, &peer));
        }
        let ct = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            black_box(nb.exchange(&mut rng, &peer_big));
        }
        let vt = t.elapsed() / n;
        println!(
            "{:>5}  {:>10.3} ms  {:>8.3} ms  {:>5.2}",
            group.ike_id(),
            ct.as_secs_f64() * 1e3,
            vt.as_secs_f64() * 1e3,
            ct.as_secs_f64() / vt.as_secs_f64()
        );
    }
}

/// Every group's cost next to group 14's, so an operator choosing `group N` sees what a Main Mode
/// (and a PFS Quick Mode) costs the gateway: one keygen and one shared secret per exchange.
fn summary_all_groups() {
    let time = |group: DhGroup, n: u32| {
        let peer = peer_value(group);
        let mut rng = Rng::from_u64(3);
        let t = Instant::now();
        for _ in 0..n {
            black_box(ours(group, &mut rng, &peer));
        }
        t.elapsed().as_secs_f64() / f64::from(n)
    };
    let base = time(DhGroup::Modp2048, 50);
    println!("\nDH keygen+shared per group, ours, relative to group 14:");
    println!("group       ms   x group 14");
    for group in DhGroup::ALL {
        let t = time(group, 20);
        println!(
            "{:>5}  {:>7.3}   {:>6.2}",
            group.ike_id(),
            t * 1e3,
            t / base
        );
    }
}

criterion_group!(benches, bench_dh);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
    summary_all_groups();
}
