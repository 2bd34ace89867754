//! `ip address dhcp` on the crypto interface, followed when the host renumbers it: gwA runs our
//! engine with FastEthernet4 as `ip address dhcp`, mapped to the `wan` device; gwB runs
//! strongSwan 5.9.8 answering any address (`remote_addrs = %any`, PSK for any identity).
//! The engine initiates from 198.51.100.2; then `wan` loses that address and gets .3 (as a
//! new DHCP lease would): the engine logs the change, clears its SAs, rebinds its sockets and
//! the next packets negotiate a new SA from .3. An address loss with nothing in its place
//! leaves the engine idle and answering commands; the next address brings traffic back.
//! A `reload` after the change keeps the SA (the followed address is not start-up plumbing).

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::Duration;

const NEW: &str = "198.51.100.3";
const THIRD: &str = "198.51.100.4";

/// Moves gwA's WAN address from `old` to `new` (and the default route with it, which the
/// kernel drops with the old address's subnet).
fn renumber(lab: &Lab, old: &str, new: Option<&str>) {
    let gw = &lab.topo.gw_a;
    gw.ip(&["addr", "del", &format!("{old}/24"), "dev", "wan"])
        .unwrap();
    if let Some(n) = new {
        gw.ip(&["addr", "add", &format!("{n}/24"), "dev", "wan"])
            .unwrap();
        gw.ip(&["route", "replace", "default", "via", addr::RTR_A])
            .unwrap();
    }
}

/// Waits for the engine's log line saying it moved to `to`.
fn logged_change(da: &Daemon, to: &str) -> bool {
    let needle = format!("to {to}: ");
    wait_until(Duration::from_secs(20), || {
        da.stderr()
            .lines()
            .any(|l| l.contains("%CRYPTO-6-LOCAL_ADDRESS_CHANGE") && l.contains(&needle))
    })
}

/// Traffic both ways through an SA from `local`, shown by both sides.
fn up_from(lab: &Lab, da: &Daemon, peer: &Charon, local: &str) {
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}\n{}",
        da.state(),
        da.stderr(),
        peer.log()
    );
    assert_eq!(ping(&t.host_b, addr::HOST_A, 5), 5, "{}", da.state());
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains(&format!("203.0.113.2     {local:<16}QM_IDLE")),
        "{isa}"
    );
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains(&format!("local addr {local}")), "{sa}");
    assert!(
        sa.contains(&format!(
            "local crypto endpt.: {local}, remote crypto endpt.: 203.0.113.2"
        )),
        "{sa}"
    );
    assert!(num(&sa, "#pkts decaps:") >= 5, "{sa}");
    let map = da.exec("show crypto map");
    assert!(
        map.contains(&format!(
            "Crypto Map: \"VPN\" idb: FastEthernet4 local address: {local}\n"
        )),
        "{map}"
    );
    let brief = da.exec("show ip interface brief");
    let wan = brief
        .lines()
        .find(|l| l.starts_with("FastEthernet4"))
        .unwrap_or_else(|| panic!("{brief}"));
    assert!(wan.contains(local), "{brief}");
    let sas = peer.list_sas().unwrap();
    assert!(sas.contains(local) && sas.contains("INSTALLED"), "{sas}");
}

#[test]
fn lab_dhcp_follows_the_wan_address() {
    let Some(lab) = Lab::new("dhcp") else {
        return;
    };
    let conn = CharonConn::new("siteA", "lans")
        .local(addr::GW_B_WAN)
        .remote_id("%any")
        .psk("ciscokey")
        .ts(addr::LAN_B, addr::LAN_A);
    let peer = Charon::start(&lab.topo.gw_b, &[conn]).unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN).replace(
        " ip address 198.51.100.2 255.255.255.0\n",
        " ip address dhcp\n",
    );
    assert!(config.contains(" ip address dhcp\n"), "{config}");
    let da = Daemon::start_with(
        lab.topo.gw_a.name(),
        lab.dir.path(),
        "siteA",
        &config,
        &["--map-interface", "FastEthernet4=wan"],
    );
    up_from(&lab, &da, &peer, addr::GW_A_WAN);

    renumber(&lab, addr::GW_A_WAN, Some(NEW));
    assert!(logged_change(&da, NEW), "{}", da.stderr());
    up_from(&lab, &da, &peer, NEW);
    // A reload is no address change: the SA from the new address stays.
    let r = da.exec("reload");
    assert!(r.contains("SAs kept for VPN 10; cleared for none"), "{r}");
    assert_eq!(ping(&lab.topo.host_a, addr::HOST_B, 3), 3, "{}", da.state());

    // Lost: idle, not dead.
    renumber(&lab, NEW, None);
    assert!(logged_change(&da, "none"), "{}", da.stderr());
    let isa = da.exec("show crypto isakmp sa");
    assert!(!isa.contains("QM_IDLE"), "cleared: {isa}");
    assert_eq!(ping(&lab.topo.host_a, addr::HOST_B, 2), 0);
    // And back on yet another address.
    let gw = &lab.topo.gw_a;
    gw.ip(&["addr", "add", &format!("{THIRD}/24"), "dev", "wan"])
        .unwrap();
    gw.ip(&["route", "replace", "default", "via", addr::RTR_A])
        .unwrap();
    assert!(logged_change(&da, THIRD), "{}", da.stderr());
    up_from(&lab, &da, &peer, THIRD);
    println!("{}\n{}", da.state(), da.stderr());
    da.stop();
}
