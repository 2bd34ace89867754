//! The key-log hook: where the IKEv1 endpoint (and so every layer built on it) hands the keys
//! Wireshark needs to decrypt a capture of our traffic. The embedder decides where they go, if
//! anywhere; nothing in this crate offers a getter for live keys.

/// Receives the keys Wireshark needs to decrypt a capture of our traffic. Give one to
/// [`crate::ike::Endpoint::set_keylog`] (or [`crate::tunnel::Tunnels::set_keylog`], which
/// passes it down). **Everything passed here is live key material**: anyone who reads it can
/// decrypt and forge the traffic it protects. Never install one in production.
pub trait KeyLog: Send {
    /// The whole `ikev1_decryption_table` (one `<initiator cookie hex>,<encryption key hex>`
    /// line per ISAKMP SA with keys), each time an ISAKMP SA gets its keys and when the log is
    /// installed. Each call supersedes the previous one.
    fn ikev1_table(&mut self, table: &str);
    /// One half of a new IPsec SA pair (called for the inbound, then the outbound half).
    fn esp_sa(&mut self, keys: &crate::esp::EspKeys);
}

impl core::fmt::Debug for dyn KeyLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyLog")
    }
}
