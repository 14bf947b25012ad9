//! A running Raft node: storage opened, identity fixed, openraft started. The server crate
//! decides *how* a node gets its identity (bootstrap, join); this type runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{ChangeMembers, ReadPolicy, ServerState};
use pharos_meta::{Command, Response};

use crate::dr_promise::{DrAnnouncer, LeaderContact, SyncPromise};
use crate::identity::{ClusterIdentity, GenerationFence};
use crate::log_store::LogStore;
use crate::network::PeerNetwork;
use crate::peer_service::{PeerService, RaftGate};
use crate::state_machine::StateMachineStore;
use crate::storage::Storage;
use crate::types::{LogId, NodeId, NodeInfo, Raft, TypeConfig};

/// Raft timing and log-retention knobs, in the units their names say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftTuning {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many entries were applied since the last one.
    pub snapshot_logs_since_last: u64,
    /// Entries kept in the log behind the snapshot (so lagging followers need no snapshot).
    pub logs_to_keep_after_snapshot: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_interval_ms: 150,
            election_timeout_min_ms: 750,
            election_timeout_max_ms: 1500,
            snapshot_logs_since_last: 20_000,
            logs_to_keep_after_snapshot: 5_000,
        }
    }
}

/// How long a membership change waits for the one in flight before it gives up.
const MEMBERSHIP_CHANGE_WAIT: Duration = Duration::from_secs(15);
/// How long a request of a newer feature level waits, in a cluster that has not recorded its
/// first level yet, for the leader to record it (a new cluster does once every member's record
/// advertises one: a second or two after its first start). Without the wait, a RocketMQ broker
/// started with a new cluster was refused its id and exited.
const FIRST_FEATURE_LEVEL_WAIT: Duration = Duration::from_secs(5);

const MEMBERSHIP_CHANGE_RETRY: Duration = Duration::from_millis(50);

fn is_in_progress(error: &RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> bool {
    matches!(
        error,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            openraft::error::ChangeMembershipError::InProgress(_)
        ))
    )
}

/// Operating errors of node operations; each carries what the caller needs to act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("not the leader; leader is {}", leader_id.map_or("unknown".to_string(), |id| format!("node {id} at {}", leader_client_addr.as_deref().unwrap_or("unknown address"))))]
    NotLeader { leader_id: Option<NodeId>, leader_client_addr: Option<String> },
    #[error("outcome unknown: {0} (retry with the same request id)")]
    Unknown(String),
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error("invalid membership change: {0}")]
    InvalidMembership(String),
    #[error("raft is not running: {0}")]
    Stopped(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error(
        "this node was fenced by generation {generation} (an unplanned failover moved the cluster on without \
         it); it takes no writes: use the new primary region, or `pharos dr failback` to bring it back"
    )]
    Fenced { generation: u64 },
    /// The command's kind needs a feature level the cluster has not committed.
    #[error(
        "this request needs feature level {required}, and the cluster is at level {committed}: once every member \
         runs a release that supports it, run `pharos cluster feature-level upgrade`"
    )]
    FeatureLevelTooLow { required: u32, committed: u32 },
    /// A member's build does not support the feature level a change needs.
    #[error("node {node_id} supports feature levels up to {supported}, and this needs level {level}{hint}")]
    FeatureLevelNotSupported { node_id: NodeId, supported: u32, level: u32, hint: &'static str },
}

/// A point-in-time view of the node for `cluster status`.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub node_id: NodeId,
    pub state: ServerState,
    pub term: u64,
    pub leader_id: Option<NodeId>,
    pub last_log_index: u64,
    /// Highest index this node knows committed and holds locally.
    pub commit_index: u64,
    /// Highest index the leader reported committed by a quorum (may lead `commit_index`).
    pub cluster_commit_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    pub joint_consensus: bool,
    pub voters: BTreeSet<NodeId>,
    pub members: BTreeMap<NodeId, NodeInfo>,
    /// On the leader: the last log index each member is known to hold.
    pub matched: Option<BTreeMap<NodeId, u64>>,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

/// One running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    /// Private: callers get narrow methods, so what the server may do with Raft is listed here.
    raft: Raft,
    pub state_machine: StateMachineStore,
    pub identity: Arc<ClusterIdentity>,
    pub info: NodeInfo,
    /// Generations above ours that this node has heard of (it is fenced when there is one).
    pub fence: Arc<GenerationFence>,
    /// When a leader last reached this node, and the DR state it announced.
    pub leader_contact: Arc<LeaderContact>,
    /// As leader in `dr-sync`/`sync`: until when it will not leave `sync` (set by the DR runtime).
    pub sync_promise: Arc<SyncPromise>,
    /// Closed until the server decides this node may take part in Raft (see `RaftGate`).
    pub raft_gate: Arc<RaftGate>,
    storage: Storage,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Node")
            .field("identity", &self.identity)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] crate::storage::StorageOpenError),
    #[error("cannot read the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("raft failed to start: {0}")]
    Raft(String),
}

impl Node {
    /// Opens `storage` and starts openraft with `identity`. Does not initialize a cluster.
    pub async fn start(
        storage: Storage,
        identity: ClusterIdentity,
        info: NodeInfo,
        tuning: &RaftTuning,
    ) -> Result<Node, StartError> {
        let config = openraft::Config {
            cluster_name: identity.cluster_id.clone(),
            heartbeat_interval: tuning.heartbeat_interval_ms,
            election_timeout_min: tuning.election_timeout_min_ms,
            election_timeout_max: tuning.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(tuning.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: tuning.logs_to_keep_after_snapshot,
            install_snapshot_timeout: 30_000,
            enable_pre_vote: Some(true),
            // A leader restarted must win an election (a new term, a new blank entry) before
            // it serves: restored as leader in its old term, its ReadIndex is the larger of that
            // term's first entry and its local committed index, and both the committed marker
            // and the state machine's applies are written without fsync (the log is fsynced
            // and re-applied from). After a power cut both were rolled back, and a
            // linearizable read returned a value older than an acknowledged write
            // (`power-cut-all`, docs/testing.md; openraft documents exactly this hazard).
            // Regression: server/tests/power_loss.rs.
            enable_leader_restore: Some(false),
            ..Default::default()
        }
        .validate()
        .map_err(|error| StartError::Config(error.to_string()))?;
        let state_machine = StateMachineStore::open_at_feature_level(storage.clone(), info.supported_feature_level())?;
        let fence = Arc::new(GenerationFence::load(&storage, identity.generation)?);
        let sync_promise = Arc::new(SyncPromise::default());
        let announcer = DrAnnouncer::new(state_machine.clone(), sync_promise.clone());
        let network = PeerNetwork::new(identity.clone(), fence.clone(), announcer);
        let raft = Raft::new(
            identity.node_id,
            Arc::new(config),
            network,
            LogStore::new(storage.clone()),
            state_machine.clone(),
        )
        .await
        .map_err(|error| StartError::Raft(error.to_string()))?;
        tokio::spawn(count_leader_changes(raft.clone()));
        Ok(Node {
            raft,
            state_machine,
            identity: Arc::new(identity),
            info,
            fence,
            leader_contact: Arc::default(),
            sync_promise,
            raft_gate: Arc::default(),
            storage,
        })
    }

    /// Opens the storage of `data_dir` (for callers that must read the identity first).
    pub fn open_storage(data_dir: &Path) -> Result<Storage, StartError> {
        Ok(Storage::open(data_dir)?)
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The peer-port gRPC service of this node.
    pub fn peer_service(&self) -> PeerService {
        PeerService::new(
            self.raft.clone(),
            (*self.identity).clone(),
            self.fence.clone(),
            self.leader_contact.clone(),
            self.raft_gate.clone(),
        )
    }

    /// Whether this node leads, as far as it knows (no quorum check: see
    /// [`Self::linearizable_barrier`] for that).
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// Whether Raft still runs (it stops for good on a fatal storage error).
    pub fn is_raft_running(&self) -> bool {
        self.raft.metrics().borrow_watched().running_state.is_ok()
    }

    /// On the leader: how long ago a quorum last acknowledged it.
    pub fn since_quorum_ack(&self) -> Option<Duration> {
        use openraft::Instant as _;
        self.raft.metrics().borrow_watched().last_quorum_acked.as_ref().map(|acked| acked.elapsed())
    }

    /// The shortest election timeout: how long a leader that lost its quorum may still believe
    /// it leads.
    pub fn election_timeout_min_ms(&self) -> u64 {
        self.raft.config().election_timeout_min
    }

    pub async fn is_initialized(&self) -> Result<bool, NodeError> {
        self.raft.is_initialized().await.map_err(|error| NodeError::Stopped(error.to_string()))
    }

    /// Whether the membership Raft holds names this node. Asked of Raft itself: right after
    /// [`Self::start`] its metrics (what [`Self::status`] reads) may not show the loaded log yet.
    pub async fn is_member(&self) -> Result<bool, NodeError> {
        let node_id = self.identity.node_id;
        self.raft
            .with_raft_state(move |state| state.membership_state.effective().membership().get_node(&node_id).is_some())
            .await
            .map_err(|error| NodeError::Stopped(error.to_string()))
    }

    /// Initializes a new cluster with `voters` (same call, same arguments, on every bootstrap
    /// voter). A no-op error from an already initialized node is not an error here.
    pub async fn initialize(&self, voters: BTreeMap<NodeId, NodeInfo>) -> Result<(), NodeError> {
        match self.raft.initialize(voters).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(error) => Err(NodeError::InvalidMembership(error.to_string())),
        }
    }

    fn forward_error(&self, forward: &openraft::error::ForwardToLeader<TypeConfig>) -> NodeError {
        NodeError::NotLeader {
            leader_id: forward.leader_id,
            leader_client_addr: forward
                .leader_node
                .as_ref()
                .map(|node| node.client_addr.clone())
                .filter(|address| !address.is_empty()),
        }
    }

    fn write_error(&self, error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> NodeError {
        match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => self.forward_error(&forward),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(error)) => {
                NodeError::InvalidMembership(error.to_string())
            }
            RaftError::APIError(other) => NodeError::Unknown(other.to_string()),
            RaftError::Fatal(fatal) => NodeError::Stopped(fatal.to_string()),
        }
    }

    /// Refuses when a higher generation exists (this node was failed over).
    pub fn check_fence(&self) -> Result<(), NodeError> {
        match self.fence.fenced_by() {
            Some(generation) => Err(NodeError::Fenced { generation }),
            None => Ok(()),
        }
    }

    /// Proposes `command` and waits until it is committed and applied, and, in `dr-sync` mode
    /// while the DR state is `sync`, until a DR-region learner holds it. Leader only.
    pub async fn write(&self, command: Command) -> Result<(Response, LogId), NodeError> {
        self.check_fence()?;
        // Nothing the committed level does not allow reaches the log: an older member could not
        // apply it (docs/adr/0026-feature-levels.md). The level only rises, so a check that
        // passes here still holds when the entry applies.
        let required = pharos_meta::feature::required_level(&command.operation);
        let mut committed = self.state_machine.read().state.committed_feature_level();
        if required > committed {
            committed = self.wait_for_first_feature_level().await;
        }
        if required > committed {
            return Err(NodeError::FeatureLevelTooLow { required, committed });
        }
        let started = std::time::Instant::now();
        let response = self.raft.client_write(command).await.map_err(|error| self.write_error(error))?;
        self.wait_for_dr_region(response.log_id.index).await?;
        crate::metrics::PROPOSAL.observe(started.elapsed());
        Ok((response.data, response.log_id))
    }

    /// The committed feature level, after waiting (at most [`FIRST_FEATURE_LEVEL_WAIT`]) for a
    /// first one to be recorded when none is yet. Answers at once when one is recorded.
    async fn wait_for_first_feature_level(&self) -> u32 {
        let mut applied = self.state_machine.subscribe();
        let deadline = tokio::time::Instant::now() + FIRST_FEATURE_LEVEL_WAIT;
        loop {
            {
                let state = &self.state_machine.read().state;
                if state.feature_level != 0 {
                    return state.committed_feature_level();
                }
            }
            match tokio::time::timeout_at(deadline, applied.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.state_machine.read().state.committed_feature_level(),
            }
        }
    }

    /// In `dr-sync`/`sync`, waits until a learner of the DR region holds log `index`. Ends early
    /// when the committed DR state stops requiring it (the leader's runtime switched to `async`
    /// after `dr_sync_timeout_ms`). Bounded: the entry is committed, so a timeout is reported
    /// as an unknown outcome and a retry with the same request id gets the remembered answer.
    async fn wait_for_dr_region(&self, index: u64) -> Result<(), NodeError> {
        let mut metrics = self.raft.metrics();
        let mut applied = self.state_machine.subscribe();
        let mut deadline = None;
        loop {
            let (dr_region, timeout_ms) = {
                let state = self.state_machine.read();
                if !state.state.dr.waits_for_dr() {
                    return Ok(());
                }
                (state.state.dr.dr_region.clone(), state.state.dr.dr_sync_timeout_ms)
            };
            {
                let metrics = metrics.borrow_watched();
                let Some(replication) = metrics.replication.as_ref() else {
                    return Err(NodeError::Unknown(format!(
                        "entry {index} is committed, but leadership was lost before the DR region acknowledged it"
                    )));
                };
                let membership = metrics.membership_config.membership();
                let acknowledged = replication.iter().any(|(node_id, matched)| {
                    matched.is_some_and(|log_id| log_id.index >= index)
                        && membership.get_node(node_id).is_some_and(|node| node.region == dr_region)
                });
                if acknowledged {
                    return Ok(());
                }
            }
            // Twice the switch timeout plus slack: the runtime switches to async well before.
            let deadline = *deadline.get_or_insert_with(|| {
                tokio::time::Instant::now() + Duration::from_millis(timeout_ms.saturating_mul(2) + 2_000)
            });
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() {
                    return Err(NodeError::Stopped("raft metrics closed".into()));
                },
                changed = applied.changed() => if changed.is_err() {
                    return Err(NodeError::Stopped("state machine closed".into()));
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(NodeError::Unknown(format!(
                        "entry {index} is committed, but no DR-region learner acknowledged it in time"
                    )));
                }
            }
        }
    }

    /// Waits until the local state machine reflects every write committed before this call
    /// (read-index: the leader confirms its leadership with a quorum). Leader only.
    pub async fn linearizable_barrier(&self) -> Result<(), NodeError> {
        self.check_fence()?;
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(self.forward_error(&forward))
            }
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(error))) => {
                Err(NodeError::NoQuorum(error.to_string()))
            }
            Err(RaftError::Fatal(fatal)) => Err(NodeError::Stopped(fatal.to_string())),
        }
    }

    /// The leader as this node knows it, with its client address when known.
    pub fn leader(&self) -> (Option<NodeId>, Option<String>) {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let leader = metrics.current_leader;
        let address = leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|node| node.client_addr.clone())
                .filter(|address| !address.is_empty())
        });
        (leader, address)
    }

    /// `(node_id, applied_index, highest known commit index)`, cheaply: for read headers.
    pub fn read_position(&self) -> (NodeId, u64, u64) {
        // The applied index comes from the state machine itself: openraft's metrics learn of
        // an apply a moment later, so a write's answer read them one index behind its own
        // revision (issue 11, bug 4).
        let applied_index = self.state_machine.read().last_applied.map_or(0, |log_id| log_id.index);
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let index = |log_id: Option<LogId>| log_id.map_or(0, |log_id| log_id.index);
        let known_commit = index(metrics.local_committed).max(index(metrics.cluster_committed)).max(applied_index);
        (metrics.id, applied_index, known_commit)
    }

    /// This node's leadership while it leads: the leader id `(term, node_id)`. Leader-side soft
    /// state (broker leases, DR) is keyed on it, so it is rebuilt whenever a leadership begins.
    pub fn leadership(&self) -> Option<(u64, NodeId)> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let leads = metrics.state == ServerState::Leader && metrics.current_leader == Some(metrics.id);
        leads.then_some((metrics.vote.leader_id.term, metrics.id))
    }

    /// Why this node will not take a write: fenced by a newer generation (checked first, so a
    /// fenced follower never redirects clients to its fenced old leader), or not the leader.
    pub fn not_leader_error(&self) -> NodeError {
        if let Some(generation) = self.fence.fenced_by() {
            return NodeError::Fenced { generation };
        }
        let (leader_id, leader_client_addr) = self.leader();
        NodeError::NotLeader { leader_id, leader_client_addr }
    }

    // `millis_since_quorum_ack` is deprecated for an Instant we cannot put on the wire.
    #[allow(deprecated)]
    pub fn status(&self) -> NodeStatus {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        NodeStatus {
            node_id: metrics.id,
            state: metrics.state,
            term: metrics.current_term,
            leader_id: metrics.current_leader,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            commit_index: metrics.local_committed.map_or(0, |log_id| log_id.index),
            cluster_commit_index: metrics.cluster_committed.map_or(0, |log_id| log_id.index),
            applied_index: metrics.last_applied.map_or(0, |log_id| log_id.index),
            snapshot_index: metrics.snapshot.map_or(0, |log_id| log_id.index),
            purged_index: metrics.purged.map_or(0, |log_id| log_id.index),
            joint_consensus: membership.get_joint_config().len() > 1,
            voters: membership.voter_ids().collect(),
            members: membership.nodes().map(|(id, node)| (*id, node.clone())).collect(),
            matched: metrics.replication.as_ref().map(|replication| {
                replication.iter().map(|(id, matched)| (*id, matched.map_or(0, |log_id| log_id.index))).collect()
            }),
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
        }
    }

    /// Refuses unless this node is the leader and not fenced: the check before every write,
    /// membership change and leader-only soft-state answer.
    pub fn ensure_leader(&self) -> Result<(), NodeError> {
        self.check_fence()?;
        if self.raft.is_leader() { Ok(()) } else { Err(self.not_leader_error()) }
    }

    /// Applies one membership change, waiting (bounded) while another one is still in flight:
    /// openraft runs one change at a time, and two nodes joining at once, or a switchover step
    /// next to a promotion, must queue rather than fail.
    async fn change_membership(&self, changes: ChangeMembers<NodeId, NodeInfo>, retain: bool) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + MEMBERSHIP_CHANGE_WAIT;
        loop {
            match self.raft.change_membership(changes.clone(), retain).await {
                Ok(_) => return Ok(()),
                Err(error) if is_in_progress(&error) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(MEMBERSHIP_CHANGE_RETRY).await;
                }
                Err(error) => return Err(self.write_error(error)),
            }
        }
    }

    /// Refuses `level` unless every voter and learner advertises it (and so runs a release
    /// that knows feature levels), this node included
    /// (docs/adr/0026-feature-levels.md). Leader only. Checked against the newest membership
    /// in the log, committed or not, so a member being added is counted.
    pub fn check_members_support(&self, level: u32) -> Result<(), NodeError> {
        self.ensure_leader()?;
        let status = self.status();
        let own = (self.identity.node_id, self.info.feature_level_max);
        let members = status.members.iter().map(|(node_id, info)| (*node_id, info.feature_level_max));
        // A member that advertises nothing runs a release that predates feature levels: it could
        // not even decode the `SetFeatureLevel` entry, whatever level it sets.
        let lacking = |(_, advertised): &(NodeId, u32)| *advertised == 0 || *advertised < level;
        match std::iter::once(own).chain(members).find(lacking) {
            Some((node_id, advertised)) => Err(NodeError::FeatureLevelNotSupported {
                node_id,
                supported: pharos_meta::feature::effective(advertised),
                level,
                hint: if advertised == 0 {
                    " (it runs a release that predates feature levels, which cannot read the change): upgrade it \
                     (or remove it) first"
                } else {
                    ": upgrade it (or remove it) first; `pharos cluster feature-level show` lists every member"
                },
            }),
            None => Ok(()),
        }
    }

    /// The newest feature level every voter and learner advertises (members whose record is not
    /// in yet count as the baseline), or `None` while some member advertises nothing.
    pub fn members_feature_level(&self) -> Option<u32> {
        let status = self.status();
        let advertised: Vec<u32> = status.members.values().map(|info| info.feature_level_max).collect();
        if advertised.is_empty() || advertised.contains(&0) {
            return None;
        }
        advertised.into_iter().min().map(|level| level.min(self.info.supported_feature_level()))
    }

    /// Adds `node_id` as a learner (returns once the membership change is committed).
    pub async fn add_learner(&self, node_id: NodeId, info: NodeInfo) -> Result<(), NodeError> {
        self.ensure_leader()?;
        let committed = self.state_machine.read().state.committed_feature_level();
        if info.supported_feature_level() < committed {
            return Err(NodeError::FeatureLevelNotSupported {
                node_id,
                supported: info.supported_feature_level(),
                level: committed,
                hint: ", the cluster's committed level: it would stop at the first entry it cannot apply; start it \
                       with a newer release",
            });
        }
        let status = self.status();
        if let Some(existing) = status.members.get(&node_id)
            && existing.peer_addr != info.peer_addr
        {
            return Err(NodeError::InvalidMembership(format!(
                "node id {node_id} is already a member at peer address {}",
                existing.peer_addr
            )));
        }
        let deadline = tokio::time::Instant::now() + MEMBERSHIP_CHANGE_WAIT;
        loop {
            match self.raft.add_learner(node_id, info.clone(), false).await {
                Ok(_) => break,
                Err(error) if is_in_progress(&error) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(MEMBERSHIP_CHANGE_RETRY).await;
                }
                Err(error) => return Err(self.write_error(error)),
            }
        }
        Ok(())
    }

    /// Learner -> voter through joint consensus. Convergent: promoting a voter changes nothing
    /// and succeeds, so a retry after a lost answer is safe. `Ok(false)`: it was a voter already.
    pub async fn promote(&self, node_id: NodeId) -> Result<bool, NodeError> {
        self.ensure_leader()?;
        let status = self.status();
        if !status.members.contains_key(&node_id) {
            return Err(NodeError::InvalidMembership(format!("node {node_id} is not a member; join it first")));
        }
        if status.voters.contains(&node_id) {
            return Ok(false);
        }
        self.change_membership(ChangeMembers::AddVoterIds([node_id].into()), true).await?;
        Ok(true)
    }

    /// Adds several learners as voters in one joint-consensus change (a switchover's first step).
    pub async fn promote_all(&self, node_ids: BTreeSet<NodeId>) -> Result<BTreeSet<NodeId>, NodeError> {
        self.ensure_leader()?;
        let status = self.status();
        if let Some(missing) = node_ids.iter().find(|id| !status.members.contains_key(id)) {
            return Err(NodeError::InvalidMembership(format!("node {missing} is not a member; join it first")));
        }
        self.change_membership(ChangeMembers::AddVoterIds(node_ids), true).await?;
        Ok(self.status().voters)
    }

    /// Makes exactly `voters` the voters through joint consensus; the members left out stay
    /// as learners (a switchover's demotion of the old region).
    pub async fn set_voters(&self, voters: BTreeSet<NodeId>) -> Result<(), NodeError> {
        self.ensure_leader()?;
        if voters.is_empty() {
            return Err(NodeError::InvalidMembership("a cluster needs at least one voter".into()));
        }
        self.change_membership(ChangeMembers::ReplaceAllVoters(voters), true).await?;
        Ok(())
    }

    /// Moves a joint configuration (left by a leader that died between the two steps of a change)
    /// to its newer half. No-op when the membership is uniform.
    pub async fn leave_joint(&self) -> Result<(), NodeError> {
        self.ensure_leader()?;
        let newer = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow_watched();
            let configs = metrics.membership_config.membership().get_joint_config().clone();
            if configs.len() < 2 {
                return Ok(());
            }
            configs.last().cloned().unwrap_or_default()
        };
        self.change_membership(ChangeMembers::ReplaceAllVoters(newer), true).await
    }

    /// Removes a voter or a learner from the cluster. Convergent: removing a node that is not a
    /// member changes nothing and succeeds. `Ok(false)`: it was not a member.
    pub async fn remove(&self, node_id: NodeId) -> Result<bool, NodeError> {
        self.ensure_leader()?;
        let status = self.status();
        if !status.members.contains_key(&node_id) {
            return Ok(false);
        }
        if status.voters.contains(&node_id) {
            if status.voters.len() == 1 {
                return Err(NodeError::InvalidMembership("cannot remove the last voter".to_string()));
            }
            self.change_membership(ChangeMembers::RemoveVoters([node_id].into()), false).await?;
        } else {
            self.change_membership(ChangeMembers::RemoveNodes([node_id].into()), false).await?;
        }
        Ok(true)
    }

    /// Records a member's current addresses and placement in the membership.
    pub async fn update_member(&self, node_id: NodeId, info: NodeInfo) -> Result<(), NodeError> {
        self.ensure_leader()?;
        if !self.status().members.contains_key(&node_id) {
            return Err(NodeError::InvalidMembership(format!("node {node_id} is not a member")));
        }
        self.change_membership(ChangeMembers::SetNodes([(node_id, info)].into()), true).await?;
        Ok(())
    }

    /// Hands leadership to `node_id` and waits (bounded) until it has taken over.
    pub async fn transfer_leader(&self, node_id: NodeId, timeout: Duration) -> Result<NodeId, NodeError> {
        self.ensure_leader()?;
        let status = self.status();
        if !status.voters.contains(&node_id) {
            return Err(NodeError::InvalidMembership(format!("node {node_id} is not a voter")));
        }
        if status.leader_id == Some(node_id) {
            return Ok(node_id);
        }
        self.raft.trigger().transfer_leader(node_id).await.map_err(|error| NodeError::Stopped(error.to_string()))?;
        let waited = self
            .raft
            .wait(Some(timeout))
            .metrics(|metrics| metrics.current_leader == Some(node_id), "leadership transferred")
            .await;
        match waited {
            Ok(_) => Ok(node_id),
            Err(error) => Err(NodeError::Timeout(format!("leadership did not move to node {node_id}: {error}"))),
        }
    }

    /// Builds a snapshot of the applied state and purges the log up to it. Returns
    /// `(snapshot_index, purged_index)`.
    pub async fn compact(&self, timeout: Duration) -> Result<(u64, u64), NodeError> {
        let applied = self.status().applied_index;
        self.raft.trigger().snapshot().await.map_err(|error| NodeError::Stopped(error.to_string()))?;
        let snapshot = self
            .raft
            .wait(Some(timeout))
            .metrics(|metrics| metrics.snapshot.is_some_and(|log_id| log_id.index >= applied), "snapshot built")
            .await
            .map_err(|error| NodeError::Timeout(error.to_string()))?
            .snapshot
            .map_or(0, |log_id| log_id.index);
        self.raft.trigger().purge_log(snapshot).await.map_err(|error| NodeError::Stopped(error.to_string()))?;
        let purged = self
            .raft
            .wait(Some(timeout))
            .metrics(|metrics| metrics.purged.is_some_and(|log_id| log_id.index >= snapshot), "log purged")
            .await
            .map_err(|error| NodeError::Timeout(error.to_string()))?
            .purged
            .map_or(0, |log_id| log_id.index);
        Ok((snapshot, purged))
    }

    pub async fn shutdown(&self) {
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "raft shutdown failed");
        }
    }
}

/// Counts the leader changes this node sees (`metrics::LEADER_CHANGES`); ends with Raft.
async fn count_leader_changes(raft: Raft) {
    let mut metrics = raft.metrics();
    let mut leader = metrics.borrow_watched().current_leader;
    while metrics.changed().await.is_ok() {
        let now = metrics.borrow_watched().current_leader;
        if now != leader {
            leader = now;
            crate::metrics::LEADER_CHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
