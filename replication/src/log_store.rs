//! The durable Raft log: entries, vote, committed marker and purge marker in fjall.
//!
//! Ordering duties (what openraft relies on):
//! - `save_vote` returns only after the vote is fsynced, so a vote is never granted twice in a
//!   term across a crash;
//! - `append` reports the entries flushed (the `IOFlushed` callback) only after the batch that
//!   holds them is fsynced, so an entry a follower acknowledged survives power loss;
//! - `purge` writes the purge marker before deleting, so a crash midway never leaves a log whose
//!   first entry is unexplained.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use fjall::PersistMode;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use crate::codec::{self, decode_entry, encode_entry, log_id_from_wire, log_id_to_wire, vote_to_wire};
use crate::storage::{Storage, io_error};
use crate::types::{Entry, LogId, TypeConfig, Vote};

pub(crate) const KEY_VOTE: &str = "vote";
pub(crate) const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";

/// Log store and log reader (the same handles; readers are clones).
#[derive(Debug, Clone)]
pub struct LogStore {
    storage: Storage,
}

impl LogStore {
    pub fn new(storage: Storage) -> Self {
        LogStore { storage }
    }

    fn read_log_id(&self, key: &str) -> io::Result<Option<LogId>> {
        let Some(bytes) = self.storage.raft_meta.get(key).map_err(io_error)? else { return Ok(None) };
        let log_id: pharos_proto::v1::LogId = codec::unframe(key_name(key), &bytes)?;
        Ok(Some(log_id_from_wire(log_id)))
    }

    /// Commits `batch` and waits for fsync, off the async executor.
    async fn commit_synced(&self, batch: fjall::OwnedWriteBatch) -> io::Result<()> {
        let database = self.storage.database.clone();
        tokio::task::spawn_blocking(move || {
            batch.commit().map_err(io_error)?;
            database.persist(PersistMode::SyncAll).map_err(io_error)
        })
        .await
        .map_err(io_error)?
    }
}

fn key_name(key: &str) -> &'static str {
    match key {
        KEY_COMMITTED => "committed log id",
        KEY_PURGED => "purge marker",
        _ => "log id",
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn index_of(key: &[u8]) -> io::Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| io_error("raft_log key is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(index) => *index,
            Bound::Excluded(index) => index.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(index) => Bound::Included(index_key(*index)),
            Bound::Excluded(index) => Bound::Excluded(index_key(*index)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut entries = Vec::new();
        for guard in self.storage.raft_log.range::<[u8; 8], _>((Bound::Included(index_key(start)), end)) {
            let (_, value) = guard.into_inner().map_err(io_error)?;
            entries.push(decode_entry(&value)?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let Some(bytes) = self.storage.raft_meta.get(KEY_VOTE).map_err(io_error)? else { return Ok(None) };
        let vote: pharos_proto::v1::Vote = codec::unframe("vote", &bytes)?;
        Ok(Some(codec::vote_from_wire(Some(vote))?))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id = self.read_log_id(KEY_PURGED)?;
        let last_log_id = match self.storage.raft_log.last_key_value() {
            Some(guard) => {
                let (_, value) = guard.into_inner().map_err(io_error)?;
                Some(decode_entry(&value)?.log_id)
            }
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut batch = self.storage.database.batch();
        batch.insert(&self.storage.raft_meta, KEY_VOTE, codec::frame(&vote_to_wire(vote)));
        self.commit_synced(batch).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not fsynced: a lost committed marker only means re-applying from the state machine's
        // own applied index, which the state machine stores atomically with its data.
        match committed {
            Some(log_id) => {
                self.storage.raft_meta.insert(KEY_COMMITTED, codec::frame(&log_id_to_wire(&log_id))).map_err(io_error)
            }
            None => self.storage.raft_meta.remove(KEY_COMMITTED).map_err(io_error),
        }
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.read_log_id(KEY_COMMITTED)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = self.storage.database.batch();
        for entry in entries {
            batch.insert(&self.storage.raft_log, index_key(entry.log_id.index), encode_entry(&entry));
        }
        let result = self.commit_synced(batch).await;
        let reported = result.as_ref().map(|_| ()).map_err(|error| io::Error::new(error.kind(), error.to_string()));
        callback.io_completed(reported);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let first_removed = last_log_id.map_or(0, |log_id| log_id.index + 1);
        let mut batch = self.storage.database.batch();
        for guard in self.storage.raft_log.range::<[u8; 8], _>(index_key(first_removed)..) {
            let key = guard.key().map_err(io_error)?;
            index_of(&key)?;
            batch.remove(&self.storage.raft_log, key);
        }
        self.commit_synced(batch).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut marker = self.storage.database.batch();
        marker.insert(&self.storage.raft_meta, KEY_PURGED, codec::frame(&log_id_to_wire(&log_id)));
        self.commit_synced(marker).await?;
        let mut batch = self.storage.database.batch();
        for guard in self.storage.raft_log.range::<[u8; 8], _>(..=index_key(log_id.index)) {
            batch.remove(&self.storage.raft_log, guard.key().map_err(io_error)?);
        }
        batch.commit().map_err(io_error)
    }
}
