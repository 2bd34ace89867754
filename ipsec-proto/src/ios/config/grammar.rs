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
    Interface(String),
    Acl(String),
    /// Inside a block we do not model (`line vty`, `crypto pki trustpoint`, ...).
    Unsupported,
}

#[derive(Clone, Debug)]
pub(super) enum Cmd {
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

impl State {
    /// Recognises one non-empty line in the current mode (falling back to global mode, see the
    /// [module documentation](super)) and applies it.
    pub(super) fn line(&mut self, cur: Cursor<'_>) -> Result<(), ConfigError> {
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
}

impl Cursor<'_> {
    /// Skips the rest of the line: recognised, but reported as `why` since it has no effect here.
    pub(super) fn skip_warn(&mut self, why: String) -> Cmd {
        let _ = self.rest();
        Cmd::Warn(why)
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
