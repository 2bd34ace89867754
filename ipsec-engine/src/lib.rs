//! The reference gateway: glues the sans-IO protocol core to Linux (TUN, UDP 500/4500, raw ESP,
//! routes) and speaks IOS configuration and show/debug/clear commands.
#![warn(missing_docs)]
