//! Sub-mode commands: `config-isakmp`, `cfg-crypto-trans`, `config-crypto-map`, `config-if`,
//! `config-ext-nacl`, the keyring, ISAKMP profile and peer blocks, `crypto-isakmp-group` (an
//! Easy VPN client configuration group) and `crypto-ezvpn` (an Easy VPN client profile).

use std::net::Ipv4Addr;

use crate::policy::{AclKind, EspMode, IkeAuth, IkeEncryption, IkeHash, NatSide};

use super::crypto::{EZVPN, VRF};
use super::global::acl_cmd;
use super::grammar::{Cmd, Mode, KNOWN_GLOBAL};
use super::lex::{pick, Cursor, Pick};
use super::{ConfigError, State};

impl State {
    pub(super) fn sub(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let negate = c.opt_kw(&["no"]).is_some();
        let cmd = match &self.mode {
            Mode::Global => return Err(c.err_at(c.col(), "not in a sub-mode")),
            Mode::Block { .. } => return Err(c.err_at(c.col(), "inside a block")),
            Mode::Policy(_) => policy_cmd(c, negate)?,
            Mode::TransformSet(_) => match c.kw(&["exit", "mode"], "transform-set command")? {
                "exit" => Cmd::Exit,
                _ => {
                    if negate {
                        let _ = c.rest();
                        Cmd::TsMode(EspMode::Tunnel)
                    } else {
                        match c.kw(&["transport", "tunnel"], "mode")? {
                            "transport" => {
                                let _ = c.opt_kw(&["require"]);
                                Cmd::TsMode(EspMode::Transport)
                            }
                            _ => Cmd::TsMode(EspMode::Tunnel),
                        }
                    }
                }
            },
            Mode::Map(..) | Mode::DynMap(..) => map_cmd(c, negate)?,
            Mode::IpsecProfile(_) => ipsec_profile_cmd(c, negate)?,
            Mode::Keyring(_) => self.keyring_cmd(c)?,
            Mode::Profile(_) => profile_cmd(c)?,
            Mode::IsakmpPeer(_) => self.isakmp_peer_cmd(c)?,
            Mode::ClientGroup(_) => self.client_group_cmd(c, negate)?,
            Mode::Ezvpn(_) => self.ezvpn_cmd(c, negate)?,
            Mode::Interface(_) => if_cmd(c, negate)?,
            Mode::Trustpoint(_) => super::pki::trustpoint_cmd(c, negate)?,
            Mode::Chain(_) => super::pki::chain_cmd(c, negate)?,
            Mode::CertMap(..) => super::pki::cert_map_cmd(c, negate)?,
            Mode::CertHex { .. } => return Err(c.err_at(c.col(), "inside a certificate")),
            Mode::Acl(name) => {
                let kind = self
                    .cfg
                    .access_list(name)
                    .map_or(AclKind::Extended, |a| a.kind);
                let t = c.peek();
                if negate {
                    // `no 20` deletes an entry (what a crypto ACL protects changes with it).
                    let t = c.next("sequence number")?;
                    let seq = c.num_tok(&t, "sequence number", 1, 2_147_483_647)? as u32;
                    let _ = c.rest();
                    Cmd::NoAclEntry(name.clone(), seq)
                } else if let Some(t) = t.filter(|t| t.text.bytes().all(|b| b.is_ascii_digit())) {
                    c.pos += 1;
                    let seq = c.num_tok(&t, "sequence number", 1, 2_147_483_647)? as u32;
                    acl_cmd(c, name.clone(), kind, Some(seq))
                } else if c.opt_kw(&["remark"]).is_some() {
                    Cmd::AclRemark {
                        name: name.clone(),
                        kind,
                        text: c.rest(),
                    }
                } else if c.opt_kw(&["exit"]).is_some() {
                    Cmd::Exit
                } else if c
                    .peek()
                    .is_some_and(|t| matches!(pick(t.text, &["deny", "permit"]), Pick::One(_)))
                {
                    acl_cmd(c, name.clone(), kind, None)
                } else {
                    // Not an entry: maybe a global command (the caller tries it).
                    let t = c.next("access list action")?;
                    return Err(c.err(&t, format!("unknown access list action \"{}\"", t.text)));
                }
            }
        };
        c.end()?;
        Ok(cmd)
    }
}

fn policy_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    let k = c.kw(
        &[
            "authentication",
            "default",
            "encryption",
            "exit",
            "group",
            "hash",
            "lifetime",
        ],
        "isakmp policy command",
    )?;
    if negate || k == "default" {
        if k == "default" {
            c.kw(
                &["authentication", "encryption", "group", "hash", "lifetime"],
                "isakmp policy command",
            )?;
        }
        let _ = c.rest();
        // Which field is reset is decided by the keyword just read.
        let field = c.toks.get(1).map_or("", |t| t.text);
        return Ok(
            match pick(
                field,
                &["authentication", "encryption", "group", "hash", "lifetime"],
            ) {
                Pick::One("authentication") => Cmd::Auth(None),
                Pick::One("encryption") => Cmd::Encr(None),
                Pick::One("group") => Cmd::Group(None),
                Pick::One("hash") => Cmd::Hash(None),
                Pick::One("lifetime") => Cmd::Lifetime(None),
                _ => Cmd::Warn("\"no\" form ignored".into()),
            },
        );
    }
    Ok(match k {
        "exit" => Cmd::Exit,
        "encryption" => {
            let e = match c.kw(&["3des", "aes", "des"], "encryption algorithm")? {
                "des" => IkeEncryption::Des,
                "3des" => IkeEncryption::TripleDes,
                _ => match c.peek() {
                    Some(t) => {
                        c.pos += 1;
                        match t.text {
                            "128" | "192" | "256" => IkeEncryption::Aes {
                                bits: c.num_tok(&t, "AES key size", 128, 256)? as u16,
                            },
                            _ => {
                                return Err(
                                    c.err(&t, format!("invalid AES key size \"{}\"", t.text))
                                )
                            }
                        }
                    }
                    None => IkeEncryption::Aes { bits: 128 },
                },
            };
            Cmd::Encr(Some(e))
        }
        "hash" => Cmd::Hash(Some(
            match c.kw(
                &["md5", "sha", "sha256", "sha384", "sha512"],
                "hash algorithm",
            )? {
                "md5" => IkeHash::Md5,
                "sha" => IkeHash::Sha1,
                "sha256" => IkeHash::Sha256,
                "sha384" => IkeHash::Sha384,
                _ => IkeHash::Sha512,
            },
        )),
        "authentication" => match c.kw(
            &["pre-share", "rsa-encr", "rsa-sig"],
            "authentication method",
        )? {
            "pre-share" => Cmd::Auth(Some(IkeAuth::PreShare)),
            "rsa-sig" => Cmd::Auth(Some(IkeAuth::RsaSig)),
            k => c.unsupported(
                format!("RSA authentication (authentication {k})"),
                false,
                false,
            ),
        },
        "group" => {
            let t = c.next("group")?;
            let g = c.num_tok(&t, "group", 1, 24)? as u16;
            if !crate::policy::KNOWN_GROUPS.contains(&g) {
                return Err(c.err(&t, format!("unknown Diffie-Hellman group {g}")));
            }
            Cmd::Group(Some(g))
        }
        _ => Cmd::Lifetime(Some(c.num("lifetime", 60, 86_400)? as u32)),
    })
}

const PFS_GROUPS: &[&str] = &[
    "group1", "group14", "group15", "group16", "group19", "group2", "group20", "group21",
    "group24", "group5",
];

/// `ipsec-profile` (`crypto ipsec profile NAME`): the `set` commands of a crypto map entry that
/// make sense without a peer and an ACL.
fn ipsec_profile_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    let start = c.pos;
    match c.kw(&["description", "exit", "set"], "ipsec profile command")? {
        "exit" => return Ok(Cmd::Exit),
        "description" => return Ok(c.skip_warn("ipsec profile description ignored".into())),
        _ => {}
    }
    c.kw(
        &[
            "ikev2-profile",
            "isakmp-profile",
            "pfs",
            "security-association",
            "transform-set",
        ],
        "ipsec profile set keyword",
    )?;
    c.pos = start;
    map_cmd(c, negate)
}

fn map_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    if c.toks.iter().any(|t| t.text.eq_ignore_ascii_case("vrf")) {
        let what = c.toks.iter().map(|t| t.text).collect::<Vec<_>>().join(" ");
        return Ok(c.unsupported(format!("VRF-aware IPsec ({what})"), false, false));
    }
    let k = c.kw(
        &[
            "description",
            "exit",
            "match",
            "qos",
            "reverse-route",
            "set",
        ],
        "crypto map command",
    )?;
    Ok(match k {
        "exit" => Cmd::Exit,
        "description" => c.skip_warn("crypto map description ignored".into()),
        // Marks packets for QoS before encryption; no QoS here, and nothing negotiated changes.
        "qos" => {
            c.kw(&["pre-classify"], "qos keyword")?;
            c.notice("qos pre-classify ignored: no QoS here")
        }
        "reverse-route" if negate => {
            let _ = c.rest();
            Cmd::ReverseRoute {
                mode: None,
                tag: None,
                note: None,
            }
        }
        "reverse-route" => reverse_route(c)?,
        "match" => {
            c.kw(&["address"], "match keyword")?;
            if negate {
                let _ = c.rest();
                Cmd::MatchAddress(None)
            } else {
                let acl = c.next("access list")?.text;
                // A numeric reference names the numbered list (`match address 0100` is 100).
                let acl = acl
                    .parse::<u32>()
                    .map_or_else(|_| acl.to_string(), |n| n.to_string());
                Cmd::MatchAddress(Some(acl))
            }
        }
        _ => {
            let k = c.kw(
                &[
                    "ikev2-profile",
                    "isakmp-profile",
                    "nat",
                    "peer",
                    "pfs",
                    "reverse-route",
                    "security-association",
                    "transform-set",
                ],
                "set keyword",
            )?;
            match k {
                "peer" => {
                    if negate && c.at_end() {
                        return Ok(Cmd::SetPeer {
                            peer: None,
                            default: false,
                            remove: true,
                        });
                    }
                    let t = c.next("peer address")?;
                    match t.text.parse::<Ipv4Addr>() {
                        Ok(p) => {
                            let default = c.opt_kw(&["default"]).is_some();
                            Cmd::SetPeer {
                                peer: Some(p),
                                default,
                                remove: negate,
                            }
                        }
                        Err(_) if t.text.contains(|ch: char| ch.is_ascii_alphabetic()) => c
                            .unsupported(
                                format!("peers by host name (set peer {})", t.text),
                                false,
                                false,
                            ),
                        Err(_) => {
                            return Err(c.err(&t, format!("invalid peer address \"{}\"", t.text)))
                        }
                    }
                }
                "transform-set" => {
                    if negate {
                        let _ = c.rest();
                        return Ok(Cmd::SetTs(Vec::new()));
                    }
                    let mut v: Vec<String> = Vec::new();
                    while let Some(t) = c.peek() {
                        c.pos += 1;
                        if !v.iter().any(|x| x == t.text) {
                            v.push(t.text.to_string());
                        }
                    }
                    if v.is_empty() {
                        return Err(c.err_at(c.eol_col, "missing transform set name"));
                    }
                    if v.len() > 6 {
                        return Err(c.err_at(c.eol_col, "at most 6 transform sets"));
                    }
                    Cmd::SetTs(v)
                }
                "pfs" => {
                    if negate {
                        let _ = c.rest();
                        return Ok(Cmd::SetPfs(None));
                    }
                    match c.peek() {
                        None => Cmd::SetPfs(Some(1)),
                        Some(_) => {
                            let g = c.kw(PFS_GROUPS, "PFS group")?;
                            Cmd::SetPfs(Some(g.trim_start_matches("group").parse().unwrap_or(1)))
                        }
                    }
                }
                "security-association" => {
                    match c.kw(
                        &["idle-time", "level", "lifetime", "replay"],
                        "security-association keyword",
                    )? {
                        "lifetime" => {
                            let unit = c.kw(&["days", "kilobytes", "seconds"], "lifetime unit")?;
                            if negate {
                                let _ = c.rest();
                                return Ok(match unit {
                                    "seconds" => Cmd::SetLifeSecs(None),
                                    "kilobytes" => Cmd::SetLifeKb(None),
                                    _ => Cmd::Warn("\"no\" form ignored".into()),
                                });
                            }
                            match unit {
                                "seconds" => {
                                    Cmd::SetLifeSecs(Some(
                                        c.num("lifetime seconds", 120, 86_400)? as u32
                                    ))
                                }
                                "kilobytes" => Cmd::SetLifeKb(Some(lifetime_kilobytes(c)?)),
                                _ => c.unsupported("SA lifetimes in days", false, false),
                            }
                        }
                        "idle-time" => {
                            if negate {
                                let _ = c.rest();
                                return Ok(Cmd::SetIdle(None));
                            }
                            Cmd::SetIdle(Some(idle_time(c)?))
                        }
                        "replay" => {
                            if negate {
                                let _ = c.rest();
                                return Ok(Cmd::SetReplay(None));
                            }
                            match c.kw(&["disable", "window-size"], "replay keyword")? {
                                "disable" => Cmd::SetReplay(Some(0)),
                                _ => Cmd::SetReplay(Some(replay_window_size(c)?)),
                            }
                        }
                        k => c.unsupported(format!("set security-association {k}"), false, false),
                    }
                }
                "isakmp-profile" => {
                    if negate {
                        let _ = c.rest();
                        Cmd::SetProfile(None)
                    } else {
                        Cmd::SetProfile(Some(c.next("profile name")?.text.to_string()))
                    }
                }
                "reverse-route" => match c.kw(&["distance", "tag"], "reverse-route keyword")? {
                    "distance" if negate => {
                        let _ = c.rest();
                        Cmd::SetRriDistance(None)
                    }
                    "distance" => {
                        Cmd::SetRriDistance(Some(c.num("reverse-route distance", 1, 255)? as u8))
                    }
                    _ if negate => {
                        let _ = c.rest();
                        Cmd::SetRriTag(None)
                    }
                    _ => Cmd::SetRriTag(Some(c.num("reverse-route tag", 1, 4_294_967_295)? as u32)),
                },
                "ikev2-profile" => c.unsupported("IKEv2 (set ikev2-profile)", false, false),
                _ => c.unsupported("set nat demux", false, false),
            }
        }
    })
}

/// `reverse-route [static] | tag N [static] | remote-peer [A [gateway]] [static]`.
fn reverse_route(c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
    let mut tag = None;
    let mut note = None;
    let mut mode = crate::policy::ReverseRoute::WhileUp;
    while !c.at_end() {
        match c.kw(
            &["gateway", "remote-peer", "static", "tag"],
            "reverse-route keyword",
        )? {
            "static" => mode = crate::policy::ReverseRoute::Static,
            "tag" => tag = Some(c.num("reverse-route tag", 1, 4_294_967_295)? as u32),
            "gateway" => {}
            _ => {
                // IOS adds a second route to the peer through the crypto interface (or
                // points the proxy route at a next hop); on this gateway the proxy routes go
                // into the tunnel and the host already routes the peer.
                if c.peek().is_some_and(|t| t.text.parse::<Ipv4Addr>().is_ok()) {
                    c.pos += 1;
                }
                note = Some(
                    "reverse-route remote-peer: the proxy routes point into the tunnel; no route \
                     to the peer is added (the host already routes it)"
                        .to_string(),
                );
            }
        }
    }
    Ok(Cmd::ReverseRoute {
        mode: Some(mode),
        tag,
        note,
    })
}

fn if_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    /// Interface commands with no effect on IPsec (also those that share a word with a global
    /// command, so that they stay in the interface).
    const IGNORED: &[&str] = &[
        "arp",
        "bandwidth",
        "carrier-delay",
        "cdp",
        "channel-group",
        "delay",
        "dialer",
        "duplex",
        "encapsulation",
        "flowcontrol",
        "hold-queue",
        "ipv6",
        "lldp",
        "load-interval",
        "logging",
        "mac-address",
        "media-type",
        "mop",
        "mpls",
        "negotiation",
        "ntp",
        "ppp",
        "pppoe",
        "pppoe-client",
        "service-policy",
        "snmp",
        "spanning-tree",
        "speed",
        "standby",
        "storm-control",
        "switchport",
        "vrrp",
        "zone-member",
    ];
    let mut all: Vec<&'static str> = vec![
        "crypto",
        "description",
        "exit",
        "ip",
        "keepalive",
        "mtu",
        "qos",
        "shutdown",
        "tunnel",
        "vrf",
    ];
    all.extend_from_slice(IGNORED);
    all.sort_unstable();
    let Some(t) = c.peek() else {
        return Err(c.err_at(c.eol_col, "missing interface command"));
    };
    let k = match pick(t.text, &all) {
        Pick::One(k) => {
            c.pos += 1;
            k
        }
        // A global command word leaves the interface (the caller tries it as one); any other
        // word is an interface command we do not model.
        _ if KNOWN_GLOBAL.contains(&t.text.to_ascii_lowercase().as_str()) => {
            return Err(c.err(&t, format!("unknown interface command \"{}\"", t.text)))
        }
        _ => return Ok(c.skip_warn(format!("\"{}\" ignored: no effect on IPsec", t.text))),
    };
    Ok(match k {
        "exit" => Cmd::Exit,
        "shutdown" => Cmd::IfShutdown(!negate),
        "keepalive" => {
            let _ = c.rest();
            Cmd::IfKeepalive(!negate)
        }
        "description" => {
            let d = c.rest();
            if negate || d.is_empty() {
                Cmd::IfDescription(None)
            } else {
                Cmd::IfDescription(Some(d))
            }
        }
        "crypto" => match c.kw(&["ipsec", "map"], "crypto keyword")? {
            "map" if negate => {
                let _ = c.rest();
                Cmd::IfCryptoMap(None)
            }
            "map" => {
                let m = c.next("map name")?.text.to_string();
                if c.opt_kw(&["redundancy"]).is_some() {
                    return Ok(c.unsupported(
                        "stateful failover (crypto map redundancy)",
                        false,
                        false,
                    ));
                }
                Cmd::IfCryptoMap(Some(m))
            }
            _ => match c.kw(&["client", "df-bit"], "crypto ipsec keyword")? {
                "df-bit" => Cmd::IfDfBit(super::crypto::df_bit(c)?),
                _ => {
                    c.kw(&["ezvpn"], "crypto ipsec client keyword")?;
                    if negate {
                        let _ = c.rest();
                        Cmd::IfEzvpn(None)
                    } else {
                        let name = c.next("profile name")?.text.to_string();
                        let inside = c.opt_kw(&["inside", "outside"]) == Some("inside");
                        Cmd::IfEzvpn(Some((name, inside)))
                    }
                }
            },
        },
        "tunnel" => match c.kw(
            &[
                "destination",
                "key",
                "mode",
                "path-mtu-discovery",
                "protection",
                "source",
            ],
            "tunnel keyword",
        )? {
            "mode" => {
                let m: Vec<String> = c
                    .toks
                    .iter()
                    .skip(c.pos)
                    .map(|t| t.text.to_ascii_lowercase())
                    .collect();
                let _ = c.rest();
                Cmd::IfTunnelMode(m.join(" "))
            }
            "protection" => {
                if negate {
                    let _ = c.rest();
                    return Ok(Cmd::IfTunnelProtection(None));
                }
                c.kw(&["ipsec"], "tunnel protection keyword")?;
                c.kw(&["profile"], "tunnel protection ipsec keyword")?;
                let name = c.next("ipsec profile name")?.text.to_string();
                if let Some(t) = c.peek() {
                    let what = t.text.to_ascii_lowercase();
                    let _ = c.rest();
                    return Ok(Cmd::Unsupported {
                        feature: format!("DMVPN (tunnel protection ipsec profile {name} {what})"),
                        later: false,
                        block: false,
                    });
                }
                Cmd::IfTunnelProtection(Some(name))
            }
            "source" => {
                if negate {
                    let _ = c.rest();
                    return Ok(Cmd::IfTunnelSource(None));
                }
                let t = c.next("tunnel source")?;
                match t.text.parse::<Ipv4Addr>() {
                    Ok(a) => Cmd::IfTunnelSource(Some(crate::policy::TunnelSource::Address(a))),
                    Err(_) => {
                        let mut parts = vec![t.text];
                        while let Some(n) = c.peek() {
                            parts.push(n.text);
                            c.pos += 1;
                        }
                        Cmd::IfTunnelSource(Some(crate::policy::TunnelSource::Interface(
                            super::grammar::interface_name(&parts),
                        )))
                    }
                }
            }
            "destination" => {
                if negate {
                    let _ = c.rest();
                    return Ok(Cmd::IfTunnelDestination(None));
                }
                let t = c.next("tunnel destination")?;
                match t.text.parse::<Ipv4Addr>() {
                    Ok(a) => Cmd::IfTunnelDestination(Some(a)),
                    Err(_) => c.unsupported(
                        format!(
                            "tunnel destinations by host name (tunnel destination {})",
                            t.text
                        ),
                        false,
                        false,
                    ),
                }
            }
            // A GRE tunnel without `tunnel protection` is not IPsec.
            k => c.skip_warn(format!("tunnel {k} ignored: no effect on IPsec")),
        },
        "vrf" => {
            let _ = c.rest();
            Cmd::IfIfCrypto {
                feature: "VRF-aware IPsec (vrf forwarding on the crypto map interface)".into(),
                later: false,
            }
        }
        "qos" => c.notice("qos pre-classify ignored: no QoS here"),
        "ip" => if_ip(c, negate)?,
        k => c.skip_warn(format!("\"{k}\" ignored: no effect on IPsec")),
    })
}

fn if_ip(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    let Some(t) = c.peek() else {
        return Err(c.err_at(c.eol_col, "missing ip keyword"));
    };
    let k = match pick(
        t.text,
        &["address", "mtu", "nat", "nhrp", "tcp", "unnumbered", "vrf"],
    ) {
        Pick::One(k) => {
            c.pos += 1;
            k
        }
        // `ip virtual-reassembly`, `ip ospf cost 10`, `ip access-group 101 in`, ...: no effect
        // on what the tunnel negotiates or protects.
        _ => return Ok(c.skip_warn(format!("ip {} ignored: no effect on IPsec", t.text))),
    };
    Ok(match k {
        "address" => {
            if negate {
                let _ = c.rest();
                return Ok(Cmd::IfAddress(None));
            }
            if let Some(k) = c.opt_kw(&["dhcp", "negotiated"]) {
                let _ = c.rest();
                return Ok(Cmd::IfDynamicAddress(k.to_string()));
            }
            let a = c.ip("address")?;
            let mt = c.peek();
            let m = c.ip("mask")?;
            if crate::policy::isakmp::mask_prefix_len(m).is_none() {
                return Err(c.err_at(
                    mt.map_or(c.eol_col, |t| t.col),
                    format!("invalid mask \"{m}\""),
                ));
            }
            if c.opt_kw(&["secondary"]).is_some() {
                return Ok(Cmd::Warn("secondary addresses ignored".into()));
            }
            Cmd::IfAddress(Some((a, m)))
        }
        "nat" => {
            let side = match c.kw(&["enable", "inside", "outside"], "nat side")? {
                "inside" => NatSide::Inside,
                "outside" => NatSide::Outside,
                _ => return Ok(Cmd::Warn("NVI NAT (ip nat enable) ignored".into())),
            };
            Cmd::IfNat(if negate { None } else { Some(side) })
        }
        "nhrp" => c.unsupported("DMVPN (ip nhrp)", false, false),
        "unnumbered" => {
            if negate {
                let _ = c.rest();
                return Ok(Cmd::IfUnnumbered(None));
            }
            let mut parts = Vec::new();
            while let Some(n) = c.peek() {
                parts.push(n.text);
                c.pos += 1;
            }
            if parts.is_empty() {
                return Err(c.err_at(c.eol_col, "missing interface name"));
            }
            Cmd::IfUnnumbered(Some(super::grammar::interface_name(&parts)))
        }
        "mtu" => {
            if negate {
                let _ = c.rest();
                return Ok(Cmd::IfIpMtu(None));
            }
            Cmd::IfIpMtu(Some(c.num("MTU", 68, 9216)? as u16))
        }
        "vrf" => {
            let _ = c.rest();
            Cmd::IfIfCrypto {
                feature: "VRF-aware IPsec (ip vrf forwarding on the crypto map interface)".into(),
                later: false,
            }
        }
        _ => match c.peek().map(|t| pick(t.text, &["adjust-mss"])) {
            Some(Pick::One(_)) => {
                c.pos += 1;
                if negate {
                    let _ = c.rest();
                    Cmd::IfMss(None)
                } else {
                    Cmd::IfMss(Some(c.num("MSS", 500, 1460)? as u16))
                }
            }
            _ => c.skip_warn("ip tcp ignored: no effect on IPsec".into()),
        },
    })
}

/// The `N` of `replay window-size N`: one of the sizes IOS offers.
pub(super) fn replay_window_size(c: &mut Cursor<'_>) -> Result<u32, ConfigError> {
    let t = c.next("window size")?;
    let v = c.num_tok(&t, "window size", 64, 1024)?;
    if ![64, 128, 256, 512, 1024].contains(&v) {
        return Err(c.err(
            &t,
            format!("window size {v} is not 64, 128, 256, 512 or 1024"),
        ));
    }
    Ok(v as u32)
}

impl State {
    /// `conf-keyring`: keys and `local-address`.
    fn keyring_cmd(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        Ok(
            match c.kw(
                &[
                    "description",
                    "exit",
                    "local-address",
                    "pre-shared-key",
                    "rsa-pubkey",
                ],
                "keyring command",
            )? {
                "pre-shared-key" => return self.keyring_key(c),
                "local-address" => {
                    let t = c.next("local address")?;
                    let addr = match t.text.parse::<Ipv4Addr>() {
                        Ok(a) => crate::policy::LocalAddress::Address(a),
                        Err(_) => {
                            let mut parts = vec![t.text];
                            while let Some(n) = c.peek() {
                                parts.push(n.text);
                                c.pos += 1;
                            }
                            crate::policy::LocalAddress::Interface(super::grammar::interface_name(
                                &parts,
                            ))
                        }
                    };
                    Cmd::KeyringLocal(addr)
                }
                "description" => c.skip_warn("description ignored".into()),
                "exit" => Cmd::Exit,
                _ => c.unsupported("RSA public keys in a keyring (rsa-pubkey)", false, true),
            },
        )
    }
}

impl State {
    /// `config-isakmp-peer`: the two `set aggressive-mode` commands; the rest (Easy VPN's
    /// `set ezvpn`, ...) refused by name.
    fn isakmp_peer_cmd(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        Ok(
            match c.kw(&["description", "exit", "set"], "isakmp peer command")? {
                "description" => c.skip_warn("description ignored".into()),
                "exit" => Cmd::Exit,
                _ => {
                    if c.opt_kw(&["aggressive-mode"]).is_none() {
                        let what = super::crypto::rest_words(c, 3);
                        return Ok(c.unsupported(
                            format!("{EZVPN} (crypto isakmp peer: set {what})"),
                            false,
                            false,
                        ));
                    }
                    match c.kw(&["client-endpoint", "password"], "aggressive-mode keyword")? {
                        "password" => {
                            let k = c.next("password")?;
                            Cmd::PeerAmPassword(crate::policy::PskSecret::new(
                                self.key_bytes(k.text),
                            ))
                        }
                        _ => {
                            use crate::policy::Phase1Id;
                            let id = match c.kw(
                                &["fqdn", "ipv4-address", "user-fqdn"],
                                "client-endpoint type",
                            )? {
                                "ipv4-address" => Phase1Id::Ipv4(c.ip("client-endpoint address")?),
                                "fqdn" => Phase1Id::Fqdn(c.next("FQDN")?.text.to_string()),
                                _ => Phase1Id::UserFqdn(c.next("user FQDN")?.text.to_string()),
                            };
                            Cmd::PeerAmEndpoint(id)
                        }
                    }
                }
            },
        )
    }
}

impl State {
    /// `crypto-isakmp-group`: what an Easy VPN server hands the group's clients. Settings that
    /// change what clients are given but are not modelled are refused by name; their `no` forms
    /// restore what happens here anyway.
    fn client_group_cmd(&self, c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
        use super::grammar::GroupAttr as A;
        let start = c.pos;
        // Only `crypto aaa ...` is the group's: any other `crypto` line after the block is a
        // global command that leaves it.
        let word = |i: usize| c.toks.get(start + i).map(|t| t.text.to_ascii_lowercase());
        if word(0).as_deref() == Some("crypto") && word(1).as_deref() == Some("aaa") {
            let what = super::crypto::rest_words(c, 5);
            return Ok(c.unsupported(format!("{EZVPN} group setting ({what})"), false, false));
        }
        let k = c.kw(
            &[
                "access-restrict",
                "acl",
                "auto-update",
                "backup-gateway",
                "banner",
                "browser-proxy",
                "configuration",
                "dhcp",
                "dns",
                "domain",
                "exit",
                "firewall",
                "group-lock",
                "include-local-lan",
                "key",
                "max-logins",
                "max-users",
                "netmask",
                "pfs",
                "pool",
                "save-password",
                "split-dns",
                "wins",
            ],
            "client configuration group command",
        )?;
        let attr = match k {
            "exit" => return Ok(Cmd::Exit),
            "access-restrict" | "auto-update" | "browser-proxy" | "configuration" | "dhcp"
            | "firewall" | "group-lock" | "include-local-lan" | "max-logins" => {
                if negate {
                    return Ok(c.notice(format!("no {k}: not given to clients here anyway")));
                }
                c.pos = start;
                let what = super::crypto::rest_words(c, 3);
                return Ok(c.unsupported(format!("{EZVPN} group setting ({what})"), false, false));
            }
            _ if negate => {
                // `no backup-gateway A` and `no split-dns D` remove one; every other `no` form
                // clears the setting whatever follows.
                let one = c.peek().map(|t| t.text.to_string());
                let _ = c.rest();
                match k {
                    "key" => A::Key(None),
                    "dns" => A::Dns(Vec::new()),
                    "wins" => A::Wins(Vec::new()),
                    "domain" => A::Domain(None),
                    "pool" => A::Pool(None),
                    "acl" => A::Acl(None),
                    "save-password" => A::SavePassword(false),
                    "pfs" => A::Pfs(false),
                    "netmask" => A::Netmask(None),
                    "banner" => A::Banner(None),
                    "max-users" => A::MaxUsers(None),
                    "backup-gateway" => A::BackupGateway {
                        addr: one.and_then(|a| a.parse().ok()),
                        remove: true,
                    },
                    _ => A::SplitDns {
                        name: one,
                        remove: true,
                    },
                }
            }
            "key" => {
                let first = c.next("group key")?;
                let key = match first.text {
                    // `0`/`6` is a key type only when a key string follows it.
                    "0" | "6" if c.peek().is_some() => {
                        let k = c.next("group key")?;
                        if first.text == "6" {
                            // The type-6 master key is not known here, so the key cannot be
                            // recovered and no client could authenticate.
                            let _ = c.rest();
                            return Ok(Cmd::Unsupported {
                                feature: "type 6 encrypted group keys (key 6)".into(),
                                later: false,
                                block: false,
                            });
                        }
                        k
                    }
                    _ => first,
                };
                A::Key(Some(crate::policy::PskSecret::new(
                    self.key_bytes(key.text),
                )))
            }
            "dns" | "wins" => {
                let mut v = vec![c.ip("server address")?];
                if c.peek().is_some() {
                    v.push(c.ip("second server address")?);
                }
                if k == "dns" {
                    A::Dns(v)
                } else {
                    A::Wins(v)
                }
            }
            "domain" => A::Domain(Some(c.next("domain name")?.text.to_string())),
            "pool" => A::Pool(Some(c.next("pool name")?.text.to_string())),
            "acl" => {
                let a = c.next("access list")?.text;
                // A numeric reference names the numbered list, as `match address` does.
                A::Acl(Some(
                    a.parse::<u32>()
                        .map_or_else(|_| a.to_string(), |n| n.to_string()),
                ))
            }
            "save-password" => A::SavePassword(true),
            "pfs" => A::Pfs(true),
            "netmask" => {
                let t = c.peek();
                let m = c.ip("netmask")?;
                if crate::policy::isakmp::mask_prefix_len(m).is_none() {
                    return Err(c.err_at(
                        t.map_or(c.eol_col, |t| t.col),
                        format!("invalid netmask \"{m}\""),
                    ));
                }
                A::Netmask(Some(m))
            }
            "max-users" => A::MaxUsers(Some(c.num("max-users", 1, 5000)? as u32)),
            "backup-gateway" => {
                let t = c.next("backup gateway address")?;
                match t.text.parse::<Ipv4Addr>() {
                    Ok(a) => A::BackupGateway {
                        addr: Some(a),
                        remove: false,
                    },
                    Err(_) if t.text.contains(|ch: char| ch.is_ascii_alphabetic()) => {
                        return Ok(c.unsupported(
                            format!("backup gateways by host name (backup-gateway {})", t.text),
                            false,
                            false,
                        ))
                    }
                    Err(_) => {
                        return Err(
                            c.err(&t, format!("invalid backup gateway address \"{}\"", t.text))
                        )
                    }
                }
            }
            "split-dns" => A::SplitDns {
                name: Some(c.next("domain name")?.text.to_string()),
                remove: false,
            },
            // The reader takes `banner c TEXT c` with its lines before the line gets here
            // (`read.rs`); what is left has no delimited text.
            _ => {
                let t = c.next("banner delimiter")?;
                return Err(c.err(&t, "banner text must be delimited"));
            }
        };
        Ok(Cmd::GroupSet(attr))
    }
}

impl State {
    /// `crypto-ezvpn`: an Easy VPN remote's profile. What would make the connection differ
    /// from a plain client or network-extension connection to the listed peers is refused by
    /// name; the `no` forms of those restore what happens here anyway.
    fn ezvpn_cmd(&self, c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
        use super::grammar::EzvpnAttr as A;
        let start = c.pos;
        let k = c.kw(
            &[
                "acl",
                "auth",
                "auto-update",
                "backup",
                "client",
                "connect",
                "dhcp",
                "exit",
                "flow",
                "group",
                "mode",
                "nat",
                "nem",
                "peer",
                "split-dns",
                "ssh",
                "username",
                "virtual-interface",
                "xauth",
            ],
            "ezvpn command",
        )?;
        let attr = match k {
            "exit" => return Ok(Cmd::Exit),
            "acl" | "auth" | "auto-update" | "backup" | "client" | "dhcp" | "flow" | "nat"
            | "nem" | "split-dns" | "ssh" | "virtual-interface" => {
                if negate {
                    return Ok(c.notice(format!("no {k}: not done here anyway")));
                }
                c.pos = start;
                let what = super::crypto::rest_words(c, 4);
                return Ok(c.unsupported(format!("{EZVPN} client setting ({what})"), false, false));
            }
            _ if negate => {
                // `no peer A` removes one; every other `no` form restores the default
                // whatever follows.
                let one = c.peek().map(|t| t.text.to_string());
                let _ = c.rest();
                match k {
                    "connect" => A::Connect(true),
                    "group" => A::Group(None),
                    "mode" => A::NetworkExtension(false),
                    "peer" => A::Peer {
                        addr: one.and_then(|a| a.parse().ok()),
                        default: false,
                        remove: true,
                    },
                    "username" => A::Credentials(None),
                    _ => {
                        return Ok(Cmd::Notice(
                            "no xauth userid mode: the username and password, when given, \
                             answer XAUTH here"
                                .into(),
                        ))
                    }
                }
            }
            "connect" => match c.kw(&["acl", "auto", "manual"], "connect keyword")? {
                "auto" => A::Connect(true),
                "manual" => A::Connect(false),
                _ => {
                    // Bringing the tunnel up on matching traffic is not modelled.
                    return Ok(c.unsupported(
                        format!("{EZVPN} client setting (connect acl)"),
                        false,
                        false,
                    ));
                }
            },
            "group" => {
                let name = c.next("group name")?.text.to_string();
                c.kw(&["key"], "group keyword")?;
                match self.type0_secret(c, "group key")? {
                    Ok(key) => A::Group(Some((name, crate::policy::PskSecret::new(key)))),
                    Err(refused) => return Ok(refused),
                }
            }
            "mode" => match c.kw(
                &["client", "network-extension", "network-plus"],
                "ezvpn mode",
            )? {
                "client" => A::NetworkExtension(false),
                "network-extension" => A::NetworkExtension(true),
                // A second, Mode Config address on the router as well as the LAN: not modelled.
                _ => return Ok(c.unsupported(format!("{EZVPN} mode network-plus"), false, false)),
            },
            "peer" => {
                let t = c.next("peer address")?;
                match t.text.parse::<Ipv4Addr>() {
                    Ok(a) => A::Peer {
                        addr: Some(a),
                        default: c.opt_kw(&["default"]).is_some(),
                        remove: false,
                    },
                    Err(_) if t.text.contains(|ch: char| ch.is_ascii_alphabetic()) => {
                        return Ok(c.unsupported(
                            format!("{EZVPN} peers by host name (peer {})", t.text),
                            false,
                            false,
                        ))
                    }
                    Err(_) => return Err(c.err(&t, format!("invalid peer address \"{}\"", t.text))),
                }
            }
            "username" => {
                let name = c.next("user name")?.text.to_string();
                c.kw(&["password"], "username keyword")?;
                match self.type0_secret(c, "password")? {
                    Ok(pw) => A::Credentials(Some(crate::policy::XauthCredentials {
                        name,
                        password: crate::policy::Password::new(pw),
                    })),
                    Err(refused) => return Ok(refused),
                }
            }
            _ => {
                c.kw(&["userid"], "xauth keyword")?;
                c.kw(&["mode"], "xauth userid keyword")?;
                match c.kw(
                    &["http-intercept", "interactive", "local"],
                    "xauth userid mode",
                )? {
                    "local" => A::XauthLocal,
                    // The person answers at the CLI (`crypto ipsec client ezvpn xauth`).
                    "interactive" => A::XauthInteractive,
                    // A web page intercepting the user's browser: no such server here.
                    m => {
                        return Ok(c.unsupported(
                            format!("{EZVPN} XAUTH prompting (xauth userid mode {m})"),
                            false,
                            false,
                        ))
                    }
                }
            }
        };
        Ok(Cmd::EzvpnSet(attr))
    }

    /// A key or password written `S` or `0 S`; `6 S` and `7 S` give the refusal instead, since
    /// the clear text they stand for cannot be recovered here.
    fn type0_secret(
        &self,
        c: &mut Cursor<'_>,
        what: &str,
    ) -> Result<Result<Vec<u8>, Cmd>, ConfigError> {
        let first = c.next(what)?;
        let secret = match first.text {
            // A digit is a type only when a string follows it.
            "0" | "6" | "7" if c.peek().is_some() => {
                let s = c.next(what)?;
                if first.text != "0" {
                    let _ = c.rest();
                    return Ok(Err(Cmd::Unsupported {
                        feature: format!("encrypted {EZVPN} secrets (type {} {what})", first.text),
                        later: false,
                        block: false,
                    }));
                }
                s
            }
            _ => first,
        };
        Ok(Ok(self.key_bytes(secret.text)))
    }
}

/// `conf-isa-prof`: keyrings, `match identity address|host|group`, `initiate mode aggressive`,
/// `self-identity`, XAUTH and Mode Config lists; the rest refused by name.
fn profile_cmd(c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
    Ok(
        match c.kw(
            &[
                "ca",
                "client",
                "description",
                "exit",
                "initiate",
                "isakmp",
                "keepalive",
                "keyring",
                "local-address",
                "match",
                "qos-group",
                "self-identity",
                "virtual-template",
                "vrf",
            ],
            "isakmp profile command",
        )? {
            "keyring" => Cmd::ProfileKeyring(c.next("keyring name")?.text.to_string()),
            "match" => {
                if c.kw(&["certificate", "identity"], "match keyword")? == "certificate" {
                    let m = c.next("certificate map name")?.text.to_string();
                    c.end()?;
                    return Ok(Cmd::ProfileMatchCertificate(m));
                }
                match c.kw(&["address", "group", "host", "user-fqdn"], "identity type")? {
                    "address" => {
                        let a = c.ip("identity address")?;
                        let m = match c.peek() {
                            Some(t) if t.text.contains('.') => c.ip("identity mask")?,
                            _ => Ipv4Addr::BROADCAST,
                        };
                        if c.peek().is_some() {
                            let _ = c.rest();
                            return Ok(Cmd::Unsupported {
                                feature: format!("{VRF} (match identity address ... VRF)"),
                                later: false,
                                block: false,
                            });
                        }
                        Cmd::ProfileMatch(a, m)
                    }
                    "host" => {
                        let domain = c.opt_kw(&["domain"]).is_some();
                        let name = c.next("host name")?.text.to_string();
                        c.end()?;
                        Cmd::ProfileMatchHost(if domain {
                            crate::policy::HostIdentity::Domain(name)
                        } else {
                            crate::policy::HostIdentity::Host(name)
                        })
                    }
                    "group" => {
                        let g = c.next("group name")?.text.to_string();
                        c.end()?;
                        Cmd::ProfileMatchGroup(g)
                    }
                    _ => c.unsupported(format!("{EZVPN} (match identity user-fqdn)"), false, false),
                }
            }
            "self-identity" => {
                use crate::policy::SelfIdentity;
                match c.kw(&["address", "fqdn", "user-fqdn"], "identity type")? {
                    "address" => Cmd::ProfileSelf(SelfIdentity::Address),
                    "fqdn" => Cmd::ProfileSelf(SelfIdentity::Fqdn),
                    _ => {
                        let u = c.next("user@domain")?.text.to_string();
                        c.end()?;
                        Cmd::ProfileSelf(SelfIdentity::UserFqdn(u))
                    }
                }
            }
            "keepalive" => {
                let interval = c.num("keepalive interval", 10, 3600)? as u32;
                let retry = match c.opt_kw(&["retry"]) {
                    Some(_) => c.num("keepalive retry interval", 2, 60)? as u32,
                    None => crate::policy::DpdConfig::DEFAULT_RETRY_SECS,
                };
                Cmd::ProfileKeepalive(interval, retry)
            }
            "local-address" => {
                let t = c.next("local address")?;
                match t.text.parse::<Ipv4Addr>() {
                    Ok(a) => Cmd::ProfileLocal(crate::policy::LocalAddress::Address(a)),
                    Err(_) => {
                        let mut parts = vec![t.text];
                        while let Some(n) = c.peek() {
                            parts.push(n.text);
                            c.pos += 1;
                        }
                        Cmd::ProfileLocal(crate::policy::LocalAddress::Interface(
                            super::grammar::interface_name(&parts),
                        ))
                    }
                }
            }
            "description" => c.skip_warn("description ignored".into()),
            "exit" => Cmd::Exit,
            "vrf" => c.unsupported(format!("{VRF} (isakmp profile vrf)"), false, false),
            "ca" => {
                c.kw(&["trust-point"], "ca keyword")?;
                let t = c.next("trustpoint name")?.text.to_string();
                c.end()?;
                Cmd::ProfileCaTrustpoint(t)
            }
            "initiate" => {
                c.kw(&["mode"], "initiate keyword")?;
                c.kw(&["aggressive"], "initiate mode")?;
                Cmd::ProfileInitiateAggressive
            }
            "virtual-template" => c.unsupported("dynamic VTIs (virtual-template)", false, false),
            "client" => {
                let save = c.pos;
                if c.opt_kw(&["authentication"]).is_some() && c.opt_kw(&["list"]).is_some() {
                    return Ok(Cmd::ProfileClientAuth(
                        c.next("method list name")?.text.to_string(),
                    ));
                }
                c.pos = save;
                if c.opt_kw(&["configuration"]).is_some() && c.opt_kw(&["address"]).is_some() {
                    return Ok(Cmd::ProfileClientConfig(super::crypto::address_assignment(
                        c,
                    )?));
                }
                // `client pki authorization list`, `client configuration group` (IOS-XE):
                // not modelled.
                c.pos = save;
                let what = super::crypto::rest_words(c, 3);
                c.unsupported(format!("{EZVPN} (client {what})"), false, false)
            }
            "isakmp" => {
                c.kw(&["authorization"], "isakmp keyword")?;
                c.kw(&["list"], "authorization keyword")?;
                Cmd::ProfileIsakmpAuth(c.next("method list name")?.text.to_string())
            }
            k => c.unsupported(format!("{EZVPN} ({k})"), false, false),
        },
    )
}

/// `... lifetime kilobytes <2560-4294967295> | disable` after `kilobytes`;
/// `disable` is [`crate::policy::KILOBYTES_DISABLED`].
pub(super) fn lifetime_kilobytes(c: &mut Cursor<'_>) -> Result<u64, ConfigError> {
    if c.opt_kw(&["disable"]).is_some() {
        return Ok(crate::policy::KILOBYTES_DISABLED);
    }
    c.num("lifetime kilobytes", 2560, 4_294_967_295)
}

/// `... idle-time <60-86400> [default]` after `idle-time`.
pub(super) fn idle_time(c: &mut Cursor<'_>) -> Result<crate::policy::IdleTime, ConfigError> {
    let secs = c.num("idle-time seconds", 60, 86_400)? as u32;
    let default_peer = c.opt_kw(&["default"]).is_some();
    Ok(crate::policy::IdleTime { secs, default_peer })
}
