//! Bodies of the ESP fuzz targets, public so that ordinary tests replay the checked-in corpora
//! on stable Rust. These functions assert their invariants: a panic here is a finding, which is
//! the one place in this module where panicking is the intended outcome.
#![allow(clippy::indexing_slicing)]

use std::collections::HashSet;

use crate::crypto::cipher::CipherAlg;
use crate::rng::Rng;
use crate::time::Instant;

use super::replay::{ReplayError, ReplayWindow};
use super::sa::{EspConfig, InboundSa, OutboundSa};
use super::transform::{EspIntegrity, EspMode, EspTransform};
use super::udp::{classify_udp4500, prefix_non_esp_marker, Udp4500};
use super::{EspError, EspKeys, LifetimeConfig};

/// SPI of the fixed SAs the ESP target feeds.
pub const FUZZ_SPI: u32 = 0x0000_4321;
const ENC_KEY: [u8; 32] = [0x5a; 32];
const AUTH_KEY: [u8; 32] = [0xa5; 32];

fn pair(transform: EspTransform) -> (OutboundSa, InboundSa) {
    let enc = &ENC_KEY[..transform.cipher.key_len()];
    let auth = &AUTH_KEY[..transform.integrity.map_or(0, |i| i.key_len())];
    let keys = || EspKeys::new(FUZZ_SPI, transform, enc, auth).expect("fixed keys are valid");
    let config = EspConfig {
        mode: EspMode::Tunnel,
        lifetime: LifetimeConfig::unlimited(),
        ..EspConfig::default()
    };
    let mut rng = Rng::from_u64(1);
    (
        OutboundSa::new(keys(), config, Instant::ZERO, &mut rng).expect("outbound SA"),
        InboundSa::new(keys(), config, Instant::ZERO).expect("inbound SA"),
    )
}

/// Target `esp_decapsulate`. The first byte picks a scenario:
/// * `0..=63`: arbitrary bytes into an AES-128/HMAC-SHA1-96 inbound SA;
/// * `64..=127`: arbitrary bytes into an encryption-only AES-128 SA, where decryption and the
///   padding check are reachable; an accepted packet with minimal padding must re-encapsulate
///   to exactly the same bytes;
/// * `128..=255`: the rest is an inner packet: encapsulate with AES-256/HMAC-SHA-256-128,
///   decapsulate, compare; then flip one bit chosen by the input and expect a refusal.
///
/// Returns whether an SA accepted a packet taken from (or built from) the input.
pub fn esp_decapsulate(data: &[u8]) -> bool {
    let Some((&sel, rest)) = data.split_first() else {
        return false;
    };
    let mut out = vec![0u8; rest.len() + 64];
    match sel {
        0..=63 => {
            let (_, mut inb) = pair(EspTransform::new(
                CipherAlg::Aes128,
                Some(EspIntegrity::HmacSha1_96),
            ));
            let r = inb.decapsulate(Instant::ZERO, rest, &mut out);
            // Nobody but the key holder can forge an ICV.
            assert!(r.is_err(), "forged packet accepted");
            assert_eq!(inb.stats().recv_errors(), 1);
            false
        }
        64..=127 => {
            let t = EspTransform::new(CipherAlg::Aes128, None);
            let (mut outb, mut inb) = pair(t);
            match inb.decapsulate(Instant::ZERO, rest, &mut out) {
                Ok(d) => {
                    let ct_len = rest.len() - 8 - 16;
                    assert!(d.seq != 0);
                    assert!(d.len + 2 <= ct_len);
                    let pad_len = ct_len - d.len - 2;
                    assert_eq!(inb.stats().decaps, 1);
                    if pad_len < 16 {
                        outb.force_sequence_for_tests(d.seq - 1);
                        let mut again = vec![0u8; rest.len() + 64];
                        let n = outb
                            .encapsulate_with_iv(
                                Instant::ZERO,
                                &out[..d.len],
                                d.next_header,
                                &rest[8..24],
                                &mut again,
                            )
                            .expect("re-encapsulation");
                        assert_eq!(&again[..n], rest, "re-encapsulation differs");
                    }
                    true
                }
                Err(e) => {
                    assert!(!matches!(
                        e,
                        EspError::Authentication | EspError::Replayed { .. }
                    ));
                    assert_eq!(inb.stats().recv_errors(), 1);
                    false
                }
            }
        }
        _ => {
            let (mut outb, mut inb) = pair(EspTransform::new(
                CipherAlg::Aes256,
                Some(EspIntegrity::HmacSha256_128),
            ));
            let mut wire = vec![0u8; rest.len() + outb.overhead()];
            let n = outb
                .encapsulate(Instant::ZERO, rest, 4, &mut wire)
                .expect("encapsulate");
            let mut out = vec![0u8; n];
            let d = inb
                .decapsulate(Instant::ZERO, &wire[..n], &mut out)
                .expect("decapsulate own packet");
            assert_eq!((d.len, d.next_header, d.seq), (rest.len(), 4, 1));
            assert_eq!(&out[..d.len], rest);
            // Any single bit flip is refused, and a replay too.
            let bit = usize::from(sel) * 131 + rest.len();
            let pos = (bit / 8) % n;
            wire[pos] ^= 1 << (bit % 8);
            assert!(inb
                .decapsulate(Instant::ZERO, &wire[..n], &mut out)
                .is_err());
            wire[pos] ^= 1 << (bit % 8);
            assert!(matches!(
                inb.decapsulate(Instant::ZERO, &wire[..n], &mut out),
                Err(EspError::Replayed { seq: 1 })
            ));
            true
        }
    }
}

/// Target `replay_window`: the first two bytes pick the window size, then each 5-byte record is
/// an operation (flags, 32-bit value) run against both the window and a naive model
/// (`HashSet` plus maximum). Flag bit 0: commit after checking; bit 1: the value is an offset
/// below the current right edge instead of an absolute sequence number.
pub fn replay_window(data: &[u8]) {
    let Some((sz, ops)) = data.split_first_chunk::<2>() else {
        return;
    };
    let size = u32::from(u16::from_be_bytes(*sz)) % 4200 + 1;
    let mut w = ReplayWindow::new(size).expect("size in range");
    let mut seen: HashSet<u32> = HashSet::new();
    let mut top = 0u32;
    for op in ops.chunks_exact(5) {
        let v = u32::from_be_bytes([op[1], op[2], op[3], op[4]]);
        let seq = if op[0] & 2 != 0 {
            top.wrapping_sub(v % 8192)
        } else {
            v
        };
        let model = if seq == 0 {
            Err(ReplayError::Zero)
        } else if seq > top {
            Ok(())
        } else if top - seq >= size {
            Err(ReplayError::TooOld(seq))
        } else if seen.contains(&seq) {
            Err(ReplayError::Replayed(seq))
        } else {
            Ok(())
        };
        assert_eq!(w.check(seq), model, "seq {seq} top {top} size {size}");
        if op[0] & 1 != 0 {
            w.commit(seq);
            if model.is_ok() {
                seen.insert(seq);
                top = top.max(seq);
            }
        }
        assert_eq!(w.highest(), top);
    }
}

/// Target `udp4500_classify`: classification agrees with RFC 3948's rules and the non-ESP
/// marker round-trips.
pub fn udp4500_classify(data: &[u8]) {
    match classify_udp4500(data) {
        Udp4500::Keepalive => assert_eq!(data, [0xFF]),
        Udp4500::Ike(ike) => {
            assert_eq!(&data[..4], [0, 0, 0, 0]);
            assert_eq!(ike, &data[4..]);
            let mut again = vec![0u8; data.len()];
            assert_eq!(prefix_non_esp_marker(ike, &mut again), Ok(data.len()));
            assert_eq!(again, data);
        }
        Udp4500::Esp(esp) => {
            assert_eq!(esp, data);
            assert!(data.len() >= 8 && data[..4] != [0, 0, 0, 0]);
            assert!(super::peek_spi(esp).is_some());
        }
        Udp4500::Malformed(_) => {
            assert!(data.len() < 32 && data != [0xFF]);
        }
    }
}
