//! Real-process fault-injection harness and chaos suite for Pharos.
//!
//! [`Cluster`] starts `pharos serve` processes on loopback ports, kills them with SIGKILL,
//! pauses them with SIGSTOP, restarts them with the very same flags, and finds the leader. Every
//! wait is bounded and every process is killed when the cluster is dropped, so a failing test
//! never leaves servers behind. Traffic goes only to 127.0.0.1.
//!
//! On top of it: a userspace proxy on every node's peer port for network partitions
//! ([`proxy`]), workloads that record histories ([`workload`]), checkers for docs/architecture.md, "Invariants"
//! ([`checker`]) and the scenarios the `pharos-chaos` binary runs ([`scenario`]). A checker
//! must never pass a run that did nothing: scenarios demand throughput before the fault and a
//! successful write after it.

pub mod checker;
mod cluster;
pub mod history;
pub mod proxy;
pub mod raw_codec;
mod regions;
mod rng;
pub mod scenario;
pub mod workload;

pub use cluster::{BrokerProcess, Cluster, ClusterOptions, HarnessError, NodeHandle, free_port, pharos_binary};
pub use regions::{DR_REGION, PRIMARY_REGION, start_two_regions};
pub use rng::SplitMix64;
