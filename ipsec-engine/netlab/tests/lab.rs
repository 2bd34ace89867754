//! The lab against itself: topology, two strongSwan peers, captures. These need root and the
//! packages from .ci/run; without them they skip (or fail under CI=true).

use ipsec_netlab::capture::WiresharkKeys;
use ipsec_netlab::{addr, hex, require_root_and_tools, Capture, Charon, CharonConn, Nat, Topology};
use std::time::{Duration, Instant};

/// The seed's suite between gwA (initiator) and gwB (responder).
fn seed_conns(topo: &Topology) -> (CharonConn, CharonConn) {
    let a = CharonConn::new("gw", "net")
        .local(addr::GW_A_WAN)
        .remote(addr::GW_B_WAN)
        .psk("cisco123")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_A, addr::LAN_B);
    let b = CharonConn::new("gw", "net")
        .local(addr::GW_B_WAN)
        .remote(topo.gw_a_as_seen_by_gw_b())
        .remote_id(addr::GW_A_WAN)
        .psk("cisco123")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A);
    (a, b)
}

/// Start both charons, load, initiate from gwA; returns them with the establishment time.
fn establish(topo: &Topology) -> (Charon, Charon, Duration) {
    let (ca, cb) = seed_conns(topo);
    let a = Charon::start(&topo.gw_a, &[ca]).unwrap();
    let b = Charon::start(&topo.gw_b, &[cb]).unwrap();
    eprintln!(
        "charon startup: gwA {:?}, gwB {:?}",
        a.startup_time(),
        b.startup_time()
    );
    a.load_all().unwrap();
    b.load_all().unwrap();
    let t = Instant::now();
    let out = a
        .initiate("net")
        .unwrap_or_else(|e| panic!("{e}\n--- gwB log ---\n{}", b.log()));
    let took = t.elapsed();
    eprintln!("swanctl --initiate (Main Mode + Quick Mode): {took:?}");
    assert!(out.contains("initiate completed successfully"), "{out}");
    (a, b, took)
}

#[test]
fn topology_routes_between_gateways_but_not_between_lans() {
    if !require_root_and_tools() {
        return;
    }
    let topo = Topology::two_gateways("ping").unwrap();
    assert!(topo.gw_a.ping(addr::GW_B_WAN, 1), "gwA -> gwB across rtr");
    assert!(topo.host_a.ping(addr::GW_A_LAN, 1));
    assert!(topo.host_b.ping(addr::GW_B_LAN, 1));
    // rtr knows no LAN: without a tunnel hostA cannot reach hostB.
    assert!(!topo.host_a.ping(addr::HOST_B, 1));
    let names: Vec<String> = topo.all().iter().map(|n| n.name().to_string()).collect();
    drop(topo);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for n in names {
        assert!(!list.contains(&n), "{n} left behind");
    }
}

#[test]
fn nat_in_rtr_rewrites_gw_a_source() {
    if !require_root_and_tools() {
        return;
    }
    let topo = Topology::two_gateways_nat("nat", Nat::Masquerade).unwrap();
    let mut cap = Capture::start(&topo.gw_b, addr::IF_GW_WAN, "icmp").unwrap();
    assert!(topo.gw_a.ping(addr::GW_B_WAN, 2));
    let text = cap.decode(&[]).unwrap();
    assert!(text.contains(&format!("Src: {}", addr::RTR_B)), "{text}");
    assert!(
        !text.contains(&format!("Src: {}", addr::GW_A_WAN)),
        "{text}"
    );
}

#[test]
fn strongswan_pair_ikev1_tunnel_and_matching_keys() {
    if !require_root_and_tools() {
        return;
    }
    let topo = Topology::two_gateways("ikev1").unwrap();
    let (a, b, _) = establish(&topo);
    assert!(
        topo.host_a.ping(addr::HOST_B, 3),
        "hostA -> hostB through the tunnel"
    );

    for (side, c) in [("gwA", &a), ("gwB", &b)] {
        let sas = c.list_sas().unwrap();
        assert!(sas.contains("ESTABLISHED, IKEv1"), "{side}: {sas}");
        assert!(
            sas.contains("INSTALLED, TUNNEL-in-UDP, ESP:3DES_CBC/HMAC_SHA1_96"),
            "{side}: {sas}"
        );
    }
    // The ping went through: libipsec counted packets on both SAs.
    let sas = a.list_sas().unwrap();
    assert!(!sas.contains(" 0 packets"), "{sas}");

    let ka = a.keys();
    let kb = b.keys();
    assert_eq!(ka.phase1.len(), 1, "{}", ka.summary());
    assert_eq!(kb.phase1.len(), 1, "{}", kb.summary());
    let (pa, pb) = (&ka.phase1[0], &kb.phase1[0]);
    for (name, v) in [
        ("SKEYID", &pa.skeyid),
        ("SKEYID_d", &pa.skeyid_d),
        ("SKEYID_a", &pa.skeyid_a),
        ("SKEYID_e", &pa.skeyid_e),
        ("Ka", &pa.enc_key),
        ("g^xy", &pa.dh_shared),
    ] {
        assert!(!v.is_empty(), "{name} missing\n{}", ka.summary());
    }
    assert_eq!(pa.skeyid.len(), 20);
    assert_eq!(pa.enc_key.len(), 24);
    assert_eq!(pa.dh_shared.len(), 128);
    assert_eq!(
        pa,
        pb,
        "both ends derive the same Phase 1\n{}\n{}",
        ka.summary(),
        kb.summary()
    );
    // The cookies are the ones swanctl shows.
    assert!(sas.contains(&format!("{}_i*", hex(&pa.cookie_i))), "{sas}");

    assert_eq!(ka.sas.len(), 2, "{}", ka.summary());
    assert_eq!(kb.sas.len(), 2, "{}", kb.summary());
    for sa in &ka.sas {
        let peer = kb
            .sa(sa.spi)
            .unwrap_or_else(|| panic!("gwB lacks SPI {:08x}", sa.spi));
        assert_ne!(sa.inbound, peer.inbound);
        assert_eq!((sa.enc_key.len(), sa.integ_key.len()), (24, 20));
        assert_eq!(sa.enc_key, peer.enc_key);
        assert_eq!(sa.integ_key, peer.integ_key);
        let dir = if sa.inbound { "in " } else { "out" };
        assert!(sas.contains(&format!("{dir} {:08x}", sa.spi)), "{sas}");
    }

    // Stopping by PID leaves nothing running in the namespace.
    let (mut a, mut b) = (a, b);
    let t = Instant::now();
    a.stop();
    eprintln!("charon stop (SIGTERM until exit): {:?}", t.elapsed());
    assert!(a.pid().is_none());
    assert!(topo.gw_a.pids().is_empty(), "{:?}", topo.gw_a.pids());
    // gwA said goodbye on the way out.
    b.wait_log("received DELETE for IKE_SA", Duration::from_secs(5))
        .unwrap();
    b.stop();
    assert!(topo.gw_b.pids().is_empty());
}

#[test]
fn capture_on_rtr_sees_isakmp_and_udp_encapsulated_esp_and_decrypts_them() {
    if !require_root_and_tools() {
        return;
    }
    let topo = Topology::two_gateways("cap").unwrap();
    let mut cap =
        Capture::start(&topo.rtr, addr::IF_RTR_A, "udp port 500 or udp port 4500").unwrap();
    let (a, _b, _) = establish(&topo);
    assert!(topo.host_a.ping(addr::HOST_B, 2));
    let plain = cap.decode(&[]).unwrap();
    assert!(
        plain.contains("Internet Security Association and Key Management Protocol"),
        "{plain}"
    );
    assert!(
        plain.contains("Exchange type: Identity Protection (Main Mode) (2)"),
        "{plain}"
    );
    assert!(plain.contains("Exchange type: Quick Mode (32)"), "{plain}");
    assert!(
        plain.contains("Non-ESP Marker"),
        "IKE floated to 4500\n{plain}"
    );
    assert!(plain.contains("Encapsulating Security Payload"), "{plain}");
    assert!(plain.contains("Destination Port: 4500"), "{plain}");

    // The DH public values parsed from the log are the ones in MM3 (initiator) and MM4.
    let ke = cap
        .fields("isakmp.key_exchange.data", &["isakmp.key_exchange.data"])
        .unwrap();
    let p1 = &a.keys().phase1[0];
    assert_eq!(
        ke,
        vec![vec![hex(&p1.dh_public_i)], vec![hex(&p1.dh_public_r)]]
    );

    // The keys we parsed from gwA's log decrypt what went over the wire.
    let cfg = cap.dir().join("wireshark");
    WiresharkKeys::from_charon(&a.keys()).write(&cfg).unwrap();
    let dec = cap.decode_with(&cfg, &[]).unwrap();
    // MM5 (encrypted with Ka) and QM1 (proxy identities) decrypt.
    assert!(
        dec.contains(&format!("Identification Data:{}", addr::GW_A_WAN)),
        "{dec}"
    );
    assert!(
        dec.contains("Identification Data:10.1.1.0/255.255.255.0"),
        "{dec}"
    );
    // ESP decrypts to the inner ICMP, and the ICV checks with the logged integrity keys.
    assert!(
        dec.contains(&format!("Src: {}, Dst: {}", addr::HOST_A, addr::HOST_B)),
        "{dec}"
    );
    assert!(
        dec.contains(&format!("Src: {}, Dst: {}", addr::HOST_B, addr::HOST_A)),
        "{dec}"
    );
    let good = dec.matches("<HMAC-SHA-1-96 [RFC2404]> [correct]").count();
    assert_eq!(good, 4, "2 requests + 2 replies, all ICVs correct\n{dec}");
    assert!(!dec.contains("[incorrect"), "{dec}");
}

#[test]
fn strongswan_pair_through_nat() {
    if !require_root_and_tools() {
        return;
    }
    let topo = Topology::two_gateways_nat("natike", Nat::MasqueradePorts).unwrap();
    let (_a, b, _) = establish(&topo);
    assert!(topo.host_a.ping(addr::HOST_B, 3));
    let sas = b.list_sas().unwrap();
    assert!(
        sas.contains(&format!("remote '{}' @ {}[", addr::GW_A_WAN, addr::RTR_B)),
        "{sas}"
    );
}
