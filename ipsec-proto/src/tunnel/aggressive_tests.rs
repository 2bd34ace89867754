//! Aggressive Mode through the tunnel layer, configured in IOS syntax: a spoke that initiates
//! it with `crypto isakmp peer address A` + `set aggressive-mode password/client-endpoint`, a
//! hub that keys it by the spoke's identity (`crypto isakmp key K hostname H`) on a dynamic
//! crypto map; the SA goes AG_INIT_EXCH -> QM_IDLE and Quick Mode runs over it unchanged.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, Show, TunVerdict, Tunnel, TunnelEvent};
use crate::time::Instant;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];

/// Site A as a hub: a dynamic map, and only hostname keys.
fn hub(keys: &str) -> String {
    let t = SITE_A
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            "crypto dynamic-map DYN 10\n set transform-set TRANSFORM\n match address 100\ncrypto map VPN 65535 ipsec-isakmp dynamic DYN\n",
        )
        .replace("crypto isakmp key ciscokey address 203.0.113.2\n", keys);
    assert!(t.contains("dynamic DYN") && t.contains(keys), "{t}");
    t
}

/// Site B initiating Aggressive Mode as `endpoint` with `password`, without an address key.
fn spoke(password: &str, endpoint: &str) -> String {
    let block = format!(
        "crypto isakmp peer address 198.51.100.1\n set aggressive-mode password {password}\n set aggressive-mode client-endpoint {endpoint}\n!\n"
    );
    let t = SITE_B.replace("crypto isakmp key ciscokey address 198.51.100.1\n", &block);
    assert!(t.contains("aggressive-mode password"), "{t}");
    t
}

fn step(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
    carry(a, b, *now);
    carry(b, a, *now);
    *now = Instant::from_millis(now.as_millis() + 10);
}

#[test]
fn a_spoke_initiating_aggressive_mode_by_fqdn_gets_its_tunnel_and_traffic_flows() {
    let mut a = Tunnel::from_ios(
        &hub("crypto isakmp key groupkey-0123456789 hostname spoke.example.net\n"),
        CoreOptions::seeded(1),
    )
    .unwrap();
    let mut b = Tunnel::from_ios(
        &spoke("groupkey-0123456789", "fqdn spoke.example.net"),
        CoreOptions::seeded(2),
    )
    .unwrap();
    let mut now = Instant::from_millis(1_000);
    assert_eq!(
        b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    // AM1 leaves: the spoke shows AG_NO_STATE.
    let shown = b.show(now, Show::IsakmpSa);
    assert!(shown.contains("AG_NO_STATE"), "{shown}");
    // AM1 reaches the hub, which answers and waits for AM3 in AG_INIT_EXCH.
    carry(&mut b, &mut a, now);
    let shown = a.show(now, Show::IsakmpSa);
    assert!(shown.contains("AG_INIT_EXCH"), "{shown}");
    for _ in 0..20 {
        step(&mut a, &mut b, &mut now);
    }
    let up = std::iter::from_fn(|| a.poll_event())
        .filter(|e| matches!(e, TunnelEvent::IpsecUp { .. }))
        .count();
    assert_eq!(up, 1, "the hub installed the spoke's pair");
    for (t, name) in [(&a, "hub"), (&b, "spoke")] {
        let shown = t.show(now, Show::IsakmpSa);
        assert!(shown.contains("QM_IDLE"), "{name}: {shown}");
    }
    for seq in 1..=3 {
        let p = ping(HOST_A, HOST_B, seq);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(carry(&mut a, &mut b, now), vec![p]);
        let r = ping(HOST_B, HOST_A, seq);
        assert_eq!(b.handle_plaintext(now, &r), TunVerdict::Protected);
        assert_eq!(carry(&mut b, &mut a, now), vec![r]);
    }
}

#[test]
fn a_wrong_aggressive_mode_password_or_an_unknown_name_gets_no_tunnel() {
    for (password, endpoint) in [
        ("not-the-group-key", "fqdn spoke.example.net"),
        ("groupkey-0123456789", "fqdn stranger.example.net"),
    ] {
        let mut a = Tunnel::from_ios(
            &hub("crypto isakmp key groupkey-0123456789 hostname spoke.example.net\n"),
            CoreOptions::seeded(3),
        )
        .unwrap();
        let mut b = Tunnel::from_ios(&spoke(password, endpoint), CoreOptions::seeded(4)).unwrap();
        let mut now = Instant::from_millis(1_000);
        let _ = b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0));
        for _ in 0..20 {
            step(&mut a, &mut b, &mut now);
        }
        let up = std::iter::from_fn(|| a.poll_event())
            .filter(|e| matches!(e, TunnelEvent::IpsecUp { .. }))
            .count();
        assert_eq!(up, 0, "{password} {endpoint}");
        assert!(!b.show(now, Show::IsakmpSa).contains("QM_IDLE"));
    }
}

#[test]
fn aggressive_mode_disable_keeps_the_hub_silent() {
    let mut a = Tunnel::from_ios(
        &hub("crypto isakmp key groupkey-0123456789 hostname spoke.example.net\ncrypto isakmp key mainmode-key-0123 address 0.0.0.0 0.0.0.0\ncrypto isakmp aggressive-mode disable\n"),
        CoreOptions::seeded(5),
    )
    .unwrap();
    let mut b = Tunnel::from_ios(
        &spoke("groupkey-0123456789", "fqdn spoke.example.net"),
        CoreOptions::seeded(6),
    )
    .unwrap();
    let now = Instant::from_millis(1_000);
    let _ = b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0));
    let mut buf = vec![0u8; 2048];
    let t = b.poll_transmit(&mut buf).unwrap().expect("AM1");
    let super::Dest::Udp { local, remote } = t.dest else {
        panic!("AM1 not over UDP")
    };
    let verdict = a.handle_udp(now, remote, local, &buf[..t.len]);
    assert_eq!(
        verdict,
        Err(super::Dropped::Ike(
            crate::ike::DatagramDrop::AggressiveModeDisabled
        ))
    );
    assert!(
        matches!(a.poll_transmit(&mut buf), Ok(None)),
        "the hub answered"
    );
}

#[test]
fn an_isakmp_profile_initiates_aggressive_mode_with_its_self_identity() {
    // The spoke's entry uses a profile: `initiate mode aggressive` and `self-identity
    // user-fqdn`, its key from the profile's keyring.
    let spoke = SITE_B
        .replace(
            "crypto isakmp key ciscokey address 198.51.100.1\n",
            "crypto keyring RING\n pre-shared-key address 198.51.100.1 key groupkey-0123456789\ncrypto isakmp profile AM\n keyring RING\n self-identity user-fqdn alice@example.net\n initiate mode aggressive\n",
        )
        .replace(" match address 100\n", " match address 100\n set isakmp-profile AM\n");
    let mut a = Tunnel::from_ios(
        &hub("crypto isakmp key groupkey-0123456789 hostname alice@example.net\n"),
        CoreOptions::seeded(7),
    )
    .unwrap();
    let mut b = Tunnel::from_ios(&spoke, CoreOptions::seeded(8)).unwrap();
    let mut now = Instant::from_millis(1_000);
    let _ = b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0));
    let shown = b.show(now, Show::IsakmpSa);
    assert!(shown.contains("AG_NO_STATE"), "{shown}");
    for _ in 0..20 {
        step(&mut a, &mut b, &mut now);
    }
    for (t, name) in [(&a, "hub"), (&b, "spoke")] {
        let shown = t.show(now, Show::IsakmpSa);
        assert!(shown.contains("QM_IDLE"), "{name}: {shown}");
    }
    let p = ping(HOST_B, HOST_A, 1);
    assert_eq!(b.handle_plaintext(now, &p), TunVerdict::Protected);
    assert_eq!(carry(&mut b, &mut a, now), vec![p]);
}

#[test]
fn a_map_client_authentication_list_gives_its_entries_an_xauth_server() {
    let aaa = "aaa new-model\naaa authentication login vpnusers local\nusername alice password 0 wonderland\ncrypto map VPN client authentication list vpnusers\n";
    let text = format!(
        "{aaa}{}",
        hub("crypto isakmp key groupkey-0123456789 hostname spoke.example.net\n")
    );
    let cfg = crate::ios::config::parse(&text).unwrap().config;
    let built = super::build::build(&cfg, None).unwrap();
    let x = built.endpoint.peers[0]
        .xauth_server
        .as_ref()
        .expect("XAUTH server");
    assert_eq!(x.list, "vpnusers");
    assert!(x.authenticate(b"alice", b"wonderland"));
    let shown = crate::ios::config::render(&cfg);
    assert!(
        shown.contains("crypto map VPN client authentication list vpnusers\n"),
        "{shown}"
    );
    // The list without `aaa new-model` would refuse everyone: the entry is left out, shown why.
    let text = text.replace("aaa new-model\n", "");
    let cfg = crate::ios::config::parse(&text).unwrap().config;
    let why = super::build::build(&cfg, None).unwrap_err().to_string();
    assert!(why.contains("client authentication list vpnusers"), "{why}");
}

#[test]
fn an_isakmp_profile_client_authentication_list_gives_its_entries_an_xauth_server() {
    let aaa = "aaa new-model\naaa authentication login vpnusers local\nusername alice password 0 wonderland\ncrypto isakmp profile RA\n client authentication list vpnusers\n";
    let text = format!(
        "{aaa}{}",
        hub("crypto isakmp key groupkey-0123456789 hostname spoke.example.net\n")
    )
    .replace(
        "crypto dynamic-map DYN 10\n",
        "crypto dynamic-map DYN 10\n set isakmp-profile RA\n",
    );
    assert!(text.contains("set isakmp-profile RA"), "{text}");
    let cfg = crate::ios::config::parse(&text).unwrap().config;
    let built = super::build::build(&cfg, None).unwrap();
    let x = built.endpoint.peers[0]
        .xauth_server
        .as_ref()
        .expect("XAUTH server from the profile");
    assert_eq!(x.list, "vpnusers");
    // Rendered back in show running-config.
    let shown = crate::ios::config::render(&cfg);
    assert!(
        shown.contains(" client authentication list vpnusers"),
        "{shown}"
    );
}
