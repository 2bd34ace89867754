//! `crypto ...` global commands, parsed strictly. What we implement becomes configuration; what
//! has no effect on a userspace IKEv1 gateway is accepted with a notice that says why; anything
//! else that would change what is negotiated or protected is refused by name ([`Cmd::Unsupported`],
//! "not implemented yet" for what is planned).

use std::net::Ipv4Addr;

use crate::policy::{
    DpdConfig, DpdMode, EspEncryption, EspIntegrity, EspMode, KeyEncoding, PreSharedKey, PskPeer,
    PskSecret, TransformSet,
};

use super::global::words;
use super::grammar::Cmd;
use super::lex::{pick, Cursor, Pick, Tok};
use super::{ConfigError, State};

/// Feature names shared by the places that refuse them.
pub(super) const EZVPN: &str = "Easy VPN";
pub(super) const ISAKMP_PROFILE: &str = "ISAKMP profiles";
pub(super) const VRF: &str = "VRF-aware IPsec";

const CRYPTO_KW: &[&str] = &[
    "ca",
    "call",
    "ctcp",
    "dynamic-map",
    "engine",
    "gdoi",
    "identity",
    "ikev2",
    "ipsec",
    "isakmp",
    "key",
    "keyring",
    "logging",
    "map",
    "mib",
    "pki",
    "vpn",
];

impl State {
    pub(super) fn crypto(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        // `crypto keyring K vrf V`, `crypto map M 10 ipsec-isakmp ... vrf`: front-door VRFs.
        if c.toks.iter().any(|t| t.text.eq_ignore_ascii_case("vrf")) {
            let what = words(c, 3);
            return Ok(c.unsupported(format!("{VRF} ({what} ... vrf)"), false, true));
        }
        let Some(t) = c.peek() else {
            return Err(c.err_at(c.eol_col, "missing crypto keyword"));
        };
        let k = match pick(t.text, CRYPTO_KW) {
            Pick::One(k) => {
                c.pos += 1;
                k
            }
            Pick::Ambiguous(a, b) => {
                return Err(c.err(
                    &t,
                    format!(
                        "ambiguous crypto keyword \"{}\" (could be {a} or {b})",
                        t.text
                    ),
                ))
            }
            Pick::None => {
                let what = words(c, 3);
                return Ok(c.unsupported(what, false, true));
            }
        };
        Ok(match k {
            "isakmp" => return self.crypto_isakmp(c),
            "ipsec" => return self.crypto_ipsec(c),
            "map" => return self.crypto_map(c),
            "pki" | "ca" => return self.crypto_pki(c),
            "dynamic-map" => {
                let name = c.next("dynamic map name")?;
                let t = c.next("sequence number")?;
                let seq = c.num_tok(&t, "sequence number", 1, 65_535)? as u16;
                Cmd::DynMap(name.text.to_string(), seq)
            }
            "keyring" => Cmd::Keyring(c.next("keyring name")?.text.to_string()),
            "ikev2" => c.unsupported("IKEv2 (crypto ikev2)", false, true),
            "gdoi" => c.unsupported("GETVPN (crypto gdoi)", false, true),
            "ctcp" => c.unsupported("cTCP (crypto ctcp)", false, true),
            "call" => c.unsupported("IKE call admission (crypto call admission)", false, true),
            // Key pairs a running-config holds are public halves only (`crypto key pubkey-chain`
            // serves rsa-encr, refused on its own); our private keys come from the key directory.
            "key" => {
                let _ = c.rest();
                Cmd::NoticeBlock(
                    "crypto key ignored: private keys are read from the key directory (LABEL.pem)"
                        .into(),
                )
            }
            "logging" => c.notice(
                "crypto logging ignored: session events are reported by debug crypto and show commands",
            ),
            "engine" => c.notice(
                "crypto engine ignored: it selects hardware acceleration, ESP runs in software here",
            ),
            "mib" => c.notice("crypto mib ignored: no SNMP here"),
            _ => {
                let what = words(c, 3);
                c.unsupported(what, false, true)
            }
        })
    }

    /// `no crypto ...`: the defaults we model restored, the rest refused unless it only turns
    /// off something this stack never does.
    pub(super) fn no_crypto(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let save = c.pos;
        if c.opt_kw(&["ipsec"]).is_some() && c.opt_kw(&["nat-transparency"]).is_some() {
            c.kw(&["udp-encapsulation"], "keyword")?;
            c.end()?;
            return Ok(Cmd::NatT(false));
        }
        c.pos = save;
        if c.opt_kw(&["isakmp"]).is_some() {
            if c.opt_kw(&["keepalive"]).is_some() {
                let _ = c.rest();
                return Ok(Cmd::Dpd(None));
            }
            if c.opt_kw(&["nat"]).is_some() && c.opt_kw(&["keepalive"]).is_some() {
                let _ = c.rest();
                return Ok(Cmd::NatKeepalive(None));
            }
            c.pos = save + 1;
            if c.opt_kw(&["fragmentation"]).is_some() {
                let _ = c.rest();
                return Ok(Cmd::IkeFragmentation(None));
            }
            c.pos = save + 1;
            if c.opt_kw(&["aggressive-mode"]).is_some() {
                c.kw(&["disable"], "aggressive-mode keyword")?;
                c.end()?;
                return Ok(Cmd::AggressiveDisable(false));
            }
            c.pos = save + 1;
            if c.opt_kw(&["default"]).is_some() {
                // IOS 15's built-in policies; only configured policies are offered here anyway.
                return Ok(c.notice(
                    "no crypto isakmp default policy: only configured policies are used here anyway",
                ));
            }
        }
        c.pos = save;
        if c.opt_kw(&["ikev2", "logging"]).is_some() {
            // Turning off IKEv2 defaults or crypto logging: neither exists here.
            return Ok(c.notice("no effect here: IKEv2 and crypto logging are not run"));
        }
        c.pos = 0;
        let what = words(c, 4);
        Ok(c.unsupported(what, false, false))
    }

    fn crypto_isakmp(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let k = c.kw(
            &[
                "aggressive-mode",
                "client",
                "default",
                "enable",
                "fragmentation",
                "identity",
                "invalid-spi-recovery",
                "keepalive",
                "key",
                "nat",
                "peer",
                "policy",
                "profile",
                "xauth",
            ],
            "isakmp keyword",
        )?;
        Ok(match k {
            "policy" => Cmd::Policy(c.num("policy priority", 1, 10_000)? as u16),
            "key" => return self.isakmp_key(c),
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
                Cmd::Dpd(Some(DpdConfig {
                    interval_secs: interval,
                    retry_secs: retry,
                    mode,
                }))
            }
            "nat" => {
                c.kw(&["keepalive"], "nat keyword")?;
                Cmd::NatKeepalive(Some(c.num("nat keepalive interval", 5, 3600)? as u32))
            }
            "profile" => Cmd::Profile(c.next("profile name")?.text.to_string()),
            "client" => {
                let save = c.pos;
                if c.opt_kw(&["configuration"]).is_some() && c.opt_kw(&["group"]).is_some() {
                    Cmd::ClientGroup(c.next("group name")?.text.to_string())
                } else {
                    // `configuration address-pool local P` (the pre-12.3 global pool),
                    // `firewall ...`: what clients are given, not modelled.
                    c.pos = save;
                    let what = words_from(c, 4);
                    c.unsupported(
                        format!("{EZVPN} (crypto isakmp client {what})"),
                        false,
                        true,
                    )
                }
            }
            "peer" => match c.kw(&["address", "hostname"], "peer keyword")? {
                "address" => {
                    let a = c.ip("peer address")?;
                    if c.peek().is_some() {
                        let what = words_from(c, 6);
                        return Ok(c.unsupported(
                            format!("{VRF} or IPv6 in crypto isakmp peer ({what})"),
                            false,
                            true,
                        ));
                    }
                    Cmd::IsakmpPeer(a)
                }
                _ => c.unsupported(
                    "per-peer ISAKMP settings by hostname (crypto isakmp peer hostname)",
                    false,
                    true,
                ),
            },
            "aggressive-mode" => {
                c.kw(&["disable"], "aggressive-mode keyword")?;
                Cmd::AggressiveDisable(true)
            }
            "identity" => {
                use crate::policy::IsakmpIdentity;
                Cmd::IsakmpIdentity(
                    match c.kw(&["address", "dn", "hostname"], "identity type")? {
                        "address" => IsakmpIdentity::Address,
                        // ID_FQDN `hostname.domain` (`ip domain name`).
                        "hostname" => IsakmpIdentity::Hostname,
                        _ => IsakmpIdentity::Dn,
                    },
                )
            }
            // Only reports an invalid SPI to the peer over a new IKE SA; proposals and the
            // protected traffic are unchanged.
            "invalid-spi-recovery" => c.notice(
                "crypto isakmp invalid-spi-recovery ignored: it changes neither proposals nor protected traffic",
            ),
            "enable" => c.notice("crypto isakmp enable is the default"),
            // IOS takes the bare command; `mtu N` is ours (IOS has it only for IKEv2, as
            // `crypto ikev2 fragmentation mtu N`) to size fragments for a known path.
            "fragmentation" => {
                let mtu = match c.opt_kw(&["mtu"]) {
                    Some(_) => c.num(
                        "fragmentation mtu",
                        u64::from(crate::ike::FragmentationConfig::MIN_MTU),
                        u64::from(crate::ike::FragmentationConfig::MAX_MTU),
                    )? as u16,
                    None => crate::ike::FragmentationConfig::DEFAULT_MTU,
                };
                c.end()?;
                Cmd::IkeFragmentation(Some(mtu))
            }
            // `xauth timeout N`: how long the server waits for the user's credentials. Here the
            // REQUEST's retransmissions bound that wait (the SA is deleted when they run out);
            // neither proposals nor protected traffic depend on it.
            "xauth" => c.notice(
                "crypto isakmp xauth ignored: the wait for XAUTH credentials ends when the REQUEST's retransmissions run out",
            ),
            _ => {
                // `crypto isakmp default policy` (IOS 15 built-in policies).
                let _ = c.rest();
                Cmd::Notice("crypto isakmp default ignored: only configured policies are used here".into())
            }
        })
    }

    /// A key string's bytes exactly as in the file: text decoded as Latin-1 goes back char by
    /// char (every char is below 256), UTF-8 text as it is.
    pub(super) fn key_bytes(&self, text: &str) -> Vec<u8> {
        if self.latin1 {
            text.chars()
                .map(|ch| u8::try_from(u32::from(ch)).unwrap_or(b'?'))
                .collect()
        } else {
            text.as_bytes().to_vec()
        }
    }

    /// `pre-shared-key address A [M] key K` | `pre-shared-key hostname H key K` in a keyring.
    pub(super) fn keyring_key(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let Some(peer) = key_peer(c)? else {
            return Ok(c.unsupported("IPv6 peers (pre-shared-key address ipv6)", false, false));
        };
        c.kw(&["key"], "key keyword")?;
        let first = c.next("key string")?;
        let (encoding, key) = match first.text {
            "0" | "6" if c.peek().is_some() => {
                let k = c.next("key string")?;
                let enc = if first.text == "6" {
                    KeyEncoding::Type6
                } else {
                    KeyEncoding::Clear
                };
                (enc, k)
            }
            _ => (KeyEncoding::Clear, first),
        };
        Ok(Cmd::KeyringKey(PreSharedKey {
            key: PskSecret::new(self.key_bytes(key.text)),
            encoding,
            peer,
            no_xauth: false,
        }))
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
        let Some(peer) = key_peer(c)? else {
            return Ok(c.unsupported(
                "IPv6 peers (crypto isakmp key ... address ipv6)",
                false,
                false,
            ));
        };
        let no_xauth = c.opt_kw(&["no-xauth"]).is_some();
        Ok(Cmd::Key(PreSharedKey {
            key: PskSecret::new(self.key_bytes(key.text)),
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
                "optional",
                "profile",
                "security-association",
                "transform-set",
            ],
            "ipsec keyword",
        )?;
        Ok(match k {
            "transform-set" => return self.transform_set(c),
            "security-association" => match c.kw(
                &["dummy-packets", "idle-time", "lifetime", "replay"],
                "security-association keyword",
            )? {
                "lifetime" => match c.kw(&["days", "kilobytes", "seconds"], "lifetime unit")? {
                    "seconds" => Cmd::SaLifeSecs(c.num("lifetime seconds", 120, 86_400)? as u32),
                    "kilobytes" => Cmd::SaLifeKb(super::submode::lifetime_kilobytes(c)?),
                    _ => c.unsupported("SA lifetimes in days", false, false),
                },
                "replay" => {
                    if c.opt_kw(&["disable"]).is_some() {
                        Cmd::Replay(0)
                    } else {
                        c.kw(&["window-size"], "replay keyword")?;
                        Cmd::Replay(super::submode::replay_window_size(c)?)
                    }
                }
                "idle-time" => Cmd::SaIdle(super::submode::idle_time(c)?),
                _ => c.unsupported(
                    "crypto ipsec security-association dummy-packets",
                    false,
                    false,
                ),
            },
            "nat-transparency" => match c.kw(
                &["spi-matching", "udp-encapsulation"],
                "nat-transparency keyword",
            )? {
                "udp-encapsulation" => Cmd::NatT(true),
                _ => c.unsupported("crypto ipsec nat-transparency spi-matching", false, false),
            },
            "profile" => Cmd::IpsecProfile(c.next("profile name")?.text.to_string()),
            "client" => {
                if c.opt_kw(&["ezvpn"]).is_some() {
                    Cmd::Ezvpn(c.next("profile name")?.text.to_string())
                } else {
                    let what = words_from(c, 4);
                    c.unsupported(format!("{EZVPN} (crypto ipsec client {what})"), false, true)
                }
            }
            "optional" => c.unsupported(
                "crypto ipsec optional (clear traffic accepted where a map applies)",
                false,
                false,
            ),
            "df-bit" => Cmd::DfBit(df_bit(c)?),
            // Changes only how oversized packets are handled, not what is negotiated or
            // which traffic is protected.
            _ => c.notice(format!(
                "crypto ipsec {k} ignored: it changes neither proposals nor protected traffic"
            )),
        })
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
                "esp-gcm" => Some(match c.opt_kw(&["128", "192", "256"]) {
                    Some("192") => EspEncryption::AesGcm192,
                    Some("256") => EspEncryption::AesGcm256,
                    _ => EspEncryption::AesGcm128,
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
            // IOS refuses it too: GCM authenticates by itself.
            let combined = match (e, i) {
                (Some(e), _) if integ.is_some() => Some(e),
                (_, Some(_)) => enc,
                _ => None,
            };
            if let Some(e) = combined.filter(|e| e.is_aead()) {
                return Err(c.err(
                    &t,
                    format!(
                        "{} is a combined-mode transform and takes no ESP authentication \
                         transform",
                        e.ios_name()
                    ),
                ));
            }
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
                if k == "esp-gmac" {
                    let _ = c.opt_kw(&["128", "192", "256"]);
                }
            }
        }
        if let Some(k) = unsupported {
            return Ok(Cmd::BadTransformSet {
                name,
                transform: k.to_string(),
            });
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
            return Ok(
                match pick(
                    t.text,
                    &[
                        "client",
                        "gdoi",
                        "isakmp",
                        "isakmp-profile",
                        "local-address",
                        "redundancy",
                    ],
                ) {
                    Pick::One("local-address") => {
                        let first = c.next("interface name")?;
                        let mut parts = vec![first.text];
                        while let Some(n) = c.peek() {
                            parts.push(n.text);
                            c.pos += 1;
                        }
                        Cmd::MapLocal(name, super::grammar::interface_name(&parts))
                    }
                    Pick::One("isakmp-profile") => c.unsupported(
                        format!("{ISAKMP_PROFILE} (crypto map {name} isakmp-profile)"),
                        true,
                        false,
                    ),
                    Pick::One("client") => {
                        let save = c.pos;
                        if c.opt_kw(&["authentication"]).is_some() && c.opt_kw(&["list"]).is_some()
                        {
                            let l = c.next("method list name")?;
                            return Ok(Cmd::MapClientAuth(name, l.text.to_string()));
                        }
                        c.pos = save;
                        if c.opt_kw(&["configuration"]).is_some() {
                            c.kw(&["address"], "client configuration keyword")?;
                            return Ok(Cmd::MapClientConfig(name, address_assignment(c)?));
                        }
                        // `client accounting list L`: RADIUS accounting of client sessions.
                        c.pos = save;
                        let what = words_from(c, 3);
                        c.unsupported(
                            format!("{EZVPN} (crypto map {name} client {what})"),
                            false,
                            false,
                        )
                    }
                    Pick::One("isakmp") => {
                        c.kw(&["authorization"], "isakmp keyword")?;
                        c.kw(&["list"], "authorization keyword")?;
                        let l = c.next("method list name")?;
                        Cmd::MapIsakmpAuth(name, l.text.to_string())
                    }
                    Pick::One("redundancy") => {
                        c.unsupported("stateful failover (crypto map redundancy)", false, false)
                    }
                    Pick::One(_) => c.unsupported("GETVPN (crypto map gdoi)", false, false),
                    _ => return Err(c.err(&t, format!("invalid sequence number \"{}\"", t.text))),
                },
            );
        }
        let seq = c.num_tok(&t, "sequence number", 1, 65_535)? as u16;
        Ok(match c.opt_kw(&["gdoi", "ipsec-isakmp", "ipsec-manual"]) {
            None | Some("ipsec-isakmp") => {
                if c.opt_kw(&["dynamic"]).is_some() {
                    let d = c.next("dynamic map name")?;
                    let _ = c.rest();
                    return Ok(Cmd::MapDynamic(name, seq, d.text.to_string()));
                }
                Cmd::Map(name, seq)
            }
            Some("gdoi") => c.unsupported("GETVPN (crypto map gdoi)", false, true),
            Some(_) => c.unsupported("manually keyed crypto maps (ipsec-manual)", false, true),
        })
    }
}

/// `respond | initiate` after `client configuration address` (crypto map or ISAKMP profile).
pub(super) fn address_assignment(
    c: &mut Cursor<'_>,
) -> Result<crate::policy::AddressAssignment, ConfigError> {
    use crate::policy::AddressAssignment;
    Ok(
        match c.kw(&["initiate", "respond"], "address assignment")? {
            "initiate" => AddressAssignment::Initiate,
            _ => AddressAssignment::Respond,
        },
    )
}

/// `clear | set | copy` after `crypto ipsec df-bit` (global or in an interface).
pub(super) fn df_bit(c: &mut Cursor<'_>) -> Result<crate::policy::DfBit, ConfigError> {
    use crate::policy::DfBit;
    Ok(match c.kw(&["clear", "copy", "set"], "df-bit setting")? {
        "clear" => DfBit::Clear,
        "set" => DfBit::Set,
        _ => DfBit::Copy,
    })
}

/// Up to `n` words from the cursor's position.
/// The next `n` words from the cursor on, for naming a refused command.
pub(super) fn rest_words(c: &Cursor<'_>, n: usize) -> String {
    words_from(c, n)
}

fn words_from(c: &Cursor<'_>, n: usize) -> String {
    let w: Vec<&str> = c.toks.iter().skip(c.pos).take(n).map(|t| t.text).collect();
    w.join(" ")
}

/// The peer of a key, `address A [M]` or `hostname H` (`crypto isakmp key`, a keyring's
/// `pre-shared-key`); `None` for an IPv6 address, which is not supported.
fn key_peer(c: &mut Cursor<'_>) -> Result<Option<PskPeer>, ConfigError> {
    Ok(Some(
        match c.kw(&["address", "hostname"], "key peer keyword")? {
            "address" => {
                if c.peek()
                    .is_some_and(|t| t.text.eq_ignore_ascii_case("ipv6"))
                {
                    return Ok(None);
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
                    // IOS 15 prints the wildcard key `address 0.0.0.0 0.0.0.0` as `address
                    // 0.0.0.0`: any peer, not the host 0.0.0.0 (which can never be a peer).
                    _ if addr == Ipv4Addr::UNSPECIFIED => Ipv4Addr::UNSPECIFIED,
                    _ => Ipv4Addr::BROADCAST,
                };
                PskPeer::Address { addr, mask }
            }
            _ => PskPeer::Hostname(c.next("hostname")?.text.to_string()),
        },
    ))
}
