//! `pharos audit ...`: the audit log of administrative changes.

use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{Output, View, rfc3339, show};

#[derive(Debug, clap::Subcommand)]
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

pub(super) async fn run(client: &Client, output: Output, command: AuditCommand) -> Result<ExitCode, ClientError> {
    let AuditCommand::List { limit, since, subject, action } = command;
    let request = v1::ListAuditRequest {
        limit,
        since_ms: since.unwrap_or(0),
        subject: subject.unwrap_or_default(),
        action: action.unwrap_or_default(),
        ..Default::default()
    };
    let response = client.query_audit(request).await?;
    show(output, &AuditLog(response.entries.iter().map(AuditEntry::from).collect()));
    Ok(ExitCode::SUCCESS)
}

/// `audit list`: a bare list of entries in JSON, newest first.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct AuditLog(Vec<AuditEntry>);

/// One administrative change: who did what to what, from where, with what result.
#[derive(Debug, Serialize)]
struct AuditEntry {
    /// The log index of the command.
    index: u64,
    at_ms: u64,
    /// `at_ms` as RFC 3339, for people reading the JSON.
    at: String,
    /// The authenticated user; "coordinator" for the leader's own decisions, empty on a node
    /// running `--insecure`.
    subject: String,
    /// The caller's address; empty for the coordinator's own decisions.
    source: String,
    action: String,
    target: String,
    result: String,
}

impl From<&v1::AuditEntry> for AuditEntry {
    fn from(entry: &v1::AuditEntry) -> Self {
        Self {
            index: entry.index,
            at_ms: entry.at_ms,
            at: rfc3339(entry.at_ms),
            subject: entry.subject.clone(),
            source: entry.source.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            result: entry.result.clone(),
        }
    }
}

impl View for AuditLog {
    fn print_table(&self) {
        println!(
            "{:>8} {:<24} {:<14} {:<22} {:<16} {:<40} RESULT",
            "INDEX", "AT", "SUBJECT", "SOURCE", "ACTION", "TARGET"
        );
        for entry in &self.0 {
            let subject = if entry.subject.is_empty() { "-" } else { entry.subject.as_str() };
            let source = if entry.source.is_empty() { "-" } else { entry.source.as_str() };
            println!(
                "{:>8} {:<24} {subject:<14} {source:<22} {:<16} {:<40} {}",
                entry.index, entry.at, entry.action, entry.target, entry.result
            );
        }
    }
}
