//! Easy VPN client profiles (`crypto ipsec client ezvpn NAME`): what they amount to in crypto
//! map terms, and their run-time state for `show crypto ipsec client ezvpn`.
//!
//! A profile applied on an outside interface becomes one crypto map entry, `crypto map
//! ezvpn NAME 1` (a space cannot occur in an IOS map name, so it never collides), with the
//! profile's peers, Aggressive Mode with the group name as ID_KEY_ID and the group key (as a
//! `crypto isakmp peer` block would give), XAUTH with the profile's credentials, and a Mode
//! Config REQUEST after it. In `mode client` its proxy pair is `any` to `any`: the local side
//! becomes the address the server assigns (the endpoint substitutes it). In `mode
//! network-extension` the REQUEST asks for no address and the local side is each inside
//! interface's network, proposed as it is. Either way only the split networks the server
//! names (everything, when it names none) are routed into the tunnel. The transform sets and ISAKMP policies are the
//! suites an IOS Easy VPN remote proposes on its own (AES and 3DES with SHA-1, group 2).
//! `connect auto` initiates at start and again after the tunnel goes down.

use std::net::Ipv4Addr;

use super::build::MapEntryInfo;
use super::*;
use crate::ike::PeerConfig;
use crate::policy::{
    ClientSettings, CryptoMapEntry, EspEncryption, EspIntegrity, EspMode, IkeAuth, IkeEncryption,
    IkeHash, IsakmpPeer, IsakmpPolicy, Phase1Id, TransformSet,
};

/// Map names of the entries made from profiles start with this.
pub(crate) const MAP_PREFIX: &str = "ezvpn ";

/// After a failed or lost connection, `connect auto` tries again after this long.
const RECONNECT: Duration = Duration::from_secs(10);

/// The transform sets an Easy VPN remote proposes, strongest first.
fn default_sets() -> Vec<TransformSet> {
    [
        ("ezvpn-aes256", EspEncryption::Aes256),
        ("ezvpn-aes128", EspEncryption::Aes128),
        ("ezvpn-3des", EspEncryption::TripleDes),
    ]
    .into_iter()
    .map(|(n, e)| TransformSet {
        name: n.into(),
        esp_encryption: e,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    })
    .collect()
}

fn default_policies() -> Vec<IsakmpPolicy> {
    [
        IkeEncryption::Aes { bits: 256 },
        IkeEncryption::Aes { bits: 128 },
        IkeEncryption::TripleDes,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, encryption)| IsakmpPolicy {
        priority: 65_001 + u16::try_from(i).unwrap_or(0),
        encryption,
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        group: 2,
        lifetime_secs: 86_400,
    })
    .collect()
}

/// `cfg` with every applied Easy VPN profile turned into its crypto map entry; `None` when
/// there is none. A profile that cannot run is named in `skipped`.
pub(super) fn expand(cfg: &GatewayConfig, skipped: &mut Vec<String>) -> Option<GatewayConfig> {
    if cfg.ezvpn_clients.is_empty() {
        return None;
    }
    let mut out = cfg.clone();
    let mut any = false;
    for ez in &cfg.ezvpn_clients {
        let name = format!("crypto ipsec client ezvpn {}", ez.name);
        let Some(ifc) = cfg.interfaces.iter().position(|i| {
            i.ezvpn
                .as_ref()
                .is_some_and(|(n, inside)| *n == ez.name && !inside)
        }) else {
            skipped.push(format!("{name}: applied on no outside interface"));
            continue;
        };
        let Some((group, key)) = &ez.group else {
            skipped.push(format!("{name}: no `group G key K`"));
            continue;
        };
        if ez.peers.is_empty() {
            skipped.push(format!("{name}: no `peer`"));
            continue;
        }
        // Network extension proposes the inside LANs as they are; client mode proposes the
        // address the server assigns (the endpoint substitutes it for `any`).
        let lans = inside_networks(cfg, &ez.name);
        if ez.network_extension && lans.is_empty() {
            skipped.push(format!(
                "{name}: mode network-extension needs an inside interface with an address \
                 (`crypto ipsec client ezvpn {} inside`)",
                ez.name
            ));
            continue;
        }
        let map = format!("{MAP_PREFIX}{}", ez.name);
        if let Some(i) = out.interfaces.get_mut(ifc) {
            if let Some(m) = &i.crypto_map {
                skipped.push(format!(
                    "{name}: interface {} already carries crypto map {m}",
                    i.name
                ));
                continue;
            }
            i.crypto_map = Some(map.clone());
        }
        let acl = map.clone();
        out.access_lists.push(if ez.network_extension {
            let sources: Vec<crate::policy::AddrMatch> = lans
                .iter()
                .map(|(a, m)| crate::policy::AddrMatch {
                    addr: Ipv4Addr::from(u32::from(*a) & u32::from(*m)),
                    wildcard: Ipv4Addr::from(!u32::from(*m)),
                })
                .collect();
            super::build::from_acl(acl.clone(), &sources)
        } else {
            super::build::any_acl(acl.clone())
        });
        let sets = default_sets();
        let mut e = CryptoMapEntry::new(map, 1);
        e.peers = ez.peers.clone();
        e.transform_sets = sets.iter().map(|t| t.name.clone()).collect();
        e.acl = Some(acl);
        for t in sets {
            if out.transform_set(&t.name).is_none() {
                out.transform_sets.push(t);
            }
        }
        out.crypto_maps.push(e);
        for p in &ez.peers {
            out.isakmp_peers.retain(|x| x.address != *p);
            out.isakmp_peers.push(IsakmpPeer {
                address: *p,
                password: Some(key.clone()),
                client_endpoint: Some(Phase1Id::KeyId(group.as_bytes().to_vec())),
            });
        }
        any = true;
    }
    if !any {
        return None;
    }
    if out.isakmp_policies.is_empty() {
        out.isakmp_policies = default_policies();
    }
    Some(out)
}

/// The networks of the interfaces that carry `crypto ipsec client ezvpn NAME inside`.
fn inside_networks(cfg: &GatewayConfig, name: &str) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    cfg.interfaces
        .iter()
        .filter(|i| {
            i.ezvpn
                .as_ref()
                .is_some_and(|(n, inside)| n == name && *inside)
        })
        .filter_map(|i| i.address)
        .collect()
}

/// The profile an entry was made from.
pub(super) fn profile_of(entry: &MapEntryInfo) -> Option<&str> {
    entry.map.strip_prefix(MAP_PREFIX)
}

/// Gives the endpoint peers of profile entries their XAUTH credentials and Mode Config.
pub(super) fn finish(cfg: &GatewayConfig, entries: &[MapEntryInfo], peers: &mut [PeerConfig]) {
    for e in entries {
        let Some(name) = profile_of(e) else { continue };
        let Some(ez) = cfg.ezvpn_clients.iter().find(|z| z.name == name) else {
            continue;
        };
        if let Some(p) = peers.get_mut(e.peer.0) {
            p.xauth_client = ez.credentials.clone().filter(|_| !ez.xauth_interactive);
            p.xauth_prompt = p.xauth_client.is_none();
            p.mode_config_client = Some(if ez.network_extension {
                crate::policy::ClientMode::NetworkExtension
            } else {
                crate::policy::ClientMode::Pull
            });
        }
    }
}

/// Why [`Tunnels::ezvpn_xauth`] could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EzvpnXauthError {
    /// No Easy VPN profile of that name is applied.
    #[error("no Easy VPN profile of that name")]
    NoSuchProfile,
    /// The profile's server is not waiting for credentials.
    #[error("no XAUTH request is pending")]
    NotPending,
}

/// The run-time state of one Easy VPN client profile.
#[derive(Debug)]
pub(super) struct Ezvpn {
    pub(super) name: String,
    pub(super) entry: usize,
    pub(super) flow: usize,
    pub(super) outside: String,
    pub(super) inside: Vec<String>,
    pub(super) connect_auto: bool,
    /// `mode network-extension`: the LAN goes through as it is; no address is taken.
    pub(super) network_extension: bool,
    pub(super) next_attempt: Option<Instant>,
    /// What the server gave on the current connection.
    pub(super) settings: Option<ClientSettings>,
    /// The ISAKMP SA of the current connection.
    pub(super) conn_id: Option<u32>,
    /// The IOS state name `show crypto ipsec client ezvpn` prints.
    pub(super) state: &'static str,
    pub(super) last_event: &'static str,
    /// Split-network routes held for the current connection.
    pub(super) routes: Vec<InjectedRoute>,
}

/// The profiles among `entries`.
pub(super) fn ezvpns_of(
    entries: &[MapEntryInfo],
    flow_base: &[usize],
    config: &GatewayConfig,
) -> Vec<Ezvpn> {
    let mut v = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(name) = profile_of(e) else { continue };
        let Some(ez) = config.ezvpn_clients.iter().find(|z| z.name == name) else {
            continue;
        };
        let inside = config
            .interfaces
            .iter()
            .filter(|x| {
                x.ezvpn
                    .as_ref()
                    .is_some_and(|(n, inside)| n == name && *inside)
            })
            .map(|x| x.name.clone())
            .collect();
        v.push(Ezvpn {
            name: name.to_string(),
            entry: i,
            flow: flow_base.get(i).copied().unwrap_or(usize::MAX),
            outside: e.interface.clone(),
            inside,
            connect_auto: ez.connect_auto,
            network_extension: ez.network_extension,
            next_attempt: ez.connect_auto.then_some(Instant::from_millis(0)),
            settings: None,
            conn_id: None,
            state: if ez.connect_auto {
                "CONNECT_PENDING"
            } else {
                "CONNECT_REQUIRED"
            },
            last_event: "CONN_INIT",
            routes: Vec::new(),
        });
    }
    v
}

impl Tunnels {
    /// Earliest Easy VPN attempt due.
    pub(super) fn ezvpn_due(&self) -> Option<Instant> {
        self.ezvpns.iter().filter_map(|z| z.next_attempt).min()
    }

    /// Connects the profiles whose attempt is due.
    pub(super) fn ezvpn_timeout(&mut self, now: Instant, out: &mut Outputs) {
        for i in 0..self.ezvpns.len() {
            let Some(z) = self.ezvpns.get_mut(i) else {
                continue;
            };
            if z.next_attempt.is_none_or(|t| t > now) {
                continue;
            }
            z.next_attempt = None;
            z.state = "IKE_INIT";
            z.last_event = "CONNECT";
            let (entry, flow) = (z.entry, z.flow);
            if let Err(err) = self.initiate_unprompted(now, entry, flow, out) {
                if let Some(z) = self.ezvpns.get_mut(i) {
                    out.debug(
                        DebugKind::Isakmp,
                        format_args!("EZVPN({}): cannot connect: {err}", z.name),
                    );
                    z.next_attempt = Some(now + RECONNECT);
                }
            }
        }
        self.pump(now, out);
    }

    fn ezvpn_of_entry(&mut self, entry: usize) -> Option<&mut Ezvpn> {
        self.ezvpns.iter_mut().find(|z| z.entry == entry)
    }

    /// The server configured the profile of `entry`: route its split networks (everything,
    /// when it names none) into the tunnel. Everything is two halves, 0.0.0.0/1 and
    /// 128.0.0.0/1: more specific than the host's default route, so they win without
    /// replacing it, and less specific than its connected LANs, which stay local. The peer
    /// itself must stay outside them (the engine pins it to the underlay).
    pub(super) fn ezvpn_configured(&mut self, entry: usize, conn_id: u32, s: &ClientSettings) {
        let half = Ipv4Addr::new(128, 0, 0, 0);
        let nets: Vec<(Ipv4Addr, Ipv4Addr)> = if s.split.is_empty() {
            vec![(Ipv4Addr::UNSPECIFIED, half), (half, half)]
        } else {
            s.split.clone()
        };
        let routes: Vec<InjectedRoute> = nets
            .iter()
            .map(|(a, m)| InjectedRoute {
                entry,
                prefix: Ipv4Addr::from(u32::from(*a) & u32::from(*m)),
                mask: *m,
                tag: 0,
                distance: 1,
                publish: true,
            })
            .collect();
        let Some(z) = self.ezvpn_of_entry(entry) else {
            return;
        };
        let pat = s.address.filter(|_| !z.network_extension);
        z.settings = Some(s.clone());
        z.conn_id = Some(conn_id);
        z.state = "IPSEC_ACTIVE";
        z.last_event = "MODE_CONFIG_REPLY";
        let old = std::mem::replace(&mut z.routes, routes.clone());
        for r in old {
            self.release_route(&r);
        }
        for r in routes {
            self.hold_route(r);
        }
        match pat {
            Some(a) => self.pat_start(entry, a),
            None => self.pat_stop(entry),
        }
    }

    /// The connection of `entry` went (its ISAKMP SA, or an attempt failed): forget what the
    /// server gave, withdraw the routes, and under `connect auto` try again.
    pub(super) fn ezvpn_down(&mut self, now: Instant, entry: usize, conn_id: Option<u32>) {
        let Some(z) = self.ezvpn_of_entry(entry) else {
            return;
        };
        if conn_id.is_some() && z.conn_id.is_some() && z.conn_id != conn_id {
            return;
        }
        z.settings = None;
        z.conn_id = None;
        z.state = if z.connect_auto {
            "CONNECT_PENDING"
        } else {
            "CONNECT_REQUIRED"
        };
        z.last_event = "CONN_DOWN";
        if z.connect_auto && z.next_attempt.is_none() {
            z.next_attempt = Some(now + RECONNECT);
        }
        let routes = std::mem::take(&mut z.routes);
        for r in routes {
            self.release_route(&r);
        }
        self.pat_stop(entry);
    }

    /// The server of `entry`'s profile asks for credentials we do not store: say so as IOS
    /// does and wait for [`Tunnels::ezvpn_xauth`].
    pub(super) fn ezvpn_prompted(
        &mut self,
        entry: usize,
        conn_id: u32,
        message: Option<String>,
        out: &mut Outputs,
    ) {
        let Some(z) = self.ezvpn_of_entry(entry) else {
            return;
        };
        z.conn_id = Some(conn_id);
        z.state = "XAUTH_PROMPT";
        z.last_event = "XAUTH_REQUEST";
        let profile = z.name.clone();
        out.warning(format_args!(
            "%CRYPTO-6-EZVPN_CONNECTION_UP: EZVPN({profile}): Pending XAuth Request, Please enter the following command: crypto ipsec client ezvpn xauth"
        ));
        self.push_event(TunnelEvent::CredentialsNeeded {
            entry,
            profile,
            message,
        });
    }

    /// `crypto ipsec client ezvpn xauth`: answers the XAUTH REQUEST that profile `name`'s
    /// server is waiting on with credentials typed by the user (used for this REQUEST only,
    /// never stored).
    pub fn ezvpn_xauth(
        &mut self,
        now: Instant,
        name: &str,
        credentials: &crate::policy::XauthCredentials,
        out: &mut Outputs,
    ) -> Result<(), EzvpnXauthError> {
        let Some(z) = self.ezvpns.iter_mut().find(|z| z.name == name) else {
            return Err(EzvpnXauthError::NoSuchProfile);
        };
        let Some(conn) = z.conn_id.filter(|_| z.state == "XAUTH_PROMPT") else {
            return Err(EzvpnXauthError::NotPending);
        };
        self.endpoint
            .xauth_answer(crate::ike::IkeSaId(conn), credentials)
            .map_err(|_| EzvpnXauthError::NotPending)?;
        if let Some(z) = self.ezvpns.iter_mut().find(|z| z.name == name) {
            z.state = "XAUTH_REPLIED";
            z.last_event = "XAUTH_REQ_INFO";
        }
        self.pump(now, out);
        Ok(())
    }

    /// `crypto ipsec client ezvpn connect NAME`: connect a `connect manual` profile now.
    /// Returns false for an unknown profile.
    pub fn ezvpn_connect(&mut self, now: Instant, name: &str, out: &mut Outputs) -> bool {
        let Some(z) = self.ezvpns.iter_mut().find(|z| z.name == name) else {
            return false;
        };
        z.next_attempt = Some(now);
        self.ezvpn_timeout(now, out);
        true
    }

    /// The addresses Easy VPN servers assigned us now (for the host's inner interface).
    pub fn ezvpn_addresses(&self) -> Vec<Ipv4Addr> {
        self.ezvpns
            .iter()
            .filter(|z| !z.network_extension)
            .filter_map(|z| z.settings.as_ref()?.address)
            .collect()
    }

    /// What the profile `name` was given by its server, once connected.
    pub fn ezvpn_settings(&self, name: &str) -> Option<&ClientSettings> {
        self.ezvpns
            .iter()
            .find(|z| z.name == name)
            .and_then(|z| z.settings.as_ref())
    }

    /// `show crypto ipsec client ezvpn`, in the IOS layout.
    pub fn show_ezvpn(&self) -> String {
        let mut o = String::from("Easy VPN Remote Phase: 8\n\n");
        for z in &self.ezvpns {
            o.push_str(&ezvpn_block(z, self.entries.get(z.entry)));
        }
        if self.ezvpns.is_empty() {
            o.push_str("% No Easy VPN client profile is applied\n");
        }
        o
    }
}

fn ezvpn_block(z: &Ezvpn, e: Option<&MapEntryInfo>) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "Tunnel name : {}", z.name);
    let _ = writeln!(o, "Inside interface list: {}", z.inside.join(", "));
    let _ = writeln!(o, "Outside interface: {}", z.outside);
    let _ = writeln!(o, "Current State: {}", z.state);
    let _ = writeln!(o, "Last Event: {}", z.last_event);
    if let Some(s) = &z.settings {
        if let Some(a) = s.address.filter(|_| !z.network_extension) {
            let _ = writeln!(o, "Address: {a}");
            let _ = writeln!(o, "Mask: {}", s.netmask.unwrap_or(Ipv4Addr::BROADCAST));
        }
        for (i, d) in s.dns.iter().enumerate() {
            let which = if i == 0 { "Primary" } else { "Secondary" };
            let _ = writeln!(o, "DNS {which}: {d}");
        }
        for (i, w) in s.wins.iter().enumerate() {
            let which = if i == 0 { "Primary" } else { "Secondary" };
            let _ = writeln!(o, "NBMS/WINS {which}: {w}");
        }
        if let Some(d) = &s.domain {
            let _ = writeln!(o, "Default Domain: {d}");
        }
        let _ = writeln!(
            o,
            "Save Password: {}",
            if s.save_password {
                "Allowed"
            } else {
                "Disallowed"
            }
        );
        if !s.split.is_empty() {
            let _ = writeln!(o, "Split Tunnel List: 1");
            for (a, m) in &s.split {
                let _ = writeln!(o, "       Address    : {a}");
                let _ = writeln!(o, "       Mask       : {m}");
                o.push_str(
                    "       Protocol   : 0x0\n       Source Port: 0\n       Dest Port  : 0\n",
                );
            }
        }
        if let Some(b) = &s.banner {
            o.push_str("Banner: \n");
            for l in b.lines() {
                let _ = writeln!(o, "    {l}");
            }
        }
    }
    if let Some(e) = e {
        let _ = writeln!(o, "Current EzVPN Peer: {}", e.peer_addr);
    }
    o.push('\n');
    o
}
