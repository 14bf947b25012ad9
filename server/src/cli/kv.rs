//! `pharos kv ...`: the generic key/value namespace.

use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{ConsistencyArg, Output, View, show};

#[derive(Debug, clap::Subcommand)]
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

pub(super) async fn run(client: &Client, output: Output, command: KvCommand) -> Result<ExitCode, ClientError> {
    match command {
        KvCommand::Put { key, value } => {
            let response = client.put(key, value).await?;
            show(output, &Written { revision: revision(&response.header), created: response.created });
        }
        KvCommand::Get { key, consistency } => {
            let response = client.get(key.clone(), consistency.into()).await?;
            let header = response.header.unwrap_or_default();
            let Some(kv) = response.kv else {
                show(output, &MissingKey { key: key.clone(), found: false, revision: header.revision });
                eprintln!("error: key not found: {key}");
                return Ok(ExitCode::FAILURE);
            };
            show(output, &FoundKey::new(&kv, &header));
        }
        KvCommand::Del { key } => {
            let response = client.delete(key).await?;
            show(output, &Deleted { revision: revision(&response.header), deleted: response.deleted });
        }
        KvCommand::Range { prefix, limit, consistency } => {
            let response = client.range(prefix, limit, consistency.into()).await?;
            let range = KeyRange {
                revision: revision(&response.header),
                more: response.more,
                kvs: response.kvs.iter().map(RangeEntry::from).collect(),
            };
            show(output, &range);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Keys and values are bytes on the wire; the CLI shows them as (lossy) UTF-8.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn revision(header: &Option<v1::ResponseHeader>) -> u64 {
    header.as_ref().map_or(0, |header| header.revision)
}

/// `kv put`: the store's revision after the write.
#[derive(Debug, Serialize)]
struct Written {
    revision: u64,
    /// False when the key existed and was overwritten.
    created: bool,
}

impl View for Written {
    fn print_table(&self) {
        println!("OK (revision {})", self.revision);
    }
}

/// `kv get` of a key that does not exist: JSON says so on stdout; people read stderr only.
#[derive(Debug, Serialize)]
struct MissingKey {
    key: String,
    /// Always false; scripts test it rather than the exit code alone.
    found: bool,
    revision: u64,
}

impl View for MissingKey {
    fn print_table(&self) {}
}

/// `kv get`: the entry and the header of the node that answered (how fresh a local read was).
#[derive(Debug, Serialize)]
struct FoundKey {
    key: String,
    /// Always true.
    found: bool,
    value: String,
    create_revision: u64,
    mod_revision: u64,
    version: u64,
    revision: u64,
    node_id: u64,
    applied_index: u64,
    known_commit_index: u64,
}

impl FoundKey {
    fn new(kv: &v1::KeyValue, header: &v1::ResponseHeader) -> Self {
        Self {
            key: text(&kv.key),
            found: true,
            value: text(&kv.value),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            revision: header.revision,
            node_id: header.node_id,
            applied_index: header.applied_index,
            known_commit_index: header.known_commit_index,
        }
    }
}

impl View for FoundKey {
    /// The value alone, so `$(pharos kv get KEY)` is the value.
    fn print_table(&self) {
        println!("{}", self.value);
    }
}

/// `kv del`.
#[derive(Debug, Serialize)]
struct Deleted {
    revision: u64,
    /// False when there was no such key.
    deleted: bool,
}

impl View for Deleted {
    fn print_table(&self) {
        println!("{}", if self.deleted { "deleted" } else { "not found" });
    }
}

/// `kv range`: the keys under a prefix, and whether `--limit` cut the list short.
#[derive(Debug, Serialize)]
struct KeyRange {
    revision: u64,
    more: bool,
    kvs: Vec<RangeEntry>,
}

#[derive(Debug, Serialize)]
struct RangeEntry {
    key: String,
    value: String,
    create_revision: u64,
    mod_revision: u64,
    version: u64,
}

impl From<&v1::KeyValue> for RangeEntry {
    fn from(kv: &v1::KeyValue) -> Self {
        Self {
            key: text(&kv.key),
            value: text(&kv.value),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
        }
    }
}

impl View for KeyRange {
    /// `KEY<tab>VALUE` lines; the hint goes to stderr so the lines stay machine-readable.
    fn print_table(&self) {
        for kv in &self.kvs {
            println!("{}\t{}", kv.key, kv.value);
        }
        if self.more {
            eprintln!("(more keys: raise --limit)");
        }
    }
}
