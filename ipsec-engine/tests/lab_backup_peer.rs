//! Backup peers (several `set peer` lines) against strongSwan: one charon in gwB answers on two
//! addresses, 203.0.113.3 (the primary, an address added for the test) and 203.0.113.2 (the
//! backup). The primary goes away mid-tunnel; DPD declares it dead and traffic resumes through
//! the backup (the outage is reported); when the primary comes back nothing fails back, as on
//! IOS.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::{Duration, Instant};

const PRIMARY: &str = "203.0.113.3";

fn conn(name: &str, child: &str, local: &str) -> CharonConn {
    CharonConn::new(name, child)
        .local(local)
        .remote(addr::GW_A_WAN)
        .psk("ciscokey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A)
}

fn current_peer(da: &Daemon) -> String {
    let sa = da.exec("show crypto ipsec sa");
    sa.lines()
        .find_map(|l| l.trim().strip_prefix("current_peer "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("none")
        .to_string()
}

#[test]
fn lab_backup_peer_takes_over_when_dpd_declares_the_primary_dead_and_stays() {
    let Some(lab) = Lab::new("backup_peer") else {
        return;
    };
    let t = &lab.topo;
    let alias = format!("{PRIMARY}/24");
    t.gw_b
        .run("ip", &["addr", "add", &alias, "dev", "wan"])
        .unwrap();
    let peer = Charon::start(
        &t.gw_b,
        &[
            conn("primary", "lans-primary", PRIMARY),
            conn("backup", "lans-backup", addr::GW_B_WAN),
        ],
    )
    .unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN)
        .replace(
            " set peer 203.0.113.2",
            &format!(" set peer {PRIMARY}\n set peer 203.0.113.2"),
        )
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2",
            &format!(
                "crypto isakmp key ciscokey address 203.0.113.2\ncrypto isakmp key ciscokey address {PRIMARY}\ncrypto isakmp keepalive 10 2 periodic"
            ),
        );
    assert!(config.contains(&format!("set peer {PRIMARY}")), "{config}");
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &config);
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    assert_eq!(current_peer(&da), PRIMARY, "{}", da.state());
    let map = da.exec("show crypto map");
    assert!(map.contains(&format!("Peer = {PRIMARY}")), "{map}");
    assert!(map.contains("Peer = 203.0.113.2"), "{map}");

    // The primary disappears without a word.
    t.gw_b
        .run("ip", &["addr", "del", &alias, "dev", "wan"])
        .unwrap();
    let down = Instant::now();
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(120)),
        "no traffic through the backup\n{}\n{}",
        da.state(),
        peer.log()
    );
    let outage = down.elapsed();
    println!("outage while failing over to the backup: {outage:?}");
    assert_eq!(current_peer(&da), addr::GW_B_WAN, "{}", da.state());
    let map = da.exec("show crypto map");
    assert!(map.contains("Current peer: 203.0.113.2"), "{map}");
    assert_eq!(ping(&t.host_b, addr::HOST_A, 5), 5, "{}", da.state());

    // The primary returns: traffic stays on the backup (no automatic failback).
    t.gw_b
        .run("ip", &["addr", "add", &alias, "dev", "wan"])
        .unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(ping(&t.host_a, addr::HOST_B, 10), 10, "{}", da.state());
    assert_eq!(current_peer(&da), addr::GW_B_WAN, "{}", da.state());
    da.stop();
}
