//! The shape of the grammar: the CLI modes, the commands a line can be recognised as, and the rule
//! that decides whether a line belongs to the current sub-mode or leaves it for global mode.

use std::net::Ipv4Addr;

use crate::policy::{
    AclEntry, AclKind, DpdConfig, EspMode, IkeAuth, IkeEncryption, IkeHash, NatRule, NatSide,
    PreSharedKey, StaticRoute, TransformSet,
};

use super::lex::Cursor;
use super::{ConfigError, State};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Global,
    Policy(u16),
    TransformSet(String),
    Map(String, u16),
    /// `crypto dynamic-map NAME SEQ` (the same sub-commands as a crypto map entry).
    DynMap(String, u16),
    /// `crypto keyring NAME`.
    Keyring(String),
    /// `crypto isakmp profile NAME`.
    Profile(String),
    /// `crypto isakmp peer address A`.
    IsakmpPeer(Ipv4Addr),
    /// `crypto ipsec profile NAME`.
    IpsecProfile(String),
    /// `crypto isakmp client configuration group NAME`.
    ClientGroup(String),
    /// `crypto ipsec client ezvpn NAME`.
    Ezvpn(String),
    Interface(String),
    Acl(String),
    /// `crypto pki trustpoint NAME`.
    Trustpoint(String),
    /// `crypto pki certificate chain NAME` (the trustpoint's name).
    Chain(String),
    /// The hex lines of a chain's `certificate [ca] SERIAL`, up to `quit`; `line` and
    /// `column` are those of its `certificate` line (for a block never ended).
    CertHex {
        trustpoint: String,
        ca: bool,
        serial: String,
        line: usize,
        column: usize,
    },
    /// `crypto pki certificate map NAME SEQ`.
    CertMap(String, u16),
    /// Inside a block we do not model; its opening line had `indent` characters of indentation.
    Block {
        indent: usize,
        kind: Block,
    },
}

/// What the body of a block we do not model means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Block {
    /// No effect on IPsec (`router ospf`, `line vty`): body lines are counted as ignored.
    Skipped,
    /// An unsupported crypto block (`crypto isakmp profile`): already refused by its first
    /// line; a `vrf` in its body is refused by name as well.
    Refused,
}

#[derive(Clone, Debug)]
pub(super) enum Cmd {
    /// `aaa new-model`.
    AaaNewModel,
    /// `aaa authentication login LIST METHOD...` (only `local` is modelled).
    AaaLogin(String, Vec<crate::policy::LoginMethod>),
    /// `username U password|secret 0 P`.
    Username(crate::policy::LocalUser),
    /// `crypto map M client authentication list L`.
    MapClientAuth(String, String),
    /// `aaa authorization network LIST local` (only `local` is modelled).
    AaaNetwork(String, Vec<crate::policy::AuthorizationMethod>),
    /// `ip local pool NAME FIRST [LAST]`: one range of the pool.
    LocalPool {
        name: String,
        first: Ipv4Addr,
        last: Ipv4Addr,
    },
    /// `crypto map M isakmp authorization list L`.
    MapIsakmpAuth(String, String),
    /// `crypto map M client configuration address respond|initiate`.
    MapClientConfig(String, crate::policy::AddressAssignment),
    /// `crypto isakmp client configuration group NAME`.
    ClientGroup(String),
    /// A setting of the client configuration group being defined.
    GroupSet(GroupAttr),
    /// `crypto ipsec client ezvpn NAME`.
    Ezvpn(String),
    /// A setting of the Easy VPN client profile being defined.
    EzvpnSet(EzvpnAttr),
    /// An ignored sub-mode command (no effect on IPsec); the message says why.
    Warn(String),
    /// A global command with no effect on IPsec (named by its first words): noted once, and its
    /// indented body is skipped with it.
    Skip(String),
    /// Not configuration at all (`configure terminal`, `write memory`, `version 15.4`).
    Silent,
    /// A crypto command accepted although it has no effect here; the message says why.
    Notice(String),
    /// Like [`Cmd::Notice`] for a command that opens a block (skipped with it).
    NoticeBlock(String),
    /// A crypto command that is not implemented: the configuration is refused.
    Unsupported {
        feature: String,
        later: bool,
        block: bool,
    },
    /// `crypto pki trustpoint NAME`.
    Trustpoint(String),
    /// A setting of the trustpoint being defined.
    TpSet(TpAttr),
    /// `crypto pki certificate chain NAME` (the trustpoint exists).
    Chain(String),
    /// `certificate [ca | self-signed] SERIAL` in a chain: its hex lines follow.
    ChainCert {
        ca: bool,
        serial: String,
    },
    /// `no certificate SERIAL` in a chain.
    NoChainCert(String),
    /// `crypto pki certificate map NAME SEQ`.
    CertMap(String, u16),
    /// A rule of the certificate map entry being defined.
    CertRule(crate::policy::CertMatchRule),
    /// `no FIELD OP VALUE` in a certificate map entry.
    NoCertRule(crate::policy::CertMatchRule),
    /// `ca trust-point T` in an ISAKMP profile.
    ProfileCaTrustpoint(String),
    /// `match certificate MAP` in an ISAKMP profile.
    ProfileMatchCertificate(String),
    Exit,
    Hostname(String),
    NoHostname,
    /// `ip domain name D`.
    DomainName(String),
    /// `crypto isakmp identity address | hostname | dn`.
    IsakmpIdentity(crate::policy::IsakmpIdentity),
    /// `match identity host NAME | domain D` in a profile.
    ProfileMatchHost(crate::policy::HostIdentity),
    /// `self-identity ...` in a profile.
    ProfileSelf(crate::policy::SelfIdentity),
    Policy(u16),
    Key(PreSharedKey),
    Dpd(Option<DpdConfig>),
    NatKeepalive(Option<u32>),
    /// `crypto isakmp fragmentation [mtu N]` (None: `no crypto isakmp fragmentation`).
    IkeFragmentation(Option<u16>),
    NatT(bool),
    TransformSet(TransformSet),
    /// A transform set with a transform we do not implement: refused only if a map uses it.
    BadTransformSet {
        name: String,
        transform: String,
    },
    SaLifeSecs(u32),
    SaLifeKb(u64),
    /// `crypto ipsec security-association idle-time S [default]`.
    SaIdle(crate::policy::IdleTime),
    Replay(u32),
    /// `crypto ipsec df-bit clear|set|copy` (global).
    DfBit(crate::policy::DfBit),
    Map(String, u16),
    /// `crypto map NAME local-address IF`.
    MapLocal(String, String),
    /// `crypto keyring NAME`.
    Keyring(String),
    /// A key of the keyring being defined.
    KeyringKey(crate::policy::PreSharedKey),
    /// `local-address` of the keyring being defined.
    KeyringLocal(crate::policy::LocalAddress),
    /// `crypto isakmp profile NAME`.
    Profile(String),
    /// `crypto ipsec profile NAME`.
    IpsecProfile(String),
    /// `keyring NAME` in a profile.
    ProfileKeyring(String),
    /// Profile `client authentication list L`.
    ProfileClientAuth(String),
    /// `match identity group G` in a profile.
    ProfileMatchGroup(String),
    /// `isakmp authorization list L` in a profile.
    ProfileIsakmpAuth(String),
    /// `client configuration address respond|initiate` in a profile.
    ProfileClientConfig(crate::policy::AddressAssignment),
    /// `match identity address A M` in a profile.
    ProfileMatch(Ipv4Addr, Ipv4Addr),
    /// `local-address A | IF` in a profile.
    ProfileLocal(crate::policy::LocalAddress),
    /// `keepalive S retry R` in a profile.
    ProfileKeepalive(u32, u32),
    /// `initiate mode aggressive` in a profile.
    ProfileInitiateAggressive,
    /// `crypto isakmp aggressive-mode disable` (`false`: the `no` form).
    AggressiveDisable(bool),
    /// `crypto isakmp peer address A`.
    IsakmpPeer(Ipv4Addr),
    /// `set aggressive-mode password K` in a `crypto isakmp peer` block.
    PeerAmPassword(crate::policy::PskSecret),
    /// `set aggressive-mode client-endpoint ...` in a `crypto isakmp peer` block.
    PeerAmEndpoint(crate::policy::Phase1Id),
    /// `set isakmp-profile NAME` (`None`: the `no` form).
    SetProfile(Option<String>),
    /// `crypto dynamic-map NAME SEQ`.
    DynMap(String, u16),
    /// `crypto map NAME SEQ ipsec-isakmp dynamic DYN`.
    MapDynamic(String, u16, String),
    Interface(String),
    NamedAcl(String, AclKind),
    AclEntry {
        name: String,
        kind: AclKind,
        seq: Option<u32>,
        entry: AclEntry,
    },
    /// An access-list line that does not parse: an error if the list protects or exempts
    /// traffic (crypto map or NAT), else ignored with a note.
    AclBad {
        name: String,
        err: ConfigError,
    },
    /// An access-list entry recognised but not modelled (`established`, ICMP types).
    AclIgnored {
        name: String,
        message: String,
    },
    AclRemark {
        name: String,
        kind: AclKind,
        text: String,
    },
    NoAcl(String),
    /// `no N` inside a named access list: deletes entry N.
    NoAclEntry(String, u32),
    Route(StaticRoute),
    Nat(NatRule),
    // config-isakmp
    Encr(Option<IkeEncryption>),
    Hash(Option<IkeHash>),
    Auth(Option<IkeAuth>),
    Group(Option<u16>),
    Lifetime(Option<u32>),
    // cfg-crypto-trans
    TsMode(EspMode),
    // config-crypto-map
    SetPeer {
        peer: Option<Ipv4Addr>,
        default: bool,
        remove: bool,
    },
    SetTs(Vec<String>),
    SetPfs(Option<u16>),
    SetLifeSecs(Option<u32>),
    SetLifeKb(Option<u64>),
    /// `[no] set security-association idle-time S [default]`.
    SetIdle(Option<crate::policy::IdleTime>),
    /// `set security-association replay window-size N | disable` (`Some(0)`: disabled).
    SetReplay(Option<u32>),
    MatchAddress(Option<String>),
    /// `[no] reverse-route ...` (`mode` None: the `no` form), with a note for the operator.
    ReverseRoute {
        mode: Option<crate::policy::ReverseRoute>,
        tag: Option<u32>,
        note: Option<String>,
    },
    /// `set reverse-route tag N`.
    SetRriTag(Option<u32>),
    /// `set reverse-route distance N`.
    SetRriDistance(Option<u8>),
    // config-if
    IfAddress(Option<(Ipv4Addr, Ipv4Addr)>),
    IfNat(Option<NatSide>),
    IfCryptoMap(Option<String>),
    IfMss(Option<u16>),
    IfDescription(Option<String>),
    IfShutdown(bool),
    /// `crypto ipsec df-bit clear|set|copy` in an interface.
    IfDfBit(crate::policy::DfBit),
    /// Something that matters only if the interface carries a crypto map (`ip address dhcp`,
    /// `vrf forwarding`): the feature's name and whether it is planned.
    IfIfCrypto {
        feature: String,
        later: bool,
    },
    /// `ip address dhcp|negotiated` (the keyword): the address is the host's.
    IfDynamicAddress(String),
    /// `tunnel mode ...` (words after `mode`).
    IfTunnelMode(String),
    /// `tunnel protection ipsec profile NAME` (`None`: the `no` form).
    IfTunnelProtection(Option<String>),
    /// `tunnel source IF | A` (`None`: the `no` form).
    IfTunnelSource(Option<crate::policy::TunnelSource>),
    /// `tunnel destination A` (`None`: the `no` form).
    IfTunnelDestination(Option<Ipv4Addr>),
    /// `ip unnumbered IF` (`None`: the `no` form).
    IfUnnumbered(Option<String>),
    /// `ip mtu N` (`None`: the `no` form).
    IfIpMtu(Option<u16>),
    /// `keepalive ...` (`false`: the `no` form).
    IfKeepalive(bool),
    /// `crypto ipsec client ezvpn NAME [inside]` in an interface (`None`: the `no` form).
    IfEzvpn(Option<(String, bool)>),
}

/// One line of a `crypto pki trustpoint` block; `None` or the default is its `no` form.
#[derive(Clone, Debug)]
pub(super) enum TpAttr {
    Enrollment(Option<crate::policy::Enrollment>),
    SubjectName(Option<String>),
    Revocation(crate::policy::pki::RevocationCheck),
    RsaKeypair(Option<String>),
}

/// One line of a `crypto ipsec client ezvpn` block; `None` or the default is its `no` form.
#[derive(Clone, Debug)]
pub(super) enum EzvpnAttr {
    /// `connect auto` (true) or `connect manual`.
    Connect(bool),
    Group(Option<(String, crate::policy::PskSecret)>),
    /// `mode network-extension` (true) or `mode client`.
    NetworkExtension(bool),
    /// `peer A [default]` adds A (first with `default`); `no peer [A]` removes A (every one
    /// without it).
    Peer {
        addr: Option<Ipv4Addr>,
        default: bool,
        remove: bool,
    },
    Credentials(Option<crate::policy::XauthCredentials>),
    /// `xauth userid mode local`: the stored credentials answer XAUTH, so they must exist by
    /// the end of the text (checked in `finish.rs`).
    XauthLocal,
    /// `xauth userid mode interactive`: every XAUTH REQUEST waits for `crypto ipsec client
    /// ezvpn xauth`, stored credentials or not.
    XauthInteractive,
}

/// One line of a `crypto isakmp client configuration group` block; `None`, `false` or empty is
/// its `no` form.
#[derive(Clone, Debug)]
pub(super) enum GroupAttr {
    Key(Option<crate::policy::PskSecret>),
    Dns(Vec<Ipv4Addr>),
    Wins(Vec<Ipv4Addr>),
    Domain(Option<String>),
    Pool(Option<String>),
    Acl(Option<String>),
    SavePassword(bool),
    Pfs(bool),
    Netmask(Option<Ipv4Addr>),
    Banner(Option<String>),
    MaxUsers(Option<u32>),
    /// `backup-gateway A` adds A; `no backup-gateway [A]` removes A (every one without it).
    BackupGateway {
        addr: Option<Ipv4Addr>,
        remove: bool,
    },
    /// `split-dns D` adds D; `no split-dns [D]` removes D (every one without it).
    SplitDns {
        name: Option<String>,
        remove: bool,
    },
}

/// Whole words that begin IOS global configuration commands. A word in this list that the
/// current sub-mode does not know leaves the sub-mode, whatever its indentation; any other word
/// is taken as a (mistyped or unmodelled) command of the sub-mode.
pub(super) const KNOWN_GLOBAL: &[&str] = &[
    "aaa",
    "access-list",
    "alias",
    "application",
    "archive",
    "banner",
    "bfd",
    "boot",
    "boot-end-marker",
    "boot-start-marker",
    "bridge",
    "call-home",
    "card",
    "cdp",
    "chat-script",
    "class-map",
    "clock",
    "config-register",
    "configure",
    "control-plane",
    "controller",
    "copy",
    "crypto",
    "cts",
    "default",
    "device-tracking",
    "dial-peer",
    "diagnostic",
    "do",
    "dot11",
    "enable",
    "end",
    "ephone",
    "ephone-dn",
    "errdisable",
    "ethernet",
    "event",
    "exit",
    "file",
    "flow",
    "hostname",
    "hw-module",
    "interface",
    "ip",
    "ipv6",
    "key",
    "license",
    "line",
    "lldp",
    "logging",
    "login",
    "mac-address-table",
    "memory-size",
    "mgcp",
    "mls",
    "monitor",
    "mpls",
    "multilink",
    "netconf",
    "no",
    "ntp",
    "object-group",
    "parameter-map",
    "platform",
    "policy-map",
    "privilege",
    "process",
    "radius",
    "radius-server",
    "redundancy",
    "restconf",
    "rmon",
    "route-map",
    "router",
    "sccp",
    "scheduler",
    "sdm",
    "security",
    "service",
    "sip-ua",
    "snmp",
    "snmp-server",
    "spanning-tree",
    "stcapp",
    "subscriber",
    "system",
    "table-map",
    "tacacs",
    "tacacs-server",
    "telephony-service",
    "template",
    "track",
    "transceiver",
    "udld",
    "username",
    "version",
    "virtual-service",
    "vlan",
    "voice",
    "vpdn",
    "vrf",
    "vtp",
    "webvpn",
    "write",
    "wsma",
    "zone",
    "zone-pair",
];

/// `crypto ipsec client ezvpn NAME` with nothing after the name (the `inside`/`outside`
/// forms are interface commands only).
fn is_ezvpn_profile(cur: &Cursor<'_>) -> bool {
    let words: Vec<String> = cur
        .toks
        .iter()
        .map(|t| t.text.to_ascii_lowercase())
        .collect();
    matches!(words.as_slice(), [a, b, c, d, _] if a == "crypto" && b == "ipsec" && c == "client" && d == "ezvpn")
}

impl Cmd {
    /// Takes effect as a global command (leaves a sub-mode): anything but an ignored command.
    fn effective(&self) -> bool {
        !matches!(self, Cmd::Skip(_) | Cmd::Warn(_))
    }
}

impl State {
    /// Recognises one non-empty line in the current mode (falling back to global mode, see the
    /// [module documentation](super)) and applies it.
    pub(super) fn line(&mut self, cur: Cursor<'_>) -> Result<(), ConfigError> {
        let line = cur.line;
        let col = cur.col();
        match self.mode.clone() {
            Mode::Global => {
                let mut c = cur;
                let cmd = self.global(&mut c)?;
                self.apply(cmd, line, col);
                Ok(())
            }
            Mode::Block { indent, kind } => self.block_line(cur, indent, kind),
            Mode::CertHex { .. } => self.cert_hex_line(&cur),
            mode => self.sub_line(cur, &mode),
        }
    }

    /// A line inside a block we do not model: at the block's indentation or less it leaves the
    /// block; indented further it belongs to it, unless it is one of the crypto, interface,
    /// access-list, route, NAT or hostname commands we model, spelt out in full (the seed
    /// indents its global commands), which never disappear into a block.
    fn block_line(
        &mut self,
        cur: Cursor<'_>,
        indent: usize,
        kind: Block,
    ) -> Result<(), ConfigError> {
        let line = cur.line;
        let col = cur.col();
        if self.indent <= indent {
            self.mode = Mode::Global;
            return self.line(cur);
        }
        let word = cur.first_word();
        let second = cur.toks.get(1).map(|t| t.text.to_ascii_lowercase());
        let strict = matches!(
            word.as_str(),
            "crypto" | "interface" | "hostname" | "access-list"
        ) || (word == "ip"
            && matches!(second.as_deref(), Some("route" | "nat" | "access-list")));
        if strict {
            let mut c = cur.clone();
            match self.global(&mut c) {
                Ok(cmd) => {
                    self.mode = Mode::Global;
                    self.apply(cmd, line, col);
                    return Ok(());
                }
                // A crypto command is never skipped, wherever it stands.
                Err(e) if word == "crypto" => return Err(e),
                Err(_) => {}
            }
        }
        match kind {
            Block::Skipped => self.ignored += 1,
            Block::Refused => {
                // `vrf NAME` in an ISAKMP profile, `match identity address A M VRF` (the VRF
                // is the sixth word) in one.
                let w: Vec<String> = cur
                    .toks
                    .iter()
                    .map(|t| t.text.to_ascii_lowercase())
                    .collect();
                let vrf = cur
                    .toks
                    .iter()
                    .find(|t| t.text.eq_ignore_ascii_case("vrf"))
                    .map(|t| (t.col, "vrf"))
                    .or_else(|| {
                        (w.len() >= 6 && w[..3] == ["match", "identity", "address"])
                            .then(|| {
                                cur.toks
                                    .get(5)
                                    .map(|t| (t.col, "match identity address ... VRF"))
                            })
                            .flatten()
                    });
                if let Some((c, what)) = vrf {
                    self.refuse(line, c, format!("VRF-aware IPsec ({what})"), false);
                }
            }
        }
        Ok(())
    }

    /// A line in a sub-mode we model: its own command, else a global command that takes
    /// effect, else an ignored sub-mode command, else a global command word the sub-mode does
    /// not know (leaving it), else a syntax error (deferred for access lists).
    fn sub_line(&mut self, cur: Cursor<'_>, mode: &Mode) -> Result<(), ConfigError> {
        let line = cur.line;
        let col = cur.col();
        // `crypto ipsec client ezvpn NAME` is both an interface command and the global profile
        // sub-mode. Typed on the router it is the interface's; in a configuration file the
        // profile is written at column 1 and the interface's line indented, so a line at
        // column 1 after an interface block opens the profile.
        if matches!(mode, Mode::Interface(_)) && self.indent == 0 && is_ezvpn_profile(&cur) {
            let mut c = cur.clone();
            let cmd = self.global(&mut c)?;
            self.mode = Mode::Global;
            self.apply(cmd, line, col);
            return Ok(());
        }
        let mut c1 = cur.clone();
        let r1 = self.sub(&mut c1);
        if let Ok(cmd) = &r1 {
            if cmd.effective() {
                if let Ok(cmd) = r1 {
                    self.apply(cmd, line, col);
                }
                return Ok(());
            }
        }
        let mut c2 = cur.clone();
        let r2 = self.global(&mut c2);
        if matches!(&r2, Ok(cmd) if cmd.effective()) {
            self.mode = Mode::Global;
            if let Ok(cmd) = r2 {
                self.apply(cmd, line, col);
            }
            return Ok(());
        }
        let e1 = match r1 {
            Ok(cmd) => {
                // An ignored sub-mode command (`duplex auto`).
                self.apply(cmd, line, col);
                return Ok(());
            }
            Err(e1) => e1,
        };
        // A global command word the sub-mode rejects leaves it when global mode accepts the
        // line (`ip nat pool` after an interface), as on the router; a sub-mode command with a
        // typo stays an error of the sub-mode.
        let known = KNOWN_GLOBAL.contains(&cur.first_word().as_str());
        let e = match r2 {
            Ok(cmd) if known && (e1.column <= col || matches!(cmd, Cmd::Skip(_))) => {
                self.mode = Mode::Global;
                self.apply(cmd, line, col);
                return Ok(());
            }
            Ok(_) => e1,
            Err(e2) => {
                if e2.column > e1.column {
                    e2
                } else {
                    e1
                }
            }
        };
        if let Mode::Acl(name) = mode {
            self.apply(
                Cmd::AclBad {
                    name: name.clone(),
                    err: e,
                },
                line,
                col,
            );
            return Ok(());
        }
        Err(e)
    }
}

impl Cursor<'_> {
    /// Skips the rest of the line: recognised, but reported as `why` since it has no effect here.
    pub(super) fn skip_warn(&mut self, why: String) -> Cmd {
        let _ = self.rest();
        Cmd::Warn(why)
    }

    /// Skips the rest of the line: a crypto command that is not implemented (`later`: planned).
    pub(super) fn unsupported(
        &mut self,
        feature: impl Into<String>,
        later: bool,
        block: bool,
    ) -> Cmd {
        let _ = self.rest();
        Cmd::Unsupported {
            feature: feature.into(),
            later,
            block,
        }
    }

    /// Skips the rest of the line: a crypto command accepted without effect, `why` says why.
    pub(super) fn notice(&mut self, why: impl Into<String>) -> Cmd {
        let _ = self.rest();
        Cmd::Notice(why.into())
    }
}

const IF_TYPES: &[&str] = &[
    "ATM",
    "BVI",
    "Cellular",
    "Dialer",
    "Ethernet",
    "FastEthernet",
    "GigabitEthernet",
    "Loopback",
    "Port-channel",
    "Serial",
    "TenGigabitEthernet",
    "Tunnel",
    "Virtual-Template",
    "Vlan",
];

/// Canonical interface name: `fa4` / `FastEthernet 4` -> `FastEthernet4` (unknown types kept as written).
pub(super) fn interface_name(parts: &[&str]) -> String {
    let joined: String = parts.concat();
    let split = joined
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '-'))
        .unwrap_or(joined.len());
    let (ty, unit) = joined.split_at(split);
    if ty.is_empty() {
        return joined;
    }
    let lower = ty.to_ascii_lowercase();
    let exact = IF_TYPES.iter().find(|t| t.to_ascii_lowercase() == lower);
    let mut cands = IF_TYPES
        .iter()
        .filter(|t| t.to_ascii_lowercase().starts_with(&lower));
    let chosen = exact.or_else(|| match (cands.next(), cands.next()) {
        (Some(a), None) => Some(a),
        _ => None,
    });
    match chosen {
        Some(t) => format!("{t}{unit}"),
        None => joined,
    }
}
