//! The replicated state of Pharos and the only code that changes it.
//!
//! This crate holds the domain types (commands, responses, records), the **deterministic** state
//! machine `apply(&mut State, index, &Command) -> Applied`, and the byte formats of everything
//! the state machine persists (a version byte in front of a protobuf message).
//!
//! It must never do I/O, read a clock, or draw random numbers: every input arrives in the command
//! (the leader stamps wall-clock time into it), so replicas that apply the same log end in the same
//! state, byte for byte (invariant 6 of docs/architecture.md, checked through [`State::digest`]).

pub mod access;
pub mod acl;
pub mod apply;
pub mod audit;
pub mod broker;
pub mod codec;
pub mod command;
pub mod dr;
pub mod feature;
pub mod limits;
pub mod state;
pub mod topic;

pub use apply::{Applied, Change, apply, validate};
pub use audit::AuditRecord;
pub use broker::{
    Broker, BrokerGroup, BrokerOperation, BrokerRef, BrokerState, DeclaredRole, ElectionMode, GroupView,
    NotCollectable, Registration, RegistrationMode,
};
pub use codec::DecodeError;
pub use command::{Command, Compare, MembershipChange, Operation, RequestId};
pub use dr::{
    AbandonedMember, DrCommand, DrOperation, DrRecord, FailoverRecord, FinishedOperation, ReplicationMode,
    SwitchoverStep, SyncState,
};
pub use state::{CommandError, KvRecord, Response, Session, State};
pub use topic::{
    GroupRoute, MessageType, OffsetBatch, OffsetCommit, OffsetKey, OffsetRecord, QueueCounts, ReportedTopic,
    ResetTarget, Route, Topic, TopicOperation, TopicOrigin, TopicSpec,
};
