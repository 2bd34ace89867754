//! From a parsed IOS configuration to the IKE endpoint's configuration: one [`PeerConfig`] per
//! crypto map entry applied to an interface, and the table the data path classifies with.

use crate::ike::{EndpointConfig, PeerConfig, PeerId, SelectorPair};
use crate::policy::{
    AccessList, AclAction, CryptoMapEntry, DpdConfig, DpdMode, GatewayConfig, IsakmpProfile,
    PreSharedKey, PskPeer, PskSecret,
};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One `crypto map NAME SEQ ipsec-isakmp` entry that is applied to an interface and complete.
#[derive(Clone, Debug)]
pub struct MapEntryInfo {
    /// Map name (`VPN`).
    pub map: String,
    /// Sequence number.
    pub seq: u16,
    /// IOS interface carrying the map (`FastEthernet4`).
    pub interface: String,
    /// Our address on that interface (or the `run` override), or on the interface of
    /// `crypto map NAME local-address IF`.
    pub local: Ipv4Addr,
    /// The interface whose address `local` is: `interface`, or the map's `local-address`
    /// interface. An engine must send and receive IKE and ESP on that address.
    pub local_interface: String,
    /// `crypto ipsec df-bit` of `interface`, else the global one: the outer DF of the entry's
    /// ESP packets.
    pub df_bit: crate::policy::DfBit,
    /// The peer in use: the first `set peer` at start, a backup after a failover.
    pub peer_addr: Ipv4Addr,
    /// Every `set peer` with a pre-shared key, in the order IOS tries them.
    pub peers: Vec<Ipv4Addr>,
    /// `set peer A default`: after a backup fails, go back to `peers[0]`.
    pub default_peer: bool,
    /// The endpoint's index of this entry's peer.
    pub peer: PeerId,
    /// The crypto ACL (`match address`).
    pub acl: AccessList,
    /// For each ACL entry: the index of its selector pair in the peer's configuration (permit
    /// lines expressible as proxy identities), `None` for deny and inexpressible lines.
    pub line_selector: Vec<Option<usize>>,
    /// `set pfs`.
    pub pfs_group: Option<u16>,
    /// `ipsec-isakmp dynamic NAME`: the dynamic map and the sequence number of its entry this
    /// one stands for. Such an entry answers any peer its keys cover (`peer_addr` 0.0.0.0)
    /// and never initiates.
    pub dynamic: Option<(String, u16)>,
    /// Anti-replay window of the entry's inbound SAs (0: anti-replay off): the entry's
    /// `set security-association replay`, else the global one.
    pub replay_window: u32,
    /// `set isakmp-profile`.
    pub isakmp_profile: Option<String>,
    /// `reverse-route [static]`: publish the entry's routes for routing daemons (see
    /// [`crate::tunnel::InjectedRoute`]).
    pub reverse_route: Option<crate::policy::ReverseRoute>,
    /// `set reverse-route tag` (0: none).
    pub rri_tag: u32,
    /// `set reverse-route distance` (default 1).
    pub rri_distance: u8,
    /// `set security-association idle-time`, else the global one: pairs idle that long are
    /// deleted.
    pub idle_time: Option<crate::policy::IdleTime>,
    /// A dynamic map entry without `match address`: it accepts the proxy identities each
    /// peer offers (`acl` is a synthetic `permit ip any any`), and traffic no learned pair
    /// admits is not protected (sent in clear, as IOS does outside its SAs).
    pub any_proxies: bool,
    /// `Some(N)`: not a crypto map entry but static VTI `TunnelN` (`tunnel protection ipsec
    /// profile`): its one flow has the proxy identities 0.0.0.0/0 ⇄ 0.0.0.0/0, whatever is
    /// routed into the interface goes through it, and no crypto ACL classifies for it (`acl`
    /// is a synthetic `permit ip any any`). `map` is then `TunnelN-head-0` (the name IOS shows).
    pub vti: Option<u32>,
}

/// The endpoint configuration and the data-path table built from one configuration.
#[derive(Clone, Debug)]
pub struct Built {
    /// For [`crate::ike::Endpoint::new`].
    pub endpoint: EndpointConfig,
    /// Entries in interface order, then map sequence order; entry `i` is peer `PeerId(i)`.
    pub entries: Vec<MapEntryInfo>,
    /// Entries or lines left out, and why (IOS keeps such entries disabled).
    pub skipped: Vec<String>,
}

impl Built {
    /// Every local address the configuration sends and receives IKE and ESP on (the crypto
    /// map interfaces, `crypto map NAME local-address IF`, VTI tunnel sources), each once, in
    /// entry order: what an engine must bind.
    pub fn local_addresses(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<Ipv4Addr> = Vec::new();
        for e in &self.entries {
            if !v.contains(&e.local) {
                v.push(e.local);
            }
        }
        v
    }
}

/// Why no gateway can be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No interface has `crypto map NAME`, and there is no VTI.
    #[error("no interface carries a crypto map")]
    NoCryptoInterface,
    /// The crypto map interface has no `ip address` and no override was given.
    #[error("interface {0} carries a crypto map but has no ip address")]
    Unaddressed(String),
    /// `crypto map NAME local-address IF` names an interface without an address.
    #[error("crypto map {map} local-address {interface}: the interface has no ip address")]
    LocalAddressUnaddressed {
        /// The map.
        map: String,
        /// The `local-address` interface.
        interface: String,
    },
    /// Every entry was incomplete.
    #[error("no usable crypto map entry: {0}")]
    NoUsableEntry(String),
}

/// The keys a dynamic entry chooses from per peer address: the global ones and the keyrings
/// serving `local`, or only the profile's keyrings when it names some.
fn dynamic_keys(
    cfg: &GatewayConfig,
    local: Ipv4Addr,
    profile: Option<&IsakmpProfile>,
) -> Vec<PreSharedKey> {
    let restricted = profile.filter(|p| !p.keyrings.is_empty());
    let global = cfg.keys.iter().filter(|_| restricted.is_none());
    let rings = cfg
        .keyrings
        .iter()
        .filter(|r| restricted.is_none_or(|p| p.keyrings.contains(&r.name)))
        .filter(|r| r.serves(cfg, local))
        .flat_map(|r| r.keys.iter());
    global
        .chain(rings)
        .filter(|k| matches!(k.peer, PskPeer::Address { .. }))
        .cloned()
        .collect()
}

/// The keys Aggressive Mode initiators are chosen by (hostname keys of the global keys and of
/// the keyrings serving `local`, only the profile's keyrings when it names some).
fn identity_keys(
    cfg: &GatewayConfig,
    local: Ipv4Addr,
    profile: Option<&IsakmpProfile>,
) -> Vec<crate::ike::IdentityKey> {
    if cfg.aggressive_mode_disabled {
        return Vec::new();
    }
    cfg.identity_keys(local, profile.map(|p| p.keyrings.as_slice()))
        .into_iter()
        .map(|(id, key)| crate::ike::IdentityKey { id, key })
        .collect()
}

/// `crypto isakmp peer address A` with both `set aggressive-mode` commands: the password and
/// the identity to initiate Aggressive Mode to `peer` with.
fn aggressive_peer(
    cfg: &GatewayConfig,
    peer: Ipv4Addr,
) -> Option<(PskSecret, crate::policy::Phase1Id)> {
    let p = cfg.isakmp_peer(peer).filter(|p| p.initiates_aggressive())?;
    if cfg.aggressive_mode_disabled {
        return None;
    }
    Some((p.password.clone()?, p.client_endpoint.clone()?))
}

/// An entry as it runs, with the dynamic map entry it stands for (see [`expand`]).
type Expanded<'a> = (std::borrow::Cow<'a, CryptoMapEntry>, Option<(String, u16)>);

/// A crypto map entry as it runs: itself, or for `ipsec-isakmp dynamic NAME` each entry of
/// dynamic map NAME in sequence order, named by the dynamic map and its sequence number.
fn expand<'a>(cfg: &'a GatewayConfig, e: &'a CryptoMapEntry) -> Vec<Expanded<'a>> {
    match &e.dynamic {
        None => vec![(std::borrow::Cow::Borrowed(e), None)],
        Some(d) => cfg
            .dynamic_map(d)
            .map(|de| {
                // The entry keeps the static map's name and sequence number (how IOS lists it);
                // its policy is the dynamic map entry's.
                let mut x = de.clone();
                x.map = e.map.clone();
                x.seq = e.seq;
                (std::borrow::Cow::Owned(x), Some((d.clone(), de.seq)))
            })
            .collect(),
    }
}

/// A synthetic `permit ip any any` list named `name` (a VTI's, or a dynamic entry's without
/// `match address`).
pub(super) fn any_acl(name: String) -> AccessList {
    from_acl(name, &[crate::policy::AddrMatch::ANY])
}

/// `permit ip S any` for each source `S`, in order.
pub(super) fn from_acl(name: String, sources: &[crate::policy::AddrMatch]) -> AccessList {
    let mut acl = AccessList::new(name, false, crate::policy::AclKind::Extended);
    for (i, src) in sources.iter().enumerate() {
        acl.entries.push(crate::policy::AclEntry {
            seq: 10 * (u32::try_from(i).unwrap_or(0) + 1),
            action: AclAction::Permit,
            protocol: crate::policy::AclProtocol::Ip,
            src: *src,
            src_port: crate::policy::PortMatch::Any,
            dst: crate::policy::AddrMatch::ANY,
            dst_port: crate::policy::PortMatch::Any,
            log: false,
        });
    }
    acl
}

/// The proxy identities of every VTI SA: 0.0.0.0/0 ⇄ 0.0.0.0/0, as IOS proposes them.
pub(crate) fn vti_selectors() -> SelectorPair {
    let any = crate::policy::TrafficSelector::subnet(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
    SelectorPair {
        local: any,
        remote: any,
    }
}

/// The entry and peer configuration of static VTI `ifc`, or why it cannot run (in `skipped`).
fn vti_entry(
    cfg: &GatewayConfig,
    ifc: &crate::policy::Interface,
    local_override: Option<Ipv4Addr>,
    id: PeerId,
    skipped: &mut Vec<String>,
) -> Option<(MapEntryInfo, PeerConfig)> {
    use crate::policy::TunnelSource;
    let n = ifc.tunnel_number()?;
    let t = ifc.tunnel.as_ref()?;
    let name = format!("interface {}", ifc.name);
    let Some(prof_name) = &t.protection else {
        skipped.push(format!("{name}: no tunnel protection ipsec profile"));
        return None;
    };
    let Some(prof) = cfg.ipsec_profile(prof_name) else {
        skipped.push(format!(
            "{name}: tunnel protection ipsec profile {prof_name}: no such profile"
        ));
        return None;
    };
    let Some(peer_addr) = t.destination else {
        skipped.push(format!("{name}: no tunnel destination"));
        return None;
    };
    let local = match &t.source {
        Some(TunnelSource::Address(a)) => *a,
        Some(TunnelSource::Interface(i)) => {
            match (local_override, cfg.interface(i).and_then(|x| x.address)) {
                (Some(a), _) => a,
                (None, Some((a, _))) => a,
                (None, None) => {
                    skipped.push(format!("{name}: tunnel source {i} has no ip address"));
                    return None;
                }
            }
        }
        None => {
            skipped.push(format!("{name}: no tunnel source"));
            return None;
        }
    };
    let sets: Vec<_> = prof
        .transform_sets
        .iter()
        .filter_map(|n| cfg.transform_set(n).cloned())
        .collect();
    if sets.is_empty() {
        skipped.push(format!(
            "{name}: ipsec profile {prof_name} has no valid transform set"
        ));
        return None;
    }
    let profile = match &prof.isakmp_profile {
        None => None,
        Some(p) => match cfg.isakmp_profile(p) {
            Some(x) => Some(x),
            None => {
                skipped.push(format!("{name}: set isakmp-profile {p}: no such profile"));
                return None;
            }
        },
    };
    if let Some(p) = profile.filter(|p| !p.serves(cfg, local)) {
        skipped.push(format!(
            "{name}: isakmp profile {}: its local-address is not {local}",
            p.name
        ));
        return None;
    }
    let am_peer = aggressive_peer(cfg, peer_addr);
    let rsa = cfg.rsa_sig_config(profile);
    let key = match (&am_peer, cfg.entry_key(peer_addr, local, profile)) {
        (Some((k, _)), _) => Some(k.clone()),
        (None, Ok(k)) => Some(k),
        (None, Err(_)) if matches!(rsa, Ok(Some(_))) => None,
        (None, Err(why)) => {
            skipped.push(rsa_note(&name, why, &rsa));
            return None;
        }
    };
    let has_key = key.is_some();
    let mut pc = PeerConfig::new(peer_addr, key.unwrap_or_else(|| PskSecret::new(b"")));
    pc.identity_keys = identity_keys(cfg, local, profile);
    pc.aggressive = match (am_peer, profile) {
        (Some((_, id)), _) => Some(id),
        (None, Some(p)) if p.initiate_aggressive => {
            Some(phase1_id(cfg.local_identity(Some(p)), local))
        }
        _ => None,
    };
    pc.local_identity = cfg.local_identity(profile);
    if let Some(p) = profile {
        pc.identities = p.match_addresses.clone();
        pc.host_identities = p.match_hosts.clone();
        pc.dpd = p.keepalive.map(|(interval_secs, retry_secs)| DpdConfig {
            interval_secs,
            retry_secs,
            mode: cfg.ipsec.dpd.map_or(DpdMode::OnDemand, |d| d.mode),
        });
    }
    pc.local_address = Some(local);
    pc.isakmp_policies = cfg.isakmp_policies.clone();
    apply_rsa_sig(&mut pc, rsa, has_key, &name, skipped);
    pc.transform_sets = sets;
    pc.pfs_group = prof.pfs_group;
    pc.lifetime_secs = prof.lifetime_secs.unwrap_or(cfg.ipsec.sa_lifetime_secs);
    pc.lifetime_kb = prof.lifetime_kb.unwrap_or(cfg.ipsec.sa_lifetime_kb);
    pc.selectors.push(vti_selectors());
    let acl = any_acl(format!("{}-head-0", ifc.name));
    let local_interface = match &t.source {
        Some(TunnelSource::Interface(i)) => i.clone(),
        _ => ifc.name.clone(),
    };
    let entry = MapEntryInfo {
        map: format!("{}-head-0", ifc.name),
        seq: 1,
        interface: ifc.name.clone(),
        local,
        local_interface,
        df_bit: ifc.df_bit.unwrap_or(cfg.ipsec.df_bit),
        peer_addr,
        peers: vec![peer_addr],
        default_peer: false,
        peer: id,
        acl,
        line_selector: vec![Some(0)],
        pfs_group: prof.pfs_group,
        dynamic: None,
        replay_window: prof.replay_window.unwrap_or(cfg.ipsec.replay_window),
        isakmp_profile: prof.isakmp_profile.clone(),
        // A VTI's routes are the host's own (`ip route ... TunnelN`): no reverse route.
        reverse_route: None,
        rri_tag: 0,
        rri_distance: crate::policy::ReverseRoute::DEFAULT_DISTANCE,
        idle_time: cfg.ipsec.sa_idle_time,
        vti: Some(n),
        any_proxies: false,
    };
    Some((entry, pc))
}

/// Builds the endpoint configuration. `local_override` replaces the crypto interface's address
/// (the `run` plan maps IOS interfaces to Linux ones and may find a different address).
pub fn build(cfg: &GatewayConfig, local_override: Option<Ipv4Addr>) -> Result<Built, BuildError> {
    let mut entries = Vec::new();
    let mut peers = Vec::new();
    let mut skipped = Vec::new();
    // Easy VPN client profiles become crypto map entries of their own (see `ezvpn`).
    let expanded = super::ezvpn::expand(cfg, &mut skipped);
    let cfg = expanded.as_ref().unwrap_or(cfg);
    let mut any_interface = false;
    for ifc in cfg.interfaces.iter().filter(|i| !i.shutdown) {
        let Some(map) = &ifc.crypto_map else { continue };
        any_interface = true;
        // `crypto map NAME local-address IF` names the interface whose address the map uses;
        // the `run` override stands for the address of the interface carrying the map only.
        let local_if = match cfg.map_local_addresses.get(map) {
            Some(l) => cfg.interface(l).map_or(l.as_str(), |i| i.name.as_str()),
            None => ifc.name.as_str(),
        };
        let local = if local_if.eq_ignore_ascii_case(&ifc.name) {
            match (local_override, ifc.address) {
                (Some(a), _) => a,
                (None, Some((a, _))) => a,
                (None, None) => return Err(BuildError::Unaddressed(ifc.name.clone())),
            }
        } else {
            match cfg.interface(local_if).and_then(|i| i.address) {
                Some((a, _)) => a,
                None => {
                    return Err(BuildError::LocalAddressUnaddressed {
                        map: map.clone(),
                        interface: local_if.to_string(),
                    })
                }
            }
        };
        for (e, dynamic) in cfg.crypto_map(map).flat_map(|e| expand(cfg, e)) {
            let name = match &dynamic {
                Some((d, s)) => format!("crypto map {} {} (dynamic map {d} {s})", e.map, e.seq),
                None => format!("crypto map {} {}", e.map, e.seq),
            };
            let wildcard = dynamic.is_some().then_some(Ipv4Addr::UNSPECIFIED);
            let Some(peer_addr) = wildcard.or(e.current_peer()) else {
                skipped.push(format!("{name}: no set peer"));
                continue;
            };
            // A dynamic entry without `match address` takes the proxy identities each peer
            // offers (IOS: limited by nothing but the transform sets): one line standing for
            // any of them, whose traffic only the peers' own pairs carry.
            let any_proxies = dynamic.is_some() && e.acl.is_none();
            let acl = match e.acl.as_ref().and_then(|a| cfg.access_list(a)) {
                Some(a) => a.clone(),
                None if any_proxies => any_acl(format!("{}-{}-any", e.map, e.seq)),
                None => {
                    skipped.push(format!("{name}: no valid match address"));
                    continue;
                }
            };
            let sets: Vec<_> = e
                .transform_sets
                .iter()
                .filter_map(|n| cfg.transform_set(n).cloned())
                .collect();
            if sets.is_empty() {
                skipped.push(format!("{name}: no valid transform set"));
                continue;
            }
            let profile = match &e.isakmp_profile {
                None => None,
                Some(p) => match cfg.isakmp_profile(p) {
                    Some(x) => Some(x),
                    None => {
                        skipped.push(format!("{name}: set isakmp-profile {p}: no such profile"));
                        continue;
                    }
                },
            };
            if let Some(p) = profile.filter(|p| !p.serves(cfg, local)) {
                skipped.push(format!(
                    "{name}: isakmp profile {}: its local-address is not {local}",
                    p.name
                ));
                continue;
            }
            let mut candidates = Vec::new();
            let rsa = cfg.rsa_sig_config(profile);
            for &p in &e.peers {
                match cfg.entry_key(p, local, profile) {
                    Ok(_) => candidates.push(p),
                    Err(_) if matches!(rsa, Ok(Some(_))) => candidates.push(p),
                    Err(_) if aggressive_peer(cfg, p).is_some() => candidates.push(p),
                    Err(why) if p != peer_addr => {
                        skipped.push(format!("{name}: backup peer {p} is never tried: {why}"));
                    }
                    Err(_) => {}
                }
            }
            let address_keys = dynamic_keys(cfg, local, profile);
            let identity_keys = identity_keys(cfg, local, profile);
            let am_peer = aggressive_peer(cfg, peer_addr).filter(|_| dynamic.is_none());
            let key = match (&dynamic, cfg.entry_key(peer_addr, local, profile)) {
                // `set aggressive-mode password`: the key of this peer's Aggressive Mode.
                (None, _) if am_peer.is_some() => am_peer.as_ref().map(|(k, _)| k.clone()),
                (_, Ok(k)) => Some(k),
                // The key is chosen per peer from `keys` or by identity below.
                (Some(_), Err(_)) if !address_keys.is_empty() || !identity_keys.is_empty() => {
                    Some(PskSecret::new(b""))
                }
                (_, Err(_)) if matches!(rsa, Ok(Some(_))) => None,
                (_, Err(why)) => {
                    skipped.push(rsa_note(&name, why, &rsa));
                    continue;
                }
            };
            let has_key = key.is_some();
            let mut pc = PeerConfig::new(peer_addr, key.unwrap_or_else(|| PskSecret::new(b"")));
            if dynamic.is_some() {
                pc.keys = address_keys;
            }
            pc.identity_keys = identity_keys;
            pc.aggressive = match (&dynamic, am_peer, profile) {
                (Some(_), _, _) => None,
                (None, Some((_, id)), _) => Some(id),
                (None, None, Some(p)) if p.initiate_aggressive => {
                    Some(phase1_id(cfg.local_identity(Some(p)), local))
                }
                _ => None,
            };
            pc.local_identity = cfg.local_identity(profile);
            if let Some(p) = profile {
                pc.identities = p.match_addresses.clone();
                pc.host_identities = p.match_hosts.clone();
                pc.dpd = p.keepalive.map(|(interval_secs, retry_secs)| DpdConfig {
                    interval_secs,
                    retry_secs,
                    mode: cfg.ipsec.dpd.map_or(DpdMode::OnDemand, |d| d.mode),
                });
            }
            pc.local_address = Some(local);
            pc.isakmp_policies = cfg.isakmp_policies.clone();
            apply_rsa_sig(&mut pc, rsa, has_key, &name, &mut skipped);
            pc.transform_sets = sets;
            pc.pfs_group = e.pfs_group;
            pc.lifetime_secs = e.lifetime_secs.unwrap_or(cfg.ipsec.sa_lifetime_secs);
            pc.lifetime_kb = e.lifetime_kb.unwrap_or(cfg.ipsec.sa_lifetime_kb);
            // `crypto map M client authentication list L`: XAUTH for this map's clients, only
            // if L is a local login list under `aaa new-model`; otherwise every user would be
            // refused, so the entry is not built and the reason is shown.
            // The profile's list, else the map's (IOS: the profile's settings win).
            let list = profile
                .and_then(|p| p.client_auth_list.as_ref())
                .or_else(|| {
                    cfg.map_client_auth
                        .iter()
                        .find(|(m, _)| m == map)
                        .map(|(_, l)| l)
                });
            if let Some(list) = list {
                match cfg.aaa.xauth_server(list) {
                    Some(x) => pc.xauth_server = Some(x),
                    None => {
                        skipped.push(format!(
                            "{name}: client authentication list {list}: no `aaa authentication login {list} local` under `aaa new-model`"
                        ));
                        continue;
                    }
                }
            }
            match mode_config_server(cfg, map, profile) {
                Ok(m) => pc.mode_config = m,
                Err(why) => {
                    skipped.push(format!("{name}: {why}"));
                    continue;
                }
            }
            let mut line_selector = Vec::with_capacity(acl.entries.len());
            for l in &acl.entries {
                if l.action != AclAction::Permit {
                    line_selector.push(None);
                    continue;
                }
                match l.to_selectors() {
                    Some((local, remote)) => {
                        line_selector.push(Some(pc.selectors.len()));
                        pc.selectors.push(SelectorPair { local, remote });
                    }
                    None => {
                        skipped.push(format!(
                            "{name}: access-list {} line {} cannot be a proxy identity; \
                             matching packets are dropped",
                            acl.name, l.seq
                        ));
                        line_selector.push(None);
                    }
                }
            }
            entries.push(MapEntryInfo {
                map: e.map.clone(),
                seq: e.seq,
                interface: ifc.name.clone(),
                local,
                local_interface: local_if.to_string(),
                df_bit: ifc.df_bit.unwrap_or(cfg.ipsec.df_bit),
                peer_addr,
                peers: candidates,
                default_peer: e.default_peer,
                peer: PeerId(peers.len()),
                acl,
                line_selector,
                pfs_group: e.pfs_group,
                dynamic,
                replay_window: e.replay_window.unwrap_or(cfg.ipsec.replay_window),
                isakmp_profile: e.isakmp_profile.clone(),
                reverse_route: e.reverse_route,
                rri_tag: e.reverse_route_tag.unwrap_or(0),
                rri_distance: e
                    .reverse_route_distance
                    .unwrap_or(crate::policy::ReverseRoute::DEFAULT_DISTANCE),
                idle_time: e.idle_time.or(cfg.ipsec.sa_idle_time),
                vti: None,
                any_proxies,
            });
            peers.push(pc);
        }
    }
    for ifc in cfg.vtis() {
        any_interface = true;
        if ifc.shutdown {
            continue;
        }
        if let Some(e) = vti_entry(cfg, ifc, local_override, PeerId(peers.len()), &mut skipped) {
            peers.push(e.1);
            entries.push(e.0);
        }
    }
    if !any_interface {
        return Err(BuildError::NoCryptoInterface);
    }
    if entries.is_empty() {
        return Err(BuildError::NoUsableEntry(skipped.join("; ")));
    }
    super::ezvpn::finish(cfg, &entries, &mut peers);
    let easy_vpn = peers
        .iter()
        .any(|p| p.mode_config.is_some() || p.mode_config_client.is_some());
    let rsa_sig_aggressive =
        !cfg.aggressive_mode_disabled && peers.iter().any(|p| p.rsa_sig.is_some());
    let endpoint = EndpointConfig {
        send_unity_vid: easy_vpn,
        peers,
        nat_traversal: cfg.ipsec.nat_t,
        force_udp_encaps: cfg.ipsec.force_udp_encaps,
        nat_keepalive: cfg
            .ipsec
            .nat_keepalive_secs
            .map(|s| Duration::from_secs(u64::from(s))),
        dpd: cfg.ipsec.dpd,
        aggressive_mode: cfg.aggressive_mode_in_use() || rsa_sig_aggressive,
        aggressive_mode_certificates_only: !cfg.aggressive_mode_in_use(),
        fragmentation: cfg
            .ipsec
            .ike_fragmentation_mtu
            .map(crate::ike::FragmentationConfig::with_mtu),
        ..EndpointConfig::default()
    };
    Ok(Built {
        endpoint,
        entries,
        skipped,
    })
}

/// The Phase 1 identity an Aggressive Mode initiator sends for our resolved local identity.
fn phase1_id(
    id: crate::policy::LocalIdentity,
    local: std::net::Ipv4Addr,
) -> crate::policy::Phase1Id {
    use crate::policy::{LocalIdentity, Phase1Id};
    match id {
        LocalIdentity::Address => Phase1Id::Ipv4(local),
        LocalIdentity::Fqdn(f) => Phase1Id::Fqdn(f),
        LocalIdentity::UserFqdn(u) => Phase1Id::UserFqdn(u),
        // The endpoint sends its certificate's subject instead when it has one.
        LocalIdentity::Dn => Phase1Id::Ipv4(local),
    }
}

/// The Mode Config server of a map entry: the profile's `isakmp authorization list` and
/// `client configuration address`, else the map's. `Ok(None)`: no address assignment is
/// configured. `Err`: one is, but it cannot work as written (the entry is not built, so no
/// client is left half-configured).
fn mode_config_server(
    cfg: &GatewayConfig,
    map: &str,
    profile: Option<&crate::policy::IsakmpProfile>,
) -> Result<Option<crate::policy::ModeConfigServer>, String> {
    use crate::policy::{AclAction, ModeConfigServer, ResolvedGroup};
    let by_map = |v: &[(String, String)]| v.iter().find(|(m, _)| m == map).map(|(_, l)| l.clone());
    let list = profile
        .and_then(|p| p.isakmp_authorization_list.clone())
        .or_else(|| by_map(&cfg.map_isakmp_authorization));
    let assignment = profile.and_then(|p| p.client_configuration).or_else(|| {
        cfg.map_client_configuration
            .iter()
            .find(|(m, _)| m == map)
            .map(|(_, a)| *a)
    });
    let Some(assignment) = assignment else {
        return Ok(None);
    };
    let Some(list) = list else {
        return Err(format!(
            "client configuration address {} without isakmp authorization list: no group policy to configure clients from",
            assignment.keyword()
        ));
    };
    if !cfg.aaa.local_network_authorization(&list) {
        return Err(format!(
            "isakmp authorization list {list}: no `aaa authorization network {list} local` under `aaa new-model`"
        ));
    }
    let mut groups = Vec::with_capacity(cfg.client_groups.len());
    for g in &cfg.client_groups {
        if profile.is_some_and(|p| !p.match_groups.is_empty() && !p.match_groups.contains(&g.name))
        {
            continue;
        }
        let mut split = Vec::new();
        if let Some(name) = &g.split_acl {
            let Some(acl) = cfg.access_list(name) else {
                return Err(format!(
                    "client configuration group {}: acl {name} does not exist",
                    g.name
                ));
            };
            for l in acl.entries.iter().filter(|l| l.action == AclAction::Permit) {
                let Some(mask) = l.src.subnet_mask() else {
                    return Err(format!(
                        "client configuration group {}: access-list {name} line {} has a non-contiguous wildcard, which a split-tunnel network cannot carry",
                        g.name, l.seq
                    ));
                };
                split.push((l.src.addr, mask));
            }
        }
        groups.push(ResolvedGroup {
            group: g.clone(),
            pool: g
                .pool
                .as_ref()
                .and_then(|p| cfg.local_pools.iter().find(|l| &l.name == p))
                .cloned(),
            split,
        });
    }
    Ok(Some(ModeConfigServer {
        list,
        assignment,
        groups,
    }))
}

/// Why an entry with neither a key nor a usable certificate is not built.
fn rsa_note(
    name: &str,
    why: String,
    rsa: &Result<Option<crate::policy::RsaSigConfig>, String>,
) -> String {
    match rsa {
        Err(r) => format!("{name}: {why}; rsa-sig: {r}"),
        _ => format!("{name}: {why}"),
    }
}

/// Gives the entry its certificate and key when rsa-sig policies exist. Without a pre-shared
/// key for the peer only the rsa-sig policies are kept, so no pre-share proposal goes out with
/// an empty key; an unusable certificate setup is noted (the entry still runs with its key).
fn apply_rsa_sig(
    pc: &mut PeerConfig,
    rsa: Result<Option<crate::policy::RsaSigConfig>, String>,
    has_key: bool,
    name: &str,
    skipped: &mut Vec<String>,
) {
    match rsa {
        Ok(Some(r)) => {
            if !has_key {
                pc.isakmp_policies
                    .retain(|p| p.authentication == crate::policy::IkeAuth::RsaSig);
            }
            pc.rsa_sig = Some(r);
        }
        Ok(None) => {}
        Err(why) => skipped.push(format!("{name}: rsa-sig policies not offered: {why}")),
    }
}
