//! Exact expectations for the broker record retention rule: given this broker table, this
//! time and this window, exactly these records are collected.

use std::collections::{BTreeMap, BTreeSet};

use pharos_dr::lease::BrokerLease;
use pharos_dr::retention::{Now, collectable, plan, retired_before_ms};
use pharos_meta::{Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, ElectionMode, State};

const HOUR_MS: u64 = 3_600_000;
/// The leader's wall clock in these tests: some day in 2024.
const NOW_UNIX_MS: u64 = 1_717_000_000_000;
const NOW: Now = Now { unix_ms: NOW_UNIX_MS, monotonic_ms: 50_000 };

fn broker(broker_id: u64, group: &str, state: BrokerState, retired_at_ms: Option<u64>) -> Broker {
    Broker {
        broker_id,
        incarnation_id: format!("inc-{broker_id}"),
        cluster: "c".into(),
        group: group.into(),
        name: format!("b{broker_id}"),
        zone: "z".into(),
        region: "main".into(),
        addresses: BTreeMap::new(),
        election_priority: 1,
        state,
        broker_epoch: broker_id * 10,
        retired_at_ms,
    }
}

fn group(name: &str, members: &[u64], master: Option<u64>, sync: &[u64]) -> BrokerGroup {
    BrokerGroup {
        name: name.into(),
        members: members.iter().copied().collect(),
        master_broker_id: master,
        master_epoch: 3,
        sync_state_set: sync.iter().copied().collect(),
        sync_state_epoch: 4,
        allow_unclean_election: false,
        election_mode: ElectionMode::Elected,
    }
}

fn state_of(brokers: Vec<Broker>, groups: Vec<BrokerGroup>) -> State {
    let mut state = State::default();
    state.brokers = brokers.into_iter().map(|broker| (broker.broker_id, broker)).collect();
    state.groups = groups.into_iter().map(|group| (group.name.clone(), group)).collect();
    state
}

fn lease(group: &str, deadline_ms: u64) -> BrokerLease {
    BrokerLease {
        group: group.into(),
        deadline_ms,
        last_heartbeat_ms: None,
        max_offset: 0,
        confirm_offset: 0,
        fencing: false,
        earlier_heartbeat: None,
        generation: 0,
    }
}

fn ids(refs: impl IntoIterator<Item = BrokerRef>) -> Vec<u64> {
    refs.into_iter().map(|broker| broker.broker_id).collect()
}

/// Every kind of record, against a one-day window.
fn table() -> State {
    let day = 24 * HOUR_MS;
    let long_ago = NOW_UNIX_MS - 2 * day;
    state_of(
        vec![
            broker(1, "g1", BrokerState::Active, None),                      // live master
            broker(2, "g1", BrokerState::Active, None),                      // live replica
            broker(3, "g1", BrokerState::Fenced, Some(long_ago)),            // old, in the sync state set
            broker(4, "g1", BrokerState::Fenced, Some(long_ago)),            // old: collected
            broker(5, "g1", BrokerState::Shutdown, Some(NOW_UNIX_MS - day)), // exactly one day: collected
            broker(6, "g1", BrokerState::Shutdown, Some(NOW_UNIX_MS - day + 1)), // one day less 1 ms: kept
            broker(7, "g2", BrokerState::Fenced, Some(long_ago)),            // old, still master of record
            broker(8, "g2", BrokerState::Shutdown, None),                    // retired by an older build
            broker(9, "g2", BrokerState::Fenced, Some(long_ago)),            // old, its lease still runs
            broker(10, "g2", BrokerState::Fenced, Some(NOW_UNIX_MS + HOUR_MS)), // the clock went back: kept
        ],
        vec![group("g1", &[1, 2, 3, 4, 5, 6], Some(1), &[1, 2, 3]), group("g2", &[7, 8, 9, 10], Some(7), &[])],
    )
}

#[test]
fn only_records_retired_for_the_whole_window_and_out_of_every_role_are_collected() {
    let state = table();
    let leases = BTreeMap::from([
        (1, lease("g1", NOW.monotonic_ms + 1_000)),
        (9, lease("g2", NOW.monotonic_ms + 1)),
        // A lease that ran out exactly now no longer protects anything.
        (4, lease("g1", NOW.monotonic_ms)),
    ]);
    let day = 24 * HOUR_MS;
    assert_eq!(ids(collectable(NOW, day, &state, &leases)), vec![4, 5, 8]);
    assert_eq!(
        plan(NOW, day, &state, &leases),
        Some(BrokerOperation::Collect {
            retired_before_ms: NOW_UNIX_MS - day,
            brokers: BTreeSet::from([
                BrokerRef { broker_id: 4, broker_epoch: 40 },
                BrokerRef { broker_id: 5, broker_epoch: 50 },
                BrokerRef { broker_id: 8, broker_epoch: 80 },
            ]),
        })
    );
    // Once broker 9's lease has run out, it goes too.
    let later = Now { monotonic_ms: NOW.monotonic_ms + 1, ..NOW };
    assert_eq!(ids(collectable(later, day, &state, &leases)), vec![4, 5, 8, 9]);
    // A window of three days keeps everything stamped; only the legacy record is older than any window.
    assert_eq!(ids(collectable(NOW, 3 * day, &state, &leases)), vec![8]);
    // A 1 ms window collects the just-retired broker 6 as well.
    assert_eq!(ids(collectable(NOW, 1, &state, &leases)), vec![4, 5, 6, 8]);
}

#[test]
fn nothing_is_collected_before_the_clock_is_a_window_past_the_epoch_or_from_an_empty_table() {
    let state = table();
    let early = Now { unix_ms: 1_000, monotonic_ms: 0 };
    assert_eq!(retired_before_ms(early, 1_001), None);
    assert_eq!(retired_before_ms(early, 1_000), Some(0));
    assert_eq!(collectable(early, 1_001, &state, &BTreeMap::new()).count(), 0);
    assert_eq!(plan(early, 1_001, &state, &BTreeMap::new()), None);
    assert_eq!(plan(NOW, HOUR_MS, &State::default(), &BTreeMap::new()), None);
    let all_live = state_of(vec![broker(1, "g1", BrokerState::Active, None)], vec![group("g1", &[1], Some(1), &[1])]);
    assert_eq!(plan(NOW, 1, &all_live, &BTreeMap::new()), None);
}

#[test]
fn a_plan_is_one_bounded_batch_of_the_lowest_ids_and_apply_accepts_it() {
    let retired_at = NOW_UNIX_MS - 2 * HOUR_MS;
    let members: Vec<u64> = (1..=250).collect();
    let mut state = state_of(
        members.iter().map(|&id| broker(id, "g1", BrokerState::Shutdown, Some(retired_at))).collect(),
        vec![group("g1", &members, None, &[])],
    );
    let leases = BTreeMap::new();
    assert_eq!(collectable(NOW, HOUR_MS, &state, &leases).count(), 250);
    let mut batches = Vec::new();
    let mut index = 1;
    while let Some(operation) = plan(NOW, HOUR_MS, &state, &leases) {
        let BrokerOperation::Collect { brokers, .. } = &operation else { panic!("only collections: {operation:?}") };
        batches.push(ids(brokers.iter().copied()));
        let command = pharos_meta::Command {
            request_id: None,
            issued_at_ms: NOW_UNIX_MS,
            actor: "coordinator".into(),
            operation: pharos_meta::Operation::Broker(operation),
        };
        let applied = pharos_meta::apply(&mut state, index, &command);
        assert_eq!(applied.response, pharos_meta::Response::BrokerChanged { revision: index });
        index += 1;
        assert!(index < 10, "the plan must converge");
    }
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 100, 50]);
    assert_eq!(batches[0], (1..=100).collect::<Vec<_>>());
    assert_eq!(batches[2], (201..=250).collect::<Vec<_>>());
    assert!(state.brokers.is_empty());
    assert!(state.groups["g1"].members.is_empty());
    assert_eq!(state.audit.len(), 3, "one audit record per collection");
}
