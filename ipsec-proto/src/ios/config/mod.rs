//! IOS configuration text -> [`GatewayConfig`], and [`render`] back to canonical running-config text.
//!
//! Parsing follows the IOS CLI rather than indentation: a line is first tried as a command of the
//! current sub-mode (`config-isakmp`, `cfg-crypto-trans`, `config-crypto-map`, `config-if`,
//! `config-ext-nacl`); when that fails it is tried as a global command, which leaves the sub-mode,
//! exactly as a router does when a pasted configuration has irregular indentation. Keywords may be
//! abbreviated to any unambiguous prefix within their context.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::policy::{
    AccessList, AclAction, AclEntry, AclKind, AclProtocol, AddrMatch, CryptoMapEntry, DpdConfig,
    DpdMode, EspEncryption, EspIntegrity, EspMode, GatewayConfig, IkeAuth, IkeEncryption, IkeHash,
    Interface, IpsecGlobals, IsakmpPolicy, KeyEncoding, NatRule, NatSide, PortMatch, PreSharedKey,
    PskPeer, PskSecret, StaticRoute, TransformSet,
};

/// A line that cannot be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (characters) of the offending token.
    pub column: usize,
    /// One-line reason.
    pub message: String,
}

/// A recognised command that has no effect here (ignored or not supported); never dropped silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Why it has no effect.
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A configuration item whose source line is remembered (for lints).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Item {
    /// `crypto isakmp policy N`.
    IsakmpPolicy(u16),
    /// `crypto isakmp key`, by index into [`GatewayConfig::keys`].
    Key(usize),
    /// `crypto ipsec transform-set NAME`.
    TransformSet(String),
    /// `crypto map NAME SEQ`.
    MapEntry(String, u16),
    /// The first line of an access list.
    Acl(String),
    /// One ACL entry, by list name and sequence number.
    AclEntry(String, u32),
    /// `interface X`.
    Interface(String),
    /// `ip nat inside source`, by index into [`GatewayConfig::nat_rules`].
    Nat(usize),
    /// `ip route`, by index into [`GatewayConfig::routes`].
    Route(usize),
}

/// Where configuration items came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(BTreeMap<Item, usize>);

impl Origins {
    /// The (1-based) line an item was defined on.
    pub fn line(&self, item: &Item) -> Option<usize> {
        self.0.get(item).copied()
    }

    fn set(&mut self, item: Item, line: usize) {
        self.0.entry(item).or_insert(line);
    }
}

/// Result of [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedConfig {
    /// The configuration.
    pub config: GatewayConfig,
    /// Commands that were recognised but have no effect.
    pub warnings: Vec<ConfigWarning>,
    /// Source lines of items.
    pub origins: Origins,
}

/// Parses IOS configuration text (a running-config or pasted commands).
pub fn parse(text: &str) -> Result<ParsedConfig, ConfigError> {
    let mut st = State {
        cfg: GatewayConfig::default(),
        mode: Mode::Global,
        warnings: Vec::new(),
        origins: Origins::default(),
    };
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx.saturating_add(1);
        let cur = Cursor::new(raw, line_no);
        if cur.toks.is_empty() {
            continue;
        }
        st.line(cur)?;
    }
    Ok(ParsedConfig {
        config: st.cfg,
        warnings: st.warnings,
        origins: st.origins,
    })
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    text: &'a str,
    col: usize,
    byte: usize,
}

#[derive(Clone, Debug)]
struct Cursor<'a> {
    raw: &'a str,
    line: usize,
    toks: Vec<Tok<'a>>,
    pos: usize,
    eol_col: usize,
}

impl<'a> Cursor<'a> {
    fn new(raw: &'a str, line: usize) -> Self {
        let mut toks = Vec::new();
        let mut col = 0usize;
        let mut start: Option<(usize, usize)> = None;
        let mut comment = false;
        for (b, ch) in raw.char_indices() {
            col += 1;
            if ch.is_whitespace() {
                if let Some((sb, sc)) = start.take() {
                    toks.push(Tok {
                        text: raw.get(sb..b).unwrap_or(""),
                        col: sc,
                        byte: sb,
                    });
                }
            } else if start.is_none() {
                if ch == '!' {
                    // `!` starts a comment only at the start of a word (the seed has `hostname siteA  !`).
                    comment = true;
                    break;
                }
                start = Some((b, col));
            }
        }
        if !comment {
            if let Some((sb, sc)) = start {
                toks.push(Tok {
                    text: raw.get(sb..).unwrap_or(""),
                    col: sc,
                    byte: sb,
                });
            }
        }
        let eol_col = toks.last().map_or(1, |t| t.col + t.text.chars().count());
        Cursor {
            raw,
            line,
            toks,
            pos: 0,
            eol_col,
        }
    }

    fn err_at(&self, col: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: self.line,
            column: col,
            message: message.into(),
        }
    }

    fn err(&self, tok: &Tok<'_>, message: impl Into<String>) -> ConfigError {
        self.err_at(tok.col, message)
    }

    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn next(&mut self, what: &str) -> Result<Tok<'a>, ConfigError> {
        match self.peek() {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => Err(self.err_at(self.eol_col, format!("missing {what}"))),
        }
    }

    /// Next token as one of `choices`, abbreviations allowed.
    fn kw(&mut self, choices: &[&'static str], what: &str) -> Result<&'static str, ConfigError> {
        let t = self.next(what)?;
        match pick(t.text, choices) {
            Pick::One(k) => Ok(k),
            Pick::None => Err(self.err(&t, format!("unknown {what} \"{}\"", t.text))),
            Pick::Ambiguous(a, b) => Err(self.err(
                &t,
                format!("ambiguous {what} \"{}\" (could be {a} or {b})", t.text),
            )),
        }
    }

    /// Consumes the next token when it is (an abbreviation of) one of `choices`.
    fn opt_kw(&mut self, choices: &[&'static str]) -> Option<&'static str> {
        let t = self.peek()?;
        match pick(t.text, choices) {
            Pick::One(k) => {
                self.pos += 1;
                Some(k)
            }
            _ => None,
        }
    }

    fn ip(&mut self, what: &str) -> Result<Ipv4Addr, ConfigError> {
        let t = self.next(what)?;
        t.text
            .parse()
            .map_err(|_| self.err(&t, format!("invalid {what} \"{}\"", t.text)))
    }

    fn num(&mut self, what: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
        let t = self.next(what)?;
        self.num_tok(&t, what, lo, hi)
    }

    fn num_tok(&self, t: &Tok<'_>, what: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
        match t.text.parse::<u64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            Ok(_) => Err(self.err(t, format!("{what} \"{}\" out of range {lo}-{hi}", t.text))),
            Err(_) => Err(self.err(t, format!("invalid {what} \"{}\"", t.text))),
        }
    }

    fn end(&self) -> Result<(), ConfigError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.err(&t, format!("unexpected \"{}\"", t.text))),
        }
    }

    /// Skips the rest of the line: recognised, but reported as `why` since it has no effect here.
    fn skip_warn(&mut self, why: String) -> Cmd {
        let _ = self.rest();
        Cmd::Warn(why)
    }

    /// The raw rest of the line from the next token on (for descriptions and remarks).
    fn rest(&mut self) -> String {
        let s = match self.peek() {
            Some(t) => self.raw.get(t.byte..).unwrap_or("").trim_end().to_string(),
            None => String::new(),
        };
        self.pos = self.toks.len();
        s
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.eol_col, |t| t.col)
    }
}

enum Pick {
    One(&'static str),
    None,
    Ambiguous(&'static str, &'static str),
}

fn pick(text: &str, choices: &[&'static str]) -> Pick {
    let t = text.to_ascii_lowercase();
    if let Some(c) = choices.iter().find(|c| **c == t) {
        return Pick::One(c);
    }
    let mut it = choices.iter().filter(|c| c.starts_with(t.as_str()));
    match (it.next(), it.next()) {
        (Some(a), None) => Pick::One(a),
        (Some(a), Some(b)) => Pick::Ambiguous(a, b),
        _ => Pick::None,
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
fn interface_name(parts: &[&str]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Commands

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Global,
    Policy(u16),
    TransformSet(String),
    Map(String, u16),
    Interface(String),
    Acl(String),
    /// Inside a block we do not model (`line vty`, `crypto pki trustpoint`, ...).
    Unsupported,
}

#[derive(Clone, Debug)]
enum Cmd {
    /// Recognised, no effect; the message says why.
    Warn(String),
    Exit,
    Hostname(String),
    NoHostname,
    Policy(u16),
    Key(PreSharedKey),
    Dpd(Option<DpdConfig>),
    NatKeepalive(Option<u32>),
    NatT(bool),
    TransformSet(TransformSet),
    SaLifeSecs(u32),
    SaLifeKb(u64),
    Replay(u32),
    Map(String, u16),
    Interface(String),
    NamedAcl(String, AclKind),
    AclEntry {
        name: String,
        kind: AclKind,
        seq: Option<u32>,
        entry: AclEntry,
    },
    AclRemark {
        name: String,
        kind: AclKind,
        text: String,
    },
    NoAcl(String),
    Route(StaticRoute),
    Nat(NatRule),
    UnsupportedBlock(String),
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
    MatchAddress(Option<String>),
    ReverseRoute(bool),
    // config-if
    IfAddress(Option<(Ipv4Addr, Ipv4Addr)>),
    IfNat(Option<NatSide>),
    IfCryptoMap(Option<String>),
    IfMss(Option<u16>),
    IfDescription(Option<String>),
    IfShutdown(bool),
}

struct State {
    cfg: GatewayConfig,
    mode: Mode,
    warnings: Vec<ConfigWarning>,
    origins: Origins,
}

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
    fn line(&mut self, cur: Cursor<'_>) -> Result<(), ConfigError> {
        let line = cur.line;
        let col = cur.col();
        let (cmd, new_mode_from_global) = if self.mode == Mode::Global {
            let mut c = cur;
            (self.global(&mut c)?, true)
        } else {
            let mut c1 = cur.clone();
            match self.sub(&mut c1) {
                // An ignored sub-mode command that is really an abbreviation (`ip route` matching
                // `ip route-cache` in config-if) loses to a global command that takes effect.
                Ok(Cmd::Warn(w)) => {
                    let mut c2 = cur;
                    match self.global(&mut c2) {
                        Ok(cmd) if !matches!(cmd, Cmd::Warn(_)) => (cmd, true),
                        _ => (Cmd::Warn(w), false),
                    }
                }
                Ok(cmd) => (cmd, false),
                Err(e1) => {
                    let mut c2 = cur;
                    match self.global(&mut c2) {
                        Ok(cmd) => (cmd, true),
                        Err(e2) => {
                            if self.mode == Mode::Unsupported {
                                self.warn(
                                    line,
                                    col,
                                    "ignored: not supported inside this block".to_string(),
                                );
                                return Ok(());
                            }
                            return Err(if e2.column > e1.column { e2 } else { e1 });
                        }
                    }
                }
            }
        };
        if new_mode_from_global {
            self.mode = Mode::Global;
        }
        self.apply(cmd, line, col);
        Ok(())
    }

    fn warn(&mut self, line: usize, column: usize, message: String) {
        self.warnings.push(ConfigWarning {
            line,
            column,
            message,
        });
    }

    // ---- global commands ------------------------------------------------------------------

    fn global(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
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

    // ---- sub-mode commands ----------------------------------------------------------------

    fn sub(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
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

    // ---- applying ---------------------------------------------------------------------------

    fn apply(&mut self, cmd: Cmd, line: usize, col: usize) {
        let cfg = &mut self.cfg;
        match cmd {
            Cmd::Warn(m) => self.warn(line, col, m),
            Cmd::UnsupportedBlock(m) => {
                self.warn(line, col, m);
                self.mode = Mode::Unsupported;
            }
            Cmd::Exit => self.mode = Mode::Global,
            Cmd::Hostname(h) => cfg.hostname = Some(h),
            Cmd::NoHostname => cfg.hostname = None,
            Cmd::Policy(p) => {
                if cfg.isakmp_policy(p).is_none() {
                    let pos = cfg
                        .isakmp_policies
                        .iter()
                        .position(|x| x.priority > p)
                        .unwrap_or(cfg.isakmp_policies.len());
                    cfg.isakmp_policies.insert(pos, IsakmpPolicy::new(p));
                }
                self.origins.set(Item::IsakmpPolicy(p), line);
                self.mode = Mode::Policy(p);
            }
            Cmd::Key(k) => {
                // A second key for the same peer replaces the first, as on IOS.
                match cfg.keys.iter().position(|x| x.peer == k.peer) {
                    Some(i) => {
                        if let Some(slot) = cfg.keys.get_mut(i) {
                            *slot = k;
                        }
                    }
                    None => {
                        cfg.keys.push(k);
                        self.origins.set(Item::Key(cfg.keys.len() - 1), line);
                    }
                }
            }
            Cmd::Dpd(d) => cfg.ipsec.dpd = d,
            Cmd::NatKeepalive(n) => cfg.ipsec.nat_keepalive_secs = n,
            Cmd::NatT(b) => cfg.ipsec.nat_t = b,
            Cmd::TransformSet(ts) => {
                let name = ts.name.clone();
                match cfg.transform_sets.iter_mut().find(|t| t.name == name) {
                    Some(t) => {
                        // Re-entering a transform set changes its transforms but keeps its mode.
                        t.esp_encryption = ts.esp_encryption;
                        t.esp_integrity = ts.esp_integrity;
                    }
                    None => cfg.transform_sets.push(ts),
                }
                self.origins.set(Item::TransformSet(name.clone()), line);
                self.mode = Mode::TransformSet(name);
            }
            Cmd::SaLifeSecs(s) => cfg.ipsec.sa_lifetime_secs = s,
            Cmd::SaLifeKb(k) => cfg.ipsec.sa_lifetime_kb = k,
            Cmd::Replay(r) => cfg.ipsec.replay_window = r,
            Cmd::Map(name, seq) => {
                if !cfg
                    .crypto_maps
                    .iter()
                    .any(|e| e.map == name && e.seq == seq)
                {
                    let pos = cfg
                        .crypto_maps
                        .iter()
                        .position(|e| (e.map.as_str(), e.seq) > (name.as_str(), seq))
                        .unwrap_or(cfg.crypto_maps.len());
                    cfg.crypto_maps
                        .insert(pos, CryptoMapEntry::new(name.clone(), seq));
                }
                self.origins.set(Item::MapEntry(name.clone(), seq), line);
                self.mode = Mode::Map(name, seq);
            }
            Cmd::Interface(name) => {
                if cfg.interface(&name).is_none() {
                    cfg.interfaces.push(Interface::new(name.clone()));
                }
                let canonical = cfg.interface(&name).map_or(name, |i| i.name.clone());
                self.origins.set(Item::Interface(canonical.clone()), line);
                self.mode = Mode::Interface(canonical);
            }
            Cmd::NamedAcl(name, kind) => {
                self.acl_mut(&name, kind, line);
                self.mode = Mode::Acl(name);
            }
            Cmd::AclEntry {
                name,
                kind,
                seq,
                entry,
            } => {
                let acl = self.acl_mut(&name, kind, line);
                if acl.kind != kind {
                    self.warn(
                        line,
                        col,
                        format!("access list {name} is of another type; entry ignored"),
                    );
                    return;
                }
                if !acl.insert(seq, entry) {
                    self.warn(
                        line,
                        col,
                        format!("access list {name}: duplicate sequence number; entry ignored"),
                    );
                    return;
                }
                if let Some(s) = seq.or_else(|| acl.entries.last().map(|e| e.seq)) {
                    self.origins.set(Item::AclEntry(name, s), line);
                }
            }
            Cmd::AclRemark { name, kind, text } => {
                self.acl_mut(&name, kind, line).remarks.push(text);
            }
            Cmd::NoAcl(name) => cfg.access_lists.retain(|a| a.name != name),
            Cmd::Route(r) => {
                if !cfg.routes.contains(&r) {
                    cfg.routes.push(r);
                    self.origins.set(Item::Route(cfg.routes.len() - 1), line);
                }
            }
            Cmd::Nat(n) => {
                if !cfg.nat_rules.contains(&n) {
                    cfg.nat_rules.push(n);
                    self.origins.set(Item::Nat(cfg.nat_rules.len() - 1), line);
                }
            }
            other => self.apply_sub(other, line, col),
        }
    }

    fn acl_mut(&mut self, name: &str, kind: AclKind, line: usize) -> &mut AccessList {
        let idx = match self.cfg.access_lists.iter().position(|a| a.name == name) {
            Some(i) => i,
            None => {
                let numbered = name.parse::<u32>().is_ok();
                self.cfg
                    .access_lists
                    .push(AccessList::new(name, numbered, kind));
                self.origins.set(Item::Acl(name.to_string()), line);
                self.cfg.access_lists.len() - 1
            }
        };
        // `idx` is in bounds: it was just found or pushed.
        let last = self.cfg.access_lists.len().saturating_sub(1);
        &mut self.cfg.access_lists[idx.min(last)]
    }

    fn apply_sub(&mut self, cmd: Cmd, line: usize, col: usize) {
        match self.mode.clone() {
            Mode::Policy(p) => {
                let Some(pol) = self
                    .cfg
                    .isakmp_policies
                    .iter_mut()
                    .find(|x| x.priority == p)
                else {
                    return;
                };
                let d = IsakmpPolicy::new(p);
                match cmd {
                    Cmd::Encr(e) => pol.encryption = e.unwrap_or(d.encryption),
                    Cmd::Hash(h) => pol.hash = h.unwrap_or(d.hash),
                    Cmd::Auth(a) => pol.authentication = a.unwrap_or(d.authentication),
                    Cmd::Group(g) => pol.group = g.unwrap_or(d.group),
                    Cmd::Lifetime(l) => pol.lifetime_secs = l.unwrap_or(d.lifetime_secs),
                    _ => {}
                }
            }
            Mode::TransformSet(name) => {
                if let (Cmd::TsMode(m), Some(ts)) = (
                    cmd,
                    self.cfg.transform_sets.iter_mut().find(|t| t.name == name),
                ) {
                    ts.mode = m;
                }
            }
            Mode::Map(name, seq) => {
                let Some(e) = self
                    .cfg
                    .crypto_maps
                    .iter_mut()
                    .find(|e| e.map == name && e.seq == seq)
                else {
                    return;
                };
                match cmd {
                    Cmd::SetPeer {
                        peer: Some(p),
                        default,
                        remove: false,
                    } => {
                        e.peers.retain(|x| *x != p);
                        if default {
                            e.peers.insert(0, p);
                        } else {
                            e.peers.push(p);
                        }
                    }
                    Cmd::SetPeer {
                        peer: Some(p),
                        remove: true,
                        ..
                    } => e.peers.retain(|x| *x != p),
                    Cmd::SetPeer { peer: None, .. } => e.peers.clear(),
                    Cmd::SetTs(v) => e.transform_sets = v,
                    Cmd::SetPfs(g) => e.pfs_group = g,
                    Cmd::SetLifeSecs(s) => e.lifetime_secs = s,
                    Cmd::SetLifeKb(k) => e.lifetime_kb = k,
                    Cmd::MatchAddress(a) => e.acl = a,
                    Cmd::ReverseRoute(r) => e.reverse_route = r,
                    _ => {}
                }
            }
            Mode::Interface(name) => {
                let Some(i) = self.cfg.interfaces.iter_mut().find(|i| i.name == name) else {
                    return;
                };
                match cmd {
                    Cmd::IfAddress(a) => i.address = a,
                    Cmd::IfNat(n) => i.nat = n,
                    Cmd::IfCryptoMap(m) => i.crypto_map = m,
                    Cmd::IfMss(m) => i.tcp_adjust_mss = m,
                    Cmd::IfDescription(d) => i.description = d,
                    Cmd::IfShutdown(s) => i.shutdown = s,
                    _ => {}
                }
            }
            Mode::Global | Mode::Acl(_) | Mode::Unsupported => {
                self.warn(line, col, "command has no effect here".into());
            }
        }
    }
}

fn acl_kind_of_number(n: u32) -> Option<AclKind> {
    match n {
        1..=99 | 1300..=1999 => Some(AclKind::Standard),
        100..=199 | 2000..=2699 => Some(AclKind::Extended),
        _ => None,
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

const PORT_NAMES: &[(&str, u16)] = &[
    ("bgp", 179),
    ("bootpc", 68),
    ("bootps", 67),
    ("domain", 53),
    ("ftp", 21),
    ("ftp-data", 20),
    ("isakmp", 500),
    ("non500-isakmp", 4500),
    ("ntp", 123),
    ("pop3", 110),
    ("smtp", 25),
    ("snmp", 161),
    ("ssh", 22),
    ("syslog", 514),
    ("telnet", 23),
    ("tftp", 69),
    ("www", 80),
];

fn port(c: &mut Cursor<'_>) -> Result<u16, ConfigError> {
    let t = c.next("port")?;
    if t.text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(c.num_tok(&t, "port", 0, 65_535)? as u16);
    }
    let names: Vec<&'static str> = PORT_NAMES.iter().map(|(n, _)| *n).collect();
    match pick(t.text, &names) {
        Pick::One(n) => Ok(PORT_NAMES
            .iter()
            .find(|(x, _)| *x == n)
            .map_or(0, |(_, p)| *p)),
        _ => Err(c.err(&t, format!("unknown port \"{}\"", t.text))),
    }
}

fn port_match(c: &mut Cursor<'_>) -> Result<PortMatch, ConfigError> {
    let Some(op) = c.opt_kw(&["eq", "gt", "lt", "neq", "range"]) else {
        return Ok(PortMatch::Any);
    };
    Ok(match op {
        "eq" => PortMatch::Eq(port(c)?),
        "neq" => PortMatch::Neq(port(c)?),
        "lt" => PortMatch::Lt(port(c)?),
        "gt" => PortMatch::Gt(port(c)?),
        _ => {
            let col = c.col();
            let a = port(c)?;
            let b = port(c)?;
            if a > b {
                return Err(c.err_at(col, format!("invalid port range {a} {b}")));
            }
            PortMatch::Range(a, b)
        }
    })
}

fn addr_match(c: &mut Cursor<'_>, standard: bool) -> Result<AddrMatch, ConfigError> {
    let t = c.next("address")?;
    match pick(t.text, &["any", "host"]) {
        Pick::One("any") if !t.text.contains('.') => return Ok(AddrMatch::ANY),
        Pick::One("host") if !t.text.contains('.') => {
            return Ok(AddrMatch::host(c.ip("host address")?))
        }
        _ => {}
    }
    let addr: Ipv4Addr = t
        .text
        .parse()
        .map_err(|_| c.err(&t, format!("invalid address \"{}\"", t.text)))?;
    if standard && !c.peek().is_some_and(|t| t.text.contains('.')) {
        return Ok(AddrMatch::host(addr));
    }
    let wildcard = c.ip("wildcard")?;
    Ok(AddrMatch { addr, wildcard })
}

/// Parses `{permit|deny} ...`; the second value is a warning when the entry is recognised but not modelled.
fn acl_entry(c: &mut Cursor<'_>, kind: AclKind) -> Result<(AclEntry, Option<String>), ConfigError> {
    let action = match c.kw(&["deny", "permit"], "access list action")? {
        "permit" => AclAction::Permit,
        _ => AclAction::Deny,
    };
    let mut e = AclEntry {
        seq: 0,
        action,
        protocol: AclProtocol::Ip,
        src: AddrMatch::ANY,
        src_port: PortMatch::Any,
        dst: AddrMatch::ANY,
        dst_port: PortMatch::Any,
        log: false,
    };
    if kind == AclKind::Standard {
        e.src = addr_match(c, true)?;
    } else {
        let t = c.next("protocol")?;
        e.protocol = if t.text.bytes().all(|b| b.is_ascii_digit()) {
            let n = c.num_tok(&t, "protocol", 0, 255)? as u8;
            if n == 0 {
                AclProtocol::Ip
            } else {
                AclProtocol::Number(n)
            }
        } else {
            let mut names: Vec<&'static str> = AclProtocol::names().collect();
            names.push("ip");
            names.sort_unstable();
            match pick(t.text, &names) {
                Pick::One(n) => AclProtocol::from_name(n).unwrap_or(AclProtocol::Ip),
                Pick::None => return Err(c.err(&t, format!("unknown protocol \"{}\"", t.text))),
                Pick::Ambiguous(a, b) => {
                    return Err(c.err(
                        &t,
                        format!("ambiguous protocol \"{}\" (could be {a} or {b})", t.text),
                    ))
                }
            }
        };
        e.src = addr_match(c, false)?;
        if e.protocol.has_ports() {
            e.src_port = port_match(c)?;
        }
        e.dst = addr_match(c, false)?;
        if e.protocol.has_ports() {
            e.dst_port = port_match(c)?;
        }
    }
    let mut warn = None;
    while let Some(t) = c.peek() {
        match pick(
            t.text,
            &[
                "dscp",
                "established",
                "fragments",
                "log",
                "log-input",
                "precedence",
                "time-range",
                "tos",
            ],
        ) {
            Pick::One("log" | "log-input") => {
                c.pos += 1;
                e.log = true;
            }
            Pick::One(k) => {
                let _ = c.rest();
                warn = Some(format!(
                    "access list entry with \"{k}\" not supported; entry ignored"
                ));
            }
            _ if e.protocol == AclProtocol::ICMP => {
                let _ = c.rest();
                warn = Some("ICMP type matching not supported; entry ignored".into());
            }
            _ => return Err(c.err(&t, format!("unexpected \"{}\"", t.text))),
        }
    }
    Ok((e, warn))
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Canonical running-config text for a configuration, omitting defaults as IOS does.
/// `parse(&render(c))` yields `c` again for every configuration `parse` can produce.
pub fn render(cfg: &GatewayConfig) -> String {
    let mut o = String::new();
    if let Some(h) = &cfg.hostname {
        let _ = writeln!(o, "hostname {h}\n!");
    }
    for p in &cfg.isakmp_policies {
        let d = IsakmpPolicy::new(p.priority);
        let _ = writeln!(o, "crypto isakmp policy {}", p.priority);
        if p.encryption != d.encryption {
            let _ = writeln!(o, " encr {}", p.encryption.ios_keyword());
        }
        if p.hash != d.hash {
            let _ = writeln!(o, " hash {}", p.hash.ios_keyword());
        }
        if p.authentication != d.authentication {
            let _ = writeln!(o, " authentication {}", p.authentication.ios_keyword());
        }
        if p.group != d.group {
            let _ = writeln!(o, " group {}", p.group);
        }
        if p.lifetime_secs != d.lifetime_secs {
            let _ = writeln!(o, " lifetime {}", p.lifetime_secs);
        }
    }
    for k in &cfg.keys {
        let ty = match k.encoding {
            KeyEncoding::Clear => "",
            KeyEncoding::Type6 => "6 ",
        };
        let key = String::from_utf8_lossy(k.key.expose());
        let _ = match &k.peer {
            PskPeer::Address { addr, mask } if *mask == Ipv4Addr::BROADCAST => {
                write!(o, "crypto isakmp key {ty}{key} address {addr}")
            }
            PskPeer::Address { addr, mask } => {
                write!(o, "crypto isakmp key {ty}{key} address {addr} {mask}")
            }
            PskPeer::Hostname(h) => write!(o, "crypto isakmp key {ty}{key} hostname {h}"),
        };
        o.push_str(if k.no_xauth { " no-xauth\n" } else { "\n" });
    }
    let g = &cfg.ipsec;
    if let Some(d) = g.dpd {
        let _ = write!(o, "crypto isakmp keepalive {}", d.interval_secs);
        if d.retry_secs != DpdConfig::DEFAULT_RETRY_SECS {
            let _ = write!(o, " {}", d.retry_secs);
        }
        o.push_str(if d.mode == DpdMode::Periodic {
            " periodic\n"
        } else {
            "\n"
        });
    }
    if let Some(n) = g.nat_keepalive_secs {
        let _ = writeln!(o, "crypto isakmp nat keepalive {n}");
    }
    o.push_str("!\n");
    if !g.nat_t {
        o.push_str("no crypto ipsec nat-transparency udp-encapsulation\n");
    }
    if g.sa_lifetime_secs != IpsecGlobals::DEFAULT_LIFETIME_SECS {
        let _ = writeln!(
            o,
            "crypto ipsec security-association lifetime seconds {}",
            g.sa_lifetime_secs
        );
    }
    if g.sa_lifetime_kb != IpsecGlobals::DEFAULT_LIFETIME_KB {
        let _ = writeln!(
            o,
            "crypto ipsec security-association lifetime kilobytes {}",
            g.sa_lifetime_kb
        );
    }
    if g.replay_window != IpsecGlobals::DEFAULT_REPLAY_WINDOW {
        let _ = writeln!(
            o,
            "crypto ipsec security-association replay window-size {}",
            g.replay_window
        );
    }
    for t in &cfg.transform_sets {
        let _ = writeln!(
            o,
            "crypto ipsec transform-set {} {}",
            t.name,
            t.display_transforms()
        );
        if t.mode == EspMode::Transport {
            o.push_str(" mode transport\n");
        }
    }
    o.push_str("!\n");
    for e in &cfg.crypto_maps {
        let _ = writeln!(o, "crypto map {} {} ipsec-isakmp", e.map, e.seq);
        for p in &e.peers {
            let _ = writeln!(o, " set peer {p}");
        }
        if let Some(s) = e.lifetime_secs {
            let _ = writeln!(o, " set security-association lifetime seconds {s}");
        }
        if let Some(k) = e.lifetime_kb {
            let _ = writeln!(o, " set security-association lifetime kilobytes {k}");
        }
        if !e.transform_sets.is_empty() {
            let _ = writeln!(o, " set transform-set {}", e.transform_sets.join(" "));
        }
        if let Some(gr) = e.pfs_group {
            let _ = writeln!(o, " set pfs group{gr}");
        }
        if let Some(a) = &e.acl {
            let _ = writeln!(o, " match address {a}");
        }
        if e.reverse_route {
            o.push_str(" reverse-route\n");
        }
        o.push_str("!\n");
    }
    for i in &cfg.interfaces {
        let _ = writeln!(o, "interface {}", i.name);
        if let Some(d) = &i.description {
            let _ = writeln!(o, " description {d}");
        }
        if let Some((a, m)) = i.address {
            let _ = writeln!(o, " ip address {a} {m}");
        }
        match i.nat {
            Some(NatSide::Inside) => o.push_str(" ip nat inside\n"),
            Some(NatSide::Outside) => o.push_str(" ip nat outside\n"),
            None => {}
        }
        if let Some(m) = i.tcp_adjust_mss {
            let _ = writeln!(o, " ip tcp adjust-mss {m}");
        }
        if i.shutdown {
            o.push_str(" shutdown\n");
        }
        if let Some(m) = &i.crypto_map {
            let _ = writeln!(o, " crypto map {m}");
        }
        o.push_str("!\n");
    }
    for r in &cfg.routes {
        let _ = write!(o, "ip route {} {}", r.prefix, r.mask);
        if let Some(i) = &r.interface {
            let _ = write!(o, " {i}");
        }
        if let Some(n) = r.next_hop {
            let _ = write!(o, " {n}");
        }
        if let Some(d) = r.distance {
            let _ = write!(o, " {d}");
        }
        o.push('\n');
    }
    for n in &cfg.nat_rules {
        let _ = writeln!(
            o,
            "ip nat inside source list {} interface {}{}",
            n.acl,
            n.interface,
            if n.overload { " overload" } else { "" }
        );
    }
    o.push_str("!\n");
    for a in &cfg.access_lists {
        render_acl(&mut o, a);
    }
    o.push_str("end\n");
    o
}

fn render_acl(o: &mut String, a: &AccessList) {
    let mut expected = 10u32;
    let default_seqs = a.entries.iter().all(|e| {
        let ok = e.seq == expected;
        expected = (e.seq / 10).saturating_add(1).saturating_mul(10);
        ok
    });
    if a.numbered && default_seqs && !(a.entries.is_empty() && a.remarks.is_empty()) {
        for r in &a.remarks {
            let _ = writeln!(o, "access-list {} remark {r}", a.name);
        }
        for e in &a.entries {
            let _ = writeln!(o, "access-list {} {}", a.name, e.render(a.kind));
        }
        return;
    }
    let kind = if a.kind == AclKind::Standard {
        "standard"
    } else {
        "extended"
    };
    let _ = writeln!(o, "ip access-list {kind} {}", a.name);
    for r in &a.remarks {
        let _ = writeln!(o, " remark {r}");
    }
    let mut prev: Option<u32> = None;
    for e in &a.entries {
        let auto = prev.map_or(10, |p| (p / 10).saturating_add(1).saturating_mul(10));
        if e.seq == auto {
            let _ = writeln!(o, " {}", e.render(a.kind));
        } else {
            let _ = writeln!(o, " {} {}", e.seq, e.render(a.kind));
        }
        prev = Some(e.seq);
    }
    o.push_str("!\n");
}

#[cfg(test)]
#[path = "config_tests.rs"]
pub(crate) mod tests;
