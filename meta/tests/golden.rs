//! Golden fixtures: the bytes of every record and command kind Pharos persists, kept in
//! `tests/fixtures/<format>/<case>.bin` and checked in both directions, forever. Each fixture must
//! decode to the value its case builds here, and that value must encode to exactly the fixture's
//! bytes. A re-tagged or renumbered field, a changed enum code or a changed version byte fails
//! this test even when every round trip still passes; so does a fixture file no case checks.
//!
//! The fixtures are the bytes older releases wrote, so the test never rewrites one: a change
//! that fails here is a change to the persisted format, and the fix is in the code, not in the
//! file. A new case (a new variant, field or code) gets its fixture written once, from the
//! value its case builds:
//!
//! ```text
//! PHAROS_WRITE_FIXTURES=1 cargo test -p pharos-meta --test golden
//! ```
//!
//! which writes the missing files, never touches an existing one, and checks them all as usual.
//! Commit the new files with the case.
//!
//! The lists of variants are `match`es with no wildcard arm (`every_variant!`): a variant added
//! to a persisted enum stops this test compiling until it has a case, and so a fixture. Values are
//! fixed and realistic, with every field set to a value that is not its default wherever the type
//! allows, because protobuf leaves a default (zero, empty, false) field out of the bytes and such
//! a field's tag would go unpinned. Where a default is the only value, a comment says so.

use std::collections::{BTreeMap, BTreeSet};

use pharos_fuzz_support::every_variant;
use pharos_fuzz_support::golden::{Fixtures, Format, assert_pinned};
use pharos_meta::access::{Action, Cidr, Decision, Pattern, PolicyEntry, Resource, ResourceType, User, UserKind};
use pharos_meta::acl::AclOperation;
use pharos_meta::codec::{self, DecodeError};
use pharos_meta::{
    AbandonedMember, AuditRecord, Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, Command, CommandError,
    Compare, DeclaredRole, DrCommand, DrOperation, DrRecord, ElectionMode, FailoverRecord, FinishedOperation, KvRecord,
    MembershipChange, MessageType, NotCollectable, OffsetBatch, OffsetCommit, OffsetKey, OffsetRecord, Operation,
    QueueCounts, Registration, RegistrationMode, ReplicationMode, ReportedTopic, RequestId, ResetTarget, Response,
    State, SwitchoverStep, SyncState, Topic, TopicOperation, TopicOrigin, TopicSpec,
};

// ---- the formats ----

const COMMAND: Format<Command, DecodeError> =
    Format { directory: "command", encode: codec::encode_command, decode: codec::decode_command };
const RESPONSE: Format<Response, DecodeError> =
    Format { directory: "response", encode: codec::encode_response, decode: codec::decode_response };
const SESSION_ENTRY: Format<(u64, Response), DecodeError> = Format {
    directory: "session_entry",
    encode: |(index, response)| codec::encode_session_entry(*index, response),
    decode: codec::decode_session_entry,
};
const KV_RECORD: Format<KvRecord, DecodeError> =
    Format { directory: "kv_record", encode: codec::encode_kv_record, decode: codec::decode_kv_record };
const BROKER: Format<Broker, DecodeError> =
    Format { directory: "broker", encode: codec::encode_broker, decode: codec::decode_broker };
const GROUP: Format<BrokerGroup, DecodeError> =
    Format { directory: "group", encode: codec::encode_group, decode: codec::decode_group };
const TOPIC: Format<Topic, DecodeError> =
    Format { directory: "topic", encode: codec::encode_topic, decode: codec::decode_topic };
const OFFSET_KEY: Format<OffsetKey, DecodeError> =
    Format { directory: "offset_key", encode: codec::encode_offset_key, decode: codec::decode_offset_key };
const OFFSET_RECORD: Format<OffsetRecord, DecodeError> =
    Format { directory: "offset_record", encode: codec::encode_offset_record, decode: codec::decode_offset_record };
const AUDIT_RECORD: Format<AuditRecord, DecodeError> =
    Format { directory: "audit_record", encode: codec::encode_audit_record, decode: codec::decode_audit_record };
const USER: Format<User, DecodeError> =
    Format { directory: "user", encode: codec::encode_user, decode: codec::decode_user };
const POLICY: Format<(String, Vec<PolicyEntry>), DecodeError> = Format {
    directory: "policy",
    encode: |(subject, entries)| codec::encode_policy(subject, entries),
    decode: codec::decode_policy,
};
const DR_RECORD: Format<DrRecord, DecodeError> =
    Format { directory: "dr_record", encode: codec::encode_dr_record, decode: codec::decode_dr_record };
const SNAPSHOT: Format<State, DecodeError> =
    Format { directory: "snapshot", encode: codec::encode_snapshot, decode: codec::decode_snapshot };

const FIXTURES: Fixtures = Fixtures { root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures") };

// ---- the tests ----

#[test]
fn commands_keep_their_bytes() {
    assert_pinned(vec![FIXTURES.check(&COMMAND, &commands())]);
}

#[test]
fn responses_keep_their_bytes() {
    assert_pinned(vec![FIXTURES.check(&RESPONSE, &responses())]);
}

#[test]
fn session_entries_keep_their_bytes() {
    assert_pinned(vec![FIXTURES.check(&SESSION_ENTRY, &session_entries())]);
}

#[test]
fn records_keep_their_bytes() {
    assert_pinned(vec![
        FIXTURES.check(&KV_RECORD, &kv_records()),
        FIXTURES.check(&BROKER, &brokers()),
        FIXTURES.check(&GROUP, &groups()),
        FIXTURES.check(&TOPIC, &topics()),
        FIXTURES.check(&OFFSET_KEY, &offset_keys()),
        FIXTURES.check(&OFFSET_RECORD, &offset_records()),
        FIXTURES.check(&AUDIT_RECORD, &audit_records()),
        FIXTURES.check(&USER, &users()),
        FIXTURES.check(&POLICY, &policies()),
        FIXTURES.check(&DR_RECORD, &dr_records()),
    ]);
}

#[test]
fn snapshots_keep_their_bytes() {
    assert_pinned(vec![FIXTURES.check(&SNAPSHOT, &snapshots())]);
}

/// A fixture without a case would silently stop being checked: cases are never removed.
#[test]
fn every_fixture_file_is_checked_by_a_case() {
    FIXTURES.assert_every_file_is_checked(
        [
            FIXTURES.paths(&COMMAND, &commands()),
            FIXTURES.paths(&RESPONSE, &responses()),
            FIXTURES.paths(&SESSION_ENTRY, &session_entries()),
            FIXTURES.paths(&KV_RECORD, &kv_records()),
            FIXTURES.paths(&BROKER, &brokers()),
            FIXTURES.paths(&GROUP, &groups()),
            FIXTURES.paths(&TOPIC, &topics()),
            FIXTURES.paths(&OFFSET_KEY, &offset_keys()),
            FIXTURES.paths(&OFFSET_RECORD, &offset_records()),
            FIXTURES.paths(&AUDIT_RECORD, &audit_records()),
            FIXTURES.paths(&USER, &users()),
            FIXTURES.paths(&POLICY, &policies()),
            FIXTURES.paths(&DR_RECORD, &dr_records()),
            FIXTURES.paths(&SNAPSHOT, &snapshots()),
        ]
        .into_iter()
        .flatten(),
    );
}

/// Replicas of two releases compare digests during a rolling upgrade (invariant 6 of
/// docs/architecture.md), so the digest of a state is pinned like its bytes.
#[test]
fn state_digests_keep_their_value() {
    assert_eq!(
        full_state().digest(),
        "aab0e4dc0132f94990edb08cfd49827a4a8c2b1dcdedb64990ca8844e647597a",
        "the digest of the full state changed"
    );
    assert_eq!(
        State::default().digest(),
        "0b8f8f600f4e9d747ff51215c15125b81bd7fcd3a626d42a465f04f3153bffd9",
        "the digest of the empty state changed"
    );
}

/// The access-control enums are stored as text inside policy entries: every value of each is in
/// the policy fixture (the other small enums get one fixture per value, built from their lists).
#[test]
fn every_stored_enum_value_is_in_a_fixture() {
    let entries: Vec<PolicyEntry> = policies().into_iter().flat_map(|(_, (_, entries))| entries).collect();
    for (name, kind) in resource_types() {
        assert!(entries.iter().any(|entry| entry.resource.kind == kind), "no policy fixture has a {name} resource");
    }
    for (name, pattern) in patterns() {
        assert!(
            entries.iter().any(|entry| entry.resource.pattern == pattern),
            "no policy fixture has a {name} pattern"
        );
    }
    for (name, action) in actions() {
        assert!(entries.iter().any(|entry| entry.actions.contains(&action)), "no policy fixture has the {name} action");
    }
    for (name, decision) in decisions() {
        assert!(entries.iter().any(|entry| entry.decision == decision), "no policy fixture has a {name} decision");
    }
}

// ---- shared values ----

const TOKEN_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const NO_SUCH_QUEUE: &str = "queue 40 of topic orders does not exist";
const ROTATED_TOKEN_SHA256: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
/// 2025-12-03T16:00:00Z, the leader's wall clock in the commands.
const ISSUED_AT_MS: u64 = 1_764_777_600_000;

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

fn cidr(text: &str) -> Cidr {
    text.parse().expect("a valid CIDR")
}

fn registration(mode: RegistrationMode) -> Registration {
    Registration {
        cluster: "DefaultCluster".to_string(),
        group: "broker-a".to_string(),
        name: "broker-a-0".to_string(),
        incarnation_id: "5f0c1e6a-2b7d-4e0f-9a51-3c8d2f4b7e19".to_string(),
        zone: "eu-west-1a".to_string(),
        region: "eu-west-1".to_string(),
        addresses: strings(&[("internal", "10.0.1.17:10911"), ("public", "203.0.113.17:10911")]),
        election_priority: 7,
        mode,
    }
}

fn topic_spec(message_type: MessageType) -> TopicSpec {
    TopicSpec {
        name: "orders".to_string(),
        queues: [
            ("broker-a".to_string(), QueueCounts { read: 8, write: 8 }),
            ("broker-b".to_string(), QueueCounts { read: 4, write: 6 }),
        ]
        .into_iter()
        .collect(),
        perm: 6,
        message_type,
        attributes: strings(&[("owner", "payments"), ("retention.hours", "72")]),
    }
}

fn offset_key() -> OffsetKey {
    OffsetKey { consumer_group: "billing-consumers".to_string(), topic: "orders".to_string(), queue_id: 3 }
}

fn policy_entry() -> PolicyEntry {
    PolicyEntry {
        resource: Resource::prefixed(ResourceType::Topic, "orders-"),
        actions: vec![Action::Pub, Action::Sub],
        source_cidrs: vec![cidr("10.0.0.0/8"), cidr("fd00::/8")],
        decision: Decision::Allow,
    }
}

fn failover_record() -> FailoverRecord {
    let member = |node_id: u64, host: &str, zone: &str| AbandonedMember {
        node_id,
        client_addr: format!("{host}:7001"),
        peer_addr: format!("{host}:7002"),
        zone: zone.to_string(),
        region: "eu-west-1".to_string(),
    };
    FailoverRecord {
        generation: 3,
        at_ms: ISSUED_AT_MS,
        from_region: "eu-west-1".to_string(),
        to_region: "eu-central-1".to_string(),
        seed_node_id: 4,
        seed_last_log_index: 10_422,
        last_known_commit_index: 10_420,
        last_mode: ReplicationMode::DrSync,
        last_state: SyncState::Sync,
        last_dr_state_id: 733,
        leader_silence_ms: Some(12_500),
        last_announced_dr_state_id: 733,
        sync_promise_remaining_ms: 1_800,
        rpo_zero: true,
        abandoned_members: vec![member(1, "10.0.1.11", "eu-west-1a"), member(2, "10.0.2.12", "eu-west-1b")],
    }
}

// ---- commands ----

/// Every command kind, each in the same envelope (a request id, a time and an actor).
fn commands() -> Vec<(String, Command)> {
    let envelope = |operation| Command {
        request_id: Some(RequestId { client_id: "golden-client".to_string(), sequence: 42 }),
        issued_at_ms: ISSUED_AT_MS,
        actor: "10.1.2.3:50712 (golden-client)".to_string(),
        operation,
    };
    let mut cases: Vec<(String, Command)> = Vec::new();
    let mut add = |name: String, operation| cases.push((name, envelope(operation)));
    for (name, operation) in operations() {
        add(name, operation);
    }
    for (name, compare) in compares() {
        add(
            format!("compare_and_set_{name}"),
            Operation::CompareAndSet { key: b"config/leader".to_vec(), compare, value: b"node-2".to_vec() },
        );
    }
    for (name, change) in membership_changes() {
        add(name, Operation::RecordMembershipChange(change));
    }
    for (name, operation) in broker_operations() {
        add(name, Operation::Broker(operation));
    }
    for (name, operation) in topic_operations() {
        add(name, Operation::Topic(operation));
    }
    for (name, command) in dr_commands() {
        add(name, Operation::Dr(command));
    }
    for (name, operation) in acl_operations() {
        add(name, Operation::Acl(operation));
    }
    // The leader's own decisions carry no request id and no caller address.
    cases.push((
        "fence_broker_by_the_coordinator".to_string(),
        Command {
            request_id: None,
            issued_at_ms: ISSUED_AT_MS,
            actor: "coordinator".to_string(),
            operation: Operation::Broker(BrokerOperation::Fence { broker_id: 12, broker_epoch: 340 }),
        },
    ));
    cases
}

fn operations() -> Vec<(String, Operation)> {
    every_variant!(Operation {
        // `Noop` has no fields: its bytes are the envelope and an empty message.
        "noop" => Noop,
        "put" => Put { key: b"config/greeting".to_vec(), value: b"hello".to_vec() },
        "delete" => Delete { key: b"config/greeting".to_vec() },
        "set_feature_level" => SetFeatureLevel { level: 2 },
    } elsewhere: CompareAndSet, RecordMembershipChange, Broker, Topic, Dr, Acl)
}

fn compares() -> Vec<(String, Compare)> {
    every_variant!(Compare {
        "absent" => Absent,
        "value" => Value(b"node-1".to_vec()),
        "mod_revision" => ModRevision(170),
    })
}

fn membership_changes() -> Vec<(String, MembershipChange)> {
    every_variant!(MembershipChange {
        "add_learner" => AddLearner { node_id: 4 },
        "promote_voter" => Promote { node_id: 4 },
        "remove_member" => Remove { node_id: 3 },
        "transfer_leader" => TransferLeader { to_node_id: 2 },
    })
}

fn broker_operations() -> Vec<(String, BrokerOperation)> {
    let mut cases = every_variant!(BrokerOperation {
        // `RegistrationMode::Elected` is code 0, left out of the bytes; the other modes below pin the field.
        "register_broker_elected" => Register(registration(RegistrationMode::Elected)),
        "unregister_broker" => Unregister { broker_id: 12, broker_epoch: 340 },
        "fence_broker" => Fence { broker_id: 12, broker_epoch: 340 },
        // Written with `broker_epoch` 0 (the message is shared with the epoch-carrying kinds).
        "remove_broker" => Remove { broker_id: 12 },
        "collect_brokers" => Collect {
            retired_before_ms: ISSUED_AT_MS - 86_400_000,
            brokers: [BrokerRef { broker_id: 3, broker_epoch: 101 }, BrokerRef { broker_id: 5, broker_epoch: 140 }]
                .into_iter()
                .collect(),
        },
        "elect_master" => ElectMaster { group: "broker-a".to_string(), broker_id: 13, expected_master_epoch: 5 },
        "alter_sync_state_set" => AlterSyncStateSet {
            group: "broker-a".to_string(),
            master_broker_id: 12,
            master_epoch: 5,
            sync_state_epoch: 9,
            sync_state_set: [12, 13, 14].into_iter().collect(),
        },
    });
    for (name, role) in declared_roles() {
        let registration = registration(RegistrationMode::Declared(role));
        cases.push((format!("register_broker_declared_{name}"), BrokerOperation::Register(registration)));
    }
    let controlled = registration(RegistrationMode::Controlled);
    cases.push(("register_broker_controlled".to_string(), BrokerOperation::Register(controlled)));
    cases
}

fn declared_roles() -> Vec<(String, DeclaredRole)> {
    every_variant!(DeclaredRole { "master" => Master, "replica" => Replica })
}

fn topic_operations() -> Vec<(String, TopicOperation)> {
    let mut cases = every_variant!(TopicOperation {
        "update_topic" => Update { spec: topic_spec(MessageType::Fifo), expected_revision: None },
        "update_topic_if_revision" => Update { spec: topic_spec(MessageType::Fifo), expected_revision: Some(180) },
        "delete_topic" => Delete { name: "orders".to_string(), force: true },
        "commit_offsets" => CommitOffsets {
            batches: vec![
                OffsetBatch {
                    commits: vec![
                        OffsetCommit { key: offset_key(), offset: 98_765 },
                        OffsetCommit { key: OffsetKey { queue_id: 4, ..offset_key() }, offset: 12_000 },
                    ],
                    reject_backwards: true,
                    request_id: None,
                },
                // `reject_backwards: false` is left out of the bytes; the batch above pins it.
                OffsetBatch {
                    commits: vec![OffsetCommit {
                        key: OffsetKey { consumer_group: "audit-consumers".to_string(), ..offset_key() },
                        offset: 500,
                    }],
                    reject_backwards: false,
                    request_id: None,
                },
            ],
        },
        "reset_offsets_to_earliest" => ResetOffsets {
            consumer_group: "billing-consumers".to_string(),
            topic: "orders".to_string(),
            to: ResetTarget::Earliest,
        },
        "reset_offsets_to_offset" => ResetOffsets {
            consumer_group: "billing-consumers".to_string(),
            topic: "orders".to_string(),
            to: ResetTarget::Offset(5_000),
        },
        "report_topics" => Report {
            group: "broker-b".to_string(),
            topics: vec![
                ReportedTopic { name: "inventory".to_string(), queues: QueueCounts { read: 8, write: 8 }, perm: 6 },
                ReportedTopic {
                    name: "%RETRY%billing-consumers".to_string(),
                    queues: QueueCounts { read: 1, write: 2 },
                    perm: 4,
                },
            ],
        },
    } elsewhere: Create);
    for (name, message_type) in message_types() {
        cases.push((format!("create_topic_{name}"), TopicOperation::Create(topic_spec(message_type))));
    }
    // Offset commits with idempotency keys, one per batch (added after the first fixtures).
    cases.push((
        "commit_offsets_with_request_ids".to_string(),
        TopicOperation::CommitOffsets {
            batches: vec![OffsetBatch {
                commits: vec![OffsetCommit { key: offset_key(), offset: 4_242 }],
                reject_backwards: true,
                request_id: Some(RequestId { client_id: "broker-a-7f3e".to_string(), sequence: 31 }),
            }],
        },
    ));
    cases
}

/// `Normal` is code 0, left out of the bytes; the other types pin the field.
fn message_types() -> Vec<(String, MessageType)> {
    every_variant!(MessageType {
        "normal" => Normal,
        "fifo" => Fifo,
        "delay" => Delay,
        "transactional" => Transactional,
    })
}

fn dr_commands() -> Vec<(String, DrCommand)> {
    let mut cases = every_variant!(DrCommand {
        "dr_configure" => Configure { primary_region: "eu-west-1".to_string(), dr_region: "eu-central-1".to_string() },
        "dr_begin_switchover" => BeginSwitchover {
            from_region: "eu-west-1".to_string(),
            to_region: "eu-central-1".to_string(),
        },
        // Written with `step` 0 (the message is shared with `AdvanceSwitchover`).
        "dr_finish_switchover_completed" => FinishSwitchover { operation_id: 900, error: None },
        "dr_finish_switchover_failed" => FinishSwitchover {
            operation_id: 900,
            error: Some("leadership did not move within 30000 ms".to_string()),
        },
        "dr_complete_failover" => CompleteFailover(failover_record()),
    } elsewhere: SetMode, SwitchState, AdvanceSwitchover);
    for (name, mode) in replication_modes() {
        cases.push((format!("dr_set_mode_{name}"), DrCommand::SetMode { mode, dr_sync_timeout_ms: 7_500 }));
    }
    for (name, state) in sync_states() {
        cases.push((format!("dr_switch_state_{name}"), DrCommand::SwitchState { expected_dr_state_id: 733, state }));
    }
    for (name, step) in switchover_steps() {
        // Written with no `error` (the message is shared with `FinishSwitchover`).
        cases.push((format!("dr_advance_switchover_{name}"), DrCommand::AdvanceSwitchover { operation_id: 900, step }));
    }
    cases
}

fn replication_modes() -> Vec<(String, ReplicationMode)> {
    every_variant!(ReplicationMode { "majority" => Majority, "dr_sync" => DrSync })
}

fn sync_states() -> Vec<(String, SyncState)> {
    every_variant!(SyncState { "sync" => Sync, "async" => Async, "sync_recover" => SyncRecover })
}

fn switchover_steps() -> Vec<(String, SwitchoverStep)> {
    every_variant!(SwitchoverStep {
        "promote_learners" => PromoteLearners,
        "transfer_leader" => TransferLeader,
        "demote_voters" => DemoteVoters,
        "move_masters" => MoveMasters,
    })
}

fn acl_operations() -> Vec<(String, AclOperation)> {
    let mut cases = every_variant!(AclOperation {
        // Written with kind `super` and `enabled` (the message is shared with `AddUser`).
        "acl_bootstrap" => Bootstrap { name: "root".to_string(), token_sha256: TOKEN_SHA256.to_string() },
        "acl_delete_user" => DeleteUser { name: "billing".to_string() },
        "acl_enable_user" => SetEnabled { name: "billing".to_string(), enabled: true },
        // `enabled: false` is left out of the bytes; `acl_enable_user` pins the field.
        "acl_disable_user" => SetEnabled { name: "billing".to_string(), enabled: false },
        // Written with kind `normal` and `enabled`, which decoding ignores.
        "acl_rotate_token" => RotateToken {
            name: "billing".to_string(),
            token_sha256: ROTATED_TOKEN_SHA256.to_string(),
        },
        "acl_grant" => Grant { subject: "billing".to_string(), entry: policy_entry() },
        "acl_revoke" => Revoke { subject: "billing".to_string(), entry: policy_entry() },
    } elsewhere: AddUser);
    for (name, kind) in user_kinds() {
        cases.push((
            format!("acl_add_user_{name}"),
            AclOperation::AddUser { name: "billing".to_string(), kind, token_sha256: TOKEN_SHA256.to_string() },
        ));
    }
    cases
}

fn user_kinds() -> Vec<(String, UserKind)> {
    every_variant!(UserKind { "super" => Super, "normal" => Normal })
}

// ---- responses ----

fn responses() -> Vec<(String, Response)> {
    let mut cases = every_variant!(Response {
        "noop" => Noop { revision: 181 },
        "put" => Put { revision: 181, created: true },
        "delete" => Delete { revision: 181, deleted: true },
        // `current_mod_revision: None` is left out of the bytes; the failed swap pins the field.
        "compare_and_set_succeeded" => CompareAndSet { succeeded: true, revision: 181, current_mod_revision: None },
        "compare_and_set_failed" => CompareAndSet { succeeded: false, revision: 181, current_mod_revision: Some(170) },
        "broker_registered" => BrokerRegistered { broker_id: 12, broker_epoch: 340 },
        "broker_changed" => BrokerChanged { revision: 341 },
        "master_elected" => MasterElected { group: "broker-a".to_string(), master_broker_id: 13, master_epoch: 6 },
        "sync_state_set_altered" => SyncStateSetAltered { sync_state_epoch: 10 },
        "topic_changed" => TopicChanged { revision: 182 },
        // An applied request is an empty error message (code 0) in the list.
        "offsets_committed" => OffsetsCommitted {
            revision: 183,
            results: vec![
                None,
                Some(CommandError::OffsetBackwards {
                    consumer_group: "billing-consumers".to_string(),
                    topic: "orders".to_string(),
                    queue_id: 3,
                    current: 98_765,
                }),
                Some(CommandError::InvalidOffsetCommit { reason: NO_SUCH_QUEUE.to_string() }),
            ],
        },
        "offsets_reset" => OffsetsReset { revision: 184, queues_reset: 12 },
        "dr_changed" => DrChanged { revision: 734 },
        "acl_changed" => AclChanged { revision: 185 },
        "feature_level" => FeatureLevel { level: 2, revision: 186 },
    } elsewhere: Error);
    for (name, error) in command_errors() {
        cases.push((format!("error_{name}"), Response::Error(error)));
    }
    cases
}

/// Every refusal. Several variants carry a value in a field another variant uses for something
/// else (`first`, `second`, `text`, `optional` of one error message): each case pins its own use.
fn command_errors() -> Vec<(String, CommandError)> {
    let mut cases = every_variant!(CommandError {
        "key_empty" => KeyEmpty,
        "key_too_large" => KeyTooLarge { bytes: 5_000, max: 4_096 },
        "value_too_large" => ValueTooLarge { bytes: 2_000_000, max: 1_048_576 },
        "client_id_too_large" => ClientIdTooLarge { bytes: 200, max: 128 },
        "sequence_expired" => SequenceExpired {
            client_id: "golden-client".to_string(),
            sequence: 3,
            oldest_remembered: 7,
        },
        "invalid_registration" => InvalidRegistration { reason: "zone is empty".to_string() },
        "unknown_broker" => UnknownBroker { broker_id: 99 },
        "unknown_group" => UnknownGroup { group: "broker-z".to_string() },
        "stale_broker_epoch" => StaleBrokerEpoch { broker_id: 12, current: 341 },
        "duplicate_registration" => DuplicateRegistration {
            broker_id: 12,
            incarnation_id: "5f0c1e6a-2b7d-4e0f-9a51-3c8d2f4b7e19".to_string(),
        },
        // The state is stored as text, one of the names below (`broker_state_name` in the codec).
        "broker_not_active_active" => BrokerNotActive { broker_id: 12, state: "active" },
        "broker_not_active_fenced" => BrokerNotActive { broker_id: 12, state: "fenced" },
        "broker_not_active_shutdown" => BrokerNotActive { broker_id: 12, state: "shutdown" },
        "broker_not_active_fence_it_first" => BrokerNotActive { broker_id: 12, state: "active: fence it first" },
        "stale_master_epoch" => StaleMasterEpoch { group: "broker-a".to_string(), current: 6 },
        "stale_sync_state_epoch" => StaleSyncStateEpoch { group: "broker-a".to_string(), current: 10 },
        "not_master" => NotMaster { group: "broker-a".to_string(), master_broker_id: Some(12) },
        "not_master_without_master" => NotMaster { group: "broker-a".to_string(), master_broker_id: None },
        "invalid_sync_state_set" => InvalidSyncStateSet {
            reason: "broker 99 is not a member of group broker-a".to_string(),
        },
        "invalid_topic" => InvalidTopic { reason: "name is empty".to_string() },
        "unknown_topic" => UnknownTopic { topic: "orders".to_string() },
        "topic_exists" => TopicExists { topic: "orders".to_string() },
        "stale_topic_revision" => StaleTopicRevision { topic: "orders".to_string(), current: 181 },
        "topic_has_consumers" => TopicHasConsumers { topic: "orders".to_string(), consumer_groups: 2 },
        // Stored as `consumer_group NUL topic` in one text field.
        "offset_backwards" => OffsetBackwards {
            consumer_group: "billing-consumers".to_string(),
            topic: "orders".to_string(),
            queue_id: 3,
            current: 98_765,
        },
        "invalid_offset_commit" => InvalidOffsetCommit { reason: NO_SUCH_QUEUE.to_string() },
        "invalid_dr" => InvalidDr { reason: "the DR region is the primary region".to_string() },
        "stale_dr_state" => StaleDrState { current: 734 },
        "dr_operation_in_progress" => DrOperationInProgress { operation_id: 900 },
        "stale_dr_operation" => StaleDrOperation { operation_id: 899, current: Some(900) },
        "stale_dr_operation_without_operation" => StaleDrOperation { operation_id: 899, current: None },
        "stale_generation" => StaleGeneration { current: 3 },
        "collection_size" => CollectionSize { brokers: 101, max: 100 },
        "invalid_acl" => InvalidAcl { reason: "a policy entry needs at least one action".to_string() },
        "unknown_user" => UnknownUser { name: "billing".to_string() },
        "user_exists" => UserExists { name: "billing".to_string() },
        "too_many_users" => TooManyUsers { max: 1_024 },
        "token_in_use" => TokenInUse,
        "last_super_user" => LastSuperUser { name: "root".to_string() },
        "unknown_policy_entry" => UnknownPolicyEntry { subject: "billing".to_string() },
        "too_many_policy_entries" => TooManyPolicyEntries { subject: "billing".to_string(), max: 128 },
        "acl_bootstrapped" => AclBootstrapped,
        "master_declared" => MasterDeclared { group: "broker-a".to_string() },
        "master_still_active" => MasterStillActive { group: "broker-a".to_string(), master_broker_id: 12 },
        "feature_level_too_low" => FeatureLevelTooLow { required: 2, committed: 1 },
        "feature_level_lowering" => FeatureLevelLowering { requested: 1, committed: 2 },
    } elsewhere: BrokerNotCollectable);
    for (name, reason) in not_collectable_reasons() {
        cases.push((
            format!("broker_not_collectable_{name}"),
            CommandError::BrokerNotCollectable { broker_id: 5, reason },
        ));
    }
    cases
}

fn not_collectable_reasons() -> Vec<(String, NotCollectable)> {
    every_variant!(NotCollectable {
        "active" => Active,
        "master" => Master,
        "in_sync_state_set" => InSyncStateSet,
        "retired_too_recently" => RetiredTooRecently,
    })
}

fn session_entries() -> Vec<(String, (u64, Response))> {
    vec![
        ("put".to_string(), (181, Response::Put { revision: 181, created: true })),
        ("refusal".to_string(), (186, Response::Error(CommandError::TopicExists { topic: "orders".to_string() }))),
    ]
}

// ---- records ----

fn kv_records() -> Vec<(String, KvRecord)> {
    vec![(
        "greeting".to_string(),
        KvRecord { value: b"hello".to_vec(), create_revision: 100, mod_revision: 181, version: 4 },
    )]
}

fn broker(state: BrokerState) -> Broker {
    let registration = registration(RegistrationMode::Elected);
    Broker {
        broker_id: 12,
        incarnation_id: registration.incarnation_id,
        cluster: registration.cluster,
        group: registration.group,
        name: registration.name,
        zone: registration.zone,
        region: registration.region,
        addresses: registration.addresses,
        election_priority: registration.election_priority,
        state,
        broker_epoch: 340,
        // Absent while active.
        retired_at_ms: (state != BrokerState::Active).then_some(ISSUED_AT_MS + 60_000),
    }
}

fn brokers() -> Vec<(String, Broker)> {
    broker_states().into_iter().map(|(name, state)| (name, broker(state))).collect()
}

fn broker_states() -> Vec<(String, BrokerState)> {
    every_variant!(BrokerState { "active" => Active, "fenced" => Fenced, "shutdown" => Shutdown })
}

fn group(election_mode: ElectionMode) -> BrokerGroup {
    BrokerGroup {
        name: "broker-a".to_string(),
        members: [12, 13, 14].into_iter().collect(),
        master_broker_id: Some(12),
        master_epoch: 5,
        sync_state_set: [12, 13].into_iter().collect(),
        sync_state_epoch: 9,
        allow_unclean_election: true,
        election_mode,
    }
}

fn groups() -> Vec<(String, BrokerGroup)> {
    let mut cases: Vec<(String, BrokerGroup)> =
        election_modes().into_iter().map(|(name, mode)| (name, group(mode))).collect();
    // A group without a master: `master_broker_id` absent, nothing in sync.
    cases.push((
        "without_master".to_string(),
        BrokerGroup { master_broker_id: None, sync_state_set: BTreeSet::new(), ..group(ElectionMode::Elected) },
    ));
    cases
}

/// `Elected` is code 0, left out of the bytes; the other modes pin the field.
fn election_modes() -> Vec<(String, ElectionMode)> {
    every_variant!(ElectionMode { "elected" => Elected, "declared" => Declared, "controlled" => Controlled })
}

fn topics() -> Vec<(String, Topic)> {
    topic_origins()
        .into_iter()
        .map(|(name, origin)| {
            (name, Topic { spec: topic_spec(MessageType::Transactional), create_revision: 120, revision: 180, origin })
        })
        .collect()
}

fn topic_origins() -> Vec<(String, TopicOrigin)> {
    every_variant!(TopicOrigin {
        // Absent `reported_by_group`.
        "created_by_an_operator" => Operator,
        "reported_by_a_broker" => Broker { group: "broker-b".to_string() },
    })
}

fn offset_keys() -> Vec<(String, OffsetKey)> {
    vec![("billing_consumers_on_orders".to_string(), offset_key())]
}

fn offset_records() -> Vec<(String, OffsetRecord)> {
    vec![("committed".to_string(), OffsetRecord { offset: 98_765, committed_at_revision: 183 })]
}

fn audit_records() -> Vec<(String, AuditRecord)> {
    let record = |index, action: &str, target: &str, result: &str| AuditRecord {
        index,
        at_ms: ISSUED_AT_MS,
        actor: "10.1.2.3:50712 (pharosctl)".to_string(),
        action: action.to_string(),
        target: target.to_string(),
        result: result.to_string(),
    };
    vec![
        ("applied".to_string(), record(10_423, "fence_broker", "broker 12", "ok")),
        ("refused".to_string(), record(10_424, "create_topic", "topic orders", "topic orders already exists")),
    ]
}

fn users() -> Vec<(String, User)> {
    user_kinds()
        .into_iter()
        .map(|(name, kind)| {
            // `enabled: false` would be left out of the bytes; true pins the field.
            (name, User { name: "billing".to_string(), kind, enabled: true, token_sha256: TOKEN_SHA256.to_string() })
        })
        .collect()
}

fn policies() -> Vec<(String, (String, Vec<PolicyEntry>))> {
    let entry = |resource, actions: &[Action], source_cidrs: &[&str], decision| PolicyEntry {
        resource,
        actions: actions.to_vec(),
        source_cidrs: source_cidrs.iter().map(|text| cidr(text)).collect(),
        decision,
    };
    let entries = vec![
        // `cluster:*`: the empty name is left out of the bytes; the other entries pin the field.
        entry(
            Resource::any(ResourceType::Cluster),
            &[Action::Admin, Action::Dr, Action::Failover, Action::Acl, Action::Audit],
            &[],
            Decision::Allow,
        ),
        entry(
            Resource::literal(ResourceType::Topic, "orders"),
            &[Action::Get, Action::Pub, Action::Sub],
            &["10.0.0.0/8"],
            Decision::Allow,
        ),
        entry(
            Resource::prefixed(ResourceType::Group, "billing-"),
            &[Action::List, Action::Sub],
            &["fd00::/8"],
            Decision::Allow,
        ),
        entry(Resource::literal(ResourceType::Namespace, "staging"), &[Action::All], &[], Decision::Deny),
        entry(
            Resource::prefixed(ResourceType::Topic, "orders-"),
            &[Action::Create, Action::Update, Action::Delete, Action::Register],
            &["192.168.1.0/24", "127.0.0.1/32"],
            Decision::Deny,
        ),
    ];
    vec![("billing".to_string(), ("billing".to_string(), entries))]
}

fn resource_types() -> Vec<(String, ResourceType)> {
    every_variant!(ResourceType { "cluster" => Cluster, "topic" => Topic, "group" => Group, "namespace" => Namespace })
}

fn patterns() -> Vec<(String, Pattern)> {
    every_variant!(Pattern { "literal" => Literal, "prefixed" => Prefixed, "any" => Any })
}

fn actions() -> Vec<(String, Action)> {
    every_variant!(Action {
        "get" => Get,
        "list" => List,
        "create" => Create,
        "update" => Update,
        "delete" => Delete,
        "pub" => Pub,
        "sub" => Sub,
        "register" => Register,
        "failover" => Failover,
        "dr" => Dr,
        "admin" => Admin,
        "acl" => Acl,
        "audit" => Audit,
        "all" => All,
    })
}

fn decisions() -> Vec<(String, Decision)> {
    every_variant!(Decision { "allow" => Allow, "deny" => Deny })
}

fn dr_record() -> DrRecord {
    DrRecord {
        primary_region: "eu-west-1".to_string(),
        dr_region: "eu-central-1".to_string(),
        mode: ReplicationMode::DrSync,
        state: SyncState::SyncRecover,
        dr_state_id: 733,
        dr_sync_timeout_ms: 7_500,
        generation: 3,
        operation: Some(DrOperation {
            id: 900,
            from_region: "eu-west-1".to_string(),
            to_region: "eu-central-1".to_string(),
            step: SwitchoverStep::DemoteVoters,
            started_at_ms: ISSUED_AT_MS,
            step_at_ms: ISSUED_AT_MS + 4_000,
        }),
        last_operation: Some(FinishedOperation {
            id: 640,
            from_region: "eu-central-1".to_string(),
            to_region: "eu-west-1".to_string(),
            started_at_ms: ISSUED_AT_MS - 3_600_000,
            finished_at_ms: ISSUED_AT_MS - 3_590_000,
            result: "ok".to_string(),
        }),
        last_failover: Some(failover_record()),
    }
}

fn dr_records() -> Vec<(String, DrRecord)> {
    vec![
        ("in_switchover_after_a_failover".to_string(), dr_record()),
        // What a new cluster holds until configured.
        ("initial".to_string(), DrRecord::default()),
    ]
}

// ---- snapshots ----

/// A state holding some of everything, its derived indexes rebuilt as a load rebuilds them.
fn full_state() -> State {
    let mut state = State::default();
    (state.revision, state.next_broker_id, state.dr) = (10_424, 15, dr_record());
    state.kv.insert(
        b"config/greeting".to_vec(),
        KvRecord { value: b"hello".to_vec(), create_revision: 100, mod_revision: 181, version: 4 },
    );
    state.kv.insert(
        b"config/leader".to_vec(),
        KvRecord { value: b"node-2".to_vec(), create_revision: 170, mod_revision: 170, version: 1 },
    );
    let session = state.sessions.entry("golden-client".to_string()).or_default();
    session.responses.insert(41, (181, Response::Put { revision: 181, created: true }));
    session.responses.insert(42, (186, Response::Error(CommandError::TopicExists { topic: "orders".to_string() })));
    state
        .sessions
        .entry("pharosctl".to_string())
        .or_default()
        .responses
        .insert(7, (184, Response::OffsetsReset { revision: 184, queues_reset: 12 }));
    for (broker_id, state_of_broker) in [(12, BrokerState::Active), (13, BrokerState::Fenced)] {
        state.brokers.insert(broker_id, Broker { broker_id, ..broker(state_of_broker) });
    }
    state.groups.insert("broker-a".to_string(), group(ElectionMode::Elected));
    state
        .groups
        .insert("broker-b".to_string(), BrokerGroup { name: "broker-b".to_string(), ..group(ElectionMode::Declared) });
    for (_, topic) in topics() {
        let name = match &topic.origin {
            TopicOrigin::Operator => "orders",
            TopicOrigin::Broker { .. } => "inventory",
        };
        state.topics.insert(
            name.to_string(),
            Topic { spec: TopicSpec { name: name.to_string(), ..topic.spec.clone() }, ..topic },
        );
    }
    state.offsets.insert(offset_key(), OffsetRecord { offset: 98_765, committed_at_revision: 183 });
    state
        .offsets
        .insert(OffsetKey { queue_id: 4, ..offset_key() }, OffsetRecord { offset: 12_000, committed_at_revision: 183 });
    for (_, record) in audit_records() {
        state.audit.insert(record.index, record);
    }
    state.access.users.insert(
        "root".to_string(),
        User {
            name: "root".to_string(),
            kind: UserKind::Super,
            enabled: true,
            token_sha256: ROTATED_TOKEN_SHA256.to_string(),
        },
    );
    state.access.users.insert(
        "billing".to_string(),
        User {
            name: "billing".to_string(),
            kind: UserKind::Normal,
            enabled: true,
            token_sha256: TOKEN_SHA256.to_string(),
        },
    );
    for (_, (subject, entries)) in policies() {
        state.access.policies.insert(subject, entries);
    }
    state.rebuild_indexes();
    state
}

fn snapshots() -> Vec<(String, State)> {
    vec![
        ("full".to_string(), full_state()),
        // A state that recorded its feature level (written since levels exist).
        ("feature_level".to_string(), {
            let mut state = State::default();
            state.feature_level = 2;
            state
        }),
        // A new cluster's state: only the initial DR record.
        ("empty".to_string(), State::default()),
    ]
}
