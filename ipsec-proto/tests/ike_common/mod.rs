//! Configurations of the IKE pair scenarios and a pcap writer; the pair itself is
//! [`ipsec_proto::testing::Pair`] (virtual time, latency, seeded loss, duplication, reordering,
//! an optional NAT in front of side A).
#![allow(dead_code)]

use std::net::Ipv4Addr;

use ipsec_proto::ike::{EndpointConfig, PeerConfig, SelectorPair};
use ipsec_proto::policy::acl::TrafficSelector;
use ipsec_proto::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use ipsec_proto::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
// Not every test file uses every name.
#[allow(unused_imports)]
pub use ipsec_proto::testing::{assert_keys_match, Pair, Side, A_PRIV, B_ADDR, NAT_PUB};

pub fn policy(priority: u16, enc: IkeEncryption, hash: IkeHash, group: u16) -> IsakmpPolicy {
    IsakmpPolicy {
        priority,
        encryption: enc,
        hash,
        authentication: IkeAuth::PreShare,
        group,
        lifetime_secs: 86_400,
    }
}

pub fn tset(name: &str, enc: EspEncryption, integ: EspIntegrity) -> TransformSet {
    TransformSet {
        name: name.into(),
        esp_encryption: enc,
        esp_integrity: integ,
        mode: EspMode::Tunnel,
    }
}

pub fn net(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

/// The seed's R1/R2: 3DES/SHA/PSK/group 2, esp-3des esp-sha-hmac, 192.168.1.0/24 <-> 192.168.2.0/24.
pub fn seed_peer(peer_addr: Ipv4Addr, psk: &str, local: [u8; 4], remote: [u8; 4]) -> PeerConfig {
    let mut p = PeerConfig::new(peer_addr, PskSecret::new(psk.as_bytes()));
    p.isakmp_policies = vec![policy(1, IkeEncryption::TripleDes, IkeHash::Sha1, 2)];
    p.transform_sets = vec![tset(
        "TRANSFORM",
        EspEncryption::TripleDes,
        EspIntegrity::Sha1,
    )];
    p.selectors = vec![SelectorPair {
        local: net(local),
        remote: net(remote),
    }];
    p
}

pub fn seed_configs() -> (EndpointConfig, EndpointConfig) {
    let a = EndpointConfig {
        peers: vec![seed_peer(
            B_ADDR,
            "ciscokey",
            [192, 168, 1, 0],
            [192, 168, 2, 0],
        )],
        ..EndpointConfig::default()
    };
    let b = EndpointConfig {
        peers: vec![seed_peer(
            A_PRIV,
            "ciscokey",
            [192, 168, 2, 0],
            [192, 168, 1, 0],
        )],
        ..EndpointConfig::default()
    };
    (a, b)
}

/// Writes the logged datagrams as a pcap (LINKTYPE_IPV4) with A at A_PRIV and B at B_ADDR.
pub fn write_pcap(p: &Pair, path: &std::path::Path) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&228u32.to_le_bytes());
    for (i, ((side, marker, bytes), (sport, dport))) in p.log.iter().zip(&p.log_ports).enumerate() {
        let (src, dst) = match side {
            Side::A => (A_PRIV, B_ADDR),
            Side::B => (B_ADDR, A_PRIV),
        };
        let mut udp_payload = Vec::new();
        if *marker {
            udp_payload.extend_from_slice(&[0, 0, 0, 0]);
        }
        udp_payload.extend_from_slice(bytes);
        let udp_len = 8 + udp_payload.len();
        let total = 20 + udp_len;
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let mut sum: u32 = 0;
        for c in ip.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let ck = !(sum as u16);
        ip[10] = (ck >> 8) as u8;
        ip[11] = ck as u8;
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&udp_payload);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&ip);
    }
    std::fs::write(path, out).unwrap();
}
