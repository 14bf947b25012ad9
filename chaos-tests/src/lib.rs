//! Real-process fault-injection harness for Pharos.
//!
//! [`Cluster`] starts `pharos serve` processes on loopback ports, kills them with SIGKILL,
//! pauses them with SIGSTOP, restarts them with the very same flags, and finds the leader. Every
//! wait is bounded and every process is killed when the cluster is dropped, so a failing test
//! never leaves servers behind. Traffic goes only to 127.0.0.1.
//!
//! Integration tests, benchmarks and (later) chaos scenarios all stand on it.

mod cluster;
mod regions;

pub use cluster::{BrokerProcess, Cluster, ClusterOptions, HarnessError, NodeHandle, pharos_binary};
pub use regions::{DR_REGION, PRIMARY_REGION, start_two_regions};
