//! Known answers, round trips and every refusal of the ESP SAs.
#![allow(clippy::indexing_slicing)]

use super::*;
use crate::crypto::cipher::{CbcCipher, CipherAlg};
use crate::crypto::hmac::HmacKey;
use crate::rng::Rng;
use crate::time::Instant;

use crate::test_util::hex;

const T0: Instant = Instant(1_000);

fn config(mode: EspMode) -> EspConfig {
    EspConfig {
        mode,
        lifetime: LifetimeConfig::unlimited(),
        ..EspConfig::default()
    }
}

fn keys(spi: u32, t: EspTransform) -> EspKeys {
    let enc: Vec<u8> = (0..t.cipher.key_len() as u8).map(|i| i ^ 0x3c).collect();
    let auth: Vec<u8> = (0..t.integrity.map_or(0, |i| i.key_len()) as u8)
        .map(|i| i.wrapping_mul(7))
        .collect();
    EspKeys::new(spi, t, &enc, &auth).unwrap()
}

fn pair_with(t: EspTransform, cfg: EspConfig) -> (OutboundSa, InboundSa) {
    let mut rng = Rng::from_u64(42);
    (
        OutboundSa::new(keys(0x1234_5678, t), cfg, T0, &mut rng).unwrap(),
        InboundSa::new(keys(0x1234_5678, t), cfg, T0).unwrap(),
    )
}

fn aes_sha1() -> EspTransform {
    EspTransform::new(CipherAlg::Aes128, Some(EspIntegrity::HmacSha1_96))
}

fn seal(o: &mut OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; inner.len() + o.overhead()];
    let n = o.encapsulate(T0, inner, 4, &mut out).unwrap();
    out.truncate(n);
    out
}

// RFC 3602 section 4, case #5: transport-mode ICMP echo, AES-128-CBC, no ICV.
const C5_KEY: &str = "90d382b410eeba7ad938c46cec1a82bf";
const C5_IV: &str = "e96e8c08ab465763fd098d45dd3ff893";
const C5_ICMP: &str = "08000ebd a70a0000 8e9c083d b95b0700 08090a0b 0c0d0e0f 10111213 14151617
                       18191a1b 1c1d1e1f 20212223 24252627 28292a2b 2c2d2e2f 30313233 34353637";
const C5_CT: &str = "f663c25d 325c18c6 a9453e19 4e120849 a4870b66 cc6b9965 330013b4 898dc856
                     a4699e52 3a55db08 0b59ec3a 8e4b7e52 775b07d1 db34ed9c 538ab50c 551b874a
                     a269add0 47ad2d59 13ac19b7 cfbad4a6";

fn case5(integrity: Option<(EspIntegrity, Vec<u8>)>) -> (OutboundSa, InboundSa) {
    let t = EspTransform::new(CipherAlg::Aes128, integrity.as_ref().map(|(i, _)| *i));
    let auth = integrity.map(|(_, k)| k).unwrap_or_default();
    let k = || EspKeys::new(0x4321, t, &hex(C5_KEY), &auth).unwrap();
    let cfg = config(EspMode::Transport);
    (
        OutboundSa::new(k(), cfg, T0, &mut Rng::from_u64(0)).unwrap(),
        InboundSa::new(k(), cfg, T0).unwrap(),
    )
}

#[test]
fn rfc3602_case5_known_answer() {
    let (mut o, mut i) = case5(None);
    let inner = hex(C5_ICMP);
    let mut out = [0u8; 200];
    let n = o
        .encapsulate_with_iv(T0, &inner, 1, &hex(C5_IV), &mut out)
        .unwrap();
    let mut expect = hex("00004321 00000001");
    expect.extend(hex(C5_IV));
    expect.extend(hex(C5_CT));
    assert_eq!(n, 8 + 16 + 80);
    assert_eq!(&out[..n], &expect[..]);

    let mut pt = [0u8; 80];
    let d = i.decapsulate(T0, &expect, &mut pt).unwrap();
    assert_eq!(
        d,
        Decapsulated {
            len: 64,
            next_header: 1,
            seq: 1
        }
    );
    assert_eq!(&pt[..64], &inner[..]);
    // Encryption-only: IOS shows `replay detection support: N`.
    assert_eq!(i.replay_window(), None);
}

#[test]
fn rfc3602_case5_with_hmac_sha1_96_self_vector() {
    let auth = hex("0102030405060708090a0b0c0d0e0f1011121314");
    let (mut o, mut i) = case5(Some((EspIntegrity::HmacSha1_96, auth)));
    let inner = hex(C5_ICMP);
    let mut out = [0u8; 200];
    let n = o
        .encapsulate_with_iv(T0, &inner, 1, &hex(C5_IV), &mut out)
        .unwrap();
    assert_eq!(n, 8 + 16 + 80 + 12);
    assert_eq!(&out[24..104], &hex(C5_CT)[..]);
    assert_eq!(&out[104..n], &hex("6ffe6c928cd19f695d057034")[..]);
    let mut pt = [0u8; 80];
    let d = i.decapsulate(T0, &out[..n], &mut pt).unwrap();
    assert_eq!((d.len, d.next_header, d.seq), (64, 1, 1));
    assert_eq!(&pt[..64], &inner[..]);
}

fn all_transforms() -> Vec<EspTransform> {
    let ciphers = [
        EspCipher::Null,
        EspCipher::Cbc(CipherAlg::Des),
        EspCipher::Cbc(CipherAlg::TripleDes),
        EspCipher::Cbc(CipherAlg::Aes128),
        EspCipher::Cbc(CipherAlg::Aes192),
        EspCipher::Cbc(CipherAlg::Aes256),
    ];
    let integ = [
        None,
        Some(EspIntegrity::HmacMd5_96),
        Some(EspIntegrity::HmacSha1_96),
        Some(EspIntegrity::HmacSha256_128),
        Some(EspIntegrity::HmacSha384_192),
        Some(EspIntegrity::HmacSha512_256),
    ];
    let mut v = vec![];
    for c in ciphers {
        for i in integ {
            if c != EspCipher::Null || i.is_some() {
                v.push(EspTransform {
                    cipher: c,
                    integrity: i,
                });
            }
        }
    }
    v
}

#[test]
fn round_trip_every_cipher_and_integrity_in_both_modes() {
    for t in all_transforms() {
        for mode in [EspMode::Tunnel, EspMode::Transport] {
            let (mut o, mut i) = pair_with(t, config(mode));
            let mut seq = 0;
            for len in (0..=40).chain([255, 1400]) {
                let inner: Vec<u8> = (0..len).map(|b| (b * 13 + 1) as u8).collect();
                let mut out = vec![0u8; len + o.overhead()];
                let n = o.encapsulate(T0, &inner, 17, &mut out).unwrap();
                seq += 1;
                assert_eq!(Some(n), o.encapsulated_len(len));
                assert!(n <= len + o.overhead(), "{t:?}");
                let ct = n - 8 - t.cipher.iv_len() - t.icv_len();
                assert_eq!(ct % t.cipher.align(), 0);
                assert_eq!(ct % 4, 0);
                assert!(ct - len - 2 < t.cipher.align(), "minimal padding");
                assert_eq!(&out[..4], &0x1234_5678u32.to_be_bytes());
                assert_eq!(&out[4..8], &(seq as u32).to_be_bytes());
                let mut pt = vec![0u8; ct];
                let d = i.decapsulate(T0, &out[..n], &mut pt).unwrap();
                assert_eq!(
                    (d.len, d.next_header, d.seq),
                    (len, 17, seq as u32),
                    "{t:?}"
                );
                assert_eq!(&pt[..len], &inner[..], "{t:?} {mode:?} {len}");
            }
            assert_eq!(o.stats().encaps, seq as u64);
            assert_eq!(o.stats().digest, seq as u64);
            assert_eq!(i.stats().decaps, seq as u64);
            assert_eq!(i.stats().verify, seq as u64);
            assert_eq!(o.usage(), i.usage());
        }
    }
}

#[test]
fn ivs_are_fresh_and_replayable_from_the_seed() {
    let (mut a, _) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let (mut b, _) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let p1 = seal(&mut a, b"same payload");
    let p2 = seal(&mut a, b"same payload");
    assert_ne!(p1[8..24], p2[8..24], "IV repeated");
    assert_eq!(seal(&mut b, b"same payload"), p1, "same seed, same bytes");
}

#[test]
fn refusals_are_typed_and_counted() {
    let (mut o, mut i) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let good = seal(&mut o, &[0xab; 33]);
    let mut out = [0u8; 256];

    // Truncated: less than header + IV + one block + ICV.
    let min = 8 + 16 + 16 + 12;
    assert_eq!(
        i.decapsulate(T0, &good[..min - 1], &mut out),
        Err(EspError::Truncated { len: min - 1, min })
    );
    assert_eq!(
        i.decapsulate(T0, &[], &mut out),
        Err(EspError::Truncated { len: 0, min })
    );
    // Not a whole number of blocks.
    let mut odd = good.clone();
    odd.insert(30, 0);
    assert!(matches!(
        i.decapsulate(T0, &odd, &mut out),
        Err(EspError::NotBlockAligned { block: 16, .. })
    ));
    // Another SA's SPI.
    let mut other = good.clone();
    other[3] ^= 1;
    assert!(matches!(
        i.decapsulate(T0, &other, &mut out),
        Err(EspError::WrongSpi {
            expected: 0x1234_5678,
            ..
        })
    ));
    // Sequence number zero.
    let mut zero = good.clone();
    zero[4..8].copy_from_slice(&[0; 4]);
    assert_eq!(
        i.decapsulate(T0, &zero, &mut out),
        Err(EspError::SequenceZero)
    );
    // A modified byte anywhere after the SPI fails the ICV (header, IV, ciphertext, ICV).
    for pos in [7, 8, 30, good.len() - 13, good.len() - 1] {
        let mut bad = good.clone();
        bad[pos] ^= 0x80;
        assert_eq!(
            i.decapsulate(T0, &bad, &mut out),
            Err(EspError::Authentication),
            "byte {pos}"
        );
    }
    // Too small an output buffer: reported with the size, nothing consumed.
    assert_eq!(
        i.decapsulate(T0, &good, &mut out[..47]),
        Err(EspError::BufferTooSmall { needed: 48 })
    );
    assert_eq!(i.stats().recv_errors(), 10);
    // The failures above did not burn sequence number 1.
    assert_eq!(i.decapsulate(T0, &good, &mut out).unwrap().len, 33);
    assert_eq!(
        i.decapsulate(T0, &good, &mut out),
        Err(EspError::Replayed { seq: 1 })
    );
    // Too old: 64 packets later seq 1's neighbours are outside the default window.
    let mut late = vec![];
    for _ in 0..65 {
        late.push(seal(&mut o, b"x"));
    }
    assert_eq!(late[0][7], 2);
    i.decapsulate(T0, &late[64], &mut out).unwrap(); // seq 66
    assert_eq!(
        i.decapsulate(T0, &late[0], &mut out),
        Err(EspError::TooOld { seq: 2 })
    );
    i.decapsulate(T0, &late[1], &mut out).unwrap(); // seq 3 = 66 - 63: last in window
    let s = i.stats();
    assert_eq!(
        (
            s.invalid_len,
            s.decaps_failed,
            s.replay_failed,
            s.verify_failed
        ),
        (3, 1, 3, 5)
    );
    assert_eq!(s.decaps, 3);
}

#[test]
fn a_forged_packet_does_not_move_the_window() {
    let (mut o, mut i) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let p1 = seal(&mut o, b"one");
    let mut out = [0u8; 64];
    // Forge seq 1000 with a garbage ICV: refused, and the window must not have slid.
    let mut forged = p1.clone();
    forged[4..8].copy_from_slice(&1000u32.to_be_bytes());
    assert_eq!(
        i.decapsulate(T0, &forged, &mut out),
        Err(EspError::Authentication)
    );
    assert_eq!(i.highest_sequence(), 0);
    i.decapsulate(T0, &p1, &mut out).unwrap();
    assert_eq!(i.highest_sequence(), 1);
}

/// A packet with a valid ICV whose decrypted trailer is `trailer_pad` then `pad_len`.
fn craft(t: EspTransform, body: &[u8], pad: &[u8], pad_len: u8) -> Vec<u8> {
    let k = keys(0x1234_5678, t);
    let mut pkt = hex("12345678 00000001");
    let iv = [9u8; 16];
    pkt.extend_from_slice(&iv);
    let mut pt = body.to_vec();
    pt.extend_from_slice(pad);
    pt.push(pad_len);
    pt.push(4);
    let EspCipher::Cbc(alg) = t.cipher else {
        unreachable!()
    };
    CbcCipher::new(alg, k.enc_key())
        .unwrap()
        .encrypt_in_place(&iv, &mut pt)
        .unwrap();
    pkt.extend_from_slice(&pt);
    if let Some(integ) = t.integrity {
        let h = HmacKey::new(integ.hash(), k.auth_key());
        let mut icv = vec![0u8; integ.icv_len()];
        h.compute_into(&[&pkt], &mut icv);
        pkt.extend_from_slice(&icv);
    }
    pkt
}

#[test]
fn padding_is_checked_after_authentication() {
    for t in [aes_sha1(), EspTransform::new(CipherAlg::Aes128, None)] {
        let (_, mut i) = pair_with(t, config(EspMode::Tunnel));
        let mut out = [0u8; 64];
        // Well-formed, non-minimal padding (17 bytes) is accepted.
        let ok_pad: Vec<u8> = (1..=17).collect();
        let d = i
            .decapsulate(T0, &craft(t, &[1; 13], &ok_pad, 17), &mut out)
            .unwrap();
        assert_eq!(d.len, 13);
        for (pad, pad_len) in [
            (vec![1u8, 2, 4], 3u8),  // not monotonic
            (vec![0u8, 0, 0], 3),    // zero padding
            (vec![1u8, 2, 3], 31),   // pad length beyond the ciphertext
            (vec![1u8, 2, 3], 255),  // far beyond
            (vec![1u8, 2, 3, 4], 6), // claims two payload bytes as padding
        ] {
            let body = vec![7u8; 32 - pad.len() - 2];
            let pkt = craft(t, &body, &pad, pad_len);
            let (_, mut fresh) = pair_with(t, config(EspMode::Tunnel));
            assert_eq!(
                fresh.decapsulate(T0, &pkt, &mut out),
                Err(EspError::Padding),
                "{t:?} {pad:?} {pad_len}"
            );
            assert_eq!(fresh.stats().decaps_failed, 1);
        }
    }
}

#[test]
fn outbound_buffer_too_small_consumes_nothing() {
    let (mut o, mut i) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let mut out = [0u8; 100];
    // 60 bytes -> 8 + 16 + 64 + 12 = 100; one byte short first.
    assert_eq!(
        o.encapsulate(T0, &[5; 60], 4, &mut out[..99]),
        Err(EspError::BufferTooSmall { needed: 100 })
    );
    assert_eq!(o.sequence(), 0);
    assert_eq!(o.stats().send_errors(), 0);
    assert_eq!(o.encapsulate(T0, &[5; 60], 4, &mut out), Ok(100));
    let mut pt = [0u8; 64];
    assert_eq!(i.decapsulate(T0, &out, &mut pt).unwrap().seq, 1);
}

#[test]
fn sequence_never_wraps() {
    let (mut o, mut i) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    assert!(!o.needs_rekey());
    o.force_sequence_for_tests(u32::MAX - 1);
    assert!(o.needs_rekey());
    let last = seal(&mut o, b"last");
    assert_eq!(&last[4..8], &[0xff; 4]);
    let mut out = [0u8; 64];
    assert_eq!(
        o.encapsulate(T0, b"wrapped", 4, &mut out),
        Err(EspError::SequenceExhausted)
    );
    assert_eq!(o.sequence(), u32::MAX);
    assert_eq!(o.stats().replay_rollover_send, 1);
    assert_eq!(o.stats().send_errors(), 1);
    assert_eq!(i.decapsulate(T0, &last, &mut out).unwrap().seq, u32::MAX);
}

#[test]
fn hard_lifetime_expires_both_directions() {
    let lifetime = LifetimeConfig::from_hard(LifetimeLimits {
        seconds: Some(120),
        kilobytes: None,
        packets: Some(10),
    });
    let cfg = EspConfig {
        lifetime,
        ..config(EspMode::Tunnel)
    };
    let (mut o, mut i) = pair_with(aes_sha1(), cfg);
    let mut out = [0u8; 64];
    let mut pkts = vec![];
    for n in 0..10 {
        assert_eq!(
            o.lifetime_state(T0),
            if n < 9 {
                LifetimeState::Fresh
            } else {
                LifetimeState::Soft
            }
        );
        pkts.push(seal(&mut o, b"p"));
    }
    assert_eq!(o.lifetime_state(T0), LifetimeState::Hard);
    assert_eq!(o.encapsulate(T0, b"p", 4, &mut out), Err(EspError::Expired));
    assert_eq!(o.stats().encaps_failed, 1);
    assert_eq!(o.usage().packets, 10);
    assert_eq!(o.usage().last_activity, Some(T0));

    // Inbound: time runs out.
    let later = T0 + core::time::Duration::from_secs(120);
    i.decapsulate(T0, &pkts[0], &mut out).unwrap();
    assert_eq!(
        i.lifetime_state(T0 + core::time::Duration::from_secs(90)),
        LifetimeState::Soft
    );
    assert_eq!(
        i.decapsulate(later, &pkts[1], &mut out),
        Err(EspError::Expired)
    );
    assert_eq!(i.stats().decaps_failed, 1);
    assert_eq!(i.lifetime().remaining_seconds(T0), Some(120));
}

#[test]
fn keys_are_checked() {
    let t = aes_sha1();
    assert!(matches!(
        EspKeys::new(1, t, &[0; 15], &[0; 20]),
        Err(EspError::KeyLength {
            what: "encryption",
            expected: 16,
            got: 15
        })
    ));
    assert!(matches!(
        EspKeys::new(1, t, &[0; 16], &[0; 16]),
        Err(EspError::KeyLength {
            what: "integrity",
            expected: 20,
            ..
        })
    ));
    assert!(matches!(
        EspKeys::new(0, t, &[0; 16], &[0; 20]),
        Err(EspError::InvalidConfig(_))
    ));
    assert!(matches!(
        EspKeys::new(1, EspTransform::new(EspCipher::Null, None), &[], &[]),
        Err(EspError::InvalidConfig(_))
    ));
    // KEYMAT: encryption key first, then the integrity key (3DES + SHA1 = 44 bytes).
    let t3 = EspTransform::new(CipherAlg::TripleDes, Some(EspIntegrity::HmacSha1_96));
    assert_eq!(t3.keymat_len(), 44);
    let keymat: Vec<u8> = (0..50).collect();
    let k = EspKeys::from_keymat(7, t3, &keymat).unwrap();
    assert_eq!(k.enc_key(), &keymat[..24]);
    assert_eq!(k.auth_key(), &keymat[24..44]);
    assert!(EspKeys::from_keymat(7, t3, &keymat[..43]).is_err());
    assert!(!format!("{k:?}").contains("24"), "no key bytes in Debug");
    let cfg = EspConfig {
        replay_window: MAX_REPLAY_WINDOW + 1,
        ..EspConfig::default()
    };
    assert!(matches!(
        InboundSa::new(keys(1, t), cfg, T0),
        Err(EspError::InvalidConfig(_))
    ));
    let big = EspConfig {
        replay_window: 4096,
        ..EspConfig::default()
    };
    assert_eq!(
        InboundSa::new(keys(1, t), big, T0).unwrap().replay_window(),
        Some(4096)
    );
}

#[test]
fn plaintext_mtu_matches_ios_captures() {
    let mtu = |c: CipherAlg, i: Option<EspIntegrity>, mode, udp, pmtu| {
        let cfg = EspConfig {
            mode,
            udp_encap: udp,
            ..EspConfig::default()
        };
        let (o, _) = pair_with(EspTransform::new(c, i), cfg);
        o.plaintext_mtu(pmtu)
    };
    use EspIntegrity::*;
    use EspMode::*;
    assert_eq!(
        mtu(CipherAlg::Aes128, Some(HmacSha1_96), Tunnel, false, 1500),
        1438
    );
    assert_eq!(
        mtu(CipherAlg::TripleDes, Some(HmacSha1_96), Tunnel, false, 1500),
        1446
    );
    assert_eq!(
        mtu(
            CipherAlg::TripleDes,
            Some(HmacSha256_128),
            Tunnel,
            false,
            1500
        ),
        1446
    );
    assert_eq!(mtu(CipherAlg::TripleDes, None, Tunnel, false, 1476), 1438);
    assert_eq!(
        mtu(CipherAlg::Aes128, Some(HmacSha1_96), Transport, true, 1500),
        1442
    );
}

#[test]
fn overhead_counts_udp_encapsulation() {
    let (plain, _) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let cfg = EspConfig {
        udp_encap: true,
        ..config(EspMode::Tunnel)
    };
    let (udp, _) = pair_with(aes_sha1(), cfg);
    assert_eq!(plain.overhead(), 8 + 16 + 15 + 2 + 12);
    assert_eq!(udp.overhead(), plain.overhead() + 8);
}

#[test]
fn table_demuxes_by_spi_and_counts_strays() {
    let t = aes_sha1();
    let mut rng = Rng::from_u64(5);
    let cfg = config(EspMode::Tunnel);
    let mut table = InboundSaTable::new();
    let mut outs = vec![];
    for spi in [0x100u32, 0x200, 0x300] {
        table.insert(InboundSa::new(keys(spi, t), cfg, T0).unwrap());
        outs.push(OutboundSa::new(keys(spi, t), cfg, T0, &mut rng).unwrap());
    }
    assert_eq!(table.len(), 3);
    let mut out = [0u8; 64];
    let p = seal(&mut outs[1], b"to 0x200");
    assert_eq!(peek_spi(&p), Some(0x200));
    let (spi, d) = table.decapsulate(T0, &p, &mut out).unwrap();
    assert_eq!((spi, &out[..d.len]), (0x200, &b"to 0x200"[..]));
    assert_eq!(table.get(0x200).unwrap().stats().decaps, 1);
    assert!(table.lookup(&p).is_some());

    let mut stray = p.clone();
    stray[..4].copy_from_slice(&0x999u32.to_be_bytes());
    assert_eq!(
        table.decapsulate(T0, &stray, &mut out),
        Err(InboundError::UnknownSpi(0x999))
    );
    assert_eq!(
        table.decapsulate(T0, &p[..7], &mut out),
        Err(InboundError::Malformed)
    );
    assert_eq!(peek_spi(&[0; 8]), None);
    assert_eq!(
        table.decapsulate(T0, &p, &mut out),
        Err(InboundError::Esp(EspError::Replayed { seq: 1 }))
    );
    assert_eq!(
        *table.global_stats(),
        EspGlobalStats {
            invalid_spi: 1,
            malformed: 1
        }
    );
    assert!(table.remove(0x200).is_some());
    assert!(table.get_mut(0x200).is_none());
}

#[test]
fn fuzz_bodies_accept_their_seeds() {
    use super::fuzzing::*;
    assert!(!esp_decapsulate(&[]));
    assert!(esp_decapsulate(&[200, 1, 2, 3]));
    assert!(!esp_decapsulate(&[0; 80]));
    assert!(!esp_decapsulate(&[64; 80]));
    replay_window(&[0, 63, 1, 0, 0, 0, 5, 3, 0, 0, 0, 1, 1, 0, 0, 0, 5]);
    udp4500_classify(&[0xff]);
    udp4500_classify(&[0; 40]);
}

#[test]
fn fuzz_body_reencapsulates_an_accepted_encryption_only_packet() {
    // Build an encryption-only packet with the fuzz SA's keys; the fuzz body must accept it and
    // re-encapsulate it to the same bytes.
    let t = EspTransform::new(CipherAlg::Aes128, None);
    let k = EspKeys::new(fuzzing::FUZZ_SPI, t, &[0x5a; 16], &[]).unwrap();
    let mut o = OutboundSa::new(k, config(EspMode::Tunnel), T0, &mut Rng::from_u64(3)).unwrap();
    let pkt = seal(&mut o, b"inner packet");
    let mut input = vec![100u8];
    input.extend_from_slice(&pkt);
    assert!(fuzzing::esp_decapsulate(&input));
}

#[test]
fn an_expanded_key_gives_the_same_packets_and_only_for_its_own_sa() {
    let (mut a, mut inb) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let (mut b, _) = pair_with(aes_sha1(), config(EspMode::Tunnel));
    let inner = [0x45u8; 100];
    let key = b.expand();
    assert!(key.belongs_to(&b));
    let mut pa = vec![0u8; 200];
    let mut pb = vec![0u8; 200];
    for _ in 0..3 {
        let na = a.encapsulate(T0, &inner, 4, &mut pa).unwrap();
        let nb = b
            .encapsulate_expanded(T0, &inner, 4, &key, &mut pb)
            .unwrap();
        // Same keys and seed: the IV depends only on the sequence number and the salt.
        assert_eq!(pa[..na], pb[..nb]);
        let mut out = vec![0u8; 200];
        let d = inb.decapsulate(T0, &pb[..nb], &mut out).unwrap();
        assert_eq!(&out[..d.len], &inner[..]);
    }
    // Another SA's schedule (same algorithm, another salt) is refused as misuse.
    let mut rng = Rng::from_u64(99);
    let c = OutboundSa::new(
        keys(0x1234_5678, aes_sha1()),
        config(EspMode::Tunnel),
        T0,
        &mut rng,
    )
    .unwrap();
    assert!(matches!(
        b.encapsulate_expanded(T0, &inner, 4, &c.expand(), &mut pb),
        Err(EspError::InvalidConfig(_))
    ));
    assert_eq!(
        b.sequence(),
        3,
        "the refused packet used no sequence number"
    );
}

fn gcm(alg: CipherAlg) -> EspTransform {
    EspTransform::new(EspCipher::AesGcm16(alg), None)
}

/// draft-mcgrew-gcm-test-01 test case 3: SPI 0x4a2cbfe3, sequence number 2, AES-256, salt
/// 11223344, explicit IV 0102030405060708. The vector's plaintext ends in the ESP trailer
/// (padding 01 02, pad length 2, next header 1) that `encapsulate` writes itself, so sealing the
/// 48 bytes before it with next header 1 must give the whole published packet, byte for byte.
#[test]
fn gcm_known_answer_packet() {
    let t = gcm(CipherAlg::Aes256);
    let keymat = hex("abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344");
    let mk = || EspKeys::new(0x4a2c_bfe3, t, &keymat, &[]).unwrap();
    let cfg = config(EspMode::Transport);
    let mut o = OutboundSa::new(mk(), cfg, T0, &mut Rng::from_u64(1)).unwrap();
    o.force_sequence_for_tests(1);
    let inner = hex(
        "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000
         7002400020bf0000020405b401010402",
    );
    let iv = hex("0102030405060708");
    let mut out = vec![0u8; inner.len() + o.overhead()];
    let n = o.encapsulate_with_iv(T0, &inner, 1, &iv, &mut out).unwrap();
    let want = hex("4a2cbfe300000002 0102030405060708
         ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763
         748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49
         15956c96");
    assert_eq!(&out[..n], want.as_slice());
    let mut i = InboundSa::new(mk(), cfg, T0).unwrap();
    let mut pt = vec![0u8; n];
    let d = i.decapsulate(T0, &want, &mut pt).unwrap();
    assert_eq!(
        (&pt[..d.len], d.next_header, d.seq),
        (inner.as_slice(), 1, 2)
    );
}

#[test]
fn gcm_round_trips_refuses_forgeries_and_replays() {
    for alg in [CipherAlg::Aes128, CipherAlg::Aes192, CipherAlg::Aes256] {
        let t = gcm(alg);
        assert_eq!(t.keymat_len(), alg.key_len() + 4);
        assert_eq!(t.icv_len(), 16);
        let (mut o, mut i) = pair_with(t, config(EspMode::Tunnel));
        assert_eq!(
            i.replay_window(),
            Some(DEFAULT_REPLAY_WINDOW),
            "GCM authenticates"
        );
        for len in [0usize, 1, 2, 3, 40, 1400] {
            let inner: Vec<u8> = (0..len).map(|b| b as u8).collect();
            let pkt = seal(&mut o, &inner);
            assert_eq!(Some(pkt.len()), o.encapsulated_len(len));
            // The explicit IV is the sequence number, widened to 64 bits.
            assert_eq!(&pkt[8..12], &[0; 4]);
            assert_eq!(&pkt[12..16], &pkt[4..8]);
            let mut out = vec![0u8; pkt.len()];
            let d = i.decapsulate(T0, &pkt, &mut out).unwrap();
            assert_eq!(&out[..d.len], inner.as_slice(), "{alg:?} {len}");
            assert_eq!(
                i.decapsulate(T0, &pkt, &mut out).unwrap_err(),
                EspError::Replayed { seq: d.seq }
            );
        }
        // Any flipped bit (SPI and sequence number are AAD, IV in the nonce, the tag itself)
        // fails authentication and leaves the window where it was.
        let pkt = seal(&mut o, b"forge me");
        let highest = i.highest_sequence();
        for bit in [4 * 8 + 7, 9 * 8, 20 * 8 + 3, (pkt.len() - 1) * 8] {
            let mut bad = pkt.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut out = vec![0u8; bad.len()];
            let e = i.decapsulate(T0, &bad, &mut out).unwrap_err();
            assert!(
                matches!(e, EspError::Authentication | EspError::Replayed { .. }),
                "bit {bit}: {e:?}"
            );
            assert_eq!(i.highest_sequence(), highest);
        }
        let mut out = vec![0u8; pkt.len()];
        assert_eq!(i.decapsulate(T0, &pkt, &mut out).unwrap().len, 8);
        assert_eq!(i.stats().verify_failed, 4, "{alg:?}");
    }
}

#[test]
fn gcm_refuses_a_separate_integrity_key_and_a_bad_keymat_length() {
    let t = EspTransform::new(
        EspCipher::AesGcm16(CipherAlg::Aes128),
        Some(EspIntegrity::HmacSha1_96),
    );
    assert!(matches!(
        EspKeys::new(1, t, &[0; 20], &[0; 20]),
        Err(EspError::InvalidConfig(_))
    ));
    let t = gcm(CipherAlg::Aes256);
    assert!(matches!(
        EspKeys::new(1, t, &[0; 32], &[]),
        Err(EspError::KeyLength {
            expected: 36,
            got: 32,
            ..
        })
    ));
}
