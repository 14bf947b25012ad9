//! The start-up plan of `pharos serve`: from what the configuration says and what the data dir
//! holds, what this start does (resume, bootstrap a cluster, join one, finish the join a DR
//! reform left pending) or why it must not start. Pure: no I/O, no clock, no randomness (a fresh
//! cluster id is passed in). `server::serve` gathers the facts and carries the plan out.
//!
//! Two moments decide, because the identity must be fixed before Raft starts and the membership
//! is only known once Raft has loaded its log:
//!
//! 1. [`identity_plan`], from the configuration and the data dir: which `(cluster_id,
//!    generation)` Raft starts with. Once a data dir holds an identity, bootstrap flags are
//!    checked against it and otherwise ignored (as etcd does), so restarting with the very same
//!    flags resumes. A data dir of another cluster, or of another node id, is refused before
//!    anything is written.
//! 2. [`membership_plan`], once Raft runs but takes no part yet (its `RaftGate` is closed): how
//!    this node becomes a member, and whether it asks for promotion. On an empty data dir with
//!    `--initial-cluster` it first asks the listed peers ([`bootstrap_check`]) and is called
//!    again with their verdict: a node the cluster has seen before lost its disk and is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pharos_proto::v1;
use pharos_replication::ClusterIdentity;

use crate::config::Bootstrap;

/// What start-up knows before Raft starts: the configuration's part and the data dir's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupFacts {
    /// `--node-id`.
    pub node_id: u64,
    /// `--data-dir`, for the refusals to name.
    pub data_dir: PathBuf,
    /// `--initial-cluster`, `--join` or neither.
    pub bootstrap: Bootstrap,
    /// `--auto-promote`.
    pub auto_promote: bool,
    /// The identity the data dir holds; none on an empty data dir.
    pub stored_identity: Option<ClusterIdentity>,
    /// The join a DR reform recorded for the next start (`reform::PENDING_JOIN_FILE`).
    pub pending_join: Option<v1::PendingJoin>,
    /// A random cluster id, drawn by the caller, for a new single-node cluster.
    pub new_cluster_id: String,
    /// What `pharos snapshot restore` recorded, on a data dir it wrote: the bootstrap flags
    /// then describe the restored cluster, whose id also derives from the backup.
    pub restored_from: Option<v1::RestoredFrom>,
}

/// Where the identity Raft starts with comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPlan {
    /// The identity the data dir holds.
    Resume(ClusterIdentity),
    /// A new identity, recorded (fsynced) before Raft starts: a first start, or the identity a
    /// pending join names.
    Record(ClusterIdentity),
    /// A first start with `--join`: ask the cluster behind these peer addresses for its
    /// `(cluster_id, generation)` and record it.
    AskCluster { endpoints: Vec<String> },
}

/// What Raft's storage holds, read once Raft runs and before it takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftFacts {
    /// The log or the vote is not empty (openraft: initialized).
    pub initialized: bool,
    /// The membership names this node.
    pub member: bool,
}

/// How this node becomes a member once Raft runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipStep {
    /// Nothing to do: the data dir already makes this node a member (or a node of a cluster
    /// that will tell it so).
    Resume,
    /// Initialize a one-voter cluster of this node.
    InitializeSingle,
    /// A first start with `--initial-cluster`: ask the listed peers whether they have seen this
    /// node run, taking no part in Raft until they answered, then plan again with the verdict.
    ProbePeers { members: BTreeMap<u64, String> },
    /// The peers answered and none has seen this node: initialize the identical membership
    /// every bootstrap voter proposes (peer addresses only).
    InitializeStatic { members: BTreeMap<u64, String> },
    /// Ask the cluster behind these peer addresses to add this node as a learner (one try).
    Join { endpoints: Vec<String> },
    /// Finish the join a DR reform recorded: join through `rejoin_through` as a learner
    /// (retrying while the new generation forms) unless the membership names this node
    /// already, then delete the record.
    FinishPendingJoin { rejoin_through: Option<Vec<String>> },
}

impl MembershipStep {
    /// Whether this node takes part in Raft (opens its `RaftGate`) before the step. Only a
    /// node checking that its empty data dir is a first start stays out: until then it must not
    /// vote or acknowledge anything, or a voter that lost its disk would count toward a quorum
    /// with an empty log (invariant 8).
    pub fn takes_part_at_once(&self) -> bool {
        !matches!(self, MembershipStep::ProbePeers { .. } | MembershipStep::InitializeStatic { .. })
    }
}

/// When a learner asks to be promoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    Never,
    /// `--auto-promote`: whenever it is a caught-up learner.
    Always,
    /// A failover survivor re-joining: until it has been a voter once. A later switchover that
    /// demotes it (moving the primary away) must not be undone.
    Once,
}

/// What [`membership_plan`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipPlan {
    pub step: MembershipStep,
    /// Kept by the membership reconciler for as long as the node serves.
    pub promotion: Promotion,
}

/// Why a node must not start. Nothing was written that a corrected start would trip over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupRefusal {
    #[error(
        "data dir {data_dir} belongs to cluster {stored}, but the flags describe cluster {expected} \
         (check --initial-cluster and --initial-cluster-token, or use an empty data dir)"
    )]
    OtherCluster { data_dir: String, stored: String, expected: String },
    #[error("data dir {data_dir} belongs to node {stored}, not node {configured}")]
    OtherNode { data_dir: String, stored: u64, configured: u64 },
    #[error(
        "the data dir holds a pending join through client addresses ({}), written by an older \
         version; nodes join through peer addresses now: start it with --join PEER_ADDR",
        legacy_client_endpoints.join(",")
    )]
    LegacyPendingJoin { legacy_client_endpoints: Vec<String> },
    #[error(
        "data dir of generation {generation} holds no membership and no pending join; \
         join the cluster again with --join (or `pharos dr failback` from the cluster)"
    )]
    NoMembership { generation: u64 },
    /// An empty data dir with `--initial-cluster` whose peers remember this node running: a
    /// lost or wiped disk (ADR 0015). It must be replaced, not re-bootstrapped.
    #[error(
        "member {node_id} already bootstrapped: node {answered_by} remembers it running, but data dir {data_dir} is \
         empty (a lost or wiped disk). It must not rejoin as a voter with an empty log. Replace it: \
         `pharos cluster remove {node_id}`, then start it on an empty data dir with --join \
         <client address of a running node> instead of --initial-cluster, then `pharos cluster promote \
         {node_id}` (docs/operations.md, \"Replace a member\")"
    )]
    AlreadyBootstrapped { node_id: u64, answered_by: u64, data_dir: String },
}

/// Decides the identity Raft starts with. A pending join wins over the bootstrap flags on an
/// empty data dir: a node quarantined by a DR reform takes the identity the join names (the
/// flags describe the cluster as it was at generation 1). A data dir of a later generation is
/// never checked against the flags, for the same reason.
pub fn identity_plan(facts: &StartupFacts) -> Result<IdentityPlan, StartupRefusal> {
    let data_dir = || facts.data_dir.display().to_string();
    let Some(stored) = &facts.stored_identity else {
        let identity =
            |cluster_id: String, generation: u64| ClusterIdentity { cluster_id, generation, node_id: facts.node_id };
        return Ok(match (&facts.pending_join, &facts.bootstrap) {
            (Some(pending), _) => IdentityPlan::Record(identity(pending.cluster_id.clone(), pending.generation)),
            (None, Bootstrap::Single) => IdentityPlan::Record(identity(facts.new_cluster_id.clone(), 1)),
            (None, Bootstrap::InitialCluster { members, token }) => {
                IdentityPlan::Record(identity(static_cluster_id(token, members), 1))
            }
            (None, Bootstrap::Join { endpoints }) => IdentityPlan::AskCluster { endpoints: endpoints.clone() },
        });
    };
    if stored.node_id != facts.node_id {
        return Err(StartupRefusal::OtherNode {
            data_dir: data_dir(),
            stored: stored.node_id,
            configured: facts.node_id,
        });
    }
    if let Bootstrap::InitialCluster { members, token } = &facts.bootstrap
        && let Some(expected) = flags_cluster_id(stored, facts.restored_from.as_ref(), token, members)
        && stored.cluster_id != expected
    {
        return Err(StartupRefusal::OtherCluster { data_dir: data_dir(), stored: stored.cluster_id.clone(), expected });
    }
    Ok(IdentityPlan::Resume(stored.clone()))
}

/// The cluster id the bootstrap flags describe, when they still describe the data dir's cluster:
/// the static id at generation 1, the restored id at the generation a restore started with. A
/// later generation (a DR reform since) is never checked against them.
fn flags_cluster_id(
    stored: &ClusterIdentity,
    restored_from: Option<&v1::RestoredFrom>,
    token: &str,
    members: &BTreeMap<u64, String>,
) -> Option<String> {
    match restored_from {
        Some(restored) => (stored.generation <= restored.generation)
            .then(|| restored_cluster_id(&restored.backup_sha256, token, members)),
        None => (stored.generation <= 1).then(|| static_cluster_id(token, members)),
    }
}

/// Decides how this node, started with `identity`, becomes a member, from what Raft's storage
/// holds and, on a first static start, the peers' verdict (`None` until asked). A pending join
/// wins over the bootstrap flags, and a data dir of a later generation never bootstraps from
/// them.
pub fn membership_plan(
    facts: &StartupFacts,
    identity: &ClusterIdentity,
    raft: RaftFacts,
    probe: Option<&BootstrapCheck>,
) -> Result<MembershipPlan, StartupRefusal> {
    if let Some(pending) = &facts.pending_join {
        let rejoin_through = match (raft.member, pending.peer_endpoints.is_empty()) {
            (true, _) => None,
            (false, true) => {
                return Err(StartupRefusal::LegacyPendingJoin {
                    legacy_client_endpoints: pending.legacy_client_endpoints.clone(),
                });
            }
            (false, false) => Some(pending.peer_endpoints.clone()),
        };
        let promotion = match (facts.auto_promote, pending.auto_promote) {
            (true, _) => Promotion::Always,
            (false, true) => Promotion::Once,
            (false, false) => Promotion::Never,
        };
        return Ok(MembershipPlan { step: MembershipStep::FinishPendingJoin { rejoin_through }, promotion });
    }
    if identity.generation > 1 && !raft.initialized {
        return Err(StartupRefusal::NoMembership { generation: identity.generation });
    }
    let step = match &facts.bootstrap {
        Bootstrap::Single | Bootstrap::InitialCluster { .. } if raft.initialized => MembershipStep::Resume,
        Bootstrap::Single => MembershipStep::InitializeSingle,
        Bootstrap::InitialCluster { members, .. } => match probe {
            None | Some(BootstrapCheck::Wait { .. }) => MembershipStep::ProbePeers { members: members.clone() },
            Some(BootstrapCheck::Initialize) => MembershipStep::InitializeStatic { members: members.clone() },
            Some(BootstrapCheck::AlreadyBootstrapped { answered_by }) => {
                return Err(StartupRefusal::AlreadyBootstrapped {
                    node_id: identity.node_id,
                    answered_by: *answered_by,
                    data_dir: facts.data_dir.display().to_string(),
                });
            }
        },
        Bootstrap::Join { .. } if raft.member => MembershipStep::Resume,
        Bootstrap::Join { endpoints } => MembershipStep::Join { endpoints: endpoints.clone() },
    };
    let promotion = if facts.auto_promote { Promotion::Always } else { Promotion::Never };
    Ok(MembershipPlan { step, promotion })
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

/// The cluster id of a cluster restored from the backup whose checksum is `backup_sha256`, with
/// the restore's `--initial-cluster-token` and `--initial-cluster`: every member restored with
/// the same file and flags derives the same id without asking the others, and it can equal
/// neither the source's id nor the id of another restore (another backup, token or member list).
pub fn restored_cluster_id(backup_sha256: &[u8], token: &str, members: &BTreeMap<u64, String>) -> String {
    let mut name = format!("pharos-restored-cluster;backup-sha256={};token={token}", hex::encode(backup_sha256));
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
pub fn bootstrap_check(members: usize, answers: &[v1::ProbeResponse]) -> BootstrapCheck {
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

#[cfg(test)]
mod tests {
    use super::*;

    const DATA_DIR: &str = "/data/pharos-2";
    const NEW_CLUSTER_ID: &str = "a-fresh-random-id";

    fn members() -> BTreeMap<u64, String> {
        [(1, "a:1".to_string()), (2, "b:2".to_string()), (3, "c:3".to_string())].into()
    }

    fn initial_cluster() -> Bootstrap {
        Bootstrap::InitialCluster { members: members(), token: "pharos".into() }
    }

    fn join() -> Bootstrap {
        Bootstrap::Join { endpoints: vec!["a:1".into(), "c:3".into()] }
    }

    /// Node 2, no flags, empty data dir.
    fn facts(bootstrap: Bootstrap) -> StartupFacts {
        StartupFacts {
            node_id: 2,
            data_dir: PathBuf::from(DATA_DIR),
            bootstrap,
            auto_promote: false,
            stored_identity: None,
            pending_join: None,
            new_cluster_id: NEW_CLUSTER_ID.into(),
            restored_from: None,
        }
    }

    fn identity(cluster_id: &str, generation: u64) -> ClusterIdentity {
        ClusterIdentity { cluster_id: cluster_id.into(), generation, node_id: 2 }
    }

    fn stored(bootstrap: Bootstrap, identity: ClusterIdentity) -> StartupFacts {
        StartupFacts { stored_identity: Some(identity), ..facts(bootstrap) }
    }

    /// The join a failover or failback reform leaves for node 2: generation 3 of `cluster`.
    fn pending_join(peer_endpoints: &[&str], auto_promote: bool) -> v1::PendingJoin {
        v1::PendingJoin {
            legacy_client_endpoints: Vec::new(),
            peer_endpoints: peer_endpoints.iter().map(|endpoint| endpoint.to_string()).collect(),
            auto_promote,
            cluster_id: "cluster".into(),
            generation: 3,
            node_id: 2,
        }
    }

    fn with_pending(facts: StartupFacts, pending: v1::PendingJoin) -> StartupFacts {
        StartupFacts { pending_join: Some(pending), ..facts }
    }

    const EMPTY: RaftFacts = RaftFacts { initialized: false, member: false };
    const MEMBER: RaftFacts = RaftFacts { initialized: true, member: true };
    /// A log that no longer names this node (it was removed).
    const REMOVED: RaftFacts = RaftFacts { initialized: true, member: false };

    fn plan(step: MembershipStep, promotion: Promotion) -> Result<MembershipPlan, StartupRefusal> {
        Ok(MembershipPlan { step, promotion })
    }

    #[test]
    fn an_empty_data_dir_records_the_identity_its_flags_describe() {
        assert_eq!(identity_plan(&facts(Bootstrap::Single)), Ok(IdentityPlan::Record(identity(NEW_CLUSTER_ID, 1))));
        assert_eq!(
            identity_plan(&facts(initial_cluster())),
            Ok(IdentityPlan::Record(identity(&static_cluster_id("pharos", &members()), 1)))
        );
        assert_eq!(
            identity_plan(&facts(join())),
            Ok(IdentityPlan::AskCluster { endpoints: vec!["a:1".into(), "c:3".into()] })
        );
    }

    #[test]
    fn a_pending_join_on_an_empty_data_dir_names_the_identity_whatever_the_flags_say() {
        for bootstrap in [Bootstrap::Single, initial_cluster(), join()] {
            let facts = with_pending(facts(bootstrap), pending_join(&["a:1"], false));
            assert_eq!(identity_plan(&facts), Ok(IdentityPlan::Record(identity("cluster", 3))));
        }
    }

    #[test]
    fn a_stored_identity_resumes_and_flags_are_only_checked_against_it() {
        let static_id = static_cluster_id("pharos", &members());
        assert_eq!(
            identity_plan(&stored(initial_cluster(), identity(&static_id, 1))),
            Ok(IdentityPlan::Resume(identity(&static_id, 1)))
        );
        for bootstrap in [Bootstrap::Single, join()] {
            assert_eq!(
                identity_plan(&stored(bootstrap, identity("other", 1))),
                Ok(IdentityPlan::Resume(identity("other", 1)))
            );
        }
        // A later generation is no longer the cluster the flags describe: never checked.
        assert_eq!(
            identity_plan(&stored(initial_cluster(), identity("re-formed", 2))),
            Ok(IdentityPlan::Resume(identity("re-formed", 2)))
        );
        // The identity a pending join named was recorded by an earlier start that then stopped
        // before joining: it resumes with it.
        let facts = with_pending(stored(initial_cluster(), identity("cluster", 3)), pending_join(&["a:1"], false));
        assert_eq!(identity_plan(&facts), Ok(IdentityPlan::Resume(identity("cluster", 3))));
    }

    #[test]
    fn a_data_dir_of_another_cluster_or_node_is_refused() {
        let refusal = identity_plan(&stored(initial_cluster(), identity("other", 1)));
        let expected = static_cluster_id("pharos", &members());
        assert_eq!(
            refusal,
            Err(StartupRefusal::OtherCluster {
                data_dir: DATA_DIR.into(),
                stored: "other".into(),
                expected: expected.clone()
            })
        );
        assert_eq!(
            refusal.map_err(|refusal| refusal.to_string()),
            Err(format!(
                "data dir /data/pharos-2 belongs to cluster other, but the flags describe cluster {expected} (check \
                 --initial-cluster and --initial-cluster-token, or use an empty data dir)"
            ))
        );
        // Checked before anything else, a pending join included.
        let other_node = ClusterIdentity { node_id: 3, ..identity("cluster", 3) };
        let facts = with_pending(stored(Bootstrap::Single, other_node), pending_join(&["a:1"], false));
        let refusal = identity_plan(&facts);
        assert_eq!(refusal, Err(StartupRefusal::OtherNode { data_dir: DATA_DIR.into(), stored: 3, configured: 2 }));
        assert_eq!(
            refusal.map_err(|refusal| refusal.to_string()),
            Err("data dir /data/pharos-2 belongs to node 3, not node 2".to_string())
        );
    }

    #[test]
    fn a_data_dir_holding_a_log_resumes() {
        let static_id = static_cluster_id("pharos", &members());
        for (bootstrap, cluster_id) in [(Bootstrap::Single, "single"), (initial_cluster(), &static_id), (join(), "c")] {
            let facts = stored(bootstrap, identity(cluster_id, 1));
            assert_eq!(
                membership_plan(&facts, &identity(cluster_id, 1), MEMBER, None),
                plan(MembershipStep::Resume, Promotion::Never)
            );
        }
        // A learner of a re-formed generation that got its log resumes too.
        let facts = stored(initial_cluster(), identity("re-formed", 2));
        assert_eq!(
            membership_plan(&facts, &identity("re-formed", 2), MEMBER, None),
            plan(MembershipStep::Resume, Promotion::Never)
        );
    }

    #[test]
    fn a_first_start_without_flags_initializes_a_single_node_cluster() {
        let facts = facts(Bootstrap::Single);
        assert_eq!(
            membership_plan(&facts, &identity(NEW_CLUSTER_ID, 1), EMPTY, None),
            plan(MembershipStep::InitializeSingle, Promotion::Never)
        );
    }

    #[test]
    fn a_first_static_start_asks_its_peers_and_initializes_only_when_none_remembers_it() {
        let facts = facts(initial_cluster());
        let identity = identity(&static_cluster_id("pharos", &members()), 1);
        let probe = MembershipStep::ProbePeers { members: members() };
        assert!(!probe.takes_part_at_once());
        assert_eq!(membership_plan(&facts, &identity, EMPTY, None), plan(probe.clone(), Promotion::Never));
        let too_few = BootstrapCheck::Wait { answered: 1, needed: 2 };
        assert_eq!(membership_plan(&facts, &identity, EMPTY, Some(&too_few)), plan(probe, Promotion::Never));
        let initialize = MembershipStep::InitializeStatic { members: members() };
        assert!(!initialize.takes_part_at_once(), "the gate opens only once the peers answered");
        assert_eq!(
            membership_plan(&facts, &identity, EMPTY, Some(&BootstrapCheck::Initialize)),
            plan(initialize, Promotion::Never)
        );
    }

    #[test]
    fn an_empty_data_dir_the_initial_cluster_remembers_is_refused_with_the_replace_procedure() {
        let facts = facts(initial_cluster());
        let identity = identity(&static_cluster_id("pharos", &members()), 1);
        let verdict = BootstrapCheck::AlreadyBootstrapped { answered_by: 3 };
        let refusal = membership_plan(&facts, &identity, EMPTY, Some(&verdict));
        assert_eq!(
            refusal,
            Err(StartupRefusal::AlreadyBootstrapped { node_id: 2, answered_by: 3, data_dir: DATA_DIR.into() })
        );
        assert_eq!(
            refusal.map_err(|refusal| refusal.to_string()),
            Err("member 2 already bootstrapped: node 3 remembers it running, but data dir /data/pharos-2 is empty (a \
                 lost or wiped disk). It must not rejoin as a voter with an empty log. Replace it: `pharos cluster \
                 remove 2`, then start it on an empty data dir with --join <client address of a running node> \
                 instead of --initial-cluster, then `pharos cluster promote 2` (docs/operations.md, \"Replace a \
                 member\")"
                .to_string())
        );
    }

    #[test]
    fn join_asks_to_be_added_unless_the_membership_names_this_node() {
        let endpoints = vec!["a:1".to_string(), "c:3".to_string()];
        let facts = StartupFacts { auto_promote: true, ..facts(join()) };
        for raft in [EMPTY, REMOVED] {
            assert_eq!(
                membership_plan(&facts, &identity("c", 1), raft, None),
                plan(MembershipStep::Join { endpoints: endpoints.clone() }, Promotion::Always)
            );
        }
        assert_eq!(
            membership_plan(&facts, &identity("c", 1), MEMBER, None),
            plan(MembershipStep::Resume, Promotion::Always)
        );
    }

    #[test]
    fn a_pending_join_wins_over_the_flags_and_rejoins_unless_already_a_member() {
        let through = Some(vec!["a:1".to_string(), "c:3".to_string()]);
        for bootstrap in [Bootstrap::Single, initial_cluster(), join()] {
            let facts = with_pending(facts(bootstrap), pending_join(&["a:1", "c:3"], false));
            let step = MembershipStep::FinishPendingJoin { rejoin_through: through.clone() };
            assert!(step.takes_part_at_once(), "no probe: the cluster asked for this join");
            assert_eq!(membership_plan(&facts, &identity("cluster", 3), EMPTY, None), plan(step, Promotion::Never));
            assert_eq!(
                membership_plan(&facts, &identity("cluster", 3), REMOVED, None),
                plan(MembershipStep::FinishPendingJoin { rejoin_through: through.clone() }, Promotion::Never)
            );
            // It joined and crashed before deleting the record: only the record goes.
            assert_eq!(
                membership_plan(&facts, &identity("cluster", 3), MEMBER, None),
                plan(MembershipStep::FinishPendingJoin { rejoin_through: None }, Promotion::Never)
            );
        }
    }

    #[test]
    fn a_pending_join_asks_for_promotion_once_unless_the_flags_say_always() {
        for (flag, recorded, promotion) in [
            (false, false, Promotion::Never),
            (false, true, Promotion::Once),
            (true, false, Promotion::Always),
            (true, true, Promotion::Always),
        ] {
            let facts =
                with_pending(StartupFacts { auto_promote: flag, ..facts(join()) }, pending_join(&["a:1"], recorded));
            assert_eq!(
                membership_plan(&facts, &identity("cluster", 3), EMPTY, None).map(|plan| plan.promotion),
                Ok(promotion),
                "--auto-promote {flag}, recorded {recorded}"
            );
        }
    }

    #[test]
    fn a_pending_join_through_client_addresses_only_is_refused_unless_already_a_member() {
        let legacy = v1::PendingJoin {
            legacy_client_endpoints: vec!["a:7371".into(), "c:7373".into()],
            ..pending_join(&[], false)
        };
        let facts = with_pending(facts(initial_cluster()), legacy);
        let refusal = membership_plan(&facts, &identity("cluster", 3), EMPTY, None);
        assert_eq!(
            refusal,
            Err(StartupRefusal::LegacyPendingJoin { legacy_client_endpoints: vec!["a:7371".into(), "c:7373".into()] })
        );
        assert_eq!(
            refusal.map_err(|refusal| refusal.to_string()),
            Err("the data dir holds a pending join through client addresses (a:7371,c:7373), written by an older \
                 version; nodes join through peer addresses now: start it with --join PEER_ADDR"
                .to_string())
        );
        assert_eq!(
            membership_plan(&facts, &identity("cluster", 3), MEMBER, None),
            plan(MembershipStep::FinishPendingJoin { rejoin_through: None }, Promotion::Never)
        );
    }

    #[test]
    fn a_later_generation_without_a_log_or_a_pending_join_is_refused() {
        // Whatever the flags: they describe generation 1, and bootstrapping from them would
        // make a second cluster of the same id.
        for bootstrap in [Bootstrap::Single, initial_cluster(), join()] {
            let facts = stored(bootstrap, identity("re-formed", 2));
            let refusal = membership_plan(&facts, &identity("re-formed", 2), EMPTY, None);
            assert_eq!(refusal, Err(StartupRefusal::NoMembership { generation: 2 }));
            assert_eq!(
                refusal.map_err(|refusal| refusal.to_string()),
                Err("data dir of generation 2 holds no membership and no pending join; join the cluster again with \
                     --join (or `pharos dr failback` from the cluster)"
                    .to_string())
            );
        }
    }

    fn answer(node_id: u64, initialized: bool, asker_started_before: bool) -> v1::ProbeResponse {
        v1::ProbeResponse { node_id, initialized, asker_started_before }
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
    fn a_restored_data_dir_is_checked_against_the_restored_cluster_id() {
        let restored = v1::RestoredFrom {
            source_cluster_id: static_cluster_id("pharos", &members()),
            backup_sha256: vec![7; 32],
            last_log_id: Some(v1::LogId { term: 3, node_id: 0, index: 42 }),
            generation: 1,
        };
        let restored_id = restored_cluster_id(&restored.backup_sha256, "pharos", &members());
        assert_ne!(restored_id, restored.source_cluster_id, "never the source's id");
        let facts = |stored_id: &str, generation: u64| StartupFacts {
            restored_from: Some(restored.clone()),
            ..stored(initial_cluster(), identity(stored_id, generation))
        };
        assert_eq!(identity_plan(&facts(&restored_id, 1)), Ok(IdentityPlan::Resume(identity(&restored_id, 1))));
        // Restored with other flags (or another backup) than the start names: refused.
        let refusal = identity_plan(&facts("restored-elsewhere", 1));
        assert_eq!(
            refusal,
            Err(StartupRefusal::OtherCluster {
                data_dir: DATA_DIR.into(),
                stored: "restored-elsewhere".into(),
                expected: restored_id.clone()
            })
        );
        // Re-formed by a DR failover since the restore: no longer what the flags describe.
        assert_eq!(
            identity_plan(&facts("restored-elsewhere", 2)),
            Ok(IdentityPlan::Resume(identity("restored-elsewhere", 2)))
        );
    }

    #[test]
    fn restored_cluster_ids_depend_on_backup_token_and_members() {
        let id = restored_cluster_id(&[1; 32], "t", &members());
        assert_eq!(id, restored_cluster_id(&[1; 32], "t", &members()));
        assert_ne!(id, restored_cluster_id(&[2; 32], "t", &members()));
        assert_ne!(id, restored_cluster_id(&[1; 32], "u", &members()));
        let mut fewer = members();
        fewer.remove(&3);
        assert_ne!(id, restored_cluster_id(&[1; 32], "t", &fewer));
        assert_ne!(id, static_cluster_id("t", &members()));
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
