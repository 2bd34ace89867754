//! Decisions that depend on lines further on: whether a broken access list protects traffic,
//! whether a transform set with an unsupported transform is used, whether an interface with a
//! dynamic address carries a crypto map, whether a certificate hex block was ended. Taken once
//! the whole text is read.

use std::collections::BTreeSet;

use super::{ConfigError, ParsedConfig, State};

/// What the parser keeps until the end.
#[derive(Clone, Debug, Default)]
pub(super) struct Deferred {
    /// (transform set, transform, line, column).
    bad_transform_sets: Vec<(String, String, usize, usize)>,
    /// (access list, why the line does not parse).
    acl_errors: Vec<(String, ConfigError)>,
    /// (access list, what is not modelled, line, column).
    acl_ignored: Vec<(String, String, usize, usize)>,
    /// (interface, feature, later, line, column).
    if_crypto: Vec<(String, String, bool, usize, usize)>,
    /// `ip address dhcp|negotiated`: (interface, keyword, line, column).
    dynamic_address: Vec<(String, String, usize, usize)>,
    /// `xauth userid mode local`: (profile, line, column); its `username` may come later.
    xauth_local: Vec<(String, usize, usize)>,
    /// (interface, `tunnel` keyword or `keepalive`, line, column): what they mean depends on
    /// the interface's `tunnel mode`, which may come later.
    tunnel_lines: Vec<(String, &'static str, usize, usize)>,
}

impl Deferred {
    pub(super) fn bad_transform_set(
        &mut self,
        name: &str,
        transform: String,
        line: usize,
        column: usize,
    ) {
        self.bad_transform_sets
            .push((name.to_string(), transform, line, column));
    }

    pub(super) fn acl_error(&mut self, name: String, err: ConfigError) {
        self.acl_errors.push((name, err));
    }

    pub(super) fn acl_ignored(&mut self, name: String, what: String, line: usize, column: usize) {
        self.acl_ignored.push((name, what, line, column));
    }

    pub(super) fn tunnel_line(
        &mut self,
        interface: String,
        what: &'static str,
        line: usize,
        column: usize,
    ) {
        self.tunnel_lines.push((interface, what, line, column));
    }

    pub(super) fn if_crypto(
        &mut self,
        interface: String,
        feature: String,
        later: bool,
        line: usize,
        column: usize,
    ) {
        self.if_crypto
            .push((interface, feature, later, line, column));
    }

    /// `xauth userid mode local` in Easy VPN profile `profile`.
    pub(super) fn xauth_local(&mut self, profile: String, line: usize, column: usize) {
        self.xauth_local.push((profile, line, column));
    }

    /// `ip address dhcp|negotiated` on `interface`: a notice when IKE or ESP use it.
    pub(super) fn dynamic_address(
        &mut self,
        interface: String,
        keyword: String,
        line: usize,
        column: usize,
    ) {
        self.dynamic_address
            .push((interface, keyword, line, column));
    }
}

impl State {
    /// Takes the deferred decisions and hands out the result.
    pub(super) fn finish(mut self) -> Result<ParsedConfig, ConfigError> {
        if let Some(e) = self.unterminated_cert_hex() {
            return Err(e);
        }
        let d = std::mem::take(&mut self.deferred);
        let crypto_acls: BTreeSet<String> = self
            .cfg
            .crypto_maps
            .iter()
            .chain(&self.cfg.dynamic_maps)
            .filter_map(|e| e.acl.clone())
            .collect();
        // What a dynamic map entry may not have (yet): `set peer` would limit it to those
        // peers, which is not modelled. (Without `match address` it accepts whatever proxy
        // identities a peer proposes: see `tunnel::build`.)
        let refused: Vec<(String, u16, &str)> = self
            .cfg
            .dynamic_maps
            .iter()
            .flat_map(|e| {
                let limited = (!e.peers.is_empty()).then_some("set peer in a dynamic map entry");
                limited.into_iter().map(|what| (e.map.clone(), e.seq, what))
            })
            .collect();
        for (name, seq, what) in refused {
            let line = self
                .origins
                .line(&super::Item::DynamicMapEntry(name.clone(), seq))
                .unwrap_or(0);
            self.refuse(
                line,
                1,
                format!("{what} (crypto dynamic-map {name} {seq})"),
                true,
            );
        }
        let nat_acls: BTreeSet<String> = self.cfg.nat_rules.iter().map(|n| n.acl.clone()).collect();
        for (name, err) in d.acl_errors {
            // What a crypto map protects or NAT exempts must be exactly what the file says.
            if crypto_acls.contains(&name) || nat_acls.contains(&name) {
                return Err(err);
            }
            self.ignored += 1;
            self.warn(
                err.line,
                err.column,
                format!(
                    "access list {name}: line ignored ({}); no crypto map or NAT rule uses the list",
                    err.message
                ),
            );
        }
        for (name, what, line, column) in d.acl_ignored {
            if crypto_acls.contains(&name) {
                self.refuse(line, column, format!("{what} in crypto ACL {name}"), false);
            } else {
                self.ignored += 1;
                self.warn(
                    line,
                    column,
                    format!("access list {name}: entry ignored ({what} is not modelled)"),
                );
            }
        }
        for (name, transform, line, column) in d.bad_transform_sets {
            let used = self
                .cfg
                .crypto_maps
                .iter()
                .chain(&self.cfg.dynamic_maps)
                .any(|e| e.transform_sets.contains(&name))
                || self
                    .cfg
                    .ipsec_profiles
                    .iter()
                    .any(|p| p.transform_sets.contains(&name));
            if used {
                self.refuse(
                    line,
                    column,
                    format!("transform {transform} (transform set {name})"),
                    false,
                );
            } else {
                self.warn(
                    line,
                    column,
                    format!(
                        "transform set {name} ignored: transform {transform} is not supported, and no crypto map uses the set"
                    ),
                );
            }
        }
        for (interface, what, line, column) in d.tunnel_lines {
            let vti = self.cfg.interface(&interface).is_some_and(|i| i.is_vti());
            match (vti, what) {
                (true, "keepalive") => self.warn(
                    line,
                    column,
                    format!(
                        "keepalive on {interface} accepted without effect: GRE keepalives do not \
                         exist in tunnel mode ipsec ipv4; DPD (crypto isakmp keepalive) gives liveness"
                    ),
                ),
                (true, _) => {}
                // GRE is a tunnel interface's default mode.
                (false, "protection") => self.refuse(
                    line,
                    column,
                    "GRE over IPsec (tunnel protection)".into(),
                    false,
                ),
                (false, "keepalive") => self.ignore(line, column, "keepalive".into()),
                (false, k) => {
                    self.ignored += 1;
                    self.warn(line, column, format!("tunnel {k} ignored: no effect on IPsec"));
                }
            }
        }
        // The interfaces a VTI or an Easy VPN profile sends from: like a crypto map interface,
        // their address matters.
        let sources: BTreeSet<String> = self
            .cfg
            .vtis()
            .filter_map(
                |i| match i.tunnel.as_ref().and_then(|t| t.source.as_ref()) {
                    Some(crate::policy::TunnelSource::Interface(n)) => Some(n.clone()),
                    _ => None,
                },
            )
            .chain(
                self.cfg
                    .interfaces
                    .iter()
                    .filter(|i| i.ezvpn.as_ref().is_some_and(|(_, inside)| !inside))
                    .map(|i| i.name.clone()),
            )
            .collect();
        // The address of a crypto map interface or tunnel source: taken from the host when the
        // gateway starts and followed when it changes (the host says which address it is).
        for (interface, keyword, line, column) in d.dynamic_address {
            let crypto = self
                .cfg
                .interface(&interface)
                .is_some_and(|i| i.crypto_map.is_some())
                || sources.contains(&interface);
            let text = if crypto {
                format!(
                    "ip address {keyword} on {interface}: IKE and ESP use the address the host \
                     gives it when the gateway starts (ipsec-engine run: --map-interface \
                     {interface}=DEV; embedders: CoreOptions::local_addr) and follow it when \
                     it changes (SAs cleared, new ones from the new address; embedders: \
                     Tunnels::set_local_address)"
                )
            } else {
                self.ignored += 1;
                format!("ip address {keyword} ignored: {interface} carries no crypto map")
            };
            self.warn(line, column, text);
        }
        for (interface, feature, later, line, column) in d.if_crypto {
            let crypto = self
                .cfg
                .interface(&interface)
                .is_some_and(|i| i.crypto_map.is_some())
                || sources.contains(&interface);
            if crypto {
                self.refuse(line, column, feature, later);
            } else {
                self.ignored += 1;
                self.warn(
                    line,
                    column,
                    format!("{feature} ignored: {interface} carries no crypto map"),
                );
            }
        }
        // Without stored credentials, mode local has nothing to answer XAUTH with: the
        // profile could never connect, and no other mode is run here to fall back on.
        for (profile, line, column) in d.xauth_local {
            let stored = self
                .cfg
                .ezvpn_clients
                .iter()
                .any(|z| z.name == profile && z.credentials.is_some());
            if !stored {
                return Err(ConfigError {
                    line,
                    column,
                    message: format!(
                        "xauth userid mode local needs `username U password P` in crypto ipsec \
                         client ezvpn {profile}"
                    ),
                    unsupported: Vec::new(),
                });
            }
        }
        self.unsupported.sort_by_key(|u| (u.line, u.column));
        Ok(ParsedConfig {
            config: self.cfg,
            warnings: self.warnings,
            origins: self.origins,
            unsupported: self.unsupported,
            ignored: self.ignored,
        })
    }
}
