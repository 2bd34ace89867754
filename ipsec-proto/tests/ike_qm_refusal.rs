//! Regression test found against strongSwan 5.9.8: its Quick Mode responder refuses with an
//! authenticated N(NO-PROPOSAL-CHOSEN) whose SPI field is 0. The waiting Quick Mode must fail at
//! once with that notify as the reason instead of retransmitting QM1 until it gives up.

mod ike_common;

use ike_common::*;
use ipsec_proto::crypto::cipher::{CbcCipher, CipherAlg};
use ipsec_proto::crypto::hmac::HashAlg;
use ipsec_proto::ike::{Event, IkeSaId, NotifyType, Path};

/// An encrypted Informational from B to A: HASH(1) | N(ESP, SPI `spi`, NO-PROPOSAL-CHOSEN),
/// protected with A's Phase 1 keys and the IV chained from the last block of MM6.
fn refusal(p: &Pair, sa: IkeSaId, spi: u32, mid: u32) -> Vec<u8> {
    let keys = p.a.phase1_keys_sensitive(sa).unwrap();
    let (ci, cr) = p.a.isakmp_cookies(sa).unwrap();
    // N payload: generic header, DOI 1, protocol ESP (3), SPI size 4, type 14, SPI.
    let mut n = vec![0, 0, 0, 16, 0, 0, 0, 1, 3, 4, 0, 14];
    n.extend_from_slice(&spi.to_be_bytes());
    let hash = keys.info_hash(mid, &n);
    let mut plain = vec![11, 0, 0, 24];
    plain.extend_from_slice(&hash);
    plain.extend_from_slice(&n);
    assert_eq!(plain.len() % 8, 0, "3DES blocks, no padding needed");
    // Phase 2 IV: hash(last CBC block of Phase 1 | M-ID), cut to the block size.
    let mm6 = &p.log.iter().filter(|l| l.0 == Side::B).nth(2).unwrap().2;
    let last = &mm6[mm6.len() - 8..];
    let iv = HashAlg::Sha1.digest(&[last, &mid.to_be_bytes()]);
    CbcCipher::new(CipherAlg::TripleDes, keys.enc_key().expose_secret())
        .unwrap()
        .encrypt_in_place(&iv[..8], &mut plain)
        .unwrap();
    let mut msg = Vec::new();
    msg.extend_from_slice(&ci);
    msg.extend_from_slice(&cr);
    // Next payload HASH, version 1.0, Informational, flags E.
    msg.extend_from_slice(&[8, 0x10, 5, 1]);
    msg.extend_from_slice(&mid.to_be_bytes());
    msg.extend_from_slice(&((28 + plain.len()) as u32).to_be_bytes());
    msg.extend_from_slice(&plain);
    msg
}

#[test]
fn quick_mode_refused_with_spi_zero_fails_at_once() {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 77);
    // B completes Main Mode (MM2, MM4, MM6) and then says nothing: the refusal comes from us.
    p.blackhole_from = Some((Side::B, 3));
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::Phase1Established { .. }))));
    // QM1 has left A.
    p.run_until(100, |_| false);
    let info = &p.a.isakmp_sas(p.now)[0];
    let sa = IkeSaId(info.conn_id);
    let path = Path {
        local: info.path.local,
        remote: info.path.remote,
    };
    let retransmissions = p.a.counters().retransmissions;
    let msg = refusal(&p, sa, 0, 0x0bad_cafe);
    let now = p.now;
    let _ = p.a.handle_datagram(now, path, &msg);
    let mut failed = Vec::new();
    while let Some(e) = p.a.poll_event() {
        if let Event::NegotiationFailed { phase, error, .. } = &e {
            failed.push((*phase, error.to_string()));
        }
        p.events_a.push(e);
    }
    assert!(
        p.events_a.iter().any(|e| matches!(
            e,
            Event::NotifyReceived { notify, authenticated: true, .. }
                if *notify == NotifyType::NO_PROPOSAL_CHOSEN
        )),
        "{:?}",
        p.events_a
    );
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 2);
    assert!(failed[0].1.contains("NO-PROPOSAL-CHOSEN"), "{failed:?}");
    // No QM1 retransmission afterwards.
    p.run(30_000);
    assert_eq!(p.a.counters().retransmissions, retransmissions);
}
