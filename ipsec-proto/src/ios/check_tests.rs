//! Tests of the crypto-strength lints ([`check_crypto_strength`], [`check_all`]).

use super::*;
use crate::ios::config::parse;
use crate::ios::seed::{SITE_A, SITE_A_VERBATIM, SITE_B};

/// A key that is 24 characters of mixed classes, as `openssl rand -base64 18` would give.
const STRONG_KEY: &str = "q7#Vx2!mR9pL@4sT8wZ&k3Nb";

fn strength(text: &str) -> Vec<Lint> {
    let p = parse(text).unwrap();
    check_crypto_strength(&p.config, Some(&p.origins))
}

fn all(text: &str) -> Vec<Lint> {
    let p = parse(text).unwrap();
    check_all(&p.config, Some(&p.origins))
}

/// One key line per key, for the PSK lints: the lint for key `i` must name line `i + 1`.
fn key_config(keys: &[&str]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| format!("crypto isakmp key {k} address 203.0.113.{}\n", i + 1))
        .collect()
}

/// The seed's siteA with every weakness fixed.
fn strong_site_a() -> String {
    SITE_A
        .replace(" encr 3des\n", " encryption aes 256\n hash sha256\n")
        .replace(" group 2\n", " group 14\n")
        .replace("key ciscokey", &format!("key {STRONG_KEY}"))
        .replace("esp-3des esp-sha-hmac", "esp-aes 256 esp-sha256-hmac")
}

#[test]
fn seed_configs_get_exactly_the_weak_group_and_weak_key_warnings() {
    for (name, text, peer) in [
        ("siteA", SITE_A, "203.0.113.2"),
        ("siteB", SITE_B, "198.51.100.1"),
        ("siteA verbatim", SITE_A_VERBATIM, "203.0.113.2"),
    ] {
        let l = all(text);
        let got: Vec<_> = l.iter().map(|x| (x.line, x.severity, x.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), Severity::Warning, LintKind::WeakDhGroup),
                (Some(6), Severity::Warning, LintKind::WeakPreSharedKey),
            ],
            "{name}: {l:#?}"
        );
        assert!(
            l[0].message.contains("group 2") && l[0].message.contains("use `group 14`"),
            "{name}: {}",
            l[0]
        );
        let key = &l[1].message;
        for part in [
            "8 characters, fewer than 16",
            "one of the most common pre-shared keys",
            "CVE-2018-5389",
            "Aggressive Mode",
            &format!("`crypto isakmp key <at least 16 random characters> address {peer}`"),
        ] {
            assert!(key.contains(part), "{name}: missing {part:?} in {key}");
        }
        assert!(!key.contains("ciscokey"), "the key is never echoed: {key}");
        // The tunnel-breaking lints (what `diagnose` reports) stay clean.
        let p = parse(text).unwrap();
        assert!(check(&p.config, Some(&p.origins)).is_empty());
    }
    assert!(all(SITE_A)[1]
        .to_string()
        .starts_with("line 6: warning: crypto isakmp key for 203.0.113.2 is weak ("));
}

#[test]
fn strong_config_has_no_findings() {
    let text = strong_site_a();
    assert!(all(&text).is_empty(), "{:#?}", all(&text));
}

#[test]
fn weak_keys_are_found_and_named_by_line() {
    let cases: &[(&str, &str)] = &[
        ("x7#Kq2!p", "8 characters, fewer than 16"),
        ("ciscokey", "one of the most common pre-shared keys"),
        (
            "CISCO123",
            "a common pre-shared key with digits or symbols added",
        ),
        (
            "P@ssw0rd!",
            "a common pre-shared key with digits or symbols added",
        ),
        (
            "2024cisco!",
            "a common pre-shared key with digits or symbols added",
        ),
        ("thisismyverylongpassphrase", "only lowercase letters"),
        ("THISISMYVERYLONGPASSPHRASE", "only uppercase letters"),
        ("31415926535897932384", "only digits"),
        ("#!#!#!#!#!#!#!#!#!", "only one kind of character"),
        ("Monkeybusiness2024!", "a word with digits appended"),
        ("aB1!aB1!aB1!aB1!aB1!", "only 4 different characters"),
    ];
    let keys: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let l = strength(&key_config(&keys));
    assert_eq!(l.len(), cases.len(), "{l:#?}");
    for (i, (lint, (key, why))) in l.iter().zip(cases).enumerate() {
        assert_eq!(lint.kind, LintKind::WeakPreSharedKey);
        assert_eq!(lint.severity, Severity::Warning);
        assert_eq!(lint.line, Some(i + 1), "{key}");
        assert!(lint.message.contains(why), "{key}: {}", lint.message);
        assert!(
            lint.message
                .contains(&format!("address 203.0.113.{}`", i + 1)),
            "{key}: {}",
            lint.message
        );
        assert!(
            !lint.message.contains(key),
            "{key} echoed: {}",
            lint.message
        );
    }
    // A short key that is also dictionary-like gives both reasons.
    assert!(l[1]
        .message
        .contains("(8 characters, fewer than 16; one of the most common"));
    assert!(
        l[0].message.contains("(8 characters, fewer than 16):"),
        "{}",
        l[0]
    );
}

#[test]
fn strong_keys_pass() {
    let keys = [
        STRONG_KEY,
        // 128 bits as lowercase hex: two classes, but no pattern.
        "3f9a0c7e1b5d48a2c6e0f9b7d3a1e5c8",
        // Exactly the threshold.
        "Zr4&uQ9#hL2!xV7m",
    ];
    let l = strength(&key_config(&keys));
    assert!(l.is_empty(), "{l:#?}");
}

#[test]
fn key_fix_names_the_mask_or_hostname_and_type6_is_not_judged() {
    let text = "crypto isakmp key cisco address 10.0.0.0 255.0.0.0
crypto isakmp key cisco hostname peer.example.com
crypto isakmp key 6 cisco address 192.0.2.1
crypto isakmp key 0 secret address 192.0.2.2
";
    // The hostname key also draws the Aggressive Mode warning (it makes us answer AM).
    let l: Vec<Lint> = strength(text)
        .into_iter()
        .filter(|l| l.kind == LintKind::WeakPreSharedKey)
        .collect();
    assert_eq!(l.len(), 3, "{l:#?}");
    assert_eq!(l[0].line, Some(1));
    assert!(
        l[0].message.contains("key for 10.0.0.0 255.0.0.0 is weak"),
        "{}",
        l[0]
    );
    assert!(
        l[0].message
            .contains("characters> address 10.0.0.0 255.0.0.0`"),
        "{}",
        l[0]
    );
    assert_eq!(l[1].line, Some(2));
    assert!(
        l[1].message
            .contains("characters> hostname peer.example.com`"),
        "{}",
        l[1]
    );
    // Line 3 is type 6 (its clear text is unknown); `0` is the clear-text type.
    assert_eq!(l[2].line, Some(4));
}

#[test]
fn weak_isakmp_policies_use_effective_values() {
    let text = "crypto isakmp policy 10
 encryption des
 hash md5
 authentication pre-share
 group 1
crypto isakmp policy 20
 authentication pre-share
crypto isakmp policy 30
 encryption aes 256
 hash sha256
 authentication pre-share
 group 14
crypto isakmp policy 40
 encr aes
 authentication pre-share
 group 2
";
    let l = strength(text);
    let got: Vec<_> = l.iter().map(|x| (x.line, x.kind)).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), LintKind::WeakEncryption),
            (Some(1), LintKind::WeakHash),
            (Some(1), LintKind::WeakDhGroup),
            // Policy 20 has no encryption, hash or group: DES, SHA-1 and group 1.
            (Some(6), LintKind::WeakEncryption),
            (Some(6), LintKind::WeakDhGroup),
            (Some(13), LintKind::WeakDhGroup),
        ],
        "{l:#?}"
    );
    assert!(l.iter().all(|x| x.severity == Severity::Warning));
    assert!(l[0]
        .message
        .contains("use `encryption aes 256` under `crypto isakmp policy 10`"));
    assert!(l[1]
        .message
        .contains("use `hash sha256` under `crypto isakmp policy 10`"));
    assert!(l[2].message.contains("`group 1`, also the IOS default"));
    assert!(l[2].message.contains("768-bit"));
    assert!(l[2].message.contains("use `group 14`"));
    assert!(l[3].message.contains("isakmp policy 20 encrypts with DES"));
    assert!(l[3]
        .message
        .contains("default when the policy has no `encryption` command"));
    assert!(l[5].message.contains("1024-bit"));
    assert!(!l[5].message.contains("default"));
}

#[test]
fn weak_transform_sets() {
    let text = "crypto ipsec transform-set OLD esp-des esp-md5-hmac
crypto ipsec transform-set NOAUTH esp-aes
crypto ipsec transform-set NOAUTH3 esp-3des
crypto ipsec transform-set GOOD esp-aes 256 esp-sha256-hmac
crypto ipsec transform-set SHA1 esp-aes esp-sha-hmac
crypto ipsec transform-set AUTHONLY esp-null esp-sha-hmac
";
    let l = strength(text);
    let got: Vec<_> = l.iter().map(|x| (x.line, x.kind)).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), LintKind::WeakEncryption),
            (Some(1), LintKind::WeakHash),
            (Some(2), LintKind::EspWithoutIntegrity),
            (Some(3), LintKind::EspWithoutIntegrity),
        ],
        "{l:#?}"
    );
    let fix = "use `crypto ipsec transform-set OLD esp-aes 256 esp-sha256-hmac` on both peers";
    assert!(l[0].message.contains(fix), "{}", l[0]);
    assert!(l[1].message.contains(fix), "{}", l[1]);
    // Only the missing part is changed: the cipher stays.
    assert!(l[2]
        .message
        .contains("`crypto ipsec transform-set NOAUTH esp-aes esp-sha256-hmac`"));
    assert!(l[3].message.contains("(`esp-3des` only)"), "{}", l[3]);
    assert!(l[3]
        .message
        .contains("`crypto ipsec transform-set NOAUTH3 esp-3des esp-sha256-hmac`"));
}

#[test]
fn gcm_transform_sets_authenticate_so_no_integrity_finding() {
    // GCM is a combined mode: no "no integrity" finding for a cipher that authenticates.
    let p = parse("crypto ipsec transform-set G esp-gcm 256\n").unwrap();
    assert_eq!(p.config.transform_sets.len(), 1);
    assert!(check_crypto_strength(&p.config, Some(&p.origins)).is_empty());
    // GMAC (integrity without encryption) is still not implemented.
    let p = parse("crypto ipsec transform-set G esp-gmac\n").unwrap();
    assert!(p.config.transform_sets.is_empty());
}

#[test]
fn weak_pfs_groups() {
    let text = "crypto map VPN 10 ipsec-isakmp
 set pfs group2
crypto map VPN 20 ipsec-isakmp
 set pfs
crypto map VPN 30 ipsec-isakmp
 set pfs group14
crypto map VPN 40 ipsec-isakmp
 set pfs group5
";
    let l = strength(text);
    let got: Vec<_> = l.iter().map(|x| (x.line, x.kind)).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), LintKind::WeakDhGroup),
            (Some(3), LintKind::WeakDhGroup)
        ],
        "{l:#?}"
    );
    assert!(l[0]
        .message
        .contains("crypto map VPN 10 uses PFS group 2 (`set pfs group2`)"));
    assert!(l[0]
        .message
        .contains("use `set pfs group14` under `crypto map VPN 10`"));
    assert!(l[1]
        .message
        .contains("`set pfs` without a group means group1"));
}

#[test]
fn check_all_merges_and_sorts_and_check_stays_without_strength_lints() {
    // A weak and broken configuration: an rsa-sig policy (error of check) on line 1.
    let text = "crypto isakmp policy 1
 authentication rsa-sig
crypto isakmp key cisco address 203.0.113.2
";
    // `parse` refuses the explicit rsa-sig line; the lints still judge what `check` reads.
    let p = crate::ios::config::parse_for_check(text.as_bytes()).unwrap();
    let base = check(&p.config, Some(&p.origins));
    let l = check_all(&p.config, Some(&p.origins));
    let strength_kinds = [
        LintKind::WeakPreSharedKey,
        LintKind::WeakEncryption,
        LintKind::WeakHash,
        LintKind::WeakDhGroup,
        LintKind::EspWithoutIntegrity,
    ];
    assert!(base.iter().all(|x| !strength_kinds.contains(&x.kind)));
    assert_eq!(
        l.len(),
        base.len() + check_crypto_strength(&p.config, Some(&p.origins)).len()
    );
    let got: Vec<_> = l.iter().map(|x| (x.line, x.severity, x.kind)).collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Severity::Error, LintKind::UnusableIsakmpPolicy),
            (Some(1), Severity::Warning, LintKind::WeakEncryption),
            (Some(1), Severity::Warning, LintKind::WeakDhGroup),
            (Some(3), Severity::Warning, LintKind::WeakPreSharedKey),
        ]
    );
    // Without origins the findings are still there, without lines.
    let l = check_crypto_strength(&p.config, None);
    assert_eq!(l.len(), 3);
    assert!(l.iter().all(|x| x.line.is_none()));
}

#[test]
fn psk_heuristics_never_panic_and_accept_odd_bytes() {
    for key in [
        &b""[..],
        b"\xff\xfe\xfd",
        "é".repeat(20).as_bytes(),
        b"1",
        b"!",
        b"A1",
        b"a!",
    ] {
        let _ = psk_weaknesses(key);
    }
    // Length counts characters: 16 two-byte characters are 16, not 32.
    assert!(psk_weaknesses("é".repeat(16).as_bytes())
        .iter()
        .all(|w| !w.contains("fewer than")));
    assert_eq!(trim_non_letters(b"12!"), b"");
    assert_eq!(trim_non_letters(b"1ab2c3"), b"ab2c");
    assert!(is_word_with_digits(b"Summer2024!"));
    assert!(!is_word_with_digits(b"sUmmer2024"));
    assert!(!is_word_with_digits(b"summer"));
    assert!(!is_word_with_digits(b"2024"));
}

#[test]
fn fuzz_corpus_runs_through_every_lint() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ios_config");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        n += 1;
        let Ok(data) = std::fs::read(e.path()) else {
            continue;
        };
        if let Ok(p) = parse(&String::from_utf8_lossy(&data)) {
            for l in check_all(&p.config, Some(&p.origins)) {
                assert!(!l.message.is_empty());
            }
        }
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

/// Site B initiating Aggressive Mode to its peer, with a strong password.
fn aggressive_site_b() -> String {
    SITE_B.replace(
        "crypto isakmp key ciscokey address 198.51.100.1\n",
        &format!(
            "crypto isakmp peer address 198.51.100.1\n set aggressive-mode password {STRONG_KEY}\n set aggressive-mode client-endpoint fqdn siteb.example.net\n"
        ),
    )
}

#[test]
fn aggressive_mode_with_a_pre_shared_key_is_warned_about_even_with_a_strong_key() {
    let text = aggressive_site_b();
    let l = all(&text);
    let am: Vec<&Lint> = l
        .iter()
        .filter(|x| x.kind == LintKind::AggressiveModePsk)
        .collect();
    assert_eq!(am.len(), 1, "{l:#?}");
    assert_eq!(am[0].severity, Severity::Warning);
    let line = text
        .lines()
        .position(|x| x.starts_with("crypto isakmp peer"))
        .unwrap()
        + 1;
    assert_eq!(am[0].line, Some(line));
    for word in ["HASH_R", "offline dictionary attack", "psk-crack"] {
        assert!(am[0].message.contains(word), "{}", am[0].message);
    }
    // The peer's only key is its Aggressive Mode password: no "no pre-shared key" error.
    assert!(
        !l.iter().any(|x| x.kind == LintKind::PeerWithoutKey),
        "{l:#?}"
    );
}

#[test]
fn hostname_keys_are_warned_about_unless_aggressive_mode_is_disabled() {
    let text = format!("{SITE_A}crypto isakmp key {STRONG_KEY} hostname spoke.example.net\n");
    let l = all(&text);
    let am: Vec<&Lint> = l
        .iter()
        .filter(|x| x.kind == LintKind::AggressiveModePsk)
        .collect();
    assert_eq!(am.len(), 1, "{l:#?}");
    assert!(
        am[0].message.contains("aggressive-mode disable"),
        "{}",
        am[0].message
    );
    let off = all(&format!("{text}crypto isakmp aggressive-mode disable\n"));
    assert!(
        !off.iter().any(|x| x.kind == LintKind::AggressiveModePsk),
        "{off:#?}"
    );
    // An ordinary site-to-site configuration says nothing about Aggressive Mode.
    assert!(!all(SITE_A)
        .iter()
        .any(|x| x.kind == LintKind::AggressiveModePsk));
}

#[test]
fn a_half_configured_aggressive_peer_is_reported() {
    let text = SITE_B.replace(
        "crypto isakmp key ciscokey address 198.51.100.1\n",
        "crypto isakmp key ciscokey address 198.51.100.1\ncrypto isakmp peer address 198.51.100.1\n set aggressive-mode client-endpoint fqdn siteb.example.net\n",
    );
    let l = all(&text);
    let inc: Vec<&Lint> = l
        .iter()
        .filter(|x| x.kind == LintKind::IncompleteAggressivePeer)
        .collect();
    assert_eq!(inc.len(), 1, "{l:#?}");
    assert!(inc[0].message.contains("set aggressive-mode password"));
    assert!(!l.iter().any(|x| x.kind == LintKind::AggressiveModePsk));
}
