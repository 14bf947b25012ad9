//! `pharos-metadata`: route lookups and batched offset commits on a 3-node loopback cluster.
//!
//! - `pharos-metadata routes --clients N --duration-secs S --topics T`: N clients spread over
//!   the nodes look up routes (local reads, the default) for S seconds; prints lookups/s and
//!   latency percentiles.
//! - `pharos-metadata offsets --clients N --duration-secs S --batch B`: N clients each commit
//!   batches of B offsets; prints offsets/s, requests/s and latency percentiles.
//!
//! Uses the release `pharos` next to this binary (or `$PHAROS_BIN`). Bounded; loopback only.

use anyhow::Context;
use clap::{Parser, Subcommand};
use pharos_bench::{drive, percentile_ms};
use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::v1;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    Routes {
        #[arg(long, default_value_t = 64)]
        clients: u64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        #[arg(long, default_value_t = 100)]
        topics: u64,
    },
    Offsets {
        #[arg(long, default_value_t = 16)]
        clients: u64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        #[arg(long, default_value_t = 1000)]
        batch: u32,
    },
}

async fn setup(topics: u64, queues: u32) -> anyhow::Result<Cluster> {
    let cluster = Cluster::start(ClusterOptions::default()).await.context("starting the cluster")?;
    let client = cluster.client();
    for group in 0..4 {
        client
            .register_broker(v1::RegisterBrokerRequest {
                group: format!("g{group}"),
                name: format!("b{group}"),
                incarnation_id: format!("i{group}"),
                addresses: [("internal".to_string(), format!("127.0.0.1:{}", 30_000 + group))].into(),
                ..Default::default()
            })
            .await?;
    }
    for topic in 0..topics {
        let groups = ["g0", "g1", "g2", "g3"];
        client
            .create_topic(v1::TopicInfo {
                name: format!("topic-{topic}"),
                queues: groups
                    .iter()
                    .map(|group| v1::QueueSpec { group: group.to_string(), read_queues: queues, write_queues: queues })
                    .collect(),
                ..Default::default()
            })
            .await?;
    }
    Ok(cluster)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().mode {
        Mode::Routes { clients, duration_secs, topics } => {
            let cluster = setup(topics, 8).await?;
            let (latencies, errors) =
                drive(clients, duration_secs, cluster.client_endpoints(), move |client, index, round| async move {
                    let topic = format!("topic-{}", (index + round) % topics);
                    client.get_route(&topic, "internal", v1::Consistency::Local).await.is_ok()
                })
                .await?;
            println!(
                "{}",
                serde_json::json!({
                    "mode": "routes", "clients": clients, "topics": topics, "duration_secs": duration_secs,
                    "lookups": latencies.len(), "errors": errors,
                    "lookups_per_second": (latencies.len() as f64 / duration_secs as f64).round(),
                    "p50_ms": percentile_ms(&latencies, 0.5), "p99_ms": percentile_ms(&latencies, 0.99), "max_ms": percentile_ms(&latencies, 1.0),
                })
            );
        }
        Mode::Offsets { clients, duration_secs, batch } => {
            let cluster = setup(1, 256).await?;
            let (latencies, errors) =
                drive(clients, duration_secs, cluster.client_endpoints(), move |client, index, round| async move {
                    let offsets = (0..batch)
                        .map(|queue| v1::OffsetEntry {
                            consumer_group: format!("cg-{index}"),
                            topic: "topic-0".into(),
                            queue_id: queue % 1024,
                            offset: round,
                            committed_at_revision: 0,
                        })
                        .collect();
                    client.commit_offsets(offsets, false).await.is_ok()
                })
                .await?;
            let requests = latencies.len() as f64 / duration_secs as f64;
            println!(
                "{}",
                serde_json::json!({
                    "mode": "offsets", "clients": clients, "batch": batch, "duration_secs": duration_secs,
                    "requests": latencies.len(), "errors": errors, "requests_per_second": requests.round(),
                    "offsets_per_second": (requests * f64::from(batch)).round(),
                    "p50_ms": percentile_ms(&latencies, 0.5), "p99_ms": percentile_ms(&latencies, 0.99), "max_ms": percentile_ms(&latencies, 1.0),
                })
            );
        }
    }
    Ok(())
}
