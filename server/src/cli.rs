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
    /// File holding the bearer token to send (docs/security.md). Without it and without
    /// PHAROS_TOKEN, the CLI reads the default data dir's root token (`./pharos-data/root.token`)
    /// if there is one, so the single-node default needs no flag.
    #[arg(long, global = true, env = "PHAROS_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// CA (PEM) of the cluster's TLS: dial the endpoints with TLS and verify them against it.
    #[arg(long, global = true, env = "PHAROS_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// The data dir `pharos serve` uses without flags, whose root token the CLI finds by itself.
const DEFAULT_ROOT_TOKEN: &str = "pharos-data/root.token";

impl GlobalArgs {
    /// The token to send: `PHAROS_TOKEN`, else `--token-file`, else the default data dir's root
    /// token when it exists, else none.
    pub fn token(&self) -> Result<Option<String>, String> {
        if let Ok(token) = std::env::var("PHAROS_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Some(token.trim().to_string()));
        }
        let (path, required) = match &self.token_file {
            Some(path) => (path.clone(), true),
            None => (std::path::PathBuf::from(DEFAULT_ROOT_TOKEN), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(token) => Ok(Some(token.trim().to_string())),
            Err(error) if required => Err(format!("cannot read the token file {}: {error}", path.display())),
            Err(_) => Ok(None),
        }
    }
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
    /// Brokers and broker groups.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Run one simulated broker (register, heartbeat, honour the lease, replicate).
    SimulateBroker(crate::simulate::SimulateArgs),
    /// Topics and their routes.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Consumer offsets.
    #[command(subcommand)]
    Offset(OffsetCommand),
    /// The audit log of administrative changes.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Zones, regions and disaster recovery: status, mode, switchover, failover, failback.
    #[command(subcommand)]
    Dr(crate::dr_cli::DrCommand),
    /// A cluster CA and node certificates for TLS (files only; talks to no node).
    #[command(subcommand)]
    Cert(crate::cert_cli::CertCommand),
    /// Users, tokens and access policies.
    #[command(subcommand)]
    Acl(crate::acl_cli::AclCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only entries since this time: RFC 3339 (`2026-12-03T10:00:00Z`) or an age (`90m`, `2h`).
        #[arg(long, value_parser = parse_since)]
        since: Option<u64>,
        /// Only entries by this user (`root`, `coordinator`).
        #[arg(long)]
        subject: Option<String>,
        /// Only entries of this action (`fence_broker`, `acl_grant`).
        #[arg(long)]
        action: Option<String>,
    },
}

/// `--since`: an RFC 3339 time or an age before now, as Unix milliseconds.
fn parse_since(text: &str) -> Result<u64, String> {
    let at = match humantime::parse_rfc3339_weak(text) {
        Ok(at) => at,
        Err(_) => {
            let age = humantime::parse_duration(text)
                .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor an age such as 90m"))?;
            std::time::SystemTime::now().checked_sub(age).ok_or_else(|| format!("{text:?} reaches before 1970"))?
        }
    };
    let since = at.duration_since(std::time::UNIX_EPOCH).map_err(|_| format!("{text:?} is before 1970"))?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds as an RFC 3339 UTC time with milliseconds, as tables show times.
pub(crate) fn rfc3339(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    humantime::format_rfc3339_millis(at).to_string()
}

#[derive(Debug, Clone, clap::Args)]
pub struct TopicShape {
    /// Read and write queues per broker group.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Broker groups, comma separated (default: every registered group).
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,
    /// 6 read+write, 4 read only, 2 write only.
    #[arg(long, default_value_t = 6)]
    perm: u32,
    /// normal, fifo, delay or transactional.
    #[arg(long, default_value = "normal", value_parser = parse_message_type)]
    message_type: v1::MessageType,
    /// Attributes as KEY=VALUE, repeatable.
    #[arg(long = "attribute")]
    attributes: Vec<String>,
}

fn parse_message_type(label: &str) -> Result<v1::MessageType, String> {
    v1::MessageType::from_label(label).ok_or_else(|| format!("{label:?} is not normal, fifo, delay or transactional"))
}

/// What `topic update` changes; every field left out keeps its current value.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicChanges {
    /// Read and write queues per broker group (every group of the topic, or of --groups).
    #[arg(long)]
    queues: Option<u32>,
    /// The topic's broker groups, comma separated (new groups get --queues, or 8).
    #[arg(long, value_delimiter = ',')]
    groups: Option<Vec<String>>,
    /// 6 read+write, 4 read only, 2 write only.
    #[arg(long)]
    perm: Option<u32>,
    /// normal, fifo, delay or transactional.
    #[arg(long, value_parser = parse_message_type)]
    message_type: Option<v1::MessageType>,
    /// Set an attribute, KEY=VALUE, repeatable (the others stay).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
    /// Remove an attribute, repeatable.
    #[arg(long = "remove-attribute")]
    remove_attributes: Vec<String>,
}

/// Queues a group gets when `topic update --groups` adds it without `--queues`.
const NEW_GROUP_QUEUES: u32 = 8;

fn parse_attribute(entry: &str) -> Result<(String, String), ClientError> {
    entry
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| ClientError::Config(format!("attribute `{entry}` is not KEY=VALUE")))
}

/// `current` with `changes` applied; its revision stays, so the update is a compare-and-set.
fn changed_topic(mut topic: v1::TopicInfo, changes: TopicChanges) -> Result<v1::TopicInfo, ClientError> {
    if let Some(groups) = changes.groups {
        let old: std::collections::BTreeMap<String, v1::QueueSpec> =
            topic.queues.drain(..).map(|queues| (queues.group.clone(), queues)).collect();
        topic.queues = groups
            .into_iter()
            .map(|group| {
                old.get(&group).cloned().unwrap_or(v1::QueueSpec {
                    group,
                    read_queues: NEW_GROUP_QUEUES,
                    write_queues: NEW_GROUP_QUEUES,
                })
            })
            .collect();
    }
    if let Some(queues) = changes.queues {
        for spec in &mut topic.queues {
            spec.read_queues = queues;
            spec.write_queues = queues;
        }
    }
    if let Some(perm) = changes.perm {
        topic.perm = perm;
    }
    if let Some(message_type) = changes.message_type {
        topic.message_type = message_type.into();
    }
    for entry in &changes.attributes {
        let (key, value) = parse_attribute(entry)?;
        topic.attributes.insert(key, value);
    }
    for key in &changes.remove_attributes {
        topic.attributes.remove(key);
    }
    Ok(topic)
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    Create {
        name: String,
        #[command(flatten)]
        shape: TopicShape,
    },
    /// Change only the named fields of a topic (read, change, write back if nobody changed it
    /// in between).
    Update {
        name: String,
        #[command(flatten)]
        changes: TopicChanges,
    },
    List {
        #[arg(long, default_value = "")]
        prefix: String,
    },
    Describe {
        name: String,
    },
    /// Delete a topic (--force when consumer groups still hold offsets for it).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Queues per broker group with master and replica addresses on a network.
    Route {
        name: String,
        #[arg(long, default_value = "internal")]
        network: String,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum OffsetCommand {
    Commit {
        consumer_group: String,
        topic: String,
        queue_id: u32,
        offset: u64,
        /// Refuse if this would move the offset backwards.
        #[arg(long)]
        reject_backwards: bool,
    },
    Get {
        consumer_group: String,
        topic: Option<String>,
    },
    /// Reset every queue of TOPIC for CONSUMER_GROUP (audited in the leader's log).
    Reset {
        consumer_group: String,
        topic: String,
        /// `earliest` or an offset.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Every group: master, epochs, sync state set, and each broker's liveness and placement.
    List,
    /// One broker in detail.
    Describe { broker_id: u64 },
    /// Move a group's master: fence the current one, wait for its lease, elect another.
    Failover {
        #[arg(long)]
        group: String,
        /// Elect this broker (must be live and in the sync state set, unless --unclean).
        #[arg(long)]
        to: Option<u64>,
        /// Allow a broker outside the sync state set (possible message loss).
        #[arg(long)]
        unclean: bool,
    },
    /// Declare a broker dead now.
    Fence { broker_id: u64 },
    /// Forget a fenced or shut-down broker.
    Remove { broker_id: u64 },
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
        #[arg(long, default_value = "")]
        zone: String,
        #[arg(long, default_value = "")]
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
    if let Command::Cert(command) = command {
        return crate::cert_cli::run(command).unwrap_or_else(|error| fail(&format!("{error:#}")));
    }
    let token = match global.token() {
        Ok(token) => token,
        Err(error) => return fail(&error),
    };
    let options =
        pharos_client::ClientOptions { token: token.clone(), ca_file: global.ca_file.clone(), ..Default::default() };
    let client = match Client::with_options(endpoints, options) {
        Ok(client) => client,
        Err(error) => return fail(&error.to_string()),
    };
    let result = match command {
        Command::Serve(_) | Command::Cert(_) => return fail("serve is not a client command"),
        Command::Kv(command) => kv(&client, global.output, command).await,
        Command::Cluster(command) => cluster(&client, global.output, command).await,
        Command::Broker(command) => broker(&client, global.output, command).await,
        Command::Topic(command) => topic(&client, global.output, command).await,
        Command::Offset(command) => offset(&client, global.output, command).await,
        Command::Audit(AuditCommand::List { limit, since, subject, action }) => {
            let request = v1::ListAuditRequest {
                limit,
                since_ms: since.unwrap_or(0),
                subject: subject.unwrap_or_default(),
                action: action.unwrap_or_default(),
                ..Default::default()
            };
            audit(&client, global.output, request).await
        }
        Command::Acl(command) => crate::acl_cli::run(&client, global.output, command).await,
        Command::Dr(command) => crate::dr_cli::run(&client, global.output, command).await,
        Command::SimulateBroker(args) => {
            let endpoints = global.endpoints.split(',').map(str::trim).map(str::to_string).collect();
            crate::simulate::run(endpoints, token, args, global.ca_file.clone()).await.map(|()| ExitCode::SUCCESS)
        }
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

pub(crate) fn print_json(value: serde_json::Value) {
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
        "node_id": member.node_id, "role": member.role().label(),
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
            member.role().label(),
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
            if status.state() != pharos_client::v1::ServerState::Leader
                && let Some(leader) = status.members.iter().find(|member| Some(member.node_id) == status.leader_id)
                && let Some(address) =
                    leader.info.as_ref().map(|info| info.client_addr.clone()).filter(|a| !a.is_empty())
                && let Ok(leader_status) = client.at(&address)?.status().await
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
                    "node_id": status.node_id, "state": status.state().label(), "leader_id": status.leader_id,
                    "term": status.term, "last_log_index": status.last_log_index,
                    "commit_index": status.commit_index, "applied_index": status.applied_index,
                    "snapshot_index": status.snapshot_index, "purged_index": status.purged_index,
                    "joint_consensus": status.joint_consensus, "state_digest": status.state_digest,
                    "members": status.members.iter().map(member_json).collect::<Vec<_>>(),
                    "warnings": status.warnings, "insecure": status.insecure,
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
                        status.state().label(),
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
            let response = client.add_learner(node_id, info).await?;
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
                Output::Json => {
                    print_json(json!({"node_id": node_id, "voters": response.voters, "changed": response.changed}))
                }
                Output::Table if !response.changed => {
                    println!("node {node_id} was a voter already; voters: {:?}", response.voters)
                }
                Output::Table => println!("node {node_id} is a voter; voters: {:?}", response.voters),
            }
        }
        ClusterCommand::Remove { node_id } => {
            let response = client.remove(node_id).await?;
            match output {
                Output::Json => print_json(json!({
                    "removed": node_id, "voters": response.voters, "learners": response.learners,
                    "changed": response.changed,
                })),
                Output::Table if !response.changed => {
                    println!("node {node_id} was not a member; nothing changed; voters: {:?}", response.voters)
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

fn broker_json(group: &v1::BrokerGroupView, broker: &v1::BrokerInfo) -> serde_json::Value {
    let role = if group.master_broker_id == Some(broker.broker_id) { "master" } else { "replica" };
    json!({
        "broker_id": broker.broker_id, "name": broker.name, "group": broker.group, "cluster": broker.cluster,
        "election_mode": group.election_mode().label(),
        "role": if broker.state() == v1::BrokerState::Active { role } else { "none" }, "state": broker.state().label(),
        "broker_epoch": broker.broker_epoch, "incarnation_id": broker.incarnation_id,
        "in_sync": group.sync_state_set.contains(&broker.broker_id),
        "zone": broker.zone, "region": broker.region, "addresses": broker.addresses,
        "election_priority": broker.election_priority,
        "last_heartbeat_age_ms": broker.last_heartbeat_age_ms,
        "max_offset": broker.max_offset, "confirm_offset": broker.confirm_offset,
    })
}

fn group_json(group: &v1::BrokerGroupView) -> serde_json::Value {
    json!({
        "group": group.name, "election_mode": group.election_mode().label(),
        "master_broker_id": group.master_broker_id, "master_epoch": group.master_epoch,
        "sync_state_set": group.sync_state_set, "sync_state_epoch": group.sync_state_epoch,
        "leaderless": group.leaderless, "leaderless_reason": group.leaderless_reason,
        "brokers": group.brokers.iter().map(|broker| broker_json(group, broker)).collect::<Vec<_>>(),
    })
}

async fn broker(client: &Client, output: Output, command: BrokerCommand) -> Result<ExitCode, ClientError> {
    match command {
        BrokerCommand::List => {
            let response = client.list_broker_groups(v1::Consistency::Linearizable).await?;
            match output {
                Output::Json => print_json(json!({
                    "revision": response.revision,
                    "groups": response.groups.iter().map(group_json).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    println!(
                        "{:<14} {:>6} {:<14} {:<8} {:<9} {:>6} {:<10} {:<10} {:<10} {:>8}",
                        "GROUP", "ID", "NAME", "ROLE", "STATE", "EPOCH", "SYNC", "ZONE", "REGION", "HB AGE"
                    );
                    for group in &response.groups {
                        let sync = format!("{:?}", group.sync_state_set);
                        for broker in &group.brokers {
                            let role = if broker.state() != v1::BrokerState::Active {
                                "-"
                            } else if group.master_broker_id == Some(broker.broker_id) {
                                "master"
                            } else {
                                "replica"
                            };
                            println!(
                                "{:<14} {:>6} {:<14} {:<8} {:<9} {:>6} {:<10} {:<10} {:<10} {:>8}",
                                group.name,
                                broker.broker_id,
                                broker.name,
                                role,
                                broker.state().label(),
                                group.master_epoch,
                                sync,
                                broker.zone,
                                broker.region,
                                broker.last_heartbeat_age_ms.map_or("-".to_string(), |age| format!("{age}ms")),
                            );
                        }
                        if group.election_mode() == v1::ElectionMode::Declared {
                            println!(
                                "  (group {}: its brokers declare the master; NAME is the RocketMQ broker id)",
                                group.name
                            );
                        }
                        if group.leaderless {
                            println!("WARNING: group {} is leaderless: {}", group.name, group.leaderless_reason);
                        }
                    }
                }
            }
        }
        BrokerCommand::Describe { broker_id } => {
            let response = client.list_broker_groups(v1::Consistency::Linearizable).await?;
            let found = response.groups.iter().find_map(|group| {
                group
                    .brokers
                    .iter()
                    .find(|broker| broker.broker_id == broker_id)
                    .map(|broker| broker_json(group, broker))
            });
            let Some(found) = found else {
                eprintln!("error: UNKNOWN_BROKER: broker {broker_id} is unknown");
                return Ok(ExitCode::FAILURE);
            };
            match output {
                Output::Json => print_json(found),
                Output::Table => {
                    if let Some(object) = found.as_object() {
                        for (key, value) in object {
                            println!("{key:<22} {value}");
                        }
                    }
                }
            }
        }
        BrokerCommand::Failover { group, to, unclean } => {
            if output == Output::Table {
                eprintln!("failing over {group}: fencing the master and waiting for its lease to run out...");
            }
            let response = client.failover(&group, to, unclean).await?;
            match output {
                Output::Json => print_json(json!({
                    "group": group, "master_broker_id": response.master_broker_id, "master_epoch": response.master_epoch,
                })),
                Output::Table => println!(
                    "group {group}: master is broker {} (epoch {})",
                    response.master_broker_id, response.master_epoch
                ),
            }
        }
        BrokerCommand::Fence { broker_id } => {
            let response = client.fence_broker(broker_id).await?;
            match output {
                Output::Json => {
                    print_json(json!({"broker_id": broker_id, "state": "fenced", "revision": response.revision}))
                }
                Output::Table => println!("broker {broker_id} fenced (revision {})", response.revision),
            }
        }
        BrokerCommand::Remove { broker_id } => {
            let response = client.remove_broker(broker_id).await?;
            match output {
                Output::Json => {
                    print_json(json!({"broker_id": broker_id, "removed": true, "revision": response.revision}))
                }
                Output::Table => println!("broker {broker_id} removed (revision {})", response.revision),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn topic_info(client: &Client, name: String, shape: TopicShape) -> Result<v1::TopicInfo, ClientError> {
    let groups = if shape.groups.is_empty() {
        client
            .list_broker_groups(v1::Consistency::Linearizable)
            .await?
            .groups
            .into_iter()
            .map(|group| group.name)
            .collect()
    } else {
        shape.groups
    };
    let attributes = shape.attributes.iter().map(|entry| parse_attribute(entry)).collect::<Result<_, _>>()?;
    Ok(v1::TopicInfo {
        name,
        queues: groups
            .into_iter()
            .map(|group| v1::QueueSpec { group, read_queues: shape.queues, write_queues: shape.queues })
            .collect(),
        perm: shape.perm,
        message_type: shape.message_type.into(),
        attributes,
        create_revision: 0,
        revision: 0,
        reported_by_group: String::new(),
    })
}

fn topic_json(topic: &v1::TopicInfo) -> serde_json::Value {
    json!({
        "name": topic.name, "perm": topic.perm, "message_type": topic.message_type().label(),
        "queues": topic.queues.iter().map(|q| json!({"group": q.group, "read_queues": q.read_queues, "write_queues": q.write_queues})).collect::<Vec<_>>(),
        "attributes": topic.attributes, "create_revision": topic.create_revision, "revision": topic.revision,
        "reported_by_group": topic.reported_by_group,
    })
}

fn address_json(broker: &v1::BrokerAddress) -> serde_json::Value {
    json!({"broker_id": broker.broker_id, "name": broker.name, "address": broker.address})
}

async fn topic(client: &Client, output: Output, command: TopicCommand) -> Result<ExitCode, ClientError> {
    match command {
        TopicCommand::Create { name, shape } => {
            let response = client.create_topic(topic_info(client, name, shape).await?).await?;
            match output {
                Output::Json => {
                    print_json(json!({"revision": response.revision, "topic": response.topic.as_ref().map(topic_json)}))
                }
                Output::Table => println!("topic created (revision {})", response.revision),
            }
        }
        TopicCommand::Update { name, changes } => {
            let current = client
                .get_topic(&name, v1::Consistency::Linearizable)
                .await?
                .topic
                .ok_or_else(|| ClientError::Config(format!("topic {name} has no spec")))?;
            let response = client.update_topic(changed_topic(current, changes)?).await?;
            match output {
                Output::Json => {
                    print_json(json!({"revision": response.revision, "topic": response.topic.as_ref().map(topic_json)}))
                }
                Output::Table => println!("topic updated (revision {})", response.revision),
            }
        }
        TopicCommand::List { prefix } => {
            let mut topics = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = v1::ListTopicsRequest { prefix: prefix.clone(), limit: 0, page_token, consistency: 0 };
                let page = client.list_topics(request).await?;
                topics.extend(page.topics);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            match output {
                Output::Json => print_json(json!(topics.iter().map(topic_json).collect::<Vec<_>>())),
                Output::Table => {
                    println!("{:<40} {:>6} {:<14} {:>7}  GROUPS", "TOPIC", "PERM", "TYPE", "QUEUES");
                    for topic in &topics {
                        let queues: u32 = topic.queues.iter().map(|q| q.read_queues.max(q.write_queues)).sum();
                        let groups: Vec<&str> = topic.queues.iter().map(|q| q.group.as_str()).collect();
                        println!(
                            "{:<40} {:>6} {:<14} {:>7}  {}",
                            topic.name,
                            topic.perm,
                            topic.message_type().label(),
                            queues,
                            groups.join(",")
                        );
                    }
                }
            }
        }
        TopicCommand::Describe { name } => {
            let response = client.get_topic(&name, v1::Consistency::Linearizable).await?;
            let topic = response.topic.unwrap_or_default();
            match output {
                Output::Json => print_json(topic_json(&topic)),
                Output::Table => {
                    println!("topic        {}", topic.name);
                    println!("perm         {}", topic.perm);
                    println!("type         {}", topic.message_type().label());
                    println!("revision     {} (created at {})", topic.revision, topic.create_revision);
                    for queue in &topic.queues {
                        println!(
                            "group        {}: {} read / {} write queues",
                            queue.group, queue.read_queues, queue.write_queues
                        );
                    }
                    for (key, value) in &topic.attributes {
                        println!("attribute    {key}={value}");
                    }
                }
            }
        }
        TopicCommand::Delete { name, force } => {
            let response = client.delete_topic(&name, force).await?;
            match output {
                Output::Json => print_json(json!({"topic": name, "deleted": true, "revision": response.revision})),
                Output::Table => println!("topic {name} deleted (revision {})", response.revision),
            }
        }
        TopicCommand::Route { name, network, consistency } => {
            let response = client.get_route(&name, &network, consistency.into()).await?;
            let route = response.route.unwrap_or_default();
            let header = response.header.unwrap_or_default();
            match output {
                Output::Json => print_json(json!({
                    "topic": route.topic, "network": network, "perm": route.perm, "message_type": route.message_type().label(),
                    "revision": header.revision, "node_id": header.node_id,
                    "applied_index": header.applied_index, "known_commit_index": header.known_commit_index,
                    "groups": route.groups.iter().map(|group| json!({
                        "group": group.group, "read_queues": group.read_queues, "write_queues": group.write_queues,
                        "master": group.master.as_ref().map(address_json),
                        "replicas": group.replicas.iter().map(address_json).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    println!("{:<16} {:>5} {:>5}  {:<28} REPLICAS", "GROUP", "READ", "WRITE", "MASTER");
                    for group in &route.groups {
                        let master = group
                            .master
                            .as_ref()
                            .map_or("(none)".to_string(), |m| format!("{} {}", m.broker_id, m.address));
                        let replicas: Vec<String> =
                            group.replicas.iter().map(|r| format!("{} {}", r.broker_id, r.address)).collect();
                        println!(
                            "{:<16} {:>5} {:>5}  {:<28} {}",
                            group.group,
                            group.read_queues,
                            group.write_queues,
                            master,
                            replicas.join(", ")
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn offset(client: &Client, output: Output, command: OffsetCommand) -> Result<ExitCode, ClientError> {
    match command {
        OffsetCommand::Commit { consumer_group, topic, queue_id, offset, reject_backwards } => {
            let entry = v1::OffsetEntry { consumer_group, topic, queue_id, offset, committed_at_revision: 0 };
            let response = client.commit_offsets(vec![entry], reject_backwards).await?;
            match output {
                Output::Json => print_json(json!({"revision": response.revision})),
                Output::Table => println!("committed (revision {})", response.revision),
            }
        }
        OffsetCommand::Get { consumer_group, topic } => {
            let response = client
                .fetch_offsets(&consumer_group, topic.as_deref().unwrap_or(""), v1::Consistency::Linearizable)
                .await?;
            match output {
                Output::Json => print_json(json!({
                    "revision": response.revision,
                    "offsets": response.offsets.iter().map(|entry| json!({
                        "consumer_group": entry.consumer_group, "topic": entry.topic, "queue_id": entry.queue_id,
                        "offset": entry.offset, "committed_at_revision": entry.committed_at_revision,
                    })).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    println!("{:<24} {:<32} {:>6} {:>14}", "CONSUMER GROUP", "TOPIC", "QUEUE", "OFFSET");
                    for entry in &response.offsets {
                        println!(
                            "{:<24} {:<32} {:>6} {:>14}",
                            entry.consumer_group, entry.topic, entry.queue_id, entry.offset
                        );
                    }
                }
            }
        }
        OffsetCommand::Reset { consumer_group, topic, to } => {
            let target = if to == "earliest" {
                v1::reset_offsets_request::To::Earliest(true)
            } else {
                v1::reset_offsets_request::To::Offset(
                    to.parse()
                        .map_err(|_| ClientError::Config(format!("--to `{to}` is neither `earliest` nor an offset")))?,
                )
            };
            let response = client.reset_offsets(&consumer_group, &topic, target).await?;
            match output {
                Output::Json => {
                    print_json(json!({"revision": response.revision, "queues_reset": response.queues_reset}))
                }
                Output::Table => println!("{} queues reset (revision {})", response.queues_reset, response.revision),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(client: &Client, output: Output, request: v1::ListAuditRequest) -> Result<ExitCode, ClientError> {
    let response = client.query_audit(request).await?;
    match output {
        Output::Json => print_json(json!(
            response
                .entries
                .iter()
                .map(|entry| json!({
                    "index": entry.index, "at_ms": entry.at_ms, "at": rfc3339(entry.at_ms), "subject": entry.subject,
                    "source": entry.source, "action": entry.action, "target": entry.target, "result": entry.result,
                }))
                .collect::<Vec<_>>()
        )),
        Output::Table => {
            println!(
                "{:>8} {:<24} {:<14} {:<22} {:<16} {:<40} RESULT",
                "INDEX", "AT", "SUBJECT", "SOURCE", "ACTION", "TARGET"
            );
            for entry in &response.entries {
                let subject = if entry.subject.is_empty() { "-" } else { entry.subject.as_str() };
                let source = if entry.source.is_empty() { "-" } else { entry.source.as_str() };
                println!(
                    "{:>8} {:<24} {subject:<14} {source:<22} {:<16} {:<40} {}",
                    entry.index,
                    rfc3339(entry.at_ms),
                    entry.action,
                    entry.target,
                    entry.result
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> TopicChanges {
        TopicChanges {
            queues: None,
            groups: None,
            perm: None,
            message_type: None,
            attributes: Vec::new(),
            remove_attributes: Vec::new(),
        }
    }

    #[test]
    fn a_topic_update_keeps_every_field_it_does_not_name() {
        let current = v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 }],
            perm: 6,
            message_type: v1::MessageType::Fifo.into(),
            attributes: [("retention".to_string(), "7d".to_string()), ("tier".to_string(), "gold".to_string())].into(),
            create_revision: 3,
            revision: 9,
            reported_by_group: String::new(),
        };
        let perm_only = TopicChanges { perm: Some(4), ..changes() };
        assert_eq!(
            changed_topic(current.clone(), perm_only).expect("valid"),
            v1::TopicInfo { perm: 4, ..current.clone() }
        );
        let groups = TopicChanges {
            groups: Some(vec!["g1".into(), "g2".into()]),
            attributes: vec!["owner=payments".into()],
            remove_attributes: vec!["tier".into()],
            ..changes()
        };
        let changed = changed_topic(current.clone(), groups).expect("valid");
        assert_eq!(
            changed.queues,
            vec![
                v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 },
                v1::QueueSpec { group: "g2".into(), read_queues: NEW_GROUP_QUEUES, write_queues: NEW_GROUP_QUEUES },
            ],
            "an existing group keeps its counts"
        );
        assert_eq!(
            changed.attributes,
            [("retention".to_string(), "7d".to_string()), ("owner".to_string(), "payments".to_string())].into()
        );
        assert_eq!(
            (changed.message_type(), changed.revision),
            (v1::MessageType::Fifo, 9),
            "the read revision is sent back"
        );
        let bad = TopicChanges { attributes: vec!["no-equals".into()], ..changes() };
        assert!(changed_topic(current, bad).is_err());
    }
}
