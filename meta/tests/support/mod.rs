//! Realistic values of every persisted type, as proptest strategies for the fuzz targets (the
//! golden fixtures build fixed values of their own, in `golden.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use pharos_meta::access::{Action, Decision, Pattern, PolicyEntry, Resource, ResourceType, User, UserKind};
use pharos_meta::acl::AclOperation;
use pharos_meta::{
    AbandonedMember, AuditRecord, Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, Command, CommandError,
    Compare, DeclaredRole, DrCommand, DrOperation, DrRecord, ElectionMode, FailoverRecord, FinishedOperation, KvRecord,
    MembershipChange, MessageType, NotCollectable, OffsetBatch, OffsetCommit, OffsetKey, OffsetRecord, Operation,
    QueueCounts, Registration, RegistrationMode, ReplicationMode, ReportedTopic, RequestId, ResetTarget, Response,
    Session, State, SwitchoverStep, SyncState, Topic, TopicOperation, TopicOrigin, TopicSpec,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;

/// Any text, often with the separators and control characters a format may trip on.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof!["(?s).{0,12}", "[a-z\\x00\\n/=,]{0,8}"].boxed()
}

pub fn name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_.:-]{0,16}".boxed()
}

pub fn topic_name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_%|-]{1,24}".boxed()
}

pub fn bytes() -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 0..48).boxed()
}

pub fn registration() -> impl Strategy<Value = Registration> {
    (
        (name(), name(), name(), text(), name(), name(), btree_map(name(), name(), 0..3), any::<u32>()),
        prop_oneof![
            Just(RegistrationMode::Elected),
            Just(RegistrationMode::Controlled),
            Just(RegistrationMode::Declared(DeclaredRole::Master)),
            Just(RegistrationMode::Declared(DeclaredRole::Replica)),
        ],
    )
        .prop_map(|((cluster, group, name, incarnation_id, zone, region, addresses, election_priority), mode)| {
            Registration { cluster, group, name, incarnation_id, zone, region, addresses, election_priority, mode }
        })
}

pub fn broker_state() -> impl Strategy<Value = BrokerState> {
    prop_oneof![Just(BrokerState::Active), Just(BrokerState::Fenced), Just(BrokerState::Shutdown)]
}

pub fn broker() -> impl Strategy<Value = Broker> {
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

pub fn not_collectable() -> impl Strategy<Value = NotCollectable> {
    prop_oneof![
        Just(NotCollectable::Active),
        Just(NotCollectable::Master),
        Just(NotCollectable::InSyncStateSet),
        Just(NotCollectable::RetiredTooRecently),
    ]
}

pub fn group() -> impl Strategy<Value = BrokerGroup> {
    (
        name(),
        btree_set(any::<u64>(), 0..5),
        option::of(any::<u64>()),
        any::<u64>(),
        btree_set(any::<u64>(), 0..5),
        any::<u64>(),
        any::<bool>(),
        prop_oneof![Just(ElectionMode::Elected), Just(ElectionMode::Declared)],
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
                election_mode,
            )| {
                BrokerGroup {
                    name,
                    members,
                    master_broker_id,
                    master_epoch,
                    sync_state_set,
                    sync_state_epoch,
                    allow_unclean_election,
                    election_mode,
                }
            },
        )
}

pub fn message_type() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        Just(MessageType::Normal),
        Just(MessageType::Fifo),
        Just(MessageType::Delay),
        Just(MessageType::Transactional)
    ]
}

pub fn topic_spec() -> impl Strategy<Value = TopicSpec> {
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

pub fn topic() -> impl Strategy<Value = Topic> {
    (topic_spec(), any::<u64>(), any::<u64>(), option::of(name())).prop_map(
        |(spec, create_revision, revision, reported_by)| Topic {
            spec,
            create_revision,
            revision,
            origin: reported_by.map_or(TopicOrigin::Operator, |group| TopicOrigin::Broker { group }),
        },
    )
}

/// Consumer groups are any text of 1..=255 bytes (a NUL included); topics are validated names.
pub fn offset_key() -> impl Strategy<Value = OffsetKey> {
    (text(), topic_name(), any::<u32>()).prop_map(|(consumer_group, topic, queue_id)| OffsetKey {
        consumer_group,
        topic,
        queue_id,
    })
}

pub fn offset_record() -> impl Strategy<Value = OffsetRecord> {
    (any::<u64>(), any::<u64>())
        .prop_map(|(offset, committed_at_revision)| OffsetRecord { offset, committed_at_revision })
}

pub fn audit_record() -> impl Strategy<Value = AuditRecord> {
    (any::<u64>(), any::<u64>(), text(), name(), text(), text()).prop_map(
        |(index, at_ms, actor, action, target, result)| AuditRecord { index, at_ms, actor, action, target, result },
    )
}

pub fn kv_record() -> impl Strategy<Value = KvRecord> {
    (bytes(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(value, create_revision, mod_revision, version)| {
        KvRecord { value, create_revision, mod_revision, version }
    })
}

pub fn replication_mode() -> impl Strategy<Value = ReplicationMode> {
    prop_oneof![Just(ReplicationMode::Majority), Just(ReplicationMode::DrSync)]
}

pub fn sync_state() -> impl Strategy<Value = SyncState> {
    prop_oneof![Just(SyncState::Sync), Just(SyncState::Async), Just(SyncState::SyncRecover)]
}

pub fn switchover_step() -> impl Strategy<Value = SwitchoverStep> {
    proptest::sample::select(SwitchoverStep::ALL.to_vec())
}

pub fn abandoned_member() -> impl Strategy<Value = AbandonedMember> {
    (any::<u64>(), name(), name(), name(), name()).prop_map(|(node_id, client_addr, peer_addr, zone, region)| {
        AbandonedMember { node_id, client_addr, peer_addr, zone, region }
    })
}

pub fn failover_record() -> impl Strategy<Value = FailoverRecord> {
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

pub fn dr_operation() -> impl Strategy<Value = DrOperation> {
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

pub fn finished_operation() -> impl Strategy<Value = FinishedOperation> {
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

pub fn dr_record() -> impl Strategy<Value = DrRecord> {
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

pub fn command_error() -> impl Strategy<Value = CommandError> {
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
        // The access-control errors in a union of their own.
        prop_oneof![
            s().prop_map(|reason| CommandError::InvalidAcl { reason }).boxed(),
            s().prop_map(|name| CommandError::UnknownUser { name }).boxed(),
            s().prop_map(|name| CommandError::UserExists { name }).boxed(),
            u().prop_map(|max| CommandError::TooManyUsers { max }).boxed(),
            Just(CommandError::TokenInUse).boxed(),
            s().prop_map(|name| CommandError::LastSuperUser { name }).boxed(),
            s().prop_map(|subject| CommandError::UnknownPolicyEntry { subject }).boxed(),
            (s(), u()).prop_map(|(subject, max)| CommandError::TooManyPolicyEntries { subject, max }).boxed(),
            Just(CommandError::AclBootstrapped).boxed(),
            s().prop_map(|group| CommandError::MasterDeclared { group }).boxed(),
            (s(), u())
                .prop_map(|(group, master_broker_id)| CommandError::MasterStillActive { group, master_broker_id })
                .boxed(),
            (any::<u32>(), any::<u32>())
                .prop_map(|(required, committed)| CommandError::FeatureLevelTooLow { required, committed })
                .boxed(),
            (any::<u32>(), any::<u32>())
                .prop_map(|(requested, committed)| CommandError::FeatureLevelLowering { requested, committed })
                .boxed(),
        ]
        .boxed(),
    ]
}

pub fn user_kind() -> impl Strategy<Value = UserKind> {
    proptest::sample::select(UserKind::ALL.to_vec())
}

pub fn user() -> impl Strategy<Value = User> {
    (name(), user_kind(), any::<bool>(), text()).prop_map(|(name, kind, enabled, token_sha256)| User {
        name,
        kind,
        enabled,
        token_sha256,
    })
}

pub fn policy_entry() -> impl Strategy<Value = PolicyEntry> {
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

pub fn policy() -> impl Strategy<Value = (String, Vec<PolicyEntry>)> {
    (name(), vec(policy_entry(), 0..3))
}

pub fn acl_operation() -> impl Strategy<Value = AclOperation> {
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

pub fn response() -> impl Strategy<Value = Response> {
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
        (any::<u32>(), u()).prop_map(|(level, revision)| Response::FeatureLevel { level, revision }).boxed(),
        command_error().prop_map(Response::Error).boxed(),
    ]
}

pub fn broker_operation() -> impl Strategy<Value = BrokerOperation> {
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

pub fn topic_operation() -> impl Strategy<Value = TopicOperation> {
    let batch = (vec((offset_key(), any::<u64>()), 0..4), any::<bool>(), request_id()).prop_map(
        |(commits, reject_backwards, request_id)| OffsetBatch {
            commits: commits.into_iter().map(|(key, offset)| OffsetCommit { key, offset }).collect(),
            reject_backwards,
            request_id,
        },
    );
    prop_oneof![
        topic_spec().prop_map(TopicOperation::Create),
        (topic_spec(), option::of(any::<u64>()))
            .prop_map(|(spec, expected_revision)| TopicOperation::Update { spec, expected_revision }),
        (topic_name(), any::<bool>()).prop_map(|(name, force)| TopicOperation::Delete { name, force }),
        vec(batch, 0..3).prop_map(|batches| TopicOperation::CommitOffsets { batches }),
        (text(), topic_name(), prop_oneof![Just(ResetTarget::Earliest), any::<u64>().prop_map(ResetTarget::Offset)])
            .prop_map(|(consumer_group, topic, to)| TopicOperation::ResetOffsets { consumer_group, topic, to }),
        (
            name(),
            vec(
                (topic_name(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(name, read, write, perm)| {
                    ReportedTopic { name, queues: QueueCounts { read, write }, perm }
                }),
                0..4
            )
        )
            .prop_map(|(group, topics)| TopicOperation::Report { group, topics }),
    ]
}

pub fn dr_command() -> impl Strategy<Value = DrCommand> {
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

pub fn operation() -> impl Strategy<Value = Operation> {
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
        any::<u32>().prop_map(|level| Operation::SetFeatureLevel { level }),
    ]
}

pub fn request_id() -> impl Strategy<Value = Option<RequestId>> {
    option::of((text(), any::<u64>()).prop_map(|(client_id, sequence)| RequestId { client_id, sequence }))
}

pub fn command() -> impl Strategy<Value = Command> {
    (request_id(), any::<u64>(), text(), operation()).prop_map(|(request_id, issued_at_ms, actor, operation)| Command {
        request_id,
        issued_at_ms,
        actor,
        operation,
    })
}

pub fn session_entry() -> impl Strategy<Value = (u64, Response)> {
    (any::<u64>(), response())
}

/// A state as a replica holds it: maps keyed by what their values say, no empty session.
pub fn state() -> impl Strategy<Value = State> {
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
