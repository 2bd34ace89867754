//! `EspSa`: one direction of an ESP SA, and `ChildKeys`: the Phase 2 keys an event hands over.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{
    classify_udp4500 as classify, EspCipher, EspConfig, EspError, EspIntegrity, EspKeys, EspMode,
    EspTransform, InboundSa, LifetimeConfig, LifetimeLimits, LifetimeState, OutboundSa, Udp4500,
};
use ipsec_proto::ike;
use ipsec_proto::rng::Rng;

use crate::{error, instant, seconds};

/// The Python exception for an ESP error: per-packet failures by category, construction
/// problems (never caused by network input) as `ValueError`.
pub(crate) fn esp_error(py: Python<'_>, e: EspError) -> PyErr {
    let class = match e {
        EspError::Truncated { .. } | EspError::NotBlockAligned { .. } => "MalformedError",
        EspError::Replayed { .. } | EspError::TooOld { .. } | EspError::SequenceZero => {
            "ReplayError"
        }
        EspError::Authentication => "AuthenticationError",
        EspError::Padding | EspError::WrongSpi { .. } => "ProtocolError",
        EspError::BufferTooSmall { .. } => "BufferError",
        EspError::SequenceExhausted | EspError::Expired => "SaExpiredError",
        EspError::KeyLength { .. } | EspError::InvalidConfig(_) => {
            return PyValueError::new_err(e.to_string())
        }
        _ => "IpsecError",
    };
    error(py, class, e.to_string())
}

/// `esp-3des`, `esp-aes 256`, ... (IOS transform keywords; `esp-aes-256` is accepted too).
pub(crate) fn parse_cipher(name: &str) -> PyResult<EspCipher> {
    let n = name.trim().to_ascii_lowercase().replace('-', " ");
    let words: Vec<&str> = n.split_whitespace().collect();
    Ok(match words.as_slice() {
        ["esp", "des"] | ["des"] => EspCipher::Cbc(CipherAlg::Des),
        ["esp", "3des"] | ["3des"] => EspCipher::Cbc(CipherAlg::TripleDes),
        ["esp", "aes"] | ["aes"] | ["esp", "aes", "128"] | ["aes", "128"] => {
            EspCipher::Cbc(CipherAlg::Aes128)
        }
        ["esp", "aes", "192"] | ["aes", "192"] => EspCipher::Cbc(CipherAlg::Aes192),
        ["esp", "aes", "256"] | ["aes", "256"] => EspCipher::Cbc(CipherAlg::Aes256),
        ["esp", "null"] | ["null"] => EspCipher::Null,
        ["esp", "gcm"] | ["gcm"] | ["esp", "gcm", "128"] | ["gcm", "128"] => {
            EspCipher::AesGcm16(CipherAlg::Aes128)
        }
        ["esp", "gcm", "192"] | ["gcm", "192"] => EspCipher::AesGcm16(CipherAlg::Aes192),
        ["esp", "gcm", "256"] | ["gcm", "256"] => EspCipher::AesGcm16(CipherAlg::Aes256),
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown ESP encryption {name:?} (esp-des, esp-3des, esp-aes [128|192|256], \
             esp-gcm [128|192|256], esp-null)"
            )))
        }
    })
}

/// `esp-sha-hmac`, `esp-md5-hmac`, ... or `None` for an encryption-only transform.
pub(crate) fn parse_integrity(name: Option<&str>) -> PyResult<Option<EspIntegrity>> {
    let Some(name) = name else { return Ok(None) };
    Ok(Some(match name.trim().to_ascii_lowercase().as_str() {
        "esp-md5-hmac" | "md5" => EspIntegrity::HmacMd5_96,
        "esp-sha-hmac" | "sha" | "sha1" => EspIntegrity::HmacSha1_96,
        "esp-sha256-hmac" | "sha256" => EspIntegrity::HmacSha256_128,
        "esp-sha384-hmac" | "sha384" => EspIntegrity::HmacSha384_192,
        "esp-sha512-hmac" | "sha512" => EspIntegrity::HmacSha512_256,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown ESP integrity {name:?} (esp-md5-hmac, esp-sha-hmac, esp-sha256-hmac, \
                 esp-sha384-hmac, esp-sha512-hmac or None)"
            )))
        }
    }))
}

pub(crate) fn cipher_name(c: EspCipher) -> &'static str {
    match c {
        EspCipher::Null => "esp-null",
        EspCipher::Cbc(CipherAlg::Des) => "esp-des",
        EspCipher::Cbc(CipherAlg::TripleDes) => "esp-3des",
        EspCipher::Cbc(CipherAlg::Aes128) => "esp-aes",
        EspCipher::Cbc(CipherAlg::Aes192) => "esp-aes 192",
        EspCipher::Cbc(CipherAlg::Aes256) => "esp-aes 256",
        EspCipher::AesGcm16(CipherAlg::Aes192) => "esp-gcm 192",
        EspCipher::AesGcm16(CipherAlg::Aes256) => "esp-gcm 256",
        EspCipher::AesGcm16(_) => "esp-gcm",
    }
}

pub(crate) fn integrity_name(i: Option<EspIntegrity>) -> Option<&'static str> {
    i.map(|i| match i {
        EspIntegrity::HmacMd5_96 => "esp-md5-hmac",
        EspIntegrity::HmacSha1_96 => "esp-sha-hmac",
        EspIntegrity::HmacSha256_128 => "esp-sha256-hmac",
        EspIntegrity::HmacSha384_192 => "esp-sha384-hmac",
        EspIntegrity::HmacSha512_256 => "esp-sha512-hmac",
    })
}

fn parse_mode(mode: &str) -> PyResult<EspMode> {
    match mode.to_ascii_lowercase().as_str() {
        "tunnel" => Ok(EspMode::Tunnel),
        "transport" => Ok(EspMode::Transport),
        _ => Err(PyValueError::new_err(format!(
            "mode must be 'tunnel' or 'transport', got {mode:?}"
        ))),
    }
}

fn mode_name(m: EspMode) -> &'static str {
    match m {
        EspMode::Tunnel => "tunnel",
        EspMode::Transport => "transport",
    }
}

fn lifetime(secs: Option<u64>, kb: Option<u64>) -> LifetimeConfig {
    if secs.is_none() && kb.is_none() {
        return LifetimeConfig::ios_default();
    }
    LifetimeConfig::from_hard(LifetimeLimits {
        seconds: secs,
        kilobytes: kb,
        packets: None,
    })
}

fn seed(py: Python<'_>, rng_seed: Option<&[u8]>) -> PyResult<Rng> {
    let bytes: Vec<u8> = match rng_seed {
        Some(s) => s.to_vec(),
        None => py
            .import("os")?
            .call_method1("urandom", (32,))?
            .extract::<Vec<u8>>()?,
    };
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| PyValueError::new_err("rng_seed must be exactly 32 bytes"))?;
    Ok(Rng::from_seed(seed))
}

/// The Phase 2 keys of one negotiated SA pair, handed over once (see `EspSa.pair_from_event`).
/// The key bytes never become Python objects and are wiped when consumed or dropped.
#[pyclass(module = "ipsec._native", frozen)]
pub struct ChildKeys {
    inner: std::sync::Mutex<Option<ike::ChildKeys>>,
    mode: EspMode,
    udp_encap: bool,
    lifetime_secs: u32,
    lifetime_kb: u64,
    spi_in: u32,
    spi_out: u32,
    rng: std::sync::Mutex<Rng>,
}

impl ChildKeys {
    pub(crate) fn new(p: ike::Phase2Established, rng: Rng) -> Self {
        let keys = p.keys;
        let mode = match p.mode {
            ipsec_proto::policy::EspMode::Transport => EspMode::Transport,
            _ => EspMode::Tunnel,
        };
        ChildKeys {
            spi_in: keys.inbound.spi(),
            spi_out: keys.outbound.spi(),
            inner: std::sync::Mutex::new(Some(keys)),
            mode,
            udp_encap: p.udp_encap,
            lifetime_secs: p.lifetime_secs,
            lifetime_kb: p.lifetime_kb,
            rng: std::sync::Mutex::new(rng),
        }
    }
}

#[pymethods]
impl ChildKeys {
    /// Whether the keys were already moved into ESP SAs.
    #[getter]
    fn consumed(&self) -> bool {
        self.inner.lock().map(|g| g.is_none()).unwrap_or(true)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ChildKeys spi_in=0x{:08x} spi_out=0x{:08x} consumed={}>",
            self.spi_in,
            self.spi_out,
            if self.consumed() { "True" } else { "False" }
        )
    }
}

// The two halves differ by a few hundred bytes (the IV generator); boxing would only add an
// indirection per packet.
#[allow(clippy::large_enum_variant)]
enum Half {
    In(InboundSa),
    Out(OutboundSa),
}

/// One direction of an ESP SA (RFC 4303): an outbound SA encapsulates, an inbound SA
/// decapsulates. The GIL is released around the crypto.
#[pyclass(module = "ipsec._native")]
pub struct EspSa {
    half: Half,
}

impl EspSa {
    fn transform(&self) -> EspTransform {
        match &self.half {
            Half::In(s) => s.transform(),
            Half::Out(s) => s.transform(),
        }
    }

    fn esp_config(&self) -> EspConfig {
        match &self.half {
            Half::In(s) => s.config(),
            Half::Out(s) => s.config(),
        }
    }

    pub(crate) fn esp_usage(&self) -> ipsec_proto::esp::EspUsage {
        match &self.half {
            Half::In(s) => s.usage(),
            Half::Out(s) => s.usage(),
        }
    }

    pub(crate) fn esp_stats(&self) -> ipsec_proto::esp::EspStats {
        match &self.half {
            Half::In(s) => s.stats(),
            Half::Out(s) => s.stats(),
        }
    }

    /// Anti-replay window for show output (0 when off or outbound).
    pub(crate) fn replay_window_size(&self) -> u32 {
        match &self.half {
            Half::In(s) => s.replay_window().unwrap_or(0),
            Half::Out(_) => 0,
        }
    }

    pub(crate) fn is_inbound(&self) -> bool {
        matches!(self.half, Half::In(_))
    }

    pub(crate) fn remaining(&self, now: ipsec_proto::time::Instant) -> (u64, u64) {
        let l = match &self.half {
            Half::In(s) => s.lifetime(),
            Half::Out(s) => s.lifetime(),
        };
        (
            l.remaining_kilobytes().unwrap_or(u64::from(u32::MAX)),
            l.remaining_seconds(now).unwrap_or(u64::from(u32::MAX)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        inbound: bool,
        spi: u32,
        encryption: &str,
        integrity: Option<&str>,
        enc_key: &[u8],
        auth_key: &[u8],
        now: f64,
        mode: &str,
        udp_encap: bool,
        replay_window: u32,
        lifetime_secs: Option<u64>,
        lifetime_kb: Option<u64>,
        rng_seed: Option<&[u8]>,
    ) -> PyResult<EspSa> {
        let transform = EspTransform::new(parse_cipher(encryption)?, parse_integrity(integrity)?);
        let keys = EspKeys::new(spi, transform, enc_key, auth_key).map_err(|e| esp_error(py, e))?;
        let config = EspConfig {
            mode: parse_mode(mode)?,
            udp_encap,
            replay_window,
            lifetime: lifetime(lifetime_secs, lifetime_kb),
        };
        let now = instant(now)?;
        let half = if inbound {
            Half::In(InboundSa::new(keys, config, now).map_err(|e| esp_error(py, e))?)
        } else {
            let mut rng = seed(py, rng_seed)?;
            Half::Out(OutboundSa::new(keys, config, now, &mut rng).map_err(|e| esp_error(py, e))?)
        };
        Ok(EspSa { half })
    }
}

#[pymethods]
impl EspSa {
    /// An inbound SA with manual keys (our SPI).
    #[staticmethod]
    #[pyo3(signature = (*, spi, encryption, integrity, enc_key, auth_key=b"".as_slice(), now,
        mode="tunnel", udp_encap=false, replay_window=64, lifetime_secs=None, lifetime_kb=None))]
    #[allow(clippy::too_many_arguments)]
    fn inbound(
        py: Python<'_>,
        spi: u32,
        encryption: &str,
        integrity: Option<&str>,
        enc_key: &[u8],
        auth_key: &[u8],
        now: f64,
        mode: &str,
        udp_encap: bool,
        replay_window: u32,
        lifetime_secs: Option<u64>,
        lifetime_kb: Option<u64>,
    ) -> PyResult<EspSa> {
        Self::build(
            py,
            true,
            spi,
            encryption,
            integrity,
            enc_key,
            auth_key,
            now,
            mode,
            udp_encap,
            replay_window,
            lifetime_secs,
            lifetime_kb,
            None,
        )
    }

    /// An outbound SA with manual keys (the peer's SPI). IVs come from a generator seeded with
    /// `rng_seed` (32 bytes; `os.urandom(32)` when omitted).
    #[staticmethod]
    #[pyo3(signature = (*, spi, encryption, integrity, enc_key, auth_key=b"".as_slice(), now,
        mode="tunnel", udp_encap=false, lifetime_secs=None, lifetime_kb=None, rng_seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn outbound(
        py: Python<'_>,
        spi: u32,
        encryption: &str,
        integrity: Option<&str>,
        enc_key: &[u8],
        auth_key: &[u8],
        now: f64,
        mode: &str,
        udp_encap: bool,
        lifetime_secs: Option<u64>,
        lifetime_kb: Option<u64>,
        rng_seed: Option<&[u8]>,
    ) -> PyResult<EspSa> {
        Self::build(
            py,
            false,
            spi,
            encryption,
            integrity,
            enc_key,
            auth_key,
            now,
            mode,
            udp_encap,
            0,
            lifetime_secs,
            lifetime_kb,
            rng_seed,
        )
    }

    /// `(inbound, outbound)` from a `Phase2Established` event, consuming its keys: a second call
    /// with the same event raises `ValueError`.
    #[staticmethod]
    #[pyo3(signature = (event, *, now, replay_window=64))]
    fn pair_from_event(
        py: Python<'_>,
        event: &Bound<'_, PyAny>,
        now: f64,
        replay_window: u32,
    ) -> PyResult<(EspSa, EspSa)> {
        let keys_obj = event.getattr("keys").map_err(|_| {
            PyValueError::new_err("pair_from_event needs a Phase2Established event")
        })?;
        let holder: PyRef<'_, ChildKeys> = keys_obj
            .downcast::<ChildKeys>()
            .map_err(|_| PyValueError::new_err("event.keys is not a ChildKeys"))?
            .borrow();
        let now = instant(now)?;
        let keys = holder
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("keys lock poisoned"))?
            .take()
            .ok_or_else(|| PyValueError::new_err("the keys of this event were already consumed"))?;
        let config = EspConfig {
            mode: holder.mode,
            udp_encap: holder.udp_encap,
            replay_window,
            lifetime: lifetime(
                Some(u64::from(holder.lifetime_secs)),
                Some(holder.lifetime_kb),
            ),
        };
        let mut rng = holder
            .rng
            .lock()
            .map_err(|_| PyValueError::new_err("rng lock poisoned"))?
            .fork();
        let ike::ChildKeys { inbound, outbound } = keys;
        let sa_in = InboundSa::new(inbound, config, now).map_err(|e| esp_error(py, e))?;
        let sa_out =
            OutboundSa::new(outbound, config, now, &mut rng).map_err(|e| esp_error(py, e))?;
        Ok((
            EspSa {
                half: Half::In(sa_in),
            },
            EspSa {
                half: Half::Out(sa_out),
            },
        ))
    }

    /// Protects `packet` (a whole IP packet in tunnel mode, the transport payload otherwise)
    /// and returns `SPI | Seq | IV | ciphertext | ICV`. `next_header` defaults to 4 (IPv4).
    #[pyo3(signature = (packet, *, now, next_header=4))]
    fn encapsulate<'py>(
        &mut self,
        py: Python<'py>,
        packet: PyBackedBytes,
        now: f64,
        next_header: u8,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let now = instant(now)?;
        let Half::Out(sa) = &mut self.half else {
            return Err(PyValueError::new_err("an inbound SA cannot encapsulate"));
        };
        let inner: &[u8] = &packet;
        let r = py.allow_threads(|| {
            let n = sa
                .encapsulated_len(inner.len())
                .ok_or(EspError::BufferTooSmall { needed: usize::MAX })?;
            let mut out = vec![0u8; n];
            let len = sa.encapsulate(now, inner, next_header, &mut out)?;
            out.truncate(len);
            Ok::<_, EspError>(out)
        });
        match r {
            Ok(out) => Ok(PyBytes::new(py, &out)),
            Err(e) => Err(esp_error(py, e)),
        }
    }

    /// Checks and decrypts an ESP packet (starting at the SPI) and returns the inner packet.
    /// Raises `MalformedError`, `ReplayError`, `AuthenticationError`, `ProtocolError` or
    /// `SaExpiredError`; a refused packet leaves the anti-replay window untouched.
    #[pyo3(signature = (datagram, *, now))]
    fn decapsulate<'py>(
        &mut self,
        py: Python<'py>,
        datagram: PyBackedBytes,
        now: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.decapsulate_packet(py, datagram, now).map(|t| t.0)
    }

    /// Like `decapsulate`, returning `(inner, next_header, sequence_number)`.
    #[pyo3(signature = (datagram, *, now))]
    fn decapsulate_packet<'py>(
        &mut self,
        py: Python<'py>,
        datagram: PyBackedBytes,
        now: f64,
    ) -> PyResult<(Bound<'py, PyBytes>, u8, u32)> {
        let now = instant(now)?;
        let Half::In(sa) = &mut self.half else {
            return Err(PyValueError::new_err("an outbound SA cannot decapsulate"));
        };
        let esp: &[u8] = &datagram;
        let r = py.allow_threads(|| {
            let mut out = vec![0u8; esp.len()];
            let d = sa.decapsulate(now, esp, &mut out)?;
            out.truncate(d.len);
            Ok::<_, EspError>((out, d.next_header, d.seq))
        });
        match r {
            Ok((out, nh, seq)) => Ok((PyBytes::new(py, &out), nh, seq)),
            Err(e) => Err(esp_error(py, e)),
        }
    }

    /// The SPI (ours for an inbound SA, the peer's for an outbound one).
    #[getter]
    fn spi(&self) -> u32 {
        match &self.half {
            Half::In(s) => s.spi(),
            Half::Out(s) => s.spi(),
        }
    }

    /// `"inbound"` or `"outbound"`.
    #[getter]
    fn direction(&self) -> &'static str {
        if self.is_inbound() {
            "inbound"
        } else {
            "outbound"
        }
    }

    /// IOS encryption keyword (`esp-3des`, `esp-aes 256`, ...).
    #[getter]
    fn encryption(&self) -> &'static str {
        cipher_name(self.transform().cipher)
    }

    /// IOS integrity keyword, `None` for encryption-only.
    #[getter]
    fn integrity(&self) -> Option<&'static str> {
        integrity_name(self.transform().integrity)
    }

    /// `"tunnel"` or `"transport"`.
    #[getter]
    fn mode(&self) -> &'static str {
        mode_name(self.esp_config().mode)
    }

    /// UDP encapsulation (NAT-T).
    #[getter]
    fn udp_encap(&self) -> bool {
        self.esp_config().udp_encap
    }

    /// Last sequence number sent (outbound) or highest accepted (inbound).
    #[getter]
    fn sequence(&self) -> u32 {
        match &self.half {
            Half::In(s) => s.highest_sequence(),
            Half::Out(s) => s.sequence(),
        }
    }

    /// Anti-replay window size of an inbound SA, `None` when anti-replay is off.
    #[getter]
    fn replay_window(&self) -> Option<u32> {
        match &self.half {
            Half::In(s) => s.replay_window(),
            Half::Out(_) => None,
        }
    }

    /// IOS `plaintext mtu` for a path MTU.
    fn plaintext_mtu(&self, path_mtu: usize) -> usize {
        match &self.half {
            Half::In(s) => s.plaintext_mtu(path_mtu),
            Half::Out(s) => s.plaintext_mtu(path_mtu),
        }
    }

    /// `"fresh"`, `"soft"` (rekey now) or `"hard"` (refuses packets) at `now`.
    #[pyo3(signature = (*, now))]
    fn lifetime_state(&self, now: f64) -> PyResult<&'static str> {
        let now = instant(now)?;
        let s = match &self.half {
            Half::In(s) => s.lifetime_state(now),
            Half::Out(s) => s.lifetime_state(now),
        };
        Ok(match s {
            LifetimeState::Fresh => "fresh",
            LifetimeState::Soft => "soft",
            LifetimeState::Hard => "hard",
        })
    }

    /// `{"bytes", "packets", "last_activity"}` (seconds on the caller's clock or `None`).
    #[getter(usage)]
    fn usage_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let u = self.esp_usage();
        let d = PyDict::new(py);
        d.set_item("bytes", u.bytes)?;
        d.set_item("packets", u.packets)?;
        d.set_item("last_activity", u.last_activity.map(seconds))?;
        Ok(d)
    }

    /// The IOS counters of this SA (`encaps`, `decaps`, `verify_failed`, `replay_failed`, ...).
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.esp_stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("encaps", s.encaps),
            ("encrypt", s.encrypt),
            ("digest", s.digest),
            ("decaps", s.decaps),
            ("decrypt", s.decrypt),
            ("verify", s.verify),
            ("replay_failed", s.replay_failed),
            ("verify_failed", s.verify_failed),
            ("invalid_len", s.invalid_len),
            ("decaps_failed", s.decaps_failed),
            ("encaps_failed", s.encaps_failed),
            ("replay_rollover_send", s.replay_rollover_send),
            ("bytes_encaps", s.bytes_encaps),
            ("bytes_decaps", s.bytes_decaps),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let t = self.transform();
        format!(
            "<EspSa {} spi=0x{:08x} {}{}>",
            self.direction(),
            self.spi(),
            cipher_name(t.cipher),
            integrity_name(t.integrity)
                .map(|i| format!(" {i}"))
                .unwrap_or_default()
        )
    }
}

/// Classifies a UDP-4500 payload: `("ike", message without marker)`, `("esp", packet)` or
/// `("keepalive", b"")`; raises `MalformedError` for anything else.
#[pyfunction]
pub fn classify_udp4500<'py>(
    py: Python<'py>,
    datagram: &[u8],
) -> PyResult<(&'static str, Bound<'py, PyBytes>)> {
    match classify(datagram) {
        Udp4500::Ike(m) => Ok(("ike", PyBytes::new(py, m))),
        Udp4500::Esp(p) => Ok(("esp", PyBytes::new(py, p))),
        Udp4500::Keepalive => Ok(("keepalive", PyBytes::new(py, b""))),
        Udp4500::Malformed(m) => Err(error(
            py,
            "MalformedError",
            format!("not IKE, ESP or a keepalive on UDP 4500: {m:?}"),
        )),
    }
}
