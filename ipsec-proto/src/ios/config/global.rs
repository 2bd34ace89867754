//! Global-mode commands: `hostname`, `crypto ...`, `interface`, `ip ...`, numbered `access-list`,
//! and the `no` forms that matter.

use std::net::Ipv4Addr;

use crate::policy::{
    AclKind, DpdConfig, DpdMode, EspEncryption, EspIntegrity, EspMode, KeyEncoding, NatRule,
    PreSharedKey, PskPeer, PskSecret, StaticRoute, TransformSet,
};

use super::acl::{acl_entry, acl_kind_of_number};
use super::grammar::{interface_name, Cmd};
use super::lex::{pick, Cursor, Pick, Tok};
use super::{ConfigError, State};

const GLOBAL_KW: &[&str] = &[
    "aaa",
    "access-list",
    "banner",
    "boot",
    "boot-end-marker",
    "boot-start-marker",
    "cdp",
    "clock",
    "control-plane",
    "crypto",
    "end",
    "enable",
    "exit",
    "hostname",
    "interface",
    "ip",
    "line",
    "logging",
    "no",
    "ntp",
    "router",
    "scheduler",
    "service",
    "snmp-server",
    "username",
    "version",
];

/// Global commands that open a block we do not model.
const GLOBAL_BLOCKS: &[&str] = &["control-plane", "line", "router"];

impl State {
    pub(super) fn global(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let first = c.peek();
        let k = c.kw(GLOBAL_KW, "command")?;
        let cmd = match k {
            "hostname" => {
                let t = c.next("hostname")?;
                Cmd::Hostname(t.text.to_string())
            }
            "crypto" => self.crypto(c)?,
            "interface" => {
                let mut parts = Vec::new();
                while let Some(t) = c.peek() {
                    if matches!(t.text, "point-to-point" | "multipoint") {
                        break;
                    }
                    parts.push(t.text);
                    c.pos += 1;
                }
                if parts.is_empty() {
                    return Err(c.err_at(c.eol_col, "missing interface name"));
                }
                let _ = c.rest();
                Cmd::Interface(interface_name(&parts))
            }
            "access-list" => self.numbered_acl(c)?,
            "ip" => self.global_ip(c)?,
            "end" | "exit" => Cmd::Exit,
            "no" => return self.global_no(c),
            _ => {
                let what = first.map_or("", |t| t.text).to_string();
                let _ = c.rest();
                if GLOBAL_BLOCKS.contains(&k) {
                    return Ok(Cmd::UnsupportedBlock(format!("\"{k}\" block ignored")));
                }
                return Ok(Cmd::Warn(format!("\"{what}\" ignored: no effect on IPsec")));
            }
        };
        c.end()?;
        Ok(cmd)
    }

    fn global_no(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let save = c.pos;
        if c.opt_kw(&["crypto"]).is_some() {
            if c.opt_kw(&["ipsec"]).is_some() && c.opt_kw(&["nat-transparency"]).is_some() {
                c.kw(&["udp-encapsulation"], "keyword")?;
                c.end()?;
                return Ok(Cmd::NatT(false));
            }
            c.pos = save + 1;
            if c.opt_kw(&["isakmp"]).is_some() {
                if c.opt_kw(&["keepalive"]).is_some() {
                    let _ = c.rest();
                    return Ok(Cmd::Dpd(None));
                }
                if c.opt_kw(&["nat"]).is_some() && c.opt_kw(&["keepalive"]).is_some() {
                    let _ = c.rest();
                    return Ok(Cmd::NatKeepalive(None));
                }
            }
        }
        c.pos = save;
        if c.opt_kw(&["hostname"]).is_some() {
            let _ = c.rest();
            return Ok(Cmd::NoHostname);
        }
        if c.opt_kw(&["access-list"]).is_some() {
            let t = c.next("access list number")?;
            c.end()?;
            return Ok(Cmd::NoAcl(t.text.to_string()));
        }
        // Everything else (`no service pad`, `no ip domain lookup`, ...) is accepted with a warning,
        // provided it starts with a global keyword.
        c.kw(GLOBAL_KW, "command")?;
        Ok(c.skip_warn("\"no\" form ignored".into()))
    }

    fn crypto(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        match c.kw(
            &[
                "ca",
                "dynamic-map",
                "ipsec",
                "isakmp",
                "key",
                "logging",
                "map",
                "pki",
            ],
            "crypto keyword",
        )? {
            "isakmp" => self.crypto_isakmp(c),
            "ipsec" => self.crypto_ipsec(c),
            "map" => self.crypto_map(c),
            k @ ("ca" | "pki" | "dynamic-map") => {
                let _ = c.rest();
                Ok(Cmd::UnsupportedBlock(format!("crypto {k} not supported")))
            }
            k => Ok(c.skip_warn(format!("crypto {k} not supported"))),
        }
    }

    fn crypto_isakmp(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let k = c.kw(
            &[
                "aggressive-mode",
                "client",
                "enable",
                "identity",
                "invalid-spi-recovery",
                "keepalive",
                "key",
                "nat",
                "policy",
                "profile",
                "xauth",
            ],
            "isakmp keyword",
        )?;
        match k {
            "policy" => Ok(Cmd::Policy(c.num("policy priority", 1, 10_000)? as u16)),
            "key" => self.isakmp_key(c),
            "keepalive" => {
                let interval = c.num("keepalive interval", 10, 3600)? as u32;
                let mut retry = DpdConfig::DEFAULT_RETRY_SECS;
                if let Some(t) = c.peek() {
                    if t.text.bytes().all(|b| b.is_ascii_digit()) {
                        c.pos += 1;
                        retry = c.num_tok(&t, "keepalive retry interval", 2, 60)? as u32;
                    }
                }
                let mode = match c.opt_kw(&["on-demand", "periodic"]) {
                    Some("periodic") => DpdMode::Periodic,
                    _ => DpdMode::OnDemand,
                };
                Ok(Cmd::Dpd(Some(DpdConfig {
                    interval_secs: interval,
                    retry_secs: retry,
                    mode,
                })))
            }
            "nat" => {
                c.kw(&["keepalive"], "nat keyword")?;
                Ok(Cmd::NatKeepalive(Some(
                    c.num("nat keepalive interval", 5, 3600)? as u32,
                )))
            }
            "profile" | "client" => {
                let _ = c.rest();
                Ok(Cmd::UnsupportedBlock(format!(
                    "crypto isakmp {k} not supported"
                )))
            }
            _ => Ok(c.skip_warn(format!("crypto isakmp {k} not supported"))),
        }
    }

    fn isakmp_key(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let first = c.next("key string")?;
        // `0`/`6` is a key type only when a key string follows it.
        let follows_peer = |t: Option<Tok<'_>>| {
            t.is_some_and(|t| matches!(pick(t.text, &["address", "hostname"]), Pick::One(_)))
        };
        let (encoding, key) = match first.text {
            "0" | "6" if !follows_peer(c.peek()) => {
                let k = c.next("key string")?;
                (
                    if first.text == "6" {
                        KeyEncoding::Type6
                    } else {
                        KeyEncoding::Clear
                    },
                    k,
                )
            }
            _ => (KeyEncoding::Clear, first),
        };
        let peer = match c.kw(&["address", "hostname"], "key peer keyword")? {
            "address" => {
                if c.peek()
                    .is_some_and(|t| t.text.eq_ignore_ascii_case("ipv6"))
                {
                    return Ok(c.skip_warn("IPv6 pre-shared keys not supported".into()));
                }
                let addr = c.ip("peer address")?;
                let mask = match c.peek() {
                    Some(t) if t.text.contains('.') => {
                        let m = c.ip("peer mask")?;
                        if crate::policy::isakmp::mask_prefix_len(m).is_none() {
                            return Err(c.err(&t, format!("invalid peer mask \"{}\"", t.text)));
                        }
                        m
                    }
                    _ => Ipv4Addr::BROADCAST,
                };
                PskPeer::Address { addr, mask }
            }
            _ => PskPeer::Hostname(c.next("hostname")?.text.to_string()),
        };
        let no_xauth = c.opt_kw(&["no-xauth"]).is_some();
        Ok(Cmd::Key(PreSharedKey {
            key: PskSecret::new(key.text.as_bytes()),
            encoding,
            peer,
            no_xauth,
        }))
    }

    fn crypto_ipsec(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let k = c.kw(
            &[
                "client",
                "df-bit",
                "fragmentation",
                "nat-transparency",
                "profile",
                "security-association",
                "transform-set",
            ],
            "ipsec keyword",
        )?;
        match k {
            "transform-set" => self.transform_set(c),
            "security-association" => match c.kw(
                &["idle-time", "lifetime", "replay"],
                "security-association keyword",
            )? {
                "lifetime" => match c.kw(&["days", "kilobytes", "seconds"], "lifetime unit")? {
                    "seconds" => Ok(Cmd::SaLifeSecs(
                        c.num("lifetime seconds", 120, 86_400)? as u32
                    )),
                    "kilobytes" => Ok(Cmd::SaLifeKb(c.num(
                        "lifetime kilobytes",
                        2560,
                        4_294_967_295,
                    )?)),
                    _ => Ok(c.skip_warn("lifetime days not supported".into())),
                },
                "replay" => {
                    c.kw(&["window-size"], "replay keyword")?;
                    let t = c.next("window size")?;
                    let v = c.num_tok(&t, "window size", 64, 1024)?;
                    if ![64, 128, 256, 512, 1024].contains(&v) {
                        return Err(c.err(
                            &t,
                            format!("window size {v} is not 64, 128, 256, 512 or 1024"),
                        ));
                    }
                    Ok(Cmd::Replay(v as u32))
                }
                _ => Ok(c.skip_warn("security-association idle-time not supported".into())),
            },
            "nat-transparency" => {
                c.kw(&["udp-encapsulation"], "nat-transparency keyword")?;
                Ok(Cmd::NatT(true))
            }
            "profile" | "client" => {
                let _ = c.rest();
                Ok(Cmd::UnsupportedBlock(format!(
                    "crypto ipsec {k} not supported"
                )))
            }
            _ => Ok(c.skip_warn(format!("crypto ipsec {k} not supported"))),
        }
    }

    fn transform_set(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let name = c.next("transform set name")?.text.to_string();
        const TRANSFORMS: &[&str] = &[
            "ah-md5-hmac",
            "ah-sha-hmac",
            "ah-sha256-hmac",
            "ah-sha384-hmac",
            "ah-sha512-hmac",
            "comp-lzs",
            "esp-3des",
            "esp-aes",
            "esp-des",
            "esp-gcm",
            "esp-gmac",
            "esp-md5-hmac",
            "esp-null",
            "esp-seal",
            "esp-sha-hmac",
            "esp-sha256-hmac",
            "esp-sha384-hmac",
            "esp-sha512-hmac",
        ];
        let mut enc: Option<EspEncryption> = None;
        let mut integ: Option<EspIntegrity> = None;
        let mut unsupported: Option<&str> = None;
        if c.at_end() {
            return Err(c.err_at(c.eol_col, "missing transform"));
        }
        while let Some(t) = c.peek() {
            let k = c.kw(TRANSFORMS, "transform")?;
            let e = match k {
                "esp-des" => Some(EspEncryption::Des),
                "esp-3des" => Some(EspEncryption::TripleDes),
                "esp-null" => Some(EspEncryption::Null),
                "esp-aes" => Some(match c.peek().map(|t| t.text) {
                    Some("128") => {
                        c.pos += 1;
                        EspEncryption::Aes128
                    }
                    Some("192") => {
                        c.pos += 1;
                        EspEncryption::Aes192
                    }
                    Some("256") => {
                        c.pos += 1;
                        EspEncryption::Aes256
                    }
                    _ => EspEncryption::Aes128,
                }),
                _ => None,
            };
            let i = match k {
                "esp-md5-hmac" => Some(EspIntegrity::Md5),
                "esp-sha-hmac" => Some(EspIntegrity::Sha1),
                "esp-sha256-hmac" => Some(EspIntegrity::Sha256),
                "esp-sha384-hmac" => Some(EspIntegrity::Sha384),
                "esp-sha512-hmac" => Some(EspIntegrity::Sha512),
                _ => None,
            };
            if let Some(e) = e {
                if enc.replace(e).is_some() {
                    return Err(c.err(&t, "more than one ESP encryption transform"));
                }
            } else if let Some(i) = i {
                if integ.replace(i).is_some() {
                    return Err(c.err(&t, "more than one ESP authentication transform"));
                }
            } else {
                unsupported.get_or_insert(k);
                if matches!(k, "esp-gcm" | "esp-gmac") {
                    let _ = c.opt_kw(&["128", "192", "256"]);
                }
            }
        }
        if let Some(k) = unsupported {
            return Ok(Cmd::UnsupportedBlock(format!(
                "transform set {name} ignored: transform {k} not supported"
            )));
        }
        let esp_integrity = integ.unwrap_or(EspIntegrity::None);
        // An ESP transform set with only an authentication transform is ESP-NULL with integrity.
        let esp_encryption = enc.unwrap_or(EspEncryption::Null);
        Ok(Cmd::TransformSet(TransformSet {
            name,
            esp_encryption,
            esp_integrity,
            mode: EspMode::Tunnel,
        }))
    }

    fn crypto_map(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let name = c.next("map name")?.text.to_string();
        let t = c.next("sequence number or keyword")?;
        if !t.text.bytes().all(|b| b.is_ascii_digit()) {
            if matches!(
                pick(
                    t.text,
                    &[
                        "client",
                        "isakmp",
                        "isakmp-profile",
                        "local-address",
                        "redundancy"
                    ]
                ),
                Pick::One(_)
            ) {
                return Ok(c.skip_warn(format!("crypto map {name} {} not supported", t.text)));
            }
            return Err(c.err(&t, format!("invalid sequence number \"{}\"", t.text)));
        }
        let seq = c.num_tok(&t, "sequence number", 1, 65_535)? as u16;
        match c.opt_kw(&["gdoi", "ipsec-isakmp", "ipsec-manual"]) {
            None | Some("ipsec-isakmp") => {
                if c.opt_kw(&["dynamic"]).is_some() {
                    return Ok(c.skip_warn(format!(
                        "crypto map {name} {seq}: dynamic crypto maps not supported"
                    )));
                }
                Ok(Cmd::Map(name, seq))
            }
            Some(k) => {
                let _ = c.rest();
                Ok(Cmd::UnsupportedBlock(format!(
                    "crypto map {name} {seq} {k} not supported"
                )))
            }
        }
    }

    fn global_ip(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        const IGNORED: &[&str] = &[
            "bootp",
            "cef",
            "classless",
            "default-gateway",
            "dhcp",
            "dns",
            "domain",
            "domain-lookup",
            "domain-name",
            "finger",
            "ftp",
            "host",
            "http",
            "inspect",
            "local",
            "name-server",
            "sla",
            "source-route",
            "ssh",
            "subnet-zero",
            "tcp",
        ];
        let mut all: Vec<&'static str> = vec!["access-list", "nat", "route"];
        all.extend_from_slice(IGNORED);
        all.sort_unstable();
        let k = c.kw(&all, "ip keyword")?;
        match k {
            "route" => self.route(c),
            "nat" => self.nat(c),
            "access-list" => {
                let kind = match c.kw(
                    &["extended", "log-update", "logging", "standard"],
                    "access-list type",
                )? {
                    "extended" => AclKind::Extended,
                    "standard" => AclKind::Standard,
                    _ => {
                        return Ok(c.skip_warn("access-list logging options ignored".into()));
                    }
                };
                let t = c.next("access list name")?;
                let mut name = t.text.to_string();
                if let Ok(n) = name.parse::<u32>() {
                    if acl_kind_of_number(n) != Some(kind) {
                        return Err(
                            c.err(&t, format!("invalid access list number {n} for this type"))
                        );
                    }
                    // `ip access-list extended 0100` edits access list 100, as IOS does: a
                    // numeric name is the number, so both forms name one list.
                    name = n.to_string();
                }
                Ok(Cmd::NamedAcl(name, kind))
            }
            _ => Ok(c.skip_warn(format!("ip {k} ignored: no effect on IPsec"))),
        }
    }

    fn route(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        if c.peek().is_some_and(|t| t.text.eq_ignore_ascii_case("vrf")) {
            return Ok(c.skip_warn("VRF routes not supported".into()));
        }
        let prefix = c.ip("route prefix")?;
        let mask = c.ip("route mask")?;
        let mut r = StaticRoute {
            prefix,
            mask,
            interface: None,
            next_hop: None,
            distance: None,
        };
        let t = c.next("next hop or interface")?;
        if let Ok(a) = t.text.parse::<Ipv4Addr>() {
            r.next_hop = Some(a);
        } else if t.text.starts_with(|ch: char| ch.is_ascii_alphabetic()) {
            r.interface = Some(interface_name(&[t.text]));
            if let Some(n) = c.peek().and_then(|t| t.text.parse::<Ipv4Addr>().ok()) {
                c.pos += 1;
                r.next_hop = Some(n);
            }
        } else {
            return Err(c.err(&t, format!("invalid next hop \"{}\"", t.text)));
        }
        if let Some(t) = c.peek() {
            if t.text.bytes().all(|b| b.is_ascii_digit()) {
                c.pos += 1;
                r.distance = Some(c.num_tok(&t, "distance", 1, 255)? as u8);
            }
        }
        if c.opt_kw(&["name", "permanent", "tag"]).is_some() {
            let _ = c.rest();
        }
        Ok(Cmd::Route(r))
    }

    fn nat(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let k = c.kw(&["inside", "outside", "pool", "translation"], "nat keyword")?;
        if k != "inside" {
            return Ok(c.skip_warn(format!("ip nat {k} not supported")));
        }
        c.kw(&["source"], "nat keyword")?;
        match c.kw(&["list", "route-map", "static"], "nat source keyword")? {
            "list" => {}
            k => {
                return Ok(c.skip_warn(format!("ip nat inside source {k} not supported")));
            }
        }
        let acl = c.next("access list")?.text.to_string();
        match c.kw(&["interface", "pool"], "nat keyword")? {
            "interface" => {}
            _ => {
                return Ok(c.skip_warn("NAT pools not supported".into()));
            }
        }
        let mut parts = Vec::new();
        let first = c.next("interface name")?;
        parts.push(first.text);
        // `interface FastEthernet 4` (space before the unit) is accepted like on IOS.
        if let Some(t) = c.peek() {
            if t.text.starts_with(|ch: char| ch.is_ascii_digit()) {
                parts.push(t.text);
                c.pos += 1;
            }
        }
        let overload = c.opt_kw(&["overload"]).is_some();
        Ok(Cmd::Nat(NatRule {
            acl,
            interface: interface_name(&parts),
            overload,
        }))
    }

    fn numbered_acl(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let t = c.next("access list number")?;
        let n = c.num_tok(&t, "access list number", 1, 2699)? as u32;
        let kind = acl_kind_of_number(n)
            .ok_or_else(|| c.err(&t, format!("access list number {n} not supported")))?;
        let name = n.to_string();
        if c.opt_kw(&["remark"]).is_some() {
            return Ok(Cmd::AclRemark {
                name,
                kind,
                text: c.rest(),
            });
        }
        if c.opt_kw(&["dynamic"]).is_some() {
            return Ok(c.skip_warn("dynamic access list entries not supported".into()));
        }
        let (entry, warn) = acl_entry(c, kind)?;
        if let Some(w) = warn {
            return Ok(Cmd::Warn(w));
        }
        Ok(Cmd::AclEntry {
            name,
            kind,
            seq: None,
            entry,
        })
    }
}
