//! Byte formats of everything the state machine persists or ships: the command envelope (a Raft
//! log entry's payload), key/value records, idempotency entries and snapshots.
//!
//! Every blob is one format-version byte followed by a protobuf message (DESIGN.md §2). Protobuf
//! lets a later release add fields that an older one skips safely; the version byte lets a release
//! change what a blob means. A command kind this build does not know decodes to
//! [`DecodeError::UnknownCommandKind`]: the node refuses it rather than skipping it (§4).

use prost::Message;

use crate::command::{Command, Compare, Operation, RequestId};
use crate::state::{CommandError, KvRecord, Response, State};

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
        #[prost(oneof = "Operation", tags = "10, 11, 12, 13")]
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
        #[prost(oneof = "ResponseKind", tags = "1, 2, 3, 4, 5")]
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
        pub bytes: u64,
        #[prost(uint64, tag = "3")]
        pub max: u64,
        #[prost(string, tag = "4")]
        pub client_id: String,
        #[prost(uint64, tag = "5")]
        pub sequence: u64,
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
    };
    frame(&record::Command {
        request_id: command
            .request_id
            .as_ref()
            .map(|id| record::RequestId { client_id: id.client_id.clone(), sequence: id.sequence }),
        issued_at_ms: command.issued_at_ms,
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
    };
    Ok(Command {
        request_id: message.request_id.map(|id| RequestId { client_id: id.client_id, sequence: id.sequence }),
        issued_at_ms: message.issued_at_ms,
        operation,
    })
}

// ---- records ----

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

const ERROR_KEY_EMPTY: u32 = 1;
const ERROR_KEY_TOO_LARGE: u32 = 2;
const ERROR_VALUE_TOO_LARGE: u32 = 3;
const ERROR_CLIENT_ID_TOO_LARGE: u32 = 4;
const ERROR_SEQUENCE_EXPIRED: u32 = 5;

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
        Response::Error(error) => {
            let mut message = record::Error::default();
            match error {
                CommandError::KeyEmpty => message.code = ERROR_KEY_EMPTY,
                CommandError::KeyTooLarge { bytes, max } => {
                    (message.code, message.bytes, message.max) = (ERROR_KEY_TOO_LARGE, *bytes, *max)
                }
                CommandError::ValueTooLarge { bytes, max } => {
                    (message.code, message.bytes, message.max) = (ERROR_VALUE_TOO_LARGE, *bytes, *max)
                }
                CommandError::ClientIdTooLarge { bytes, max } => {
                    (message.code, message.bytes, message.max) = (ERROR_CLIENT_ID_TOO_LARGE, *bytes, *max)
                }
                CommandError::SequenceExpired { client_id, sequence, oldest_remembered } => {
                    message.code = ERROR_SEQUENCE_EXPIRED;
                    message.client_id = client_id.clone();
                    message.sequence = *sequence;
                    message.max = *oldest_remembered;
                }
            }
            Kind::Error(message)
        }
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
        Kind::Error(error) => Response::Error(match error.code {
            ERROR_KEY_EMPTY => CommandError::KeyEmpty,
            ERROR_KEY_TOO_LARGE => CommandError::KeyTooLarge { bytes: error.bytes, max: error.max },
            ERROR_VALUE_TOO_LARGE => CommandError::ValueTooLarge { bytes: error.bytes, max: error.max },
            ERROR_CLIENT_ID_TOO_LARGE => CommandError::ClientIdTooLarge { bytes: error.bytes, max: error.max },
            ERROR_SEQUENCE_EXPIRED => CommandError::SequenceExpired {
                client_id: error.client_id,
                sequence: error.sequence,
                oldest_remembered: error.max,
            },
            other => return Err(DecodeError::Malformed(format!("unknown error code {other}"))),
        }),
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
    frame(&record::Snapshot { revision: state.revision, kv, sessions })
}

/// Decodes a snapshot blob into a state (derived indexes rebuilt).
pub fn decode_snapshot(bytes: &[u8]) -> Result<State, DecodeError> {
    let message: record::Snapshot = unframe(bytes)?;
    let mut state = State { revision: message.revision, ..State::default() };
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
