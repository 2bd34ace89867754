//! Applying recognised commands to the [`GatewayConfig`] being built: IOS's merge and replace rules,
//! defaults restored by `no` forms, source lines for lints, and warnings for commands without effect.
//!
//! [`GatewayConfig`]: crate::policy::GatewayConfig

use crate::policy::{AccessList, AclKind, CryptoMapEntry, Interface, IsakmpPolicy};

use super::grammar::{Block, Cmd, EzvpnAttr, GroupAttr, Mode, TpAttr};
use super::{ConfigWarning, Item, State, Unsupported};

impl State {
    pub(super) fn warn(&mut self, line: usize, column: usize, message: String) {
        self.warnings.push(ConfigWarning {
            line,
            column,
            message,
        });
    }

    /// A command (or block) with no effect on IPsec: one note, and counted.
    pub(super) fn ignore(&mut self, line: usize, column: usize, what: String) {
        self.ignored += 1;
        self.warn(
            line,
            column,
            format!("\"{what}\" ignored: no effect on IPsec"),
        );
    }

    /// A crypto feature that is not implemented: the configuration is refused.
    pub(super) fn refuse(&mut self, line: usize, column: usize, feature: String, later: bool) {
        self.unsupported.push(Unsupported {
            line,
            column,
            feature,
            later,
        });
    }

    fn open_block(&mut self, kind: Block) {
        self.mode = Mode::Block {
            indent: self.indent,
            kind,
        };
    }

    pub(super) fn apply(&mut self, cmd: Cmd, line: usize, col: usize) {
        let cfg = &mut self.cfg;
        match cmd {
            Cmd::Warn(m) => {
                self.ignored += 1;
                self.warn(line, col, m);
            }
            Cmd::Skip(what) => {
                self.ignore(line, col, what);
                self.open_block(Block::Skipped);
            }
            Cmd::Silent => {}
            Cmd::Notice(m) => self.warn(line, col, m),
            Cmd::NoticeBlock(m) => {
                self.warn(line, col, m);
                self.open_block(Block::Skipped);
            }
            Cmd::Unsupported {
                feature,
                later,
                block,
            } => {
                self.refuse(line, col, feature, later);
                if block {
                    self.open_block(Block::Refused);
                }
            }
            Cmd::Trustpoint(name) => {
                if !cfg.trustpoints.iter().any(|t| t.name == name) {
                    cfg.trustpoints.push(crate::policy::Trustpoint {
                        name: name.clone(),
                        // IOS's default: a trustpoint without the line checks CRLs.
                        revocation_check: crate::policy::pki::RevocationCheck::Crl,
                        ..Default::default()
                    });
                }
                self.origins.set(Item::Trustpoint(name.clone()), line);
                self.mode = Mode::Trustpoint(name);
            }
            Cmd::Chain(name) => self.mode = Mode::Chain(name),
            Cmd::CertMap(name, seq) => {
                if !cfg
                    .certificate_maps
                    .iter()
                    .any(|m| m.name == name && m.seq == seq)
                {
                    cfg.certificate_maps.push(crate::policy::CertificateMap {
                        name: name.clone(),
                        seq,
                        rules: Vec::new(),
                    });
                }
                self.origins
                    .set(Item::CertificateMap(name.clone(), seq), line);
                self.mode = Mode::CertMap(name, seq);
            }
            Cmd::BadTransformSet { name, transform } => {
                self.deferred.bad_transform_set(&name, transform, line, col);
                self.origins.set(Item::TransformSet(name.clone()), line);
                self.mode = Mode::TransformSet(name);
            }
            Cmd::AclBad { name, err } => self.deferred.acl_error(name, err),
            Cmd::AclIgnored { name, message } => {
                self.deferred.acl_ignored(name, message, line, col);
            }
            Cmd::Exit => self.mode = Mode::Global,
            Cmd::Hostname(h) => cfg.hostname = Some(h),
            Cmd::AaaNewModel => cfg.aaa.new_model = true,
            Cmd::AaaLogin(list, methods) => {
                cfg.aaa.login_lists.retain(|(n, _)| *n != list);
                cfg.aaa.login_lists.push((list, methods));
            }
            Cmd::Username(u) => {
                cfg.aaa.users.retain(|x| x.name != u.name);
                cfg.aaa.users.push(u);
            }
            Cmd::MapClientAuth(map, list) => {
                cfg.map_client_auth.retain(|(m, _)| *m != map);
                cfg.map_client_auth.push((map, list));
            }
            Cmd::AaaNetwork(list, methods) => {
                cfg.aaa.network_lists.retain(|(n, _)| *n != list);
                cfg.aaa.network_lists.push((list, methods));
            }
            Cmd::MapIsakmpAuth(map, list) => {
                cfg.map_isakmp_authorization.retain(|(m, _)| *m != map);
                cfg.map_isakmp_authorization.push((map, list));
            }
            Cmd::MapClientConfig(map, a) => {
                cfg.map_client_configuration.retain(|(m, _)| *m != map);
                cfg.map_client_configuration.push((map, a));
            }
            Cmd::LocalPool { name, first, last } => {
                match cfg.local_pools.iter_mut().find(|p| p.name == name) {
                    // The reader refused overlaps, so an equal range is the same line again.
                    Some(p) if p.ranges.contains(&(first, last)) => {}
                    Some(p) => p.ranges.push((first, last)),
                    None => cfg.local_pools.push(crate::policy::LocalPool {
                        name: name.clone(),
                        ranges: vec![(first, last)],
                    }),
                }
                self.origins.set(Item::LocalPool(name), line);
            }
            Cmd::ClientGroup(name) => {
                if !cfg.client_groups.iter().any(|g| g.name == name) {
                    cfg.client_groups.push(crate::policy::ClientGroup {
                        name: name.clone(),
                        ..Default::default()
                    });
                }
                self.origins.set(Item::ClientGroup(name.clone()), line);
                self.mode = Mode::ClientGroup(name);
            }
            Cmd::Ezvpn(name) => {
                if !cfg.ezvpn_clients.iter().any(|z| z.name == name) {
                    cfg.ezvpn_clients.push(crate::policy::EzvpnClient {
                        name: name.clone(),
                        // IOS connects a new profile as soon as it is applied.
                        connect_auto: true,
                        ..Default::default()
                    });
                }
                self.origins.set(Item::Ezvpn(name.clone()), line);
                self.mode = Mode::Ezvpn(name);
            }
            Cmd::NoHostname => cfg.hostname = None,
            Cmd::DomainName(d) => cfg.domain_name = Some(d),
            Cmd::IsakmpIdentity(i) => cfg.isakmp_identity = i,
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
            Cmd::IkeFragmentation(m) => cfg.ipsec.ike_fragmentation_mtu = m,
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
            Cmd::SaIdle(t) => cfg.ipsec.sa_idle_time = Some(t),
            Cmd::Replay(r) => cfg.ipsec.replay_window = r,
            Cmd::DfBit(d) => cfg.ipsec.df_bit = d,
            Cmd::MapLocal(map, ifc) => {
                cfg.map_local_addresses.insert(map, ifc);
            }
            Cmd::Keyring(name) => {
                if cfg.keyring(&name).is_none() {
                    cfg.keyrings.push(crate::policy::Keyring {
                        name: name.clone(),
                        keys: Vec::new(),
                        local_address: None,
                    });
                }
                self.origins.set(Item::Keyring(name.clone()), line);
                self.mode = Mode::Keyring(name);
            }
            Cmd::Profile(name) => {
                if cfg.isakmp_profile(&name).is_none() {
                    cfg.isakmp_profiles.push(crate::policy::IsakmpProfile {
                        name: name.clone(),
                        ..Default::default()
                    });
                }
                self.origins.set(Item::IsakmpProfile(name.clone()), line);
                self.mode = Mode::Profile(name);
            }
            Cmd::AggressiveDisable(on) => cfg.aggressive_mode_disabled = on,
            Cmd::IsakmpPeer(a) => {
                if cfg.isakmp_peer(a).is_none() {
                    cfg.isakmp_peers.push(crate::policy::IsakmpPeer {
                        address: a,
                        password: None,
                        client_endpoint: None,
                    });
                }
                self.origins.set(Item::IsakmpPeer(a), line);
                self.mode = Mode::IsakmpPeer(a);
            }
            Cmd::DynMap(name, seq) => {
                let maps = &mut cfg.dynamic_maps;
                if !maps.iter().any(|e| e.map == name && e.seq == seq) {
                    let pos = maps
                        .iter()
                        .position(|e| (e.map.as_str(), e.seq) > (name.as_str(), seq))
                        .unwrap_or(maps.len());
                    maps.insert(pos, CryptoMapEntry::new(name.clone(), seq));
                }
                self.origins
                    .set(Item::DynamicMapEntry(name.clone(), seq), line);
                self.mode = Mode::DynMap(name, seq);
            }
            Cmd::MapDynamic(name, seq, dynamic) => {
                if let Some(e) = cfg
                    .crypto_maps
                    .iter_mut()
                    .find(|e| e.map == name && e.seq == seq)
                {
                    e.dynamic = Some(dynamic);
                } else {
                    let pos = cfg
                        .crypto_maps
                        .iter()
                        .position(|e| (e.map.as_str(), e.seq) > (name.as_str(), seq))
                        .unwrap_or(cfg.crypto_maps.len());
                    let mut e = CryptoMapEntry::new(name.clone(), seq);
                    e.dynamic = Some(dynamic);
                    cfg.crypto_maps.insert(pos, e);
                }
                self.origins.set(Item::MapEntry(name, seq), line);
                // A dynamic entry has no sub-commands of its own: IOS stays in global mode.
            }
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
            Cmd::IpsecProfile(name) => {
                if cfg.ipsec_profile(&name).is_none() {
                    cfg.ipsec_profiles.push(crate::policy::IpsecProfile {
                        name: name.clone(),
                        ..Default::default()
                    });
                }
                self.origins.set(Item::IpsecProfile(name.clone()), line);
                self.mode = Mode::IpsecProfile(name);
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
            Cmd::NoAclEntry(name, seq) => {
                let gone = cfg
                    .access_lists
                    .iter_mut()
                    .find(|a| a.name == name)
                    .is_some_and(|a| {
                        let before = a.entries.len();
                        a.entries.retain(|e| e.seq != seq);
                        a.entries.len() != before
                    });
                if !gone {
                    self.warn(
                        line,
                        col,
                        format!("access list {name} has no entry {seq}; nothing deleted"),
                    );
                }
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
            Mode::Keyring(name) => {
                let Some(k) = self.cfg.keyrings.iter_mut().find(|k| k.name == name) else {
                    return;
                };
                match cmd {
                    Cmd::KeyringKey(key) => k.keys.push(key),
                    Cmd::KeyringLocal(a) => k.local_address = Some(a),
                    _ => {}
                }
            }
            Mode::Profile(name) => {
                let Some(p) = self.cfg.isakmp_profiles.iter_mut().find(|p| p.name == name) else {
                    return;
                };
                match cmd {
                    Cmd::ProfileKeyring(k) => p.keyrings.push(k),
                    Cmd::ProfileMatch(a, m) => p.match_addresses.push((a, m)),
                    Cmd::ProfileMatchHost(h) => p.match_hosts.push(h),
                    Cmd::ProfileSelf(i) => p.self_identity = Some(i),
                    Cmd::ProfileKeepalive(i, r) => p.keepalive = Some((i, r)),
                    Cmd::ProfileLocal(a) => p.local_address = Some(a),
                    Cmd::ProfileInitiateAggressive => p.initiate_aggressive = true,
                    Cmd::ProfileClientAuth(l) => p.client_auth_list = Some(l),
                    Cmd::ProfileMatchGroup(g) if !p.match_groups.contains(&g) => {
                        p.match_groups.push(g)
                    }
                    Cmd::ProfileIsakmpAuth(l) => p.isakmp_authorization_list = Some(l),
                    Cmd::ProfileClientConfig(a) => p.client_configuration = Some(a),
                    Cmd::ProfileCaTrustpoint(t) if !p.ca_trustpoints.contains(&t) => {
                        p.ca_trustpoints.push(t)
                    }
                    Cmd::ProfileMatchCertificate(m) if !p.match_certificates.contains(&m) => {
                        p.match_certificates.push(m)
                    }
                    _ => {}
                }
            }
            Mode::ClientGroup(name) => {
                let Some(g) = self.cfg.client_groups.iter_mut().find(|g| g.name == name) else {
                    return;
                };
                if let Cmd::GroupSet(attr) = cmd {
                    apply_group(g, attr);
                }
            }
            Mode::Ezvpn(name) => {
                let Some(z) = self.cfg.ezvpn_clients.iter_mut().find(|z| z.name == name) else {
                    return;
                };
                match cmd {
                    Cmd::EzvpnSet(EzvpnAttr::XauthLocal) => {
                        z.xauth_interactive = false;
                        self.deferred.xauth_local(name, line, col);
                    }
                    Cmd::EzvpnSet(attr) => apply_ezvpn(z, attr),
                    _ => {}
                }
            }
            Mode::IsakmpPeer(a) => {
                let Some(p) = self.cfg.isakmp_peers.iter_mut().find(|p| p.address == a) else {
                    return;
                };
                match cmd {
                    Cmd::PeerAmPassword(k) => p.password = Some(k),
                    Cmd::PeerAmEndpoint(id) => p.client_endpoint = Some(id),
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
            Mode::Map(name, seq) | Mode::DynMap(name, seq) => {
                let list = if matches!(self.mode, Mode::DynMap(..)) {
                    &mut self.cfg.dynamic_maps
                } else {
                    &mut self.cfg.crypto_maps
                };
                let Some(e) = list.iter_mut().find(|e| e.map == name && e.seq == seq) else {
                    return;
                };
                match cmd {
                    Cmd::SetPeer {
                        peer: Some(p),
                        default,
                        remove: false,
                    } => {
                        if e.default_peer && e.peers.first() == Some(&p) {
                            e.default_peer = default;
                        }
                        e.peers.retain(|x| *x != p);
                        if default {
                            e.peers.insert(0, p);
                            e.default_peer = true;
                        } else {
                            e.peers.push(p);
                        }
                    }
                    Cmd::SetPeer {
                        peer: Some(p),
                        remove: true,
                        ..
                    } => {
                        if e.peers.first() == Some(&p) {
                            e.default_peer = false;
                        }
                        e.peers.retain(|x| *x != p);
                    }
                    Cmd::SetPeer { peer: None, .. } => {
                        e.peers.clear();
                        e.default_peer = false;
                    }
                    Cmd::SetTs(v) => e.transform_sets = v,
                    Cmd::SetPfs(g) => e.pfs_group = g,
                    Cmd::SetLifeSecs(s) => e.lifetime_secs = s,
                    Cmd::SetLifeKb(k) => e.lifetime_kb = k,
                    Cmd::SetIdle(t) => e.idle_time = t,
                    Cmd::SetReplay(r) => e.replay_window = r,
                    Cmd::SetProfile(p) => e.isakmp_profile = p,
                    Cmd::MatchAddress(a) => e.acl = a,
                    Cmd::SetRriTag(t) => e.reverse_route_tag = t,
                    Cmd::SetRriDistance(d) => e.reverse_route_distance = d,
                    Cmd::ReverseRoute { mode, tag, note } => {
                        let dynamic = matches!(self.mode, Mode::DynMap(..));
                        let mode = match mode {
                            // A dynamic map names no destinations before a peer comes.
                            Some(crate::policy::ReverseRoute::Static) if dynamic => {
                                self.warnings.push(super::ConfigWarning {
                                    line,
                                    column: col,
                                    message: "reverse-route static applies to static crypto \
                                              maps only: this dynamic map entry injects its \
                                              routes while its SAs exist"
                                        .into(),
                                });
                                Some(crate::policy::ReverseRoute::WhileUp)
                            }
                            m => m,
                        };
                        e.reverse_route = mode;
                        if tag.is_some() {
                            e.reverse_route_tag = tag;
                        }
                        if let Some(m) = note {
                            self.warnings.push(super::ConfigWarning {
                                line,
                                column: col,
                                message: m,
                            });
                        }
                    }
                    _ => {}
                }
            }
            Mode::IpsecProfile(name) => {
                let Some(p) = self.cfg.ipsec_profiles.iter_mut().find(|p| p.name == name) else {
                    return;
                };
                match cmd {
                    Cmd::SetTs(v) => p.transform_sets = v,
                    Cmd::SetPfs(g) => p.pfs_group = g,
                    Cmd::SetLifeSecs(s) => p.lifetime_secs = s,
                    Cmd::SetLifeKb(k) => p.lifetime_kb = k,
                    Cmd::SetReplay(r) => p.replay_window = r,
                    Cmd::SetProfile(x) => p.isakmp_profile = x,
                    _ => {}
                }
            }
            Mode::Interface(name) => {
                let Some(i) = self.cfg.interfaces.iter_mut().find(|i| i.name == name) else {
                    return;
                };
                let is_tunnel = i.tunnel_number().is_some();
                match cmd {
                    Cmd::IfAddress(a) => i.address = a,
                    Cmd::IfNat(n) => i.nat = n,
                    Cmd::IfCryptoMap(m) => i.crypto_map = m,
                    Cmd::IfMss(m) => i.tcp_adjust_mss = m,
                    Cmd::IfDescription(d) => i.description = d,
                    Cmd::IfShutdown(s) => i.shutdown = s,
                    Cmd::IfDfBit(d) => i.df_bit = Some(d),
                    Cmd::IfEzvpn(z) => i.ezvpn = z,
                    Cmd::IfIfCrypto { feature, later } => {
                        self.deferred.if_crypto(name, feature, later, line, col);
                    }
                    Cmd::IfDynamicAddress(k) => {
                        i.address = None;
                        self.deferred.dynamic_address(name, k, line, col);
                    }
                    Cmd::IfTunnelMode(m) => {
                        use crate::policy::TunnelMode;
                        let mode = match m.as_str() {
                            "ipsec ipv4" => TunnelMode::IpsecIpv4,
                            "" | "gre" | "gre ip" => TunnelMode::Gre,
                            _ => TunnelMode::Other(m.clone()),
                        };
                        if is_tunnel {
                            i.tunnel.get_or_insert_with(Default::default).mode = mode.clone();
                        }
                        if m.starts_with("gre multipoint") {
                            self.refuse(
                                line,
                                col,
                                "DMVPN (tunnel mode gre multipoint)".into(),
                                false,
                            );
                        } else if m.starts_with("ipsec") && mode != TunnelMode::IpsecIpv4 {
                            self.refuse(
                                line,
                                col,
                                format!("VTIs over IPv6 or with other payloads (tunnel mode {m})"),
                                false,
                            );
                        } else if mode != TunnelMode::IpsecIpv4 {
                            self.ignored += 1;
                            self.warn(
                                line,
                                col,
                                format!("tunnel mode {m} ignored: no effect on IPsec"),
                            );
                        }
                    }
                    Cmd::IfTunnelProtection(p) => {
                        let t = i.tunnel.get_or_insert_with(Default::default);
                        t.protection = p;
                        self.deferred.tunnel_line(name, "protection", line, col);
                    }
                    Cmd::IfTunnelSource(src) => {
                        i.tunnel.get_or_insert_with(Default::default).source = src;
                        self.deferred.tunnel_line(name, "source", line, col);
                    }
                    Cmd::IfTunnelDestination(d) => {
                        i.tunnel.get_or_insert_with(Default::default).destination = d;
                        self.deferred.tunnel_line(name, "destination", line, col);
                    }
                    Cmd::IfUnnumbered(u) if is_tunnel => i.unnumbered = u,
                    Cmd::IfUnnumbered(_) => {
                        self.ignored += 1;
                        self.warn(
                            line,
                            col,
                            "ip unnumbered ignored: no effect on IPsec".into(),
                        );
                    }
                    Cmd::IfIpMtu(m) if is_tunnel => i.ip_mtu = m,
                    Cmd::IfIpMtu(_) => {
                        self.ignored += 1;
                        self.warn(line, col, "ip mtu ignored: no effect on IPsec".into());
                    }
                    Cmd::IfKeepalive(on) if is_tunnel => {
                        i.tunnel.get_or_insert_with(Default::default).keepalive = on;
                        self.deferred.tunnel_line(name, "keepalive", line, col);
                    }
                    Cmd::IfKeepalive(_) => self.ignore(line, col, "keepalive".into()),
                    _ => {}
                }
            }
            Mode::Trustpoint(name) => {
                let Some(t) = self.cfg.trustpoints.iter_mut().find(|t| t.name == name) else {
                    return;
                };
                if let Cmd::TpSet(attr) = cmd {
                    match attr {
                        TpAttr::Enrollment(e) => t.enrollment = e,
                        TpAttr::SubjectName(s) => t.subject_name = s,
                        TpAttr::Revocation(r) => t.revocation_check = r,
                        TpAttr::RsaKeypair(k) => t.rsakeypair = k,
                    }
                }
            }
            Mode::Chain(name) => match cmd {
                Cmd::ChainCert { ca, serial } => {
                    self.cert_hex.clear();
                    self.mode = Mode::CertHex {
                        trustpoint: name,
                        ca,
                        serial,
                        line,
                        column: col,
                    };
                }
                Cmd::NoChainCert(serial) => {
                    if let Some(t) = self.cfg.trustpoints.iter_mut().find(|t| t.name == name) {
                        t.chain.retain(|c| !c.serial.eq_ignore_ascii_case(&serial));
                    }
                }
                _ => {}
            },
            Mode::CertMap(name, seq) => {
                let Some(m) = self
                    .cfg
                    .certificate_maps
                    .iter_mut()
                    .find(|m| m.name == name && m.seq == seq)
                else {
                    return;
                };
                match cmd {
                    Cmd::CertRule(r) if !m.rules.contains(&r) => m.rules.push(r),
                    Cmd::NoCertRule(r) => m.rules.retain(|x| *x != r),
                    _ => {}
                }
            }
            Mode::Global | Mode::Acl(_) | Mode::Block { .. } | Mode::CertHex { .. } => {
                self.warn(line, col, "command has no effect here".into());
            }
        }
    }
}

/// One line of a client configuration group: a later line replaces the setting (IOS keeps one
/// of each), except `backup-gateway` and `split-dns`, which add to a list.
fn apply_group(g: &mut crate::policy::ClientGroup, attr: GroupAttr) {
    match attr {
        GroupAttr::Key(k) => g.key = k,
        GroupAttr::Dns(v) => g.dns = v,
        GroupAttr::Wins(v) => g.wins = v,
        GroupAttr::Domain(d) => g.domain = d,
        GroupAttr::Pool(p) => g.pool = p,
        GroupAttr::Acl(a) => g.split_acl = a,
        GroupAttr::SavePassword(b) => g.save_password = b,
        GroupAttr::Pfs(b) => g.pfs = b,
        GroupAttr::Netmask(m) => g.netmask = m,
        GroupAttr::Banner(b) => g.banner = b,
        GroupAttr::MaxUsers(n) => g.max_users = n,
        GroupAttr::BackupGateway { addr, remove } => match (addr, remove) {
            (Some(a), false) if !g.backup_gateways.contains(&a) => g.backup_gateways.push(a),
            (Some(a), true) => g.backup_gateways.retain(|x| *x != a),
            (None, true) => g.backup_gateways.clear(),
            _ => {}
        },
        GroupAttr::SplitDns { name, remove } => match (name, remove) {
            (Some(d), false) if !g.split_dns.contains(&d) => g.split_dns.push(d),
            (Some(d), true) => g.split_dns.retain(|x| *x != d),
            (None, true) => g.split_dns.clear(),
            _ => {}
        },
    }
}

/// One line of an Easy VPN client profile: a later line replaces the setting, except `peer`,
/// which adds to the list (in order, or first with `default`).
fn apply_ezvpn(z: &mut crate::policy::EzvpnClient, attr: EzvpnAttr) {
    match attr {
        EzvpnAttr::Connect(auto) => z.connect_auto = auto,
        EzvpnAttr::Group(g) => z.group = g,
        EzvpnAttr::NetworkExtension(n) => z.network_extension = n,
        EzvpnAttr::Peer {
            addr: Some(a),
            default,
            remove: false,
        } => {
            if default {
                z.peers.retain(|x| *x != a);
                z.peers.insert(0, a);
            } else if !z.peers.contains(&a) {
                z.peers.push(a);
            }
        }
        EzvpnAttr::Peer {
            addr: Some(a),
            remove: true,
            ..
        } => z.peers.retain(|x| *x != a),
        EzvpnAttr::Peer { addr: None, .. } => z.peers.clear(),
        EzvpnAttr::Credentials(c) => z.credentials = c,
        EzvpnAttr::XauthLocal => z.xauth_interactive = false,
        EzvpnAttr::XauthInteractive => z.xauth_interactive = true,
    }
}
