//! A dudect-style timing test (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
//! time?", 2017) for a width valgrind cannot check: two classes of inputs, class 0 all-zero
//! keys and data (fixed), class 1 random keys and data, measured interleaved in random order;
//! Welch's t-test on the timings after cropping the slow tail at several percentiles, as
//! dudect does. |t| > 4.5 is taken as evidence of a timing leak.
//!
//! Timing tests are flaky on a shared machine, so this one is `#[ignore]`d and run by hand:
//!
//! ```text
//! cargo test --release -p ipsec-tdes --test dudect -- --ignored --nocapture
//! TDES_DUDECT_WIDTH=u64 TDES_DUDECT_SAMPLES=200000 cargo test --release ...   # other widths
//! TDES_DUDECT_FIXED=random ...   # fixed class = one random value instead of all-zero
//! TDES_DUDECT_OP=encrypt ...      # one direction only (the narrow `vbmi` width encrypts only)
//! TDES_DUDECT_FIXED=none ...     # control run: both classes random (an A/A test), so a
//!                                # |t| > 4.5 here is the harness or the machine, not the code
//! TDES_DUDECT_FIXED=key|data ... # only the keys (or only the data) fixed in class 0
//! ```

use ipsec_tdes::{DecryptJob, EncryptJob, TdesCbc, TdesKey, Width};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::time::Instant;

#[derive(Default, Clone, Copy)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let d = x - self.mean[class];
        self.mean[class] += d / self.n[class];
        self.m2[class] += d * (x - self.mean[class]);
    }
    fn t(&self) -> f64 {
        let v0 = self.m2[0] / (self.n[0] - 1.0);
        let v1 = self.m2[1] / (self.n[1] - 1.0);
        (self.mean[0] - self.mean[1]) / (v0 / self.n[0] + v1 / self.n[1]).sqrt()
    }
}

const PACKETS: usize = 16;
const LEN: usize = 64;

fn measure(w: Width, samples: usize) -> Vec<(f64, f64)> {
    let mut ctx = TdesCbc::with_width(w).expect("width unavailable on this CPU");
    // TDES_DUDECT_OP=encrypt|decrypt|both (default both) times one direction only.
    let op = std::env::var("TDES_DUDECT_OP").unwrap_or_else(|_| "both".into());
    let mut rng = ChaCha20Rng::seed_from_u64(0xd0de);
    let mut times = Vec::with_capacity(samples);
    let mut classes = Vec::with_capacity(samples);
    let mut data = vec![[0u8; LEN]; PACKETS];
    let mut out = vec![[0u8; LEN]; PACKETS];
    // The fixed class: all zero (dudect's usual choice), or with TDES_DUDECT_FIXED=random one
    // random-looking value per packet drawn once (tells Hamming-weight/power effects from
    // code paths).
    let mut fixed_key = [[0u8; 24]; PACKETS];
    let mut fixed_data = [[0u8; LEN]; PACKETS];
    // TDES_DUDECT_FIXED: `zero` (default), `random`, `none` (the A/A control), or `key` /
    // `data` (only that input fixed, the other random in both classes: tells a key-dependent
    // effect from a data-dependent one).
    let fixed_mode = std::env::var("TDES_DUDECT_FIXED").unwrap_or_else(|_| "zero".into());
    let (fix_key, fix_data) = match fixed_mode.as_str() {
        "none" => (false, false),
        "key" => (true, false),
        "data" => (false, true),
        _ => (true, true),
    };
    if fixed_mode == "random" {
        for (k, d) in fixed_key.iter_mut().zip(fixed_data.iter_mut()) {
            rng.fill_bytes(k);
            rng.fill_bytes(d);
        }
    }
    // As dudect does, the inputs of a chunk of samples are drawn before any is measured, so
    // that the code run between two measurements is the same for both classes (a copy from
    // the prepared inputs); only the values differ.
    const CHUNK: usize = 4096;
    let mut prepared = vec![([[0u8; 24]; PACKETS], [[0u8; LEN]; PACKETS], 0usize); CHUNK];
    let mut raw = [[0u8; 24]; PACKETS];
    for s in 0..samples {
        if s % CHUNK == 0 {
            for (k, d, class) in prepared.iter_mut() {
                *class = (rng.next_u32() & 1) as usize;
                for (kk, dd) in k.iter_mut().zip(d.iter_mut()) {
                    rng.fill_bytes(kk);
                    rng.fill_bytes(dd);
                }
                if *class == 0 {
                    if fix_key {
                        *k = fixed_key;
                    }
                    if fix_data {
                        *d = fixed_data;
                    }
                }
            }
        }
        let (k, d, class) = &prepared[s % CHUNK];
        let class = *class;
        raw.copy_from_slice(k);
        data.copy_from_slice(d);
        let keys: Vec<TdesKey> = raw.iter().map(TdesKey::new).collect();
        let t0 = Instant::now();
        if op != "decrypt" {
            let mut jobs: Vec<EncryptJob<'_>> = data
                .iter_mut()
                .zip(&keys)
                .map(|(d, key)| EncryptJob {
                    key,
                    iv: [0; 8],
                    data: d,
                })
                .collect();
            ctx.encrypt(&mut jobs).unwrap();
        }
        if op != "encrypt" {
            let mut jobs: Vec<DecryptJob<'_>> = out
                .iter_mut()
                .zip(&data)
                .zip(&keys)
                .map(|((o, d), key)| DecryptJob {
                    key,
                    iv: [0; 8],
                    src: d,
                    dst: o,
                })
                .collect();
            ctx.decrypt(&mut jobs).unwrap();
        }
        times.push(t0.elapsed().as_nanos() as f64);
        classes.push(class);
    }
    // dudect: drop the first samples (warm-up), then t-tests over cropped populations.
    let skip = samples / 10;
    let mut sorted: Vec<f64> = times[skip..].to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut results = Vec::new();
    for pct in [1.0, 0.99, 0.95, 0.9, 0.75, 0.5] {
        let cut = sorted[((sorted.len() - 1) as f64 * pct) as usize];
        let mut wt = Welch::default();
        for (t, c) in times[skip..].iter().zip(&classes[skip..]) {
            if *t <= cut {
                wt.push(*c, *t);
            }
        }
        results.push((pct, wt.t()));
    }
    results
}

#[test]
#[ignore = "timing test: run by hand on a quiet machine"]
fn dudect_fixed_vs_random() {
    let w = std::env::var("TDES_DUDECT_WIDTH")
        .ok()
        .and_then(|v| Width::parse(&v))
        .unwrap_or(Width::Avx512);
    let samples = std::env::var("TDES_DUDECT_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if !w.is_available() {
        eprintln!("{w:?} unavailable on this CPU: nothing measured");
        return;
    }
    let results = measure(w, samples);
    let mut worst: f64 = 0.0;
    for (pct, t) in &results {
        eprintln!(
            "{w:?} {samples} samples, crop {:>4.0}%: t = {t:+.2}",
            pct * 100.0
        );
        worst = worst.max(t.abs());
    }
    assert!(
        worst < 4.5,
        "|t| = {worst:.2} >= 4.5: timing depends on the class"
    );
}
