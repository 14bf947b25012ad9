//! The sync state sets the coordinator keeps itself, for groups whose brokers never report one
//! ([`ElectionMode::Controlled`]: RocketMQ brokers in controller mode).
//!
//! A replica is in sync once a heartbeat of it shows at least the offset its master showed in
//! a heartbeat heard no later: it then holds everything the master had at that moment. It
//! stays in the set until it is no longer active (fenced or shut down) or a pass decided to
//! fence it. The master is always in the set. A clean election chooses among the set's
//! members, so a replica that never caught up is never elected unless the group allows
//! unclean elections.
//!
//! What "in sync" promises depends on the brokers' replication: RocketMQ's defaults acknowledge
//! a message once the master stored it, so a replica in the set may still miss the last
//! messages a crashed master acknowledged (docs/rocketmq.md, "Known limits").

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::{BrokerGroup, BrokerOperation, BrokerState, ElectionMode, State};

use crate::lease::BrokerLease;

/// The `AlterSyncStateSet` commands that bring every controlled group's set up to date with
/// the heartbeats in `leases`, one per group whose set changes.
pub fn plan(state: &State, leases: &BTreeMap<u64, BrokerLease>) -> Vec<BrokerOperation> {
    state
        .groups
        .values()
        .filter(|group| group.election_mode == ElectionMode::Controlled)
        .filter_map(|group| {
            let master_broker_id = group.master_broker_id?;
            let desired = desired_set(state, group, master_broker_id, leases)?;
            (desired != group.sync_state_set).then(|| BrokerOperation::AlterSyncStateSet {
                group: group.name.clone(),
                master_broker_id,
                master_epoch: group.master_epoch,
                sync_state_epoch: group.sync_state_epoch,
                sync_state_set: desired,
            })
        })
        .collect()
}

/// The set `group` should have, or `None` while its master is not an active broker with a
/// lease entry (nothing to compare replicas with).
fn desired_set(
    state: &State,
    group: &BrokerGroup,
    master_broker_id: u64,
    leases: &BTreeMap<u64, BrokerLease>,
) -> Option<BTreeSet<u64>> {
    let serving = |broker_id: &u64| {
        let active = state.brokers.get(broker_id).is_some_and(|broker| broker.state == BrokerState::Active);
        active && leases.get(broker_id).is_some_and(|lease| !lease.fencing)
    };
    if !serving(&master_broker_id) {
        return None;
    }
    let master = leases.get(&master_broker_id)?;
    let mut desired: BTreeSet<u64> = group.sync_state_set.iter().copied().filter(serving).collect();
    desired.insert(master_broker_id);
    for replica in group.members.iter().filter(|id| **id != master_broker_id && serving(id)) {
        if leases.get(replica).is_some_and(|lease| caught_up(lease, master)) {
            desired.insert(*replica);
        }
    }
    Some(desired)
}

/// Whether `replica`'s last heartbeat shows at least the offset of a heartbeat of `master`
/// heard no later than it.
fn caught_up(replica: &BrokerLease, master: &BrokerLease) -> bool {
    let Some(replica_at) = replica.last_heartbeat_ms else { return false };
    let master_marks =
        master.last_heartbeat_ms.map(|at| (at, master.max_offset)).into_iter().chain(master.earlier_heartbeat);
    master_marks
        .filter(|(at, _)| *at <= replica_at)
        .max_by_key(|(at, _)| *at)
        .is_some_and(|(_, offset)| replica.max_offset >= offset)
}
