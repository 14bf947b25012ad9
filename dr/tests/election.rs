//! Exact expectations for the election and liveness planners.

use std::collections::{BTreeMap, BTreeSet};

use pharos_dr::election::{Action, ElectionRequest, Policy, choose_master, plan};
use pharos_dr::lease::BrokerLease;
use pharos_meta::{Broker, BrokerGroup, BrokerState, ElectionMode, State};

fn broker(broker_id: u64, region: &str, priority: u32) -> Broker {
    Broker {
        broker_id,
        incarnation_id: format!("inc-{broker_id}"),
        cluster: "c".into(),
        group: "g".into(),
        name: format!("b{broker_id}"),
        zone: "z".into(),
        region: region.into(),
        addresses: BTreeMap::new(),
        election_priority: priority,
        state: BrokerState::Active,
        broker_epoch: broker_id * 10,
        retired_at_ms: None,
    }
}

fn group(master: Option<u64>, epoch: u64, sync: &[u64]) -> BrokerGroup {
    BrokerGroup {
        name: "g".into(),
        members: [1, 2, 3, 4].into(),
        master_broker_id: master,
        master_epoch: epoch,
        sync_state_set: sync.iter().copied().collect::<BTreeSet<_>>(),
        sync_state_epoch: epoch,
        allow_unclean_election: false,
        election_mode: ElectionMode::Elected,
    }
}

/// A lease of group "g" that runs until `deadline_ms`.
fn lease(deadline_ms: u64, confirm_offset: u64) -> BrokerLease {
    BrokerLease {
        group: "g".into(),
        deadline_ms,
        last_heartbeat_ms: None,
        max_offset: confirm_offset,
        confirm_offset,
        fencing: false,
        earlier_heartbeat: None,
        generation: 0,
    }
}

fn primary(region: &str) -> Policy {
    Policy { primary_region: Some(region.into()) }
}

#[test]
fn sync_set_first_then_primary_region_then_priority_then_offset() {
    let (b1, b2, b3, b4) = (broker(1, "dr", 9), broker(2, "main", 1), broker(3, "main", 1), broker(4, "main", 5));
    let live = [(&b1, 100), (&b2, 50), (&b3, 70), (&b4, 10)];
    // 4 is not in the sync set: not eligible although its priority is higher.
    let group = group(None, 3, &[1, 2, 3]);
    assert_eq!(
        choose_master(&group, &BTreeSet::new(), &live, &primary("main"), &ElectionRequest::default()),
        Ok((3, false))
    );
    // Without a primary region, priority decides: broker 1 (9).
    assert_eq!(
        choose_master(&group, &BTreeSet::new(), &live, &Policy::default(), &ElectionRequest::default()),
        Ok((1, false))
    );
    // Unclean allowed: still prefers clean candidates.
    let unclean = ElectionRequest { unclean: true, ..ElectionRequest::default() };
    assert_eq!(choose_master(&group, &BTreeSet::new(), &live, &primary("main"), &unclean), Ok((3, false)));
    // Only an out-of-sync broker is live: refused, unless unclean.
    let only_four = [(&b4, 10)];
    assert!(
        choose_master(&group, &BTreeSet::new(), &only_four, &primary("main"), &ElectionRequest::default()).is_err()
    );
    assert_eq!(choose_master(&group, &BTreeSet::new(), &only_four, &primary("main"), &unclean), Ok((4, true)));
    // An operator's choice must be eligible.
    let to_two = ElectionRequest { to: Some(2), ..ElectionRequest::default() };
    assert_eq!(choose_master(&group, &BTreeSet::new(), &live, &primary("main"), &to_two), Ok((2, false)));
    let to_four = ElectionRequest { to: Some(4), ..ElectionRequest::default() };
    assert!(choose_master(&group, &BTreeSet::new(), &live, &primary("main"), &to_four).is_err());
    // The master being failed over is excluded.
    let exclude_three = ElectionRequest { exclude: vec![3], ..ElectionRequest::default() };
    assert_eq!(choose_master(&group, &BTreeSet::new(), &live, &primary("main"), &exclude_three), Ok((2, false)));
}

#[test]
fn the_first_master_of_a_new_group_may_be_any_live_member() {
    let (b1, b2) = (broker(1, "main", 1), broker(2, "main", 2));
    let group = group(None, 0, &[]);
    assert_eq!(
        choose_master(&group, &BTreeSet::new(), &[(&b1, 0), (&b2, 0)], &Policy::default(), &ElectionRequest::default()),
        Ok((2, false))
    );
}

fn state_with(group: BrokerGroup) -> State {
    let mut state = State::default();
    for id in 1..=3 {
        state.brokers.insert(id, broker(id, "main", 1));
    }
    state.groups.insert("g".into(), BrokerGroup { members: [1, 2, 3].into(), ..group });
    state
}

#[test]
fn a_dead_master_is_fenced_and_a_sync_replica_elected_in_one_plan() {
    let state = state_with(group(Some(1), 4, &[1, 2]));
    let liveness = BTreeMap::from([(1, lease(1_000, 500)), (2, lease(5_000, 490)), (3, lease(5_000, 499))]);
    assert_eq!(plan(999, &state, &liveness, &primary("main"), &BTreeMap::new()), vec![], "nothing before the deadline");
    assert_eq!(
        plan(1_000, &state, &liveness, &primary("main"), &BTreeMap::new()),
        vec![
            Action::Fence { broker_id: 1, broker_epoch: 10 },
            Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false },
        ],
        "broker 3 has a higher offset but is not in the sync state set"
    );
}

#[test]
fn a_group_with_no_eligible_candidate_is_reported_leaderless() {
    let state = state_with(group(Some(1), 4, &[1]));
    let liveness = BTreeMap::from([(1, lease(1_000, 500)), (2, lease(5_000, 490))]);
    let actions = plan(2_000, &state, &liveness, &Policy::default(), &BTreeMap::new());
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0], Action::Fence { broker_id: 1, broker_epoch: 10 });
    assert!(matches!(&actions[1], Action::Leaderless { group, .. } if group == "g"), "{actions:?}");
}

#[test]
fn healthy_groups_need_nothing() {
    let state = state_with(group(Some(1), 4, &[1, 2]));
    let liveness: BTreeMap<u64, BrokerLease> = (1..=3).map(|id| (id, lease(10_000, 0))).collect();
    assert!(plan(5_000, &state, &liveness, &Policy::default(), &BTreeMap::new()).is_empty());
}

#[test]
fn no_new_master_while_a_fenced_master_may_still_hold_its_lease() {
    // An operator fenced master 1 at t=0; its lease runs until 3_000.
    let mut state = state_with(group(None, 4, &[1, 2]));
    state.brokers.get_mut(&1).unwrap().state = BrokerState::Fenced;
    let liveness = BTreeMap::from([(1, lease(3_000, 500)), (2, lease(9_000, 490))]);
    assert_eq!(plan(2_999, &state, &liveness, &Policy::default(), &BTreeMap::new()), vec![]);
    let after = plan(3_000, &state, &liveness, &Policy::default(), &BTreeMap::new());
    assert_eq!(
        after,
        vec![Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false }]
    );
}

#[test]
fn operator_requests_steer_the_election() {
    let state = state_with(group(None, 4, &[1, 2, 3]));
    let liveness: BTreeMap<u64, BrokerLease> = (1..=3).map(|id| (id, lease(10_000, id * 10))).collect();
    let requests = BTreeMap::from([("g".to_string(), ElectionRequest { to: Some(1), ..ElectionRequest::default() })]);
    assert_eq!(
        plan(5_000, &state, &liveness, &Policy::default(), &requests),
        vec![Action::Elect { group: "g".into(), broker_id: 1, expected_master_epoch: 4, unclean: false }]
    );
}

#[test]
fn a_restarted_sync_member_is_clean_under_its_new_id() {
    // Broker 1 (name b1) was in sync and restarted as broker 7 with the same name.
    let mut state = state_with(group(None, 4, &[1]));
    state.brokers.get_mut(&1).unwrap().state = BrokerState::Fenced;
    state.brokers.get_mut(&2).unwrap().state = BrokerState::Fenced;
    state.brokers.get_mut(&3).unwrap().state = BrokerState::Fenced;
    let mut restarted = broker(7, "main", 1);
    restarted.name = "b1".into();
    state.brokers.insert(7, restarted);
    state.groups.get_mut("g").unwrap().members.insert(7);
    let liveness = BTreeMap::from([(7, lease(9_000, 10))]);
    assert_eq!(
        plan(1_000, &state, &liveness, &Policy::default(), &BTreeMap::new()),
        vec![Action::Elect { group: "g".into(), broker_id: 7, expected_master_epoch: 4, unclean: false }]
    );
}

#[test]
fn a_removed_master_whose_lease_runs_still_holds_the_election() {
    // Master 1 was fenced and then removed by an operator at once: no record, no membership,
    // but its lease runs until 3_000.
    let mut state = state_with(group(None, 4, &[1, 2]));
    state.brokers.remove(&1);
    state.groups.get_mut("g").unwrap().members.remove(&1);
    let liveness = BTreeMap::from([(1, lease(3_000, 500)), (2, lease(9_000, 490))]);
    assert_eq!(plan(2_999, &state, &liveness, &Policy::default(), &BTreeMap::new()), vec![]);
    assert_eq!(
        plan(3_000, &state, &liveness, &Policy::default(), &BTreeMap::new()),
        vec![Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false }]
    );
}
