//! Cryptographic building blocks: CBC ciphers, hashes and HMACs, MODP Diffie-Hellman, and the IKEv1
//! key derivation and IV chains. Every key lives in a container that wipes it on drop.

pub mod cipher;
pub mod dh;
pub mod gcm;
pub mod hmac;
pub mod iv;
pub mod kdf;
pub mod prf;
pub mod secret;
pub mod suite;

pub use dh::{DhError, DhGroup, DhSecret, SharedSecret};
pub use iv::{IsakmpCrypto, IsakmpCryptoError, PendingIv};
pub use kdf::{EspKeys, Phase1Keys};
pub use prf::Prf;
pub use secret::SecretBytes;
pub use suite::{EspSuite, IkeSuite, IntegAlg, SuiteError};
