//! Commands: the only way the replicated state changes. One command is one Raft log entry.

/// Idempotency key of a mutating request (docs/architecture.md, "The replicated state"): a client picks a unique `client_id` and
/// numbers its requests; a retry reuses the same pair and gets the first answer back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub client_id: String,
    pub sequence: u64,
}

/// A committed-log command. `issued_at_ms` is the proposing leader's wall clock, recorded so that
/// replicas never read their own clock while applying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub request_id: Option<RequestId>,
    pub issued_at_ms: u64,
    /// Who asked, for the audit log: the caller's address (and client id), or `coordinator`
    /// for decisions the leader made itself. Empty when unknown.
    pub actor: String,
    pub operation: Operation,
}

/// Condition of a compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key must not exist.
    Absent,
    /// The key must exist with exactly this value.
    Value(Vec<u8>),
    /// The key must exist and have been last modified at this revision.
    ModRevision(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Does nothing but advance the revision; used to probe the write path.
    Noop,
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    CompareAndSet {
        key: Vec<u8>,
        compare: Compare,
        value: Vec<u8>,
    },
    Broker(crate::broker::BrokerOperation),
    Topic(crate::topic::TopicOperation),
    Dr(crate::dr::DrCommand),
    Acl(crate::acl::AclOperation),
    /// Records, for the audit log, a membership change the leader just made: membership lives in
    /// Raft's own entries, which carry no caller. Changes nothing else.
    RecordMembershipChange(MembershipChange),
    /// Raises the cluster's feature level (docs/adr/0026-feature-levels.md). The leader proposes
    /// it only once every member advertises `level`; the state machine refuses a lower one.
    SetFeatureLevel {
        level: u32,
    },
}

/// A membership change an operator asked for, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    AddLearner { node_id: u64 },
    Promote { node_id: u64 },
    Remove { node_id: u64 },
    TransferLeader { to_node_id: u64 },
}

impl MembershipChange {
    pub fn kind(self) -> &'static str {
        match self {
            MembershipChange::AddLearner { .. } => "add_learner",
            MembershipChange::Promote { .. } => "promote_voter",
            MembershipChange::Remove { .. } => "remove_member",
            MembershipChange::TransferLeader { .. } => "transfer_leader",
        }
    }

    /// The node it acted on.
    pub fn node_id(self) -> u64 {
        match self {
            MembershipChange::AddLearner { node_id }
            | MembershipChange::Promote { node_id }
            | MembershipChange::Remove { node_id }
            | MembershipChange::TransferLeader { to_node_id: node_id } => node_id,
        }
    }
}

impl Operation {
    /// Administrative changes are recorded in the audit log (docs/architecture.md, "The replicated state").
    pub fn is_administrative(&self) -> bool {
        use crate::broker::BrokerOperation as Broker;
        use crate::topic::TopicOperation as Topic;
        matches!(
            self,
            Operation::Broker(
                Broker::Fence { .. } | Broker::Remove { .. } | Broker::Collect { .. } | Broker::ElectMaster { .. }
            ) | Operation::Topic(
                Topic::Create(_)
                    | Topic::Update { .. }
                    | Topic::Delete { .. }
                    | Topic::ResetOffsets { .. }
                    | Topic::Report { .. }
            ) | Operation::Dr(_)
                | Operation::Acl(_)
                | Operation::RecordMembershipChange(_)
                | Operation::SetFeatureLevel { .. }
        )
    }

    /// Short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Noop => "noop",
            Operation::Put { .. } => "put",
            Operation::Delete { .. } => "delete",
            Operation::CompareAndSet { .. } => "compare_and_set",
            Operation::Broker(operation) => operation.kind(),
            Operation::Topic(operation) => operation.kind(),
            Operation::Dr(command) => command.kind(),
            Operation::Acl(operation) => operation.kind(),
            Operation::RecordMembershipChange(change) => change.kind(),
            Operation::SetFeatureLevel { .. } => "set_feature_level",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.operation.kind())?;
        if let Some(id) = &self.request_id {
            write!(formatter, "(client={}, seq={})", id.client_id, id.sequence)?;
        }
        Ok(())
    }
}
