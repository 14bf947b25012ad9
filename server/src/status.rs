//! Operating errors -> gRPC statuses with a machine-readable reason in `pharos-error`.

use pharos_meta::CommandError;
use pharos_proto::v1::ErrorReason as Reason;
use pharos_proto::{ErrorDetail, metadata};
use pharos_replication::NodeError;
use tonic::{Code, Status};

use crate::convert::InvalidRequest;

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
pub fn with_reason(code: Code, reason: Reason, message: impl Into<String>) -> Status {
    let mut status = Status::new(code, cut(message.into(), STATUS_MESSAGE_BYTES_MAX));
    status
        .metadata_mut()
        .insert(metadata::ERROR_REASON, tonic::metadata::MetadataValue::from_static(reason.code_name()));
    status
}

/// `status` with `detail` in its own metadata key.
pub fn with_detail(mut status: Status, detail: ErrorDetail) -> Status {
    let (key, value) = detail.key_value();
    status.metadata_mut().insert(key, value.into());
    status
}

pub fn invalid_request(error: InvalidRequest) -> Status {
    with_reason(Code::InvalidArgument, Reason::InvalidArgument, error.to_string())
}

pub fn node_error(error: NodeError) -> Status {
    match &error {
        NodeError::NotLeader { leader_id, leader_client_addr } => {
            let mut status = with_reason(Code::FailedPrecondition, Reason::NotLeader, error.to_string());
            if let Some(leader_id) = leader_id {
                status = with_detail(status, ErrorDetail::LeaderId(*leader_id));
            }
            if let Some(address) = leader_client_addr.as_ref().and_then(|address| address.parse().ok()) {
                status.metadata_mut().insert(metadata::LEADER_CLIENT_ADDR, address);
            }
            status
        }
        NodeError::Unknown(_) => with_reason(Code::Unavailable, Reason::UnknownOutcome, error.to_string()),
        NodeError::NoQuorum(_) => with_reason(Code::Unavailable, Reason::NoQuorum, error.to_string()),
        NodeError::InvalidMembership(_) => {
            with_reason(Code::FailedPrecondition, Reason::InvalidMembership, error.to_string())
        }
        NodeError::Stopped(_) => with_reason(Code::Unavailable, Reason::Stopped, error.to_string()),
        // Aborted, not DEADLINE_EXCEEDED: that code reads as the caller's own deadline.
        NodeError::Timeout(_) => with_reason(Code::Aborted, Reason::Timeout, error.to_string()),
        NodeError::Fenced { generation } => with_detail(
            with_reason(Code::FailedPrecondition, Reason::Fenced, error.to_string()),
            ErrorDetail::Generation(*generation),
        ),
        NodeError::FeatureLevelTooLow { .. } => {
            with_reason(Code::FailedPrecondition, Reason::FeatureLevelTooLow, error.to_string())
        }
        NodeError::FeatureLevelNotSupported { .. } => {
            with_reason(Code::FailedPrecondition, Reason::FeatureLevelNotSupported, error.to_string())
        }
    }
}

/// A refused command, with its typed detail (the current epoch, revision, ...) where it has one.
pub fn command_error(error: CommandError) -> Status {
    use ErrorDetail as Detail;
    let (code, reason, detail) = match &error {
        CommandError::KeyEmpty
        | CommandError::KeyTooLarge { .. }
        | CommandError::ValueTooLarge { .. }
        | CommandError::ClientIdTooLarge { .. }
        | CommandError::CollectionSize { .. } => (Code::InvalidArgument, Reason::InvalidArgument, None),
        CommandError::InvalidRegistration { .. } => (Code::InvalidArgument, Reason::InvalidRegistration, None),
        CommandError::InvalidSyncStateSet { .. } => (Code::InvalidArgument, Reason::InvalidSyncStateSet, None),
        CommandError::SequenceExpired { .. } => (Code::FailedPrecondition, Reason::SequenceExpired, None),
        CommandError::UnknownBroker { .. } => (Code::NotFound, Reason::UnknownBroker, None),
        CommandError::UnknownGroup { .. } => (Code::NotFound, Reason::UnknownGroup, None),
        CommandError::StaleBrokerEpoch { current, .. } => {
            (Code::FailedPrecondition, Reason::StaleBrokerEpoch, Some(Detail::CurrentEpoch(*current)))
        }
        CommandError::StaleMasterEpoch { current, .. } => {
            (Code::FailedPrecondition, Reason::StaleMasterEpoch, Some(Detail::CurrentEpoch(*current)))
        }
        CommandError::StaleSyncStateEpoch { current, .. } => {
            (Code::FailedPrecondition, Reason::StaleSyncStateEpoch, Some(Detail::CurrentEpoch(*current)))
        }
        CommandError::DuplicateRegistration { broker_id, .. } => {
            (Code::AlreadyExists, Reason::DuplicateRegistration, Some(Detail::BrokerId(*broker_id)))
        }
        CommandError::BrokerNotActive { .. } => (Code::FailedPrecondition, Reason::BrokerNotActive, None),
        CommandError::NotMaster { master_broker_id, .. } => {
            (Code::FailedPrecondition, Reason::NotMaster, master_broker_id.map(Detail::BrokerId))
        }
        CommandError::InvalidTopic { .. } => (Code::InvalidArgument, Reason::InvalidTopic, None),
        CommandError::StaleTopicRevision { current, .. } => {
            (Code::FailedPrecondition, Reason::StaleTopicRevision, Some(Detail::CurrentRevision(*current)))
        }
        CommandError::UnknownTopic { .. } => (Code::NotFound, Reason::UnknownTopic, None),
        CommandError::TopicExists { .. } => (Code::AlreadyExists, Reason::TopicExists, None),
        CommandError::TopicHasConsumers { .. } => (Code::FailedPrecondition, Reason::TopicHasConsumers, None),
        CommandError::OffsetBackwards { current, .. } => {
            (Code::FailedPrecondition, Reason::OffsetBackwards, Some(Detail::CurrentOffset(*current)))
        }
        CommandError::InvalidOffsetCommit { .. } => (Code::InvalidArgument, Reason::InvalidOffsetCommit, None),
        CommandError::InvalidDr { .. } => (Code::FailedPrecondition, Reason::InvalidDr, None),
        CommandError::StaleDrState { current } => {
            (Code::FailedPrecondition, Reason::StaleDrState, Some(Detail::CurrentDrStateId(*current)))
        }
        CommandError::DrOperationInProgress { operation_id } => {
            (Code::FailedPrecondition, Reason::DrOperationInProgress, Some(Detail::OperationId(*operation_id)))
        }
        CommandError::StaleDrOperation { current, .. } => {
            (Code::FailedPrecondition, Reason::StaleDrOperation, current.map(Detail::OperationId))
        }
        CommandError::StaleGeneration { current } => {
            (Code::FailedPrecondition, Reason::StaleGeneration, Some(Detail::Generation(*current)))
        }
        // Only the coordinator proposes collections; an operator never sees these.
        CommandError::BrokerNotCollectable { .. } => (Code::FailedPrecondition, Reason::BrokerNotCollectable, None),
        CommandError::InvalidAcl { .. } => (Code::InvalidArgument, Reason::InvalidAcl, None),
        CommandError::UnknownUser { .. } => (Code::NotFound, Reason::UnknownUser, None),
        CommandError::UserExists { .. } => (Code::AlreadyExists, Reason::UserExists, None),
        CommandError::TooManyUsers { .. } | CommandError::TooManyPolicyEntries { .. } => {
            (Code::ResourceExhausted, Reason::AclLimit, None)
        }
        CommandError::TokenInUse => (Code::AlreadyExists, Reason::TokenInUse, None),
        CommandError::LastSuperUser { .. } => (Code::FailedPrecondition, Reason::LastSuperUser, None),
        CommandError::UnknownPolicyEntry { .. } => (Code::NotFound, Reason::UnknownPolicyEntry, None),
        CommandError::AclBootstrapped => (Code::FailedPrecondition, Reason::AclBootstrapped, None),
        CommandError::MasterDeclared { .. } => (Code::FailedPrecondition, Reason::MasterDeclared, None),
        CommandError::MasterStillActive { master_broker_id, .. } => {
            (Code::FailedPrecondition, Reason::MasterStillActive, Some(Detail::BrokerId(*master_broker_id)))
        }
        CommandError::FeatureLevelTooLow { .. } => (Code::FailedPrecondition, Reason::FeatureLevelTooLow, None),
        CommandError::FeatureLevelLowering { .. } => (Code::FailedPrecondition, Reason::FeatureLevelLowering, None),
    };
    let status = with_reason(code, reason, error.to_string());
    match detail {
        Some(detail) => with_detail(status, detail),
        None => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_character_boundary_and_say_how_much_went() {
        let long = format!("{}é", "a".repeat(STATUS_MESSAGE_BYTES_MAX - 1));
        let status = with_reason(Code::InvalidArgument, Reason::InvalidArgument, long);
        assert_eq!(status.message(), format!("{}… (2 bytes cut)", "a".repeat(STATUS_MESSAGE_BYTES_MAX - 1)));
        let short = with_reason(Code::InvalidArgument, Reason::InvalidArgument, "topic x is unknown");
        assert_eq!(short.message(), "topic x is unknown");
    }

    #[test]
    fn quotes_of_caller_input_are_bounded() {
        assert_eq!(bounded("orders"), "orders");
        assert_eq!(bounded(&"x".repeat(100_000)), format!("{}… (100000 bytes)", "x".repeat(64)));
        assert_eq!(bounded(&"é".repeat(65)), format!("{}… (130 bytes)", "é".repeat(64)));
    }
}
