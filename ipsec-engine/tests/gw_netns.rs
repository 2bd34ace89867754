//! The seed's two routers as two `ipsec-engine run` daemons in network namespaces, each with a
//! host behind it: the first ping brings the tunnel up, the rest cross it as ESP, and
//! `show crypto ipsec sa` over each control socket counts them. Needs root (namespaces, TUN).
//!
//! Topology (the WAN addresses share one /24 here instead of the seed's two provider networks):
//! hostA 192.168.1.10 -- 192.168.1.1 siteA 198.51.100.1 -- 198.51.100.2 siteB 192.168.2.1 -- 192.168.2.10 hostB

mod common;
mod sys_util;

use common::{num, Daemon};
use std::process::Command;
use std::time::Duration;
use sys_util::*;

/// The seed's configuration ([`common::a8`]) for one shared /24 without a router: no default
/// route, no NAT overload.
fn config(me: &str, peer: &str, wan: &str, lan: u8, remote_lan: u8) -> String {
    let seed = common::a8(
        me,
        wan,
        peer,
        &format!("192.168.{lan}.1"),
        &format!("192.168.{lan}"),
        &format!("192.168.{remote_lan}"),
    );
    seed.lines()
        .filter(|l| {
            !(l.starts_with("ip route")
                || l.starts_with("ip nat inside source")
                || l.starts_with("access-list 101"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn two_engines_carry_pings_between_lans() {
    let a = Netns::new("gwa");
    let b = Netns::new("gwb");
    let ha = Netns::new("gwha");
    let hb = Netns::new("gwhb");
    veth(&a, "wan0", "198.51.100.1/24", &b, "wan0", "198.51.100.2/24");
    veth(&ha, "eth0", "192.168.1.10/24", &a, "lan0", "192.168.1.1/24");
    veth(&hb, "eth0", "192.168.2.10/24", &b, "lan0", "192.168.2.1/24");
    ha.ip(&["route", "add", "default", "via", "192.168.1.1"]);
    hb.ip(&["route", "add", "default", "via", "192.168.2.1"]);
    for ns in [&a, &b] {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &ns.name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
    }

    let dir = std::env::temp_dir().join(format!("ie-gwns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let da = Daemon::start_in(
        &a.name,
        &dir,
        "siteA",
        &config("siteA", "198.51.100.2", "198.51.100.1", 1, 2),
    );
    let db = Daemon::start_in(
        &b.name,
        &dir,
        "siteB",
        &config("siteB", "198.51.100.1", "198.51.100.2", 2, 1),
    );

    // The first echo starts IKE and is lost (as on IOS); the tunnel is up well within a second.
    let ping = |n: &str| {
        Command::new("ip")
            .args([
                "netns", "exec", &ha.name, "ping", "-n", "-q", "-c", n, "-i", "0.3", "-W", "2",
            ])
            .arg("192.168.2.10")
            .output()
            .unwrap()
    };
    let first = ping("1");
    let _ = first;
    std::thread::sleep(Duration::from_millis(500));
    let o = ping("10");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let sa = da.exec("show crypto isakmp sa");
    assert!(
        text.contains("10 received"),
        "{text}\n{sa}\n{}",
        da.exec("show crypto ipsec sa")
    );
    assert!(sa.contains("QM_IDLE"), "{sa}");
    assert!(
        sa.contains("198.51.100.2    198.51.100.1    QM_IDLE"),
        "{sa}"
    );

    let sa_a = da.exec("show crypto ipsec sa");
    let sa_b = db.exec("show crypto ipsec sa");
    // siteA encrypted at least the 10 requests and decrypted their 10 replies; siteB mirrors.
    assert!(num(&sa_a, "#pkts encaps:") >= 10, "{sa_a}");
    assert!(num(&sa_a, "#pkts decaps:") >= 10, "{sa_a}");
    assert_eq!(
        num(&sa_a, "#pkts encaps:"),
        num(&sa_b, "#pkts decaps:"),
        "{sa_a}\n{sa_b}"
    );
    assert_eq!(num(&sa_b, "#pkts encaps:"), num(&sa_a, "#pkts decaps:"));
    assert!(
        num(&sa_a, "#send errors") >= 1,
        "the first echo was dropped: {sa_a}"
    );
    assert_eq!(num(&sa_a, "#recv errors"), 0);
    assert!(sa_a.contains("current_peer 198.51.100.2 port 500"));
    println!("siteA#show crypto isakmp sa\n{sa}siteA#show crypto ipsec sa\n{sa_a}");
    let session = db.exec("show crypto session");
    assert!(session.contains("Session status: UP-ACTIVE"), "{session}");

    // stop() asserts a clean exit without a panic.
    da.stop();
    db.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
