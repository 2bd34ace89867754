//! Hostile input: mutated and truncated copies of real messages never panic and never disturb
//! established SAs; they are counted.

mod ike_common;

use std::net::{IpAddr, SocketAddr};

use ike_common::*;
use ipsec_proto::ike::Path;
use ipsec_proto::rng::Rng;

#[test]
fn mutated_messages_are_dropped_and_counted() {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 77);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    let log = p.log.clone();
    let to_b = Path {
        local: SocketAddr::new(IpAddr::V4(B_ADDR), 500),
        remote: p.a_local(500),
    };
    let to_a = Path {
        local: p.a_local(500),
        remote: SocketAddr::new(IpAddr::V4(B_ADDR), 500),
    };
    let mut rng = Rng::from_u64(5);
    for i in 0..5000u32 {
        let (side, _, msg) = &log[rng.below(log.len() as u64) as usize];
        let mut m = msg.clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(m.len() as u64) as usize;
                m[at] ^= 1 << rng.below(8);
            }
            1 => {
                let n = rng.below(m.len() as u64) as usize;
                m.truncate(n);
            }
            2 => {
                // Flip a byte after the cookies, keeping the SA lookup working.
                let at = 16 + rng.below((m.len() - 16) as u64) as usize;
                m[at] = rng.next_u32() as u8;
            }
            _ => {
                let at = 28 + rng.below((m.len() - 28).max(1) as u64) as usize;
                if at < m.len() {
                    m[at] = m[at].wrapping_add(1);
                }
            }
        }
        if &m == msg {
            continue;
        }
        // Deliver to the side that would normally receive it.
        let _ = match side {
            Side::A => p.b.handle_datagram(p.now, to_b, &m),
            Side::B => p.a.handle_datagram(p.now, to_a, &m),
        };
        if i % 500 == 0 {
            p.run(10);
        }
    }
    let ca = p.a.counters();
    let cb = p.b.counters();
    assert!(
        ca.malformed + ca.unexpected + ca.bad_hash + ca.unknown_sa > 1000,
        "{ca:?}"
    );
    assert!(
        cb.malformed + cb.unexpected + cb.bad_hash + cb.unknown_sa > 1000,
        "{cb:?}"
    );
    let established_a =
        p.a.isakmp_sas(p.now)
            .into_iter()
            .filter(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .count();
    let established_b =
        p.b.isakmp_sas(p.now)
            .into_iter()
            .filter(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .count();
    assert_eq!(established_a, 1);
    assert_eq!(established_b, 1);
    assert_eq!(p.a.ipsec_sas(p.now).len(), 1);
    assert_eq!(p.b.ipsec_sas(p.now).len(), 1);
    // Still usable: a new Quick Mode over the same ISAKMP SA.
    let c = p.a.ipsec_sas(p.now)[0].child;
    p.a.rekey_child(p.now, c).unwrap();
    assert!(p.run_until(30_000, |p| Pair::p2_count(&p.events_a) == 2
        && Pair::p2_count(&p.events_b) == 2));
}

#[test]
fn random_bytes_never_panic() {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 78);
    let mut rng = Rng::from_u64(6);
    let path = Path {
        local: SocketAddr::new(IpAddr::V4(B_ADDR), 4500),
        remote: SocketAddr::new(IpAddr::V4(NAT_PUB), 4500),
    };
    for _ in 0..5000 {
        let len = rng.below(200) as usize;
        let mut m = vec![0u8; len];
        rng.fill(&mut m);
        if len > 28 && rng.below(2) == 0 {
            m[17] = 0x10; // ISAKMP 1.0
            m[18] = [2u8, 5, 32][rng.below(3) as usize];
        }
        let _ = p.b.handle_datagram(p.now, path, &m);
    }
    let c = p.b.counters();
    assert!(c.malformed + c.unknown_sa + c.unexpected > 0);
}

#[test]
fn fuzz_body_survives_random_networks() {
    let mut rng = Rng::from_u64(7);
    let mut deep = 0;
    for i in 0..300u64 {
        let len = rng.below(600) as usize;
        let mut data = vec![0u8; len];
        rng.fill(&mut data);
        // Mostly deliveries, so runs get deep into Quick Mode before the damage.
        if i % 2 == 0 {
            for b in data.iter_mut() {
                if *b % 3 != 0 {
                    *b |= 7;
                }
            }
        }
        if ipsec_proto::ike::fuzzing::endpoint_pair(&data) > 0 {
            deep += 1;
        }
    }
    assert!(deep >= 10, "only {deep} runs reached Quick Mode");
}

#[test]
fn fuzz_corpus_replays() {
    // The clean run negotiates both sides' SA pair.
    assert_eq!(ipsec_proto::ike::fuzzing::endpoint_pair(&[7; 40]), 2);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ike_endpoint");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = ipsec_proto::ike::fuzzing::endpoint_pair(&data);
        n += 1;
    }
    assert!(n > 0);
}
