//! Exact expectations for the sync state sets the coordinator keeps (controlled groups).

use std::collections::{BTreeMap, BTreeSet};

use pharos_dr::lease::{BrokerLease, generation};
use pharos_dr::sync_state_set::plan;
use pharos_meta::{Broker, BrokerGroup, BrokerOperation, BrokerState, ElectionMode, State};

fn broker(broker_id: u64, state: BrokerState) -> Broker {
    Broker {
        broker_id,
        incarnation_id: format!("127.0.0.1:2091{broker_id}"),
        cluster: "c".into(),
        group: "g".into(),
        name: broker_id.to_string(),
        zone: String::new(),
        region: String::new(),
        addresses: BTreeMap::new(),
        election_priority: 0,
        state,
        broker_epoch: broker_id * 10,
        retired_at_ms: None,
    }
}

/// Group `g` of brokers 1 (master), 2 and 3, with `sync` as its set.
fn state(mode: ElectionMode, sync: &[u64], states: [BrokerState; 3]) -> State {
    let mut state = State::default();
    for (id, broker_state) in (1..=3).zip(states) {
        state.brokers.insert(id, broker(id, broker_state));
    }
    let group = BrokerGroup {
        name: "g".into(),
        members: [1, 2, 3].into(),
        master_broker_id: Some(1),
        master_epoch: 4,
        sync_state_set: sync.iter().copied().collect(),
        sync_state_epoch: 7,
        allow_unclean_election: false,
        election_mode: mode,
    };
    state.groups.insert("g".into(), group);
    state
}

/// A lease whose last heartbeat was at `at_ms` with `max_offset` (and, when given, the one
/// before it).
fn heard(at_ms: u64, max_offset: u64, earlier: Option<(u64, u64)>) -> BrokerLease {
    BrokerLease {
        group: "g".into(),
        deadline_ms: at_ms + 3_500,
        last_heartbeat_ms: Some(at_ms),
        max_offset,
        confirm_offset: max_offset,
        fencing: false,
        earlier_heartbeat: earlier,
        generation: 1,
    }
}

fn alter(sync: &[u64]) -> BrokerOperation {
    BrokerOperation::AlterSyncStateSet {
        group: "g".into(),
        master_broker_id: 1,
        master_epoch: 4,
        sync_state_epoch: 7,
        sync_state_set: sync.iter().copied().collect::<BTreeSet<_>>(),
    }
}

const ACTIVE: [BrokerState; 3] = [BrokerState::Active; 3];

#[test]
fn a_replica_joins_once_it_holds_what_the_master_had_no_later() {
    let state = state(ElectionMode::Controlled, &[1], ACTIVE);
    // Broker 2 heard after the master with at least its offset: in sync. Broker 3 is behind.
    let leases =
        BTreeMap::from([(1, heard(1_000, 500, None)), (2, heard(1_200, 500, None)), (3, heard(1_300, 499, None))]);
    assert_eq!(plan(&state, &leases), vec![alter(&[1, 2])]);
}

#[test]
fn a_replica_heard_before_the_masters_last_heartbeat_is_compared_with_the_one_before() {
    let state = state(ElectionMode::Controlled, &[1], ACTIVE);
    // Under load the master moved from 400 (at 500 ms) to 500 (at 1,500 ms); broker 2, heard
    // at 1,000 ms with 450, holds what the master had at 500 ms; broker 3 (390) does not.
    let master = heard(1_500, 500, Some((500, 400)));
    let leases = BTreeMap::from([(1, master), (2, heard(1_000, 450, None)), (3, heard(1_000, 390, None))]);
    assert_eq!(plan(&state, &leases), vec![alter(&[1, 2])]);
    // A replica heard before any heartbeat of the master is not judged at all.
    let leases = BTreeMap::from([(1, heard(1_500, 0, None)), (2, heard(1_000, 0, None))]);
    assert_eq!(plan(&state, &leases), vec![]);
}

#[test]
fn members_that_stopped_serving_leave_the_set_and_nothing_changes_when_it_is_right() {
    let states = [BrokerState::Active, BrokerState::Fenced, BrokerState::Active];
    let state_with_fenced = state(ElectionMode::Controlled, &[1, 2, 3], states);
    let leases = BTreeMap::from([(1, heard(1_000, 500, None)), (3, heard(1_100, 10, None))]);
    assert_eq!(plan(&state_with_fenced, &leases), vec![alter(&[1, 3])], "a member that fell behind stays");
    let mut fencing = heard(1_100, 500, None);
    fencing.fencing = true;
    let state = state(ElectionMode::Controlled, &[1, 3], ACTIVE);
    let leases = BTreeMap::from([(1, heard(1_000, 500, None)), (3, fencing)]);
    assert_eq!(plan(&state, &leases), vec![alter(&[1])], "a broker a pass decided to fence leaves");
    let leases = BTreeMap::from([(1, heard(1_000, 500, None)), (3, heard(1_100, 500, None))]);
    assert_eq!(plan(&state, &leases), vec![], "the set is already right");
}

#[test]
fn only_controlled_groups_with_a_serving_master_are_planned() {
    let leases = BTreeMap::from([(1, heard(1_000, 500, None)), (2, heard(1_200, 500, None))]);
    assert_eq!(plan(&state(ElectionMode::Elected, &[1], ACTIVE), &leases), vec![], "their masters report the set");
    assert_eq!(plan(&state(ElectionMode::Declared, &[1], ACTIVE), &leases), vec![]);
    let fenced_master = [BrokerState::Fenced, BrokerState::Active, BrokerState::Active];
    let state = state(ElectionMode::Controlled, &[1], fenced_master);
    assert_eq!(plan(&state, &leases), vec![], "no master to compare with: the set waits for the election");
}

#[test]
fn generations_grow_over_grants_and_over_leaderships() {
    assert!(generation(0, 1) > 0, "never 0");
    assert!(generation(5, 2) > generation(5, 1));
    assert!(generation(6, 1) > generation(5, u64::MAX), "a later term is above anything before");
}
