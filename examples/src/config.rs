//! Building an [`EndpointConfig`] from strongSwan-style proposal strings
//! (`3des-sha1-modp1024`, `aes256-sha256-modp2048`), so that a test can give both peers the
//! same words.

use std::net::Ipv4Addr;

use ipsec_proto::ike::{EndpointConfig, PeerConfig, SelectorPair};
use ipsec_proto::policy::acl::TrafficSelector;
use ipsec_proto::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use ipsec_proto::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};

/// A proposal word the example does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported proposal `{0}`")]
pub struct BadProposal(pub String);

fn group(word: &str) -> Option<u16> {
    Some(match word {
        "modp768" => 1,
        "modp1024" => 2,
        "modp1536" => 5,
        "modp2048" => 14,
        "modp3072" => 15,
        "modp4096" => 16,
        _ => return None,
    })
}

/// `enc-hash-group` (strongSwan IKE proposal) as an ISAKMP policy with pre-shared keys.
pub fn isakmp_policy(priority: u16, proposal: &str) -> Result<IsakmpPolicy, BadProposal> {
    let bad = || BadProposal(proposal.to_string());
    let w: Vec<&str> = proposal.split('-').collect();
    let [enc, hash, grp] = w.as_slice() else {
        return Err(bad());
    };
    let encryption = match *enc {
        "des" => IkeEncryption::Des,
        "3des" => IkeEncryption::TripleDes,
        "aes128" | "aes" => IkeEncryption::Aes { bits: 128 },
        "aes192" => IkeEncryption::Aes { bits: 192 },
        "aes256" => IkeEncryption::Aes { bits: 256 },
        _ => return Err(bad()),
    };
    let hash = match *hash {
        "md5" => IkeHash::Md5,
        "sha1" => IkeHash::Sha1,
        "sha256" => IkeHash::Sha256,
        "sha384" => IkeHash::Sha384,
        "sha512" => IkeHash::Sha512,
        _ => return Err(bad()),
    };
    Ok(IsakmpPolicy {
        priority,
        encryption,
        hash,
        authentication: IkeAuth::PreShare,
        group: group(grp).ok_or_else(bad)?,
        lifetime_secs: IsakmpPolicy::DEFAULT_LIFETIME_SECS,
    })
}

/// `enc-integ[-group]` (strongSwan ESP proposal) as a tunnel-mode transform set and the PFS
/// group, if any.
pub fn transform_set(
    name: &str,
    proposal: &str,
) -> Result<(TransformSet, Option<u16>), BadProposal> {
    let bad = || BadProposal(proposal.to_string());
    let w: Vec<&str> = proposal.split('-').collect();
    let (enc, integ, pfs) = match w.as_slice() {
        [e, i] => (*e, *i, None),
        [e, i, g] => (*e, *i, Some(group(g).ok_or_else(bad)?)),
        _ => return Err(bad()),
    };
    let esp_encryption = match enc {
        "des" => EspEncryption::Des,
        "3des" => EspEncryption::TripleDes,
        "aes128" | "aes" => EspEncryption::Aes128,
        "aes192" => EspEncryption::Aes192,
        "aes256" => EspEncryption::Aes256,
        "null" => EspEncryption::Null,
        _ => return Err(bad()),
    };
    let esp_integrity = match integ {
        "md5" => EspIntegrity::Md5,
        "sha1" => EspIntegrity::Sha1,
        "sha256" => EspIntegrity::Sha256,
        "sha384" => EspIntegrity::Sha384,
        "sha512" => EspIntegrity::Sha512,
        _ => return Err(bad()),
    };
    Ok((
        TransformSet {
            name: name.into(),
            esp_encryption,
            esp_integrity,
            mode: EspMode::Tunnel,
        },
        pfs,
    ))
}

/// `a.b.c.d/len` as a whole-protocol selector.
pub fn subnet(cidr: &str) -> Option<TrafficSelector> {
    let (a, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let addr: Ipv4Addr = a.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Some(TrafficSelector::subnet(addr, Ipv4Addr::from(mask)))
}

/// One site-to-site peer, the way a test or the example binary describes it.
#[derive(Debug, Clone)]
pub struct SiteToSite {
    /// Our address (bound by the driver).
    pub local: Ipv4Addr,
    /// The peer's address.
    pub peer: Ipv4Addr,
    /// Pre-shared key.
    pub psk: String,
    /// IKE proposal, strongSwan syntax.
    pub ike: String,
    /// ESP proposal, strongSwan syntax (a trailing group turns on PFS).
    pub esp: String,
    /// Our protected subnet.
    pub local_net: TrafficSelector,
    /// The peer's protected subnet.
    pub remote_net: TrafficSelector,
    /// IPsec SA lifetime in seconds.
    pub lifetime_secs: u32,
}

impl SiteToSite {
    /// The endpoint configuration: one peer, one policy, one transform set, one ACL line.
    pub fn endpoint_config(&self) -> Result<EndpointConfig, BadProposal> {
        let mut p = PeerConfig::new(self.peer, PskSecret::new(self.psk.as_bytes()));
        p.local_address = Some(self.local);
        p.isakmp_policies = vec![isakmp_policy(10, &self.ike)?];
        let (ts, pfs) = transform_set("TS", &self.esp)?;
        p.transform_sets = vec![ts];
        p.pfs_group = pfs;
        p.lifetime_secs = self.lifetime_secs;
        p.selectors = vec![SelectorPair {
            local: self.local_net,
            remote: self.remote_net,
        }];
        Ok(EndpointConfig {
            peers: vec![p],
            ..EndpointConfig::default()
        })
    }
}

/// A selector in an IOS extended ACL line: `host A`, `A WILDCARD`, or `any`.
fn acl_addr(s: &TrafficSelector) -> String {
    let (lo, hi) = s.addr.range();
    let wildcard = u32::from(lo) ^ u32::from(hi);
    match (lo == hi, wildcard == u32::MAX) {
        (true, _) => format!("host {lo}"),
        (_, true) => "any".into(),
        _ => format!("{lo} {}", Ipv4Addr::from(wildcard)),
    }
}

impl SiteToSite {
    /// The same site as an IOS configuration (one policy, one key, one transform set, one
    /// crypto map entry on a crypto interface holding `local`), for the tunnel layer.
    pub fn ios_config(&self) -> Result<String, BadProposal> {
        let p = isakmp_policy(10, &self.ike)?;
        let (ts, pfs) = transform_set("TS", &self.esp)?;
        let proto = match self.local_net.protocol {
            0 => "ip".to_string(),
            1 => "icmp".to_string(),
            n => n.to_string(),
        };
        let pfs = pfs.map_or(String::new(), |g| format!(" set pfs group{g}\n"));
        Ok(format!(
            "crypto isakmp policy 10\n encr {}\n hash {}\n authentication pre-share\n group {}\n\
             crypto isakmp key {} address {}\n\
             crypto ipsec transform-set TS {}\n\
             crypto map VPN 10 ipsec-isakmp\n set peer {}\n set transform-set TS\n{pfs}\
             \x20set security-association lifetime seconds {}\n match address 100\n\
             interface Ethernet0\n ip address {} 255.255.255.255\n crypto map VPN\n\
             access-list 100 permit {proto} {} {}\n",
            p.encryption.ios_keyword(),
            p.hash.ios_keyword(),
            p.group,
            self.psk,
            self.peer,
            ts.display_transforms(),
            self.peer,
            self.lifetime_secs,
            self.local,
            acl_addr(&self.local_net),
            acl_addr(&self.remote_net),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_parse() {
        let p = isakmp_policy(1, "aes256-sha256-modp2048").unwrap();
        assert_eq!(p.encryption, IkeEncryption::Aes { bits: 256 });
        assert_eq!((p.hash, p.group), (IkeHash::Sha256, 14));
        let (ts, pfs) = transform_set("x", "3des-sha1").unwrap();
        assert_eq!(ts.esp_encryption, EspEncryption::TripleDes);
        assert_eq!(pfs, None);
        assert_eq!(
            transform_set("x", "aes256-sha256-modp2048").unwrap().1,
            Some(14)
        );
        assert!(isakmp_policy(1, "3des-sha1").is_err());
        assert!(transform_set("x", "chacha-sha1").is_err());
        let s = subnet("10.1.1.0/24").unwrap();
        assert!(s.contains(&subnet("10.1.1.10").unwrap()));
        assert!(!s.contains(&subnet("10.1.2.10").unwrap()));
    }

    #[test]
    fn ios_config_runs_on_the_tunnel_layer() {
        let site = SiteToSite {
            local: "198.51.100.2".parse().unwrap(),
            peer: "203.0.113.2".parse().unwrap(),
            psk: "k".into(),
            ike: "aes256-sha256-modp2048".into(),
            esp: "aes128-sha1-modp1024".into(),
            local_net: subnet("10.1.1.0/24").unwrap(),
            remote_net: subnet("10.2.2.10/32").unwrap(),
            lifetime_secs: 600,
        };
        let text = site.ios_config().unwrap();
        let t = ipsec_proto::tunnel::Tunnel::from_ios(&text, Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let e = &t.tunnels().entries()[0];
        assert_eq!(e.local, site.local, "{text}");
        assert!(text.contains("access-list 100 permit ip 10.1.1.0 0.0.0.255 host 10.2.2.10"));
        let peer = &t.tunnels().endpoint().config().peers[0];
        assert_eq!(peer.pfs_group, Some(2), "{text}");
        assert_eq!(peer.lifetime_secs, 600);
        assert_eq!(peer.selectors[0].local, site.local_net);
        assert_eq!(peer.selectors[0].remote, site.remote_net);
    }
}
