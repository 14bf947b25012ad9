//! Leader failure, unplanned and planned, for both systems, measured from one writer's view.
//!
//! - Kill: kill -9 the leader, then one writer (500 ms per attempt, one attempt per call, next
//!   member after a failure) puts until a put is acknowledged; the time from the kill is the
//!   round's result. The killed member restarts and catches up before the next round.
//! - Transfer: one steady writer runs while the leader hands leadership to a follower (Pharos
//!   `ClusterService/TransferLeader`, etcd `Maintenance/MoveLeader`); the failed puts and the
//!   longest time between two acknowledged puts are the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use pharos_chaos::Cluster;
use pharos_client::{Client, ClientOptions};

use super::report::{System, TransferResult};
use crate::etcd::{EtcdCluster, EtcdKv};

/// Bound on one attempt of the failover writer.
const WRITER_TIMEOUT_MS: u64 = 500;
/// Bound on waiting for the first acknowledged write after a kill, and for catching up.
const RECOVERY_MAX_MS: u64 = 30_000;
/// Steady writing before and after a planned transfer.
const TRANSFER_BEFORE_MS: u64 = 1_000;
const TRANSFER_AFTER_MS: u64 = 3_000;

/// The writer both kill and transfer measurements use.
#[derive(Debug, Clone)]
enum Writer {
    Pharos(Client),
    Etcd(EtcdKv),
}

impl Writer {
    fn pharos(cluster: &Cluster) -> anyhow::Result<Writer> {
        let options = ClientOptions { attempts_max: 1, request_timeout_ms: WRITER_TIMEOUT_MS, ..Default::default() };
        Ok(Writer::Pharos(Client::with_options(cluster.client_endpoints(), options)?))
    }

    fn etcd(cluster: &EtcdCluster) -> anyhow::Result<Writer> {
        let timeout = Duration::from_millis(WRITER_TIMEOUT_MS);
        Ok(Writer::Etcd(EtcdKv::new(&cluster.client_endpoints(), 0, timeout, 1)?))
    }

    async fn put(&self, key: String) -> bool {
        match self {
            Writer::Pharos(client) => client.put(key, "x").await.is_ok(),
            Writer::Etcd(kv) => kv.put(key.as_bytes(), b"x").await,
        }
    }

    /// Puts until one is acknowledged; the time that took.
    async fn until_acknowledged(&self, prefix: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut attempt = 0u64;
        while !self.put(format!("{prefix}/{attempt}")).await {
            attempt += 1;
            anyhow::ensure!(
                started.elapsed() < Duration::from_millis(RECOVERY_MAX_MS),
                "no write acknowledged within {RECOVERY_MAX_MS} ms"
            );
        }
        Ok(started.elapsed())
    }
}

/// Kill -9 rounds on Pharos; milliseconds from each kill to the first acknowledged write.
pub async fn pharos_kills(cluster: &mut Cluster, rounds: u64) -> anyhow::Result<Vec<f64>> {
    let writer = Writer::pharos(cluster)?;
    let mut measured = Vec::new();
    for round in 0..rounds {
        let leader = cluster.wait_for_leader(Duration::from_millis(RECOVERY_MAX_MS)).await?;
        cluster.kill(leader)?;
        let elapsed = writer.until_acknowledged(&format!("failover/{round}")).await?;
        eprintln!("Pharos kill {round}: node {leader}, first acknowledged write after {elapsed:?}");
        measured.push(elapsed.as_secs_f64() * 1e3);
        cluster.restart(leader)?;
        let new_leader = cluster.wait_for_leader(Duration::from_millis(RECOVERY_MAX_MS)).await?;
        let applied = cluster.status_of(new_leader).await.map_or(0, |status| status.applied_index);
        cluster.wait_for_applied(leader, applied, Duration::from_millis(RECOVERY_MAX_MS)).await?;
    }
    Ok(measured)
}

/// Kill -9 rounds on etcd; milliseconds from each kill to the first acknowledged write.
pub async fn etcd_kills(cluster: &mut EtcdCluster, rounds: u64) -> anyhow::Result<Vec<f64>> {
    let writer = Writer::etcd(cluster)?;
    let mut measured = Vec::new();
    for round in 0..rounds {
        let (leader, _) = cluster.wait_for_leader().await?;
        cluster.kill(leader);
        let elapsed = writer.until_acknowledged(&format!("failover/{round}")).await?;
        eprintln!("etcd kill {round}: member {leader}, first acknowledged write after {elapsed:?}");
        measured.push(elapsed.as_secs_f64() * 1e3);
        cluster.restart(leader)?;
        let (new_leader, _) = cluster.wait_for_leader().await?;
        let target = cluster.raft_index_of(new_leader).await;
        let deadline = Instant::now() + Duration::from_millis(RECOVERY_MAX_MS);
        while cluster.raft_index_of(leader).await < target {
            anyhow::ensure!(Instant::now() < deadline, "etcd member {leader} did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(measured)
}

/// What the steady writer saw: the instants of acknowledged puts and the failed puts.
#[derive(Debug, Default)]
struct Observed {
    acknowledged: Vec<Instant>,
    failed: u64,
}

impl Observed {
    fn longest_gap_ms(&self) -> f64 {
        self.acknowledged.windows(2).map(|pair| (pair[1] - pair[0]).as_secs_f64() * 1e3).fold(0.0, f64::max)
    }
}

/// Runs `transfer` while one writer puts steadily; the writer's view of it.
async fn under_steady_writer<F, Fut>(system: System, writer: Writer, transfer: F) -> anyhow::Result<TransferResult>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut observed = Observed::default();
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                if writer.put(format!("transfer/{round}")).await {
                    observed.acknowledged.push(Instant::now());
                } else {
                    observed.failed += 1;
                }
            }
            observed
        }
    });
    tokio::time::sleep(Duration::from_millis(TRANSFER_BEFORE_MS)).await;
    let transferred = transfer().await;
    tokio::time::sleep(Duration::from_millis(TRANSFER_AFTER_MS)).await;
    stop.store(true, Ordering::Relaxed);
    let observed = task.await?;
    transferred?;
    Ok(TransferResult { system, failed_requests: observed.failed, longest_gap_ms: observed.longest_gap_ms() })
}

/// Planned transfers on Pharos, each to the next node after the current leader.
pub async fn pharos_transfers(cluster: &Cluster, rounds: u64) -> anyhow::Result<Vec<TransferResult>> {
    let mut results = Vec::new();
    for _ in 0..rounds {
        let leader = cluster.wait_for_leader(Duration::from_millis(RECOVERY_MAX_MS)).await?;
        let target = leader % cluster.nodes.len() as u64 + 1;
        let client = cluster.client();
        let result = under_steady_writer(System::Pharos, Writer::pharos(cluster)?, || async move {
            client.transfer_leader(target).await.context("Pharos TransferLeader")?;
            Ok(())
        })
        .await?;
        eprintln!("Pharos transfer {leader} -> {target}: {result:?}");
        results.push(result);
    }
    Ok(results)
}

/// Planned transfers on etcd, each to the next member after the current leader.
pub async fn etcd_transfers(cluster: &EtcdCluster, rounds: u64) -> anyhow::Result<Vec<TransferResult>> {
    let mut results = Vec::new();
    for _ in 0..rounds {
        let (leader, _) = cluster.wait_for_leader().await?;
        let members = cluster.member_ids().await;
        let target_index = (leader + 1) % members.len().max(1);
        let (_, target_id) =
            *members.iter().find(|(index, _)| *index == target_index).context("the transfer target did not answer")?;
        let result =
            under_steady_writer(System::Etcd, Writer::etcd(cluster)?, || cluster.move_leader(leader, target_id))
                .await?;
        eprintln!("etcd transfer {leader} -> {target_index}: {result:?}");
        results.push(result);
    }
    Ok(results)
}
