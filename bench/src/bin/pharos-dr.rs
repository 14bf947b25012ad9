//! `pharos-dr`: region DR timings on a two-region loopback cluster (3 voters in `region-1`, 2
//! learners in `region-2`), in `dr-sync` mode.
//!
//! - `pharos-dr switchover --rounds R`: one writer puts unique keys back to back while the
//!   primary switches region R times (back and forth); per round it reports the operation's
//!   duration and the longest gap between two acknowledged writes (the RTO writers see), and at
//!   the end how many acknowledged writes are missing (the RPO; must be 0).
//! - `pharos-dr failover --rounds R`: per round a fresh cluster; writers run, the whole primary
//!   region is killed with SIGKILL, and `dr failover --force` runs against the survivors; reports
//!   the time from the command to the first write the new generation accepts, and the
//!   acknowledged writes missing afterwards.
//!
//! Uses the release `pharos` next to this binary (or `$PHAROS_BIN`). Bounded; loopback only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pharos_bench::percentile_ms;
use pharos_chaos::{ClusterOptions, DR_REGION, PRIMARY_REGION, start_two_regions};
use pharos_client::{Client, ClientOptions, v1};

const WAIT: Duration = Duration::from_secs(60);
/// Most writes one writer makes in a run.
const WRITES_MAX: u64 = 1_000_000;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    Switchover {
        #[arg(long, default_value_t = 4)]
        rounds: u64,
    },
    Failover {
        #[arg(long, default_value_t = 3)]
        rounds: u64,
    },
}

/// Acknowledged writes (key, time) of one writer.
async fn write_until(client: Client, prefix: String, stop: Arc<AtomicBool>) -> Vec<(String, Instant)> {
    let mut acked = Vec::new();
    for sequence in 0..WRITES_MAX {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let key = format!("{prefix}/{sequence:08}");
        if client.put(key.clone(), "v").await.is_ok() {
            acked.push((key, Instant::now()));
        }
    }
    acked
}

async fn missing(client: &Client, acked: &[(String, Instant)]) -> anyhow::Result<usize> {
    let mut missing = 0;
    for (key, _) in acked {
        if client.get(key.clone(), v1::Consistency::Linearizable).await?.kv.is_none() {
            missing += 1;
        }
    }
    Ok(missing)
}

fn quick(endpoints: Vec<String>) -> anyhow::Result<Client> {
    let options =
        ClientOptions { attempts_max: 3, retry_backoff_ms: 10, request_timeout_ms: 2_000, ..Default::default() };
    Ok(Client::with_options(endpoints, options)?)
}

async fn switchover(rounds: u64) -> anyhow::Result<()> {
    let cluster = start_two_regions(ClusterOptions::default(), 2, WAIT).await.context("starting the cluster")?;
    let client = cluster.client();
    client.dr_set_mode(pharos_client::v1::DrMode::DrSync, 5_000).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(quick(cluster.client_endpoints())?, "switchover".into(), stop.clone()));
    let mut durations = Vec::new();
    let mut gaps = Vec::new();
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let to_region = if round % 2 == 0 { DR_REGION } else { PRIMARY_REGION };
        let started = Instant::now();
        let operation = client.dr_switchover(to_region, false).await?;
        loop {
            let status = client.dr_status().await?;
            if let Some(finished) = status.last_operation.filter(|finished| finished.id == operation.operation_id) {
                anyhow::ensure!(finished.result == "ok", "switchover {round} failed: {}", finished.result);
                break;
            }
            anyhow::ensure!(started.elapsed() < WAIT, "switchover {round} did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ended = Instant::now();
        durations.push(ended - started);
        gaps.push((started, ended));
        eprintln!("round {round}: switchover to {to_region} took {:?}", ended - started);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    let acked = writer.await?;
    // Longest gap between acknowledgements that overlaps each switchover window.
    let mut rto = Vec::new();
    for (started, ended) in gaps {
        let longest = acked
            .windows(2)
            .filter(|pair| pair[1].1 >= started && pair[0].1 <= ended)
            .map(|pair| pair[1].1 - pair[0].1)
            .max()
            .unwrap_or_default();
        rto.push(longest);
    }
    let lost = missing(&client, &acked).await?;
    durations.sort();
    rto.sort();
    println!(
        "{}",
        serde_json::json!({
            "mode": "switchover", "rounds": rounds, "acknowledged_writes": acked.len(), "lost_writes": lost,
            "operation_ms": durations.iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
            "rto_ms": rto.iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
            "rto_median_ms": percentile_ms(&rto, 0.5), "rto_max_ms": percentile_ms(&rto, 1.0),
        })
    );
    Ok(())
}

async fn failover(rounds: u64) -> anyhow::Result<()> {
    let mut measured = Vec::new();
    let mut lost_total = 0;
    for round in 0..rounds {
        let mut cluster =
            start_two_regions(ClusterOptions::default(), 2, WAIT).await.context("starting the cluster")?;
        let client = cluster.client();
        client.dr_set_mode(pharos_client::v1::DrMode::DrSync, 5_000).await?;
        let deadline = Instant::now() + WAIT;
        while client.dr_status().await?.state() != pharos_client::v1::DrSyncState::Sync {
            anyhow::ensure!(Instant::now() < deadline, "never reached sync");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for index in 0..4 {
            let client = quick(cluster.region_endpoints(PRIMARY_REGION))?;
            writers.push(tokio::spawn(write_until(client, format!("failover/{index}"), stop.clone())));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        for node_id in 1..=3 {
            cluster.kill(node_id)?;
        }
        stop.store(true, Ordering::Release);
        let mut acked = Vec::new();
        for writer in writers {
            acked.extend(writer.await?);
        }
        let command = Instant::now();
        let survivors = quick(cluster.region_endpoints(DR_REGION))?;
        let report = survivors
            .dr_failover(v1::RegionFailoverRequest {
                to_region: DR_REGION.to_string(),
                force: true,
                dry_run: false,
                old_region_fenced: "".to_string(),
            })
            .await?;
        let new_generation = Client::with_options(
            cluster.region_endpoints(DR_REGION),
            ClientOptions { attempts_max: 1_000, retry_backoff_ms: 10, ..Default::default() },
        )?;
        new_generation.put("first-write", "x").await?;
        let elapsed = command.elapsed();
        let lost = missing(&new_generation, &acked).await?;
        lost_total += lost;
        eprintln!(
            "round {round}: first write {elapsed:?} after the command; {} acknowledged, {lost} lost, rpo_zero reported {}",
            acked.len(),
            report.rpo_zero
        );
        measured.push(elapsed);
    }
    measured.sort();
    println!(
        "{}",
        serde_json::json!({
            "mode": "failover", "rounds": rounds, "lost_writes": lost_total,
            "command_to_first_write_ms": measured.iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
            "min_ms": percentile_ms(&measured, 0.0), "median_ms": percentile_ms(&measured, 0.5),
            "max_ms": percentile_ms(&measured, 1.0),
        })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Mode::Switchover { rounds } => switchover(rounds).await,
        Mode::Failover { rounds } => failover(rounds).await,
    }
}
