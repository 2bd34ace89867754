//! Key material from a charon filelog written with `ike = 4`, `chd = 4`, `mgr = 2`.
//!
//! charon 5.9.8 prints each secret as a hex dump (formats seen on this machine, see the fixtures
//! under `tests/fixtures/`):
//!
//! ```text
//! Nov 26 17:04:35 12[IKE] SKEYID => 20 bytes @ 0x7f8038005bd0
//! Nov 26 17:04:35 12[IKE]    0: 98 E8 24 C4 36 E1 64 35 8C 49 F1 62 6C FC 6C EB  ..$.6.d5.I.bl.l.
//! Nov 26 17:04:35 12[IKE]   16: 6B B1 04 61                                      k..a
//! ```
//!
//! Phase 1 (thread that processed MM3/MM4): `shared Diffie Hellman secret`, `SKEYID`,
//! `SKEYID_d`, `SKEYID_a`, `SKEYID_e`, `encryption key Ka`, `initial IV`; the cookies come from
//! the `[MGR] checkin IKEv1 SA <name>[<n>] with SPIs <ci>_i <cr>_r` line of the same thread.
//! Quick Mode (`[CHD]`): `using <ALG> for encryption|integrity`, with PFS `DH secret`, then
//! `initiator SA seed`, `responder SA seed` (`[g^xy |] protocol | SPI | Ni | Nr`),
//! `encryption initiator key`, `encryption responder key`, `integrity initiator key`,
//! `integrity responder key`, then `adding inbound ESP SA` / `  SPI 0x<spi>, src <a> dst <b>`
//! and the same for outbound. The "initiator" keys protect what the Quick Mode initiator sends;
//! each SPI is matched to its keys by finding `protocol | SPI` inside the seed, not by guessing
//! roles.

use crate::util::hex;
use std::collections::HashMap;

/// One line of a charon log, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Worker thread number (`12` in `12[IKE]`).
    pub thread: u32,
    /// Subsystem (`IKE`, `CHD`, `MGR`, ...).
    pub group: &'a str,
    /// The message after `] `, leading spaces kept.
    pub msg: &'a str,
}

/// Split a filelog line, whatever the time format in front: finds `<digits>[<GROUP>] `.
pub fn parse_line(line: &str) -> Option<LogLine<'_>> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(rel) = line.get(from..)?.find('[') {
        let open = from + rel;
        let close = open + 4;
        let group = line.get(open + 1..close);
        let ok_group = group.is_some_and(|g| g.bytes().all(|b| b.is_ascii_uppercase()));
        let digits_start = line
            .get(..open)?
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |i| i + 1);
        if ok_group
            && bytes.get(close) == Some(&b']')
            && digits_start < open
            && line.get(close + 1..close + 2) == Some(" ")
        {
            let thread = line.get(digits_start..open)?.parse().ok()?;
            return Some(LogLine {
                thread,
                group: group?,
                msg: line.get(close + 2..)?,
            });
        }
        from = open + 1;
    }
    None
}

/// One `label => N bytes @ 0x...` dump with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexDump {
    /// Thread that logged it.
    pub thread: u32,
    /// Subsystem (`IKE`, `CHD`).
    pub group: String,
    /// The label (`SKEYID_e`, `encryption initiator key`).
    pub label: String,
    /// The dumped bytes.
    pub bytes: Vec<u8>,
    /// 1-based line number of the header.
    pub line: usize,
}

fn dump_header(msg: &str) -> Option<(&str, usize)> {
    let (label, rest) = msg.rsplit_once(" => ")?;
    let (n, rest) = rest.split_once(" bytes @ ")?;
    rest.starts_with("0x").then_some(())?;
    Some((label.trim(), n.parse().ok()?))
}

/// Bytes of a continuation line `  16: 6B B1 04 61        k..a` (hex area is 16 * 3 columns,
/// so an ASCII column that happens to look like hex is never read).
fn dump_row(msg: &str) -> Option<Vec<u8>> {
    let (off, rest) = msg.trim_start().split_once(": ")?;
    off.parse::<usize>().ok()?;
    let area: String = rest.chars().take(48).collect();
    area.split_whitespace()
        .map(|t| {
            (t.len() == 2)
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
        })
        .collect()
}

/// Everything charon dumped as hex, in log order.
pub fn hexdumps(log: &str) -> Vec<HexDump> {
    let mut out = Vec::new();
    // Per thread: index into `out` of a dump still missing bytes, and how many.
    let mut open: HashMap<u32, (usize, usize)> = HashMap::new();
    for (i, line) in log.lines().enumerate() {
        let Some(l) = parse_line(line) else { continue };
        if let Some((idx, want)) = open.get(&l.thread).copied() {
            if let Some(row) = dump_row(l.msg) {
                if let Some(d) = out.get_mut(idx) {
                    let d: &mut HexDump = d;
                    d.bytes.extend_from_slice(&row);
                    if d.bytes.len() >= want {
                        d.bytes.truncate(want);
                        open.remove(&l.thread);
                    }
                }
                continue;
            }
            // A dump cut short (should not happen): keep what we have.
            open.remove(&l.thread);
        }
        if let Some((label, n)) = dump_header(l.msg) {
            out.push(HexDump {
                thread: l.thread,
                group: l.group.to_string(),
                label: label.to_string(),
                bytes: Vec::with_capacity(n),
                line: i + 1,
            });
            if n > 0 {
                open.insert(l.thread, (out.len() - 1, n));
            }
        }
    }
    out
}

/// The Phase 1 (ISAKMP SA) secrets of one Main Mode exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phase1Keys {
    /// Initiator cookie (8 bytes), from the MGR checkin line; empty if not logged.
    pub cookie_i: Vec<u8>,
    /// Responder cookie (8 bytes).
    pub cookie_r: Vec<u8>,
    /// g^xy.
    pub dh_shared: Vec<u8>,
    /// g^xi, the initiator's public value (from `HASH_I data`, which begins g^xi | g^xr |
    /// CKY-I | CKY-R); empty until HASH_I was computed.
    pub dh_public_i: Vec<u8>,
    /// g^xr, the responder's public value.
    pub dh_public_r: Vec<u8>,
    /// SKEYID.
    pub skeyid: Vec<u8>,
    /// SKEYID_d.
    pub skeyid_d: Vec<u8>,
    /// SKEYID_a.
    pub skeyid_a: Vec<u8>,
    /// SKEYID_e.
    pub skeyid_e: Vec<u8>,
    /// The Phase 1 encryption key (`encryption key Ka`: SKEYID_e, expanded when too short).
    pub enc_key: Vec<u8>,
    /// IV of the first encrypted message (hash of the KE values).
    pub initial_iv: Vec<u8>,
}

/// Keys of one installed ESP (or AH) SA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaKeys {
    /// SPI as logged in `SPI 0x...`.
    pub spi: u32,
    /// Installed as inbound on this host (else outbound).
    pub inbound: bool,
    /// Outer source address.
    pub src: String,
    /// Outer destination address.
    pub dst: String,
    /// IP protocol of the SA (50 ESP, 51 AH).
    pub protocol: u8,
    /// strongSwan's name for the cipher (`3DES_CBC`, `AES_CBC`).
    pub encr_alg: String,
    /// strongSwan's name for the integrity algorithm (`HMAC_SHA1_96`).
    pub integ_alg: String,
    /// Encryption key.
    pub enc_key: Vec<u8>,
    /// Integrity key.
    pub integ_key: Vec<u8>,
    /// Traffic from the Quick Mode initiator to the responder (the "initiator" keys).
    pub initiator_to_responder: bool,
    /// The PFS g^xy of the Quick Mode, if there was one.
    pub pfs_dh: Option<Vec<u8>>,
    /// What KEYMAT is the PRF (keyed with SKEYID_d) of, expanded as RFC 2409 says:
    /// `[g(qm)^xy |] protocol | SPI | Ni_b | Nr_b`.
    pub seed: Vec<u8>,
}

/// All key material found in one charon log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharonKeys {
    /// One entry per Main Mode, in log order.
    pub phase1: Vec<Phase1Keys>,
    /// One entry per installed SA, in log order.
    pub sas: Vec<SaKeys>,
}

impl CharonKeys {
    /// The SA with this SPI (latest if logged twice).
    pub fn sa(&self, spi: u32) -> Option<&SaKeys> {
        self.sas.iter().rev().find(|s| s.spi == spi)
    }

    /// The Phase 1 whose initiator cookie is `cookie_i`.
    pub fn phase1_by_cookie(&self, cookie_i: &[u8]) -> Option<&Phase1Keys> {
        self.phase1.iter().rev().find(|p| p.cookie_i == cookie_i)
    }

    /// A human-readable listing (hex) for test failure messages.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for p in &self.phase1 {
            s.push_str(&format!(
                "phase1 {}/{}: SKEYID={} SKEYID_d={} SKEYID_a={} SKEYID_e={} Ka={} IV={} g^xy={}\n",
                hex(&p.cookie_i),
                hex(&p.cookie_r),
                hex(&p.skeyid),
                hex(&p.skeyid_d),
                hex(&p.skeyid_a),
                hex(&p.skeyid_e),
                hex(&p.enc_key),
                hex(&p.initial_iv),
                hex(&p.dh_shared)
            ));
        }
        for a in &self.sas {
            s.push_str(&format!(
                "sa {:08x} {} {}->{} {} {}={} {}={}\n",
                a.spi,
                if a.inbound { "in" } else { "out" },
                a.src,
                a.dst,
                if a.initiator_to_responder {
                    "i->r"
                } else {
                    "r->i"
                },
                a.encr_alg,
                hex(&a.enc_key),
                a.integ_alg,
                hex(&a.integ_key)
            ));
        }
        s
    }
}

#[derive(Default)]
struct ChildDraft {
    encr_alg: String,
    integ_alg: String,
    pfs_dh: Option<Vec<u8>>,
    seed_i: Vec<u8>,
    seed_r: Vec<u8>,
    encr_i: Vec<u8>,
    encr_r: Vec<u8>,
    integ_i: Vec<u8>,
    integ_r: Vec<u8>,
    /// Set by `adding inbound|outbound ESP|AH SA`, consumed by the `SPI` line after it.
    adding: Option<(bool, u8)>,
}

fn parse_spis(msg: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = msg.split_once("with SPIs ")?.1;
    let mut it = rest.split_whitespace();
    let i = it.next()?.strip_suffix("_i")?;
    let r = it.next()?.strip_suffix("_r")?;
    Some((unhex(i)?, unhex(r)?))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|c| {
            std::str::from_utf8(c)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// `  SPI 0xf435c16a, src 203.0.113.2 dst 198.51.100.2`
fn parse_spi_line(msg: &str) -> Option<(u32, String, String)> {
    let rest = msg.trim_start().strip_prefix("SPI 0x")?;
    let (spi, rest) = rest.split_once(", src ")?;
    let (src, dst) = rest.split_once(" dst ")?;
    Some((
        u32::from_str_radix(spi, 16).ok()?,
        src.to_string(),
        dst.trim().to_string(),
    ))
}

fn seed_has(seed: &[u8], proto: u8, spi: u32) -> bool {
    let mut needle = vec![proto];
    needle.extend_from_slice(&spi.to_be_bytes());
    seed.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// Extract the Phase 1 and Phase 2 secrets from a whole charon log.
pub fn parse_keys(log: &str) -> CharonKeys {
    let dumps = hexdumps(log);
    let mut by_line: HashMap<usize, &HexDump> = dumps.iter().map(|d| (d.line, d)).collect();
    let mut keys = CharonKeys::default();
    // Per thread: last cookies seen, and the index of a Phase 1 still waiting for its checkin.
    let mut last_spis: HashMap<u32, (Vec<u8>, Vec<u8>)> = HashMap::new();
    let mut open_p1: HashMap<u32, usize> = HashMap::new();
    let mut child: HashMap<u32, ChildDraft> = HashMap::new();

    for (i, line) in log.lines().enumerate() {
        let Some(l) = parse_line(line) else { continue };
        let t = l.thread;
        if let Some(d) = by_line.remove(&(i + 1)) {
            let b = d.bytes.clone();
            match (l.group, d.label.as_str()) {
                ("IKE", "shared Diffie Hellman secret" | "SKEYID") => {
                    let reuse = open_p1
                        .get(&t)
                        .and_then(|&k| keys.phase1.get(k))
                        .is_some_and(|p| p.skeyid.is_empty() && d.label == "SKEYID");
                    if !reuse {
                        let mut p = Phase1Keys::default();
                        if let Some((ci, cr)) = last_spis.get(&t) {
                            p.cookie_i = ci.clone();
                            p.cookie_r = cr.clone();
                        }
                        keys.phase1.push(p);
                        open_p1.insert(t, keys.phase1.len() - 1);
                    }
                    if let Some(p) = open_p1.get(&t).and_then(|&k| keys.phase1.get_mut(k)) {
                        if d.label == "SKEYID" {
                            p.skeyid = b;
                        } else {
                            p.dh_shared = b;
                        }
                    }
                }
                (
                    "IKE",
                    label @ ("SKEYID_d" | "SKEYID_a" | "SKEYID_e" | "encryption key Ka"
                    | "initial IV"),
                ) => {
                    if let Some(p) = open_p1.get(&t).and_then(|&k| keys.phase1.get_mut(k)) {
                        let slot = match label {
                            "SKEYID_d" => &mut p.skeyid_d,
                            "SKEYID_a" => &mut p.skeyid_a,
                            "SKEYID_e" => &mut p.skeyid_e,
                            "encryption key Ka" => &mut p.enc_key,
                            _ => &mut p.initial_iv,
                        };
                        if slot.is_empty() {
                            *slot = b;
                        }
                    }
                }
                ("IKE", "HASH_I data") => {
                    // Matched by the cookies inside it: on the responder it is computed on
                    // another thread, after the keys.
                    for p in keys.phase1.iter_mut().rev() {
                        let n = p.dh_shared.len();
                        let cookies = b.get(2 * n..2 * n + 16);
                        if n > 0
                            && p.dh_public_i.is_empty()
                            && cookies.is_some_and(|c| {
                                c.get(..8) == Some(&p.cookie_i[..])
                                    && c.get(8..) == Some(&p.cookie_r[..])
                            })
                        {
                            p.dh_public_i = b.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
                            p.dh_public_r = b.get(n..2 * n).map(<[u8]>::to_vec).unwrap_or_default();
                            break;
                        }
                    }
                }
                ("CHD", label) => {
                    let c = child.entry(t).or_default();
                    match label {
                        "DH secret" => c.pfs_dh = Some(b),
                        "initiator SA seed" => c.seed_i = b,
                        "responder SA seed" => c.seed_r = b,
                        "encryption initiator key" => c.encr_i = b,
                        "encryption responder key" => c.encr_r = b,
                        "integrity initiator key" => c.integ_i = b,
                        "integrity responder key" => c.integ_r = b,
                        _ => {}
                    }
                }
                _ => {}
            }
            continue;
        }
        match l.group {
            "MGR" => {
                if let Some(spis) = parse_spis(l.msg) {
                    if l.msg.starts_with("checkin ") {
                        if let Some(p) = open_p1.remove(&t).and_then(|k| keys.phase1.get_mut(k)) {
                            p.cookie_i = spis.0.clone();
                            p.cookie_r = spis.1.clone();
                        }
                    }
                    last_spis.insert(t, spis);
                }
            }
            "CHD" => {
                let msg = l.msg.trim_start();
                if let Some(alg) = msg.strip_prefix("using ") {
                    if let Some(a) = alg.strip_suffix(" for encryption") {
                        // First line of a new Quick Mode's key derivation on this thread.
                        child.insert(
                            t,
                            ChildDraft {
                                encr_alg: a.to_string(),
                                ..Default::default()
                            },
                        );
                    } else if let Some(a) = alg.strip_suffix(" for integrity") {
                        child.entry(t).or_default().integ_alg = a.to_string();
                    }
                } else if let Some(rest) = msg.strip_prefix("adding ") {
                    let inbound = rest.starts_with("inbound ");
                    let proto = if rest.contains(" AH SA") { 51 } else { 50 };
                    child.entry(t).or_default().adding = Some((inbound, proto));
                } else if let Some((spi, src, dst)) = parse_spi_line(msg) {
                    let Some(c) = child.get_mut(&t) else { continue };
                    let Some((inbound, protocol)) = c.adding.take() else {
                        continue;
                    };
                    // The seed carries the IKE protocol id (ESP 3, AH 2), not the IP one.
                    let ike_proto = if protocol == 51 { 2 } else { 3 };
                    let i2r = if seed_has(&c.seed_i, ike_proto, spi) {
                        true
                    } else if seed_has(&c.seed_r, ike_proto, spi) {
                        false
                    } else {
                        continue;
                    };
                    let (enc_key, integ_key, seed) = if i2r {
                        (c.encr_i.clone(), c.integ_i.clone(), c.seed_i.clone())
                    } else {
                        (c.encr_r.clone(), c.integ_r.clone(), c.seed_r.clone())
                    };
                    keys.sas.push(SaKeys {
                        spi,
                        inbound,
                        src,
                        dst,
                        protocol,
                        encr_alg: c.encr_alg.clone(),
                        integ_alg: c.integ_alg.clone(),
                        enc_key,
                        integ_key,
                        initiator_to_responder: i2r,
                        pfs_dh: c.pfs_dh.clone(),
                        seed,
                    });
                }
            }
            _ => {}
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const I3: &str = include_str!("../tests/fixtures/3des-initiator.log");
    const R3: &str = include_str!("../tests/fixtures/3des-responder.log");
    const IA: &str = include_str!("../tests/fixtures/aes256pfs-initiator.log");
    const RA: &str = include_str!("../tests/fixtures/aes256pfs-responder.log");

    fn h(s: &str) -> Vec<u8> {
        unhex(s).unwrap()
    }

    #[test]
    fn splits_lines_with_any_time_prefix() {
        let l = parse_line("Nov 26 17:04:35 12[IKE] SKEYID => 20 bytes @ 0x7f80").unwrap();
        assert_eq!(
            (l.thread, l.group, l.msg),
            (12, "IKE", "SKEYID => 20 bytes @ 0x7f80")
        );
        let l = parse_line("00[DMN] Starting IKE charon daemon").unwrap();
        assert_eq!((l.thread, l.group), (0, "DMN"));
        assert!(parse_line("no brackets here").is_none());
        assert!(parse_line("x [abc] lower").is_none());
    }

    #[test]
    fn ascii_column_that_looks_like_hex_is_ignored() {
        let log = "Nov 26 17:04:35 15[CHD] integrity key => 4 bytes @ 0x1\n\
                   Nov 26 17:04:35 15[CHD]    0: 41 42 20 43                                      AB C\n";
        let d = hexdumps(log);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].bytes, vec![0x41, 0x42, 0x20, 0x43]);
    }

    #[test]
    fn phase1_3des_matches_the_logged_dump() {
        let k = parse_keys(I3);
        assert_eq!(k.phase1.len(), 1, "{}", k.summary());
        let p = &k.phase1[0];
        // Values as printed in the fixture's hex dump and MGR lines.
        assert_eq!(p.cookie_i, h("b749571e11e87f61"));
        assert_eq!(p.cookie_r, h("41321910450a55e5"));
        assert_eq!(p.skeyid, h("9ec528cbe1a419f0641a9a1c63f0484c9d581dc1"));
        assert_eq!(
            p.enc_key,
            h("bcd3b5b0bbc3b53bf39095d21baabd3c57dfcc712bc90928")
        );
        let out = k.sa(0x3ba8_f282).unwrap();
        assert!(!out.inbound && out.initiator_to_responder);
        assert_eq!(
            out.enc_key,
            h("0ca05433d6cce744060ed638cec9dd15b4679d02ffb69334")
        );
        let inb = k.sa(0xf7fa_0744).unwrap();
        assert!(inb.inbound && !inb.initiator_to_responder);
        assert_eq!(inb.integ_key, h("1a12c600da7eb1a430cee2bf127e0e1022638e95"));
        assert_eq!(
            (inb.src.as_str(), inb.dst.as_str()),
            ("203.0.113.2", "198.51.100.2")
        );
        assert_eq!(p.dh_public_i.len(), 128);
        assert_eq!(p.dh_public_r.len(), 128);
        assert_ne!(p.dh_public_i, p.dh_public_r);
        // The seed of the initiator's outbound SA: ESP, its SPI, then the two QM nonces.
        assert_eq!(out.seed.get(..5), Some(&h("033ba8f282")[..]));
        assert_eq!(out.seed.len(), 1 + 4 + 32 + 32);
        assert_eq!(p.skeyid.len(), 20);
        assert_eq!(p.skeyid_d.len(), 20);
        assert_eq!(p.skeyid_a.len(), 20);
        assert_eq!(p.skeyid_e.len(), 20);
        assert_eq!(p.enc_key.len(), 24);
        assert_eq!(p.initial_iv.len(), 8);
        assert_eq!(p.dh_shared.len(), 128);
        assert_eq!(p.cookie_i.len(), 8);
        assert_eq!(p.cookie_r.len(), 8);
    }

    fn assert_sides_agree(ini: &str, resp: &str, key_len: usize, integ_len: usize, pfs: bool) {
        let i = parse_keys(ini);
        let r = parse_keys(resp);
        assert_eq!(i.phase1.len(), 1);
        assert_eq!(r.phase1.len(), 1);
        // Both ends derive the same Phase 1 from the same exchange.
        assert_eq!(
            i.phase1[0],
            r.phase1[0],
            "\n{}\n{}",
            i.summary(),
            r.summary()
        );
        assert_eq!(i.sas.len(), 2, "{}", i.summary());
        assert_eq!(r.sas.len(), 2, "{}", r.summary());
        for sa in &i.sas {
            let peer = r.sa(sa.spi).expect("peer has the SPI");
            assert_ne!(sa.inbound, peer.inbound);
            assert_eq!(sa.src, peer.src);
            assert_eq!(sa.dst, peer.dst);
            assert_eq!(sa.enc_key, peer.enc_key);
            assert_eq!(sa.integ_key, peer.integ_key);
            assert_eq!(sa.initiator_to_responder, peer.initiator_to_responder);
            assert_eq!(sa.enc_key.len(), key_len);
            assert_eq!(sa.integ_key.len(), integ_len);
            assert_eq!(sa.pfs_dh.is_some(), pfs);
            // The initiator sends on its outbound SA with the "initiator" keys.
            assert_eq!(sa.initiator_to_responder, !sa.inbound);
        }
        let (a, b) = (&i.sas[0], &i.sas[1]);
        assert_ne!(a.enc_key, b.enc_key);
    }

    #[test]
    fn both_ends_agree_3des() {
        assert_sides_agree(I3, R3, 24, 20, false);
    }

    #[test]
    fn both_ends_agree_aes256_pfs() {
        assert_sides_agree(IA, RA, 32, 32, true);
        let i = parse_keys(IA);
        assert_eq!(i.phase1[0].dh_shared.len(), 256);
        assert_eq!(i.phase1[0].enc_key.len(), 32);
        assert_eq!(i.phase1[0].initial_iv.len(), 16);
        assert_eq!(i.sas[0].encr_alg, "AES_CBC");
        assert_eq!(i.sas[0].integ_alg, "HMAC_SHA2_256_128");
        assert_eq!(i.sas[0].pfs_dh.as_ref().map(Vec::len), Some(256));
        // With PFS the seed starts with g(qm)^xy.
        let sa = &i.sas[0];
        assert_eq!(sa.seed.get(..256), sa.pfs_dh.as_deref());
        assert_eq!(sa.seed.len(), 256 + 1 + 4 + 32 + 32);
        assert_eq!(i.phase1[0].dh_public_r.len(), 256);
    }
}
