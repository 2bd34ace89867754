//! IOS configuration text -> [`GatewayConfig`], and [`render`] back to canonical running-config text.
//!
//! Parsing follows the IOS CLI rather than indentation: a line is first tried as a command of the
//! current sub-mode (`config-isakmp`, `cfg-crypto-trans`, `config-crypto-map`, `config-if`,
//! `config-ext-nacl`, `crypto-isakmp-group`, ...); when that fails it is tried as a global
//! command, which leaves the sub-mode, exactly as a router does when a pasted configuration has
//! irregular indentation. Keywords may be
//! abbreviated to any unambiguous prefix within their context.
//!
//! The reader is tolerant of what IOS prints and what people paste (`read.rs`): show-run headers,
//! prompts (`R1(config)#`), `conf t`/`end`/`write`, banners with their delimiters, CRLF, tabs, a
//! byte order mark and Latin-1 bytes. Everything that is not IPsec is skipped with one note per
//! command or block: an unknown global word opens a block we do not model, and only there does
//! indentation decide (an indented line belongs to the block, a line at column 1 leaves it).
//! Crypto commands are parsed strictly; those that would change what is negotiated or protected
//! but are not implemented are collected as [`Unsupported`] and make [`parse`] refuse the
//! configuration (`crypto.rs`, `finish.rs`).

mod acl;
mod apply;
mod crypto;
mod finish;
mod global;
mod grammar;
mod lex;
mod pki;
mod read;
mod render;
mod submode;

use std::collections::BTreeMap;
// `config_tests.rs` (`use super::*`) takes `Ipv4Addr` from this module.
#[cfg(test)]
use std::net::Ipv4Addr;

use crate::policy::GatewayConfig;

use grammar::Mode;

pub use render::render;

/// A configuration that cannot be accepted: a line that does not parse, or crypto features this
/// stack does not implement (all of them, in [`ConfigError::unsupported`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number (of the first unsupported feature, when that is the reason).
    pub line: usize,
    /// 1-based column (characters) of the offending token.
    pub column: usize,
    /// One-line reason.
    pub message: String,
    /// Every unsupported crypto feature when that is why the configuration is refused, in line
    /// order (the first is also `line`, `column` and `message`); empty for a syntax error.
    pub unsupported: Vec<Unsupported>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        // One line per further feature, so that a reader sees everything to change at once.
        for u in self.unsupported.iter().skip(1) {
            write!(f, "\n{u}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A crypto command that would change what is negotiated or protected but is not implemented
/// here: the configuration is refused rather than run differently from the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the command is (`IKEv2 (crypto ikev2)`, `backup peers (a second set peer)`).
    pub feature: String,
    /// Planned for a later version (the message says "not implemented yet") rather than out of
    /// scope ("not supported").
    pub later: bool,
}

impl Unsupported {
    /// The reason as one sentence, without the position.
    pub fn message(&self) -> String {
        if self.later {
            format!("{} is not implemented yet", self.feature)
        } else {
            format!("{} is not supported", self.feature)
        }
    }
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line,
            self.column,
            self.message()
        )
    }
}

/// A recognised command that has no effect here (ignored, or accepted with a notice); never
/// dropped silently.
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
    /// `crypto dynamic-map NAME SEQ`.
    DynamicMapEntry(String, u16),
    /// `crypto keyring NAME`.
    Keyring(String),
    /// `crypto isakmp profile NAME`.
    IsakmpProfile(String),
    /// `crypto ipsec profile NAME`.
    IpsecProfile(String),
    /// `crypto isakmp peer address A`.
    IsakmpPeer(std::net::Ipv4Addr),
    /// `crypto isakmp client configuration group NAME`.
    ClientGroup(String),
    /// `crypto ipsec client ezvpn NAME`.
    Ezvpn(String),
    /// The first `ip local pool NAME` line.
    LocalPool(String),
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
    /// `crypto pki trustpoint NAME`.
    Trustpoint(String),
    /// `crypto pki certificate map NAME SEQ`.
    CertificateMap(String, u16),
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
    /// Commands that were recognised but have no effect: one per ignored command or block (its
    /// body lines are not listed again), and notices for crypto commands without effect here.
    pub warnings: Vec<ConfigWarning>,
    /// Source lines of items.
    pub origins: Origins,
    /// Crypto features that are not implemented. Always empty from [`parse`] and
    /// [`parse_bytes`], which refuse such a configuration; only [`parse_for_check`] fills it.
    pub unsupported: Vec<Unsupported>,
    /// How many lines were ignored as having no effect on IPsec (ignored commands, blocks and
    /// their bodies).
    pub ignored: usize,
}

impl ParsedConfig {
    /// `N commands with no effect on IPsec ignored`, or `None` when nothing was ignored.
    pub fn ignored_summary(&self) -> Option<String> {
        match self.ignored {
            0 => None,
            1 => Some("1 command with no effect on IPsec ignored".into()),
            n => Some(format!("{n} commands with no effect on IPsec ignored")),
        }
    }
}

/// Parses IOS configuration text (a running-config, a startup-config or a pasted session).
/// A configuration using crypto features that are not implemented is refused: the error lists
/// all of them (see [`ConfigError::unsupported`]).
pub fn parse(text: &str) -> Result<ParsedConfig, ConfigError> {
    refuse_unsupported(read::parse_text(text, false))
}

/// [`parse`] for the bytes of a file: a UTF-8 byte order mark is skipped, and text that is not
/// UTF-8 is read as Latin-1 (never an error), keeping key strings byte for byte as in the file.
pub fn parse_bytes(bytes: &[u8]) -> Result<ParsedConfig, ConfigError> {
    refuse_unsupported(parse_for_check(bytes))
}

/// [`parse_bytes`] without the refusal: unsupported crypto features are listed in
/// [`ParsedConfig::unsupported`] instead, for tools that report everything (`ipsec-engine
/// check`). Never run what this returns when that list is not empty.
pub fn parse_for_check(bytes: &[u8]) -> Result<ParsedConfig, ConfigError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => read::parse_text(text, false),
        Err(_) => {
            // Latin-1 maps every byte to the char of the same value, so nothing is lost and
            // keys convert back exactly (see `State::key_bytes`).
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            read::parse_text(&text, true)
        }
    }
}

fn refuse_unsupported(
    parsed: Result<ParsedConfig, ConfigError>,
) -> Result<ParsedConfig, ConfigError> {
    let p = parsed?;
    match p.unsupported.first() {
        None => Ok(p),
        Some(first) => Err(ConfigError {
            line: first.line,
            column: first.column,
            message: first.message(),
            unsupported: p.unsupported,
        }),
    }
}

/// The parser's state across lines: the configuration built so far, the sub-mode or block the
/// last line entered, and what is decided only at the end (see `finish.rs`).
struct State {
    cfg: GatewayConfig,
    mode: Mode,
    warnings: Vec<ConfigWarning>,
    origins: Origins,
    unsupported: Vec<Unsupported>,
    ignored: usize,
    /// The text was decoded as Latin-1: key strings go back to bytes char by char.
    latin1: bool,
    /// Indentation (characters) of the current line.
    indent: usize,
    /// Facts whose consequence depends on lines that may come later.
    deferred: finish::Deferred,
    /// The hex digits of the certificate being pasted (`Mode::CertHex`).
    cert_hex: String,
}

#[cfg(test)]
#[path = "../config_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "../config_pki_tests.rs"]
mod pki_tests;
