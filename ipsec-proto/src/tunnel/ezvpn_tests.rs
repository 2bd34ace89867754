//! Easy VPN through the tunnel layer, both ends in IOS syntax: a remote (`crypto ipsec client
//! ezvpn`, connect auto) and a server (client configuration group, pool, XAUTH, dynamic map).
//! The remote connects from its timer with no traffic, learns its address and split network,
//! routes the split network, proposes the address as its proxy, and carries traffic; the
//! server shows the lease; when the server clears the SA the remote reconnects by itself.

use super::polled::tests::{carry, ping};
use super::{CoreOptions, Show, TunVerdict, Tunnel, TunnelEvent};
use crate::time::Instant;

const HUB: &str = include_str!("testdata/easy_vpn_hub.cfg");

/// Its profile comes after the interfaces (at column 1 it is the profile, not Vlan1's command).
const REMOTE: &str = include_str!("testdata/easy_vpn_remote.cfg");

fn run(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant, steps: u32) {
    for _ in 0..steps {
        for t in [&mut *a, &mut *b] {
            if t.poll_timeout().is_some_and(|d| d <= *now) {
                t.handle_timeout(*now);
            }
        }
        carry(a, b, *now);
        carry(b, a, *now);
        *now = Instant::from_millis(now.as_millis() + 10);
    }
}

fn events(t: &mut Tunnel) -> Vec<TunnelEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

#[test]
fn an_easy_vpn_remote_connects_by_itself_learns_its_address_and_carries_traffic() {
    let mut hub = Tunnel::from_ios(HUB, CoreOptions::seeded(1)).unwrap();
    let mut remote = Tunnel::from_ios(REMOTE, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    run(&mut remote, &mut hub, &mut now, 100);
    let ev = events(&mut remote);
    let configured: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            TunnelEvent::Configured { settings, .. } => Some(settings.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(configured.len(), 1, "{ev:?}");
    let s = &configured[0];
    assert_eq!(s.address, Some("10.99.0.10".parse().unwrap()));
    assert_eq!(
        s.dns,
        vec!["192.168.1.53".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    // The split network is routed into the tunnel.
    assert!(
        ev.iter().any(|e| matches!(e, TunnelEvent::RouteAdd(r)
            if r.prefix == std::net::Ipv4Addr::new(192, 168, 1, 0) && r.prefix_len() == 24)),
        "{ev:?}"
    );
    assert_eq!(
        remote.tunnels().ezvpn_addresses(),
        vec!["10.99.0.10".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    let hub_ev = events(&mut hub);
    assert!(
        hub_ev.iter().any(
            |e| matches!(e, TunnelEvent::ClientLeased { group, address: Some(a), .. }
            if group == "vpngroup" && a.octets() == [10, 99, 0, 10])
        ),
        "{hub_ev:?}"
    );
    // The server's reverse route for the client's address.
    assert!(
        hub_ev.iter().any(|e| matches!(e, TunnelEvent::RouteAdd(r)
            if r.prefix == std::net::Ipv4Addr::new(10, 99, 0, 10) && r.prefix_len() == 32)),
        "{hub_ev:?}"
    );
    let p = ping([10, 99, 0, 10], [192, 168, 1, 10], 1);
    assert_eq!(remote.handle_plaintext(now, &p), TunVerdict::Protected);
    assert_eq!(carry(&mut remote, &mut hub, now), vec![p]);
    let r = ping([192, 168, 1, 10], [10, 99, 0, 10], 1);
    assert_eq!(hub.handle_plaintext(now, &r), TunVerdict::Protected);
    assert_eq!(carry(&mut hub, &mut remote, now), vec![r]);
    let shown = remote.show(now, Show::Ezvpn);
    for want in [
        "Tunnel name : EZ",
        "Inside interface list: Vlan1",
        "Outside interface: FastEthernet4",
        "Current State: IPSEC_ACTIVE",
        "Address: 10.99.0.10",
        "DNS Primary: 192.168.1.53",
        "       Address    : 192.168.1.0",
        "Current EzVPN Peer: 198.51.100.1",
    ] {
        assert!(shown.contains(want), "{want}:\n{shown}");
    }
    let session = hub.show(now, Show::CryptoSession { detail: true });
    assert!(
        session.contains("Assigned address: 10.99.0.10"),
        "{session}"
    );
    // The remote shows its pair's proxy identities, the assigned address, not the profile's
    // `any` to `any`.
    let sa = remote.show(
        now,
        Show::IpsecSa {
            peer: None,
            detail: false,
        },
    );
    assert!(
        sa.contains("local  ident (addr/mask/prot/port): (10.99.0.10/255.255.255.255/0/0)"),
        "{sa}"
    );

    // The server clears the ISAKMP SA: the remote forgets its address and routes, then comes
    // back by itself (connect auto) with the same lease.
    hub.clear_isakmp(now, None);
    run(&mut remote, &mut hub, &mut now, 10);
    let ev = events(&mut remote);
    assert!(
        ev.iter().any(|e| matches!(e, TunnelEvent::RouteRemove(_))),
        "{ev:?}"
    );
    assert!(remote.tunnels().ezvpn_addresses().is_empty());
    run(&mut remote, &mut hub, &mut now, 1_500);
    assert_eq!(
        remote.tunnels().ezvpn_addresses(),
        vec!["10.99.0.10".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert!(remote.show(now, Show::Ezvpn).contains("IPSEC_ACTIVE"));
}

/// `mode network-extension` with `xauth userid mode interactive`: the remote waits at XAUTH
/// for `crypto ipsec client ezvpn xauth`, then asks for no address, and its LAN reaches the
/// hub's as it is (the hub routes the remote's LAN back through reverse-route).
#[test]
fn a_network_extension_remote_asks_for_credentials_then_carries_its_lan() {
    let mut hub = Tunnel::from_ios(HUB, CoreOptions::seeded(3)).unwrap();
    let mut remote = Tunnel::from_ios(
        include_str!("testdata/easy_vpn_remote_nem.cfg"),
        CoreOptions::seeded(4),
    )
    .unwrap();
    let mut now = Instant::from_millis(1_000);
    run(&mut remote, &mut hub, &mut now, 100);
    let ev = events(&mut remote);
    assert!(
        ev.iter().any(
            |e| matches!(e, TunnelEvent::CredentialsNeeded { profile, .. } if profile == "EZ")
        ),
        "{ev:?}"
    );
    assert!(!ev
        .iter()
        .any(|e| matches!(e, TunnelEvent::Configured { .. })));
    let shown = remote.show(now, Show::Ezvpn);
    assert!(shown.contains("Current State: XAUTH_PROMPT"), "{shown}");
    let wrong = crate::policy::XauthCredentials {
        name: "nobody".into(),
        password: crate::policy::Password::new("x"),
    };
    assert_eq!(
        remote.ezvpn_xauth(now, "OTHER", &wrong),
        Err(super::EzvpnXauthError::NoSuchProfile)
    );
    let creds = crate::policy::XauthCredentials {
        name: "alice".into(),
        password: crate::policy::Password::new("tunnel-pass-1"),
    };
    remote.ezvpn_xauth(now, "EZ", &creds).unwrap();
    assert_eq!(
        remote.ezvpn_xauth(now, "EZ", &creds),
        Err(super::EzvpnXauthError::NotPending)
    );
    run(&mut remote, &mut hub, &mut now, 200);
    let ev = events(&mut remote);
    let settings = ev
        .iter()
        .find_map(|e| match e {
            TunnelEvent::Configured { settings, .. } => Some(settings.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{ev:?}"));
    assert_eq!(
        settings.address, None,
        "network extension asks for no address"
    );
    assert!(remote.tunnels().ezvpn_addresses().is_empty());
    // The hub leased nothing and routes the remote's LAN back.
    let hub_ev = events(&mut hub);
    assert!(
        hub_ev
            .iter()
            .any(|e| matches!(e, TunnelEvent::ClientLeased { address: None, .. })),
        "{hub_ev:?}"
    );
    assert!(
        hub_ev.iter().any(|e| matches!(e, TunnelEvent::RouteAdd(r)
            if r.prefix == std::net::Ipv4Addr::new(192, 168, 2, 0) && r.prefix_len() == 24)),
        "{hub_ev:?}"
    );
    let p = ping([192, 168, 2, 10], [192, 168, 1, 10], 1);
    assert_eq!(remote.handle_plaintext(now, &p), TunVerdict::Protected);
    assert_eq!(carry(&mut remote, &mut hub, now), vec![p]);
    let r = ping([192, 168, 1, 10], [192, 168, 2, 10], 1);
    assert_eq!(hub.handle_plaintext(now, &r), TunVerdict::Protected);
    assert_eq!(carry(&mut hub, &mut remote, now), vec![r]);
    let shown = remote.show(now, Show::Ezvpn);
    assert!(shown.contains("Current State: IPSEC_ACTIVE"), "{shown}");
    assert!(!shown.contains("Address: 10.99"), "{shown}");
    let session = hub.show(now, Show::CryptoSession { detail: true });
    assert!(session.contains("Username: alice"), "{session}");
}

/// `mode client`: an inside host's packets leave translated to the assigned address (PAT) and
/// the answers come back to the host; the server sees only its lease.
#[test]
fn mode_client_hides_the_inside_lan_behind_the_assigned_address() {
    let mut hub = Tunnel::from_ios(HUB, CoreOptions::seeded(5)).unwrap();
    let mut remote = Tunnel::from_ios(REMOTE, CoreOptions::seeded(6)).unwrap();
    let mut now = Instant::from_millis(1_000);
    run(&mut remote, &mut hub, &mut now, 100);
    assert_eq!(
        remote.tunnels().ezvpn_addresses(),
        vec![std::net::Ipv4Addr::new(10, 99, 0, 10)]
    );
    // Two inside hosts with the same echo identifier.
    let out1 = ping([192, 168, 2, 10], [192, 168, 1, 10], 1);
    let out2 = ping([192, 168, 2, 11], [192, 168, 1, 10], 1);
    for p in [&out1, &out2] {
        assert_eq!(remote.handle_plaintext(now, p), TunVerdict::Protected);
    }
    let at_hub = carry(&mut remote, &mut hub, now);
    assert_eq!(at_hub.len(), 2, "{at_hub:?}");
    for p in &at_hub {
        assert_eq!(&p[12..16], &[10, 99, 0, 10], "source is the lease");
        assert_eq!(&p[16..20], &[192, 168, 1, 10]);
    }
    let ids: Vec<[u8; 2]> = at_hub.iter().map(|p| [p[24], p[25]]).collect();
    assert_ne!(ids[0], ids[1], "distinct identifiers on the wire");
    // The hub answers each (an echo reply to the lease with the identifier it saw).
    for p in &at_hub {
        let mut r = p.clone();
        r[12..16].copy_from_slice(&[192, 168, 1, 10]);
        r[16..20].copy_from_slice(&[10, 99, 0, 10]);
        r[20] = 0; // echo reply
        fix_checksums(&mut r);
        assert_eq!(hub.handle_plaintext(now, &r), TunVerdict::Protected);
    }
    let back = carry(&mut hub, &mut remote, now);
    assert_eq!(back.len(), 2);
    let mut want = vec![out1.clone(), out2.clone()];
    for w in &mut want {
        let (s, d) = ([w[12], w[13], w[14], w[15]], [w[16], w[17], w[18], w[19]]);
        w[12..16].copy_from_slice(&d);
        w[16..20].copy_from_slice(&s);
        w[20] = 0;
        fix_checksums(w);
    }
    assert_eq!(back, want, "each answer reaches its own host, as it left");
    let nat = remote.show(now, Show::NatTranslations);
    assert!(nat.contains("192.168.2.10"), "{nat}");
    assert!(nat.contains("192.168.2.11"), "{nat}");
    assert!(nat.lines().count() == 3, "{nat}");
    // The gateway's own packet, from the lease, goes as it is.
    let own = ping([10, 99, 0, 10], [192, 168, 1, 10], 9);
    assert_eq!(remote.handle_plaintext(now, &own), TunVerdict::Protected);
    assert_eq!(carry(&mut remote, &mut hub, now), vec![own]);
    // When the connection goes, so do the mappings.
    hub.clear_isakmp(now, None);
    run(&mut remote, &mut hub, &mut now, 10);
    assert_eq!(remote.show(now, Show::NatTranslations), "");
}

/// IPv4 header and ICMP checksums recomputed from scratch.
fn fix_checksums(p: &mut [u8]) {
    fn sum(b: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in b.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
    p[10..12].fill(0);
    let h = sum(&p[..20]);
    p[10..12].copy_from_slice(&h.to_be_bytes());
    p[22..24].fill(0);
    let c = sum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
}

/// The hub's datagrams to whichever remote they are addressed to.
fn carry_hub(hub: &mut Tunnel, remotes: &mut [(&str, &mut Tunnel)], now: Instant) {
    use super::Dest;
    let mut buf = vec![0u8; 65_536];
    while let Ok(Some(t)) = hub.poll_transmit(&mut buf) {
        let m = buf[..t.len].to_vec();
        let to = match t.dest {
            Dest::Udp { remote, .. } => remote.ip().to_string(),
            Dest::Esp { dst, .. } => dst.to_string(),
            Dest::Tun | Dest::Vti(_) => continue,
        };
        let Some((_, r)) = remotes.iter_mut().find(|(a, _)| *a == to) else {
            continue;
        };
        let v = match t.dest {
            Dest::Udp { local, remote } => r.handle_udp(now, remote, local, &m),
            Dest::Esp { src, .. } => r.handle_esp(now, src, &m),
            Dest::Tun | Dest::Vti(_) => Ok(()),
        };
        assert_eq!(v, Ok(()));
    }
}

/// Two remote-access clients of one dynamic entry: `show crypto session detail` lists each
/// with its own user, address and flow, as an IOS concentrator does (not one session for the
/// whole template).
#[test]
fn the_server_shows_one_session_per_client() {
    let hub_text = HUB.replace(
        "username alice password 0 tunnel-pass-1\n",
        "username alice password 0 tunnel-pass-1\nusername bob password 0 tunnel-pass-2\n",
    );
    let mut hub = Tunnel::from_ios(&hub_text, CoreOptions::seeded(7)).unwrap();
    let mut r1 = Tunnel::from_ios(REMOTE, CoreOptions::seeded(8)).unwrap();
    let second = REMOTE.replace("203.0.113.2", "203.0.113.3").replace(
        "username alice password 0 tunnel-pass-1",
        "username bob password 0 tunnel-pass-2",
    );
    let mut r2 = Tunnel::from_ios(&second, CoreOptions::seeded(9)).unwrap();
    let mut now = Instant::from_millis(1_000);
    for _ in 0..300 {
        for t in [&mut hub, &mut r1, &mut r2] {
            if t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
            }
        }
        carry(&mut r1, &mut hub, now);
        carry(&mut r2, &mut hub, now);
        carry_hub(
            &mut hub,
            &mut [("203.0.113.2", &mut r1), ("203.0.113.3", &mut r2)],
            now,
        );
        now = Instant::from_millis(now.as_millis() + 10);
    }
    let (a1, a2) = (
        r1.tunnels().ezvpn_addresses(),
        r2.tunnels().ezvpn_addresses(),
    );
    assert_eq!(a1.len(), 1);
    assert_eq!(a2.len(), 1);
    assert_ne!(a1, a2);
    let s = hub.show(now, Show::CryptoSession { detail: true });
    assert_eq!(s.matches("Session status: UP-ACTIVE").count(), 2, "{s}");
    for want in [
        "Username: alice".to_string(),
        "Username: bob".to_string(),
        format!("Assigned address: {}", a1[0]),
        format!("Assigned address: {}", a2[0]),
        "Peer: 203.0.113.2 port 500".to_string(),
        "Peer: 203.0.113.3 port 500".to_string(),
        format!("IPSEC FLOW: permit ip 0.0.0.0/0.0.0.0 host {}", a1[0]),
        format!("IPSEC FLOW: permit ip 0.0.0.0/0.0.0.0 host {}", a2[0]),
    ] {
        assert!(s.contains(&want), "{want}:\n{s}");
    }
}
