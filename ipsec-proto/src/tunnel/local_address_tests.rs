//! `crypto map NAME local-address IF`: the map's IKE and ESP use IF's address, and the tunnel
//! layer says which addresses a configuration needs so that an engine binds them.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, Dest, TunVerdict, Tunnel};
use crate::time::Instant;
use std::net::Ipv4Addr;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];
const LOOPBACK: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);

/// Site A sourcing its map from Loopback0 (198.51.100.77), site B pointed at that address.
fn sites() -> (String, String) {
    let a = SITE_A.replace(
        "interface FastEthernet4\n",
        "crypto map VPN local-address Loopback0\ninterface Loopback0\n ip address 198.51.100.77 255.255.255.255\ninterface FastEthernet4\n",
    );
    let b = SITE_B.replace("198.51.100.1", "198.51.100.77");
    assert!(a.contains("local-address") && b.contains("198.51.100.77"));
    (a, b)
}

#[test]
fn ike_and_esp_leave_from_the_local_address_interface() {
    let (ta, tb) = sites();
    let p = crate::ios::parse(&ta).unwrap();
    assert_eq!(
        p.config.map_local_addresses.get("VPN").map(String::as_str),
        Some("Loopback0")
    );
    let built = super::build(&p.config, None).unwrap();
    assert_eq!(built.local_addresses(), vec![LOOPBACK]);
    assert_eq!(built.entries[0].local_interface, "Loopback0");
    assert_eq!(built.entries[0].interface, "FastEthernet4");
    // The `run` override stands for the address of the map's interface, not Loopback0's.
    let over = super::build(&p.config, Some(Ipv4Addr::new(10, 9, 9, 9))).unwrap();
    assert_eq!(over.local_addresses(), vec![LOOPBACK]);
    // Rendered back, the line is kept.
    assert!(crate::ios::render(&p.config).contains("crypto map VPN local-address Loopback0\n"));

    let mut a = Tunnel::from_ios(&ta, CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(&tb, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0)),
        TunVerdict::NoSa
    );
    let mut buf = vec![0u8; 65_536];
    let mut sources = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let mut moved = Vec::new();
        while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
            moved.push((t, buf[..t.len].to_vec()));
        }
        for (t, m) in moved {
            match t.dest {
                Dest::Udp { local, remote } => {
                    sources.insert(*local.ip());
                    assert_eq!(b.handle_udp(now, remote, local, &m), Ok(()));
                }
                Dest::Esp { src, .. } => {
                    sources.insert(src);
                    assert_eq!(b.handle_esp(now, src, &m), Ok(()));
                }
                _ => {}
            }
        }
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), vec![LOOPBACK]);
    let p = ping(HOST_A, HOST_B, 1);
    assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
    let t = a.poll_transmit(&mut buf).unwrap().unwrap();
    assert_eq!(
        t.dest,
        Dest::Esp {
            src: LOOPBACK,
            dst: Ipv4Addr::new(203, 0, 113, 2)
        }
    );
    assert!(a
        .show(
            now,
            super::Show::IpsecSa {
                peer: None,
                detail: false,
            }
        )
        .contains("local addr 198.51.100.77"));
}

#[test]
fn a_local_address_interface_without_an_address_is_named() {
    let (ta, _) = sites();
    let ta = ta.replace(" ip address 198.51.100.77 255.255.255.255\n", "");
    let p = crate::ios::parse(&ta).unwrap();
    let e = super::build(&p.config, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "crypto map VPN local-address Loopback0: the interface has no ip address"
    );
}

#[test]
fn check_looks_for_the_key_on_the_local_address_interface() {
    // The key lives in a keyring serving Loopback0 only; the profile takes that keyring.
    let (ta, _) = sites();
    let ta = ta
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            "crypto keyring LO\n  local-address Loopback0\n  pre-shared-key address 203.0.113.2 key ciscokey\n\
             crypto isakmp profile P\n   keyring LO\n   match identity address 203.0.113.2 255.255.255.255\n",
        )
        .replace(" match address 100\n", " match address 100\n set isakmp-profile P\n");
    let p = crate::ios::parse(&ta).unwrap();
    let lints = crate::ios::check::check(&p.config, Some(&p.origins));
    assert!(
        !lints.iter().any(|l| matches!(
            l.kind,
            crate::ios::check::LintKind::ProfileKeyMismatch
                | crate::ios::check::LintKind::PeerWithoutKey
        )),
        "{lints:#?}"
    );
    assert!(Tunnel::from_ios(&ta, CoreOptions::seeded(1)).is_ok());
}
