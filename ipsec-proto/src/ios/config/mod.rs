//! IOS configuration text -> [`GatewayConfig`], and [`render`] back to canonical running-config text.
//!
//! Parsing follows the IOS CLI rather than indentation: a line is first tried as a command of the
//! current sub-mode (`config-isakmp`, `cfg-crypto-trans`, `config-crypto-map`, `config-if`,
//! `config-ext-nacl`); when that fails it is tried as a global command, which leaves the sub-mode,
//! exactly as a router does when a pasted configuration has irregular indentation. Keywords may be
//! abbreviated to any unambiguous prefix within their context.

mod acl;
mod apply;
mod global;
mod grammar;
mod lex;
mod render;
mod submode;

use std::collections::BTreeMap;
// `config_tests.rs` (`use super::*`) takes `Ipv4Addr` from this module.
#[cfg(test)]
use std::net::Ipv4Addr;

use crate::policy::GatewayConfig;

use grammar::Mode;
use lex::Cursor;

pub use render::render;

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

/// The parser's state across lines: the configuration built so far and the sub-mode the last line
/// entered.
struct State {
    cfg: GatewayConfig,
    mode: Mode,
    warnings: Vec<ConfigWarning>,
    origins: Origins,
}

#[cfg(test)]
#[path = "../config_tests.rs"]
pub(crate) mod tests;
