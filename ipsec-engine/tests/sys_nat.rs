//! NAT overload in a namespace: the table appears with the ACL's order (exemptions first), and
//! masquerade really rewrites a forwarded packet's source; removing it leaves nothing behind.

mod sys_util;

use ipsec_engine::nat::{self, AclLine, Action, NatOverload, Proto};
use std::net::UdpSocket;
use std::time::Duration;
use sys_util::*;

#[test]
fn nat_apply_and_remove() {
    // lan (10.1.1.10) -- gw -- wan (203.0.113.2); the wan side has no route back to 10.1.1.0/24,
    // so an answer arriving at all proves the source was translated to 203.0.113.1.
    let lan = Netns::new("natl");
    let gw = Netns::new("natg");
    let wan = Netns::new("natw");
    veth(&lan, "l0", "10.1.1.10/24", &gw, "in0", "10.1.1.1/24");
    veth(&gw, "out0", "203.0.113.1/24", &wan, "w0", "203.0.113.2/24");
    lan.ip(&["route", "add", "default", "via", "10.1.1.1"]);
    gw.exec(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap());

    let rules = vec![NatOverload {
        out_interface: "out0".into(),
        acl: vec![
            AclLine {
                action: Action::Deny,
                proto: Proto::Any,
                src: "10.1.1.0/24".parse().unwrap(),
                dst: "10.2.2.0/24".parse().unwrap(),
            },
            AclLine {
                action: Action::Permit,
                proto: Proto::Any,
                src: "10.1.1.0/24".parse().unwrap(),
                dst: "0.0.0.0/0".parse().unwrap(),
            },
        ],
    }];
    let guard = gw.exec(move || {
        let g = nat::apply(&rules).unwrap();
        // Applying again replaces rather than duplicates (a restart after a crash).
        let g2 = nat::apply(&rules).unwrap();
        // The first guard is leaked as if the process had been killed.
        std::mem::forget(g);
        g2
    });
    let listing = gw.exec(|| run("nft", &["list", "table", "ip", nat::TABLE]));
    let ret = listing.find("ip daddr 10.2.2.0/24 return").expect(&listing);
    let masq = listing
        .find("ip saddr 10.1.1.0/24 masquerade")
        .expect(&listing);
    assert!(ret < masq, "{listing}");
    assert_eq!(listing.matches("masquerade").count(), 1, "{listing}");

    let server = wan.enter(|| {
        let s = UdpSocket::bind("203.0.113.2:5353").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        s.send_to(&buf[..n], from).unwrap();
        from
    });
    let got = lan.exec(|| {
        let c = UdpSocket::bind("10.1.1.10:0").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..15 {
            c.send_to(b"ping", "203.0.113.2:5353").unwrap();
            if let Ok((n, _)) = c.recv_from(&mut buf) {
                return buf[..n].to_vec();
            }
        }
        Vec::new()
    });
    assert_eq!(got, b"ping");
    assert_eq!(server.join().unwrap().ip().to_string(), "203.0.113.1");

    gw.exec(move || {
        let mut g = guard;
        g.remove().unwrap();
        assert!(!try_run("nft", &["list", "table", "ip", nat::TABLE]));
    });
}
