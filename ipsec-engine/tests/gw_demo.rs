//! The in-process demonstration: the seed's two routers bring the tunnel up with the first ping
//! and carry the rest; siteA's show output looks like the seed's.

mod common;

use common::num;
use ipsec_engine::demo::{run, DemoOptions};

/// `0x1B2BB5D3(455849427)` after `key`, as (hex value, decimal value).
fn spi_after(text: &str, key: &str) -> (u32, u32) {
    let i = text.find(key).unwrap_or_else(|| panic!("{key} missing")) + key.len();
    let s = text[i..].trim_start();
    let hex = s.strip_prefix("0x").unwrap();
    let (h, rest) = hex.split_once('(').unwrap();
    let d = rest.split_once(')').unwrap().0;
    (
        u32::from_str_radix(h, 16).unwrap(),
        d.parse::<u32>().unwrap(),
    )
}

#[test]
fn seed_tunnel_comes_up_and_counts_pings() {
    let r = run(&DemoOptions::default()).unwrap();
    // Phase 1 as the seed shows it: 12.4T layout, QM_IDLE, conn-id 1001, slot 0, ACTIVE.
    let row = r
        .a_isakmp
        .lines()
        .find(|l| l.contains("QM_IDLE"))
        .unwrap_or_else(|| panic!("{}", r.text));
    assert_eq!(
        row,
        "203.0.113.2     198.51.100.1    QM_IDLE           1001    0 ACTIVE"
    );
    assert!(r.b_isakmp.contains("QM_IDLE"));
    // 20 echoes each way, the first one lost to the negotiation.
    assert_eq!(r.replies, [19, 20], "{}", r.text);
    assert!(r.text.contains(".!!!!!!!!!!!!!!!!!!!\n"), "{}", r.text);
    assert!(r.text.contains("Success rate is 95 percent (19/20)"));
    assert!(r.text.contains("Success rate is 100 percent (20/20)"));
    // siteA: 19 requests + 20 replies out, 19 replies + 20 requests in; 1 send error.
    let a = &r.a_ipsec;
    assert_eq!(num(a, "#pkts encaps:"), 39, "{a}");
    assert_eq!(num(a, "#pkts encrypt:"), 39);
    assert_eq!(num(a, "#pkts digest:"), 39);
    assert_eq!(num(a, "#pkts decaps:"), 39);
    assert_eq!(num(a, "#pkts verify:"), 39);
    assert_eq!(num(a, "#send errors"), 1);
    assert_eq!(num(a, "#recv errors"), 0);
    assert!(
        a.contains("interface: FastEthernet4\n    Crypto map tag: VPN, local addr 198.51.100.1")
    );
    assert!(a.contains("local  ident (addr/mask/prot/port): (192.168.1.0/255.255.255.0/0/0)"));
    assert!(a.contains("remote ident (addr/mask/prot/port): (192.168.2.0/255.255.255.0/0/0)"));
    assert!(a.contains("current_peer 203.0.113.2 port 500"));
    assert!(a.contains("transform: esp-3des esp-sha-hmac ,"));
    // siteB never lost a packet.
    let b = &r.b_ipsec;
    assert_eq!(num(b, "#pkts encaps:"), 39);
    assert_eq!(num(b, "#pkts decaps:"), 39);
    assert_eq!(num(b, "#send errors"), 0);
    // SPIs: siteA's outbound is siteB's inbound and the other way round; hex equals decimal.
    let (a_out, a_out_dec) = spi_after(a, "current outbound spi:");
    assert_eq!(a_out, a_out_dec);
    assert_ne!(a_out, 0);
    let (b_out, _) = spi_after(b, "current outbound spi:");
    let (a_in, _) = spi_after(a, "inbound esp sas:\n      spi:");
    let (b_in, _) = spi_after(b, "inbound esp sas:\n      spi:");
    assert_eq!(a_out, b_in);
    assert_eq!(b_out, a_in);
    assert_ne!(a_in, a_out);
    // The narrative walks Main Mode's states.
    assert!(
        r.text.contains("MM_NO_STATE (1.001 s) -> MM_SA_SETUP"),
        "{}",
        r.text
    );
    assert!(r.text.ends_with(a.as_str()));
}

#[test]
fn deterministic_per_seed_and_debug_has_ios_lines() {
    let o = DemoOptions {
        pings: 3,
        ..DemoOptions::default()
    };
    let x = run(&o).unwrap();
    let y = run(&o).unwrap();
    assert_eq!(x.text, y.text);
    let z = run(&DemoOptions {
        seed: 2,
        ..o.clone()
    })
    .unwrap();
    assert_ne!(x.a_ipsec, z.a_ipsec, "other seed, other SPIs");
    assert_eq!(x.replies, [2, 3]);
    let d = run(&DemoOptions { debug: true, ..o }).unwrap();
    for l in [
        "IPSEC(sa_request): ,",
        "Old State = IKE_I_MM5  New State = IKE_P1_COMPLETE",
        "sending packet to 203.0.113.2 my_port 500 peer_port 500 (I) MM_NO_STATE",
        "SA has been authenticated with 203.0.113.2",
        "IPSEC(create_sa): sa created,",
        "Successfully installed IPSEC SA (SPI:0x",
    ] {
        assert!(d.text.contains(l), "{l} missing:\n{}", d.text);
    }
    assert!(!x.text.contains("IPSEC(sa_request)"));
}

#[test]
fn mismatched_key_leaves_no_tunnel() {
    let b = ipsec_proto::ios::seed::SITE_B.replace("ciscokey", "otherkey");
    let r = run(&DemoOptions {
        config_b: Some(b),
        pings: 5,
        ..DemoOptions::default()
    })
    .unwrap();
    assert_eq!(r.replies[0], 0, "{}", r.text);
    assert!(!r.a_isakmp.contains("QM_IDLE"), "{}", r.a_isakmp);
    assert_eq!(num(&r.a_ipsec, "#pkts encaps:"), 0);
    assert_eq!(num(&r.a_ipsec, "#send errors"), 5);
    assert!(r.a_ipsec.contains("current outbound spi: 0x0(0)"));
}
