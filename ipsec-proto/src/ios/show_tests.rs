use super::*;
use crate::ios::config::parse;
use crate::policy::PortRange;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Golden layouts copied character for character from cisco-ios.md (section B / A.1 / A.4).
mod golden {
    pub const ISAKMP_SA_124: &str = include_str!("golden/isakmp_sa_124.txt");
    pub const ISAKMP_SA_15: &str = include_str!("golden/isakmp_sa_15.txt");
    pub const ISAKMP_SA_15_FAILURE: &str = include_str!("golden/isakmp_sa_15_failure.txt");
    pub const ISAKMP_SA_DETAIL: &str = include_str!("golden/isakmp_sa_detail.txt");
    pub const IPSEC_SA: &str = include_str!("golden/ipsec_sa.txt");
    pub const IPSEC_SA_DETAIL_COUNTERS: &str = include_str!("golden/ipsec_sa_detail_counters.txt");
    pub const SESSION: &str = include_str!("golden/session.txt");
    pub const SESSION_DETAIL_TAIL: &str = include_str!("golden/session_detail_tail.txt");
    pub const CRYPTO_MAP: &str = include_str!("golden/crypto_map.txt");
    pub const ISAKMP_POLICY: &str = include_str!("golden/isakmp_policy.txt");
    pub const TRANSFORM_SET: &str = include_str!("golden/transform_set.txt");
}

fn r1() -> GatewayConfig {
    parse(crate::ios::seed::SITE_A).unwrap().config
}

fn row(state: &str, conn_id: u32, status: &str) -> IsakmpSaRow {
    IsakmpSaRow {
        dst: ip("198.51.100.1"),
        src: ip("203.0.113.2"),
        state: state.into(),
        conn_id,
        slot: 0,
        status: status.into(),
    }
}

#[test]
fn isakmp_sa_layouts() {
    assert_eq!(
        show_crypto_isakmp_sa(&[row("QM_IDLE", 1, "ACTIVE")], IosFlavor::V12_4),
        golden::ISAKMP_SA_124
    );
    assert_eq!(
        show_crypto_isakmp_sa(&[row("QM_IDLE", 1001, "ACTIVE")], IosFlavor::V15),
        golden::ISAKMP_SA_15
    );
    let t = show_crypto_isakmp_sa(&[row("QM_IDLE", 1, "ACTIVE")], IosFlavor::V12_4T);
    assert_eq!(
        t,
        format!(
            "IPv4 Crypto ISAKMP SA\n{}IPv6 Crypto ISAKMP SA\n\n",
            golden::ISAKMP_SA_124
        ),
        "12.4T = 12.4 rows with the 15.x headings"
    );
    let failing = [
        IsakmpSaRow {
            dst: ip("198.51.100.2"),
            src: ip("192.0.2.1"),
            state: "MM_KEY_EXCH".into(),
            conn_id: 1004,
            slot: 0,
            status: "ACTIVE".into(),
        },
        IsakmpSaRow {
            dst: ip("198.51.100.2"),
            src: ip("192.0.2.1"),
            state: "MM_NO_STATE".into(),
            conn_id: 1002,
            slot: 0,
            status: "ACTIVE (deleted)".into(),
        },
    ];
    let out = show_crypto_isakmp_sa(&failing, IosFlavor::V15);
    assert!(out.contains(golden::ISAKMP_SA_15_FAILURE), "{out}");
    assert_eq!(
        show_crypto_isakmp_sa(&[], IosFlavor::V15),
        "IPv4 Crypto ISAKMP SA\ndst             src             state          conn-id status\n\nIPv6 Crypto ISAKMP SA\n\n"
    );
}

#[test]
fn isakmp_sa_detail_layout() {
    let sa = IsakmpSaDetail {
        conn_id: 1001,
        local: ip("198.51.100.1"),
        remote: ip("203.0.113.2"),
        ivrf: String::new(),
        status: "ACTIVE".into(),
        encryption: IkeEncryption::TripleDes,
        hash: IkeHash::Sha1,
        auth: IkeAuth::PreShare,
        group: 2,
        remaining_secs: 23 * 3600 + 41 * 60 + 7,
        capabilities: "D".into(),
        engine: "SW:1".into(),
    };
    assert_eq!(
        show_crypto_isakmp_sa_detail(&[sa]),
        golden::ISAKMP_SA_DETAIL
    );
}

fn esp(spi: u32, conn_id: u32) -> EspSaSnapshot {
    EspSaSnapshot {
        spi,
        encryption: EspEncryption::TripleDes,
        integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
        udp_encap: false,
        conn_id,
        flow_id: format!("SW:{conn_id}"),
        crypto_map: "VPN".into(),
        remaining_kb: Some(4_443_437),
        remaining_secs: 3534,
        replay_window: 64,
    }
}

fn ipsec_snapshot() -> IpsecInterfaceSnapshot {
    IpsecInterfaceSnapshot {
        interface: "FastEthernet4".into(),
        map_tag: "VPN".into(),
        local_addr: ip("198.51.100.1"),
        flows: vec![IpsecFlowSnapshot {
            local_ident: TrafficSelector::subnet(ip("192.168.1.0"), ip("255.255.255.0")),
            remote_ident: TrafficSelector::subnet(ip("192.168.2.0"), ip("255.255.255.0")),
            current_peer: ip("203.0.113.2"),
            peer_port: 500,
            flags: "origin_is_acl,".into(),
            counters: FlowCounters {
                encaps: 52,
                encrypt: 52,
                digest: 52,
                decaps: 51,
                decrypt: 51,
                verify: 51,
                send_errors: 3,
                ..FlowCounters::default()
            },
            local_endpoint: ip("198.51.100.1"),
            remote_endpoint: ip("203.0.113.2"),
            path_mtu: 1500,
            ip_mtu: 1500,
            ip_mtu_idb: "FastEthernet4".into(),
            current_outbound_spi: 0x8A3D2C1B,
            pfs_group: None,
            inbound_esp: vec![esp(0x5F1E2D3C, 1)],
            outbound_esp: vec![esp(0x8A3D2C1B, 2)],
        }],
    }
}

#[test]
fn ipsec_sa_layout() {
    assert_eq!(
        show_crypto_ipsec_sa(&[ipsec_snapshot()], false),
        golden::IPSEC_SA
    );
}

#[test]
fn ipsec_sa_detail_layout() {
    let out = show_crypto_ipsec_sa(&[ipsec_snapshot()], true);
    let expected = golden::IPSEC_SA
        .replace(
            "    #send errors 3, #recv errors 0\n",
            golden::IPSEC_SA_DETAIL_COUNTERS,
        )
        .replace(
            "replay detection support: Y\n",
            "replay detection support: Y  replay window size: 64\n",
        );
    assert_eq!(out, expected);
}

#[test]
fn ipsec_sa_without_sa_and_nat_t() {
    let mut s = ipsec_snapshot();
    s.flows[0].inbound_esp.clear();
    s.flows[0].outbound_esp.clear();
    s.flows[0].current_outbound_spi = 0;
    let out = show_crypto_ipsec_sa(&[s.clone()], false);
    assert!(out.contains("     current outbound spi: 0x0(0)\n"), "{out}");
    assert!(out.contains("plaintext mtu 1500, path mtu 1500"), "{out}");
    assert!(
        out.contains("     inbound esp sas:\n\n     inbound ah sas:"),
        "{out}"
    );
    let mut sa = esp(0x7573FF1, 3);
    sa.udp_encap = true;
    sa.encryption = EspEncryption::Aes256;
    s.flows[0].outbound_esp.push(sa);
    s.flows[0].pfs_group = Some(2);
    s.flows[0].peer_port = 4500;
    let out = show_crypto_ipsec_sa(&[s], false);
    assert!(out.contains("      spi: 0x7573FF1(123158513)\n"), "{out}");
    assert!(
        out.contains("        transform: esp-aes 256 esp-sha-hmac ,\n"),
        "{out}"
    );
    assert!(
        out.contains("        in use settings ={Tunnel UDP-Encaps, }\n"),
        "{out}"
    );
    assert!(out.contains("        IV size: 16 bytes\n"), "{out}");
    assert!(
        out.contains("     PFS (Y/N): Y, DH group: group2\n"),
        "{out}"
    );
    assert!(
        out.contains("   current_peer 203.0.113.2 port 4500\n"),
        "{out}"
    );
}

#[test]
fn plaintext_mtu_of_gcm_agrees_with_the_sa() {
    use crate::crypto::cipher::CipherAlg;
    use crate::esp::{EspCipher, EspConfig, EspKeys, EspTransform, OutboundSa};
    for (e, alg) in [
        (EspEncryption::AesGcm128, CipherAlg::Aes128),
        (EspEncryption::AesGcm256, CipherAlg::Aes256),
    ] {
        let t = EspTransform::new(EspCipher::AesGcm16(alg), None);
        let keys = EspKeys::new(9, t, &vec![1; t.keymat_len()], &[]).unwrap();
        for udp in [false, true] {
            let cfg = EspConfig {
                udp_encap: udp,
                ..EspConfig::default()
            };
            let sa = OutboundSa::new(
                EspKeys::new(9, t, keys.enc_key(), &[]).unwrap(),
                cfg,
                crate::time::Instant(0),
                &mut crate::rng::Rng::from_u64(1),
            )
            .unwrap();
            let want = if udp { 1438 } else { 1446 };
            assert_eq!(sa.plaintext_mtu(1500), want);
            assert_eq!(
                plaintext_mtu(1500, e, EspIntegrity::None, EspMode::Tunnel, udp),
                want as u16
            );
        }
    }
}

#[test]
fn plaintext_mtu_matches_captures() {
    use EspEncryption as E;
    use EspIntegrity as I;
    assert_eq!(
        plaintext_mtu(1500, E::Aes128, I::Sha1, EspMode::Tunnel, false),
        1438
    );
    assert_eq!(
        plaintext_mtu(1500, E::TripleDes, I::Sha1, EspMode::Tunnel, false),
        1446
    );
    assert_eq!(
        plaintext_mtu(1500, E::TripleDes, I::Sha256, EspMode::Tunnel, false),
        1446
    );
    assert_eq!(
        plaintext_mtu(1476, E::TripleDes, I::None, EspMode::Tunnel, false),
        1438
    );
    assert_eq!(
        plaintext_mtu(1500, E::Aes128, I::Sha1, EspMode::Transport, true),
        1442
    );
    assert_eq!(
        plaintext_mtu(0, E::Aes128, I::Sha1, EspMode::Tunnel, true),
        0
    );
}

fn session() -> CryptoSession {
    CryptoSession {
        interface: "FastEthernet4".into(),
        uptime_secs: 52 * 60 + 46,
        status: SessionStatus::UpActive,
        peer: ip("203.0.113.2"),
        peer_port: 500,
        phase1_id: "203.0.113.2".into(),
        session_id: 0,
        username: None,
        group: None,
        assigned_address: None,
        ike: Some(SessionIkeSa {
            local: ip("198.51.100.1"),
            local_port: 500,
            remote: ip("203.0.113.2"),
            remote_port: 500,
            active: true,
            capabilities: "D".into(),
            conn_id: 1001,
            remaining_secs: 23 * 3600 + 7 * 60 + 14,
        }),
        flows: vec![SessionFlow {
            local: TrafficSelector::subnet(ip("192.168.1.0"), ip("255.255.255.0")),
            remote: TrafficSelector::subnet(ip("192.168.2.0"), ip("255.255.255.0")),
            active_sas: 2,
            inbound_pkts: 51,
            inbound_drops: 0,
            outbound_pkts: 52,
            outbound_drops: 3,
            inbound_life: (4_443_437, 3534),
            outbound_life: (4_443_437, 3534),
        }],
    }
}

#[test]
fn session_layouts() {
    assert_eq!(show_crypto_session(&[session()], false), golden::SESSION);
    let d = show_crypto_session(&[session()], true);
    assert_eq!(
        d,
        format!(
            "Crypto session current status\n\n{}\n",
            golden::SESSION_DETAIL_TAIL
        )
    );
    let mut s = session();
    s.status = SessionStatus::DownNegotiating;
    s.ike.as_mut().unwrap().active = false;
    let host = |a: &str| TrafficSelector {
        protocol: 47,
        ..TrafficSelector::subnet(ip(a), ip("255.255.255.255"))
    };
    s.flows[0].local = host("198.51.100.1");
    s.flows[0].remote = host("203.0.113.2");
    let d = show_crypto_session(&[s], true);
    assert!(d.contains("Session status: DOWN-NEGOTIATING\n"), "{d}");
    assert!(
        d.contains("/500 Inactive\n          Capabilities:(none) connid:0 lifetime:0\n"),
        "{d}"
    );
    assert!(
        d.contains("  IPSEC FLOW: permit 47 host 198.51.100.1 host 203.0.113.2\n"),
        "{d}"
    );
    let tcp = TrafficSelector {
        protocol: 6,
        ports: PortRange { start: 22, end: 22 },
        ..host("10.0.0.1")
    };
    assert_eq!(flow_side(&tcp), "host 10.0.0.1 port 22");
}

#[test]
fn crypto_map_layout() {
    let cfg = r1();
    assert_eq!(
        show_crypto_map(&cfg, IosFlavor::V15, &|_, _| None),
        golden::CRYPTO_MAP
    );
    let out12 = show_crypto_map(&cfg, IosFlavor::V12_4T, &|_, _| None);
    assert_eq!(
        out12,
        golden::CRYPTO_MAP.replace("\tResponder-Only (Y/N): N\n", "")
    );
    let mut cfg = cfg;
    cfg.crypto_maps[0].pfs_group = Some(2);
    cfg.crypto_maps[0].peers.push(ip("203.0.113.9"));
    let out = show_crypto_map(&cfg, IosFlavor::V15, &|_, _| Some(ip("203.0.113.9")));
    assert!(
        out.contains("\tPFS (Y/N): Y\n\tDH group:  group2\n"),
        "{out}"
    );
    assert!(
        out.contains("\tPeer = 203.0.113.2\n\tPeer = 203.0.113.9\n"),
        "{out}"
    );
    assert!(out.contains("\tCurrent peer: 203.0.113.9\n"), "{out}");
}

#[test]
fn isakmp_policy_layout() {
    assert_eq!(show_crypto_isakmp_policy(&r1()), golden::ISAKMP_POLICY);
}

#[test]
fn isakmp_policy_names_ecp_and_subgroup_groups_as_ios_help_does() {
    for (g, want) in [
        (14, "#14 (2048 bit)"),
        (16, "#16 (4096 bit)"),
        (19, "#19 (256 bit ecp)"),
        (21, "#21 (521 bit ecp)"),
        (24, "#24 (2048 bit, 256 bit subgroup)"),
    ] {
        let text = crate::ios::seed::SITE_A.replace(" group 2\n", &format!(" group {g}\n"));
        let out = show_crypto_isakmp_policy(&parse(&text).unwrap().config);
        assert!(
            out.contains(&format!("\tDiffie-Hellman group:\t{want}\n")),
            "{out}"
        );
    }
}

#[test]
fn transform_set_layout() {
    assert_eq!(
        show_crypto_ipsec_transform_set(&r1()),
        golden::TRANSFORM_SET
    );
}

#[test]
fn an_easy_vpn_session_names_user_group_and_assigned_address_before_its_status() {
    let mut s = session();
    s.username = Some("alice".into());
    s.group = Some("vpngroup".into());
    s.assigned_address = Some(ip("10.99.0.10"));
    for detail in [false, true] {
        let t = show_crypto_session(std::slice::from_ref(&s), detail);
        let want = "Interface: FastEthernet4\nUsername: alice\nGroup: vpngroup\nAssigned address: 10.99.0.10\n";
        assert!(t.contains(want), "{t}");
        assert!(
            t.find("Assigned address").unwrap() < t.find("Session status").unwrap(),
            "{t}"
        );
    }
}
