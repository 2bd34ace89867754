//! The two halves of an ESP SA pair: [`OutboundSa`] protects, [`InboundSa`] accepts.
//!
//! Packet layout (RFC 4303 section 2): `SPI | Sequence Number | IV | ciphertext | ICV`, the
//! ciphertext being `payload | padding 1, 2, 3.. | pad length | next header` encrypted in CBC
//! mode under the explicit IV, and the ICV a truncated HMAC over everything before it. Both
//! directions work in caller buffers and never allocate per packet.

use crate::crypto::cipher::{CbcEncryptor, CipherKey};
use crate::crypto::gcm::{GcmCipher, GcmKey, ICV_LEN as GCM_ICV_LEN, IV_LEN as GCM_IV_LEN};
use crate::crypto::hmac::HmacKey;
use crate::rng::Rng;
use crate::time::Instant;

use super::error::EspError;
use super::keys::EspKeys;
use super::lifetime::{EspUsage, Lifetime, LifetimeConfig, LifetimeState};
use super::replay::{ReplayError, ReplayWindow, DEFAULT_REPLAY_WINDOW};
use super::stats::{EspStats, SaCounters};
use super::transform::{EspCipher, EspMode, EspTransform};

mod batch;
pub(crate) use batch::{OpenedTdes, PassKey, SealPass, SealingCbc};

/// SPI and sequence number.
pub const ESP_HEADER_LEN: usize = 8;
/// Pad length and next header.
pub const ESP_TRAILER_LEN: usize = 2;
/// UDP header added by UDP encapsulation (RFC 3948).
pub const UDP_HEADER_LEN: usize = 8;
/// IPv4 header without options, added in front of a tunnel-mode packet.
pub const IPV4_HEADER_LEN: usize = 20;
/// Largest IV of any supported cipher.
const MAX_IV_LEN: usize = 16;
/// Next header value of a dummy packet (RFC 4303 section 2.6), which the receiver discards.
pub const NEXT_HEADER_NO_NEXT: u8 = 59;
/// Past this outbound sequence number the SA asks for a rekey (90 % of the space).
pub const SEQUENCE_SOFT_LIMIT: u32 = u32::MAX - u32::MAX / 10;

/// Per-SA settings that do not come from the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspConfig {
    /// Tunnel or transport (`in use settings ={Tunnel, }`).
    pub mode: EspMode,
    /// UDP-encapsulated ESP (NAT-T); changes only the overhead, framing is the caller's.
    pub udp_encap: bool,
    /// Anti-replay window of an inbound SA in packets, 0 to disable. Ignored without
    /// integrity, where the sequence number is not authenticated and anti-replay is off.
    pub replay_window: u32,
    /// Soft and hard lifetimes.
    pub lifetime: LifetimeConfig,
}

impl Default for EspConfig {
    fn default() -> Self {
        EspConfig {
            mode: EspMode::Tunnel,
            udp_encap: false,
            replay_window: DEFAULT_REPLAY_WINDOW,
            lifetime: LifetimeConfig::ios_default(),
        }
    }
}

/// An SA's raw encryption key: a CBC key, or an AES-GCM key with its salt.
#[derive(Debug)]
enum SaKey {
    Cbc(CipherKey),
    Gcm(GcmKey),
}

/// An encryption key expanded for sealing: for one packet, or for a batch of one SA's packets.
#[derive(Debug)]
enum Sealer {
    Cbc(CbcEncryptor),
    Gcm(GcmCipher),
}

impl SaKey {
    fn sealer(&self) -> Sealer {
        match self {
            SaKey::Cbc(k) => Sealer::Cbc(k.encryptor()),
            SaKey::Gcm(k) => Sealer::Gcm(k.expand()),
        }
    }
}

/// The keys of one direction: the raw encryption key, expanded per packet (see
/// [`crate::crypto::cipher::CipherKey`]: an idle SA's packet then reads one cache line of key
/// rather than a kilobyte-sized schedule), and the keyed HMAC states, which are small.
#[derive(Debug)]
struct Engine {
    spi: u32,
    transform: EspTransform,
    cipher: Option<SaKey>,
    hmac: Option<HmacKey>,
}

impl Engine {
    fn new(keys: &EspKeys) -> Result<Engine, EspError> {
        // Re-check: `EspKeys::new` validated, but the SA is the last line before the wire.
        let keys = EspKeys::new(
            keys.spi(),
            keys.transform(),
            keys.enc_key(),
            keys.auth_key(),
        )?;
        let transform = keys.transform();
        let cipher = match transform.cipher {
            EspCipher::Null => None,
            EspCipher::Cbc(alg) => Some(SaKey::Cbc(CipherKey::new(alg, keys.enc_key()).map_err(
                |_| EspError::KeyLength {
                    what: "encryption",
                    expected: alg.key_len(),
                    got: keys.enc_key().len(),
                },
            )?)),
            EspCipher::AesGcm16(alg) => Some(SaKey::Gcm(
                GcmKey::new(alg, keys.enc_key()).map_err(|_| EspError::KeyLength {
                    what: "encryption",
                    expected: transform.cipher.key_len(),
                    got: keys.enc_key().len(),
                })?,
            )),
        };
        let hmac = transform
            .integrity
            .map(|i| HmacKey::new(i.hash(), keys.auth_key()));
        Ok(Engine {
            spi: keys.spi(),
            transform,
            cipher,
            hmac,
        })
    }

    // Derived from the transform rather than stored: three words less in every SA.
    fn iv_len(&self) -> usize {
        self.transform.cipher.iv_len()
    }

    fn align(&self) -> usize {
        self.transform.cipher.align()
    }

    fn icv_len(&self) -> usize {
        self.transform.icv_len()
    }

    fn header_len(&self) -> usize {
        ESP_HEADER_LEN + self.iv_len()
    }

    fn overhead(&self, udp: bool) -> usize {
        let udp = if udp { UDP_HEADER_LEN } else { 0 };
        self.header_len() + self.align() - 1 + ESP_TRAILER_LEN + self.icv_len() + udp
    }
}

/// What an SA keeps of its [`EspConfig`]: the lifetime limits live in its [`Lifetime`] only (a
/// second copy would be a hundred bytes of every SA).
#[derive(Clone, Copy, Debug)]
struct Settings {
    mode: EspMode,
    udp_encap: bool,
    replay_window: u32,
}

impl Settings {
    fn of(c: &EspConfig) -> Settings {
        Settings {
            mode: c.mode,
            udp_encap: c.udp_encap,
            replay_window: c.replay_window,
        }
    }

    fn with(self, lifetime: &Lifetime) -> EspConfig {
        EspConfig {
            mode: self.mode,
            udp_encap: self.udp_encap,
            replay_window: self.replay_window,
            lifetime: *lifetime.config(),
        }
    }
}

fn plaintext_mtu(e: &Engine, config: &Settings, path_mtu: usize) -> usize {
    // IOS's rule (reproduces its captures): room left after outer IP, UDP, ESP header, IV and
    // ICV, rounded down to the block, minus the two trailer bytes.
    let udp = if config.udp_encap { UDP_HEADER_LEN } else { 0 };
    let avail = path_mtu.saturating_sub(IPV4_HEADER_LEN + udp + e.header_len() + e.icv_len())
        / e.align()
        * e.align();
    let inner = avail.saturating_sub(ESP_TRAILER_LEN);
    match config.mode {
        EspMode::Tunnel => inner,
        EspMode::Transport => inner + IPV4_HEADER_LEN,
    }
}

fn cipher_misuse(len: usize, block: usize) -> EspError {
    EspError::NotBlockAligned { len, block }
}

/// The sending half of an ESP SA.
#[derive(Debug)]
pub struct OutboundSa {
    engine: Engine,
    config: Settings,
    /// The rest of each IV's nonce block after the sequence number, drawn once from the
    /// caller's generator: IVs are unpredictable, yet replayable from the seed.
    iv_salt: [u8; MAX_IV_LEN],
    /// Last sequence number sent (0 before the first packet).
    seq: u32,
    lifetime: Lifetime,
    stats: SaCounters,
}

impl OutboundSa {
    /// Builds the SA installed at `now`; the salt of its IVs comes from `rng`.
    ///
    /// Each packet's IV is the block cipher, under the SA's own key, applied to a nonce block
    /// that is unique within the SA: the sequence number (which never repeats, see
    /// [`EspError::SequenceExhausted`]) followed by the salt. NIST SP 800-38A, Appendix C names
    /// this as one of the two ways to generate unpredictable CBC IVs; it needs no per-SA
    /// generator state.
    pub fn new(
        keys: EspKeys,
        config: EspConfig,
        now: Instant,
        rng: &mut Rng,
    ) -> Result<Self, EspError> {
        let engine = Engine::new(&keys)?;
        let mut iv_salt = [0u8; MAX_IV_LEN];
        rng.fill(&mut iv_salt);
        Ok(OutboundSa {
            engine,
            config: Settings::of(&config),
            iv_salt,
            seq: 0,
            lifetime: Lifetime::new(config.lifetime, now),
            stats: SaCounters::default(),
        })
    }

    /// The SPI (chosen by the peer).
    pub fn spi(&self) -> u32 {
        self.engine.spi
    }

    /// The transform.
    pub fn transform(&self) -> EspTransform {
        self.engine.transform
    }

    /// The configuration.
    pub fn config(&self) -> EspConfig {
        self.config.with(&self.lifetime)
    }

    /// Largest number of bytes a packet grows by: ESP header, IV, worst-case padding, trailer
    /// and ICV, plus the UDP header when UDP-encapsulated. `out` of `inner.len() + overhead()`
    /// bytes is always enough for [`OutboundSa::encapsulate`].
    pub fn overhead(&self) -> usize {
        self.engine.overhead(self.config.udp_encap)
    }

    /// Exact length [`OutboundSa::encapsulate`] writes for an `inner_len`-byte payload.
    pub fn encapsulated_len(&self, inner_len: usize) -> Option<usize> {
        let e = &self.engine;
        let ct = inner_len
            .checked_add(ESP_TRAILER_LEN)?
            .checked_next_multiple_of(e.align())?;
        e.header_len().checked_add(ct)?.checked_add(e.icv_len())
    }

    /// IOS `plaintext mtu`: the largest inner packet that fits in `path_mtu` once protected.
    pub fn plaintext_mtu(&self, path_mtu: usize) -> usize {
        plaintext_mtu(&self.engine, &self.config, path_mtu)
    }

    /// Last sequence number sent (0 before the first packet).
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Whether the sequence number space is nearly (or completely) used up, so a new SA must be
    /// negotiated; lifetimes are separate ([`OutboundSa::lifetime_state`]).
    pub fn needs_rekey(&self) -> bool {
        self.seq >= SEQUENCE_SOFT_LIMIT
    }

    /// Fresh, soft or hard at `now`.
    pub fn lifetime_state(&self, now: Instant) -> LifetimeState {
        self.lifetime.state(now)
    }

    /// Lifetime bookkeeping (limits, deadlines, remaining kilobytes and seconds).
    pub fn lifetime(&self) -> &Lifetime {
        &self.lifetime
    }

    /// Bytes, packets and last activity.
    pub fn usage(&self) -> EspUsage {
        self.lifetime.usage()
    }

    /// Counters.
    pub fn stats(&self) -> EspStats {
        let u = self.lifetime.usage();
        self.stats.outbound(u.packets, u.bytes)
    }

    /// Protects `inner` (a whole IP packet in tunnel mode, the transport payload in transport
    /// mode) with `next_header`, writing `SPI | Seq | IV | ciphertext | ICV` into `out`, and
    /// returns the length written.
    pub fn encapsulate(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        let r = self.encapsulate_with(now, inner, next_header, None, None, out);
        if let Err(e) = &r {
            self.stats.count_outbound_error(e);
        }
        r
    }

    /// The expanded encryption key of this SA, for [`OutboundSa::encapsulate_expanded`]: a
    /// batch holding several packets of one SA expands the key once. It is as secret as the key
    /// and is wiped when dropped.
    pub fn expand(&self) -> ExpandedKey {
        ExpandedKey {
            owner: self.iv_salt,
            encryptor: self.engine.cipher.as_ref().map(SaKey::sealer),
        }
    }

    /// [`OutboundSa::encapsulate`] with the key already expanded by [`OutboundSa::expand`] of
    /// this same SA; another SA's key is refused as misuse ([`EspError::InvalidConfig`]).
    pub fn encapsulate_expanded(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        expanded: &ExpandedKey,
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        if expanded.owner != self.iv_salt {
            return Err(EspError::InvalidConfig("expanded key of another SA"));
        }
        let r = match &expanded.encryptor {
            Some(c) => self.encapsulate_with(now, inner, next_header, None, Some(c), out),
            None => self.encapsulate_with(now, inner, next_header, None, None, out),
        };
        if let Err(e) = &r {
            self.stats.count_outbound_error(e);
        }
        r
    }

    /// [`OutboundSa::encapsulate`] with a caller-chosen IV, for known-answer tests only: a
    /// predictable or repeated IV breaks CBC confidentiality.
    #[doc(hidden)]
    pub fn encapsulate_with_iv(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        iv: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        if iv.len() != self.engine.iv_len() {
            return Err(EspError::InvalidConfig(
                "IV length differs from the cipher's",
            ));
        }
        let r = self.encapsulate_with(now, inner, next_header, Some(iv), None, out);
        if let Err(e) = &r {
            self.stats.count_outbound_error(e);
        }
        r
    }

    /// Counts `bytes` of traffic as sent at `now`, to test volume lifetimes without sending
    /// megabytes.
    #[doc(hidden)]
    pub fn record_usage_for_tests(&mut self, now: Instant, bytes: usize) {
        self.lifetime.record(now, bytes);
    }

    /// Sets the last sequence number sent, to test exhaustion without 2^32 packets.
    #[doc(hidden)]
    pub fn force_sequence_for_tests(&mut self, last_sent: u32) {
        self.seq = last_sent;
    }

    fn encapsulate_with(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        iv: Option<&[u8]>,
        expanded: Option<&Sealer>,
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        if self.lifetime.state(now) == LifetimeState::Hard {
            return Err(EspError::Expired);
        }
        // The counter never wraps: 2^32-1 is the last number used (RFC 4303 section 3.3.3).
        let seq = self.seq.checked_add(1).ok_or(EspError::SequenceExhausted)?;
        let e = &self.engine;
        let total = self
            .encapsulated_len(inner.len())
            .ok_or(EspError::BufferTooSmall { needed: usize::MAX })?;
        if out.len() < total {
            return Err(EspError::BufferTooSmall { needed: total });
        }
        let short = EspError::BufferTooSmall { needed: total };
        let hdr = e.header_len();
        let ct_len = total - hdr - e.icv_len();
        let pad_len = ct_len - inner.len() - ESP_TRAILER_LEN;

        let (head, rest) = out.split_at_mut(hdr);
        head.get_mut(..4)
            .ok_or(short)?
            .copy_from_slice(&e.spi.to_be_bytes());
        head.get_mut(4..8)
            .ok_or(short)?
            .copy_from_slice(&seq.to_be_bytes());
        let iv_out = head.get_mut(ESP_HEADER_LEN..).ok_or(short)?;
        let own;
        let cipher = match expanded {
            Some(x) => Some(x),
            None => {
                own = e.cipher.as_ref().map(SaKey::sealer);
                own.as_ref()
            }
        };
        match (iv, cipher) {
            (Some(iv), _) => iv_out.copy_from_slice(iv),
            // RFC 4106 §3.1: the explicit IV must never repeat under one key; the sequence
            // number never does within an SA (it cannot wrap), so it is the IV, widened to 64
            // bits, as the RFC suggests a counter be.
            (None, Some(Sealer::Gcm(_))) => {
                iv_out.fill(0);
                iv_out
                    .get_mut(4..)
                    .ok_or(short)?
                    .copy_from_slice(&seq.to_be_bytes());
            }
            (None, Some(Sealer::Cbc(c))) => {
                let salt = self.iv_salt.get(..iv_out.len()).ok_or(short)?;
                iv_out.copy_from_slice(salt);
                iv_out
                    .get_mut(..4)
                    .ok_or(short)?
                    .copy_from_slice(&seq.to_be_bytes());
                c.encrypt_block(iv_out)
                    .map_err(|_| cipher_misuse(iv_out.len(), e.align()))?;
            }
            // NULL encryption has no IV.
            (None, None) => {}
        }

        let (ct, icv_slot) = rest.split_at_mut(ct_len.min(rest.len()));
        let (payload, trailer) = ct.split_at_mut(inner.len());
        payload.copy_from_slice(inner);
        // Monotonic padding 1, 2, 3, ... (RFC 4303 section 2.4); pad_len < align <= 16.
        for (i, b) in trailer.iter_mut().take(pad_len).enumerate() {
            *b = (i + 1) as u8;
        }
        if let Some([pl, nh]) = trailer.get_mut(pad_len..) {
            *pl = pad_len as u8;
            *nh = next_header;
        }
        match cipher {
            Some(Sealer::Cbc(c)) => {
                let iv = head.get(ESP_HEADER_LEN..).ok_or(short)?;
                c.encrypt_in_place(iv, ct)
                    .map_err(|_| cipher_misuse(ct_len, e.align()))?;
            }
            Some(Sealer::Gcm(g)) => {
                // AAD: SPI | sequence number (RFC 4106 §5, 32-bit sequence numbers).
                let (aad, iv) = head.split_at(ESP_HEADER_LEN);
                let iv: &[u8; GCM_IV_LEN] = iv.try_into().map_err(|_| short)?;
                let tag: &mut [u8; GCM_ICV_LEN] = icv_slot
                    .get_mut(..GCM_ICV_LEN)
                    .and_then(|t| t.try_into().ok())
                    .ok_or(short)?;
                g.seal(iv, aad, ct, tag)
                    .map_err(|_| cipher_misuse(ct_len, e.align()))?;
            }
            None => {}
        }
        if let Some(h) = &e.hmac {
            let (authed, icv) = out.split_at_mut(hdr + ct_len);
            let icv = icv.get_mut(..e.icv_len()).ok_or(short)?;
            h.compute_into(&[authed], icv);
        }

        self.seq = seq;
        self.lifetime.record(now, inner.len());
        Ok(total)
    }
}

/// One outbound SA's expanded encryption key ([`OutboundSa::expand`]). It names its SA by the
/// SA's random IV salt, so it cannot be used with another SA by mistake.
#[derive(Debug)]
pub struct ExpandedKey {
    owner: [u8; MAX_IV_LEN],
    encryptor: Option<Sealer>,
}

impl ExpandedKey {
    /// Whether it was expanded from `sa`.
    pub fn belongs_to(&self, sa: &OutboundSa) -> bool {
        self.owner == sa.iv_salt
    }
}

/// What [`InboundSa::decapsulate`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// Length of the inner packet at the start of `out`.
    pub len: usize,
    /// Next header: 4 (IPv4) or 41 (IPv6) in tunnel mode, the transport protocol otherwise;
    /// 59 marks a dummy packet the caller discards.
    pub next_header: u8,
    /// The packet's sequence number.
    pub seq: u32,
}

/// The receiving half of an ESP SA.
#[derive(Debug)]
pub struct InboundSa {
    engine: Engine,
    config: Settings,
    replay: Option<ReplayWindow>,
    lifetime: Lifetime,
    stats: SaCounters,
}

impl InboundSa {
    /// Builds the SA installed at `now`. Anti-replay is on when the transform has integrity and
    /// `config.replay_window` is not 0.
    pub fn new(keys: EspKeys, config: EspConfig, now: Instant) -> Result<Self, EspError> {
        let engine = Engine::new(&keys)?;
        let replay = if engine.transform.authenticates() && config.replay_window > 0 {
            Some(
                ReplayWindow::new(config.replay_window)
                    .ok_or(EspError::InvalidConfig("replay window size out of range"))?,
            )
        } else {
            None
        };
        Ok(InboundSa {
            engine,
            config: Settings::of(&config),
            replay,
            lifetime: Lifetime::new(config.lifetime, now),
            stats: SaCounters::default(),
        })
    }

    /// The SPI (chosen by us).
    pub fn spi(&self) -> u32 {
        self.engine.spi
    }

    /// The transform.
    pub fn transform(&self) -> EspTransform {
        self.engine.transform
    }

    /// The configuration.
    pub fn config(&self) -> EspConfig {
        self.config.with(&self.lifetime)
    }

    /// Anti-replay window size, `None` when anti-replay is off (`replay detection support: N`).
    pub fn replay_window(&self) -> Option<u32> {
        self.replay.as_ref().map(|r| r.size())
    }

    /// Highest sequence number accepted so far (0 before the first, or without anti-replay).
    pub fn highest_sequence(&self) -> u32 {
        self.replay.as_ref().map_or(0, |r| r.highest())
    }

    /// Smallest packet this SA can accept.
    pub fn min_packet_len(&self) -> usize {
        let e = &self.engine;
        e.header_len() + e.align() + e.icv_len()
    }

    /// IOS `plaintext mtu` for the same transform and mode.
    pub fn plaintext_mtu(&self, path_mtu: usize) -> usize {
        plaintext_mtu(&self.engine, &self.config, path_mtu)
    }

    /// Fresh, soft or hard at `now`.
    pub fn lifetime_state(&self, now: Instant) -> LifetimeState {
        self.lifetime.state(now)
    }

    /// Lifetime bookkeeping.
    pub fn lifetime(&self) -> &Lifetime {
        &self.lifetime
    }

    /// Bytes, packets and last activity (the IKE side's evidence of life for on-demand DPD).
    pub fn usage(&self) -> EspUsage {
        self.lifetime.usage()
    }

    /// Counters.
    pub fn stats(&self) -> EspStats {
        let u = self.lifetime.usage();
        self.stats.inbound(u.packets, u.bytes)
    }

    /// Counts `bytes` of traffic as received at `now`, to test volume lifetimes without
    /// sending megabytes.
    #[doc(hidden)]
    pub fn record_usage_for_tests(&mut self, now: Instant, bytes: usize) {
        self.lifetime.record(now, bytes);
    }

    /// Checks and decrypts the ESP packet `esp` (starting at the SPI) into `out`, which needs
    /// room for the whole ciphertext (see [`EspError::BufferTooSmall`]). The inner packet is
    /// `out[..len]` of the result.
    ///
    /// Order: parse, replay check without mutation, ICV verification in constant time, replay
    /// commit, decryption, padding check. A packet refused before the commit leaves the window
    /// untouched; every refusal is counted in [`InboundSa::stats`].
    pub fn decapsulate(
        &mut self,
        now: Instant,
        esp: &[u8],
        out: &mut [u8],
    ) -> Result<Decapsulated, EspError> {
        let r = self.decapsulate_inner(now, esp, out);
        if let Err(e) = &r {
            self.stats.count_inbound_error(e);
        }
        r
    }

    /// The checks every inbound packet passes before anything is decrypted or the window moves:
    /// hard lifetime, length and alignment, SPI, sequence number (then the caller's buffer of
    /// `out_len` bytes, when given), replay without mutation, and the ICV in constant time.
    fn check_and_verify(
        &self,
        now: Instant,
        esp: &[u8],
        out_len: Option<usize>,
    ) -> Result<Checked, EspError> {
        if self.lifetime.state(now) == LifetimeState::Hard {
            return Err(EspError::Expired);
        }
        let e = &self.engine;
        let len = esp.len();
        let min = self.min_packet_len();
        if len < min {
            return Err(EspError::Truncated { len, min });
        }
        let hdr = e.header_len();
        let ct_len = len - hdr - e.icv_len();
        if !ct_len.is_multiple_of(e.align()) {
            return Err(EspError::NotBlockAligned {
                len: ct_len,
                block: e.align(),
            });
        }
        let truncated = EspError::Truncated { len, min };
        let word = |r: core::ops::Range<usize>| -> Result<u32, EspError> {
            let b: [u8; 4] = esp
                .get(r)
                .and_then(|s| s.try_into().ok())
                .ok_or(truncated)?;
            Ok(u32::from_be_bytes(b))
        };
        let spi = word(0..4)?;
        if spi != e.spi {
            return Err(EspError::WrongSpi {
                expected: e.spi,
                got: spi,
            });
        }
        let seq = word(4..8)?;
        if seq == 0 {
            return Err(EspError::SequenceZero);
        }
        if out_len.is_some_and(|n| n < ct_len) {
            return Err(EspError::BufferTooSmall { needed: ct_len });
        }
        if let Some(w) = &self.replay {
            w.check(seq).map_err(replay_error)?;
        }
        let (authed, icv) = esp.split_at(len - e.icv_len());
        if let Some(h) = &e.hmac {
            if !h.verify_truncated(&[authed], icv) {
                return Err(EspError::Authentication);
            }
        }
        Ok(Checked { seq, hdr, ct_len })
    }

    fn decapsulate_inner(
        &mut self,
        now: Instant,
        esp: &[u8],
        out: &mut [u8],
    ) -> Result<Decapsulated, EspError> {
        let Checked { seq, hdr, ct_len } = self.check_and_verify(now, esp, Some(out.len()))?;
        let e = &self.engine;
        let len = esp.len();
        let truncated = EspError::Truncated {
            len,
            min: self.min_packet_len(),
        };
        let (authed, icv) = esp.split_at(len - e.icv_len());
        let pt = out
            .get_mut(..ct_len)
            .ok_or(EspError::BufferTooSmall { needed: ct_len })?;
        let ct = authed.get(hdr..).ok_or(truncated)?;
        let iv = authed.get(ESP_HEADER_LEN..hdr).ok_or(truncated)?;
        // A combined mode verifies and decrypts in one call, tag first: nothing is decrypted
        // (and the window is not moved) unless the tag matched.
        if let Some(SaKey::Gcm(k)) = &e.cipher {
            let iv: &[u8; GCM_IV_LEN] = iv.try_into().map_err(|_| truncated)?;
            let tag: &[u8; GCM_ICV_LEN] = icv.try_into().map_err(|_| truncated)?;
            let aad = authed.get(..ESP_HEADER_LEN).ok_or(truncated)?;
            pt.copy_from_slice(ct);
            k.expand()
                .open(iv, aad, pt, tag)
                .map_err(|_| EspError::Authentication)?;
        }
        if let Some(w) = &mut self.replay {
            w.commit(seq);
        }

        match &e.cipher {
            Some(SaKey::Cbc(c)) => c
                .decryptor()
                .decrypt_to(iv, ct, pt)
                .map_err(|_| cipher_misuse(ct_len, e.align()))?,
            Some(SaKey::Gcm(_)) => {}
            None => pt.copy_from_slice(ct),
        }

        let (inner_len, next_header) = check_padding(pt)?;
        self.lifetime.record(now, inner_len);
        Ok(Decapsulated {
            len: inner_len,
            next_header,
            seq,
        })
    }
}

/// The inner length and next header of a decrypted ESP payload, once its trailer and its
/// monotonic padding (RFC 4303 section 2.4) checked out.
fn check_padding(pt: &[u8]) -> Result<(usize, u8), EspError> {
    let (&next_header, rest) = pt.split_last().ok_or(EspError::Padding)?;
    let (&pad_len, rest) = rest.split_last().ok_or(EspError::Padding)?;
    let pad_len = usize::from(pad_len);
    let inner_len = rest.len().checked_sub(pad_len).ok_or(EspError::Padding)?;
    let pad = rest.get(inner_len..).ok_or(EspError::Padding)?;
    if pad
        .iter()
        .enumerate()
        .any(|(i, &b)| usize::from(b) != i + 1)
    {
        return Err(EspError::Padding);
    }
    Ok((inner_len, next_header))
}

/// What [`InboundSa`]'s checks before decryption found: the sequence number, and where the
/// ciphertext starts (after SPI, sequence number and IV) and how long it is.
pub(super) struct Checked {
    pub(super) seq: u32,
    pub(super) hdr: usize,
    pub(super) ct_len: usize,
}

fn replay_error(e: ReplayError) -> EspError {
    match e {
        ReplayError::Zero => EspError::SequenceZero,
        ReplayError::Replayed(seq) => EspError::Replayed { seq },
        ReplayError::TooOld(seq) => EspError::TooOld { seq },
    }
}
