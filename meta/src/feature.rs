//! Feature levels: which command kinds the cluster may use (docs/adr/0026-feature-levels.md).
//!
//! A rolling upgrade runs old and new builds side by side. A command kind (or a field that
//! changes what a command does) that an older build cannot decode, or would apply differently,
//! must not reach the log until every member runs a build that knows it. Each kind belongs to
//! the level that introduced it ([`required_level`]); the cluster's level is committed through
//! Raft ([`crate::Operation::SetFeatureLevel`]) and only ever rises; the leader proposes a kind
//! only once the committed level allows it, and `apply` refuses one that slipped past anyway,
//! the same way on every replica.
//!
//! The table below is append-only: a level, once released, keeps its number and its kinds
//! forever, so that every build agrees on what a logged command required.

use crate::broker::{BrokerOperation, RegistrationMode};
use crate::command::Operation;
use crate::topic::TopicOperation;

/// Level 1: what release 0.1.0 wrote — key/value, elected broker groups, topics, offsets, DR,
/// access control. A state written before feature levels existed is at this level.
pub const BASELINE: u32 = 1;

/// Level 2: RocketMQ — topics reported by brokers, groups whose brokers declare their master or
/// are controlled over the remoting port, idempotency keys on offset-commit batches.
pub const ROCKETMQ: u32 = 2;

/// The newest level this build knows how to apply. A node advertises it (or less, when started
/// with `--feature-level-max`) in its membership record.
pub const LATEST: u32 = ROCKETMQ;

/// Every level this build knows, with what it brought, for `pharos cluster feature-level show`.
pub const LEVELS: [(u32, &str); 2] = [
    (BASELINE, "key/value, elected broker groups, topics, offsets, DR, access control (release 0.1.0)"),
    (ROCKETMQ, "RocketMQ: reported topics, declared and controlled broker groups, keyed offset-commit batches"),
];

/// The level that introduced `operation`'s kind: the committed level must be at least this for
/// it to be proposed or applied. Exhaustive on purpose: a new kind does not compile until it
/// names its level.
pub fn required_level(operation: &Operation) -> u32 {
    match operation {
        Operation::Noop
        | Operation::Put { .. }
        | Operation::Delete { .. }
        | Operation::CompareAndSet { .. }
        | Operation::Dr(_)
        | Operation::Acl(_)
        | Operation::RecordMembershipChange(_)
        // Proposed only once every member advertises the level it sets (ADR 0026), and never
        // refused for being new: it is how a cluster reaches the newer levels.
        | Operation::SetFeatureLevel { .. } => BASELINE,
        Operation::Broker(operation) => match operation {
            BrokerOperation::Register(registration) => match registration.mode {
                RegistrationMode::Elected => BASELINE,
                // A 0.1.0 build ignores the mode and would elect a master the brokers declare.
                RegistrationMode::Declared(_) | RegistrationMode::Controlled => ROCKETMQ,
            },
            BrokerOperation::Unregister { .. }
            | BrokerOperation::Fence { .. }
            | BrokerOperation::Remove { .. }
            | BrokerOperation::Collect { .. }
            | BrokerOperation::ElectMaster { .. }
            | BrokerOperation::AlterSyncStateSet { .. } => BASELINE,
        },
        Operation::Topic(operation) => match operation {
            TopicOperation::Report { .. } => ROCKETMQ,
            // A 0.1.0 build ignores a batch's key and would apply a retried batch twice.
            TopicOperation::CommitOffsets { batches } if batches.iter().any(|batch| batch.request_id.is_some()) => {
                ROCKETMQ
            }
            TopicOperation::Create(_)
            | TopicOperation::Update { .. }
            | TopicOperation::Delete { .. }
            | TopicOperation::CommitOffsets { .. }
            | TopicOperation::ResetOffsets { .. } => BASELINE,
        },
    }
}

/// The committed level as it applies: a state that never recorded one is at [`BASELINE`].
pub fn effective(recorded: u32) -> u32 {
    recorded.max(BASELINE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{DeclaredRole, Registration};
    use crate::topic::{OffsetBatch, OffsetCommit, OffsetKey};

    fn registration(mode: RegistrationMode) -> Operation {
        Operation::Broker(BrokerOperation::Register(Registration {
            cluster: "c".into(),
            group: "g".into(),
            name: "b".into(),
            incarnation_id: "i".into(),
            zone: "z".into(),
            region: "r".into(),
            addresses: Default::default(),
            election_priority: 0,
            mode,
        }))
    }

    fn commit(request_id: Option<crate::RequestId>) -> Operation {
        let commit =
            OffsetCommit { key: OffsetKey { consumer_group: "g".into(), topic: "t".into(), queue_id: 0 }, offset: 1 };
        let batch = OffsetBatch { commits: vec![commit], reject_backwards: false, request_id };
        Operation::Topic(TopicOperation::CommitOffsets { batches: vec![batch] })
    }

    #[test]
    fn the_kinds_release_0_1_0_wrote_need_the_baseline_and_the_rocketmq_kinds_level_2() {
        assert_eq!(required_level(&Operation::Put { key: b"k".to_vec(), value: b"v".to_vec() }), BASELINE);
        assert_eq!(required_level(&registration(RegistrationMode::Elected)), BASELINE);
        assert_eq!(required_level(&registration(RegistrationMode::Controlled)), ROCKETMQ);
        assert_eq!(required_level(&registration(RegistrationMode::Declared(DeclaredRole::Master))), ROCKETMQ);
        assert_eq!(required_level(&Operation::Topic(TopicOperation::Report { group: "g".into(), topics: vec![] })), 2);
        assert_eq!(required_level(&commit(None)), BASELINE);
        let key = crate::RequestId { client_id: "c".into(), sequence: 1 };
        assert_eq!(required_level(&commit(Some(key))), ROCKETMQ);
        assert_eq!(required_level(&Operation::SetFeatureLevel { level: LATEST }), BASELINE);
    }

    #[test]
    fn the_table_names_every_level_up_to_the_latest_once_in_order() {
        let numbers: Vec<u32> = LEVELS.iter().map(|(level, _)| *level).collect();
        assert_eq!(numbers, (BASELINE..=LATEST).collect::<Vec<_>>());
        assert_eq!((effective(0), effective(1), effective(2)), (BASELINE, BASELINE, 2));
    }
}
