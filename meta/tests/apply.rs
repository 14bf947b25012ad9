//! Exact-output tests of the pure state machine and its formats.

use pharos_meta::codec::{self, DecodeError};
use pharos_meta::limits;
use pharos_meta::{Change, Command, CommandError, Compare, KvRecord, Operation, RequestId, Response, State, apply};

fn put(key: &str, value: &str) -> Operation {
    Operation::Put { key: key.as_bytes().to_vec(), value: value.as_bytes().to_vec() }
}

fn command(operation: Operation) -> Command {
    Command { request_id: None, issued_at_ms: 7, actor: String::new(), operation }
}

fn with_id(client_id: &str, sequence: u64, operation: Operation) -> Command {
    Command {
        request_id: Some(RequestId { client_id: client_id.to_string(), sequence }),
        issued_at_ms: 7,
        actor: String::new(),
        operation,
    }
}

#[test]
fn put_creates_then_updates_with_revisions() {
    let mut state = State::default();
    let first = apply(&mut state, 3, &command(put("a", "1")));
    assert_eq!(first.response, Response::Put { revision: 3, created: true });
    let record = KvRecord { value: b"1".to_vec(), create_revision: 3, mod_revision: 3, version: 1 };
    assert_eq!(first.changes, vec![Change::KvPut { key: b"a".to_vec(), record }]);

    let second = apply(&mut state, 5, &command(put("a", "2")));
    assert_eq!(second.response, Response::Put { revision: 5, created: false });
    assert_eq!(
        state.kv[b"a".as_slice()],
        KvRecord { value: b"2".to_vec(), create_revision: 3, mod_revision: 5, version: 2 }
    );
    assert_eq!(state.revision, 5);
}

#[test]
fn delete_of_missing_key_changes_nothing() {
    let mut state = State::default();
    apply(&mut state, 1, &command(put("a", "1")));
    let applied = apply(&mut state, 2, &command(Operation::Delete { key: b"zz".to_vec() }));
    assert_eq!(applied.response, Response::Delete { revision: 1, deleted: false });
    assert!(applied.changes.is_empty());
    let applied = apply(&mut state, 3, &command(Operation::Delete { key: b"a".to_vec() }));
    assert_eq!(applied.response, Response::Delete { revision: 3, deleted: true });
    assert_eq!(applied.changes, vec![Change::KvDelete { key: b"a".to_vec() }]);
    assert!(state.kv.is_empty());
}

#[test]
fn compare_and_set_by_value_revision_and_absence() {
    let mut state = State::default();
    let cas = |compare, value: &str| Operation::CompareAndSet {
        key: b"k".to_vec(),
        compare,
        value: value.as_bytes().to_vec(),
    };
    let created = apply(&mut state, 1, &command(cas(Compare::Absent, "v1")));
    assert_eq!(
        created.response,
        Response::CompareAndSet { succeeded: true, revision: 1, current_mod_revision: Some(1) }
    );
    let refused = apply(&mut state, 2, &command(cas(Compare::Absent, "v2")));
    assert_eq!(
        refused.response,
        Response::CompareAndSet { succeeded: false, revision: 1, current_mod_revision: Some(1) }
    );
    assert!(refused.changes.is_empty());
    let wrong_value = apply(&mut state, 3, &command(cas(Compare::Value(b"nope".to_vec()), "v2")));
    assert!(matches!(wrong_value.response, Response::CompareAndSet { succeeded: false, .. }));
    let by_value = apply(&mut state, 4, &command(cas(Compare::Value(b"v1".to_vec()), "v2")));
    assert!(matches!(by_value.response, Response::CompareAndSet { succeeded: true, revision: 4, .. }));
    let stale_revision = apply(&mut state, 5, &command(cas(Compare::ModRevision(1), "v3")));
    assert!(matches!(stale_revision.response, Response::CompareAndSet { succeeded: false, .. }));
    let by_revision = apply(&mut state, 6, &command(cas(Compare::ModRevision(4), "v3")));
    assert!(matches!(by_revision.response, Response::CompareAndSet { succeeded: true, revision: 6, .. }));
    assert_eq!(state.kv[b"k".as_slice()].value, b"v3");
}

#[test]
fn oversized_and_empty_keys_are_refused_without_change() {
    let mut state = State::default();
    let big_key = vec![b'k'; limits::KEY_BYTES_MAX + 1];
    let applied = apply(&mut state, 1, &command(Operation::Put { key: big_key, value: vec![] }));
    assert_eq!(
        applied.response,
        Response::Error(CommandError::KeyTooLarge {
            bytes: limits::KEY_BYTES_MAX as u64 + 1,
            max: limits::KEY_BYTES_MAX as u64
        })
    );
    assert!(applied.changes.is_empty());
    let applied = apply(&mut state, 2, &command(Operation::Put { key: vec![], value: vec![] }));
    assert_eq!(applied.response, Response::Error(CommandError::KeyEmpty));
    let big_value = vec![0; limits::VALUE_BYTES_MAX + 1];
    let applied = apply(&mut state, 3, &command(Operation::Put { key: b"k".to_vec(), value: big_value }));
    assert!(matches!(applied.response, Response::Error(CommandError::ValueTooLarge { .. })));
    assert_eq!(state, State::default());
}

#[test]
fn a_retried_request_is_applied_once() {
    let mut state = State::default();
    let first = apply(&mut state, 1, &with_id("c1", 1, put("a", "1")));
    assert_eq!(first.response, Response::Put { revision: 1, created: true });
    apply(&mut state, 2, &command(put("a", "other")));
    let retry = apply(&mut state, 3, &with_id("c1", 1, put("a", "1")));
    assert_eq!(retry.response, first.response, "the retry gets the first answer");
    assert!(retry.changes.is_empty(), "the retry changes nothing");
    assert_eq!(state.kv[b"a".as_slice()].value, b"other");
    assert_eq!(state.kv[b"a".as_slice()].version, 2);
}

#[test]
fn the_idempotency_window_is_bounded_and_says_when_a_retry_is_too_old() {
    let mut state = State::default();
    let window = limits::SESSION_RESPONSES_MAX as u64;
    for sequence in 1..=window + 1 {
        apply(&mut state, sequence, &with_id("c", sequence, put("k", "v")));
    }
    assert_eq!(state.sessions["c"].responses.len(), limits::SESSION_RESPONSES_MAX);
    let too_old = apply(&mut state, window + 2, &with_id("c", 1, put("k", "v")));
    assert_eq!(
        too_old.response,
        Response::Error(CommandError::SequenceExpired { client_id: "c".into(), sequence: 1, oldest_remembered: 2 })
    );
    assert!(too_old.changes.is_empty());
}

#[test]
fn range_prefix_stops_at_the_prefix_and_the_limit() {
    let mut state = State::default();
    for (index, key) in ["a/1", "a/2", "a/3", "b/1"].iter().enumerate() {
        apply(&mut state, index as u64 + 1, &command(put(key, "v")));
    }
    let keys: Vec<_> = state.range_prefix(b"a/", 10).into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec(), b"a/3".to_vec()]);
    assert_eq!(state.range_prefix(b"a/", 2).len(), 2);
}

#[test]
fn commands_round_trip_and_unknown_kinds_are_refused() {
    let original = with_id(
        "client",
        9,
        Operation::CompareAndSet { key: b"k".to_vec(), compare: Compare::ModRevision(4), value: b"v".to_vec() },
    );
    let bytes = codec::encode_command(&original);
    assert_eq!(bytes[0], codec::FORMAT_VERSION);
    assert_eq!(codec::decode_command(&bytes), Ok(original));

    // A command whose operation uses a tag this build does not know (99) must be refused.
    let unknown = [codec::FORMAT_VERSION, 0x9a, 0x06, 0x00];
    assert_eq!(codec::decode_command(&unknown), Err(DecodeError::UnknownCommandKind));
    assert_eq!(codec::decode_command(&[]), Err(DecodeError::Empty));
    assert_eq!(
        codec::decode_command(&[2, 0]),
        Err(DecodeError::UnsupportedVersion { found: 2, supported: codec::FORMAT_VERSION })
    );
    assert!(matches!(codec::decode_command(&[codec::FORMAT_VERSION, 0xff, 0xff]), Err(DecodeError::Malformed(_))));
}

#[test]
fn snapshots_round_trip_with_identical_digest() {
    let mut state = State::default();
    apply(&mut state, 1, &with_id("c", 1, put("a", "1")));
    apply(&mut state, 2, &command(put("b", "2")));
    apply(&mut state, 3, &with_id("c", 2, Operation::Delete { key: b"a".to_vec() }));
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("snapshot decodes");
    assert_eq!(restored, state);
    assert_eq!(restored.digest(), state.digest());
    let mut other = state.clone();
    apply(&mut other, 4, &command(put("b", "3")));
    assert_ne!(other.digest(), state.digest());
}

#[test]
fn a_kind_above_the_committed_feature_level_is_refused_until_the_level_is_raised() {
    use pharos_meta::feature;
    use pharos_meta::{ReportedTopic, TopicOperation};
    let report = || {
        let queues = pharos_meta::QueueCounts { read: 4, write: 4 };
        let topic = ReportedTopic { name: "orders".into(), queues, perm: 6 };
        Operation::Topic(TopicOperation::Report { group: "broker-a".into(), topics: vec![topic] })
    };
    // A state that never recorded a level (release 0.1.0's) is at the baseline.
    let mut state = State::default();
    assert_eq!(state.committed_feature_level(), feature::BASELINE);
    let before = state.digest();
    let refused = apply(&mut state, 1, &command(report()));
    // (The leader never proposes it: `Node::write` checks the level first. An entry that gets
    // here anyway is refused, and like every refused administrative command, audited.)
    let too_low = CommandError::FeatureLevelTooLow { required: feature::ROCKETMQ, committed: feature::BASELINE };
    assert_eq!(refused.response, Response::Error(too_low.clone()));
    assert!(refused.changes.iter().all(|change| matches!(change, Change::AuditPut { .. })), "{:?}", refused.changes);
    assert!(state.topics.is_empty() && state.revision == 0, "a refused command changes no data");

    // A keyed refusal is remembered like any answer: a retry gets it, without running.
    let keyed = apply(&mut state, 2, &with_id("c", 1, report()));
    assert_eq!(keyed.response, Response::Error(too_low));

    let raised = apply(&mut state, 3, &command(Operation::SetFeatureLevel { level: feature::ROCKETMQ }));
    assert_eq!(raised.response, Response::FeatureLevel { level: 2, revision: 3 });
    assert!(raised.changes.contains(&Change::FeatureLevel { level: 2 }), "{:?}", raised.changes);
    assert_eq!((state.feature_level, state.committed_feature_level(), state.revision), (2, 2, 3));
    let mut unrecorded = state.clone();
    unrecorded.feature_level = 0;
    assert_ne!(state.digest(), unrecorded.digest(), "a recorded level is part of the digest");
    assert_ne!(state.digest(), before);

    // Past the gate, the report meets the topic rules (no broker group registered it here).
    let past_the_gate = apply(&mut state, 4, &command(report()));
    assert_eq!(past_the_gate.response, Response::Error(CommandError::UnknownGroup { group: "broker-a".into() }));

    // Raising to the level it is at changes nothing; lowering is refused.
    let again = apply(&mut state, 5, &command(Operation::SetFeatureLevel { level: 2 }));
    assert_eq!(again.response, Response::FeatureLevel { level: 2, revision: 3 });
    let lower = apply(&mut state, 6, &command(Operation::SetFeatureLevel { level: 1 }));
    assert_eq!(lower.response, Response::Error(CommandError::FeatureLevelLowering { requested: 1, committed: 2 }));
    assert_eq!(state.feature_level, 2);

    // The level survives a snapshot; a state without one keeps the digest an older build computes.
    let restored = codec::decode_snapshot(&codec::encode_snapshot(&state)).expect("decode");
    assert_eq!(restored.feature_level, 2);
    assert_eq!(restored.digest(), state.digest());
}
