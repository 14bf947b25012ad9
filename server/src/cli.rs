//! The operator CLI: `pharos <noun> <verb>`, tables for people, `--output json` for scripts.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pharos_client::{Client, ClientError, v1};
use serde_json::json;

use crate::config::ServeArgs;

#[derive(Debug, Parser)]
#[command(name = "pharos", version, about = "Pharos: metadata and disaster-recovery coordinator for broker fleets")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Client endpoints, comma separated; the CLI follows leader redirects itself.
    #[arg(long, global = true, env = "PHAROS_ENDPOINTS", default_value = "127.0.0.1:7370")]
    pub endpoints: String,
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node (no arguments: single-node cluster on 127.0.0.1, data in ./pharos-data).
    Serve(Box<ServeArgs>),
    /// The generic key/value namespace.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Cluster membership and status.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsistencyArg {
    Linearizable,
    Local,
}

impl From<ConsistencyArg> for v1::Consistency {
    fn from(consistency: ConsistencyArg) -> Self {
        match consistency {
            ConsistencyArg::Linearizable => v1::Consistency::Linearizable,
            ConsistencyArg::Local => v1::Consistency::Local,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Write KEY = VALUE.
    Put { key: String, value: String },
    /// Print the value of KEY alone (exit 1 if it does not exist).
    Get {
        key: String,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Delete KEY.
    Del { key: String },
    /// List keys starting with PREFIX.
    Range {
        prefix: String,
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Leader, term, indexes, every member's role, placement and lag, and warnings.
    Status,
    /// Members only.
    Members,
    /// Add a node as a learner (what `serve --join` does for itself).
    AddLearner {
        node_id: u64,
        #[arg(long)]
        peer_addr: String,
        #[arg(long)]
        client_addr: String,
        #[arg(long, default_value = "zone-a")]
        zone: String,
        #[arg(long, default_value = "region-1")]
        region: String,
    },
    /// Make a learner a voter (joint consensus).
    Promote { node_id: u64 },
    /// Remove a voter or learner.
    Remove { node_id: u64 },
    /// Hand leadership to a voter.
    TransferLeader { node_id: u64 },
    /// Snapshot the state on the answering node and purge its log behind the snapshot.
    Compact,
}

/// Runs one CLI command; prints one line on failure and exits non-zero.
pub async fn run(global: GlobalArgs, command: Command) -> ExitCode {
    let endpoints: Vec<String> = global.endpoints.split(',').map(str::trim).map(str::to_string).collect();
    let client = match Client::new(endpoints) {
        Ok(client) => client,
        Err(error) => return fail(&error.to_string()),
    };
    let result = match command {
        Command::Serve(_) => return fail("serve is not a client command"),
        Command::Kv(command) => kv(&client, global.output, command).await,
        Command::Cluster(command) => cluster(&client, global.output, command).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => fail(&error.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {}", message.lines().next().unwrap_or(message));
    ExitCode::FAILURE
}

fn print_json(value: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn revision(header: &Option<v1::ResponseHeader>) -> u64 {
    header.as_ref().map_or(0, |header| header.revision)
}

async fn kv(client: &Client, output: Output, command: KvCommand) -> Result<ExitCode, ClientError> {
    match command {
        KvCommand::Put { key, value } => {
            let response = client.put(key, value).await?;
            match output {
                Output::Json => {
                    print_json(json!({"revision": revision(&response.header), "created": response.created}))
                }
                Output::Table => println!("OK (revision {})", revision(&response.header)),
            }
        }
        KvCommand::Get { key, consistency } => {
            let response = client.get(key.clone(), consistency.into()).await?;
            let header = response.header.unwrap_or_default();
            let Some(kv) = response.kv else {
                if output == Output::Json {
                    print_json(json!({"key": key, "found": false, "revision": header.revision}));
                }
                eprintln!("error: key not found: {key}");
                return Ok(ExitCode::FAILURE);
            };
            match output {
                Output::Json => print_json(json!({
                    "key": text(&kv.key), "found": true, "value": text(&kv.value),
                    "create_revision": kv.create_revision, "mod_revision": kv.mod_revision,
                    "version": kv.version, "revision": header.revision,
                    "node_id": header.node_id, "applied_index": header.applied_index,
                    "known_commit_index": header.known_commit_index,
                })),
                Output::Table => println!("{}", text(&kv.value)),
            }
        }
        KvCommand::Del { key } => {
            let response = client.delete(key).await?;
            match output {
                Output::Json => {
                    print_json(json!({"revision": revision(&response.header), "deleted": response.deleted}))
                }
                Output::Table => println!("{}", if response.deleted { "deleted" } else { "not found" }),
            }
        }
        KvCommand::Range { prefix, limit, consistency } => {
            let response = client.range(prefix, limit, consistency.into()).await?;
            match output {
                Output::Json => print_json(json!({
                    "revision": revision(&response.header),
                    "more": response.more,
                    "kvs": response.kvs.iter().map(|kv| json!({
                        "key": text(&kv.key), "value": text(&kv.value),
                        "create_revision": kv.create_revision, "mod_revision": kv.mod_revision, "version": kv.version,
                    })).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    for kv in &response.kvs {
                        println!("{}\t{}", text(&kv.key), text(&kv.value));
                    }
                    if response.more {
                        eprintln!("(more keys: raise --limit)");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn member_json(member: &v1::MemberStatus) -> serde_json::Value {
    let info = member.info.clone().unwrap_or_default();
    json!({
        "node_id": member.node_id, "role": member.role,
        "client_addr": info.client_addr, "peer_addr": info.peer_addr,
        "zone": info.zone, "region": info.region,
        "lag_entries": member.lag_entries, "matched_index": member.matched_index,
    })
}

fn print_members(status: &v1::StatusResponse) {
    println!("{:<6} {:<8} {:<22} {:<22} {:<12} {:<12} {:>8}", "ID", "ROLE", "CLIENT", "PEER", "ZONE", "REGION", "LAG");
    for member in &status.members {
        let info = member.info.clone().unwrap_or_default();
        let leader = if status.leader_id == Some(member.node_id) { "*" } else { "" };
        println!(
            "{:<6} {:<8} {:<22} {:<22} {:<12} {:<12} {:>8}",
            format!("{}{leader}", member.node_id),
            member.role,
            info.client_addr,
            info.peer_addr,
            info.zone,
            info.region,
            member.lag_entries.map_or("-".to_string(), |lag| lag.to_string()),
        );
    }
}

async fn cluster(client: &Client, output: Output, command: ClusterCommand) -> Result<ExitCode, ClientError> {
    match command {
        ClusterCommand::Status | ClusterCommand::Members => {
            // Ask the leader when one is known, so lag figures are present.
            let mut status = client.status().await?;
            if status.state != "leader"
                && let Some(leader) = status.members.iter().find(|member| Some(member.node_id) == status.leader_id)
                && let Some(address) =
                    leader.info.as_ref().map(|info| info.client_addr.clone()).filter(|a| !a.is_empty())
                && let Ok(leader_status) = Client::new([address])?.status().await
            {
                status = leader_status;
            }
            let members_only = matches!(command, ClusterCommand::Members);
            match output {
                Output::Json if members_only => {
                    print_json(json!(status.members.iter().map(member_json).collect::<Vec<_>>()))
                }
                Output::Json => print_json(json!({
                    "cluster_id": status.cluster_id, "generation": status.generation,
                    "node_id": status.node_id, "state": status.state, "leader_id": status.leader_id,
                    "term": status.term, "last_log_index": status.last_log_index,
                    "commit_index": status.commit_index, "applied_index": status.applied_index,
                    "snapshot_index": status.snapshot_index, "purged_index": status.purged_index,
                    "joint_consensus": status.joint_consensus, "state_digest": status.state_digest,
                    "members": status.members.iter().map(member_json).collect::<Vec<_>>(),
                    "warnings": status.warnings,
                })),
                Output::Table if members_only => print_members(&status),
                Output::Table => {
                    println!("cluster     {} (generation {})", status.cluster_id, status.generation);
                    println!(
                        "leader      {}   term {}",
                        status.leader_id.map_or("none".to_string(), |id| id.to_string()),
                        status.term
                    );
                    println!(
                        "answered by node {} ({}): last log {}, commit {}, applied {}, snapshot {}",
                        status.node_id,
                        status.state,
                        status.last_log_index,
                        status.commit_index,
                        status.applied_index,
                        status.snapshot_index
                    );
                    if status.joint_consensus {
                        println!("membership  joint consensus in progress");
                    }
                    println!();
                    print_members(&status);
                    for warning in &status.warnings {
                        println!("WARNING: {warning}");
                    }
                }
            }
        }
        ClusterCommand::AddLearner { node_id, peer_addr, client_addr, zone, region } => {
            let info = v1::NodeInfo { client_addr, peer_addr, zone, region };
            let response = client.join(node_id, info).await?;
            match output {
                Output::Json => {
                    print_json(json!({"node_id": node_id, "role": "learner", "cluster_id": response.cluster_id}))
                }
                Output::Table => println!("node {node_id} added as a learner"),
            }
        }
        ClusterCommand::Promote { node_id } => {
            let response = client.promote(node_id).await?;
            match output {
                Output::Json => print_json(json!({"node_id": node_id, "voters": response.voters})),
                Output::Table => println!("node {node_id} is a voter; voters: {:?}", response.voters),
            }
        }
        ClusterCommand::Remove { node_id } => {
            let response = client.remove(node_id).await?;
            match output {
                Output::Json => {
                    print_json(json!({"removed": node_id, "voters": response.voters, "learners": response.learners}))
                }
                Output::Table => println!("node {node_id} removed; voters: {:?}", response.voters),
            }
        }
        ClusterCommand::TransferLeader { node_id } => {
            let response = client.transfer_leader(node_id).await?;
            match output {
                Output::Json => print_json(json!({"leader_id": response.leader_id})),
                Output::Table => println!("leader is now node {}", response.leader_id),
            }
        }
        ClusterCommand::Compact => {
            let response = client.compact().await?;
            match output {
                Output::Json => print_json(
                    json!({"snapshot_index": response.snapshot_index, "purged_index": response.purged_index}),
                ),
                Output::Table => {
                    println!("snapshot at {}, log purged up to {}", response.snapshot_index, response.purged_index)
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
