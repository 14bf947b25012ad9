//! `pharos-heartbeats`: floods the leader with broker heartbeats and reports what it sustains.
//!
//! Starts a 3-node loopback cluster (release `pharos` next to this binary, or `$PHAROS_BIN`),
//! registers `--brokers` brokers (two per group), then for `--duration-secs` makes every broker
//! heartbeat once per `--interval-ms`, from `--workers` tasks. Reports heartbeats/s, latency
//! percentiles, leader changes during the flood, and how many brokers were fenced (must be 0).
//! Bounded in time and count; loopback only.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use pharos_bench::percentile_ms;
use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientOptions, v1};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    brokers: u64,
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    #[arg(long, default_value_t = 1_000)]
    interval_ms: u64,
    #[arg(long, default_value_t = 64)]
    workers: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = ClusterOptions {
        voters: 3,
        broker_heartbeat_interval_ms: args.interval_ms,
        broker_lease_ms: 3 * args.interval_ms,
        broker_clock_drift_ms: 500,
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).await.context("starting the cluster")?;
    let endpoints = cluster.client_endpoints();
    let client_options = ClientOptions { attempts_max: 10, request_timeout_ms: 2_000, ..ClientOptions::default() };

    eprintln!("registering {} brokers...", args.brokers);
    let started = Instant::now();
    let mut registrations = Vec::new();
    for worker in 0..args.workers {
        let client = Client::with_options(endpoints.clone(), client_options.clone())?;
        let brokers: Vec<u64> = (0..args.brokers).filter(|id| id % args.workers == worker).collect();
        registrations.push(tokio::spawn(async move {
            let mut registered = Vec::new();
            for index in brokers {
                let request = v1::RegisterBrokerRequest {
                    cluster: "bench".into(),
                    group: format!("group-{}", index / 2),
                    name: format!("broker-{index}"),
                    incarnation_id: format!("bench-{index}"),
                    zone: "zone-a".into(),
                    region: "region-1".into(),
                    addresses: [("internal".to_string(), format!("127.0.0.1:{}", 20_000 + index % 40_000))].into(),
                    election_priority: 0,
                    request_id: None,
                };
                let response = client.register_broker(request).await?;
                registered.push((response.broker_id, response.broker_epoch));
            }
            Ok::<_, pharos_client::ClientError>(registered)
        }));
    }
    let mut shards = Vec::new();
    for task in registrations {
        shards.push(task.await??);
    }
    eprintln!("registered in {:.1}s; flooding for {}s...", started.elapsed().as_secs_f64(), args.duration_secs);

    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await?;
    let term_before = cluster.status_of(leader).await.map(|status| status.term).unwrap_or(0);
    let flood_end = Instant::now() + Duration::from_secs(args.duration_secs);
    let mut workers = Vec::new();
    for shard in shards {
        let client = Client::with_options(endpoints.clone(), client_options.clone())?;
        let interval = Duration::from_millis(args.interval_ms);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut round = tokio::time::interval(interval);
            while Instant::now() < flood_end {
                round.tick().await;
                // Spread this worker's brokers over the interval.
                let pause = interval / (shard.len().max(1) as u32);
                for (broker_id, broker_epoch) in &shard {
                    if Instant::now() >= flood_end {
                        break;
                    }
                    let request = v1::HeartbeatRequest {
                        broker_id: *broker_id,
                        broker_epoch: *broker_epoch,
                        ..v1::HeartbeatRequest::default()
                    };
                    let sent = Instant::now();
                    match client.heartbeat(request).await {
                        Ok(_) => latencies.push(sent.elapsed()),
                        Err(_) => errors += 1,
                    }
                    let spent = sent.elapsed();
                    if spent < pause {
                        tokio::time::sleep(pause - spent).await;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut worker_latencies, worker_errors) = worker.await?;
        latencies.append(&mut worker_latencies);
        errors += worker_errors;
    }
    latencies.sort();
    let term_after = cluster.status_of(leader).await.map(|status| status.term).unwrap_or(0);
    let client = Client::with_options(endpoints.clone(), client_options)?;
    let groups = client.list_broker_groups(v1::Consistency::Linearizable).await?;
    let fenced = groups
        .groups
        .iter()
        .flat_map(|group| &group.brokers)
        .filter(|broker| broker.state() != pharos_client::v1::BrokerState::Active)
        .count();
    let heartbeats_per_second = latencies.len() as f64 / args.duration_secs as f64;
    println!(
        "{}",
        serde_json::json!({
            "brokers": args.brokers, "duration_secs": args.duration_secs, "interval_ms": args.interval_ms,
            "heartbeats": latencies.len(), "errors": errors,
            "heartbeats_per_second": heartbeats_per_second.round(),
            "p50_ms": percentile_ms(&latencies, 0.50),
            "p99_ms": percentile_ms(&latencies, 0.99),
            "max_ms": latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            "raft_term_before": term_before, "raft_term_after": term_after,
            "fenced_brokers": fenced,
        })
    );
    Ok(())
}
