//! Operating errors -> gRPC statuses with a machine-readable reason in `pharos-error`.

use pharos_meta::CommandError;
use pharos_proto::{InvalidRequest, metadata};
use pharos_replication::NodeError;
use tonic::{Code, Status};

/// Longest status message sent, in bytes. Messages quote what the caller sent (a name, a
/// value); an unbounded quote would come back whole in the `grpc-message` header and break
/// clients with a metadata size limit (gRPC C-core's is 8 KiB).
pub const STATUS_MESSAGE_BYTES_MAX: usize = 1024;
/// Longest quote of caller input inside a message, in characters.
const QUOTE_CHARS_MAX: usize = 64;

/// `text` cut to at most `max` bytes on a character boundary, saying how much was cut.
fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

/// Caller input quoted in a message: at most `QUOTE_CHARS_MAX` characters.
pub fn bounded(input: &str) -> String {
    match input.char_indices().nth(QUOTE_CHARS_MAX) {
        None => input.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &input[..end], input.len()),
    }
}

/// A status with `reason` in `pharos-error` and a message of at most `STATUS_MESSAGE_BYTES_MAX`.
pub fn with_reason(code: Code, reason: &'static str, message: impl Into<String>) -> Status {
    let mut status = Status::new(code, cut(message.into(), STATUS_MESSAGE_BYTES_MAX));
    status.metadata_mut().insert(metadata::ERROR_REASON, reason.parse().expect("ascii reason"));
    status
}

pub fn invalid_request(error: InvalidRequest) -> Status {
    with_reason(Code::InvalidArgument, "INVALID_ARGUMENT", error.to_string())
}

pub fn node_error(error: NodeError) -> Status {
    match &error {
        NodeError::NotLeader { leader_id, leader_client_addr } => {
            let mut status = with_reason(Code::FailedPrecondition, "NOT_LEADER", error.to_string());
            if let Some(leader_id) = leader_id {
                status.metadata_mut().insert(metadata::LEADER_ID, (*leader_id).into());
            }
            if let Some(address) = leader_client_addr.as_ref().and_then(|address| address.parse().ok()) {
                status.metadata_mut().insert(metadata::LEADER_CLIENT_ADDR, address);
            }
            status
        }
        NodeError::Unknown(_) => with_reason(Code::Unavailable, "UNKNOWN_OUTCOME", error.to_string()),
        NodeError::NoQuorum(_) => with_reason(Code::Unavailable, "NO_QUORUM", error.to_string()),
        NodeError::InvalidMembership(_) => {
            with_reason(Code::FailedPrecondition, "INVALID_MEMBERSHIP", error.to_string())
        }
        NodeError::Stopped(_) => with_reason(Code::Unavailable, "STOPPED", error.to_string()),
        // Aborted, not DEADLINE_EXCEEDED: that code reads as the caller's own deadline.
        NodeError::Timeout(_) => with_reason(Code::Aborted, "TIMEOUT", error.to_string()),
        NodeError::Fenced { generation } => {
            let mut status = with_reason(Code::FailedPrecondition, "FENCED", error.to_string());
            status.metadata_mut().insert(metadata::GENERATION, (*generation).into());
            status
        }
    }
}

/// A refused command. Stale-epoch refusals carry the current value in `pharos-current`.
pub fn command_error(error: CommandError) -> Status {
    let (code, reason, current) = match &error {
        CommandError::KeyEmpty
        | CommandError::KeyTooLarge { .. }
        | CommandError::ValueTooLarge { .. }
        | CommandError::ClientIdTooLarge { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT", None),
        CommandError::InvalidRegistration { .. } => (Code::InvalidArgument, "INVALID_REGISTRATION", None),
        CommandError::InvalidSyncStateSet { .. } => (Code::InvalidArgument, "INVALID_SYNC_STATE_SET", None),
        CommandError::SequenceExpired { .. } => (Code::FailedPrecondition, "SEQUENCE_EXPIRED", None),
        CommandError::UnknownBroker { .. } => (Code::NotFound, "UNKNOWN_BROKER", None),
        CommandError::UnknownGroup { .. } => (Code::NotFound, "UNKNOWN_GROUP", None),
        CommandError::StaleBrokerEpoch { current, .. } => {
            (Code::FailedPrecondition, "STALE_BROKER_EPOCH", Some(*current))
        }
        CommandError::StaleMasterEpoch { current, .. } => {
            (Code::FailedPrecondition, "STALE_MASTER_EPOCH", Some(*current))
        }
        CommandError::StaleSyncStateEpoch { current, .. } => {
            (Code::FailedPrecondition, "STALE_SYNC_STATE_EPOCH", Some(*current))
        }
        CommandError::DuplicateRegistration { broker_id, .. } => {
            (Code::AlreadyExists, "DUPLICATE_REGISTRATION", Some(*broker_id))
        }
        CommandError::BrokerNotActive { .. } => (Code::FailedPrecondition, "BROKER_NOT_ACTIVE", None),
        CommandError::NotMaster { master_broker_id, .. } => (Code::FailedPrecondition, "NOT_MASTER", *master_broker_id),
        CommandError::InvalidTopic { .. } => (Code::InvalidArgument, "INVALID_TOPIC", None),
        CommandError::StaleTopicRevision { current, .. } => {
            (Code::FailedPrecondition, "STALE_TOPIC_REVISION", Some(*current))
        }
        CommandError::UnknownTopic { .. } => (Code::NotFound, "UNKNOWN_TOPIC", None),
        CommandError::TopicExists { .. } => (Code::AlreadyExists, "TOPIC_EXISTS", None),
        CommandError::TopicHasConsumers { .. } => (Code::FailedPrecondition, "TOPIC_HAS_CONSUMERS", None),
        CommandError::OffsetBackwards { current, .. } => (Code::FailedPrecondition, "OFFSET_BACKWARDS", Some(*current)),
        CommandError::InvalidOffsetCommit { .. } => (Code::InvalidArgument, "INVALID_OFFSET_COMMIT", None),
        CommandError::InvalidDr { .. } => (Code::FailedPrecondition, "INVALID_DR", None),
        CommandError::StaleDrState { current } => (Code::FailedPrecondition, "STALE_DR_STATE", Some(*current)),
        CommandError::DrOperationInProgress { operation_id } => {
            (Code::FailedPrecondition, "DR_OPERATION_IN_PROGRESS", Some(*operation_id))
        }
        CommandError::StaleDrOperation { current, .. } => (Code::FailedPrecondition, "STALE_DR_OPERATION", *current),
        CommandError::StaleGeneration { current } => (Code::FailedPrecondition, "STALE_GENERATION", Some(*current)),
        // Only the coordinator proposes collections; an operator never sees these.
        CommandError::BrokerNotCollectable { .. } => (Code::FailedPrecondition, "BROKER_NOT_COLLECTABLE", None),
        CommandError::CollectionSize { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT", None),
    };
    let mut status = with_reason(code, reason, error.to_string());
    if let Some(current) = current {
        status.metadata_mut().insert(metadata::CURRENT, current.into());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_character_boundary_and_say_how_much_went() {
        let long = format!("{}é", "a".repeat(STATUS_MESSAGE_BYTES_MAX - 1));
        let status = with_reason(Code::InvalidArgument, "INVALID_ARGUMENT", long);
        assert_eq!(status.message(), format!("{}… (2 bytes cut)", "a".repeat(STATUS_MESSAGE_BYTES_MAX - 1)));
        let short = with_reason(Code::InvalidArgument, "INVALID_ARGUMENT", "topic x is unknown");
        assert_eq!(short.message(), "topic x is unknown");
    }

    #[test]
    fn quotes_of_caller_input_are_bounded() {
        assert_eq!(bounded("orders"), "orders");
        assert_eq!(bounded(&"x".repeat(100_000)), format!("{}… (100000 bytes)", "x".repeat(64)));
        assert_eq!(bounded(&"é".repeat(65)), format!("{}… (130 bytes)", "é".repeat(64)));
    }
}
