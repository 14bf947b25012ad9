//! The closed-loop load generator both systems are driven with: every client sends one request,
//! waits for its answer and sends the next, for a fixed time after a warm-up.

use std::time::Duration;

use pharos_client::{Client, ClientOptions, v1};

use super::report::{CellResult, Operation, System};
use crate::etcd::EtcdKv;

/// Bytes in every value put.
pub const VALUE_BYTES: usize = 64;
/// Keys written before the cells and then read and overwritten, so reads hit existing keys and
/// the store does not grow with the run.
pub const KEYS: u64 = 1_000;
/// Time before a cell's measurement starts (requests sent then are not counted).
const WARMUP_MS: u64 = 1_000;
/// Attempts per request, for both systems (failures moved to the next member and retried).
const ATTEMPTS_MAX: u32 = 10;
/// Bound on one attempt, for both systems.
const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// The key a client's `round`-th request uses.
pub fn key_of(client: u64, round: u64) -> Vec<u8> {
    format!("bench/{:04}", (client * 7_919 + round) % KEYS).into_bytes()
}

/// One client's connection to the system under test.
#[derive(Debug, Clone)]
pub enum Connection {
    Pharos(Client),
    Etcd(EtcdKv),
}

impl Connection {
    /// `clients` connections, client `i` starting at endpoint `i mod n`.
    pub fn open(system: System, endpoints: &[String], clients: u64) -> anyhow::Result<Vec<Connection>> {
        (0..clients as usize)
            .map(|index| match system {
                System::Pharos => {
                    let mut rotated = endpoints.to_vec();
                    rotated.rotate_left(index % endpoints.len().max(1));
                    let options = ClientOptions {
                        attempts_max: ATTEMPTS_MAX,
                        request_timeout_ms: REQUEST_TIMEOUT_MS,
                        ..Default::default()
                    };
                    Ok(Connection::Pharos(Client::with_options(rotated, options)?))
                }
                System::Etcd => Ok(Connection::Etcd(EtcdKv::new(
                    endpoints,
                    index,
                    Duration::from_millis(REQUEST_TIMEOUT_MS),
                    ATTEMPTS_MAX,
                )?)),
            })
            .collect()
    }

    /// Sends one request; true when it was answered with success.
    pub async fn send(&self, operation: Operation, key: Vec<u8>) -> bool {
        match (self, operation) {
            (Connection::Pharos(client), Operation::Put) => client.put(key, vec![b'v'; VALUE_BYTES]).await.is_ok(),
            (Connection::Pharos(client), Operation::LinearizableGet) => {
                client.get(key, v1::Consistency::Linearizable).await.is_ok()
            }
            (Connection::Pharos(client), Operation::LocalGet) => client.get(key, v1::Consistency::Local).await.is_ok(),
            (Connection::Etcd(kv), Operation::Put) => kv.put(&key, &[b'v'; VALUE_BYTES]).await,
            (Connection::Etcd(kv), Operation::LinearizableGet) => kv.get(&key, false).await,
            (Connection::Etcd(kv), Operation::LocalGet) => kv.get(&key, true).await,
        }
    }
}

/// Writes every key once, so the gets of the cells find a value.
pub async fn preload(connection: &Connection) -> anyhow::Result<()> {
    for index in 0..KEYS {
        anyhow::ensure!(connection.send(Operation::Put, key_of(0, index)).await, "preloading key {index} failed");
    }
    Ok(())
}

/// Runs one cell: every connection in its own closed loop of `operation` for `cell_secs` after
/// the warm-up.
pub async fn run_cell(
    system: System,
    connections: &[Connection],
    operation: Operation,
    cell_secs: u64,
) -> anyhow::Result<CellResult> {
    // Behind an Arc: the loop hands each call its own handle, and that must cost both systems
    // the same (a reference count), not a copy of etcd's per-member stubs.
    let work = move |connection: std::sync::Arc<Connection>, index: u64, round: u64| async move {
        connection.send(operation, key_of(index, round)).await
    };
    let shared = connections.iter().cloned().map(std::sync::Arc::new).collect();
    let warmup = Duration::from_millis(WARMUP_MS);
    let (latencies, errors) = crate::closed_loops(shared, warmup, Duration::from_secs(cell_secs), work).await?;
    Ok(CellResult {
        system,
        operation,
        clients: connections.len() as u64,
        ops_per_second: latencies.len() as f64 / cell_secs as f64,
        p50_ms: crate::percentile_ms(&latencies, 0.50),
        p99_ms: crate::percentile_ms(&latencies, 0.99),
        errors,
    })
}
