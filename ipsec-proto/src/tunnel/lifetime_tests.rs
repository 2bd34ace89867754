//! `lifetime kilobytes disable` and `idle-time` between two in-memory sites.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, Show, TunVerdict, Tunnel, TunnelEvent};
use crate::policy::KILOBYTES_DISABLED;
use crate::time::Instant;
use std::net::Ipv4Addr;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];
const PEER_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const DEAD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

/// An ICMP echo of `len` bytes.
fn big(src: [u8; 4], dst: [u8; 4], seq: u16, len: u16) -> Vec<u8> {
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

fn ms(now: Instant, d: u64) -> Instant {
    Instant::from_millis(now.as_millis() + d)
}

/// Runs both sites' timers and moves their datagrams, `n` steps of `dt` milliseconds.
fn settle(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant, n: usize, dt: u64) {
    for _ in 0..n {
        carry(a, b, *now);
        carry(b, a, *now);
        *now = ms(*now, dt);
        for t in [&mut *a, &mut *b] {
            if t.poll_timeout().is_some_and(|d| d <= *now) {
                t.handle_timeout(*now);
            }
        }
    }
}

fn events(t: &mut Tunnel) -> Vec<TunnelEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn ups(ev: &[TunnelEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, TunnelEvent::IpsecUp { .. }))
        .count()
}

fn downs(ev: &[TunnelEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, TunnelEvent::IpsecDown { .. }))
        .count()
}

/// `from` sends the first packet and both sites negotiate.
fn up(from: &mut Tunnel, to: &mut Tunnel, src: [u8; 4], dst: [u8; 4], now: &mut Instant) {
    assert_eq!(
        from.handle_plaintext(*now, &ping(src, dst, 0)),
        TunVerdict::NoSa
    );
    settle(from, to, now, 20, 10);
    assert_eq!(from.tunnels().installed_pairs(), 1);
    assert_eq!(to.tunnels().installed_pairs(), 1);
}

fn negotiated_kb(t: &Tunnel, now: Instant) -> Vec<u64> {
    t.tunnels()
        .endpoint()
        .ipsec_sas(now)
        .iter()
        .map(|s| s.lifetime_kb)
        .collect()
}

fn sa_show(t: &Tunnel, now: Instant) -> String {
    t.show(
        now,
        Show::IpsecSa {
            peer: None,
            detail: false,
        },
    )
}

/// Site A with `global` added and site B with `entry_b` in its map entry; a 300 s lifetime.
fn sites(global_a: &str, entry_b: &str) -> (Tunnel, Tunnel) {
    let a = format!("{SITE_A}crypto ipsec security-association lifetime seconds 300\n{global_a}");
    let b = SITE_B.replace(
        " set transform-set TRANSFORM\n",
        &format!(" set transform-set TRANSFORM\n{entry_b}"),
    );
    (
        Tunnel::from_ios(&a, CoreOptions::seeded(1)).unwrap(),
        Tunnel::from_ios(&b, CoreOptions::seeded(2)).unwrap(),
    )
}

/// Pushes about 3 MB from A to B (more than a 2560 KB volume lifetime) over 30 s; the IPsec
/// SA pairs each side installed meanwhile.
fn push_3mb(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) -> (usize, usize) {
    let (mut ua, mut ub) = (0, 0);
    for s in 0..2200u16 {
        let p = big(HOST_A, HOST_B, s, 1400);
        a.handle_plaintext(*now, &p);
        settle(a, b, now, 1, 14);
        ua += ups(&events(a));
        ub += ups(&events(b));
    }
    (ua, ub)
}

#[test]
fn a_disabled_volume_lifetime_proposes_no_kilobytes_and_never_rekeys_on_volume() {
    // Both sides disable it (globally on A, in the entry on B): B, the responder, ends with
    // no volume lifetime only if A's QM1 proposed none (B adopts any proposed one).
    let (mut a, mut b) = sites(
        "crypto ipsec security-association lifetime kilobytes disable\n",
        " set security-association lifetime kilobytes disable\n",
    );
    let mut now = Instant::from_millis(1_000);
    up(&mut a, &mut b, HOST_A, HOST_B, &mut now);
    events(&mut a);
    events(&mut b);
    assert_eq!(negotiated_kb(&b, now), [KILOBYTES_DISABLED]);
    assert_eq!(negotiated_kb(&a, now), [KILOBYTES_DISABLED]);
    for t in [&a, &b] {
        let s = sa_show(t, now);
        assert!(
            s.contains("sa timing: remaining key lifetime (sec): "),
            "{s}"
        );
        assert!(s.contains("Kilobyte Volume Rekey has been disabled"), "{s}");
        assert!(!s.contains("(k/sec)"), "{s}");
    }
    let map = a.show(now, Show::CryptoMap);
    assert!(
        map.contains("Security association lifetime: disabled kilobytes/300 seconds"),
        "{map}"
    );
    // 3 MB later: still the first pair on both sides.
    assert_eq!(push_3mb(&mut a, &mut b, &mut now), (0, 0));
    assert_eq!(
        (a.tunnels().installed_pairs(), b.tunnels().installed_pairs()),
        (1, 1)
    );
    // The 300 s lifetime still rekeys.
    settle(&mut a, &mut b, &mut now, 300, 1_000);
    assert!(ups(&events(&mut a)) >= 1);
}

#[test]
fn the_same_volume_with_a_kilobyte_lifetime_rekeys() {
    // The control: 2560 KB rekeys within the same 3 MB.
    let (mut a, mut b) = sites(
        "crypto ipsec security-association lifetime kilobytes 2560\n",
        " set security-association lifetime kilobytes disable\n",
    );
    let mut now = Instant::from_millis(1_000);
    up(&mut a, &mut b, HOST_A, HOST_B, &mut now);
    events(&mut a);
    assert_eq!(negotiated_kb(&b, now), [2560], "B adopts A's proposal");
    let s = sa_show(&b, now);
    assert!(s.contains("remaining key lifetime (k/sec): (2560/"), "{s}");
    let (ua, _) = push_3mb(&mut a, &mut b, &mut now);
    assert!(ua >= 1, "no volume rekey");
}

#[test]
fn a_disabled_side_adopts_the_volume_lifetime_its_peer_proposes() {
    // B initiates with 5000 KB; A, with no volume lifetime, answers and adopts it.
    let (mut a, mut b) = sites(
        "crypto ipsec security-association lifetime kilobytes disable\n",
        " set security-association lifetime kilobytes 5000\n",
    );
    let mut now = Instant::from_millis(1_000);
    up(&mut b, &mut a, HOST_B, HOST_A, &mut now);
    assert_eq!(negotiated_kb(&a, now), [5000]);
    assert_eq!(negotiated_kb(&b, now), [5000]);
    let s = sa_show(&a, now);
    assert!(s.contains("remaining key lifetime (k/sec): (5000/"), "{s}");
}

/// Site A with `idle` in its entry (and `peers` as its `set peer` lines).
fn idle_site(idle: &str, peers: &str) -> Tunnel {
    let mut text = SITE_A.replace(
        " set peer 203.0.113.2\n",
        &format!("{peers} set security-association idle-time {idle}\n"),
    );
    text.push_str("crypto isakmp key deadkey address 203.0.113.9\n");
    Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap()
}

#[test]
fn an_idle_pair_is_deleted_after_the_idle_time_and_not_while_traffic_flows() {
    let mut a = idle_site("60", " set peer 203.0.113.2\n");
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    up(&mut a, &mut b, HOST_A, HOST_B, &mut now);
    events(&mut a);
    // Three minutes of a ping every 20 s, one way or the other: the pair stays.
    let mut last = now;
    for s in 1..=9u16 {
        let (from, to, src, dst) = if s % 2 == 0 {
            (&mut a, &mut b, HOST_A, HOST_B)
        } else {
            (&mut b, &mut a, HOST_B, HOST_A)
        };
        assert_eq!(
            from.handle_plaintext(now, &ping(src, dst, s)),
            TunVerdict::Protected
        );
        carry(from, to, now);
        last = now;
        settle(&mut a, &mut b, &mut now, 20, 1_000);
    }
    assert_eq!(downs(&events(&mut a)), 0);
    assert_eq!(a.tunnels().installed_pairs(), 1);
    // Then nothing: A's own deadlines bring it to the moment the pair has idled 60 s.
    let deadline = ms(last, 60_000);
    while let Some(t) = a.poll_timeout().filter(|t| *t < deadline) {
        now = now.max(t);
        a.handle_timeout(now);
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        assert_eq!(a.tunnels().installed_pairs(), 1, "deleted before 60 s idle");
    }
    assert_eq!(
        a.poll_timeout(),
        Some(deadline),
        "the idle deadline is A's next"
    );
    now = deadline;
    a.handle_timeout(now);
    assert_eq!(a.tunnels().installed_pairs(), 0);
    assert_eq!(downs(&events(&mut a)), 1);
    // The Delete reaches B, whose pair goes too; A's counters stay in its flow.
    carry(&mut a, &mut b, now);
    assert_eq!(b.tunnels().installed_pairs(), 0);
    let s = sa_show(&a, now);
    assert!(s.contains("#pkts encaps: 4,"), "{s}");
    assert!(s.contains("#pkts decaps: 5,"), "{s}");
    // Traffic negotiates a new pair.
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 99)),
        TunVerdict::NoSa
    );
    settle(&mut a, &mut b, &mut now, 20, 10);
    assert_eq!(a.tunnels().installed_pairs(), 1);
}

#[test]
fn idle_time_default_returns_an_entry_on_its_backup_to_the_first_peer() {
    for default in [true, false] {
        let idle = if default { "60 default" } else { "60" };
        let mut a = idle_site(idle, " set peer 203.0.113.9\n set peer 203.0.113.2\n");
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        assert_eq!(a.tunnels().entries()[0].peer_addr, DEAD);
        // The primary never answers: A moves to the backup, B.
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0));
        let mut buf = vec![0u8; 65_536];
        for _ in 0..600 {
            while let Ok(Some(_)) = a.poll_transmit(&mut buf) {}
            now = ms(now, 500);
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
            if a.tunnels().entries()[0].peer_addr == PEER_B {
                break;
            }
        }
        assert_eq!(a.tunnels().entries()[0].peer_addr, PEER_B);
        events(&mut a);
        up(&mut a, &mut b, HOST_A, HOST_B, &mut now);
        // Idle for 60 s: the pair goes, and with `default` the entry returns to the primary.
        settle(&mut a, &mut b, &mut now, 61, 1_000);
        assert_eq!(a.tunnels().installed_pairs(), 0);
        let ev = events(&mut a);
        let back = TunnelEvent::PeerChanged {
            entry: 0,
            from: PEER_B,
            to: DEAD,
        };
        let map = a.show(now, Show::CryptoMap);
        let idle = if default {
            "\tSecurity association idle time: 60 seconds, then back to the default peer\n"
        } else {
            "\tSecurity association idle time: 60 seconds\n"
        };
        assert!(map.contains(idle), "{map}");
        if default {
            assert!(ev.contains(&back), "{ev:?}");
            assert_eq!(a.tunnels().entries()[0].peer_addr, DEAD);
            assert!(map.contains("Current peer: 203.0.113.9"), "{map}");
        } else {
            assert!(!ev.contains(&back), "{ev:?}");
            assert_eq!(a.tunnels().entries()[0].peer_addr, PEER_B);
        }
    }
}
