//! Operating errors -> gRPC statuses with a machine-readable reason in `pharos-error`.

use pharos_meta::CommandError;
use pharos_proto::{InvalidRequest, metadata};
use pharos_replication::NodeError;
use tonic::{Code, Status};

pub fn with_reason(code: Code, reason: &'static str, message: impl Into<String>) -> Status {
    let mut status = Status::new(code, message);
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
    };
    let mut status = with_reason(code, reason, error.to_string());
    if let Some(current) = current {
        status.metadata_mut().insert(metadata::CURRENT, current.into());
    }
    status
}
