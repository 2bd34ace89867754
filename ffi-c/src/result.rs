//! Numbered result codes (never reused; blocks per category) and their messages.

use ipsec_proto::esp::{EspError, InboundError};
use ipsec_proto::ike::{
    ApiMisuse, AuthFailure, DatagramDrop, Error as IkeError, InvalidMessage, PeerIncompatible,
};
use ipsec_proto::tunnel::Dropped;

use crate::ffi::{boundary, write_text};

/// Outcome of a call. Numbers are stable and never reused; a removed code stays reserved. Blocks:
/// 0-999 success and "nothing to do"; 1000 API misuse (a bug in the calling program, never caused
/// by network input); 2000 malformed input; 3000 peer misbehaved or incompatible; 4000
/// authentication; 5000 ESP packet refused; 6000 buffers; 7000 internal.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_result {
    /// Success.
    IPSEC_RESULT_OK = 0,
    /// Nothing queued (poll functions); not an error.
    IPSEC_RESULT_NONE = 1,

    /// A required pointer was NULL (or a NULL buffer with a non-zero length).
    IPSEC_RESULT_NULL_PARAMETER = 1000,
    /// A numeric argument is out of range (unknown algorithm id, mode, direction...).
    IPSEC_RESULT_INVALID_PARAMETER = 1001,
    /// No peer with that index.
    IPSEC_RESULT_NO_SUCH_PEER = 1002,
    /// The peer has no crypto ACL line with that index.
    IPSEC_RESULT_NO_SUCH_SELECTOR = 1003,
    /// No such SA.
    IPSEC_RESULT_NO_SUCH_SA = 1004,
    /// The configuration cannot work (peer without ISAKMP policy, NULL ESP without integrity...).
    IPSEC_RESULT_INVALID_CONFIG = 1005,
    /// A key of the wrong length for the transform.
    IPSEC_RESULT_KEY_LENGTH = 1006,
    /// The ESP keys of this event were already moved out.
    IPSEC_RESULT_KEYS_ALREADY_TAKEN = 1007,
    /// The event is of another kind than the accessor needs.
    IPSEC_RESULT_WRONG_EVENT_KIND = 1008,
    /// Encapsulate on an inbound SA or decapsulate on an outbound one.
    IPSEC_RESULT_WRONG_DIRECTION = 1009,
    /// The caller's random callback reported failure.
    IPSEC_RESULT_RNG_FAILED = 1010,
    /// Text that must be UTF-8 is not.
    IPSEC_RESULT_INVALID_UTF8 = 1011,
    /// A call on an endpoint from inside that endpoint's own log callback; nothing was done.
    IPSEC_RESULT_REENTRANT = 1012,

    /// A datagram that does not parse as ISAKMP was dropped and counted.
    IPSEC_RESULT_MALFORMED_MESSAGE = 2000,
    /// IOS configuration text with a syntax error (line and column reported).
    IPSEC_RESULT_CONFIG_SYNTAX = 2001,
    /// ESP packet shorter than header, IV, ICV and one block.
    IPSEC_RESULT_ESP_TRUNCATED = 2002,
    /// ESP ciphertext not a whole number of blocks.
    IPSEC_RESULT_ESP_NOT_BLOCK_ALIGNED = 2003,
    /// ESP packet for another SPI than this SA's.
    IPSEC_RESULT_ESP_WRONG_SPI = 2004,
    /// A private key the caller supplied does not parse (not PEM/DER PKCS#1 or PKCS#8 RSA, or
    /// a modulus outside 1024-8192 bits).
    IPSEC_RESULT_INVALID_KEY = 2005,
    /// A CRL the caller supplied does not parse as a DER v2 CRL.
    IPSEC_RESULT_INVALID_CRL = 2006,

    /// The peer sent a well-formed message that is not allowed at this point (dropped, counted).
    IPSEC_RESULT_PEER_MISBEHAVED = 3000,
    /// No ISAKMP policy or transform set matched.
    IPSEC_RESULT_NO_PROPOSAL_CHOSEN = 3001,
    /// Proxy identities (crypto ACLs) are not mirror images.
    IPSEC_RESULT_PROXY_IDENTITIES = 3002,
    /// PFS configured on one side only or with different groups.
    IPSEC_RESULT_PFS_MISMATCH = 3003,
    /// No pre-shared key for the peer's address.
    IPSEC_RESULT_NO_KEY = 3004,
    /// The peer proposed an algorithm this stack does not implement.
    IPSEC_RESULT_UNSUPPORTED = 3005,
    /// The peer sent an error notify.
    IPSEC_RESULT_NOTIFY_RECEIVED = 3006,
    /// The peer stopped answering (retransmissions exhausted).
    IPSEC_RESULT_NO_REPLY = 3007,
    /// A datagram for no known ISAKMP SA that is not a new Main Mode (dropped, counted).
    IPSEC_RESULT_UNKNOWN_SA = 3008,
    /// We answered, but the initiating peer went quiet before the exchange finished.
    IPSEC_RESULT_PEER_STOPPED = 3009,
    /// A message ID this ISAKMP SA already used: a replay, or one of ours reflected (dropped).
    IPSEC_RESULT_REPLAYED_MESSAGE_ID = 3010,
    /// A zero responder cookie on a message past MM1 (a blind MM3; dropped before any DH).
    IPSEC_RESULT_ZERO_RESPONDER_COOKIE = 3011,
    /// A DPD notify with a wrong SPI or length, or a stale sequence number (dropped).
    IPSEC_RESULT_BAD_DPD = 3012,
    /// Too many Quick Modes open as responder on one ISAKMP SA (dropped).
    IPSEC_RESULT_QUICK_MODE_FLOOD = 3013,

    /// Main Mode 5/6 decrypted to garbage: the pre-shared keys differ.
    IPSEC_RESULT_PSK_MISMATCH = 4000,
    /// A HASH payload did not verify.
    IPSEC_RESULT_HASH_MISMATCH = 4001,

    /// ESP sequence number already received inside the anti-replay window.
    IPSEC_RESULT_ESP_REPLAYED = 5000,
    /// ESP sequence number left of the anti-replay window.
    IPSEC_RESULT_ESP_TOO_OLD = 5001,
    /// ESP sequence number 0.
    IPSEC_RESULT_ESP_SEQUENCE_ZERO = 5002,
    /// ESP ICV verification failed.
    IPSEC_RESULT_ESP_ICV = 5003,
    /// ESP padding check failed (wrong key with encryption-only ESP).
    IPSEC_RESULT_ESP_PADDING = 5004,
    /// Outbound sequence numbers exhausted: rekey.
    IPSEC_RESULT_ESP_SEQUENCE_EXHAUSTED = 5005,
    /// The ESP SA reached its hard lifetime.
    IPSEC_RESULT_ESP_EXPIRED = 5006,
    /// No inbound SA has this SPI (IOS `%CRYPTO-4-RECVD_PKT_INV_SPI`).
    IPSEC_RESULT_ESP_UNKNOWN_SPI = 5007,
    /// Decrypted, but not IPv4 or outside the SA's proxy identities (`#pkts invalid identity`).
    IPSEC_RESULT_ESP_INVALID_IDENTITY = 5008,

    /// The output buffer is too small; the size needed was written, nothing else changed.
    IPSEC_RESULT_BUFFER_TOO_SMALL = 6000,
    /// The handle's output queue is full: poll it before handing in more.
    IPSEC_RESULT_QUEUE_FULL = 6001,

    /// A panic was caught at the FFI boundary (a bug in this library). Free the handle.
    IPSEC_RESULT_PANIC = 7000,
}

use ipsec_result as R;

impl ipsec_result {
    /// Every code, for the message table test and `ipsec_result_message`.
    pub const ALL: &'static [ipsec_result] = &[
        R::IPSEC_RESULT_OK,
        R::IPSEC_RESULT_NONE,
        R::IPSEC_RESULT_NULL_PARAMETER,
        R::IPSEC_RESULT_INVALID_PARAMETER,
        R::IPSEC_RESULT_NO_SUCH_PEER,
        R::IPSEC_RESULT_NO_SUCH_SELECTOR,
        R::IPSEC_RESULT_NO_SUCH_SA,
        R::IPSEC_RESULT_INVALID_CONFIG,
        R::IPSEC_RESULT_KEY_LENGTH,
        R::IPSEC_RESULT_KEYS_ALREADY_TAKEN,
        R::IPSEC_RESULT_WRONG_EVENT_KIND,
        R::IPSEC_RESULT_WRONG_DIRECTION,
        R::IPSEC_RESULT_RNG_FAILED,
        R::IPSEC_RESULT_INVALID_UTF8,
        R::IPSEC_RESULT_REENTRANT,
        R::IPSEC_RESULT_MALFORMED_MESSAGE,
        R::IPSEC_RESULT_CONFIG_SYNTAX,
        R::IPSEC_RESULT_ESP_TRUNCATED,
        R::IPSEC_RESULT_ESP_NOT_BLOCK_ALIGNED,
        R::IPSEC_RESULT_ESP_WRONG_SPI,
        R::IPSEC_RESULT_INVALID_KEY,
        R::IPSEC_RESULT_INVALID_CRL,
        R::IPSEC_RESULT_PEER_MISBEHAVED,
        R::IPSEC_RESULT_NO_PROPOSAL_CHOSEN,
        R::IPSEC_RESULT_PROXY_IDENTITIES,
        R::IPSEC_RESULT_PFS_MISMATCH,
        R::IPSEC_RESULT_NO_KEY,
        R::IPSEC_RESULT_UNSUPPORTED,
        R::IPSEC_RESULT_NOTIFY_RECEIVED,
        R::IPSEC_RESULT_NO_REPLY,
        R::IPSEC_RESULT_UNKNOWN_SA,
        R::IPSEC_RESULT_PEER_STOPPED,
        R::IPSEC_RESULT_REPLAYED_MESSAGE_ID,
        R::IPSEC_RESULT_ZERO_RESPONDER_COOKIE,
        R::IPSEC_RESULT_BAD_DPD,
        R::IPSEC_RESULT_QUICK_MODE_FLOOD,
        R::IPSEC_RESULT_PSK_MISMATCH,
        R::IPSEC_RESULT_HASH_MISMATCH,
        R::IPSEC_RESULT_ESP_REPLAYED,
        R::IPSEC_RESULT_ESP_TOO_OLD,
        R::IPSEC_RESULT_ESP_SEQUENCE_ZERO,
        R::IPSEC_RESULT_ESP_ICV,
        R::IPSEC_RESULT_ESP_PADDING,
        R::IPSEC_RESULT_ESP_SEQUENCE_EXHAUSTED,
        R::IPSEC_RESULT_ESP_EXPIRED,
        R::IPSEC_RESULT_ESP_UNKNOWN_SPI,
        R::IPSEC_RESULT_ESP_INVALID_IDENTITY,
        R::IPSEC_RESULT_BUFFER_TOO_SMALL,
        R::IPSEC_RESULT_QUEUE_FULL,
        R::IPSEC_RESULT_PANIC,
    ];

    /// The code for a number, `None` for numbers that are not (or no longer) assigned.
    pub fn from_u32(n: u32) -> Option<ipsec_result> {
        Self::ALL.iter().copied().find(|r| *r as u32 == n)
    }

    /// One line for a log or an error dialog.
    pub fn message(self) -> &'static str {
        match self {
            R::IPSEC_RESULT_OK => "success",
            R::IPSEC_RESULT_NONE => "nothing queued",
            R::IPSEC_RESULT_NULL_PARAMETER => "a required pointer argument was NULL",
            R::IPSEC_RESULT_INVALID_PARAMETER => "an argument is out of range",
            R::IPSEC_RESULT_NO_SUCH_PEER => "no peer with that index",
            R::IPSEC_RESULT_NO_SUCH_SELECTOR => "the peer has no crypto ACL line with that index",
            R::IPSEC_RESULT_NO_SUCH_SA => "no such SA",
            R::IPSEC_RESULT_INVALID_CONFIG => "the configuration cannot work",
            R::IPSEC_RESULT_KEY_LENGTH => "key length does not match the transform",
            R::IPSEC_RESULT_KEYS_ALREADY_TAKEN => "the ESP keys of this event were already taken",
            R::IPSEC_RESULT_WRONG_EVENT_KIND => "the event is of another kind",
            R::IPSEC_RESULT_WRONG_DIRECTION => {
                "encapsulate needs an outbound SA, decapsulate an inbound one"
            }
            R::IPSEC_RESULT_RNG_FAILED => "the random callback failed",
            R::IPSEC_RESULT_INVALID_UTF8 => "text is not valid UTF-8",
            R::IPSEC_RESULT_REENTRANT => {
                "the endpoint was called from inside its own log callback; nothing was done"
            }
            R::IPSEC_RESULT_MALFORMED_MESSAGE => "malformed ISAKMP datagram dropped",
            R::IPSEC_RESULT_CONFIG_SYNTAX => "IOS configuration syntax error",
            R::IPSEC_RESULT_ESP_TRUNCATED => "ESP packet too short",
            R::IPSEC_RESULT_ESP_NOT_BLOCK_ALIGNED => {
                "ESP ciphertext is not a multiple of the cipher block"
            }
            R::IPSEC_RESULT_ESP_WRONG_SPI => "ESP packet carries another SPI",
            R::IPSEC_RESULT_INVALID_KEY => "the private key does not parse (PEM or DER RSA)",
            R::IPSEC_RESULT_INVALID_CRL => "the CRL does not parse (DER, version 2)",
            R::IPSEC_RESULT_PEER_MISBEHAVED => "peer sent a message not allowed in this state",
            R::IPSEC_RESULT_NO_PROPOSAL_CHOSEN => "no proposal chosen",
            R::IPSEC_RESULT_PROXY_IDENTITIES => "proxy identities not supported",
            R::IPSEC_RESULT_PFS_MISMATCH => "PFS mismatch",
            R::IPSEC_RESULT_NO_KEY => "no pre-shared key for the peer",
            R::IPSEC_RESULT_UNSUPPORTED => "algorithm not supported",
            R::IPSEC_RESULT_NOTIFY_RECEIVED => "peer sent an error notify",
            R::IPSEC_RESULT_NO_REPLY => "peer did not reply",
            R::IPSEC_RESULT_UNKNOWN_SA => "datagram for an unknown ISAKMP SA dropped",
            R::IPSEC_RESULT_PEER_STOPPED => "peer stopped negotiating",
            R::IPSEC_RESULT_REPLAYED_MESSAGE_ID => "replayed ISAKMP message ID",
            R::IPSEC_RESULT_ZERO_RESPONDER_COOKIE => "zero responder cookie past MM1",
            R::IPSEC_RESULT_BAD_DPD => "bad or stale DPD notify",
            R::IPSEC_RESULT_QUICK_MODE_FLOOD => "too many Quick Modes open on one ISAKMP SA",
            R::IPSEC_RESULT_PSK_MISMATCH => "pre-shared keys probably differ",
            R::IPSEC_RESULT_HASH_MISMATCH => "HASH payload did not verify",
            R::IPSEC_RESULT_ESP_REPLAYED => "ESP replay: sequence number already received",
            R::IPSEC_RESULT_ESP_TOO_OLD => "ESP replay: sequence number left of the window",
            R::IPSEC_RESULT_ESP_SEQUENCE_ZERO => "ESP sequence number 0",
            R::IPSEC_RESULT_ESP_ICV => "ESP ICV verification failed",
            R::IPSEC_RESULT_ESP_PADDING => "ESP padding check failed",
            R::IPSEC_RESULT_ESP_SEQUENCE_EXHAUSTED => {
                "ESP sequence numbers exhausted; rekey the SA"
            }
            R::IPSEC_RESULT_ESP_EXPIRED => "ESP SA hard lifetime expired",
            R::IPSEC_RESULT_ESP_UNKNOWN_SPI => "no inbound SA with this SPI",
            R::IPSEC_RESULT_ESP_INVALID_IDENTITY => {
                "decrypted packet outside the SA's proxy identities"
            }
            R::IPSEC_RESULT_BUFFER_TOO_SMALL => "buffer too small; the size needed was returned",
            R::IPSEC_RESULT_QUEUE_FULL => "output queue full; poll it first",
            R::IPSEC_RESULT_PANIC => "internal error (panic caught); please report a bug",
        }
    }
}

impl From<&EspError> for ipsec_result {
    fn from(e: &EspError) -> Self {
        match e {
            EspError::Truncated { .. } => R::IPSEC_RESULT_ESP_TRUNCATED,
            EspError::NotBlockAligned { .. } => R::IPSEC_RESULT_ESP_NOT_BLOCK_ALIGNED,
            EspError::Replayed { .. } => R::IPSEC_RESULT_ESP_REPLAYED,
            EspError::TooOld { .. } => R::IPSEC_RESULT_ESP_TOO_OLD,
            EspError::SequenceZero => R::IPSEC_RESULT_ESP_SEQUENCE_ZERO,
            EspError::Authentication => R::IPSEC_RESULT_ESP_ICV,
            EspError::Padding => R::IPSEC_RESULT_ESP_PADDING,
            EspError::BufferTooSmall { .. } => R::IPSEC_RESULT_BUFFER_TOO_SMALL,
            EspError::SequenceExhausted => R::IPSEC_RESULT_ESP_SEQUENCE_EXHAUSTED,
            EspError::Expired => R::IPSEC_RESULT_ESP_EXPIRED,
            EspError::WrongSpi { .. } => R::IPSEC_RESULT_ESP_WRONG_SPI,
            EspError::KeyLength { .. } => R::IPSEC_RESULT_KEY_LENGTH,
            EspError::InvalidConfig(_) => R::IPSEC_RESULT_INVALID_CONFIG,
            // A variant added later: the closest category rather than a wrong specific code.
            _ => R::IPSEC_RESULT_INVALID_CONFIG,
        }
    }
}

impl From<&DatagramDrop> for ipsec_result {
    fn from(d: &DatagramDrop) -> Self {
        match d {
            DatagramDrop::Malformed(_) => R::IPSEC_RESULT_MALFORMED_MESSAGE,
            DatagramDrop::UnknownSa => R::IPSEC_RESULT_UNKNOWN_SA,
            DatagramDrop::ZeroResponderCookie => R::IPSEC_RESULT_ZERO_RESPONDER_COOKIE,
            DatagramDrop::BadHash => R::IPSEC_RESULT_HASH_MISMATCH,
            DatagramDrop::ReplayedMessageId => R::IPSEC_RESULT_REPLAYED_MESSAGE_ID,
            DatagramDrop::BadDpd => R::IPSEC_RESULT_BAD_DPD,
            DatagramDrop::QuickModeFlood => R::IPSEC_RESULT_QUICK_MODE_FLOOD,
            // `Unexpected`, and a reason added later: the general category.
            _ => R::IPSEC_RESULT_PEER_MISBEHAVED,
        }
    }
}

impl From<&Dropped> for ipsec_result {
    fn from(d: &Dropped) -> Self {
        match d {
            Dropped::Ike(i) => i.into(),
            Dropped::Esp(InboundError::UnknownSpi(_)) => R::IPSEC_RESULT_ESP_UNKNOWN_SPI,
            Dropped::Esp(InboundError::Esp(e)) => e.into(),
            Dropped::Esp(_) | Dropped::MalformedUdp4500 => R::IPSEC_RESULT_MALFORMED_MESSAGE,
            Dropped::OutsideProxyIdentities => R::IPSEC_RESULT_ESP_INVALID_IDENTITY,
            Dropped::QueueFull => R::IPSEC_RESULT_QUEUE_FULL,
            _ => R::IPSEC_RESULT_MALFORMED_MESSAGE,
        }
    }
}

impl From<&IkeError> for ipsec_result {
    fn from(e: &IkeError) -> Self {
        match e {
            IkeError::InvalidMessage(m) => match m {
                InvalidMessage::Wire(_) | InvalidMessage::NotIsakmp => {
                    R::IPSEC_RESULT_MALFORMED_MESSAGE
                }
                _ => R::IPSEC_RESULT_MALFORMED_MESSAGE,
            },
            IkeError::PeerMisbehaved(_) => R::IPSEC_RESULT_PEER_MISBEHAVED,
            IkeError::PeerIncompatible(p) => match p {
                PeerIncompatible::NoProposalChosen(_) => R::IPSEC_RESULT_NO_PROPOSAL_CHOSEN,
                PeerIncompatible::ProxyIdentities(_) => R::IPSEC_RESULT_PROXY_IDENTITIES,
                PeerIncompatible::Pfs(_) => R::IPSEC_RESULT_PFS_MISMATCH,
                PeerIncompatible::NoKey(_) => R::IPSEC_RESULT_NO_KEY,
                _ => R::IPSEC_RESULT_UNSUPPORTED,
            },
            IkeError::AuthenticationFailed(a) => match a {
                AuthFailure::PskMismatch { .. } => R::IPSEC_RESULT_PSK_MISMATCH,
                _ => R::IPSEC_RESULT_HASH_MISMATCH,
            },
            IkeError::NotifyReceived(_) => R::IPSEC_RESULT_NOTIFY_RECEIVED,
            IkeError::NoReply { .. } => R::IPSEC_RESULT_NO_REPLY,
            IkeError::PeerStopped { .. } => R::IPSEC_RESULT_PEER_STOPPED,
            IkeError::ApiMisuse(a) => match a {
                ApiMisuse::NoSuchPeer(_) => R::IPSEC_RESULT_NO_SUCH_PEER,
                ApiMisuse::NoSuchSelector(_) => R::IPSEC_RESULT_NO_SUCH_SELECTOR,
                ApiMisuse::NoSuchSa => R::IPSEC_RESULT_NO_SUCH_SA,
                _ => R::IPSEC_RESULT_INVALID_CONFIG,
            },
            _ => R::IPSEC_RESULT_PEER_MISBEHAVED,
        }
    }
}

/// Renders the message of `result` into `buf` (NUL-terminated). `*out_len` receives the text
/// length without the NUL, or on `IPSEC_RESULT_BUFFER_TOO_SMALL` the capacity needed with it.
/// Unknown numbers render as "unknown result code N".
///
/// # Safety
/// `buf` points to `cap` writable bytes (or is NULL with `cap` 0); `out_len` is writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_result_message(
    result: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        let text = match ipsec_result::from_u32(result) {
            Some(r) => r.message().to_string(),
            None => format!("unknown result code {result}"),
        };
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ipsec_result::ALL {
            assert!(seen.insert(*r as u32), "duplicate {r:?}");
            assert_eq!(ipsec_result::from_u32(*r as u32), Some(*r));
            assert!(!r.message().is_empty());
        }
        assert_eq!(ipsec_result::from_u32(999), None);
    }
}
