//! Lints over a [`GatewayConfig`] for the classic LAN-to-LAN mistakes (`ipsec-engine check`).
//!
//! Each finding names the configuration line it came from when the configuration was parsed from
//! text (pass the [`Origins`] of [`super::config::ParsedConfig`]).

use std::fmt;

use crate::policy::{
    AclAction, AclEntry, GatewayConfig, IkeAuth, KeyEncoding, SelectorAddr, ValidationWarning,
};

use super::config::{Item, Origins};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Will not work as intended (tunnel never comes up, or traffic leaves in clear).
    Error,
    /// Probably a mistake.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// Traffic the crypto ACL protects is translated by NAT first (missing NAT exemption `deny`).
    MissingNatExemption,
    /// A crypto map peer has no pre-shared key.
    PeerWithoutKey,
    /// A crypto map entry lacks a peer, transform set or ACL, or refers to a missing one.
    IncompleteMapEntry,
    /// A transform set no crypto map uses.
    UnusedTransformSet,
    /// Two permit lines of the crypto ACLs of one map overlap.
    OverlappingCryptoAcl,
    /// An ISAKMP policy whose authentication method cannot be used with the configured credentials.
    UnusableIsakmpPolicy,
    /// A crypto ACL permit line that cannot be proposed as a proxy identity.
    InexpressibleCryptoAcl,
    /// A crypto map that no interface uses.
    UnappliedCryptoMap,
    /// No route to a protected remote network.
    NoRouteToRemote,
    /// Any other consistency problem (see [`GatewayConfig::validate`]).
    Inconsistent,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// Severity.
    pub severity: Severity,
    /// Kind.
    pub kind: LintKind,
    /// Source line (1-based) when known.
    pub line: Option<usize>,
    /// One-line explanation.
    pub message: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.severity, self.message),
            None => write!(f, "{}: {}", self.severity, self.message),
        }
    }
}

/// Runs every lint. Findings are sorted by line (unknown lines last), then severity.
pub fn check(cfg: &GatewayConfig, origins: Option<&Origins>) -> Vec<Lint> {
    let empty = Origins::default();
    let o = origins.unwrap_or(&empty);
    let mut out = Vec::new();
    let mut push = |severity, kind, item: Option<Item>, message: String| {
        let line = item.and_then(|i| o.line(&i));
        out.push(Lint {
            severity,
            kind,
            line,
            message,
        });
    };

    // Dangling references and incomplete entries, from the policy layer.
    for w in cfg.validate() {
        let (sev, kind, item) = match &w {
            ValidationWarning::IncompleteMapEntry { map, seq, .. }
            | ValidationWarning::MissingTransformSet { map, seq, .. } => (
                Severity::Error,
                LintKind::IncompleteMapEntry,
                Some(Item::MapEntry(map.clone(), *seq)),
            ),
            ValidationWarning::MissingAcl { user, .. } => {
                let item = cfg
                    .crypto_maps
                    .iter()
                    .find(|e| *user == format!("crypto map {} {}", e.map, e.seq))
                    .map(|e| Item::MapEntry(e.map.clone(), e.seq));
                let kind = if item.is_some() {
                    LintKind::IncompleteMapEntry
                } else {
                    LintKind::Inconsistent
                };
                (Severity::Error, kind, item)
            }
            ValidationWarning::MissingCryptoMap { interface, .. } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::Interface(interface.clone())),
            ),
            ValidationWarning::UnknownGroup {
                priority: Some(p), ..
            }
            | ValidationWarning::BadAesKeySize { priority: p, .. } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::IsakmpPolicy(*p)),
            ),
            ValidationWarning::NullTransformSet { name } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::TransformSet(name.clone())),
            ),
            _ => (Severity::Warning, LintKind::Inconsistent, None),
        };
        push(sev, kind, item, w.to_string());
    }

    // Peers without a key: Main Mode with pre-shared keys cannot even start.
    for e in &cfg.crypto_maps {
        for p in &e.peers {
            if cfg.key_for(*p).is_none() {
                let type6 = cfg
                    .keys
                    .iter()
                    .any(|k| k.encoding == KeyEncoding::Type6 && k.matches_addr(*p));
                let why = if type6 {
                    " (only a type-6 key, whose clear text is unknown)"
                } else {
                    ""
                };
                push(
                    Severity::Error,
                    LintKind::PeerWithoutKey,
                    Some(Item::MapEntry(e.map.clone(), e.seq)),
                    format!(
                        "crypto map {} {}: no pre-shared key for peer {p}{why}",
                        e.map, e.seq
                    ),
                );
            }
        }
    }

    // ISAKMP policies that can never authenticate: only pre-shared keys exist (no PKI support).
    if !cfg.keys.is_empty() {
        let any_psk = cfg
            .isakmp_policies
            .iter()
            .any(|p| p.authentication == IkeAuth::PreShare);
        for p in &cfg.isakmp_policies {
            if p.authentication != IkeAuth::PreShare {
                push(
                    if any_psk {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    LintKind::UnusableIsakmpPolicy,
                    Some(Item::IsakmpPolicy(p.priority)),
                    format!(
                        "isakmp policy {} uses {} but only pre-shared keys are configured{}",
                        p.priority,
                        p.authentication.ios_keyword(),
                        if any_psk {
                            ""
                        } else {
                            "; no policy can authenticate (add `authentication pre-share`)"
                        }
                    ),
                );
            }
        }
        if cfg.isakmp_policies.is_empty() && !cfg.crypto_maps.is_empty() {
            push(
                Severity::Error,
                LintKind::UnusableIsakmpPolicy,
                None,
                "no isakmp policy: only the default suite (rsa-sig) exists, pre-shared keys cannot be used".into(),
            );
        }
    }

    // Transform sets nobody offers.
    for t in &cfg.transform_sets {
        if !cfg
            .crypto_maps
            .iter()
            .any(|e| e.transform_sets.contains(&t.name))
        {
            push(
                Severity::Warning,
                LintKind::UnusedTransformSet,
                Some(Item::TransformSet(t.name.clone())),
                format!("transform set {} is not used by any crypto map", t.name),
            );
        }
    }

    // Crypto maps nobody applies.
    let mut seen: Vec<&str> = Vec::new();
    for e in &cfg.crypto_maps {
        if seen.contains(&e.map.as_str()) {
            continue;
        }
        seen.push(&e.map);
        if !cfg
            .interfaces
            .iter()
            .any(|i| i.crypto_map.as_deref() == Some(e.map.as_str()))
        {
            push(
                Severity::Warning,
                LintKind::UnappliedCryptoMap,
                Some(Item::MapEntry(e.map.clone(), e.seq)),
                format!("crypto map {} is not applied to any interface", e.map),
            );
        }
    }

    // Crypto ACL lines: expressibility and overlaps within one map.
    for map in seen {
        let mut lines: Vec<(&str, u16, &AclEntry)> = Vec::new();
        for e in cfg.crypto_map(map) {
            let Some(acl) = e.acl.as_deref().and_then(|a| cfg.access_list(a)) else {
                continue;
            };
            for entry in acl.entries.iter().filter(|x| x.action == AclAction::Permit) {
                let item = Some(Item::AclEntry(acl.name.clone(), entry.seq));
                if entry.to_selectors().is_none() {
                    push(
                        Severity::Error,
                        LintKind::InexpressibleCryptoAcl,
                        item.clone(),
                        format!(
                            "access-list {} `{}` cannot be sent as a proxy identity \
                             (non-contiguous wildcard or neq)",
                            acl.name,
                            entry.render(acl.kind)
                        ),
                    );
                }
                for (prev_acl, prev_seq, prev) in &lines {
                    if prev.overlaps(entry) {
                        push(
                            Severity::Warning,
                            LintKind::OverlappingCryptoAcl,
                            item.clone(),
                            format!(
                                "crypto map {map}: access-list {} `{}` overlaps access-list {prev_acl} line {prev_seq} \
                                 `{}`; the first match wins",
                                acl.name,
                                entry.render(acl.kind),
                                prev.render(acl.kind)
                            ),
                        );
                    }
                }
                lines.push((
                    acl.name.as_str(),
                    u16::try_from(entry.seq).unwrap_or(u16::MAX),
                    entry,
                ));
            }
        }
    }

    // NAT before crypto: protected traffic must be denied (exempted) by the NAT ACL.
    for (ni, nat) in cfg.nat_rules.iter().enumerate() {
        let Some(nat_acl) = cfg.access_list(&nat.acl) else {
            continue;
        };
        let Some(intf) = cfg.interface(&nat.interface) else {
            continue;
        };
        let Some(map) = intf.crypto_map.as_deref() else {
            continue;
        };
        for e in cfg.crypto_map(map) {
            let Some(acl) = e.acl.as_deref().and_then(|a| cfg.access_list(a)) else {
                continue;
            };
            for c in acl.entries.iter().filter(|x| x.action == AclAction::Permit) {
                // Walk the NAT ACL in order: a covering deny exempts the flow; an overlapping permit first
                // means at least part of it is translated.
                let mut translated = None;
                for n in &nat_acl.entries {
                    if !n.overlaps(c) {
                        continue;
                    }
                    if n.action == AclAction::Deny && n.covers(c) {
                        break;
                    }
                    if n.action == AclAction::Permit {
                        translated = Some(n);
                        break;
                    }
                }
                if let Some(n) = translated {
                    let crypto_line = o.line(&Item::AclEntry(acl.name.clone(), c.seq));
                    push(
                        Severity::Error,
                        LintKind::MissingNatExemption,
                        Some(Item::Nat(ni)),
                        format!(
                            "NAT ACL {} line `{}` translates traffic crypto ACL {} protects (`{}`{}); \
                             add `deny {} {} {}` before it",
                            nat_acl.name,
                            n.render(nat_acl.kind),
                            acl.name,
                            c.render(acl.kind),
                            crypto_line.map(|l| format!(", line {l}")).unwrap_or_default(),
                            c.protocol,
                            c.src,
                            c.dst
                        ),
                    );
                }
            }
        }
    }

    // Routes: the protected remote networks must be reachable (usually via the default route).
    for e in &cfg.crypto_maps {
        let Some(acl) = e.acl.as_deref().and_then(|a| cfg.access_list(a)) else {
            continue;
        };
        for c in acl.entries.iter().filter(|x| x.action == AclAction::Permit) {
            let Some((_, remote)) = c.to_selectors() else {
                continue;
            };
            let (start, _) = remote.addr.range();
            let connected = cfg.interfaces.iter().any(|i| {
                i.address.is_some_and(|(a, m)| {
                    u32::from(a) & u32::from(m) == u32::from(start) & u32::from(m)
                })
            });
            let any_dst =
                matches!(remote.addr, SelectorAddr::Subnet { mask, .. } if u32::from(mask) == 0);
            if !connected && !any_dst && !cfg.routes.iter().any(|r| r.covers(start)) {
                push(
                    Severity::Warning,
                    LintKind::NoRouteToRemote,
                    Some(Item::AclEntry(acl.name.clone(), c.seq)),
                    format!("no route to {start} (protected by access-list {}); traffic will not reach the crypto map", acl.name),
                );
            }
        }
    }

    out.sort_by_key(|l| (l.line.unwrap_or(usize::MAX), l.severity));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ios::config::parse;

    fn lints(text: &str) -> Vec<Lint> {
        let p = parse(text).unwrap();
        check(&p.config, Some(&p.origins))
    }

    #[test]
    fn reference_config_is_clean() {
        let l = lints(crate::ios::seed::SITE_A);
        assert!(l.is_empty(), "{l:#?}");
        let l = lints(crate::ios::seed::SITE_A_VERBATIM);
        assert!(l.is_empty(), "{l:#?}");
    }

    #[test]
    fn missing_nat_exemption_found() {
        // The seed's ACL 101 without its `deny` line.
        let text = crate::ios::seed::SITE_A.replace(
            "access-list 101 deny   ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n",
            "",
        );
        let l = lints(&text);
        assert_eq!(l.len(), 1, "{l:#?}");
        assert_eq!(l[0].kind, LintKind::MissingNatExemption);
        assert_eq!(l[0].severity, Severity::Error);
        assert_eq!(l[0].line, Some(24), "the ip nat inside source line");
        assert!(
            l[0].message
                .contains("add `deny ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255`"),
            "{}",
            l[0]
        );
        assert!(l[0].message.contains("line 25"), "{}", l[0]);
        // A deny that only covers part of the protected traffic is not enough.
        let partial = crate::ios::seed::SITE_A.replace(
            "access-list 101 deny   ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255",
            "access-list 101 deny   ip 192.168.1.0 0.0.0.127 192.168.2.0 0.0.0.255",
        );
        assert_eq!(
            lints(&partial)
                .iter()
                .filter(|l| l.kind == LintKind::MissingNatExemption)
                .count(),
            1
        );
    }

    #[test]
    fn each_lint_fires() {
        let text = "crypto isakmp policy 1
 authentication rsa-sig
crypto isakmp key k address 203.0.113.2
crypto ipsec transform-set T esp-3des esp-sha-hmac
crypto ipsec transform-set UNUSED esp-aes esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set peer 203.0.113.3
 set transform-set T
 match address 100
crypto map VPN 20 ipsec-isakmp
 set peer 203.0.113.2
crypto map OTHER 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set T
 match address 102
interface FastEthernet4
 ip address 198.51.100.1 255.255.255.0
 crypto map VPN
access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255
access-list 100 permit icmp host 192.168.1.1 192.168.2.0 0.0.0.255
access-list 100 permit ip 192.168.1.0 0.0.255.0 10.0.0.0 0.255.255.255
access-list 102 permit ip any any
";
        let l = lints(text);
        let find = |k: LintKind| l.iter().filter(|x| x.kind == k).collect::<Vec<_>>();
        let key = find(LintKind::PeerWithoutKey);
        assert_eq!(key.len(), 1, "{l:#?}");
        assert_eq!(key[0].line, Some(6));
        assert!(key[0].message.contains("203.0.113.3"));
        let inc = find(LintKind::IncompleteMapEntry);
        assert_eq!(inc.len(), 2, "{inc:#?}");
        assert!(inc.iter().all(|x| x.line == Some(11)));
        let unused = find(LintKind::UnusedTransformSet);
        assert_eq!((unused.len(), unused[0].line), (1, Some(5)));
        let overlap = find(LintKind::OverlappingCryptoAcl);
        assert_eq!(overlap.len(), 1, "{overlap:#?}");
        assert_eq!(overlap[0].line, Some(21));
        let pol = find(LintKind::UnusableIsakmpPolicy);
        assert_eq!(
            (pol.len(), pol[0].line, pol[0].severity),
            (1, Some(1), Severity::Error)
        );
        let inex = find(LintKind::InexpressibleCryptoAcl);
        assert_eq!((inex.len(), inex[0].line), (1, Some(22)));
        let unapplied = find(LintKind::UnappliedCryptoMap);
        assert_eq!((unapplied.len(), unapplied[0].line), (1, Some(13)));
        let route = find(LintKind::NoRouteToRemote);
        assert_eq!(route.len(), 2, "{route:#?}");
        assert_eq!(route[0].line, Some(20));
        let lines: Vec<_> = l.iter().map(|x| x.line.unwrap_or(0)).collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
        assert!(
            l[0].to_string()
                .starts_with("line 1: error: isakmp policy 1 uses rsa-sig"),
            "{}",
            l[0]
        );
    }
}
