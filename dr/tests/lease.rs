//! Exact expectations for the coordinator's lease table: given this table and these events,
//! this decision.

use std::collections::{BTreeMap, BTreeSet};

use pharos_dr::election::{Action, Policy};
use pharos_dr::lease::{GrantRefusal, Leadership, LeaseTable, LeaseTiming};
use pharos_meta::{Broker, BrokerGroup, BrokerState, ElectionMode, State};

const TIMING: LeaseTiming =
    LeaseTiming { heartbeat_interval_ms: 300, lease_ms: 1_000, clock_drift_ms: 200, registration_timeout_ms: 5_000 };
const LEADER: Leadership = Leadership { term: 3, node_id: 1 };

fn broker(broker_id: u64) -> Broker {
    Broker {
        broker_id,
        incarnation_id: format!("inc-{broker_id}"),
        cluster: "c".into(),
        group: "g".into(),
        name: format!("b{broker_id}"),
        zone: "z".into(),
        region: "main".into(),
        addresses: BTreeMap::new(),
        election_priority: 1,
        state: BrokerState::Active,
        broker_epoch: broker_id * 10,
        retired_at_ms: None,
    }
}

/// Group "g" of brokers 1 and 2, both in sync, master 1 at epoch 4.
fn state() -> State {
    let mut state = State::default();
    state.brokers.insert(1, broker(1));
    state.brokers.insert(2, broker(2));
    state.groups.insert(
        "g".into(),
        BrokerGroup {
            name: "g".into(),
            members: [1, 2].into(),
            master_broker_id: Some(1),
            master_epoch: 4,
            sync_state_set: BTreeSet::from([1, 2]),
            sync_state_epoch: 4,
            allow_unclean_election: false,
            election_mode: ElectionMode::Elected,
        },
    );
    state
}

fn decide(table: &mut LeaseTable, now_ms: u64, state: &State) -> Vec<Action> {
    table.decide(LEADER, now_ms, state, &TIMING, &Policy::default(), &BTreeMap::new())
}

fn grant(table: &mut LeaseTable, now_ms: u64, state: &State, broker_id: u64) -> Result<u64, GrantRefusal> {
    table.grant(LEADER, now_ms, state, broker_id, broker_id * 10, (0, 0), &TIMING).map(|lease| lease.deadline_ms)
}

/// The applied effect of `FenceBroker` on a master: fenced, the group without a master.
fn fence_applied(state: &mut State, broker_id: u64) {
    state.brokers.get_mut(&broker_id).expect("broker").state = BrokerState::Fenced;
    state.groups.get_mut("g").expect("group").master_broker_id = None;
}

#[test]
fn no_heartbeat_renews_a_lease_once_its_fence_is_decided() {
    // The order of events behind the two-masters bug (random-broker-combination seed 292502):
    // the pass decides to fence the master, and while the fence is being committed (slow links)
    // the master's delayed heartbeat arrives; the committed state still says it is active.
    let mut state = state();
    let mut table = LeaseTable::default();
    assert_eq!(decide(&mut table, 0, &state), vec![], "leadership begins: fresh deadlines");
    assert_eq!(grant(&mut table, 100, &state, 2), Ok(1_300));
    assert_eq!(grant(&mut table, 1_150, &state, 2), Ok(2_350));
    assert_eq!(
        decide(&mut table, 1_200, &state),
        vec![
            Action::Fence { broker_id: 1, broker_epoch: 10 },
            Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false },
        ],
        "broker 1's deadline (0 + 1_200) has passed"
    );
    assert!(table.get(1).unwrap().fencing);
    assert_eq!(
        grant(&mut table, 1_241, &state, 1),
        Err(GrantRefusal::BeingFenced { broker_id: 1 }),
        "a heartbeat between the decision and the commit gets no lease"
    );
    fence_applied(&mut state, 1);
    assert_eq!(
        grant(&mut table, 1_260, &state, 1),
        Err(GrantRefusal::NotActive { broker_id: 1, state: BrokerState::Fenced })
    );
}

#[test]
fn a_heartbeat_granted_before_the_decision_postpones_it() {
    let state = state();
    let mut table = LeaseTable::default();
    decide(&mut table, 0, &state);
    assert_eq!(grant(&mut table, 900, &state, 1), Ok(2_100));
    assert_eq!(grant(&mut table, 900, &state, 2), Ok(2_100));
    assert_eq!(decide(&mut table, 1_200, &state), vec![]);
    assert_eq!(decide(&mut table, 2_099, &state), vec![]);
    assert_eq!(
        decide(&mut table, 2_100, &state),
        vec![
            Action::Fence { broker_id: 1, broker_epoch: 10 },
            Action::Fence { broker_id: 2, broker_epoch: 20 },
            Action::Leaderless { group: "g".into(), reason: "no live broker in the group".into() },
        ]
    );
}

#[test]
fn an_operator_fence_waits_for_the_lease_granted_before_it_applied() {
    // An operator fences the live master: a heartbeat answered just before the fence applied
    // pushed the deadline; the election waits for it.
    let mut state = state();
    let mut table = LeaseTable::default();
    decide(&mut table, 0, &state);
    assert_eq!(grant(&mut table, 500, &state, 1), Ok(1_700));
    assert_eq!(grant(&mut table, 500, &state, 2), Ok(1_700));
    fence_applied(&mut state, 1);
    assert_eq!(decide(&mut table, 600, &state), vec![]);
    assert_eq!(grant(&mut table, 1_000, &state, 2), Ok(2_200));
    assert_eq!(decide(&mut table, 1_699, &state), vec![]);
    assert_eq!(
        decide(&mut table, 1_700, &state),
        vec![Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false }]
    );
    assert_eq!(table.get(1), None, "the fenced master's entry leaves once its deadline passed");
}

#[test]
fn a_new_leadership_assumes_every_fenced_broker_may_still_hold_a_lease() {
    // The previous leader fenced master 1 and died before electing; when it granted 1's last
    // lease is unknown here, but it was before this leadership began.
    let mut state = state();
    fence_applied(&mut state, 1);
    let mut table = LeaseTable::default();
    assert_eq!(decide(&mut table, 5_000, &state), vec![]);
    assert_eq!(table.get(1).map(|lease| lease.deadline_ms), Some(6_200));
    assert_eq!(grant(&mut table, 5_500, &state, 2), Ok(6_700));
    assert_eq!(decide(&mut table, 6_199, &state), vec![]);
    assert_eq!(
        decide(&mut table, 6_200, &state),
        vec![Action::Elect { group: "g".into(), broker_id: 2, expected_master_epoch: 4, unclean: false }]
    );
}

#[test]
fn soft_state_is_keyed_on_the_whole_leader_id() {
    let state = state();
    let mut table = LeaseTable::default();
    decide(&mut table, 0, &state);
    assert_eq!(grant(&mut table, 1_000, &state, 1), Ok(2_200));
    // Another node leads the same term (openraft's advanced leader ids allow it): what the
    // old leadership learned is gone and every broker gets a fresh deadline.
    let same_term_other_node = Leadership { term: 3, node_id: 2 };
    table.ensure_leadership(same_term_other_node, 1_100, &state, &TIMING);
    assert_eq!(table.leadership(), Some(same_term_other_node));
    assert_eq!(table.get(1).map(|lease| (lease.deadline_ms, lease.last_heartbeat_ms)), Some((2_300, None)));
    // A heartbeat checked under the older leadership is not granted under the newer one.
    assert_eq!(table.grant(LEADER, 1_150, &state, 1, 10, (0, 0), &TIMING), Err(GrantRefusal::LeadershipChanged));
    // The same leadership again changes nothing.
    table.ensure_leadership(same_term_other_node, 1_900, &state, &TIMING);
    assert_eq!(table.get(1).map(|lease| lease.deadline_ms), Some(2_300));
}

#[test]
fn grants_check_the_committed_registration() {
    let mut state = state();
    state.brokers.get_mut(&2).unwrap().state = BrokerState::Shutdown;
    let mut table = LeaseTable::default();
    decide(&mut table, 0, &state);
    assert_eq!(grant(&mut table, 10, &state, 9), Err(GrantRefusal::UnknownBroker { broker_id: 9 }));
    assert_eq!(
        table.grant(LEADER, 10, &state, 1, 11, (0, 0), &TIMING),
        Err(GrantRefusal::StaleBrokerEpoch { broker_id: 1, current: 10 })
    );
    assert_eq!(
        grant(&mut table, 10, &state, 2),
        Err(GrantRefusal::NotActive { broker_id: 2, state: BrokerState::Shutdown })
    );
    let granted = table.grant(LEADER, 10, &state, 1, 10, (70, 60), &TIMING).unwrap();
    assert_eq!((granted.max_offset, granted.confirm_offset, granted.last_heartbeat_ms), (70, 60, Some(10)));
}

#[test]
fn a_fence_that_did_not_commit_is_decided_again() {
    let state = state();
    let mut table = LeaseTable::default();
    decide(&mut table, 0, &state);
    grant(&mut table, 1_000, &state, 2).unwrap();
    let first = decide(&mut table, 1_200, &state);
    assert_eq!(first[0], Action::Fence { broker_id: 1, broker_epoch: 10 });
    // The commit failed (no quorum); the committed state still says active.
    let again = decide(&mut table, 1_300, &state);
    assert_eq!(again[0], Action::Fence { broker_id: 1, broker_epoch: 10 });
    assert_eq!(grant(&mut table, 1_310, &state, 1), Err(GrantRefusal::BeingFenced { broker_id: 1 }));
}

#[test]
fn every_grant_has_a_higher_generation_and_remembers_the_heartbeat_before() {
    let state = state();
    let mut table = LeaseTable::default();
    let grant_with = |table: &mut LeaseTable, leadership, now_ms, offset| {
        table.grant(leadership, now_ms, &state, 1, 10, (offset, offset), &TIMING).expect("granted")
    };
    let first = grant_with(&mut table, LEADER, 100, 5);
    assert_eq!(first.earlier_heartbeat, None);
    let second = grant_with(&mut table, LEADER, 400, 9);
    assert!(second.generation > first.generation && first.generation > 0);
    assert_eq!(second.earlier_heartbeat, Some((100, 5)), "the heartbeat before the last, with its offset");
    // A new leadership counts its grants from the start again, above every earlier one.
    let next = Leadership { term: LEADER.term + 1, node_id: 2 };
    let third = grant_with(&mut table, next, 500, 9);
    assert!(third.generation > second.generation);
    assert_eq!(third.earlier_heartbeat, None, "nothing heard under this leadership before");
}
