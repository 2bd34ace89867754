//! Tests of [`Pat`]: packets are built from scratch with their checksums computed in full, so
//! a translated packet can be compared byte for byte with the packet it should have become.

use super::*;
use crate::rng::Rng;

const PUBLIC: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 17);
const HOST_A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const HOST_B: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 11);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 2, 10);
const HOP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 1);

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ep(a: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(a, port)
}

/// Unfolded 16-bit big-endian sum (odd length padded with zero).
fn sum(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn finish(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The Internet checksum of `data`; 0 when `data` holds a correct checksum.
fn csum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// TCP/UDP checksum over the pseudo-header and `l4`; 0 when `l4` holds a correct checksum.
fn pseudo_csum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> u16 {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&[0, proto]);
    ph.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    finish(sum(&ph) + sum(l4))
}

fn ipv4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = csum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn tcp(src: SocketAddrV4, dst: SocketAddrV4, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    t[8..12].copy_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    let c = pseudo_csum(*src.ip(), *dst.ip(), PROTO_TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(PROTO_TCP, *src.ip(), *dst.ip(), &t)
}

fn udp_with(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8], checksum: bool) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&src.port().to_be_bytes());
    u[2..4].copy_from_slice(&dst.port().to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    if checksum {
        let c = match pseudo_csum(*src.ip(), *dst.ip(), PROTO_UDP, &u) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    ipv4(PROTO_UDP, *src.ip(), *dst.ip(), &u)
}

fn udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    udp_with(src, dst, payload, true)
}

fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(PROTO_ICMP, src, dst, &m)
}

fn echo(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, id: u16, seq: u16) -> Vec<u8> {
    let [i0, i1] = id.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    icmp(src, dst, ty, 0, [i0, i1, s0, s1], b"abcdefghijklmnopq")
}

/// An ICMP error from `src` to `dst` carrying `original` (as much of it as the sender keeps).
fn error(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, original: &[u8]) -> Vec<u8> {
    icmp(src, dst, ty, code, [0; 4], original)
}

fn port_of(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// Every checksum of `p` verifies when computed from scratch (and those of the datagram an
/// ICMP error carries, as far as it is carried whole).
fn assert_checksums(p: &[u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    assert_eq!(csum(&p[..ihl]), 0, "IPv4 header checksum of {p:02x?}");
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let l4 = &p[ihl..];
    match p[9] {
        PROTO_TCP => assert_eq!(pseudo_csum(src, dst, PROTO_TCP, l4), 0, "TCP checksum"),
        PROTO_UDP if l4[6..8] != [0, 0] => {
            assert_eq!(pseudo_csum(src, dst, PROTO_UDP, l4), 0, "UDP checksum")
        }
        PROTO_ICMP => {
            assert_eq!(csum(l4), 0, "ICMP checksum");
            if matches!(l4[0], 3 | 11 | 12) {
                let inner = &l4[8..];
                let carried_whole =
                    usize::from(u16::from_be_bytes([inner[2], inner[3]])) == inner.len();
                if carried_whole {
                    assert_checksums(inner);
                } else {
                    let eihl = usize::from(inner[0] & 15) * 4;
                    assert_eq!(csum(&inner[..eihl]), 0, "embedded IPv4 header checksum");
                }
            }
        }
        _ => {}
    }
}

fn out(pat: &mut Pat, now: u64, p: &mut [u8]) -> Result<Translated, PatError> {
    pat.outbound(at(now), p, PUBLIC)
}

fn inb(pat: &mut Pat, now: u64, p: &mut [u8]) -> Result<Translated, PatError> {
    pat.inbound(at(now), p, PUBLIC)
}

/// Translates `orig` outbound and checks it became `expected`; returns the result.
fn expect_out(pat: &mut Pat, now: u64, orig: &[u8], expected: &[u8]) -> Translated {
    let mut p = orig.to_vec();
    let r = out(pat, now, &mut p).expect("outbound");
    assert_eq!(p, expected, "outbound translation");
    assert_checksums(&p);
    r
}

fn expect_in(pat: &mut Pat, now: u64, orig: &[u8], expected: &[u8]) -> Translated {
    let mut p = orig.to_vec();
    let r = inb(pat, now, &mut p).expect("inbound");
    assert_eq!(p, expected, "inbound translation");
    assert_checksums(&p);
    r
}

#[test]
fn builders_make_valid_checksums() {
    assert_checksums(&tcp(ep(HOST_A, 1), ep(SERVER, 2), TCP_SYN, b"odd"));
    assert_checksums(&udp(ep(HOST_A, 1), ep(SERVER, 2), b"odd"));
    assert_checksums(&echo(HOST_A, SERVER, 8, 1, 1));
    let inner = udp(ep(HOST_A, 1), ep(SERVER, 2), b"x");
    assert_checksums(&error(SERVER, HOST_A, 3, 3, &inner));
}

#[test]
fn tcp_two_hosts_same_port_out_and_back() {
    let mut pat = Pat::new(PatLimits::default());
    let a = tcp(ep(HOST_A, 40000), ep(SERVER, 80), TCP_SYN, b"hello");
    let b = tcp(ep(HOST_B, 40000), ep(SERVER, 80), TCP_SYN, b"hello");
    // The first keeps its port; the second gets the first of the range.
    let a_out = tcp(ep(PUBLIC, 40000), ep(SERVER, 80), TCP_SYN, b"hello");
    let b_out = tcp(ep(PUBLIC, 1024), ep(SERVER, 80), TCP_SYN, b"hello");
    assert_eq!(expect_out(&mut pat, 0, &a, &a_out), Translated::Created);
    assert_eq!(expect_out(&mut pat, 0, &b, &b_out), Translated::Created);
    assert_eq!(expect_out(&mut pat, 1, &b, &b_out), Translated::Rewritten);
    assert_eq!(pat.len(), 2);

    let flags = TCP_SYN | TCP_ACK;
    let reply_b = tcp(ep(SERVER, 80), ep(PUBLIC, 1024), flags, b"world!");
    let back_b = tcp(ep(SERVER, 80), ep(HOST_B, 40000), flags, b"world!");
    assert_eq!(
        expect_in(&mut pat, 2, &reply_b, &back_b),
        Translated::Rewritten
    );
    let reply_a = tcp(ep(SERVER, 80), ep(PUBLIC, 40000), flags, b"world!");
    let back_a = tcp(ep(SERVER, 80), ep(HOST_A, 40000), flags, b"world!");
    assert_eq!(
        expect_in(&mut pat, 2, &reply_a, &back_a),
        Translated::Rewritten
    );
}

#[test]
fn udp_with_and_without_checksum() {
    let mut pat = Pat::new(PatLimits::default());
    let a = udp(ep(HOST_A, 5353), ep(SERVER, 53), b"query");
    let b = udp(ep(HOST_B, 5353), ep(SERVER, 53), b"query");
    expect_out(
        &mut pat,
        0,
        &a,
        &udp(ep(PUBLIC, 5353), ep(SERVER, 53), b"query"),
    );
    expect_out(
        &mut pat,
        0,
        &b,
        &udp(ep(PUBLIC, 1024), ep(SERVER, 53), b"query"),
    );
    expect_in(
        &mut pat,
        1,
        &udp(ep(SERVER, 53), ep(PUBLIC, 1024), b"answer"),
        &udp(ep(SERVER, 53), ep(HOST_B, 5353), b"answer"),
    );

    // No checksum: it stays zero both ways.
    let none = udp_with(ep(HOST_A, 7000), ep(SERVER, 9), b"x", false);
    let none_out = udp_with(ep(PUBLIC, 7000), ep(SERVER, 9), b"x", false);
    expect_out(&mut pat, 2, &none, &none_out);
    let reply = udp_with(ep(SERVER, 9), ep(PUBLIC, 7000), b"y", false);
    let back = udp_with(ep(SERVER, 9), ep(HOST_A, 7000), b"y", false);
    expect_in(&mut pat, 2, &reply, &back);
    assert_eq!(port_of(&back, 26), 0);
}

#[test]
fn udp_checksum_that_becomes_zero_is_sent_as_ffff() {
    // Search for a payload whose translated checksum computes to zero: the translator must
    // send 0xffff (RFC 768), which is what the from-scratch builder produces too.
    for n in 0u16..=u16::MAX {
        let payload = n.to_be_bytes();
        let expected = udp(ep(PUBLIC, 40000), ep(SERVER, 53), &payload);
        if port_of(&expected, 26) != 0xffff {
            continue;
        }
        let mut pat = Pat::new(PatLimits::default());
        let orig = udp(ep(HOST_A, 40000), ep(SERVER, 53), &payload);
        expect_out(&mut pat, 0, &orig, &expected);
        return;
    }
    panic!("no payload gives a zero checksum");
}

#[test]
fn icmp_echo_identifiers_are_mapped() {
    let mut pat = Pat::new(PatLimits::default());
    // Identifier 7 is outside the port range: both hosts get one from it.
    let a = echo(HOST_A, SERVER, ICMP_ECHO_REQUEST, 7, 1);
    let b = echo(HOST_B, SERVER, ICMP_ECHO_REQUEST, 7, 1);
    let a_out = echo(PUBLIC, SERVER, ICMP_ECHO_REQUEST, 1024, 1);
    let b_out = echo(PUBLIC, SERVER, ICMP_ECHO_REQUEST, 1025, 1);
    assert_eq!(expect_out(&mut pat, 0, &a, &a_out), Translated::Created);
    assert_eq!(expect_out(&mut pat, 0, &b, &b_out), Translated::Created);
    let reply = echo(SERVER, PUBLIC, ICMP_ECHO_REPLY, 1025, 1);
    let back = echo(SERVER, HOST_B, ICMP_ECHO_REPLY, 7, 1);
    assert_eq!(expect_in(&mut pat, 1, &reply, &back), Translated::Rewritten);
    let mut p = echo(SERVER, PUBLIC, ICMP_ECHO_REPLY, 7, 1);
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Icmp,
            port: 7
        })
    );
}

#[test]
fn reply_for_unknown_port_is_no_mapping() {
    let mut pat = Pat::new(PatLimits::default());
    expect_out(
        &mut pat,
        0,
        &udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q"),
        &udp(ep(PUBLIC, 5000), ep(SERVER, 53), b"q"),
    );
    let mut p = udp(ep(SERVER, 53), ep(PUBLIC, 5001), b"a");
    let orig = p.clone();
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 5001
        })
    );
    assert_eq!(p, orig, "a refused packet is not touched");
    // Protocols have separate port spaces.
    let mut p = tcp(ep(SERVER, 53), ep(PUBLIC, 5000), TCP_ACK, b"");
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Tcp,
            port: 5000
        })
    );
}

#[test]
fn own_and_foreign_traffic_is_unchanged() {
    let mut pat = Pat::new(PatLimits::default());
    let mut own = udp(ep(PUBLIC, 500), ep(SERVER, 500), b"ike");
    let copy = own.clone();
    assert_eq!(out(&mut pat, 0, &mut own), Ok(Translated::Unchanged));
    assert_eq!(own, copy);
    let mut other = udp(ep(SERVER, 53), ep(HOST_A, 5000), b"a");
    let copy = other.clone();
    assert_eq!(inb(&mut pat, 0, &mut other), Ok(Translated::Unchanged));
    assert_eq!(other, copy);
    assert!(pat.is_empty());
}

#[test]
fn untranslatable_packets() {
    let mut pat = Pat::new(PatLimits::default());
    let mut gre = ipv4(47, HOST_A, SERVER, &[0; 8]);
    assert_eq!(
        out(&mut pat, 0, &mut gre),
        Err(PatError::Untranslatable {
            why: Unsupported::Protocol(47)
        })
    );
    let mut frag = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"0123456789");
    frag[6] = 0x00;
    frag[7] = 0x02; // offset 16 bytes
    assert_eq!(
        out(&mut pat, 0, &mut frag),
        Err(PatError::Untranslatable {
            why: Unsupported::Fragment
        })
    );
    let mut timestamp = icmp(HOST_A, SERVER, 13, 0, [0, 1, 0, 1], &[0; 12]);
    assert_eq!(
        out(&mut pat, 0, &mut timestamp),
        Err(PatError::Untranslatable {
            why: Unsupported::IcmpType(13)
        })
    );
    // A ping to the public address is for the remote itself, not for an inside host.
    let mut ping = echo(SERVER, PUBLIC, ICMP_ECHO_REQUEST, 1, 1);
    assert_eq!(
        inb(&mut pat, 0, &mut ping),
        Err(PatError::Untranslatable {
            why: Unsupported::IcmpType(8)
        })
    );
    assert!(pat.is_empty());

    // A first fragment (MF set, offset 0) carries the ports and is translated.
    let mut first = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"0123456789");
    let mut expected = udp(ep(PUBLIC, 5000), ep(SERVER, 53), b"0123456789");
    for p in [&mut first, &mut expected] {
        p[6] = 0x20;
        p[10..12].fill(0);
        let c = csum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    assert_eq!(out(&mut pat, 0, &mut first), Ok(Translated::Created));
    assert_eq!(first, expected);
}

#[test]
fn udp_mapping_expires_after_idle_timeout_not_before() {
    let mut pat = Pat::new(PatLimits::default());
    assert_eq!(pat.next_deadline(), None);
    let q = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    expect_out(
        &mut pat,
        0,
        &q,
        &udp(ep(PUBLIC, 5000), ep(SERVER, 53), b"q"),
    );
    assert_eq!(pat.next_deadline(), Some(at(300_000)));
    pat.expire(at(299_999));
    assert_eq!(pat.len(), 1);

    // A reply refreshes it.
    let reply = udp(ep(SERVER, 53), ep(PUBLIC, 5000), b"a");
    let back = udp(ep(SERVER, 53), ep(HOST_A, 5000), b"a");
    expect_in(&mut pat, 299_999, &reply, &back);
    assert_eq!(pat.next_deadline(), Some(at(599_999)));
    pat.expire(at(599_998));
    assert_eq!(pat.len(), 1);
    pat.expire(at(599_999));
    assert_eq!(pat.len(), 0);
    assert_eq!(pat.next_deadline(), None);
    let mut p = reply.clone();
    assert_eq!(
        inb(&mut pat, 600_000, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 5000
        })
    );
}

#[test]
fn packets_expire_stale_mappings_without_a_timer() {
    let mut pat = Pat::new(PatLimits::default());
    let mut q = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    out(&mut pat, 0, &mut q).unwrap();
    let mut reply = udp(ep(SERVER, 53), ep(PUBLIC, 5000), b"a");
    assert_eq!(
        inb(&mut pat, 300_000, &mut reply),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 5000
        })
    );
    assert!(pat.is_empty());
}

#[test]
fn deadlines_follow_the_earliest_of_each_protocol() {
    let mut pat = Pat::new(PatLimits::default());
    out(
        &mut pat,
        0,
        &mut tcp(ep(HOST_A, 1), ep(SERVER, 80), TCP_SYN, b""),
    )
    .unwrap();
    out(&mut pat, 1000, &mut udp(ep(HOST_A, 2), ep(SERVER, 53), b"")).unwrap();
    out(&mut pat, 2000, &mut echo(HOST_A, SERVER, 8, 3, 1)).unwrap();
    assert_eq!(pat.next_deadline(), Some(at(62_000)));
    pat.expire(at(62_000));
    assert_eq!(pat.len(), 2);
    assert_eq!(pat.next_deadline(), Some(at(301_000)));
    pat.expire(at(301_000));
    assert_eq!(pat.next_deadline(), Some(at(86_400_000)));
    pat.expire(at(86_399_999));
    assert_eq!(pat.len(), 1);
    pat.expire(at(86_400_000));
    assert!(pat.is_empty());
}

#[test]
fn time_going_back_does_not_reorder_deadlines() {
    let mut pat = Pat::new(PatLimits::default());
    out(
        &mut pat,
        10_000,
        &mut udp(ep(HOST_A, 1), ep(SERVER, 53), b""),
    )
    .unwrap();
    out(
        &mut pat,
        5_000,
        &mut udp(ep(HOST_B, 2), ep(SERVER, 53), b""),
    )
    .unwrap();
    assert_eq!(pat.next_deadline(), Some(at(310_000)));
    pat.expire(at(310_000));
    assert!(pat.is_empty());
}

#[test]
fn tcp_fin_both_ways_or_rst_shortens_the_timeout() {
    let mut pat = Pat::new(PatLimits::default());
    let syn = tcp(ep(HOST_A, 40000), ep(SERVER, 80), TCP_SYN, b"");
    out(&mut pat, 0, &mut syn.clone()).unwrap();
    assert_eq!(pat.next_deadline(), Some(at(86_400_000)));
    let fin = TCP_FIN | TCP_ACK;
    out(
        &mut pat,
        10_000,
        &mut tcp(ep(HOST_A, 40000), ep(SERVER, 80), fin, b""),
    )
    .unwrap();
    // Half-closed: the server may still send.
    assert_eq!(pat.next_deadline(), Some(at(86_410_000)));
    inb(
        &mut pat,
        11_000,
        &mut tcp(ep(SERVER, 80), ep(PUBLIC, 40000), fin, b""),
    )
    .unwrap();
    assert_eq!(pat.next_deadline(), Some(at(71_000)));
    out(
        &mut pat,
        12_000,
        &mut tcp(ep(HOST_A, 40000), ep(SERVER, 80), TCP_ACK, b""),
    )
    .unwrap();
    assert_eq!(pat.next_deadline(), Some(at(72_000)));
    // The same socket connects again: a day again.
    out(&mut pat, 13_000, &mut syn.clone()).unwrap();
    assert_eq!(pat.next_deadline(), Some(at(86_413_000)));
    // A reset from the server.
    let rst = tcp(ep(SERVER, 80), ep(PUBLIC, 40000), TCP_RST, b"");
    inb(&mut pat, 14_000, &mut rst.clone()).unwrap();
    assert_eq!(pat.next_deadline(), Some(at(74_000)));
    pat.expire(at(73_999));
    assert_eq!(pat.len(), 1);
    pat.expire(at(74_000));
    assert!(pat.is_empty());
}

#[test]
fn table_full() {
    let limits = PatLimits {
        max_mappings: 2,
        ..PatLimits::default()
    };
    let mut pat = Pat::new(limits);
    let a = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    out(&mut pat, 0, &mut a.clone()).unwrap();
    out(
        &mut pat,
        0,
        &mut udp(ep(HOST_B, 5000), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    let c = echo(HOST_A, SERVER, 8, 1, 1);
    let mut p = c.clone();
    assert_eq!(out(&mut pat, 1, &mut p), Err(PatError::TableFull));
    assert_eq!(p, c);
    assert_eq!(pat.len(), 2);
    // Existing mappings still work.
    assert_eq!(out(&mut pat, 2, &mut a.clone()), Ok(Translated::Rewritten));
    // Once B's mapping has gone there is room again.
    pat.expire(at(300_000));
    assert_eq!(pat.len(), 1);
    assert_eq!(out(&mut pat, 300_000, &mut p), Ok(Translated::Created));
}

#[test]
fn port_exhaustion_and_reuse_after_expiry() {
    let limits = PatLimits {
        ports: 2000..=2001,
        ..PatLimits::default()
    };
    let mut pat = Pat::new(limits);
    let from = |host: Ipv4Addr, port: u16| udp(ep(host, port), ep(SERVER, 53), b"q");
    let to = |port: u16| udp(ep(PUBLIC, port), ep(SERVER, 53), b"q");
    expect_out(&mut pat, 0, &from(HOST_A, 5000), &to(2000));
    expect_out(&mut pat, 0, &from(HOST_B, 5000), &to(2001));
    let mut p = from(Ipv4Addr::new(192, 168, 1, 12), 5000);
    assert_eq!(out(&mut pat, 0, &mut p), Err(PatError::TableFull));
    // Another protocol has its own ports.
    let mut e = echo(HOST_A, SERVER, 8, 2001, 1);
    assert_eq!(out(&mut pat, 0, &mut e), Ok(Translated::Created));
    assert_eq!(port_of(&e, 24), 2001, "an identifier in range is kept");

    pat.expire(at(300_000));
    assert!(pat.is_empty());
    expect_out(&mut pat, 300_000, &from(HOST_B, 6000), &to(2000));
    // A free inside port in the range is kept.
    expect_out(&mut pat, 300_000, &from(HOST_A, 2001), &to(2001));
}

#[test]
fn zero_sized_limits_refuse_everything() {
    let mut none = Pat::new(PatLimits {
        max_mappings: 0,
        ..PatLimits::default()
    });
    let q = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    assert_eq!(out(&mut none, 0, &mut q.clone()), Err(PatError::TableFull));
    #[allow(clippy::reversed_empty_ranges)]
    let mut empty = Pat::new(PatLimits {
        ports: 10..=9,
        ..PatLimits::default()
    });
    assert_eq!(out(&mut empty, 0, &mut q.clone()), Err(PatError::TableFull));
}

#[test]
fn inbound_icmp_errors_translate_the_embedded_packet() {
    let mut pat = Pat::new(PatLimits::default());
    // B's port 5353 is taken by A: B's packets go out from 1024.
    out(
        &mut pat,
        0,
        &mut udp(ep(HOST_A, 5353), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    let b = udp(ep(HOST_B, 5353), ep(SERVER, 53), b"query");
    let mut b_out = b.clone();
    out(&mut pat, 0, &mut b_out).unwrap();
    assert_eq!(port_of(&b_out, 20), 1024);

    // Port unreachable from the server, carrying the whole datagram.
    let unreach = error(SERVER, PUBLIC, ICMP_UNREACHABLE, 3, &b_out);
    let expected = error(SERVER, HOST_B, ICMP_UNREACHABLE, 3, &b);
    assert_eq!(
        expect_in(&mut pat, 1, &unreach, &expected),
        Translated::Rewritten
    );

    // Time exceeded from a hop for a TCP segment: whole header, then only 8 bytes of it.
    let syn = tcp(ep(HOST_B, 5353), ep(SERVER, 80), TCP_SYN, b"");
    let mut syn_out = syn.clone();
    out(&mut pat, 0, &mut syn_out).unwrap();
    assert_eq!(port_of(&syn_out, 20), 5353);
    let syn = tcp(ep(HOST_A, 40000), ep(SERVER, 80), TCP_SYN, b"");
    let mut a_syn = syn.clone();
    out(
        &mut pat,
        0,
        &mut tcp(ep(HOST_B, 40000), ep(SERVER, 80), TCP_SYN, b""),
    )
    .unwrap();
    out(&mut pat, 0, &mut a_syn).unwrap();
    assert_eq!(port_of(&a_syn, 20), 1025, "B took 40000 first");
    let ttl = error(HOP, PUBLIC, ICMP_TIME_EXCEEDED, 0, &a_syn);
    expect_in(
        &mut pat,
        1,
        &ttl,
        &error(HOP, HOST_A, ICMP_TIME_EXCEEDED, 0, &syn),
    );
    let ttl8 = error(HOP, PUBLIC, ICMP_TIME_EXCEEDED, 0, &a_syn[..28]);
    expect_in(
        &mut pat,
        1,
        &ttl8,
        &error(HOP, HOST_A, ICMP_TIME_EXCEEDED, 0, &syn[..28]),
    );

    // Traceroute with echoes (Windows tracert): the identifier inside is mapped back.
    let ping = echo(HOST_A, SERVER, ICMP_ECHO_REQUEST, 77, 3);
    let mut ping_out = ping.clone();
    out(&mut pat, 0, &mut ping_out).unwrap();
    assert_eq!(port_of(&ping_out, 24), 1026);
    let ttl = error(HOP, PUBLIC, ICMP_TIME_EXCEEDED, 0, &ping_out);
    expect_in(
        &mut pat,
        1,
        &ttl,
        &error(HOP, HOST_A, ICMP_TIME_EXCEEDED, 0, &ping),
    );

    // Fragmentation needed (path MTU discovery), with the next-hop MTU kept as it is.
    let mut frag_needed = icmp(SERVER, PUBLIC, 3, 4, [0, 0, 0x05, 0x78], &b_out);
    let expected = icmp(SERVER, HOST_B, 3, 4, [0, 0, 0x05, 0x78], &b);
    assert_eq!(
        inb(&mut pat, 1, &mut frag_needed),
        Ok(Translated::Rewritten)
    );
    assert_eq!(frag_needed, expected);
}

#[test]
fn icmp_errors_do_not_refresh_and_need_a_mapping() {
    let mut pat = Pat::new(PatLimits::default());
    let q = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    let mut q_out = q.clone();
    out(&mut pat, 0, &mut q_out).unwrap();
    let unreach = error(SERVER, PUBLIC, ICMP_UNREACHABLE, 3, &q_out);
    inb(&mut pat, 100_000, &mut unreach.clone()).unwrap();
    assert_eq!(pat.next_deadline(), Some(at(300_000)));

    // About a port nobody maps.
    let other = udp(ep(PUBLIC, 6000), ep(SERVER, 53), b"q");
    let mut p = error(SERVER, PUBLIC, ICMP_UNREACHABLE, 3, &other);
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 6000
        })
    );
    // About a packet that did not come from the public address.
    let foreign = udp(ep(HOP, 5000), ep(SERVER, 53), b"q");
    let mut p = error(SERVER, PUBLIC, ICMP_UNREACHABLE, 3, &foreign);
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 5000
        })
    );
    // About an echo reply (we never send those out translated).
    let mut p = error(
        SERVER,
        PUBLIC,
        3,
        3,
        &echo(PUBLIC, SERVER, ICMP_ECHO_REPLY, 1, 1),
    );
    assert_eq!(
        inb(&mut pat, 1, &mut p),
        Err(PatError::Untranslatable {
            why: Unsupported::IcmpType(0)
        })
    );
}

#[test]
fn outbound_icmp_errors_translate_the_embedded_packet() {
    let mut pat = Pat::new(PatLimits::default());
    out(
        &mut pat,
        0,
        &mut udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    out(
        &mut pat,
        0,
        &mut udp(ep(HOST_B, 5000), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    // A late answer reaches B, whose socket is closed: B reports port unreachable.
    let reply = udp(ep(SERVER, 53), ep(PUBLIC, 1024), b"late answer");
    let mut delivered = reply.clone();
    inb(&mut pat, 1, &mut delivered).unwrap();
    assert_eq!(
        delivered,
        udp(ep(SERVER, 53), ep(HOST_B, 5000), b"late answer")
    );
    let unreach = error(HOST_B, SERVER, ICMP_UNREACHABLE, 3, &delivered);
    let expected = error(PUBLIC, SERVER, ICMP_UNREACHABLE, 3, &reply);
    assert_eq!(
        expect_out(&mut pat, 2, &unreach, &expected),
        Translated::Rewritten
    );

    // An inside router reports on it (its own address becomes the public one too).
    let router = Ipv4Addr::new(192, 168, 1, 1);
    let ttl = error(router, SERVER, ICMP_TIME_EXCEEDED, 0, &delivered[..28]);
    let expected = error(PUBLIC, SERVER, ICMP_TIME_EXCEEDED, 0, &reply[..28]);
    expect_out(&mut pat, 2, &ttl, &expected);

    // About a packet no mapping delivered.
    let stray = udp(ep(SERVER, 53), ep(HOST_B, 9999), b"x");
    let mut p = error(HOST_B, SERVER, ICMP_UNREACHABLE, 3, &stray);
    assert_eq!(
        out(&mut pat, 2, &mut p),
        Err(PatError::NoMapping {
            proto: PatProto::Udp,
            port: 9999
        })
    );
    assert_eq!(pat.len(), 2);
}

/// Valid packets whose every prefix must be refused with the right error.
fn samples(pat: &mut Pat) -> Vec<(&'static str, Vec<u8>, bool)> {
    let q = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    let mut q_out = q.clone();
    out(pat, 0, &mut q_out).unwrap();
    vec![
        (
            "tcp",
            tcp(ep(HOST_B, 1), ep(SERVER, 80), TCP_SYN, b"data"),
            true,
        ),
        ("udp", udp(ep(HOST_B, 2), ep(SERVER, 53), b"data"), true),
        ("echo", echo(HOST_B, SERVER, 8, 3, 1), true),
        (
            "error",
            error(SERVER, PUBLIC, ICMP_UNREACHABLE, 3, &q_out),
            false,
        ),
    ]
}

#[test]
fn every_prefix_of_a_valid_packet_is_refused() {
    let mut pat = Pat::new(PatLimits::default());
    for (name, packet, outbound) in samples(&mut pat) {
        for len in 0..packet.len() {
            let mut p = packet[..len].to_vec();
            let r = if outbound {
                out(&mut pat, 1, &mut p)
            } else {
                inb(&mut pat, 1, &mut p)
            };
            let expected = if len < 20 {
                malformed(0, Malformation::ShortIpHeader)
            } else {
                malformed(2, Malformation::BadTotalLength)
            };
            assert_eq!(r, Err(expected), "{name} cut to {len}");
            assert_eq!(p, packet[..len], "{name} cut to {len} was modified");
        }
        assert_eq!(pat.len(), 1, "{name}: no mapping from a refused packet");
    }
}

#[test]
fn every_truncation_within_the_total_length_is_refused_at_the_right_offset() {
    let names = samples(&mut Pat::new(PatLimits::default()));
    for (i, (name, packet, outbound)) in names.into_iter().enumerate() {
        for len in 20..packet.len() {
            // A fresh table each time: a successful translation must not affect the next.
            let mut pat = Pat::new(PatLimits::default());
            assert_eq!(samples(&mut pat)[i].1, packet);
            let mut p = packet[..len].to_vec();
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let r = if outbound {
                out(&mut pat, 1, &mut p)
            } else {
                inb(&mut pat, 1, &mut p)
            };
            let expected = match name {
                "tcp" if len < 40 => Err(malformed(20, Malformation::TruncatedTransport)),
                "udp" if len < 28 => Err(malformed(20, Malformation::TruncatedTransport)),
                "echo" if len < 28 => Err(malformed(20, Malformation::TruncatedTransport)),
                "error" if len < 28 => Err(malformed(20, Malformation::TruncatedTransport)),
                "error" if len < 48 => Err(malformed(28, Malformation::BadEmbeddedHeader)),
                "error" if len < 56 => Err(malformed(48, Malformation::TruncatedTransport)),
                "error" => Ok(Translated::Rewritten),
                _ => Ok(Translated::Created),
            };
            assert_eq!(r, expected, "{name} with total length {len}");
            assert_eq!(pat.len(), if r == Ok(Translated::Created) { 2 } else { 1 });
        }
    }
}

#[test]
fn bad_header_fields() {
    let mut pat = Pat::new(PatLimits::default());
    let good = tcp(ep(HOST_A, 1), ep(SERVER, 80), TCP_SYN, b"");
    let mut v6 = good.clone();
    v6[0] = 0x65;
    assert_eq!(
        out(&mut pat, 0, &mut v6),
        Err(malformed(0, Malformation::NotIpv4))
    );
    let mut ihl = good.clone();
    ihl[0] = 0x44;
    assert_eq!(
        out(&mut pat, 0, &mut ihl),
        Err(malformed(0, Malformation::BadIhl))
    );
    let mut ihl = good.clone();
    ihl[0] = 0x4f; // 60 bytes of header in a 40-byte packet
    assert_eq!(
        out(&mut pat, 0, &mut ihl),
        Err(malformed(0, Malformation::BadIhl))
    );
    let mut total = good.clone();
    total[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(
        out(&mut pat, 0, &mut total),
        Err(malformed(2, Malformation::BadTotalLength))
    );
    for offset in [0u8, 4, 6] {
        let mut doff = good.clone();
        doff[32] = offset << 4;
        assert_eq!(
            out(&mut pat, 0, &mut doff),
            Err(malformed(32, Malformation::BadTcpDataOffset)),
            "data offset {offset}"
        );
    }
    assert!(pat.is_empty());

    // Bytes beyond the total length (link padding) are neither read nor changed.
    let mut padded = udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q");
    padded.extend_from_slice(&[0xee; 6]);
    let mut expected = udp(ep(PUBLIC, 5000), ep(SERVER, 53), b"q");
    expected.extend_from_slice(&[0xee; 6]);
    assert_eq!(out(&mut pat, 0, &mut padded), Ok(Translated::Created));
    assert_eq!(padded, expected);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::from_u64(0x5eed);
    // Short timeouts, so the table keeps making room for new mappings.
    let second = Duration::from_secs(1);
    let mut pat = Pat::new(PatLimits {
        max_mappings: 64,
        tcp_timeout: second,
        tcp_closing_timeout: second,
        udp_timeout: second,
        icmp_timeout: second,
        ..PatLimits::default()
    });
    let (mut ok, mut err) = (0u32, 0u32);
    for i in 0..20_000u64 {
        let len = rng.below(90) as usize;
        let mut p = vec![0u8; len];
        rng.fill(&mut p);
        // Most get a plausible header so the transport and ICMP-error paths are reached.
        if len >= 20 && rng.below(4) != 0 {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p[6] &= 0xe0;
            p[7] = 0;
            p[9] = [PROTO_ICMP, PROTO_TCP, PROTO_UDP][rng.below(3) as usize];
            if i % 2 == 0 {
                p[16..20].copy_from_slice(&PUBLIC.octets());
            }
            if p[9] == PROTO_ICMP && len > 28 && rng.below(2) == 0 {
                p[20] = [3, 11, 12, 0, 8][rng.below(5) as usize];
                if len > 48 && rng.below(2) == 0 {
                    p[28] = 0x45;
                    p[34] &= 0xe0;
                    p[35] = 0;
                    p[37] = [PROTO_ICMP, PROTO_TCP, PROTO_UDP][rng.below(3) as usize];
                    p[40..44].copy_from_slice(&PUBLIC.octets());
                }
            }
        }
        let now = i * 10;
        let r = if i % 2 == 0 {
            inb(&mut pat, now, &mut p)
        } else {
            out(&mut pat, now, &mut p)
        };
        match r {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        assert!(pat.len() <= 64);
    }
    // Both outcomes are reached, or the generator tests nothing.
    assert!(ok > 1000, "{ok} translated");
    assert!(err > 1000, "{err} refused");
}

#[test]
fn entries_for_show_ip_nat_translations() {
    let mut pat = Pat::new(PatLimits::default());
    out(
        &mut pat,
        0,
        &mut tcp(ep(HOST_A, 1024), ep(SERVER, 80), TCP_SYN, b""),
    )
    .unwrap();
    out(
        &mut pat,
        1000,
        &mut udp(ep(HOST_B, 1024), ep(SERVER, 53), b""),
    )
    .unwrap();
    out(&mut pat, 2000, &mut echo(HOST_A, SERVER, 8, 1, 1)).unwrap();
    let e = pat.entries(at(5000));
    assert_eq!(
        e,
        vec![
            PatEntry {
                proto: PatProto::Tcp,
                inside_global: ep(PUBLIC, 1024),
                inside_local: ep(HOST_A, 1024),
                outside: ep(SERVER, 80),
                idle: Duration::from_secs(5),
                expires_in: Duration::from_secs(86_395),
            },
            PatEntry {
                proto: PatProto::Udp,
                inside_global: ep(PUBLIC, 1024),
                inside_local: ep(HOST_B, 1024),
                outside: ep(SERVER, 53),
                idle: Duration::from_secs(4),
                expires_in: Duration::from_secs(296),
            },
            PatEntry {
                proto: PatProto::Icmp,
                inside_global: ep(PUBLIC, 1024),
                inside_local: ep(HOST_A, 1),
                outside: ep(SERVER, 1024),
                idle: Duration::from_secs(3),
                expires_in: Duration::from_secs(57),
            },
        ]
    );
    assert_eq!(
        e[0].to_string(),
        "tcp 10.98.0.17:1024       192.168.1.10:1024     10.2.2.10:80          10.2.2.10:80"
    );
    assert_eq!(
        e[2].to_string(),
        "icmp 10.98.0.17:1024       192.168.1.10:1        10.2.2.10:1024        10.2.2.10:1024"
    );
    let header = format!(
        "Pro {:<21} {:<21} {:<21} Outside global",
        "Inside global", "Inside local", "Outside local"
    );
    assert_eq!(PatEntry::HEADER, header);
}

#[test]
fn clear_and_a_new_public_address_flush_the_table() {
    let mut pat = Pat::new(PatLimits::default());
    out(
        &mut pat,
        0,
        &mut udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    assert_eq!(pat.public(), Some(PUBLIC));
    let new_public = Ipv4Addr::new(10, 98, 0, 18);
    let mut p = udp(ep(HOST_B, 6000), ep(SERVER, 53), b"q");
    assert_eq!(
        pat.outbound(at(1), &mut p, new_public),
        Ok(Translated::Created)
    );
    assert_eq!(pat.len(), 1);
    assert_eq!(pat.entries(at(1))[0].inside_local, ep(HOST_B, 6000));
    assert_eq!(pat.entries(at(1))[0].inside_global, ep(new_public, 6000));
    pat.clear();
    assert!(pat.is_empty());
    assert_eq!(pat.public(), None);
    assert_eq!(pat.next_deadline(), None);
    // Slots are reused cleanly after a clear.
    out(
        &mut pat,
        2,
        &mut udp(ep(HOST_A, 5000), ep(SERVER, 53), b"q"),
    )
    .unwrap();
    assert_eq!(pat.next_deadline(), Some(at(300_002)));
}

#[test]
fn slots_are_reused_and_lists_stay_consistent() {
    let mut pat = Pat::new(PatLimits {
        max_mappings: 8,
        ..PatLimits::default()
    });
    let mut rng = Rng::from_u64(7);
    let mut now = 0;
    for _ in 0..5_000 {
        now += rng.below(40_000);
        let host = Ipv4Addr::new(192, 168, 1, rng.below(4) as u8 + 10);
        let port = rng.below(4) as u16 + 5000;
        let mut p = udp(ep(host, port), ep(SERVER, 53), b"q");
        match out(&mut pat, now, &mut p) {
            Ok(_) => assert_checksums(&p),
            Err(e) => assert_eq!(e, PatError::TableFull),
        }
        // The deadline is the oldest use plus the UDP timeout, and nothing is past it.
        let oldest = pat
            .entries(at(now))
            .iter()
            .map(|e| e.idle.as_millis() as u64)
            .max()
            .unwrap();
        assert_eq!(pat.next_deadline(), Some(at(now - oldest + 300_000)));
        assert!(oldest < 300_000);
        assert_eq!(pat.slots.iter().filter(|s| s.live).count(), pat.len());
        assert!(pat.slots.len() <= 8);
    }
}
