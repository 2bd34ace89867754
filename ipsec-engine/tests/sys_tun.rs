//! TUN device in a fresh namespace: the kernel routes a datagram into it, and a packet written
//! into it is delivered to a local socket.

mod sys_util;

use ipsec_engine::sys::tun::Tun;
use std::net::UdpSocket;
use std::time::Duration;
use sys_util::*;

#[test]
fn tun_round_trip_through_a_route() {
    let ns = Netns::new("tun");
    ns.exec(move || {
        let tun = Tun::open("ietun0").unwrap();
        assert_eq!(tun.name(), "ietun0");
        tun.set_mtu(1400).unwrap();
        tun.set_up().unwrap();
        assert_eq!(tun.mtu().unwrap(), 1400);
        run("ip", &["addr", "add", "192.0.2.1/32", "dev", "lo"]);
        run("ip", &["route", "add", "10.99.0.0/24", "dev", "ietun0"]);

        // Kernel -> TUN: a datagram to the routed network comes out of the device.
        let sock = UdpSocket::bind("192.0.2.1:7000").unwrap();
        sock.send_to(b"into the tunnel", "10.99.0.5:9999").unwrap();
        let mut buf = [0u8; 2048];
        assert!(
            wait_readable(&tun, Duration::from_secs(2)),
            "nothing on the TUN"
        );
        let mut got = None;
        // Skip anything unrelated the kernel might emit (none expected with IPv6 absent).
        while let Some(n) = tun.recv(&mut buf).unwrap() {
            let p = &buf[..n];
            if p[0] >> 4 == 4 && p[9] == 17 && p[16..20] == [10, 99, 0, 5] {
                got = Some(p.to_vec());
                break;
            }
        }
        let p = got.expect("the UDP packet on the TUN");
        assert_eq!(&p[12..16], &[192, 0, 2, 1]);
        assert_eq!(u16::from_be_bytes([p[22], p[23]]), 9999);
        assert_eq!(&p[28..], b"into the tunnel");

        // TUN -> kernel: a reply written into the device reaches the socket.
        let reply = ipv4_udp([10, 99, 0, 5], [192, 0, 2, 1], 9999, 7000, b"back out");
        assert_eq!(tun.send(&reply).unwrap(), reply.len());
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"back out");
        assert_eq!(from.to_string(), "10.99.0.5:9999");

        // Non-persistent: closing the descriptor removes the device.
        drop(tun);
        assert!(!try_run("ip", &["link", "show", "ietun0"]));
    });
}

#[test]
fn bad_names_are_refused() {
    assert!(Tun::open("").is_err());
    assert!(Tun::open("a-name-longer-than-ifnamsiz").is_err());
}
