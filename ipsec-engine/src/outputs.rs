//! The output queue of the tunnel layer, which every [`crate::Gateway`] call fills.

pub use ipsec_proto::tunnel::output::{DebugKind, Dest, Outputs, Slot, DEFAULT_LIMIT};
