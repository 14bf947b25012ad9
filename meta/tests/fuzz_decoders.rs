//! Fuzzing, on stable Rust, of every decoder in `pharos_meta::codec`: the bytes they read come
//! from the Raft log, the peers and the disk, and such input must never panic a node (it gets a
//! typed [`DecodeError`]).
//!
//! Property tests with arbitrary input (proptest), four properties per decoder:
//! - `arbitrary_bytes`: any bytes decode to `Ok` or `Err`, never a panic;
//! - `arbitrary_protobuf`: a version byte and a random protobuf-shaped body (random tags, wire
//!   types, nested messages, lying lengths), which gets much deeper into the decoders;
//! - `mutated_encoding`: a valid encoding with bits flipped, bytes inserted, removed or
//!   overwritten, varints (often huge length prefixes) spliced in, slices repeated, truncated;
//! - `round_trip`: `decode(encode(x)) == x` for realistic values.
//!
//! In the first three, whatever decodes must also re-encode to itself (no lossy decoder). On
//! top of that, `lying_lengths_reserve_no_memory` feeds every decoder huge length prefixes in a
//! child process whose address space is capped, so a decoder that pre-allocates from an
//! untrusted length or count aborts the child instead of passing unnoticed.
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=200000 cargo test --release -p pharos-meta --test fuzz_decoders`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

use std::collections::BTreeMap;
use std::fmt::Debug;

use pharos_fuzz_support::*;
use pharos_meta::access::{Action, Decision, Pattern, PolicyEntry, Resource, ResourceType, User, UserKind};
use pharos_meta::acl::AclOperation;
use pharos_meta::codec::{self, DecodeError};
use pharos_meta::{
    AbandonedMember, AuditRecord, Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, Command, CommandError,
    Compare, DrCommand, DrOperation, DrRecord, FailoverRecord, FinishedOperation, KvRecord, MembershipChange,
    MessageType, NotCollectable, OffsetBatch, OffsetCommit, OffsetKey, OffsetRecord, Operation, QueueCounts,
    Registration, ReplicationMode, RequestId, ResetTarget, Response, Session, State, SwitchoverStep, SyncState, Topic,
    TopicOperation, TopicSpec,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;

// ---- realistic values ----

/// Any text, often with the separators and control characters a format may trip on.
fn text() -> BoxedStrategy<String> {
    prop_oneof!["(?s).{0,12}", "[a-z\\x00\\n/=,]{0,8}"].boxed()
}

fn name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_.:-]{0,16}".boxed()
}

fn topic_name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_%|-]{1,24}".boxed()
}

fn bytes() -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 0..48).boxed()
}

fn registration() -> impl Strategy<Value = Registration> {
    (name(), name(), name(), text(), name(), name(), btree_map(name(), name(), 0..3), any::<u32>()).prop_map(
        |(cluster, group, name, incarnation_id, zone, region, addresses, election_priority)| Registration {
            cluster,
            group,
            name,
            incarnation_id,
            zone,
            region,
            addresses,
            election_priority,
        },
    )
}

fn broker_state() -> impl Strategy<Value = BrokerState> {
    prop_oneof![Just(BrokerState::Active), Just(BrokerState::Fenced), Just(BrokerState::Shutdown)]
}

fn broker() -> impl Strategy<Value = Broker> {
    (any::<u64>(), registration(), broker_state(), any::<u64>(), option::of(any::<u64>())).prop_map(
        |(broker_id, registration, state, epoch, retired_at_ms)| Broker {
            broker_id,
            incarnation_id: registration.incarnation_id,
            cluster: registration.cluster,
            group: registration.group,
            name: registration.name,
            zone: registration.zone,
            region: registration.region,
            addresses: registration.addresses,
            election_priority: registration.election_priority,
            state,
            broker_epoch: epoch,
            retired_at_ms,
        },
    )
}

fn not_collectable() -> impl Strategy<Value = NotCollectable> {
    prop_oneof![
        Just(NotCollectable::Active),
        Just(NotCollectable::Master),
        Just(NotCollectable::InSyncStateSet),
        Just(NotCollectable::RetiredTooRecently),
    ]
}

fn group() -> impl Strategy<Value = BrokerGroup> {
    (
        name(),
        btree_set(any::<u64>(), 0..5),
        option::of(any::<u64>()),
        any::<u64>(),
        btree_set(any::<u64>(), 0..5),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                name,
                members,
                master_broker_id,
                master_epoch,
                sync_state_set,
                sync_state_epoch,
                allow_unclean_election,
            )| {
                BrokerGroup {
                    name,
                    members,
                    master_broker_id,
                    master_epoch,
                    sync_state_set,
                    sync_state_epoch,
                    allow_unclean_election,
                }
            },
        )
}

fn message_type() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        Just(MessageType::Normal),
        Just(MessageType::Fifo),
        Just(MessageType::Delay),
        Just(MessageType::Transactional)
    ]
}

fn topic_spec() -> impl Strategy<Value = TopicSpec> {
    (
        topic_name(),
        btree_map(name(), (any::<u32>(), any::<u32>()).prop_map(|(read, write)| QueueCounts { read, write }), 0..4),
        any::<u32>(),
        message_type(),
        btree_map(text(), text(), 0..3),
    )
        .prop_map(|(name, queues, perm, message_type, attributes)| TopicSpec {
            name,
            queues,
            perm,
            message_type,
            attributes,
        })
}

fn topic() -> impl Strategy<Value = Topic> {
    (topic_spec(), any::<u64>(), any::<u64>()).prop_map(|(spec, create_revision, revision)| Topic {
        spec,
        create_revision,
        revision,
    })
}

/// Consumer groups are any text of 1..=255 bytes (a NUL included); topics are validated names.
fn offset_key() -> impl Strategy<Value = OffsetKey> {
    (text(), topic_name(), any::<u32>()).prop_map(|(consumer_group, topic, queue_id)| OffsetKey {
        consumer_group,
        topic,
        queue_id,
    })
}

fn offset_record() -> impl Strategy<Value = OffsetRecord> {
    (any::<u64>(), any::<u64>())
        .prop_map(|(offset, committed_at_revision)| OffsetRecord { offset, committed_at_revision })
}

fn audit_record() -> impl Strategy<Value = AuditRecord> {
    (any::<u64>(), any::<u64>(), text(), name(), text(), text()).prop_map(
        |(index, at_ms, actor, action, target, result)| AuditRecord { index, at_ms, actor, action, target, result },
    )
}

fn kv_record() -> impl Strategy<Value = KvRecord> {
    (bytes(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(value, create_revision, mod_revision, version)| {
        KvRecord { value, create_revision, mod_revision, version }
    })
}

fn replication_mode() -> impl Strategy<Value = ReplicationMode> {
    prop_oneof![Just(ReplicationMode::Majority), Just(ReplicationMode::DrSync)]
}

fn sync_state() -> impl Strategy<Value = SyncState> {
    prop_oneof![Just(SyncState::Sync), Just(SyncState::Async), Just(SyncState::SyncRecover)]
}

fn switchover_step() -> impl Strategy<Value = SwitchoverStep> {
    proptest::sample::select(SwitchoverStep::ALL.to_vec())
}

fn abandoned_member() -> impl Strategy<Value = AbandonedMember> {
    (any::<u64>(), name(), name(), name(), name()).prop_map(|(node_id, client_addr, peer_addr, zone, region)| {
        AbandonedMember { node_id, client_addr, peer_addr, zone, region }
    })
}

fn failover_record() -> impl Strategy<Value = FailoverRecord> {
    (
        (any::<u64>(), any::<u64>(), name(), name(), any::<u64>(), any::<u64>(), any::<u64>()),
        (replication_mode(), sync_state(), any::<u64>(), option::of(any::<u64>()), any::<bool>()),
        vec(abandoned_member(), 0..3),
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (generation, at_ms, from_region, to_region, seed_node_id, seed_last_log_index, last_known_commit_index),
                (last_mode, last_state, last_dr_state_id, leader_silence_ms, rpo_zero),
                abandoned_members,
                (last_announced_dr_state_id, sync_promise_remaining_ms),
            )| FailoverRecord {
                generation,
                at_ms,
                from_region,
                to_region,
                seed_node_id,
                seed_last_log_index,
                last_known_commit_index,
                last_mode,
                last_state,
                last_dr_state_id,
                leader_silence_ms,
                last_announced_dr_state_id,
                sync_promise_remaining_ms,
                rpo_zero,
                abandoned_members,
            },
        )
}

fn dr_operation() -> impl Strategy<Value = DrOperation> {
    (any::<u64>(), name(), name(), switchover_step(), any::<u64>(), any::<u64>()).prop_map(
        |(id, from_region, to_region, step, started_at_ms, step_at_ms)| DrOperation {
            id,
            from_region,
            to_region,
            step,
            started_at_ms,
            step_at_ms,
        },
    )
}

fn finished_operation() -> impl Strategy<Value = FinishedOperation> {
    (any::<u64>(), name(), name(), any::<u64>(), any::<u64>(), text()).prop_map(
        |(id, from_region, to_region, started_at_ms, finished_at_ms, result)| FinishedOperation {
            id,
            from_region,
            to_region,
            started_at_ms,
            finished_at_ms,
            result,
        },
    )
}

fn dr_record() -> impl Strategy<Value = DrRecord> {
    (
        (name(), name(), replication_mode(), sync_state(), any::<u64>(), any::<u64>(), any::<u64>()),
        (option::of(dr_operation()), option::of(finished_operation()), option::of(failover_record())),
    )
        .prop_map(
            |(
                (primary_region, dr_region, mode, state, dr_state_id, dr_sync_timeout_ms, generation),
                (operation, last_operation, last_failover),
            )| DrRecord {
                primary_region,
                dr_region,
                mode,
                state,
                dr_state_id,
                dr_sync_timeout_ms,
                generation,
                operation,
                last_operation,
                last_failover,
            },
        )
}

fn command_error() -> impl Strategy<Value = CommandError> {
    let (u, s) = (any::<u64>, text);
    prop_oneof![
        Just(CommandError::KeyEmpty).boxed(),
        (u(), u()).prop_map(|(bytes, max)| CommandError::KeyTooLarge { bytes, max }).boxed(),
        (u(), u()).prop_map(|(bytes, max)| CommandError::ValueTooLarge { bytes, max }).boxed(),
        (u(), u()).prop_map(|(bytes, max)| CommandError::ClientIdTooLarge { bytes, max }).boxed(),
        (s(), u(), u())
            .prop_map(|(client_id, sequence, oldest_remembered)| CommandError::SequenceExpired {
                client_id,
                sequence,
                oldest_remembered
            })
            .boxed(),
        s().prop_map(|reason| CommandError::InvalidRegistration { reason }).boxed(),
        u().prop_map(|broker_id| CommandError::UnknownBroker { broker_id }).boxed(),
        s().prop_map(|group| CommandError::UnknownGroup { group }).boxed(),
        (u(), u()).prop_map(|(broker_id, current)| CommandError::StaleBrokerEpoch { broker_id, current }).boxed(),
        (u(), s())
            .prop_map(|(broker_id, incarnation_id)| CommandError::DuplicateRegistration { broker_id, incarnation_id })
            .boxed(),
        (u(), proptest::sample::select(vec!["active", "fenced", "shutdown", "active: fence it first"]))
            .prop_map(|(broker_id, state)| CommandError::BrokerNotActive { broker_id, state })
            .boxed(),
        (s(), u()).prop_map(|(group, current)| CommandError::StaleMasterEpoch { group, current }).boxed(),
        (s(), u()).prop_map(|(group, current)| CommandError::StaleSyncStateEpoch { group, current }).boxed(),
        (s(), option::of(u()))
            .prop_map(|(group, master_broker_id)| CommandError::NotMaster { group, master_broker_id })
            .boxed(),
        s().prop_map(|reason| CommandError::InvalidSyncStateSet { reason }).boxed(),
        s().prop_map(|reason| CommandError::InvalidTopic { reason }).boxed(),
        s().prop_map(|topic| CommandError::UnknownTopic { topic }).boxed(),
        s().prop_map(|topic| CommandError::TopicExists { topic }).boxed(),
        (s(), u()).prop_map(|(topic, current)| CommandError::StaleTopicRevision { topic, current }).boxed(),
        (s(), u())
            .prop_map(|(topic, consumer_groups)| CommandError::TopicHasConsumers { topic, consumer_groups })
            .boxed(),
        (offset_key(), u())
            .prop_map(|(key, current)| CommandError::OffsetBackwards {
                consumer_group: key.consumer_group,
                topic: key.topic,
                queue_id: key.queue_id,
                current
            })
            .boxed(),
        s().prop_map(|reason| CommandError::InvalidOffsetCommit { reason }).boxed(),
        s().prop_map(|reason| CommandError::InvalidDr { reason }).boxed(),
        u().prop_map(|current| CommandError::StaleDrState { current }).boxed(),
        u().prop_map(|operation_id| CommandError::DrOperationInProgress { operation_id }).boxed(),
        (u(), option::of(u()))
            .prop_map(|(operation_id, current)| CommandError::StaleDrOperation { operation_id, current })
            .boxed(),
        u().prop_map(|current| CommandError::StaleGeneration { current }).boxed(),
        (u(), not_collectable())
            .prop_map(|(broker_id, reason)| CommandError::BrokerNotCollectable { broker_id, reason })
            .boxed(),
        (u(), u()).prop_map(|(brokers, max)| CommandError::CollectionSize { brokers, max }).boxed(),
        s().prop_map(|reason| CommandError::InvalidAcl { reason }).boxed(),
        s().prop_map(|name| CommandError::UnknownUser { name }).boxed(),
        s().prop_map(|name| CommandError::UserExists { name }).boxed(),
        u().prop_map(|max| CommandError::TooManyUsers { max }).boxed(),
        Just(CommandError::TokenInUse).boxed(),
        s().prop_map(|name| CommandError::LastSuperUser { name }).boxed(),
        s().prop_map(|subject| CommandError::UnknownPolicyEntry { subject }).boxed(),
        (s(), u()).prop_map(|(subject, max)| CommandError::TooManyPolicyEntries { subject, max }).boxed(),
        Just(CommandError::AclBootstrapped).boxed(),
    ]
}

fn user_kind() -> impl Strategy<Value = UserKind> {
    proptest::sample::select(UserKind::ALL.to_vec())
}

fn user() -> impl Strategy<Value = User> {
    (name(), user_kind(), any::<bool>(), text()).prop_map(|(name, kind, enabled, token_sha256)| User {
        name,
        kind,
        enabled,
        token_sha256,
    })
}

fn policy_entry() -> impl Strategy<Value = PolicyEntry> {
    let cidrs = ["10.0.0.0/8", "192.168.1.0/24", "127.0.0.1/32", "fd00::/8", "::1/128", "0.0.0.0/0"];
    (
        proptest::sample::select(ResourceType::ALL.to_vec()),
        text(),
        proptest::sample::select(Pattern::ALL.to_vec()),
        vec(proptest::sample::select(Action::ALL_ACTIONS.to_vec()), 0..4),
        vec(proptest::sample::select(cidrs.to_vec()), 0..3),
        proptest::sample::select(Decision::ALL.to_vec()),
    )
        .prop_map(|(kind, name, pattern, actions, source_cidrs, decision)| PolicyEntry {
            resource: Resource { kind, name, pattern },
            actions,
            source_cidrs: source_cidrs.into_iter().map(|cidr| cidr.parse().expect("a valid CIDR")).collect(),
            decision,
        })
}

fn policy() -> impl Strategy<Value = (String, Vec<PolicyEntry>)> {
    (name(), vec(policy_entry(), 0..3))
}

fn acl_operation() -> impl Strategy<Value = AclOperation> {
    prop_oneof![
        (name(), text()).prop_map(|(name, token_sha256)| AclOperation::Bootstrap { name, token_sha256 }),
        (name(), user_kind(), text()).prop_map(|(name, kind, token_sha256)| AclOperation::AddUser {
            name,
            kind,
            token_sha256
        }),
        name().prop_map(|name| AclOperation::DeleteUser { name }),
        (name(), any::<bool>()).prop_map(|(name, enabled)| AclOperation::SetEnabled { name, enabled }),
        (name(), text()).prop_map(|(name, token_sha256)| AclOperation::RotateToken { name, token_sha256 }),
        (name(), policy_entry()).prop_map(|(subject, entry)| AclOperation::Grant { subject, entry }),
        (name(), policy_entry()).prop_map(|(subject, entry)| AclOperation::Revoke { subject, entry }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let u = any::<u64>;
    prop_oneof![
        u().prop_map(|revision| Response::Noop { revision }).boxed(),
        (u(), any::<bool>()).prop_map(|(revision, created)| Response::Put { revision, created }).boxed(),
        (u(), any::<bool>()).prop_map(|(revision, deleted)| Response::Delete { revision, deleted }).boxed(),
        (any::<bool>(), u(), option::of(u()))
            .prop_map(|(succeeded, revision, current_mod_revision)| Response::CompareAndSet {
                succeeded,
                revision,
                current_mod_revision
            })
            .boxed(),
        (u(), u()).prop_map(|(broker_id, broker_epoch)| Response::BrokerRegistered { broker_id, broker_epoch }).boxed(),
        u().prop_map(|revision| Response::BrokerChanged { revision }).boxed(),
        (text(), u(), u())
            .prop_map(|(group, master_broker_id, master_epoch)| Response::MasterElected {
                group,
                master_broker_id,
                master_epoch
            })
            .boxed(),
        u().prop_map(|sync_state_epoch| Response::SyncStateSetAltered { sync_state_epoch }).boxed(),
        u().prop_map(|revision| Response::TopicChanged { revision }).boxed(),
        (u(), vec(option::of(command_error()), 0..4))
            .prop_map(|(revision, results)| Response::OffsetsCommitted { revision, results })
            .boxed(),
        (u(), u()).prop_map(|(revision, queues_reset)| Response::OffsetsReset { revision, queues_reset }).boxed(),
        u().prop_map(|revision| Response::DrChanged { revision }).boxed(),
        u().prop_map(|revision| Response::AclChanged { revision }).boxed(),
        command_error().prop_map(Response::Error).boxed(),
    ]
}

fn broker_operation() -> impl Strategy<Value = BrokerOperation> {
    let u = any::<u64>;
    prop_oneof![
        registration().prop_map(BrokerOperation::Register),
        (u(), u()).prop_map(|(broker_id, broker_epoch)| BrokerOperation::Unregister { broker_id, broker_epoch }),
        (u(), u()).prop_map(|(broker_id, broker_epoch)| BrokerOperation::Fence { broker_id, broker_epoch }),
        u().prop_map(|broker_id| BrokerOperation::Remove { broker_id }),
        (u(), btree_set((u(), u()).prop_map(|(broker_id, broker_epoch)| BrokerRef { broker_id, broker_epoch }), 0..5))
            .prop_map(|(retired_before_ms, brokers)| BrokerOperation::Collect { retired_before_ms, brokers }),
        (name(), u(), u()).prop_map(|(group, broker_id, expected_master_epoch)| BrokerOperation::ElectMaster {
            group,
            broker_id,
            expected_master_epoch
        }),
        (name(), u(), u(), u(), btree_set(u(), 0..5)).prop_map(
            |(group, master_broker_id, master_epoch, sync_state_epoch, sync_state_set)| {
                BrokerOperation::AlterSyncStateSet {
                    group,
                    master_broker_id,
                    master_epoch,
                    sync_state_epoch,
                    sync_state_set,
                }
            }
        ),
    ]
}

fn topic_operation() -> impl Strategy<Value = TopicOperation> {
    let batch =
        (vec((offset_key(), any::<u64>()), 0..4), any::<bool>()).prop_map(|(commits, reject_backwards)| OffsetBatch {
            commits: commits.into_iter().map(|(key, offset)| OffsetCommit { key, offset }).collect(),
            reject_backwards,
        });
    prop_oneof![
        topic_spec().prop_map(TopicOperation::Create),
        (topic_spec(), option::of(any::<u64>()))
            .prop_map(|(spec, expected_revision)| TopicOperation::Update { spec, expected_revision }),
        (topic_name(), any::<bool>()).prop_map(|(name, force)| TopicOperation::Delete { name, force }),
        vec(batch, 0..3).prop_map(|batches| TopicOperation::CommitOffsets { batches }),
        (text(), topic_name(), prop_oneof![Just(ResetTarget::Earliest), any::<u64>().prop_map(ResetTarget::Offset)])
            .prop_map(|(consumer_group, topic, to)| TopicOperation::ResetOffsets { consumer_group, topic, to }),
    ]
}

fn dr_command() -> impl Strategy<Value = DrCommand> {
    prop_oneof![
        (name(), name()).prop_map(|(primary_region, dr_region)| DrCommand::Configure { primary_region, dr_region }),
        (replication_mode(), any::<u64>())
            .prop_map(|(mode, dr_sync_timeout_ms)| DrCommand::SetMode { mode, dr_sync_timeout_ms }),
        (any::<u64>(), sync_state())
            .prop_map(|(expected_dr_state_id, state)| DrCommand::SwitchState { expected_dr_state_id, state }),
        (name(), name()).prop_map(|(from_region, to_region)| DrCommand::BeginSwitchover { from_region, to_region }),
        (any::<u64>(), switchover_step())
            .prop_map(|(operation_id, step)| DrCommand::AdvanceSwitchover { operation_id, step }),
        (any::<u64>(), option::of(text()))
            .prop_map(|(operation_id, error)| DrCommand::FinishSwitchover { operation_id, error }),
        failover_record().prop_map(DrCommand::CompleteFailover),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    let compare = prop_oneof![
        Just(Compare::Absent),
        bytes().prop_map(Compare::Value),
        any::<u64>().prop_map(Compare::ModRevision)
    ];
    prop_oneof![
        Just(Operation::Noop),
        (bytes(), bytes()).prop_map(|(key, value)| Operation::Put { key, value }),
        bytes().prop_map(|key| Operation::Delete { key }),
        (bytes(), compare, bytes()).prop_map(|(key, compare, value)| Operation::CompareAndSet { key, compare, value }),
        broker_operation().prop_map(Operation::Broker),
        topic_operation().prop_map(Operation::Topic),
        dr_command().prop_map(Operation::Dr),
        acl_operation().prop_map(Operation::Acl),
        any::<u64>()
            .prop_flat_map(|node_id| prop_oneof![
                Just(MembershipChange::AddLearner { node_id }),
                Just(MembershipChange::Promote { node_id }),
                Just(MembershipChange::Remove { node_id }),
                Just(MembershipChange::TransferLeader { to_node_id: node_id }),
            ])
            .prop_map(Operation::RecordMembershipChange),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    (
        option::of((text(), any::<u64>()).prop_map(|(client_id, sequence)| RequestId { client_id, sequence })),
        any::<u64>(),
        text(),
        operation(),
    )
        .prop_map(|(request_id, issued_at_ms, actor, operation)| Command {
            request_id,
            issued_at_ms,
            actor,
            operation,
        })
}

fn session_entry() -> impl Strategy<Value = (u64, Response)> {
    (any::<u64>(), response())
}

/// A state as a replica holds it: maps keyed by what their values say, no empty session.
fn state() -> impl Strategy<Value = State> {
    (
        (any::<u64>(), btree_map(bytes(), kv_record(), 0..4), any::<u64>()),
        (vec(broker(), 0..3), vec(group(), 0..3), vec(topic(), 0..3)),
        (btree_map(offset_key(), offset_record(), 0..4), vec(audit_record(), 0..3), dr_record()),
        btree_map(text(), btree_map(any::<u64>(), session_entry(), 1..3), 0..3),
        (vec(user(), 0..3), btree_map(name(), vec(policy_entry(), 1..3), 0..3)),
    )
        .prop_map(
            |(
                (revision, kv, next_broker_id),
                (brokers, groups, topics),
                (offsets, audit, dr),
                sessions,
                (users, policies),
            )| {
                let mut state = State::default();
                state.revision = revision;
                state.kv = kv;
                state.brokers = brokers.into_iter().map(|broker| (broker.broker_id, broker)).collect();
                state.groups = groups.into_iter().map(|group| (group.name.clone(), group)).collect();
                state.next_broker_id = next_broker_id;
                state.topics = topics.into_iter().map(|topic| (topic.spec.name.clone(), topic)).collect();
                state.offsets = offsets;
                state.audit = audit.into_iter().map(|record| (record.index, record)).collect();
                state.dr = dr;
                state.access.users = users.into_iter().map(|user| (user.name.clone(), user)).collect();
                state.access.policies = policies;
                state.sessions = sessions
                    .into_iter()
                    .map(|(client_id, responses)| (client_id, Session { responses }))
                    .collect::<BTreeMap<_, _>>();
                state.rebuild_indexes();
                state
            },
        )
}

// ---- the targets ----

/// Whatever decodes re-encodes to itself: a decoder never loses or invents information.
fn check_stable<T: PartialEq + Debug>(
    decoded: Result<T, DecodeError>,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<(), TestCaseError> {
    if let Ok(value) = decoded {
        prop_assert_eq!(decode(&encode(&value)), Ok(value), "a decoded value must re-encode to itself");
    }
    Ok(())
}

/// Four properties for each decoder (see the module docs), in a module named after it.
macro_rules! decoder_target {
    ($target:ident, $strategy:expr, $encode:expr, $decode:expr) => {
        mod $target {
            use super::*;

            proptest! {
                #![proptest_config(fuzz_config())]

                #[test]
                fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn arbitrary_protobuf(bytes in protobuf_blob(Some(codec::FORMAT_VERSION))) {
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn mutated_encoding(value in $strategy, mutations in mutations()) {
                    let mut bytes = $encode(&value);
                    mutate(&mut bytes, &mutations);
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn round_trip(value in $strategy) {
                    prop_assert_eq!($decode(&$encode(&value)), Ok(value));
                }
            }
        }
    };
}

decoder_target!(command, command(), codec::encode_command, codec::decode_command);
decoder_target!(kv_record, kv_record(), codec::encode_kv_record, codec::decode_kv_record);
decoder_target!(
    session_entry,
    session_entry(),
    |(index, response): &(u64, Response)| codec::encode_session_entry(*index, response),
    codec::decode_session_entry
);
decoder_target!(broker, broker(), codec::encode_broker, codec::decode_broker);
decoder_target!(group, group(), codec::encode_group, codec::decode_group);
decoder_target!(topic, topic(), codec::encode_topic, codec::decode_topic);
decoder_target!(offset_key, offset_key(), codec::encode_offset_key, codec::decode_offset_key);
decoder_target!(offset_record, offset_record(), codec::encode_offset_record, codec::decode_offset_record);
decoder_target!(audit_record, audit_record(), codec::encode_audit_record, codec::decode_audit_record);
decoder_target!(dr_record, dr_record(), codec::encode_dr_record, codec::decode_dr_record);
decoder_target!(response, response(), codec::encode_response, codec::decode_response);
decoder_target!(snapshot, state(), codec::encode_snapshot, codec::decode_snapshot);
decoder_target!(user, user(), codec::encode_user, codec::decode_user);
decoder_target!(
    policy,
    policy(),
    |(subject, entries): &(String, Vec<PolicyEntry>)| codec::encode_policy(subject, entries),
    codec::decode_policy
);

/// A decoder, type-erased: did it decode?
type Decodes = fn(&[u8]) -> bool;

/// Every decoder, for the deterministic checks.
fn all_decoders() -> Vec<(&'static str, Decodes)> {
    vec![
        ("command", |bytes| codec::decode_command(bytes).is_ok()),
        ("kv_record", |bytes| codec::decode_kv_record(bytes).is_ok()),
        ("session_entry", |bytes| codec::decode_session_entry(bytes).is_ok()),
        ("broker", |bytes| codec::decode_broker(bytes).is_ok()),
        ("group", |bytes| codec::decode_group(bytes).is_ok()),
        ("topic", |bytes| codec::decode_topic(bytes).is_ok()),
        ("offset_key", |bytes| codec::decode_offset_key(bytes).is_ok()),
        ("offset_record", |bytes| codec::decode_offset_record(bytes).is_ok()),
        ("audit_record", |bytes| codec::decode_audit_record(bytes).is_ok()),
        ("dr_record", |bytes| codec::decode_dr_record(bytes).is_ok()),
        ("response", |bytes| codec::decode_response(bytes).is_ok()),
        ("snapshot", |bytes| codec::decode_snapshot(bytes).is_ok()),
        ("user", |bytes| codec::decode_user(bytes).is_ok()),
        ("policy", |bytes| codec::decode_policy(bytes).is_ok()),
    ]
}

#[test]
fn lying_lengths_reserve_no_memory() {
    if rerun_with_capped_memory("lying_lengths_reserve_no_memory") {
        return;
    }
    for blob in lying_length_blobs(Some(codec::FORMAT_VERSION)) {
        for (name, decodes) in all_decoders() {
            // Only the length-delimited field at the very front matters here: a length past the
            // end of the blob must be refused.
            if blob.len() < 64 {
                assert!(!decodes(&blob), "{name} accepted a length prefix past the end: {blob:02x?}");
            } else {
                let _ = decodes(&blob);
            }
        }
    }
}

#[test]
fn empty_and_foreign_versions_are_typed_errors() {
    assert_eq!(codec::decode_command(&[]), Err(DecodeError::Empty));
    for version in (0..=u8::MAX).filter(|version| *version != codec::FORMAT_VERSION) {
        assert_eq!(
            codec::decode_snapshot(&[version]),
            Err(DecodeError::UnsupportedVersion { found: version, supported: codec::FORMAT_VERSION })
        );
    }
}
