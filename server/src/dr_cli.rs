//! `pharos dr ...`: status, placement, replication mode, switchover, failover, failback. Long
//! operations print their steps as they happen and end with a one-line result.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use crate::cli::{Changed, Output, View, serialize_label, show};

#[derive(Debug, clap::Subcommand)]
pub enum DrCommand {
    /// Regions, voters and learners, mode and DR state, per-learner lag, generation, operation.
    Status,
    /// Set the primary and the DR region explicitly.
    Configure {
        #[arg(long)]
        primary: String,
        #[arg(long)]
        dr: String,
    },
    /// The replication mode.
    #[command(subcommand)]
    Mode(ModeCommand),
    /// Planned switchover of the primary region (RPO = 0).
    Switchover {
        #[arg(long)]
        to_region: String,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Give up waiting (the operation itself goes on) after this long.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
    /// Unplanned failover into a surviving region; send it to that region's nodes.
    Failover {
        #[arg(long)]
        to_region: String,
        /// Required: acknowledged writes beyond what the survivors hold may be lost.
        #[arg(long)]
        force: bool,
        /// Print the plan and the possible loss; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// State that the old region's nodes are fenced (powered off, or cut from their clients
        /// and peers). Needed when one did not answer but was not proven down: it may be alive.
        #[arg(long, value_name = "REGION")]
        old_region_fenced: Option<String>,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Bring the nodes the last failover left behind back as learners, then switch the primary
    /// back to their region once they have caught up.
    Failback {
        /// Only re-join them; do not switch back.
        #[arg(long)]
        no_switchover: bool,
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ModeCommand {
    /// `majority` or `dr-sync`.
    Set {
        #[arg(value_parser = parse_mode)]
        mode: v1::DrMode,
        /// How long the DR region may fail to acknowledge before writes continue without it.
        #[arg(long, default_value_t = 0)]
        sync_timeout_ms: u64,
    },
}

/// Learners count as caught up for a failback's switchover within this many entries.
const FAILBACK_LAG_ENTRIES_MAX: u64 = 100;
const POLL_INTERVAL: Duration = Duration::from_millis(200);

fn parse_mode(label: &str) -> Result<v1::DrMode, String> {
    v1::DrMode::from_label(label).ok_or_else(|| format!("{label:?} is not majority or dr-sync"))
}

fn timed_out(what: &str) -> ClientError {
    ClientError::timed_out(what)
}

/// DR status from the leader when one is known (lag figures are the leader's).
async fn leader_status(client: &Client) -> Result<v1::DrStatusResponse, ClientError> {
    let status = client.dr_status().await?;
    if status.leader_id == Some(status.node_id) {
        return Ok(status);
    }
    let cluster = client.status().await?;
    let leader_addr = cluster
        .members
        .iter()
        .find(|member| Some(member.node_id) == cluster.leader_id)
        .and_then(|member| member.info.as_ref())
        .map(|info| info.client_addr.clone())
        .filter(|address| !address.is_empty());
    match leader_addr {
        Some(address) => Ok(Client::new([address])?.dr_status().await.unwrap_or(status)),
        None => Ok(status),
    }
}

/// `dr status`: regions, replication mode, members' lag, the switchover in progress, the last
/// unplanned failover.
#[derive(Debug, Serialize)]
struct DrStatus {
    cluster_id: String,
    generation: u64,
    /// The node that answered.
    node_id: u64,
    leader_id: Option<u64>,
    primary_region: String,
    dr_region: String,
    #[serde(serialize_with = "serialize_label")]
    mode: v1::DrMode,
    /// Meaningful in `dr-sync` mode only.
    #[serde(serialize_with = "serialize_label")]
    state: v1::DrSyncState,
    dr_state_id: u64,
    dr_sync_timeout_ms: u64,
    members: Vec<DrMember>,
    operation: Option<Operation>,
    last_operation: Option<Operation>,
    last_failover: Option<Failover>,
    warnings: Vec<String>,
    fenced_by_generation: Option<u64>,
    applied_index: u64,
    millis_since_leader_contact: Option<u64>,
}

/// One member's placement and, on the leader, its lag.
#[derive(Debug, Serialize)]
struct DrMember {
    node_id: u64,
    zone: String,
    region: String,
    #[serde(serialize_with = "serialize_label")]
    role: v1::MemberRole,
    lag_entries: Option<u64>,
    lag_ms: Option<u64>,
    matched_index: Option<u64>,
}

/// A switchover, running or finished.
#[derive(Debug, Serialize)]
struct Operation {
    id: u64,
    from_region: String,
    to_region: String,
    #[serde(serialize_with = "serialize_label")]
    step: v1::SwitchoverStep,
    started_at_ms: u64,
    step_at_ms: u64,
    result: String,
    finished_at_ms: u64,
}

/// The last unplanned failover and what it may have lost.
#[derive(Debug, Serialize)]
struct Failover {
    generation: u64,
    at_ms: u64,
    from_region: String,
    to_region: String,
    seed_node_id: u64,
    seed_last_log_index: u64,
    last_known_commit_index: u64,
    #[serde(serialize_with = "serialize_label")]
    last_mode: v1::DrMode,
    #[serde(serialize_with = "serialize_label")]
    last_state: v1::DrSyncState,
    rpo_zero: bool,
    loss_report: Vec<String>,
    abandoned_node_ids: Vec<u64>,
}

impl From<&v1::DrOperationStatus> for Operation {
    fn from(operation: &v1::DrOperationStatus) -> Self {
        Self {
            id: operation.id,
            from_region: operation.from_region.clone(),
            to_region: operation.to_region.clone(),
            step: operation.step(),
            started_at_ms: operation.started_at_ms,
            step_at_ms: operation.step_at_ms,
            result: operation.result.clone(),
            finished_at_ms: operation.finished_at_ms,
        }
    }
}

impl From<&v1::FailoverStatus> for Failover {
    fn from(failover: &v1::FailoverStatus) -> Self {
        Self {
            generation: failover.generation,
            at_ms: failover.at_ms,
            from_region: failover.from_region.clone(),
            to_region: failover.to_region.clone(),
            seed_node_id: failover.seed_node_id,
            seed_last_log_index: failover.seed_last_log_index,
            last_known_commit_index: failover.last_known_commit_index,
            last_mode: failover.last_mode(),
            last_state: failover.last_state(),
            rpo_zero: failover.rpo_zero,
            loss_report: failover.loss_report.clone(),
            abandoned_node_ids: failover.abandoned_node_ids.clone(),
        }
    }
}

impl From<&v1::DrStatusResponse> for DrStatus {
    fn from(status: &v1::DrStatusResponse) -> Self {
        Self {
            cluster_id: status.cluster_id.clone(),
            generation: status.generation,
            node_id: status.node_id,
            leader_id: status.leader_id,
            primary_region: status.primary_region.clone(),
            dr_region: status.dr_region.clone(),
            mode: status.mode(),
            state: status.state(),
            dr_state_id: status.dr_state_id,
            dr_sync_timeout_ms: status.dr_sync_timeout_ms,
            members: status
                .members
                .iter()
                .map(|member| DrMember {
                    node_id: member.node_id,
                    zone: member.zone.clone(),
                    region: member.region.clone(),
                    role: member.role(),
                    lag_entries: member.lag_entries,
                    lag_ms: member.lag_ms,
                    matched_index: member.matched_index,
                })
                .collect(),
            operation: status.operation.as_ref().map(Operation::from),
            last_operation: status.last_operation.as_ref().map(Operation::from),
            last_failover: status.last_failover.as_ref().map(Failover::from),
            warnings: status.warnings.clone(),
            fenced_by_generation: status.fenced_by_generation,
            applied_index: status.applied_index,
            millis_since_leader_contact: status.millis_since_leader_contact,
        }
    }
}

impl View for DrStatus {
    fn print_table(&self) {
        let or_dash = |text: &str| if text.is_empty() { "-".to_string() } else { text.to_string() };
        println!("cluster     {} generation {}", self.cluster_id, self.generation);
        println!("regions     primary {}   dr {}", or_dash(&self.primary_region), or_dash(&self.dr_region));
        let state = if self.mode == v1::DrMode::DrSync { self.state.label() } else { "-" };
        println!(
            "mode        {}   state {state} (state id {})   sync timeout {} ms",
            self.mode.label(),
            self.dr_state_id,
            self.dr_sync_timeout_ms
        );
        println!("leader      {}", self.leader_id.map_or("none".to_string(), |id| id.to_string()));
        println!();
        println!("{:<6} {:<10} {:<12} {:<8} {:>12} {:>10}", "NODE", "REGION", "ZONE", "ROLE", "LAG_ENTRIES", "LAG_MS");
        let number = |value: Option<u64>| value.map_or("-".to_string(), |value| value.to_string());
        for member in &self.members {
            println!(
                "{:<6} {:<10} {:<12} {:<8} {:>12} {:>10}",
                member.node_id,
                member.region,
                member.zone,
                member.role.label(),
                number(member.lag_entries),
                number(member.lag_ms)
            );
        }
        if let Some(operation) = &self.operation {
            println!();
            println!(
                "operation   {} switchover {} -> {}: step {} ({})",
                operation.id,
                operation.from_region,
                operation.to_region,
                operation.step.label(),
                operation.result
            );
        }
        if let Some(operation) = &self.last_operation {
            println!(
                "last        {} switchover {} -> {}: {}",
                operation.id, operation.from_region, operation.to_region, operation.result
            );
        }
        if let Some(failover) = &self.last_failover {
            println!(
                "failover    generation {}: {} -> {}, seed node {}, RPO = 0 {}",
                failover.generation,
                failover.from_region,
                failover.to_region,
                failover.seed_node_id,
                if failover.rpo_zero { "guaranteed" } else { "NOT guaranteed" }
            );
            for line in &failover.loss_report {
                println!("            {line}");
            }
        }
        for warning in &self.warnings {
            println!("WARNING: {warning}");
        }
    }
}

/// `dr switchover`'s plan: printed before it is followed (table), or alone for a dry run (JSON).
#[derive(Debug, Serialize)]
struct SwitchoverPlan {
    plan: Vec<String>,
    /// The table's heading: `switchover to dr:`, `plan of a switchover to dr:`.
    #[serde(skip)]
    heading: String,
}

impl View for SwitchoverPlan {
    fn print_table(&self) {
        println!("{}", self.heading);
        for step in &self.plan {
            println!("  {step}");
        }
    }
}

/// How a switchover or a failback ended; the exit code follows `result`.
#[derive(Debug, Serialize)]
struct Outcome {
    /// Failback only: the nodes that came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    rejoined: Option<Vec<u64>>,
    /// Absent for a failback without switchover.
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_id: Option<u64>,
    /// `ok` or why the operation stopped.
    result: String,
}

impl View for Outcome {
    fn print_table(&self) {
        println!("result: {}", self.result);
    }
}

/// `dr failover`: what the probes found, the plan, and what it may lose.
#[derive(Debug, Serialize)]
struct FailoverReport {
    generation: u64,
    seed_node_id: u64,
    rejoining: Vec<u64>,
    unreachable: Vec<u64>,
    rpo_zero: bool,
    seed_last_log_index: u64,
    last_known_commit_index: u64,
    loss_report: Vec<String>,
    groups: Vec<String>,
    dry_run: bool,
    probes: Vec<Probe>,
    /// Set once the seed leads the new generation (never for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    serving_after_ms: Option<u64>,
    /// Where the seed serves; the table's last line names it.
    #[serde(skip)]
    seed_client_addr: String,
    #[serde(skip)]
    to_region: String,
}

/// What probing one node found.
#[derive(Debug, Serialize)]
struct Probe {
    node_id: u64,
    region: String,
    client: &'static str,
    peer: &'static str,
}

impl FailoverReport {
    fn new(response: &v1::RegionFailoverResponse, to_region: String, dry_run: bool) -> Self {
        Self {
            generation: response.generation,
            seed_node_id: response.seed_node_id,
            rejoining: response.rejoining.clone(),
            unreachable: response.unreachable.clone(),
            rpo_zero: response.rpo_zero,
            seed_last_log_index: response.seed_last_log_index,
            last_known_commit_index: response.last_known_commit_index,
            loss_report: response.loss_report.clone(),
            groups: response.groups.clone(),
            dry_run,
            probes: response
                .probes
                .iter()
                .map(|probe| Probe {
                    node_id: probe.node_id,
                    region: probe.region.clone(),
                    client: reach_name(probe.client),
                    peer: reach_name(probe.peer),
                })
                .collect(),
            serving_after_ms: None,
            seed_client_addr: response.seed_client_addr.clone(),
            to_region,
        }
    }
}

impl View for FailoverReport {
    /// Before the wait: probes, plan and possible loss; after it, the line saying who serves.
    fn print_table(&self) {
        if let Some(elapsed_ms) = self.serving_after_ms {
            println!(
                "generation {} serving at {} after {elapsed_ms} ms; the other survivors re-join and are promoted",
                self.generation, self.seed_client_addr
            );
            return;
        }
        for probe in &self.probes {
            println!(
                "probe node {} ({}): client port {}, peer port {}",
                probe.node_id, probe.region, probe.client, probe.peer
            );
        }
        println!(
            "{}failover to {}: generation {}, seed node {}, re-joining {:?}, unreachable {:?}",
            if self.dry_run { "plan of a " } else { "" },
            self.to_region,
            self.generation,
            self.seed_node_id,
            self.rejoining,
            self.unreachable
        );
        println!(
            "possible loss: seed holds log up to {}, last commit known {}; RPO = 0 {}",
            self.seed_last_log_index,
            self.last_known_commit_index,
            if self.rpo_zero { "guaranteed" } else { "NOT guaranteed" }
        );
        for line in &self.loss_report {
            println!("  {line}");
        }
        for line in &self.groups {
            println!("  group {line}");
        }
    }
}

pub async fn run(client: &Client, output: Output, command: DrCommand) -> Result<ExitCode, ClientError> {
    match command {
        DrCommand::Status => {
            let status = leader_status(client).await?;
            show(output, &DrStatus::from(&status));
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Configure { primary, dr } => {
            let response = client.dr_configure(&primary, &dr).await?;
            show(output, &Changed::new(response.revision, format!("primary region {primary}, DR region {dr}")));
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Mode(ModeCommand::Set { mode, sync_timeout_ms }) => {
            let response = client.dr_set_mode(mode, sync_timeout_ms).await?;
            show(output, &Changed::new(response.revision, format!("replication mode {}", mode.label())));
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Switchover { to_region, dry_run, timeout_secs } => {
            let response = client.dr_switchover(&to_region, dry_run).await?;
            let heading = format!("{}switchover to {to_region}:", if dry_run { "plan of a " } else { "" });
            let plan = SwitchoverPlan { plan: response.plan.clone(), heading };
            // The table shows the plan before following it; JSON shows it only when it is all there is.
            if output == Output::Table || dry_run {
                show(output, &plan);
            }
            if dry_run {
                return Ok(ExitCode::SUCCESS);
            }
            let result = follow_switchover(client, output, response.operation_id, timeout_secs).await?;
            finish(output, Outcome { rejoined: None, operation_id: Some(response.operation_id), result })
        }
        DrCommand::Failover { to_region, force, dry_run, old_region_fenced, timeout_secs } => {
            let request = v1::RegionFailoverRequest {
                to_region,
                force,
                dry_run,
                old_region_fenced: old_region_fenced.unwrap_or_default(),
            };
            failover(client, output, request, timeout_secs).await
        }
        DrCommand::Failback { no_switchover, timeout_secs } => {
            failback(client, output, no_switchover, timeout_secs).await
        }
    }
}

fn finish(output: Output, outcome: Outcome) -> Result<ExitCode, ClientError> {
    show(output, &outcome);
    Ok(if outcome.result == "ok" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prints every step change of operation `operation_id` until it finishes; returns its result.
async fn follow_switchover(
    client: &Client,
    output: Output,
    operation_id: u64,
    timeout_secs: u64,
) -> Result<String, ClientError> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        if let Ok(status) = leader_status(client).await {
            match (&status.operation, &status.last_operation) {
                (Some(operation), _) if operation.id == operation_id => {
                    let line = format!("step {}: {}", operation.step().label(), operation.result);
                    if line != last_line && output == Output::Table {
                        println!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
                    }
                    last_line = line;
                }
                (_, Some(finished)) if finished.id == operation_id => return Ok(finished.result.clone()),
                _ => {}
            }
        }
        if started.elapsed() > Duration::from_secs(timeout_secs) {
            return Err(timed_out("the switchover is still running; follow it with `pharos dr status`"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A probe result as CLI and JSON show it.
fn reach_name(reach: i32) -> &'static str {
    match v1::Reach::try_from(reach) {
        Ok(v1::Reach::Answered) => "answered",
        Ok(v1::Reach::Refused) => "connection refused",
        Ok(v1::Reach::NoAnswer) => "no answer",
        Ok(v1::Reach::Unspecified) | Err(_) => "unknown",
    }
}

async fn failover(
    client: &Client,
    output: Output,
    request: v1::RegionFailoverRequest,
    timeout_secs: u64,
) -> Result<ExitCode, ClientError> {
    let started = Instant::now();
    let (to_region, dry_run) = (request.to_region.clone(), request.dry_run);
    let response = client.dr_failover(request).await?;
    let mut report = FailoverReport::new(&response, to_region, dry_run);
    if output == Output::Table {
        report.print_table();
    }
    if dry_run {
        if output == Output::Json {
            crate::cli::print_json(&report);
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The seed restarts as the new generation's only voter; wait until it leads.
    let seed = Client::with_options(
        [response.seed_client_addr.clone()],
        pharos_client::ClientOptions { attempts_max: 1, ..client.options().clone() },
    )?;
    loop {
        if let Ok(status) = seed.status().await
            && status.generation == response.generation
            && status.state() == pharos_client::v1::ServerState::Leader
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(timeout_secs) {
            return Err(timed_out(&format!(
                "generation {} has no leader yet; check node {}'s log",
                response.generation, response.seed_node_id
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.serving_after_ms = Some(started.elapsed().as_millis() as u64);
    show(output, &report);
    Ok(ExitCode::SUCCESS)
}

async fn failback(
    client: &Client,
    output: Output,
    no_switchover: bool,
    timeout_secs: u64,
) -> Result<ExitCode, ClientError> {
    let started = Instant::now();
    let status = leader_status(client).await?;
    let failover = status
        .last_failover
        .clone()
        .ok_or_else(|| timed_out("no unplanned failover is recorded: nothing to fail back"))?;
    let response = client.dr_failback().await?;
    if output == Output::Table {
        println!("re-joining as learners: {:?}; unreachable: {:?}", response.rejoining, response.unreachable);
        for (node_id, reason) in &response.unreachable_reasons {
            println!("  node {node_id} {reason}");
        }
    }
    let waiting_for: Vec<u64> =
        if response.rejoining.is_empty() { failover.abandoned_node_ids.clone() } else { response.rejoining.clone() };
    // Wait until every returning node is a learner that has caught up.
    loop {
        let status = leader_status(client).await?;
        let caught_up = waiting_for.iter().all(|node_id| {
            status.members.iter().any(|member| {
                member.node_id == *node_id && member.lag_entries.is_some_and(|lag| lag <= FAILBACK_LAG_ENTRIES_MAX)
            })
        });
        if caught_up {
            break;
        }
        if started.elapsed() > Duration::from_secs(timeout_secs) {
            return Err(timed_out("the returning nodes have not caught up; see `pharos dr status`"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    if output == Output::Table {
        println!("[{:>6.1}s] nodes {waiting_for:?} caught up", started.elapsed().as_secs_f64());
    }
    if no_switchover {
        return finish(output, Outcome { rejoined: Some(waiting_for), operation_id: None, result: "ok".into() });
    }
    let switchover = client.dr_switchover(&failover.from_region, false).await?;
    if output == Output::Table {
        println!("switchover back to {}:", failover.from_region);
        for step in &switchover.plan {
            println!("  {step}");
        }
    }
    let remaining = timeout_secs.saturating_sub(started.elapsed().as_secs()).max(1);
    let result = follow_switchover(client, output, switchover.operation_id, remaining).await?;
    finish(output, Outcome { rejoined: Some(waiting_for), operation_id: Some(switchover.operation_id), result })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three endings print only the keys they have, as the hand-built JSON did.
    #[test]
    fn an_outcome_prints_only_what_it_has() {
        let switchover = Outcome { rejoined: None, operation_id: Some(7), result: "ok".into() };
        assert_eq!(crate::cli::json_text(&switchover), "{\n  \"operation_id\": 7,\n  \"result\": \"ok\"\n}");
        let failback = Outcome { rejoined: Some(vec![4, 5]), operation_id: None, result: "ok".into() };
        assert_eq!(crate::cli::json_value(&failback), serde_json::json!({"rejoined": [4, 5], "result": "ok"}));
    }

    /// A dry run's report has no `serving_after_ms`; the table-only fields never reach the JSON.
    #[test]
    fn a_failover_report_names_its_probes() {
        let response = v1::RegionFailoverResponse {
            generation: 2,
            seed_node_id: 4,
            rejoining: vec![5],
            seed_client_addr: "10.0.1.4:7370".into(),
            probes: vec![v1::RegionProbe {
                node_id: 1,
                region: "east".into(),
                client: v1::Reach::Refused.into(),
                peer: v1::Reach::NoAnswer.into(),
            }],
            ..Default::default()
        };
        let report = FailoverReport::new(&response, "west".into(), true);
        assert_eq!(
            crate::cli::json_value(&report),
            serde_json::json!({
                "generation": 2, "seed_node_id": 4, "rejoining": [5], "unreachable": [], "rpo_zero": false,
                "seed_last_log_index": 0, "last_known_commit_index": 0, "loss_report": [], "groups": [],
                "dry_run": true,
                "probes": [{"node_id": 1, "region": "east", "client": "connection refused", "peer": "no answer"}],
            })
        );
    }
}
