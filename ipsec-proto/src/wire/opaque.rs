//! Payloads whose body is one opaque value: KE, Nonce, HASH, NAT-D.

use super::error::WireError;
use super::payload::PayloadType;

macro_rules! opaque {
    ($(#[$m:meta])* $name:ident, $ty:expr, $min:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            body: &'a [u8],
        }

        impl<'a> $name<'a> {
            /// Wrap a payload body.
            pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
                if body.len() < $min {
                    return Err(WireError::BodyTooShort {
                        payload_type: $ty,
                        needed: $min,
                        len: body.len(),
                    });
                }
                Ok(Self { body })
            }

            /// The value.
            pub fn data(&self) -> &'a [u8] {
                self.body
            }
        }
    };
}

opaque!(
    /// Key Exchange: the DH public value, big-endian, as long as the group's prime.
    KeyExchange,
    PayloadType::KE,
    1
);
opaque!(
    /// Nonce (Ni_b / Nr_b is the whole body). RFC 2409 wants 8..=256 bytes; the IKE layer
    /// enforces that, the wire layer only refuses an empty one.
    Nonce,
    PayloadType::NONCE,
    1
);
opaque!(
    /// HASH: raw prf output (named so it does not shadow `core::hash::Hash` in glob imports).
    HashPayload,
    PayloadType::HASH,
    1
);
opaque!(
    /// NAT-D (type 20, or 130 in drafts): HASH(CKY-I | CKY-R | IP | port).
    NatD,
    PayloadType::NAT_D,
    1
);
