//! `pharos-metadata`: route lookups and batched offset commits on a 3-node loopback cluster.
//!
//! - `pharos-metadata routes --clients N --duration-secs S --topics T`: N clients spread over
//!   the nodes look up routes (local reads, the default) for S seconds; prints lookups/s and
//!   latency percentiles.
//! - `pharos-metadata remoting-routes --clients N --duration-secs S --topics T`: the same
//!   lookups as RocketMQ clients make them, `GET_ROUTEINFO_BY_TOPIC` (105) over the remoting
//!   port, one connection per client, spread over the nodes.
//! - `pharos-metadata offsets --clients N --duration-secs S --batch B`: N clients each commit
//!   batches of B offsets; prints offsets/s, requests/s and latency percentiles.
//!
//! Uses the release `pharos` next to this binary (or `$PHAROS_BIN`). Bounded; loopback only.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pharos_bench::{closed_loops, drive, percentile_ms};
use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::v1;
use pharos_remoting::codes::request;
use pharos_remoting::{FrameLimits, RemotingCommand, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// One RocketMQ client connection to a node's remoting port, one request at a time.
struct RemotingConnection {
    stream: TcpStream,
    received: Vec<u8>,
    opaque: i32,
}

impl RemotingConnection {
    async fn connect(address: &str) -> anyhow::Result<RemotingConnection> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(RemotingConnection { stream, received: Vec::new(), opaque: 0 })
    }

    /// `GET_ROUTEINFO_BY_TOPIC` for `topic`: the reply's code.
    async fn route(&mut self, topic: &str) -> anyhow::Result<i32> {
        self.opaque = self.opaque.wrapping_add(1);
        let request =
            RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, self.opaque).with_ext_field("topic", topic);
        self.stream.write_all(&codec::encode(&request)).await?;
        loop {
            if let Some((reply, used)) = codec::try_decode(&self.received, FrameLimits::default())? {
                self.received.drain(..used);
                anyhow::ensure!(reply.opaque == self.opaque, "a reply to another request");
                return Ok(reply.code);
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await??;
            anyhow::ensure!(read > 0, "the node closed the connection");
            self.received.extend_from_slice(&chunk[..read]);
        }
    }
}

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
    RemotingRoutes {
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

/// One JSON line of a route-lookup run.
fn print_lookups(mode: &str, clients: u64, topics: u64, duration_secs: u64, latencies: &[Duration], errors: u64) {
    println!(
        "{}",
        serde_json::json!({
            "mode": mode, "clients": clients, "topics": topics, "duration_secs": duration_secs,
            "lookups": latencies.len(), "errors": errors,
            "lookups_per_second": (latencies.len() as f64 / duration_secs as f64).round(),
            "p50_ms": percentile_ms(latencies, 0.5), "p99_ms": percentile_ms(latencies, 0.99), "max_ms": percentile_ms(latencies, 1.0),
        })
    );
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
            print_lookups("routes", clients, topics, duration_secs, &latencies, errors);
        }
        Mode::RemotingRoutes { clients, duration_secs, topics } => {
            let cluster = setup(topics, 8).await?;
            let mut connections = Vec::new();
            for index in 0..clients as usize {
                let address = &cluster.nodes[index % cluster.nodes.len()].remoting_addr;
                connections.push(Arc::new(Mutex::new(RemotingConnection::connect(address).await?)));
            }
            let duration = Duration::from_secs(duration_secs);
            let (latencies, errors) = closed_loops(
                connections,
                Duration::from_secs(1),
                duration,
                move |connection, index, round| async move {
                    let topic = format!("topic-{}", (index + round) % topics);
                    connection.lock().await.route(&topic).await.is_ok_and(|code| code == 0)
                },
            )
            .await?;
            print_lookups("remoting-routes", clients, topics, duration_secs, &latencies, errors);
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
