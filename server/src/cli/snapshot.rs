//! `pharos snapshot save|restore`: backups of the state, and new clusters restored from them
//! (docs/operations.md, "Backup and restore"; docs/adr/0025-backup-and-restore.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use pharos_client::{Client, ClientError, v1};
use pharos_replication::ClusterIdentity;
use pharos_replication::backup::{self, BackupError, RestoreError};
use serde::Serialize;

use super::{ConsistencyArg, Output, View, show};
use crate::config::{ConfigError, DEFAULT_INITIAL_CLUSTER_TOKEN, parse_initial_cluster};

#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Save a backup of the state to FILE: a consistent snapshot streamed from the leader
    /// (written to FILE.part, fsynced, verified, then renamed to FILE).
    #[command(after_help = "Example: pharos snapshot save backup.pharos --endpoints 10.0.0.1:7370,10.0.0.2:7370")]
    Save {
        /// Where to write the backup (replaced if it exists, only once the new one is verified).
        file: PathBuf,
        /// `linearizable`: the leader's state, holding every write acknowledged before the call.
        /// `local`: the state the answering node has applied, however stale (a cluster without
        /// quorum); name that node alone in --endpoints.
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Write the data dir of one member of a NEW cluster holding the state of backup FILE. Run it
    /// once per member, with the same FILE, --initial-cluster and --initial-cluster-token, then
    /// start each with `pharos serve` and those same flags. The new cluster gets its own id: its
    /// members and the source cluster's refuse each other. Talks to no node.
    #[command(after_help = "Example: pharos snapshot restore backup.pharos --data-dir /var/lib/pharos --node-id 1 \
                            --initial-cluster 1=10.0.1.1:7380,2=10.0.1.2:7380,3=10.0.1.3:7380 \
                            --initial-cluster-token restored-2026-12-08")]
    Restore {
        /// The backup file `pharos snapshot save` wrote.
        file: PathBuf,
        /// The new member's data dir: missing or empty.
        #[arg(long)]
        data_dir: PathBuf,
        /// The new member's node id (listed in --initial-cluster).
        #[arg(long)]
        node_id: u64,
        /// Every voter of the new cluster: `ID=PEER_ADDR,...`, as `serve --initial-cluster`.
        #[arg(long)]
        initial_cluster: String,
        /// Mixed into the new cluster id, as `serve --initial-cluster-token`: give the same one
        /// to `serve`.
        #[arg(long, env = "PHAROS_INITIAL_CLUSTER_TOKEN", default_value = DEFAULT_INITIAL_CLUSTER_TOKEN)]
        initial_cluster_token: String,
    },
}

/// Why a snapshot command failed. `save` leaves no FILE behind (and removes FILE.part);
/// `restore` leaves the data dir as it was.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the backup stream broke off: {0}")]
    Stream(String),
    #[error("the backup stream ended after {received} of {expected} bytes")]
    Incomplete { received: u64, expected: u64 },
    #[error("the node sent a stream that is not a backup: {0}")]
    Protocol(&'static str),
    #[error("{verb} {}: {source}", path.display())]
    File { verb: &'static str, path: PathBuf, source: std::io::Error },
    #[error("backup {}: {source}", path.display())]
    Backup { path: PathBuf, source: BackupError },
    #[error(transparent)]
    Flags(#[from] ConfigError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

fn file_error(verb: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + use<> {
    let path = path.to_path_buf();
    move |source| SnapshotError::File { verb, path, source }
}

/// Runs `snapshot restore`, which needs no node.
pub async fn restore(output: Output, command: SnapshotCommand) -> Result<ExitCode, SnapshotError> {
    let SnapshotCommand::Restore { file, data_dir, node_id, initial_cluster, initial_cluster_token } = command else {
        return Err(SnapshotError::Protocol("`snapshot save` needs a node"));
    };
    let members = parse_initial_cluster(&initial_cluster)?;
    let bytes = std::fs::read(&file).map_err(file_error("reading", &file))?;
    let backup = backup::decode(&bytes).map_err(|source| SnapshotError::Backup { path: file.clone(), source })?;
    drop(bytes);
    let cluster_id = crate::startup::restored_cluster_id(&backup.sha256, &initial_cluster_token, &members);
    // Generation 0 is a source that predates generations: clusters start at 1.
    let identity = ClusterIdentity { cluster_id, generation: backup.header.generation.max(1), node_id };
    let restored = backup::restore(&backup, &data_dir, identity, &members).await?;
    show(
        output,
        &RestoredView {
            data_dir: data_dir.display().to_string(),
            node_id,
            cluster_id: restored.identity.cluster_id,
            generation: restored.identity.generation,
            source_cluster_id: backup.header.cluster_id.clone(),
            index: restored.last_log_id.index,
            term: restored.last_log_id.leader_id.term,
            state_digest: restored.state_digest,
            members: members.iter().map(|(id, peer)| format!("{id}={peer}")).collect(),
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `snapshot save` against the cluster behind `client`.
pub async fn save(client: &Client, output: Output, command: SnapshotCommand) -> Result<ExitCode, SnapshotError> {
    let SnapshotCommand::Save { file, consistency } = command else {
        return Err(SnapshotError::Protocol("`snapshot restore` talks to no node"));
    };
    let started = Instant::now();
    let mut part = file.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let saved = receive(client, consistency.into(), &part, &file).await;
    let header = match saved {
        Ok(header) => header,
        Err(error) => {
            // Never leave a partial file that looks like a backup in progress.
            let _ = std::fs::remove_file(&part);
            return Err(error);
        }
    };
    let last_log_id = header.last_log_id.unwrap_or_default();
    let size = std::fs::metadata(&file).map_err(file_error("reading", &file))?.len();
    show(
        output,
        &SavedView {
            file: file.display().to_string(),
            cluster_id: header.cluster_id,
            generation: header.generation,
            index: last_log_id.index,
            term: last_log_id.term,
            feature_level: header.feature_level,
            state_digest: header.state_digest,
            size_bytes: size,
            source_node_id: header.source_node_id,
            took_ms: started.elapsed().as_millis() as u64,
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams the backup into `part`, fsyncs it, reads it back and verifies it, then renames it to
/// `file` (and fsyncs the directory). Returns the verified header.
async fn receive(
    client: &Client,
    consistency: v1::Consistency,
    part: &Path,
    file: &Path,
) -> Result<v1::BackupHeader, SnapshotError> {
    use std::io::Write;
    let broke_off = |status: tonic::Status| SnapshotError::Stream(status.message().to_string());
    let mut stream = client.save_snapshot(consistency).await?;
    let first = stream.message().await.map_err(broke_off)?.ok_or(SnapshotError::Protocol("an empty stream"))?;
    let announced = first.backup.ok_or(SnapshotError::Protocol("the first message carries no backup header"))?;
    let expected = first.file_bytes;
    let mut out = std::fs::File::create(part).map_err(file_error("creating", part))?;
    let mut received: u64 = 0;
    while let Some(message) = stream.message().await.map_err(broke_off)? {
        received += message.chunk.len() as u64;
        if received > expected {
            return Err(SnapshotError::Protocol("more bytes than the file length it announced"));
        }
        out.write_all(&message.chunk).map_err(file_error("writing", part))?;
    }
    if received != expected {
        return Err(SnapshotError::Incomplete { received, expected });
    }
    out.sync_all().map_err(file_error("syncing", part))?;
    drop(out);
    // Read back what is on disk: the checksum covers the transfer and the write.
    let bytes = std::fs::read(part).map_err(file_error("reading back", part))?;
    let verified =
        backup::decode(&bytes).map_err(|source| SnapshotError::Backup { path: part.to_path_buf(), source })?;
    if verified.header != announced {
        return Err(SnapshotError::Protocol("the file's header differs from the one announced"));
    }
    std::fs::rename(part, file).map_err(file_error("renaming to", file))?;
    let directory = file.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(directory)
        .and_then(|directory| directory.sync_all())
        .map_err(file_error("syncing", directory))?;
    Ok(verified.header)
}

#[derive(Debug, Serialize)]
struct SavedView {
    file: String,
    cluster_id: String,
    generation: u64,
    index: u64,
    term: u64,
    feature_level: u64,
    state_digest: String,
    size_bytes: u64,
    source_node_id: u64,
    took_ms: u64,
}

impl View for SavedView {
    fn print_table(&self) {
        println!("saved {} ({} bytes in {} ms)", self.file, self.size_bytes, self.took_ms);
        println!("cluster       {} (generation {})", self.cluster_id, self.generation);
        println!("index         {}", self.index);
        println!("term          {}", self.term);
        println!("feature level {}", self.feature_level);
        println!("state digest  {}", self.state_digest);
        println!("taken on node {}", self.source_node_id);
    }
}

#[derive(Debug, Serialize)]
struct RestoredView {
    data_dir: String,
    node_id: u64,
    cluster_id: String,
    generation: u64,
    source_cluster_id: String,
    index: u64,
    term: u64,
    state_digest: String,
    members: Vec<String>,
}

impl View for RestoredView {
    fn print_table(&self) {
        println!("restored node {} into {}", self.node_id, self.data_dir);
        println!("new cluster   {} (generation {})", self.cluster_id, self.generation);
        println!("source        {}", self.source_cluster_id);
        println!("index         {}", self.index);
        println!("term          {}", self.term);
        println!("state digest  {}", self.state_digest);
        println!("voters        {}", self.members.join(","));
        println!(
            "next: pharos serve --data-dir {} --node-id {} with the same --initial-cluster and token",
            self.data_dir, self.node_id
        );
    }
}
