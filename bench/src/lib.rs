//! Shared pieces of the Pharos benchmarks: a bounded closed-loop load driver and percentiles.
//! The benchmarks themselves are the binaries in `src/bin/` (see docs/benchmarks.md);
//! `compare` and `etcd` hold `pharos-bench compare`, Pharos side by side with etcd.
//! Nothing here runs in `cargo test`: the unit tests cover only the pure rendering and
//! statistics, never a cluster.

use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions};

pub mod compare;
pub mod etcd;
mod ports;

/// The `fraction` percentile of sorted latencies, in milliseconds (0 when empty).
pub fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * fraction) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Runs `clients` closed loops of `work(client, client_index, round)` for `duration_secs`
/// after a 1 s warm-up (not counted). Clients are spread over `endpoints` (client `i` starts at
/// endpoint `i mod n`). Returns the sorted latencies of successful calls and the error count.
pub async fn drive<F, Fut>(
    clients: u64,
    duration_secs: u64,
    endpoints: Vec<String>,
    work: F,
) -> anyhow::Result<(Vec<Duration>, u64)>
where
    F: Fn(Client, u64, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut connections = Vec::new();
    for index in 0..clients {
        let mut rotated = endpoints.clone();
        rotated.rotate_left(index as usize % endpoints.len().max(1));
        connections.push(Client::with_options(rotated, ClientOptions { attempts_max: 10, ..Default::default() })?);
    }
    closed_loops(connections, Duration::from_secs(1), Duration::from_secs(duration_secs), work).await
}

/// One closed loop per connection of `work(connection, connection_index, round)`, for
/// `duration` after `warmup` (calls sent during the warm-up are not counted). Returns the
/// sorted latencies of successful calls and the error count.
pub async fn closed_loops<C, F, Fut>(
    connections: Vec<C>,
    warmup: Duration,
    duration: Duration,
    work: F,
) -> anyhow::Result<(Vec<Duration>, u64)>
where
    C: Clone + Send + 'static,
    F: Fn(C, u64, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let warmup_end = Instant::now() + warmup;
    let end = warmup_end + duration;
    let mut tasks = Vec::new();
    for (index, connection) in connections.into_iter().enumerate() {
        let work = work.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut round = 0u64;
            while Instant::now() < end {
                round += 1;
                let sent = Instant::now();
                let ok = work(connection.clone(), index as u64, round).await;
                if sent >= warmup_end {
                    if ok {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut task_latencies, task_errors) = task.await?;
        latencies.append(&mut task_latencies);
        errors += task_errors;
    }
    latencies.sort();
    Ok((latencies, errors))
}
