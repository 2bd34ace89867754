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

/// A datagram of `len` bytes that says which one it is (`tag`) in every byte.
fn datagram(tag: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (tag * 31 + j) as u8).collect()
}

/// Everything waiting on `rx`, as datagrams (GRO trains cut), with the segment size of the
/// buffer each came in (0: a plain datagram).
fn drain(rx: &UdpSock) -> Vec<(Vec<u8>, usize)> {
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    while wait_readable(rx, Duration::from_millis(300)) {
        while let Some(r) = rx.recv(&mut buf).unwrap() {
            for d in r.datagrams(&buf[..r.len]) {
                got.push((d.to_vec(), r.segment));
            }
        }
    }
    got
}

#[test]
fn gso_send_arrives_as_separate_datagrams() {
    use ipsec_engine::sys::udp::SegmentedSend;
    let ns = Netns::new("udpgso");
    ns.exec(|| {
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        let rx = UdpSock::bind(SocketAddrV4::new(lo, 4500), None).unwrap();
        let tx = UdpSock::bind(SocketAddrV4::new(lo, 0), None).unwrap();
        assert!(tx.gso(), "the lab kernel has UDP_SEGMENT");
        // Ten full segments and a shorter last one.
        let mut sent: Vec<Vec<u8>> = (0..10).map(|i| datagram(i, 1200)).collect();
        sent.push(datagram(10, 500));
        let to = rx.local_addr();
        let r = tx
            .send_segmented(sent.iter().map(|p| (p.as_slice(), to, true)))
            .unwrap();
        assert_eq!(
            r,
            SegmentedSend {
                taken: 11,
                sent: 11,
                gso_messages: 1,
                gso_segments: 11,
                fallbacks: 0
            }
        );
        // A receiver without UDP_GRO gets them one by one, as from any sender.
        let got = drain(&rx);
        assert_eq!(got.iter().map(|(_, seg)| *seg).max(), Some(0));
        let got: Vec<Vec<u8>> = got.into_iter().map(|(d, _)| d).collect();
        assert_eq!(got, sent);

        // With segmentation off the same call sends datagram by datagram.
        tx.set_gso(false);
        let r = tx
            .send_segmented(sent.iter().map(|p| (p.as_slice(), to, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages), (11, 0));
        assert_eq!(drain(&rx).len(), 11);
    });
}

#[test]
fn gro_receiver_cuts_trains_back_into_datagrams() {
    let ns = Netns::new("udpgro");
    ns.exec(|| {
        use ipsec_engine::sys::udp::RecvBatch;
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        let rx = UdpSock::bind(SocketAddrV4::new(lo, 4500), None).unwrap();
        rx.enable_gro().unwrap();
        assert!(rx.gro());
        let tx = UdpSock::bind(SocketAddrV4::new(lo, 0), None).unwrap();
        let to = rx.local_addr();
        // Two trains (1000-byte segments and a 300-byte tail; then 64 of 700, the kernel's
        // most) and a lone datagram between them.
        let mut first: Vec<Vec<u8>> = (0..20).map(|i| datagram(i, 1000)).collect();
        first.push(datagram(20, 300));
        let lone = datagram(99, 1000);
        let second: Vec<Vec<u8>> = (0..64).map(|i| datagram(100 + i, 700)).collect();
        let r = tx
            .send_segmented(first.iter().map(|p| (p.as_slice(), to, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages), (21, 1));
        assert!(tx.send_to(&lone, to).unwrap());
        let r = tx
            .send_segmented(second.iter().map(|p| (p.as_slice(), to, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages, r.gso_segments), (64, 1, 64));

        // recvmmsg with the engine's 64 KiB slots: each train is one slot with its segment
        // size, and cutting it gives back the exact datagrams.
        let mut b = RecvBatch::new(8, 65536);
        assert!(wait_readable(&rx, Duration::from_secs(2)));
        let mut got = Vec::new();
        let mut trains = Vec::new();
        while wait_readable(&rx, Duration::from_millis(300)) {
            let n = rx.recv_batch(&mut b).unwrap();
            for i in 0..n {
                let (m, data) = b.get(i).expect("a train fits a 64 KiB slot");
                assert_eq!(m.remote, tx.local_addr());
                if m.segment > 0 {
                    trains.push((m.segment, m.len));
                }
                got.extend(m.datagrams(data).map(|d| d.to_vec()));
            }
        }
        assert_eq!(trains, [(1000, 20 * 1000 + 300), (700, 64 * 700)]);
        let want: Vec<Vec<u8>> = first
            .into_iter()
            .chain(std::iter::once(lone))
            .chain(second)
            .collect();
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
    });
}

#[test]
fn mixed_runs_and_kernel_limits() {
    use ipsec_engine::sys::udp::{SegmentedSend, GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
    let ns = Netns::new("udpmix");
    ns.exec(|| {
        // An Ethernet-sized MTU, so that a segment above it is refused as segmented.
        run("ip", &["link", "set", "lo", "mtu", "1500"]);
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        let a = UdpSock::bind(SocketAddrV4::new(lo, 4500), None).unwrap();
        let b = UdpSock::bind(SocketAddrV4::new(lo, 4501), None).unwrap();
        let tx = UdpSock::bind(SocketAddrV4::new(lo, 0), None).unwrap();
        let (ta, tb) = (a.local_addr(), b.local_addr());
        // (peer, length, may coalesce), and the message each should go in.
        let mut plan: Vec<(SocketAddrV4, usize, bool)> = Vec::new();
        plan.extend([(ta, 800, true); 3]); // message 1: 3 segments
        plan.extend([(tb, 800, true); 2]); // 2: another peer
        plan.extend([(ta, 800, true), (ta, 600, true)]); // 3: a shorter last one
        plan.push((ta, 600, true)); // 4: nothing follows a shorter one
        plan.push((ta, 900, true)); // 5: longer than the segment size
        plan.extend([(ta, 800, false); 2]); // 6, 7: not to be coalesced (IKE)
        plan.extend([(ta, 100, true); 70]); // 8, 9: at most 64 segments
        plan.extend([(ta, 1400, true); 50]); // 10, 11: at most 65 507 bytes
        assert_eq!(GSO_MAX_SEGMENTS, 64);
        assert_eq!(GSO_MAX_BYTES / 1400, 46);
        let payloads: Vec<Vec<u8>> = plan
            .iter()
            .enumerate()
            .map(|(i, (_, len, _))| datagram(i, *len))
            .collect();
        let r = tx
            .send_segmented(
                plan.iter()
                    .zip(&payloads)
                    .map(|((to, _, may), p)| (p.as_slice(), *to, *may)),
            )
            .unwrap();
        assert_eq!(
            r,
            SegmentedSend {
                taken: 131,
                sent: 131,
                gso_messages: 7,
                gso_segments: 3 + 2 + 2 + 64 + 6 + 46 + 4,
                fallbacks: 0
            }
        );
        let for_peer = |peer| -> Vec<Vec<u8>> {
            plan.iter()
                .zip(&payloads)
                .filter(|((to, _, _), _)| *to == peer)
                .map(|(_, p)| p.clone())
                .collect()
        };
        let got_a: Vec<Vec<u8>> = drain(&a).into_iter().map(|(d, _)| d).collect();
        let got_b: Vec<Vec<u8>> = drain(&b).into_iter().map(|(d, _)| d).collect();
        assert_eq!(got_a, for_peer(ta));
        assert_eq!(got_b, for_peer(tb));

        // Segments above the path MTU with DF clear: the kernel refuses them as segmented
        // (EMSGSIZE); they go again one by one and are fragmented as any datagram would be, and
        // the socket stops trying that size.
        tx.set_df(false).unwrap();
        let big: Vec<Vec<u8>> = (0..4).map(|i| datagram(i, 2000)).collect();
        let r = tx
            .send_segmented(big.iter().map(|p| (p.as_slice(), ta, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages, r.fallbacks), (4, 0, 1));
        let r = tx
            .send_segmented(big.iter().map(|p| (p.as_slice(), ta, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages, r.fallbacks), (4, 0, 0));
        // Smaller segments still go segmented.
        let r = tx
            .send_segmented(payloads[..3].iter().map(|p| (p.as_slice(), ta, true)))
            .unwrap();
        assert_eq!((r.sent, r.gso_messages), (3, 1));
        let got: Vec<Vec<u8>> = drain(&a).into_iter().map(|(d, _)| d).collect();
        let want: Vec<Vec<u8>> = big
            .iter()
            .chain(&big)
            .chain(&payloads[..3])
            .cloned()
            .collect();
        assert_eq!(got, want);
    });
}
