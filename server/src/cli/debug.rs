//! `pharos debug ...`: what a stopped node's data dir holds, read offline (the data dir is
//! locked while its node runs: stop it, or copy the directory, first).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use openraft::EntryPayload;
use pharos_replication::{LogStore, StateMachineStore, Storage};
use serde::Serialize;

use super::{Output, View, show};

#[derive(Debug, clap::Subcommand)]
pub enum DebugCommand {
    /// The Raft log, entry by entry, decoded (an entry that does not decode says why).
    DumpLog {
        #[arg(long)]
        data_dir: PathBuf,
        /// The first index to show.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 1_000)]
        limit: usize,
    },
    /// The applied state's index, revision, feature level and digest: equal on replicas that
    /// applied the same index (`cluster status` shows a running node's).
    StateHash {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

pub(super) fn run(output: Output, command: DebugCommand) -> anyhow::Result<ExitCode> {
    match command {
        DebugCommand::DumpLog { data_dir, from, limit } => show(output, &dump_log(&data_dir, from, limit)?),
        DebugCommand::StateHash { data_dir } => show(output, &state_hash(&data_dir)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn open(data_dir: &Path) -> anyhow::Result<Storage> {
    use anyhow::Context;
    if !data_dir.is_dir() {
        anyhow::bail!("{} is not a data dir", data_dir.display());
    }
    Storage::open(data_dir).with_context(|| format!("opening {} (is its node still running?)", data_dir.display()))
}

fn dump_log(data_dir: &Path, from: u64, limit: usize) -> anyhow::Result<LogView> {
    let dump = LogStore::new(open(data_dir)?).dump(from, limit)?;
    let entries = dump
        .entries
        .into_iter()
        .map(|(index, entry)| match entry {
            Ok(entry) => {
                let (kind, detail) = match entry.payload {
                    EntryPayload::Blank => ("blank".to_string(), String::new()),
                    EntryPayload::Normal(command) => {
                        let actor = if command.actor.is_empty() { "-" } else { command.actor.as_str() };
                        let at = super::rfc3339(command.issued_at_ms);
                        (command.operation.kind().to_string(), format!("{command} by {actor} at {at}"))
                    }
                    EntryPayload::Membership(membership) => {
                        let voters: Vec<Vec<u64>> =
                            membership.get_joint_config().iter().map(|set| set.iter().copied().collect()).collect();
                        let learners: Vec<u64> = membership.learner_ids().collect();
                        ("membership".to_string(), format!("voters {voters:?} learners {learners:?}"))
                    }
                };
                LogEntry { index, term: Some(entry.log_id.leader_id.term), kind, detail }
            }
            Err(why) => LogEntry { index, term: None, kind: "undecodable".to_string(), detail: why },
        })
        .collect();
    let id = |log_id: Option<pharos_replication::types::LogId>| log_id.map(|id| (id.leader_id.term, id.index));
    Ok(LogView {
        purged: id(dump.purged),
        committed: id(dump.committed),
        vote: dump.vote.map(|vote| vote.to_string()),
        entries,
    })
}

fn state_hash(data_dir: &Path) -> anyhow::Result<StateHash> {
    let store = StateMachineStore::open(open(data_dir)?)?;
    let applied = store.read();
    Ok(StateHash {
        applied_index: applied.last_applied.map_or(0, |log_id| log_id.index),
        applied_term: applied.last_applied.map_or(0, |log_id| log_id.leader_id.term),
        revision: applied.state.revision,
        feature_level: applied.state.committed_feature_level(),
        state_digest: applied.state.digest(),
    })
}

/// `debug dump-log`.
#[derive(Debug, Serialize)]
struct LogView {
    /// `(term, index)` of the last purged entry.
    purged: Option<(u64, u64)>,
    /// `(term, index)` this node last knew committed.
    committed: Option<(u64, u64)>,
    vote: Option<String>,
    entries: Vec<LogEntry>,
}

#[derive(Debug, Serialize)]
struct LogEntry {
    index: u64,
    /// None when the entry does not decode.
    term: Option<u64>,
    /// `blank`, `membership`, a command kind (`put`, `register_broker`, ...) or `undecodable`.
    kind: String,
    detail: String,
}

impl View for LogView {
    fn print_table(&self) {
        let id = |id: Option<(u64, u64)>| id.map_or("-".to_string(), |(term, index)| format!("{index} (term {term})"));
        println!(
            "purged up to {}   committed {}   vote {}",
            id(self.purged),
            id(self.committed),
            self.vote.as_deref().unwrap_or("-")
        );
        println!("{:>10} {:>6}  {:<22} DETAIL", "INDEX", "TERM", "KIND");
        for entry in &self.entries {
            let term = entry.term.map_or("-".to_string(), |term| term.to_string());
            println!("{:>10} {:>6}  {:<22} {}", entry.index, term, entry.kind, entry.detail);
        }
    }
}

/// `debug state-hash`.
#[derive(Debug, Serialize)]
struct StateHash {
    applied_index: u64,
    applied_term: u64,
    revision: u64,
    feature_level: u32,
    state_digest: String,
}

impl View for StateHash {
    fn print_table(&self) {
        println!("applied     {} (term {})", self.applied_index, self.applied_term);
        println!("revision    {}", self.revision);
        println!("features    level {}", self.feature_level);
        println!("digest      {}", self.state_digest);
    }
}
