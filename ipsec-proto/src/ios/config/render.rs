//! Rendering a [`GatewayConfig`] back to canonical IOS running-config text.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::policy::{
    AccessList, AclKind, DpdConfig, DpdMode, EspMode, GatewayConfig, IpsecGlobals, IsakmpIdentity,
    IsakmpPolicy, KeyEncoding, NatSide, PskPeer,
};

/// Canonical running-config text for a configuration, omitting defaults as IOS does.
/// `parse(&render(c))` yields `c` again for every configuration `parse` can produce.
pub fn render(cfg: &GatewayConfig) -> String {
    let mut o = String::new();
    if let Some(h) = &cfg.hostname {
        let _ = writeln!(o, "hostname {h}\n!");
    }
    if let Some(d) = &cfg.domain_name {
        let _ = writeln!(o, "ip domain name {d}");
    }
    render_aaa(&mut o, &cfg.aaa);
    render_pki(&mut o, cfg);
    match cfg.isakmp_identity {
        IsakmpIdentity::Address => {}
        IsakmpIdentity::Hostname => o.push_str("crypto isakmp identity hostname\n"),
        IsakmpIdentity::Dn => o.push_str("crypto isakmp identity dn\n"),
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
    for r in &cfg.keyrings {
        let _ = writeln!(o, "crypto keyring {}", r.name);
        match &r.local_address {
            Some(crate::policy::LocalAddress::Address(a)) => {
                let _ = writeln!(o, "  local-address {a}");
            }
            Some(crate::policy::LocalAddress::Interface(i)) => {
                let _ = writeln!(o, "  local-address {i}");
            }
            None => {}
        }
        for k in &r.keys {
            let ty = match k.encoding {
                KeyEncoding::Clear => "",
                KeyEncoding::Type6 => "6 ",
            };
            let key = String::from_utf8_lossy(k.key.expose());
            let _ = match &k.peer {
                PskPeer::Address { addr, mask } => {
                    writeln!(o, "  pre-shared-key address {addr} {mask} key {ty}{key}")
                }
                PskPeer::Hostname(h) => writeln!(o, "  pre-shared-key hostname {h} key {ty}{key}"),
            };
        }
        o.push_str("!\n");
    }
    for g in &cfg.client_groups {
        render_group(&mut o, g);
    }
    for p in &cfg.isakmp_profiles {
        let _ = writeln!(o, "crypto isakmp profile {}", p.name);
        match &p.local_address {
            Some(crate::policy::LocalAddress::Address(a)) => {
                let _ = writeln!(o, "   local-address {a}");
            }
            Some(crate::policy::LocalAddress::Interface(i)) => {
                let _ = writeln!(o, "   local-address {i}");
            }
            None => {}
        }
        for t in &p.ca_trustpoints {
            let _ = writeln!(o, "   ca trust-point {t}");
        }
        for m in &p.match_certificates {
            let _ = writeln!(o, "   match certificate {m}");
        }
        for k in &p.keyrings {
            let _ = writeln!(o, "   keyring {k}");
        }
        for (a, m) in &p.match_addresses {
            let _ = writeln!(o, "   match identity address {a} {m}");
        }
        for g in &p.match_groups {
            let _ = writeln!(o, "   match identity group {g}");
        }
        for h in &p.match_hosts {
            let _ = match h {
                crate::policy::HostIdentity::Host(n) => writeln!(o, "   match identity host {n}"),
                crate::policy::HostIdentity::Domain(d) => {
                    writeln!(o, "   match identity host domain {d}")
                }
            };
        }
        match &p.self_identity {
            Some(crate::policy::SelfIdentity::Address) => o.push_str("   self-identity address\n"),
            Some(crate::policy::SelfIdentity::Fqdn) => o.push_str("   self-identity fqdn\n"),
            Some(crate::policy::SelfIdentity::UserFqdn(u)) => {
                let _ = writeln!(o, "   self-identity user-fqdn {u}");
            }
            None => {}
        }
        if let Some((i, r)) = p.keepalive {
            let _ = writeln!(o, "   keepalive {i} retry {r}");
        }
        if p.initiate_aggressive {
            o.push_str("   initiate mode aggressive\n");
        }
        if let Some(l) = &p.client_auth_list {
            let _ = writeln!(o, "   client authentication list {l}");
        }
        if let Some(l) = &p.isakmp_authorization_list {
            let _ = writeln!(o, "   isakmp authorization list {l}");
        }
        if let Some(a) = p.client_configuration {
            let _ = writeln!(o, "   client configuration address {}", a.keyword());
        }
        o.push_str("!\n");
    }
    if cfg.aggressive_mode_disabled {
        o.push_str("crypto isakmp aggressive-mode disable\n");
    }
    for p in &cfg.isakmp_peers {
        let _ = writeln!(o, "crypto isakmp peer address {}", p.address);
        if let Some(k) = &p.password {
            let _ = writeln!(
                o,
                " set aggressive-mode password {}",
                String::from_utf8_lossy(k.expose())
            );
        }
        let _ = match &p.client_endpoint {
            Some(crate::policy::Phase1Id::Ipv4(a)) => {
                writeln!(o, " set aggressive-mode client-endpoint ipv4-address {a}")
            }
            Some(crate::policy::Phase1Id::Fqdn(f)) => {
                writeln!(o, " set aggressive-mode client-endpoint fqdn {f}")
            }
            Some(crate::policy::Phase1Id::UserFqdn(u)) => {
                writeln!(o, " set aggressive-mode client-endpoint user-fqdn {u}")
            }
            _ => Ok(()),
        };
        o.push_str("!\n");
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
    match g.ike_fragmentation_mtu {
        None => {}
        Some(crate::ike::FragmentationConfig::DEFAULT_MTU) => {
            o.push_str("crypto isakmp fragmentation\n")
        }
        Some(m) => {
            let _ = writeln!(o, "crypto isakmp fragmentation mtu {m}");
        }
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
            kilobytes_word(g.sa_lifetime_kb)
        );
    }
    if let Some(t) = g.sa_idle_time {
        let _ = writeln!(
            o,
            "crypto ipsec security-association idle-time {}",
            idle_words(t)
        );
    }
    if g.replay_window == 0 {
        o.push_str("crypto ipsec security-association replay disable\n");
    } else if g.replay_window != IpsecGlobals::DEFAULT_REPLAY_WINDOW {
        let _ = writeln!(
            o,
            "crypto ipsec security-association replay window-size {}",
            g.replay_window
        );
    }
    if g.df_bit != crate::policy::DfBit::Copy {
        let _ = writeln!(o, "crypto ipsec df-bit {}", g.df_bit.ios_name());
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
    for p in &cfg.ipsec_profiles {
        let _ = writeln!(o, "crypto ipsec profile {}", p.name);
        map_entry_body(
            &mut o,
            &crate::policy::CryptoMapEntry {
                transform_sets: p.transform_sets.clone(),
                pfs_group: p.pfs_group,
                lifetime_secs: p.lifetime_secs,
                lifetime_kb: p.lifetime_kb,
                replay_window: p.replay_window,
                isakmp_profile: p.isakmp_profile.clone(),
                ..crate::policy::CryptoMapEntry::new(String::new(), 0)
            },
        );
    }
    for e in &cfg.dynamic_maps {
        let _ = writeln!(o, "crypto dynamic-map {} {}", e.map, e.seq);
        map_entry_body(&mut o, e);
    }
    for (m, l) in &cfg.map_client_auth {
        let _ = writeln!(o, "crypto map {m} client authentication list {l}");
    }
    for (m, l) in &cfg.map_isakmp_authorization {
        let _ = writeln!(o, "crypto map {m} isakmp authorization list {l}");
    }
    for (m, a) in &cfg.map_client_configuration {
        let _ = writeln!(
            o,
            "crypto map {m} client configuration address {}",
            a.keyword()
        );
    }
    for e in &cfg.crypto_maps {
        if let Some(d) = &e.dynamic {
            let _ = writeln!(o, "crypto map {} {} ipsec-isakmp dynamic {d}", e.map, e.seq);
            o.push_str("!\n");
            continue;
        }
        let _ = writeln!(o, "crypto map {} {} ipsec-isakmp", e.map, e.seq);
        map_entry_body(&mut o, e);
    }
    for (m, i) in &cfg.map_local_addresses {
        let _ = writeln!(o, "crypto map {m} local-address {i}");
    }
    for z in &cfg.ezvpn_clients {
        render_ezvpn(&mut o, z);
    }
    for i in &cfg.interfaces {
        let _ = writeln!(o, "interface {}", i.name);
        if let Some(d) = &i.description {
            let _ = writeln!(o, " description {d}");
        }
        if let Some((a, m)) = i.address {
            let _ = writeln!(o, " ip address {a} {m}");
        }
        if let Some(u) = &i.unnumbered {
            let _ = writeln!(o, " ip unnumbered {u}");
        }
        if let Some(m) = i.ip_mtu {
            let _ = writeln!(o, " ip mtu {m}");
        }
        match i.nat {
            Some(NatSide::Inside) => o.push_str(" ip nat inside\n"),
            Some(NatSide::Outside) => o.push_str(" ip nat outside\n"),
            None => {}
        }
        if let Some(m) = i.tcp_adjust_mss {
            let _ = writeln!(o, " ip tcp adjust-mss {m}");
        }
        if let Some(t) = &i.tunnel {
            render_tunnel(&mut o, t);
        }
        if let Some(d) = i.df_bit {
            let _ = writeln!(o, " crypto ipsec df-bit {}", d.ios_name());
        }
        if i.shutdown {
            o.push_str(" shutdown\n");
        }
        if let Some(m) = &i.crypto_map {
            let _ = writeln!(o, " crypto map {m}");
        }
        match &i.ezvpn {
            Some((n, true)) => {
                let _ = writeln!(o, " crypto ipsec client ezvpn {n} inside");
            }
            Some((n, false)) => {
                let _ = writeln!(o, " crypto ipsec client ezvpn {n}");
            }
            None => {}
        }
        o.push_str("!\n");
    }
    for p in &cfg.local_pools {
        for (f, l) in &p.ranges {
            if f == l {
                let _ = writeln!(o, "ip local pool {} {f}", p.name);
            } else {
                let _ = writeln!(o, "ip local pool {} {f} {l}", p.name);
            }
        }
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

/// `aaa new-model`, the method lists and the `username` lines (passwords in clear, type 0, as
/// show-run prints them without `service password-encryption`).
/// Trustpoints, certificate maps, then the chains, in the order `show running-config` prints
/// them (a chain needs its trustpoint first).
fn render_pki(o: &mut String, cfg: &GatewayConfig) {
    use crate::policy::pki::RevocationCheck;
    use crate::policy::Enrollment;
    for t in &cfg.trustpoints {
        let _ = writeln!(o, "crypto pki trustpoint {}", t.name);
        match &t.enrollment {
            Some(Enrollment::Terminal) => o.push_str(" enrollment terminal\n"),
            Some(Enrollment::SelfSigned) => o.push_str(" enrollment selfsigned\n"),
            Some(Enrollment::Url(u)) => {
                let _ = writeln!(o, " enrollment url {u}");
            }
            None => {}
        }
        if let Some(s) = &t.subject_name {
            let _ = writeln!(o, " subject-name {s}");
        }
        match t.revocation_check {
            RevocationCheck::Crl => {}
            RevocationCheck::None => o.push_str(" revocation-check none\n"),
            RevocationCheck::CrlOrNone => o.push_str(" revocation-check crl none\n"),
        }
        if let Some(k) = &t.rsakeypair {
            let _ = writeln!(o, " rsakeypair {k}");
        }
        o.push_str("!\n");
    }
    for m in &cfg.certificate_maps {
        let _ = writeln!(o, "crypto pki certificate map {} {}", m.name, m.seq);
        for r in &m.rules {
            let _ = writeln!(
                o,
                " {} {} {}",
                super::pki::field_keyword(r.field),
                super::pki::op_keyword(r.op),
                r.value
            );
        }
        o.push_str("!\n");
    }
    for t in cfg.trustpoints.iter().filter(|t| !t.chain.is_empty()) {
        let _ = writeln!(o, "crypto pki certificate chain {}", t.name);
        for c in &t.chain {
            let ca = if c.ca { "ca " } else { "" };
            let _ = writeln!(o, " certificate {ca}{}", c.serial);
            o.push_str(&cert_hex(&c.der));
            o.push_str("  \tquit\n");
        }
        o.push_str("!\n");
    }
}

/// DER as IOS prints it in a certificate chain: upper-case hex in groups of 4 bytes, 8 groups
/// a line, each line indented by two spaces.
fn cert_hex(der: &[u8]) -> String {
    let mut o = String::new();
    for line in der.chunks(32) {
        o.push(' ');
        for group in line.chunks(4) {
            o.push(' ');
            for b in group {
                let _ = write!(o, "{b:02X}");
            }
        }
        o.push('\n');
    }
    o
}

fn render_aaa(o: &mut String, a: &crate::policy::AaaConfig) {
    if a.new_model {
        o.push_str("aaa new-model\n");
    }
    for (l, methods) in &a.login_lists {
        let m: Vec<&str> = methods
            .iter()
            .map(|m| match m {
                crate::policy::LoginMethod::Local => "local",
            })
            .collect();
        let _ = writeln!(o, "aaa authentication login {l} {}", m.join(" "));
    }
    for (l, methods) in &a.network_lists {
        let m: Vec<&str> = methods
            .iter()
            .map(|m| match m {
                crate::policy::AuthorizationMethod::Local => "local",
            })
            .collect();
        let _ = writeln!(o, "aaa authorization network {l} {}", m.join(" "));
    }
    for u in &a.users {
        let _ = writeln!(
            o,
            "username {} password 0 {}",
            u.name,
            String::from_utf8_lossy(u.password.expose())
        );
    }
    if a.new_model
        || !a.login_lists.is_empty()
        || !a.network_lists.is_empty()
        || !a.users.is_empty()
    {
        o.push_str("!\n");
    }
}

/// A `crypto ipsec client ezvpn` block. Secrets are written as type 0 so that a key or
/// password that is itself `0`, `6` or `7` reads back as the secret, not as a type.
fn render_ezvpn(o: &mut String, z: &crate::policy::EzvpnClient) {
    let _ = writeln!(o, "crypto ipsec client ezvpn {}", z.name);
    let connect = if z.connect_auto { "auto" } else { "manual" };
    let _ = writeln!(o, " connect {connect}");
    if let Some((g, k)) = &z.group {
        let _ = writeln!(
            o,
            " group {g} key 0 {}",
            String::from_utf8_lossy(k.expose())
        );
    }
    let mode = if z.network_extension {
        "network-extension"
    } else {
        "client"
    };
    let _ = writeln!(o, " mode {mode}");
    for p in &z.peers {
        let _ = writeln!(o, " peer {p}");
    }
    if let Some(c) = &z.credentials {
        let _ = writeln!(
            o,
            " username {} password 0 {}",
            c.name,
            String::from_utf8_lossy(c.password.expose())
        );
        if !z.xauth_interactive {
            o.push_str(" xauth userid mode local\n");
        }
    }
    if z.xauth_interactive {
        o.push_str(" xauth userid mode interactive\n");
    }
    o.push_str("!\n");
}

/// A `crypto isakmp client configuration group` block.
fn render_group(o: &mut String, g: &crate::policy::ClientGroup) {
    let _ = writeln!(o, "crypto isakmp client configuration group {}", g.name);
    if let Some(k) = &g.key {
        let _ = writeln!(o, " key {}", String::from_utf8_lossy(k.expose()));
    }
    let addrs = |v: &[Ipv4Addr]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !g.dns.is_empty() {
        let _ = writeln!(o, " dns {}", addrs(&g.dns));
    }
    if !g.wins.is_empty() {
        let _ = writeln!(o, " wins {}", addrs(&g.wins));
    }
    if let Some(d) = &g.domain {
        let _ = writeln!(o, " domain {d}");
    }
    if let Some(p) = &g.pool {
        let _ = writeln!(o, " pool {p}");
    }
    if let Some(a) = &g.split_acl {
        let _ = writeln!(o, " acl {a}");
    }
    if g.save_password {
        o.push_str(" save-password\n");
    }
    if g.pfs {
        o.push_str(" pfs\n");
    }
    if let Some(m) = g.netmask {
        let _ = writeln!(o, " netmask {m}");
    }
    for b in &g.backup_gateways {
        let _ = writeln!(o, " backup-gateway {b}");
    }
    for d in &g.split_dns {
        let _ = writeln!(o, " split-dns {d}");
    }
    if let Some(n) = g.max_users {
        let _ = writeln!(o, " max-users {n}");
    }
    if let Some(b) = &g.banner {
        // The text goes on lines of its own between delimiter lines, so the reader takes it
        // back whole; the delimiter is one the text does not contain.
        let d = banner_delimiter(b);
        let _ = writeln!(o, " banner {d}\n{b}\n{d}");
    }
    o.push_str("!\n");
}

/// `^C` as show-run prints it, else the first printable character not in `text` (never `!`,
/// which would start a comment, nor `^`).
fn banner_delimiter(text: &str) -> String {
    if !text.contains("^C") {
        return "^C".into();
    }
    ('"'..='~')
        .find(|c| *c != '^' && !text.contains(*c))
        .map_or_else(|| "^C".into(), |c| c.to_string())
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

/// The sub-commands of a crypto map or dynamic map entry.
fn render_tunnel(o: &mut String, t: &crate::policy::TunnelConfig) {
    use crate::policy::{TunnelMode, TunnelSource};
    match &t.source {
        Some(TunnelSource::Interface(i)) => {
            let _ = writeln!(o, " tunnel source {i}");
        }
        Some(TunnelSource::Address(a)) => {
            let _ = writeln!(o, " tunnel source {a}");
        }
        None => {}
    }
    match &t.mode {
        TunnelMode::Gre => {}
        TunnelMode::IpsecIpv4 => o.push_str(" tunnel mode ipsec ipv4\n"),
        TunnelMode::Other(m) => {
            let _ = writeln!(o, " tunnel mode {m}");
        }
    }
    if let Some(d) = t.destination {
        let _ = writeln!(o, " tunnel destination {d}");
    }
    if let Some(p) = &t.protection {
        let _ = writeln!(o, " tunnel protection ipsec profile {p}");
    }
    if t.keepalive {
        o.push_str(" keepalive\n");
    }
}

fn map_entry_body(o: &mut String, e: &crate::policy::CryptoMapEntry) {
    for (i, p) in e.peers.iter().enumerate() {
        let default = if i == 0 && e.default_peer {
            " default"
        } else {
            ""
        };
        let _ = writeln!(o, " set peer {p}{default}");
    }
    if let Some(s) = e.lifetime_secs {
        let _ = writeln!(o, " set security-association lifetime seconds {s}");
    }
    if let Some(k) = e.lifetime_kb {
        let _ = writeln!(
            o,
            " set security-association lifetime kilobytes {}",
            kilobytes_word(k)
        );
    }
    if let Some(t) = e.idle_time {
        let _ = writeln!(o, " set security-association idle-time {}", idle_words(t));
    }
    if !e.transform_sets.is_empty() {
        let _ = writeln!(o, " set transform-set {}", e.transform_sets.join(" "));
    }
    if let Some(gr) = e.pfs_group {
        let _ = writeln!(o, " set pfs group{gr}");
    }
    if let Some(p) = &e.isakmp_profile {
        let _ = writeln!(o, " set isakmp-profile {p}");
    }
    match e.replay_window {
        Some(0) => o.push_str(" set security-association replay disable\n"),
        Some(n) => {
            let _ = writeln!(o, " set security-association replay window-size {n}");
        }
        None => {}
    }
    if let Some(a) = &e.acl {
        let _ = writeln!(o, " match address {a}");
    }
    if let Some(t) = e.reverse_route_tag {
        let _ = writeln!(o, " set reverse-route tag {t}");
    }
    if let Some(d) = e.reverse_route_distance {
        let _ = writeln!(o, " set reverse-route distance {d}");
    }
    match e.reverse_route {
        Some(crate::policy::ReverseRoute::Static) => o.push_str(" reverse-route static\n"),
        Some(_) => o.push_str(" reverse-route\n"),
        None => {}
    }
    o.push_str("!\n");
}

/// A kilobyte lifetime as configured: the number, or `disable`.
fn kilobytes_word(kb: u64) -> String {
    match crate::policy::volume_limit(kb) {
        Some(k) => k.to_string(),
        None => "disable".into(),
    }
}

/// `S` or `S default`.
fn idle_words(t: crate::policy::IdleTime) -> String {
    if t.default_peer {
        format!("{} default", t.secs)
    } else {
        t.secs.to_string()
    }
}
