//! Mode Config server (draft-dukes-ike-mode-cfg-02) over the Transaction exchange, with the
//! Cisco Unity attributes an Easy VPN server hands out.
//!
//! After Phase 1, and after XAUTH STATUS=OK where XAUTH applies, the client's group is the
//! Phase 1 identity it sent (ID_KEY_ID, or an FQDN/user-FQDN equal to a group name), in
//! Aggressive Mode or in Main Mode's MM5; an address identity names no group and is refused.
//! `respond`: the client's REQUEST on a fresh message ID gets a REPLY on the same ID with the
//! attributes it asked for that the group has; a repeated REQUEST gets the same REPLY again.
//! `initiate`: we push a SET with everything the group has and wait for the ACK, retransmitting
//! on the Transaction flight (a REQUEST crossing it is answered as under `respond`). Either way an address of the group's pool is leased to the client
//! (see [`super::leases`]); a refusal (unknown group, pool exhausted, `max-users`) ends the
//! ISAKMP SA with a typed error, because IOS clients give up on a missing REPLY anyway and an
//! unconfigured client must not go on to Quick Mode.

use std::net::Ipv4Addr;

use super::leases::Client;
use super::retransmit::Flight;
use super::transaction::unexpected_cfg as unexpected;
use super::*;
use crate::ike::{ModeConfigRefusal, ModeConfigStep};
use crate::policy::{AddressAssignment, ModeConfigServer, Phase1Id, ResolvedGroup};
use crate::wire::{Attr, CfgAttrType, CfgType, ConfigPayload, ConfigSpec};

/// What the APPLICATION_VERSION attribute says about us.
const APPLICATION_VERSION: &[u8] = concat!("ipsec-rs ", env!("CARGO_PKG_VERSION")).as_bytes();

/// Mode Config progress of one ISAKMP SA.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum ModeCfg {
    /// Nothing configured yet.
    #[default]
    Idle,
    /// Server: the client's REQUEST was answered, or our SET acknowledged. Its group is its
    /// Phase 1 identity ([`IkeSa::peer_identity`]). `network_extension`: its REQUEST asked
    /// for no address (IOS `mode network-extension`), so its Quick Modes propose its own LAN.
    Configured { network_extension: bool },
    /// Server: SET pushed on `mid`, waiting for the ACK.
    Pushed { mid: u32 },
    /// Client: our REQUEST went on `mid`; Quick Mode waits for the REPLY.
    ClientRequested { mid: u32 },
    /// Client: waiting for the server's SET; Quick Mode waits for it.
    ClientAwaitingPush,
    /// Client: the server configured us; our Quick Modes propose `address` as our side.
    ClientConfigured { address: Option<Ipv4Addr> },
}

impl ModeCfg {
    /// Server: the client has been given (or is being given) its group's configuration.
    pub(super) fn configures_client(&self) -> bool {
        matches!(self, ModeCfg::Configured { .. } | ModeCfg::Pushed { .. })
    }

    /// The exchange on `mid` is ours to continue (the ACK of our SET).
    pub(super) fn awaits(&self, mid: u32) -> bool {
        matches!(self, ModeCfg::Pushed { mid: m, .. } | ModeCfg::ClientRequested { mid: m } if *m == mid)
    }

    /// Client: the inner address our Quick Modes propose instead of the configured local
    /// selector (the server refuses any other).
    pub(super) fn client_address(&self) -> Option<Ipv4Addr> {
        match self {
            ModeCfg::ClientConfigured { address } => *address,
            _ => None,
        }
    }

    /// A client's Quick Modes wait: the address they are for is not known yet.
    pub(super) fn holds_quick_mode(&self) -> bool {
        matches!(
            self,
            ModeCfg::ClientRequested { .. } | ModeCfg::ClientAwaitingPush
        )
    }
}

/// Owned attribute values, so the [`Attr`]s that borrow them can be built after.
enum Value {
    Basic(u16),
    Bytes(Vec<u8>),
}

/// The attributes of `group` for a client leased `address`; `wanted` filters them to what a
/// REQUEST asked for (None: a SET pushes everything).
fn attributes(
    group: &ResolvedGroup,
    address: Option<Ipv4Addr>,
    wanted: Option<&[u16]>,
) -> Vec<(CfgAttrType, Value)> {
    let asked = |t: CfgAttrType| wanted.is_none_or(|w| w.contains(&t.0));
    let g = &group.group;
    let mut out = Vec::new();
    let ip = |a: Ipv4Addr| Value::Bytes(a.octets().to_vec());
    if let Some(a) = address.filter(|_| asked(CfgAttrType::INTERNAL_IP4_ADDRESS)) {
        out.push((CfgAttrType::INTERNAL_IP4_ADDRESS, ip(a)));
    }
    if let Some(m) = g
        .netmask
        .filter(|_| asked(CfgAttrType::INTERNAL_IP4_NETMASK))
    {
        out.push((CfgAttrType::INTERNAL_IP4_NETMASK, ip(m)));
    }
    if asked(CfgAttrType::INTERNAL_IP4_DNS) {
        out.extend(
            g.dns
                .iter()
                .map(|a| (CfgAttrType::INTERNAL_IP4_DNS, ip(*a))),
        );
    }
    if asked(CfgAttrType::INTERNAL_IP4_NBNS) {
        out.extend(
            g.wins
                .iter()
                .map(|a| (CfgAttrType::INTERNAL_IP4_NBNS, ip(*a))),
        );
    }
    if wanted.is_some_and(|w| w.contains(&CfgAttrType::APPLICATION_VERSION.0)) {
        out.push((
            CfgAttrType::APPLICATION_VERSION,
            Value::Bytes(APPLICATION_VERSION.to_vec()),
        ));
    }
    if let Some(b) = g
        .banner
        .as_ref()
        .filter(|_| asked(CfgAttrType::UNITY_BANNER))
    {
        out.push((
            CfgAttrType::UNITY_BANNER,
            Value::Bytes(b.as_bytes().to_vec()),
        ));
    }
    if asked(CfgAttrType::UNITY_SAVE_PASSWD) && (wanted.is_some() || g.save_password) {
        out.push((
            CfgAttrType::UNITY_SAVE_PASSWD,
            Value::Basic(u16::from(g.save_password)),
        ));
    }
    if let Some(d) = g
        .domain
        .as_ref()
        .filter(|_| asked(CfgAttrType::UNITY_DEF_DOMAIN))
    {
        out.push((
            CfgAttrType::UNITY_DEF_DOMAIN,
            Value::Bytes(d.as_bytes().to_vec()),
        ));
    }
    if !g.split_dns.is_empty() && asked(CfgAttrType::UNITY_SPLITDNS_NAME) {
        out.push((
            CfgAttrType::UNITY_SPLITDNS_NAME,
            Value::Bytes(g.split_dns.join(",").into_bytes()),
        ));
    }
    if !group.split.is_empty() && asked(CfgAttrType::UNITY_SPLIT_INCLUDE) {
        // Unity split entries: address, mask, then protocol and two ports (0 = any).
        let mut v = Vec::with_capacity(group.split.len() * 14);
        for (a, m) in &group.split {
            v.extend_from_slice(&a.octets());
            v.extend_from_slice(&m.octets());
            v.extend_from_slice(&[0; 6]);
        }
        out.push((CfgAttrType::UNITY_SPLIT_INCLUDE, Value::Bytes(v)));
    }
    if asked(CfgAttrType::UNITY_PFS) && (wanted.is_some() || g.pfs) {
        out.push((CfgAttrType::UNITY_PFS, Value::Basic(u16::from(g.pfs))));
    }
    if !g.backup_gateways.is_empty() && asked(CfgAttrType::UNITY_BACKUP_SERVERS) {
        let list: Vec<String> = g.backup_gateways.iter().map(|a| a.to_string()).collect();
        out.push((
            CfgAttrType::UNITY_BACKUP_SERVERS,
            Value::Bytes(list.join(",").into_bytes()),
        ));
    }
    out
}

impl Endpoint {
    /// The Mode Config server of the peer entry `id` runs under.
    fn mode_config_server(&self, id: IkeSaId) -> Option<&ModeConfigServer> {
        let sa = self.sas.get(&id)?;
        self.peer(sa.peer)?.mode_config.as_ref()
    }

    /// Whether `id` takes Transaction messages for Mode Config: a server is configured (we
    /// responded in Phase 1) or we are a Mode Config client (we initiated).
    pub(super) fn serves_mode_config(&self, id: IkeSaId) -> bool {
        let Some(sa) = self.sas.get(&id) else {
            return false;
        };
        match sa.role {
            Role::Responder => self.mode_config_server(id).is_some(),
            Role::Initiator => self
                .peer(sa.peer)
                .is_some_and(|c| c.mode_config_client.is_some()),
        }
    }

    /// XAUTH finished with STATUS=OK, or Phase 1 completed where no XAUTH applies: push the
    /// configuration if the server `initiate`s.
    pub(super) fn mode_config_after_auth(&mut self, now: Instant, id: IkeSaId) {
        if self.sas.get(&id).is_some_and(|s| s.role == Role::Initiator) {
            self.mode_config_request(now, id);
            return;
        }
        let push = self
            .mode_config_server(id)
            .is_some_and(|m| m.assignment == AddressAssignment::Initiate);
        if !push || self.sas.get(&id).is_none_or(|s| s.modecfg != ModeCfg::Idle) {
            return;
        }
        let mid = self.fresh_mid(id);
        if let Err(why) = self.send_mode_config(now, id, mid, None, None) {
            self.mode_config_refused(now, id, why);
        }
    }

    /// A Transaction message for Mode Config on a server SA.
    pub(super) fn mode_config_server_input(
        &mut self,
        now: Instant,
        id: IkeSaId,
        mid: u32,
        cfg: &ConfigPayload<'_>,
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let state = sa.state;
        if !sa.xauth.allows_quick_mode() {
            return Err(unexpected(state, "Mode Config before XAUTH STATUS=OK"));
        }
        match cfg.cfg_type() {
            // Answered under `initiate` too: a client that asks while our SET is on its way
            // (the two cross) gets the same lease, not a dead SA.
            CfgType::REQUEST => {
                let wanted: Vec<u16> = cfg.attributes().map(|a| a.attr_type()).collect();
                match self.send_mode_config(now, id, mid, Some(&wanted), Some(cfg.identifier())) {
                    Ok(()) => Ok(()),
                    Err(why) => {
                        self.mode_config_refused(now, id, why);
                        Err(Failure::Fatal)
                    }
                }
            }
            CfgType::ACK if sa.modecfg.awaits(mid) => {
                if let Some(s) = self.sas.get_mut(&id) {
                    if let Some(c) = s.crypt.as_mut() {
                        c.forget(mid);
                    }
                    s.modecfg = ModeCfg::Configured {
                        network_extension: false,
                    };
                }
                self.mode_config_event(id, ModeConfigStep::Acknowledged);
                Ok(())
            }
            _ => Err(unexpected(state, "Mode Config REQUEST or ACK expected")),
        }
    }

    /// Leases an address and sends the group's attributes: a REPLY on the client's `mid`
    /// (`wanted` and `identifier` from its REQUEST), else a SET on our fresh `mid`.
    fn send_mode_config(
        &mut self,
        now: Instant,
        id: IkeSaId,
        mid: u32,
        wanted: Option<&[u16]>,
        identifier: Option<u16>,
    ) -> Result<(), ModeConfigRefusal> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(name) = sa.peer_identity.as_ref().and_then(Phase1Id::name) else {
            let shown = sa
                .peer_identity
                .as_ref()
                .map_or_else(|| "(none)".to_string(), ToString::to_string);
            return Err(ModeConfigRefusal::IdentityNamesNoGroup(shown));
        };
        let user = sa.xauth.user().unwrap_or_default().to_owned();
        let from = sa.path.remote;
        // The group is read from the configuration while the lease table changes: two fields,
        // borrowed apart, so the group need not be copied.
        let Endpoint { config, leases, .. } = self;
        let Some(group) = config
            .peers
            .get(sa.peer.0)
            .and_then(|c| c.mode_config.as_ref())
            .and_then(|m| m.group(&name))
        else {
            return Err(ModeConfigRefusal::UnknownGroup(name));
        };
        // A client in network-extension mode asks for no address: it keeps its LAN, and a
        // lease would only take a pool address from someone else.
        let network_extension =
            wanted.is_some_and(|w| !w.contains(&CfgAttrType::INTERNAL_IP4_ADDRESS.0));
        let address = match (&group.group.pool, &group.pool) {
            (None, _) => None,
            (Some(_), _) if network_extension => None,
            (Some(p), None) => {
                return Err(ModeConfigRefusal::MissingPool {
                    group: name,
                    pool: p.clone(),
                })
            }
            (Some(_), Some(pool)) => Some(leases.acquire(
                pool,
                Client {
                    group: name.clone(),
                    user,
                    from,
                },
                id,
                group.group.max_users,
            )?),
        };
        let values = attributes(group, address, wanted);
        let attrs: Vec<Attr<'_>> = values
            .iter()
            .map(|(t, v)| match v {
                Value::Basic(b) => Attr::basic(*t, *b),
                Value::Bytes(b) => Attr::variable(*t, b),
            })
            .collect();
        let reply = identifier.is_some();
        let identifier = identifier
            .unwrap_or_else(|| u16::try_from(self.rng.nonzero_u32() & 0xffff).unwrap_or(1));
        let spec = ConfigSpec {
            cfg_type: if reply { CfgType::REPLY } else { CfgType::SET },
            identifier,
            attributes: &attrs,
        };
        // A REPLY ends the exchange; a SET keeps the message ID's IV chain for the ACK.
        let Some(m) = self.send_transaction(id, mid, &spec, !reply) else {
            return Ok(());
        };
        let delay = self.retransmit_delay(0);
        if let Some(sa) = self.sas.get_mut(&id) {
            if reply {
                sa.xflight.msg = Some(m);
                sa.modecfg = ModeCfg::Configured { network_extension };
            } else {
                sa.xflight = Flight::awaiting_answer(m, now + delay, sa.xflight.last_rx);
                sa.modecfg = ModeCfg::Pushed { mid };
            }
        }
        self.mode_config_event(
            id,
            ModeConfigStep::Sent {
                group: name,
                address,
                reply,
                attributes: attrs.len(),
            },
        );
        Ok(())
    }

    /// The client cannot be configured: the reason as an event, then Delete and remove the SA.
    fn mode_config_refused(&mut self, now: Instant, id: IkeSaId, why: ModeConfigRefusal) {
        let Some(sa) = self.sas.get(&id) else {
            return;
        };
        let (peer, remote) = (sa.peer, sa.path.remote);
        self.counters.mode_config_refused += 1;
        self.fail(
            Some(peer),
            remote,
            1,
            Error::PeerIncompatible(PeerIncompatible::ModeConfig(why)),
        );
        self.send_delete_isakmp(now, id);
        self.remove_sa(id, DeleteReason::ModeConfigRefused);
    }

    /// The SA left the table: its share of a lease goes, and the address with its last SA.
    pub(super) fn release_lease(&mut self, id: IkeSaId, peer: PeerId) {
        let freed = self.leases.release_sa(id);
        self.lease_released(id, peer, freed);
    }

    /// A new IPsec SA of `ike_sa` whose remote proxy is the client's leased /32 holds the
    /// lease too.
    pub(super) fn lease_to_child(
        &mut self,
        ike_sa: IkeSaId,
        child: ChildId,
        remote: &crate::policy::TrafficSelector,
    ) {
        let Some(a) = self.leases.of_sa(ike_sa) else {
            return;
        };
        let host = remote.addr == crate::policy::SelectorAddr::Host(a)
            || remote.addr
                == crate::policy::SelectorAddr::Subnet {
                    addr: a,
                    mask: Ipv4Addr::BROADCAST,
                };
        if host {
            self.leases.hold_child(child, a);
        }
    }

    /// An IPsec SA went: the lease it held goes with its last holder.
    pub(super) fn release_child_lease(&mut self, child: ChildId, ike_sa: IkeSaId, peer: PeerId) {
        let freed = self.leases.release_child(child);
        self.lease_released(ike_sa, peer, freed);
    }

    fn lease_released(&mut self, id: IkeSaId, peer: PeerId, freed: Option<Ipv4Addr>) {
        if let Some(address) = freed {
            self.events.push_back(Event::ModeConfig {
                sa: id,
                peer,
                step: ModeConfigStep::Released { address },
            });
        }
    }

    /// Server: the Quick Mode proxy identity `offered` of the client on `id` is its lease (or
    /// no lease is due: no Mode Config, or a group without a pool).
    pub(super) fn check_leased_proxy(
        &mut self,
        id: IkeSaId,
        offered: &crate::policy::TrafficSelector,
    ) -> Result<(), PeerIncompatible> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let group = sa.peer_identity.as_ref().and_then(Phase1Id::name);
        let from = sa.path.remote;
        // A client that re-ran Phase 1 and went straight to Quick Mode keeps its lease.
        let leased = match (self.leases.of_sa(id), &group) {
            (Some(a), _) => Some(a),
            (None, Some(g)) if sa.role == Role::Responder => self.leases.adopt(id, g, from),
            (None, _) => None,
        };
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        // Network extension: the client's own LAN, as IOS servers accept it (the dynamic
        // map's ACL, when it has one, still decides which networks may be proposed).
        if leased.is_none()
            && sa.modecfg
                == (ModeCfg::Configured {
                    network_extension: true,
                })
        {
            return Ok(());
        }
        let due = leased.is_some()
            || (sa.role == Role::Responder
                && self.mode_config_server(id).is_some_and(|m| {
                    let name = sa.peer_identity.as_ref().and_then(Phase1Id::name);
                    name.and_then(|n| m.group(&n))
                        .is_none_or(|g| g.group.pool.is_some())
                }));
        if !due {
            return Ok(());
        }
        let ok = leased.is_some_and(|a| {
            offered.addr == crate::policy::SelectorAddr::Host(a)
                || offered.addr
                    == crate::policy::SelectorAddr::Subnet {
                        addr: a,
                        mask: Ipv4Addr::BROADCAST,
                    }
        });
        if ok {
            Ok(())
        } else {
            Err(PeerIncompatible::ProxyNotLeased {
                offered: crate::ike::proposal::selector_text(offered),
                leased,
            })
        }
    }

    fn mode_config_event(&mut self, id: IkeSaId, step: ModeConfigStep) {
        if let Some(peer) = self.sas.get(&id).map(|s| s.peer) {
            self.events
                .push_back(Event::ModeConfig { sa: id, peer, step });
        }
    }
}

/// Client: the attributes we ask for (everything an Easy VPN client can use).
const REQUESTED: [CfgAttrType; 12] = [
    CfgAttrType::INTERNAL_IP4_ADDRESS,
    CfgAttrType::INTERNAL_IP4_NETMASK,
    CfgAttrType::INTERNAL_IP4_DNS,
    CfgAttrType::INTERNAL_IP4_NBNS,
    CfgAttrType::APPLICATION_VERSION,
    CfgAttrType::UNITY_BANNER,
    CfgAttrType::UNITY_SAVE_PASSWD,
    CfgAttrType::UNITY_DEF_DOMAIN,
    CfgAttrType::UNITY_SPLITDNS_NAME,
    CfgAttrType::UNITY_SPLIT_INCLUDE,
    CfgAttrType::UNITY_PFS,
    CfgAttrType::UNITY_BACKUP_SERVERS,
];

/// Reads a server's REPLY or SET. Malformed values (an address not 4 bytes, split entries not
/// a multiple of 14) refuse the whole message: a half-read configuration would route wrongly.
fn read_settings(cfg: &ConfigPayload<'_>) -> Result<crate::policy::ClientSettings, Failure> {
    let bad = |what: &'static str| Failure::from(InvalidMessage::BadPayload(what));
    let ip = |v: &[u8], what: &'static str| -> Result<Ipv4Addr, Failure> {
        <[u8; 4]>::try_from(v)
            .map(Ipv4Addr::from)
            .map_err(|_| bad(what))
    };
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut s = crate::policy::ClientSettings::default();
    for a in cfg.attributes() {
        let v = a.value();
        match CfgAttrType(a.attr_type()) {
            CfgAttrType::INTERNAL_IP4_ADDRESS => {
                s.address = Some(ip(v, "INTERNAL_IP4_ADDRESS (not 4 bytes)")?)
            }
            CfgAttrType::INTERNAL_IP4_NETMASK => {
                s.netmask = Some(ip(v, "INTERNAL_IP4_NETMASK (not 4 bytes)")?)
            }
            CfgAttrType::INTERNAL_IP4_DNS => s.dns.push(ip(v, "INTERNAL_IP4_DNS (not 4 bytes)")?),
            CfgAttrType::INTERNAL_IP4_NBNS => {
                s.wins.push(ip(v, "INTERNAL_IP4_NBNS (not 4 bytes)")?)
            }
            CfgAttrType::APPLICATION_VERSION => s.application_version = Some(text(v)),
            CfgAttrType::UNITY_BANNER => s.banner = Some(text(v)),
            CfgAttrType::UNITY_DEF_DOMAIN => s.domain = Some(text(v)),
            CfgAttrType::UNITY_SAVE_PASSWD => s.save_password = a.as_u64().is_ok_and(|x| x != 0),
            CfgAttrType::UNITY_PFS => s.pfs = a.as_u64().is_ok_and(|x| x != 0),
            CfgAttrType::UNITY_SPLITDNS_NAME => s.split_dns.extend(
                text(v)
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
            ),
            CfgAttrType::UNITY_BACKUP_SERVERS => s.backup_servers.extend(
                text(v)
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
            ),
            CfgAttrType::UNITY_SPLIT_INCLUDE => {
                s.split = split_entries(v)
                    .ok_or_else(|| bad("UNITY_SPLIT_INCLUDE (neither 14- nor 8-byte networks)"))?;
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Unity split networks: Cisco sends 14-byte entries (address, mask, protocol, two ports);
/// strongSwan 5.9.8 sends 8-byte ones (address and mask, seen in `lab_ezvpn`). The width is
/// the one under which every entry is a network (contiguous mask, no host bits), 14 first.
fn split_entries(v: &[u8]) -> Option<Vec<(Ipv4Addr, Ipv4Addr)>> {
    if v.is_empty() {
        return Some(Vec::new());
    }
    let read = |width: usize| -> Option<Vec<(Ipv4Addr, Ipv4Addr)>> {
        if !v.len().is_multiple_of(width) {
            return None;
        }
        v.chunks_exact(width)
            .map(|e| {
                let a = Ipv4Addr::from(<[u8; 4]>::try_from(e.get(..4)?).ok()?);
                let m = Ipv4Addr::from(<[u8; 4]>::try_from(e.get(4..8)?).ok()?);
                let (ab, mb) = (u32::from(a), u32::from(m));
                let contiguous = mb.leading_ones() + mb.trailing_zeros() == 32;
                (contiguous && ab & !mb == 0).then_some((a, m))
            })
            .collect()
    };
    read(14).or_else(|| read(8))
}

impl Endpoint {
    /// Client: ask for our configuration on a fresh message ID; Quick Mode waits for it.
    fn mode_config_request(&mut self, now: Instant, id: IkeSaId) {
        let client = self
            .sas
            .get(&id)
            .and_then(|s| self.peer(s.peer))
            .and_then(|c| c.mode_config_client);
        match client {
            None => return,
            Some(crate::policy::ClientMode::Push) => {
                if let Some(sa) = self.sas.get_mut(&id) {
                    sa.modecfg = ModeCfg::ClientAwaitingPush;
                }
                return;
            }
            Some(crate::policy::ClientMode::Pull | crate::policy::ClientMode::NetworkExtension) => {
            }
        }
        let extension = client == Some(crate::policy::ClientMode::NetworkExtension);
        let mid = self.fresh_mid(id);
        let identifier = u16::try_from(self.rng.nonzero_u32() & 0xffff).unwrap_or(1);
        let attrs: Vec<Attr<'_>> = REQUESTED
            .iter()
            .filter(|t| {
                !(extension
                    && matches!(
                        **t,
                        CfgAttrType::INTERNAL_IP4_ADDRESS | CfgAttrType::INTERNAL_IP4_NETMASK
                    ))
            })
            .map(|t| match *t {
                CfgAttrType::UNITY_SAVE_PASSWD | CfgAttrType::UNITY_PFS => Attr::basic(*t, 0u16),
                _ => Attr::variable(*t, &[]),
            })
            .collect();
        let spec = ConfigSpec {
            cfg_type: CfgType::REQUEST,
            identifier,
            attributes: &attrs,
        };
        let delay = self.retransmit_delay(0);
        if let Some(m) = self.send_transaction(id, mid, &spec, true) {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.xflight = Flight::awaiting_answer(m, now + delay, sa.xflight.last_rx);
                sa.modecfg = ModeCfg::ClientRequested { mid };
            }
            self.mode_config_event(id, ModeConfigStep::Requested);
        }
    }

    /// Client: the server's REPLY to our REQUEST, or a SET it pushes (which we ACK).
    pub(super) fn mode_config_client_input(
        &mut self,
        now: Instant,
        id: IkeSaId,
        mid: u32,
        cfg: &ConfigPayload<'_>,
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let state = sa.state;
        let extension = self.peer(sa.peer).is_some_and(|c| {
            c.mode_config_client == Some(crate::policy::ClientMode::NetworkExtension)
        });
        let settings = match cfg.cfg_type() {
            CfgType::REPLY if sa.modecfg.awaits(mid) => {
                let s = read_settings(cfg)?;
                if let Some(c) = self.sas.get_mut(&id).and_then(|s| s.crypt.as_mut()) {
                    c.forget(mid);
                }
                s
            }
            CfgType::SET if sa.xauth.allows_quick_mode() => {
                let s = read_settings(cfg)?;
                let spec = ConfigSpec {
                    cfg_type: CfgType::ACK,
                    identifier: cfg.identifier(),
                    attributes: &[],
                };
                if let Some(m) = self.send_transaction(id, mid, &spec, false) {
                    if let Some(sa) = self.sas.get_mut(&id) {
                        sa.xflight.msg = Some(m);
                    }
                }
                s
            }
            _ => return Err(unexpected(state, "Mode Config REPLY or SET expected")),
        };
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.modecfg = ModeCfg::ClientConfigured {
                // Network extension proposes the LAN whatever a server hands out.
                address: settings.address.filter(|_| !extension),
            };
        }
        self.mode_config_event(id, ModeConfigStep::Configured(settings));
        self.drain_pending(now, id);
        Ok(())
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn cisco_and_strongswan_split_entries_both_read() {
        let net = |a: [u8; 4], m: [u8; 4]| (Ipv4Addr::from(a), Ipv4Addr::from(m));
        let mut cisco = Vec::new();
        for (a, m) in [
            ([10, 2, 2, 0], [255, 255, 255, 0]),
            ([172, 16, 0, 0], [255, 240, 0, 0]),
        ] {
            cisco.extend_from_slice(&a);
            cisco.extend_from_slice(&m);
            cisco.extend_from_slice(&[0; 6]);
        }
        let want = vec![
            net([10, 2, 2, 0], [255, 255, 255, 0]),
            net([172, 16, 0, 0], [255, 240, 0, 0]),
        ];
        assert_eq!(split_entries(&cisco), Some(want.clone()));
        let strongswan: Vec<u8> =
            [10, 2, 2, 0, 255, 255, 255, 0, 172, 16, 0, 0, 255, 240, 0, 0].to_vec();
        assert_eq!(split_entries(&strongswan), Some(want));
        // 56 bytes: four Cisco entries or seven 8-byte ones; the networks decide.
        let mut four = Vec::new();
        for _ in 0..4 {
            four.extend_from_slice(&[10, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(split_entries(&four).map(|v| v.len()), Some(4));
        assert_eq!(split_entries(&[1, 2, 3]), None);
        assert_eq!(
            split_entries(&[10, 0, 0, 1, 255, 0, 0, 0]),
            None,
            "host bits set"
        );
        assert_eq!(split_entries(&[]), Some(Vec::new()));
    }
}
