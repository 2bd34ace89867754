//! Independent check of our ISAKMP bytes: Wireshark's dissector parses every message, derives the
//! IVs from the KE payloads on its own and decrypts Main Mode 5/6 and Quick Mode with the Phase 1
//! key. Needs `tshark` (run with `cargo test --test ike_wireshark -- --ignored`).

mod ike_common;

use std::process::Command;
use std::sync::{Arc, Mutex};

use ike_common::*;
use ipsec_proto::esp::EspKeys;
use ipsec_proto::keylog::KeyLog;

/// Keeps the latest `ikev1_decryption_table` the endpoint handed over.
struct Table(Arc<Mutex<String>>);

impl KeyLog for Table {
    fn ikev1_table(&mut self, table: &str) {
        *self.0.lock().unwrap() = table.to_string();
    }
    fn esp_sa(&mut self, _: &EspKeys) {}
}

fn tshark(dir: &std::path::Path, pcap: &std::path::Path) -> String {
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", dir)
        .env("HOME", dir)
        .arg("-r")
        .arg(pcap)
        .arg("-V")
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(seed: u64, nat: bool, pfs: Option<u16>) -> String {
    check_with(seed, nat, pfs, |_, _| {}, |_| {})
}

fn check_with(
    seed: u64,
    nat: bool,
    pfs: Option<u16>,
    configure: impl FnOnce(&mut ipsec_proto::ike::EndpointConfig, &mut ipsec_proto::ike::EndpointConfig),
    drive: impl FnOnce(&mut Pair),
) -> String {
    let (mut a, mut b) = seed_configs();
    if nat {
        b.peers[0].address = NAT_PUB;
    }
    a.peers[0].pfs_group = pfs;
    b.peers[0].pfs_group = pfs;
    configure(&mut a, &mut b);
    let mut p = Pair::new(a, b, seed);
    let table = Arc::new(Mutex::new(String::new()));
    p.a.set_keylog(Some(Box::new(Table(table.clone()))));
    p.nat = nat;
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    drive(&mut p);
    let dir = std::env::temp_dir().join(format!("ike-wireshark-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ikev1_decryption_table"),
        table.lock().unwrap().as_str(),
    )
    .unwrap();
    let pcap = dir.join("ike.pcap");
    write_pcap(&p, &pcap);
    let text = tshark(&dir, &pcap);
    if std::env::var_os("IKE_KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
    assert!(!text.is_empty());
    assert!(!text.contains("Malformed"), "{text}");
    assert!(!text.contains("[Expert Info (Error"), "{text}");
    text
}

#[test]
#[ignore = "needs tshark"]
fn wireshark_decodes_and_decrypts_our_exchange() {
    let text = check(60, false, None);
    // MM1: SA with the seed's transform; vendor IDs recognised.
    assert!(
        text.contains("IKE Attribute (t=1,l=2): Encryption-Algorithm: 3DES-CBC"),
        "{text}"
    );
    assert!(
        text.contains("IKE Attribute (t=12,l=4): Life-Duration: 86400"),
        "{text}"
    );
    assert!(
        text.contains("Vendor ID: RFC 3947 Negotiation of NAT-Traversal in the IKE"),
        "{text}"
    );
    assert!(
        text.contains("Vendor ID: RFC 3706 DPD (Dead Peer Detection)"),
        "{text}"
    );
    // Wireshark derives the IVs itself and decrypts MM5/MM6: our identities and INITIAL-CONTACT.
    assert!(text.contains("Identification Data:198.51.100.1"), "{text}");
    assert!(text.contains("Identification Data:203.0.113.2"), "{text}");
    assert!(
        text.contains("Notify Message Type: INITIAL-CONTACT (24578)"),
        "{text}"
    );
    // And Quick Mode (per message ID IVs): the IOS transform and the proxy identities.
    assert!(text.contains("Transform ID: 3DES (3)"), "{text}");
    assert!(
        text.contains("IPsec Attribute (t=2,l=4): SA-Life-Duration: 4608000"),
        "{text}"
    );
    assert!(
        text.contains("Identification Data:192.168.1.0/255.255.255.0"),
        "{text}"
    );
    assert!(
        text.contains("Identification Data:192.168.2.0/255.255.255.0"),
        "{text}"
    );
    assert_eq!(
        text.matches("Payload: Hash (8)").count(),
        5,
        "MM5, MM6, QM1, QM2, QM3 decrypted"
    );
}

#[test]
#[ignore = "needs tshark"]
fn wireshark_decodes_nat_t_with_pfs() {
    let text = check(61, true, Some(14));
    assert!(text.contains("Payload: NAT-D (RFC 3947) (20)"), "{text}");
    assert!(text.contains("Non-ESP Marker"), "{text}");
    assert!(
        text.contains("Encapsulation Mode: UDP-Encapsulated-Tunnel (3)"),
        "{text}"
    );
    assert!(
        text.contains("Group-Description: 2048 bit MODP group"),
        "{text}"
    );
    assert!(text.contains("Payload: Key Exchange (4)"), "{text}");
    assert_eq!(
        text.matches("Payload: Hash (8)").count(),
        5,
        "MM5, MM6, QM1, QM2, QM3 decrypted"
    );
}

#[test]
#[ignore = "needs tshark"]
fn wireshark_decodes_informational_exchanges() {
    let text = check_with(
        62,
        false,
        None,
        |a, b| {
            b.peers[0].lifetime_secs = 1200;
            a.dpd = Some(ipsec_proto::policy::ipsec::DpdConfig {
                interval_secs: 10,
                retry_secs: 2,
                mode: ipsec_proto::policy::ipsec::DpdMode::Periodic,
            });
        },
        |p| {
            p.run(15_000);
            let c = p.a.ipsec_sas(p.now)[0].child;
            p.a.delete_child(p.now, c).unwrap();
            p.run(1_000);
        },
    );
    assert!(
        text.contains("Notify Message Type: RESPONDER-LIFETIME (24576)"),
        "{text}"
    );
    assert!(
        text.contains("Notify Message Type: R-U-THERE (36136)"),
        "{text}"
    );
    assert!(
        text.contains("Notify Message Type: R-U-THERE-ACK (36137)"),
        "{text}"
    );
    assert!(text.contains("Payload: Delete (12)"), "{text}");
    assert!(text.contains("Exchange type: Informational (5)"), "{text}");
}
