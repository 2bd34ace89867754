//! The `ike_wildcard` fuzz corpus replayed on stable (a gateway with one wildcard pre-shared key,
//! a victim and an attacker that both know it; see `ipsec_proto::ike::fuzzing_wildcard`), and
//! one named seed per attack, each checked to reach the step it is about.
//!
//! `IKE_FUZZ_WRITE_SEEDS=1 cargo test -p ipsec-proto --test ike_wildcard_corpus` rewrites the
//! seed files `seed-*` in `fuzz/corpus/ike_wildcard/`.

use std::fs;
use std::path::{Path, PathBuf};

use ipsec_proto::ike::fuzzing_wildcard::{run, WildcardOutcome};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ike_wildcard")
}

// Scene byte: topology in bits 0-1, suites in 2-3, A's NAT ports in 4-5, PFS in 6-7.
const DIRECT: u8 = 0;
const SHARED_NAT: u8 = 1;
const A_BEHIND_NAT: u8 = 2;
const V_BEHIND_NAT: u8 = 3;
/// A's NAT ports (500, 4501): V's port 500, idle once V floated to 4500.
const A_PORT_500: u8 = 1 << 4;
const AES: u8 = 0b1100;
const PFS: u8 = 0xc0;

// Operations and their parameters.
const FRESH_MID: u8 = 0;
const V_MID: u8 = 2;
const DELETE: u8 = 0;
const NOTIFY: u8 = 1;
const MULTI: u8 = 2;
const QUICK_MODE: u8 = 3;
const REKEY: u8 = 4;
const DELETE_OWN: u8 = 5;
const REPLAY_V: u8 = 6;
const REPLAY_V_4500: u8 = 0x16;
const REPLAY_A: u8 = 7;
const WAIT_SECS: u8 = 8;
const NEXT_DEADLINE: u8 = 9;
const REBOOT: u8 = 10;
const RAW_INFO: u8 = 11;
const RAW_QM: u8 = 12;
const V_COOKIES: u8 = 13;
const V_REKEY: u8 = 14;
const DPD: u8 = 15;
const DPD_ACK: u8 = 0x1f;
// Delete payload byte: protocol in bits 0-1 (ISAKMP, ESP, AH, raw), SPI count - 1 in bits 2-3.
const DEL_ISAKMP: u8 = 0;
const DEL_ESP: u8 = 1;
const DEL_ESP_TWO: u8 = 1 | 1 << 2;
// ESP SPI choice: V's inbound (what V's own Delete names), V's outbound, A's in, A's out.
const V_IN: u8 = 0;
const V_OUT: u8 = 1;
const A_IN: u8 = 2;
// ISAKMP SPI choice: V's cookies, A's, A's CKY-I with V's CKY-R.
const V_CKY: u8 = 0;
const A_CKY: u8 = 1;
const MIXED_CKY: u8 = 2;
// Notify type byte (index into the harness's list; bit 7: protocol ESP) and SPI byte (bits
// 0-1: none, ISAKMP, ESP, raw; bits 6-7: data none, u32, u32, raw).
const N_INITIAL_CONTACT: u8 = 0;
const N_R_U_THERE: u8 = 1;
const N_INVALID_SPI_ESP: u8 = 3 | 0x80;
const SPI_ISAKMP: u8 = 1;
const SPI_ISAKMP_SEQ: u8 = 1 | 1 << 6;
const SPI_ESP: u8 = 2;

struct Seed {
    name: &'static str,
    input: Vec<u8>,
    check: fn(&WildcardOutcome) -> bool,
}

fn seeds() -> Vec<Seed> {
    let crafted = |o: &WildcardOutcome| o.attacker_up && o.crafted > 0;
    vec![
        Seed {
            name: "seed-direct-delete-esp-of-v",
            input: vec![DIRECT, DELETE, FRESH_MID, DEL_ESP_TWO, V_IN, V_OUT],
            check: crafted,
        },
        Seed {
            name: "seed-direct-delete-isakmp-of-v",
            input: vec![DIRECT, DELETE, FRESH_MID, DEL_ISAKMP, V_CKY],
            check: crafted,
        },
        Seed {
            name: "seed-shared-nat-setup",
            input: vec![SHARED_NAT],
            check: |o| o.attacker_up,
        },
        Seed {
            name: "seed-shared-nat-initial-contact",
            input: vec![
                SHARED_NAT,
                NOTIFY,
                FRESH_MID,
                N_INITIAL_CONTACT,
                SPI_ISAKMP,
                A_CKY,
            ],
            check: crafted,
        },
        Seed {
            name: "seed-shared-nat-delete-both",
            input: vec![
                SHARED_NAT | AES,
                MULTI,
                FRESH_MID,
                1,
                0,
                DEL_ESP,
                V_IN,
                0,
                DEL_ISAKMP,
                MIXED_CKY,
            ],
            check: crafted,
        },
        Seed {
            name: "seed-shared-nat-replay-v",
            input: {
                // A DPD round first, so V's R-U-THERE-ACK is among its datagrams.
                let mut v = vec![SHARED_NAT, WAIT_SECS, 121];
                for i in 0..8 {
                    v.extend_from_slice(&[REPLAY_V, i, REPLAY_V_4500, i]);
                }
                v
            },
            check: |o| o.replays >= 8,
        },
        Seed {
            name: "seed-a-claims-v-net",
            input: vec![
                A_BEHIND_NAT,
                QUICK_MODE,
                1,
                QUICK_MODE,
                2,
                REKEY,
                1,
                DELETE,
                FRESH_MID,
                DEL_ESP,
                A_IN,
                DELETE_OWN,
                1,
                QUICK_MODE,
                0,
            ],
            check: |o| o.attacker_up,
        },
        Seed {
            name: "seed-a-reboots-on-port-500",
            input: vec![SHARED_NAT | A_PORT_500, REBOOT, NOTIFY, 0, 0, 1, 1, REBOOT],
            check: |o| o.attacker_up,
        },
        Seed {
            name: "seed-v-cookies-in-a-header",
            input: vec![V_BEHIND_NAT, V_COOKIES, FRESH_MID, 0, DEL_ESP, V_IN],
            check: |o| o.crafted > 0,
        },
        Seed {
            name: "seed-dpd-sequence",
            input: vec![
                V_BEHIND_NAT,
                DPD,
                FRESH_MID,
                1,
                0,
                0,
                0,
                DPD_ACK,
                FRESH_MID,
                1,
                0,
                0,
                0,
                NOTIFY,
                V_MID,
                N_R_U_THERE,
                SPI_ISAKMP_SEQ,
                V_CKY,
                9,
                9,
                9,
                9,
            ],
            check: crafted,
        },
        Seed {
            name: "seed-timers-and-v-rekey",
            input: vec![
                DIRECT | PFS | AES,
                WAIT_SECS,
                200,
                NEXT_DEADLINE,
                NEXT_DEADLINE,
                V_REKEY,
                0x18,
                50,
                WAIT_SECS,
                255,
                NOTIFY,
                FRESH_MID,
                N_INVALID_SPI_ESP,
                SPI_ESP,
                V_IN,
            ],
            check: |o| o.victim_pairs == 2,
        },
        Seed {
            name: "seed-raw-payloads",
            input: vec![
                A_BEHIND_NAT | PFS,
                RAW_INFO,
                FRESH_MID,
                1,
                12,
                8,
                0,
                0,
                0,
                1,
                3,
                4,
                0,
                1,
                11,
                4,
                0,
                0,
                0,
                1,
                RAW_QM,
                FRESH_MID,
                0,
                1,
                12,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                12,
                REPLAY_A,
                3,
            ],
            check: crafted,
        },
    ]
}

#[test]
fn named_seeds_reach_their_step() {
    for s in seeds() {
        let out = run(&s.input);
        assert!((s.check)(&out), "{}: {out:?}", s.name);
        if std::env::var_os("IKE_FUZZ_WRITE_SEEDS").is_some() {
            fs::create_dir_all(corpus_dir()).unwrap();
            fs::write(corpus_dir().join(s.name), &s.input).unwrap();
        }
    }
}

#[test]
fn every_scene_brings_both_tunnels_up() {
    for scene in 0..=255u8 {
        let out = run(&[scene]);
        assert!(out.attacker_up, "scene {scene:#04x}: {out:?}");
    }
}

#[test]
fn ike_wildcard_corpus_replays() {
    let dir = corpus_dir();
    let mut files = 0usize;
    let mut crafted = 0usize;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            let out = run(&fs::read(&path).unwrap());
            if out.crafted > 0 {
                crafted += 1;
            }
            files += 1;
        }
    }
    assert!(files > 0, "empty corpus {}", dir.display());
    assert!(
        crafted > 0,
        "no corpus input makes A send a protected message"
    );
}
