//! The RocketMQ Controller on the remoting port (docs/rocketmq.md, "Controller mode"): the
//! leader's answers to brokers in controller mode.
//!
//! Ids, registrations and sync state sets are Raft writes, and only when something changes: a
//! broker that registers again as what the state holds, or asks for what it has, writes
//! nothing. Heartbeats (904) are the leases of `crate::brokers`, never a write: a master's is
//! answered after a read-index barrier, like a gRPC heartbeat of a master, and carries the
//! write lease the broker needs before it accepts a message. Masters are elected by the planning
//! pass, never by a request: `ELECT_MASTER` waits for it to have one.

use std::time::Duration;

use pharos_meta::{BrokerOperation, CommandError, Registration, Response, State};
use pharos_remoting::RemotingCommand;
use pharos_remoting::codes::response;
use pharos_remoting::controller::{self, ControllerRequest, Heartbeat, SyncStateSet, WriteLease};

use super::{BrokerRequests, REMOTING_NETWORK, applied_index};

/// How long `ELECT_MASTER` waits for the planning pass to elect a master of a group without
/// one. Below the broker's request timeout (3 s), above a pass and a commit.
const ELECT_WAIT: Duration = Duration::from_millis(2_500);

impl BrokerRequests {
    /// Answers a controller request as the leader: the reply, and the log index it reflects.
    pub(super) async fn answer_controller(&self, request: &RemotingCommand) -> (RemotingCommand, u64) {
        let parsed = match controller::parse(request, REMOTING_NETWORK) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::info!(code = request.code, %reason, "remoting: refusing a controller request");
                return (controller::invalid(reason), 0);
            }
        };
        match parsed {
            ControllerRequest::Metadata | ControllerRequest::SyncStateData { .. } => {
                (self.answer_controller_read(&parsed), self.applied())
            }
            ControllerRequest::NextBrokerId { group } => {
                let applied = self.node.state_machine.read();
                (controller::next_broker_id(&applied.state, &group), applied_index(&applied))
            }
            ControllerRequest::Register(registration) => self.register_controlled(registration).await,
            ControllerRequest::Heartbeat(heartbeat) => self.controller_heartbeat(heartbeat).await,
            ControllerRequest::ReplicaInfo { group } => {
                let applied = self.node.state_machine.read();
                let reply = match controller::controlled_group(&applied.state, &group) {
                    Ok(record) => controller::replica_info(&applied.state, record),
                    Err(refusal) => refusal,
                };
                (reply, applied_index(&applied))
            }
            ControllerRequest::ElectMaster { group } => self.elect_master(&group).await,
            ControllerRequest::AlterSyncStateSet { group, master_id, master_epoch, sync_state_set } => {
                self.alter_sync_state_set(&group, master_id, master_epoch, sync_state_set).await
            }
        }
    }

    /// The controller reads any node answers from what it has applied: which node leads, and
    /// the sync state data of groups.
    pub(super) fn answer_controller_read(&self, request: &ControllerRequest) -> RemotingCommand {
        match request {
            ControllerRequest::SyncStateData { groups } => {
                let applied = self.node.state_machine.read();
                let active = |broker: &pharos_meta::Broker| broker.state == pharos_meta::BrokerState::Active;
                controller::sync_state_data(&applied.state, groups, active)
            }
            _ => controller::metadata(self.node.is_leader(), self.node.leader().0),
        }
    }

    pub(super) fn applied(&self) -> u64 {
        applied_index(&self.node.state_machine.read())
    }

    /// 1013 and 1003: the group's replica info once the broker is registered (committed only
    /// when the state does not hold it yet). Another active broker under the same controller
    /// id is `CONTROLLER_BROKER_ID_INVALID`.
    async fn register_controlled(&self, registration: Registration) -> (RemotingCommand, u64) {
        let _serial = self.serial.lock().await;
        {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            let index = applied_index(&applied);
            if let Some(refusal) = foreign_group(state, &registration.group) {
                return (refusal, index);
            }
            match state.check_registration(&registration) {
                Ok(Some(_)) => return (self.replica_info_of(state, &registration.group), index),
                Ok(None) => {}
                Err(error @ CommandError::DuplicateRegistration { .. }) => {
                    let remark = format!("controller broker id {} is taken: {error}", registration.name);
                    return (controller::refused(response::CONTROLLER_BROKER_ID_INVALID, remark), index);
                }
                Err(error) => return (controller::invalid(error.to_string()), index),
            }
        }
        match self.commit_registration(&registration).await {
            (Ok(()), index) => {
                let applied = self.node.state_machine.read();
                (self.replica_info_of(&applied.state, &registration.group), index)
            }
            (Err(refusal), index) => (refusal, index),
        }
    }

    fn replica_info_of(&self, state: &State, group: &str) -> RemotingCommand {
        match controller::controlled_group(state, group) {
            Ok(record) => controller::replica_info(state, record),
            Err(refusal) => refusal,
        }
    }

    /// 904: renews the broker's lease with its offsets; the master of the epoch it names also
    /// gets its write lease. A broker the state no longer holds as active (fenced while it
    /// could not reach Pharos) registers again first, as a new registration.
    async fn controller_heartbeat(&self, heartbeat: Heartbeat) -> (RemotingCommand, u64) {
        let Ok(leadership) = self.runtime.leadership() else {
            let remark = "this Pharos node is not the leader".to_string();
            return (controller::refused(response::CONTROLLER_NOT_LEADER, remark), self.applied());
        };
        let known = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            if let Err(refusal) = controller::controlled_group(state, &heartbeat.group) {
                return (refusal, applied_index(&applied));
            }
            controller::find(state, &heartbeat.group, &heartbeat.name, &heartbeat.address).is_some()
        };
        if !known {
            let registration = Registration {
                cluster: heartbeat.cluster.clone(),
                group: heartbeat.group.clone(),
                name: heartbeat.name.clone(),
                incarnation_id: heartbeat.address.clone(),
                zone: String::new(),
                region: String::new(),
                addresses: [(REMOTING_NETWORK.to_string(), heartbeat.address.clone())].into(),
                election_priority: 0,
                mode: pharos_meta::RegistrationMode::Controlled,
            };
            let (reply, index) = self.register_controlled(registration).await;
            if reply.code != response::SUCCESS {
                return (reply, index);
            }
        }
        // A master's lease is renewed only by a leader a quorum still follows (see the gRPC
        // heartbeat, `crate::broker_api`); the barrier also brings the state up to date.
        let master_before = {
            let applied = self.node.state_machine.read();
            let broker = controller::find(&applied.state, &heartbeat.group, &heartbeat.name, &heartbeat.address);
            broker.is_some_and(|broker| applied.state.master_of(broker.broker_id).is_some())
        };
        if master_before && let Err(error) = self.node.linearizable_barrier().await {
            return (controller::refused(response::CONTROLLER_NOT_LEADER, error.to_string()), self.applied());
        }
        let applied = self.node.state_machine.read();
        let state = &applied.state;
        let index = applied_index(&applied);
        let Some(broker) = controller::find(state, &heartbeat.group, &heartbeat.name, &heartbeat.address) else {
            let remark = format!("broker {} of {} is not registered; register again", heartbeat.name, heartbeat.group);
            return (controller::refused(response::CONTROLLER_BROKER_METADATA_NOT_EXIST, remark), index);
        };
        let offsets = (heartbeat.max_offset, heartbeat.confirm_offset);
        let lease = match self.runtime.grant(leadership, state, broker.broker_id, broker.broker_epoch, offsets) {
            Ok(lease) => lease,
            Err(refusal) => {
                return (controller::refused(response::CONTROLLER_BROKER_NOT_ALIVE, refusal.to_string()), index);
            }
        };
        let master = state.master_of(broker.broker_id).filter(|group| heartbeat.epoch == Some(group.master_epoch));
        let reply = match master {
            Some(group) if master_before => controller::heartbeat_with_lease(&WriteLease {
                broker_id: heartbeat.name.parse().unwrap_or_default(),
                master_epoch: group.master_epoch,
                generation: lease.generation,
                lease_duration_millis: self.runtime.timing.lease_ms,
                safety_margin_millis: controller::LEASE_SAFETY_MARGIN_MS,
            }),
            _ => RemotingCommand::response(response::SUCCESS, None),
        };
        (reply, index)
    }

    /// 1002: the group's master; while it has none, waits a little for the planning pass to
    /// elect one (from leases and the sync state set, never before an old master's lease ran
    /// out).
    async fn elect_master(&self, group: &str) -> (RemotingCommand, u64) {
        let mut applied_rx = self.node.state_machine.subscribe();
        let deadline = tokio::time::Instant::now() + ELECT_WAIT;
        let mut newly = false;
        loop {
            {
                let applied = self.node.state_machine.read();
                let index = applied_index(&applied);
                let record = match controller::controlled_group(&applied.state, group) {
                    Ok(record) => record,
                    Err(refusal) => return (refusal, index),
                };
                if let Some(reply) = controller::elected(&applied.state, record, newly) {
                    return (reply, index);
                }
            }
            newly = true;
            if tokio::time::timeout_at(deadline, applied_rx.changed()).await.is_err() {
                break;
            }
        }
        let reason = self.runtime.leaderless().get(group).cloned();
        let reason = reason.unwrap_or_else(|| "no master was elected yet".to_string());
        (controller::elect_failed(&format!("no master of {group}: {reason}")), self.applied())
    }

    /// 1001: the master proposes a sync state set; committed when it is current and valid
    /// (the planning pass may grow it again as replicas catch up).
    async fn alter_sync_state_set(
        &self,
        group: &str,
        master_id: u64,
        master_epoch: u64,
        proposed: SyncStateSet,
    ) -> (RemotingCommand, u64) {
        let _serial = self.serial.lock().await;
        let operation = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            let index = applied_index(&applied);
            let record = match controller::controlled_group(state, group) {
                Ok(record) => record,
                Err(refusal) => return (refusal, index),
            };
            let ids = std::iter::once(master_id).collect();
            let Ok(master) = controller::members_by_controller_id(state, record, &ids) else {
                let remark = format!("no active broker with controller id {master_id} in {group}");
                return (controller::refused(response::CONTROLLER_INVALID_MASTER, remark), index);
            };
            let members = match controller::members_by_controller_id(state, record, &proposed.sync_state_set) {
                Ok(members) => members,
                Err(id) => {
                    let remark = format!("no active broker with controller id {id} in {group}");
                    return (controller::refused(response::CONTROLLER_INVALID_REPLICAS, remark), index);
                }
            };
            let master_broker_id = master.first().copied().unwrap_or_default();
            let sync_state_epoch = proposed.sync_state_set_epoch;
            if let Err(error) =
                state.check_sync_state_set(group, master_broker_id, master_epoch, sync_state_epoch, &members)
            {
                return (controller::refused(sync_state_refusal_code(&error), error.to_string()), index);
            }
            BrokerOperation::AlterSyncStateSet {
                group: group.to_string(),
                master_broker_id,
                master_epoch,
                sync_state_epoch,
                sync_state_set: members,
            }
        };
        let (committed, index) = self.commit(operation, format!("remoting broker group {group}")).await;
        match committed {
            Ok(Response::SyncStateSetAltered { .. }) => {
                let applied = self.node.state_machine.read();
                let reply = match controller::controlled_group(&applied.state, group) {
                    Ok(record) => controller::sync_state_set_altered(&applied.state, record),
                    Err(refusal) => refusal,
                };
                (reply, index)
            }
            Ok(other) => (controller::invalid(format!("unexpected answer {other:?}")), index),
            Err(refusal) => (refusal, index),
        }
    }
}

/// The refusal of a registration into a group whose masters another mode decides.
fn foreign_group(state: &State, group: &str) -> Option<RemotingCommand> {
    match controller::controlled_group(state, group) {
        Err(refusal) if refusal.code == response::CONTROLLER_INVALID_REQUEST => Some(refusal),
        _ => None,
    }
}

/// RocketMQ's code for a refused sync state set change.
fn sync_state_refusal_code(error: &CommandError) -> i32 {
    match error {
        CommandError::StaleMasterEpoch { .. } => response::CONTROLLER_FENCED_MASTER_EPOCH,
        CommandError::StaleSyncStateEpoch { .. } => response::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH,
        CommandError::NotMaster { .. } => response::CONTROLLER_INVALID_MASTER,
        CommandError::InvalidSyncStateSet { .. } => response::CONTROLLER_INVALID_REPLICAS,
        _ => response::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
    }
}

/// How often the leader looks for new masters of controlled groups to announce.
const ANNOUNCE_INTERVAL: Duration = Duration::from_millis(100);
/// How long one broker has to take an announcement.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(1);

/// Tells every active broker of a controlled group of a new master at once
/// (`NOTIFY_BROKER_ROLE_CHANGED`, 1008), so the brokers switch roles now rather than at their
/// next `GET_REPLICA_INFO` poll (up to 5 s later). Runs on every node and acts while it leads;
/// what it sends is committed state only, and a broker that misses it still polls. A new
/// leadership announces only what changes after it began.
pub async fn announce_masters(node: pharos_replication::Node, stop: impl std::future::Future<Output = ()>) {
    let mut announcer = Announcer::default();
    crate::handler::every_leader_pass(&node, ANNOUNCE_INTERVAL, stop, || {
        announce(announcer.due(&node));
        std::future::ready(())
    })
    .await;
}

/// What the announcer has told brokers under the current leadership.
#[derive(Debug, Default)]
struct Announcer {
    /// The leadership, and the master epoch of every controlled group with an active master.
    seen: Option<((u64, u64), std::collections::BTreeMap<String, u64>)>,
    opaque: i32,
}

impl Announcer {
    /// The announcements due now: (group, broker address, notice) for every active broker of a
    /// group whose master epoch rose since the last pass of this leadership.
    fn due(&mut self, node: &pharos_replication::Node) -> Vec<(String, String, RemotingCommand)> {
        let Some(leadership) = node.leadership() else { return Vec::new() };
        let mut notices = Vec::new();
        let applied = node.state_machine.read();
        let state = &applied.state;
        let controlled = state.groups.values().filter(|group| {
            group.election_mode == pharos_meta::ElectionMode::Controlled
                && state.serving_brokers(&group.name).0.is_some()
        });
        let epochs: std::collections::BTreeMap<String, u64> =
            controlled.map(|group| (group.name.clone(), group.master_epoch)).collect();
        if let Some((_, previous)) = self.seen.as_ref().filter(|(since, _)| *since == leadership) {
            for (name, epoch) in &epochs {
                if previous.get(name).is_some_and(|before| before >= epoch) {
                    continue;
                }
                let Some(group) = state.groups.get(name) else { continue };
                for address in controller::member_addresses(state, group) {
                    self.opaque = self.opaque.wrapping_add(1);
                    if let Some(notice) = controller::role_change_notice(state, group, self.opaque) {
                        notices.push((name.clone(), address, notice));
                    }
                }
            }
        }
        self.seen = Some((leadership, epochs));
        notices
    }
}

/// Sends each announcement on its own task; a broker that does not take it polls.
fn announce(notices: Vec<(String, String, RemotingCommand)>) {
    for (group, address, notice) in notices {
        tokio::spawn(async move {
            match pharos_remoting::client::call(&address, &notice, ANNOUNCE_TIMEOUT).await {
                Ok(reply) if reply.code == response::SUCCESS => {
                    tracing::info!(%group, %address, "remoting: told a broker of its group's new master");
                }
                Ok(reply) => {
                    tracing::info!(%group, %address, code = reply.code, remark = ?reply.remark, "remoting: a broker refused the new master's announcement");
                }
                Err(error) => {
                    tracing::info!(%group, %address, %error, "remoting: cannot tell a broker of its group's new master; it polls");
                }
            }
        });
    }
}
