//! Topics, the routes derived from them, and consumer offsets (docs/architecture.md, "The replicated state").

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::Change;
use crate::broker::{Broker, BrokerState};
use crate::limits;
use crate::state::{CommandError, Response, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageType {
    Normal,
    Fifo,
    Delay,
    Transactional,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Normal => "normal",
            MessageType::Fifo => "fifo",
            MessageType::Delay => "delay",
            MessageType::Transactional => "transactional",
        }
    }

    pub fn parse(text: &str) -> Option<MessageType> {
        match text {
            "" | "normal" => Some(MessageType::Normal),
            "fifo" => Some(MessageType::Fifo),
            "delay" => Some(MessageType::Delay),
            "transactional" => Some(MessageType::Transactional),
            _ => None,
        }
    }
}

/// Read/write queue counts of a topic on one broker group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub read: u32,
    pub write: u32,
}

/// RocketMQ permission bits: 4 = read, 2 = write (6 = both).
pub const PERM_READ: u32 = 4;
pub const PERM_WRITE: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// Broker group -> queue counts. Queue ids are numbered across groups in group-name order.
    pub queues: BTreeMap<String, QueueCounts>,
    pub perm: u32,
    pub message_type: MessageType,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub spec: TopicSpec,
    pub create_revision: u64,
    /// Revision of the last change to the topic itself.
    pub revision: u64,
    pub origin: TopicOrigin,
}

/// Who created a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TopicOrigin {
    /// An operator (`CreateTopic`). Broker reports never change it.
    #[default]
    Operator,
    /// The master of `group` reported serving it (a RocketMQ broker's topic config,
    /// [`TopicOperation::Report`]). Later reports set each reporting group's queue counts.
    Broker { group: String },
}

/// A topic as a broker reports serving it: its queue counts and permission on that broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedTopic {
    pub name: String,
    pub queues: QueueCounts,
    pub perm: u32,
}

impl Topic {
    /// Total read queues: valid queue ids are `0..queue_count()`.
    pub fn queue_count(&self) -> u32 {
        self.spec.queues.values().map(|counts| counts.read.max(counts.write)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetKey {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRecord {
    pub offset: u64,
    pub committed_at_revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub key: OffsetKey,
    pub offset: u64,
}

/// One client's commit request. Several are coalesced into one command (group commit); each
/// succeeds or fails on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetBatch {
    pub commits: Vec<OffsetCommit>,
    /// Refuse the whole batch if any commit would move an offset backwards.
    pub reject_backwards: bool,
    /// The request's idempotency key. Batches share an entry, so the key rides with its batch
    /// rather than with the command: a batch whose key the state remembers is not applied
    /// again, and its answer (`OffsetsCommitted` with this batch's result alone, at the revision
    /// that applied it) is remembered under the key like any other command's.
    pub request_id: Option<crate::command::RequestId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Offset(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOperation {
    Create(TopicSpec),
    /// Replaces the spec; with `expected_revision`, only if the topic's revision is still that
    /// (read-modify-write without losing a concurrent update).
    Update {
        spec: TopicSpec,
        expected_revision: Option<u64>,
    },
    Delete {
        name: String,
        force: bool,
    },
    CommitOffsets {
        batches: Vec<OffsetBatch>,
    },
    ResetOffsets {
        consumer_group: String,
        topic: String,
        to: ResetTarget,
    },
    /// The master of `group` serves `topics`: unknown ones are created (origin
    /// [`TopicOrigin::Broker`]), broker-created ones get `group`'s queue counts, operators'
    /// topics are left alone. At most `limits::REPORTED_TOPICS_MAX`; the leader proposes only
    /// the topics that would change ([`State::topic_report`]).
    Report {
        group: String,
        topics: Vec<ReportedTopic>,
    },
}

impl TopicOperation {
    pub fn kind(&self) -> &'static str {
        match self {
            TopicOperation::Create(_) => "create_topic",
            TopicOperation::Update { .. } => "update_topic",
            TopicOperation::Delete { .. } => "delete_topic",
            TopicOperation::CommitOffsets { .. } => "commit_offsets",
            TopicOperation::ResetOffsets { .. } => "reset_offsets",
            TopicOperation::Report { .. } => "report_topics",
        }
    }
}

/// The route of a topic on one broker group: its queues, and who serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRoute {
    pub group: String,
    pub queues: QueueCounts,
    pub master: Option<Broker>,
    /// Active brokers of the group other than the master.
    pub replicas: Vec<Broker>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub topic: Topic,
    pub groups: Vec<GroupRoute>,
}

fn invalid(reason: impl Into<String>) -> CommandError {
    CommandError::InvalidTopic { reason: reason.into() }
}

/// Topic names: 1..=127 characters of `[A-Za-z0-9_%|-]` (RocketMQ's rule).
pub fn validate_topic_name(name: &str) -> Result<(), CommandError> {
    let valid = !name.is_empty()
        && name.len() <= limits::TOPIC_NAME_BYTES_MAX
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'%' | b'|'));
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "topic name `{name}` must be 1..={} characters of [A-Za-z0-9_%|-]",
            limits::TOPIC_NAME_BYTES_MAX
        )))
    }
}

/// Checks a spec against limits and the current state (groups must exist).
pub fn validate_spec(state: &State, spec: &TopicSpec) -> Result<(), CommandError> {
    validate_spec_shape(spec)?;
    match spec.queues.keys().find(|group| !state.groups.contains_key(*group)) {
        Some(group) => Err(CommandError::UnknownGroup { group: group.clone() }),
        None => Ok(()),
    }
}

/// The checks of [`validate_spec`] that need no state: name, queue counts, perm, attributes.
pub fn validate_spec_shape(spec: &TopicSpec) -> Result<(), CommandError> {
    validate_topic_name(&spec.name)?;
    if spec.queues.is_empty() {
        return Err(invalid("at least one broker group is required"));
    }
    let mut total = 0u64;
    for (group, counts) in &spec.queues {
        if counts.read == 0 && counts.write == 0 {
            return Err(invalid(format!("group {group} has no queues")));
        }
        total += u64::from(counts.read.max(counts.write));
    }
    if total > limits::TOPIC_QUEUES_MAX as u64 {
        return Err(invalid(format!("{total} queues, the limit is {}", limits::TOPIC_QUEUES_MAX)));
    }
    if spec.perm & !(PERM_READ | PERM_WRITE) != 0 {
        return Err(invalid(format!("perm {} is not a combination of 4 (read) and 2 (write)", spec.perm)));
    }
    if spec.attributes.len() > limits::TOPIC_ATTRIBUTES_MAX
        || spec.attributes.iter().any(|(k, v)| k.is_empty() || k.len() > 255 || v.len() > 1024)
    {
        return Err(invalid(format!(
            "at most {} attributes, keys 1..=255 bytes, values up to 1 KiB",
            limits::TOPIC_ATTRIBUTES_MAX
        )));
    }
    Ok(())
}

/// The topic `reported` would make of `existing` (none: a new topic) on `group`, or `None` when
/// the report changes nothing. The one rule `apply` and the leader's check share.
fn reported_topic(existing: Option<&Topic>, group: &str, reported: &ReportedTopic, index: u64) -> Option<Topic> {
    match existing {
        None => Some(Topic {
            spec: TopicSpec {
                name: reported.name.clone(),
                queues: BTreeMap::from([(group.to_string(), reported.queues)]),
                perm: reported.perm,
                message_type: MessageType::Normal,
                attributes: BTreeMap::new(),
            },
            create_revision: index,
            revision: index,
            origin: TopicOrigin::Broker { group: group.to_string() },
        }),
        Some(topic) if topic.origin == TopicOrigin::Operator => None,
        Some(topic) if topic.spec.queues.get(group) == Some(&reported.queues) => None,
        Some(topic) => {
            let mut changed = topic.clone();
            changed.spec.queues.insert(group.to_string(), reported.queues);
            changed.revision = index;
            Some(changed)
        }
    }
}

/// The checks of a report that need no state.
pub(crate) fn validate_report(group: &str, topics: &[ReportedTopic]) -> Result<(), CommandError> {
    if topics.is_empty() || topics.len() > limits::REPORTED_TOPICS_MAX {
        return Err(invalid(format!("a report names 1..={} topics", limits::REPORTED_TOPICS_MAX)));
    }
    for topic in topics {
        let spec = TopicSpec {
            name: topic.name.clone(),
            queues: BTreeMap::from([(group.to_string(), topic.queues)]),
            perm: topic.perm,
            message_type: MessageType::Normal,
            attributes: BTreeMap::new(),
        };
        validate_spec_shape(&spec)?;
    }
    Ok(())
}

impl State {
    /// The topics of `reported` that a report by `group`'s master would change: what the
    /// leader proposes (nothing, when a broker's re-registration reports what it did before).
    pub fn topic_report(&self, group: &str, reported: &[ReportedTopic]) -> Vec<ReportedTopic> {
        reported
            .iter()
            .filter(|topic| reported_topic(self.topics.get(&topic.name), group, topic, self.revision + 1).is_some())
            .cloned()
            .collect()
    }

    /// The route of `topic` as the committed state has it.
    pub fn route(&self, topic: &str) -> Option<Route> {
        let topic = self.topics.get(topic)?.clone();
        let groups = topic
            .spec
            .queues
            .iter()
            .map(|(name, counts)| {
                let (master, replicas) = self.serving_brokers(name);
                GroupRoute {
                    group: name.clone(),
                    queues: *counts,
                    master: master.cloned(),
                    replicas: replicas.into_iter().cloned().collect(),
                }
            })
            .collect();
        Some(Route { topic, groups })
    }

    /// Who serves broker group `group` in a route: its master if active, and its other active
    /// members. One rule for every reader of routes (the gRPC API and the RocketMQ NameServer
    /// codes).
    pub fn serving_brokers(&self, group: &str) -> (Option<&Broker>, Vec<&Broker>) {
        let Some(group) = self.groups.get(group) else { return (None, Vec::new()) };
        let active = |id: &u64| self.brokers.get(id).filter(|broker| broker.state == BrokerState::Active);
        let master = group.master_broker_id.as_ref().and_then(active);
        let replicas =
            group.members.iter().filter(|id| Some(**id) != group.master_broker_id).filter_map(active).collect();
        (master, replicas)
    }

    /// Topics with queues on broker group `group`.
    pub fn topics_on_group(&self, group: &str) -> Vec<String> {
        self.topics
            .values()
            .filter(|topic| topic.spec.queues.contains_key(group))
            .map(|topic| topic.spec.name.clone())
            .collect()
    }

    fn consumers_of(&self, topic: &str) -> BTreeSet<String> {
        self.offsets.keys().filter(|key| key.topic == topic).map(|key| key.consumer_group.clone()).collect()
    }
}

pub(crate) fn execute(
    state: &mut State,
    index: u64,
    operation: &TopicOperation,
    changes: &mut Vec<Change>,
) -> Response {
    let result = execute_checked(state, index, operation, changes);
    crate::apply::settle(state, index, result, changes)
}

fn put_topic(state: &mut State, topic: Topic, changes: &mut Vec<Change>) {
    changes.push(Change::TopicPut { topic: topic.clone() });
    state.topics.insert(topic.spec.name.clone(), topic);
}

/// Applies one client's commit batch: all of it, or none of it with the reason.
fn commit_batch(state: &mut State, index: u64, batch: &OffsetBatch, changes: &mut Vec<Change>) -> Option<CommandError> {
    let checked = batch.commits.iter().try_for_each(|commit| {
        check_commit(state, commit)?;
        match state.offsets.get(&commit.key) {
            Some(current) if batch.reject_backwards && commit.offset < current.offset => {
                Err(CommandError::OffsetBackwards {
                    consumer_group: commit.key.consumer_group.clone(),
                    topic: commit.key.topic.clone(),
                    queue_id: commit.key.queue_id,
                    current: current.offset,
                })
            }
            _ => Ok(()),
        }
    });
    if let Err(error) = checked {
        return Some(error);
    }
    for commit in &batch.commits {
        let record = OffsetRecord { offset: commit.offset, committed_at_revision: index };
        state.offsets.insert(commit.key.clone(), record);
        changes.push(Change::OffsetPut { key: commit.key.clone(), record });
    }
    None
}

/// A batch's result from the answer remembered under its key: its own result when the key
/// answered a batch, the refusal when it was refused as a whole (an expired sequence, or a key
/// a client reused for another kind of request).
fn batch_result(answer: Response) -> Option<CommandError> {
    match answer {
        Response::OffsetsCommitted { mut results, .. } if results.len() == 1 => results.pop().flatten(),
        Response::Error(error) => Some(error),
        _ => Some(CommandError::InvalidOffsetCommit {
            reason: "the request id already answered a request of another kind".into(),
        }),
    }
}

fn check_commit(state: &State, commit: &OffsetCommit) -> Result<(), CommandError> {
    let key = &commit.key;
    if key.consumer_group.is_empty() || key.consumer_group.len() > limits::NAME_BYTES_MAX {
        return Err(CommandError::InvalidOffsetCommit { reason: "consumer group must be 1..=255 bytes".into() });
    }
    let topic = state.topics.get(&key.topic).ok_or_else(|| CommandError::UnknownTopic { topic: key.topic.clone() })?;
    if key.queue_id >= topic.queue_count() {
        return Err(CommandError::InvalidOffsetCommit {
            reason: format!(
                "queue {} of topic {} does not exist ({} queues)",
                key.queue_id,
                key.topic,
                topic.queue_count()
            ),
        });
    }
    Ok(())
}

fn execute_checked(
    state: &mut State,
    index: u64,
    operation: &TopicOperation,
    changes: &mut Vec<Change>,
) -> Result<Response, CommandError> {
    match operation {
        TopicOperation::Report { group, topics } => {
            validate_report(group, topics)?;
            if !state.groups.contains_key(group) {
                return Err(CommandError::UnknownGroup { group: group.clone() });
            }
            for reported in topics {
                if let Some(topic) = reported_topic(state.topics.get(&reported.name), group, reported, index) {
                    put_topic(state, topic, changes);
                }
            }
            Ok(Response::TopicChanged { revision: index })
        }
        TopicOperation::Create(spec) => {
            validate_spec(state, spec)?;
            if state.topics.contains_key(&spec.name) {
                return Err(CommandError::TopicExists { topic: spec.name.clone() });
            }
            let topic =
                Topic { spec: spec.clone(), create_revision: index, revision: index, origin: TopicOrigin::Operator };
            put_topic(state, topic, changes);
            Ok(Response::TopicChanged { revision: index })
        }
        TopicOperation::Update { spec, expected_revision } => {
            validate_spec(state, spec)?;
            let existing =
                state.topics.get(&spec.name).ok_or_else(|| CommandError::UnknownTopic { topic: spec.name.clone() })?;
            if let Some(expected) = expected_revision
                && *expected != existing.revision
            {
                return Err(CommandError::StaleTopicRevision { topic: spec.name.clone(), current: existing.revision });
            }
            let topic = Topic {
                spec: spec.clone(),
                create_revision: existing.create_revision,
                revision: index,
                origin: existing.origin.clone(),
            };
            put_topic(state, topic, changes);
            Ok(Response::TopicChanged { revision: index })
        }
        TopicOperation::Delete { name, force } => {
            if !state.topics.contains_key(name) {
                return Err(CommandError::UnknownTopic { topic: name.clone() });
            }
            let consumers = state.consumers_of(name);
            if !consumers.is_empty() && !force {
                return Err(CommandError::TopicHasConsumers {
                    topic: name.clone(),
                    consumer_groups: consumers.len() as u64,
                });
            }
            let held: Vec<OffsetKey> = state.offsets.keys().filter(|key| key.topic == *name).cloned().collect();
            for key in held {
                state.offsets.remove(&key);
                changes.push(Change::OffsetDelete { key });
            }
            state.topics.remove(name);
            changes.push(Change::TopicDelete { name: name.clone() });
            Ok(Response::TopicChanged { revision: index })
        }
        TopicOperation::CommitOffsets { batches } => {
            let mut results = Vec::with_capacity(batches.len());
            for batch in batches {
                if let Some(answer) = batch.request_id.as_ref().and_then(|id| crate::apply::answered(state, id)) {
                    results.push(batch_result(answer));
                    continue;
                }
                let result = commit_batch(state, index, batch, changes);
                if let Some(request_id) = &batch.request_id {
                    let answer = Response::OffsetsCommitted { revision: index, results: vec![result.clone()] };
                    crate::apply::remember(state, index, request_id, &answer, changes);
                }
                results.push(result);
            }
            Ok(Response::OffsetsCommitted { revision: index, results })
        }
        TopicOperation::ResetOffsets { consumer_group, topic, to } => {
            if consumer_group.is_empty() || consumer_group.len() > limits::NAME_BYTES_MAX {
                return Err(CommandError::InvalidOffsetCommit {
                    reason: "consumer group must be 1..=255 bytes".into(),
                });
            }
            let queue_count = state
                .topics
                .get(topic)
                .ok_or_else(|| CommandError::UnknownTopic { topic: topic.clone() })?
                .queue_count();
            let offset = match to {
                ResetTarget::Earliest => 0,
                ResetTarget::Offset(offset) => *offset,
            };
            let mut queues_reset = 0;
            for queue_id in 0..queue_count {
                let key = OffsetKey { consumer_group: consumer_group.clone(), topic: topic.clone(), queue_id };
                let record = OffsetRecord { offset, committed_at_revision: index };
                state.offsets.insert(key.clone(), record);
                changes.push(Change::OffsetPut { key, record });
                queues_reset += 1;
            }
            Ok(Response::OffsetsReset { revision: index, queues_reset })
        }
    }
}
