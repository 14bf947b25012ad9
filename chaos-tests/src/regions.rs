//! Two-region clusters: the voters of [`Cluster::start`] in `region-1` (nodes `1..=voters`), and
//! learners in `region-2` that join them, for DR tests, scenarios and benchmarks.

use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterOptions, HarnessError};

/// Region of the bootstrap voters.
pub const PRIMARY_REGION: &str = "region-1";
/// Region of the learners.
pub const DR_REGION: &str = "region-2";

/// Starts `options.voters` voters in [`PRIMARY_REGION`] and `learners` learners in
/// [`DR_REGION`], and waits (bounded by `timeout`) until every member has recorded its client
/// address and the leader has filled in the placement policy.
pub async fn start_two_regions(
    options: ClusterOptions,
    learners: u64,
    timeout: Duration,
) -> Result<Cluster, HarnessError> {
    let voters = options.voters;
    let mut cluster = Cluster::start(options).await?;
    for node_id in voters + 1..=voters + learners {
        cluster.add_joining_node(node_id, &format!("zone-{node_id}"), DR_REGION, &[])?;
    }
    let client = cluster.client();
    let deadline = Instant::now() + timeout;
    loop {
        let members_known = client.status().await.is_ok_and(|status| {
            status.members.len() as u64 == voters + learners
                && status
                    .members
                    .iter()
                    .all(|member| member.info.as_ref().is_some_and(|info| !info.client_addr.is_empty()))
        });
        let placed = members_known
            && client.dr_status().await.is_ok_and(|status| {
                status.primary_region == PRIMARY_REGION
                    && status.dr_region == DR_REGION
                    && status
                        .members
                        .iter()
                        .filter(|member| {
                            member.region == DR_REGION && member.role() == pharos_client::v1::MemberRole::Learner
                        })
                        .count() as u64
                        == learners
            });
        if placed {
            return Ok(cluster);
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: "a two-region cluster with its placement".into(),
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Cluster {
    /// Client endpoints of every node (running or not) in `region`.
    pub fn region_endpoints(&self, region: &str) -> Vec<String> {
        self.nodes.iter().filter(|node| node.region == region).map(|node| node.client_addr.clone()).collect()
    }
}
