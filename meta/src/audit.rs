//! The audit log: every administrative change (broker fence, removal, collection and election, topic
//! changes, offset resets) with who asked, when (the leader's wall clock stamped into the
//! command), what, and the result, including refusals. Bounded: the oldest records go first.

use crate::apply::Change;
use crate::command::Command;
use crate::limits;
use crate::state::{Response, State};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Log index of the command.
    pub index: u64,
    pub at_ms: u64,
    pub actor: String,
    /// Operation kind (`fence_broker`, `reset_offsets`, ...).
    pub action: String,
    /// What it acted on, human-readable.
    pub target: String,
    /// `ok`, or the refusal.
    pub result: String,
}

fn target(command: &Command) -> String {
    use crate::broker::BrokerOperation as Broker;
    use crate::command::Operation;
    use crate::topic::TopicOperation as Topic;
    match &command.operation {
        Operation::Broker(Broker::Fence { broker_id, .. } | Broker::Remove { broker_id }) => {
            format!("broker {broker_id}")
        }
        Operation::Broker(Broker::ElectMaster { group, broker_id, .. }) => format!("group {group}: broker {broker_id}"),
        // One record per command (the log is keyed by index), naming every broker it collects.
        Operation::Broker(Broker::Collect { retired_before_ms, brokers }) => {
            let ids: Vec<String> = brokers.iter().map(|broker| broker.broker_id.to_string()).collect();
            format!("brokers {} (retired at or before {retired_before_ms} ms)", ids.join(", "))
        }
        Operation::Topic(Topic::Create(spec) | Topic::Update { spec, .. }) => format!("topic {}", spec.name),
        Operation::Topic(Topic::Delete { name, force }) => {
            format!("topic {name}{}", if *force { " (force)" } else { "" })
        }
        // Bounded: a broker may report thousands of topics at once.
        Operation::Topic(Topic::Report { group, topics }) => {
            let shown: Vec<&str> = topics.iter().take(8).map(|topic| topic.name.as_str()).collect();
            let more = topics.len().saturating_sub(shown.len());
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!("group {group}: topics {}{more}", shown.join(", "))
        }
        Operation::Topic(Topic::ResetOffsets { consumer_group, topic, to }) => {
            format!("consumer group {consumer_group} on topic {topic} to {to:?}")
        }
        Operation::Dr(dr_command) => dr_command.describe(),
        Operation::Acl(operation) => operation.target(),
        Operation::RecordMembershipChange(change) => format!("node {}", change.node_id()),
        other => other.kind().to_string(),
    }
}

/// Records `command` (committed at `index`) and its `response` if it is administrative.
pub(crate) fn record(state: &mut State, index: u64, command: &Command, response: &Response, changes: &mut Vec<Change>) {
    if !command.operation.is_administrative() {
        return;
    }
    let result = match response {
        Response::Error(error) => error.to_string(),
        _ => "ok".to_string(),
    };
    let record = AuditRecord {
        index,
        at_ms: command.issued_at_ms,
        actor: if command.actor.is_empty() { "unknown".to_string() } else { command.actor.clone() },
        action: command.operation.kind().to_string(),
        target: target(command),
        result,
    };
    state.audit.insert(index, record.clone());
    changes.push(Change::AuditPut { record });
    // Bounded by count and by age; the age is judged by the times in the commands, so every
    // replica drops the same records.
    let oldest_kept = command.issued_at_ms.saturating_sub(limits::AUDIT_RECORD_AGE_MAX_MS);
    while state.audit.len() > limits::AUDIT_RECORDS_MAX
        || state.audit.first_key_value().is_some_and(|(_, oldest)| oldest.at_ms < oldest_kept)
    {
        if let Some((evicted, _)) = state.audit.pop_first() {
            changes.push(Change::AuditDelete { index: evicted });
        }
    }
}
