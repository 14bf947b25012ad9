//! Exact-output tests of topics, routes and offsets.

use std::collections::BTreeMap;

use pharos_meta::codec;
use pharos_meta::{
    BrokerOperation, Command, CommandError, MessageType, OffsetBatch, OffsetCommit, OffsetKey, Operation, QueueCounts,
    Registration, ReportedTopic, ResetTarget, Response, State, TopicOperation, TopicOrigin, TopicSpec, apply,
};

fn run(state: &mut State, index: u64, operation: Operation) -> Response {
    apply(state, index, &Command { request_id: None, issued_at_ms: 0, actor: String::new(), operation }).response
}

fn topic_op(state: &mut State, index: u64, operation: TopicOperation) -> Response {
    run(state, index, Operation::Topic(operation))
}

fn with_groups() -> State {
    let mut state = State::at_feature_level(pharos_meta::feature::LATEST);
    for (index, (group, name)) in [("g1", "a"), ("g1", "b"), ("g2", "c")].into_iter().enumerate() {
        let registration = Registration {
            cluster: "c".into(),
            group: group.into(),
            name: name.into(),
            incarnation_id: name.into(),
            zone: "z".into(),
            region: "r".into(),
            addresses: BTreeMap::from([
                ("internal".to_string(), format!("10.0.0.{index}:10911")),
                ("public".to_string(), format!("1.2.3.{index}:10911")),
            ]),
            election_priority: 0,
            mode: pharos_meta::RegistrationMode::Elected,
        };
        run(&mut state, index as u64 + 1, Operation::Broker(BrokerOperation::Register(registration)));
    }
    run(
        &mut state,
        4,
        Operation::Broker(BrokerOperation::ElectMaster { group: "g1".into(), broker_id: 1, expected_master_epoch: 0 }),
    );
    state
}

fn spec(name: &str, groups: &[(&str, u32)]) -> TopicSpec {
    TopicSpec {
        name: name.into(),
        queues: groups
            .iter()
            .map(|(group, count)| (group.to_string(), QueueCounts { read: *count, write: *count }))
            .collect(),
        perm: 6,
        message_type: MessageType::Normal,
        attributes: BTreeMap::new(),
    }
}

fn commit(group: &str, topic: &str, queue_id: u32, offset: u64) -> OffsetCommit {
    OffsetCommit { key: OffsetKey { consumer_group: group.into(), topic: topic.into(), queue_id }, offset }
}

#[test]
fn topics_are_validated_against_names_and_groups() {
    let mut state = with_groups();
    assert_eq!(
        topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 4), ("g2", 2)]))),
        Response::TopicChanged { revision: 10 }
    );
    assert_eq!(
        topic_op(&mut state, 11, TopicOperation::Create(spec("orders", &[("g1", 4)]))),
        Response::Error(CommandError::TopicExists { topic: "orders".into() })
    );
    assert_eq!(
        topic_op(&mut state, 12, TopicOperation::Create(spec("x", &[("nope", 4)]))),
        Response::Error(CommandError::UnknownGroup { group: "nope".into() })
    );
    assert!(matches!(
        topic_op(&mut state, 13, TopicOperation::Create(spec("bad name", &[("g1", 4)]))),
        Response::Error(CommandError::InvalidTopic { .. })
    ));
    assert!(matches!(
        topic_op(&mut state, 14, TopicOperation::Create(spec("huge", &[("g1", 5_000)]))),
        Response::Error(CommandError::InvalidTopic { .. })
    ));
    assert_eq!(state.revision, 10, "refusals change nothing");
    assert_eq!(state.topics["orders"].queue_count(), 6);
}

#[test]
fn routes_follow_the_master() {
    let mut state = with_groups();
    topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 4), ("g2", 2)])));
    let route = state.route("orders").expect("route");
    assert_eq!(route.groups.len(), 2);
    assert_eq!(route.groups[0].master.as_ref().map(|b| b.broker_id), Some(1));
    assert_eq!(route.groups[0].replicas.iter().map(|b| b.broker_id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(route.groups[1].master, None, "g2 has no master yet");
    run(&mut state, 11, Operation::Broker(BrokerOperation::Fence { broker_id: 1, broker_epoch: 1 }));
    run(
        &mut state,
        12,
        Operation::Broker(BrokerOperation::ElectMaster { group: "g1".into(), broker_id: 2, expected_master_epoch: 1 }),
    );
    let route = state.route("orders").expect("route");
    assert_eq!(route.groups[0].master.as_ref().map(|b| b.broker_id), Some(2));
    assert!(route.groups[0].replicas.is_empty(), "the fenced broker is not a replica");
    assert_eq!(state.topics_on_group("g1"), vec!["orders".to_string()]);
}

#[test]
fn offset_batches_succeed_or_fail_alone_and_monotonic_commits_refuse_going_back() {
    let mut state = with_groups();
    topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 2)])));
    let first = OffsetBatch {
        commits: vec![commit("cg", "orders", 0, 100), commit("cg", "orders", 1, 50)],
        reject_backwards: true,
        request_id: None,
    };
    let backwards =
        OffsetBatch { commits: vec![commit("cg", "orders", 0, 99)], reject_backwards: true, request_id: None };
    let unknown_queue =
        OffsetBatch { commits: vec![commit("cg", "orders", 7, 1)], reject_backwards: false, request_id: None };
    let response = topic_op(&mut state, 11, TopicOperation::CommitOffsets { batches: vec![first] });
    assert_eq!(response, Response::OffsetsCommitted { revision: 11, results: vec![None] });
    let response = topic_op(&mut state, 12, TopicOperation::CommitOffsets { batches: vec![backwards, unknown_queue] });
    let Response::OffsetsCommitted { results, .. } = response else { panic!("{response:?}") };
    assert_eq!(
        results[0],
        Some(CommandError::OffsetBackwards {
            consumer_group: "cg".into(),
            topic: "orders".into(),
            queue_id: 0,
            current: 100
        })
    );
    assert!(matches!(results[1], Some(CommandError::InvalidOffsetCommit { .. })));
    let key = OffsetKey { consumer_group: "cg".into(), topic: "orders".into(), queue_id: 0 };
    assert_eq!(state.offsets[&key].offset, 100);
    // Without the monotonic option, going back is allowed (an explicit rewind).
    let rewind =
        OffsetBatch { commits: vec![commit("cg", "orders", 0, 10)], reject_backwards: false, request_id: None };
    topic_op(&mut state, 13, TopicOperation::CommitOffsets { batches: vec![rewind] });
    assert_eq!(state.offsets[&key].offset, 10);
    assert_eq!(state.offsets[&key].committed_at_revision, 13);
}

#[test]
fn deleting_a_topic_with_consumers_needs_force_and_reset_covers_every_queue() {
    let mut state = with_groups();
    topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 3)])));
    let batch = OffsetBatch { commits: vec![commit("cg", "orders", 1, 5)], reject_backwards: false, request_id: None };
    topic_op(&mut state, 11, TopicOperation::CommitOffsets { batches: vec![batch] });
    assert_eq!(
        topic_op(
            &mut state,
            12,
            TopicOperation::ResetOffsets {
                consumer_group: "cg".into(),
                topic: "orders".into(),
                to: ResetTarget::Earliest
            }
        ),
        Response::OffsetsReset { revision: 12, queues_reset: 3 }
    );
    assert!(state.offsets.values().all(|record| record.offset == 0));
    assert_eq!(
        topic_op(&mut state, 13, TopicOperation::Delete { name: "orders".into(), force: false }),
        Response::Error(CommandError::TopicHasConsumers { topic: "orders".into(), consumer_groups: 1 })
    );
    assert_eq!(
        topic_op(&mut state, 14, TopicOperation::Delete { name: "orders".into(), force: true }),
        Response::TopicChanged { revision: 14 }
    );
    assert!(state.offsets.is_empty() && state.topics.is_empty());
}

#[test]
fn topics_and_offsets_survive_snapshots_and_encoding() {
    let mut state = with_groups();
    topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 2)])));
    let batch = OffsetBatch { commits: vec![commit("cg", "orders", 1, 5)], reject_backwards: true, request_id: None };
    topic_op(&mut state, 11, TopicOperation::CommitOffsets { batches: vec![batch.clone()] });
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!(restored, state);
    assert_eq!(restored.digest(), state.digest());
    let command = Command {
        request_id: None,
        issued_at_ms: 1,
        actor: String::new(),
        operation: Operation::Topic(TopicOperation::CommitOffsets { batches: vec![batch] }),
    };
    assert_eq!(codec::decode_command(&codec::encode_command(&command)), Ok(command));
    let response = Response::OffsetsCommitted {
        revision: 3,
        results: vec![
            None,
            Some(CommandError::OffsetBackwards {
                consumer_group: "g".into(),
                topic: "t".into(),
                queue_id: 2,
                current: 9,
            }),
        ],
    };
    assert_eq!(codec::decode_response(&codec::encode_response(&response)), Ok(response));
}

#[test]
fn administrative_changes_and_refusals_are_audited_with_actor_and_time() {
    let mut state = with_groups();
    let command = |operation, actor: &str, at: u64| Command {
        request_id: None,
        issued_at_ms: at,
        actor: actor.to_string(),
        operation: Operation::Topic(operation),
    };
    apply(&mut state, 10, &command(TopicOperation::Create(spec("orders", &[("g1", 2)])), "10.0.0.9:5000", 111));
    apply(&mut state, 11, &command(TopicOperation::Create(spec("orders", &[("g1", 2)])), "10.0.0.9:5000", 112));
    let reset = TopicOperation::ResetOffsets {
        consumer_group: "cg".into(),
        topic: "orders".into(),
        to: ResetTarget::Offset(5),
    };
    apply(&mut state, 12, &command(reset, "ops", 113));
    // Not administrative: no record.
    let commit = TopicOperation::CommitOffsets {
        batches: vec![OffsetBatch { commits: vec![], reject_backwards: false, request_id: None }],
    };
    apply(&mut state, 13, &command(commit, "broker", 114));

    assert_eq!(state.audit[&4].action, "elect_master", "the setup's election is audited too");
    let records: Vec<_> = state
        .audit
        .range(10..)
        .map(|(_, record)| record)
        .map(|r| (r.index, r.at_ms, r.actor.as_str(), r.action.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        records,
        vec![
            (10, 111, "10.0.0.9:5000", "create_topic", "ok"),
            (11, 112, "10.0.0.9:5000", "create_topic", "topic orders already exists"),
            (12, 113, "ops", "reset_offsets", "ok"),
        ]
    );
    assert_eq!(state.audit[&12].target, "consumer group cg on topic orders to Offset(5)");
    assert_eq!(state.revision, 12, "a refused command's audit record is not a data change");
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!(restored.audit, state.audit);
}

#[test]
fn audit_records_older_than_the_age_limit_are_dropped_by_every_replica_alike() {
    let mut state = with_groups();
    let command = |name: &str, at: u64| Command {
        request_id: None,
        issued_at_ms: at,
        actor: "ops".into(),
        operation: Operation::Topic(TopicOperation::Create(spec(name, &[("g1", 2)]))),
    };
    let day = 24 * 60 * 60 * 1000;
    let start = 1_000 * day;
    apply(&mut state, 10, &command("a", start));
    apply(&mut state, 11, &command("b", start + 30 * day));
    let before: Vec<u64> = state.audit.keys().copied().collect();
    assert!(before.contains(&10) && before.contains(&11), "{before:?}");
    // 90 days after the first record, plus one millisecond: it goes, the second stays.
    let applied = apply(&mut state, 12, &command("c", start + pharos_meta::limits::AUDIT_RECORD_AGE_MAX_MS + 1));
    assert!(!state.audit.contains_key(&10), "too old");
    assert!(state.audit.contains_key(&11) && state.audit.contains_key(&12));
    assert!(
        applied.changes.iter().any(|change| matches!(change, pharos_meta::Change::AuditDelete { index: 10 })),
        "the drop is persisted like any change"
    );
}

#[test]
fn shape_checks_run_before_proposing_and_agree_with_apply() {
    let good = spec("orders", &[("g1", 8)]);
    assert_eq!(pharos_meta::validate(&Operation::Topic(TopicOperation::Create(good))), Ok(()));
    let too_many = spec("orders", &[("g1", 1_025)]);
    let bad_perm = TopicSpec { perm: 99, ..spec("orders", &[("g1", 8)]) };
    let no_queues = spec("orders", &[]);
    for bad in [too_many, bad_perm, no_queues] {
        let operation = Operation::Topic(TopicOperation::Create(bad));
        let refused = pharos_meta::validate(&operation).expect_err("shape refused before proposing");
        let mut state = with_groups();
        assert_eq!(run(&mut state, 10, operation), Response::Error(refused), "apply refuses the same way");
    }
    let remove_nobody = Operation::Broker(BrokerOperation::Remove { broker_id: 0 });
    assert_eq!(pharos_meta::validate(&remove_nobody), Err(CommandError::UnknownBroker { broker_id: 0 }));
}

#[test]
fn conditional_updates_refuse_a_stale_revision_and_round_trip() {
    let mut state = with_groups();
    assert_eq!(
        topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 4)]))),
        Response::TopicChanged { revision: 10 }
    );
    let update = |expected_revision| TopicOperation::Update { spec: spec("orders", &[("g1", 8)]), expected_revision };
    assert_eq!(
        topic_op(&mut state, 11, update(Some(9))),
        Response::Error(CommandError::StaleTopicRevision { topic: "orders".into(), current: 10 })
    );
    assert_eq!(state.topics["orders"].spec.queues["g1"].read, 4, "a refused update changes nothing");
    assert_eq!(topic_op(&mut state, 12, update(Some(10))), Response::TopicChanged { revision: 12 });
    assert_eq!(topic_op(&mut state, 13, update(None)), Response::TopicChanged { revision: 13 }, "unconditional");
    // A refusal answered to a request id is remembered in the session, and survives a snapshot.
    let retried = Command {
        request_id: Some(pharos_meta::RequestId { client_id: "ops".into(), sequence: 1 }),
        issued_at_ms: 1,
        actor: String::new(),
        operation: Operation::Topic(update(Some(1))),
    };
    let refused = apply(&mut state, 14, &retried).response;
    assert_eq!(refused, Response::Error(CommandError::StaleTopicRevision { topic: "orders".into(), current: 13 }));
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("snapshot decodes");
    assert_eq!(restored, state);
    for expected_revision in [None, Some(12)] {
        let command = Command {
            request_id: None,
            issued_at_ms: 1,
            actor: String::new(),
            operation: Operation::Topic(update(expected_revision)),
        };
        assert_eq!(codec::decode_command(&codec::encode_command(&command)), Ok(command));
    }
}

#[test]
fn brokers_report_topics_that_join_the_topics_and_never_change_an_operators() {
    let mut state = with_groups();
    let reported = |name: &str, read: u32, write: u32| ReportedTopic {
        name: name.into(),
        queues: QueueCounts { read, write },
        perm: 6,
    };
    run(&mut state, 10, Operation::Topic(TopicOperation::Create(spec("orders", &[("g1", 4)]))));
    let report = vec![reported("orders", 8, 8), reported("TBW102", 8, 8), reported("%RETRY%cg", 1, 1)];
    // Only what would change is proposed: the operator's topic is left out.
    assert_eq!(state.topic_report("g1", &report), report[1..].to_vec());
    let applied =
        run(&mut state, 11, Operation::Topic(TopicOperation::Report { group: "g1".into(), topics: report.clone() }));
    assert_eq!(applied, Response::TopicChanged { revision: 11 });
    assert_eq!(
        state.topics["orders"].spec.queues["g1"],
        QueueCounts { read: 4, write: 4 },
        "operator's topic untouched"
    );
    let tbw = &state.topics["TBW102"];
    assert_eq!(tbw.origin, TopicOrigin::Broker { group: "g1".into() });
    assert_eq!((tbw.create_revision, tbw.spec.queues.len()), (11, 1));
    // The same report again changes nothing, so the leader proposes nothing.
    assert!(state.topic_report("g1", &report).is_empty());
    // Another group's master serving the same topic adds its queues to it.
    let from_g2 = vec![reported("TBW102", 4, 4)];
    assert_eq!(state.topic_report("g2", &from_g2), from_g2);
    run(&mut state, 12, Operation::Topic(TopicOperation::Report { group: "g2".into(), topics: from_g2 }));
    let tbw = &state.topics["TBW102"];
    assert_eq!(tbw.spec.queues.keys().collect::<Vec<_>>(), ["g1", "g2"]);
    assert_eq!(
        (tbw.create_revision, tbw.revision, tbw.origin.clone()),
        (11, 12, TopicOrigin::Broker { group: "g1".into() })
    );
    // Bad reports are refused whole and change nothing.
    let before = state.topics.clone();
    for (group, topics) in [
        ("g1", vec![reported("bad name", 1, 1)]),
        ("g1", vec![ReportedTopic { perm: 7, ..reported("t", 1, 1) }]),
        ("g1", vec![reported("t", 0, 0)]),
        ("g1", Vec::new()),
        ("nope", vec![reported("t", 1, 1)]),
    ] {
        let index = state.revision + 1;
        let answer = run(&mut state, index, Operation::Topic(TopicOperation::Report { group: group.into(), topics }));
        assert!(matches!(answer, Response::Error(_)), "{answer:?}");
    }
    assert_eq!(state.topics, before);
    // The origin survives a snapshot and the report its encoding.
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decodes");
    assert_eq!(restored.topics, state.topics);
    let command = Command {
        request_id: None,
        issued_at_ms: 1,
        actor: "remoting broker 127.0.0.1:10911".into(),
        operation: Operation::Topic(TopicOperation::Report { group: "g1".into(), topics: report }),
    };
    assert_eq!(codec::decode_command(&codec::encode_command(&command)).expect("decodes"), command);
}

/// A batch with an idempotency key is applied once: its retry, alone or coalesced with other
/// clients' batches in a later entry (or in the same one), gets the first result and cannot move
/// an offset back that another commit moved on meanwhile (issue 11, safe retries).
#[test]
fn a_retried_offset_batch_is_applied_once_even_inside_another_coalesced_entry() {
    let mut state = with_groups();
    topic_op(&mut state, 10, TopicOperation::Create(spec("orders", &[("g1", 2)])));
    let key = pharos_meta::RequestId { client_id: "consumer-1".to_string(), sequence: 9 };
    let keyed = |offset| OffsetBatch {
        commits: vec![commit("cg", "orders", 0, offset)],
        reject_backwards: false,
        request_id: Some(key.clone()),
    };
    let response = topic_op(&mut state, 11, TopicOperation::CommitOffsets { batches: vec![keyed(40)] });
    assert_eq!(response, Response::OffsetsCommitted { revision: 11, results: vec![None] });
    // Another client moves the offset on; then the first request's retry arrives, coalesced.
    let other = OffsetBatch { commits: vec![commit("cg", "orders", 0, 70)], reject_backwards: false, request_id: None };
    topic_op(&mut state, 12, TopicOperation::CommitOffsets { batches: vec![other] });
    let neighbour =
        OffsetBatch { commits: vec![commit("cg", "orders", 1, 5)], reject_backwards: false, request_id: None };
    let response = topic_op(&mut state, 13, TopicOperation::CommitOffsets { batches: vec![keyed(40), neighbour] });
    assert_eq!(response, Response::OffsetsCommitted { revision: 13, results: vec![None, None] });
    assert_eq!(
        state.offsets[&pharos_meta::OffsetKey { consumer_group: "cg".into(), topic: "orders".into(), queue_id: 0 }]
            .offset,
        70,
        "the retry did not move the offset back"
    );
    assert_eq!(
        state.offsets[&pharos_meta::OffsetKey { consumer_group: "cg".into(), topic: "orders".into(), queue_id: 1 }]
            .offset,
        5,
        "its neighbour was applied"
    );
    assert_eq!(
        state.remembered(&key),
        Some(&Response::OffsetsCommitted { revision: 11, results: vec![None] }),
        "the key keeps the first answer, at the revision that applied it"
    );
    // Both attempts in one entry: the first applies, the second is the retry.
    let key_two = pharos_meta::RequestId { client_id: "consumer-1".to_string(), sequence: 10 };
    let twice = OffsetBatch {
        commits: vec![commit("cg", "orders", 1, 9)],
        reject_backwards: true,
        request_id: Some(key_two.clone()),
    };
    let response = topic_op(&mut state, 14, TopicOperation::CommitOffsets { batches: vec![twice.clone(), twice] });
    assert_eq!(response, Response::OffsetsCommitted { revision: 14, results: vec![None, None] });
    assert_eq!(state.remembered(&key_two), Some(&Response::OffsetsCommitted { revision: 14, results: vec![None] }));
}
