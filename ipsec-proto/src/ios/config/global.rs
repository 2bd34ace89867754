//! Global-mode commands other than `crypto`: `hostname`, `interface`, `ip route`, `ip nat inside
//! source`, `ip local pool`, access lists, local AAA (`aaa`, `username`), the `no` forms that
//! matter, session commands pasted with a configuration, and everything else skipped as having
//! no effect on IPsec.

use std::net::Ipv4Addr;

use crate::policy::{AclKind, NatRule, StaticRoute};

use super::acl::{acl_entry, acl_kind_of_number};
use super::grammar::{interface_name, Cmd};
use super::lex::{pick, Cursor, Pick, Tok};
use super::{ConfigError, State};

/// The global command words we act on. Any other word is a command with no effect on IPsec
/// (skipped with a note); these are matched by unambiguous prefix like on the router.
const GLOBAL_KW: &[&str] = &[
    "aaa",
    "access-list",
    "configure",
    "copy",
    "crypto",
    "do",
    "enable",
    "end",
    "exit",
    "hostname",
    "interface",
    "ip",
    "no",
    "username",
    "write",
];

/// The most addresses one `ip local pool` line may hold: a /16, more than any Easy VPN server
/// serves, so that a typo in an octet does not go unnoticed.
const MAX_POOL_RANGE: u64 = 65_536;

/// Whole words that are show-run boilerplate, read without a note.
const SILENT: &[&str] = &["boot-end-marker", "boot-start-marker", "version"];

/// Up to `n` words of the line from its start, for naming a skipped command.
pub(super) fn words(c: &Cursor<'_>, n: usize) -> String {
    let w: Vec<&str> = c.toks.iter().take(n).map(|t| t.text).collect();
    w.join(" ")
}

/// Skips a global command with no effect on IPsec, named by its first `n` words.
pub(super) fn skip(c: &mut Cursor<'_>, n: usize) -> Cmd {
    let what = words(c, n);
    let _ = c.rest();
    Cmd::Skip(what)
}

/// An access-list entry in `c`, or the reason it is not one (decided later, see
/// [`Cmd::AclBad`]).
pub(super) fn acl_cmd(c: &mut Cursor<'_>, name: String, kind: AclKind, seq: Option<u32>) -> Cmd {
    match acl_entry(c, kind).and_then(|r| c.end().map(|()| r)) {
        Ok((entry, None)) => Cmd::AclEntry {
            name,
            kind,
            seq,
            entry,
        },
        Ok((_, Some(message))) => Cmd::AclIgnored { name, message },
        Err(err) => {
            let _ = c.rest();
            Cmd::AclBad { name, err }
        }
    }
}

/// `aaa new-model`, `aaa authentication login L local...` and `aaa authorization network L
/// local`; other AAA commands (accounting, exec authorization, RADIUS/TACACS method lists) do
/// not change what XAUTH checks or Mode Config hands out here.
fn aaa_cmd(c: &mut Cursor<'_>) -> Cmd {
    match c.opt_kw(&["new-model", "authentication", "authorization"]) {
        Some("new-model") if c.at_end() => Cmd::AaaNewModel,
        Some("authentication") if c.opt_kw(&["login"]).is_some() => {
            let Ok(list) = c.next("method list name") else {
                return skip(c, 3);
            };
            let list = list.text.to_string();
            let mut methods = Vec::new();
            let mut other = Vec::new();
            while let Some(t) = c.peek() {
                c.pos += 1;
                if t.text.eq_ignore_ascii_case("local") {
                    methods.push(crate::policy::LoginMethod::Local);
                } else {
                    other.push(t.text.to_string());
                }
            }
            if methods.is_empty() {
                return Cmd::Notice(format!(
                    "aaa authentication login {list} {}: only the local method is supported; XAUTH with this list refuses every user",
                    other.join(" ")
                ));
            }
            Cmd::AaaLogin(list, methods)
        }
        Some("authorization") if c.opt_kw(&["network"]).is_some() => {
            let Ok(list) = c.next("method list name") else {
                return skip(c, 3);
            };
            let list = list.text.to_string();
            let mut methods = Vec::new();
            let mut other = Vec::new();
            while let Some(t) = c.peek() {
                c.pos += 1;
                if t.text.eq_ignore_ascii_case("local") {
                    if methods.is_empty() {
                        methods.push(crate::policy::AuthorizationMethod::Local);
                    }
                } else {
                    other.push(t.text.to_string());
                }
            }
            // Group policy from a RADIUS or TACACS+ server (or `none`, which authorizes without
            // any) would give clients something else than the local groups: refused, even
            // next to `local`, which IOS consults only when the server does not answer.
            if !other.is_empty() || methods.is_empty() {
                return Cmd::Unsupported {
                    feature: format!(
                        "{} group policy from methods other than local (aaa authorization network {list} {})",
                        super::crypto::EZVPN,
                        other.join(" ")
                    ),
                    later: false,
                    block: false,
                };
            }
            Cmd::AaaNetwork(list, methods)
        }
        _ => {
            c.pos = 0;
            skip(c, 3)
        }
    }
}

/// `username U [privilege N] password [0|7] P` or `secret 0 P`. A hashed `secret 5|8|9` (or a
/// type-7 password) cannot be checked against an XAUTH password here: noted, and that user is
/// left out of the XAUTH database (the line is common in show-run output, so it is no error).
fn username_cmd(c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
    let name = c.next("user name")?.text.to_string();
    if c.opt_kw(&["privilege"]).is_some() {
        let _ = c.next("privilege level")?;
    }
    let kind = c.kw(&["password", "secret"], "keyword")?;
    let t = c.next("password")?;
    let (enc, pw) = match t.text {
        "0" | "5" | "7" | "8" | "9" if !c.at_end() => (t.text, c.rest()),
        _ => {
            c.pos -= 1;
            ("0", c.rest())
        }
    };
    if enc != "0" {
        return Ok(Cmd::Notice(format!(
            "username {name} {kind} {enc}: a hashed or encrypted password cannot be checked against an XAUTH password; {name} cannot log in through XAUTH"
        )));
    }
    Ok(Cmd::Username(crate::policy::LocalUser {
        name,
        password: crate::policy::Password::new(pw.into_bytes()),
    }))
}

impl State {
    pub(super) fn global(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let Some(first) = c.peek() else {
            return Ok(Cmd::Silent);
        };
        if SILENT.contains(&c.first_word().as_str()) {
            let _ = c.rest();
            return Ok(Cmd::Silent);
        }
        let k = match pick(first.text, GLOBAL_KW) {
            Pick::One(k) => {
                c.pos += 1;
                k
            }
            Pick::Ambiguous(a, b) => {
                return Err(c.err(
                    &first,
                    format!("ambiguous command \"{}\" (could be {a} or {b})", first.text),
                ))
            }
            Pick::None => return Ok(skip(c, 2)),
        };
        let cmd = match k {
            "hostname" => {
                let t = c.next("hostname")?;
                Cmd::Hostname(t.text.to_string())
            }
            "crypto" => self.crypto(c)?,
            "interface" => {
                if c.peek()
                    .is_some_and(|t| t.text.eq_ignore_ascii_case("range"))
                {
                    c.pos = 0;
                    return Ok(skip(c, 2));
                }
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
            "aaa" => return Ok(aaa_cmd(c)),
            "username" => return username_cmd(c),
            "ip" => self.global_ip(c)?,
            "end" | "exit" => Cmd::Exit,
            "no" => return self.global_no(c),
            // `enable secret ...` configures a password; a bare `enable` is pasted exec input.
            "enable" if !c.at_end() => {
                c.pos = 0;
                return Ok(skip(c, 2));
            }
            // Session commands pasted with the configuration (`conf t`, `wr mem`, `copy run
            // start`, `do show ...`): not configuration.
            _ => {
                let _ = c.rest();
                Cmd::Silent
            }
        };
        c.end()?;
        Ok(cmd)
    }

    fn global_no(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let save = c.pos;
        if c.opt_kw(&["crypto"]).is_some() {
            return self.no_crypto(c);
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
        // Everything else (`no service pad`, `no ip domain lookup`, ...) has no effect on IPsec.
        c.pos = 0;
        Ok(skip(c, 3))
    }

    fn global_ip(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        // `ip domain name D` / `ip domain-name D` (the old form): the domain of our FQDN
        // identity (`crypto isakmp identity hostname`, `self-identity fqdn`).
        let word = |i: usize| c.toks.get(i).map(|t| t.text.to_ascii_lowercase());
        let domain_at = match (word(1).as_deref(), word(2).as_deref()) {
            (Some("domain"), Some("name")) => Some(3),
            (Some("domain-name"), _) => Some(2),
            _ => None,
        };
        if let Some(at) = domain_at {
            if let (Some(d), None) = (c.toks.get(at), c.toks.get(at + 1)) {
                let d = d.text.to_string();
                c.pos = c.toks.len();
                return Ok(Cmd::DomainName(d));
            }
        }
        let k = match c
            .peek()
            .map(|t| pick(t.text, &["access-list", "local", "nat", "route"]))
        {
            Some(Pick::One(k)) => {
                c.pos += 1;
                k
            }
            // Interface commands, never global: an error here keeps a typo in an interface's
            // `ip address` from passing as a skipped global command.
            Some(Pick::None)
                if c.toks.get(1).is_some_and(|t| {
                    matches!(pick(t.text, &["address", "nat"]), Pick::One("address"))
                }) =>
            {
                let t = c.toks.get(1).copied();
                return Err(c.err_at(
                    t.map_or(c.eol_col, |t| t.col),
                    "ip address is an interface command",
                ));
            }
            // `ip cef`, `ip domain name`, `ip http server`, `ip sla 1`, `ip dhcp pool`, ...
            _ => {
                c.pos = 0;
                return Ok(skip(c, 3));
            }
        };
        match k {
            "route" => self.route(c),
            "nat" => self.nat(c),
            "local" => self.local_pool(c),
            _ => {
                let kind = match c.peek().map(|t| pick(t.text, &["extended", "standard"])) {
                    Some(Pick::One("extended")) => AclKind::Extended,
                    Some(Pick::One(_)) => AclKind::Standard,
                    // `ip access-list logging ...`, `resequence`, `role-based`, IPv6/MAC lists.
                    _ => {
                        c.pos = 0;
                        return Ok(skip(c, 3));
                    }
                };
                c.pos += 1;
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
        }
    }

    /// `ip local pool NAME FIRST [LAST]`: a range of addresses for Mode Config clients. Other
    /// `ip local` commands (`policy`, `proxy-arp`) have no effect on IPsec.
    fn local_pool(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        if c.opt_kw(&["pool"]).is_none() {
            c.pos = 0;
            return Ok(skip(c, 3));
        }
        let name = c.next("pool name")?.text.to_string();
        let addr = |c: &Cursor<'_>, t: &Tok<'_>, what: &str| {
            t.text
                .parse::<Ipv4Addr>()
                .map_err(|_| c.err(t, format!("invalid {what} \"{}\"", t.text)))
        };
        let first_tok = c.next("first address")?;
        let first = addr(c, &first_tok, "first address")?;
        let (last, last_tok) = match c.peek() {
            Some(t) if t.text.starts_with(|ch: char| ch.is_ascii_digit()) => {
                c.pos += 1;
                (addr(c, &t, "last address")?, t)
            }
            _ => (first, first_tok),
        };
        if !c.at_end() {
            // `group G` gives a pool its own address space, `cache-size` and `recycle delay`
            // change when an address is handed out again: which address a client gets.
            let what = super::crypto::rest_words(c, 4);
            return Ok(c.unsupported(
                format!(
                    "{} pool options (ip local pool {name} ... {what})",
                    super::crypto::EZVPN
                ),
                false,
                false,
            ));
        }
        if last < first {
            return Err(c.err(
                &last_tok,
                format!("last address {last} of pool {name} is below its first address {first}"),
            ));
        }
        let size = u64::from(u32::from(last)) - u64::from(u32::from(first)) + 1;
        if size > MAX_POOL_RANGE {
            return Err(c.err(
                &last_tok,
                format!(
                    "pool {name}: {size} addresses in one range; at most {MAX_POOL_RANGE} are accepted"
                ),
            ));
        }
        // IOS refuses a range that overlaps one it has (of any pool); the same range repeated
        // in its own pool (a configuration pasted twice) changes nothing.
        for p in &self.cfg.local_pools {
            for &(f, l) in &p.ranges {
                let same = p.name == name && (f, l) == (first, last);
                if !same && f <= last && first <= l {
                    return Err(c.err(
                        &first_tok,
                        format!(
                            "range {first} {last} of pool {name} overlaps range {f} {l} of pool {}",
                            p.name
                        ),
                    ));
                }
            }
        }
        Ok(Cmd::LocalPool { name, first, last })
    }

    fn route(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        if c.peek().is_some_and(|t| t.text.eq_ignore_ascii_case("vrf")) {
            // A route in another VRF does not reach the tunnel's traffic (global table).
            c.pos = 0;
            return Ok(skip(c, 3));
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
        // Route options that do not change where the route points.
        if c.opt_kw(&["name", "permanent", "tag", "track"]).is_some() {
            let _ = c.rest();
        }
        Ok(Cmd::Route(r))
    }

    fn nat(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let k = c.kw(&["inside", "outside", "pool", "translation"], "nat keyword")?;
        if k != "inside" {
            c.pos = 0;
            return Ok(skip(c, 3));
        }
        c.kw(&["source"], "nat keyword")?;
        match c.kw(&["list", "route-map", "static"], "nat source keyword")? {
            "list" => {}
            _ => {
                c.pos = 0;
                return Ok(skip(c, 5));
            }
        }
        let acl = c.next("access list")?.text.to_string();
        match c.kw(&["interface", "pool"], "nat keyword")? {
            "interface" => {}
            _ => {
                c.pos = 0;
                return Ok(Cmd::Skip(format!("{} (NAT to a pool)", words(c, 6))));
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
        let Ok(n) = t.text.parse::<u32>() else {
            c.pos = 0;
            return Ok(skip(c, 2));
        };
        let Some(kind) = acl_kind_of_number(n) else {
            // MAC, protocol-type and other non-IP lists (200-299, 700-799, 1100-1199).
            c.pos = 0;
            return Ok(skip(c, 2));
        };
        let name = n.to_string();
        if c.opt_kw(&["remark"]).is_some() {
            return Ok(Cmd::AclRemark {
                name,
                kind,
                text: c.rest(),
            });
        }
        if c.opt_kw(&["dynamic"]).is_some() {
            let _ = c.rest();
            return Ok(Cmd::AclIgnored {
                name,
                message: "dynamic (lock-and-key) entries are not modelled".into(),
            });
        }
        Ok(acl_cmd(c, name, kind, None))
    }
}
