//! Zones, regions and disaster recovery in the replicated state (docs/architecture.md, "Regions and disaster recovery"): the placement
//! policy (primary and DR region), the replication mode and its `sync → async → sync-recover →
//! sync` state, the fencing generation, the planned switchover in progress (a committed intent
//! that the leader's reconciler drives step by step), and the report of the last unplanned
//! failover.
//!
//! As everywhere in this crate, the *decisions* are made elsewhere (the `pharos-dr` planners,
//! run by the leader); these commands record them and refuse any made against a state that has
//! moved on (a stale `dr_state_id`, another operation id, a generation that is not higher).

use crate::apply::Change;
use crate::limits;
use crate::state::{CommandError, Response, State};

/// How a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplicationMode {
    /// Plain Raft: acknowledged once a majority of voters has it.
    Majority,
    /// Acknowledged once a majority of voters **and** one DR-region learner have it, while the
    /// sync state is `Sync`.
    DrSync,
}

impl ReplicationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationMode::Majority => "majority",
            ReplicationMode::DrSync => "dr-sync",
        }
    }

    pub fn parse(text: &str) -> Option<ReplicationMode> {
        match text {
            "majority" => Some(ReplicationMode::Majority),
            "dr-sync" | "dr_sync" => Some(ReplicationMode::DrSync),
            _ => None,
        }
    }
}

/// Where the DR region stands in `dr-sync` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SyncState {
    /// Every acknowledged write is on a DR learner: RPO = 0.
    Sync,
    /// The DR region stopped acknowledging for `dr_sync_timeout_ms`; writes go on without it
    /// (RPO > 0 from this state's first entry on).
    Async,
    /// A DR learner is catching up; writes are not yet waited on.
    SyncRecover,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Sync => "sync",
            SyncState::Async => "async",
            SyncState::SyncRecover => "sync-recover",
        }
    }

    pub fn parse(text: &str) -> Option<SyncState> {
        match text {
            "sync" => Some(SyncState::Sync),
            "async" => Some(SyncState::Async),
            "sync-recover" | "sync_recover" => Some(SyncState::SyncRecover),
            _ => None,
        }
    }
}

/// The steps of a planned switchover, in order. Each is recorded (committed) once reached, so a
/// new leader resumes the operation at the recorded step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwitchoverStep {
    /// Add the target region's learners as voters (joint consensus).
    PromoteLearners,
    /// Move Raft leadership into the target region.
    TransferLeader,
    /// Turn the old region's voters into learners.
    DemoteVoters,
    /// `primary_region` is the target now (set when this step is recorded); move every broker
    /// group's master into it.
    MoveMasters,
}

impl SwitchoverStep {
    pub const ALL: [SwitchoverStep; 4] = [
        SwitchoverStep::PromoteLearners,
        SwitchoverStep::TransferLeader,
        SwitchoverStep::DemoteVoters,
        SwitchoverStep::MoveMasters,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SwitchoverStep::PromoteLearners => "promote-learners",
            SwitchoverStep::TransferLeader => "transfer-leader",
            SwitchoverStep::DemoteVoters => "demote-voters",
            SwitchoverStep::MoveMasters => "move-masters",
        }
    }

    pub fn code(self) -> u32 {
        match self {
            SwitchoverStep::PromoteLearners => 1,
            SwitchoverStep::TransferLeader => 2,
            SwitchoverStep::DemoteVoters => 3,
            SwitchoverStep::MoveMasters => 4,
        }
    }

    pub fn from_code(code: u32) -> Option<SwitchoverStep> {
        SwitchoverStep::ALL.into_iter().find(|step| step.code() == code)
    }
}

/// A planned switchover in progress: the committed intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrOperation {
    /// Log index of the command that began it; unique.
    pub id: u64,
    pub from_region: String,
    pub to_region: String,
    /// The step being worked on.
    pub step: SwitchoverStep,
    pub started_at_ms: u64,
    /// Leader wall clock when `step` was recorded.
    pub step_at_ms: u64,
}

impl DrOperation {
    /// The record of this operation once it ended at `at_ms` with `result`.
    pub fn finished(self, at_ms: u64, result: String) -> FinishedOperation {
        FinishedOperation {
            id: self.id,
            from_region: self.from_region,
            to_region: self.to_region,
            started_at_ms: self.started_at_ms,
            finished_at_ms: at_ms,
            result,
        }
    }
}

/// How the last planned switchover ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedOperation {
    pub id: u64,
    pub from_region: String,
    pub to_region: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// `ok`, or why it was abandoned.
    pub result: String,
}

/// A member of the generation before an unplanned failover that the new generation left behind
/// (the lost region's nodes); `dr failback` asks them to re-join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonedMember {
    pub node_id: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub zone: String,
    pub region: String,
}

/// What an unplanned failover did and what it may have lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRecord {
    /// The generation the failover started.
    pub generation: u64,
    pub at_ms: u64,
    pub from_region: String,
    pub to_region: String,
    /// The surviving node whose log the new generation continues.
    pub seed_node_id: u64,
    /// Last log index the seed held: everything up to it survived.
    pub seed_last_log_index: u64,
    /// Highest commit index any surviving node had heard of from the old leader.
    pub last_known_commit_index: u64,
    /// The last DR state the seed had applied (mode, state, id).
    pub last_mode: ReplicationMode,
    pub last_state: SyncState,
    pub last_dr_state_id: u64,
    /// How long the survivors had not heard from the old leader when the failover was planned
    /// (`None`: never, since they started). Informational: silence proves nothing about RPO.
    pub leader_silence_ms: Option<u64>,
    /// The newest `dr_state_id` the old leader announced to any survivor (0: none heard).
    pub last_announced_dr_state_id: u64,
    /// How much longer the old leader's promise not to leave `sync` held when the failover was
    /// planned (0: no promise, or it had expired).
    pub sync_promise_remaining_ms: u64,
    /// True when the survivors applied the newest DR state the old leader announced, that state
    /// is `dr-sync`/`sync`, and the leader's promise not to leave `sync` still held: it cannot
    /// have acknowledged a write this region lacks, so every acknowledged write is here.
    pub rpo_zero: bool,
    pub abandoned_members: Vec<AbandonedMember>,
}

/// The DR part of the replicated state. One record, changed only by [`DrCommand`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrRecord {
    /// Region whose nodes are voters. Empty until configured (the leader's runtime fills it
    /// from the membership: the region of the voters).
    pub primary_region: String,
    /// Region whose nodes are learners and receive the log asynchronously. Empty until known.
    pub dr_region: String,
    pub mode: ReplicationMode,
    pub state: SyncState,
    /// Log index of the command that set the current `(mode, state)`: a new id per switch.
    pub dr_state_id: u64,
    /// How long the DR region may fail to acknowledge before the leader switches to `async`.
    pub dr_sync_timeout_ms: u64,
    /// Fencing generation: +1 on every unplanned region failover. Never goes backwards.
    pub generation: u64,
    pub operation: Option<DrOperation>,
    pub last_operation: Option<FinishedOperation>,
    pub last_failover: Option<FailoverRecord>,
}

/// Default for `dr_sync_timeout_ms`: the longest a write stalls when the DR region goes away.
pub const DR_SYNC_TIMEOUT_MS_DEFAULT: u64 = 5_000;

impl Default for DrRecord {
    fn default() -> Self {
        DrRecord {
            primary_region: String::new(),
            dr_region: String::new(),
            mode: ReplicationMode::Majority,
            state: SyncState::Async,
            dr_state_id: 0,
            dr_sync_timeout_ms: DR_SYNC_TIMEOUT_MS_DEFAULT,
            generation: 1,
            operation: None,
            last_operation: None,
            last_failover: None,
        }
    }
}

impl DrRecord {
    /// The sync state, which only `dr-sync` has: in `majority` mode there is none to report
    /// (saying `async` there would fire RPO alerts for a mode that never promised otherwise).
    pub fn sync_state(&self) -> Option<SyncState> {
        (self.mode == ReplicationMode::DrSync).then_some(self.state)
    }

    /// Whether writes must wait for a DR-region learner right now.
    pub fn waits_for_dr(&self) -> bool {
        self.mode == ReplicationMode::DrSync && self.state == SyncState::Sync && !self.dr_region.is_empty()
    }

    /// Whether a node that applied this record can promise RPO = 0 for writes acknowledged while
    /// it was current.
    pub fn guarantees_rpo_zero(&self) -> bool {
        self.waits_for_dr()
    }
}

/// Commands that change [`DrRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrCommand {
    /// `dr configure --primary R1 --dr R2` (or the runtime's default from the membership).
    Configure { primary_region: String, dr_region: String },
    /// `dr mode set`. Entering `dr-sync` starts in `sync-recover`: the leader declares `sync`
    /// once a DR learner has caught up.
    SetMode { mode: ReplicationMode, dr_sync_timeout_ms: u64 },
    /// The leader's runtime moves the sync state; refused unless `expected_dr_state_id` is
    /// still current.
    SwitchState { expected_dr_state_id: u64, state: SyncState },
    /// `dr switchover --to-region`: records the intent; the runtime does the steps.
    BeginSwitchover { from_region: String, to_region: String },
    /// The runtime reached `step` of operation `operation_id`.
    AdvanceSwitchover { operation_id: u64, step: SwitchoverStep },
    /// The operation is over: `error` is `None` when it completed.
    FinishSwitchover { operation_id: u64, error: Option<String> },
    /// The first entry of a new generation after an unplanned failover.
    CompleteFailover(FailoverRecord),
}

/// Shortest and longest `dr_sync_timeout_ms` accepted.
pub const DR_SYNC_TIMEOUT_MS_MIN: u64 = 100;
pub const DR_SYNC_TIMEOUT_MS_MAX: u64 = 600_000;

impl DrCommand {
    pub fn kind(&self) -> &'static str {
        match self {
            DrCommand::Configure { .. } => "dr_configure",
            DrCommand::SetMode { .. } => "dr_set_mode",
            DrCommand::SwitchState { .. } => "dr_switch_state",
            DrCommand::BeginSwitchover { .. } => "dr_begin_switchover",
            DrCommand::AdvanceSwitchover { .. } => "dr_advance_switchover",
            DrCommand::FinishSwitchover { .. } => "dr_finish_switchover",
            DrCommand::CompleteFailover(_) => "dr_complete_failover",
        }
    }

    /// Human-readable target for the audit log.
    pub fn describe(&self) -> String {
        match self {
            DrCommand::Configure { primary_region, dr_region } => format!("primary {primary_region}, dr {dr_region}"),
            DrCommand::SetMode { mode, dr_sync_timeout_ms } => {
                format!("mode {} (sync timeout {dr_sync_timeout_ms} ms)", mode.as_str())
            }
            DrCommand::SwitchState { expected_dr_state_id, state } => {
                format!("state {} (from state id {expected_dr_state_id})", state.as_str())
            }
            DrCommand::BeginSwitchover { from_region, to_region } => format!("switchover {from_region} -> {to_region}"),
            DrCommand::AdvanceSwitchover { operation_id, step } => {
                format!("operation {operation_id}: {}", step.as_str())
            }
            DrCommand::FinishSwitchover { operation_id, error } => {
                format!("operation {operation_id}: {}", error.as_deref().unwrap_or("done"))
            }
            DrCommand::CompleteFailover(record) => format!(
                "failover {} -> {} (generation {}, seed node {})",
                record.from_region, record.to_region, record.generation, record.seed_node_id
            ),
        }
    }
}

fn invalid(reason: impl Into<String>) -> CommandError {
    CommandError::InvalidDr { reason: reason.into() }
}

fn check_region(field: &str, region: &str) -> Result<(), CommandError> {
    if region.is_empty() || region.len() > limits::NAME_BYTES_MAX {
        return Err(invalid(format!("{field} must be 1..={} bytes", limits::NAME_BYTES_MAX)));
    }
    Ok(())
}

/// Checks a command the way the API edge does (the state machine checks again).
pub fn validate(command: &DrCommand) -> Result<(), CommandError> {
    match command {
        DrCommand::Configure { primary_region, dr_region } => {
            check_region("primary region", primary_region)?;
            check_region("dr region", dr_region)?;
            if primary_region == dr_region {
                return Err(invalid("the primary and the DR region must differ"));
            }
        }
        DrCommand::SetMode { dr_sync_timeout_ms, .. } => {
            if !(DR_SYNC_TIMEOUT_MS_MIN..=DR_SYNC_TIMEOUT_MS_MAX).contains(dr_sync_timeout_ms) {
                return Err(invalid(format!(
                    "dr_sync_timeout_ms must be {DR_SYNC_TIMEOUT_MS_MIN}..={DR_SYNC_TIMEOUT_MS_MAX}"
                )));
            }
        }
        DrCommand::BeginSwitchover { from_region, to_region } => {
            check_region("from region", from_region)?;
            check_region("target region", to_region)?;
            if from_region == to_region {
                return Err(invalid(format!("{to_region} is already the primary region")));
            }
        }
        DrCommand::CompleteFailover(record) => {
            check_region("failover target region", &record.to_region)?;
        }
        DrCommand::SwitchState { .. } | DrCommand::AdvanceSwitchover { .. } | DrCommand::FinishSwitchover { .. } => {}
    }
    Ok(())
}

pub(crate) fn execute(
    state: &mut State,
    index: u64,
    at_ms: u64,
    command: &DrCommand,
    changes: &mut Vec<Change>,
) -> Response {
    let result = execute_checked(&mut state.dr, index, at_ms, command).map(|()| {
        changes.push(Change::DrPut { record: Box::new(state.dr.clone()) });
        Response::DrChanged { revision: index }
    });
    crate::apply::settle(state, index, result, changes)
}

fn current_operation(dr: &DrRecord, operation_id: u64) -> Result<&DrOperation, CommandError> {
    match &dr.operation {
        Some(operation) if operation.id == operation_id => Ok(operation),
        other => Err(CommandError::StaleDrOperation { operation_id, current: other.as_ref().map(|op| op.id) }),
    }
}

/// Applies `command` to `dr`. Every refusal happens before the first mutation, so a refused
/// command leaves the record as it was (the caller persists the record only on success).
fn execute_checked(dr: &mut DrRecord, index: u64, at_ms: u64, command: &DrCommand) -> Result<(), CommandError> {
    validate(command)?;
    match command {
        DrCommand::Configure { primary_region, dr_region } => {
            if let Some(operation) = &dr.operation {
                return Err(CommandError::DrOperationInProgress { operation_id: operation.id });
            }
            dr.primary_region = primary_region.clone();
            dr.dr_region = dr_region.clone();
        }
        DrCommand::SetMode { mode, dr_sync_timeout_ms } => {
            if *mode == ReplicationMode::DrSync && dr.dr_region.is_empty() {
                return Err(invalid("no DR region is known: add a learner in another region or run dr configure"));
            }
            if dr.mode != *mode {
                dr.state = SyncState::SyncRecover;
                dr.dr_state_id = index;
            }
            dr.mode = *mode;
            if *mode == ReplicationMode::Majority {
                dr.state = SyncState::Async;
            }
            dr.dr_sync_timeout_ms = *dr_sync_timeout_ms;
        }
        DrCommand::SwitchState { expected_dr_state_id, state: next } => {
            if dr.mode != ReplicationMode::DrSync {
                return Err(invalid("the replication mode is majority: there is no sync state to switch"));
            }
            if *expected_dr_state_id != dr.dr_state_id {
                return Err(CommandError::StaleDrState { current: dr.dr_state_id });
            }
            let allowed = matches!(
                (dr.state, *next),
                (SyncState::Sync, SyncState::Async)
                    | (SyncState::Async, SyncState::SyncRecover)
                    | (SyncState::SyncRecover, SyncState::Sync)
                    | (SyncState::SyncRecover, SyncState::Async)
            );
            if !allowed {
                return Err(invalid(format!("cannot switch from {} to {}", dr.state.as_str(), next.as_str())));
            }
            dr.state = *next;
            dr.dr_state_id = index;
        }
        DrCommand::BeginSwitchover { from_region, to_region } => {
            if let Some(operation) = &dr.operation {
                return Err(CommandError::DrOperationInProgress { operation_id: operation.id });
            }
            if *from_region != dr.primary_region {
                return Err(invalid(format!(
                    "the primary region is {}, not {from_region}",
                    if dr.primary_region.is_empty() { "not configured" } else { &dr.primary_region }
                )));
            }
            dr.operation = Some(DrOperation {
                id: index,
                from_region: from_region.clone(),
                to_region: to_region.clone(),
                step: SwitchoverStep::PromoteLearners,
                started_at_ms: at_ms,
                step_at_ms: at_ms,
            });
        }
        DrCommand::AdvanceSwitchover { operation_id, step } => {
            let operation = current_operation(dr, *operation_id)?;
            if *step <= operation.step {
                return Err(invalid(format!(
                    "operation {operation_id} is at step {}, not before {}",
                    operation.step.as_str(),
                    step.as_str()
                )));
            }
            let (from_region, to_region) = (operation.from_region.clone(), operation.to_region.clone());
            if *step == SwitchoverStep::MoveMasters {
                dr.primary_region = to_region;
                dr.dr_region = from_region;
            }
            if let Some(operation) = dr.operation.as_mut() {
                operation.step = *step;
                operation.step_at_ms = at_ms;
            }
        }
        DrCommand::FinishSwitchover { operation_id, error } => {
            current_operation(dr, *operation_id)?;
            if let Some(operation) = dr.operation.take() {
                let result = error.clone().unwrap_or_else(|| "ok".to_string());
                dr.last_operation = Some(operation.finished(at_ms, result));
            }
        }
        DrCommand::CompleteFailover(record) => {
            if record.generation <= dr.generation {
                return Err(CommandError::StaleGeneration { current: dr.generation });
            }
            if let Some(operation) = dr.operation.take() {
                let result = format!("abandoned by the failover to generation {}", record.generation);
                dr.last_operation = Some(operation.finished(at_ms, result));
            }
            dr.generation = record.generation;
            dr.primary_region = record.to_region.clone();
            dr.dr_region = record.from_region.clone();
            if dr.mode == ReplicationMode::DrSync {
                // The DR region is the lost one: nothing acknowledges, so do not stall writes.
                dr.state = SyncState::Async;
            }
            dr.dr_state_id = index;
            dr.last_failover = Some(FailoverRecord { at_ms, ..record.clone() });
        }
    }
    Ok(())
}
