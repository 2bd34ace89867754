//! The `ike_responder` fuzz corpus replayed on stable, its recorded seeds checked to reach Phase 2,
//! and a flood of first messages from thousands of addresses against the half-open limit.
//!
//! `IKE_FUZZ_WRITE_SEEDS=1 cargo test -p ipsec-proto --test ike_fuzz_corpora` rewrites the seed
//! files `seed-mm-qm-*` in `fuzz/corpus/ike_responder/`.

use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path as FsPath, PathBuf};

use ipsec_proto::ike::fuzzing::{self, BackToBack, Suite, PEER_ADDR, RESPONDER_ADDR};
use ipsec_proto::ike::{Endpoint, EndpointConfig, Event, Path, PeerId, Role};
use ipsec_proto::rng::Rng;

fn corpus_dir() -> PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ike_responder")
}

const SUITES: [(Suite, &str); 2] = [
    (Suite::TripleDesSha1Fuzz64, "seed-mm-qm-3des-sha1-f64"),
    (Suite::Aes256Sha256Fuzz64, "seed-mm-qm-aes256-sha256-f64"),
];

#[test]
fn recorded_exchanges_reach_phase2_on_replay() {
    for (suite, name) in SUITES {
        let ops = fuzzing::record_exchange(suite);
        let out = fuzzing::run(&ops);
        assert_eq!(out.phase1_established, 1, "{suite:?}: {out:?}");
        assert_eq!(out.phase2_established, 1, "{suite:?}: {out:?}");
        // MM2, MM4, MM6, QM2.
        assert_eq!(out.transmits, 4, "{suite:?}: {out:?}");
        write_seed(name, &ops);
        // The same exchange followed by every timer (DPD, keepalives, Quick Mode linger, expiry).
        let mut timers = ops.clone();
        timers.extend_from_slice(&[2, 3, 2, 2, 2, 5, 0x80, 0x51, 2, 2, 2, 3]);
        let out = fuzzing::run(&timers);
        assert_eq!(out.phase2_established, 1, "{suite:?}: {out:?}");
        write_seed(&format!("{name}-timers"), &timers);
    }
}

/// Aggressive Mode seeds: AM1, AM3 (and Quick Mode) from the configured peer reach Phase 2;
/// the same AM1 under an invented group name from an unknown address gets its decoy AM2.
#[test]
fn recorded_aggressive_exchanges_reach_phase2_on_replay() {
    for (suite, name) in [
        (Suite::TripleDesSha1Fuzz64, "seed-am-qm-3des-sha1-f64"),
        (Suite::Aes256Sha256Fuzz64, "seed-am-qm-aes256-sha256-f64"),
    ] {
        let ops = fuzzing::record_aggressive_exchange(suite);
        let d = datagrams(&ops);
        assert_eq!(d[0][18], 4, "AM1 is exchange type 4");
        let out = fuzzing::run(&ops);
        assert_eq!(out.phase1_established, 1, "{suite:?}: {out:?}");
        assert_eq!(out.phase2_established, 1, "{suite:?}: {out:?}");
        // AM2, QM2.
        assert_eq!(out.transmits, 2, "{suite:?}: {out:?}");
        write_seed(name, &ops);
        let mut timers = ops.clone();
        timers.extend_from_slice(&[2, 3, 2, 2, 2, 5, 0x80, 0x51, 2, 2, 2, 3]);
        let out = fuzzing::run(&timers);
        assert_eq!(out.phase2_established, 1, "{suite:?}: {out:?}");
        write_seed(&format!("{name}-timers"), &timers);
    }
    // The AM1 from an unknown address (the wildcard entry), once with the group name the
    // wildcard entry keys and once with an invented one of the same length: both answered.
    let am1 = &datagrams(&fuzzing::record_aggressive_exchange(
        Suite::TripleDesSha1Fuzz64,
    ))[0];
    let mut ops = Vec::new();
    for (x, id) in [(4u8, fuzzing::AM_GROUP), (6, b"nosuchgrp".as_slice())] {
        let m = with_key_id(am1, id);
        datagram_op(&mut ops, 3 << 2, Some(x), &m);
    }
    let out = fuzzing::run(&ops);
    assert_eq!(out.transmits, 2, "{out:?}");
    write_seed("seed-am1-known-and-unknown-group", &ops);
}

/// `am1` with its ID payload (the fourth, after SA, KE and nonce) replaced by ID_KEY_ID `id`.
fn with_key_id(am1: &[u8], id: &[u8]) -> Vec<u8> {
    let mut out = am1[..28].to_vec();
    let mut i = 28;
    let mut np = am1[16];
    while i + 4 <= am1.len() {
        let next = am1[i];
        let len = usize::from(u16::from_be_bytes([am1[i + 2], am1[i + 3]]));
        if np == 5 {
            let body = [&[11u8, 17, 1, 244][..], id].concat();
            out.extend_from_slice(&[next, 0]);
            out.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
            out.extend_from_slice(&body);
        } else {
            out.extend_from_slice(&am1[i..i + len]);
        }
        np = next;
        i += len;
    }
    let total = (out.len() as u32).to_be_bytes();
    out[24..28].copy_from_slice(&total);
    out
}

fn write_seed(name: &str, ops: &[u8]) {
    if std::env::var_os("IKE_FUZZ_WRITE_SEEDS").is_some() {
        fs::create_dir_all(corpus_dir()).unwrap();
        fs::write(corpus_dir().join(name), ops).unwrap();
    }
}

/// The peer's datagrams of a recorded exchange (MM1, MM3, MM5, QM1, QM3).
fn datagrams(ops: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        match ops[i] & 3 {
            0 => {
                let len = usize::from(u16::from_le_bytes([ops[i + 1], ops[i + 2]]));
                out.push(ops[i + 3..i + 3 + len].to_vec());
                i += 3 + len;
            }
            1 => i += 3,
            _ => i += 1,
        }
    }
    out
}

fn datagram_op(out: &mut Vec<u8>, op: u8, x: Option<u8>, bytes: &[u8]) {
    out.push(op);
    out.extend(x);
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// MM1 then MM3 (cookies fixed up from our MM2) from 40 addresses: SAs waiting for MM5 are
/// half-open as well and count against the limit.
#[test]
fn mm3_from_many_addresses_stays_within_half_open_limit() {
    let d = datagrams(&fuzzing::record_exchange(Suite::TripleDesSha1Fuzz64));
    let mut ops = Vec::new();
    for x in 0..40u8 {
        let mut mm1 = d[0].clone();
        mm1[0] = x;
        datagram_op(&mut ops, 3 << 2, Some(x * 2), &mm1);
        datagram_op(&mut ops, (3 << 2) | 0x10, Some(x * 2), &d[1]);
    }
    ops.push(3);
    let out = fuzzing::run(&ops);
    assert_eq!(out.transmits, 80, "{out:?}");
    assert_eq!(out.max_half_open, fuzzing::HALF_OPEN_LIMIT, "{out:?}");
    write_seed("seed-mm1-mm3-flood", &ops);
}

#[test]
fn ike_responder_corpus_replays() {
    let dir = corpus_dir();
    let mut files = 0usize;
    let mut deep = 0usize;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            let out = fuzzing::run(&fs::read(&path).unwrap());
            if out.phase2_established > 0 {
                deep += 1;
            }
            files += 1;
        }
    }
    assert!(files > 0, "empty corpus {}", dir.display());
    assert!(deep > 0, "no corpus input reaches Phase 2");
}

fn half_open(ep: &Endpoint) -> Vec<SocketAddr> {
    ep.isakmp_sas(fuzzing::START)
        .into_iter()
        .filter(|s| s.role == Role::Responder && s.state != ipsec_proto::ike::IsakmpState::QmIdle)
        .map(|s| s.path.remote)
        .collect()
}

#[test]
fn first_messages_from_ten_thousand_addresses() {
    const N: u32 = 10_000;
    let (a, b) = fuzzing::pair_configs(Suite::TripleDesSha1Fuzz64);
    let b = EndpointConfig {
        half_open_limit: 1024,
        ..b
    };
    let limit = b.half_open_limit;
    let mut p = BackToBack::new(
        Endpoint::new(a, Rng::from_u64(1)),
        PEER_ADDR,
        Endpoint::new(b, Rng::from_u64(2)),
        RESPONDER_ADDR,
    );
    // An established tunnel with the configured peer; keep A's MM1 as the flood template.
    let mut mm1 = Vec::new();
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    p.a.initiate(p.now, PeerId(0), 0).unwrap();
    p.exchange(&mut ea, &mut eb, &mut |_, _, bytes| {
        if mm1.is_empty() {
            mm1 = bytes.to_vec();
        }
    });
    let child = ea
        .iter()
        .find_map(|e| match e {
            Event::Phase2Established(x) => Some(x.child),
            _ => None,
        })
        .expect("A has a pair");
    assert!(eb.iter().any(|e| matches!(e, Event::Phase2Established(_))));
    let spi_before: Vec<u32> = p.b.ipsec_sas(p.now).iter().map(|s| s.spi_in).collect();

    let mut buf = vec![0u8; 65536];
    let mut answered = 0;
    let source = |i: u32| {
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i + 1)),
            if i & 1 == 0 { 500 } else { 4500 },
        )
    };
    for i in 0..N {
        let mut m = mm1.clone();
        m[..4].copy_from_slice(&i.to_be_bytes());
        m[4..8].copy_from_slice(b"fl00");
        let from = source(i);
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(RESPONDER_ADDR), from.port()),
            remote: from,
        };
        let _ = p.b.handle_datagram(p.now, path, &m);
        while let Ok(Some(_)) = p.b.poll_transmit(p.now, &mut buf) {
            answered += 1;
        }
        while p.b.poll_event().is_some() {}
        if i % 500 == 0 {
            assert!(half_open(&p.b).len() <= limit);
        }
    }
    assert_eq!(answered, N, "every MM1 gets its MM2");
    let left: HashSet<SocketAddr> = half_open(&p.b).into_iter().collect();
    let newest: HashSet<SocketAddr> = (N - limit as u32..N).map(source).collect();
    assert_eq!(left, newest, "the oldest half-open SAs were dropped");
    assert_eq!(
        p.b.counters().half_open_dropped,
        u64::from(N) - limit as u64
    );

    // The established tunnel did not notice: still QM_IDLE, same pair, and it negotiates a rekey.
    let est: Vec<_> =
        p.b.isakmp_sas(p.now)
            .into_iter()
            .filter(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .collect();
    assert_eq!(est.len(), 1);
    assert_eq!(est[0].src, IpAddr::V4(PEER_ADDR));
    let spi_after: Vec<u32> = p.b.ipsec_sas(p.now).iter().map(|s| s.spi_in).collect();
    assert_eq!(spi_before, spi_after);
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    p.a.rekey_child(p.now, child).unwrap();
    p.exchange(&mut ea, &mut eb, &mut |_, _, _| {});
    assert!(ea.iter().any(|e| matches!(e, Event::Phase2Established(_))));
    assert!(eb.iter().any(|e| matches!(e, Event::Phase2Established(_))));
}
