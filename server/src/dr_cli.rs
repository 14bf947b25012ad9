//! `pharos dr ...`: status, placement, replication mode, switchover, failover, failback. Long
//! operations print their steps as they happen and end with a one-line result.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientError, v1};
use serde_json::json;

use crate::cli::Output;

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

fn status_json(status: &v1::DrStatusResponse) -> serde_json::Value {
    let operation = |operation: &v1::DrOperationStatus| {
        json!({
            "id": operation.id, "from_region": operation.from_region, "to_region": operation.to_region,
            "step": operation.step().label(), "started_at_ms": operation.started_at_ms, "step_at_ms": operation.step_at_ms,
            "result": operation.result, "finished_at_ms": operation.finished_at_ms,
        })
    };
    json!({
        "cluster_id": status.cluster_id, "generation": status.generation, "node_id": status.node_id,
        "leader_id": status.leader_id, "primary_region": status.primary_region, "dr_region": status.dr_region,
        "mode": status.mode().label(), "state": status.state().label(), "dr_state_id": status.dr_state_id,
        "dr_sync_timeout_ms": status.dr_sync_timeout_ms,
        "members": status.members.iter().map(|member| json!({
            "node_id": member.node_id, "zone": member.zone, "region": member.region, "role": member.role().label(),
            "lag_entries": member.lag_entries, "lag_ms": member.lag_ms, "matched_index": member.matched_index,
        })).collect::<Vec<_>>(),
        "operation": status.operation.as_ref().map(operation),
        "last_operation": status.last_operation.as_ref().map(operation),
        "last_failover": status.last_failover.as_ref().map(|failover| json!({
            "generation": failover.generation, "at_ms": failover.at_ms, "from_region": failover.from_region,
            "to_region": failover.to_region, "seed_node_id": failover.seed_node_id,
            "seed_last_log_index": failover.seed_last_log_index,
            "last_known_commit_index": failover.last_known_commit_index, "last_mode": failover.last_mode().label(),
            "last_state": failover.last_state().label(), "rpo_zero": failover.rpo_zero, "loss_report": failover.loss_report,
            "abandoned_node_ids": failover.abandoned_node_ids,
        })),
        "warnings": status.warnings, "fenced_by_generation": status.fenced_by_generation,
        "applied_index": status.applied_index, "millis_since_leader_contact": status.millis_since_leader_contact,
    })
}

fn print_status(status: &v1::DrStatusResponse) {
    let or_dash = |text: &str| if text.is_empty() { "-".to_string() } else { text.to_string() };
    println!("cluster     {} generation {}", status.cluster_id, status.generation);
    println!("regions     primary {}   dr {}", or_dash(&status.primary_region), or_dash(&status.dr_region));
    let state = if status.mode() == pharos_client::v1::DrMode::DrSync { status.state().label() } else { "-" };
    println!(
        "mode        {}   state {state} (state id {})   sync timeout {} ms",
        status.mode().label(),
        status.dr_state_id,
        status.dr_sync_timeout_ms
    );
    println!("leader      {}", status.leader_id.map_or("none".to_string(), |id| id.to_string()));
    println!();
    println!("{:<6} {:<10} {:<12} {:<8} {:>12} {:>10}", "NODE", "REGION", "ZONE", "ROLE", "LAG_ENTRIES", "LAG_MS");
    let number = |value: Option<u64>| value.map_or("-".to_string(), |value| value.to_string());
    for member in &status.members {
        println!(
            "{:<6} {:<10} {:<12} {:<8} {:>12} {:>10}",
            member.node_id,
            member.region,
            member.zone,
            member.role().label(),
            number(member.lag_entries),
            number(member.lag_ms)
        );
    }
    if let Some(operation) = &status.operation {
        println!();
        println!(
            "operation   {} switchover {} -> {}: step {} ({})",
            operation.id,
            operation.from_region,
            operation.to_region,
            operation.step().label(),
            operation.result
        );
    }
    if let Some(operation) = &status.last_operation {
        println!(
            "last        {} switchover {} -> {}: {}",
            operation.id, operation.from_region, operation.to_region, operation.result
        );
    }
    if let Some(failover) = &status.last_failover {
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
    for warning in &status.warnings {
        println!("WARNING: {warning}");
    }
}

pub async fn run(client: &Client, output: Output, command: DrCommand) -> Result<ExitCode, ClientError> {
    match command {
        DrCommand::Status => {
            let status = leader_status(client).await?;
            match output {
                Output::Json => crate::cli::print_json(&status_json(&status)),
                Output::Table => print_status(&status),
            }
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Configure { primary, dr } => {
            let response = client.dr_configure(&primary, &dr).await?;
            match output {
                Output::Json => crate::cli::print_json(&json!({"revision": response.revision})),
                Output::Table => println!("primary region {primary}, DR region {dr} (revision {})", response.revision),
            }
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Mode(ModeCommand::Set { mode, sync_timeout_ms }) => {
            let response = client.dr_set_mode(mode, sync_timeout_ms).await?;
            match output {
                Output::Json => crate::cli::print_json(&json!({"revision": response.revision})),
                Output::Table => println!("replication mode {} (revision {})", mode.label(), response.revision),
            }
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Switchover { to_region, dry_run, timeout_secs } => {
            let response = client.dr_switchover(&to_region, dry_run).await?;
            if output == Output::Table {
                println!("{}switchover to {to_region}:", if dry_run { "plan of a " } else { "" });
                for step in &response.plan {
                    println!("  {step}");
                }
            }
            if dry_run {
                if output == Output::Json {
                    crate::cli::print_json(&json!({"plan": response.plan}));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let result = follow_switchover(client, output, response.operation_id, timeout_secs).await?;
            finish(output, json!({"operation_id": response.operation_id, "result": result}), &result)
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

fn finish(output: Output, value: serde_json::Value, result: &str) -> Result<ExitCode, ClientError> {
    match output {
        Output::Json => crate::cli::print_json(&value),
        Output::Table => println!("result: {result}"),
    }
    Ok(if result == "ok" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
    let probes: Vec<serde_json::Value> = response
        .probes
        .iter()
        .map(|probe| {
            json!({"node_id": probe.node_id, "region": probe.region, "client": reach_name(probe.client),
                "peer": reach_name(probe.peer)})
        })
        .collect();
    if output == Output::Table {
        for probe in &response.probes {
            println!(
                "probe node {} ({}): client port {}, peer port {}",
                probe.node_id,
                probe.region,
                reach_name(probe.client),
                reach_name(probe.peer)
            );
        }
        println!(
            "{}failover to {to_region}: generation {}, seed node {}, re-joining {:?}, unreachable {:?}",
            if dry_run { "plan of a " } else { "" },
            response.generation,
            response.seed_node_id,
            response.rejoining,
            response.unreachable
        );
        println!(
            "possible loss: seed holds log up to {}, last commit known {}; RPO = 0 {}",
            response.seed_last_log_index,
            response.last_known_commit_index,
            if response.rpo_zero { "guaranteed" } else { "NOT guaranteed" }
        );
        for line in &response.loss_report {
            println!("  {line}");
        }
        for line in &response.groups {
            println!("  group {line}");
        }
    }
    let report = json!({
        "generation": response.generation, "seed_node_id": response.seed_node_id,
        "rejoining": response.rejoining, "unreachable": response.unreachable, "rpo_zero": response.rpo_zero,
        "seed_last_log_index": response.seed_last_log_index,
        "last_known_commit_index": response.last_known_commit_index,
        "loss_report": response.loss_report, "groups": response.groups, "dry_run": dry_run,
        "probes": probes,
    });
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
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match output {
        Output::Json => {
            let mut report = report;
            report["serving_after_ms"] = json!(elapsed_ms);
            crate::cli::print_json(&report);
        }
        Output::Table => println!(
            "generation {} serving at {} after {elapsed_ms} ms; the other survivors re-join and are promoted",
            response.generation, response.seed_client_addr
        ),
    }
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
        return finish(output, json!({"rejoined": waiting_for, "result": "ok"}), "ok");
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
    finish(output, json!({"rejoined": waiting_for, "operation_id": switchover.operation_id, "result": result}), &result)
}
