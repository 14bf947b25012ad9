//! Raft for Pharos: the openraft type configuration, durable fjall-backed log and state-machine
//! stores, the gRPC peer transport, and the node lifecycle (bootstrap, join, promote, remove).
//!
//! Durability is this crate's first duty: a vote or log entry is reported persisted to openraft
//! only after it is fsynced. It must never apply commands itself (that is `pharos-meta`), and it
//! never decides broker or DR policy (that is `pharos-dr`).

pub mod backup;
pub mod codec;
pub mod dr_promise;
pub mod events;
pub mod identity;
pub mod log_store;
pub mod metrics;
pub mod network;
pub mod node;
pub mod peer_service;
pub mod reform;
pub mod state_machine;
pub mod storage;
pub mod types;

pub use identity::{ClusterIdentity, GenerationFence};
pub use log_store::LogStore;
pub use node::{Node, NodeError, NodeStatus, RaftTuning};
pub use state_machine::StateMachineStore;
pub use storage::Storage;
pub use types::{NodeId, NodeInfo, Raft, TypeConfig};
