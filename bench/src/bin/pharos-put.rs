//! `pharos-put`: write throughput, latency and leader-failover time on a 3-node loopback cluster.
//!
//! - `pharos-put throughput --clients N --duration-secs S`: N concurrent clients (each with its
//!   own idempotency id) put unique keys for S seconds after a 1 s warm-up; prints ops/s and
//!   latency percentiles.
//! - `pharos-put failover --rounds R`: kill -9 the leader R times while one writer runs; prints
//!   the time from each kill to the first acknowledged write, and the restarted node catches up
//!   before the next round.
//!
//! Uses the release `pharos` next to this binary (or `$PHAROS_BIN`). Bounded; loopback only.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pharos_bench::{drive, percentile_ms};
use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientOptions};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    Throughput {
        #[arg(long, default_value_t = 1)]
        clients: u64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        #[arg(long, default_value_t = 100)]
        value_bytes: usize,
    },
    Failover {
        #[arg(long, default_value_t = 5)]
        rounds: u64,
    },
}

async fn throughput(clients: u64, duration_secs: u64, value_bytes: usize) -> anyhow::Result<()> {
    let cluster = Cluster::start(ClusterOptions::default()).await.context("starting the cluster")?;
    let value = vec![b'v'; value_bytes];
    let (latencies, errors) = drive(clients, duration_secs, cluster.client_endpoints(), move |client, index, round| {
        let value = value.clone();
        async move { client.put(format!("bench/{index}/{round}"), value).await.is_ok() }
    })
    .await?;
    println!(
        "{}",
        serde_json::json!({
            "mode": "throughput", "clients": clients, "duration_secs": duration_secs, "value_bytes": value_bytes,
            "writes": latencies.len(), "errors": errors,
            "writes_per_second": (latencies.len() as f64 / duration_secs as f64).round(),
            "p50_ms": percentile_ms(&latencies, 0.50), "p99_ms": percentile_ms(&latencies, 0.99),
            "p999_ms": percentile_ms(&latencies, 0.999), "max_ms": percentile_ms(&latencies, 1.0),
        })
    );
    Ok(())
}

async fn failover(rounds: u64) -> anyhow::Result<()> {
    let mut cluster = Cluster::start(ClusterOptions::default()).await.context("starting the cluster")?;
    let endpoints = cluster.client_endpoints();
    let options = ClientOptions { attempts_max: 1, request_timeout_ms: 500, ..Default::default() };
    let client = Client::with_options(endpoints, options)?;
    let mut measured = Vec::new();
    for round in 0..rounds {
        let leader = cluster.wait_for_leader(Duration::from_secs(30)).await?;
        cluster.kill(leader)?;
        let killed = Instant::now();
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            if client.put(format!("failover/{round}/{attempts}"), "x").await.is_ok() {
                break;
            }
            anyhow::ensure!(killed.elapsed() < Duration::from_secs(30), "no write succeeded within 30 s");
        }
        let elapsed = killed.elapsed();
        measured.push(elapsed);
        eprintln!("round {round}: leader {leader} killed, first acknowledged write after {elapsed:?}");
        cluster.restart(leader)?;
        let new_leader = cluster.wait_for_leader(Duration::from_secs(30)).await?;
        let applied = cluster.status_of(new_leader).await.map(|status| status.applied_index).unwrap_or(0);
        cluster.wait_for_applied(leader, applied, Duration::from_secs(30)).await?;
    }
    measured.sort();
    println!(
        "{}",
        serde_json::json!({
            "mode": "failover", "rounds": rounds,
            "kill_to_first_write_ms": measured.iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
            "min_ms": percentile_ms(&measured, 0.0), "median_ms": percentile_ms(&measured, 0.5), "max_ms": percentile_ms(&measured, 1.0),
        })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Mode::Throughput { clients, duration_secs, value_bytes } => {
            throughput(clients, duration_secs, value_bytes).await
        }
        Mode::Failover { rounds } => failover(rounds).await,
    }
}
