//! The harness's own clients and bounded waits: the probes a run uses to inject faults and to
//! see that the cluster recovered, apart from the workload whose history is checked.

use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions, v1};

use crate::Cluster;
use crate::workload;

/// A client of every node, configured like the workload's workers.
pub(super) fn probe_client(cluster: &Cluster) -> Option<Client> {
    let endpoints: Vec<String> = cluster.nodes.iter().map(|node| node.client_addr.clone()).collect();
    Client::with_options(endpoints, workload::worker_client_options()).ok()
}

/// Puts one unique value until it is acknowledged; the time it took, or `None` after `bound`.
pub(super) async fn write_until_acknowledged(cluster: &Cluster, key: &str, bound: Duration) -> Option<Duration> {
    put_until_acknowledged(&probe_client(cluster)?, key, bound).await
}

/// A client that gives up quickly, so a stopped or fenced node costs little.
pub(super) fn quick_client(endpoints: Vec<String>) -> Result<Client, String> {
    let options =
        ClientOptions { attempts_max: 3, retry_backoff_ms: 20, request_timeout_ms: 2_000, ..Default::default() };
    Client::with_options(endpoints, options).map_err(|error| error.to_string())
}

/// A client that keeps trying through a leader change (each call is still bounded by its caller).
pub(super) fn patient_client(endpoints: Vec<String>) -> Result<Client, String> {
    let options = ClientOptions { attempts_max: 200, retry_backoff_ms: 20, ..Default::default() };
    Client::with_options(endpoints, options).map_err(|error| error.to_string())
}

/// Puts one value with one request id until acknowledged; the time it took, or `None` after
/// `bound`.
pub(super) async fn put_until_acknowledged(client: &Client, key: &str, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let request_id = client.next_request_id();
    while started.elapsed() < bound {
        let attempt = client.put_with_id(key, format!("{}", started.elapsed().as_micros()), request_id.clone());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Polls `client`'s DR status until `check` holds, at most `bound`.
pub(super) async fn wait_for_dr(
    client: &Client,
    what: &str,
    bound: Duration,
    check: impl Fn(&v1::DrStatusResponse) -> bool,
) -> Result<v1::DrStatusResponse, String> {
    let deadline = Instant::now() + bound;
    let mut last = None;
    loop {
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(5), client.dr_status()).await {
            if check(&status) {
                return Ok(status);
            }
            last = Some(status);
        }
        if Instant::now() >= deadline {
            let last = last.map_or("no answer".to_string(), |status| {
                format!(
                    "last seen: generation {} mode {} state {} voters {:?} primary {}",
                    status.generation,
                    status.mode().label(),
                    status.state().label(),
                    voters_of(&status),
                    status.primary_region
                )
            });
            return Err(format!("timed out after {} ms waiting for {what} ({last})", bound.as_millis()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The voters a DR status lists, in its order.
pub(super) fn voters_of(status: &v1::DrStatusResponse) -> Vec<u64> {
    status
        .members
        .iter()
        .filter(|member| member.role() == pharos_client::v1::MemberRole::Voter)
        .map(|member| member.node_id)
        .collect()
}
