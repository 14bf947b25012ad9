//! Disaster recovery on the Raft leader (docs/architecture.md, "Regions and disaster recovery"): observe, ask the pure planners in
//! `pharos_dr`, act, record.
//!
//! Every `PASS_INTERVAL` the leader
//! 1. commits the failover record first if it is the seed of a new generation;
//! 2. fills in the placement policy from the membership when none is configured (primary = the
//!    voters' region, DR = the learners' region);
//! 3. follows the DR region's lag (entries, and milliseconds from a bounded record of when each
//!    index was appended) and commits `dr-sync` state switches (`pharos_dr::sync_mode`);
//! 4. drives the switchover in progress, one idempotent step per pass
//!    (`pharos_dr::switchover::next_action`): the committed `DrOperation` is the intent, the
//!    membership and masters are the observation, so a new leader resumes where the last one
//!    stopped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_dr::election::ElectionRequest;
use pharos_dr::switchover::{self, Action, GroupPlacement, Member, Observation};
use pharos_dr::sync_mode::{self, BehindTracker, DrObservation};
use pharos_meta::{BrokerState, CommandError, DrCommand, DrOperation, Operation, Response, State};
use pharos_replication::{Node, NodeError, NodeStatus};

use crate::brokers::BrokerRuntime;

/// How often the leader re-plans DR.
pub const PASS_INTERVAL: Duration = Duration::from_millis(100);
/// Append times remembered for lag in milliseconds (one sample per pass at most).
const APPEND_SAMPLES_MAX: usize = 10_000;
/// How long leadership may take to move during a switchover.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);

/// Leader soft state, rebuilt from scratch whenever this node's leadership begins.
#[derive(Debug, Default)]
struct Soft {
    /// The leader id `(term, node_id)` this state was built under.
    leadership: Option<(u64, u64)>,
    behind: BehindTracker,
    /// `(last log index, ms)`: when the leader's log first reached each sampled index.
    appended: VecDeque<(u64, u64)>,
    /// Per member: how long the oldest entry it lacks has been waiting, in milliseconds.
    lag_ms: BTreeMap<u64, u64>,
    /// What the switchover in progress is doing or waiting for, for `dr status`.
    progress: String,
}

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct DrRuntime {
    node: Node,
    brokers: BrokerRuntime,
    started: Instant,
    soft: Arc<Mutex<Soft>>,
}

impl DrRuntime {
    pub fn new(node: Node, brokers: BrokerRuntime) -> Self {
        DrRuntime { node, brokers, started: Instant::now(), soft: Arc::default() }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn soft(&self) -> std::sync::MutexGuard<'_, Soft> {
        self.soft.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lag in milliseconds per member (leader only; empty elsewhere).
    pub fn lag_ms(&self) -> BTreeMap<u64, u64> {
        if self.node.is_leader() { self.soft().lag_ms.clone() } else { BTreeMap::new() }
    }

    /// What the switchover in progress is doing (leader only: elsewhere it would be stale).
    pub fn progress(&self) -> String {
        if self.node.is_leader() { self.soft().progress.clone() } else { String::new() }
    }

    /// Runs the two leader loops until `shutdown`: replication (lag, sync state) and operations
    /// (failover record, placement, switchover). Apart, so a switchover step whose write waits
    /// for a vanished DR region never delays the switch to `async` that releases it.
    pub async fn run(self, shutdown: crate::shutdown::Shutdown) {
        tokio::join!(
            crate::handler::every_leader_pass(&self.node, PASS_INTERVAL, shutdown.clone().wait(), || {
                self.replication_pass()
            }),
            crate::handler::every_leader_pass(&self.node, PASS_INTERVAL, shutdown.wait(), || self.operation_pass()),
        );
    }

    async fn operation_pass(&self) {
        if self.commit_pending_failover().await {
            return;
        }
        let status = self.node.status();
        let dr = self.node.state_machine.read().state.dr.clone();
        if let Some(command) = default_placement(&status, &dr) {
            self.propose(command).await;
            return;
        }
        if let Some(operation) = dr.operation {
            self.drive(&operation, &status).await;
        }
    }

    async fn replication_pass(&self) {
        let status = self.node.status();
        let dr = self.node.state_machine.read().state.dr.clone();
        let dr_matched_index = self.observe_lag(&status, &dr.dr_region);
        if self.node.identity.generation > dr.generation {
            // A seed whose failover record is not committed yet: its DR record is the old one.
            self.node.sync_promise.withdraw();
            return;
        }
        let now = self.now_ms();
        let dr_behind_ms = self.soft().behind.observe(now, status.commit_index, dr_matched_index);
        let observed = DrObservation { commit_index: status.commit_index, dr_matched_index, dr_behind_ms };
        self.announce_sync_promise(&dr, &observed);
        if let Some((expected_dr_state_id, state)) = sync_mode::plan(&dr, &observed) {
            tracing::warn!(
                from = dr.state.as_str(),
                to = state.as_str(),
                dr_behind_ms,
                ?dr_matched_index,
                commit_index = status.commit_index,
                "switching the DR sync state"
            );
            self.propose(DrCommand::SwitchState { expected_dr_state_id, state }).await;
        }
    }

    /// Publishes until when this leader will not leave `sync`; withdrawn whenever it cannot say
    /// (and, since `sync_promise_until` gives none when a switch is due, before proposing one).
    fn announce_sync_promise(&self, dr: &pharos_meta::DrRecord, observed: &DrObservation) {
        let now_wall_ms = pharos_replication::codec::unix_ms();
        let quorum_acked_wall_ms = self.node.since_quorum_ack().map(|since| {
            let since = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
            now_wall_ms.saturating_sub(since)
        });
        let lease_ms = self.node.election_timeout_min_ms();
        match sync_mode::sync_promise_until(dr, observed, now_wall_ms, quorum_acked_wall_ms, lease_ms) {
            Some(until_ms) => self.node.sync_promise.promise(dr.dr_state_id, until_ms),
            None => self.node.sync_promise.withdraw(),
        }
    }

    /// Samples append times and computes per-member lag; returns the highest index any member
    /// of `dr_region` holds.
    fn observe_lag(&self, status: &NodeStatus, dr_region: &str) -> Option<u64> {
        let now = self.now_ms();
        let mut soft = self.soft();
        let leadership = self.node.leadership();
        if soft.leadership != leadership {
            *soft = Soft { leadership, ..Soft::default() };
        }
        if soft.appended.back().is_none_or(|(index, _)| *index < status.last_log_index) {
            soft.appended.push_back((status.last_log_index, now));
            if soft.appended.len() > APPEND_SAMPLES_MAX {
                soft.appended.pop_front();
            }
        }
        let matched = status.matched.clone().unwrap_or_default();
        let mut lag_ms = BTreeMap::new();
        for (node_id, matched_index) in &matched {
            let waiting_since = if *matched_index >= status.last_log_index {
                now
            } else {
                // The first sample past what the member holds: its oldest missing entry was
                // appended no later than that.
                soft.appended
                    .iter()
                    .find(|(index, _)| index > matched_index)
                    .or(soft.appended.front())
                    .map_or(now, |(_, at)| *at)
            };
            lag_ms.insert(*node_id, now.saturating_sub(waiting_since));
        }
        soft.lag_ms = lag_ms;
        if dr_region.is_empty() {
            return None;
        }
        matched
            .iter()
            .filter(|(node_id, _)| **node_id != status.node_id)
            .filter(|(node_id, _)| status.members.get(node_id).is_some_and(|info| info.region == dr_region))
            .map(|(_, matched_index)| *matched_index)
            .max()
    }

    /// A seed of a new generation commits its failover record before anything else.
    async fn commit_pending_failover(&self) -> bool {
        let pending = match pharos_replication::reform::load_pending_failover(self.node.storage()) {
            Ok(Some(command)) => command,
            Ok(None) => return false,
            Err(error) => {
                tracing::error!(%error, "cannot read the pending failover record");
                return true;
            }
        };
        let already = self.node.state_machine.read().state.dr.generation >= self.node.identity.generation;
        let done = already || {
            let command = crate::handler::command(pending.operation, None, pending.actor);
            match self.node.write(command).await {
                Ok((Response::Error(CommandError::StaleGeneration { .. }), _)) | Ok(_) => true,
                Err(error) => {
                    tracing::warn!(%error, "cannot commit the failover record yet");
                    false
                }
            }
        };
        if done {
            if let Err(error) = pharos_replication::reform::clear_pending_failover(self.node.storage()) {
                tracing::error!(%error, "cannot clear the pending failover record");
            }
            tracing::warn!(
                generation = self.node.identity.generation,
                "failover recorded: the new generation is serving"
            );
        }
        true
    }

    async fn drive(&self, operation: &DrOperation, status: &NodeStatus) {
        let observed = {
            let applied = self.node.state_machine.read();
            observe(status, &applied.state, operation, &self.brokers.pending_failovers())
        };
        let action = switchover::next_action(operation, &observed);
        let progress = format!("{}: {action:?}", operation.step.as_str());
        {
            let mut soft = self.soft();
            if soft.progress != progress {
                tracing::info!(operation = operation.id, %progress, "switchover");
                soft.progress = progress;
            }
        }
        let outcome = match action {
            Action::Promote(node_ids) => self.node.promote_all(node_ids.into_iter().collect()).await.map(|_| ()),
            Action::TransferLeader(node_id) => self.node.transfer_leader(node_id, TRANSFER_TIMEOUT).await.map(|_| ()),
            Action::SetVoters(voters) => self.node.set_voters(voters.into_iter().collect()).await,
            Action::LeaveJoint => self.node.leave_joint().await,
            Action::Advance(step) => {
                self.propose(DrCommand::AdvanceSwitchover { operation_id: operation.id, step }).await;
                Ok(())
            }
            Action::MoveMaster { group, to } => self.move_master(&group, to).await,
            Action::Wait(_) => Ok(()),
            Action::Finish => {
                self.propose(DrCommand::FinishSwitchover { operation_id: operation.id, error: None }).await;
                Ok(())
            }
            Action::Abort(reason) => {
                tracing::error!(operation = operation.id, %reason, "switchover abandoned");
                self.propose(DrCommand::FinishSwitchover { operation_id: operation.id, error: Some(reason) }).await;
                Ok(())
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(operation = operation.id, step = operation.step.as_str(), %error, "switchover step failed; retrying");
            self.soft().progress = format!("{}: retrying after: {error}", operation.step.as_str());
        }
    }

    async fn move_master(&self, group: &str, to: u64) -> Result<(), NodeError> {
        let Some(record) = self.node.state_machine.read().state.groups.get(group).cloned() else { return Ok(()) };
        let request = ElectionRequest {
            to: Some(to),
            unclean: false,
            exclude: record.master_broker_id.into_iter().collect(),
            request_id: None,
        };
        tracing::info!(%group, to, "switchover: moving the master into the new primary region");
        if let Some(Response::Error(error)) =
            self.brokers.begin_failover(&record, request, "coordinator (switchover)".to_string()).await?
        {
            tracing::info!(%group, %error, "master move refused; will retry");
        }
        Ok(())
    }

    /// Commits a DR command decided by this leader; a refusal means the state moved on.
    async fn propose(&self, command: DrCommand) -> bool {
        let kind = command.kind();
        match self.node.write(crate::handler::command(Operation::Dr(command), None, "coordinator".into())).await {
            Ok((Response::Error(error), _)) => {
                tracing::info!(%error, kind, "DR change refused (state moved on)");
                false
            }
            Ok(_) => true,
            Err(NodeError::NotLeader { .. }) => false,
            Err(error) => {
                tracing::warn!(%error, kind, "cannot commit DR change");
                false
            }
        }
    }
}

/// The placement the membership implies when none is configured
/// (`pharos_dr::placement::default_placement`), read from this leader's status.
fn default_placement(status: &NodeStatus, dr: &pharos_meta::DrRecord) -> Option<DrCommand> {
    let leader_region = status.members.get(&status.node_id).map(|info| info.region.as_str()).unwrap_or_default();
    let members: Vec<pharos_dr::placement::Member<'_>> = status
        .members
        .iter()
        .map(|(node_id, info)| pharos_dr::placement::Member {
            node_id: *node_id,
            region: &info.region,
            voter: status.voters.contains(node_id),
        })
        .collect();
    pharos_dr::placement::default_placement(dr, leader_region, &members)
}

/// What the switchover planner needs, from the leader's status and the committed state.
pub fn observe(status: &NodeStatus, state: &State, operation: &DrOperation, moving: &BTreeSet<String>) -> Observation {
    let matched = status.matched.clone().unwrap_or_default();
    let members = status
        .members
        .iter()
        .map(|(node_id, info)| Member {
            node_id: *node_id,
            region: info.region.clone(),
            voter: status.voters.contains(node_id),
            matched_index: if *node_id == status.node_id {
                status.last_log_index
            } else {
                matched.get(node_id).copied().unwrap_or(0)
            },
        })
        .collect();
    let groups = group_placements(state, &operation.to_region, moving);
    Observation {
        leader_id: status.leader_id.unwrap_or(status.node_id),
        last_log_index: status.last_log_index,
        joint: status.joint_consensus,
        members,
        groups,
        step_age_ms: crate::handler::unix_ms().saturating_sub(operation.step_at_ms),
    }
}

/// Every group's master region (of groups whose masters Pharos elects), and the best clean candidate in `to_region`: an active broker
/// of the sync state set (or registered again under a synced name), highest priority first.
pub fn group_placements(state: &State, to_region: &str, moving: &BTreeSet<String>) -> Vec<GroupPlacement> {
    state
        .groups
        .values()
        // Masters its brokers declare are theirs to move (docs/rocketmq.md), not a switchover's.
        .filter(|group| group.election_mode.coordinator_elects())
        .map(|group| {
            let master_region = group
                .master_broker_id
                .and_then(|id| state.brokers.get(&id))
                .filter(|broker| broker.state == BrokerState::Active)
                .map(|broker| broker.region.clone());
            let synced_names: BTreeSet<&str> = group
                .sync_state_set
                .iter()
                .filter_map(|id| state.brokers.get(id))
                .map(|broker| broker.name.as_str())
                .collect();
            let in_target = || {
                group
                    .members
                    .iter()
                    .filter_map(|id| state.brokers.get(id))
                    .filter(|broker| broker.state == BrokerState::Active && broker.region == to_region)
            };
            let target_candidate = in_target()
                .filter(|broker| {
                    group.sync_state_set.contains(&broker.broker_id) || synced_names.contains(broker.name.as_str())
                })
                .max_by_key(|broker| (broker.election_priority, std::cmp::Reverse(broker.broker_id)))
                .map(|broker| broker.broker_id);
            GroupPlacement {
                group: group.name.clone(),
                master_region,
                target_candidate,
                target_brokers: in_target().count(),
                moving: moving.contains(&group.name),
            }
        })
        .collect()
}
