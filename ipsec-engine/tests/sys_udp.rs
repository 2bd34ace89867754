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

#[test]
fn batched_send_and_receive() {
    use ipsec_engine::sys::udp::{RecvBatch, MAX_BATCH};
    let ns = Netns::new("udpb");
    ns.exec(|| {
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        let rx = UdpSock::bind(SocketAddrV4::new(lo, 4500), None).unwrap();
        let tx = UdpSock::bind(SocketAddrV4::new(lo, 500), Some(0x1e5)).unwrap();
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let to = rx.local_addr();
        let sent = tx
            .send_batch(payloads.iter().map(|p| (p.as_slice(), to)))
            .unwrap();
        assert_eq!(sent, MAX_BATCH, "one call sends at most MAX_BATCH");
        assert_eq!(
            tx.send_batch(payloads[sent..].iter().map(|p| (p.as_slice(), to)))
                .unwrap(),
            40 - MAX_BATCH
        );
        assert_eq!(tx.send_batch(std::iter::empty()).unwrap(), 0);

        // 16-slot batches; slots of 40 bytes truncate the datagrams longer than that.
        let mut b = RecvBatch::new(16, 40);
        let mut seen = Vec::new();
        let mut truncated = 0;
        assert!(wait_readable(&rx, Duration::from_secs(2)));
        loop {
            let n = rx.recv_batch(&mut b).unwrap();
            if n == 0 {
                break;
            }
            assert!(n <= 16);
            for i in 0..n {
                match b.get(i) {
                    Some((r, data)) => {
                        assert_eq!(r.remote, tx.local_addr());
                        assert_eq!(r.local, to);
                        assert_eq!(data.len(), 10 + usize::from(data[0]));
                        assert!(data.iter().all(|x| *x == data[0]));
                        seen.push(data[0]);
                    }
                    None => truncated += 1,
                }
            }
        }
        // Lengths 10..=49: 10..=40 fit (31 datagrams), 41..=49 do not (9).
        assert_eq!(seen, (0..31u8).collect::<Vec<_>>());
        assert_eq!(truncated, 9);
        assert!(b.is_empty() && b.get(0).is_none());
    });
}
