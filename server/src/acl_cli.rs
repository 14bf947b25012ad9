//! `pharos acl ...`: users, their tokens, policies, and why a request is allowed or denied.
//!
//! A new token is generated here, on the operator's machine; only its SHA-256 goes to the
//! cluster. It is shown once (or written to a file with mode 0600) and cannot be read back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pharos_client::{Client, ClientError, token, v1};
use serde::Serialize;

use crate::cli::{Changed, Output, View, show};

#[derive(Debug, clap::Subcommand)]
pub enum AclCommand {
    /// Users and their tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Add an entry to SUBJECT's policy.
    Grant(EntryArgs),
    /// Remove the entry equal to the one given (actions and CIDRs in any order).
    Revoke(EntryArgs),
    /// Every policy, or SUBJECT's.
    List { subject: Option<String> },
    /// May SUBJECT do ACTION on RESOURCE (`topic:orders`, `cluster`)? Names the deciding entry.
    Check {
        subject: String,
        resource: String,
        action: String,
        /// The caller's IP address, for entries with source CIDRs.
        #[arg(long, default_value = "")]
        source: String,
    },
    /// The user this CLI's token belongs to.
    Whoami,
    /// Requests this node refused (node-local, most recent first).
    Denials {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user with a new token, printed once (or written with --write-token).
    Add {
        name: String,
        /// A super user may do everything; policies are not consulted.
        #[arg(long = "super")]
        super_user: bool,
        /// Write the token to this file (mode 0600; an existing file is not overwritten).
        #[arg(long, value_name = "FILE")]
        write_token: Option<PathBuf>,
    },
    /// Users, their kind and whether they are enabled (never their tokens).
    List,
    /// Delete a user and its policy.
    Delete { name: String },
    /// Let a disabled user in again.
    Enable { name: String },
    /// Refuse the user's token until it is enabled again.
    Disable { name: String },
    /// Replace the user's token; the old one stops working at once.
    RotateToken {
        name: String,
        #[arg(long, value_name = "FILE")]
        write_token: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct EntryArgs {
    /// The user the entry belongs to.
    subject: String,
    /// `type:name`, `type:prefix*` or `type:*`; type is cluster, topic, group or namespace.
    #[arg(long)]
    resource: String,
    /// Comma separated: get, list, create, update, delete, pub, sub, register, failover, dr,
    /// admin, acl, audit, or all.
    #[arg(long, value_delimiter = ',', required = true)]
    actions: Vec<String>,
    /// Source networks the entry applies to (repeatable); none: any source.
    #[arg(long = "cidr")]
    source_cidrs: Vec<String>,
    /// A deny entry (default: allow).
    #[arg(long)]
    deny: bool,
}

impl EntryArgs {
    fn entry(&self) -> v1::PolicyEntry {
        let decision = if self.deny { v1::Decision::Deny } else { v1::Decision::Allow };
        v1::PolicyEntry {
            resource: self.resource.clone(),
            actions: self.actions.clone(),
            source_cidrs: self.source_cidrs.clone(),
            decision: decision.into(),
        }
    }
}

pub async fn run(client: &Client, output: Output, command: AclCommand) -> Result<ExitCode, ClientError> {
    match command {
        AclCommand::User(command) => user(client, output, command).await,
        AclCommand::Grant(args) => {
            let response = client.grant(&args.subject, args.entry()).await?;
            show(output, &Changed::new(response.revision, format!("granted to {}", args.subject)));
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::Revoke(args) => {
            let response = client.revoke(&args.subject, args.entry()).await?;
            show(output, &Changed::new(response.revision, format!("revoked from {}", args.subject)));
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::List { subject } => {
            let response = client.list_policies(subject.as_deref().unwrap_or("")).await?;
            show(output, &Policies::from(&response));
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::Check { subject, resource, action, source } => {
            let (resource_type, resource_name) = resource.split_once(':').unwrap_or((resource.as_str(), ""));
            let request = v1::CheckRequest {
                subject,
                resource_type: resource_type.to_string(),
                resource_name: resource_name.to_string(),
                action,
                source,
            };
            let response = client.check_access(request).await?;
            show(
                output,
                &Verdict {
                    allowed: response.allowed,
                    explanation: response.explanation.clone(),
                    entry_index: response.entry_index,
                    entry: response.entry.as_ref().map(Entry::from),
                },
            );
            // A denial is an answer, not a failure of the command; scripts read the exit code.
            Ok(if response.allowed { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        AclCommand::Whoami => {
            let response = client.who_am_i().await?;
            let kind = v1::UserKind::try_from(response.kind).unwrap_or_default().label();
            show(output, &Caller { user: response.user, kind, insecure: response.insecure });
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::Denials { limit } => {
            let response = client.list_denials(limit).await?;
            show(output, &Denials::from(&response));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn user(client: &Client, output: Output, command: UserCommand) -> Result<ExitCode, ClientError> {
    match command {
        UserCommand::Add { name, super_user, write_token } => {
            let kind = if super_user { v1::UserKind::Super } else { v1::UserKind::Normal };
            let secret = new_token(write_token.as_deref())?;
            let response = client.add_user(&name, kind, &token::sha256(&secret)).await?;
            announce_token(output, &name, response.revision, &secret, write_token.as_deref(), "created");
        }
        UserCommand::List => {
            let response = client.list_users().await?;
            let users = Users {
                revision: response.revision,
                users: response
                    .users
                    .iter()
                    .map(|user| User {
                        name: user.name.clone(),
                        kind: v1::UserKind::try_from(user.kind).unwrap_or_default().label(),
                        enabled: user.enabled,
                    })
                    .collect(),
            };
            show(output, &users);
        }
        UserCommand::Delete { name } => {
            let response = client.delete_user(&name).await?;
            show(output, &Changed::new(response.revision, format!("user {name} deleted")));
        }
        UserCommand::Enable { name } => {
            let response = client.set_user_enabled(&name, true).await?;
            show(output, &Changed::new(response.revision, format!("user {name} enabled")));
        }
        UserCommand::Disable { name } => {
            let response = client.set_user_enabled(&name, false).await?;
            show(output, &Changed::new(response.revision, format!("user {name} disabled")));
        }
        UserCommand::RotateToken { name, write_token } => {
            let secret = new_token(write_token.as_deref())?;
            let response = client.rotate_token(&name, &token::sha256(&secret)).await?;
            announce_token(output, &name, response.revision, &secret, write_token.as_deref(), "has a new token");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A fresh token; with a file, written there first, so a token the cluster accepts is never lost
/// to a file that cannot be created. An existing file is left alone.
fn new_token(file: Option<&Path>) -> Result<String, ClientError> {
    let secret = token::generate();
    if let Some(path) = file {
        if path.exists() {
            return Err(ClientError::Config(format!("{} exists; not overwriting a token file", path.display())));
        }
        crate::auth::write_private(path, &format!("{secret}\n"))
            .map_err(|error| ClientError::Config(format!("cannot write {}: {error}", path.display())))?;
    }
    Ok(secret)
}

fn announce_token(output: Output, name: &str, revision: u64, secret: &str, file: Option<&Path>, what: &str) {
    let announced = NewToken {
        user: name.to_string(),
        revision,
        token: if file.is_some() { None } else { Some(secret.to_string()) },
        token_file: file.map(|path| path.display().to_string()),
        what: what.to_string(),
    };
    show(output, &announced);
}

/// `acl user add` and `rotate-token`: the token, shown once, or the file it was written to.
#[derive(Debug, Serialize)]
struct NewToken {
    user: String,
    revision: u64,
    /// The secret, when it was not written to a file.
    token: Option<String>,
    token_file: Option<String>,
    /// `created`, `has a new token`: the table's verb.
    #[serde(skip)]
    what: String,
}

impl View for NewToken {
    fn print_table(&self) {
        let (name, what) = (&self.user, &self.what);
        match (&self.token_file, &self.token) {
            (Some(path), _) => println!("user {name} {what}; token written to {path}"),
            (None, secret) => {
                println!("user {name} {what}; token (shown once, store it now):\n{}", secret.as_deref().unwrap_or(""))
            }
        }
    }
}

/// `acl whoami`.
#[derive(Debug, Serialize)]
struct Caller {
    user: String,
    kind: &'static str,
    /// The node runs with `--insecure`: nobody is authenticated, so there is no user.
    insecure: bool,
}

impl View for Caller {
    fn print_table(&self) {
        if self.insecure {
            println!("nobody: the node runs with --insecure (nothing is authenticated)");
        } else {
            println!("{} ({})", self.user, self.kind);
        }
    }
}

/// `acl user list` (never the tokens: the cluster holds only their hashes).
#[derive(Debug, Serialize)]
struct Users {
    revision: u64,
    users: Vec<User>,
}

#[derive(Debug, Serialize)]
struct User {
    name: String,
    kind: &'static str,
    enabled: bool,
}

impl View for Users {
    fn print_table(&self) {
        println!("{:<32} {:<8} ENABLED", "NAME", "KIND");
        for user in &self.users {
            println!("{:<32} {:<8} {}", user.name, user.kind, if user.enabled { "yes" } else { "no" });
        }
    }
}

/// `acl check`: the decision and the entry that made it.
#[derive(Debug, Serialize)]
struct Verdict {
    allowed: bool,
    explanation: String,
    /// The deciding entry and its index in the subject's policy, when one decided.
    entry_index: Option<u32>,
    entry: Option<Entry>,
}

impl View for Verdict {
    fn print_table(&self) {
        println!("{}: {}", if self.allowed { "ALLOWED" } else { "DENIED" }, self.explanation);
    }
}

/// One policy entry.
#[derive(Debug, Serialize)]
struct Entry {
    resource: String,
    actions: Vec<String>,
    source_cidrs: Vec<String>,
    decision: &'static str,
}

impl From<&v1::PolicyEntry> for Entry {
    fn from(entry: &v1::PolicyEntry) -> Self {
        Self {
            resource: entry.resource.clone(),
            actions: entry.actions.clone(),
            source_cidrs: entry.source_cidrs.clone(),
            decision: v1::Decision::try_from(entry.decision).unwrap_or_default().label(),
        }
    }
}

/// `acl list`: every policy, or one subject's.
#[derive(Debug, Serialize)]
struct Policies {
    revision: u64,
    policies: Vec<Policy>,
}

/// A subject's entries, in the order they are evaluated.
#[derive(Debug, Serialize)]
struct Policy {
    subject: String,
    entries: Vec<Entry>,
}

impl From<&v1::ListPoliciesResponse> for Policies {
    fn from(response: &v1::ListPoliciesResponse) -> Self {
        Self {
            revision: response.revision,
            policies: response
                .policies
                .iter()
                .map(|policy| Policy {
                    subject: policy.subject.clone(),
                    entries: policy.entries.iter().map(Entry::from).collect(),
                })
                .collect(),
        }
    }
}

impl View for Policies {
    fn print_table(&self) {
        println!("{:<24} {:>3} {:<6} {:<32} {:<28} SOURCES", "SUBJECT", "#", "RULE", "RESOURCE", "ACTIONS");
        for policy in &self.policies {
            for (index, entry) in policy.entries.iter().enumerate() {
                let sources = if entry.source_cidrs.is_empty() { "any".into() } else { entry.source_cidrs.join(",") };
                println!(
                    "{:<24} {index:>3} {:<6} {:<32} {:<28} {sources}",
                    policy.subject,
                    entry.decision,
                    entry.resource,
                    entry.actions.join(",")
                );
            }
        }
    }
}

/// `acl denials`: requests the answering node refused, most recent first.
#[derive(Debug, Serialize)]
struct Denials {
    node_id: u64,
    /// Denials the per-caller rate limit dropped before they were recorded.
    suppressed_total: u64,
    denials: Vec<Denial>,
}

#[derive(Debug, Serialize)]
struct Denial {
    at_ms: u64,
    subject: String,
    source: String,
    method: String,
    resource: String,
    action: String,
    code: String,
    reason: String,
    /// Denials of the same caller dropped just before this one.
    suppressed_before: u64,
}

impl From<&v1::ListDenialsResponse> for Denials {
    fn from(response: &v1::ListDenialsResponse) -> Self {
        Self {
            node_id: response.node_id,
            suppressed_total: response.suppressed_total,
            denials: response
                .denials
                .iter()
                .map(|denial| Denial {
                    at_ms: denial.at_ms,
                    subject: denial.subject.clone(),
                    source: denial.source.clone(),
                    method: denial.method.clone(),
                    resource: denial.resource.clone(),
                    action: denial.action.clone(),
                    code: denial.code.clone(),
                    reason: denial.reason.clone(),
                    suppressed_before: denial.suppressed_before,
                })
                .collect(),
        }
    }
}

impl View for Denials {
    fn print_table(&self) {
        println!("node {}; {} more denials dropped by the per-caller rate limit", self.node_id, self.suppressed_total);
        println!("{:<24} {:<16} {:<22} {:<17} {:<44} REASON", "AT", "SUBJECT", "SOURCE", "CODE", "METHOD");
        for denial in &self.denials {
            let subject = if denial.subject.is_empty() { "-" } else { denial.subject.as_str() };
            println!(
                "{:<24} {subject:<16} {:<22} {:<17} {:<44} {}",
                crate::cli::rfc3339(denial.at_ms),
                denial.source,
                denial.code,
                denial.method,
                denial.reason
            );
        }
    }
}
