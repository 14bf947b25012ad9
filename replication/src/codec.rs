//! openraft types <-> `pharos.v1` wire messages, and the on-disk encoding of log entries.
//!
//! Log entries are stored as a format-version byte followed by the protobuf `pharos.v1.Entry`;
//! the command inside is the pharos-meta envelope. Decoding validates: a missing field, an
//! unknown payload or an unknown command kind is an error, never a default.

use std::collections::{BTreeMap, BTreeSet};

use pharos_proto::v1;
use prost::Message;

use crate::types::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, NodeInfo, StoredMembership, TypeConfig, Vote,
};

/// Version byte in front of every log entry, vote and marker this crate persists.
pub const FORMAT_VERSION: u8 = 1;

/// A wire or disk message that does not describe a valid Raft object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
}

impl WireError {
    fn malformed(what: &'static str, reason: impl ToString) -> Self {
        WireError::Malformed { what, reason: reason.to_string() }
    }
}

impl From<WireError> for std::io::Error {
    fn from(error: WireError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }
}

impl From<WireError> for tonic::Status {
    fn from(error: WireError) -> Self {
        tonic::Status::invalid_argument(error.to_string())
    }
}

pub fn frame(message: &impl Message) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + message.encoded_len());
    bytes.push(FORMAT_VERSION);
    message.encode(&mut bytes).expect("Vec has unbounded capacity");
    bytes
}

pub fn unframe<M: Message + Default>(what: &'static str, bytes: &[u8]) -> Result<M, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::malformed(what, "empty"))?;
    if version != FORMAT_VERSION {
        return Err(WireError::malformed(what, format!("format version {version}, this build reads {FORMAT_VERSION}")));
    }
    M::decode(body).map_err(|error| WireError::malformed(what, error))
}

/// Log ids carry the term alone (standard leader ids: one leader per term). `node_id` is
/// written as 0 and ignored when read: data written before ADR 0014 carries the proposing
/// leader's id there, which a term already determines in any history with one leader per term.
pub fn log_id_to_wire(log_id: &LogId) -> v1::LogId {
    v1::LogId { term: log_id.leader_id.term, node_id: 0, index: log_id.index }
}

pub fn log_id_from_wire(log_id: v1::LogId) -> LogId {
    LogId::new(CommittedLeaderId::new(log_id.term), log_id.index)
}

pub fn option_log_id_to_wire(log_id: Option<&LogId>) -> Option<v1::LogId> {
    log_id.map(log_id_to_wire)
}

pub fn option_log_id_from_wire(log_id: Option<v1::LogId>) -> Option<LogId> {
    log_id.map(log_id_from_wire)
}

pub fn vote_to_wire(vote: &Vote) -> v1::Vote {
    v1::Vote { term: vote.leader_id.term, node_id: vote.leader_id.voted_for, committed: vote.committed }
}

pub fn vote_from_wire(vote: Option<v1::Vote>) -> Result<Vote, WireError> {
    let vote = vote.ok_or(WireError::Missing("vote"))?;
    Ok(if vote.committed { Vote::new_committed(vote.term, vote.node_id) } else { Vote::new(vote.term, vote.node_id) })
}

pub fn membership_to_wire(membership: &Membership) -> v1::Membership {
    v1::Membership {
        configs: membership
            .get_joint_config()
            .iter()
            .map(|voters| v1::VoterSet { node_ids: voters.iter().copied().collect() })
            .collect(),
        nodes: membership
            .nodes()
            .map(|(node_id, info)| v1::Member { node_id: *node_id, info: Some(info.into()) })
            .collect(),
    }
}

pub fn membership_from_wire(membership: Option<v1::Membership>) -> Result<Membership, WireError> {
    let membership = membership.ok_or(WireError::Missing("membership"))?;
    let configs: Vec<BTreeSet<u64>> =
        membership.configs.into_iter().map(|set| set.node_ids.into_iter().collect()).collect();
    let mut nodes = BTreeMap::new();
    for member in membership.nodes {
        let info: NodeInfo = member.info.ok_or(WireError::Missing("membership.nodes.info"))?.into();
        nodes.insert(member.node_id, info);
    }
    Membership::new(configs, nodes).map_err(|error| WireError::malformed("membership", error))
}

pub fn stored_membership_to_wire(stored: &StoredMembership) -> (Option<v1::LogId>, v1::Membership) {
    (option_log_id_to_wire(stored.log_id().as_ref()), membership_to_wire(stored.membership()))
}

pub fn entry_to_wire(entry: &Entry) -> v1::Entry {
    use v1::entry::Payload;
    let payload = match &entry.payload {
        EntryPayload::Blank => Payload::Blank(v1::Blank {}),
        EntryPayload::Normal(command) => Payload::Command(pharos_meta::codec::encode_command(command)),
        EntryPayload::Membership(membership) => Payload::Membership(membership_to_wire(membership)),
    };
    v1::Entry { log_id: Some(log_id_to_wire(&entry.log_id)), payload: Some(payload) }
}

pub fn entry_from_wire(entry: v1::Entry) -> Result<Entry, WireError> {
    use v1::entry::Payload;
    let log_id = log_id_from_wire(entry.log_id.ok_or(WireError::Missing("entry.log_id"))?);
    let payload = match entry.payload.ok_or(WireError::malformed("entry", "unknown or missing payload kind"))? {
        Payload::Blank(_) => EntryPayload::Blank,
        Payload::Command(bytes) => EntryPayload::Normal(
            pharos_meta::codec::decode_command(&bytes).map_err(|error| WireError::malformed("command", error))?,
        ),
        Payload::Membership(membership) => EntryPayload::Membership(membership_from_wire(Some(membership))?),
    };
    Ok(Entry { log_id, payload })
}

pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    frame(&entry_to_wire(entry))
}

pub fn decode_entry(bytes: &[u8]) -> Result<Entry, WireError> {
    entry_from_wire(unframe("log entry", bytes)?)
}

/// A vote as the log store keeps it (`raft_meta/vote`).
pub fn encode_vote(vote: &Vote) -> Vec<u8> {
    frame(&vote_to_wire(vote))
}

pub fn decode_vote(bytes: &[u8]) -> Result<Vote, WireError> {
    vote_from_wire(Some(unframe("vote", bytes)?))
}

/// A log id as stored: the log's committed and purge markers, the state machine's applied one.
pub fn encode_log_id(log_id: &LogId) -> Vec<u8> {
    frame(&log_id_to_wire(log_id))
}

/// `what` names the marker in errors.
pub fn decode_log_id(what: &'static str, bytes: &[u8]) -> Result<LogId, WireError> {
    unframe(what, bytes).map(log_id_from_wire)
}

pub fn vote_request_to_wire(request: &openraft::raft::VoteRequest<TypeConfig>) -> v1::VoteRequest {
    v1::VoteRequest {
        vote: Some(vote_to_wire(&request.vote)),
        last_log_id: option_log_id_to_wire(request.last_log_id.as_ref()),
        leadership_transfer: request.leadership_transfer,
    }
}

pub fn vote_request_from_wire(request: v1::VoteRequest) -> Result<openraft::raft::VoteRequest<TypeConfig>, WireError> {
    let mut vote_request =
        openraft::raft::VoteRequest::new(vote_from_wire(request.vote)?, option_log_id_from_wire(request.last_log_id));
    vote_request.leadership_transfer = request.leadership_transfer;
    Ok(vote_request)
}

pub fn vote_response_to_wire(response: &openraft::raft::VoteResponse<TypeConfig>) -> v1::VoteResponse {
    v1::VoteResponse {
        vote: Some(vote_to_wire(&response.vote)),
        vote_granted: response.vote_granted,
        last_log_id: option_log_id_to_wire(response.last_log_id.as_ref()),
    }
}

pub fn vote_response_from_wire(
    response: v1::VoteResponse,
) -> Result<openraft::raft::VoteResponse<TypeConfig>, WireError> {
    Ok(openraft::raft::VoteResponse::new(
        vote_from_wire(response.vote)?,
        option_log_id_from_wire(response.last_log_id),
        response.vote_granted,
    ))
}

/// `dr`: the sender's DR announcement (see `dr_promise`).
pub fn append_request_to_wire(
    request: &openraft::raft::AppendEntriesRequest<TypeConfig>,
    dr: v1::DrAnnouncement,
) -> v1::AppendEntriesRequest {
    v1::AppendEntriesRequest {
        vote: Some(vote_to_wire(&request.vote)),
        prev_log_id: option_log_id_to_wire(request.prev_log_id.as_ref()),
        entries: request.entries.iter().map(entry_to_wire).collect(),
        leader_commit: option_log_id_to_wire(request.leader_commit.as_ref()),
        sent_at_ms: unix_ms(),
        dr: Some(dr),
    }
}

/// Milliseconds since the Unix epoch on this node's wall clock.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

pub fn append_request_from_wire(
    request: v1::AppendEntriesRequest,
) -> Result<openraft::raft::AppendEntriesRequest<TypeConfig>, WireError> {
    Ok(openraft::raft::AppendEntriesRequest {
        vote: vote_from_wire(request.vote)?,
        prev_log_id: option_log_id_from_wire(request.prev_log_id),
        entries: request.entries.into_iter().map(entry_from_wire).collect::<Result<_, _>>()?,
        leader_commit: option_log_id_from_wire(request.leader_commit),
    })
}

pub fn append_response_to_wire(
    response: &openraft::raft::AppendEntriesResponse<TypeConfig>,
) -> v1::AppendEntriesResponse {
    use openraft::raft::AppendEntriesResponse as Response;
    use v1::append_entries_response::Result as Wire;
    let result = match response {
        Response::Success => Wire::Success(v1::Blank {}),
        Response::PartialSuccess(last) => {
            Wire::PartialSuccess(v1::PartialSuccess { last_log_id: option_log_id_to_wire(last.as_ref()) })
        }
        Response::Conflict => Wire::Conflict(v1::Conflict { conflict_log_id: None }),
        Response::HigherVote(vote) => Wire::HigherVote(vote_to_wire(vote)),
    };
    v1::AppendEntriesResponse { result: Some(result) }
}

pub fn append_response_from_wire(
    response: v1::AppendEntriesResponse,
) -> Result<openraft::raft::AppendEntriesResponse<TypeConfig>, WireError> {
    use openraft::raft::AppendEntriesResponse as Response;
    use v1::append_entries_response::Result as Wire;
    Ok(match response.result.ok_or(WireError::Missing("append_entries_response.result"))? {
        Wire::Success(_) => Response::Success,
        Wire::PartialSuccess(partial) => Response::PartialSuccess(option_log_id_from_wire(partial.last_log_id)),
        Wire::Conflict(_) => Response::Conflict,
        Wire::HigherVote(vote) => Response::HigherVote(vote_from_wire(Some(vote))?),
    })
}

/// One result of a pipelined append, as the follower reports it on the stream.
pub fn stream_result_to_wire(result: &openraft::raft::StreamAppendResult<TypeConfig>) -> v1::AppendEntriesResponse {
    use openraft::raft::StreamAppendError;
    use v1::append_entries_response::Result as Wire;
    let result = match result {
        Ok(last) => Wire::PartialSuccess(v1::PartialSuccess { last_log_id: option_log_id_to_wire(last.as_ref()) }),
        Err(StreamAppendError::Conflict(log_id)) => {
            Wire::Conflict(v1::Conflict { conflict_log_id: Some(log_id_to_wire(log_id)) })
        }
        Err(StreamAppendError::HigherVote(vote)) => Wire::HigherVote(vote_to_wire(vote)),
    };
    v1::AppendEntriesResponse { result: Some(result) }
}

pub fn stream_result_from_wire(
    response: v1::AppendEntriesResponse,
) -> Result<openraft::raft::StreamAppendResult<TypeConfig>, WireError> {
    use openraft::raft::StreamAppendError;
    use v1::append_entries_response::Result as Wire;
    Ok(match response.result.ok_or(WireError::Missing("append_entries_response.result"))? {
        Wire::Success(_) => return Err(WireError::malformed("stream append result", "bare success")),
        Wire::PartialSuccess(partial) => Ok(option_log_id_from_wire(partial.last_log_id)),
        Wire::Conflict(conflict) => Err(StreamAppendError::Conflict(log_id_from_wire(
            conflict.conflict_log_id.ok_or(WireError::Missing("conflict.conflict_log_id"))?,
        ))),
        Wire::HigherVote(vote) => Err(StreamAppendError::HigherVote(vote_from_wire(Some(vote))?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_disk_format() {
        let log_id = LogId::new(CommittedLeaderId::new(3), 17);
        let command = pharos_meta::Command {
            request_id: None,
            issued_at_ms: 5,
            actor: String::new(),
            operation: pharos_meta::Operation::Put { key: b"k".to_vec(), value: b"v".to_vec() },
        };
        for payload in [
            EntryPayload::Blank,
            EntryPayload::Normal(command),
            EntryPayload::Membership(
                Membership::new(
                    vec![[1, 2, 3].into_iter().collect()],
                    (1..=4)
                        .map(|id| (id, NodeInfo { zone: format!("z{id}"), ..NodeInfo::default() }))
                        .collect::<BTreeMap<_, _>>(),
                )
                .expect("valid membership"),
            ),
        ] {
            let entry = Entry { log_id, payload };
            let decoded = decode_entry(&encode_entry(&entry)).expect("decodes");
            assert_eq!(decoded, entry);
        }
    }

    #[test]
    fn log_ids_and_votes_written_under_advanced_leader_ids_still_decode() {
        // Before ADR 0014 a log id carried the proposing leader's node id (here 2); the bytes
        // of such a log id and vote, pinned, decode to the same term, index and vote.
        let old_log_id = [0x08, 0x03, 0x10, 0x02, 0x18, 0x11];
        let log_id = log_id_from_wire(v1::LogId::decode(&old_log_id[..]).expect("decodes"));
        assert_eq!(log_id, LogId::new(CommittedLeaderId::new(3), 17));
        assert_eq!(log_id_to_wire(&log_id), v1::LogId { term: 3, node_id: 0, index: 17 });
        let old_vote = [0x08, 0x03, 0x10, 0x02, 0x18, 0x01];
        let vote = vote_from_wire(Some(v1::Vote::decode(&old_vote[..]).expect("decodes"))).expect("valid");
        assert_eq!(vote, Vote::new_committed(3, 2));
        assert_eq!(vote_to_wire(&vote).encode_to_vec(), old_vote.to_vec(), "votes keep their bytes");
    }

    #[test]
    fn entries_with_unknown_payloads_or_versions_are_refused() {
        let no_payload = frame(&v1::Entry { log_id: Some(v1::LogId::default()), payload: None });
        assert!(decode_entry(&no_payload).is_err());
        let mut wrong_version =
            encode_entry(&Entry { log_id: log_id_from_wire(v1::LogId::default()), payload: EntryPayload::Blank });
        wrong_version[0] = 9;
        assert!(decode_entry(&wrong_version).is_err());
        assert!(decode_entry(&[]).is_err());
    }
}
