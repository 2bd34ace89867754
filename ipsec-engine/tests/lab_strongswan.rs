//! siteA is our engine (cisco-ios.md A.8), gwB is strongSwan 5.9.8 (charon with kernel-libipsec)
//! with the seed suite: IKE 3des-sha1-modp1024, ESP 3des-sha1, PSK, proxy identities the two
//! LANs. strongSwan forces UDP encapsulation (it fakes a NAT), so the tunnel runs over 4500.
//! Once our engine initiates (on the first packet), once charon (`swanctl --initiate`).

mod common;

use common::*;
use ipsec_netlab::{addr, Charon};
use std::process::Command;
use std::time::Duration;

/// The lab with strongSwan loaded in gwB and our siteA daemon in gwA; `None` to skip.
fn start(tag: &str) -> Option<(Lab, Charon, Daemon)> {
    let lab = Lab::new(tag)?;
    let peer = Charon::start(&lab.topo.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(
        &lab.topo.gw_a,
        lab.dir.path(),
        "siteA",
        &site_a(addr::GW_B_WAN),
    );
    Some((lab, peer, da))
}

fn check_up(da: &Daemon, peer: &Charon, lab: &Lab) {
    let t = &lab.topo;
    let n = ping(&t.host_a, addr::HOST_B, 10);
    let m = ping(&t.host_b, addr::HOST_A, 10);
    let state = da.state();
    assert_eq!(
        n + m,
        20,
        "{state}\n{}",
        peer.list_sas().unwrap_or_default()
    );
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains("current_peer 203.0.113.2 port 4500"), "{sa}");
    assert!(
        sa.contains("in use settings ={Tunnel UDP-Encaps, }"),
        "{sa}"
    );
    assert!(num(&sa, "#pkts encaps:") >= 20, "{sa}");
    assert!(num(&sa, "#pkts decaps:") >= 20, "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
    let isa = da.exec("show crypto isakmp sa");
    assert!(isa.contains("QM_IDLE"), "{isa}");
    let sas = peer.list_sas().unwrap();
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    assert!(sas.contains("3DES_CBC/HMAC_SHA1_96"), "{sas}");
    println!("{state}\nstrongSwan:\n{sas}");
}

#[test]
fn lab_strongswan_engine_initiates_on_traffic() {
    let Some((lab, peer, da)) = start("swan_ours") else {
        return;
    };
    assert!(
        ping_until_up(&lab.topo.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    let isa = da.exec("show crypto isakmp sa");
    // We initiated: dst = strongSwan, src = us.
    assert!(
        isa.contains("203.0.113.2     198.51.100.2    QM_IDLE"),
        "{isa}"
    );
    check_up(&da, &peer, &lab);
    da.stop();
}

#[test]
fn lab_strongswan_charon_initiates() {
    let Some((lab, peer, da)) = start("swan_theirs") else {
        return;
    };
    let out = peer.initiate("lans");
    assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    let isa = da.exec("show crypto isakmp sa");
    // strongSwan initiated: dst = us, src = strongSwan.
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "{isa}"
    );
    let sa = da.exec("show crypto ipsec sa");
    assert_eq!(num(&sa, "#send errors"), 0, "nothing dropped: {sa}");
    check_up(&da, &peer, &lab);
    da.stop();
}

/// `current outbound spi: 0x...` of `show crypto ipsec sa`.
fn outbound_spi(da: &Daemon) -> String {
    let sa = da.exec("show crypto ipsec sa");
    sa.lines()
        .find_map(|l| l.trim().strip_prefix("current outbound spi: "))
        .unwrap_or_else(|| panic!("{sa}"))
        .to_string()
}

/// `reload` and SIGHUP against a live strongSwan tunnel: the same configuration keeps the SA
/// pair (no ping lost, same SPI, charon sees no new CHILD SA); a changed lifetime clears it
/// (charon gets our Delete) and the next packets negotiate anew; a change to the protected
/// networks is refused (it needs new TUN routes) and the tunnel stays up.
#[test]
fn lab_strongswan_reload_keeps_an_unchanged_tunnel_and_renegotiates_a_changed_one() {
    let Some((lab, peer, da)) = start("swan_reload") else {
        return;
    };
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let spi = outbound_spi(&da);
    let config = site_a(addr::GW_B_WAN);

    da.write_config(&format!("{config}! edited, same policy\n"));
    let r = da.exec("reload");
    assert!(r.contains("SAs kept for VPN 10; cleared for none"), "{r}");
    assert_eq!(ping(&t.host_a, addr::HOST_B, 10), 10, "{}", da.state());
    assert_eq!(outbound_spi(&da), spi, "the same SA pair carries on");
    let _ = Command::new("kill")
        .args(["-HUP", &da.pid().to_string()])
        .status();
    assert!(
        wait_until(Duration::from_secs(5), || da
            .stderr()
            .contains("SIGHUP: Configuration reloaded: SAs kept for VPN 10")),
        "{}",
        da.stderr()
    );
    assert_eq!(ping(&t.host_b, addr::HOST_A, 10), 10, "{}", da.state());
    assert_eq!(outbound_spi(&da), spi);

    let shorter = config.replace(
        " match address 100",
        " match address 100\n set security-association lifetime seconds 1800",
    );
    assert_ne!(shorter, config);
    da.write_config(&shorter);
    let r = da.exec("reload");
    assert!(r.contains("cleared for VPN 10"), "{r}");
    assert!(
        wait_until(Duration::from_secs(10), || !peer
            .list_sas()
            .unwrap_or_default()
            .contains("INSTALLED")),
        "charon still has the old CHILD SA after our Delete:\n{}",
        peer.list_sas().unwrap_or_default()
    );
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let renewed = outbound_spi(&da);
    assert_ne!(renewed, spi, "a new SA pair under the new policy");
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains("remaining key lifetime"), "{sa}");

    da.write_config(&shorter.replace("10.2.2.0", "10.9.9.0"));
    let r = da.try_exec("reload");
    let err = r.expect_err("a reload that needs new TUN routes is refused");
    assert!(err.contains("restart the engine"), "{err}");
    assert_eq!(ping(&t.host_a, addr::HOST_B, 5), 5, "{}", da.state());
    assert_eq!(
        outbound_spi(&da),
        renewed,
        "the refused reload changed nothing"
    );
    da.stop();
}

/// A hub answering through a dynamic crypto map with a wildcard key (printed as IOS 15 prints
/// it, `address 0.0.0.0` without a mask): strongSwan, which the configuration does not name,
/// initiates and the tunnel carries traffic both ways; `show crypto map` names the learned peer.
#[test]
fn lab_strongswan_initiates_to_a_dynamic_map_with_a_wildcard_key() {
    let Some(lab) = Lab::new("swan_dynamic") else {
        return;
    };
    let peer = Charon::start(&lab.topo.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN)
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            "crypto dynamic-map SPOKES 10\n set transform-set TRANSFORM\n match address 100\ncrypto map VPN 65535 ipsec-isakmp dynamic SPOKES\n",
        )
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2",
            "crypto isakmp key ciscokey address 0.0.0.0",
        );
    assert!(
        config.contains("dynamic SPOKES") && !config.contains("203.0.113.2"),
        "{config}"
    );
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &config);
    // Nobody to ask: the hub's own traffic waits for a spoke.
    assert_eq!(ping(&lab.topo.host_a, addr::HOST_B, 2), 0);
    assert!(!da.exec("show crypto isakmp sa").contains("203.0.113.2"));
    let out = peer.initiate("lans");
    assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "{isa}"
    );
    check_up(&da, &peer, &lab);
    let map = da.exec("show crypto map");
    assert!(map.contains("Dynamic map template tag: SPOKES"), "{map}");
    assert!(map.contains("Current peer: 203.0.113.2 (learned)"), "{map}");
    da.stop();
}
