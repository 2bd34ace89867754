//! Our Easy VPN remote carrying its inside LAN to a real server (strongSwan 5.9.8 in gwB,
//! `xauth-generic`, `unity`, `attr`), the two ways IOS remotes do it:
//!
//! - `mode client` with `xauth userid mode interactive`: the remote waits at XAUTH
//!   (`XAUTH_PROMPT`) until `crypto ipsec client ezvpn xauth` gives the credentials; then host
//!   A, on the inside LAN, reaches host B through PAT to the one assigned address
//!   (`show ip nat translations` lists it, strongSwan sees only the address);
//! - `mode network-extension`: no address is asked for, LAN A itself is the Quick Mode proxy
//!   and host A reaches host B as it is.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::Duration;

const GROUP_KEY: &str = "Pw3!sH8@kL1#nV5$tG9c";
const PASSWORD: &str = "l00king-Gl4ss";
const POOL: &str = "10.98.0.16/28";

/// Our remote in gwA: WAN with the profile, LAN A as its inside interface; `mode` and the
/// XAUTH lines vary.
fn remote(mode: &str, xauth: &str) -> String {
    format!(
        "hostname ezremote\n\
         interface FastEthernet4\n ip address {wan} 255.255.255.0\n crypto ipsec client ezvpn EZ\n\
         interface Vlan1\n ip address {lan} 255.255.255.0\n crypto ipsec client ezvpn EZ inside\n\
         ip route 0.0.0.0 0.0.0.0 {rtr}\n\
         crypto ipsec client ezvpn EZ\n connect auto\n group vpngroup key {GROUP_KEY}\n mode {mode}\n\
         \x20peer {server}\n{xauth}",
        wan = addr::GW_A_WAN,
        lan = addr::GW_A_LAN,
        rtr = addr::RTR_A,
        server = addr::GW_B_WAN,
    )
}

/// strongSwan's side; `remote_ts` is what it lets the client propose (`dynamic`: its
/// virtual IP only).
fn server(remote_ts: &str) -> CharonConn {
    CharonConn::new("ezserver", "ez")
        .local(addr::GW_B_WAN)
        .local_id(addr::GW_B_WAN)
        .remote_id("keyid:vpngroup")
        .psk(GROUP_KEY)
        .aggressive(true)
        .xauth_server("alice", PASSWORD)
        .proposals("aes256-sha1-modp1024,aes128-sha1-modp1024,3des-sha1-modp1024")
        .esp_proposals("aes256-sha1,aes128-sha1,3des-sha1")
        .ts("0.0.0.0/0", remote_ts)
        .pool(POOL, &[("split_include", addr::LAN_B)])
}

fn wait_state(da: &Daemon, state: &str, timeout: Duration) -> Option<String> {
    let mut last = String::new();
    let want = format!("Current State: {state}");
    let up = wait_until(timeout, || {
        last = da.exec("show crypto ipsec client ezvpn");
        last.contains(&want)
    });
    up.then_some(last)
}

/// Pings from host A to host B; a second round when one echo of the first was lost under
/// load (the counts stay exact).
fn host_a_reaches_host_b(lab: &Lab, n: u32) -> u32 {
    let got = ping(&lab.topo.host_a, addr::HOST_B, n);
    if got + 1 == n {
        return ping(&lab.topo.host_a, addr::HOST_B, n);
    }
    got
}

#[test]
fn lab_ezvpn_mode_client_asks_for_credentials_and_hides_lan_a_behind_its_address() {
    let Some(lab) = Lab::new("ezlanpat") else {
        return;
    };
    let peer =
        Charon::start_with(&lab.topo.gw_b, &[server("dynamic")], &ezvpn_server_load()).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(
        &lab.topo.gw_a,
        lab.dir.path(),
        "ezremote",
        &remote("client", " xauth userid mode interactive\n"),
    );
    let tap = da.debug();
    let Some(prompt) = wait_state(&da, "XAUTH_PROMPT", Duration::from_secs(20)) else {
        panic!(
            "{}\n{}\n{}",
            da.exec("show crypto ipsec client ezvpn"),
            tap.text(),
            peer.log()
        );
    };
    assert_eq!(
        show_field(&prompt, "Last Event:"),
        Some("XAUTH_REQUEST"),
        "{prompt}"
    );
    // A wrong profile name is refused; the right one answers the pending request.
    let e = da
        .try_exec(&format!(
            "crypto ipsec client ezvpn xauth NOPE username alice password {PASSWORD}"
        ))
        .unwrap_err();
    assert!(e.contains("No Easy VPN profile NOPE"), "{e}");
    da.exec(&format!(
        "crypto ipsec client ezvpn xauth EZ username alice password {PASSWORD}"
    ));
    let Some(show) = wait_state(&da, "IPSEC_ACTIVE", Duration::from_secs(20)) else {
        panic!(
            "{}\n{}\n{}",
            da.exec("show crypto ipsec client ezvpn"),
            tap.text(),
            peer.log()
        );
    };
    let address = show_field(&show, "Address:")
        .unwrap_or_default()
        .to_string();
    let a: std::net::Ipv4Addr = address.parse().unwrap_or_else(|_| panic!("{show}"));
    assert_eq!(a.octets()[..3], [10, 98, 0], "{show}");

    let n = host_a_reaches_host_b(&lab, 10);
    assert_eq!(
        n,
        10,
        "{}\n{}\n{}",
        da.state(),
        da.exec("show ip nat translations"),
        peer.list_sas().unwrap_or_default()
    );
    let nat = da.exec("show ip nat translations");
    assert!(
        nat.lines().any(|l| l.starts_with("icmp")
            && l.contains(&format!("{a}:"))
            && l.contains(addr::HOST_A)),
        "{nat}"
    );
    // strongSwan negotiated the assigned address only: LAN A never appears there.
    let sas = peer.list_sas().unwrap_or_default();
    assert!(sas.contains(&format!("{a}/32")), "{sas}");
    assert!(!sas.contains(addr::LAN_A), "{sas}");
    println!("{show}\n{nat}");
    da.stop();
}

#[test]
fn lab_ezvpn_network_extension_carries_lan_a_as_it_is() {
    let Some(lab) = Lab::new("ezlannem") else {
        return;
    };
    let peer =
        Charon::start_with(&lab.topo.gw_b, &[server(addr::LAN_A)], &ezvpn_server_load()).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(
        &lab.topo.gw_a,
        lab.dir.path(),
        "ezremote",
        &remote(
            "network-extension",
            &format!(" username alice password 0 {PASSWORD}\n"),
        ),
    );
    let tap = da.debug();
    let Some(show) = wait_state(&da, "IPSEC_ACTIVE", Duration::from_secs(20)) else {
        panic!(
            "{}\n{}\n{}\n{}",
            da.exec("show crypto ipsec client ezvpn"),
            da.exec("diagnose"),
            tap.text(),
            peer.log()
        );
    };
    assert_eq!(
        show_field(&show, "Address:"),
        None,
        "no address in NEM:\n{show}"
    );
    // strongSwan hands pool attributes (the split network among them) only with a virtual
    // IP, so a network-extension client gets no split list: everything goes to the tunnel.
    assert_eq!(show_field(&show, "Split Tunnel List:"), None, "{show}");
    // Full tunnel: two halves that beat the host's default route, the server pinned to the
    // underlay so that IKE and ESP do not follow them.
    let routes = lab
        .topo
        .gw_a
        .ip(&["-4", "route", "show"])
        .unwrap_or_default();
    for half in ["0.0.0.0/1 dev", "128.0.0.0/1 dev"] {
        assert!(
            routes.lines().any(|l| l.starts_with(half)),
            "{half}:\n{routes}"
        );
    }
    assert!(
        routes.contains("default via"),
        "the default route stays:\n{routes}"
    );
    let n = host_a_reaches_host_b(&lab, 10);
    assert_eq!(
        n,
        10,
        "{}\n{}",
        da.state(),
        peer.list_sas().unwrap_or_default()
    );
    let sas = peer.list_sas().unwrap_or_default();
    assert!(sas.contains(addr::LAN_A), "LAN A is the proxy:\n{sas}");
    assert!(!sas.contains("10.98.0."), "no pool address:\n{sas}");
    assert_eq!(da.exec("show ip nat translations"), "");
    let ipsec = da.exec("show crypto ipsec sa");
    assert!(ipsec.contains("(10.1.1.0/255.255.255.0/0/0)"), "{ipsec}");
    println!("{show}\n{ipsec}");
    da.stop();
}
