//! The seed's two sites in memory through `ipsec_proto::tunnel::Tunnel`: IP packets in, ESP and
//! IKE datagrams out, never an SPI or a rekey in sight. `cargo run -p ipsec-examples --bin two_tunnels`.

use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::{CoreOptions, Dest, Show, TunVerdict, Tunnel};

const SITE_A: &str = include_str!("../../../ipsec-proto/src/ios/seed/siteA.cfg");
const SITE_B: &str = include_str!("../../../ipsec-proto/src/ios/seed/siteB.cfg");

/// An ICMP echo request (header checksum left to the receiver, which does not check it here).
fn ping(src: [u8; 4], dst: [u8; 4], seq: u8) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, seq]);
    p
}

/// Carries what `from` sends to `to`; returns what `to` delivers to its LAN.
fn carry(from: &mut Tunnel, to: &mut Tunnel, now: Instant) -> Vec<Vec<u8>> {
    let (mut buf, mut got) = (vec![0u8; 65_536], Vec::new());
    while let Ok(Some(t)) = from.poll_transmit(&mut buf) {
        let data = buf[..t.len].to_vec();
        let verdict = match t.dest {
            Dest::Udp { local, remote } => to.handle_udp(now, remote, local, &data),
            Dest::Esp { src, .. } => to.handle_esp(now, src, &data),
            Dest::Tun | Dest::Vti(_) => Ok(()),
        };
        if let Err(why) = verdict {
            eprintln!("dropped: {why}");
        }
        while let Ok(Some(n)) = to.poll_plaintext(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1))?;
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2))?;
    let mut now = Instant::from_millis(1_000);
    let (lan_a, lan_b) = ([192, 168, 1, 10], [192, 168, 2, 10]);
    // The first packet starts Main Mode and Quick Mode and is dropped, as on IOS.
    assert_eq!(
        a.handle_plaintext(now, &ping(lan_a, lan_b, 0)),
        TunVerdict::NoSa
    );
    for _ in 0..10 {
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    for seq in 1..=3 {
        let (req, rep) = (ping(lan_a, lan_b, seq), ping(lan_b, lan_a, seq));
        assert_eq!(a.handle_plaintext(now, &req), TunVerdict::Protected);
        assert_eq!(
            carry(&mut a, &mut b, now),
            vec![req],
            "site B got the request"
        );
        assert_eq!(b.handle_plaintext(now, &rep), TunVerdict::Protected);
        assert_eq!(
            carry(&mut b, &mut a, now),
            vec![rep],
            "site A got the reply"
        );
    }
    print!("{}", a.show(now, Show::IsakmpSa));
    print!(
        "{}",
        a.show(
            now,
            Show::IpsecSa {
                peer: None,
                detail: false
            }
        )
    );
    Ok(())
}
