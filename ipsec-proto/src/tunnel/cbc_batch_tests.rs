//! Tests of the batched CBC path (`cbc_batch`: bitsliced 3DES, multi-buffer AES-CBC
//! encryption): the same bytes as the single-packet verbs, mixed batches, a duplicate in a
//! batch, a forged ICV in a batch, the hard volume lifetime.

use super::polled::tests::{ping, SITE_A, SITE_B};
use super::{CoreOptions, Dest, Iface, TunVerdict, Tunnel};
use crate::time::Instant;
use std::net::Ipv4Addr;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const PEER_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// The peers: LAN 2 behind B (3DES, the seed), LAN 3 behind C (AES), LAN 4 behind D (3DES).
const LANS: [[u8; 4]; 3] = [[192, 168, 2, 10], [192, 168, 3, 10], [192, 168, 4, 10]];
const PEERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 2),
    Ipv4Addr::new(203, 0, 113, 3),
    Ipv4Addr::new(203, 0, 113, 4),
];

/// Site A of the seed with two more map entries, to C (AES) and D (3DES).
fn site_a() -> String {
    SITE_A
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            "crypto isakmp key ciscokey address 203.0.113.2\n\
             crypto isakmp key ciscokey address 203.0.113.3\n\
             crypto isakmp key ciscokey address 203.0.113.4\n",
        )
        .replace(
            " match address 100\n",
            " match address 100\n!\ncrypto ipsec transform-set AES esp-aes esp-sha-hmac\n\
             crypto map VPN 20 ipsec-isakmp\n set peer 203.0.113.3\n set transform-set AES\n match address 102\n\
             crypto map VPN 30 ipsec-isakmp\n set peer 203.0.113.4\n set transform-set TRANSFORM\n match address 103\n",
        )
        + "access-list 102 permit ip 192.168.1.0 0.0.0.255 192.168.3.0 0.0.0.255\n\
           access-list 103 permit ip 192.168.1.0 0.0.0.255 192.168.4.0 0.0.0.255\n"
}

/// Peer `i` (0: B, 1: C, 2: D): site B of the seed moved to its address and LAN.
fn site_peer(i: usize) -> String {
    let s = SITE_B
        .replace("203.0.113.2", &PEERS[i].to_string())
        .replace("192.168.2.", &format!("192.168.{}.", i + 2));
    if i == 1 {
        s.replace("esp-3des esp-sha-hmac", "esp-aes esp-sha-hmac")
    } else {
        s
    }
}

/// An ICMP echo of `len` bytes from `src` to `dst`.
fn sized(src: [u8; 4], dst: [u8; 4], seq: u16, len: u16) -> Vec<u8> {
    let mut p = ping(src, dst, seq);
    p.resize(usize::from(len), 0);
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[10..12].fill(0);
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

/// `n` packets from A to `lans` in turn, sizes from one block to a full packet.
fn towards(lans: &[usize], n: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let lan = LANS[lans[usize::from(i) % lans.len()]];
            sized(HOST_A, lan, 100 + i, 28 + (i * 97) % 1373)
        })
        .collect()
}

/// Moves every datagram `a` queued to its peer and every datagram the peers queued to `a`.
fn exchange(a: &mut Tunnel, peers: &mut [Tunnel; 3], now: Instant) {
    let mut buf = vec![0u8; 65_536];
    while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
        let m = &buf[..t.len];
        let (to, r) = match t.dest {
            Dest::Udp { local, remote } => (*remote.ip(), Some((local, remote))),
            Dest::Esp { dst, .. } => (dst, None),
            Dest::Tun | Dest::Vti(_) => continue,
        };
        let Some(p) = PEERS.iter().position(|x| *x == to) else {
            continue;
        };
        let _ = match r {
            Some((local, remote)) => peers[p].handle_udp(now, remote, local, m),
            None => peers[p].handle_esp(now, PEER_A, m),
        };
    }
    for p in peers.iter_mut() {
        while let Ok(Some(t)) = p.poll_transmit(&mut buf) {
            let m = &buf[..t.len];
            let _ = match t.dest {
                Dest::Udp { local, remote } => a.handle_udp(now, remote, local, m),
                Dest::Esp { src, .. } => a.handle_esp(now, src, m),
                Dest::Tun | Dest::Vti(_) => Ok(()),
            };
        }
    }
}

/// Site A and its three peers with their pairs up, and the time (deterministic: same seeds,
/// same bytes).
fn world() -> (Tunnel, [Tunnel; 3], Instant) {
    let mut a = Tunnel::from_ios(&site_a(), CoreOptions::seeded(1)).unwrap();
    let mut peers: [Tunnel; 3] = core::array::from_fn(|i| {
        Tunnel::from_ios(&site_peer(i), CoreOptions::seeded(2 + i as u64)).unwrap()
    });
    let mut now = Instant::from_millis(1_000);
    for lan in LANS {
        assert_eq!(
            a.handle_plaintext(now, &ping(HOST_A, lan, 0)),
            TunVerdict::NoSa
        );
    }
    for _ in 0..40 {
        exchange(&mut a, &mut peers, now);
        now = Instant::from_millis(now.as_millis() + 10);
        for t in std::iter::once(&mut a).chain(peers.iter_mut()) {
            if t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
            }
        }
    }
    assert_eq!(a.tunnels().installed_pairs(), 3);
    for p in &peers {
        assert_eq!(p.tunnels().installed_pairs(), 1);
    }
    let _ = delivered(&mut a);
    for p in peers.iter_mut() {
        let _ = delivered(p);
    }
    (a, peers, now)
}

/// Whether pair `c` carries traffic to `lan`.
fn to_lan(c: &super::ChildSa, lan: [u8; 4]) -> bool {
    let (s, e) = c.selectors.remote.addr.range();
    (s..=e).contains(&Ipv4Addr::from(lan))
}

/// The ESP packets `t` queued, in order.
fn esp_out(t: &mut Tunnel) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let mut v = Vec::new();
    while let Ok(Some(x)) = t.poll_transmit(&mut buf) {
        if matches!(x.dest, Dest::Esp { .. }) {
            v.push(buf[..x.len].to_vec());
        }
    }
    v
}

/// The cleartext packets `t` delivered, in order.
fn delivered(t: &mut Tunnel) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let mut v = Vec::new();
    while let Ok(Some(n)) = t.poll_plaintext(&mut buf) {
        v.push(buf[..n].to_vec());
    }
    v
}

#[test]
fn batch_is_byte_identical_to_single_packets_both_ways() {
    let (mut a1, mut p1, now) = world();
    let (mut a2, mut p2, _) = world();
    per_packet(&mut a1);
    p1.iter_mut().for_each(per_packet);
    // Outbound at A: 3DES to B and D (two SAs in one pass) and AES to C, interleaved.
    let pkts = towards(&[0, 1, 2], 40);
    for p in &pkts {
        assert_eq!(a1.handle_plaintext(now, p), TunVerdict::Protected);
    }
    let v = a2.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, pkts.len());
    assert!(a2.tunnels().tdes.is_some(), "the bitsliced pass ran");
    let (e1, e2) = (esp_out(&mut a1), esp_out(&mut a2));
    assert_eq!(e1.len(), pkts.len());
    assert_eq!(
        e1, e2,
        "same IVs, sequence numbers and ciphertexts, same order"
    );

    // Inbound at B: one SA, singly against one batch.
    let to_b: Vec<&Vec<u8>> = e1.iter().step_by(3).collect();
    for e in &to_b {
        assert_eq!(p1[0].handle_esp(now, PEER_A, e), Ok(()));
    }
    let v = p2[0].handle_esp_batch(now, PEER_A, to_b.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, to_b.len());
    assert!(p2[0].tunnels().tdes.is_some(), "the bitsliced pass ran");
    let want: Vec<Vec<u8>> = pkts.iter().step_by(3).cloned().collect();
    assert_eq!(delivered(&mut p1[0]), want);
    assert_eq!(delivered(&mut p2[0]), want);

    // Inbound at A: B's and D's packets (two 3DES SAs) interleaved in one batch.
    let mut replies = Vec::new();
    for i in 0..24u16 {
        let k = if i % 2 == 0 { 0 } else { 2 };
        let p = sized(LANS[k], HOST_A, i, 40 + i * 53);
        assert_eq!(p1[k].handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(p2[k].handle_plaintext(now, &p), TunVerdict::Protected);
        let (x1, x2) = (esp_out(&mut p1[k]), esp_out(&mut p2[k]));
        assert_eq!(x1, x2);
        replies.push((k, p, x1.into_iter().next().unwrap()));
    }
    for (k, _, e) in &replies {
        assert_eq!(a1.handle_esp(now, PEERS[*k], e), Ok(()));
    }
    let v = a2.handle_esp_batch(now, PEERS[0], replies.iter().map(|(_, _, e)| e.as_slice()));
    assert_eq!(v.protected, replies.len());
    let want: Vec<Vec<u8>> = replies.iter().map(|(_, p, _)| p.clone()).collect();
    assert_eq!(delivered(&mut a1), want);
    assert_eq!(delivered(&mut a2), want);
}

#[test]
fn an_aes_batch_is_sealed_by_the_multi_buffer_pass_byte_identical() {
    if !ipsec_tdes::aes_is_available() {
        eprintln!("no AES-NI: AES-CBC keeps the per-packet path");
        return;
    }
    let (mut a1, mut p1, now) = world();
    let (mut a2, _, _) = world();
    per_packet(&mut a1);
    // More packets than the pass has lanes, of every size: lanes end and refill.
    let pkts = towards(&[1], 40);
    for p in &pkts {
        assert_eq!(a1.handle_plaintext(now, p), TunVerdict::Protected);
    }
    assert!(
        a1.tunnels().tdes.is_none(),
        "single packets: no shared pass"
    );
    let v = a2.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, pkts.len());
    assert!(a2.tunnels().tdes.is_some(), "the multi-buffer pass ran");
    let (e1, e2) = (esp_out(&mut a1), esp_out(&mut a2));
    assert_eq!(e1.len(), pkts.len());
    assert_eq!(e1, e2, "same IVs, sequence numbers and ciphertexts");
    // And C opens them.
    for e in &e2 {
        assert_eq!(p1[1].handle_esp(now, PEER_A, e), Ok(()));
    }
    assert_eq!(delivered(&mut p1[1]), pkts);
}

#[test]
fn a_packet_twice_in_one_batch_is_delivered_once() {
    let (mut a, mut p, now) = world();
    let pkts = towards(&[0], 6);
    a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    let e = esp_out(&mut a);
    // Packet 0 again two places later, packet 2 right after itself.
    let batch = [&e[0], &e[1], &e[0], &e[2], &e[2], &e[3], &e[4], &e[5]];
    let v = p[0].handle_esp_batch(now, PEER_A, batch.iter().map(|p| p.as_slice()));
    assert_eq!((v.protected, v.dropped), (6, 2));
    assert_eq!(delivered(&mut p[0]), pkts);
    let replayed = p[0]
        .tunnels_mut_for_tests()
        .children
        .values_mut()
        .map(|c| c.inbound.stats().replay_failed)
        .sum::<u64>();
    assert_eq!(replayed, 2);
}

#[test]
fn a_forged_packet_in_the_middle_leaves_the_others_delivered() {
    let (mut a, mut p, now) = world();
    let pkts = towards(&[0], 9);
    a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    let mut e = esp_out(&mut a);
    let genuine = [e[3].clone(), e[5].clone()];
    let last = e[3].len() - 1;
    e[3][last] ^= 0x80; // the ICV
    e[5][20] ^= 1; // the ciphertext
    let v = p[0].handle_esp_batch(now, PEER_A, e.iter().map(|p| p.as_slice()));
    assert_eq!((v.protected, v.dropped), (7, 2));
    let mut want = pkts.clone();
    want.remove(5);
    want.remove(3);
    assert_eq!(delivered(&mut p[0]), want);
    // The forged packets did not move the window: their genuine copies still pass.
    let v = p[0].handle_esp_batch(now, PEER_A, genuine.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, 2);
    assert_eq!(delivered(&mut p[0]), [pkts[3].clone(), pkts[5].clone()]);
}

#[test]
fn a_batch_crossing_the_hard_kilobyte_lifetime_sends_nothing_past_it() {
    let (mut a, _p, now) = world();
    // B's outbound SA: 1000 bytes short of its hard volume limit.
    let hard = a
        .tunnels_mut_for_tests()
        .children
        .values_mut()
        .find(|c| to_lan(c, LANS[0]))
        .map(|c| {
            let hard = c.out.lifetime().config().hard.kilobytes.unwrap() * 1024;
            let used = c.out.usage().bytes;
            c.out
                .record_usage_for_tests(now, usize::try_from(hard - used - 1000).unwrap());
            hard
        })
        .unwrap();
    // 300-byte packets to B and D in turn, both 3DES: the fourth to B starts below the limit
    // and is the last sent to B; D's all go.
    let pkts: Vec<Vec<u8>> = (0..20)
        .map(|i| sized(HOST_A, LANS[if i % 2 == 0 { 0 } else { 2 }], i, 300))
        .collect();
    let v = a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    assert!(a.tunnels().tdes.is_some(), "the bitsliced pass ran");
    assert_eq!((v.protected, v.send_error), (14, 6));
    assert_eq!(esp_out(&mut a).len(), 14);
    let used = a
        .tunnels_mut_for_tests()
        .children
        .values_mut()
        .find(|c| to_lan(c, LANS[0]))
        .map(|c| c.out.usage().bytes)
        .unwrap();
    assert!(used >= hard && used < hard + 300, "{used} vs {hard}");
}

#[test]
fn a_received_batch_crossing_the_hard_kilobyte_lifetime_delivers_nothing_past_it() {
    let (mut a, mut p, now) = world();
    let pkts: Vec<Vec<u8>> = (0..10).map(|i| sized(HOST_A, LANS[0], i, 300)).collect();
    a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    let e = esp_out(&mut a);
    // B's inbound SA: 1000 bytes short of its hard volume limit; the fourth packet is the last.
    for c in p[0].tunnels_mut_for_tests().children.values_mut() {
        let hard = c.inbound.lifetime().config().hard.kilobytes.unwrap() * 1024;
        let used = c.inbound.usage().bytes;
        c.inbound
            .record_usage_for_tests(now, usize::try_from(hard - used - 1000).unwrap());
    }
    let v = p[0].handle_esp_batch(now, PEER_A, e.iter().map(|p| p.as_slice()));
    assert_eq!((v.protected, v.dropped), (4, 6));
    assert_eq!(delivered(&mut p[0]), pkts[..4]);
}

/// The reference of the byte-for-byte comparisons: the per-packet RustCrypto path, which the
/// single-packet verbs take only with the shared passes off.
fn per_packet(t: &mut Tunnel) {
    t.tunnels_mut_for_tests().set_shared_passes(false);
}

#[test]
fn a_lone_3des_packet_takes_the_constant_time_pass_both_ways() {
    let (mut a, mut p, now) = world();
    let (mut a_ref, mut p_ref, _) = world();
    per_packet(&mut a_ref);
    per_packet(&mut p_ref[0]);
    // The single-packet verbs seal a 3DES packet through the bitsliced pass, a batch of one:
    // the same bytes as the per-packet path.
    let pkt = sized(HOST_A, LANS[0], 7, 1400);
    assert!(a.tunnels().tdes.is_none());
    assert_eq!(a.handle_plaintext(now, &pkt), TunVerdict::Protected);
    assert!(a.tunnels().tdes.is_some(), "the constant-time pass ran");
    assert_eq!(a_ref.handle_plaintext(now, &pkt), TunVerdict::Protected);
    assert!(
        a_ref.tunnels().tdes.is_none(),
        "the reference stayed per packet"
    );
    let e = esp_out(&mut a);
    assert_eq!(e, esp_out(&mut a_ref));
    // And open one through it too.
    assert!(p[0].tunnels().tdes.is_none());
    assert_eq!(p[0].handle_esp(now, PEER_A, &e[0]), Ok(()));
    assert!(p[0].tunnels().tdes.is_some(), "the bitsliced pass ran");
    assert_eq!(delivered(&mut p[0]), std::slice::from_ref(&pkt));
    assert_eq!(p_ref[0].handle_esp(now, PEER_A, &e[0]), Ok(()));
    assert_eq!(delivered(&mut p_ref[0]), [pkt]);
    // A replay is refused by the lone pass as by the per-packet path, with the same reason.
    let again = p[0].handle_esp(now, PEER_A, &e[0]);
    assert!(again.is_err());
    assert_eq!(again, p_ref[0].handle_esp(now, PEER_A, &e[0]));
    // A lone packet in a batch takes the pass as well, and the peer opens what it made.
    let lone = sized(HOST_A, LANS[0], 8, 99);
    let v = a.handle_plaintext_batch(now, Iface::Inside, [lone.as_slice()]);
    assert_eq!(v.protected, 1);
    let e = esp_out(&mut a);
    let v = p[0].handle_esp_batch(now, PEER_A, [e[0].as_slice()]);
    assert_eq!(v.protected, 1);
    assert_eq!(delivered(&mut p[0]), [lone]);
}

#[test]
fn a_udp_batch_of_esp_in_udp_opens_like_single_datagrams() {
    use super::polled::tests::carry;
    let mut cfg = crate::ios::parse(SITE_A).unwrap().config;
    cfg.ipsec.force_udp_encaps = true;
    let mut a = Tunnel::new(cfg, CoreOptions::seeded(31)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(32)).unwrap();
    let mut now = Instant::from_millis(1_000);
    let first = ping(HOST_A, LANS[0], 0);
    assert_eq!(a.handle_plaintext(now, &first), TunVerdict::NoSa);
    for _ in 0..40 {
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    let pkts: Vec<Vec<u8>> = (0..40u16)
        .map(|i| sized(HOST_A, LANS[0], 200 + i, 1400 - (i % 3) * 100))
        .collect();
    let v = a.handle_plaintext_batch(now, Iface::Inside, pkts.iter().map(|p| p.as_slice()));
    assert_eq!(v.protected, 40, "{v:?}");
    let mut buf = vec![0u8; 65_536];
    let mut train = Vec::new();
    let mut ends = None;
    while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
        let Dest::Udp { local, remote } = t.dest else {
            panic!("raw ESP under forced UDP encapsulation: {:?}", t.dest);
        };
        assert_eq!(remote.port(), 4500);
        ends = Some((local, remote));
        train.push(buf[..t.len].to_vec());
    }
    assert_eq!(train.len(), 40);
    // A keepalive-sized non-ESP datagram in the middle stays in order and is not ESP.
    train.insert(20, vec![0xff]);
    let (local, remote) = ends.unwrap();
    let v = b.handle_udp_batch(now, remote, local, train.iter().map(|d| d.as_slice()));
    assert_eq!((v.protected, v.dropped), (41, 0), "{v:?}");
    let mut got = Vec::new();
    while let Ok(Some(n)) = b.poll_plaintext(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, pkts);
    // The same train again is all replays: nothing delivered, every one counted dropped.
    train.remove(20);
    let v = b.handle_udp_batch(now, remote, local, train.iter().map(|d| d.as_slice()));
    assert_eq!((v.protected, v.dropped), (0, 40), "{v:?}");
    assert!(b.poll_plaintext(&mut buf).unwrap().is_none());
}
