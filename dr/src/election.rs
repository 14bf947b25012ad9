//! Master election and liveness, as pure planners.
//!
//! The leader's runtime observes (committed state + heartbeat soft state), calls [`plan`], and
//! commits the actions it returns, in order. Time comes in as a number of milliseconds on the
//! coordinator's monotonic clock; nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::{Broker, BrokerGroup, BrokerState, ElectionMode, State};

use crate::lease::BrokerLease;

/// Where the primary region is (voters, and preferably masters, live there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub primary_region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The broker's lease (plus drift bound) has run out.
    Fence {
        broker_id: u64,
        broker_epoch: u64,
    },
    Elect {
        group: String,
        broker_id: u64,
        expected_master_epoch: u64,
        unclean: bool,
    },
    /// No eligible candidate: the group stays without a master, and is reported.
    Leaderless {
        group: String,
        reason: String,
    },
}

/// Constraints an operator adds to an election (`broker failover`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElectionRequest {
    /// Elect this broker (it must be eligible).
    pub to: Option<u64>,
    /// Allow a broker outside the sync state set (possible data loss).
    pub unclean: bool,
    /// Brokers that must not be chosen (the master being failed over).
    pub exclude: Vec<u64>,
    /// The operator request's idempotency key: the election is committed under it, so a retry
    /// of the request gets this election's answer instead of starting another.
    pub request_id: Option<pharos_meta::RequestId>,
}

/// Chooses the master of `group` among `live` brokers. Ranking: members of the sync state set
/// first (others only when unclean elections are allowed), then brokers in the primary region,
/// then higher election priority, then higher confirmed offset, then the lower broker id.
///
/// `synced_names` are the names of the sync-state-set members: a broker that restarted and
/// registered again (new id, same name, same data) is as clean as its old registration.
pub fn choose_master(
    group: &BrokerGroup,
    synced_names: &BTreeSet<String>,
    live: &[(&Broker, u64)],
    policy: &Policy,
    request: &ElectionRequest,
) -> Result<(u64, bool), String> {
    let allow_unclean = group.allow_unclean_election || request.unclean;
    // A group that never had a master holds no data yet: every live member is a clean choice.
    let first_election = group.master_epoch == 0;
    let candidates: Vec<(&Broker, u64, bool)> = live
        .iter()
        .filter(|(broker, _)| broker.state == BrokerState::Active && !request.exclude.contains(&broker.broker_id))
        .filter_map(|(broker, confirm_offset)| {
            let clean = first_election
                || group.sync_state_set.contains(&broker.broker_id)
                || synced_names.contains(&broker.name);
            (clean || allow_unclean).then_some((*broker, *confirm_offset, !clean))
        })
        .collect();
    let in_primary = |broker: &Broker| policy.primary_region.as_deref().is_some_and(|region| broker.region == region);
    let best = candidates.iter().filter(|(broker, _, _)| request.to.is_none_or(|to| broker.broker_id == to)).max_by(
        |(a, a_offset, a_unclean), (b, b_offset, b_unclean)| {
            (!a_unclean, in_primary(a), a.election_priority, *a_offset, std::cmp::Reverse(a.broker_id)).cmp(&(
                !b_unclean,
                in_primary(b),
                b.election_priority,
                *b_offset,
                std::cmp::Reverse(b.broker_id),
            ))
        },
    );
    match best {
        Some((broker, _, unclean)) => Ok((broker.broker_id, *unclean)),
        None if request.to.is_some() => Err(format!(
            "broker {} is not an eligible candidate (live, in the sync state set{})",
            request.to.unwrap_or_default(),
            if allow_unclean { " or unclean allowed" } else { "; pass --unclean to allow others" }
        )),
        None if live.is_empty() => Err("no live broker in the group".to_string()),
        None => Err("no live broker in the sync state set; unclean election is not allowed".to_string()),
    }
}

/// What the leader must do now: fence brokers whose deadline passed, then elect masters for
/// groups without a live master, honouring operator `requests` per group.
///
/// A group is not given a new master while any lease of a broker of the group that is no
/// longer active (fenced, shut down, removed) may still run: that broker may be a master that
/// could still be serving writes (the two-masters window). `leases` is the coordinator's lease
/// table ([`crate::lease::LeaseTable`]); an entry leaves it once its deadline passes.
pub fn plan(
    now_ms: u64,
    state: &State,
    leases: &BTreeMap<u64, BrokerLease>,
    policy: &Policy,
    requests: &BTreeMap<String, ElectionRequest>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut dead = BTreeSet::new();
    for broker in state.brokers.values().filter(|broker| broker.state == BrokerState::Active) {
        if leases.get(&broker.broker_id).is_some_and(|lease| lease.deadline_ms <= now_ms) {
            actions.push(Action::Fence { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch });
            dead.insert(broker.broker_id);
        }
    }
    // Groups with a lease of a no-longer-active broker still running: one pass over the table,
    // not one per group (10,000 brokers plan every 100 ms).
    let held: BTreeSet<&str> = leases
        .iter()
        .filter(|(id, lease)| {
            lease.deadline_ms > now_ms && state.brokers.get(id).is_none_or(|broker| broker.state != BrokerState::Active)
        })
        .map(|(_, lease)| lease.group.as_str())
        .collect();
    for group in state.groups.values() {
        let master_alive = group.master_broker_id.is_some_and(|master| {
            !dead.contains(&master) && state.brokers.get(&master).is_some_and(|b| b.state == BrokerState::Active)
        });
        let request = requests.get(&group.name).cloned().unwrap_or_default();
        if master_alive {
            continue;
        }
        if group.election_mode == ElectionMode::Declared {
            // Its brokers say who is master: the group waits for one to declare itself.
            let reason = "no active broker declares itself master (brokerId 0)".to_string();
            actions.push(Action::Leaderless { group: group.name.clone(), reason });
            continue;
        }
        if held.contains(group.name.as_str()) {
            continue;
        }
        let live: Vec<(&Broker, u64)> = group
            .members
            .iter()
            .filter(|id| !dead.contains(id))
            .filter_map(|id| {
                let broker = state.brokers.get(id)?;
                let lease = leases.get(id)?;
                (broker.state == BrokerState::Active).then_some((broker, lease.confirm_offset))
            })
            .collect();
        let synced_names: BTreeSet<String> = group
            .sync_state_set
            .iter()
            .filter_map(|id| state.brokers.get(id).map(|broker| broker.name.clone()))
            .collect();
        match choose_master(group, &synced_names, &live, policy, &request) {
            Ok((broker_id, unclean)) => actions.push(Action::Elect {
                group: group.name.clone(),
                broker_id,
                expected_master_epoch: group.master_epoch,
                unclean,
            }),
            Err(reason) => actions.push(Action::Leaderless { group: group.name.clone(), reason }),
        }
    }
    actions
}
