//! Byte formats of everything the state machine persists or ships: the command envelope (a Raft
//! log entry's payload), key/value records, idempotency entries and snapshots.
//!
//! Every blob is one format-version byte followed by a protobuf message (docs/architecture.md, docs/adr/). Protobuf
//! lets a later release add fields that an older one skips safely; the version byte lets a release
//! change what a blob means. A command kind this build does not know decodes to
//! [`DecodeError::UnknownCommandKind`]: the node refuses it rather than skipping it (§4).

use prost::Message;

use crate::broker::{
    Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, DeclaredRole, ElectionMode, NotCollectable,
    Registration, RegistrationMode,
};
use crate::command::{Command, Compare, MembershipChange, Operation, RequestId};
use crate::state::{CommandError, KvRecord, Response, State};
use crate::topic::{
    MessageType, OffsetBatch, OffsetCommit, OffsetKey, OffsetRecord, QueueCounts, ReportedTopic, ResetTarget, Topic,
    TopicOperation, TopicOrigin, TopicSpec,
};

/// Format version written in front of every blob by this build.
pub const FORMAT_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty blob: no format version byte")]
    Empty,
    #[error("format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    #[error("unknown command kind: the log holds a command this build does not know; upgrade it")]
    UnknownCommandKind,
    #[error("missing field {0}")]
    MissingField(&'static str),
}

fn frame(message: &impl Message) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + message.encoded_len());
    bytes.push(FORMAT_VERSION);
    message.encode(&mut bytes).expect("Vec has unbounded capacity");
    bytes
}

fn unframe<M: Message + Default>(bytes: &[u8]) -> Result<M, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    M::decode(body).map_err(|error| DecodeError::Malformed(error.to_string()))
}

#[path = "codec_access.rs"]
mod access_record;

mod record {
    //! Protobuf messages of the persisted formats. Tags are forever: never reuse one.

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RequestId {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(uint64, tag = "2")]
        pub sequence: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Command {
        #[prost(message, optional, tag = "1")]
        pub request_id: Option<RequestId>,
        #[prost(uint64, tag = "2")]
        pub issued_at_ms: u64,
        #[prost(string, tag = "3")]
        pub actor: String,
        #[prost(
            oneof = "Operation",
            tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31"
        )]
        pub operation: Option<Operation>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Operation {
        #[prost(message, tag = "10")]
        Noop(Noop),
        #[prost(message, tag = "11")]
        Put(Put),
        #[prost(message, tag = "12")]
        Delete(Delete),
        #[prost(message, tag = "13")]
        CompareAndSet(CompareAndSet),
        #[prost(message, tag = "14")]
        RegisterBroker(Registration),
        #[prost(message, tag = "15")]
        UnregisterBroker(BrokerRef),
        #[prost(message, tag = "16")]
        FenceBroker(BrokerRef),
        #[prost(message, tag = "17")]
        RemoveBroker(BrokerRef),
        #[prost(message, tag = "18")]
        ElectMaster(ElectMaster),
        #[prost(message, tag = "19")]
        AlterSyncStateSet(AlterSyncStateSet),
        #[prost(message, tag = "20")]
        CreateTopic(TopicSpec),
        #[prost(message, tag = "21")]
        UpdateTopic(TopicSpec),
        #[prost(message, tag = "22")]
        DeleteTopic(DeleteTopic),
        #[prost(message, tag = "23")]
        CommitOffsets(CommitOffsets),
        #[prost(message, tag = "24")]
        ResetOffsets(ResetOffsets),
        #[prost(message, tag = "25")]
        Dr(super::dr_record::Command),
        /// An update with an expected revision (an unconditional one stays `UpdateTopic`).
        #[prost(message, tag = "26")]
        UpdateTopicIfRevision(UpdateTopicIfRevision),
        #[prost(message, tag = "27")]
        CollectBrokers(CollectBrokers),
        #[prost(message, tag = "28")]
        Acl(super::access_record::Command),
        #[prost(message, tag = "29")]
        RecordMembershipChange(MembershipChange),
        #[prost(message, tag = "30")]
        ReportTopics(ReportTopics),
        #[prost(message, tag = "31")]
        SetFeatureLevel(FeatureLevel),
    }

    /// A feature level: the one a `SetFeatureLevel` command sets, or the one its answer reports
    /// (with the revision).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FeatureLevel {
        #[prost(uint32, tag = "1")]
        pub level: u32,
        #[prost(uint64, tag = "2")]
        pub revision: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MembershipChange {
        /// 1 add learner, 2 promote, 3 remove, 4 transfer leadership.
        #[prost(uint32, tag = "1")]
        pub kind: u32,
        #[prost(uint64, tag = "2")]
        pub node_id: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CollectBrokers {
        #[prost(uint64, tag = "1")]
        pub retired_before_ms: u64,
        #[prost(message, repeated, tag = "2")]
        pub brokers: Vec<BrokerRef>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateTopicIfRevision {
        #[prost(message, optional, tag = "1")]
        pub spec: Option<TopicSpec>,
        #[prost(uint64, tag = "2")]
        pub expected_revision: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GroupQueues {
        #[prost(string, tag = "1")]
        pub group: String,
        #[prost(uint32, tag = "2")]
        pub read: u32,
        #[prost(uint32, tag = "3")]
        pub write: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TopicSpec {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub queues: Vec<GroupQueues>,
        #[prost(uint32, tag = "3")]
        pub perm: u32,
        #[prost(uint32, tag = "4")]
        pub message_type: u32,
        #[prost(btree_map = "string, string", tag = "5")]
        pub attributes: std::collections::BTreeMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Topic {
        #[prost(message, optional, tag = "1")]
        pub spec: Option<TopicSpec>,
        #[prost(uint64, tag = "2")]
        pub create_revision: u64,
        #[prost(uint64, tag = "3")]
        pub revision: u64,
        /// The group whose master reported the topic first; absent: created by an operator.
        #[prost(string, optional, tag = "4")]
        pub reported_by_group: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReportTopics {
        #[prost(string, tag = "1")]
        pub group: String,
        #[prost(message, repeated, tag = "2")]
        pub topics: Vec<ReportedTopic>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReportedTopic {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint32, tag = "2")]
        pub read_queues: u32,
        #[prost(uint32, tag = "3")]
        pub write_queues: u32,
        #[prost(uint32, tag = "4")]
        pub perm: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeleteTopic {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(bool, tag = "2")]
        pub force: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetKey {
        #[prost(string, tag = "1")]
        pub consumer_group: String,
        #[prost(string, tag = "2")]
        pub topic: String,
        #[prost(uint32, tag = "3")]
        pub queue_id: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetCommit {
        #[prost(message, optional, tag = "1")]
        pub key: Option<OffsetKey>,
        #[prost(uint64, tag = "2")]
        pub offset: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetBatch {
        #[prost(message, repeated, tag = "1")]
        pub commits: Vec<OffsetCommit>,
        #[prost(bool, tag = "2")]
        pub reject_backwards: bool,
        /// Absent in batches written before offset commits took idempotency keys.
        #[prost(message, optional, tag = "3")]
        pub request_id: Option<RequestId>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CommitOffsets {
        #[prost(message, repeated, tag = "1")]
        pub batches: Vec<OffsetBatch>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResetOffsets {
        #[prost(string, tag = "1")]
        pub consumer_group: String,
        #[prost(string, tag = "2")]
        pub topic: String,
        #[prost(bool, tag = "3")]
        pub earliest: bool,
        #[prost(uint64, tag = "4")]
        pub offset: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AuditRecord {
        #[prost(uint64, tag = "1")]
        pub index: u64,
        #[prost(uint64, tag = "2")]
        pub at_ms: u64,
        #[prost(string, tag = "3")]
        pub actor: String,
        #[prost(string, tag = "4")]
        pub action: String,
        #[prost(string, tag = "5")]
        pub target: String,
        #[prost(string, tag = "6")]
        pub result: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetRecord {
        #[prost(uint64, tag = "1")]
        pub offset: u64,
        #[prost(uint64, tag = "2")]
        pub committed_at_revision: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SnapshotOffset {
        #[prost(message, optional, tag = "1")]
        pub key: Option<OffsetKey>,
        #[prost(message, optional, tag = "2")]
        pub record: Option<OffsetRecord>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetsCommitted {
        #[prost(uint64, tag = "1")]
        pub revision: u64,
        /// One per coalesced request; code 0 means applied.
        #[prost(message, repeated, tag = "2")]
        pub results: Vec<Error>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffsetsReset {
        #[prost(uint64, tag = "1")]
        pub revision: u64,
        #[prost(uint64, tag = "2")]
        pub queues_reset: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Registration {
        #[prost(string, tag = "1")]
        pub cluster: String,
        #[prost(string, tag = "2")]
        pub group: String,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub incarnation_id: String,
        #[prost(string, tag = "5")]
        pub zone: String,
        #[prost(string, tag = "6")]
        pub region: String,
        #[prost(btree_map = "string, string", tag = "7")]
        pub addresses: std::collections::BTreeMap<String, String>,
        #[prost(uint32, tag = "8")]
        pub election_priority: u32,
        /// 0: elected, 1: declared master, 2: declared replica, 3: controlled
        /// (`registration_to_message`).
        #[prost(uint32, tag = "9")]
        pub mode: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BrokerRef {
        #[prost(uint64, tag = "1")]
        pub broker_id: u64,
        #[prost(uint64, tag = "2")]
        pub broker_epoch: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ElectMaster {
        #[prost(string, tag = "1")]
        pub group: String,
        #[prost(uint64, tag = "2")]
        pub broker_id: u64,
        #[prost(uint64, tag = "3")]
        pub expected_master_epoch: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AlterSyncStateSet {
        #[prost(string, tag = "1")]
        pub group: String,
        #[prost(uint64, tag = "2")]
        pub master_broker_id: u64,
        #[prost(uint64, tag = "3")]
        pub master_epoch: u64,
        #[prost(uint64, tag = "4")]
        pub sync_state_epoch: u64,
        #[prost(uint64, repeated, tag = "5")]
        pub sync_state_set: Vec<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Broker {
        #[prost(uint64, tag = "1")]
        pub broker_id: u64,
        #[prost(message, optional, tag = "2")]
        pub registration: Option<Registration>,
        #[prost(uint32, tag = "3")]
        pub state: u32,
        #[prost(uint64, tag = "4")]
        pub broker_epoch: u64,
        /// Absent while active, and in records retired by builds before it existed.
        #[prost(uint64, optional, tag = "5")]
        pub retired_at_ms: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Group {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint64, repeated, tag = "2")]
        pub members: Vec<u64>,
        #[prost(uint64, optional, tag = "3")]
        pub master_broker_id: Option<u64>,
        #[prost(uint64, tag = "4")]
        pub master_epoch: u64,
        #[prost(uint64, repeated, tag = "5")]
        pub sync_state_set: Vec<u64>,
        #[prost(uint64, tag = "6")]
        pub sync_state_epoch: u64,
        #[prost(bool, tag = "7")]
        pub allow_unclean_election: bool,
        /// 0: elected, 1: declared, 2: controlled (`group_to_message`).
        #[prost(uint32, tag = "8")]
        pub election_mode: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Noop {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Put {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Delete {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CompareAndSet {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
        #[prost(oneof = "Compare", tags = "10, 11, 12")]
        pub compare: Option<Compare>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Compare {
        #[prost(message, tag = "10")]
        Absent(Noop),
        #[prost(bytes, tag = "11")]
        Value(Vec<u8>),
        #[prost(uint64, tag = "12")]
        ModRevision(u64),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KvRecord {
        #[prost(bytes = "vec", tag = "1")]
        pub value: Vec<u8>,
        #[prost(uint64, tag = "2")]
        pub create_revision: u64,
        #[prost(uint64, tag = "3")]
        pub mod_revision: u64,
        #[prost(uint64, tag = "4")]
        pub version: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Response {
        #[prost(oneof = "ResponseKind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15")]
        pub kind: Option<ResponseKind>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum ResponseKind {
        #[prost(uint64, tag = "1")]
        Noop(u64),
        #[prost(message, tag = "2")]
        Put(Written),
        #[prost(message, tag = "3")]
        Delete(Written),
        #[prost(message, tag = "4")]
        CompareAndSet(CasResult),
        #[prost(message, tag = "5")]
        Error(Error),
        #[prost(message, tag = "6")]
        BrokerRegistered(BrokerRef),
        #[prost(uint64, tag = "7")]
        BrokerChanged(u64),
        #[prost(message, tag = "8")]
        MasterElected(ElectMaster),
        #[prost(uint64, tag = "9")]
        SyncStateSetAltered(u64),
        #[prost(uint64, tag = "10")]
        TopicChanged(u64),
        #[prost(message, tag = "11")]
        OffsetsCommitted(OffsetsCommitted),
        #[prost(message, tag = "12")]
        OffsetsReset(OffsetsReset),
        #[prost(uint64, tag = "13")]
        DrChanged(u64),
        #[prost(uint64, tag = "14")]
        AclChanged(u64),
        #[prost(message, tag = "15")]
        FeatureLevel(FeatureLevel),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Written {
        #[prost(uint64, tag = "1")]
        pub revision: u64,
        #[prost(bool, tag = "2")]
        pub changed: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CasResult {
        #[prost(bool, tag = "1")]
        pub succeeded: bool,
        #[prost(uint64, tag = "2")]
        pub revision: u64,
        #[prost(uint64, optional, tag = "3")]
        pub current_mod_revision: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Error {
        #[prost(uint32, tag = "1")]
        pub code: u32,
        #[prost(uint64, tag = "2")]
        pub first: u64,
        #[prost(uint64, tag = "3")]
        pub second: u64,
        #[prost(string, tag = "4")]
        pub text: String,
        #[prost(uint64, tag = "5")]
        pub third: u64,
        #[prost(uint64, optional, tag = "6")]
        pub optional: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SessionEntry {
        #[prost(uint64, tag = "1")]
        pub index: u64,
        #[prost(message, optional, tag = "2")]
        pub response: Option<Response>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SnapshotKv {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(message, optional, tag = "2")]
        pub record: Option<KvRecord>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SnapshotSessionEntry {
        #[prost(string, tag = "1")]
        pub client_id: String,
        #[prost(uint64, tag = "2")]
        pub sequence: u64,
        #[prost(message, optional, tag = "3")]
        pub entry: Option<SessionEntry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Snapshot {
        #[prost(uint64, tag = "1")]
        pub revision: u64,
        #[prost(message, repeated, tag = "2")]
        pub kv: Vec<SnapshotKv>,
        #[prost(message, repeated, tag = "3")]
        pub sessions: Vec<SnapshotSessionEntry>,
        #[prost(message, repeated, tag = "4")]
        pub brokers: Vec<Broker>,
        #[prost(message, repeated, tag = "5")]
        pub groups: Vec<Group>,
        #[prost(uint64, tag = "6")]
        pub next_broker_id: u64,
        #[prost(message, repeated, tag = "7")]
        pub topics: Vec<Topic>,
        #[prost(message, repeated, tag = "8")]
        pub offsets: Vec<SnapshotOffset>,
        #[prost(message, repeated, tag = "9")]
        pub audit: Vec<AuditRecord>,
        #[prost(message, optional, tag = "10")]
        pub dr: Option<super::dr_record::Record>,
        #[prost(message, repeated, tag = "11")]
        pub users: Vec<super::access_record::UserRecord>,
        #[prost(message, repeated, tag = "12")]
        pub policies: Vec<super::access_record::PolicyRecord>,
        /// `State::feature_level`; 0 (absent): never recorded.
        #[prost(uint32, tag = "13")]
        pub feature_level: u32,
    }
}

// ---- commands ----

pub fn encode_command(command: &Command) -> Vec<u8> {
    let operation = match &command.operation {
        Operation::Noop => record::Operation::Noop(record::Noop {}),
        Operation::Put { key, value } => record::Operation::Put(record::Put { key: key.clone(), value: value.clone() }),
        Operation::Delete { key } => record::Operation::Delete(record::Delete { key: key.clone() }),
        Operation::CompareAndSet { key, compare, value } => {
            let compare = match compare {
                Compare::Absent => record::Compare::Absent(record::Noop {}),
                Compare::Value(expected) => record::Compare::Value(expected.clone()),
                Compare::ModRevision(revision) => record::Compare::ModRevision(*revision),
            };
            record::Operation::CompareAndSet(record::CompareAndSet {
                key: key.clone(),
                value: value.clone(),
                compare: Some(compare),
            })
        }
        Operation::Broker(operation) => broker_operation_to_message(operation),
        Operation::Topic(operation) => topic_operation_to_message(operation),
        Operation::Dr(command) => record::Operation::Dr(dr_record::command_to_message(command)),
        Operation::Acl(operation) => record::Operation::Acl(access_record::command_to_message(operation)),
        Operation::RecordMembershipChange(change) => {
            let kind = match change {
                MembershipChange::AddLearner { .. } => 1,
                MembershipChange::Promote { .. } => 2,
                MembershipChange::Remove { .. } => 3,
                MembershipChange::TransferLeader { .. } => 4,
            };
            record::Operation::RecordMembershipChange(record::MembershipChange { kind, node_id: change.node_id() })
        }
        Operation::SetFeatureLevel { level } => {
            record::Operation::SetFeatureLevel(record::FeatureLevel { level: *level, revision: 0 })
        }
    };
    frame(&record::Command {
        request_id: command
            .request_id
            .as_ref()
            .map(|id| record::RequestId { client_id: id.client_id.clone(), sequence: id.sequence }),
        issued_at_ms: command.issued_at_ms,
        actor: command.actor.clone(),
        operation: Some(operation),
    })
}

pub fn decode_command(bytes: &[u8]) -> Result<Command, DecodeError> {
    let message: record::Command = unframe(bytes)?;
    let operation = match message.operation.ok_or(DecodeError::UnknownCommandKind)? {
        record::Operation::Noop(_) => Operation::Noop,
        record::Operation::Put(put) => Operation::Put { key: put.key, value: put.value },
        record::Operation::Delete(delete) => Operation::Delete { key: delete.key },
        record::Operation::CompareAndSet(cas) => {
            let compare = match cas.compare.ok_or(DecodeError::UnknownCommandKind)? {
                record::Compare::Absent(_) => Compare::Absent,
                record::Compare::Value(expected) => Compare::Value(expected),
                record::Compare::ModRevision(revision) => Compare::ModRevision(revision),
            };
            Operation::CompareAndSet { key: cas.key, compare, value: cas.value }
        }
        record::Operation::RegisterBroker(registration) => {
            Operation::Broker(BrokerOperation::Register(registration_from_message(registration)?))
        }
        record::Operation::UnregisterBroker(broker) => Operation::Broker(BrokerOperation::Unregister {
            broker_id: broker.broker_id,
            broker_epoch: broker.broker_epoch,
        }),
        record::Operation::FenceBroker(broker) => {
            Operation::Broker(BrokerOperation::Fence { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch })
        }
        record::Operation::RemoveBroker(broker) => {
            Operation::Broker(BrokerOperation::Remove { broker_id: broker.broker_id })
        }
        record::Operation::CollectBrokers(collect) => Operation::Broker(BrokerOperation::Collect {
            retired_before_ms: collect.retired_before_ms,
            brokers: collect
                .brokers
                .into_iter()
                .map(|broker| BrokerRef { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch })
                .collect(),
        }),
        record::Operation::ElectMaster(elect) => Operation::Broker(BrokerOperation::ElectMaster {
            group: elect.group,
            broker_id: elect.broker_id,
            expected_master_epoch: elect.expected_master_epoch,
        }),
        record::Operation::AlterSyncStateSet(alter) => Operation::Broker(BrokerOperation::AlterSyncStateSet {
            group: alter.group,
            master_broker_id: alter.master_broker_id,
            master_epoch: alter.master_epoch,
            sync_state_epoch: alter.sync_state_epoch,
            sync_state_set: alter.sync_state_set.into_iter().collect(),
        }),
        record::Operation::CreateTopic(spec) => {
            Operation::Topic(TopicOperation::Create(topic_spec_from_message(spec)?))
        }
        record::Operation::UpdateTopic(spec) => {
            Operation::Topic(TopicOperation::Update { spec: topic_spec_from_message(spec)?, expected_revision: None })
        }
        record::Operation::UpdateTopicIfRevision(update) => Operation::Topic(TopicOperation::Update {
            spec: topic_spec_from_message(update.spec.ok_or(DecodeError::MissingField("update_topic.spec"))?)?,
            expected_revision: Some(update.expected_revision),
        }),
        record::Operation::DeleteTopic(delete) => {
            Operation::Topic(TopicOperation::Delete { name: delete.name, force: delete.force })
        }
        record::Operation::CommitOffsets(commit) => Operation::Topic(TopicOperation::CommitOffsets {
            batches: commit
                .batches
                .into_iter()
                .map(|batch| {
                    Ok(OffsetBatch {
                        commits: batch
                            .commits
                            .into_iter()
                            .map(|commit| {
                                let key = commit.key.ok_or(DecodeError::MissingField("offset_commit.key"))?;
                                Ok(OffsetCommit { key: offset_key_from_message(key), offset: commit.offset })
                            })
                            .collect::<Result<_, DecodeError>>()?,
                        reject_backwards: batch.reject_backwards,
                        request_id: batch
                            .request_id
                            .map(|id| RequestId { client_id: id.client_id, sequence: id.sequence }),
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
        }),
        record::Operation::Dr(command) => Operation::Dr(dr_record::command_from_message(command)?),
        record::Operation::Acl(command) => Operation::Acl(access_record::command_from_message(command)?),
        record::Operation::RecordMembershipChange(change) => {
            let node_id = change.node_id;
            Operation::RecordMembershipChange(match change.kind {
                1 => MembershipChange::AddLearner { node_id },
                2 => MembershipChange::Promote { node_id },
                3 => MembershipChange::Remove { node_id },
                4 => MembershipChange::TransferLeader { to_node_id: node_id },
                _ => return Err(DecodeError::UnknownCommandKind),
            })
        }
        record::Operation::SetFeatureLevel(change) => Operation::SetFeatureLevel { level: change.level },
        record::Operation::ResetOffsets(reset) => Operation::Topic(TopicOperation::ResetOffsets {
            consumer_group: reset.consumer_group,
            topic: reset.topic,
            to: if reset.earliest { ResetTarget::Earliest } else { ResetTarget::Offset(reset.offset) },
        }),
        record::Operation::ReportTopics(report) => Operation::Topic(TopicOperation::Report {
            group: report.group,
            topics: report
                .topics
                .into_iter()
                .map(|topic| ReportedTopic {
                    name: topic.name,
                    queues: QueueCounts { read: topic.read_queues, write: topic.write_queues },
                    perm: topic.perm,
                })
                .collect(),
        }),
    };
    Ok(Command {
        request_id: message.request_id.map(|id| RequestId { client_id: id.client_id, sequence: id.sequence }),
        issued_at_ms: message.issued_at_ms,
        actor: message.actor,
        operation,
    })
}

// ---- records ----

fn audit_to_message(record: &crate::audit::AuditRecord) -> record::AuditRecord {
    record::AuditRecord {
        index: record.index,
        at_ms: record.at_ms,
        actor: record.actor.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        result: record.result.clone(),
    }
}

fn audit_from_message(message: record::AuditRecord) -> crate::audit::AuditRecord {
    crate::audit::AuditRecord {
        index: message.index,
        at_ms: message.at_ms,
        actor: message.actor,
        action: message.action,
        target: message.target,
        result: message.result,
    }
}

pub fn encode_audit_record(record: &crate::audit::AuditRecord) -> Vec<u8> {
    frame(&audit_to_message(record))
}

pub fn decode_audit_record(bytes: &[u8]) -> Result<crate::audit::AuditRecord, DecodeError> {
    unframe(bytes).map(audit_from_message)
}

fn message_type_code(message_type: MessageType) -> u32 {
    match message_type {
        MessageType::Normal => 0,
        MessageType::Fifo => 1,
        MessageType::Delay => 2,
        MessageType::Transactional => 3,
    }
}

fn topic_spec_to_message(spec: &TopicSpec) -> record::TopicSpec {
    record::TopicSpec {
        name: spec.name.clone(),
        queues: spec
            .queues
            .iter()
            .map(|(group, counts)| record::GroupQueues { group: group.clone(), read: counts.read, write: counts.write })
            .collect(),
        perm: spec.perm,
        message_type: message_type_code(spec.message_type),
        attributes: spec.attributes.clone(),
    }
}

fn topic_spec_from_message(message: record::TopicSpec) -> Result<TopicSpec, DecodeError> {
    let message_type = match message.message_type {
        0 => MessageType::Normal,
        1 => MessageType::Fifo,
        2 => MessageType::Delay,
        3 => MessageType::Transactional,
        other => return Err(DecodeError::Malformed(format!("unknown message type {other}"))),
    };
    Ok(TopicSpec {
        name: message.name,
        queues: message
            .queues
            .into_iter()
            .map(|queues| (queues.group, QueueCounts { read: queues.read, write: queues.write }))
            .collect(),
        perm: message.perm,
        message_type,
        attributes: message.attributes,
    })
}

fn offset_key_to_message(key: &OffsetKey) -> record::OffsetKey {
    record::OffsetKey { consumer_group: key.consumer_group.clone(), topic: key.topic.clone(), queue_id: key.queue_id }
}

fn offset_key_from_message(message: record::OffsetKey) -> OffsetKey {
    OffsetKey { consumer_group: message.consumer_group, topic: message.topic, queue_id: message.queue_id }
}

fn topic_operation_to_message(operation: &TopicOperation) -> record::Operation {
    match operation {
        TopicOperation::Create(spec) => record::Operation::CreateTopic(topic_spec_to_message(spec)),
        TopicOperation::Update { spec, expected_revision: None } => {
            record::Operation::UpdateTopic(topic_spec_to_message(spec))
        }
        TopicOperation::Update { spec, expected_revision: Some(expected_revision) } => {
            record::Operation::UpdateTopicIfRevision(record::UpdateTopicIfRevision {
                spec: Some(topic_spec_to_message(spec)),
                expected_revision: *expected_revision,
            })
        }
        TopicOperation::Delete { name, force } => {
            record::Operation::DeleteTopic(record::DeleteTopic { name: name.clone(), force: *force })
        }
        TopicOperation::CommitOffsets { batches } => record::Operation::CommitOffsets(record::CommitOffsets {
            batches: batches
                .iter()
                .map(|batch| record::OffsetBatch {
                    commits: batch
                        .commits
                        .iter()
                        .map(|commit| record::OffsetCommit {
                            key: Some(offset_key_to_message(&commit.key)),
                            offset: commit.offset,
                        })
                        .collect(),
                    reject_backwards: batch.reject_backwards,
                    request_id: batch
                        .request_id
                        .as_ref()
                        .map(|id| record::RequestId { client_id: id.client_id.clone(), sequence: id.sequence }),
                })
                .collect(),
        }),
        TopicOperation::ResetOffsets { consumer_group, topic, to } => {
            let (earliest, offset) = match to {
                ResetTarget::Earliest => (true, 0),
                ResetTarget::Offset(offset) => (false, *offset),
            };
            record::Operation::ResetOffsets(record::ResetOffsets {
                consumer_group: consumer_group.clone(),
                topic: topic.clone(),
                earliest,
                offset,
            })
        }
        TopicOperation::Report { group, topics } => record::Operation::ReportTopics(record::ReportTopics {
            group: group.clone(),
            topics: topics
                .iter()
                .map(|topic| record::ReportedTopic {
                    name: topic.name.clone(),
                    read_queues: topic.queues.read,
                    write_queues: topic.queues.write,
                    perm: topic.perm,
                })
                .collect(),
        }),
    }
}

fn topic_to_message(topic: &Topic) -> record::Topic {
    record::Topic {
        spec: Some(topic_spec_to_message(&topic.spec)),
        create_revision: topic.create_revision,
        revision: topic.revision,
        reported_by_group: match &topic.origin {
            TopicOrigin::Operator => None,
            TopicOrigin::Broker { group } => Some(group.clone()),
        },
    }
}

fn topic_from_message(message: record::Topic) -> Result<Topic, DecodeError> {
    let spec = topic_spec_from_message(message.spec.ok_or(DecodeError::MissingField("topic.spec"))?)?;
    let origin = match message.reported_by_group {
        None => TopicOrigin::Operator,
        Some(group) => TopicOrigin::Broker { group },
    };
    Ok(Topic { spec, create_revision: message.create_revision, revision: message.revision, origin })
}

pub fn encode_topic(topic: &Topic) -> Vec<u8> {
    frame(&topic_to_message(topic))
}

pub fn decode_topic(bytes: &[u8]) -> Result<Topic, DecodeError> {
    topic_from_message(unframe(bytes)?)
}

/// Offset keys as stored (fjall keys): a framed protobuf, unique per key.
pub fn encode_offset_key(key: &OffsetKey) -> Vec<u8> {
    frame(&offset_key_to_message(key))
}

pub fn decode_offset_key(bytes: &[u8]) -> Result<OffsetKey, DecodeError> {
    unframe(bytes).map(offset_key_from_message)
}

pub fn encode_offset_record(record: &OffsetRecord) -> Vec<u8> {
    frame(&record::OffsetRecord { offset: record.offset, committed_at_revision: record.committed_at_revision })
}

pub fn decode_offset_record(bytes: &[u8]) -> Result<OffsetRecord, DecodeError> {
    let message: record::OffsetRecord = unframe(bytes)?;
    Ok(OffsetRecord { offset: message.offset, committed_at_revision: message.committed_at_revision })
}

fn registration_to_message(registration: &Registration) -> record::Registration {
    record::Registration {
        cluster: registration.cluster.clone(),
        group: registration.group.clone(),
        name: registration.name.clone(),
        incarnation_id: registration.incarnation_id.clone(),
        zone: registration.zone.clone(),
        region: registration.region.clone(),
        addresses: registration.addresses.clone(),
        election_priority: registration.election_priority,
        mode: match registration.mode {
            RegistrationMode::Elected => 0,
            RegistrationMode::Declared(DeclaredRole::Master) => 1,
            RegistrationMode::Declared(DeclaredRole::Replica) => 2,
            RegistrationMode::Controlled => 3,
        },
    }
}

fn registration_from_message(message: record::Registration) -> Result<Registration, DecodeError> {
    let mode = match message.mode {
        0 => RegistrationMode::Elected,
        1 => RegistrationMode::Declared(DeclaredRole::Master),
        2 => RegistrationMode::Declared(DeclaredRole::Replica),
        3 => RegistrationMode::Controlled,
        other => return Err(DecodeError::Malformed(format!("unknown registration mode {other}"))),
    };
    Ok(Registration {
        cluster: message.cluster,
        group: message.group,
        name: message.name,
        incarnation_id: message.incarnation_id,
        zone: message.zone,
        region: message.region,
        addresses: message.addresses,
        election_priority: message.election_priority,
        mode,
    })
}

fn broker_operation_to_message(operation: &BrokerOperation) -> record::Operation {
    match operation {
        BrokerOperation::Register(registration) => {
            record::Operation::RegisterBroker(registration_to_message(registration))
        }
        BrokerOperation::Unregister { broker_id, broker_epoch } => {
            record::Operation::UnregisterBroker(record::BrokerRef {
                broker_id: *broker_id,
                broker_epoch: *broker_epoch,
            })
        }
        BrokerOperation::Fence { broker_id, broker_epoch } => {
            record::Operation::FenceBroker(record::BrokerRef { broker_id: *broker_id, broker_epoch: *broker_epoch })
        }
        BrokerOperation::Remove { broker_id } => {
            record::Operation::RemoveBroker(record::BrokerRef { broker_id: *broker_id, broker_epoch: 0 })
        }
        BrokerOperation::Collect { retired_before_ms, brokers } => {
            record::Operation::CollectBrokers(record::CollectBrokers {
                retired_before_ms: *retired_before_ms,
                brokers: brokers
                    .iter()
                    .map(|broker| record::BrokerRef { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch })
                    .collect(),
            })
        }
        BrokerOperation::ElectMaster { group, broker_id, expected_master_epoch } => {
            record::Operation::ElectMaster(record::ElectMaster {
                group: group.clone(),
                broker_id: *broker_id,
                expected_master_epoch: *expected_master_epoch,
            })
        }
        BrokerOperation::AlterSyncStateSet {
            group,
            master_broker_id,
            master_epoch,
            sync_state_epoch,
            sync_state_set,
        } => record::Operation::AlterSyncStateSet(record::AlterSyncStateSet {
            group: group.clone(),
            master_broker_id: *master_broker_id,
            master_epoch: *master_epoch,
            sync_state_epoch: *sync_state_epoch,
            sync_state_set: sync_state_set.iter().copied().collect(),
        }),
    }
}

fn broker_state_code(state: BrokerState) -> u32 {
    match state {
        BrokerState::Active => 1,
        BrokerState::Fenced => 2,
        BrokerState::Shutdown => 3,
    }
}

fn broker_to_message(broker: &Broker) -> record::Broker {
    record::Broker {
        broker_id: broker.broker_id,
        registration: Some(registration_to_message(&Registration {
            cluster: broker.cluster.clone(),
            group: broker.group.clone(),
            name: broker.name.clone(),
            incarnation_id: broker.incarnation_id.clone(),
            zone: broker.zone.clone(),
            region: broker.region.clone(),
            addresses: broker.addresses.clone(),
            election_priority: broker.election_priority,
            mode: RegistrationMode::Elected,
        })),
        state: broker_state_code(broker.state),
        broker_epoch: broker.broker_epoch,
        retired_at_ms: broker.retired_at_ms,
    }
}

fn broker_from_message(message: record::Broker) -> Result<Broker, DecodeError> {
    let registration =
        registration_from_message(message.registration.ok_or(DecodeError::MissingField("broker.registration"))?)?;
    let state = match message.state {
        1 => BrokerState::Active,
        2 => BrokerState::Fenced,
        3 => BrokerState::Shutdown,
        other => return Err(DecodeError::Malformed(format!("unknown broker state {other}"))),
    };
    Ok(Broker {
        broker_id: message.broker_id,
        incarnation_id: registration.incarnation_id,
        cluster: registration.cluster,
        group: registration.group,
        name: registration.name,
        zone: registration.zone,
        region: registration.region,
        addresses: registration.addresses,
        election_priority: registration.election_priority,
        state,
        broker_epoch: message.broker_epoch,
        retired_at_ms: message.retired_at_ms,
    })
}

fn group_to_message(group: &BrokerGroup) -> record::Group {
    record::Group {
        name: group.name.clone(),
        members: group.members.iter().copied().collect(),
        master_broker_id: group.master_broker_id,
        master_epoch: group.master_epoch,
        sync_state_set: group.sync_state_set.iter().copied().collect(),
        sync_state_epoch: group.sync_state_epoch,
        allow_unclean_election: group.allow_unclean_election,
        election_mode: match group.election_mode {
            ElectionMode::Elected => 0,
            ElectionMode::Declared => 1,
            ElectionMode::Controlled => 2,
        },
    }
}

fn group_from_message(message: record::Group) -> Result<BrokerGroup, DecodeError> {
    let election_mode = match message.election_mode {
        0 => ElectionMode::Elected,
        1 => ElectionMode::Declared,
        2 => ElectionMode::Controlled,
        other => return Err(DecodeError::Malformed(format!("unknown election mode {other}"))),
    };
    Ok(BrokerGroup {
        name: message.name,
        members: message.members.into_iter().collect(),
        master_broker_id: message.master_broker_id,
        master_epoch: message.master_epoch,
        sync_state_set: message.sync_state_set.into_iter().collect(),
        sync_state_epoch: message.sync_state_epoch,
        allow_unclean_election: message.allow_unclean_election,
        election_mode,
    })
}

pub fn encode_broker(broker: &Broker) -> Vec<u8> {
    frame(&broker_to_message(broker))
}

pub fn decode_broker(bytes: &[u8]) -> Result<Broker, DecodeError> {
    broker_from_message(unframe(bytes)?)
}

pub fn encode_group(group: &BrokerGroup) -> Vec<u8> {
    frame(&group_to_message(group))
}

pub fn decode_group(bytes: &[u8]) -> Result<BrokerGroup, DecodeError> {
    group_from_message(unframe(bytes)?)
}

fn kv_record_to_message(record: &KvRecord) -> record::KvRecord {
    record::KvRecord {
        value: record.value.clone(),
        create_revision: record.create_revision,
        mod_revision: record.mod_revision,
        version: record.version,
    }
}

fn kv_record_from_message(message: record::KvRecord) -> KvRecord {
    KvRecord {
        value: message.value,
        create_revision: message.create_revision,
        mod_revision: message.mod_revision,
        version: message.version,
    }
}

pub fn encode_kv_record(record: &KvRecord) -> Vec<u8> {
    frame(&kv_record_to_message(record))
}

pub fn decode_kv_record(bytes: &[u8]) -> Result<KvRecord, DecodeError> {
    unframe(bytes).map(kv_record_from_message)
}

/// Persisted error codes. Never renumber: cached answers hold them.
mod error_code {
    pub const KEY_EMPTY: u32 = 1;
    pub const KEY_TOO_LARGE: u32 = 2;
    pub const VALUE_TOO_LARGE: u32 = 3;
    pub const CLIENT_ID_TOO_LARGE: u32 = 4;
    pub const SEQUENCE_EXPIRED: u32 = 5;
    pub const INVALID_REGISTRATION: u32 = 6;
    pub const UNKNOWN_BROKER: u32 = 7;
    pub const UNKNOWN_GROUP: u32 = 8;
    pub const STALE_BROKER_EPOCH: u32 = 9;
    pub const DUPLICATE_REGISTRATION: u32 = 10;
    pub const BROKER_NOT_ACTIVE: u32 = 11;
    pub const STALE_MASTER_EPOCH: u32 = 12;
    pub const STALE_SYNC_STATE_EPOCH: u32 = 13;
    pub const NOT_MASTER: u32 = 14;
    pub const INVALID_SYNC_STATE_SET: u32 = 15;
    pub const INVALID_TOPIC: u32 = 16;
    pub const UNKNOWN_TOPIC: u32 = 17;
    pub const TOPIC_EXISTS: u32 = 18;
    pub const TOPIC_HAS_CONSUMERS: u32 = 19;
    pub const OFFSET_BACKWARDS: u32 = 20;
    pub const INVALID_OFFSET_COMMIT: u32 = 21;
    pub const INVALID_DR: u32 = 22;
    pub const STALE_DR_STATE: u32 = 23;
    pub const DR_OPERATION_IN_PROGRESS: u32 = 24;
    pub const STALE_DR_OPERATION: u32 = 25;
    pub const STALE_GENERATION: u32 = 26;
    pub const STALE_TOPIC_REVISION: u32 = 27;
    pub const BROKER_NOT_COLLECTABLE: u32 = 28;
    pub const COLLECTION_SIZE: u32 = 29;
    pub const INVALID_ACL: u32 = 30;
    pub const UNKNOWN_USER: u32 = 31;
    pub const USER_EXISTS: u32 = 32;
    pub const TOO_MANY_USERS: u32 = 33;
    pub const TOKEN_IN_USE: u32 = 34;
    pub const LAST_SUPER_USER: u32 = 35;
    pub const UNKNOWN_POLICY_ENTRY: u32 = 36;
    pub const TOO_MANY_POLICY_ENTRIES: u32 = 37;
    pub const ACL_BOOTSTRAPPED: u32 = 38;
    pub const MASTER_DECLARED: u32 = 39;
    pub const MASTER_STILL_ACTIVE: u32 = 40;
    pub const FEATURE_LEVEL_TOO_LOW: u32 = 41;
    pub const FEATURE_LEVEL_LOWERING: u32 = 42;
}

/// Persisted codes of [`NotCollectable`]. Never renumber.
fn not_collectable_code(reason: NotCollectable) -> u64 {
    match reason {
        NotCollectable::Active => 1,
        NotCollectable::Master => 2,
        NotCollectable::InSyncStateSet => 3,
        NotCollectable::RetiredTooRecently => 4,
    }
}

fn not_collectable_from_code(code: u64) -> Result<NotCollectable, DecodeError> {
    match code {
        1 => Ok(NotCollectable::Active),
        2 => Ok(NotCollectable::Master),
        3 => Ok(NotCollectable::InSyncStateSet),
        4 => Ok(NotCollectable::RetiredTooRecently),
        other => Err(DecodeError::Malformed(format!("unknown reason {other} a broker is not collectable"))),
    }
}

/// A feature level stored in an error's 64-bit slot.
fn level_from(slot: u64) -> Result<u32, DecodeError> {
    u32::try_from(slot).map_err(|_| DecodeError::Malformed(format!("feature level {slot} out of range")))
}

/// `BrokerNotActive` carries a static state name; persisted as text and mapped back.
fn broker_state_name(text: &str) -> &'static str {
    match text {
        "active" => "active",
        "fenced" => "fenced",
        "shutdown" => "shutdown",
        _ => "active: fence it first",
    }
}

fn error_to_message(error: &CommandError) -> record::Error {
    use error_code as code;
    let mut message = record::Error::default();
    let (number, first, second, text, third, optional) = match error {
        CommandError::KeyEmpty => (code::KEY_EMPTY, 0, 0, String::new(), 0, None),
        CommandError::KeyTooLarge { bytes, max } => (code::KEY_TOO_LARGE, *bytes, *max, String::new(), 0, None),
        CommandError::ValueTooLarge { bytes, max } => (code::VALUE_TOO_LARGE, *bytes, *max, String::new(), 0, None),
        CommandError::ClientIdTooLarge { bytes, max } => {
            (code::CLIENT_ID_TOO_LARGE, *bytes, *max, String::new(), 0, None)
        }
        CommandError::SequenceExpired { client_id, sequence, oldest_remembered } => {
            (code::SEQUENCE_EXPIRED, *sequence, *oldest_remembered, client_id.clone(), 0, None)
        }
        CommandError::InvalidRegistration { reason } => (code::INVALID_REGISTRATION, 0, 0, reason.clone(), 0, None),
        CommandError::UnknownBroker { broker_id } => (code::UNKNOWN_BROKER, *broker_id, 0, String::new(), 0, None),
        CommandError::UnknownGroup { group } => (code::UNKNOWN_GROUP, 0, 0, group.clone(), 0, None),
        CommandError::StaleBrokerEpoch { broker_id, current } => {
            (code::STALE_BROKER_EPOCH, *broker_id, *current, String::new(), 0, None)
        }
        CommandError::DuplicateRegistration { broker_id, incarnation_id } => {
            (code::DUPLICATE_REGISTRATION, *broker_id, 0, incarnation_id.clone(), 0, None)
        }
        CommandError::BrokerNotActive { broker_id, state } => {
            (code::BROKER_NOT_ACTIVE, *broker_id, 0, state.to_string(), 0, None)
        }
        CommandError::StaleMasterEpoch { group, current } => {
            (code::STALE_MASTER_EPOCH, *current, 0, group.clone(), 0, None)
        }
        CommandError::StaleSyncStateEpoch { group, current } => {
            (code::STALE_SYNC_STATE_EPOCH, *current, 0, group.clone(), 0, None)
        }
        CommandError::NotMaster { group, master_broker_id } => {
            (code::NOT_MASTER, 0, 0, group.clone(), 0, *master_broker_id)
        }
        CommandError::InvalidSyncStateSet { reason } => (code::INVALID_SYNC_STATE_SET, 0, 0, reason.clone(), 0, None),
        CommandError::InvalidTopic { reason } => (code::INVALID_TOPIC, 0, 0, reason.clone(), 0, None),
        CommandError::UnknownTopic { topic } => (code::UNKNOWN_TOPIC, 0, 0, topic.clone(), 0, None),
        CommandError::TopicExists { topic } => (code::TOPIC_EXISTS, 0, 0, topic.clone(), 0, None),
        CommandError::StaleTopicRevision { topic, current } => {
            (code::STALE_TOPIC_REVISION, *current, 0, topic.clone(), 0, None)
        }
        CommandError::TopicHasConsumers { topic, consumer_groups } => {
            (code::TOPIC_HAS_CONSUMERS, *consumer_groups, 0, topic.clone(), 0, None)
        }
        CommandError::OffsetBackwards { consumer_group, topic, queue_id, current } => {
            // Two strings: "group\0topic".
            (code::OFFSET_BACKWARDS, *current, u64::from(*queue_id), format!("{consumer_group}\0{topic}"), 0, None)
        }
        CommandError::InvalidOffsetCommit { reason } => (code::INVALID_OFFSET_COMMIT, 0, 0, reason.clone(), 0, None),
        CommandError::InvalidDr { reason } => (code::INVALID_DR, 0, 0, reason.clone(), 0, None),
        CommandError::StaleDrState { current } => (code::STALE_DR_STATE, *current, 0, String::new(), 0, None),
        CommandError::DrOperationInProgress { operation_id } => {
            (code::DR_OPERATION_IN_PROGRESS, *operation_id, 0, String::new(), 0, None)
        }
        CommandError::StaleDrOperation { operation_id, current } => {
            (code::STALE_DR_OPERATION, *operation_id, 0, String::new(), 0, *current)
        }
        CommandError::StaleGeneration { current } => (code::STALE_GENERATION, *current, 0, String::new(), 0, None),
        CommandError::BrokerNotCollectable { broker_id, reason } => {
            (code::BROKER_NOT_COLLECTABLE, *broker_id, not_collectable_code(*reason), String::new(), 0, None)
        }
        CommandError::CollectionSize { brokers, max } => {
            (code::COLLECTION_SIZE, *brokers, *max, String::new(), 0, None)
        }
        CommandError::InvalidAcl { reason } => (code::INVALID_ACL, 0, 0, reason.clone(), 0, None),
        CommandError::UnknownUser { name } => (code::UNKNOWN_USER, 0, 0, name.clone(), 0, None),
        CommandError::UserExists { name } => (code::USER_EXISTS, 0, 0, name.clone(), 0, None),
        CommandError::TooManyUsers { max } => (code::TOO_MANY_USERS, *max, 0, String::new(), 0, None),
        CommandError::TokenInUse => (code::TOKEN_IN_USE, 0, 0, String::new(), 0, None),
        CommandError::LastSuperUser { name } => (code::LAST_SUPER_USER, 0, 0, name.clone(), 0, None),
        CommandError::UnknownPolicyEntry { subject } => (code::UNKNOWN_POLICY_ENTRY, 0, 0, subject.clone(), 0, None),
        CommandError::TooManyPolicyEntries { subject, max } => {
            (code::TOO_MANY_POLICY_ENTRIES, *max, 0, subject.clone(), 0, None)
        }
        CommandError::AclBootstrapped => (code::ACL_BOOTSTRAPPED, 0, 0, String::new(), 0, None),
        CommandError::MasterDeclared { group } => (code::MASTER_DECLARED, 0, 0, group.clone(), 0, None),
        CommandError::MasterStillActive { group, master_broker_id } => {
            (code::MASTER_STILL_ACTIVE, *master_broker_id, 0, group.clone(), 0, None)
        }
        CommandError::FeatureLevelTooLow { required, committed } => {
            (code::FEATURE_LEVEL_TOO_LOW, u64::from(*required), u64::from(*committed), String::new(), 0, None)
        }
        CommandError::FeatureLevelLowering { requested, committed } => {
            (code::FEATURE_LEVEL_LOWERING, u64::from(*requested), u64::from(*committed), String::new(), 0, None)
        }
    };
    (message.code, message.first, message.second, message.text, message.third, message.optional) =
        (number, first, second, text, third, optional);
    message
}

fn error_from_message(message: record::Error) -> Result<CommandError, DecodeError> {
    use error_code as code;
    let record::Error { code: number, first, second, text, third: _, optional } = message;
    Ok(match number {
        code::KEY_EMPTY => CommandError::KeyEmpty,
        code::KEY_TOO_LARGE => CommandError::KeyTooLarge { bytes: first, max: second },
        code::VALUE_TOO_LARGE => CommandError::ValueTooLarge { bytes: first, max: second },
        code::CLIENT_ID_TOO_LARGE => CommandError::ClientIdTooLarge { bytes: first, max: second },
        code::SEQUENCE_EXPIRED => {
            CommandError::SequenceExpired { client_id: text, sequence: first, oldest_remembered: second }
        }
        code::INVALID_REGISTRATION => CommandError::InvalidRegistration { reason: text },
        code::UNKNOWN_BROKER => CommandError::UnknownBroker { broker_id: first },
        code::UNKNOWN_GROUP => CommandError::UnknownGroup { group: text },
        code::STALE_BROKER_EPOCH => CommandError::StaleBrokerEpoch { broker_id: first, current: second },
        code::DUPLICATE_REGISTRATION => CommandError::DuplicateRegistration { broker_id: first, incarnation_id: text },
        code::BROKER_NOT_ACTIVE => CommandError::BrokerNotActive { broker_id: first, state: broker_state_name(&text) },
        code::STALE_MASTER_EPOCH => CommandError::StaleMasterEpoch { group: text, current: first },
        code::STALE_SYNC_STATE_EPOCH => CommandError::StaleSyncStateEpoch { group: text, current: first },
        code::NOT_MASTER => CommandError::NotMaster { group: text, master_broker_id: optional },
        code::INVALID_SYNC_STATE_SET => CommandError::InvalidSyncStateSet { reason: text },
        code::INVALID_TOPIC => CommandError::InvalidTopic { reason: text },
        code::UNKNOWN_TOPIC => CommandError::UnknownTopic { topic: text },
        code::TOPIC_EXISTS => CommandError::TopicExists { topic: text },
        code::STALE_TOPIC_REVISION => CommandError::StaleTopicRevision { topic: text, current: first },
        code::TOPIC_HAS_CONSUMERS => CommandError::TopicHasConsumers { topic: text, consumer_groups: first },
        code::OFFSET_BACKWARDS => {
            // The last NUL: a consumer group may hold one, a (validated) topic name never does.
            let (consumer_group, topic) = text.rsplit_once('\0').unwrap_or((text.as_str(), ""));
            CommandError::OffsetBackwards {
                consumer_group: consumer_group.to_string(),
                topic: topic.to_string(),
                queue_id: u32::try_from(second).map_err(|_| DecodeError::Malformed("queue id over u32".into()))?,
                current: first,
            }
        }
        code::INVALID_OFFSET_COMMIT => CommandError::InvalidOffsetCommit { reason: text },
        code::INVALID_DR => CommandError::InvalidDr { reason: text },
        code::STALE_DR_STATE => CommandError::StaleDrState { current: first },
        code::DR_OPERATION_IN_PROGRESS => CommandError::DrOperationInProgress { operation_id: first },
        code::STALE_DR_OPERATION => CommandError::StaleDrOperation { operation_id: first, current: optional },
        code::STALE_GENERATION => CommandError::StaleGeneration { current: first },
        code::BROKER_NOT_COLLECTABLE => {
            CommandError::BrokerNotCollectable { broker_id: first, reason: not_collectable_from_code(second)? }
        }
        code::COLLECTION_SIZE => CommandError::CollectionSize { brokers: first, max: second },
        code::INVALID_ACL => CommandError::InvalidAcl { reason: text },
        code::UNKNOWN_USER => CommandError::UnknownUser { name: text },
        code::USER_EXISTS => CommandError::UserExists { name: text },
        code::TOO_MANY_USERS => CommandError::TooManyUsers { max: first },
        code::TOKEN_IN_USE => CommandError::TokenInUse,
        code::LAST_SUPER_USER => CommandError::LastSuperUser { name: text },
        code::UNKNOWN_POLICY_ENTRY => CommandError::UnknownPolicyEntry { subject: text },
        code::TOO_MANY_POLICY_ENTRIES => CommandError::TooManyPolicyEntries { subject: text, max: first },
        code::ACL_BOOTSTRAPPED => CommandError::AclBootstrapped,
        code::MASTER_DECLARED => CommandError::MasterDeclared { group: text },
        code::MASTER_STILL_ACTIVE => CommandError::MasterStillActive { group: text, master_broker_id: first },
        code::FEATURE_LEVEL_TOO_LOW => {
            CommandError::FeatureLevelTooLow { required: level_from(first)?, committed: level_from(second)? }
        }
        code::FEATURE_LEVEL_LOWERING => {
            CommandError::FeatureLevelLowering { requested: level_from(first)?, committed: level_from(second)? }
        }
        other => return Err(DecodeError::Malformed(format!("unknown error code {other}"))),
    })
}

fn response_to_message(response: &Response) -> record::Response {
    use record::ResponseKind as Kind;
    let kind = match response {
        Response::Noop { revision } => Kind::Noop(*revision),
        Response::Put { revision, created } => Kind::Put(record::Written { revision: *revision, changed: *created }),
        Response::Delete { revision, deleted } => {
            Kind::Delete(record::Written { revision: *revision, changed: *deleted })
        }
        Response::CompareAndSet { succeeded, revision, current_mod_revision } => {
            Kind::CompareAndSet(record::CasResult {
                succeeded: *succeeded,
                revision: *revision,
                current_mod_revision: *current_mod_revision,
            })
        }
        Response::BrokerRegistered { broker_id, broker_epoch } => {
            Kind::BrokerRegistered(record::BrokerRef { broker_id: *broker_id, broker_epoch: *broker_epoch })
        }
        Response::BrokerChanged { revision } => Kind::BrokerChanged(*revision),
        Response::MasterElected { group, master_broker_id, master_epoch } => Kind::MasterElected(record::ElectMaster {
            group: group.clone(),
            broker_id: *master_broker_id,
            expected_master_epoch: *master_epoch,
        }),
        Response::SyncStateSetAltered { sync_state_epoch } => Kind::SyncStateSetAltered(*sync_state_epoch),
        Response::TopicChanged { revision } => Kind::TopicChanged(*revision),
        Response::OffsetsCommitted { revision, results } => Kind::OffsetsCommitted(record::OffsetsCommitted {
            revision: *revision,
            results: results.iter().map(|result| result.as_ref().map(error_to_message).unwrap_or_default()).collect(),
        }),
        Response::OffsetsReset { revision, queues_reset } => {
            Kind::OffsetsReset(record::OffsetsReset { revision: *revision, queues_reset: *queues_reset })
        }
        Response::DrChanged { revision } => Kind::DrChanged(*revision),
        Response::AclChanged { revision } => Kind::AclChanged(*revision),
        Response::FeatureLevel { level, revision } => {
            Kind::FeatureLevel(record::FeatureLevel { level: *level, revision: *revision })
        }
        Response::Error(error) => Kind::Error(error_to_message(error)),
    };
    record::Response { kind: Some(kind) }
}

fn response_from_message(message: record::Response) -> Result<Response, DecodeError> {
    use record::ResponseKind as Kind;
    Ok(match message.kind.ok_or(DecodeError::MissingField("response.kind"))? {
        Kind::Noop(revision) => Response::Noop { revision },
        Kind::Put(written) => Response::Put { revision: written.revision, created: written.changed },
        Kind::Delete(written) => Response::Delete { revision: written.revision, deleted: written.changed },
        Kind::CompareAndSet(cas) => Response::CompareAndSet {
            succeeded: cas.succeeded,
            revision: cas.revision,
            current_mod_revision: cas.current_mod_revision,
        },
        Kind::BrokerRegistered(broker) => {
            Response::BrokerRegistered { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch }
        }
        Kind::BrokerChanged(revision) => Response::BrokerChanged { revision },
        Kind::MasterElected(elect) => Response::MasterElected {
            group: elect.group,
            master_broker_id: elect.broker_id,
            master_epoch: elect.expected_master_epoch,
        },
        Kind::SyncStateSetAltered(sync_state_epoch) => Response::SyncStateSetAltered { sync_state_epoch },
        Kind::TopicChanged(revision) => Response::TopicChanged { revision },
        Kind::OffsetsCommitted(committed) => Response::OffsetsCommitted {
            revision: committed.revision,
            results: committed
                .results
                .into_iter()
                .map(|error| if error.code == 0 { Ok(None) } else { error_from_message(error).map(Some) })
                .collect::<Result<_, _>>()?,
        },
        Kind::OffsetsReset(reset) => {
            Response::OffsetsReset { revision: reset.revision, queues_reset: reset.queues_reset }
        }
        Kind::DrChanged(revision) => Response::DrChanged { revision },
        Kind::AclChanged(revision) => Response::AclChanged { revision },
        Kind::FeatureLevel(change) => Response::FeatureLevel { level: change.level, revision: change.revision },
        Kind::Error(error) => Response::Error(error_from_message(error)?),
    })
}

pub fn encode_response(response: &Response) -> Vec<u8> {
    frame(&response_to_message(response))
}

pub fn decode_response(bytes: &[u8]) -> Result<Response, DecodeError> {
    response_from_message(unframe(bytes)?)
}

pub fn encode_session_entry(index: u64, response: &Response) -> Vec<u8> {
    frame(&record::SessionEntry { index, response: Some(response_to_message(response)) })
}

pub fn decode_session_entry(bytes: &[u8]) -> Result<(u64, Response), DecodeError> {
    let message: record::SessionEntry = unframe(bytes)?;
    let response = message.response.ok_or(DecodeError::MissingField("session_entry.response"))?;
    Ok((message.index, response_from_message(response)?))
}

// ---- snapshots ----

/// Encodes the whole state as one snapshot blob.
pub fn encode_snapshot(state: &State) -> Vec<u8> {
    let kv = state
        .kv
        .iter()
        .map(|(key, record)| record::SnapshotKv { key: key.clone(), record: Some(kv_record_to_message(record)) })
        .collect();
    let sessions = state
        .sessions
        .iter()
        .flat_map(|(client_id, session)| {
            session.responses.iter().map(move |(sequence, (index, response))| record::SnapshotSessionEntry {
                client_id: client_id.clone(),
                sequence: *sequence,
                entry: Some(record::SessionEntry { index: *index, response: Some(response_to_message(response)) }),
            })
        })
        .collect();
    frame(&record::Snapshot {
        revision: state.revision,
        kv,
        sessions,
        brokers: state.brokers.values().map(broker_to_message).collect(),
        groups: state.groups.values().map(group_to_message).collect(),
        next_broker_id: state.next_broker_id,
        topics: state.topics.values().map(topic_to_message).collect(),
        offsets: state
            .offsets
            .iter()
            .map(|(key, record)| record::SnapshotOffset {
                key: Some(offset_key_to_message(key)),
                record: Some(record::OffsetRecord {
                    offset: record.offset,
                    committed_at_revision: record.committed_at_revision,
                }),
            })
            .collect(),
        audit: state.audit.values().map(audit_to_message).collect(),
        dr: Some(dr_record::record_to_message(&state.dr)),
        users: state.access.users.values().map(access_record::user_to_message).collect(),
        policies: state
            .access
            .policies
            .iter()
            .map(|(subject, entries)| access_record::policy_to_message(subject, entries))
            .collect(),
        feature_level: state.feature_level,
    })
}

/// Decodes a snapshot blob into a state (derived indexes rebuilt).
pub fn decode_snapshot(bytes: &[u8]) -> Result<State, DecodeError> {
    let message: record::Snapshot = unframe(bytes)?;
    let mut state = State {
        revision: message.revision,
        next_broker_id: message.next_broker_id,
        feature_level: message.feature_level,
        ..State::default()
    };
    if let Some(dr) = message.dr {
        state.dr = dr_record::record_from_message(dr)?;
    }
    for broker in message.brokers {
        let broker = broker_from_message(broker)?;
        state.brokers.insert(broker.broker_id, broker);
    }
    for group in message.groups {
        let group = group_from_message(group)?;
        state.groups.insert(group.name.clone(), group);
    }
    for topic in message.topics {
        let topic = topic_from_message(topic)?;
        state.topics.insert(topic.spec.name.clone(), topic);
    }
    for record in message.audit {
        let record = audit_from_message(record);
        state.audit.insert(record.index, record);
    }
    for user in message.users {
        let user = access_record::user_from_message(user)?;
        state.access.users.insert(user.name.clone(), user);
    }
    for policy in message.policies {
        let (subject, entries) = access_record::policy_from_message(policy)?;
        state.access.policies.insert(subject, entries);
    }
    for offset in message.offsets {
        let key = offset_key_from_message(offset.key.ok_or(DecodeError::MissingField("snapshot.offsets.key"))?);
        let record = offset.record.ok_or(DecodeError::MissingField("snapshot.offsets.record"))?;
        state
            .offsets
            .insert(key, OffsetRecord { offset: record.offset, committed_at_revision: record.committed_at_revision });
    }
    for entry in message.kv {
        let record = entry.record.ok_or(DecodeError::MissingField("snapshot.kv.record"))?;
        state.kv.insert(entry.key, kv_record_from_message(record));
    }
    for entry in message.sessions {
        let session_entry = entry.entry.ok_or(DecodeError::MissingField("snapshot.sessions.entry"))?;
        let response = session_entry.response.ok_or(DecodeError::MissingField("snapshot.sessions.response"))?;
        state
            .sessions
            .entry(entry.client_id)
            .or_default()
            .responses
            .insert(entry.sequence, (session_entry.index, response_from_message(response)?));
    }
    state.rebuild_indexes();
    Ok(state)
}

// ---- access control ----

pub fn encode_user(user: &crate::access::User) -> Vec<u8> {
    frame(&access_record::user_to_message(user))
}

pub fn decode_user(bytes: &[u8]) -> Result<crate::access::User, DecodeError> {
    access_record::user_from_message(unframe(bytes)?)
}

/// A subject's policy (its entries, in grant order).
pub fn encode_policy(subject: &str, entries: &[crate::access::PolicyEntry]) -> Vec<u8> {
    frame(&access_record::policy_to_message(subject, entries))
}

pub fn decode_policy(bytes: &[u8]) -> Result<(String, Vec<crate::access::PolicyEntry>), DecodeError> {
    access_record::policy_from_message(unframe(bytes)?)
}

// ---- disaster recovery ----

pub fn encode_dr_record(record: &crate::dr::DrRecord) -> Vec<u8> {
    frame(&dr_record::record_to_message(record))
}

pub fn decode_dr_record(bytes: &[u8]) -> Result<crate::dr::DrRecord, DecodeError> {
    dr_record::record_from_message(unframe(bytes)?)
}

mod dr_record {
    //! Persisted formats of the DR record and commands. Tags are forever: never reuse one.

    use super::DecodeError;
    use crate::dr::{
        AbandonedMember, DrCommand, DrOperation, DrRecord, FailoverRecord, FinishedOperation, ReplicationMode,
        SwitchoverStep, SyncState,
    };

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Operation {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(string, tag = "2")]
        pub from_region: String,
        #[prost(string, tag = "3")]
        pub to_region: String,
        #[prost(uint32, tag = "4")]
        pub step: u32,
        #[prost(uint64, tag = "5")]
        pub started_at_ms: u64,
        #[prost(uint64, tag = "6")]
        pub step_at_ms: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Finished {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(string, tag = "2")]
        pub from_region: String,
        #[prost(string, tag = "3")]
        pub to_region: String,
        #[prost(uint64, tag = "4")]
        pub started_at_ms: u64,
        #[prost(uint64, tag = "5")]
        pub finished_at_ms: u64,
        #[prost(string, tag = "6")]
        pub result: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Member {
        #[prost(uint64, tag = "1")]
        pub node_id: u64,
        #[prost(string, tag = "2")]
        pub client_addr: String,
        #[prost(string, tag = "3")]
        pub peer_addr: String,
        #[prost(string, tag = "4")]
        pub zone: String,
        #[prost(string, tag = "5")]
        pub region: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Failover {
        #[prost(uint64, tag = "1")]
        pub generation: u64,
        #[prost(uint64, tag = "2")]
        pub at_ms: u64,
        #[prost(string, tag = "3")]
        pub from_region: String,
        #[prost(string, tag = "4")]
        pub to_region: String,
        #[prost(uint64, tag = "5")]
        pub seed_node_id: u64,
        #[prost(uint64, tag = "6")]
        pub seed_last_log_index: u64,
        #[prost(uint64, tag = "7")]
        pub last_known_commit_index: u64,
        #[prost(uint32, tag = "8")]
        pub last_mode: u32,
        #[prost(uint32, tag = "9")]
        pub last_state: u32,
        #[prost(uint64, tag = "10")]
        pub last_dr_state_id: u64,
        #[prost(bool, tag = "11")]
        pub rpo_zero: bool,
        #[prost(message, repeated, tag = "12")]
        pub abandoned_members: Vec<Member>,
        #[prost(uint64, optional, tag = "13")]
        pub leader_silence_ms: Option<u64>,
        #[prost(uint64, tag = "14")]
        pub last_announced_dr_state_id: u64,
        #[prost(uint64, tag = "15")]
        pub sync_promise_remaining_ms: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Record {
        #[prost(string, tag = "1")]
        pub primary_region: String,
        #[prost(string, tag = "2")]
        pub dr_region: String,
        #[prost(uint32, tag = "3")]
        pub mode: u32,
        #[prost(uint32, tag = "4")]
        pub state: u32,
        #[prost(uint64, tag = "5")]
        pub dr_state_id: u64,
        #[prost(uint64, tag = "6")]
        pub dr_sync_timeout_ms: u64,
        #[prost(uint64, tag = "7")]
        pub generation: u64,
        #[prost(message, optional, tag = "8")]
        pub operation: Option<Operation>,
        #[prost(message, optional, tag = "9")]
        pub last_operation: Option<Finished>,
        #[prost(message, optional, tag = "10")]
        pub last_failover: Option<Failover>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Regions {
        #[prost(string, tag = "1")]
        pub primary_region: String,
        #[prost(string, tag = "2")]
        pub dr_region: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SetMode {
        #[prost(uint32, tag = "1")]
        pub mode: u32,
        #[prost(uint64, tag = "2")]
        pub dr_sync_timeout_ms: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SwitchState {
        #[prost(uint64, tag = "1")]
        pub expected_dr_state_id: u64,
        #[prost(uint32, tag = "2")]
        pub state: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Advance {
        #[prost(uint64, tag = "1")]
        pub operation_id: u64,
        #[prost(uint32, tag = "2")]
        pub step: u32,
        #[prost(string, optional, tag = "3")]
        pub error: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Command {
        #[prost(oneof = "Kind", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub kind: Option<Kind>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Configure(Regions),
        #[prost(message, tag = "2")]
        SetMode(SetMode),
        #[prost(message, tag = "3")]
        SwitchState(SwitchState),
        #[prost(message, tag = "4")]
        BeginSwitchover(Regions),
        #[prost(message, tag = "5")]
        AdvanceSwitchover(Advance),
        #[prost(message, tag = "6")]
        FinishSwitchover(Advance),
        #[prost(message, tag = "7")]
        CompleteFailover(Failover),
    }

    fn mode_code(mode: ReplicationMode) -> u32 {
        match mode {
            ReplicationMode::Majority => 1,
            ReplicationMode::DrSync => 2,
        }
    }

    fn mode_from_code(code: u32) -> Result<ReplicationMode, DecodeError> {
        match code {
            1 => Ok(ReplicationMode::Majority),
            2 => Ok(ReplicationMode::DrSync),
            other => Err(DecodeError::Malformed(format!("unknown replication mode {other}"))),
        }
    }

    fn state_code(state: SyncState) -> u32 {
        match state {
            SyncState::Sync => 1,
            SyncState::Async => 2,
            SyncState::SyncRecover => 3,
        }
    }

    fn state_from_code(code: u32) -> Result<SyncState, DecodeError> {
        match code {
            1 => Ok(SyncState::Sync),
            2 => Ok(SyncState::Async),
            3 => Ok(SyncState::SyncRecover),
            other => Err(DecodeError::Malformed(format!("unknown DR sync state {other}"))),
        }
    }

    fn step_from_code(code: u32) -> Result<SwitchoverStep, DecodeError> {
        SwitchoverStep::from_code(code).ok_or_else(|| DecodeError::Malformed(format!("unknown switchover step {code}")))
    }

    fn failover_to_message(record: &FailoverRecord) -> Failover {
        Failover {
            generation: record.generation,
            at_ms: record.at_ms,
            from_region: record.from_region.clone(),
            to_region: record.to_region.clone(),
            seed_node_id: record.seed_node_id,
            seed_last_log_index: record.seed_last_log_index,
            last_known_commit_index: record.last_known_commit_index,
            last_mode: mode_code(record.last_mode),
            last_state: state_code(record.last_state),
            last_dr_state_id: record.last_dr_state_id,
            rpo_zero: record.rpo_zero,
            leader_silence_ms: record.leader_silence_ms,
            last_announced_dr_state_id: record.last_announced_dr_state_id,
            sync_promise_remaining_ms: record.sync_promise_remaining_ms,
            abandoned_members: record
                .abandoned_members
                .iter()
                .map(|member| Member {
                    node_id: member.node_id,
                    client_addr: member.client_addr.clone(),
                    peer_addr: member.peer_addr.clone(),
                    zone: member.zone.clone(),
                    region: member.region.clone(),
                })
                .collect(),
        }
    }

    fn failover_from_message(message: Failover) -> Result<FailoverRecord, DecodeError> {
        Ok(FailoverRecord {
            generation: message.generation,
            at_ms: message.at_ms,
            from_region: message.from_region,
            to_region: message.to_region,
            seed_node_id: message.seed_node_id,
            seed_last_log_index: message.seed_last_log_index,
            last_known_commit_index: message.last_known_commit_index,
            last_mode: mode_from_code(message.last_mode)?,
            last_state: state_from_code(message.last_state)?,
            last_dr_state_id: message.last_dr_state_id,
            rpo_zero: message.rpo_zero,
            leader_silence_ms: message.leader_silence_ms,
            last_announced_dr_state_id: message.last_announced_dr_state_id,
            sync_promise_remaining_ms: message.sync_promise_remaining_ms,
            abandoned_members: message
                .abandoned_members
                .into_iter()
                .map(|member| AbandonedMember {
                    node_id: member.node_id,
                    client_addr: member.client_addr,
                    peer_addr: member.peer_addr,
                    zone: member.zone,
                    region: member.region,
                })
                .collect(),
        })
    }

    pub fn record_to_message(record: &DrRecord) -> Record {
        Record {
            primary_region: record.primary_region.clone(),
            dr_region: record.dr_region.clone(),
            mode: mode_code(record.mode),
            state: state_code(record.state),
            dr_state_id: record.dr_state_id,
            dr_sync_timeout_ms: record.dr_sync_timeout_ms,
            generation: record.generation,
            operation: record.operation.as_ref().map(|operation| Operation {
                id: operation.id,
                from_region: operation.from_region.clone(),
                to_region: operation.to_region.clone(),
                step: operation.step.code(),
                started_at_ms: operation.started_at_ms,
                step_at_ms: operation.step_at_ms,
            }),
            last_operation: record.last_operation.as_ref().map(|finished| Finished {
                id: finished.id,
                from_region: finished.from_region.clone(),
                to_region: finished.to_region.clone(),
                started_at_ms: finished.started_at_ms,
                finished_at_ms: finished.finished_at_ms,
                result: finished.result.clone(),
            }),
            last_failover: record.last_failover.as_ref().map(failover_to_message),
        }
    }

    pub fn record_from_message(message: Record) -> Result<DrRecord, DecodeError> {
        Ok(DrRecord {
            primary_region: message.primary_region,
            dr_region: message.dr_region,
            mode: mode_from_code(message.mode)?,
            state: state_from_code(message.state)?,
            dr_state_id: message.dr_state_id,
            dr_sync_timeout_ms: message.dr_sync_timeout_ms,
            generation: message.generation,
            operation: match message.operation {
                Some(operation) => Some(DrOperation {
                    id: operation.id,
                    from_region: operation.from_region,
                    to_region: operation.to_region,
                    step: step_from_code(operation.step)?,
                    started_at_ms: operation.started_at_ms,
                    step_at_ms: operation.step_at_ms,
                }),
                None => None,
            },
            last_operation: message.last_operation.map(|finished| FinishedOperation {
                id: finished.id,
                from_region: finished.from_region,
                to_region: finished.to_region,
                started_at_ms: finished.started_at_ms,
                finished_at_ms: finished.finished_at_ms,
                result: finished.result,
            }),
            last_failover: message.last_failover.map(failover_from_message).transpose()?,
        })
    }

    pub fn command_to_message(command: &DrCommand) -> Command {
        let kind = match command {
            DrCommand::Configure { primary_region, dr_region } => {
                Kind::Configure(Regions { primary_region: primary_region.clone(), dr_region: dr_region.clone() })
            }
            DrCommand::SetMode { mode, dr_sync_timeout_ms } => {
                Kind::SetMode(SetMode { mode: mode_code(*mode), dr_sync_timeout_ms: *dr_sync_timeout_ms })
            }
            DrCommand::SwitchState { expected_dr_state_id, state } => Kind::SwitchState(SwitchState {
                expected_dr_state_id: *expected_dr_state_id,
                state: state_code(*state),
            }),
            DrCommand::BeginSwitchover { from_region, to_region } => {
                Kind::BeginSwitchover(Regions { primary_region: from_region.clone(), dr_region: to_region.clone() })
            }
            DrCommand::AdvanceSwitchover { operation_id, step } => {
                Kind::AdvanceSwitchover(Advance { operation_id: *operation_id, step: step.code(), error: None })
            }
            DrCommand::FinishSwitchover { operation_id, error } => {
                Kind::FinishSwitchover(Advance { operation_id: *operation_id, step: 0, error: error.clone() })
            }
            DrCommand::CompleteFailover(record) => Kind::CompleteFailover(failover_to_message(record)),
        };
        Command { kind: Some(kind) }
    }

    pub fn command_from_message(message: Command) -> Result<DrCommand, DecodeError> {
        Ok(match message.kind.ok_or(DecodeError::UnknownCommandKind)? {
            Kind::Configure(regions) => {
                DrCommand::Configure { primary_region: regions.primary_region, dr_region: regions.dr_region }
            }
            Kind::SetMode(set) => {
                DrCommand::SetMode { mode: mode_from_code(set.mode)?, dr_sync_timeout_ms: set.dr_sync_timeout_ms }
            }
            Kind::SwitchState(switch) => DrCommand::SwitchState {
                expected_dr_state_id: switch.expected_dr_state_id,
                state: state_from_code(switch.state)?,
            },
            Kind::BeginSwitchover(regions) => {
                DrCommand::BeginSwitchover { from_region: regions.primary_region, to_region: regions.dr_region }
            }
            Kind::AdvanceSwitchover(advance) => {
                DrCommand::AdvanceSwitchover { operation_id: advance.operation_id, step: step_from_code(advance.step)? }
            }
            Kind::FinishSwitchover(advance) => {
                DrCommand::FinishSwitchover { operation_id: advance.operation_id, error: advance.error }
            }
            Kind::CompleteFailover(failover) => DrCommand::CompleteFailover(failover_from_message(failover)?),
        })
    }
}
