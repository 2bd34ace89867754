//! Lints over a [`GatewayConfig`] for the classic LAN-to-LAN mistakes (`ipsec-engine check`).
//!
//! Each finding names the configuration line it came from when the configuration was parsed from
//! text (pass the [`Origins`] of [`super::config::ParsedConfig`]).
//!
//! Two families: [`check()`] finds what keeps a tunnel from working as intended (the diagnosis
//! reports each of those as a cause); [`check_crypto_strength`] finds what works but is weak
//! (guessable pre-shared keys, DES, MD5, DH groups 1 and 2, ESP without integrity), warnings only.
//! They are kept apart so that `diagnose` on a healthy but weakly configured tunnel still says
//! healthy; [`check_all`] runs both for `ipsec-engine check`.

use std::fmt;
use std::net::Ipv4Addr;

use crate::policy::{
    group_bits, AclAction, AclEntry, EspEncryption, EspIntegrity, GatewayConfig, IkeAuth,
    IkeEncryption, IkeHash, KeyEncoding, PskPeer, SelectorAddr, ValidationWarning,
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
    /// A map entry's ISAKMP profile does not own the keyring its peer's key comes from.
    ProfileKeyMismatch,
    /// We identify with ID_FQDN (`crypto isakmp identity hostname`, `self-identity fqdn`) but
    /// there is no `ip domain name`: the identity is the bare hostname.
    FqdnWithoutDomain,
    /// Any other consistency problem (see [`GatewayConfig::validate`]).
    Inconsistent,
    /// A pre-shared key short or regular enough to be guessed offline (see [`MIN_PSK_LEN`]).
    /// IKEv1 gives an attacker something to test guesses against without talking to anyone: in
    /// Main Mode, whoever can pose as the responder to an initiator once (CVE-2018-5389); in
    /// Aggressive Mode, whoever captures one exchange passively.
    WeakPreSharedKey,
    /// DES encryption, in an ISAKMP policy (`encryption des`, also its default) or a transform
    /// set (`esp-des`).
    WeakEncryption,
    /// MD5, in an ISAKMP policy (`hash md5`) or a transform set (`esp-md5-hmac`).
    WeakHash,
    /// Diffie-Hellman group 1 or 2, in an ISAKMP policy (`group`; 1 is its default) or as the
    /// PFS group of a crypto map entry (`set pfs`).
    WeakDhGroup,
    /// A transform set that encrypts but has no ESP integrity transform.
    EspWithoutIntegrity,
    /// Aggressive Mode with pre-shared keys is in use: its second message carries HASH_R
    /// and everything it covers in clear, so one capture (or one probe, as responder) lets an
    /// attacker test key guesses offline (`ike-scan --aggressive --pskcrack` + `psk-crack`).
    AggressiveModePsk,
    /// A `crypto isakmp peer` block with only one of `set aggressive-mode password` and
    /// `set aggressive-mode client-endpoint`: IOS then falls back to Main Mode.
    IncompleteAggressivePeer,
    /// A file rsa-sig reads from the key directory (our key, a CRL): where it is expected.
    PkiFiles,
    /// A trustpoint rsa-sig uses without a certificate of ours in its chain.
    TrustpointWithoutCertificate,
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

/// Runs every lint of whether the configuration works as intended (not the crypto-strength
/// ones: see [`check_all`]). Findings are sorted by line (unknown lines last), then severity.
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
                // A group's split-tunnel ACL: its line is the group's.
                let item = item.or_else(|| {
                    user.strip_prefix("crypto isakmp client configuration group ")
                        .map(|g| Item::ClientGroup(g.to_string()))
                });
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
            ValidationWarning::MissingPool { group, .. }
            | ValidationWarning::GroupWithoutKey { group } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::ClientGroup(group.clone())),
            ),
            ValidationWarning::IncompleteEzvpn { profile, .. } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::Ezvpn(profile.clone())),
            ),
            ValidationWarning::EzvpnNotApplied { profile }
            | ValidationWarning::EzvpnWaitsForCredentials { profile } => (
                Severity::Warning,
                LintKind::Inconsistent,
                Some(Item::Ezvpn(profile.clone())),
            ),
            ValidationWarning::MissingEzvpn { interface, .. } => (
                Severity::Error,
                LintKind::Inconsistent,
                Some(Item::Interface(interface.clone())),
            ),
            ValidationWarning::MissingAuthorizationList { user, .. } => (
                Severity::Error,
                LintKind::Inconsistent,
                user.strip_prefix("crypto isakmp profile ")
                    .map(|p| Item::IsakmpProfile(p.to_string())),
            ),
            _ => (Severity::Warning, LintKind::Inconsistent, None),
        };
        push(sev, kind, item, w.to_string());
    }

    // Peers without a key: Main Mode with pre-shared keys cannot even start. A key in a
    // keyring counts (whether it serves the right local address is the build's to say).
    let any_key = |p: Ipv4Addr| {
        cfg.key_for(p).is_some()
            || cfg
                .isakmp_peer(p)
                .is_some_and(crate::policy::IsakmpPeer::initiates_aggressive)
            || cfg.keyrings.iter().any(|r| {
                r.keys
                    .iter()
                    .any(|k| k.encoding == KeyEncoding::Clear && k.matches_addr(p))
            })
    };
    let ca_trustpoint = cfg.trustpoints.iter().any(|t| t.chain.iter().any(|c| c.ca));
    let cert_auth = ca_trustpoint
        && cfg
            .isakmp_policies
            .iter()
            .any(|p| p.authentication == IkeAuth::RsaSig);
    for e in &cfg.crypto_maps {
        // With a profile, the key must come from the profile's keyring.
        let profile = e
            .isakmp_profile
            .as_deref()
            .and_then(|p| cfg.isakmp_profile(p));
        // The map's own `local-address IF`, else the interface it is applied to.
        let local = match cfg.map_local_addresses.get(&e.map) {
            Some(l) => cfg.interface(l).and_then(|i| i.address.map(|(a, _)| a)),
            None => cfg
                .interfaces
                .iter()
                .find(|i| i.crypto_map.as_deref() == Some(e.map.as_str()))
                .and_then(|i| i.address.map(|(a, _)| a)),
        };
        for p in &e.peers {
            if let (Some(prof), Some(local)) = (profile, local) {
                if let Err(why) = cfg.entry_key(*p, local, Some(prof)) {
                    if any_key(*p) {
                        push(
                            Severity::Error,
                            LintKind::ProfileKeyMismatch,
                            Some(Item::MapEntry(e.map.clone(), e.seq)),
                            format!("crypto map {} {}: {why}", e.map, e.seq),
                        );
                        continue;
                    }
                }
            }
            // With rsa-sig usable a peer needs no key.
            if !any_key(*p) && !cert_auth {
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

    // ISAKMP policies that can never authenticate: pre-shared keys need a key, rsa-sig a
    // trustpoint with a CA certificate; rsa-encr is never run here.
    let usable = |a: IkeAuth| match a {
        // Keys come in too many places (keyrings, groups, peers) for this lint to judge.
        IkeAuth::PreShare => true,
        IkeAuth::RsaSig => ca_trustpoint,
        IkeAuth::RsaEncr => false,
    };
    let rsa_sig = ca_trustpoint
        && (cfg
            .isakmp_policies
            .iter()
            .any(|p| p.authentication == IkeAuth::RsaSig)
            || cfg.isakmp_policies.is_empty());
    let any_usable = cfg.isakmp_policies.iter().any(|p| usable(p.authentication));
    for p in &cfg.isakmp_policies {
        let why = match p.authentication {
            IkeAuth::PreShare => continue,
            IkeAuth::RsaSig if ca_trustpoint => continue,
            // Only worth saying next to pre-shared keys: without any credential the peers'
            // own lints say what is missing.
            IkeAuth::RsaEncr if cfg.keys.is_empty() => continue,
            IkeAuth::RsaEncr => "only pre-shared keys are configured",
            IkeAuth::RsaSig => {
                "no trustpoint has a CA certificate (`certificate ca SERIAL` in its crypto pki \
                 certificate chain)"
            }
        };
        push(
            if any_usable {
                Severity::Warning
            } else {
                Severity::Error
            },
            LintKind::UnusableIsakmpPolicy,
            Some(Item::IsakmpPolicy(p.priority)),
            format!(
                "isakmp policy {} uses {} but {why}{}",
                p.priority,
                p.authentication.ios_keyword(),
                match (any_usable, cfg.keys.is_empty()) {
                    (true, _) => "",
                    (false, true) => "; no policy can authenticate",
                    (false, false) => {
                        "; no policy can authenticate (add `authentication pre-share`)"
                    }
                }
            ),
        );
    }
    if !cfg.keys.is_empty()
        && cfg.isakmp_policies.is_empty()
        && !cfg.crypto_maps.is_empty()
        && !ca_trustpoint
    {
        push(
            Severity::Error,
            LintKind::UnusableIsakmpPolicy,
            None,
            "no isakmp policy: only the default suite (rsa-sig) exists, pre-shared keys cannot be used".into(),
        );
    }
    if rsa_sig {
        pki_lints(cfg, &mut push);
    }

    // IOS accepts a profile naming a trustpoint or certificate map that does not exist (with
    // a warning); no certificate can then chain to it or match it.
    for p in &cfg.isakmp_profiles {
        for t in &p.ca_trustpoints {
            if !cfg.trustpoints.iter().any(|x| x.name == *t) {
                push(
                    Severity::Warning,
                    LintKind::Inconsistent,
                    Some(Item::IsakmpProfile(p.name.clone())),
                    format!(
                        "isakmp profile {}: ca trust-point {t} does not exist",
                        p.name
                    ),
                );
            }
        }
        for m in &p.match_certificates {
            if !cfg.certificate_maps.iter().any(|x| x.name == *m) {
                push(
                    Severity::Warning,
                    LintKind::Inconsistent,
                    Some(Item::IsakmpProfile(p.name.clone())),
                    format!(
                        "isakmp profile {}: match certificate {m}: no crypto pki certificate map {m}; no certificate matches it",
                        p.name
                    ),
                );
            }
        }
    }

    // Transform sets nobody offers.
    for t in &cfg.transform_sets {
        if !cfg
            .crypto_maps
            .iter()
            .chain(&cfg.dynamic_maps)
            .any(|e| e.transform_sets.contains(&t.name))
            && !cfg
                .ipsec_profiles
                .iter()
                .any(|p| p.transform_sets.contains(&t.name))
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

    // An FQDN identity needs the domain: without it IOS sends the bare hostname, which a peer
    // expecting `host.domain` (strongSwan's `id = @host.domain`) refuses.
    let fqdn_users: Vec<Option<Item>> = cfg
        .isakmp_profiles
        .iter()
        .filter(|p| p.self_identity == Some(crate::policy::SelfIdentity::Fqdn))
        .map(|p| Some(Item::IsakmpProfile(p.name.clone())))
        .chain((cfg.isakmp_identity == crate::policy::IsakmpIdentity::Hostname).then_some(None))
        .collect();
    if cfg.domain_name.as_deref().is_none_or(str::is_empty) {
        for item in fqdn_users {
            let who = match &item {
                Some(Item::IsakmpProfile(p)) => format!("isakmp profile {p} (self-identity fqdn)"),
                _ => "crypto isakmp identity hostname".to_string(),
            };
            push(
                Severity::Warning,
                LintKind::FqdnWithoutDomain,
                item,
                format!(
                    "{who}: no ip domain name, so the ID_FQDN sent is the bare hostname {}; add `ip domain name DOMAIN` if the peer expects {}.DOMAIN",
                    cfg.fqdn(),
                    cfg.fqdn()
                ),
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

/// Runs [`check()`] and [`check_crypto_strength`]: every finding `ipsec-engine check` prints,
/// sorted as [`check()`] sorts.
pub fn check_all(cfg: &GatewayConfig, origins: Option<&Origins>) -> Vec<Lint> {
    let mut out = check(cfg, origins);
    out.extend(check_crypto_strength(cfg, origins));
    // Stable: on one line, errors stay before warnings and each family keeps its own order.
    out.sort_by_key(|l| (l.line.unwrap_or(usize::MAX), l.severity));
    out
}

/// Pre-shared keys with fewer characters than this are reported as weak.
///
/// Why 16: a pre-shared key can be attacked offline (see [`LintKind::WeakPreSharedKey`]), so its
/// only protection is its entropy. 16 characters drawn at random from the ~94 printable ASCII
/// characters give about 105 bits, beyond any offline search; even 16 random lowercase letters and
/// digits give about 83 bits. Human-chosen keys carry far less per character, which the
/// dictionary checks ([`check_crypto_strength`]) try to catch at any length.
pub const MIN_PSK_LEN: usize = 16;

/// Fewer distinct characters than this in a key is a repeated pattern (`abcabcabc...`), not
/// randomness: 16 random printable characters have about 15 distinct ones and fewer than 8 with
/// a probability of about 5e-9 (32 random hex digits: about 4e-8).
const MIN_PSK_DISTINCT: usize = 8;

/// The most common weak pre-shared keys, lowercase: IOS examples and lab defaults, and the
/// perennial passwords. Written for this lint (not taken from a wordlist); a key matches when it
/// is one of these, possibly with digits or symbols around it or look-alike digits inside it
/// (`C1sco123!` is `cisco`).
const COMMON_KEYS: &[&str] = &[
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "abc123",
    "admin",
    "changeme",
    "cisco",
    "ciscocisco",
    "ciscokey",
    "ciscopsk",
    "ciscosecret",
    "ciscovpn",
    "default",
    "firewall",
    "ike",
    "ipsec",
    "ipseckey",
    "ipsecvpn",
    "isakmp",
    "isakmpkey",
    "key",
    "labkey",
    "letmein",
    "mykey",
    "mypassword",
    "mysecret",
    "password",
    "preshared",
    "presharedkey",
    "psk",
    "qwerty",
    "qwertyuiop",
    "router",
    "secret",
    "secretkey",
    "sharedkey",
    "sharedsecret",
    "site",
    "sitetosite",
    "strongswan",
    "test",
    "testing",
    "testkey",
    "tunnel",
    "tunnelkey",
    "vpn",
    "vpnkey",
    "vpnpassword",
    "vpnsecret",
    "welcome",
];

/// Why a pre-shared key is guessable: a length reason and at most one dictionary reason, worded
/// for the lint message. Empty when the key looks random enough.
fn psk_weaknesses(key: &[u8]) -> Vec<String> {
    let mut why = Vec::new();
    // Count characters, not bytes: a key is typed text (bytes only if it is not UTF-8).
    let len = std::str::from_utf8(key).map_or(key.len(), |s| s.chars().count());
    if len < MIN_PSK_LEN {
        why.push(format!("{len} characters, fewer than {MIN_PSK_LEN}"));
    }
    if let Some(d) = dictionary_reason(key) {
        why.push(d);
    }
    why
}

/// The first way a key looks human-chosen, if any.
fn dictionary_reason(key: &[u8]) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let in_list = |k: &[u8]| COMMON_KEYS.iter().any(|c| c.as_bytes() == k);
    if in_list(&lower) {
        return Some("one of the most common pre-shared keys".into());
    }
    // Digits or symbols around a word (`cisco123!`), look-alikes inside it (`p@ssw0rd`).
    let core = trim_non_letters(&lower);
    let unleet: Vec<u8> = core
        .iter()
        .map(|&b| match b {
            b'0' => b'o',
            b'1' | b'!' => b'i',
            b'3' => b'e',
            b'4' | b'@' => b'a',
            b'5' | b'$' => b's',
            b'7' => b't',
            other => other,
        })
        .filter(u8::is_ascii_alphabetic)
        .collect();
    if in_list(core) || in_list(&unleet) {
        return Some("a common pre-shared key with digits or symbols added".into());
    }
    let all = |f: fn(&u8) -> bool| !key.is_empty() && key.iter().all(f);
    if all(u8::is_ascii_digit) {
        return Some("only digits".into());
    }
    if all(u8::is_ascii_lowercase) {
        return Some("only lowercase letters".into());
    }
    if all(u8::is_ascii_uppercase) {
        return Some("only uppercase letters".into());
    }
    if let Some(class) = key.first().map(|&b| char_class(b)) {
        if key.iter().all(|&b| char_class(b) == class) {
            return Some("only one kind of character".into());
        }
    }
    if is_word_with_digits(key) {
        return Some("a word with digits appended".into());
    }
    let mut seen = [false; 256];
    for &b in key {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct < MIN_PSK_DISTINCT {
        return Some(format!("only {distinct} different characters"));
    }
    None
}

/// Lowercase, uppercase, digit, anything else.
fn char_class(b: u8) -> u8 {
    if b.is_ascii_lowercase() {
        0
    } else if b.is_ascii_uppercase() {
        1
    } else if b.is_ascii_digit() {
        2
    } else {
        3
    }
}

/// `key` without the non-letters at its ends.
fn trim_non_letters(key: &[u8]) -> &[u8] {
    let start = key
        .iter()
        .position(u8::is_ascii_alphabetic)
        .unwrap_or(key.len());
    let end = key
        .iter()
        .rposition(u8::is_ascii_alphabetic)
        .map_or(start, |i| i + 1);
    key.get(start..end).unwrap_or_default()
}

/// A word as people type one (`monkey`, `Monkey`, `MONKEY`) followed by digits and optionally
/// symbols: `Summer2024!`, the shape most password policies produce.
fn is_word_with_digits(key: &[u8]) -> bool {
    let letters = key.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let (word, rest) = key.split_at(letters);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (num, tail) = rest.split_at(digits);
    // Any first letter then lowercase covers `monkey` and `Monkey`.
    let word_like = match word.split_first() {
        Some((_, more)) => {
            more.iter().all(u8::is_ascii_lowercase) || word.iter().all(u8::is_ascii_uppercase)
        }
        None => false,
    };
    word_like
        && !num.is_empty()
        && tail
            .iter()
            .all(|b| !b.is_ascii_alphanumeric() && b.is_ascii_graphic())
}

/// Lints for configurations that work but protect badly: guessable pre-shared keys, DES, MD5,
/// Diffie-Hellman groups 1 and 2 (ISAKMP policies and PFS), and ESP without integrity. All are
/// warnings: the configuration still runs, and changing any of these needs the peer changed too.
///
/// Values are the effective ones: an ISAKMP policy without an `encryption` command is DES and
/// without a `group` command group 1, as on IOS, and is reported as such. A finding names the
/// line of its `crypto isakmp policy`, `crypto isakmp key`, `crypto ipsec transform-set` or
/// `crypto map` command (the sub-command lines are not recorded in [`Origins`]) and quotes the
/// command that fixes it. Type-6 keys are not judged: their clear text is unknown.
pub fn check_crypto_strength(cfg: &GatewayConfig, origins: Option<&Origins>) -> Vec<Lint> {
    let empty = Origins::default();
    let o = origins.unwrap_or(&empty);
    let mut out = Vec::new();
    let mut push = |kind, item: Item, message: String| {
        out.push(Lint {
            severity: Severity::Warning,
            kind,
            line: o.line(&item),
            message,
        });
    };

    // Global keys first, then the keyrings' (named by their keyring).
    let keyed = cfg
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (Item::Key(i), None, k))
        .chain(cfg.keyrings.iter().flat_map(|r| {
            r.keys
                .iter()
                .map(move |k| (Item::Keyring(r.name.clone()), Some(r.name.as_str()), k))
        }));
    for (item, ring, k) in keyed {
        if k.encoding != KeyEncoding::Clear {
            continue;
        }
        let why = psk_weaknesses(k.key.expose());
        if why.is_empty() {
            continue;
        }
        // The key itself is never echoed: lint output ends up in logs and tickets.
        let (who, peer) = match &k.peer {
            PskPeer::Address { addr, mask } if u32::from(*mask) == u32::MAX => {
                (addr.to_string(), format!("address {addr}"))
            }
            PskPeer::Address { addr, mask } => {
                (format!("{addr} {mask}"), format!("address {addr} {mask}"))
            }
            PskPeer::Hostname(h) => (format!("hostname {h}"), format!("hostname {h}")),
        };
        let (what, fix) = match ring {
            None => (
                "crypto isakmp key".to_string(),
                format!("crypto isakmp key <at least {MIN_PSK_LEN} random characters> {peer}"),
            ),
            Some(r) => (
                format!("keyring {r} key"),
                format!("pre-shared-key {peer} key <at least {MIN_PSK_LEN} random characters>"),
            ),
        };
        push(
            LintKind::WeakPreSharedKey,
            item,
            format!(
                "{what} for {who} is weak ({}): a Main Mode pre-shared key falls to an \
                 offline dictionary attack by anyone who can pose as the responder once \
                 (CVE-2018-5389), an Aggressive Mode one to a single passive capture; use \
                 `{fix}` on both peers",
                why.join("; ")
            ),
        );
    }

    if cfg.aggressive_mode_in_use() {
        let why = "Aggressive Mode with pre-shared keys sends HASH_R and everything it covers \
                   in clear: one captured exchange, or one AM1 of our own as a probe, lets an \
                   attacker run an offline dictionary attack on the key (ike-scan --aggressive \
                   --pskcrack, then psk-crack); use long random group keys, or certificates \
                   and Main Mode";
        for p in cfg.isakmp_peers.iter().filter(|p| p.initiates_aggressive()) {
            push(
                LintKind::AggressiveModePsk,
                Item::IsakmpPeer(p.address),
                format!(
                    "crypto isakmp peer address {}: we initiate Aggressive Mode. {why}",
                    p.address
                ),
            );
        }
        for p in cfg.isakmp_profiles.iter().filter(|p| p.initiate_aggressive) {
            push(
                LintKind::AggressiveModePsk,
                Item::IsakmpProfile(p.name.clone()),
                format!("isakmp profile {}: initiate mode aggressive. {why}", p.name),
            );
        }
        let hostname_keys = cfg
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k.peer, PskPeer::Hostname(_)))
            .map(|(i, _)| Item::Key(i))
            .chain(
                cfg.keyrings
                    .iter()
                    .filter(|r| {
                        r.keys
                            .iter()
                            .any(|k| matches!(k.peer, PskPeer::Hostname(_)))
                    })
                    .map(|r| Item::Keyring(r.name.clone())),
            );
        for item in hostname_keys {
            push(
                LintKind::AggressiveModePsk,
                item,
                format!(
                    "hostname keys make this router answer Aggressive Mode (add `crypto isakmp \
                     aggressive-mode disable` if no client needs it). {why}"
                ),
            );
        }
    }
    for p in cfg.isakmp_peers.iter().filter(|p| {
        !p.initiates_aggressive() && (p.password.is_some() || p.client_endpoint.is_some())
    }) {
        let missing = if p.password.is_none() {
            "set aggressive-mode password"
        } else {
            "set aggressive-mode client-endpoint"
        };
        push(
            LintKind::IncompleteAggressivePeer,
            Item::IsakmpPeer(p.address),
            format!(
                "crypto isakmp peer address {}: no `{missing}`, so Main Mode is used with this \
                 peer (IOS: \"Can not start Aggressive mode, trying Main mode.\")",
                p.address
            ),
        );
    }

    for p in &cfg.isakmp_policies {
        let n = p.priority;
        let item = Item::IsakmpPolicy(n);
        if p.encryption == IkeEncryption::Des {
            push(
                LintKind::WeakEncryption,
                item.clone(),
                format!(
                    "isakmp policy {n} encrypts with DES (`encryption des`, also the IOS default \
                     when the policy has no `encryption` command): 56-bit keys are found by brute \
                     force in about a day; use `encryption aes 256` under `crypto isakmp policy {n}` \
                     on both peers"
                ),
            );
        }
        if p.hash == IkeHash::Md5 {
            push(
                LintKind::WeakHash,
                item.clone(),
                format!(
                    "isakmp policy {n} uses MD5 (`hash md5`), broken for collisions and deprecated \
                     for IKE; use `hash sha256` under `crypto isakmp policy {n}` on both peers"
                ),
            );
        }
        if let Some(why) = weak_group(p.group) {
            let default = if p.group == 1 {
                ", also the IOS default when the policy has no `group` command"
            } else {
                ""
            };
            push(
                LintKind::WeakDhGroup,
                item,
                format!(
                    "isakmp policy {n} uses Diffie-Hellman group {} (`group {}`{default}): {why}; \
                     use `group 14` under `crypto isakmp policy {n}` on both peers",
                    p.group, p.group
                ),
            );
        }
    }

    for t in &cfg.transform_sets {
        let item = Item::TransformSet(t.name.clone());
        // One command that fixes every weakness of the set, quoted by each of its findings.
        let cipher = match t.esp_encryption {
            EspEncryption::Des => "esp-aes 256",
            other => other.ios_name(),
        };
        let integrity = match t.esp_integrity {
            EspIntegrity::None | EspIntegrity::Md5 => "esp-sha256-hmac",
            other => other.ios_name().unwrap_or("esp-sha256-hmac"),
        };
        let fix = format!(
            "use `crypto ipsec transform-set {} {cipher} {integrity}` on both peers",
            t.name
        );
        if t.esp_encryption == EspEncryption::Des {
            push(
                LintKind::WeakEncryption,
                item.clone(),
                format!(
                    "transform set {} encrypts with DES (`esp-des`): 56-bit keys are found by \
                     brute force in about a day; {fix}",
                    t.name
                ),
            );
        }
        if t.esp_integrity == EspIntegrity::Md5 {
            push(
                LintKind::WeakHash,
                item.clone(),
                format!(
                    "transform set {} authenticates with HMAC-MD5 (`esp-md5-hmac`), deprecated \
                     for ESP; {fix}",
                    t.name
                ),
            );
        }
        // ESP-NULL without integrity is already an error of `validate` (nothing protected at all).
        if t.esp_integrity == EspIntegrity::None
            && t.esp_encryption != EspEncryption::Null
            && !t.esp_encryption.is_aead()
        {
            push(
                LintKind::EspWithoutIntegrity,
                item,
                format!(
                    "transform set {} has no ESP integrity transform (`{}` only): packets are \
                     neither authenticated nor replay-protected, and an active attacker can alter \
                     CBC ciphertext undetected and use the gateway's reactions to recover \
                     plaintext; {fix}",
                    t.name,
                    t.esp_encryption.ios_name()
                ),
            );
        }
    }

    for e in &cfg.crypto_maps {
        let Some(g) = e.pfs_group else {
            continue;
        };
        if let Some(why) = weak_group(g) {
            let bare = if g == 1 {
                "; `set pfs` without a group means group1"
            } else {
                ""
            };
            push(
                LintKind::WeakDhGroup,
                Item::MapEntry(e.map.clone(), e.seq),
                format!(
                    "crypto map {} {} uses PFS group {g} (`set pfs group{g}`{bare}): {why}; use \
                     `set pfs group14` under `crypto map {} {}` on both peers",
                    e.map, e.seq, e.map, e.seq
                ),
            );
        }
    }

    out.sort_by_key(|l| (l.line.unwrap_or(usize::MAX), l.severity));
    out
}

/// Why a Diffie-Hellman group is too small, None when it is not one of the weak ones.
fn weak_group(group: u16) -> Option<String> {
    let bits = group_bits(group).unwrap_or(0);
    match group {
        1 => Some(format!(
            "{bits}-bit MODP, discrete logarithms of that size have been computed in public"
        )),
        2 => Some(format!(
            "{bits}-bit MODP, within reach of a well-funded attacker's precomputation (Logjam)"
        )),
        _ => None,
    }
}

/// What rsa-sig needs from outside the configuration, per trustpoint it uses (the ISAKMP
/// profiles' `ca trust-point` lines, else every trustpoint with a CA certificate): our key file,
/// the CRL file `revocation-check crl` refuses peers without, and our own certificate.
fn pki_lints(cfg: &GatewayConfig, push: &mut impl FnMut(Severity, LintKind, Option<Item>, String)) {
    use crate::pki::RevocationCheck;
    let named: Vec<&str> = cfg
        .isakmp_profiles
        .iter()
        .flat_map(|p| p.ca_trustpoints.iter().map(String::as_str))
        .collect();
    let used = cfg.trustpoints.iter().filter(|t| {
        if named.is_empty() {
            t.chain.iter().any(|c| c.ca)
        } else {
            named.contains(&t.name.as_str())
        }
    });
    for t in used {
        let item = Some(Item::Trustpoint(t.name.clone()));
        // Once a key directory filled `rsa_keys`/`crls` the files are there: no warning.
        if t.chain.iter().any(|c| !c.ca) {
            let label = t.key_label();
            if !cfg.rsa_keys.contains_key(label) {
                push(
                    Severity::Warning,
                    LintKind::PkiFiles,
                    item.clone(),
                    format!(
                        "trustpoint {}: rsakeypair {label}: key expected in KEYDIR/{label}.pem (ipsec-engine --key-dir KEYDIR)",
                        t.name
                    ),
                );
            }
        } else {
            push(
                Severity::Error,
                LintKind::TrustpointWithoutCertificate,
                item.clone(),
                format!(
                    "trustpoint {0}: no certificate of ours (`certificate SERIAL` without `ca` in crypto pki certificate chain {0}); rsa-sig cannot authenticate with it",
                    t.name
                ),
            );
        }
        if t.revocation_check == RevocationCheck::Crl
            && cfg.crls.get(&t.name).is_none_or(Vec::is_empty)
        {
            push(
                Severity::Warning,
                LintKind::PkiFiles,
                item,
                format!(
                    "trustpoint {0}: revocation-check crl: a CRL is expected in KEYDIR/{0}.crl; without it every peer certificate is refused (`revocation-check crl none` lets a missing CRL pass)",
                    t.name
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod strength_tests;

#[cfg(test)]
#[path = "check_pki_tests.rs"]
mod pki_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Lints as `ipsec-engine check` computes them: also for configurations `parse` refuses
    /// (rsa-sig policies, backup peers), whose lints are still reported.
    fn lints(text: &str) -> Vec<Lint> {
        let p = crate::ios::config::parse_for_check(text.as_bytes()).unwrap();
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
