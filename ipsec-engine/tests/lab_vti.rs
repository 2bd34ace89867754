//! Static VTIs (`interface TunnelN`, `tunnel mode ipsec ipv4`) run by the Linux engine against
//! real peers in the namespace lab:
//! - engine ↔ engine with two VTIs each, on two local addresses per side (the two-tunnel cloud
//!   layout: `tunnel source IF` and `tunnel source A`), LAN routes over Tunnel0 and a floating
//!   static over Tunnel1 (distance 250) that takes over while Tunnel0 is down;
//! - one engine with two VTIs to two peers on two hosts (gwB and a gwC added behind rtr);
//! - engine ↔ strongSwan 5.9.8 configured as the peer of a Cisco VTI (0.0.0.0/0 traffic selectors
//!   both ways), once the engine initiating, once charon;
//! - bird2 running BGP over Tunnel0 between two engines, learning the LANs, 0.0.0.0/0 and the
//!   peer's own /32 through the tunnel, and the tunnel surviving rekeys and DPD because the
//!   engine's own packets take the underlay table.
//!
//! Needs root and the lab tools (see ipsec-netlab); skipped otherwise, except under CI=true.

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon, CharonConn, Netns};
use std::time::Duration;

const KEY: &str = "vtisecret";
/// gwA's second WAN address (Tunnel1's source), and gwB's.
const GW_A_WAN2: &str = "198.51.100.3";
const GW_B_WAN2: &str = "203.0.113.3";

/// One `interface TunnelN` of a router.
struct Vti<'a> {
    /// `tunnel source` (an interface name or an address).
    source: &'a str,
    /// `tunnel destination`.
    dst: &'a str,
    /// `ip address` (a /30).
    addr: &'a str,
    /// Distance of the route to the remote LAN through it; `None`: no route.
    route: Option<Option<u8>>,
}

/// A VTI router: GigabitEthernet0/0 on the WAN, GigabitEthernet0/1 on the LAN, one Tunnel
/// interface per `vtis` entry; `global` and `profile` add lines to the global configuration
/// and to `crypto ipsec profile VTI`.
fn router(
    hostname: &str,
    wan: &str,
    lan_gw: &str,
    remote_lan: &str,
    vtis: &[Vti<'_>],
    global: &str,
    profile: &str,
) -> String {
    let mut s = format!(
        "hostname {hostname}\n\
         crypto isakmp policy 10\n encr aes 256\n hash sha\n authentication pre-share\n group 14\n"
    );
    for v in vtis {
        s.push_str(&format!("crypto isakmp key {KEY} address {}\n", v.dst));
    }
    s.push_str(global);
    s.push_str(
        "crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac\n mode tunnel\n\
         crypto ipsec profile VTI\n set transform-set TS\n set pfs group14\n",
    );
    s.push_str(profile);
    s.push_str(&format!(
        "interface GigabitEthernet0/0\n ip address {wan} 255.255.255.0\n\
         interface GigabitEthernet0/1\n ip address {lan_gw} 255.255.255.0\n"
    ));
    for (i, v) in vtis.iter().enumerate() {
        s.push_str(&format!(
            "interface Tunnel{i}\n ip address {} 255.255.255.252\n ip tcp adjust-mss 1360\n \
             tunnel source {}\n tunnel mode ipsec ipv4\n tunnel destination {}\n \
             tunnel protection ipsec profile VTI\n",
            v.addr, v.source, v.dst
        ));
    }
    for (i, v) in vtis.iter().enumerate() {
        if let Some(d) = v.route {
            let d = d.map(|d| format!(" {d}")).unwrap_or_default();
            s.push_str(&format!(
                "ip route {remote_lan}.0 255.255.255.0 Tunnel{i}{d}\n"
            ));
        }
    }
    s
}

/// `show interfaces TunnelN` says the line protocol is up.
fn line_up(d: &Daemon, n: u32) -> bool {
    d.try_exec(&format!("show interfaces Tunnel{n}"))
        .is_ok_and(|t| t.contains("line protocol is up"))
}

fn wait_line(d: &Daemon, n: u32, up: bool, timeout: Duration) -> bool {
    wait_until(timeout, || line_up(d, n) == up)
}

/// TunnelN's current outbound SPI and its inbound SPIs, from `show crypto ipsec sa interface`.
fn spis(d: &Daemon, n: u32) -> (Option<String>, Vec<String>) {
    let text = d
        .try_exec(&format!("show crypto ipsec sa interface Tunnel{n}"))
        .unwrap_or_default();
    let out = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("current outbound spi: "))
        .and_then(|v| v.split('(').next())
        .map(str::to_string);
    let inbound = text
        .split("inbound esp sas:")
        .nth(1)
        .and_then(|t| t.split("inbound ah sas:").next())
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("spi: "))
        .filter_map(|v| v.split('(').next())
        .map(str::to_string)
        .collect();
    (out, inbound)
}

/// Both ends start TunnelN at once, so both initiate: wait until they have settled on one SA
/// pair (one inbound SA each, each one's outbound SPI the other's inbound, the same across two
/// looks) before traffic is counted, as a ping lost while the spare pair is deleted says
/// nothing about routing.
/// `ping`, and a second round when the first lost a packet; the second must be whole. Seen in
/// CI under load (every lab_vti test runs engines, charon or bird at once on two cores): one
/// ESP packet the far engine counted as sent never reached ours, with no error counted on
/// either side. One lost echo is the path's, a lost round is ours.
fn ping_whole(ns: &Netns, dst: &str, count: u32) -> u32 {
    let n = ping(ns, dst, count);
    if n == count {
        return n;
    }
    eprintln!("{n}/{count} pings to {dst} answered; once more");
    ping(ns, dst, count)
}

fn wait_settled(a: &Daemon, b: &Daemon, n: u32) -> bool {
    wait_settled_between(a, n, b, n)
}

/// [`wait_settled`] for a's TunnelN facing b's TunnelM.
fn wait_settled_between(a: &Daemon, n: u32, b: &Daemon, m: u32) -> bool {
    let mut last = None;
    wait_until(Duration::from_secs(60), || {
        let (ao, ai) = spis(a, n);
        let (bo, bi) = spis(b, m);
        // One inbound SA each: the spare pair of the simultaneous start is gone.
        let matched = ai.len() == 1
            && bi.len() == 1
            && ao.as_ref().is_some_and(|o| bi.contains(o))
            && bo.as_ref().is_some_and(|o| ai.contains(o));
        let now = matched.then_some((ao, bo));
        let settled = now.is_some() && now == last;
        last = now;
        if !settled {
            std::thread::sleep(Duration::from_millis(500));
        }
        settled
    })
}

/// The kernel's route to `dst` in `ns` (`ip route get`), optionally with the engine's mark.
fn route_get(ns: &Netns, dst: &str, mark: bool) -> String {
    let mut a = vec!["-4", "route", "get", dst];
    if mark {
        a.extend(["mark", "0x1e5"]);
    }
    ns.ip(&a).unwrap_or_default()
}

/// The packet count of the `show interfaces` counter line containing `what`.
fn packets(ifc: &str, what: &str) -> u64 {
    ifc.lines()
        .find(|l| l.contains(what))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{what} in\n{ifc}"))
}

fn routes_to(ns: &Netns, prefix: &str) -> String {
    ns.ip(&["route", "show", prefix]).unwrap_or_default()
}

/// What the engine left behind after it stopped: nothing (no rule, no underlay table, no TUN).
fn assert_clean(ns: &Netns) {
    let rules = ns.ip(&["rule", "show"]).unwrap_or_default();
    assert!(!rules.contains("lookup 486"), "{rules}");
    let t = ns
        .ip(&["route", "show", "table", "486"])
        .unwrap_or_default();
    assert_eq!(t.trim(), "", "underlay table left: {t}");
    let links = ns.ip(&["link", "show"]).unwrap_or_default();
    assert!(!links.contains("Tunnel"), "{links}");
    let main = ns.ip(&["route", "show"]).unwrap_or_default();
    assert!(!main.contains("Tunnel"), "{main}");
}

/// Engine ↔ engine, two VTIs each on two local addresses per side; LAN traffic over Tunnel0,
/// ESP on the wire; a floating static over Tunnel1 while Tunnel0's path is cut; back to
/// Tunnel0 when it returns.
#[test]
fn lab_vti_engines_two_tunnels_and_a_floating_static() {
    let Some(lab) = Lab::new("vti_two") else {
        return;
    };
    let t = &lab.topo;
    t.gw_a
        .ip(&["addr", "add", &format!("{GW_A_WAN2}/24"), "dev", "wan"])
        .unwrap();
    t.gw_b
        .ip(&["addr", "add", &format!("{GW_B_WAN2}/24"), "dev", "wan"])
        .unwrap();
    let a = router(
        "siteA",
        addr::GW_A_WAN,
        addr::GW_A_LAN,
        "10.2.2",
        &[
            Vti {
                source: "GigabitEthernet0/0",
                dst: addr::GW_B_WAN,
                addr: "169.254.0.1",
                route: Some(None),
            },
            Vti {
                source: GW_A_WAN2,
                dst: GW_B_WAN2,
                addr: "169.254.0.5",
                route: Some(Some(250)),
            },
        ],
        "",
        "",
    );
    let b = router(
        "siteB",
        addr::GW_B_WAN,
        addr::GW_B_LAN,
        "10.1.1",
        &[
            Vti {
                source: "GigabitEthernet0/0",
                dst: addr::GW_A_WAN,
                addr: "169.254.0.2",
                route: Some(None),
            },
            Vti {
                source: GW_B_WAN2,
                dst: GW_A_WAN2,
                addr: "169.254.0.6",
                route: Some(Some(250)),
            },
        ],
        "",
        "",
    );
    let (da, db) = lab.engines(&a, &b);
    for (d, n) in [(&da, 0), (&da, 1), (&db, 0), (&db, 1)] {
        assert!(
            wait_line(d, n, true, Duration::from_secs(60)),
            "{} Tunnel{n} did not come up\n{}\n{}",
            d.name,
            d.state(),
            d.stderr()
        );
    }
    for n in [0, 1] {
        assert!(
            wait_settled(&da, &db, n),
            "Tunnel{n} did not settle on one SA pair\n{}\n{}",
            da.state(),
            db.state()
        );
    }
    let err = da.stderr();
    assert!(
        err.contains("running on 198.51.100.2, 198.51.100.3"),
        "both local addresses served: {err}"
    );
    assert!(
        err.contains("underlay: 203.0.113.2/32 via 198.51.100.1 dev wan"),
        "{err}"
    );
    // Both routes in the main table, the distance as metric; the kernel uses Tunnel0's.
    let r = routes_to(&t.gw_a, "10.2.2.0/24");
    assert!(
        r.contains("dev Tunnel0 proto static scope link metric 1 "),
        "{r}"
    );
    assert!(
        r.contains("dev Tunnel1 proto static scope link metric 250"),
        "{r}"
    );
    assert!(route_get(&t.gw_a, addr::HOST_B, false).contains("dev Tunnel0"));

    let mut cap = Capture::start(&t.gw_a, "wan", "").unwrap();
    let n = ping_whole(&t.host_a, addr::HOST_B, 10) + ping_whole(&t.host_b, addr::HOST_A, 10);
    cap.stop();
    assert_eq!(n, 20, "{}\n{}", da.state(), db.state());
    let esp = cap
        .fields("esp && ip.src == 198.51.100.2", &["esp.spi"])
        .unwrap();
    let clear = cap.fields("icmp", &["ip.src"]).unwrap();
    println!(
        "on gwA's wire: {} ESP packets from 198.51.100.2, {} ICMP in clear",
        esp.len(),
        clear.len()
    );
    // Both directions of 20 pings; the capture may miss the first packets while starting.
    assert!(esp.len() >= 10, "ESP on the wire: {}", esp.len());
    assert!(clear.is_empty(), "cleartext ICMP on the WAN: {clear:?}");

    let ifc = da.exec("show interfaces Tunnel0");
    println!("siteA#show interfaces Tunnel0\n{ifc}");
    assert!(ifc.contains("Tunnel0 is up, line protocol is up"), "{ifc}");
    assert!(ifc.contains("Internet address is 169.254.0.1/30"), "{ifc}");
    assert!(
        ifc.contains("Tunnel source 198.51.100.2 (GigabitEthernet0/0), destination 203.0.113.2"),
        "{ifc}"
    );
    assert!(
        ifc.contains("Tunnel protection via IPSec (profile \"VTI\")"),
        "{ifc}"
    );
    assert_eq!(num(&ifc, "output drops:"), 0, "{ifc}");
    let input = packets(&ifc, "packets input");
    let output = packets(&ifc, "packets output");
    assert!(
        input >= 20 && output >= 20,
        "in {input} out {output}: {ifc}"
    );

    let sa = da.exec("show crypto ipsec sa interface Tunnel0");
    println!("siteA#show crypto ipsec sa interface Tunnel0\n{sa}");
    assert!(sa.contains("interface: Tunnel0"), "{sa}");
    assert!(
        sa.contains("local  ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)")
            && sa.contains("remote ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)"),
        "{sa}"
    );
    assert!(sa.contains("current_peer 203.0.113.2"), "{sa}");
    assert!(num(&sa, "#pkts encaps:") >= 20, "{sa}");
    let brief = da.exec("show ip interface brief");
    println!("siteA#show ip interface brief\n{brief}");
    for row in [
        "GigabitEthernet0/0         198.51.100.2    YES manual up                    up",
        "Tunnel0                    169.254.0.1     YES manual up                    up",
        "Tunnel1                    169.254.0.5     YES manual up                    up",
    ] {
        assert!(brief.contains(row), "{row:?} in\n{brief}");
    }

    // Cut Tunnel0's path in rtr and clear its SAs on both ends: its line protocol goes down,
    // its route is withdrawn, the floating static over Tunnel1 carries the LANs.
    lab.rtr_nft(
        "table ip vtiblk {\n chain cut {\n  type filter hook forward priority 0;\n  \
         ip saddr 198.51.100.2 ip daddr 203.0.113.2 drop\n  \
         ip saddr 203.0.113.2 ip daddr 198.51.100.2 drop\n }\n}\n",
    );
    da.exec("clear crypto sa peer 203.0.113.2");
    db.exec("clear crypto sa peer 198.51.100.2");
    for d in [&da, &db] {
        assert!(
            wait_line(d, 0, false, Duration::from_secs(20)),
            "{}",
            d.state()
        );
    }
    let r = routes_to(&t.gw_a, "10.2.2.0/24");
    assert!(!r.contains("Tunnel0"), "withdrawn: {r}");
    assert!(r.contains("dev Tunnel1"), "{r}");
    assert!(route_get(&t.gw_a, addr::HOST_B, false).contains("dev Tunnel1"));
    let before = packets(&da.exec("show interfaces Tunnel1"), "packets output");
    let n = ping_whole(&t.host_a, addr::HOST_B, 5) + ping_whole(&t.host_b, addr::HOST_A, 5);
    assert_eq!(n, 10, "over Tunnel1\n{}\n{}", da.state(), db.state());
    let ifc1 = da.exec("show interfaces Tunnel1");
    assert!(packets(&ifc1, "packets output") >= before + 10, "{ifc1}");
    let down = da.exec("show interfaces Tunnel0");
    assert!(
        down.contains("Tunnel0 is up, line protocol is down"),
        "{down}"
    );
    let brief = da.exec("show ip interface brief");
    assert!(
        brief.contains(
            "Tunnel0                    169.254.0.1     YES manual up                    down"
        ),
        "{brief}"
    );
    println!("siteA#show ip interface brief (Tunnel0 cut)\n{brief}");

    // The path returns: Tunnel0 comes back on its own (re-initiation with back-off) and its
    // route with it.
    t.rtr
        .run("nft", &["delete", "table", "ip", "vtiblk"])
        .unwrap();
    for d in [&da, &db] {
        assert!(
            wait_line(d, 0, true, Duration::from_secs(150)),
            "{} Tunnel0 did not come back\n{}",
            d.name,
            d.state()
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || route_get(
            &t.gw_a,
            addr::HOST_B,
            false
        )
        .contains("dev Tunnel0")),
        "{}",
        routes_to(&t.gw_a, "10.2.2.0/24")
    );
    assert!(wait_settled(&da, &db, 0), "{}\n{}", da.state(), db.state());
    assert_eq!(ping_whole(&t.host_a, addr::HOST_B, 5), 5, "{}", da.state());

    for d in [da, db] {
        let err = d.stop();
        assert!(!err.contains("warning: Tunnel"), "{err}");
    }
    assert_clean(&t.gw_a);
    assert_clean(&t.gw_b);
}

/// strongSwan as the peer of a Cisco VTI: IKEv1 PSK, AES-256, group 14, PFS, 0.0.0.0/0 ⇄
/// 0.0.0.0/0. Its kernel-libipsec routes 0.0.0.0/0 into its TUN (with an exclude route to us).
fn vti_charon() -> CharonConn {
    CharonConn::new("cisco-vti", "vti")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .psk(KEY)
        .proposals("aes256-sha1-modp2048")
        .esp_proposals("aes256-sha1-modp2048")
        .ts("0.0.0.0/0", "0.0.0.0/0")
}

fn vti_site_a() -> String {
    router(
        "siteA",
        addr::GW_A_WAN,
        addr::GW_A_LAN,
        "10.2.2",
        &[Vti {
            source: "GigabitEthernet0/0",
            dst: addr::GW_B_WAN,
            addr: "169.254.0.1",
            route: Some(None),
        }],
        "",
        "",
    )
}

/// strongSwan in gwB: kernel-libipsec routes the remote selector, 0.0.0.0/0, through its TUN
/// in table 220 (rule pref 220), its own LAN included: what it decrypts for hostB would go
/// straight back into the tunnel. A Cisco VTI peer keeps its LAN routes; the strongSwan host
/// needs a rule of its own for that (charon's bypass-lan plugin works on kernel policies,
/// which kernel-libipsec does not use).
fn start_charon(t: &ipsec_netlab::Topology) -> Charon {
    t.gw_b
        .ip(&[
            "rule",
            "add",
            "to",
            addr::LAN_B,
            "lookup",
            "main",
            "pref",
            "100",
        ])
        .unwrap();
    let peer = Charon::start(&t.gw_b, &[vti_charon()]).unwrap();
    peer.load_all().unwrap();
    peer
}

fn check_strongswan(lab: &Lab, da: &Daemon, peer: &Charon) {
    let t = &lab.topo;
    let mut cap = Capture::start(&t.gw_a, "wan", "").unwrap();
    let n = ping(&t.host_a, addr::HOST_B, 10) + ping(&t.host_b, addr::HOST_A, 10);
    cap.stop();
    assert_eq!(
        n,
        20,
        "{}\n{}",
        da.state(),
        peer.list_sas().unwrap_or_default()
    );
    // kernel-libipsec forces UDP encapsulation: ESP in UDP 4500.
    let esp = cap.fields("udp.port == 4500 && esp", &["esp.spi"]).unwrap();
    let clear = cap.fields("icmp", &["ip.src"]).unwrap();
    // 40 packets each way; the capture may miss the first while starting.
    assert!(esp.len() >= 20, "UDP-encapsulated ESP: {}", esp.len());
    assert!(clear.is_empty(), "cleartext ICMP on the WAN: {clear:?}");
    let sa = da.exec("show crypto ipsec sa");
    println!("siteA#show crypto ipsec sa\n{sa}");
    assert!(
        sa.contains("local  ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)")
            && sa.contains("remote ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)"),
        "{sa}"
    );
    assert!(num(&sa, "#pkts decaps:") >= 20, "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
    let sas = peer.list_sas().unwrap();
    println!("strongSwan:\n{sas}");
    assert!(
        sas.contains("local  0.0.0.0/0") && sas.contains("remote 0.0.0.0/0"),
        "{sas}"
    );
    // strongSwan routes everything into its TUN except us.
    let r220 = t
        .gw_b
        .ip(&["route", "show", "table", "220"])
        .unwrap_or_default();
    println!("gwB table 220 (kernel-libipsec):\n{r220}");
    assert!(
        r220.contains("default dev ipsec0") && r220.contains("throw 198.51.100.2"),
        "{r220}"
    );
}

#[test]
fn lab_vti_strongswan_engine_initiates() {
    let Some(lab) = Lab::new("vti_swan_ours") else {
        return;
    };
    let t = &lab.topo;
    let peer = start_charon(t);
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &vti_site_a());
    // No traffic: the VTI comes up on its own.
    assert!(
        wait_line(&da, 0, true, Duration::from_secs(60)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("203.0.113.2     198.51.100.2    QM_IDLE"),
        "we initiated: {isa}"
    );
    check_strongswan(&lab, &da, &peer);
    da.stop();
    assert_clean(&t.gw_a);
}

#[test]
fn lab_vti_strongswan_initiates() {
    let Some(lab) = Lab::new("vti_swan_theirs") else {
        return;
    };
    let t = &lab.topo;
    // Our Main Mode first messages (responder cookie zero) never reach strongSwan, so only its
    // own initiation can make the tunnel.
    lab.rtr_nft(
        "table ip vtiblk {\n chain cut {\n  type filter hook forward priority 0;\n  \
         ip saddr 198.51.100.2 udp dport 500 @th,128,64 0 drop\n }\n}\n",
    );
    let peer = start_charon(t);
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &vti_site_a());
    assert!(!line_up(&da, 0));
    peer.initiate("vti").unwrap();
    assert!(
        wait_line(&da, 0, true, Duration::from_secs(60)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "strongSwan initiated: {isa}"
    );
    check_strongswan(&lab, &da, &peer);
    da.stop();
    assert_clean(&t.gw_a);
}

/// bird on one side of Tunnel0: eBGP to the other end's tunnel address, announcing `announce`
/// (blackhole statics: what matters is what the neighbour learns) and writing what it learns
/// by BGP into the main table.
fn bgp_conf(id: &str, asn: u32, neighbor: &str, peer_as: u32, announce: &[&str]) -> String {
    let routes: String = announce
        .iter()
        .map(|r| format!("    route {r} blackhole;\n"))
        .collect();
    format!(
        r#"router id {id};
protocol device {{ scan time 1; }}
protocol kernel kern {{
    scan time 1;
    ipv4 {{ import none; export filter {{ if source = RTS_BGP then accept; reject; }}; }};
}}
protocol static own {{
    ipv4;
{routes}}}
protocol bgp vti {{
    local as {asn};
    neighbor {neighbor} as {peer_as};
    hold time 9;
    keepalive time 3;
    connect retry time 2;
    ipv4 {{ import all; export where source = RTS_STATIC; }};
}}
"#
    )
}

/// BGP over Tunnel0 between two engines. gwB announces its LAN, 0.0.0.0/0 and its own WAN
/// address as a /32: the kernel of gwA then routes the peer itself into the tunnel, and only
/// the underlay table keeps IKE and ESP out of it. With a 120 s IPsec lifetime and DPD every
/// 10 s, the tunnel is rekeyed while traffic flows and the BGP session stays established.
#[test]
fn lab_vti_bird_bgp_over_the_tunnel_survives_rekey_and_dpd() {
    let Some(lab) = Lab::new("vti_bgp") else {
        return;
    };
    let t = &lab.topo;
    let site = |host: &str, wan: &str, lan: &str, remote: &str, peer: &str, tun: &str| {
        router(
            host,
            wan,
            lan,
            remote,
            &[Vti {
                source: "GigabitEthernet0/0",
                dst: peer,
                addr: tun,
                route: None,
            }],
            "crypto isakmp keepalive 10 3 periodic\n",
            " set security-association lifetime seconds 120\n",
        )
    };
    let a = site(
        "siteA",
        addr::GW_A_WAN,
        addr::GW_A_LAN,
        "10.2.2",
        addr::GW_B_WAN,
        "169.254.0.1",
    );
    let b = site(
        "siteB",
        addr::GW_B_WAN,
        addr::GW_B_LAN,
        "10.1.1",
        addr::GW_A_WAN,
        "169.254.0.2",
    );
    let (da, db) = lab.engines(&a, &b);
    let Some(bird_a) = Bird::start(
        &t.gw_a,
        lab.dir.path(),
        "birdA",
        &bgp_conf(
            "198.51.100.2",
            65001,
            "169.254.0.2",
            65002,
            &["10.1.1.0/24"],
        ),
    ) else {
        return;
    };
    let Some(bird_b) = Bird::start(
        &t.gw_b,
        lab.dir.path(),
        "birdB",
        &bgp_conf(
            "203.0.113.2",
            65002,
            "169.254.0.1",
            65001,
            &["10.2.2.0/24", "0.0.0.0/0", "203.0.113.2/32"],
        ),
    ) else {
        return;
    };
    assert!(
        wait_until(Duration::from_secs(90), || bird_a
            .birdc("show protocols vti")
            .contains("Established")),
        "{}\n{}\n{}",
        bird_a.birdc("show protocols all vti"),
        da.state(),
        bird_a.log()
    );
    assert!(
        wait_until(Duration::from_secs(20), || routes_to(
            &t.gw_a,
            "10.2.2.0/24"
        )
        .contains("dev Tunnel0")
            && routes_to(&t.gw_b, "10.1.1.0/24").contains("dev Tunnel0")),
        "{}\n{}",
        bird_a.routes(),
        bird_b.routes()
    );
    let learned = bird_a.birdc("show route 10.2.2.0/24 all");
    println!("birdA> show route 10.2.2.0/24 all\n{learned}");
    assert!(learned.contains("BGP.as_path: 65002"), "{learned}");
    let host32 = routes_to(&t.gw_a, "203.0.113.2/32");
    assert!(
        wait_until(Duration::from_secs(10), || routes_to(
            &t.gw_a,
            "203.0.113.2/32"
        )
        .contains("dev Tunnel0")),
        "{host32}\n{}",
        bird_a.routes()
    );
    let main = t.gw_a.ip(&["route", "show"]).unwrap_or_default();
    println!("gwA main table with BGP routes:\n{main}");
    assert!(
        main.contains("default via 169.254.0.2 dev Tunnel0 proto bird"),
        "{main}"
    );
    // The peer itself is routed into the tunnel, except for the engine's own packets.
    assert!(route_get(&t.gw_a, addr::GW_B_WAN, false).contains("dev Tunnel0"));
    let under = route_get(&t.gw_a, addr::GW_B_WAN, true);
    assert!(under.contains("via 198.51.100.1 dev wan"), "{under}");

    let spi_of = |d: &Daemon| {
        let sa = d.exec("show crypto ipsec sa");
        sa.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("current outbound spi: ")
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let first_spi = spi_of(&da);
    let isa_before = da.exec("show crypto isakmp sa");
    let since = |b: &Bird| {
        b.birdc("show protocols vti")
            .lines()
            .find(|l| l.starts_with("vti"))
            .map(|l| l.split_whitespace().nth(4).unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let est_since = since(&bird_a);
    // Pings across the LANs through two rekeys (soft lifetime before 120 s) and many DPD
    // exchanges.
    let mut sent = 0;
    let mut got = 0;
    let spis = std::cell::RefCell::new(vec![first_spi.clone()]);
    wait_until(Duration::from_secs(260), || {
        sent += 10;
        got += ping(&t.host_a, addr::HOST_B, 10);
        let s = spi_of(&da);
        if !s.is_empty() && !spis.borrow().contains(&s) {
            spis.borrow_mut().push(s);
        }
        spis.borrow().len() >= 3
    });
    let spis = spis.into_inner();
    println!("outbound SPIs seen on siteA: {spis:?}; pings {got}/{sent} across the rekeys");
    assert!(spis.len() >= 3, "two rekeys: {spis:?}\n{}", da.state());
    assert!(
        got * 100 >= sent * 98,
        "pings {got}/{sent}\n{}\n{}",
        da.state(),
        db.state()
    );
    let isa = da.exec("show crypto isakmp sa");
    assert!(isa.contains("QM_IDLE"), "{isa}");
    // DPD never declared the peer dead: the same ISAKMP SA (conn-id) all along.
    let conn = |s: &str| {
        s.lines()
            .find(|l| l.contains("QM_IDLE"))
            .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
    };
    assert_eq!(conn(&isa), conn(&isa_before), "{isa_before}\n{isa}");
    assert!(
        bird_a.birdc("show protocols vti").contains("Established"),
        "{}",
        bird_a.birdc("show protocols all vti")
    );
    // bird prints the moment of the last state change by converting its monotonic clock to
    // the wall clock at each call, so the same moment can shift by a millisecond between two
    // calls; a flap would have re-established the session minutes after `est_since`.
    let ms = |t: &str| -> Option<i64> {
        let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
        let mut v = 0i64;
        for part in hms.split(':') {
            v = v * 60 + part.parse::<i64>().ok()?;
        }
        Some(v * 1000 + frac.parse::<i64>().ok()?)
    };
    let now_since = since(&bird_a);
    let (a, b) = (ms(&est_since), ms(&now_since));
    assert!(
        matches!((a, b), (Some(a), Some(b)) if (a - b).abs() < 1000),
        "BGP session flapped: established {est_since}, now since {now_since}"
    );
    assert!(
        !da.stderr().contains("changed state to down"),
        "Tunnel0 went down: {}",
        da.stderr()
    );
    println!(
        "siteA#show interfaces Tunnel0\n{}",
        da.exec("show interfaces Tunnel0")
    );

    // The control: without the underlay rule the engine's own packets to 203.0.113.2 follow
    // a /32 into Tunnel0 and loop there. (A static route stands for bird's: bird's own goes
    // when its BGP hold timer fires, which here comes before DPD.) siteB hears nothing more
    // from siteA, its DPD declares siteA dead, its Tunnel0 goes down.
    let rule = ["fwmark", "0x1e5/0x1e5", "lookup", "486", "pref", "10484"];
    let mut del = vec!["rule", "del"];
    del.extend(rule);
    t.gw_a.ip(&del).unwrap();
    t.gw_a
        .ip(&[
            "route",
            "add",
            "203.0.113.2/32",
            "dev",
            "Tunnel0",
            "metric",
            "1",
        ])
        .unwrap();
    assert_eq!(
        ping(&t.host_a, addr::HOST_B, 3),
        0,
        "ESP looped into the tunnel"
    );
    assert!(
        wait_until(Duration::from_secs(120), || db
            .stderr()
            .contains("Tunnel0, changed state to down")),
        "without the underlay the tunnel stayed up: {}\n{}",
        db.state(),
        db.stderr()
    );
    t.gw_a
        .ip(&[
            "route",
            "del",
            "203.0.113.2/32",
            "dev",
            "Tunnel0",
            "metric",
            "1",
        ])
        .unwrap();
    let mut add = vec!["rule", "add"];
    add.extend(rule);
    t.gw_a.ip(&add).unwrap();
    drop(bird_a);
    drop(bird_b);
    for d in [da, db] {
        d.stop();
    }
    assert_clean(&t.gw_a);
}

/// One engine, two VTIs to two peers on two different hosts (gwB, and gwC added behind rtr),
/// both from GigabitEthernet0/0: each LAN through its own tunnel, two ISAKMP SAs.
#[test]
fn lab_vti_one_engine_two_peers() {
    let Some(lab) = Lab::new("vti_peers") else {
        return;
    };
    let t = &lab.topo;
    const GW_C_WAN: &str = "192.0.2.2";
    let gw_c = Netns::new("vti_peers", "gwC").unwrap();
    gw_c.router_defaults().unwrap();
    ipsec_netlab::veth(&t.rtr, "ethC", "192.0.2.1/24", &gw_c, "wan", "192.0.2.2/24").unwrap();
    gw_c.route("default", "192.0.2.1").unwrap();
    // gwC's LAN is one end of a veth pair of its own (the lab kernel has no dummy devices):
    // its address answers for the network behind it.
    gw_c.ip(&["link", "add", "lan", "type", "veth", "peer", "name", "lanp"])
        .unwrap();
    gw_c.ip(&["addr", "add", "10.3.3.1/24", "dev", "lan"])
        .unwrap();
    gw_c.ip(&["link", "set", "lanp", "up"]).unwrap();
    gw_c.ip(&["link", "set", "lan", "up"]).unwrap();

    let tun = |source: &'static str, dst: &'static str, addr: &'static str| Vti {
        source,
        dst,
        addr,
        route: None,
    };
    let mut a = router(
        "siteA",
        addr::GW_A_WAN,
        addr::GW_A_LAN,
        "10.2.2",
        &[
            tun("GigabitEthernet0/0", addr::GW_B_WAN, "169.254.0.1"),
            tun("GigabitEthernet0/0", GW_C_WAN, "169.254.0.9"),
        ],
        "",
        "",
    );
    a.push_str(
        "ip route 10.2.2.0 255.255.255.0 Tunnel0\nip route 10.3.3.0 255.255.255.0 Tunnel1\n",
    );
    let peer_of_a = |host: &str, wan: &str, lan: &str, tun_addr: &'static str| {
        router(
            host,
            wan,
            lan,
            "10.1.1",
            &[Vti {
                source: "GigabitEthernet0/0",
                dst: addr::GW_A_WAN,
                addr: tun_addr,
                route: Some(None),
            }],
            "",
            "",
        )
    };
    let b = peer_of_a("siteB", addr::GW_B_WAN, addr::GW_B_LAN, "169.254.0.2");
    let c = peer_of_a("siteC", GW_C_WAN, "10.3.3.1", "169.254.0.10");
    let (da, db) = lab.engines(&a, &b);
    let dc = Daemon::start(&gw_c, lab.dir.path(), "siteC", &c);
    for (d, n) in [(&da, 0), (&da, 1), (&db, 0), (&dc, 0)] {
        assert!(
            wait_line(d, n, true, Duration::from_secs(60)),
            "{} Tunnel{n}\n{}",
            d.name,
            d.state()
        );
    }
    // siteA's Tunnel0 goes to siteB's Tunnel0, its Tunnel1 to siteC's Tunnel0.
    assert!(wait_settled(&da, &db, 0), "{}\n{}", da.state(), db.state());
    assert!(
        wait_settled_between(&da, 1, &dc, 0),
        "{}\n{}",
        da.state(),
        dc.state()
    );
    let mut cap = Capture::start(&t.gw_a, "wan", "").unwrap();
    let to_b = ping_whole(&t.host_a, addr::HOST_B, 5);
    let to_c = ping_whole(&t.host_a, "10.3.3.1", 5);
    cap.stop();
    assert_eq!((to_b, to_c), (5, 5), "{}", da.state());
    let dsts = cap
        .fields("esp && ip.src == 198.51.100.2", &["ip.dst"])
        .unwrap();
    for peer in [addr::GW_B_WAN, GW_C_WAN] {
        assert!(
            dsts.iter().any(|f| f.first().is_some_and(|d| d == peer)),
            "ESP to {peer}: {dsts:?}"
        );
    }
    assert!(cap.fields("icmp", &["ip.src"]).unwrap().is_empty());
    let isa = da.exec("show crypto isakmp sa");
    println!("siteA#show crypto isakmp sa\n{isa}");
    // Both ends of each tunnel initiate at start, so each peer may have two ISAKMP SAs (one
    // per direction of Main Mode); what matters is an SA with each peer.
    for peer in [addr::GW_B_WAN, GW_C_WAN] {
        assert!(
            isa.lines()
                .any(|l| l.contains(peer) && l.contains("QM_IDLE")),
            "{isa}"
        );
    }
    let brief = da.exec("show ip interface brief");
    println!("siteA#show ip interface brief\n{brief}");
    for row in [
        "Tunnel0                    169.254.0.1     YES manual up                    up",
        "Tunnel1                    169.254.0.9     YES manual up                    up",
    ] {
        assert!(brief.contains(row), "{row:?} in\n{brief}");
    }
    let c1 = da.exec("show crypto ipsec sa interface Tunnel1");
    assert!(c1.contains("current_peer 192.0.2.2"), "{c1}");
    assert!(!c1.contains("203.0.113.2"), "only Tunnel1's SAs: {c1}");
    for d in [da, db, dc] {
        d.stop();
    }
    assert_clean(&t.gw_a);
}
