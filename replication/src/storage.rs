//! The node's data directory: one fjall database holding the Raft log, the Raft metadata (vote,
//! committed, purge marker, cluster identity) and the state machine, plus a `snapshots/` folder.
//!
//! Layout under `data_dir`:
//! - `fjall/` keyspaces `raft_log` (big-endian index -> entry), `raft_meta`, `sm_kv`,
//!   `sm_sessions`, `sm_brokers`, `sm_groups`, `sm_topics`, `sm_offsets`, `sm_audit`, `sm_meta`,
//!   `sm_access` (`user/<name>` -> user, `policy/<subject>` -> its entries);
//! - `snapshots/current.snapshot`: the last snapshot built or installed.

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

#[derive(Debug, thiserror::Error)]
pub enum StorageOpenError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database in {path}: {source}")]
    Open { path: PathBuf, source: fjall::Error },
}

/// Handles to every keyspace; cheap to clone (fjall handles are reference counted).
#[derive(Clone)]
pub struct Storage {
    pub database: Database,
    pub raft_log: Keyspace,
    pub raft_meta: Keyspace,
    pub sm_kv: Keyspace,
    pub sm_sessions: Keyspace,
    pub sm_brokers: Keyspace,
    pub sm_groups: Keyspace,
    pub sm_topics: Keyspace,
    pub sm_offsets: Keyspace,
    pub sm_audit: Keyspace,
    pub sm_meta: Keyspace,
    pub sm_access: Keyspace,
    pub snapshot_dir: PathBuf,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Storage").field("snapshot_dir", &self.snapshot_dir).finish_non_exhaustive()
    }
}

impl Storage {
    pub fn open(data_dir: &Path) -> Result<Self, StorageOpenError> {
        let fjall_dir = data_dir.join("fjall");
        let snapshot_dir = data_dir.join("snapshots");
        for dir in [data_dir, &snapshot_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|source| StorageOpenError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let open_error = |source| StorageOpenError::Open { path: fjall_dir.clone(), source };
        let database = Database::builder(&fjall_dir).open().map_err(open_error)?;
        let keyspace = |name: &str| database.keyspace(name, KeyspaceCreateOptions::default).map_err(open_error);
        let storage = Storage {
            raft_log: keyspace("raft_log")?,
            raft_meta: keyspace("raft_meta")?,
            sm_kv: keyspace("sm_kv")?,
            sm_sessions: keyspace("sm_sessions")?,
            sm_brokers: keyspace("sm_brokers")?,
            sm_groups: keyspace("sm_groups")?,
            sm_topics: keyspace("sm_topics")?,
            sm_offsets: keyspace("sm_offsets")?,
            sm_audit: keyspace("sm_audit")?,
            sm_meta: keyspace("sm_meta")?,
            sm_access: keyspace("sm_access")?,
            database,
            snapshot_dir,
        };
        // The entries of the directories just created (or found) must survive a power cut as
        // much as the files in them: fjall fsyncs its journal after every append, but neither
        // it nor `create_dir_all` fsyncs the directories that name `fjall/`, `snapshots/` and
        // each keyspace's folder, so a cut in the first seconds after a first start (before
        // the file system commits its metadata) lost the whole database while every write in
        // it had been fsynced (found by the power-cut chaos scenarios, docs/testing.md). Inner
        // first: a directory is durable once its entry in its parent is.
        let keyspaces_dir = fjall_dir.join("keyspaces");
        for dir in [keyspaces_dir.as_path(), &fjall_dir, &storage.snapshot_dir, data_dir] {
            sync_dir(dir).map_err(|source| StorageOpenError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        Ok(storage)
    }
}

/// Makes `dir`'s entries (files and folders created or renamed in it) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Storage {
    /// Every keyspace the state machine owns: what a snapshot install replaces.
    pub fn state_machine_keyspaces(&self) -> [&Keyspace; 9] {
        [
            &self.sm_kv,
            &self.sm_sessions,
            &self.sm_brokers,
            &self.sm_groups,
            &self.sm_topics,
            &self.sm_offsets,
            &self.sm_audit,
            &self.sm_meta,
            &self.sm_access,
        ]
    }
}

pub fn io_error(error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(error.to_string())
}
