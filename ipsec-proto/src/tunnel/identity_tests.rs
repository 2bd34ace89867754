//! FQDN identities in memory: a hub whose dynamic map has two entries bound to ISAKMP profiles
//! that `match identity host` / `match identity host domain`, and spokes that identify with
//! `crypto isakmp identity hostname` or a profile's `self-identity fqdn`. The profile (so the
//! entry) is chosen at MM5 by the identity, after the key was chosen by address.

use super::polled::tests::{carry, phase1_failures, ping, SITE_A, SITE_B};
use super::{CoreOptions, TunVerdict, Tunnel, TunnelEvent};
use crate::policy::{HostIdentity, LocalIdentity};
use crate::time::Instant;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];

/// Site A as a hub: a wildcard key, dynamic entries 10 (profile NAMED, one host) and 20
/// (profile BRANCHES, a domain).
fn hub() -> String {
    let t = SITE_A
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            "crypto isakmp profile NAMED\n   match identity host hq-backup.example.com\n   self-identity fqdn\n\
crypto isakmp profile BRANCHES\n   match identity host domain branch.example.net\n   self-identity fqdn\n\
crypto dynamic-map DYN 10\n set transform-set TRANSFORM\n match address 100\n set isakmp-profile NAMED\n\
crypto dynamic-map DYN 20\n set transform-set TRANSFORM\n match address 100\n set isakmp-profile BRANCHES\n\
crypto map VPN 65535 ipsec-isakmp dynamic DYN\n",
        )
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            "ip domain name example.com\ncrypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n",
        );
    assert!(t.contains("dynamic DYN") && t.contains("BRANCHES"), "{t}");
    t
}

/// Site B identifying with its FQDN `siteB.<domain>`; when `check_hub` its profile takes only
/// the hub's FQDN.
fn spoke(domain: &str, check_hub: Option<&str>) -> String {
    let mut t = SITE_B.replace(
        "crypto isakmp policy 1\n",
        &format!(
            "ip domain-name {domain}\ncrypto isakmp identity hostname\ncrypto isakmp policy 1\n"
        ),
    );
    if let Some(h) = check_hub {
        t = t
            .replace(
                " match address 100\n",
                " match address 100\n set isakmp-profile HUB\n",
            )
            .replace(
                "crypto isakmp policy 1\n",
                &format!("crypto isakmp profile HUB\n   match identity host {h}\n   self-identity fqdn\ncrypto isakmp policy 1\n"),
            );
    }
    t
}

/// The spoke's first packet and a while of exchanges; the hub's events, and whether a ping
/// then crossed.
fn negotiate(a: &mut Tunnel, b: &mut Tunnel) -> (Vec<TunnelEvent>, bool) {
    let mut now = Instant::from_millis(1_000);
    assert_eq!(
        b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    for _ in 0..20 {
        carry(b, a, now);
        carry(a, b, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    let p = ping(HOST_B, HOST_A, 1);
    let crossed =
        b.handle_plaintext(now, &p) == TunVerdict::Protected && carry(b, a, now) == vec![p];
    (std::iter::from_fn(|| a.poll_event()).collect(), crossed)
}

fn entry_up(ev: &[TunnelEvent]) -> Option<usize> {
    ev.iter().find_map(|e| match e {
        TunnelEvent::IpsecUp { entry, .. } => Some(*entry),
        _ => None,
    })
}

#[test]
fn the_profile_matching_the_fqdn_takes_the_sa_at_mm5() {
    let mut a = Tunnel::from_ios(&hub(), CoreOptions::seeded(1)).unwrap();
    // siteB.branch.example.net: not NAMED's host, in BRANCHES's domain (the second entry).
    let mut b = Tunnel::from_ios(
        &spoke("branch.example.net", Some("siteA.example.com")),
        CoreOptions::seeded(2),
    )
    .unwrap();
    let (ev, crossed) = negotiate(&mut a, &mut b);
    assert!(crossed, "{ev:?}");
    let entries = a.tunnels().entries();
    let e = entry_up(&ev).expect("an IPsec SA");
    assert_eq!(entries[e].dynamic, Some(("DYN".into(), 20)), "{ev:?}");
    assert_eq!(entries[e].isakmp_profile.as_deref(), Some("BRANCHES"));
    // The spoke's profile took our `self-identity fqdn`: siteA.example.com.
    assert!(phase1_failures(&b, "198.51.100.1").is_empty());
}

#[test]
fn an_fqdn_no_profile_takes_is_refused_naming_it() {
    let mut a = Tunnel::from_ios(&hub(), CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(
        &spoke("elsewhere.example.org", None),
        CoreOptions::seeded(2),
    )
    .unwrap();
    let (ev, crossed) = negotiate(&mut a, &mut b);
    assert!(!crossed && entry_up(&ev).is_none(), "{ev:?}");
    let texts = phase1_failures(&a, "203.0.113.2");
    assert!(
        texts.iter().any(|t| t.contains(
            "peer identity siteB.elsewhere.example.org (ID_FQDN) is not matched by the ISAKMP profile"
        )),
        "{texts:?}"
    );
}

#[test]
fn the_initiator_refuses_a_responder_fqdn_its_profile_does_not_match() {
    let mut a = Tunnel::from_ios(&hub(), CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(
        &spoke("branch.example.net", Some("other-hub.example.com")),
        CoreOptions::seeded(2),
    )
    .unwrap();
    let (_, crossed) = negotiate(&mut a, &mut b);
    assert!(!crossed);
    let texts = phase1_failures(&b, "198.51.100.1");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("peer identity siteA.example.com (ID_FQDN)")),
        "{texts:?}"
    );
}

#[test]
fn identities_parse_render_and_resolve() {
    let p = crate::ios::parse(&hub()).unwrap();
    let c = &p.config;
    assert_eq!(c.domain_name.as_deref(), Some("example.com"));
    assert_eq!(c.fqdn(), "siteA.example.com");
    let named = c.isakmp_profile("NAMED").unwrap();
    assert_eq!(
        named.match_hosts,
        vec![HostIdentity::Host("hq-backup.example.com".into())]
    );
    assert_eq!(
        c.local_identity(Some(named)),
        LocalIdentity::Fqdn("siteA.example.com".into())
    );
    assert_eq!(c.local_identity(None), LocalIdentity::Address);
    let again = crate::ios::parse(&crate::ios::render(c)).unwrap();
    assert_eq!(&again.config.isakmp_profiles, &c.isakmp_profiles);
    assert_eq!(again.config.domain_name, c.domain_name);
    let s = crate::ios::parse(&spoke("branch.example.net", None)).unwrap();
    assert_eq!(
        s.config.isakmp_identity,
        crate::policy::IsakmpIdentity::Hostname
    );
    assert_eq!(
        s.config.local_identity(None),
        LocalIdentity::Fqdn("siteB.branch.example.net".into())
    );
    let u =
        crate::ios::parse("crypto isakmp profile U\n self-identity user-fqdn vpn@example.com\n")
            .unwrap();
    assert_eq!(
        u.config.local_identity(u.config.isakmp_profile("U")),
        LocalIdentity::UserFqdn("vpn@example.com".into())
    );
    let d = HostIdentity::Domain("example.net".into());
    assert!(d.matches("a.b.EXAMPLE.net") && d.matches("example.net."));
    assert!(!d.matches("badexample.net") && !d.matches("example.net.evil"));
    assert!(HostIdentity::Host("x.example.net".into()).matches("X.example.net"));
}

#[test]
fn an_fqdn_identity_without_a_domain_is_linted() {
    let text = SITE_B.replace(
        "crypto isakmp policy 1\n",
        "crypto isakmp identity hostname\ncrypto isakmp policy 1\n",
    );
    let p = crate::ios::parse(&text).unwrap();
    let l = crate::ios::check::check(&p.config, Some(&p.origins));
    let f: Vec<_> = l
        .iter()
        .filter(|x| x.kind == crate::ios::check::LintKind::FqdnWithoutDomain)
        .collect();
    assert_eq!(f.len(), 1, "{l:#?}");
    assert!(
        f[0].message.contains("bare hostname siteB"),
        "{}",
        f[0].message
    );
    let with = text.replace(
        "crypto isakmp identity hostname\n",
        "ip domain name example.net\ncrypto isakmp identity hostname\n",
    );
    let p = crate::ios::parse(&with).unwrap();
    assert!(!crate::ios::check::check(&p.config, Some(&p.origins))
        .iter()
        .any(|x| x.kind == crate::ios::check::LintKind::FqdnWithoutDomain));
}
