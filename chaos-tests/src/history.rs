//! What a workload records: one [`Operation`] per client request, with the times it was invoked
//! and completed and what came back. Histories are written as JSON next to the node logs, so a
//! failed run can be checked again (or by another checker) after the fact.

use serde::{Deserialize, Serialize};

/// A register value. Workloads only ever write unique numbers, so a value names the one write
/// that produced it; `None` is "the key does not exist".
pub type RegisterValue = Option<u64>;

/// What a register operation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RegisterCall {
    Read,
    Write {
        value: u64,
    },
    /// Compare-and-set: write `value` if the current value is `expect` (`None`: absent).
    Cas {
        expect: RegisterValue,
        value: u64,
    },
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RegisterOutcome {
    /// A linearizable read returned this value.
    ReadOk { value: RegisterValue },
    /// The write was acknowledged.
    WriteOk,
    /// The compare-and-set was acknowledged; `succeeded` says whether it wrote.
    CasOk { succeeded: bool },
    /// The server refused the request before it could take effect (bad input, for example).
    Fail { error: String },
    /// No answer (timeout, connection lost, leader died): the request may or may not have
    /// taken effect, at any time after it was invoked.
    Unknown { error: String },
}

/// One request against one key, by one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub worker: u32,
    pub key: String,
    pub call: RegisterCall,
    pub outcome: RegisterOutcome,
    /// Microseconds since the run started, when the request was sent.
    pub invoke_us: u64,
    /// Microseconds since the run started, when the answer (or the error) arrived.
    pub complete_us: u64,
}

impl Operation {
    /// Whether the request certainly had its effect (an acknowledged write or CAS).
    pub fn acknowledged(&self) -> bool {
        matches!(self.outcome, RegisterOutcome::WriteOk | RegisterOutcome::CasOk { succeeded: true })
    }
}
