//! Sub-mode commands: `config-isakmp`, `cfg-crypto-trans`, `config-crypto-map`, `config-if` and
//! `config-ext-nacl`.

use std::net::Ipv4Addr;

use crate::policy::{AclKind, EspMode, IkeAuth, IkeEncryption, IkeHash, NatSide};

use super::acl::acl_entry;
use super::grammar::{Cmd, Mode};
use super::lex::{pick, Cursor, Pick};
use super::{ConfigError, State};

impl State {
    pub(super) fn sub(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let negate = c.opt_kw(&["no"]).is_some();
        let cmd = match &self.mode {
            Mode::Global => return Err(c.err_at(c.col(), "not in a sub-mode")),
            Mode::Unsupported => return Err(c.err_at(c.col(), "inside an unsupported block")),
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
            Mode::Map(..) => map_cmd(c, negate)?,
            Mode::Interface(_) => if_cmd(c, negate)?,
            Mode::Acl(name) => {
                let kind = self
                    .cfg
                    .access_list(name)
                    .map_or(AclKind::Extended, |a| a.kind);
                let t = c.peek();
                if negate {
                    // `no 20` deletes an entry; not modelled.
                    c.skip_warn("\"no\" form ignored".into())
                } else if let Some(t) = t.filter(|t| t.text.bytes().all(|b| b.is_ascii_digit())) {
                    c.pos += 1;
                    let seq = c.num_tok(&t, "sequence number", 1, 2_147_483_647)? as u32;
                    let (entry, warn) = acl_entry(c, kind)?;
                    match warn {
                        Some(w) => Cmd::Warn(w),
                        None => Cmd::AclEntry {
                            name: name.clone(),
                            kind,
                            seq: Some(seq),
                            entry,
                        },
                    }
                } else if c.opt_kw(&["remark"]).is_some() {
                    Cmd::AclRemark {
                        name: name.clone(),
                        kind,
                        text: c.rest(),
                    }
                } else if c.opt_kw(&["exit"]).is_some() {
                    Cmd::Exit
                } else {
                    let (entry, warn) = acl_entry(c, kind)?;
                    match warn {
                        Some(w) => Cmd::Warn(w),
                        None => Cmd::AclEntry {
                            name: name.clone(),
                            kind,
                            seq: None,
                            entry,
                        },
                    }
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
        "authentication" => Cmd::Auth(Some(
            match c.kw(
                &["pre-share", "rsa-encr", "rsa-sig"],
                "authentication method",
            )? {
                "pre-share" => IkeAuth::PreShare,
                "rsa-encr" => IkeAuth::RsaEncr,
                _ => IkeAuth::RsaSig,
            },
        )),
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

fn map_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    let k = c.kw(
        &["description", "exit", "match", "reverse-route", "set"],
        "crypto map command",
    )?;
    Ok(match k {
        "exit" => Cmd::Exit,
        "description" => c.skip_warn("crypto map description ignored".into()),
        "reverse-route" => {
            let _ = c.opt_kw(&["static"]);
            Cmd::ReverseRoute(!negate)
        }
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
                            .skip_warn(format!(
                                "set peer {}: hostname peers not supported",
                                t.text
                            )),
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
                                "kilobytes" => Cmd::SetLifeKb(Some(c.num(
                                    "lifetime kilobytes",
                                    2560,
                                    4_294_967_295,
                                )?)),
                                _ => c.skip_warn("lifetime days not supported".into()),
                            }
                        }
                        k => c.skip_warn(format!("set security-association {k} not supported")),
                    }
                }
                k => c.skip_warn(format!("set {k} not supported")),
            }
        }
    })
}

fn if_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    const IGNORED: &[&str] = &[
        "arp",
        "bandwidth",
        "cdp",
        "delay",
        "dialer",
        "duplex",
        "encapsulation",
        "hold-queue",
        "keepalive",
        "load-interval",
        "mac-address",
        "media-type",
        "mop",
        "negotiation",
        "ppp",
        "pppoe",
        "pppoe-client",
        "service-policy",
        "spanning-tree",
        "speed",
        "standby",
        "switchport",
        "tunnel",
        "vrrp",
        "zone-member",
    ];
    let mut all: Vec<&'static str> = vec!["crypto", "description", "exit", "ip", "mtu", "shutdown"];
    all.extend_from_slice(IGNORED);
    all.sort_unstable();
    let k = c.kw(&all, "interface command")?;
    Ok(match k {
        "exit" => Cmd::Exit,
        "shutdown" => Cmd::IfShutdown(!negate),
        "description" => {
            let d = c.rest();
            if negate || d.is_empty() {
                Cmd::IfDescription(None)
            } else {
                Cmd::IfDescription(Some(d))
            }
        }
        "crypto" => {
            c.kw(&["map"], "crypto keyword")?;
            if negate {
                let _ = c.rest();
                Cmd::IfCryptoMap(None)
            } else {
                let m = c.next("map name")?.text.to_string();
                let _ = c.opt_kw(&["redundancy"]).map(|_| c.rest());
                Cmd::IfCryptoMap(Some(m))
            }
        }
        "ip" => if_ip(c, negate)?,
        k => c.skip_warn(format!("\"{k}\" ignored: no effect on IPsec")),
    })
}

fn if_ip(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    const IGNORED: &[&str] = &[
        "directed-broadcast",
        "flow",
        "mroute-cache",
        "nbar",
        "proxy-arp",
        "redirects",
        "route-cache",
        "unreachables",
        "virtual-reassembly",
    ];
    const UNSUPPORTED: &[&str] = &[
        "access-group",
        "dhcp",
        "helper-address",
        "igmp",
        "inspect",
        "mtu",
        "ospf",
        "pim",
        "policy",
        "split-horizon",
        "summary-address",
        "verify",
        "wccp",
    ];
    let mut all: Vec<&'static str> = vec!["address", "nat", "tcp"];
    all.extend_from_slice(IGNORED);
    all.extend_from_slice(UNSUPPORTED);
    all.sort_unstable();
    let k = c.kw(&all, "ip keyword")?;
    Ok(match k {
        "address" => {
            if negate {
                let _ = c.rest();
                return Ok(Cmd::IfAddress(None));
            }
            if c.opt_kw(&["dhcp", "negotiated"]).is_some() {
                return Ok(c.skip_warn("dynamic interface addresses not supported".into()));
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
                return Ok(Cmd::Warn("secondary addresses not supported".into()));
            }
            Cmd::IfAddress(Some((a, m)))
        }
        "nat" => {
            let side = match c.kw(&["enable", "inside", "outside"], "nat side")? {
                "inside" => NatSide::Inside,
                "outside" => NatSide::Outside,
                _ => return Ok(Cmd::Warn("NVI NAT not supported".into())),
            };
            Cmd::IfNat(if negate { None } else { Some(side) })
        }
        "tcp" => {
            c.kw(&["adjust-mss"], "tcp keyword")?;
            if negate {
                let _ = c.rest();
                Cmd::IfMss(None)
            } else {
                Cmd::IfMss(Some(c.num("MSS", 500, 1460)? as u16))
            }
        }
        k if IGNORED.contains(&k) => c.skip_warn(format!("ip {k} ignored: no effect on IPsec")),
        k => c.skip_warn(format!("ip {k} not supported")),
    })
}
