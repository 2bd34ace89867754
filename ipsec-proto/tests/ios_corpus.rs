//! Our corpus of IOS configurations (`tests/ios_corpus/*.cfg`, described in `SOURCES.md`): each
//! is read as bytes with `parse_bytes` and must have exactly the outcome stated here, written
//! from the configuration before the parser was run on it: the crypto map entries a gateway
//! runs (map, sequence, peer), or the unsupported features it is refused for, on the line that
//! names them, or a syntax error at a line and column, or that it is read but builds no entry. Every fixture is checked and all
//! failures are reported together.

use std::net::Ipv4Addr;
use std::path::Path;

use ipsec_proto::ios::config::{parse_bytes, ConfigError, ParsedConfig};
use ipsec_proto::tunnel::{CoreOptions, Tunnels};

/// A refusal: the exact line it is on (as in the file), what the feature's name contains, and
/// whether it is planned ("not implemented yet").
type Refusal = (&'static str, &'static str, bool);

enum Expect {
    /// The gateway runs these entries: (map, sequence, peer).
    Runs(&'static [(&'static str, u16, &'static str)]),
    /// Refused for exactly these features, in line order.
    Refused(&'static [Refusal]),
    /// A syntax error on the line equal to the first string, at the column where the second
    /// string starts on it.
    Error(&'static str, &'static str),
    /// Read, but `Tunnels::new` builds no entry: its error contains this.
    Read(&'static str),
}

use Expect::*;

const NEVER: bool = false;

const CORPUS: &[(&str, Expect)] = &[
    (
        "01_ios124_871_show_run.cfg",
        Runs(&[("VPN", 10, "203.0.113.2")]),
    ),
    ("02_ios154_isr_crlf.cfg", Runs(&[("MAP", 10, "192.0.2.10")])),
    (
        "03_bom_startup_three_peers.cfg",
        Runs(&[
            ("CMAP", 10, "198.51.100.20"),
            ("CMAP", 20, "198.51.100.30"),
            ("CMAP", 30, "198.51.100.40"),
        ]),
    ),
    (
        "04_latin1_banner_and_key.cfg",
        Runs(&[("VPN", 10, "203.0.113.2")]),
    ),
    (
        "05_pasted_session_prompts.cfg",
        Runs(&[("CMAP", 10, "203.0.113.2")]),
    ),
    (
        "06_pasted_no_prompts_exit.cfg",
        Runs(&[("S2S", 10, "192.0.2.1")]),
    ),
    (
        "07_banners_odd_delimiters.cfg",
        Runs(&[("VPN", 10, "203.0.113.9")]),
    ),
    (
        "08_routing_protocols.cfg",
        Runs(&[("OUT", 10, "192.0.2.77")]),
    ),
    (
        "09_transport_mode_host_to_host.cfg",
        Runs(&[("H2H", 10, "192.0.2.200")]),
    ),
    (
        "10_dpd_natt_notices.cfg",
        Runs(&[("CM", 10, "203.0.113.50")]),
    ),
    (
        "11_wildcard_key_ios15_print.cfg",
        Runs(&[("HUB", 10, "198.51.100.11"), ("HUB", 20, "198.51.100.12")]),
    ),
    (
        "12_wildcard_key_with_mask.cfg",
        Runs(&[("M", 10, "198.51.100.21"), ("M", 20, "198.51.100.22")]),
    ),
    (
        "13_nat_exemption_port_forwards.cfg",
        Runs(&[("VPN", 10, "203.0.113.30")]),
    ),
    (
        "14_aaa_and_line_blocks.cfg",
        Runs(&[("VPN", 10, "203.0.113.44")]),
    ),
    (
        "15_ipv6_dual_stack.cfg",
        Runs(&[("VPN", 10, "203.0.113.60")]),
    ),
    (
        "16_services_qos_vlans.cfg",
        Runs(&[("VPN", 10, "203.0.113.16")]),
    ),
    (
        "17_seed_style_indentation.cfg",
        Runs(&[("VPN", 10, "198.51.100.1")]),
    ),
    (
        "18_aws_style_vti.cfg",
        // Keyrings, the ISAKMP profile (local-address included) and the VTI run.
        Runs(&[("Tunnel1-head-0", 1, "52.0.0.1")]),
    ),
    (
        "19_iosxe_ikev2_crypto_map.cfg",
        Refused(&[
            ("crypto ikev2 proposal PROP", "IKEv2", NEVER),
            ("crypto ikev2 policy POL", "IKEv2", NEVER),
            ("crypto ikev2 keyring KR", "IKEv2", NEVER),
            ("crypto ikev2 profile PROF", "IKEv2", NEVER),
            (" set ikev2-profile PROF", "IKEv2", NEVER),
        ]),
    ),
    (
        "20_dmvpn_hub.cfg",
        Refused(&[
            (" ip nhrp authentication NHRPpass", "DMVPN", NEVER),
            (" ip nhrp map multicast dynamic", "DMVPN", NEVER),
            (" ip nhrp network-id 100", "DMVPN", NEVER),
            (" tunnel mode gre multipoint", "DMVPN", NEVER),
            (
                " tunnel protection ipsec profile DMVPN-PROF",
                "GRE over IPsec",
                NEVER,
            ),
        ]),
    ),
    (
        "21_getvpn_group_member.cfg",
        Refused(&[
            ("crypto gdoi group GETVPN", "GETVPN", NEVER),
            ("crypto map GETVPN-MAP 10 gdoi", "GETVPN", NEVER),
        ]),
    ),
    (
        "22_ezvpn_server.cfg",
        // The client configuration group keys Aggressive Mode by the group name; the
        // dynamic entry runs XAUTH and Mode Config for its clients.
        Runs(&[("CLIENTMAP", 65535, "0.0.0.0")]),
    ),
    (
        "23_ezvpn_remote.cfg",
        // Network extension with XAUTH typed at the CLI (`crypto ipsec client ezvpn xauth`):
        // the profile's entry on FastEthernet4 (its address from DHCP) tries its peer.
        Runs(&[("ezvpn EZ", 1, "198.51.100.120")]),
    ),
    (
        "24_gre_over_ipsec_profile.cfg",
        Refused(&[(
            " tunnel protection ipsec profile GRE-PROT",
            "GRE over IPsec",
            NEVER,
        )]),
    ),
    (
        "25_vrf_aware_ipsec.cfg",
        Refused(&[
            ("crypto keyring KR-INET vrf INET", "VRF-aware", NEVER),
            (" vrf CUST", "VRF-aware", NEVER),
            (
                " match identity address 192.0.2.140 255.255.255.255 INET",
                "VRF-aware",
                NEVER,
            ),
            (" ip vrf forwarding INET", "VRF-aware", NEVER),
        ]),
    ),
    (
        "26_pki_rsa_sig.cfg",
        // Trustpoint, chain and rsa-sig are read since PKI landed (the hex blocks are short
        // but whole bytes: only the certificate parser, not the reader, judges their DER).
        // The core refuses the entry by naming the block whose DER is cut short.
        Read("certificate 01: certificate unreadable"),
    ),
    (
        "27_backup_peers_rri_idle.cfg",
        // Backup peers, idle-time and reverse-route static run; the first peer is current.
        Runs(&[("VPN", 10, "192.0.2.160")]),
    ),
    (
        "28_dynamic_map_hub.cfg",
        // The static entry, then the dynamic one answering any peer (0.0.0.0).
        Runs(&[("HUB", 10, "192.0.2.170"), ("HUB", 65535, "0.0.0.0")]),
    ),
    (
        "29_dhcp_wan_local_address.cfg",
        // DHCP on the crypto interface is read with a notice (`run` takes the host's address);
        // the map uses Loopback0's address anyway.
        Runs(&[("VPN", 10, "203.0.113.180")]),
    ),
    (
        "30_pppoe_dialer_negotiated.cfg",
        // `ip address negotiated` is read with a notice; the address comes from the host.
        Runs(&[("VPN", 10, "203.0.113.190")]),
    ),
    (
        "31_ios15_self_signed_trustpoint.cfg",
        Runs(&[("VPN", 10, "203.0.113.200")]),
    ),
    (
        "32_crypto_acl_syntax_error.cfg",
        Error(
            " permit ip 10.210.0.0 0.0.255.255 10.211.0.0 0.0.0.256",
            "0.0.0.256",
        ),
    ),
    (
        "33_iosxe16_unused_gcm.cfg",
        Runs(&[("CMAP", 10, "192.0.2.220")]),
    ),
    (
        "34_keyring_isakmp_profile_l2l.cfg",
        // The key from the profile's keyring, its identity match and keepalive.
        Runs(&[("VPN", 10, "192.0.2.230")]),
    ),
    (
        "35_tabs_incomplete_entry.cfg",
        Runs(&[("TAB", 10, "192.0.2.240"), ("TAB", 30, "192.0.2.241")]),
    ),
    (
        "36_dual_hub_backup_peer.cfg",
        Runs(&[("VPN", 10, "192.0.2.180")]),
    ),
    (
        "37_fqdn_identity_df_bit_local_address.cfg",
        Runs(&[("HQ-MAP", 10, "192.0.2.250")]),
    ),
    (
        "38_dynamic_hub_without_match_address.cfg",
        Runs(&[("OUTSIDE", 65535, "0.0.0.0")]),
    ),
    (
        "39_easy_vpn_server.cfg",
        // Easy VPN server: local XAUTH and group policy, a pool, a split-tunnel ACL and a
        // multi-line group banner; its dynamic entry serves them.
        Runs(&[("OUTSIDE-MAP", 65535, "0.0.0.0")]),
    ),
    (
        "40_easy_vpn_remote_client.cfg",
        // Easy VPN remote in client mode: the profile's entry on FastEthernet4 tries the first
        // of its two peers, with the stored XAUTH credentials.
        Runs(&[("ezvpn HQ-EZ", 1, "203.0.113.210")]),
    ),
    (
        "41_pki_rsa_sig_identity_dn.cfg",
        // rsa-sig with a pasted CA and router certificate, identity dn, a certificate map.
        // Private keys never sit in a running-config: without a key directory the core names
        // the key file it lacks (the engine's lab_pki runs this shape with --key-dir).
        Read("rsakeypair GW1-KEY: no key loaded"),
    ),
];

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ios_corpus")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The 1-based number of the only line of `bytes` equal to `line` (Latin-1 view, `\r` dropped).
fn line_of(bytes: &[u8], line: &str) -> Result<usize, String> {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == line)
        .map(|(i, _)| i + 1)
        .collect();
    match hits.as_slice() {
        [n] => Ok(*n),
        _ => Err(format!("line {line:?} occurs {} times", hits.len())),
    }
}

fn check_runs(p: ParsedConfig, want: &[(&str, u16, &str)]) -> Result<(), String> {
    // `ip address dhcp|negotiated` on a crypto interface: the address comes from the host at
    // run time (ipsec-engine `run`), as here a documentation address stands for it.
    let dynamic = p.config.interfaces.iter().any(|i| {
        let outside = i.ezvpn.as_ref().is_some_and(|(_, inside)| !inside);
        (i.crypto_map.is_some() || outside) && i.address.is_none()
    });
    let opts = CoreOptions {
        local_addr: dynamic.then_some(Ipv4Addr::new(198, 51, 100, 99)),
        ..CoreOptions::seeded(1)
    };
    let tunnels = Tunnels::new(p.config, opts).map_err(|e| format!("does not build: {e}"))?;
    let got: Vec<(String, u16, Ipv4Addr)> = tunnels
        .entries()
        .iter()
        .map(|e| (e.map.clone(), e.seq, e.peer_addr))
        .collect();
    let want: Vec<(String, u16, Ipv4Addr)> = want
        .iter()
        .map(|(m, s, p)| (m.to_string(), *s, p.parse().unwrap()))
        .collect();
    if got != want {
        return Err(format!("entries {got:?}, expected {want:?}"));
    }
    Ok(())
}

fn check_refused(bytes: &[u8], e: &ConfigError, want: &[Refusal]) -> Result<(), String> {
    let mut errs = Vec::new();
    if e.unsupported.len() != want.len() {
        errs.push(format!(
            "{} unsupported features, expected {}",
            e.unsupported.len(),
            want.len()
        ));
    }
    for (i, (line, feature, later)) in want.iter().enumerate() {
        let n = line_of(bytes, line)?;
        match e.unsupported.get(i) {
            Some(u) if u.line == n && u.feature.contains(feature) && u.later == *later => {}
            other => errs.push(format!(
                "#{i}: expected {feature:?} (later: {later}) on line {n} ({line:?}), got {}",
                other.map_or("nothing".into(), |u| format!("{u} (later: {})", u.later))
            )),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nerror was:\n{e}", errs.join("\n")))
    }
}

fn check_one(name: &str, expect: &Expect) -> Result<(), String> {
    let bytes = read(name);
    match (parse_bytes(&bytes), expect) {
        (Ok(p), Runs(want)) => check_runs(p, want),
        (Ok(p), Read(why)) => match Tunnels::new(p.config, CoreOptions::seeded(1)) {
            Ok(_) => Err(format!("builds, expected it not to ({why})")),
            Err(e) if e.to_string().contains(why) => Ok(()),
            Err(e) => Err(format!("does not build for another reason: {e}")),
        },
        (Err(e), Refused(want)) => check_refused(&bytes, &e, want),
        (Err(e), Error(line, token)) => {
            let n = line_of(&bytes, line)?;
            let col = line.find(token).map(|b| line[..b].chars().count() + 1);
            if !e.unsupported.is_empty() || (e.line, Some(e.column)) != (n, col) {
                return Err(format!(
                    "error {e}, expected a syntax error at line {n}, column {col:?}"
                ));
            }
            Ok(())
        }
        (Ok(_), _) => Err("accepted, expected a refusal or an error".into()),
        (Err(e), Runs(_) | Read(_)) => Err(format!("refused: {e}")),
    }
}

#[test]
fn corpus_outcomes() {
    let mut failures = Vec::new();
    for (name, expect) in CORPUS {
        if let Err(e) = check_one(name, expect) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n\n")
    );
}

#[test]
fn aws_style_vti_runs_from_its_tunnel_source() {
    let parsed = parse_bytes(&read("18_aws_style_vti.cfg")).unwrap();
    let prof = &parsed.config.isakmp_profiles[0];
    assert_eq!(
        prof.local_address,
        Some(ipsec_proto::policy::LocalAddress::Interface(
            "GigabitEthernet0/0".into()
        ))
    );
    let t = Tunnels::new(parsed.config, CoreOptions::default()).unwrap();
    let e: Vec<_> = t
        .entries()
        .iter()
        .map(|e| (e.map.as_str(), e.vti, e.local, e.peer_addr))
        .collect();
    assert_eq!(
        e,
        vec![(
            "Tunnel1-head-0",
            Some(1),
            Ipv4Addr::new(198, 51, 100, 80),
            Ipv4Addr::new(52, 0, 0, 1)
        )]
    );
}

#[test]
fn easy_vpn_server_fixture_fills_the_mode_config_policy() {
    use ipsec_proto::policy::AddressAssignment;
    let parsed = parse_bytes(&read("39_easy_vpn_server.cfg")).unwrap();
    let c = &parsed.config;
    assert!(c.aaa.local_network_authorization("groupauthor"));
    let g = &c.client_groups[0];
    assert_eq!(g.name, "staff");
    assert_eq!(g.pool.as_deref(), Some("staffpool"));
    assert_eq!(g.split_acl.as_deref(), Some("STAFF-SPLIT"));
    assert!(g.save_password);
    assert_eq!(
        g.banner.as_deref(),
        Some("Welcome to the HQ remote access VPN.\nUnauthorized access is prohibited.")
    );
    assert_eq!(c.local_pools[0].size(), 241);
    assert_eq!(
        c.map_client_configuration,
        vec![("OUTSIDE-MAP".to_string(), AddressAssignment::Respond)]
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    // The tunnel layer serves it: the group key keys Aggressive Mode by the group name, the
    // dynamic entry has XAUTH and a Mode Config server with the pool and the split networks.
    let built = ipsec_proto::tunnel::build(c, None).unwrap();
    let p = &built.endpoint.peers[0];
    assert!(p.xauth_server.is_some());
    assert!(p
        .identity_keys
        .iter()
        .any(|k| k.id == ipsec_proto::policy::Phase1Id::KeyId(b"staff".to_vec())));
    let m = p.mode_config.as_ref().expect("Mode Config server");
    assert_eq!(m.assignment, AddressAssignment::Respond);
    let g = m.group("staff").unwrap();
    assert_eq!(g.pool.as_ref().map(|p| p.size()), Some(241));
    assert!(!g.split.is_empty(), "{:?}", g.split);
    assert!(built.endpoint.aggressive_mode);
}

#[test]
fn easy_vpn_remote_fixture_fills_the_client_profile() {
    let parsed = parse_bytes(&read("40_easy_vpn_remote_client.cfg")).unwrap();
    let c = &parsed.config;
    let z = &c.ezvpn_clients[0];
    assert_eq!(z.name, "HQ-EZ");
    assert!(z.connect_auto && !z.network_extension);
    let (group, key) = z.group.as_ref().expect("group");
    assert_eq!(group, "BRANCH-OFFICES");
    assert_eq!(key.expose(), b"Br4nch-Gr0up-Key");
    assert_eq!(
        z.peers,
        vec![
            Ipv4Addr::new(203, 0, 113, 210),
            Ipv4Addr::new(203, 0, 113, 211)
        ]
    );
    let cred = z.credentials.as_ref().expect("credentials");
    assert_eq!(cred.name, "branch17");
    assert_eq!(cred.password.expose(), b"Kiosk-17-Pass");
    let on = |n: &str| c.interface(n).and_then(|i| i.ezvpn.clone());
    assert_eq!(on("FastEthernet4"), Some(("HQ-EZ".to_string(), false)));
    assert_eq!(on("Vlan1"), Some(("HQ-EZ".to_string(), true)));
    assert!(c.validate().is_empty(), "{:?}", c.validate());
}

#[test]
fn every_fixture_is_in_the_table_and_in_sources() {
    let sources = std::fs::read_to_string(dir().join("SOURCES.md")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".cfg"))
        .collect();
    names.sort();
    let table: Vec<&str> = CORPUS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, table, "fixtures on disk vs the table");
    assert!(names.len() >= 30);
    for n in &names {
        assert!(sources.contains(n.as_str()), "{n} missing from SOURCES.md");
    }
}

#[test]
fn pki_fixture_reads_trustpoint_chain_map_and_profile() {
    use ipsec_proto::pki::RevocationCheck;
    use ipsec_proto::policy::{CertField, CertMatchOp, Enrollment, IsakmpIdentity};
    let p = parse_bytes(&read("41_pki_rsa_sig_identity_dn.cfg")).unwrap();
    let c = &p.config;
    assert_eq!(c.isakmp_identity, IsakmpIdentity::Dn);
    assert_eq!(c.trustpoints.len(), 1);
    let t = &c.trustpoints[0];
    assert_eq!(t.name, "LAB");
    assert_eq!(t.enrollment, Some(Enrollment::Terminal));
    assert_eq!(
        t.subject_name.as_deref(),
        Some("cn=gw1.example.com,o=Example")
    );
    assert_eq!(t.revocation_check, RevocationCheck::None);
    assert_eq!(t.key_label(), "GW1-KEY");
    let certs: Vec<(bool, &str)> = t.chain.iter().map(|x| (x.ca, x.serial.as_str())).collect();
    assert_eq!(certs, vec![(false, "02"), (true, "01")]);
    for cert in &t.chain {
        // A whole DER SEQUENCE with a two-byte length: the hex block decoded completely.
        let der = &cert.der;
        assert_eq!(&der[..2], &[0x30, 0x82]);
        assert_eq!(
            der.len(),
            4 + usize::from(u16::from_be_bytes([der[2], der[3]]))
        );
    }
    assert_eq!(c.certificate_maps.len(), 1);
    let m = &c.certificate_maps[0];
    assert_eq!(
        (m.name.as_str(), m.seq, m.rules.len()),
        ("LAB-PEERS", 10, 2)
    );
    assert_eq!(m.rules[0].field, CertField::IssuerName);
    assert_eq!(m.rules[0].op, CertMatchOp::Co);
    assert_eq!(m.rules[0].value, "lab ca");
    let prof = c.isakmp_profile("CERT-PEERS").unwrap();
    assert_eq!(prof.ca_trustpoints, vec!["LAB".to_string()]);
    assert_eq!(prof.match_certificates, vec!["LAB-PEERS".to_string()]);
    // Rendered and read again, the same configuration.
    let again = ipsec_proto::ios::config::parse(&ipsec_proto::ios::config::render(c)).unwrap();
    assert_eq!(&again.config, c);
}

#[test]
fn latin1_key_is_kept_byte_for_byte() {
    let bytes = read("04_latin1_banner_and_key.cfg");
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture is Latin-1"
    );
    let p = parse_bytes(&bytes).unwrap();
    assert_eq!(p.config.keys[0].key.expose(), b"Schl\xfcssel\xa72024");
    assert_eq!(p.config.hostname.as_deref(), Some("Filiale-M\u{fc}nchen"));
}

#[test]
fn wildcard_keys_serve_every_peer() {
    for name in [
        "11_wildcard_key_ios15_print.cfg",
        "12_wildcard_key_with_mask.cfg",
    ] {
        let p = parse_bytes(&read(name)).unwrap();
        let any: Ipv4Addr = "203.0.113.99".parse().unwrap();
        assert!(p.config.key_for(any).is_some(), "{name}");
    }
    // The specific key wins over the wildcard for its peer.
    let p = parse_bytes(&read("12_wildcard_key_with_mask.cfg")).unwrap();
    let k = p.config.key_for("198.51.100.21".parse().unwrap()).unwrap();
    assert_eq!(k.key.expose(), b"special");
}

#[test]
fn what_is_ignored_is_counted_and_noted_once() {
    // 08: router eigrp, ospf, bgp blocks (one note each, bodies counted), prefix-list,
    // route-map, ip sla, ip sla schedule, track, ip ospf lines in interfaces.
    let p = parse_bytes(&read("08_routing_protocols.cfg")).unwrap();
    let notes: Vec<&str> = p
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .filter(|m| m.starts_with("\"router"))
        .collect();
    assert_eq!(notes.len(), 3, "{:#?}", p.warnings);
    assert!(
        p.ignored > p.warnings.len(),
        "bodies are counted, not listed"
    );
    assert!(p
        .ignored_summary()
        .unwrap()
        .ends_with("commands with no effect on IPsec ignored"));
}

#[test]
fn the_dual_hub_branch_keeps_its_backup_peer_and_replay_windows() {
    let p = parse_bytes(&read("36_dual_hub_backup_peer.cfg")).unwrap();
    let built = ipsec_proto::tunnel::build(&p.config, None).unwrap();
    let e = &built.entries[0];
    let hubs: Vec<Ipv4Addr> = ["192.0.2.180", "192.0.2.181"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(e.peers, hubs);
    assert!(e.default_peer);
    assert_eq!(
        e.replay_window, 1024,
        "the entry's window beats the global 256"
    );
    assert_eq!(p.config.ipsec.replay_window, 256);
}
