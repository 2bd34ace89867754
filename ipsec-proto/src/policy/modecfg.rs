//! Mode Config server policy (draft-dukes-ike-mode-cfg-02 with Cisco Unity attributes): what an
//! Easy VPN server hands its remote-access clients.
//!
//! IOS spreads it over `ip local pool NAME FIRST [LAST]`, `crypto isakmp client configuration
//! group G` (key, dns, wins, domain, pool, acl, save-password, pfs, netmask, banner,
//! max-users, backup-gateway), `aaa authorization network L local`, and on the crypto map or
//! ISAKMP profile `isakmp authorization list L` with `client configuration address
//! respond|initiate`. These types hold it as plain data; [`crate::tunnel`] resolves a map
//! entry's settings into a [`ModeConfigServer`] of the IKE peer.

use std::net::Ipv4Addr;

use super::isakmp::PskSecret;

/// `ip local pool NAME FIRST [LAST]`: addresses leased to remote-access clients. IOS lets one
/// name be repeated to add ranges; each line is one range here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPool {
    /// Pool name.
    pub name: String,
    /// Inclusive ranges in configuration order.
    pub ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl LocalPool {
    /// Number of addresses in the pool (ranges with `last < first` count nothing).
    pub fn size(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(a, b)| (u64::from(u32::from(*b)) + 1).saturating_sub(u64::from(u32::from(*a))))
            .sum()
    }

    /// Whether `a` is one of the pool's addresses.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.ranges.iter().any(|(f, l)| *f <= a && a <= *l)
    }
}

/// `crypto isakmp client configuration group NAME`: the Easy VPN group a client names in its
/// Aggressive Mode identity (ID_KEY_ID), with the group key and what the client is given.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientGroup {
    /// Group name (the client's ID_KEY_ID).
    pub name: String,
    /// `key K`: the group pre-shared key.
    pub key: Option<PskSecret>,
    /// `dns A [B]`: INTERNAL_IP4_DNS.
    pub dns: Vec<Ipv4Addr>,
    /// `wins A [B]`: INTERNAL_IP4_NBNS.
    pub wins: Vec<Ipv4Addr>,
    /// `domain D`: Unity DEF_DOMAIN.
    pub domain: Option<String>,
    /// `pool NAME`: where INTERNAL_IP4_ADDRESS comes from.
    pub pool: Option<String>,
    /// `acl A`: split tunnel, Unity SPLIT_INCLUDE from the ACL's permit lines' sources.
    pub split_acl: Option<String>,
    /// `save-password`: Unity SAVE_PASSWD = 1.
    pub save_password: bool,
    /// `pfs`: Unity PFS = 1 (the client must propose PFS).
    pub pfs: bool,
    /// `netmask M`: INTERNAL_IP4_NETMASK (IOS sends none without it).
    pub netmask: Option<Ipv4Addr>,
    /// `banner c ... c`: Unity BANNER.
    pub banner: Option<String>,
    /// `max-users N`: clients of this group connected at once.
    pub max_users: Option<u32>,
    /// `backup-gateway A` lines: Unity BACKUP_SERVERS.
    pub backup_gateways: Vec<Ipv4Addr>,
    /// `split-dns D` lines: Unity SPLIT_DNS.
    pub split_dns: Vec<String>,
}

/// How a map entry or profile hands out addresses (`client configuration address ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressAssignment {
    /// `respond`: answer the client's CFG_REQUEST with a CFG_REPLY.
    Respond,
    /// `initiate`: push a CFG_SET once XAUTH succeeds; the client ACKs it.
    Initiate,
}

impl AddressAssignment {
    /// The IOS keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            AddressAssignment::Respond => "respond",
            AddressAssignment::Initiate => "initiate",
        }
    }
}

/// A method of an `aaa authorization network L M...` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationMethod {
    /// `local`: the `crypto isakmp client configuration group` blocks.
    Local,
}

/// One group resolved for a map entry: its settings plus the split-tunnel networks read from
/// its ACL and its pool's ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedGroup {
    /// The group as configured.
    pub group: ClientGroup,
    /// The pool named by `pool`, if it exists.
    pub pool: Option<LocalPool>,
    /// Split-tunnel networks (address, mask) from `acl`: the sources of its permit lines.
    pub split: Vec<(Ipv4Addr, Ipv4Addr)>,
}

/// The Mode Config server of a crypto map entry or ISAKMP profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeConfigServer {
    /// `isakmp authorization list L`: the list name (shown by debug and diagnose).
    pub list: String,
    /// `client configuration address respond|initiate`.
    pub assignment: AddressAssignment,
    /// Groups the list authorizes (every local group).
    pub groups: Vec<ResolvedGroup>,
}

impl ModeConfigServer {
    /// The group a client identified as `name` belongs to.
    pub fn group(&self, name: &str) -> Option<&ResolvedGroup> {
        self.groups.iter().find(|g| g.group.name == name)
    }
}

/// `crypto ipsec client ezvpn NAME`: an Easy VPN (remote) client profile.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EzvpnClient {
    /// Profile name.
    pub name: String,
    /// `connect auto` (true, the default) or `connect manual` (wait for `crypto ipsec client
    /// ezvpn connect NAME`).
    pub connect_auto: bool,
    /// `group G key K`: the group name (sent as ID_KEY_ID) and the group key.
    pub group: Option<(String, PskSecret)>,
    /// `mode client` (false, the default: the server's pool address is used, LAN hidden behind
    /// it) or `mode network-extension` (true: the inside LAN is proposed as is).
    pub network_extension: bool,
    /// `peer A` lines in configuration order (the first is tried first).
    pub peers: Vec<Ipv4Addr>,
    /// `username U password P`: the XAUTH credentials (else none are sent and the connection
    /// waits for `crypto ipsec client ezvpn xauth`).
    pub credentials: Option<super::aaa::XauthCredentials>,
    /// `xauth userid mode interactive`: XAUTH waits for the CLI (`crypto ipsec client ezvpn
    /// xauth`) even where credentials are stored.
    pub xauth_interactive: bool,
}

/// How a Mode Config client gets its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMode {
    /// Send a REQUEST and wait for the REPLY (vpnc, Cisco clients; strongSwan `modeconfig=pull`).
    Pull,
    /// Wait for the server's SET and ACK it (strongSwan `modeconfig=push`; IOS `client
    /// configuration address initiate` servers).
    Push,
    /// Send a REQUEST without asking for an address, and keep proposing the configured local
    /// network in Quick Mode (IOS Easy VPN `mode network-extension`).
    NetworkExtension,
}

/// What a Mode Config server gave us (an Easy VPN client): the attributes of its REPLY or SET.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientSettings {
    /// INTERNAL_IP4_ADDRESS: our inner address.
    pub address: Option<Ipv4Addr>,
    /// INTERNAL_IP4_NETMASK.
    pub netmask: Option<Ipv4Addr>,
    /// INTERNAL_IP4_DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// INTERNAL_IP4_NBNS (WINS) servers.
    pub wins: Vec<Ipv4Addr>,
    /// Unity DEF_DOMAIN.
    pub domain: Option<String>,
    /// Unity BANNER.
    pub banner: Option<String>,
    /// Unity SPLIT_INCLUDE networks (address, mask); empty: everything goes through the tunnel.
    pub split: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Unity SPLIT_DNS domains.
    pub split_dns: Vec<String>,
    /// Unity SAVE_PASSWD.
    pub save_password: bool,
    /// Unity PFS: the server wants PFS in Quick Mode.
    pub pfs: bool,
    /// Unity BACKUP_SERVERS.
    pub backup_servers: Vec<String>,
    /// APPLICATION_VERSION of the server.
    pub application_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_and_membership_cover_every_range() {
        let p = LocalPool {
            name: "P".into(),
            ranges: vec![
                (Ipv4Addr::new(10, 9, 0, 10), Ipv4Addr::new(10, 9, 0, 19)),
                (Ipv4Addr::new(10, 9, 1, 1), Ipv4Addr::new(10, 9, 1, 1)),
                (Ipv4Addr::new(10, 9, 2, 5), Ipv4Addr::new(10, 9, 2, 4)),
            ],
        };
        assert_eq!(p.size(), 11);
        assert!(p.contains(Ipv4Addr::new(10, 9, 0, 10)));
        assert!(p.contains(Ipv4Addr::new(10, 9, 0, 19)));
        assert!(!p.contains(Ipv4Addr::new(10, 9, 0, 20)));
        assert!(p.contains(Ipv4Addr::new(10, 9, 1, 1)));
        assert!(!p.contains(Ipv4Addr::new(10, 9, 2, 5)));
    }
}

/// An Easy VPN remote described by its parts instead of IOS text: what a remote-access client
/// embedder knows (where it sits, the concentrator, the group and the user).
/// [`EasyVpnRemote::gateway_config`] gives the configuration that `crypto ipsec client ezvpn`
/// text would, so both go through one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EasyVpnRemote {
    /// The profile name (`show crypto ipsec client ezvpn` prints it).
    pub name: String,
    /// Our outside address and mask (IKE and ESP leave from it).
    pub local: (Ipv4Addr, Ipv4Addr),
    /// Concentrators, tried in order.
    pub peers: Vec<Ipv4Addr>,
    /// The group name (sent as ID_KEY_ID).
    pub group: String,
    /// The group key.
    pub key: super::PskSecret,
    /// XAUTH user and password; `None`: each XAUTH REQUEST is announced and answered by the
    /// embedder ([`crate::tunnel::Tunnels::ezvpn_xauth`]).
    pub credentials: Option<super::aaa::XauthCredentials>,
    /// `mode network-extension` with this inside network (address and mask of the LAN
    /// interface); `None`: `mode client`.
    pub network_extension: Option<(Ipv4Addr, Ipv4Addr)>,
    /// `connect auto` (else wait for [`crate::tunnel::Tunnels::ezvpn_connect`]).
    pub connect_auto: bool,
}

impl EasyVpnRemote {
    /// The gateway configuration of this remote: an outside interface carrying the profile,
    /// and in network-extension mode an inside interface holding the LAN.
    pub fn gateway_config(&self) -> super::GatewayConfig {
        let mut cfg = super::GatewayConfig::default();
        let mut outside = super::Interface::new("Outside");
        outside.address = Some(self.local);
        outside.ezvpn = Some((self.name.clone(), false));
        cfg.interfaces.push(outside);
        if let Some(lan) = self.network_extension {
            let mut inside = super::Interface::new("Inside");
            inside.address = Some(lan);
            inside.ezvpn = Some((self.name.clone(), true));
            cfg.interfaces.push(inside);
        }
        cfg.ezvpn_clients.push(EzvpnClient {
            name: self.name.clone(),
            connect_auto: self.connect_auto,
            group: Some((self.group.clone(), self.key.clone())),
            network_extension: self.network_extension.is_some(),
            peers: self.peers.clone(),
            credentials: self.credentials.clone(),
            xauth_interactive: false,
        });
        cfg
    }
}
