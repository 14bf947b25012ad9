//! How a node gets its identity and joins a cluster: single-node, static bootstrap or join.
//!
//! Once a data dir holds an identity, bootstrap flags are checked against it and otherwise
//! ignored (as etcd does), so restarting with the very same flags resumes. A data dir from
//! another cluster, or for another node id, is refused before anything is written.

use std::collections::BTreeMap;

use pharos_replication::{ClusterIdentity, NodeInfo, Storage};

use crate::config::{Bootstrap, ServeConfig};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "data dir {data_dir} belongs to cluster {stored}, but the flags describe cluster {expected} \
         (check --initial-cluster and --initial-cluster-token, or use an empty data dir)"
    )]
    OtherCluster { data_dir: String, stored: String, expected: String },
    #[error("data dir {data_dir} belongs to node {stored}, not node {configured}")]
    OtherNode { data_dir: String, stored: u64, configured: u64 },
    #[error("cannot read or write the cluster identity: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot reach the cluster to join through {endpoints}: {reason}")]
    Join { endpoints: String, reason: String },
}

/// Namespace for static-bootstrap cluster ids (UUID v5 of token + member list).
const CLUSTER_ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7068_6172_6f73_4000_8000_636c_7573_7465);

/// The cluster id every node of a static bootstrap derives from the same flags.
pub fn static_cluster_id(token: &str, members: &BTreeMap<u64, String>) -> String {
    let mut name = format!("pharos-initial-cluster;token={token}");
    for (id, peer) in members {
        name.push_str(&format!(";{id}={peer}"));
    }
    uuid::Uuid::new_v5(&CLUSTER_ID_NAMESPACE, name.as_bytes()).to_string()
}

/// What a node on an empty data dir with `--initial-cluster` may do, from its peers' answers
/// to `RaftService.Probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapCheck {
    /// A majority of the initial cluster (this node included) answered and none has seen this
    /// node before: this is a first start, initialize.
    Initialize,
    /// A peer's membership records this node as having run before: its data dir was lost. It
    /// must not come back as a bootstrap voter.
    AlreadyBootstrapped { answered_by: u64 },
    /// Too few peers answered to tell a first start from a lost disk: ask again.
    Wait { answered: usize, needed: usize },
}

/// Decides [`BootstrapCheck`] for a node of an initial cluster of `members` nodes.
///
/// Every running node records its client address in the membership, a committed entry, so a
/// majority of the cluster holds the record of any node that ever ran. The answers must come
/// from a majority of the cluster *not counting this node* (whose copy is what was lost): any
/// such majority includes a node that holds the record. Fewer answers mean waiting, never
/// initializing: the nodes that would remember may just be down or paused.
pub fn bootstrap_check(members: usize, answers: &[pharos_proto::v1::ProbeResponse]) -> BootstrapCheck {
    if let Some(answer) = answers.iter().find(|answer| answer.asker_started_before) {
        return BootstrapCheck::AlreadyBootstrapped { answered_by: answer.node_id };
    }
    let others = members.saturating_sub(1);
    let needed = (members / 2 + 1).min(others);
    if answers.len() >= needed {
        BootstrapCheck::Initialize
    } else {
        BootstrapCheck::Wait { answered: answers.len(), needed }
    }
}

pub fn this_node(config: &ServeConfig) -> NodeInfo {
    NodeInfo {
        client_addr: config.advertise_client.clone(),
        peer_addr: config.advertise_peer.clone(),
        zone: config.zone.clone(),
        region: config.region.clone(),
    }
}

/// Loads the stored identity, checks it against the configuration, or creates it.
pub async fn resolve_identity(config: &ServeConfig, storage: &Storage) -> Result<ClusterIdentity, BootstrapError> {
    let data_dir = config.data_dir.display().to_string();
    let stored = ClusterIdentity::load(storage)?;
    if let Some(stored) = &stored
        && stored.node_id != config.node_id
    {
        return Err(BootstrapError::OtherNode { data_dir, stored: stored.node_id, configured: config.node_id });
    }
    // A node quarantined by a DR reform starts empty and takes the identity its pending join
    // names (the bootstrap flags describe the cluster as it was at generation 1).
    if stored.is_none()
        && let Some(pending) = pharos_replication::reform::read_pending_join(&config.data_dir)?
    {
        let identity =
            ClusterIdentity { cluster_id: pending.cluster_id, generation: pending.generation, node_id: config.node_id };
        identity.save(storage)?;
        return Ok(identity);
    }
    let bootstrap = config.bootstrap().map_err(|error| std::io::Error::other(error.to_string()))?;
    let identity = match (stored, bootstrap) {
        (Some(stored), _) if stored.generation > 1 => return Ok(stored),
        (Some(stored), Bootstrap::InitialCluster { members, token }) => {
            let expected = static_cluster_id(&token, &members);
            if stored.cluster_id != expected {
                return Err(BootstrapError::OtherCluster { data_dir, stored: stored.cluster_id, expected });
            }
            return Ok(stored);
        }
        (Some(stored), _) => return Ok(stored),
        (None, Bootstrap::Single) => {
            ClusterIdentity { cluster_id: uuid::Uuid::new_v4().to_string(), generation: 1, node_id: config.node_id }
        }
        (None, Bootstrap::InitialCluster { members, token }) => {
            ClusterIdentity { cluster_id: static_cluster_id(&token, &members), generation: 1, node_id: config.node_id }
        }
        (None, Bootstrap::Join { endpoints }) => {
            let join_error = |reason: String| BootstrapError::Join { endpoints: endpoints.join(","), reason };
            let remote = crate::member_api::identity_through(&endpoints)
                .await
                .map_err(|status| join_error(crate::member_api::describe(&status)))?;
            ClusterIdentity { cluster_id: remote.cluster_id, generation: remote.generation, node_id: config.node_id }
        }
    };
    identity.save(storage)?;
    tracing::info!(cluster_id = %identity.cluster_id, node_id = identity.node_id, "initialized data dir");
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(node_id: u64, initialized: bool, asker_started_before: bool) -> pharos_proto::v1::ProbeResponse {
        pharos_proto::v1::ProbeResponse { node_id, initialized, asker_started_before }
    }

    #[test]
    fn a_node_the_cluster_has_seen_is_refused_and_too_few_answers_wait() {
        // The wiped-disk voter: one peer is down, the other remembers it.
        assert_eq!(
            bootstrap_check(3, &[answer(3, true, true)]),
            BootstrapCheck::AlreadyBootstrapped { answered_by: 3 }
        );
        // A peer down (killed, paused): the one that answers may be the one that missed the
        // record (it was behind), so wait for a majority without this node.
        assert_eq!(bootstrap_check(3, &[]), BootstrapCheck::Wait { answered: 0, needed: 2 });
        assert_eq!(bootstrap_check(3, &[answer(2, true, false)]), BootstrapCheck::Wait { answered: 1, needed: 2 });
        assert_eq!(
            bootstrap_check(5, &[answer(2, false, false), answer(3, false, false)]),
            BootstrapCheck::Wait { answered: 2, needed: 3 }
        );
        // A first start: peers up, initialized or not, none has seen this node run.
        assert_eq!(bootstrap_check(3, &[answer(2, true, false), answer(3, false, false)]), BootstrapCheck::Initialize);
        assert_eq!(
            bootstrap_check(5, &[answer(2, false, false), answer(3, false, false), answer(5, true, false)]),
            BootstrapCheck::Initialize
        );
        // Two members: the other one. One member: nobody to ask.
        assert_eq!(bootstrap_check(2, &[answer(2, false, false)]), BootstrapCheck::Initialize);
        assert_eq!(bootstrap_check(1, &[]), BootstrapCheck::Initialize);
        // One peer that remembers the node outweighs any number that do not.
        assert_eq!(
            bootstrap_check(5, &[answer(2, false, false), answer(4, true, true), answer(5, false, false)]),
            BootstrapCheck::AlreadyBootstrapped { answered_by: 4 }
        );
    }

    #[test]
    fn static_cluster_ids_depend_on_token_and_members_only() {
        let members: BTreeMap<u64, String> = [(1, "a:1".to_string()), (2, "b:2".to_string())].into();
        assert_eq!(static_cluster_id("t", &members), static_cluster_id("t", &members.clone()));
        assert_ne!(static_cluster_id("t", &members), static_cluster_id("u", &members));
        let mut other = members.clone();
        other.insert(3, "c:3".to_string());
        assert_ne!(static_cluster_id("t", &members), static_cluster_id("t", &other));
    }
}
