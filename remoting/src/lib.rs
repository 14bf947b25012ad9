//! RocketMQ's remoting protocol, so that unmodified RocketMQ clients can use Pharos as their
//! NameServer and Controller (docs/rocketmq.md).
//!
//! [`codec`] decodes frames with JSON or binary headers and encodes replies in JSON; [`serve`]
//! runs a bounded TCP listener over a [`Handler`]; [`namesrv`] answers the NameServer read codes
//! from a `pharos_meta::State` as plain functions, [`registration`] and [`controller`] read what
//! brokers send about themselves and build the answers. This crate must never change the replicated
//! state or reach Raft: it reads the state it is given, and a write (broker registration) must
//! go through the same commands as the gRPC API. No input may make it panic: every decoder is
//! total and returns a typed error.

pub mod body;
pub mod client;
pub mod codec;
pub mod codes;
pub mod command;
pub mod controller;
pub mod namesrv;
pub mod registration;
mod server;
mod stats;

pub use codec::{DecodeError, FrameLimits};
pub use command::{RemotingCommand, SerializeType};
pub use server::{Handler, ServeLimits, serve};
pub use stats::{ServeStats, StatsSnapshot};
