//! Exact-output tests of the broker commands.

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::codec;
use pharos_meta::{
    BrokerOperation, BrokerState, Command, CommandError, Operation, Registration, Response, State, apply,
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
    let mut state = State::default();
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
    let mut state = State::default();
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
    let mut state = State::default();
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
    let mut state = State::default();
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
    assert_eq!(state, State::default());
}

#[test]
fn broker_state_survives_snapshots_and_command_encoding() {
    let mut state = State::default();
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
