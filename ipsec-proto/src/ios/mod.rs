//! IOS configuration text to policy, and IOS-style renderings of show output.
//!
//! Everything here is a pure function over plain data: [`config`] parses and renders running-config
//! text, [`show`] renders `show crypto ...` output from snapshot structs the engine fills
//! ([`show_pki`] the `show crypto pki` commands from a configuration's certificates), and
//! [`check()`] lints a configuration for the classic LAN-to-LAN mistakes; [`seed`] holds the seed's two
//! routers' configurations.

pub mod check;
pub mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod seed;
pub mod show;
pub mod show_interface;
pub mod show_pki;

pub use check::{check, Lint, LintKind, Severity};
pub use config::{parse, render, ConfigError, ConfigWarning, ParsedConfig};
