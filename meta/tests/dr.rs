//! Exact-output tests of the DR commands: placement, the sync state machine, switchover steps,
//! failover generations, and their persisted formats.

use pharos_meta::codec;
use pharos_meta::{
    AbandonedMember, Command, CommandError, DrCommand, DrOperation, FailoverRecord, Operation, ReplicationMode,
    Response, State, SwitchoverStep, SyncState, apply,
};

fn dr(command: DrCommand) -> Command {
    Command { request_id: None, issued_at_ms: 1_000, actor: "operator".to_string(), operation: Operation::Dr(command) }
}

fn configured() -> State {
    let mut state = State::default();
    let configure = DrCommand::Configure { primary_region: "r1".into(), dr_region: "r2".into() };
    assert_eq!(apply(&mut state, 2, &dr(configure)).response, Response::DrChanged { revision: 2 });
    state
}

fn error_of(state: &mut State, index: u64, command: DrCommand) -> CommandError {
    let before = state.dr.clone();
    let applied = apply(state, index, &dr(command));
    assert_eq!(state.dr, before, "a refused command changes nothing");
    match applied.response {
        Response::Error(error) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn defaults_are_majority_generation_one() {
    let state = State::default();
    assert_eq!(state.dr.mode, ReplicationMode::Majority);
    assert_eq!(state.dr.generation, 1);
    assert!(!state.dr.waits_for_dr());
}

#[test]
fn sync_state_machine_follows_sync_async_recover_sync_with_new_ids() {
    let mut state = configured();
    let set = DrCommand::SetMode { mode: ReplicationMode::DrSync, dr_sync_timeout_ms: 2_000 };
    apply(&mut state, 3, &dr(set));
    assert_eq!((state.dr.state, state.dr.dr_state_id), (SyncState::SyncRecover, 3));
    assert!(!state.dr.waits_for_dr());

    for (index, next) in
        [(4, SyncState::Sync), (5, SyncState::Async), (6, SyncState::SyncRecover), (7, SyncState::Sync)]
    {
        let expected = state.dr.dr_state_id;
        let switch = DrCommand::SwitchState { expected_dr_state_id: expected, state: next };
        assert_eq!(apply(&mut state, index, &dr(switch)).response, Response::DrChanged { revision: index });
        assert_eq!((state.dr.state, state.dr.dr_state_id), (next, index));
    }
    assert!(state.dr.waits_for_dr());

    // A decision made against an older state id is refused.
    let stale = DrCommand::SwitchState { expected_dr_state_id: 6, state: SyncState::Async };
    assert_eq!(error_of(&mut state, 8, stale), CommandError::StaleDrState { current: 7 });
    // Sync cannot jump to sync-recover.
    let skip = DrCommand::SwitchState { expected_dr_state_id: 7, state: SyncState::SyncRecover };
    assert!(matches!(error_of(&mut state, 9, skip), CommandError::InvalidDr { .. }));
}

#[test]
fn dr_sync_needs_a_dr_region_and_a_sane_timeout() {
    let mut state = State::default();
    let set = DrCommand::SetMode { mode: ReplicationMode::DrSync, dr_sync_timeout_ms: 2_000 };
    assert!(matches!(error_of(&mut state, 2, set), CommandError::InvalidDr { .. }));
    let mut state = configured();
    let set = DrCommand::SetMode { mode: ReplicationMode::DrSync, dr_sync_timeout_ms: 5 };
    assert!(matches!(error_of(&mut state, 3, set), CommandError::InvalidDr { .. }));
    let same = DrCommand::Configure { primary_region: "r1".into(), dr_region: "r1".into() };
    assert!(matches!(error_of(&mut state, 4, same), CommandError::InvalidDr { .. }));
}

#[test]
fn switchover_records_each_step_and_flips_regions_at_move_masters() {
    let mut state = configured();
    let begin = DrCommand::BeginSwitchover { from_region: "r1".into(), to_region: "r2".into() };
    apply(&mut state, 10, &dr(begin.clone()));
    let expected = DrOperation {
        id: 10,
        from_region: "r1".into(),
        to_region: "r2".into(),
        step: SwitchoverStep::PromoteLearners,
        started_at_ms: 1_000,
        step_at_ms: 1_000,
    };
    assert_eq!(state.dr.operation, Some(expected));
    assert_eq!(error_of(&mut state, 11, begin), CommandError::DrOperationInProgress { operation_id: 10 });
    let configure = DrCommand::Configure { primary_region: "r2".into(), dr_region: "r1".into() };
    assert_eq!(error_of(&mut state, 12, configure), CommandError::DrOperationInProgress { operation_id: 10 });

    let advance = |step| DrCommand::AdvanceSwitchover { operation_id: 10, step };
    apply(&mut state, 13, &dr(advance(SwitchoverStep::TransferLeader)));
    apply(&mut state, 14, &dr(advance(SwitchoverStep::DemoteVoters)));
    assert_eq!(state.dr.primary_region, "r1");
    // Replaying a step (a resumed leader) is refused, not repeated.
    assert!(matches!(
        error_of(&mut state, 15, advance(SwitchoverStep::TransferLeader)),
        CommandError::InvalidDr { .. }
    ));
    let other = DrCommand::AdvanceSwitchover { operation_id: 9, step: SwitchoverStep::MoveMasters };
    assert_eq!(error_of(&mut state, 16, other), CommandError::StaleDrOperation { operation_id: 9, current: Some(10) });
    apply(&mut state, 17, &dr(advance(SwitchoverStep::MoveMasters)));
    assert_eq!((state.dr.primary_region.as_str(), state.dr.dr_region.as_str()), ("r2", "r1"));

    apply(&mut state, 18, &dr(DrCommand::FinishSwitchover { operation_id: 10, error: None }));
    assert_eq!(state.dr.operation, None);
    let finished = state.dr.last_operation.clone().expect("recorded");
    assert_eq!((finished.id, finished.result.as_str(), finished.finished_at_ms), (10, "ok", 1_000));
    // The audit log has every DR command, refusals included.
    assert_eq!(state.audit.len(), 10);
    assert_eq!(state.audit[&16].result, "DR operation 9 is not the current one (current: 10)");
}

fn failover(generation: u64) -> FailoverRecord {
    FailoverRecord {
        generation,
        at_ms: 0,
        from_region: "r1".into(),
        to_region: "r2".into(),
        seed_node_id: 4,
        seed_last_log_index: 40,
        last_known_commit_index: 41,
        last_mode: ReplicationMode::DrSync,
        last_state: SyncState::Sync,
        last_dr_state_id: 7,
        rpo_zero: true,
        leader_silence_ms: Some(300),
        last_announced_dr_state_id: 7,
        sync_promise_remaining_ms: 2_400,
        abandoned_members: vec![AbandonedMember {
            node_id: 1,
            client_addr: "127.0.0.1:1".into(),
            peer_addr: "127.0.0.1:2".into(),
            zone: "z1".into(),
            region: "r1".into(),
        }],
    }
}

#[test]
fn failover_raises_the_generation_once_and_abandons_a_running_switchover() {
    let mut state = configured();
    apply(&mut state, 3, &dr(DrCommand::SetMode { mode: ReplicationMode::DrSync, dr_sync_timeout_ms: 2_000 }));
    apply(&mut state, 4, &dr(DrCommand::BeginSwitchover { from_region: "r1".into(), to_region: "r2".into() }));
    apply(&mut state, 5, &dr(DrCommand::CompleteFailover(failover(2))));
    assert_eq!(state.dr.generation, 2);
    assert_eq!((state.dr.primary_region.as_str(), state.dr.dr_region.as_str()), ("r2", "r1"));
    assert_eq!((state.dr.state, state.dr.dr_state_id), (SyncState::Async, 5));
    assert_eq!(state.dr.operation, None);
    assert!(state.dr.last_operation.as_ref().expect("abandoned").result.contains("generation 2"));
    assert_eq!(state.dr.last_failover.as_ref().map(|record| record.at_ms), Some(1_000));

    assert_eq!(
        error_of(&mut state, 6, DrCommand::CompleteFailover(failover(2))),
        CommandError::StaleGeneration { current: 2 }
    );
}

#[test]
fn dr_record_and_commands_round_trip_and_survive_snapshots() {
    let mut state = configured();
    apply(&mut state, 3, &dr(DrCommand::BeginSwitchover { from_region: "r1".into(), to_region: "r2".into() }));
    apply(&mut state, 4, &dr(DrCommand::CompleteFailover(failover(3))));
    let bytes = codec::encode_dr_record(&state.dr);
    assert_eq!(codec::decode_dr_record(&bytes), Ok(state.dr.clone()));
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("snapshot decodes");
    assert_eq!(restored.digest(), state.digest());
    assert_eq!(restored.dr, state.dr);

    for command in [
        DrCommand::Configure { primary_region: "a".into(), dr_region: "b".into() },
        DrCommand::SetMode { mode: ReplicationMode::DrSync, dr_sync_timeout_ms: 900 },
        DrCommand::SwitchState { expected_dr_state_id: 3, state: SyncState::SyncRecover },
        DrCommand::AdvanceSwitchover { operation_id: 3, step: SwitchoverStep::DemoteVoters },
        DrCommand::FinishSwitchover { operation_id: 3, error: Some("lost quorum".into()) },
        DrCommand::CompleteFailover(failover(9)),
    ] {
        let command = dr(command);
        assert_eq!(codec::decode_command(&codec::encode_command(&command)), Ok(command));
    }
}
