//! The reference gateway: glues the sans-IO protocol core to Linux (TUN, UDP 500/4500, raw ESP,
//! routes) and speaks IOS configuration and show/debug/clear commands.
//!
//! Layers: [`sys`] wraps the syscalls (the only `unsafe` code); [`event_loop`] runs one epoll loop
//! around a [`Gateway`] (the protocol core's face) and the [`Outputs`] queue it fills;
//! [`control`] is the exec-command socket and its abbreviation-resolving command table; [`nat`]
//! renders `ip nat inside source ... overload` as nftables; [`engine`] sets all of it up from a
//! [`engine::EngineConfig`] and tears it down in order.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod addr_watch;
pub mod control;
pub mod demo;
pub mod engine;
pub mod event_loop;
pub mod gateway;
pub mod gso;
pub mod ios_facts;
pub mod key_dir;
pub mod keylog;
pub mod nat;
pub mod net;
pub mod outputs;
pub mod plan;
pub mod resolv_conf;
pub mod seed;
pub mod sys;

pub use control::{Command, CommandId, ControlReply};
pub use event_loop::{EventLoop, Gateway, LoopStats, StopReason};
pub use outputs::{DebugKind, Dest, Outputs, Slot};
pub use seed::os_seed;
