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

use crate::codec::{self, decode_entry, encode_entry};
use crate::storage::{Storage, io_error};
use crate::types::{Entry, LogId, TypeConfig, Vote};

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";

/// What [`LogStore::dump`] read.
#[derive(Debug)]
pub struct LogDump {
    pub purged: Option<LogId>,
    pub committed: Option<LogId>,
    pub vote: Option<Vote>,
    /// `(index, entry or why it does not decode)`.
    pub entries: Vec<(u64, Result<Entry, String>)>,
}

/// Log store and log reader (the same handles; readers are clones).
#[derive(Debug, Clone)]
pub struct LogStore {
    storage: Storage,
}

impl LogStore {
    pub fn new(storage: Storage) -> Self {
        LogStore { storage }
    }

    /// Adds to `batch` the writes that make `entry` the last entry of the log, `vote` the vote
    /// and `entry` committed: how a DR reform seeds a new generation in a stopped node's log
    /// (`reform::reform_as_seed`). The caller commits `batch` with its own writes, atomically,
    /// and fsyncs it.
    pub(crate) fn stage_seed(&self, batch: &mut fjall::OwnedWriteBatch, entry: &Entry, vote: &Vote) {
        batch.insert(&self.storage.raft_log, index_key(entry.log_id.index), encode_entry(entry));
        batch.insert(&self.storage.raft_meta, KEY_VOTE, codec::encode_vote(vote));
        batch.insert(&self.storage.raft_meta, KEY_COMMITTED, codec::encode_log_id(&entry.log_id));
    }

    /// Up to `limit` stored entries from index `from` on, each decoded or, when it does not
    /// decode (a kind of a newer release, damaged bytes), with why and its size: what `pharos
    /// debug dump-log` shows of a stopped node's log. Also the purge marker and the vote.
    pub fn dump(&self, from: u64, limit: usize) -> io::Result<LogDump> {
        let mut entries = Vec::new();
        for guard in self.storage.raft_log.range(index_key(from)..).take(limit) {
            let (key, value) = guard.into_inner().map_err(io_error)?;
            let decoded = decode_entry(&value).map_err(|error| format!("{error} ({} bytes)", value.len()));
            entries.push((index_of(&key)?, decoded));
        }
        let vote = match self.storage.raft_meta.get(KEY_VOTE).map_err(io_error)? {
            Some(bytes) => Some(codec::decode_vote(&bytes)?),
            None => None,
        };
        Ok(LogDump {
            purged: self.read_log_id(KEY_PURGED)?,
            committed: self.read_log_id(KEY_COMMITTED)?,
            vote,
            entries,
        })
    }

    /// Adds to `batch` the writes that make a log that holds nothing past `last_log_id`, all of
    /// it committed and purged into a snapshot, under `vote` (not committed): how a restore
    /// seeds a data dir from a backup (`backup::restore`). Every restored member writes the same
    /// position, so they elect a leader of the next term among themselves.
    pub(crate) fn stage_restored(&self, batch: &mut fjall::OwnedWriteBatch, last_log_id: &LogId, vote: &Vote) {
        batch.insert(&self.storage.raft_meta, KEY_PURGED, codec::encode_log_id(last_log_id));
        batch.insert(&self.storage.raft_meta, KEY_COMMITTED, codec::encode_log_id(last_log_id));
        batch.insert(&self.storage.raft_meta, KEY_VOTE, codec::encode_vote(vote));
    }

    fn read_log_id(&self, key: &str) -> io::Result<Option<LogId>> {
        let Some(bytes) = self.storage.raft_meta.get(key).map_err(io_error)? else { return Ok(None) };
        Ok(Some(codec::decode_log_id(key_name(key), &bytes)?))
    }

    /// Commits `batch` and waits for fsync, off the async executor. `operation` names the
    /// failpoints passed on the way (`failpoints` feature only).
    async fn commit_synced(&self, batch: fjall::OwnedWriteBatch, operation: &'static str) -> io::Result<()> {
        let database = self.storage.database.clone();
        tokio::task::spawn_blocking(move || {
            failpoints::hit(operation, "before_write")?;
            let started = std::time::Instant::now();
            batch.commit().map_err(io_error)?;
            failpoints::hit(operation, "before_fsync")?;
            database.persist(PersistMode::SyncAll).map_err(io_error)?;
            crate::metrics::FSYNC.observe(started.elapsed());
            failpoints::hit(operation, "after_fsync")
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
        Ok(Some(codec::decode_vote(&bytes)?))
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
        batch.insert(&self.storage.raft_meta, KEY_VOTE, codec::encode_vote(vote));
        self.commit_synced(batch, "vote").await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not fsynced: a lost committed marker only means re-applying from the state machine's
        // own applied index, which the state machine stores atomically with its data.
        match committed {
            Some(log_id) => {
                self.storage.raft_meta.insert(KEY_COMMITTED, codec::encode_log_id(&log_id)).map_err(io_error)
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
        let result = self.commit_synced(batch, "append").await;
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
        self.commit_synced(batch, "truncate").await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut marker = self.storage.database.batch();
        marker.insert(&self.storage.raft_meta, KEY_PURGED, codec::encode_log_id(&log_id));
        self.commit_synced(marker, "purge").await?;
        let mut batch = self.storage.database.batch();
        for guard in self.storage.raft_log.range::<[u8; 8], _>(..=index_key(log_id.index)) {
            batch.remove(&self.storage.raft_log, guard.key().map_err(io_error)?);
        }
        batch.commit().map_err(io_error)
    }
}

/// Crash and I/O-error points for the chaos suite, compiled in only with the `failpoints`
/// feature; without it every point is a no-op the optimizer removes.
///
/// A node reads its points from `$PHAROS_FAILPOINTS` at start and, when
/// `$PHAROS_FAILPOINTS_FILE` names a file, from that file at every hit (so a test can arm a
/// running node). The syntax is `point=action[@skip]`, comma separated, where `action` is
/// `crash` (abort the process: a crash at exactly that point), `error` (an I/O error, as a
/// failing fsync gives) or `nospace` (an out-of-space error), and `skip` is how many hits pass
/// before it fires. `error` and `nospace` keep firing once they fired (a broken disk stays
/// broken). Points: `{append,vote,truncate,purge}.{before_write,before_fsync,after_fsync}`.
#[cfg(feature = "failpoints")]
mod failpoints {
    use std::collections::HashMap;
    use std::io;
    use std::sync::{Mutex, OnceLock};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Action {
        Crash,
        Error,
        NoSpace,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Point {
        pub action: Action,
        /// Hits that pass before the point fires.
        pub skip: u64,
        /// Whether it fired already (it says so on stderr once, for the test to find).
        pub fired: bool,
    }

    #[derive(Debug, Default)]
    struct Armed {
        /// The spec the points were parsed from, to notice a changed file.
        spec: String,
        points: HashMap<String, Point>,
    }

    pub fn parse(spec: &str) -> HashMap<String, Point> {
        let mut points = HashMap::new();
        for item in spec.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let Some((name, action)) = item.split_once('=') else { continue };
            let (action, skip) = match action.split_once('@') {
                Some((action, skip)) => (action, skip.trim().parse().unwrap_or(0)),
                None => (action, 0),
            };
            let action = match action.trim() {
                "crash" => Action::Crash,
                "error" => Action::Error,
                "nospace" => Action::NoSpace,
                _ => continue,
            };
            points.insert(name.trim().to_string(), Point { action, skip, fired: false });
        }
        points
    }

    fn current_spec() -> String {
        let mut spec = std::env::var("PHAROS_FAILPOINTS").unwrap_or_default();
        if let Some(path) = std::env::var_os("PHAROS_FAILPOINTS_FILE")
            && let Ok(text) = std::fs::read_to_string(path)
        {
            spec.push(',');
            spec.push_str(&text);
        }
        spec
    }

    /// Passes, fails or aborts at the point `operation.stage`.
    pub fn hit(operation: &str, stage: &str) -> io::Result<()> {
        let name = format!("{operation}.{stage}");
        let name = name.as_str();
        static ARMED: OnceLock<Mutex<Armed>> = OnceLock::new();
        let spec = current_spec();
        let mut armed = ARMED.get_or_init(|| Mutex::new(Armed::default())).lock().unwrap_or_else(|p| p.into_inner());
        if armed.spec != spec {
            armed.points = parse(&spec);
            armed.spec = spec;
        }
        let Some(point) = armed.points.get_mut(name) else { return Ok(()) };
        if point.skip > 0 {
            point.skip -= 1;
            return Ok(());
        }
        if !point.fired {
            point.fired = true;
            eprintln!("failpoint {name} fired: {:?}", point.action);
        }
        match point.action {
            Action::Crash => {
                std::process::abort();
            }
            Action::Error => Err(io::Error::other(format!("failpoint {name}: injected I/O error"))),
            Action::NoSpace => {
                Err(io::Error::new(io::ErrorKind::StorageFull, format!("failpoint {name}: no space left on device")))
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn specs_are_parsed() {
            let points = parse("append.before_fsync=crash@3, vote.after_fsync=error,bad,x=nonsense");
            assert_eq!(points.len(), 2);
            assert_eq!(points["append.before_fsync"], Point { action: Action::Crash, skip: 3, fired: false });
            assert_eq!(points["vote.after_fsync"], Point { action: Action::Error, skip: 0, fired: false });
        }
    }
}

#[cfg(not(feature = "failpoints"))]
mod failpoints {
    #[inline(always)]
    pub fn hit(_operation: &str, _stage: &str) -> std::io::Result<()> {
        Ok(())
    }
}
