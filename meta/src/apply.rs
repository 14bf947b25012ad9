//! The deterministic transition function.

use crate::command::{Command, Compare, Operation, RequestId};
use crate::limits;
use crate::state::{CommandError, KvRecord, Response, State};

/// What applying one command did: the answer for the client and the record-level changes the
/// store must persist, in the same batch as the applied index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub response: Response,
    pub changes: Vec<Change>,
}

/// One persisted record that changed. The store writes these; it never interprets commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    KvPut {
        key: Vec<u8>,
        record: KvRecord,
    },
    KvDelete {
        key: Vec<u8>,
    },
    SessionEntryPut {
        client_id: String,
        sequence: u64,
        index: u64,
        response: Response,
    },
    SessionEntryDelete {
        client_id: String,
        sequence: u64,
    },
    BrokerPut {
        broker: crate::broker::Broker,
    },
    BrokerDelete {
        broker_id: u64,
    },
    /// A group changed (its record or one of its brokers): watchers get an event.
    GroupPut {
        group: crate::broker::BrokerGroup,
    },
    NextBrokerId {
        next_broker_id: u64,
    },
    TopicPut {
        topic: crate::topic::Topic,
    },
    TopicDelete {
        name: String,
    },
    OffsetPut {
        key: crate::topic::OffsetKey,
        record: crate::topic::OffsetRecord,
    },
    OffsetDelete {
        key: crate::topic::OffsetKey,
    },
    AuditPut {
        record: crate::audit::AuditRecord,
    },
    AuditDelete {
        index: u64,
    },
    /// Boxed: the DR record is far larger than any other change.
    DrPut {
        record: Box<crate::dr::DrRecord>,
    },
    UserPut {
        user: crate::access::User,
    },
    UserDelete {
        name: String,
    },
    /// A subject's policy as it now is.
    PolicyPut {
        subject: String,
        entries: Vec<crate::access::PolicyEntry>,
    },
    PolicyDelete {
        subject: String,
    },
    /// The committed feature level rose to `level`.
    FeatureLevel {
        level: u32,
    },
}

/// Applies `command`, committed at log `index`, to `state`.
///
/// Total: every command gets a response; a refused command changes no data. A command whose
/// request id was already answered returns the remembered answer and changes nothing.
/// The checks of `apply` that need no state, for the leader to run *before* proposing: a
/// request they refuse never takes a log entry, an audit record or a revision (invariant 7:
/// nothing in the log, nothing in the state). `apply` runs the same functions, so an entry
/// proposed anyway (an older leader, a replayed log) is refused the same way.
pub fn validate(operation: &Operation) -> Result<(), CommandError> {
    use crate::broker::BrokerOperation;
    use crate::topic::TopicOperation;
    match operation {
        Operation::Topic(TopicOperation::Create(spec) | TopicOperation::Update { spec, .. }) => {
            crate::topic::validate_spec_shape(spec)
        }
        Operation::Topic(TopicOperation::Delete { name, .. }) => crate::topic::validate_topic_name(name),
        Operation::Topic(TopicOperation::Report { group, topics }) => crate::topic::validate_report(group, topics),
        // Broker ids start at 1 (`State::next_broker_id`): 0 names no broker, ever.
        Operation::Broker(
            BrokerOperation::Fence { broker_id: 0, .. }
            | BrokerOperation::Remove { broker_id: 0 }
            | BrokerOperation::Unregister { broker_id: 0, .. },
        ) => Err(CommandError::UnknownBroker { broker_id: 0 }),
        Operation::Broker(BrokerOperation::Collect { brokers, .. }) => crate::broker::validate_collection(brokers),
        Operation::Acl(operation) => crate::acl::validate(operation),
        _ => Ok(()),
    }
}

pub fn apply(state: &mut State, index: u64, command: &Command) -> Applied {
    assert!(index > state.revision, "log index {index} not above revision {}", state.revision);
    let Some(request_id) = &command.request_id else {
        let mut changes = Vec::new();
        let response = execute(state, index, command, &mut changes);
        crate::audit::record(state, index, command, &response, &mut changes);
        return Applied { response, changes };
    };

    if let Some(response) = answered(state, request_id) {
        return Applied { response, changes: Vec::new() };
    }

    let mut changes = Vec::new();
    let response = execute(state, index, command, &mut changes);
    crate::audit::record(state, index, command, &response, &mut changes);
    remember(state, index, request_id, &response, &mut changes);
    Applied { response, changes }
}

/// The answer a request with `request_id` gets without running: the one remembered for it (a
/// retry), or a refusal of the key itself (too long a client id, or a sequence older than the
/// client's window, whose answer may have been forgotten). `None`: the request runs, and its
/// answer is then [`remember`]ed.
pub(crate) fn answered(state: &State, request_id: &RequestId) -> Option<Response> {
    if request_id.client_id.len() > limits::CLIENT_ID_BYTES_MAX {
        let error = CommandError::ClientIdTooLarge {
            bytes: request_id.client_id.len() as u64,
            max: limits::CLIENT_ID_BYTES_MAX as u64,
        };
        return Some(Response::Error(error));
    }
    if let Some(response) = state.remembered(request_id) {
        return Some(response.clone());
    }
    let session = state.sessions.get(&request_id.client_id)?;
    let full = session.responses.len() >= limits::SESSION_RESPONSES_MAX;
    match session.responses.first_key_value() {
        Some((&oldest, _)) if full && request_id.sequence < oldest => {
            Some(Response::Error(CommandError::SequenceExpired {
                client_id: request_id.client_id.clone(),
                sequence: request_id.sequence,
                oldest_remembered: oldest,
            }))
        }
        _ => None,
    }
}

fn execute(state: &mut State, index: u64, command: &Command, changes: &mut Vec<Change>) -> Response {
    // The leader proposes nothing the committed level does not allow; an entry proposed anyway
    // (an older leader, a replayed log) is refused here, the same way on every replica.
    let required = crate::feature::required_level(&command.operation);
    let committed = state.committed_feature_level();
    if required > committed {
        return Response::Error(CommandError::FeatureLevelTooLow { required, committed });
    }
    match &command.operation {
        Operation::Noop | Operation::RecordMembershipChange(_) => Response::Noop { revision: state.revision },
        Operation::Put { key, value } => {
            if let Err(error) = check_key(key).and_then(|()| check_value(value)) {
                return Response::Error(error);
            }
            let created = put(state, index, key, value, changes);
            Response::Put { revision: index, created }
        }
        Operation::Delete { key } => {
            if let Err(error) = check_key(key) {
                return Response::Error(error);
            }
            let deleted = state.kv.remove(key).is_some();
            if deleted {
                state.revision = index;
                changes.push(Change::KvDelete { key: key.clone() });
            }
            Response::Delete { revision: state.revision, deleted }
        }
        Operation::CompareAndSet { key, compare, value } => {
            if let Err(error) = check_key(key).and_then(|()| check_value(value)) {
                return Response::Error(error);
            }
            let current = state.kv.get(key);
            let succeeded = match (compare, current) {
                (Compare::Absent, None) => true,
                (Compare::Value(expected), Some(record)) => record.value == *expected,
                (Compare::ModRevision(expected), Some(record)) => record.mod_revision == *expected,
                _ => false,
            };
            if !succeeded {
                return Response::CompareAndSet {
                    succeeded,
                    revision: state.revision,
                    current_mod_revision: current.map(|record| record.mod_revision),
                };
            }
            put(state, index, key, value, changes);
            Response::CompareAndSet { succeeded, revision: index, current_mod_revision: Some(index) }
        }
        Operation::Broker(operation) => crate::broker::execute(state, index, command.issued_at_ms, operation, changes),
        Operation::Topic(operation) => crate::topic::execute(state, index, operation, changes),
        Operation::Dr(dr_command) => crate::dr::execute(state, index, command.issued_at_ms, dr_command, changes),
        Operation::Acl(operation) => crate::acl::execute(state, index, operation, changes),
        Operation::SetFeatureLevel { level } => {
            if *level < committed {
                return Response::Error(CommandError::FeatureLevelLowering { requested: *level, committed });
            }
            if *level != state.feature_level {
                state.feature_level = *level;
                state.revision = index;
                changes.push(Change::FeatureLevel { level: *level });
            }
            Response::FeatureLevel { level: *level, revision: state.revision }
        }
    }
}

/// Finishes a checked operation: a refusal drops its partial changes; an accepted one that
/// changed data moves the revision to `index`.
pub(crate) fn settle(
    state: &mut State,
    index: u64,
    result: Result<Response, CommandError>,
    changes: &mut Vec<Change>,
) -> Response {
    match result {
        Ok(response) => {
            if !changes.is_empty() {
                state.revision = index;
            }
            response
        }
        Err(error) => {
            changes.clear();
            Response::Error(error)
        }
    }
}

/// Writes `key = value` at `index`; returns whether the key was created.
fn put(state: &mut State, index: u64, key: &[u8], value: &[u8], changes: &mut Vec<Change>) -> bool {
    let record = match state.kv.get(key) {
        Some(previous) => KvRecord {
            value: value.to_vec(),
            create_revision: previous.create_revision,
            mod_revision: index,
            version: previous.version + 1,
        },
        None => KvRecord { value: value.to_vec(), create_revision: index, mod_revision: index, version: 1 },
    };
    let created = record.version == 1;
    state.kv.insert(key.to_vec(), record.clone());
    state.revision = index;
    changes.push(Change::KvPut { key: key.to_vec(), record });
    created
}

fn check_key(key: &[u8]) -> Result<(), CommandError> {
    if key.is_empty() {
        return Err(CommandError::KeyEmpty);
    }
    if key.len() > limits::KEY_BYTES_MAX {
        return Err(CommandError::KeyTooLarge { bytes: key.len() as u64, max: limits::KEY_BYTES_MAX as u64 });
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), CommandError> {
    if value.len() > limits::VALUE_BYTES_MAX {
        return Err(CommandError::ValueTooLarge { bytes: value.len() as u64, max: limits::VALUE_BYTES_MAX as u64 });
    }
    Ok(())
}

/// Records `response` as the answer to `request_id`, evicting the oldest answers of the client
/// and, when too many clients are remembered, the least recently active client.
pub(crate) fn remember(
    state: &mut State,
    index: u64,
    request_id: &RequestId,
    response: &Response,
    changes: &mut Vec<Change>,
) {
    let client_id = &request_id.client_id;
    let session = state.sessions.entry(client_id.clone()).or_default();
    let previous_activity = session.last_active_index();
    session.responses.insert(request_id.sequence, (index, response.clone()));
    changes.push(Change::SessionEntryPut {
        client_id: client_id.clone(),
        sequence: request_id.sequence,
        index,
        response: response.clone(),
    });
    while session.responses.len() > crate::limits::SESSION_RESPONSES_MAX {
        if let Some((sequence, _)) = session.responses.pop_first() {
            changes.push(Change::SessionEntryDelete { client_id: client_id.clone(), sequence });
        }
    }
    state.session_activity.remove(&(previous_activity, client_id.clone()));
    state.session_activity.insert((index, client_id.clone()));

    while state.sessions.len() > crate::limits::SESSIONS_MAX {
        let Some((_, evicted)) = state.session_activity.pop_first() else { break };
        if let Some(session) = state.sessions.remove(&evicted) {
            for sequence in session.responses.keys() {
                changes.push(Change::SessionEntryDelete { client_id: evicted.clone(), sequence: *sequence });
            }
        }
    }
}
