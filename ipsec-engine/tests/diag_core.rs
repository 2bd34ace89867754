//! `diagnose` against faults produced for real between two in-memory gateway cores: wrong
//! pre-shared key, Phase 1 proposal mismatch, non-mirrored crypto ACLs, a return path that drops
//! ESP, UDP 500 dropped (both ways and one way), UDP 4500 dropped after the NAT-T float, plus the
//! failure signatures printed on the debug stream and the control command.

use ipsec_engine::control::resolve;
use ipsec_engine::demo::{SITE_A, SITE_B};
use ipsec_engine::gateway::{CoreOptions, GatewayCore};
use ipsec_engine::{ControlReply, DebugKind, Dest, Gateway};
use ipsec_proto::diagnose::{Cause, Verdict};
use ipsec_proto::testing::{Link, Nat, Network, Node, TunnelsNode, Wire};
use ipsec_proto::time::Instant;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

fn core(text: &str, seed: u64) -> GatewayCore {
    let p = ipsec_proto::ios::parse(text).unwrap();
    GatewayCore::new(p.config, CoreOptions::seeded(seed)).unwrap()
}

fn ipv4(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p
}

const A_LAN: [u8; 4] = [192, 168, 1, 10];
const B_LAN: [u8; 4] = [192, 168, 2, 10];
const A_PUB: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const A_INSIDE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// What the path does to a packet sent by side `from`: true drops it.
type Filter = Box<dyn FnMut(usize, &Dest, &[u8]) -> bool>;

/// Two cores on the in-memory network (5 ms apart); side 0 optionally behind a NAPT (inside
/// port p <-> public port p + 10000, raw ESP not translated); the filter as a fault rule on
/// what each side sends.
struct Net {
    n: [TunnelsNode; 2],
    net: Network,
}

impl Net {
    fn new(a: &str, b: &str, nat: bool, mut filter: Filter) -> Net {
        let a = if nat {
            a.replace(
                "ip address 198.51.100.1 255.255.255.0",
                "ip address 10.0.0.1 255.255.255.0",
            )
        } else {
            a.to_string()
        };
        let mut n = [
            TunnelsNode::new(core(&a, 11)),
            TunnelsNode::new(core(b, 12)),
        ];
        for x in &mut n {
            x.out.set_debugging(DebugKind::Isakmp, true);
            x.out.set_debugging(DebugKind::Ipsec, true);
        }
        let mut net = Network::new(Instant(1_000), 0);
        net.set_default_link(Link::with_latency(Duration::from_millis(5)));
        net.add_node(n[0].tunnels.entries()[0].local);
        net.add_node(n[1].tunnels.entries()[0].local);
        if nat {
            assert_eq!(net.addr(0), A_INSIDE);
            net.set_nat(0, Some(Nat::offset(A_PUB, 10000)));
        }
        net.add_fault(move |s| {
            if let (true, 1, Wire::Udp { dst, .. }) = (nat, s.from, s.packet.wire) {
                assert_eq!(
                    dst.ip(),
                    std::net::IpAddr::V4(A_PUB),
                    "siteB answers the NAT"
                );
            }
            let dest = match s.packet.wire {
                Wire::Udp {
                    src: SocketAddr::V4(local),
                    dst: SocketAddr::V4(remote),
                } => Dest::Udp { local, remote },
                Wire::Esp { src, dst } => Dest::Esp { src, dst },
                Wire::Udp { .. } => return true,
                // The filter judges the WAN; these nodes have no LAN on the network.
                Wire::Ip { .. } => return false,
            };
            filter(s.from, &dest, &s.packet.bytes)
        });
        Net { n, net }
    }

    fn nodes(&mut self) -> [&mut dyn Node; 2] {
        let [a, b] = &mut self.n;
        [a, b]
    }

    fn now(&self) -> u64 {
        self.net.now().0
    }

    /// Side `i`'s debug output so far.
    fn debug(&self, i: usize) -> String {
        self.n[i].debug.iter().map(|d| d.line.as_str()).collect()
    }

    fn settle(&mut self) {
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        net.settle(&mut self.nodes(), Duration::from_secs(1));
        self.net = net;
    }

    fn advance(&mut self, ms: u64) {
        let until = self.net.now() + Duration::from_millis(ms);
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        net.run_until(&mut self.nodes(), until);
        self.net = net;
    }

    fn ping(&mut self, side: usize) {
        let (s, d) = if side == 0 {
            (A_LAN, B_LAN)
        } else {
            (B_LAN, A_LAN)
        };
        let pkt = ipv4(s, d, 84);
        let now = self.net.now();
        let n = &mut self.n[side];
        let _ = n.tunnels.protect(now, &pkt, &mut n.out);
        self.settle();
    }

    fn diagnose(&self, side: usize) -> Vec<Verdict> {
        self.n[side].tunnels.diagnose(self.net.now(), None)
    }

    fn text(&self, side: usize) -> String {
        ipsec_proto::diagnose::render(&self.diagnose(side))
    }

    fn cmd(&mut self, side: usize, line: &str) -> String {
        let c = resolve(line).unwrap().unwrap();
        let now = self.net.now();
        let n = &mut self.n[side];
        match n.tunnels.on_control(now, &c, &mut n.out) {
            ControlReply::Text(t) => t,
            ControlReply::Error(e) => panic!("{line}: {e}"),
        }
    }
}

fn causes(v: &[Verdict]) -> Vec<Cause> {
    v.iter()
        .filter(|v| v.peer.is_some())
        .map(|v| v.cause)
        .collect()
}

fn no_filter() -> Filter {
    Box::new(|_, _, _| false)
}

/// The two sides' reports, printed when a test fails (and with --nocapture).
fn show(n: &Net) -> String {
    format!("--- siteA\n{}--- siteB\n{}", n.text(0), n.text(1))
}

#[test]
fn healthy_tunnel_is_healthy() {
    let mut n = Net::new(SITE_A, SITE_B, false, no_filter());
    for _ in 0..4 {
        n.ping(0);
        n.ping(1);
    }
    assert_eq!(causes(&n.diagnose(0)), vec![Cause::Healthy], "{}", show(&n));
    assert_eq!(causes(&n.diagnose(1)), vec![Cause::Healthy], "{}", show(&n));
}

#[test]
fn wrong_pre_shared_key() {
    let b = SITE_B.replace(
        "crypto isakmp key ciscokey address",
        "crypto isakmp key otherkey address",
    );
    let mut n = Net::new(SITE_A, &b, false, no_filter());
    n.ping(0);
    n.advance(8_000);
    // While still retransmitting MM5 the initiator already names the keys.
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::StuckKeyExch], "{}", show(&n));
    assert!(a[0].check[0].contains("pre-shared keys"), "{}", show(&n));
    let b = n.diagnose(1);
    assert_eq!(causes(&b), vec![Cause::PskMismatch], "{}", show(&n));
    assert!(n.debug(1).contains(
        "%CRYPTO-4-IKMP_BAD_MESSAGE: IKE message from 198.51.100.1 failed its sanity check or is malformed"
    ));
    assert!(
        n.debug(0).contains("retransmitting phase 1 MM_KEY_EXCH..."),
        "{}",
        n.debug(0)
    );
    // After the initiator gave up, the verdict stays.
    n.advance(120_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::StuckKeyExch],
        "{}",
        show(&n)
    );
    println!("{}", show(&n));
}

#[test]
fn phase1_proposal_mismatch() {
    let b = SITE_B.replace(" encr 3des", " encr aes 256");
    let mut n = Net::new(SITE_A, &b, false, no_filter());
    n.ping(0);
    n.advance(2_000);
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::Phase1RefusedByPeer], "{}", show(&n));
    assert!(
        a[0].evidence
            .iter()
            .any(|e| e.contains("priority 1: 3des sha group 2 pre-share")),
        "{}",
        show(&n)
    );
    let b = n.diagnose(1);
    assert_eq!(causes(&b), vec![Cause::Phase1RefusedByUs], "{}", show(&n));
    assert!(
        b[0].evidence[0].to_lowercase().contains("encr"),
        "names the attribute: {}",
        show(&n)
    );
    assert!(n
        .debug(1)
        .contains("phase 1 SA policy not acceptable! (local 203.0.113.2 remote 198.51.100.1)"));
    // The per-transform lines come from the refusal's evidence, before the summary.
    let debug = n.debug(1);
    let checks = debug
        .find("ISAKMP:(0):Checking ISAKMP transform 1 against priority ")
        .expect(&debug);
    let refused = debug
        .find("Encryption algorithm offered does not match policy!")
        .expect(&debug);
    assert!(checks < refused && refused < n.debug(1).find("atts are not acceptable").unwrap());
    println!("{}", show(&n));
}

#[test]
fn non_mirrored_acls() {
    let b = SITE_B.replace(
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255",
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.3.0 0.0.0.255",
    );
    assert_ne!(b, SITE_B);
    let mut n = Net::new(SITE_A, &b, false, no_filter());
    n.ping(0);
    n.advance(2_000);
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::Phase2RefusedByPeer], "{}", show(&n));
    assert!(
        a[0].evidence
            .iter()
            .any(|e| e
                .contains("access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255")),
        "shows our ACL line: {}",
        show(&n)
    );
    let b = n.diagnose(1);
    assert_eq!(causes(&b), vec![Cause::ProxyIdMismatch], "{}", show(&n));
    let v = b.iter().find(|v| v.peer.is_some()).unwrap();
    let all = v.evidence.join("\n");
    assert!(all.contains("192.168.1.0"), "the peer's proposal: {all}");
    assert!(
        all.contains("access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.3.0 0.0.0.255"),
        "our line: {all}"
    );
    assert!(n
        .debug(1)
        .contains("IPSec policy invalidated proposal with error 32"));
    println!("{}", show(&n));
}

#[test]
fn return_path_drops_esp() {
    // Everything from siteB that is raw ESP is lost; IKE passes.
    let f: Filter = Box::new(|from, d, _| from == 1 && matches!(d, Dest::Esp { .. }));
    let mut n = Net::new(SITE_A, SITE_B, false, f);
    for _ in 0..5 {
        n.ping(0);
        // siteB's host answers every echo that reached it.
        let got = std::mem::take(&mut n.n[1].delivered);
        for _ in got {
            n.ping(1);
        }
    }
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::OneWayOutbound], "{}", show(&n));
    assert!(a[0]
        .check
        .iter()
        .any(|c| c.contains("ESP (IP protocol 50)")));
    // siteB sees traffic both ways (it cannot know its ESP is lost).
    assert_eq!(causes(&n.diagnose(1)), vec![Cause::Healthy], "{}", show(&n));
    println!("{}", show(&n));
}

#[test]
fn udp_500_dropped_both_ways() {
    let f: Filter = Box::new(|_, d, _| matches!(d, Dest::Udp { .. }));
    let mut n = Net::new(SITE_A, SITE_B, false, f);
    n.ping(0);
    n.advance(10_000);
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::PeerUnreachable], "{}", show(&n));
    assert!(
        a[0].evidence
            .iter()
            .any(|e| e.contains("nothing has ever arrived")),
        "{}",
        show(&n)
    );
    assert!(n.debug(0).contains("retransmitting phase 1 MM_NO_STATE..."));
    assert_eq!(
        causes(&n.diagnose(1)),
        vec![Cause::NotTriggered],
        "{}",
        show(&n)
    );
    n.advance(120_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::PeerUnreachable],
        "{}",
        show(&n)
    );
    println!("{}", show(&n));
}

#[test]
fn udp_500_one_way() {
    // siteB's replies never reach siteA.
    let f: Filter = Box::new(|from, d, _| from == 1 && matches!(d, Dest::Udp { .. }));
    let mut n = Net::new(SITE_A, SITE_B, false, f);
    n.ping(0);
    n.advance(10_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::PeerUnreachable],
        "{}",
        show(&n)
    );
    let b = n.diagnose(1);
    assert_eq!(causes(&b), vec![Cause::OneWayUdp500], "{}", show(&n));
    println!("{}", show(&n));
}

#[test]
fn udp_4500_dropped_after_the_float() {
    let f: Filter = Box::new(
        |_, d, _| matches!(d, Dest::Udp { local, remote } if local.port() == 4500 || remote.port() == 4500),
    );
    let mut n = Net::new(SITE_A, SITE_B, true, f);
    n.ping(0);
    n.advance(8_000);
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::Udp4500Filtered], "{}", show(&n));
    assert!(a[0].check[0].contains("UDP 4500"), "{}", show(&n));
    n.advance(120_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::Udp4500Filtered],
        "{}",
        show(&n)
    );
    let b = n.diagnose(1);
    assert_eq!(causes(&b), vec![Cause::Udp4500Filtered], "{}", show(&n));
    println!("{}", show(&n));
}

#[test]
fn nat_t_working_is_healthy_and_psk_mismatch_behind_nat_blames_keys_second() {
    let mut n = Net::new(SITE_A, SITE_B, true, no_filter());
    for _ in 0..4 {
        n.ping(0);
        n.ping(1);
    }
    assert_eq!(causes(&n.diagnose(0)), vec![Cause::Healthy], "{}", show(&n));
}

#[test]
fn control_command_and_config_findings() {
    // No NAT exemption: the lint of ios::check shows up as a configuration verdict.
    let a = SITE_A.replace(
        "access-list 101 deny   ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n",
        "",
    );
    let mut n = Net::new(&a, SITE_B, false, no_filter());
    let all = n.diagnose(0);
    assert!(
        all.iter().any(|v| v.peer.is_none()
            && v.cause == Cause::Config
            && v.summary.to_lowercase().contains("nat")),
        "{}",
        n.text(0)
    );
    let t = n.cmd(0, "diag peer 203.0.113.2");
    assert!(t.starts_with("peer 203.0.113.2: "), "{t}");
    assert!(!t.contains("configuration:"), "peer view only: {t}");
    let t = n.cmd(0, "diagnose");
    assert!(t.contains("configuration: "), "{t}");
}

#[test]
fn invalid_spi_and_debug_timestamps() {
    let mut n = Net::new(SITE_A, SITE_B, false, no_filter());
    n.ping(0);
    n.ping(0);
    // siteB forgets its SAs without telling siteA (a reboot without INITIAL-CONTACT).
    let mut fresh = core(SITE_B, 99);
    std::mem::swap(&mut n.n[1].tunnels, &mut fresh);
    n.ping(0);
    n.ping(0);
    let b = n.diagnose(1);
    assert!(causes(&b).contains(&Cause::InvalidSpi), "{}", show(&n));
    assert!(
        n.debug(1).contains("%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for destaddr=203.0.113.2, prot=50"),
        "{}",
        n.debug(1)
    );
    // IOS datetime msec stamp of a router whose clock was never set.
    assert!(n.debug(1).contains("*Mar  1 00:00:"), "{}", n.debug(1));
}

#[test]
fn transform_set_mismatch() {
    let b = SITE_B.replace(
        "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac",
        "crypto ipsec transform-set TRANSFORM esp-aes 256 esp-sha-hmac",
    );
    let mut n = Net::new(SITE_A, &b, false, no_filter());
    n.ping(0);
    n.advance(2_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::Phase2RefusedByPeer],
        "{}",
        show(&n)
    );
    assert_eq!(
        causes(&n.diagnose(1)),
        vec![Cause::TransformMismatch],
        "{}",
        show(&n)
    );
    assert!(n
        .debug(1)
        .contains("IPSec policy invalidated proposal with error 256"));
}

#[test]
fn pfs_on_one_side_only() {
    let b = SITE_B.replace(
        " set transform-set TRANSFORM",
        " set transform-set TRANSFORM\n set pfs group2",
    );
    let mut n = Net::new(SITE_A, &b, false, no_filter());
    n.ping(0);
    n.advance(2_000);
    assert_eq!(
        causes(&n.diagnose(0)),
        vec![Cause::Phase2RefusedByPeer],
        "{}",
        show(&n)
    );
    assert_eq!(
        causes(&n.diagnose(1)),
        vec![Cause::PfsMismatch],
        "{}",
        show(&n)
    );
    println!("{}", show(&n));
}

#[test]
fn oversized_packets_are_an_mtu_finding() {
    let mut n = Net::new(SITE_A, SITE_B, false, no_filter());
    for _ in 0..3 {
        n.ping(0);
        n.ping(1);
    }
    let mtu = n.n[0].tunnels.tun_mtu() as usize;
    let big = ipv4(A_LAN, B_LAN, mtu + 20);
    let now = Instant(n.now());
    let _ = n.n[0].tunnels.protect(now, &big, &mut n.n[0].out);
    n.settle();
    let a = n.diagnose(0);
    assert!(causes(&a).contains(&Cause::Mtu), "{}", show(&n));
    let v = a.iter().find(|v| v.cause == Cause::Mtu).unwrap();
    assert!(
        v.evidence[0].contains(&format!("largest cleartext packet {} bytes", mtu + 20)),
        "{v}"
    );
}

#[test]
fn wrong_set_peer_address() {
    // siteA points at 203.0.113.9; siteB (really at 203.0.113.2) also initiates towards siteA.
    let a = SITE_A
        .replace("set peer 203.0.113.2", "set peer 203.0.113.9")
        .replace("address 203.0.113.2", "address 203.0.113.9");
    // Packets for 203.0.113.9 go nowhere.
    let f: Filter = Box::new(|from, d, _| {
        from == 0
            && matches!(d, Dest::Udp { remote, .. } if *remote.ip() == Ipv4Addr::new(203, 0, 113, 9))
    });
    let mut n = Net::new(&a, SITE_B, false, f);
    n.ping(0);
    n.ping(1);
    n.advance(8_000);
    let v = n.diagnose(0);
    let c = causes(&v);
    assert!(c.contains(&Cause::PeerUnreachable), "{}", show(&n));
    assert!(c.contains(&Cause::UnknownPeer), "{}", show(&n));
    let unreachable = v
        .iter()
        .find(|v| v.cause == Cause::PeerUnreachable)
        .unwrap();
    assert!(
        unreachable
            .evidence
            .iter()
            .any(|e| e.contains("arrived from 203.0.113.2, which is no `set peer`")),
        "{unreachable}"
    );
    println!("{}", n.text(0));
}

#[test]
fn cli_diagnoses_a_configuration_file() {
    let dir = std::env::temp_dir().join(format!("diag-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("siteA.cfg");
    std::fs::write(
        &f,
        SITE_A.replace(
            "access-list 101 deny   ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n",
            "",
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ipsec-engine"))
        .args(["diagnose", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("configuration: NAT ACL 101"), "{t}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nat_in_path_with_nat_t_off_on_the_peer() {
    let b = format!("{SITE_B}no crypto ipsec nat-transparency udp-encapsulation\n");
    let mut n = Net::new(SITE_A, &b, true, no_filter());
    for _ in 0..4 {
        n.ping(0);
    }
    let a = n.diagnose(0);
    assert_eq!(causes(&a), vec![Cause::OneWayOutbound], "{}", show(&n));
    let v = a.iter().find(|v| v.cause == Cause::OneWayOutbound).unwrap();
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("did not announce NAT-T")),
        "{v}"
    );
    println!("{}", n.text(0));
}
