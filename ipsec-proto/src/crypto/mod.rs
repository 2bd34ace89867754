//! Cryptographic building blocks: CBC ciphers, hashes and HMACs, MODP Diffie-Hellman, and the IKEv1
//! key derivation and IV chains. Every key lives in a container that wipes it on drop.

pub mod cipher;
pub mod hmac;
pub mod dh;
pub mod prf;
pub mod secret;

pub use dh::{DhError, DhGroup, DhSecret, SharedSecret};
pub use prf::Prf;
pub use secret::SecretBytes;
