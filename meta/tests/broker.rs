//! Exact-output tests of the broker commands.

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::codec;
use pharos_meta::{
    BrokerOperation, BrokerRef, BrokerState, Change, Command, CommandError, DeclaredRole, ElectionMode, NotCollectable,
    Operation, Registration, RegistrationMode, Response, State, apply,
};

fn registration(name: &str, incarnation: &str) -> Registration {
    Registration {
        cluster: "c1".into(),
        group: "g1".into(),
        name: name.into(),
        incarnation_id: incarnation.into(),
        zone: "z1".into(),
        region: "r1".into(),
        addresses: BTreeMap::from([("internal".to_string(), "10.0.0.1:10911".to_string())]),
        election_priority: 1,
        mode: RegistrationMode::Elected,
    }
}

/// A RocketMQ broker of group `g2` registering over the remoting port: its id is its name, its
/// address its incarnation.
fn declared(rocketmq_id: u64, address: &str, role: DeclaredRole) -> Registration {
    Registration {
        group: "g2".into(),
        name: rocketmq_id.to_string(),
        incarnation_id: address.into(),
        addresses: BTreeMap::from([("internal".to_string(), address.to_string())]),
        mode: RegistrationMode::Declared(role),
        ..registration("unused", "unused")
    }
}

fn run(state: &mut State, index: u64, operation: BrokerOperation) -> Response {
    apply(
        state,
        index,
        &Command { request_id: None, issued_at_ms: 0, actor: String::new(), operation: Operation::Broker(operation) },
    )
    .response
}

#[test]
fn registration_hands_out_ids_and_epochs_and_refuses_a_live_duplicate() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    assert_eq!(
        run(&mut state, 10, BrokerOperation::Register(registration("b-a", "inc-1"))),
        Response::BrokerRegistered { broker_id: 1, broker_epoch: 10 }
    );
    assert_eq!(
        run(&mut state, 11, BrokerOperation::Register(registration("b-b", "inc-2"))),
        Response::BrokerRegistered { broker_id: 2, broker_epoch: 11 }
    );
    // The same process retrying gets the same answer; another process is refused.
    assert_eq!(
        run(&mut state, 12, BrokerOperation::Register(registration("b-a", "inc-1"))),
        Response::BrokerRegistered { broker_id: 1, broker_epoch: 10 }
    );
    assert_eq!(state.revision, 11, "an idempotent re-registration changes nothing");
    assert_eq!(
        run(&mut state, 13, BrokerOperation::Register(registration("b-a", "inc-9"))),
        Response::Error(CommandError::DuplicateRegistration { broker_id: 1, incarnation_id: "inc-1".into() })
    );
    let group = &state.groups["g1"];
    assert_eq!(group.members, BTreeSet::from([1, 2]));
    assert_eq!((group.master_broker_id, group.master_epoch), (None, 0));
}

#[test]
fn a_fenced_broker_reregisters_with_a_new_id_and_epoch() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    run(&mut state, 1, BrokerOperation::Register(registration("b-a", "inc-1")));
    assert_eq!(
        run(&mut state, 2, BrokerOperation::Fence { broker_id: 1, broker_epoch: 99 }),
        Response::Error(CommandError::StaleBrokerEpoch { broker_id: 1, current: 1 })
    );
    assert_eq!(
        run(&mut state, 3, BrokerOperation::Fence { broker_id: 1, broker_epoch: 1 }),
        Response::BrokerChanged { revision: 3 }
    );
    assert_eq!(state.brokers[&1].state, BrokerState::Fenced);
    assert_eq!(
        run(&mut state, 4, BrokerOperation::Register(registration("b-a", "inc-2"))),
        Response::BrokerRegistered { broker_id: 2, broker_epoch: 4 }
    );
    assert_eq!(
        run(&mut state, 5, BrokerOperation::Fence { broker_id: 1, broker_epoch: 1 }),
        Response::Error(CommandError::BrokerNotActive { broker_id: 1, state: "fenced" })
    );
}

#[test]
fn elections_and_sync_state_set_changes_are_fenced_by_epochs() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    run(&mut state, 1, BrokerOperation::Register(registration("b-a", "a")));
    run(&mut state, 2, BrokerOperation::Register(registration("b-b", "b")));
    let elect = |broker_id, expected_master_epoch| BrokerOperation::ElectMaster {
        group: "g1".into(),
        broker_id,
        expected_master_epoch,
    };
    assert_eq!(
        run(&mut state, 3, elect(1, 0)),
        Response::MasterElected { group: "g1".into(), master_broker_id: 1, master_epoch: 1 }
    );
    assert_eq!(
        run(&mut state, 4, elect(2, 0)),
        Response::Error(CommandError::StaleMasterEpoch { group: "g1".into(), current: 1 })
    );
    let group = &state.groups["g1"];
    assert_eq!((group.sync_state_set.clone(), group.sync_state_epoch), (BTreeSet::from([1]), 1));

    let alter = |master_broker_id, master_epoch, sync_state_epoch, set: &[u64]| BrokerOperation::AlterSyncStateSet {
        group: "g1".into(),
        master_broker_id,
        master_epoch,
        sync_state_epoch,
        sync_state_set: set.iter().copied().collect(),
    };
    assert_eq!(
        run(&mut state, 5, alter(2, 1, 1, &[1, 2])),
        Response::Error(CommandError::NotMaster { group: "g1".into(), master_broker_id: Some(1) })
    );
    assert_eq!(
        run(&mut state, 6, alter(1, 0, 1, &[1, 2])),
        Response::Error(CommandError::StaleMasterEpoch { group: "g1".into(), current: 1 })
    );
    assert_eq!(
        run(&mut state, 7, alter(1, 1, 0, &[1, 2])),
        Response::Error(CommandError::StaleSyncStateEpoch { group: "g1".into(), current: 1 })
    );
    assert!(matches!(
        run(&mut state, 8, alter(1, 1, 1, &[2])),
        Response::Error(CommandError::InvalidSyncStateSet { .. })
    ));
    assert!(matches!(
        run(&mut state, 9, alter(1, 1, 1, &[1, 7])),
        Response::Error(CommandError::InvalidSyncStateSet { .. })
    ));
    assert_eq!(run(&mut state, 10, alter(1, 1, 1, &[1, 2])), Response::SyncStateSetAltered { sync_state_epoch: 2 });

    // The master dies: fenced, the group is leaderless, the set still names who has the data.
    run(&mut state, 11, BrokerOperation::Fence { broker_id: 1, broker_epoch: 1 });
    let group = &state.groups["g1"];
    assert_eq!((group.master_broker_id, group.master_epoch), (None, 1));
    assert_eq!(group.sync_state_set, BTreeSet::from([1, 2]));
    assert_eq!(
        run(&mut state, 12, elect(1, 1)),
        Response::Error(CommandError::BrokerNotActive { broker_id: 1, state: "fenced" })
    );
    assert_eq!(
        run(&mut state, 13, elect(2, 1)),
        Response::MasterElected { group: "g1".into(), master_broker_id: 2, master_epoch: 2 }
    );
    assert_eq!(state.groups["g1"].sync_state_epoch, 3);
}

#[test]
fn malformed_registrations_change_nothing() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    let mut bad_address = registration("b-a", "a");
    bad_address.addresses.insert("public".into(), "no-port".into());
    assert!(matches!(
        run(&mut state, 1, BrokerOperation::Register(bad_address)),
        Response::Error(CommandError::InvalidRegistration { .. })
    ));
    let mut bad_name = registration("b a", "a");
    bad_name.group = "g1".into();
    assert!(matches!(
        run(&mut state, 2, BrokerOperation::Register(bad_name)),
        Response::Error(CommandError::InvalidRegistration { .. })
    ));
    let mut no_address = registration("b-a", "a");
    no_address.addresses.clear();
    assert!(matches!(
        run(&mut state, 3, BrokerOperation::Register(no_address)),
        Response::Error(CommandError::InvalidRegistration { .. })
    ));
    assert_eq!(state, State::at_feature_level(pharos_meta::feature::LATEST));
}

#[test]
fn broker_state_survives_snapshots_and_command_encoding() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    run(&mut state, 1, BrokerOperation::Register(registration("b-a", "a")));
    run(&mut state, 2, BrokerOperation::ElectMaster { group: "g1".into(), broker_id: 1, expected_master_epoch: 0 });
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!(restored, state);
    assert_eq!(restored.digest(), state.digest());
    for operation in [
        BrokerOperation::Register(registration("b-a", "a")),
        BrokerOperation::Unregister { broker_id: 1, broker_epoch: 2 },
        BrokerOperation::Fence { broker_id: 1, broker_epoch: 2 },
        BrokerOperation::Remove { broker_id: 1 },
        BrokerOperation::ElectMaster { group: "g".into(), broker_id: 3, expected_master_epoch: 4 },
        BrokerOperation::AlterSyncStateSet {
            group: "g".into(),
            master_broker_id: 1,
            master_epoch: 2,
            sync_state_epoch: 3,
            sync_state_set: BTreeSet::from([1, 2]),
        },
    ] {
        let command = Command {
            request_id: None,
            issued_at_ms: 5,
            actor: String::new(),
            operation: Operation::Broker(operation),
        };
        assert_eq!(codec::decode_command(&codec::encode_command(&command)), Ok(command));
    }
    for response in [
        Response::Error(CommandError::NotMaster { group: "g".into(), master_broker_id: None }),
        Response::Error(CommandError::BrokerNotActive { broker_id: 3, state: "shutdown" }),
        Response::MasterElected { group: "g".into(), master_broker_id: 2, master_epoch: 9 },
    ] {
        assert_eq!(codec::decode_response(&codec::encode_response(&response)), Ok(response));
    }
}

fn at(state: &mut State, index: u64, issued_at_ms: u64, operation: BrokerOperation) -> pharos_meta::Applied {
    let command = Command {
        request_id: None,
        issued_at_ms,
        actor: "coordinator".into(),
        operation: Operation::Broker(operation),
    };
    apply(state, index, &command)
}

fn refs(brokers: &[(u64, u64)]) -> BTreeSet<BrokerRef> {
    brokers.iter().map(|&(broker_id, broker_epoch)| BrokerRef { broker_id, broker_epoch }).collect()
}

/// Issue 11, bug 7: retired records are collected, and nothing else.
#[test]
fn a_collection_forgets_exactly_the_retired_records_it_names_or_nothing() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    // 1 master, 2 in the sync state set, 3 and 4 plain replicas, 5 a plain replica.
    for (index, name) in [(1, "b-1"), (2, "b-2"), (3, "b-3"), (4, "b-4"), (5, "b-5")] {
        at(&mut state, index, 0, BrokerOperation::Register(registration(name, name)));
    }
    at(&mut state, 6, 0, BrokerOperation::ElectMaster { group: "g1".into(), broker_id: 1, expected_master_epoch: 0 });
    let alter = BrokerOperation::AlterSyncStateSet {
        group: "g1".into(),
        master_broker_id: 1,
        master_epoch: 1,
        sync_state_epoch: 1,
        sync_state_set: BTreeSet::from([1, 2]),
    };
    assert_eq!(at(&mut state, 7, 0, alter).response, Response::SyncStateSetAltered { sync_state_epoch: 2 });
    // Retirement times are the retiring command's `issued_at_ms`, nothing else.
    at(&mut state, 8, 1_000, BrokerOperation::Fence { broker_id: 2, broker_epoch: 2 });
    at(&mut state, 9, 2_000, BrokerOperation::Fence { broker_id: 3, broker_epoch: 3 });
    at(&mut state, 10, 3_000, BrokerOperation::Unregister { broker_id: 4, broker_epoch: 4 });
    let retired: Vec<_> = state.brokers.values().map(|broker| (broker.broker_id, broker.retired_at_ms)).collect();
    assert_eq!(retired, vec![(1, None), (2, Some(1_000)), (3, Some(2_000)), (4, Some(3_000)), (5, None)]);
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!((restored.digest(), &restored), (state.digest(), &state), "retirement times are persisted");

    let collect = |retired_before_ms, brokers: &[(u64, u64)]| BrokerOperation::Collect {
        retired_before_ms,
        brokers: refs(brokers),
    };
    let before = state.clone();
    // Each refusal names the first broker (by id) that must stay; the state does not move.
    for (index, operation, error) in [
        (
            11,
            collect(5_000, &[(3, 3), (5, 5)]),
            CommandError::BrokerNotCollectable { broker_id: 5, reason: NotCollectable::Active },
        ),
        (
            12,
            collect(5_000, &[(1, 1), (3, 3)]),
            CommandError::BrokerNotCollectable { broker_id: 1, reason: NotCollectable::Active },
        ),
        (
            13,
            collect(5_000, &[(2, 2), (3, 3)]),
            CommandError::BrokerNotCollectable { broker_id: 2, reason: NotCollectable::InSyncStateSet },
        ),
        (
            14,
            collect(2_999, &[(3, 3), (4, 4)]),
            CommandError::BrokerNotCollectable { broker_id: 4, reason: NotCollectable::RetiredTooRecently },
        ),
        (15, collect(5_000, &[(3, 9)]), CommandError::StaleBrokerEpoch { broker_id: 3, current: 3 }),
        (16, collect(5_000, &[(3, 3), (77, 1)]), CommandError::UnknownBroker { broker_id: 77 }),
        (17, collect(5_000, &[]), CommandError::CollectionSize { brokers: 0, max: 100 }),
    ] {
        let applied = at(&mut state, index, 6_000, operation);
        assert_eq!(applied.response, Response::Error(error));
        assert_eq!(applied.changes.len(), 1, "only the audit record of the refusal");
        assert!(matches!(applied.changes[0], Change::AuditPut { .. }));
    }
    let mut after_refusals = state.clone();
    after_refusals.audit = before.audit.clone();
    assert_eq!(after_refusals, before, "refused collections change no data");
    assert_eq!(state.audit[&12].result, "the record of broker 1 cannot be collected: it is active");

    // At the cutoff exactly: retired at 2 000 and 3 000, collected at or before 3 000.
    let applied = at(&mut state, 18, 6_000, collect(3_000, &[(3, 3), (4, 4)]));
    assert_eq!(applied.response, Response::BrokerChanged { revision: 18 });
    assert_eq!(state.brokers.keys().copied().collect::<Vec<_>>(), vec![1, 2, 5]);
    let group = &state.groups["g1"];
    assert_eq!(group.members, BTreeSet::from([1, 2, 5]));
    assert_eq!((group.sync_state_set.clone(), group.sync_state_epoch), (BTreeSet::from([1, 2]), 2), "untouched");
    let deleted: Vec<&Change> =
        applied.changes.iter().filter(|change| matches!(change, Change::BrokerDelete { .. })).collect();
    assert_eq!(deleted, [&Change::BrokerDelete { broker_id: 3 }, &Change::BrokerDelete { broker_id: 4 }]);
    let last_group = applied.changes.iter().rev().find(|change| matches!(change, Change::GroupPut { .. }));
    assert_eq!(last_group, Some(&Change::GroupPut { group: state.groups["g1"].clone() }), "watchers see the group");
    let audit = &state.audit[&18];
    assert_eq!(
        (audit.at_ms, audit.actor.as_str(), audit.action.as_str(), audit.target.as_str(), audit.result.as_str()),
        (6_000, "coordinator", "collect_brokers", "brokers 3, 4 (retired at or before 3000 ms)", "ok")
    );
    // The same command again is stale: its brokers are gone, nothing changes.
    let replay = at(&mut state, 19, 6_000, collect(3_000, &[(3, 3), (4, 4)]));
    assert_eq!(replay.response, Response::Error(CommandError::UnknownBroker { broker_id: 3 }));
    assert_eq!(state.revision, 18);

    // A broker that restarts registers anew (new id): the old record goes, the new one stays.
    at(&mut state, 20, 7_000, BrokerOperation::Fence { broker_id: 5, broker_epoch: 5 });
    at(&mut state, 21, 7_100, BrokerOperation::Register(registration("b-5", "b-5-again")));
    assert_eq!(state.brokers[&6].name, "b-5");
    let refused = at(&mut state, 22, 9_000, collect(8_000, &[(5, 5), (6, 21)]));
    assert_eq!(
        refused.response,
        Response::Error(CommandError::BrokerNotCollectable { broker_id: 6, reason: NotCollectable::Active })
    );
    at(&mut state, 23, 9_000, collect(8_000, &[(5, 5)]));
    assert_eq!(state.brokers.keys().copied().collect::<Vec<_>>(), vec![1, 2, 6]);

    // A retried unregistration of a retired broker keeps its first retirement time.
    at(&mut state, 24, 50_000, BrokerOperation::Unregister { broker_id: 2, broker_epoch: 2 });
    assert_eq!((state.brokers[&2].state, state.brokers[&2].retired_at_ms), (BrokerState::Shutdown, Some(1_000)));

    // The master, once fenced, is not collected while it is master of record.
    let mut fenced_master = state.clone();
    at(&mut fenced_master, 25, 9_000, BrokerOperation::Fence { broker_id: 1, broker_epoch: 1 });
    assert_eq!(
        at(&mut fenced_master, 26, 99_000, collect(90_000, &[(1, 1)])).response,
        Response::Error(CommandError::BrokerNotCollectable { broker_id: 1, reason: NotCollectable::InSyncStateSet }),
        "a fenced master stays in the sync state set until the next master rewrites it"
    );
}

#[test]
fn the_master_of_record_and_legacy_records_without_a_retirement_time() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    at(&mut state, 1, 0, BrokerOperation::Register(registration("b-1", "b-1")));
    at(&mut state, 2, 0, BrokerOperation::ElectMaster { group: "g1".into(), broker_id: 1, expected_master_epoch: 0 });
    // A state an older build wrote: broker 1 shut down, still named master, no retirement time.
    let broker = state.brokers.get_mut(&1).expect("broker 1");
    broker.state = BrokerState::Shutdown;
    let group = state.groups.get_mut("g1").expect("g1");
    group.sync_state_set.clear();
    assert_eq!(
        state.collectable(&BrokerRef { broker_id: 1, broker_epoch: 1 }, 0),
        Err(CommandError::BrokerNotCollectable { broker_id: 1, reason: NotCollectable::Master })
    );
    state.groups.get_mut("g1").expect("g1").master_broker_id = None;
    // Without a retirement time the record counts as retired before any cutoff.
    assert_eq!(state.collectable(&BrokerRef { broker_id: 1, broker_epoch: 1 }, 0).map(|b| b.broker_id), Ok(1));
}

#[test]
fn a_collection_is_bounded_and_encodes() {
    let too_many: Vec<(u64, u64)> = (1..=101).map(|id| (id, id)).collect();
    let operation = Operation::Broker(BrokerOperation::Collect { retired_before_ms: 5, brokers: refs(&too_many) });
    assert_eq!(pharos_meta::validate(&operation), Err(CommandError::CollectionSize { brokers: 101, max: 100 }));
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    assert_eq!(
        apply(&mut state, 1, &Command { request_id: None, issued_at_ms: 9, actor: String::new(), operation }).response,
        Response::Error(CommandError::CollectionSize { brokers: 101, max: 100 })
    );
    let command = Command {
        request_id: None,
        issued_at_ms: 9,
        actor: "coordinator".into(),
        operation: Operation::Broker(BrokerOperation::Collect {
            retired_before_ms: 5,
            brokers: refs(&[(3, 4), (9, 1)]),
        }),
    };
    assert_eq!(codec::decode_command(&codec::encode_command(&command)), Ok(command));
    for error in [
        CommandError::BrokerNotCollectable { broker_id: 3, reason: NotCollectable::RetiredTooRecently },
        CommandError::CollectionSize { brokers: 0, max: 100 },
    ] {
        let response = Response::Error(error);
        assert_eq!(codec::decode_response(&codec::encode_response(&response)), Ok(response));
    }
}

#[test]
fn a_declared_master_becomes_master_at_registration_and_nothing_elects_in_its_group() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    let master = declared(0, "10.0.0.1:10911", DeclaredRole::Master);
    let replica = declared(1, "10.0.0.2:10911", DeclaredRole::Replica);
    assert_eq!(
        run(&mut state, 5, BrokerOperation::Register(replica.clone())),
        Response::BrokerRegistered { broker_id: 1, broker_epoch: 5 }
    );
    assert_eq!(state.groups["g2"].election_mode, ElectionMode::Declared);
    assert_eq!(state.groups["g2"].master_broker_id, None, "a replica never becomes master");
    assert_eq!(
        run(&mut state, 6, BrokerOperation::Register(master.clone())),
        Response::BrokerRegistered { broker_id: 2, broker_epoch: 6 }
    );
    let group = &state.groups["g2"];
    assert_eq!(
        (group.master_broker_id, group.master_epoch, group.sync_state_set.clone(), group.sync_state_epoch),
        (Some(2), 1, BTreeSet::from([2]), 1)
    );
    // The same registration again is a retry: same answer, nothing changes.
    let before = state.clone();
    assert_eq!(
        run(&mut state, 7, BrokerOperation::Register(master.clone())),
        Response::BrokerRegistered { broker_id: 2, broker_epoch: 6 }
    );
    assert_eq!(state.groups, before.groups);
    assert_eq!(state.brokers, before.brokers);
    // A second process declaring itself master (another address) under another RocketMQ id is
    // refused while the master is active, and changes nothing but the revision.
    let usurper = declared(3, "10.0.0.3:10911", DeclaredRole::Master);
    assert_eq!(
        run(&mut state, 8, BrokerOperation::Register(usurper.clone())),
        Response::Error(CommandError::MasterStillActive { group: "g2".into(), master_broker_id: 2 })
    );
    assert_eq!((state.brokers.len(), state.next_broker_id), (2, 3));
    // Nothing elects in a declared group, not even the planner's ElectMaster.
    let elect = BrokerOperation::ElectMaster { group: "g2".into(), broker_id: 1, expected_master_epoch: 1 };
    assert_eq!(run(&mut state, 9, elect), Response::Error(CommandError::MasterDeclared { group: "g2".into() }));
    // Once the master is fenced (it stopped registering), the group has none until a broker
    // declares itself master again; the restarted master is a new registration, epoch + 1.
    assert_eq!(
        run(&mut state, 10, BrokerOperation::Fence { broker_id: 2, broker_epoch: 6 }),
        Response::BrokerChanged { revision: 10 }
    );
    assert_eq!(state.groups["g2"].master_broker_id, None);
    assert_eq!(
        run(&mut state, 11, BrokerOperation::Register(usurper)),
        Response::BrokerRegistered { broker_id: 3, broker_epoch: 11 }
    );
    assert_eq!((state.groups["g2"].master_broker_id, state.groups["g2"].master_epoch), (Some(3), 2));
}

#[test]
fn a_group_keeps_the_election_mode_of_its_first_registration() {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    run(&mut state, 1, BrokerOperation::Register(registration("b-a", "inc-1")));
    let refused = run(
        &mut state,
        2,
        BrokerOperation::Register(Registration {
            group: "g1".into(),
            ..declared(0, "10.0.0.9:10911", DeclaredRole::Master)
        }),
    );
    assert!(
        matches!(&refused, Response::Error(CommandError::InvalidRegistration { reason }) if reason.contains("elected")),
        "{refused:?}"
    );
    run(&mut state, 3, BrokerOperation::Register(declared(0, "10.0.0.1:10911", DeclaredRole::Master)));
    let refused = run(
        &mut state,
        4,
        BrokerOperation::Register(Registration { group: "g2".into(), ..registration("b-b", "inc-2") }),
    );
    assert!(
        matches!(&refused, Response::Error(CommandError::InvalidRegistration { reason }) if reason.contains("declared")),
        "{refused:?}"
    );
    assert_eq!(state.brokers.len(), 2);
    // The mode survives a snapshot.
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!(restored.groups["g2"].election_mode, ElectionMode::Declared);
    assert_eq!(restored.groups["g1"].election_mode, ElectionMode::Elected);
}
