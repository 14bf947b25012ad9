//! The Pharos wire API, package `pharos.v1`: generated protobuf messages and gRPC stubs, the
//! encoded descriptor set for gRPC reflection, and the metadata keys server and client share.
//!
//! It depends on no Pharos crate: a broker or tool that links `pharos-client` compiles the wire
//! types, not the state machine. The validated conversions from wire requests to domain commands
//! live with the server (`pharos_server::convert`).

pub mod wire_codec;

/// Generated code for `pharos.v1`.
#[allow(clippy::all, missing_debug_implementations, missing_docs)]
pub mod v1 {
    tonic::include_proto!("pharos.v1");
}

/// Encoded `FileDescriptorSet` of every `pharos.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pharos_descriptor.bin"));

/// gRPC metadata keys Pharos uses. Kept here so server, client and CLI agree.
pub mod metadata {
    /// Sender's cluster id (UUID text) on every peer RPC.
    pub const CLUSTER_ID: &str = "pharos-cluster-id";
    /// Sender's fencing generation on every peer RPC; on a `FENCED` or `STALE_GENERATION`
    /// refusal, the generation that matters.
    pub const GENERATION: &str = "pharos-generation";
    /// On a peer RPC from a node that learned of a higher generation: that generation, so the
    /// rest of its (old) cluster learns it too.
    pub const FENCED_BY: &str = "pharos-fenced-by";
    /// Machine-readable reason of an error status: an [`crate::v1::ErrorReason`] name without
    /// its prefix (`NOT_LEADER`, `INVALID_ARGUMENT`, ...).
    pub const ERROR_REASON: &str = "pharos-error";
    /// On `NOT_LEADER`: id and client address of the leader this node believes in.
    pub const LEADER_ID: &str = "pharos-leader-id";
    pub const LEADER_CLIENT_ADDR: &str = "pharos-leader-addr";
}

/// A typed detail of an error status, each in its own metadata key (never one key whose meaning
/// depends on the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDetail {
    /// The current broker, master or sync-state epoch (`STALE_*_EPOCH`).
    CurrentEpoch(u64),
    /// The current revision of the thing refused (`STALE_TOPIC_REVISION`, `FUTURE_REVISION`).
    CurrentRevision(u64),
    /// The committed offset a commit would have moved backwards (`OFFSET_BACKWARDS`).
    CurrentOffset(u64),
    /// The broker that matters: the holder of a name, the current master.
    BrokerId(u64),
    /// The DR operation under way or current.
    OperationId(u64),
    /// The current DR state id (`STALE_DR_STATE`).
    CurrentDrStateId(u64),
    /// The generation that fenced this node, or the current one (`FENCED`, `STALE_GENERATION`).
    Generation(u64),
    /// Watches: the revision history is compacted through (`COMPACTED`).
    CompactedRevision(u64),
    /// `NOT_LEADER`: the leader this node believes in.
    LeaderId(u64),
}

impl ErrorDetail {
    /// Every metadata key a detail can use.
    pub const KEYS: [&'static str; 9] = [
        "pharos-current-epoch",
        "pharos-current-revision",
        "pharos-current-offset",
        "pharos-broker-id",
        "pharos-operation-id",
        "pharos-current-dr-state-id",
        metadata::GENERATION,
        "pharos-compacted-revision",
        metadata::LEADER_ID,
    ];

    /// The metadata key and the value.
    pub fn key_value(self) -> (&'static str, u64) {
        match self {
            ErrorDetail::CurrentEpoch(value) => (Self::KEYS[0], value),
            ErrorDetail::CurrentRevision(value) => (Self::KEYS[1], value),
            ErrorDetail::CurrentOffset(value) => (Self::KEYS[2], value),
            ErrorDetail::BrokerId(value) => (Self::KEYS[3], value),
            ErrorDetail::OperationId(value) => (Self::KEYS[4], value),
            ErrorDetail::CurrentDrStateId(value) => (Self::KEYS[5], value),
            ErrorDetail::Generation(value) => (Self::KEYS[6], value),
            ErrorDetail::CompactedRevision(value) => (Self::KEYS[7], value),
            ErrorDetail::LeaderId(value) => (Self::KEYS[8], value),
        }
    }

    /// The detail a metadata key and its text carry, if it is one (unknown keys and values that
    /// are not numbers give `None`).
    pub fn parse(key: &str, value: &str) -> Option<ErrorDetail> {
        let value: u64 = value.parse().ok()?;
        let index = Self::KEYS.iter().position(|known| *known == key)?;
        Some([
            ErrorDetail::CurrentEpoch,
            ErrorDetail::CurrentRevision,
            ErrorDetail::CurrentOffset,
            ErrorDetail::BrokerId,
            ErrorDetail::OperationId,
            ErrorDetail::CurrentDrStateId,
            ErrorDetail::Generation,
            ErrorDetail::CompactedRevision,
            ErrorDetail::LeaderId,
        ][index](value))
    }
}

/// The reason an error status names in `pharos-error`: `None` when it names none, `Unspecified`
/// when it names one this release does not know (a newer server's).
pub fn error_reason(status: &tonic::Status) -> Option<v1::ErrorReason> {
    let text = status.metadata().get(metadata::ERROR_REASON)?.to_str().ok()?;
    Some(v1::ErrorReason::from_code_name(text).unwrap_or(v1::ErrorReason::Unspecified))
}

/// Every typed detail an error status carries.
pub fn error_details(status: &tonic::Status) -> Vec<ErrorDetail> {
    ErrorDetail::KEYS
        .iter()
        .filter_map(|key| ErrorDetail::parse(key, status.metadata().get(*key)?.to_str().ok()?))
        .collect()
}

/// Short lower-case labels of the wire enums, as the CLI prints them and its flags take them
/// (`master`, `dr-sync`, `sync-recover`). The `match` is exhaustive: a new enum value does not
/// compile until it has a label.
macro_rules! labels {
    ($($enum:ident { $($variant:ident => $label:literal),+ $(,)? })+) => {
        $(
            impl v1::$enum {
                /// The label the CLI prints ("unspecified" for the zero value).
                pub fn label(self) -> &'static str {
                    match self {
                        $(v1::$enum::$variant => $label),+
                    }
                }

                /// The value a label names (the CLI's flag values); never the zero value.
                pub fn from_label(label: &str) -> Option<Self> {
                    let value = match label {
                        $($label => v1::$enum::$variant,)+
                        _ => return None,
                    };
                    Some(value).filter(|value| *value != v1::$enum::Unspecified)
                }
            }
        )+
    };
}

labels! {
    BrokerState { Unspecified => "unspecified", Active => "active", Fenced => "fenced", Shutdown => "shutdown" }
    BrokerRole { Unspecified => "unspecified", Master => "master", Replica => "replica", None => "none" }
    MemberRole { Unspecified => "unspecified", Voter => "voter", Learner => "learner" }
    ElectionMode { Unspecified => "unspecified", Elected => "elected", Declared => "declared", Controlled => "controlled" }
    ServerState {
        Unspecified => "unspecified",
        Leader => "leader",
        Follower => "follower",
        Candidate => "candidate",
        Learner => "learner",
        Shutdown => "shutdown",
    }
    DrMode { Unspecified => "unspecified", Majority => "majority", DrSync => "dr-sync" }
    DrSyncState { Unspecified => "unspecified", Sync => "sync", Async => "async", SyncRecover => "sync-recover" }
    SwitchoverStep {
        Unspecified => "unspecified",
        PromoteLearners => "promote-learners",
        TransferLeader => "transfer-leader",
        DemoteVoters => "demote-voters",
        MoveMasters => "move-masters",
    }
    ReformRole { Unspecified => "unspecified", Seed => "seed", Rejoin => "rejoin" }
    MessageType {
        Unspecified => "unspecified",
        Normal => "normal",
        Fifo => "fifo",
        Delay => "delay",
        Transactional => "transactional",
    }
    UserKind { Unspecified => "unspecified", Super => "super", Normal => "normal" }
    Decision { Unspecified => "unspecified", Allow => "allow", Deny => "deny" }
}

const ERROR_REASON_PREFIX: &str = "ERROR_REASON_";

impl v1::ErrorReason {
    /// The name sent in `pharos-error`: the enum value's name without its prefix.
    pub fn code_name(self) -> &'static str {
        let name = self.as_str_name();
        name.strip_prefix(ERROR_REASON_PREFIX).unwrap_or(name)
    }

    /// The reason a `pharos-error` text names; `None` for a name this release does not know.
    pub fn from_code_name(name: &str) -> Option<Self> {
        Self::from_str_name(&format!("{ERROR_REASON_PREFIX}{name}")).filter(|reason| *reason != Self::Unspecified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_drop_the_prefix_and_parse_back() {
        assert_eq!(v1::ErrorReason::NotLeader.code_name(), "NOT_LEADER");
        assert_eq!(v1::ErrorReason::from_code_name("NOT_LEADER"), Some(v1::ErrorReason::NotLeader));
        assert_eq!(v1::ErrorReason::from_code_name("ERROR_REASON_NOT_LEADER"), None);
        assert_eq!(v1::ErrorReason::from_code_name("UNSPECIFIED"), None);
        assert_eq!(v1::ErrorReason::from_code_name("NO_SUCH_REASON"), None);
        for value in 1..=57 {
            let reason = v1::ErrorReason::try_from(value).expect("reasons are numbered without gaps");
            assert_eq!(v1::ErrorReason::from_code_name(reason.code_name()), Some(reason));
        }
        assert!(v1::ErrorReason::try_from(58).is_err(), "a new reason extends this loop");
    }

    #[test]
    fn labels_are_the_short_lower_case_names_and_parse_back() {
        assert_eq!(v1::DrMode::DrSync.label(), "dr-sync");
        assert_eq!(v1::DrSyncState::SyncRecover.label(), "sync-recover");
        assert_eq!(v1::BrokerRole::from_label("master"), Some(v1::BrokerRole::Master));
        assert_eq!(v1::BrokerRole::from_label("emperor"), None);
        assert_eq!(v1::MessageType::from_label("unspecified"), None);
        // Every label is the enum value's name without its prefix, lower case, '-' for '_'.
        for value in 1..=4 {
            let step = v1::SwitchoverStep::try_from(value).expect("steps 1..=4");
            let name = step.as_str_name().strip_prefix("SWITCHOVER_STEP_").expect("prefix");
            assert_eq!(step.label(), name.to_lowercase().replace('_', "-"));
            assert_eq!(v1::SwitchoverStep::from_label(step.label()), Some(step));
        }
    }

    #[test]
    fn details_use_one_key_each_and_parse_back() {
        let details = [
            ErrorDetail::CurrentEpoch(1),
            ErrorDetail::CurrentRevision(2),
            ErrorDetail::CurrentOffset(3),
            ErrorDetail::BrokerId(4),
            ErrorDetail::OperationId(5),
            ErrorDetail::CurrentDrStateId(6),
            ErrorDetail::Generation(7),
            ErrorDetail::CompactedRevision(8),
            ErrorDetail::LeaderId(9),
        ];
        let keys: std::collections::BTreeSet<_> = details.iter().map(|detail| detail.key_value().0).collect();
        assert_eq!(keys.len(), details.len());
        for detail in details {
            let (key, value) = detail.key_value();
            assert_eq!(ErrorDetail::parse(key, &value.to_string()), Some(detail));
        }
        assert_eq!(ErrorDetail::parse("pharos-current-epoch", "x"), None);
        assert_eq!(ErrorDetail::parse("pharos-current", "1"), None);
    }

    #[test]
    fn statuses_give_back_their_reason_and_details() {
        let mut status = tonic::Status::failed_precondition("stale");
        assert_eq!(error_reason(&status), None);
        status.metadata_mut().insert(metadata::ERROR_REASON, "STALE_BROKER_EPOCH".parse().expect("ascii"));
        status.metadata_mut().insert("pharos-current-epoch", 7.into());
        status.metadata_mut().insert("pharos-broker-id", "not a number".parse().expect("ascii"));
        assert_eq!(error_reason(&status), Some(v1::ErrorReason::StaleBrokerEpoch));
        assert_eq!(error_details(&status), vec![ErrorDetail::CurrentEpoch(7)]);
        status.metadata_mut().insert(metadata::ERROR_REASON, "FROM_THE_FUTURE".parse().expect("ascii"));
        assert_eq!(error_reason(&status), Some(v1::ErrorReason::Unspecified));
    }
}
