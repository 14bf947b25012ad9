//! The operator CLI: `pharos <noun> <verb>`, tables for people, `--output json` for scripts.
//!
//! This file holds the command line itself, the dispatch and what every noun shares; each noun's
//! commands live in `cli/<noun>.rs` (and `acl_cli.rs`, `dr_cli.rs`, `cert_cli.rs`). A command
//! builds one view from its response, a struct deriving `Serialize`: `--output json` serialises
//! it and the table is rendered from its fields, so the two cannot drift apart.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pharos_client::{Client, v1};
use serde::Serialize;

use crate::config::ServeArgs;

mod audit;
mod broker;
mod cluster;
mod debug;
mod kv;
mod offset;
mod snapshot;
mod topic;

pub use audit::AuditCommand;
pub use broker::BrokerCommand;
pub use cluster::ClusterCommand;
pub use debug::DebugCommand;
pub use kv::KvCommand;
pub use offset::OffsetCommand;
pub use snapshot::SnapshotCommand;
pub use topic::{TopicChanges, TopicCommand, TopicShape};

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
    /// A stopped node's data dir, read offline: its log, decoded, and its state digest.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Backups: save the state to a file, restore a file into a new cluster.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// Unix milliseconds as an RFC 3339 UTC time with milliseconds, as tables show times.
pub(crate) fn rfc3339(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    humantime::format_rfc3339_millis(at).to_string()
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

/// Runs one CLI command; prints one line on failure and exits non-zero.
pub async fn run(global: GlobalArgs, command: Command) -> ExitCode {
    let endpoints: Vec<String> = global.endpoints.split(',').map(str::trim).map(str::to_string).collect();
    if let Command::Cert(command) = command {
        return crate::cert_cli::run(command).unwrap_or_else(|error| fail(&format!("{error:#}")));
    }
    if let Command::Debug(command) = command {
        return debug::run(global.output, command).unwrap_or_else(|error| fail(&format!("{error:#}")));
    }
    if let Command::Snapshot(command @ SnapshotCommand::Restore { .. }) = command {
        return snapshot::restore(global.output, command).await.unwrap_or_else(|error| fail(&error.to_string()));
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
        Command::Serve(_) | Command::Cert(_) | Command::Debug(_) => return fail("not a client command"),
        Command::Snapshot(command) => {
            return snapshot::save(&client, global.output, command)
                .await
                .unwrap_or_else(|error| fail(&error.to_string()));
        }
        Command::Kv(command) => kv::run(&client, global.output, command).await,
        Command::Cluster(command) => cluster::run(&client, global.output, command).await,
        Command::Broker(command) => broker::run(&client, global.output, command).await,
        Command::Topic(command) => topic::run(&client, global.output, command).await,
        Command::Offset(command) => offset::run(&client, global.output, command).await,
        Command::Audit(command) => audit::run(&client, global.output, command).await,
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

/// What a command prints, built once from its response: `--output json` serialises it, the
/// table is rendered from the same fields.
pub(crate) trait View: Serialize {
    /// The lines a person reads (`--output table`).
    fn print_table(&self);
}

/// Prints `view` as `output` asks.
pub(crate) fn show(output: Output, view: &impl View) {
    match output {
        Output::Json => print_json(view),
        Output::Table => view.print_table(),
    }
}

/// Pretty JSON with every object's keys in alphabetical order: through a `serde_json::Value`,
/// whose maps are ordered, so the output does not depend on the order of a view's fields or of
/// a wire map, and stays as it was when the views were hand-built `json!` values.
pub(crate) fn print_json(view: &impl Serialize) {
    println!("{}", json_text(view));
}

/// The text `--output json` prints for `view` (without the final newline).
pub(crate) fn json_text(view: &impl Serialize) -> String {
    let value = json_value(view);
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

/// A view as a JSON value. Views hold strings, numbers, lists and string-keyed maps only, which
/// always serialise; a failure is a bug in a view.
pub(crate) fn json_value(view: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(view).expect("a CLI view serialises (string keys, no foreign types)")
}

/// The `Serialize` of a one-line change: `{"revision": N}`, and the table says what changed.
#[derive(Debug, Serialize)]
pub(crate) struct Changed {
    revision: u64,
    /// `committed`, `granted to alice`: the table prints `<what> (revision N)`.
    #[serde(skip)]
    what: String,
}

impl Changed {
    pub(crate) fn new(revision: u64, what: impl Into<String>) -> Self {
        Self { revision, what: what.into() }
    }
}

impl View for Changed {
    fn print_table(&self) {
        println!("{} (revision {})", self.what, self.revision);
    }
}

/// Wire enums a view keeps typed (tables decide on them) but serialises as the CLI's label.
pub(crate) trait Label: Copy {
    fn label(self) -> &'static str;
}

macro_rules! label {
    ($($enum:ident),+) => {
        $(impl Label for v1::$enum {
            fn label(self) -> &'static str {
                v1::$enum::label(self)
            }
        })+
    };
}

label!(
    BrokerRole,
    BrokerState,
    DrMode,
    DrSyncState,
    ElectionMode,
    MemberRole,
    MessageType,
    ServerState,
    SwitchoverStep
);

/// `#[serde(serialize_with = "serialize_label")]` for a wire enum field.
pub(crate) fn serialize_label<S: serde::Serializer>(value: &impl Label, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.label())
}
