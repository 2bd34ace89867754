//! Our engine as an Easy VPN remote (`crypto ipsec client ezvpn`) against a real server:
//! strongSwan 5.9.8 in gwB with `xauth-generic`, `unity` and `attr`, answering Aggressive Mode
//! with a group name (`keyid:vpngroup`), running XAUTH, and handing out an address from a pool
//! with a DNS server and a Unity split network (LAN B).
//!
//! - `connect auto`: the engine connects at start, with no traffic to trigger it;
//! - `show crypto ipsec client ezvpn` shows IPSEC_ACTIVE, the address, DNS, domain and the
//!   split network; the address is on the engine's TUN and LAN B is routed into it;
//! - pings from the assigned address to host B pass;
//! - when strongSwan ends the connection, the address and route go, and the client connects
//!   again by itself.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::Duration;

const GROUP_KEY: &str = "Pw3!sH8@kL1#nV5$tG9c";
const PASSWORD: &str = "l00king-Gl4ss";
const POOL: &str = "10.98.0.16/28";

/// Our remote in gwA: WAN with the profile, LAN as its inside interface.
fn remote() -> String {
    format!(
        "hostname ezremote\n\
         interface FastEthernet4\n ip address {wan} 255.255.255.0\n crypto ipsec client ezvpn EZ\n\
         interface Vlan1\n ip address {lan} 255.255.255.0\n crypto ipsec client ezvpn EZ inside\n\
         ip route 0.0.0.0 0.0.0.0 {rtr}\n\
         crypto ipsec client ezvpn EZ\n connect auto\n group vpngroup key {GROUP_KEY}\n mode client\n\
         \x20peer {server}\n username alice password 0 {PASSWORD}\n",
        wan = addr::GW_A_WAN,
        lan = addr::GW_A_LAN,
        rtr = addr::RTR_A,
        server = addr::GW_B_WAN,
    )
}

/// strongSwan's side: every client of the group, XAUTH for alice, the pool with DNS, domain
/// and LAN B as the Unity split network.
fn server() -> CharonConn {
    CharonConn::new("ezserver", "ez")
        .local(addr::GW_B_WAN)
        .local_id(addr::GW_B_WAN)
        .remote_id("keyid:vpngroup")
        .psk(GROUP_KEY)
        .aggressive(true)
        .xauth_server("alice", PASSWORD)
        .proposals("aes256-sha1-modp1024,aes128-sha1-modp1024,3des-sha1-modp1024")
        .esp_proposals("aes256-sha1,aes128-sha1,3des-sha1")
        .ts("0.0.0.0/0", "dynamic")
        .pool(
            POOL,
            &[("dns", "10.2.2.53"), ("split_include", addr::LAN_B)],
        )
}

fn wait_active(da: &Daemon, timeout: Duration) -> Option<String> {
    let mut last = String::new();
    let up = wait_until(timeout, || {
        last = da.exec("show crypto ipsec client ezvpn");
        last.contains("Current State: IPSEC_ACTIVE")
    });
    up.then_some(last)
}

#[test]
fn lab_ezvpn_remote_connects_to_strongswan_and_carries_split_traffic() {
    let Some(lab) = Lab::new("ezvpn") else {
        return;
    };
    let peer = Charon::start_with(&lab.topo.gw_b, &[server()], &ezvpn_server_load()).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "ezremote", &remote());
    let tap = da.debug();
    // No traffic is sent: `connect auto` brings it up on its own.
    let Some(show) = wait_active(&da, Duration::from_secs(20)) else {
        panic!(
            "{}\n{}\n{}\n{}",
            da.exec("show crypto ipsec client ezvpn"),
            da.exec("diagnose"),
            tap.text(),
            peer.log()
        );
    };
    let address = show_field(&show, "Address:")
        .unwrap_or_default()
        .to_string();
    let a: std::net::Ipv4Addr = address.parse().unwrap_or_else(|_| panic!("{show}"));
    assert!(
        (16..32).contains(&a.octets()[3]) && a.octets()[..3] == [10, 98, 0],
        "{a} not from {POOL}:\n{show}"
    );
    assert_eq!(
        show_field(&show, "DNS Primary:"),
        Some("10.2.2.53"),
        "{show}"
    );
    assert!(show.contains("Split Tunnel List: 1"), "{show}");
    assert_eq!(
        show_field(&show, "Address    :"),
        Some("10.2.2.0"),
        "{show}"
    );
    assert_eq!(
        show_field(&show, "Current EzVPN Peer:"),
        Some(addr::GW_B_WAN)
    );
    assert_eq!(
        show_field(&show, "Outside interface:"),
        Some("FastEthernet4")
    );
    assert_eq!(show_field(&show, "Inside interface list:"), Some("Vlan1"));
    let log = peer.log();
    assert!(
        log.contains("XAuth authentication of 'alice' successful")
            || log.contains("XAuth authentication of 'alice' (myself) successful")
            || log.contains("authentication of 'alice'"),
        "strongSwan did not authenticate alice:\n{log}"
    );
    // The address is on the engine's TUN and LAN B is routed there.
    let ip_addr = lab
        .topo
        .gw_a
        .ip(&["-4", "-o", "addr", "show"])
        .unwrap_or_default();
    assert!(ip_addr.contains(&format!("{a}/32")), "{ip_addr}");
    let route = lab
        .topo
        .gw_a
        .ip(&["-4", "route", "get", addr::HOST_B])
        .unwrap_or_default();
    assert!(
        !route.contains(" dev wan"),
        "LAN B not routed into the tunnel: {route}"
    );

    let n = ping_from(&lab.topo.gw_a, &address, addr::HOST_B, 10);
    assert_eq!(
        n,
        10,
        "{}\n{}",
        da.state(),
        peer.list_sas().unwrap_or_default()
    );
    let ipsec = da.exec("show crypto ipsec sa");
    assert!(num(&ipsec, "#pkts encaps:") >= 10, "{ipsec}");
    // The Quick Mode proposed the assigned address as our side (strongSwan's view of it).
    let sas = peer.list_sas().unwrap_or_default();
    assert!(sas.contains(&format!("{a}/32")), "{sas}");
    println!("{show}\n{ipsec}");

    // The server ends it: the client drops the address and route, then connects again.
    peer.terminate_ike("ezserver").unwrap();
    let dropped = wait_until(Duration::from_secs(10), || {
        !da.exec("show crypto ipsec client ezvpn")
            .contains("Current State: IPSEC_ACTIVE")
    });
    assert!(dropped, "{}", da.exec("show crypto ipsec client ezvpn"));
    let again = wait_active(&da, Duration::from_secs(30));
    assert!(
        again.is_some(),
        "{}\n{}",
        da.exec("show crypto ipsec client ezvpn"),
        tap.text()
    );
    da.stop();
}

/// `connect manual`: nothing is sent until `crypto ipsec client ezvpn connect EZ`.
#[test]
fn lab_ezvpn_connect_manual_waits_for_the_connect_command() {
    let Some(lab) = Lab::new("ezvpn_manual") else {
        return;
    };
    let peer = Charon::start_with(&lab.topo.gw_b, &[server()], &ezvpn_server_load()).unwrap();
    peer.load_all().unwrap();
    let config = remote().replace(" connect auto\n", " connect manual\n");
    assert!(config.contains("connect manual"), "{config}");
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "ezremote", &config);
    std::thread::sleep(Duration::from_secs(3));
    let show = da.exec("show crypto ipsec client ezvpn");
    assert!(show.contains("Current State: CONNECT_REQUIRED"), "{show}");
    assert!(!da.exec("show crypto isakmp sa").contains("QM_IDLE"));
    assert!(!peer.log().contains("received packet"), "{}", peer.log());
    let r = da.exec("crypto ipsec client ezvpn connect EZ");
    assert!(r.trim().is_empty(), "{r}");
    assert!(
        wait_active(&da, Duration::from_secs(20)).is_some(),
        "{}",
        da.exec("show crypto ipsec client ezvpn")
    );
    let r = da.try_exec("crypto ipsec client ezvpn connect NOPE");
    assert!(
        matches!(&r, Err(e) if e.contains("No Easy VPN profile NOPE")),
        "{r:?}"
    );
    da.stop();
}

/// `run --resolv-conf PATH` (a file in the scratch directory, never the host's): while the
/// connection is configured the file holds the server's DNS server and default domain; when
/// the server ends it, the previous content comes back; when the engine stops after the
/// reconnection, too.
#[test]
fn lab_ezvpn_resolv_conf_holds_the_pushed_dns_while_connected() {
    let Some(lab) = Lab::new("ezvpn_resolv") else {
        return;
    };
    // 28674: UNITY_DEF_DOMAIN, given to strongSwan's pool by number.
    let conn = server().pool(
        POOL,
        &[
            ("dns", "10.2.2.53"),
            ("split_include", addr::LAN_B),
            ("28674", "corp.example"),
        ],
    );
    let peer = Charon::start_with(&lab.topo.gw_b, &[conn], &ezvpn_server_load()).unwrap();
    peer.load_all().unwrap();
    let resolv = lab.dir.path().join("resolv.conf");
    let before = "# the host's own\nnameserver 192.0.2.1\n";
    std::fs::write(&resolv, before).unwrap();
    let path = resolv.to_str().unwrap().to_string();
    let da = Daemon::start_with(
        lab.topo.gw_a.name(),
        lab.dir.path(),
        "ezremote",
        &remote(),
        &["--resolv-conf", &path],
    );
    let read = || std::fs::read_to_string(&resolv).unwrap_or_default();
    let Some(show) = wait_active(&da, Duration::from_secs(20)) else {
        panic!(
            "{}\n{}",
            da.exec("show crypto ipsec client ezvpn"),
            peer.log()
        );
    };
    assert!(
        wait_until(Duration::from_secs(5), || read()
            .contains("nameserver 10.2.2.53\n")),
        "{}\n{show}",
        read()
    );
    let text = read();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        ["search corp.example", "nameserver 10.2.2.53"],
        "{text}\n{show}"
    );
    // Nothing but the file itself: the temporary file was renamed over it.
    let names: Vec<String> = std::fs::read_dir(lab.dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("resolv"))
        .collect();
    assert_eq!(names, ["resolv.conf"], "{names:?}");

    peer.terminate_ike("ezserver").unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || read() == before),
        "not restored when the connection went down:\n{}\n{}",
        read(),
        da.exec("show crypto ipsec client ezvpn")
    );
    assert!(
        wait_active(&da, Duration::from_secs(30)).is_some(),
        "{}",
        da.exec("show crypto ipsec client ezvpn")
    );
    assert!(
        wait_until(Duration::from_secs(5), || read()
            .contains("nameserver 10.2.2.53\n")),
        "{}",
        read()
    );
    println!("{text}");
    da.stop();
    assert_eq!(read(), before, "not restored when the engine stopped");
}
