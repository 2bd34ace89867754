//! Access-list entry syntax shared by numbered `access-list` lines and `ip access-list` sub-mode:
//! actions, protocols, address/wildcard pairs and port operators.

use std::net::Ipv4Addr;

use crate::policy::{AclAction, AclEntry, AclKind, AclProtocol, AddrMatch, PortMatch};

use super::lex::{pick, Cursor, Pick};
use super::ConfigError;

pub(super) fn acl_kind_of_number(n: u32) -> Option<AclKind> {
    match n {
        1..=99 | 1300..=1999 => Some(AclKind::Standard),
        100..=199 | 2000..=2699 => Some(AclKind::Extended),
        _ => None,
    }
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

/// Parses `{permit|deny} ...`; the second value names what is not modelled when the entry is
/// recognised but cannot be represented (`"established" matching`).
pub(super) fn acl_entry(
    c: &mut Cursor<'_>,
    kind: AclKind,
) -> Result<(AclEntry, Option<String>), ConfigError> {
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
                warn = Some(format!("\"{k}\" matching"));
            }
            _ if e.protocol == AclProtocol::ICMP => {
                let _ = c.rest();
                warn = Some("ICMP type matching".into());
            }
            _ => return Err(c.err(&t, format!("unexpected \"{}\"", t.text))),
        }
    }
    Ok((e, warn))
}
