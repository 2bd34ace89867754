//! UDP sockets: SO_MARK is set and steers routing, IP_PKTINFO reports the local address.

mod sys_util;

use ipsec_engine::sys::udp::UdpSock;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use sys_util::*;

#[test]
fn mark_and_pktinfo() {
    let ns = Netns::new("udp");
    ns.exec(|| {
        run("ip", &["addr", "add", "192.0.2.7/32", "dev", "lo"]);
        // Marked traffic has a route that unmarked traffic lacks.
        run(
            "ip",
            &[
                "rule", "add", "fwmark", "0x77", "lookup", "77", "pref", "100",
            ],
        );
        run(
            "ip",
            &["route", "add", "203.0.113.0/24", "dev", "lo", "table", "77"],
        );

        let marked =
            UdpSock::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), Some(0x77)).unwrap();
        let plain = UdpSock::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), None).unwrap();
        assert_eq!(marked.mark().unwrap(), 0x77);
        assert_eq!(plain.mark().unwrap(), 0);
        let far = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 500);
        assert!(marked.send_to(b"x", far).unwrap());
        let err = plain.send_to(b"x", far).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");

        // A wildcard-bound socket learns which local address each datagram was sent to.
        let rx = UdpSock::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 4500), Some(0x77)).unwrap();
        assert_eq!(rx.local_addr().port(), 4500);
        let tx = UdpSock::bind(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 500), None).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(rx.recv(&mut buf).unwrap(), None, "nothing sent yet");
        for (dst, payload) in [([192, 0, 2, 7], b"one"), ([127, 0, 0, 1], b"two")] {
            assert!(tx
                .send_to(payload, SocketAddrV4::new(dst.into(), 4500))
                .unwrap());
            assert!(wait_readable(&rx, Duration::from_secs(2)));
            let r = rx.recv(&mut buf).unwrap().unwrap();
            assert_eq!(&buf[..r.len], payload);
            assert_eq!(r.local, SocketAddrV4::new(dst.into(), 4500));
            assert_eq!(
                r.remote,
                SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 500)
            );
        }
    });
}
