//! Keyrings and ISAKMP profiles in memory: site A's key moved into a keyring and its crypto map
//! entry bound to a profile; the seed's site B initiates.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, TunVerdict, Tunnel, TunnelEvent};
use crate::diagnose::Happening;
use crate::time::Instant;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];
const KEY_LINE: &str = "crypto isakmp key ciscokey address 203.0.113.2\n";

/// Site A with `keys` instead of its key line and `set isakmp-profile P` on its entry.
fn site_a(keys: &str) -> String {
    let t = SITE_A.replace(KEY_LINE, keys).replace(
        " match address 100\n",
        " match address 100\n set isakmp-profile P\n",
    );
    assert!(t.contains("set isakmp-profile P"), "{t}");
    t
}

fn profile(keyring: &str, identity: &str) -> String {
    format!("crypto isakmp profile P\n   keyring {keyring}\n   match identity address {identity} 255.255.255.255\n")
}

/// Site B's first packet and a while of exchanges; site A's events.
fn negotiate(a: &mut Tunnel) -> Vec<TunnelEvent> {
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    assert_eq!(
        b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    for _ in 0..20 {
        carry(&mut b, a, now);
        carry(a, &mut b, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    let p = ping(HOST_B, HOST_A, 1);
    if b.handle_plaintext(now, &p) == TunVerdict::Protected {
        assert_eq!(carry(&mut b, a, now), vec![p]);
    }
    std::iter::from_fn(|| a.poll_event()).collect()
}

fn up(ev: &[TunnelEvent]) -> bool {
    ev.iter().any(|e| matches!(e, TunnelEvent::IpsecUp { .. }))
}

#[test]
fn a_keyring_key_more_specific_than_the_global_wildcard_is_used() {
    let keys = format!(
        "crypto isakmp key wrongkey address 0.0.0.0 0.0.0.0\ncrypto keyring R\n  pre-shared-key address 203.0.113.2 key ciscokey\n{}",
        profile("R", "203.0.113.2")
    );
    let text = site_a(&keys);
    let again = crate::ios::render(&crate::ios::parse(&text).unwrap().config);
    assert!(again.contains("crypto keyring R\n"), "{again}");
    assert!(again.contains("pre-shared-key address 203.0.113.2 255.255.255.255 key ciscokey"));
    assert!(again.contains(" set isakmp-profile P\n"), "{again}");
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    let map = a.show(Instant::from_millis(0), super::Show::CryptoMap);
    assert!(
        map.contains("\tISAKMP Profile: P\n\tPeer = 203.0.113.2"),
        "{map}"
    );
    assert!(up(&negotiate(&mut a)));
}

#[test]
fn a_key_from_another_keyring_than_the_profiles_is_refused_with_the_reason() {
    let keys = format!(
        "crypto keyring R\n  pre-shared-key address 203.0.113.0 255.255.255.0 key ciscokey\ncrypto keyring OTHER\n  pre-shared-key address 203.0.113.2 key ciscokey\n{}",
        profile("R", "203.0.113.2")
    );
    let text = site_a(&keys);
    // The host key in OTHER beats R's /24, and P only takes R's keys.
    let e = match Tunnel::from_ios(&text, CoreOptions::seeded(1)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("built"),
    };
    assert!(
        e.contains("comes from keyring OTHER, not from keyring R of isakmp profile P"),
        "{e}"
    );
    let parsed = crate::ios::parse(&text).unwrap();
    let lints = crate::ios::check::check(&parsed.config, Some(&parsed.origins));
    assert!(
        lints
            .iter()
            .any(|l| l.kind == crate::ios::check::LintKind::ProfileKeyMismatch),
        "{lints:?}"
    );
}

#[test]
fn an_identity_the_profile_does_not_match_is_refused() {
    let keys = format!(
        "crypto keyring R\n  pre-shared-key address 203.0.113.2 key ciscokey\n{}",
        profile("R", "203.0.113.99")
    );
    let mut a = Tunnel::from_ios(&site_a(&keys), CoreOptions::seeded(1)).unwrap();
    let ev = negotiate(&mut a);
    assert!(!up(&ev), "{ev:?}");
    let peer: std::net::IpAddr = "203.0.113.2".parse().unwrap();
    let texts: Vec<String> = a
        .tunnels()
        .history()
        .peer(peer)
        .map(|h| {
            h.events
                .iter()
                .filter_map(|r| match &r.what {
                    Happening::Failed { phase: 1, text, .. } => Some(text.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("peer identity 203.0.113.2 is not matched by the ISAKMP profile")),
        "{texts:?}"
    );
}
