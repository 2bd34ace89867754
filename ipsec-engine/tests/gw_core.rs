//! The gateway core without the demo: crypto ACL semantics (first match, deny, ports), the
//! inbound proxy-identity check, unknown SPIs, clear commands and the show snapshots.

mod common;

use common::num;
use ipsec_engine::control::resolve;
use ipsec_engine::gateway::{CoreOptions, GatewayCore, TunVerdict};
use ipsec_engine::{ControlReply, Gateway};
use ipsec_proto::ios::seed::{SITE_A, SITE_B};
use ipsec_proto::testing::{Link, Nat, Network, Node, TunnelsNode, Wire};
use ipsec_proto::time::Instant;
use std::time::Duration;

fn core(text: &str, seed: u64) -> GatewayCore {
    let p = ipsec_proto::ios::parse(text).unwrap();
    GatewayCore::new(p.config, CoreOptions::seeded(seed)).unwrap()
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p
}

/// Two cores on the in-memory network, 5 ms apart; what each delivers to its LAN is kept in
/// its node.
struct Pair {
    n: [TunnelsNode; 2],
    net: Network,
    addr: [std::net::Ipv4Addr; 2],
}

impl Pair {
    fn new(a: &str, b: &str) -> Pair {
        let (ga, gb) = (core(a, 1), core(b, 2));
        let addr = [ga.entries()[0].local, gb.entries()[0].local];
        let mut net = Network::new(Instant(1000), 0);
        net.set_default_link(Link::with_latency(Duration::from_millis(5)));
        net.add_node(addr[0]);
        net.add_node(addr[1]);
        Pair {
            n: [TunnelsNode::new(ga), TunnelsNode::new(gb)],
            net,
            addr,
        }
    }

    fn nodes(&mut self) -> [&mut dyn Node; 2] {
        let [a, b] = &mut self.n;
        [a, b]
    }

    fn now(&self) -> u64 {
        self.net.now().0
    }

    fn settle(&mut self) {
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        assert!(net.settle(&mut self.nodes(), Duration::from_secs(1)));
        self.net = net;
    }

    /// Every ESP packet side `i` sent (raw, or in UDP 4500 without the non-ESP marker).
    fn esp(&self, i: usize) -> Vec<Vec<u8>> {
        self.net
            .log()
            .iter()
            .filter(|s| s.from == i)
            .filter(|s| match s.packet.wire {
                Wire::Esp { .. } => true,
                Wire::Udp { dst, .. } => dst.port() == 4500 && s.packet.bytes.first() != Some(&0),
                Wire::Ip { .. } => false,
            })
            .map(|s| s.packet.bytes.clone())
            .collect()
    }

    fn send(&mut self, side: usize, pkt: &[u8]) -> TunVerdict {
        let now = self.net.now();
        let n = &mut self.n[side];
        let v = n.tunnels.protect(now, pkt, &mut n.out);
        self.settle();
        v
    }

    fn cmd(&mut self, side: usize, line: &str) -> String {
        let c = resolve(line).unwrap().unwrap();
        let now = self.net.now();
        let n = &mut self.n[side];
        match n.tunnels.on_control(now, &c, &mut n.out) {
            ControlReply::Text(t) => {
                self.settle();
                t
            }
            ControlReply::Error(e) => panic!("{line}: {e}"),
        }
    }
}

/// `0x...` after `current outbound spi:` in `show crypto ipsec sa`.
fn outbound_spi(show: &str) -> String {
    show.split("current outbound spi: ")
        .nth(1)
        .unwrap()
        .split('(')
        .next()
        .unwrap()
        .to_string()
}

const A_LAN: [u8; 4] = [192, 168, 1, 10];
const B_LAN: [u8; 4] = [192, 168, 2, 10];

#[test]
fn first_packet_negotiates_then_both_directions_flow() {
    let mut p = Pair::new(SITE_A, SITE_B);
    let pkt = ipv4(A_LAN, B_LAN, 17, 1000, 53);
    assert_eq!(p.send(0, &pkt), TunVerdict::NoSa);
    assert_eq!(p.n[0].tunnels.installed_pairs(), 1);
    assert_eq!(p.n[1].tunnels.installed_pairs(), 1);
    assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    assert_eq!(
        p.n[1].delivered,
        vec![pkt.clone()],
        "siteB's LAN gets the inner packet unchanged"
    );
    let back = ipv4(B_LAN, A_LAN, 17, 53, 1000);
    assert_eq!(p.send(1, &back), TunVerdict::Protected);
    assert_eq!(p.n[0].delivered, vec![back]);
    // Raw ESP (no NAT): SPI first, sequence numbers 1, 2, ...
    assert_eq!(&p.esp(0)[0][4..8], &[0, 0, 0, 1]);
    let a = p.cmd(0, "sh cry ips sa");
    assert_eq!(num(&a, "#pkts encaps:"), 1);
    assert_eq!(num(&a, "#pkts decaps:"), 1);
    assert_eq!(num(&a, "#send errors"), 1);
    let s = p.cmd(0, "show crypto session");
    assert!(s.contains("Session status: UP-ACTIVE"), "{s}");
    assert!(s.contains("IPSEC FLOW: permit ip 192.168.1.0/255.255.255.0 192.168.2.0/255.255.255.0"));
    let d = p.cmd(0, "show crypto session detail");
    assert!(d.contains("Outbound: #pkts enc'ed 1 drop 1"), "{d}");
    let m = p.cmd(0, "show crypto map");
    assert!(m.contains("Current peer: 203.0.113.2"), "{m}");
    let det = p.cmd(0, "show crypto isakmp sa detail");
    assert!(det.contains("3des sha    psk  2"), "{det}");
    let peer = p.cmd(0, "show crypto ipsec sa peer 192.0.2.99");
    assert!(peer.is_empty(), "no block for another peer: {peer}");
}

#[test]
fn acl_first_match_deny_and_ports() {
    // Line 10 protects only UDP to port 53; line 20 denies the rest to that LAN; a packet to a
    // third network matches nothing.
    let a = SITE_A.replace(
        "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255",
        "access-list 100 permit udp 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255 eq 53\n\
         access-list 100 deny ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255",
    );
    let b = SITE_B.replace(
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255",
        "access-list 100 permit udp 192.168.2.0 0.0.0.255 eq 53 192.168.1.0 0.0.0.255",
    );
    let mut p = Pair::new(&a, &b);
    assert_eq!(
        p.send(0, &ipv4(A_LAN, B_LAN, 6, 1000, 53)),
        TunVerdict::NotProtected
    );
    assert_eq!(
        p.send(0, &ipv4(A_LAN, B_LAN, 17, 1000, 54)),
        TunVerdict::NotProtected
    );
    assert_eq!(
        p.send(0, &ipv4(A_LAN, [10, 0, 0, 1], 17, 1000, 53)),
        TunVerdict::NotProtected
    );
    assert_eq!(
        p.n[0].tunnels.installed_pairs(),
        0,
        "denied traffic starts no IKE"
    );
    assert_eq!(p.n[0].tunnels.counters().not_protected, 3);
    assert_eq!(
        p.send(0, &ipv4(A_LAN, B_LAN, 17, 1000, 53)),
        TunVerdict::NoSa
    );
    assert_eq!(
        p.send(0, &ipv4(A_LAN, B_LAN, 17, 1000, 53)),
        TunVerdict::Protected
    );
    let s = p.cmd(0, "show crypto ipsec sa");
    assert!(
        s.contains("remote ident (addr/mask/prot/port): (192.168.2.0/255.255.255.0/17/53)"),
        "{s}"
    );
    // siteB answers from port 53; a packet from another port is outside the SA.
    assert_eq!(
        p.send(1, &ipv4(B_LAN, A_LAN, 17, 53, 1000)),
        TunVerdict::Protected
    );
    assert_eq!(p.n[0].delivered.len(), 1);
    assert_eq!(
        p.send(1, &ipv4(B_LAN, A_LAN, 17, 54, 1000)),
        TunVerdict::NotProtected
    );
    assert_eq!(p.n[0].tunnels.counters().tun_malformed, 0);
    assert_eq!(p.send(0, &[0x60, 0, 0]), TunVerdict::Malformed);
}

#[test]
fn inner_packet_outside_the_proxies_is_dropped_and_counted() {
    // siteB protects 192.168.2.0/24 -> 192.168.0.0/16 (wider than siteA's line, so the
    // responder accepts siteA's narrower proposal); siteB then sends from 192.168.2.10 to
    // 192.168.3.1, which its own ACL permits but the negotiated SA (…1.0/24) does not cover.
    let b = SITE_B.replace(
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255",
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.0.0 0.0.255.255",
    );
    let mut p = Pair::new(SITE_A, &b);
    p.send(0, &ipv4(A_LAN, B_LAN, 1, 0, 0));
    assert_eq!(p.n[1].tunnels.installed_pairs(), 1);
    // siteB's only flow now carries the SA negotiated for the narrower identities: its
    // outbound packet to 192.168.3.1 is encapsulated, and siteA refuses it after decryption.
    let v = p.send(1, &ipv4(B_LAN, [192, 168, 3, 1], 1, 0, 0));
    assert_eq!(v, TunVerdict::Protected);
    assert!(p.n[0].delivered.is_empty());
    let det = p.cmd(0, "show crypto ipsec sa detail");
    assert_eq!(num(&det, "#pkts invalid identity (recv)"), 1, "{det}");
    let s = p.cmd(0, "show crypto ipsec sa");
    assert_eq!(num(&s, "#recv errors"), 1);
    assert_eq!(num(&s, "#pkts decaps:"), 1, "decapsulated, then refused");
}

#[test]
fn unknown_spi_is_global_and_clear_resets() {
    let mut p = Pair::new(SITE_A, SITE_B);
    let pkt = ipv4(A_LAN, B_LAN, 1, 0, 0);
    p.send(0, &pkt);
    p.send(0, &pkt);
    // A packet for an SPI nobody owns, a replay, and a forged sequence number (ICV fails).
    let mut esp = p.esp(0)[0].clone();
    let mut bogus = esp.clone();
    bogus[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let now = Instant(p.now());
    let src = p.addr[0];
    let dst = p.addr[1];
    p.n[1]
        .tunnels
        .on_esp(now, src, dst, &bogus, &mut p.n[1].out);
    p.n[1].tunnels.on_esp(now, src, dst, &esp, &mut p.n[1].out);
    esp[4..8].copy_from_slice(&100u32.to_be_bytes());
    p.n[1].tunnels.on_esp(now, src, dst, &esp, &mut p.n[1].out);
    p.settle();
    assert_eq!(p.n[1].tunnels.counters().invalid_spi, 1);
    let b = p.cmd(1, "show crypto ipsec sa detail");
    assert_eq!(num(&b, "#pkts verify failed:"), 1, "{b}");
    assert_eq!(num(&b, "##pkts replay failed (rcv):"), 1);
    assert_eq!(num(&p.cmd(1, "show crypto ipsec sa"), "#recv errors"), 2);
    assert_eq!(num(&b, "#pkts decaps:"), 1);
    // clear crypto sa: SAs gone on both sides (Delete sent), counters reset, ISAKMP stays.
    p.cmd(0, "clear crypto sa");
    assert_eq!(p.n[0].tunnels.installed_pairs(), 0);
    assert_eq!(
        p.n[1].tunnels.installed_pairs(),
        0,
        "peer processed our Delete"
    );
    let a = p.cmd(0, "show crypto ipsec sa");
    assert_eq!(num(&a, "#pkts encaps:"), 0, "{a}");
    assert!(a.contains("current outbound spi: 0x0(0)"));
    assert!(p.cmd(0, "show crypto isakmp sa").contains("QM_IDLE"));
    // The next packet negotiates a new pair over the existing ISAKMP SA.
    assert_eq!(p.send(0, &pkt), TunVerdict::NoSa);
    assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    p.cmd(0, "clear crypto isakmp");
    assert!(!p.cmd(0, "show crypto isakmp sa").contains("QM_IDLE"));
    assert_eq!(
        p.send(0, &pkt),
        TunVerdict::Protected,
        "IPsec SAs outlive the ISAKMP SA"
    );
}

/// siteA behind a NAPT device: IKE floats to 4500 and ESP travels in UDP; siteB shows
/// `port 4500` and `Tunnel UDP-Encaps`.
#[test]
fn nat_traversal_udp_encapsulation() {
    use std::net::Ipv4Addr;
    let a_text = SITE_A.replace(
        "ip address 198.51.100.1 255.255.255.0",
        "ip address 10.0.0.1 255.255.255.0",
    );
    let inside = Ipv4Addr::new(10, 0, 0, 1);
    let public = Ipv4Addr::new(198, 51, 100, 1);
    let b_addr = Ipv4Addr::new(203, 0, 113, 2);
    let mut n = [
        TunnelsNode::new(core(&a_text, 5)),
        TunnelsNode::new(core(SITE_B, 6)),
    ];
    let mut net = Network::new(Instant(1000), 0);
    net.set_default_link(Link::with_latency(Duration::from_millis(5)));
    net.add_node(inside);
    net.add_node(b_addr);
    // NAPT: inside port p <-> public port p + 10000; no translation for raw ESP.
    net.set_nat(0, Some(Nat::offset(public, 10000)));
    let step = |n: &mut [TunnelsNode; 2], net: &mut Network| {
        let [a, b] = n;
        assert!(net.settle(&mut [a as &mut dyn Node, b], Duration::from_secs(1)));
    };
    let pkt = ipv4(A_LAN, B_LAN, 1, 0, 0);
    let protect =
        |n: &mut TunnelsNode, now: Instant, pkt: &[u8]| n.tunnels.protect(now, pkt, &mut n.out);
    assert_eq!(protect(&mut n[0], net.now(), &pkt), TunVerdict::NoSa);
    step(&mut n, &mut net);
    assert_eq!(n[0].tunnels.installed_pairs(), 1);
    assert_eq!(n[1].tunnels.installed_pairs(), 1);
    for _ in 0..3 {
        assert_eq!(protect(&mut n[0], net.now(), &pkt), TunVerdict::Protected);
        step(&mut n, &mut net);
    }
    let back = ipv4(B_LAN, A_LAN, 1, 0, 0);
    assert_eq!(protect(&mut n[1], net.now(), &back), TunVerdict::Protected);
    step(&mut n, &mut net);
    for s in net.log().iter().filter(|s| s.from == 0) {
        if let Wire::Udp { src, .. } = s.packet.wire {
            assert_eq!(src.ip(), std::net::IpAddr::V4(inside));
        }
    }
    let raw_esp = net
        .log()
        .iter()
        .filter(|s| matches!(s.packet.wire, Wire::Esp { .. }))
        .count();
    assert_eq!(raw_esp, 0, "no raw ESP once a NAT is detected");
    assert_eq!(net.unroutable(), 0, "siteB answers the NAT's address");
    assert_eq!(n[0].delivered, vec![back.clone()]);
    let now = net.now();
    let show = |n: &mut TunnelsNode, line: &str| {
        let c = resolve(line).unwrap().unwrap();
        match n.tunnels.on_control(now, &c, &mut n.out) {
            ControlReply::Text(t) => t,
            ControlReply::Error(e) => panic!("{e}"),
        }
    };
    let [a, b] = &mut n;
    let sb = show(b, "show crypto ipsec sa");
    assert!(sb.contains("current_peer 198.51.100.1 port 14500"), "{sb}");
    assert!(
        sb.contains("in use settings ={Tunnel UDP-Encaps, }"),
        "{sb}"
    );
    assert_eq!(num(&sb, "#pkts decaps:"), 3);
    assert_eq!(num(&sb, "#pkts encaps:"), 1);
    let sa = show(a, "show crypto ipsec sa");
    assert_eq!(num(&sa, "#pkts decaps:"), 1, "{sa}");
    assert!(sa.contains("current_peer 203.0.113.2 port 4500"), "{sa}");
    let det = show(a, "show crypto isakmp sa detail");
    assert!(det.contains(" DN\n") || det.contains(" N\n"), "{det}");
}

impl Pair {
    /// Advances virtual time to `until`, firing timers as they fall due.
    fn advance(&mut self, until: u64) {
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        net.run_until(&mut self.nodes(), Instant(until));
        self.net = net;
    }
}

#[test]
fn counters_survive_a_rekey_and_the_old_inbound_sa_stays() {
    let short = |t: &str| {
        t.replace(
            "crypto ipsec transform-set",
            "crypto ipsec security-association lifetime seconds 120\ncrypto ipsec transform-set",
        )
    };
    let mut p = Pair::new(&short(SITE_A), &short(SITE_B));
    let pkt = ipv4(A_LAN, B_LAN, 1, 0, 0);
    p.send(0, &pkt);
    for _ in 0..5 {
        assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    }
    let before = p.cmd(0, "show crypto ipsec sa");
    let spi_old = outbound_spi(&before);
    // Soft lifetime: 30 s before the 120 s hard lifetime the initiator rekeys.
    p.advance(p.now() + 100_000);
    let mid = p.cmd(0, "show crypto ipsec sa");
    let spi_new = outbound_spi(&mid);
    assert_ne!(
        spi_old, spi_new,
        "outbound switched to the new pair:\n{mid}"
    );
    let inbound = mid.split("inbound esp sas:").nth(1).unwrap();
    let inbound = inbound.split("inbound ah sas:").next().unwrap();
    assert_eq!(
        inbound.matches("spi: ").count(),
        2,
        "old inbound SA kept: {mid}"
    );
    for _ in 0..4 {
        assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    }
    let after = p.cmd(0, "show crypto ipsec sa");
    assert_eq!(
        num(&after, "#pkts encaps:"),
        9,
        "counters of the flow add up: {after}"
    );
    assert_eq!(num(&after, "#send errors"), 1);
    let b = p.cmd(1, "show crypto ipsec sa");
    assert_eq!(num(&b, "#pkts decaps:"), 9, "{b}");
    // Long after the old pair's hard expiry only the new pair is left, counters intact.
    p.advance(p.now() + 60_000);
    let late = p.cmd(1, "show crypto ipsec sa");
    assert_eq!(num(&late, "#pkts decaps:"), 9, "{late}");
    assert_eq!(
        late.matches("      spi: ").count(),
        2,
        "one inbound, one outbound: {late}"
    );
}

#[test]
fn running_out_of_sequence_numbers_rekeys_before_the_wrap() {
    let mut p = Pair::new(SITE_A, SITE_B);
    let pkt = ipv4(A_LAN, B_LAN, 1, 0, 0);
    p.send(0, &pkt);
    assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    let spi_old = outbound_spi(&p.cmd(0, "show crypto ipsec sa"));
    // Past 90 % of the 32-bit space: the next packet still goes out on the old SA and asks the
    // endpoint for a successor, which Quick Mode brings within the same settle.
    p.n[0]
        .tunnels
        .force_outbound_sequence_for_tests(u32::MAX - 1000);
    assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    p.advance(p.now() + 2_000);
    let show = p.cmd(0, "show crypto ipsec sa");
    assert_ne!(spi_old, outbound_spi(&show), "rekeyed:\n{show}");
    for _ in 0..3 {
        assert_eq!(p.send(0, &pkt), TunVerdict::Protected);
    }
    let b = p.cmd(1, "show crypto ipsec sa");
    assert_eq!(num(&b, "#pkts decaps:"), 5, "{b}");
}
