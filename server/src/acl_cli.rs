//! `pharos acl ...`: users, their tokens, policies, and why a request is allowed or denied.
//!
//! A new token is generated here, on the operator's machine; only its SHA-256 goes to the
//! cluster. It is shown once (or written to a file with mode 0600) and cannot be read back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pharos_client::{Client, ClientError, token, v1};
use serde_json::json;

use crate::cli::{Output, print_json};

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
            changed(output, response.revision, &format!("granted to {}", args.subject));
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::Revoke(args) => {
            let response = client.revoke(&args.subject, args.entry()).await?;
            changed(output, response.revision, &format!("revoked from {}", args.subject));
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::List { subject } => {
            let response = client.list_policies(subject.as_deref().unwrap_or("")).await?;
            print_policies(output, &response);
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
            match output {
                Output::Json => print_json(json!({
                    "allowed": response.allowed,
                    "explanation": response.explanation,
                    "entry_index": response.entry_index,
                    "entry": response.entry.as_ref().map(entry_json),
                })),
                Output::Table => {
                    println!("{}: {}", if response.allowed { "ALLOWED" } else { "DENIED" }, response.explanation);
                }
            }
            // A denial is an answer, not a failure of the command; scripts read the exit code.
            Ok(if response.allowed { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        AclCommand::Whoami => {
            let response = client.who_am_i().await?;
            let kind = v1::UserKind::try_from(response.kind).unwrap_or_default().label();
            match output {
                Output::Json => print_json(json!({"user": response.user, "kind": kind, "insecure": response.insecure})),
                Output::Table if response.insecure => {
                    println!("nobody: the node runs with --insecure (nothing is authenticated)")
                }
                Output::Table => println!("{} ({kind})", response.user),
            }
            Ok(ExitCode::SUCCESS)
        }
        AclCommand::Denials { limit } => {
            let response = client.list_denials(limit).await?;
            print_denials(output, &response);
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
            match output {
                Output::Json => print_json(json!({
                    "revision": response.revision,
                    "users": response.users.iter().map(|user| json!({
                        "name": user.name,
                        "kind": v1::UserKind::try_from(user.kind).unwrap_or_default().label(),
                        "enabled": user.enabled,
                    })).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    println!("{:<32} {:<8} ENABLED", "NAME", "KIND");
                    for user in &response.users {
                        let kind = v1::UserKind::try_from(user.kind).unwrap_or_default().label();
                        println!("{:<32} {kind:<8} {}", user.name, if user.enabled { "yes" } else { "no" });
                    }
                }
            }
        }
        UserCommand::Delete { name } => {
            let response = client.delete_user(&name).await?;
            changed(output, response.revision, &format!("user {name} deleted"));
        }
        UserCommand::Enable { name } => {
            let response = client.set_user_enabled(&name, true).await?;
            changed(output, response.revision, &format!("user {name} enabled"));
        }
        UserCommand::Disable { name } => {
            let response = client.set_user_enabled(&name, false).await?;
            changed(output, response.revision, &format!("user {name} disabled"));
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
    let shown = if file.is_some() { None } else { Some(secret) };
    match output {
        Output::Json => print_json(json!({
            "user": name,
            "revision": revision,
            "token": shown,
            "token_file": file.map(|path| path.display().to_string()),
        })),
        Output::Table => match file {
            Some(path) => println!("user {name} {what}; token written to {}", path.display()),
            None => println!("user {name} {what}; token (shown once, store it now):\n{secret}"),
        },
    }
}

fn changed(output: Output, revision: u64, message: &str) {
    match output {
        Output::Json => print_json(json!({"revision": revision})),
        Output::Table => println!("{message} (revision {revision})"),
    }
}

fn entry_json(entry: &v1::PolicyEntry) -> serde_json::Value {
    json!({
        "resource": entry.resource,
        "actions": entry.actions,
        "source_cidrs": entry.source_cidrs,
        "decision": v1::Decision::try_from(entry.decision).unwrap_or_default().label(),
    })
}

fn print_policies(output: Output, response: &v1::ListPoliciesResponse) {
    match output {
        Output::Json => print_json(json!({
            "revision": response.revision,
            "policies": response.policies.iter().map(|policy| json!({
                "subject": policy.subject,
                "entries": policy.entries.iter().map(entry_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })),
        Output::Table => {
            println!("{:<24} {:>3} {:<6} {:<32} {:<28} SOURCES", "SUBJECT", "#", "RULE", "RESOURCE", "ACTIONS");
            for policy in &response.policies {
                for (index, entry) in policy.entries.iter().enumerate() {
                    let decision = v1::Decision::try_from(entry.decision).unwrap_or_default().label();
                    let sources =
                        if entry.source_cidrs.is_empty() { "any".into() } else { entry.source_cidrs.join(",") };
                    println!(
                        "{:<24} {index:>3} {decision:<6} {:<32} {:<28} {sources}",
                        policy.subject,
                        entry.resource,
                        entry.actions.join(",")
                    );
                }
            }
        }
    }
}

fn print_denials(output: Output, response: &v1::ListDenialsResponse) {
    match output {
        Output::Json => print_json(json!({
            "node_id": response.node_id,
            "suppressed_total": response.suppressed_total,
            "denials": response.denials.iter().map(|denial| json!({
                "at_ms": denial.at_ms,
                "subject": denial.subject,
                "source": denial.source,
                "method": denial.method,
                "resource": denial.resource,
                "action": denial.action,
                "code": denial.code,
                "reason": denial.reason,
                "suppressed_before": denial.suppressed_before,
            })).collect::<Vec<_>>(),
        })),
        Output::Table => {
            println!(
                "node {}; {} more denials dropped by the per-caller rate limit",
                response.node_id, response.suppressed_total
            );
            println!("{:<24} {:<16} {:<22} {:<17} {:<44} REASON", "AT", "SUBJECT", "SOURCE", "CODE", "METHOD");
            for denial in &response.denials {
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
}
