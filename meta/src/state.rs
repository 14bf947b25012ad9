//! The replicated state, its records and the answers commands get.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// One key of the generic namespace. Revisions are Raft log indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRecord {
    pub value: Vec<u8>,
    /// Revision of the put that created the key (since its last deletion).
    pub create_revision: u64,
    /// Revision of the last change to the key.
    pub mod_revision: u64,
    /// Number of puts since creation, starting at 1.
    pub version: u64,
}

/// Why a command was refused. Refused commands change nothing but the idempotency table (the
/// refusal itself is the remembered answer, so a retry gets the same refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("key is empty")]
    KeyEmpty,
    #[error("key is {bytes} bytes, the limit is {max}")]
    KeyTooLarge { bytes: u64, max: u64 },
    #[error("value is {bytes} bytes, the limit is {max}")]
    ValueTooLarge { bytes: u64, max: u64 },
    #[error("client id is {bytes} bytes, the limit is {max}")]
    ClientIdTooLarge { bytes: u64, max: u64 },
    #[error(
        "request {sequence} of client {client_id} is older than the idempotency window \
         (oldest remembered: {oldest_remembered}); it may or may not have been applied"
    )]
    SequenceExpired { client_id: String, sequence: u64, oldest_remembered: u64 },
    #[error("invalid registration: {reason}")]
    InvalidRegistration { reason: String },
    #[error("broker {broker_id} is unknown")]
    UnknownBroker { broker_id: u64 },
    #[error("broker group {group} is unknown")]
    UnknownGroup { group: String },
    #[error("stale broker epoch for broker {broker_id}: current is {current}")]
    StaleBrokerEpoch { broker_id: u64, current: u64 },
    #[error(
        "a live broker {broker_id} with incarnation {incarnation_id} holds this name; wait for its lease to expire"
    )]
    DuplicateRegistration { broker_id: u64, incarnation_id: String },
    #[error("broker {broker_id} is {state}")]
    BrokerNotActive { broker_id: u64, state: &'static str },
    #[error("stale master epoch for group {group}: current is {current}")]
    StaleMasterEpoch { group: String, current: u64 },
    #[error("stale sync state epoch for group {group}: current is {current}")]
    StaleSyncStateEpoch { group: String, current: u64 },
    #[error("not the master of group {group}; master is {}", master_broker_id.map_or("none".to_string(), |id| id.to_string()))]
    NotMaster { group: String, master_broker_id: Option<u64> },
    #[error("invalid sync state set: {reason}")]
    InvalidSyncStateSet { reason: String },
    #[error("invalid topic: {reason}")]
    InvalidTopic { reason: String },
    #[error("topic {topic} is unknown")]
    UnknownTopic { topic: String },
    #[error("topic {topic} already exists")]
    TopicExists { topic: String },
    /// An update conditioned on the topic's revision found another one (someone changed it).
    #[error("topic {topic} changed since it was read: its revision is {current}")]
    StaleTopicRevision { topic: String, current: u64 },
    #[error("topic {topic} still has offsets of {consumer_groups} consumer group(s); delete with force to drop them")]
    TopicHasConsumers { topic: String, consumer_groups: u64 },
    #[error("offset of {consumer_group}/{topic}/{queue_id} would move backwards (current is {current})")]
    OffsetBackwards { consumer_group: String, topic: String, queue_id: u32, current: u64 },
    #[error("invalid offset commit: {reason}")]
    InvalidOffsetCommit { reason: String },
    #[error("invalid DR command: {reason}")]
    InvalidDr { reason: String },
    #[error("stale DR state id: current is {current}")]
    StaleDrState { current: u64 },
    #[error("DR operation {operation_id} is in progress; wait for it to finish")]
    DrOperationInProgress { operation_id: u64 },
    #[error("DR operation {operation_id} is not the current one (current: {})", current.map_or("none".to_string(), |id| id.to_string()))]
    StaleDrOperation { operation_id: u64, current: Option<u64> },
    #[error("stale generation: the cluster is at generation {current}")]
    StaleGeneration { current: u64 },
    /// A collection of retired broker records named a broker whose record must stay.
    #[error("the record of broker {broker_id} cannot be collected: {reason}")]
    BrokerNotCollectable { broker_id: u64, reason: crate::broker::NotCollectable },
    #[error("a collection names {brokers} brokers; 1..={max} are allowed")]
    CollectionSize { brokers: u64, max: u64 },
    #[error("invalid ACL change: {reason}")]
    InvalidAcl { reason: String },
    #[error("user {name} is unknown")]
    UnknownUser { name: String },
    #[error("user {name} already exists")]
    UserExists { name: String },
    #[error("the state holds {max} users, the limit")]
    TooManyUsers { max: u64 },
    /// The hash of a token another user holds (which user is not said).
    #[error("another user holds this token; generate a new one")]
    TokenInUse,
    #[error("{name} is the last enabled super user; add or enable another super user first")]
    LastSuperUser { name: String },
    #[error("user {subject} holds no such policy entry")]
    UnknownPolicyEntry { subject: String },
    #[error("user {subject} already holds {max} policy entries, the limit")]
    TooManyPolicyEntries { subject: String, max: u64 },
    /// Access control was bootstrapped already: the first user exists.
    #[error("access control is bootstrapped already")]
    AclBootstrapped,
    /// The group's brokers declare their master (`ElectionMode::Declared`): nothing elects one.
    #[error("the brokers of group {group} declare their master themselves; Pharos elects none")]
    MasterDeclared { group: String },
    /// A broker declared itself master of a group whose master is another active broker.
    #[error(
        "group {group} already has an active master, broker {master_broker_id}; it must unregister or time out first"
    )]
    MasterStillActive { group: String, master_broker_id: u64 },
    /// The command's kind belongs to a feature level the cluster has not reached
    /// (`crate::feature::required_level`).
    #[error(
        "this request needs feature level {required}, and the cluster is at level {committed}: once every member runs a release that supports it, run `pharos cluster feature-level upgrade`"
    )]
    FeatureLevelTooLow { required: u32, committed: u32 },
    /// Feature levels only rise: a lower one could re-admit a build that misreads the log.
    #[error("the cluster is at feature level {committed}; it cannot go down to {requested}")]
    FeatureLevelLowering { requested: u32, committed: u32 },
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Noop {
        revision: u64,
    },
    Put {
        revision: u64,
        created: bool,
    },
    Delete {
        revision: u64,
        deleted: bool,
    },
    CompareAndSet {
        succeeded: bool,
        revision: u64,
        current_mod_revision: Option<u64>,
    },
    BrokerRegistered {
        broker_id: u64,
        broker_epoch: u64,
    },
    BrokerChanged {
        revision: u64,
    },
    MasterElected {
        group: String,
        master_broker_id: u64,
        master_epoch: u64,
    },
    SyncStateSetAltered {
        sync_state_epoch: u64,
    },
    TopicChanged {
        revision: u64,
    },
    /// One result per coalesced request, in order (`None`: applied).
    OffsetsCommitted {
        revision: u64,
        results: Vec<Option<CommandError>>,
    },
    OffsetsReset {
        revision: u64,
        queues_reset: u64,
    },
    DrChanged {
        revision: u64,
    },
    /// A user or policy changed (or a grant already held: `revision` is then the current one).
    AclChanged {
        revision: u64,
    },
    /// The committed feature level is now `level` (raised, or already there).
    FeatureLevel {
        level: u32,
        revision: u64,
    },
    Error(CommandError),
}

/// Remembered answers of one client, by sequence, with the log index that produced each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub responses: BTreeMap<u64, (u64, Response)>,
}

impl Session {
    /// Log index of the client's most recent remembered request.
    pub fn last_active_index(&self) -> u64 {
        self.responses.values().map(|(index, _)| *index).max().unwrap_or(0)
    }
}

/// Everything the state machine holds. Owned by the state-machine store, changed only by
/// [`crate::apply`], rebuilt from disk or a snapshot on start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Log index of the last command that changed the data (not bumped by refusals or no-ops).
    pub revision: u64,
    pub kv: BTreeMap<Vec<u8>, KvRecord>,
    pub sessions: BTreeMap<String, Session>,
    pub brokers: BTreeMap<u64, crate::broker::Broker>,
    pub groups: BTreeMap<String, crate::broker::BrokerGroup>,
    /// Next broker id to hand out; ids are never reused.
    pub next_broker_id: u64,
    pub topics: BTreeMap<String, crate::topic::Topic>,
    pub offsets: BTreeMap<crate::topic::OffsetKey, crate::topic::OffsetRecord>,
    /// Administrative changes by log index (bounded, see `limits::AUDIT_RECORDS_MAX`).
    pub audit: BTreeMap<u64, crate::audit::AuditRecord>,
    /// Placement policy, replication mode, generation and DR operations (docs/architecture.md, "Regions and disaster recovery").
    pub dr: crate::dr::DrRecord,
    /// Users and their policies (docs/security.md).
    pub access: crate::access::AccessState,
    /// The committed feature level (`crate::feature`): which command kinds may be proposed and
    /// applied. 0: never recorded (a state written before feature levels existed), which is
    /// `feature::BASELINE`. Only rises, and only through `Operation::SetFeatureLevel`.
    pub feature_level: u32,
    /// Token hash -> user name: derived from `access.users`, kept so authentication is a lookup.
    pub(crate) tokens: BTreeMap<String, String>,
    /// `(last_active_index, client_id)` for every session: derived from `sessions`, kept so
    /// the least recently active client is found without a scan.
    pub(crate) session_activity: BTreeSet<(u64, String)>,
}

impl State {
    /// The answer the state machine remembers for `request_id` (what a retry with it gets), if
    /// the client's idempotency window still holds it.
    pub fn remembered(&self, request_id: &crate::command::RequestId) -> Option<&Response> {
        let (_, response) = self.sessions.get(&request_id.client_id)?.responses.get(&request_id.sequence)?;
        Some(response)
    }

    /// Rebuilds the derived indexes after `sessions` was filled directly (load, snapshot).
    pub fn rebuild_indexes(&mut self) {
        self.session_activity =
            self.sessions.iter().map(|(client_id, session)| (session.last_active_index(), client_id.clone())).collect();
        self.rebuild_token_index();
    }

    /// Rebuilds the token-hash index from `access.users`.
    pub(crate) fn rebuild_token_index(&mut self) {
        self.tokens = self.access.users.values().map(|user| (user.token_sha256.clone(), user.name.clone())).collect();
    }

    /// The user whose token hashes to `token_sha256` (lowercase hex), if any.
    pub fn user_by_token(&self, token_sha256: &str) -> Option<&crate::access::User> {
        self.access.users.get(self.tokens.get(token_sha256)?)
    }

    /// Keys in `[prefix, ...)` that start with `prefix`, at most `limit` of them.
    pub fn range_prefix(&self, prefix: &[u8], limit: usize) -> Vec<(Vec<u8>, KvRecord)> {
        self.kv
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, record)| (key.clone(), record.clone()))
            .collect()
    }

    /// SHA-256 over the canonical encoding of the whole state. Replicas that applied the same
    /// index must report the same digest (invariant 6, docs/architecture.md).
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.revision.to_be_bytes());
        for (key, record) in &self.kv {
            hasher.update((key.len() as u64).to_be_bytes());
            hasher.update(key);
            hasher.update(crate::codec::encode_kv_record(record));
        }
        hasher.update(self.next_broker_id.to_be_bytes());
        for broker in self.brokers.values() {
            hasher.update(crate::codec::encode_broker(broker));
        }
        for group in self.groups.values() {
            hasher.update(crate::codec::encode_group(group));
        }
        for topic in self.topics.values() {
            hasher.update(crate::codec::encode_topic(topic));
        }
        for (key, record) in &self.offsets {
            hasher.update(crate::codec::encode_offset_key(key));
            hasher.update(record.offset.to_be_bytes());
            hasher.update(record.committed_at_revision.to_be_bytes());
        }
        for record in self.audit.values() {
            hasher.update(crate::codec::encode_audit_record(record));
        }
        hasher.update(crate::codec::encode_dr_record(&self.dr));
        for user in self.access.users.values() {
            hasher.update(crate::codec::encode_user(user));
        }
        for (subject, entries) in &self.access.policies {
            hasher.update(crate::codec::encode_policy(subject, entries));
        }
        for (client_id, session) in &self.sessions {
            hasher.update((client_id.len() as u64).to_be_bytes());
            hasher.update(client_id.as_bytes());
            for (sequence, (index, response)) in &session.responses {
                hasher.update(sequence.to_be_bytes());
                hasher.update(crate::codec::encode_session_entry(*index, response));
            }
        }
        // Hashed only once recorded, so a build that predates feature levels and this one
        // agree on the digest of a state that never recorded one (invariant 6 in a rolling
        // upgrade).
        if self.feature_level != 0 {
            hasher.update(b"feature_level");
            hasher.update(self.feature_level.to_be_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// An empty state whose committed feature level is `level`, as a new cluster's is once its
    /// leader recorded the level its members support.
    pub fn at_feature_level(level: u32) -> State {
        State { feature_level: level, ..State::default() }
    }

    /// The feature level the committed state allows (`crate::feature::effective`).
    pub fn committed_feature_level(&self) -> u32 {
        crate::feature::effective(self.feature_level)
    }
}
