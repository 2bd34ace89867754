use super::*;
use crate::ios::seed::{SITE_A, SITE_A_VERBATIM};
use crate::policy::*;
use proptest::prelude::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn ok(text: &str) -> ParsedConfig {
    match parse(text) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(p) => panic!("expected an error, got {:#?}", p.config),
        Err(e) => e,
    }
}

/// What `ipsec-engine check` reads: unsupported features listed, not refused.
fn lenient(text: &str) -> ParsedConfig {
    match parse_for_check(text.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn assert_round_trip(text: &str) {
    let first = ok(text).config;
    let rendered = render(&first);
    let second = ok(&rendered).config;
    assert_eq!(first, second, "render was:\n{rendered}");
    assert_eq!(render(&second), rendered, "render is not a fixed point");
}

#[test]
fn seed_config_verbatim() {
    let p = ok(SITE_A_VERBATIM);
    let c = &p.config;
    assert_eq!(c.hostname.as_deref(), Some("siteA"));
    assert_eq!(
        c.isakmp_policies,
        vec![IsakmpPolicy {
            priority: 1,
            encryption: IkeEncryption::TripleDes,
            hash: IkeHash::Sha1,
            authentication: IkeAuth::PreShare,
            group: 2,
            lifetime_secs: 86400,
        }]
    );
    assert_eq!(
        c.key_for(ip("203.0.113.2")).map(|k| k.key.expose()),
        Some(&b"ciscokey"[..])
    );
    assert_eq!(c.key_for(ip("203.0.113.3")), None);
    assert_eq!(
        c.transform_sets,
        vec![TransformSet {
            name: "TRANSFORM".into(),
            esp_encryption: EspEncryption::TripleDes,
            esp_integrity: EspIntegrity::Sha1,
            mode: EspMode::Tunnel,
        }]
    );
    let mut e = CryptoMapEntry::new("VPN", 10);
    e.peers = vec![ip("203.0.113.2")];
    e.transform_sets = vec!["TRANSFORM".into()];
    e.acl = Some("100".into());
    assert_eq!(c.crypto_maps, vec![e]);
    let names: Vec<_> = c.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "FastEthernet0",
            "FastEthernet1",
            "FastEthernet2",
            "FastEthernet3",
            "FastEthernet4",
            "Vlan1"
        ]
    );
    let fa4 = c.interface("FastEthernet4").unwrap();
    assert_eq!(fa4.address, Some((ip("198.51.100.1"), ip("255.255.255.0"))));
    assert_eq!(fa4.nat, Some(NatSide::Outside));
    assert_eq!(fa4.crypto_map.as_deref(), Some("VPN"));
    let vl = c.interface("vlan1").unwrap();
    assert_eq!(vl.nat, Some(NatSide::Inside));
    assert_eq!(vl.crypto_map, None);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].next_hop, Some(ip("198.51.100.254")));
    assert_eq!(
        c.nat_rules,
        vec![NatRule {
            acl: "101".into(),
            interface: "FastEthernet4".into(),
            overload: true
        }]
    );
    let a100 = c.access_list("100").unwrap();
    assert_eq!(a100.entries.len(), 1);
    let (l, r) = a100.entries[0].to_selectors().unwrap();
    assert_eq!(
        l,
        TrafficSelector::subnet(ip("192.168.1.0"), ip("255.255.255.0"))
    );
    assert_eq!(
        r,
        TrafficSelector::subnet(ip("192.168.2.0"), ip("255.255.255.0"))
    );
    let a101 = c.access_list("101").unwrap();
    let pkt = |d: &str| FiveTuple {
        src: ip("192.168.1.10"),
        dst: ip(d),
        protocol: 1,
        src_port: 0,
        dst_port: 0,
    };
    assert!(!a101.permits(&pkt("192.168.2.10")), "NAT exemption");
    assert!(a101.permits(&pkt("8.8.8.8")));
    // duplex, speed, 2x ip virtual-reassembly, ip classless: recognised, no effect, reported.
    let lines: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![19, 20, 21, 26, 27], "{:#?}", p.warnings);
    assert!(
        p.warnings[1].message.contains("duplex"),
        "{}",
        p.warnings[1]
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    assert_eq!(p.origins.line(&Item::MapEntry("VPN".into(), 10)), Some(8));
    assert_eq!(p.origins.line(&Item::AclEntry("101".into(), 20)), Some(32));
    assert_round_trip(SITE_A_VERBATIM);
}

#[test]
fn reference_config_matches_seed_semantics() {
    let r1 = ok(SITE_A).config;
    let mut seed = ok(SITE_A_VERBATIM).config;
    // The seed also lists the unused FastEthernet0-3.
    seed.interfaces.retain(|i| i.address.is_some());
    assert_eq!(r1, seed);
    assert_round_trip(SITE_A);
}

#[test]
fn render_is_canonical_running_config() {
    let out = render(&ok(SITE_A).config);
    let expected = "hostname siteA
!
crypto isakmp policy 1
 encr 3des
 authentication pre-share
 group 2
crypto isakmp key ciscokey address 203.0.113.2
!
crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac
!
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set TRANSFORM
 match address 100
!
interface FastEthernet4
 ip address 198.51.100.1 255.255.255.0
 ip nat outside
 crypto map VPN
!
interface Vlan1
 ip address 192.168.1.1 255.255.255.0
 ip nat inside
!
ip route 0.0.0.0 0.0.0.0 198.51.100.254
ip nat inside source list 101 interface FastEthernet4 overload
!
access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255
access-list 101 deny ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255
access-list 101 permit ip 192.168.1.0 0.0.0.255 any
end
";
    assert_eq!(out, expected);
}

#[test]
fn abbreviations() {
    let c = ok("cry isa pol 10\n enc aes 256\n ha md\n auth pre\n gr 14\n life 3600\n").config;
    let p = c.isakmp_policy(10).unwrap();
    assert_eq!(p.encryption, IkeEncryption::Aes { bits: 256 });
    assert_eq!(p.hash, IkeHash::Md5);
    assert_eq!(p.authentication, IkeAuth::PreShare);
    assert_eq!((p.group, p.lifetime_secs), (14, 3600));
    let c = ok("int fa4\n ip add 10.0.0.1 255.0.0.0\n cry map M\n").config;
    assert_eq!(c.interfaces[0].name, "FastEthernet4");
    assert_eq!(c.interfaces[0].crypto_map.as_deref(), Some("M"));
    // `sha` is exact although it prefixes sha256.
    assert_eq!(
        ok("crypto isakmp policy 1\n hash sha\n")
            .config
            .isakmp_policies[0]
            .hash,
        IkeHash::Sha1
    );
}

#[test]
fn errors_carry_line_and_column() {
    let e = err("hostname x\n!\ncrypto isakmp policy 1\n!\n\n\n encr 3des2\n");
    assert_eq!((e.line, e.column), (7, 7));
    assert_eq!(
        e.to_string(),
        "line 7, column 7: unknown encryption algorithm \"3des2\""
    );
    let e = err("crypto isakmp policy 1\n hash sh\n");
    assert_eq!((e.line, e.column), (2, 7));
    assert!(
        e.message.starts_with("ambiguous hash algorithm \"sh\""),
        "{e}"
    );
    let e = err("crypto i\n");
    assert!(e.message.contains("ambiguous"), "{e}");
    let e = err("hostname x\ni x\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 1, "ambiguous command \"i\" (could be interface or ip)")
    );
    // A crypto ACL must parse; an access list nothing protects or exempts with may not.
    let e = err("crypto map M 10\n match address 100\naccess-list 100 permit ip 192.168.1.0 0.0.0.256 any\n");
    assert_eq!((e.line, e.column), (3, 39));
    let p = ok("access-list 100 permit ip 192.168.1.0 0.0.0.256 any\n");
    assert_eq!(p.warnings.len(), 1, "{:#?}", p.warnings);
    assert!(p.warnings[0].message.contains("no crypto map or NAT rule"));
    let e = err("ip access-list extended CRYPTO\n permit ip any host 10.0.0.300\ncrypto map M 10\n match address CRYPTO\n");
    assert_eq!((e.line, e.column), (2, 21));
    let e = err("crypto map VPN 10 ipsec-isakmp\n set peer 1.2.3\n");
    assert_eq!((e.line, e.column), (2, 11));
    let e = err("crypto isakmp policy 1\n group 3\n");
    assert!(e.message.contains("group 3"), "{e}");
    let e = err("crypto ipsec transform-set T esp-3des esp-des\n");
    assert!(e.message.contains("more than one"), "{e}");
    let e = err("interface Vlan1\n ip address 10.0.0.1 255.0.255.0\n");
    assert_eq!((e.line, e.column), (2, 22));
}

#[test]
fn warnings_not_silent() {
    let p = ok("version 12.4\nservice timestamps debug datetime msec\ncrypto isakmp identity address\n\
        crypto ipsec transform-set AH ah-sha-hmac esp-aes\n mode transport\nline vty 0 4\n password x\n login\n\
        crypto isakmp policy 5\n");
    // service, line (its body is not listed again), and the unused transform set with AH (a
    // notice at the end); `version` is boilerplate, `crypto isakmp identity address` a setting.
    let lines: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![2, 6, 4], "{:#?}", p.warnings);
    assert_eq!(p.ignored, 4, "service, line and its two body lines");
    assert_eq!(
        p.ignored_summary().as_deref(),
        Some("4 commands with no effect on IPsec ignored")
    );
    assert!(p.config.transform_sets.is_empty());
    assert!(
        p.config.isakmp_policy(5).is_some(),
        "global command leaves the unsupported block"
    );
}

#[test]
fn full_feature_set() {
    let text = "hostname gw
crypto isakmp policy 20
 encryption aes
 hash sha256
 group 5
 lifetime 28800
crypto isakmp policy 10
 authentication rsa-encr
crypto isakmp key 0 k1 address 0.0.0.0 0.0.0.0 no-xauth
crypto isakmp key 6 ABCDEF address 10.1.0.0 255.255.0.0
crypto isakmp key k3 hostname peer.example.com
crypto isakmp keepalive 30 5 periodic
crypto isakmp nat keepalive 20
no crypto ipsec nat-transparency udp-encapsulation
crypto ipsec security-association lifetime seconds 1800
crypto ipsec security-association lifetime kilobytes 100000
crypto ipsec security-association replay window-size 1024
crypto ipsec transform-set T1 esp-aes 256 esp-sha256-hmac
 mode transport
crypto ipsec transform-set T2 esp-sha-hmac
crypto map M 20 ipsec-isakmp
 set peer 192.0.2.1
 set peer 192.0.2.2
 set peer 192.0.2.3 default
 set transform-set T1 T2
 set pfs
 set security-association lifetime seconds 900
 set security-association lifetime kilobytes 10000
 match address CRYPTO
 reverse-route
 set reverse-route tag 77
 set reverse-route distance 20
crypto map M 10
 set pfs group14
interface GigabitEthernet0/0
 description WAN link ! to ISP
 ip address 192.0.2.100 255.255.255.0
 ip tcp adjust-mss 1360
 shutdown
 no shutdown
 crypto map M
ip access-list extended CRYPTO
 remark protect LAN
 permit tcp host 10.0.0.1 eq 22 10.2.0.0 0.0.255.255 range 1000 2000 log
 15 deny udp any gt 1023 any neq 53
 permit 47 any any
ip access-list standard 5
 permit 10.0.0.1
 permit 10.1.0.0 0.0.255.255
access-list 99 deny any
access-list 2000 permit icmp any any
ip route 10.9.0.0 255.255.0.0 GigabitEthernet0/0 192.0.2.254 250
";
    // `parse` refuses rsa-encr; what it parses to is still checked here (`check` reads it).
    let e = err(text);
    let refused: Vec<(usize, bool)> = e.unsupported.iter().map(|u| (u.line, u.later)).collect();
    assert_eq!(refused, vec![(8, false)], "{e}");
    assert_eq!(
        e.to_string().lines().collect::<Vec<_>>(),
        ["line 8, column 2: RSA authentication (authentication rsa-encr) is not supported",]
    );
    let p = lenient(text);
    let c = &p.config;
    assert_eq!(
        c.isakmp_policies
            .iter()
            .map(|p| p.priority)
            .collect::<Vec<_>>(),
        vec![10, 20]
    );
    assert_eq!(
        c.isakmp_policy(20).unwrap().encryption,
        IkeEncryption::Aes { bits: 128 }
    );
    assert_eq!(c.keys.len(), 3);
    assert_eq!(c.keys[1].encoding, KeyEncoding::Type6);
    assert_eq!(
        c.key_for(ip("10.1.2.3")).map(|k| k.key.expose()),
        Some(&b"k1"[..]),
        "type 6 keys are unusable"
    );
    assert_eq!(
        lookup_key_by_hostname(&c.keys, "PEER.example.com").map(|k| k.key.expose()),
        Some(&b"k3"[..])
    );
    assert_eq!(
        c.ipsec,
        IpsecGlobals {
            sa_lifetime_secs: 1800,
            sa_lifetime_kb: 100_000,
            sa_idle_time: None,
            replay_window: 1024,
            dpd: Some(DpdConfig {
                interval_secs: 30,
                retry_secs: 5,
                mode: DpdMode::Periodic
            }),
            nat_keepalive_secs: Some(20),
            nat_t: false,
            force_udp_encaps: false,
            df_bit: crate::policy::DfBit::Copy,
            ike_fragmentation_mtu: None,
        }
    );
    assert_eq!(c.transform_sets[0].mode, EspMode::Transport);
    assert_eq!(c.transform_sets[1].esp_encryption, EspEncryption::Null);
    let m: Vec<_> = c.crypto_map("M").collect();
    assert_eq!(m[0].seq, 10);
    assert_eq!(m[0].pfs_group, Some(14));
    assert_eq!(
        m[1].peers,
        vec![ip("192.0.2.3"), ip("192.0.2.1"), ip("192.0.2.2")]
    );
    assert_eq!(m[1].pfs_group, Some(1));
    assert_eq!(
        (
            m[1].reverse_route,
            m[1].reverse_route_tag,
            m[1].reverse_route_distance
        ),
        (
            Some(crate::policy::ReverseRoute::WhileUp),
            Some(77),
            Some(20)
        )
    );
    assert_eq!(
        (m[1].lifetime_secs, m[1].lifetime_kb),
        (Some(900), Some(10000))
    );
    let i = &c.interfaces[0];
    assert_eq!(i.description.as_deref(), Some("WAN link ! to ISP"));
    assert_eq!(i.tcp_adjust_mss, Some(1360));
    assert!(!i.shutdown);
    let a = c.access_list("CRYPTO").unwrap();
    assert_eq!(
        a.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![10, 15, 20]
    );
    assert_eq!(
        a.entries[0].render(AclKind::Extended),
        "permit tcp host 10.0.0.1 eq 22 10.2.0.0 0.0.255.255 range 1000 2000 log"
    );
    assert_eq!(a.entries[2].protocol, AclProtocol::Number(47));
    let s = c.access_list("5").unwrap();
    assert!(s.numbered);
    assert_eq!(s.kind, AclKind::Standard);
    assert_eq!(s.entries[0].src, AddrMatch::host(ip("10.0.0.1")));
    assert_eq!(c.routes[0].interface.as_deref(), Some("GigabitEthernet0/0"));
    assert_eq!(c.routes[0].distance, Some(250));
    let again = lenient(&render(c));
    assert_eq!(&again.config, c);
}

#[test]
fn no_forms_reset() {
    let c = ok("crypto isakmp policy 1\n encr 3des\n no encr\n group 2\n default group\n\
        crypto map M 1\n set pfs group2\n no set pfs\n set peer 1.1.1.1\n no set peer 1.1.1.1\n\
        interface Vlan1\n ip address 1.1.1.1 255.0.0.0\n no ip address\n ip nat inside\n no ip nat inside\n")
    .config;
    assert_eq!(c.isakmp_policies[0], IsakmpPolicy::new(1));
    assert_eq!(c.crypto_maps[0], CryptoMapEntry::new("M", 1));
    assert_eq!(c.interfaces[0], Interface::new("Vlan1"));
}

#[test]
fn sub_mode_by_context_not_indentation() {
    // `ip route` inside config-if must not be taken as `ip route-cache`.
    let c = ok("interface Vlan1\n ip route 0.0.0.0 0.0.0.0 1.1.1.1\n").config;
    assert_eq!(c.routes.len(), 1);
    // After a global command the router is in global mode again, whatever the indentation.
    let e = err("interface Vlan1\n ip route 0.0.0.0 0.0.0.0 1.1.1.1\n ip nat inside\n");
    assert_eq!(e.line, 3);
    let c = ok("interface Vlan1\nip nat inside\ncrypto map VPN\n").config;
    assert_eq!(c.interfaces[0].nat, Some(NatSide::Inside));
    assert_eq!(c.interfaces[0].crypto_map.as_deref(), Some("VPN"));
}

// ---- what IOS prints and people paste ------------------------------------------------------

fn ok_bytes(b: &[u8]) -> ParsedConfig {
    match parse_bytes(b) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn show_run_headers_prompts_and_session_commands() {
    let text = "R1#show running-config\r\nBuilding configuration...\r\n\r\nCurrent configuration : 1543 bytes\r\n!\r\n\
        ! Last configuration change at 10:01:02 UTC Tue Mar 2 2021 by admin\r\n! NVRAM config last updated at 10:01:05 UTC Tue Mar 2 2021\r\n\
        version 15.4\r\nservice timestamps debug datetime msec\r\nhostname R1\r\nboot-start-marker\r\nboot-end-marker\r\n!\r\n\
        R1(config)#crypto isakmp policy 10\r\nR1(config-isakmp)#encr aes\r\nR1(config-isakmp)# authentication pre-share\r\n\
        R1(config-isakmp)#exit\r\nconf t\r\nEnter configuration commands, one per line.  End with CNTL/Z.\r\n\
        interface\tGigabitEthernet0/0\r\n\tip address 192.0.2.1 255.255.255.0\r\nend\r\nwr mem\r\n[OK]\r\ncopy run start\r\n\
        Destination filename [startup-config]? \r\nenable\r\nR1#\r\n";
    let p = ok(text);
    assert_eq!(p.config.hostname.as_deref(), Some("R1"));
    let pol = p.config.isakmp_policy(10).unwrap();
    assert_eq!(pol.encryption, IkeEncryption::Aes { bits: 128 });
    assert_eq!(pol.authentication, IkeAuth::PreShare);
    assert_eq!(
        p.config.interfaces[0].address,
        Some((ip("192.0.2.1"), ip("255.255.255.0")))
    );
    // Only `service timestamps` has no effect; the rest is not configuration.
    assert_eq!(p.warnings.len(), 1, "{:#?}", p.warnings);
    assert_eq!(p.ignored, 1);
    // A byte order mark is skipped.
    let mut b = b"\xEF\xBB\xBF".to_vec();
    b.extend_from_slice(text.as_bytes());
    assert_eq!(ok_bytes(&b).config, p.config);
}

#[test]
fn banners_with_their_delimiters() {
    for banner in [
        "banner motd ^C\nAuthorized access only!\ncrypto map X 10 ipsec-isakmp\n^C\n",
        "banner motd ^CAuthorized only^C\n",
        "banner login #\nNo entry # here\n",
        "banner exec \x03\nhello\n  interface Vlan1\n\x03\n",
        "banner incoming %text% \n",
        "banner ^C only a motd ^C\n",
    ] {
        let text =
            format!("hostname R1\n{banner}crypto isakmp policy 1\n authentication pre-share\n");
        let p = ok(&text);
        assert!(p.config.crypto_maps.is_empty(), "{banner}");
        assert!(p.config.interfaces.is_empty(), "{banner}");
        assert_eq!(
            p.config.isakmp_policy(1).unwrap().authentication,
            IkeAuth::PreShare
        );
        assert_eq!(
            (p.warnings.len(), p.warnings[0].line),
            (1, 2),
            "{banner}: {:#?}",
            p.warnings
        );
    }
    // A banner whose delimiter never comes back skips only its first line.
    let p = ok("banner motd ^C hello\ncrypto isakmp policy 1\n");
    assert!(p.config.isakmp_policy(1).is_some());
}

#[test]
fn latin1_and_utf8_keys_stay_byte_for_byte() {
    // Latin-1 bytes (not UTF-8): é is 0xE9, a no-break space 0xA0 is part of the key.
    let latin1 = b"banner motd #Caf\xe9#\ncrypto isakmp key cl\xe9\xa0s\xb5 address 192.0.2.1\n";
    let p = ok_bytes(latin1);
    assert_eq!(
        p.config.keys[0].key.expose(),
        &b"cl\xe9\xa0s\xb5"[..],
        "the key's bytes are those of the file"
    );
    // The same key in a UTF-8 file is its UTF-8 bytes.
    let p = ok_bytes("crypto isakmp key clé address 192.0.2.1\n".as_bytes());
    assert_eq!(p.config.keys[0].key.expose(), "clé".as_bytes());
}

#[test]
fn wildcard_keys() {
    for line in [
        "crypto isakmp key k address 0.0.0.0\n",
        "crypto isakmp key k address 0.0.0.0 0.0.0.0\n",
        "crypto isakmp key 0 k address 0.0.0.0 0.0.0.0 no-xauth\n",
    ] {
        let c = ok(line).config;
        assert_eq!(
            c.keys[0].peer,
            PskPeer::Address {
                addr: ip("0.0.0.0"),
                mask: ip("0.0.0.0")
            },
            "{line}"
        );
        assert!(c.key_for(ip("203.0.113.7")).is_some(), "{line}");
    }
    let c = ok("crypto isakmp key k address 192.0.2.1\n").config;
    assert!(c.key_for(ip("192.0.2.2")).is_none());
}

#[test]
fn unknown_blocks_follow_column_one() {
    let text = "hostname R1
router ospf 1
 network 10.0.0.0 0.0.0.255 area 0
 passive-interface default
line vty 0 4
 transport input ssh
 host 192.0.2.9
ip dhcp pool LAN
 network 192.168.1.0 255.255.255.0
 default-router 192.168.1.1
interface Vlan1
 ip address 192.168.1.1 255.255.255.0
 ipv6 address 2001:db8::1/64
 ip nat inside
snmp-server community public RO
  crypto isakmp key k address 192.0.2.1
 ip route 10.0.0.0 255.0.0.0 192.0.2.254
";
    let p = ok(text);
    let c = &p.config;
    assert_eq!(
        c.hostname.as_deref(),
        Some("R1"),
        "`host` in a block is not `hostname`"
    );
    assert_eq!(c.interfaces.len(), 1);
    assert_eq!(c.interfaces[0].nat, Some(NatSide::Inside));
    assert_eq!(
        c.keys.len(),
        1,
        "an indented crypto command is never swallowed"
    );
    assert_eq!(c.routes.len(), 1);
    let noted: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(noted, vec![2, 5, 8, 13, 15], "{:#?}", p.warnings);
    // 4 block openers and the ipv6 line, 6 body lines.
    assert_eq!(p.ignored, 11);
}

#[test]
fn crypto_is_never_ignored() {
    // (text, line, column, feature substring, later)
    let cases: &[(&str, usize, usize, &str, bool)] = &[
        ("crypto ikev2 proposal P\n encryption aes-cbc-256\n", 1, 1, "IKEv2", false),
        ("crypto gdoi group G\n identity number 1\n", 1, 1, "GETVPN", false),
        ("crypto keyring KR vrf BLUE\n", 1, 1, "VRF-aware", false),
        ("crypto isakmp profile P\n keyring KR\n match identity address 192.0.2.1 255.255.255.255 BLUE\n", 3, 2, "VRF-aware", false),
        ("crypto isakmp profile P\n vrf BLUE\n", 2, 2, "VRF-aware", false),
        ("crypto isakmp policy 1\n authentication rsa-encr\n", 2, 2, "rsa-encr", false),
        ("crypto pki trustpoint CA\n enrollment url http://192.0.2.5:80\n revocation-check crl ocsp\n", 3, 2, "OCSP (revocation-check ocsp)", false),
        ("crypto pki trustpoint CA\n chain-validation continue SUB\n", 2, 2, "trustpoint chain-validation", false),
        ("crypto pki certificate map M 10\n expires-on lt 01:00 01 jan 2030\n", 2, 2, "certificate map field expires-on", false),
        ("crypto pki server CS\n", 1, 1, "certificates (crypto pki server", false),
        ("crypto isakmp client configuration group G\n key k\n include-local-lan\n", 3, 2, "Easy VPN group setting (include-local-lan)", false),
        ("crypto isakmp client configuration address-pool local P\n", 1, 1, "Easy VPN (crypto isakmp client configuration address-pool", false),
        ("crypto ipsec client ezvpn E\n connect auto\n virtual-interface 1\n", 3, 2, "Easy VPN client setting (virtual-interface 1)", false),
        ("crypto map M client accounting list L\n", 1, 1, "Easy VPN (crypto map M client accounting list", false),
        ("aaa new-model\naaa authorization network L group radius local\n", 2, 1, "aaa authorization network L group radius", false),
        ("interface Tunnel0\n ip nhrp network-id 1\n", 2, 2, "DMVPN", false),
        ("interface Tunnel0\n tunnel mode gre multipoint\n", 2, 2, "DMVPN", false),
        ("interface Tunnel0\n tunnel source Gi0/0\n tunnel protection ipsec profile P\n", 3, 2, "GRE over IPsec", false),
        ("interface Tunnel0\n tunnel mode gre multipoint\n tunnel protection ipsec profile P\n", 3, 2, "GRE over IPsec", false),
        ("interface Tunnel0\n tunnel mode ipsec ipv4\n tunnel protection ipsec profile P shared\n", 3, 2, "DMVPN", false),
        ("interface Tunnel0\n tunnel mode ipsec ipv6\n", 2, 2, "VTIs over IPv6", false),
        ("crypto ipsec profile P\n set ikev2-profile X\n", 2, 2, "IKEv2", false),
        ("crypto map M 10\ninterface Gi0/0\n vrf forwarding RED\n crypto map M\n", 3, 2, "VRF-aware", false),
        ("crypto map M 10 ipsec-isakmp\n set peer 192.0.2.1\n set transform-set G\ncrypto ipsec transform-set G esp-gmac\n", 4, 1, "esp-gmac", false),
        ("crypto map M 10\n match address 101\naccess-list 101 permit tcp any any established\n", 3, 1, "established", false),
        ("crypto map M 10\n set peer vpn.example.com\n", 2, 2, "host name", false),
        ("crypto frobnicate all\n", 1, 1, "crypto frobnicate", false),
        ("crypto map M 10\ninterface Gi0/0\n crypto map M redundancy HA\n", 3, 2, "failover", false),
    ];
    let mut failures = Vec::new();
    for (text, line, col, feature, later) in cases {
        match parse(text) {
            Ok(_) => failures.push(format!("{text:?}: accepted")),
            Err(e) => {
                let found = e.unsupported.iter().find(|u| {
                    (u.line, u.column, u.later) == (*line, *col, *later)
                        && u.feature.contains(feature)
                });
                match found {
                    None => failures.push(format!("{text:?}: {e}")),
                    Some(u) if *later != u.message().ends_with("not implemented yet") => {
                        failures.push(format!("{text:?}: wording of {u}"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_dynamic_address_on_a_crypto_interface_is_the_hosts_with_a_notice() {
    for (text, kw, ifc, line) in [
        ("crypto map M 10\ninterface Gi0/0\n ip address dhcp\n crypto map M\n", "dhcp", "GigabitEthernet0/0", 3),
        ("crypto map M 10\ninterface Dialer1\n ip address negotiated\n crypto map M\n", "negotiated", "Dialer1", 3),
        ("interface Gi0/0\n ip address dhcp\ninterface Tunnel0\n tunnel source Gi0/0\n tunnel mode ipsec ipv4\n", "dhcp", "GigabitEthernet0/0", 2),
    ] {
        let p = parse(text).unwrap();
        let w = p
            .warnings
            .iter()
            .find(|w| w.message.starts_with(&format!("ip address {kw} on {ifc}:")))
            .unwrap_or_else(|| panic!("{text:?}: {:?}", p.warnings));
        assert_eq!((w.line, w.column), (line, 2), "{text:?}");
        assert!(w.message.contains("--map-interface"), "{}", w.message);
        assert_eq!(p.config.interface(ifc).unwrap().address, None);
    }
    let p = parse("interface Gi0/1\n ip address dhcp\n").unwrap();
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message
                == "ip address dhcp ignored: GigabitEthernet0/1 carries no crypto map"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn static_vtis_are_read_and_rendered() {
    let text = "\
crypto isakmp key k1 address 192.0.2.1
crypto isakmp key k2 address 192.0.2.2
crypto ipsec transform-set T esp-aes 256 esp-sha-hmac
crypto ipsec profile P
 set transform-set T
 set pfs group14
 set security-association lifetime seconds 1800
 set security-association lifetime kilobytes 102400
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
interface Loopback0
 ip address 10.0.0.1 255.255.255.255
interface Tunnel0
 ip address 169.254.0.1 255.255.255.252
 ip mtu 1400
 ip tcp adjust-mss 1360
 tunnel source Gi0/0
 tunnel mode ipsec ipv4
 tunnel destination 192.0.2.1
 tunnel protection ipsec profile P
 keepalive 10 3
interface Tunnel1
 ip unnumbered Loopback0
 tunnel source 198.51.100.1
 tunnel destination 192.0.2.2
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile P
 shutdown
ip route 10.1.0.0 255.255.0.0 Tunnel0
ip route 10.1.0.0 255.255.0.0 Tunnel1 250
";
    let p = parse(text).unwrap();
    let c = &p.config;
    let prof = c.ipsec_profile("P").unwrap();
    assert_eq!(prof.transform_sets, vec!["T".to_string()]);
    assert_eq!(
        (prof.pfs_group, prof.lifetime_secs, prof.lifetime_kb),
        (Some(14), Some(1800), Some(102_400))
    );
    let vtis: Vec<_> = c.vtis().collect();
    assert_eq!(vtis.len(), 2);
    let t0 = vtis[0].tunnel.as_ref().unwrap();
    assert_eq!(
        t0.source,
        Some(crate::policy::TunnelSource::Interface(
            "GigabitEthernet0/0".into()
        ))
    );
    assert_eq!(t0.destination, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(t0.protection.as_deref(), Some("P"));
    assert!(t0.keepalive);
    assert_eq!(
        (vtis[0].ip_mtu, vtis[0].tcp_adjust_mss),
        (Some(1400), Some(1360))
    );
    assert_eq!(vtis[1].unnumbered.as_deref(), Some("Loopback0"));
    assert!(vtis[1].shutdown);
    assert_eq!(c.routes[1].interface.as_deref(), Some("Tunnel1"));
    assert_eq!(c.routes[1].distance, Some(250));
    // keepalive is accepted with a notice: DPD gives liveness.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.line == 21 && w.message.contains("GRE keepalives do not exist")),
        "{:?}",
        p.warnings
    );
    // Rendered and read again, the same configuration.
    let again = parse(&crate::ios::render(c)).unwrap();
    assert_eq!(&again.config.ipsec_profiles, &c.ipsec_profiles);
    assert_eq!(&again.config.interfaces, &c.interfaces);
    // A GRE tunnel without protection is still no IPsec at all.
    let gre =
        parse("interface Tunnel5\n tunnel source Gi0/0\n tunnel destination 192.0.2.9\n").unwrap();
    assert_eq!(gre.config.vtis().count(), 0);
    assert!(gre
        .warnings
        .iter()
        .any(|w| w.message == "tunnel source ignored: no effect on IPsec"));
}

#[test]
fn crypto_without_effect_is_a_notice() {
    let text = "crypto isakmp invalid-spi-recovery
crypto isakmp aggressive-mode disable
crypto ipsec fragmentation after-encryption
crypto logging session
crypto pki trustpoint TP-self-signed-4711
 enrollment selfsigned
 revocation-check none
crypto pki certificate chain TP-self-signed-4711
 certificate self-signed 01
  3082022B 30820194 A0030201 02020101
  \tquit
crypto map M 10 ipsec-isakmp
 qos pre-classify
crypto ipsec transform-set UNUSED ah-sha-hmac
";
    let p = ok(text);
    let lines: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    // `crypto isakmp aggressive-mode disable` (line 2) is a real setting now, not a notice;
    // the trustpoint and its chain (lines 5 and 8) are read as configuration since PKI landed.
    assert_eq!(lines, vec![1, 3, 4, 13, 14], "{:#?}", p.warnings);
    assert_eq!(p.config.trustpoints.len(), 1);
    assert_eq!(p.config.trustpoints[0].chain.len(), 1);
    assert!(p.config.aggressive_mode_disabled);
    assert_eq!(p.ignored, 0, "notices are not ignored commands");
}

#[test]
fn interface_range_and_unknown_interface_lines() {
    let p = ok("interface range GigabitEthernet0/1 - 8\n switchport access vlan 10\n spanning-tree portfast\n\
        interface GigabitEthernet0/0\n pppoe enable group global\n nameif outside\n ip address 192.0.2.1 255.255.255.0\n");
    assert_eq!(p.config.interfaces.len(), 1);
    assert!(p.config.interfaces[0].address.is_some());
    assert_eq!(p.ignored, 5);
}

// ---- property: parse(render(parse(x))) == parse(x) ----------------------------------------

fn arb_ip() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10.0.0.0".to_string()),
        Just("192.168.1.1".to_string()),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
    ]
}

fn arb_mask() -> impl Strategy<Value = String> {
    (0u32..=32).prop_map(|n| {
        let m = if n == 0 { 0 } else { u32::MAX << (32 - n) };
        Ipv4Addr::from(m).to_string()
    })
}

fn arb_addr_spec() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("any".to_string()),
        arb_ip().prop_map(|a| format!("host {a}")),
        (arb_ip(), arb_ip()).prop_map(|(a, w)| format!("{a} {w}")),
    ]
}

fn arb_port_op() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (0u16..100).prop_map(|p| format!(" eq {p}")),
        Just(" neq www".to_string()),
        (1u16..1000).prop_map(|p| format!(" lt {p}")),
        (0u16..1000).prop_map(|p| format!(" gt {p}")),
        (0u16..100, 100u16..200).prop_map(|(a, b)| format!(" range {a} {b}")),
    ]
}

fn arb_acl_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("permit"), Just("deny")],
        prop_oneof![
            Just("ip"),
            Just("tcp"),
            Just("udp"),
            Just("gre"),
            Just("99")
        ],
        arb_addr_spec(),
        arb_port_op(),
        arb_addr_spec(),
        arb_port_op(),
        any::<bool>(),
    )
        .prop_map(|(a, p, s, sp, d, dp, log)| {
            let ports = p == "tcp" || p == "udp";
            let (sp, dp) = if ports {
                (sp, dp)
            } else {
                (String::new(), String::new())
            };
            format!("{a} {p} {s}{sp} {d}{dp}{}", if log { " log" } else { "" })
        })
}

fn lines(
    header: impl Strategy<Value = String> + 'static,
    sub: impl Strategy<Value = String> + 'static,
    n: usize,
) -> BoxedStrategy<String> {
    (header, proptest::collection::vec(sub, 0..n))
        .prop_map(|(h, v)| format!("{h}\n{}", v.join("\n")))
        .boxed()
}

fn words(w: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(w).prop_map(str::to_string)
}

/// One configuration block: a global command, or a sub-mode header followed by sub-mode commands.
fn arb_block() -> impl Strategy<Value = String> {
    let name = || words(&["VPN", "M2", "T", "ACL1"]);
    let global = prop_oneof![
        "[a-zA-Z][a-zA-Z0-9-]{0,8}".prop_map(|h| format!("hostname {h}")),
        (
            "[a-z0-9]{1,6}",
            arb_ip(),
            words(&["", " 255.255.0.0", " 0.0.0.0"]),
            words(&["", "0 ", "6 "]),
            any::<bool>()
        )
            .prop_map(|(k, a, m, t, x)| format!(
                "crypto isakmp key {t}{k} address {a}{m}{}",
                if x { " no-xauth" } else { "" }
            )),
        ("[a-z0-9]{1,6}", "[a-z]{1,5}\\.com")
            .prop_map(|(k, h)| format!("crypto isakmp key {k} hostname {h}")),
        (
            10u32..100,
            words(&["", " 3", " 3 periodic", " on-demand", " 2 periodic"])
        )
            .prop_map(|(s, r)| format!("crypto isakmp keepalive {s}{r}")),
        (
            prop_oneof![Just(100u32), Just(101), Just(2000)],
            arb_acl_line()
        )
            .prop_map(|(n, l)| format!("access-list {n} {l}")),
        (prop_oneof![Just(1u32), Just(99)], arb_addr_spec())
            .prop_map(|(n, a)| format!("access-list {n} permit {a}")),
        (prop_oneof![Just(1u32), Just(100)], "[a-z ]{0,6}")
            .prop_map(|(n, r)| format!("access-list {n} remark {r}")),
        (
            arb_ip(),
            arb_mask(),
            arb_ip(),
            proptest::option::of(1u8..=255)
        )
            .prop_map(|(p, m, n, d)| format!(
                "ip route {p} {m} {n}{}",
                d.map(|d| format!(" {d}")).unwrap_or_default()
            )),
        (arb_ip(), arb_mask(), words(&["Vlan1", "fa4"]))
            .prop_map(|(p, m, i)| format!("ip route {p} {m} {i}")),
        (
            words(&["101", "1", "ACL1"]),
            words(&["Vlan1", "FastEthernet4"]),
            any::<bool>()
        )
            .prop_map(|(a, i, o)| format!(
                "ip nat inside source list {a} interface {i}{}",
                if o { " overload" } else { "" }
            )),
        words(&[
            "no crypto ipsec nat-transparency udp-encapsulation",
            "crypto ipsec nat-transparency udp-encapsulation",
            "crypto isakmp nat keepalive 20",
            "crypto ipsec security-association replay window-size 512",
            "crypto ipsec security-association lifetime kilobytes 10000",
            "crypto ipsec security-association lifetime kilobytes disable",
            "crypto ipsec security-association idle-time 600",
            "crypto ipsec security-association idle-time 120 default",
            "no crypto isakmp keepalive",
            "ip classless",
            "end",
            "aaa new-model",
            "aaa authorization network GA local",
            "aaa authentication login UA local",
            "username u1 password 0 p1",
            "crypto map VPN isakmp authorization list GA",
            "crypto map M2 client configuration address respond",
            "crypto map VPN client configuration address initiate",
        ]),
        (0u8..4, 1u8..250, proptest::option::of(0u8..6)).prop_map(|(b, f, n)| format!(
            "ip local pool P{b} 10.{b}.{f}.1{}",
            n.map(|n| format!(" 10.{b}.{}.9", f.saturating_add(n)))
                .unwrap_or_default()
        )),
        (120u32..5000)
            .prop_map(|s| format!("crypto ipsec security-association lifetime seconds {s}")),
    ];
    let policy_sub = prop_oneof![
        words(&[
            " encr 3des",
            " encr aes",
            " encr aes 192",
            " encryption des",
            " hash md5",
            " hash sha512",
            " hash sha",
            " authentication pre-share",
            " auth rsa-sig",
            " auth rsa-encr",
            " group 2",
            " group 1",
            " group 24",
            " lifetime 86400",
            " no encr",
            " default hash",
            " no group"
        ]),
        (60u32..86400).prop_map(|l| format!(" lifetime {l}")),
    ];
    let ts = name().prop_flat_map(|n| {
        words(&[
            "esp-3des esp-sha-hmac",
            "esp-aes 256",
            "esp-md5-hmac esp-des",
            "esp-sha384-hmac",
            "esp-null esp-sha256-hmac",
            "esp-aes 192 esp-sha512-hmac",
        ])
        .prop_map(move |t| format!("crypto ipsec transform-set {n} {t}"))
    });
    let ts_sub = words(&[
        " mode transport",
        " mode tunnel",
        " mode transport require",
        " no mode",
    ]);
    let map_sub = prop_oneof![
        arb_ip().prop_map(|a| format!(" set peer {a}")),
        arb_ip().prop_map(|a| format!(" set peer {a} default")),
        arb_ip().prop_map(|a| format!(" no set peer {a}")),
        (name(), name()).prop_map(|(a, b)| format!(" set transform-set {a} {b}")),
        words(&[
            " set pfs",
            " set pfs group5",
            " set pfs group14",
            " set pfs group1",
            " no set pfs",
            " reverse-route",
            " no reverse-route",
            " no match address",
            " set security-association lifetime kilobytes 3000",
            " set security-association lifetime kilobytes disable",
            " no set security-association lifetime kilobytes",
            " set security-association idle-time 300",
            " set security-association idle-time 86400 default",
            " no set security-association idle-time",
            " no set security-association lifetime seconds"
        ]),
        (120u32..86400).prop_map(|s| format!(" set security-association lifetime seconds {s}")),
        words(&["100", "ACL1", "101"]).prop_map(|n| format!(" match address {n}")),
    ];
    let if_sub = prop_oneof![
        (arb_ip(), arb_mask()).prop_map(|(a, m)| format!(" ip address {a} {m}")),
        "[a-z ]{1,10}".prop_map(|d| format!(" description {d}")),
        (500u16..=1460).prop_map(|m| format!(" ip tcp adjust-mss {m}")),
        words(&[
            " ip nat inside",
            " ip nat outside",
            " no ip nat inside",
            " shutdown",
            " no shutdown",
            " crypto map VPN",
            " crypto map M2",
            " no crypto map",
            " no ip address",
            " duplex auto",
            " ip virtual-reassembly",
            " crypto ipsec client ezvpn EZ1",
            " crypto ipsec client ezvpn EZ1 inside",
            " no crypto ipsec client ezvpn EZ1"
        ]),
    ];
    let acl_sub = prop_oneof![
        (proptest::option::of(1u32..60), arb_acl_line())
            .prop_map(|(s, l)| format!(" {}{l}", s.map(|s| format!("{s} ")).unwrap_or_default())),
        "[a-z]{0,5}".prop_map(|s| format!(" remark {s}")),
    ];
    let group_sub = prop_oneof![words(&[
        " key GroupKey1",
        " key 0 k0",
        " dns 10.0.0.1",
        " dns 10.0.0.1 10.0.0.2",
        " wins 10.0.0.3",
        " domain example.com",
        " pool P1",
        " acl 101",
        " acl ACL1",
        " save-password",
        " pfs",
        " no pfs",
        " netmask 255.255.255.0",
        " backup-gateway 192.0.2.7",
        " no backup-gateway",
        " split-dns a.example",
        " max-users 10",
        " banner #hello#",
        " no banner",
    ]),];
    let ezvpn_sub = prop_oneof![
        arb_ip().prop_map(|a| format!(" peer {a}")),
        arb_ip().prop_map(|a| format!(" peer {a} default")),
        words(&[
            " connect auto",
            " connect manual",
            " no connect",
            " group G1 key 0 k1",
            " group G2 key k2",
            " no group",
            " mode client",
            " mode network-extension",
            " no mode",
            " no peer",
            " username u1 password 0 p1",
            " username u2 password p2",
            " no username",
        ]),
    ];
    prop_oneof![
        1 => lines(words(&["crypto isakmp client configuration group G1", "crypto isakmp client configuration group G2"]), group_sub, 8),
        1 => lines(words(&["crypto ipsec client ezvpn EZ1", "crypto ipsec client ezvpn EZ2"]), ezvpn_sub, 8),
        3 => global,
        1 => lines((1u16..30).prop_map(|p| format!("crypto isakmp policy {p}")), policy_sub, 6),
        1 => lines(ts, ts_sub, 2),
        2 => lines((name(), 1u16..40).prop_map(|(n, s)| format!("crypto map {n} {s} ipsec-isakmp")), map_sub, 8),
        1 => lines(words(&["interface FastEthernet4", "interface Vlan1", "interface gi0/1", "int fa 4"]), if_sub, 6),
        1 => lines(words(&["ip access-list extended ACL1", "ip access-list extended 150", "ip access-list standard NAT1"]), acl_sub, 6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn render_round_trips(blocks in proptest::collection::vec(arb_block(), 0..25)) {
        // Keep only the lines that are valid where they land, so every case is a rich configuration.
        let mut text = String::new();
        for l in blocks.iter().flat_map(|b| b.lines()) {
            let candidate = format!("{text}{l}\n");
            if parse(&candidate).is_ok() {
                text = candidate;
            }
        }
        let p = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rendered = render(&p.config);
        let again = parse(&rendered).map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
        prop_assert_eq!(&p.config, &again.config, "input:\n{}\nrendered:\n{}", text, rendered);
        prop_assert_eq!(render(&again.config), rendered);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_bytes(&b);
        let mut t = b"banner motd ^C".to_vec();
        t.extend_from_slice(&b);
        let _ = parse_bytes(&t);
    }
}

#[test]
fn no_sequence_number_deletes_an_acl_entry() {
    let p = lenient(
        "ip access-list extended CRYPTO\n 10 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n 20 permit ip 10.0.0.0 0.0.0.255 10.2.0.0 0.0.0.255\n no 20\n no 30\n",
    );
    let acl = p.config.access_list("CRYPTO").unwrap();
    assert_eq!(
        acl.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![10]
    );
    assert!(
        p.warnings.iter().any(|w| w.message.contains("no entry 30")),
        "{:?}",
        p.warnings
    );
}

/// Reverse route injection: every IOS form of `reverse-route` and `set reverse-route`, the `no`
/// forms, notes for what means nothing here, and `show running-config` round trips.
#[test]
fn reverse_route_forms() {
    let text = "crypto map M 10 ipsec-isakmp
 reverse-route static
crypto map M 20 ipsec-isakmp
 reverse-route tag 5
crypto map M 30 ipsec-isakmp
 reverse-route remote-peer 192.0.2.1 gateway static
crypto map M 40 ipsec-isakmp
 reverse-route
 set reverse-route tag 9
 no reverse-route
crypto map M 50 ipsec-isakmp
 set reverse-route distance 250
 set reverse-route tag 4294967295
 reverse-route
 no set reverse-route distance
crypto dynamic-map D 10
 match address 100
 reverse-route static
 set reverse-route distance 7
";
    let p = ok(text);
    let c = &p.config;
    let m: Vec<_> = c.crypto_map("M").collect();
    let rri = |e: &CryptoMapEntry| {
        (
            e.reverse_route,
            e.reverse_route_tag,
            e.reverse_route_distance,
        )
    };
    use crate::policy::ReverseRoute::{Static, WhileUp};
    assert_eq!(rri(m[0]), (Some(Static), None, None));
    assert_eq!(rri(m[1]), (Some(WhileUp), Some(5), None));
    assert_eq!(rri(m[2]), (Some(Static), None, None));
    assert_eq!(rri(m[3]), (None, Some(9), None));
    assert_eq!(rri(m[4]), (Some(WhileUp), Some(u32::MAX), None));
    let d = c.dynamic_map("D").next().unwrap();
    assert_eq!(
        rri(d),
        (Some(WhileUp), None, Some(7)),
        "static is for static maps"
    );
    let notes: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(notes.iter().any(|n| n.contains("remote-peer")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("static crypto maps only")),
        "{notes:?}"
    );
    for bad in [
        "crypto map M 10\n set reverse-route distance 0\n",
        "crypto map M 10\n set reverse-route distance 256\n",
        "crypto map M 10\n set reverse-route tag 0\n",
        "crypto map M 10\n reverse-route sideways\n",
        "crypto map M 10\n set reverse-route\n",
    ] {
        let _ = err(bad);
    }
    let rendered = render(c);
    assert!(rendered.contains(" reverse-route static\n"), "{rendered}");
    assert!(
        rendered.contains(" set reverse-route tag 5\n reverse-route\n"),
        "{rendered}"
    );
    assert_round_trip(text);
}

#[test]
fn volume_lifetime_disable_and_idle_time_parse_and_round_trip() {
    let text = "\
crypto ipsec security-association lifetime kilobytes disable
crypto ipsec security-association idle-time 900
crypto ipsec transform-set T esp-aes esp-sha-hmac
crypto map M 10 ipsec-isakmp
 set peer 192.0.2.1 default
 set peer 192.0.2.2
 set transform-set T
 set security-association lifetime kilobytes disable
 set security-association idle-time 600 default
 match address 101
crypto map M 20 ipsec-isakmp
 set peer 192.0.2.3
 set transform-set T
 set security-association lifetime kilobytes 10000
 set security-association idle-time 120
 match address 101
crypto dynamic-map D 10
 set transform-set T
 set security-association lifetime kilobytes disable
 set security-association idle-time 300 default
 match address 101
access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255
";
    let c = ok(text).config;
    assert_eq!(c.ipsec.sa_lifetime_kb, KILOBYTES_DISABLED);
    assert_eq!(
        c.ipsec.sa_idle_time,
        Some(IdleTime {
            secs: 900,
            default_peer: false
        })
    );
    let m: Vec<_> = c.crypto_map("M").collect();
    assert_eq!(m[0].lifetime_kb, Some(KILOBYTES_DISABLED));
    assert_eq!(
        m[0].idle_time,
        Some(IdleTime {
            secs: 600,
            default_peer: true
        })
    );
    assert_eq!(m[1].lifetime_kb, Some(10_000));
    assert_eq!(
        m[1].idle_time,
        Some(IdleTime {
            secs: 120,
            default_peer: false
        })
    );
    let d = c.dynamic_map("D").next().unwrap();
    assert_eq!(d.lifetime_kb, Some(KILOBYTES_DISABLED));
    assert_eq!(
        d.idle_time.map(|t| (t.secs, t.default_peer)),
        Some((300, true))
    );
    let r = render(&c);
    for line in [
        "crypto ipsec security-association lifetime kilobytes disable\n",
        "crypto ipsec security-association idle-time 900\n",
        " set security-association lifetime kilobytes disable\n",
        " set security-association idle-time 600 default\n",
        " set security-association lifetime kilobytes 10000\n",
        " set security-association idle-time 120\n",
        " set security-association idle-time 300 default\n",
    ] {
        assert!(r.contains(line), "{line:?} missing from\n{r}");
    }
    assert_round_trip(text);
    assert!(c
        .validate()
        .iter()
        .all(|w| !matches!(w, ValidationWarning::OutOfRange { .. })));
    // The no forms go back to the global values; ranges are IOS's.
    let c = ok("crypto map M 10 ipsec-isakmp\n set security-association lifetime kilobytes disable\n no set security-association lifetime kilobytes\n set security-association idle-time 60\n no set security-association idle-time\n").config;
    let m: Vec<_> = c.crypto_map("M").collect();
    assert_eq!((m[0].lifetime_kb, m[0].idle_time), (None, None));
    for bad in [
        "crypto map M 10 ipsec-isakmp\n set security-association idle-time 59\n",
        "crypto ipsec security-association idle-time 86401\n",
        "crypto ipsec security-association lifetime kilobytes disabled\n",
        "crypto map M 10 ipsec-isakmp\n set security-association idle-time 600 backup\n",
    ] {
        err(bad);
    }
}

#[test]
fn aggressive_mode_commands_parse_and_render_back() {
    let text = "\
crypto isakmp policy 10
 encr aes
 authentication pre-share
 group 14
crypto isakmp key groupkey hostname vpn.example.net
crypto keyring RING
 pre-shared-key hostname alice@example.net key userkey
crypto isakmp profile RA
 keyring RING
 self-identity user-fqdn gw@example.net
 initiate mode aggressive
crypto isakmp aggressive-mode disable
crypto isakmp peer address 203.0.113.2
 set aggressive-mode password peerkey
 set aggressive-mode client-endpoint user-fqdn branch@example.net
crypto isakmp peer address 203.0.113.3
 set aggressive-mode client-endpoint ipv4-address 198.51.100.7
 set aggressive-mode password other
crypto isakmp peer address 203.0.113.4
 set aggressive-mode client-endpoint fqdn branch.example.net
";
    let c = ok(text).config;
    assert!(c.aggressive_mode_disabled);
    let p = c.isakmp_peer(ip("203.0.113.2")).unwrap();
    assert_eq!(p.password.as_ref().unwrap().expose(), b"peerkey");
    assert_eq!(
        p.client_endpoint,
        Some(Phase1Id::UserFqdn("branch@example.net".into()))
    );
    assert!(p.initiates_aggressive());
    assert_eq!(
        c.isakmp_peer(ip("203.0.113.3")).unwrap().client_endpoint,
        Some(Phase1Id::Ipv4(ip("198.51.100.7")))
    );
    assert!(!c
        .isakmp_peer(ip("203.0.113.4"))
        .unwrap()
        .initiates_aggressive());
    let prof = c.isakmp_profile("RA").unwrap();
    assert!(prof.initiate_aggressive);
    assert_eq!(
        prof.self_identity,
        Some(crate::policy::SelfIdentity::UserFqdn(
            "gw@example.net".into()
        ))
    );
    // Disabled: nothing is answered nor initiated in Aggressive Mode.
    assert!(!c.aggressive_mode_in_use());
    assert_round_trip(text);
    let on = ok(&text.replace("crypto isakmp aggressive-mode disable\n", "")).config;
    assert!(on.aggressive_mode_in_use());
    assert_eq!(
        on.identity_keys(ip("198.51.100.1"), None)
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>(),
        vec![
            Phase1Id::Fqdn("vpn.example.net".into()),
            Phase1Id::UserFqdn("vpn.example.net".into()),
            Phase1Id::KeyId(b"vpn.example.net".to_vec()),
            Phase1Id::Fqdn("alice@example.net".into()),
            Phase1Id::UserFqdn("alice@example.net".into()),
            Phase1Id::KeyId(b"alice@example.net".to_vec()),
        ]
    );
    // `no crypto isakmp aggressive-mode disable` turns it back on.
    let again = ok(&format!("{text}no crypto isakmp aggressive-mode disable\n")).config;
    assert!(!again.aggressive_mode_disabled);
}

#[test]
fn easy_vpn_and_xauth_around_aggressive_mode_are_still_refused_by_name() {
    for (line, feature) in [
        (
            "crypto isakmp peer address 203.0.113.2\n set ezvpn CLIENT\n",
            "Easy VPN (crypto isakmp peer: set ezvpn",
        ),
        (
            "crypto isakmp client configuration group G\n key k\n firewall are-u-there\n",
            "Easy VPN group setting (firewall are-u-there)",
        ),
        (
            "crypto map VPN client accounting list ACC\n",
            "Easy VPN (crypto map VPN client accounting",
        ),
        (
            "crypto isakmp profile P\n match identity user-fqdn a@example.net\n",
            "Easy VPN (match identity user-fqdn",
        ),
        (
            "crypto isakmp profile P\n virtual-template 1\n",
            "dynamic VTIs (virtual-template)",
        ),
    ] {
        let e = err(line);
        assert!(
            e.unsupported.iter().any(|u| u.feature.contains(feature)),
            "{line}: {e}"
        );
    }
}

#[test]
fn esp_gcm_transform_sets_parse_and_refuse_a_separate_authenticator() {
    use crate::policy::ipsec::{EspEncryption, EspIntegrity};
    for (text, want) in [
        ("esp-gcm", EspEncryption::AesGcm128),
        ("esp-gcm 128", EspEncryption::AesGcm128),
        ("esp-gcm 192", EspEncryption::AesGcm192),
        ("esp-gcm 256", EspEncryption::AesGcm256),
    ] {
        let p = parse(&format!("crypto ipsec transform-set G {text}\n")).unwrap();
        let t = &p.config.transform_sets[0];
        assert_eq!(
            (t.esp_encryption, t.esp_integrity),
            (want, EspIntegrity::None)
        );
        assert_eq!(t.display_transforms(), text.replace(" 128", ""));
    }
    for text in ["esp-gcm 256 esp-sha-hmac", "esp-sha-hmac esp-gcm"] {
        let e = parse(&format!("crypto ipsec transform-set G {text}\n")).unwrap_err();
        assert!(e.message.contains("combined-mode"), "{text}: {e}");
        assert_eq!(e.line, 1);
    }
}

#[test]
fn aaa_local_login_usernames_and_map_client_authentication_list() {
    let p = ok("aaa new-model\n\
aaa authentication login vpnusers local\n\
aaa authorization network vpngroups local\n\
username alice password 0 wonderland\n\
username bob privilege 15 secret 0 builder\n\
username carol password plain\n\
crypto map VPN client authentication list vpnusers\n");
    let c = &p.config;
    assert!(c.aaa.new_model);
    assert_eq!(
        c.aaa.login_lists,
        vec![("vpnusers".to_string(), vec![LoginMethod::Local])]
    );
    let names: Vec<&str> = c.aaa.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(c.aaa.users[0].password.matches(b"wonderland"));
    assert!(c.aaa.users[1].password.matches(b"builder"));
    assert!(c.aaa.users[2].password.matches(b"plain"));
    assert_eq!(
        c.map_client_auth,
        vec![("VPN".to_string(), "vpnusers".to_string())]
    );
    let prof = ok("crypto isakmp profile P\n client authentication list vpnusers\n");
    assert_eq!(
        prof.config.isakmp_profiles[0].client_auth_list.as_deref(),
        Some("vpnusers")
    );
    let x = c.aaa.xauth_server("vpnusers").unwrap();
    assert!(x.authenticate(b"alice", b"wonderland"));
    assert!(!x.authenticate(b"alice", b"builder"));
    // No such list, or no `aaa new-model`: no XAUTH server.
    assert!(c.aaa.xauth_server("other").is_none());
    let old = ok("aaa authentication login vpnusers local\nusername alice password 0 w\n");
    assert!(old.config.aaa.xauth_server("vpnusers").is_none());
    // Passwords never print.
    let dbg = format!("{:?}", p.config);
    assert!(
        !dbg.contains("wonderland") && !dbg.contains("builder"),
        "{dbg}"
    );
}

#[test]
fn hashed_user_secrets_are_noted_and_leave_the_user_out() {
    let p = ok("username bob secret 5 $1$abcd$0123456789abcdefghij\nusername amy password 0 x\n");
    let names: Vec<&str> = p.config.aaa.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["amy"]);
    let notes = format!("{:?}", p.warnings);
    assert!(notes.contains("username bob secret 5"), "{notes}");
}

/// A realistic Easy VPN server: every Mode Config command this reader models.
const EZVPN_SERVER: &str = "hostname EZ\n\
aaa new-model\n\
aaa authentication login userauthen local\n\
aaa authorization network groupauthor local\n\
username alice password 0 wonderland\n\
crypto isakmp policy 10\n encr aes 256\n authentication pre-share\n group 14\n\
crypto isakmp client configuration group SALES\n\
 key 0 s4les-Group-Key\n\
 dns 10.1.1.10 10.1.1.11\n\
 wins 10.1.1.20\n\
 domain sales.example.com\n\
 pool SALESPOOL\n\
 acl 150\n\
 save-password\n\
 pfs\n\
 netmask 255.255.255.0\n\
 backup-gateway 198.51.100.2\n\
 backup-gateway 198.51.100.3\n\
 split-dns sales.example.com\n\
 split-dns corp.example.com\n\
 max-users 40\n\
 banner ^C\n\
Welcome to Sales.\n\
Authorized use only.\n\
^C\n\
crypto isakmp profile RA\n\
 match identity group SALES\n\
 client authentication list userauthen\n\
 isakmp authorization list groupauthor\n\
 client configuration address initiate\n\
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac\n\
crypto dynamic-map DYN 10\n set transform-set TS\n reverse-route\n\
crypto map CM client authentication list userauthen\n\
crypto map CM isakmp authorization list groupauthor\n\
crypto map CM client configuration address respond\n\
crypto map CM 65535 ipsec-isakmp dynamic DYN\n\
interface GigabitEthernet0/0\n ip address 198.51.100.1 255.255.255.0\n crypto map CM\n\
ip local pool SALESPOOL 10.9.0.10 10.9.0.99\n\
ip local pool SALESPOOL 10.9.1.1\n\
access-list 150 permit ip 10.1.0.0 0.0.255.255 any\n";

#[test]
fn easy_vpn_server_commands_fill_the_mode_config_policy() {
    let p = ok(EZVPN_SERVER);
    let c = &p.config;
    assert_eq!(
        c.aaa.network_lists,
        vec![("groupauthor".to_string(), vec![AuthorizationMethod::Local])]
    );
    assert!(c.aaa.local_network_authorization("groupauthor"));
    assert_eq!(
        c.local_pools,
        vec![LocalPool {
            name: "SALESPOOL".into(),
            ranges: vec![
                (ip("10.9.0.10"), ip("10.9.0.99")),
                (ip("10.9.1.1"), ip("10.9.1.1")),
            ],
        }]
    );
    let g = &c.client_groups[0];
    assert_eq!(g.name, "SALES");
    assert_eq!(
        g.key.as_ref().map(|k| k.expose()),
        Some(&b"s4les-Group-Key"[..])
    );
    assert_eq!(g.dns, [ip("10.1.1.10"), ip("10.1.1.11")]);
    assert_eq!(g.wins, [ip("10.1.1.20")]);
    assert_eq!(g.domain.as_deref(), Some("sales.example.com"));
    assert_eq!(g.pool.as_deref(), Some("SALESPOOL"));
    assert_eq!(g.split_acl.as_deref(), Some("150"));
    assert!(g.save_password && g.pfs);
    assert_eq!(g.netmask, Some(ip("255.255.255.0")));
    assert_eq!(g.backup_gateways, [ip("198.51.100.2"), ip("198.51.100.3")]);
    assert_eq!(g.split_dns, ["sales.example.com", "corp.example.com"]);
    assert_eq!(g.max_users, Some(40));
    assert_eq!(
        g.banner.as_deref(),
        Some("Welcome to Sales.\nAuthorized use only.")
    );
    let prof = &c.isakmp_profiles[0];
    assert_eq!(prof.match_groups, ["SALES"]);
    assert_eq!(
        prof.isakmp_authorization_list.as_deref(),
        Some("groupauthor")
    );
    assert_eq!(prof.client_configuration, Some(AddressAssignment::Initiate));
    assert_eq!(
        c.map_isakmp_authorization,
        vec![("CM".to_string(), "groupauthor".to_string())]
    );
    assert_eq!(
        c.map_client_configuration,
        vec![("CM".to_string(), AddressAssignment::Respond)]
    );
    // The banner's lines are the group's, not global commands; the group's origin is known.
    assert!(c.hostname.as_deref() == Some("EZ"));
    assert_eq!(p.origins.line(&Item::ClientGroup("SALES".into())), Some(10));
    assert!(p
        .origins
        .line(&Item::LocalPool("SALESPOOL".into()))
        .is_some());
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    // The group key never prints in Debug output.
    assert!(!format!("{c:?}").contains("s4les"));
}

#[test]
fn easy_vpn_server_round_trips_through_show_running_config() {
    assert_round_trip(EZVPN_SERVER);
    let rendered = render(&ok(EZVPN_SERVER).config);
    for line in [
        "aaa authorization network groupauthor local\n",
        "username alice password 0 wonderland\n",
        "crypto isakmp client configuration group SALES\n key s4les-Group-Key\n",
        " banner ^C\nWelcome to Sales.\nAuthorized use only.\n^C\n",
        "   match identity group SALES\n",
        "   isakmp authorization list groupauthor\n",
        "   client configuration address initiate\n",
        "crypto map CM isakmp authorization list groupauthor\n",
        "crypto map CM client configuration address respond\n",
        "ip local pool SALESPOOL 10.9.0.10 10.9.0.99\nip local pool SALESPOOL 10.9.1.1\n",
    ] {
        assert!(rendered.contains(line), "{line:?} not in:\n{rendered}");
    }
    // Banners on one line, with `^C` in the text, empty, or with blank lines, and `no` forms.
    for text in [
        "crypto isakmp client configuration group G\n key k\n banner #Hi there#\n",
        "crypto isakmp client configuration group G\n key k\n banner $a ^C b$\n",
        "crypto isakmp client configuration group G\n key k\n banner ##\n",
        "crypto isakmp client configuration group G\n key k\n banner c\n\nline two\n\nc\n",
        "crypto isakmp client configuration group G\n key k\n pfs\n save-password\n dns 10.0.0.1\n no pfs\n no save-password\n no dns\n backup-gateway 192.0.2.1\n backup-gateway 192.0.2.2\n no backup-gateway 192.0.2.1\n split-dns a.example\n no split-dns\n",
        "aaa authentication login L local\naaa authorization network N local\n",
    ] {
        assert_round_trip(text);
    }
    let g = ok("crypto isakmp client configuration group G\n banner $a ^C b$\n").config;
    assert_eq!(g.client_groups[0].banner.as_deref(), Some("a ^C b"));
    let g = ok("crypto isakmp client configuration group G\n banner c\n\nline two\n\nc\n").config;
    assert_eq!(g.client_groups[0].banner.as_deref(), Some("\nline two\n"));
    let g = ok("crypto isakmp client configuration group G\n pfs\n no pfs\n backup-gateway 192.0.2.1\n backup-gateway 192.0.2.2\n no backup-gateway 192.0.2.1\n").config;
    assert!(!g.client_groups[0].pfs);
    assert_eq!(g.client_groups[0].backup_gateways, [ip("192.0.2.2")]);
}

#[test]
fn a_global_banner_after_a_group_leaves_it_and_the_group_key_takes_type_zero() {
    let p = ok("crypto isakmp client configuration group G\n key 0 secret\nbanner motd ^C\n pool X\n^C\ncrypto map M 10 ipsec-isakmp\n");
    let g = &p.config.client_groups[0];
    assert_eq!(g.key.as_ref().map(|k| k.expose()), Some(&b"secret"[..]));
    // The motd's text is not the group's `pool`, and the crypto map line after it is global.
    assert_eq!(g.pool, None);
    assert_eq!(g.banner, None);
    assert_eq!(p.config.crypto_maps.len(), 1);
    // A key that is only `0` is the key, not a type.
    let p = ok("crypto isakmp client configuration group G\n key 0\n");
    assert_eq!(
        p.config.client_groups[0].key.as_ref().map(|k| k.expose()),
        Some(&b"0"[..])
    );
    // A type-6 key cannot be recovered here: refused by name.
    let e = err("crypto isakmp client configuration group G\n key 6 AbCdEf\n");
    assert_eq!((e.line, e.column), (2, 2));
    assert!(e.message.contains("type 6 encrypted group keys"), "{e}");
}

#[test]
fn ip_local_pool_ranges_and_their_errors() {
    let c = ok("ip local pool P 10.0.0.1 10.0.0.9\nip local pool P 10.0.0.1 10.0.0.9\nip local pool Q 10.0.1.5\nip local policy route-map X\n").config;
    assert_eq!(c.local_pools.len(), 2);
    // The same line twice is one range.
    assert_eq!(c.local_pools[0].ranges, [(ip("10.0.0.1"), ip("10.0.0.9"))]);
    assert_eq!(c.local_pools[1].size(), 1);
    // The largest range accepted: 65536 addresses.
    let big = ok("ip local pool B 10.0.0.0 10.0.255.255\n").config;
    assert_eq!(big.local_pools[0].size(), 65_536);
    for (text, line, col, msg) in [
        (
            "ip local pool P 10.0.0.9 10.0.0.1\n",
            1,
            26,
            "below its first address",
        ),
        (
            "ip local pool P 10.0.0.0 10.1.0.0\n",
            1,
            26,
            "65537 addresses in one range",
        ),
        (
            "ip local pool P 10.0.0.300\n",
            1,
            17,
            "invalid first address",
        ),
        (
            "ip local pool P 10.0.0.1 10.0.0.x9\n",
            1,
            26,
            "invalid last address",
        ),
        ("ip local pool P\n", 1, 16, "missing first address"),
        (
            "ip local pool P 10.0.0.1 10.0.0.9\nip local pool Q 10.0.0.5 10.0.0.20\n",
            2,
            17,
            "overlaps range 10.0.0.1 10.0.0.9 of pool P",
        ),
        (
            "crypto isakmp client configuration group G\n netmask 255.0.255.0\n",
            2,
            10,
            "invalid netmask",
        ),
        (
            "crypto isakmp client configuration group G\n dns 10.0.0.1 nope\n",
            2,
            15,
            "invalid second server address",
        ),
        (
            "crypto isakmp client configuration group G\n max-users 0\n",
            2,
            12,
            "out of range 1-5000",
        ),
        (
            "crypto isakmp client configuration group G\n backup-gateway 10.0.0.256\n",
            2,
            17,
            "invalid backup gateway address",
        ),
        (
            "crypto isakmp client configuration group G\n banner #never closed\n",
            2,
            9,
            "closing delimiter \"#\" not found",
        ),
        (
            "crypto map M client configuration address assign\n",
            1,
            43,
            "unknown address assignment",
        ),
        (
            "crypto isakmp profile P\n client configuration address maybe\n",
            2,
            31,
            "unknown address assignment",
        ),
    ] {
        let e = err(text);
        assert!(
            (e.line, e.column) == (line, col)
                && e.message.contains(msg)
                && e.unsupported.is_empty(),
            "{text:?}: {e} (column {})",
            e.column
        );
    }
    // Pool groups and cache options change which address a client gets: refused by name.
    let e = err("ip local pool P 10.0.0.1 10.0.0.9 group G\n");
    assert!(
        e.message
            .contains("pool options (ip local pool P ... group G)"),
        "{e}"
    );
}

#[test]
fn client_group_settings_that_change_what_clients_get_are_refused_by_name() {
    for line in [
        "firewall are-u-there",
        "firewall policy CHECK-POINT",
        "include-local-lan",
        "max-logins 2",
        "access-restrict FastEthernet0",
        "configuration url http://192.0.2.9/cfg",
        "dhcp server 192.0.2.10",
        "auto-update client Windows rev 4.0 url http://192.0.2.9/",
        "browser-proxy PROXY",
        "group-lock",
        "crypto aaa attribute list ATTRS",
    ] {
        let text = format!("crypto isakmp client configuration group G\n key k\n {line}\n");
        let e = err(&text);
        let word = line.split(' ').next().unwrap_or(line);
        assert!(
            e.unsupported.len() == 1
                && (e.line, e.column) == (3, 2)
                && e.message.contains("Easy VPN group setting")
                && e.message.contains(word),
            "{line}: {e}"
        );
    }
    // Their `no` forms restore what is done here anyway.
    let p = ok("crypto isakmp client configuration group G\n key k\n no include-local-lan\n");
    assert!(p
        .warnings
        .iter()
        .any(|w| w.message.contains("no include-local-lan")));
    // A host name backup gateway is not resolved here.
    let e = err("crypto isakmp client configuration group G\n backup-gateway vpn2.example.com\n");
    assert!(e.message.contains("backup gateways by host name"), "{e}");
    // Other AAA methods for group policy are refused by name, also next to `local`.
    for methods in ["group radius", "group radius local", "local none"] {
        let e = err(&format!("aaa authorization network L {methods}\n"));
        assert!(
            e.message.contains(&format!(
                "aaa authorization network L {}",
                methods.replace("local", "").trim()
            )),
            "{methods}: {e}"
        );
    }
    // Exec authorization is still nothing to do with IPsec.
    let p = ok("aaa authorization exec default local\n");
    assert!(p.config.aaa.network_lists.is_empty());
}

#[test]
fn mode_config_references_are_validated_and_linted_on_their_lines() {
    let text = "crypto isakmp client configuration group G\n pool NOPOOL\n acl SPLIT\n\
crypto isakmp profile P\n isakmp authorization list L\n\
crypto map M isakmp authorization list L\n";
    let p = ok(text);
    let w = p.config.validate();
    assert!(w.contains(&ValidationWarning::GroupWithoutKey { group: "G".into() }));
    assert!(w.contains(&ValidationWarning::MissingPool {
        group: "G".into(),
        pool: "NOPOOL".into()
    }));
    assert!(w.contains(&ValidationWarning::MissingAcl {
        user: "crypto isakmp client configuration group G".into(),
        acl: "SPLIT".into()
    }));
    for user in ["crypto isakmp profile P", "crypto map M"] {
        assert!(w.contains(&ValidationWarning::MissingAuthorizationList {
            user: user.into(),
            list: "L".into(),
            new_model: false
        }));
    }
    assert_eq!(w.len(), 5, "{w:#?}");
    let shown: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|s| s.contains("no `aaa new-model`")),
        "{shown:?}"
    );
    // With `aaa new-model` it is the list that is missing.
    let p2 = ok(&format!("aaa new-model\n{text}"));
    assert!(p2.config.validate().iter().any(|w| w
        .to_string()
        .contains("no `aaa authorization network L local`")));
    // The lints carry the group's and the profile's lines.
    let lints = crate::ios::check::check(&p.config, Some(&p.origins));
    let line_of = |needle: &str| {
        lints
            .iter()
            .find(|l| l.message.contains(needle))
            .and_then(|l| l.line)
    };
    assert_eq!(line_of("NOPOOL"), Some(1));
    assert_eq!(line_of("no key"), Some(1));
    assert_eq!(line_of("access list SPLIT"), Some(1));
    assert_eq!(line_of("crypto isakmp profile P"), Some(4));
    // Everything present: no warning.
    let fixed = ok("aaa new-model\naaa authorization network L local\n\
crypto isakmp client configuration group G\n key k\n pool POOL\n acl SPLIT\n\
ip local pool POOL 10.0.0.1 10.0.0.9\nip access-list extended SPLIT\n permit ip 10.1.0.0 0.0.255.255 any\n\
crypto map M isakmp authorization list L\n");
    assert!(
        fixed.config.validate().is_empty(),
        "{:?}",
        fixed.config.validate()
    );
}

const EZVPN_REMOTE: &str = "crypto ipsec client ezvpn EZ\n\
 connect manual\n\
 group BRANCH key 0 Gr0up-Key\n\
 mode network-extension\n\
 peer 192.0.2.10\n\
 peer 192.0.2.11\n\
 username u1 password 0 pw-1\n\
 xauth userid mode local\n\
interface FastEthernet4\n ip address 198.51.100.2 255.255.255.0\n crypto ipsec client ezvpn EZ\n\
interface Vlan1\n ip address 10.1.1.1 255.255.255.0\n crypto ipsec client ezvpn EZ inside\n";

#[test]
fn easy_vpn_remote_commands_fill_the_client_profile() {
    let c = ok(EZVPN_REMOTE).config;
    let z = &c.ezvpn_clients[0];
    assert_eq!(z.name, "EZ");
    assert!(!z.connect_auto && z.network_extension);
    let (g, k) = z.group.as_ref().unwrap();
    assert_eq!((g.as_str(), k.expose()), ("BRANCH", &b"Gr0up-Key"[..]));
    assert_eq!(z.peers, [ip("192.0.2.10"), ip("192.0.2.11")]);
    let cred = z.credentials.as_ref().unwrap();
    assert_eq!(
        (cred.name.as_str(), cred.password.expose()),
        ("u1", &b"pw-1"[..])
    );
    let on = |n: &str| c.interface(n).and_then(|i| i.ezvpn.clone());
    assert_eq!(on("FastEthernet4"), Some(("EZ".to_string(), false)));
    assert_eq!(on("Vlan1"), Some(("EZ".to_string(), true)));
    // A new profile connects by itself and is in client mode; keys and passwords without
    // a type are clear text, abbreviations are taken.
    let c = ok("crypto ipsec client ezvpn E\n gr G key 0\n user u pass 7\n mo cl\n").config;
    let z = &c.ezvpn_clients[0];
    assert!(z.connect_auto && !z.network_extension);
    assert_eq!(z.group.as_ref().unwrap().1.expose(), b"0");
    assert_eq!(z.credentials.as_ref().unwrap().password.expose(), b"7");
    // `peer A default` puts A first; a repeated peer keeps its place.
    let c = ok("crypto ipsec client ezvpn E\n peer 192.0.2.1\n peer 192.0.2.2\n peer 192.0.2.1\n peer 192.0.2.3 default\n").config;
    assert_eq!(
        c.ezvpn_clients[0].peers,
        [ip("192.0.2.3"), ip("192.0.2.1"), ip("192.0.2.2")]
    );
    // `no` forms restore the defaults, `no peer A` removes one, `no peer` every one.
    let c = ok("crypto ipsec client ezvpn E\n connect manual\n group G key k\n mode network-extension\n peer 192.0.2.1\n peer 192.0.2.2\n username u password p\n no connect\n no group\n no mode\n no peer 192.0.2.1\n no username\n").config;
    let z = &c.ezvpn_clients[0];
    assert!(z.connect_auto && !z.network_extension);
    assert!(z.group.is_none() && z.credentials.is_none());
    assert_eq!(z.peers, [ip("192.0.2.2")]);
    let c = ok("crypto ipsec client ezvpn E\n peer 192.0.2.1\n peer 192.0.2.2\n no peer\n").config;
    assert!(c.ezvpn_clients[0].peers.is_empty());
    // The interface's `no` form; re-entering a profile adds to it. (In an interface the
    // line is the interface's command, as on the router: `exit` first.)
    let c = ok(&format!(
        "{EZVPN_REMOTE}interface Vlan1\n no crypto ipsec client ezvpn EZ inside\nexit\ncrypto ipsec client ezvpn EZ\n peer 192.0.2.12\n"
    ))
    .config;
    assert_eq!(c.interface("Vlan1").unwrap().ezvpn, None);
    assert_eq!(c.ezvpn_clients.len(), 1);
    assert_eq!(c.ezvpn_clients[0].peers.len(), 3);
    // A global command after the block leaves it.
    let c =
        ok("crypto ipsec client ezvpn E\n peer 192.0.2.1\nip route 0.0.0.0 0.0.0.0 192.0.2.254\n")
            .config;
    assert_eq!(c.routes.len(), 1);
}

#[test]
fn easy_vpn_remote_round_trips_through_show_running_config() {
    let c = ok(
        "crypto ipsec client ezvpn E\n username u password 0 p\n xauth userid mode interactive\n",
    )
    .config;
    assert!(c.ezvpn_clients[0].xauth_interactive);
    assert!(c.ezvpn_clients[0].credentials.is_some());
    let c = ok("crypto ipsec client ezvpn E\n xauth userid mode interactive\n username u password 0 p\n xauth userid mode local\n").config;
    assert!(!c.ezvpn_clients[0].xauth_interactive);
    assert_round_trip(EZVPN_REMOTE);
    let rendered = render(&ok(EZVPN_REMOTE).config);
    for line in [
        "crypto ipsec client ezvpn EZ\n connect manual\n group BRANCH key 0 Gr0up-Key\n mode network-extension\n peer 192.0.2.10\n peer 192.0.2.11\n username u1 password 0 pw-1\n xauth userid mode local\n!\n",
        " crypto ipsec client ezvpn EZ\n",
        " crypto ipsec client ezvpn EZ inside\n",
    ] {
        assert!(rendered.contains(line), "{line:?} not in:\n{rendered}");
    }
    for text in [
        // Defaults, secrets that look like types, no credentials, a profile on no interface.
        "crypto ipsec client ezvpn E\n",
        "crypto ipsec client ezvpn E\n group G key 0 6\n username u password 0\n",
        "crypto ipsec client ezvpn E\n connect auto\n mode client\n peer 192.0.2.1 default\n",
        "crypto ipsec client ezvpn E\n peer 192.0.2.1\n xauth userid mode interactive\n",
        "crypto ipsec client ezvpn E\n username u password 0 p\n xauth userid mode interactive\n",
        "crypto ipsec client ezvpn A\n peer 192.0.2.1\ncrypto ipsec client ezvpn B\n peer 192.0.2.2\ninterface Gi0/0\n crypto ipsec client ezvpn B outside\n",
    ] {
        assert_round_trip(text);
    }
}

#[test]
fn easy_vpn_remote_errors_carry_line_and_column() {
    for (text, line, col, msg) in [
        (
            "crypto ipsec client ezvpn E\n peer 192.0.2.300\n",
            2,
            7,
            "invalid peer address \"192.0.2.300\"",
        ),
        (
            "crypto ipsec client ezvpn E\n peer\n",
            2,
            6,
            "missing peer address",
        ),
        (
            "crypto ipsec client ezvpn E\n connect sometimes\n",
            2,
            10,
            "unknown connect keyword",
        ),
        (
            "crypto ipsec client ezvpn E\n mode bridge\n",
            2,
            7,
            "unknown ezvpn mode",
        ),
        (
            "crypto ipsec client ezvpn E\n group G secret k\n",
            2,
            10,
            "unknown group keyword",
        ),
        (
            "crypto ipsec client ezvpn E\n group G key\n",
            2,
            13,
            "missing group key",
        ),
        // (`username u secret p` is the global command, which leaves the profile.)
        (
            "crypto ipsec client ezvpn E\n username u\n",
            2,
            12,
            "missing username keyword",
        ),
        (
            "crypto ipsec client ezvpn E\n xauth userid mode auto\n",
            2,
            20,
            "unknown xauth userid mode",
        ),
        (
            "crypto ipsec client ezvpn E\n frobnicate\n",
            2,
            2,
            "unknown ezvpn command",
        ),
        ("crypto ipsec client ezvpn\n", 1, 26, "missing profile name"),
        (
            "crypto ipsec client ezvpn E\n peer 192.0.2.1 backup\n",
            2,
            17,
            "unexpected \"backup\"",
        ),
        (
            "interface Gi0/0\n crypto ipsec client ezvpn E middle\n",
            2,
            30,
            "unexpected \"middle\"",
        ),
        (
            "interface Gi0/0\n crypto ipsec client ezvpn\n",
            2,
            27,
            "missing profile name",
        ),
        (
            "crypto ipsec client ezvpn E\n xauth userid mode local\n peer 192.0.2.1\n",
            2,
            2,
            "xauth userid mode local needs `username U password P`",
        ),
    ] {
        let e = err(text);
        assert!(
            (e.line, e.column) == (line, col)
                && e.message.contains(msg)
                && e.unsupported.is_empty(),
            "{text:?}: {e} (column {})",
            e.column
        );
    }
    // The credentials may come after `xauth userid mode local`.
    let c = ok("crypto ipsec client ezvpn E\n xauth userid mode local\n username u password p\n");
    assert!(c.config.ezvpn_clients[0].credentials.is_some());
}

#[test]
fn easy_vpn_remote_settings_that_change_the_connection_are_refused_by_name() {
    for (line, feature) in [
        (
            "virtual-interface 1",
            "Easy VPN client setting (virtual-interface 1)",
        ),
        (
            "backup EZ2 track 10",
            "Easy VPN client setting (backup EZ2 track 10)",
        ),
        ("acl SPLIT", "Easy VPN client setting (acl SPLIT)"),
        ("nat allow", "Easy VPN client setting (nat allow)"),
        (
            "flow allow acl 150",
            "Easy VPN client setting (flow allow acl 150)",
        ),
        ("auto-update", "Easy VPN client setting (auto-update)"),
        (
            "client connect Dialer1",
            "Easy VPN client setting (client connect Dialer1)",
        ),
        (
            "split-dns corp.example",
            "Easy VPN client setting (split-dns corp.example)",
        ),
        ("ssh", "Easy VPN client setting (ssh)"),
        ("nem", "Easy VPN client setting (nem)"),
        (
            "dhcp server pool P",
            "Easy VPN client setting (dhcp server pool P)",
        ),
        ("auth", "Easy VPN client setting (auth)"),
        ("connect acl 101", "Easy VPN client setting (connect acl)"),
        ("mode network-plus", "Easy VPN mode network-plus"),
        (
            "peer vpn.example.com",
            "Easy VPN peers by host name (peer vpn.example.com)",
        ),
        (
            "group G key 6 AbCdEf",
            "encrypted Easy VPN secrets (type 6 group key)",
        ),
        (
            "username u password 6 AbCdEf",
            "encrypted Easy VPN secrets (type 6 password)",
        ),
        (
            "username u password 7 0822455D0A16",
            "encrypted Easy VPN secrets (type 7 password)",
        ),
        (
            "xauth userid mode http-intercept",
            "Easy VPN XAUTH prompting (xauth userid mode http-intercept)",
        ),
    ] {
        let text = format!("crypto ipsec client ezvpn E\n peer 192.0.2.1\n {line}\n");
        let e = err(&text);
        assert!(
            e.unsupported.len() == 1
                && (e.line, e.column) == (3, 2)
                && e.unsupported[0].feature == feature,
            "{line}: {e}"
        );
    }
    // Their `no` forms restore what is done here anyway.
    for line in [
        "no virtual-interface",
        "no nat allow",
        "no xauth userid mode",
    ] {
        let p = ok(&format!("crypto ipsec client ezvpn E\n {line}\n"));
        assert!(!p.warnings.is_empty(), "{line}");
    }
    // Any other `crypto ipsec client` command stays refused as a whole.
    let e = err("crypto ipsec client something\n");
    assert!(e.message.contains("Easy VPN (crypto ipsec client"), "{e}");
}

#[test]
fn easy_vpn_remote_profiles_are_validated_and_linted_on_their_lines() {
    let text = "crypto ipsec client ezvpn IDLE\n peer 192.0.2.1\n\
crypto ipsec client ezvpn BARE\n\
crypto ipsec client ezvpn WAITS\n group G key k\n peer 192.0.2.2\n\
interface Gi0/0\n crypto ipsec client ezvpn BARE\n\
interface Gi0/1\n crypto ipsec client ezvpn WAITS\n\
interface Gi0/2\n crypto ipsec client ezvpn IDLE inside\n\
interface Gi0/3\n crypto ipsec client ezvpn NOSUCH\n";
    let p = ok(text);
    let w = p.config.validate();
    let want = [
        ValidationWarning::EzvpnNotApplied {
            profile: "IDLE".into(),
        },
        ValidationWarning::IncompleteEzvpn {
            profile: "BARE".into(),
            missing: "group",
        },
        ValidationWarning::IncompleteEzvpn {
            profile: "BARE".into(),
            missing: "peer",
        },
        ValidationWarning::EzvpnWaitsForCredentials {
            profile: "BARE".into(),
        },
        ValidationWarning::EzvpnWaitsForCredentials {
            profile: "WAITS".into(),
        },
        ValidationWarning::MissingEzvpn {
            interface: "GigabitEthernet0/3".into(),
            profile: "NOSUCH".into(),
        },
    ];
    assert_eq!(w, want);
    let shown: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.contains("WAITS") && s.contains("waits at XAUTH")),
        "{shown:?}"
    );
    // The lints carry the profile's or the interface's line.
    let lints = crate::ios::check::check(&p.config, Some(&p.origins));
    let line_of = |needle: &str| {
        lints
            .iter()
            .find(|l| l.message.contains(needle))
            .and_then(|l| l.line)
    };
    assert_eq!(line_of("ezvpn IDLE: applied on no outside"), Some(1));
    assert_eq!(line_of("ezvpn BARE: no `group`"), Some(3));
    assert_eq!(line_of("ezvpn WAITS: connect auto"), Some(4));
    assert_eq!(line_of("NOSUCH does not exist"), Some(13));
    // `connect manual` waits for the operator anyway: nothing to say about credentials.
    let manual = ok(
        "crypto ipsec client ezvpn E\n connect manual\n group G key k\n peer 192.0.2.1\n\
interface Gi0/0\n crypto ipsec client ezvpn E\n",
    );
    assert!(
        manual.config.validate().is_empty(),
        "{:?}",
        manual.config.validate()
    );
    // Everything present: no warning.
    let fixed = ok(EZVPN_REMOTE);
    assert!(
        fixed.config.validate().is_empty(),
        "{:?}",
        fixed.config.validate()
    );
}
