//! Re-forming a cluster after its primary region is lost (docs/architecture.md, "Regions and disaster recovery", unplanned failover), and
//! re-joining one after being left behind (failback).
//!
//! Both run on a node whose Raft is **stopped**, and both leave the data dir in a state an
//! ordinary start resumes from:
//!
//! - [`reform_as_seed`]: the surviving node with the longest log keeps it, and appends (fsynced)
//!   one membership entry naming itself the only voter, under a vote of a new term, marked
//!   committed. On start, openraft re-applies the log up to that entry and the node, the only
//!   voter, wins its first election (leader restore is off: `Node::start`) and leads the next
//!   generation; the other survivors re-join it. Every entry the
//!   node held survives, including an uncommitted tail (a write that may or may not have
//!   happened may reappear; an acknowledged one is never dropped).
//! - [`quarantine`]: a node of the old generation moves its data aside (never deletes it) and
//!   starts empty. [`write_pending_join`] first records (fsynced, in the data dir) that the next
//!   start must join the new generation as a learner, whatever its bootstrap flags say, so a
//!   crash between the two steps still joins and never bootstraps a cluster of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use openraft::storage::RaftLogStorage;
use openraft::{EntryPayload, RaftLogReader};
use pharos_proto::v1;

use crate::codec;
use crate::identity::ClusterIdentity;
use crate::log_store::LogStore;
use crate::storage::{Storage, io_error};
use crate::types::{CommittedLeaderId, Entry, LogId, Membership, NodeInfo, Vote};

const KEY_PENDING_FAILOVER: &str = "pending_failover";
/// Where quarantined data goes, inside the data dir.
pub const QUARANTINE_DIR: &str = "quarantine";
/// The file that makes the next start join a cluster.
pub const PENDING_JOIN_FILE: &str = "pending-join";

fn persist(storage: &Storage) -> io::Result<()> {
    storage.database.persist(fjall::PersistMode::SyncAll).map_err(io_error)
}

/// Records that the next start of the node in `data_dir` must join `pending.endpoints` as
/// generation `pending.generation` (temporary file, fsync, rename, fsync the dir).
pub fn write_pending_join(data_dir: &Path, pending: &v1::PendingJoin) -> io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(data_dir)?;
    let temporary = data_dir.join(format!("{PENDING_JOIN_FILE}.tmp"));
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&codec::frame(pending))?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, data_dir.join(PENDING_JOIN_FILE))?;
    std::fs::File::open(data_dir)?.sync_all()
}

pub fn read_pending_join(data_dir: &Path) -> io::Result<Option<v1::PendingJoin>> {
    match std::fs::read(data_dir.join(PENDING_JOIN_FILE)) {
        Ok(bytes) => Ok(Some(codec::unframe("pending join", &bytes)?)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

pub fn remove_pending_join(data_dir: &Path) -> io::Result<()> {
    std::fs::remove_file(data_dir.join(PENDING_JOIN_FILE))?;
    std::fs::File::open(data_dir)?.sync_all()
}

/// The failover command (pharos-meta encoding) a seed must commit as its first act.
pub fn load_pending_failover(storage: &Storage) -> io::Result<Option<pharos_meta::Command>> {
    match storage.raft_meta.get(KEY_PENDING_FAILOVER).map_err(io_error)? {
        Some(bytes) => pharos_meta::codec::decode_command(&bytes).map(Some).map_err(io_error),
        None => Ok(None),
    }
}

pub fn clear_pending_failover(storage: &Storage) -> io::Result<()> {
    storage.raft_meta.remove(KEY_PENDING_FAILOVER).map_err(io_error)?;
    persist(storage)
}

/// This node's log position, read from storage: `(last log id, vote)`.
pub async fn log_position(storage: &Storage) -> io::Result<(Option<LogId>, Option<Vote>)> {
    let mut log_store = LogStore::new(storage.clone());
    let state = log_store.get_log_state().await?;
    let vote = log_store.read_vote().await?;
    Ok((state.last_log_id, vote))
}

/// Turns a stopped node's storage into the seed of generation `generation`: see the module
/// docs. `failover_command` is committed by the new generation first (it records the
/// generation, the new regions and the loss report). Returns the new identity.
pub async fn reform_as_seed(
    storage: &Storage,
    identity: &ClusterIdentity,
    info: NodeInfo,
    generation: u64,
    failover_command: &[u8],
) -> io::Result<ClusterIdentity> {
    if generation <= identity.generation {
        return Err(io_error(format!("generation {generation} is not above {}", identity.generation)));
    }
    pharos_meta::codec::decode_command(failover_command).map_err(io_error)?;
    let (last_log_id, vote) = log_position(storage).await?;
    let last_log_id = last_log_id.ok_or_else(|| io_error("this node holds no log: it cannot seed a generation"))?;
    let term = last_log_id.leader_id.term.max(vote.map_or(0, |vote| vote.leader_id.term)) + 1;
    let node_id = identity.node_id;
    let leader_id = CommittedLeaderId::new(term);
    let membership =
        Membership::new(vec![BTreeSet::from([node_id])], BTreeMap::from([(node_id, info)])).map_err(io_error)?;
    let entry =
        Entry { log_id: LogId::new(leader_id, last_log_id.index + 1), payload: EntryPayload::Membership(membership) };
    let new_identity = ClusterIdentity { generation, ..identity.clone() };
    let mut batch = storage.database.batch();
    LogStore::new(storage.clone()).stage_seed(&mut batch, &entry, &Vote::new_committed(term, node_id));
    batch.insert(&storage.raft_meta, KEY_PENDING_FAILOVER, failover_command.to_vec());
    batch.commit().map_err(io_error)?;
    new_identity.save(storage)?;
    tracing::warn!(
        generation,
        last_log_index = last_log_id.index,
        "re-formed as the seed of a new generation: the only voter, continuing from this node's log"
    );
    Ok(new_identity)
}

/// Moves a stopped node's data (`fjall/`, `snapshots/`) to
/// `data_dir/quarantine/<unix ms>-generation-<generation>/` and returns that path. Nothing is
/// deleted; the next start finds an empty data dir.
pub fn quarantine(data_dir: &Path, generation: u64) -> io::Result<PathBuf> {
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis());
    let target = data_dir.join(QUARANTINE_DIR).join(format!("{stamp}-generation-{generation}"));
    std::fs::create_dir_all(&target)?;
    for name in ["fjall", "snapshots"] {
        let source = data_dir.join(name);
        if source.exists() {
            std::fs::rename(&source, target.join(name))?;
        }
    }
    // Every directory whose entries changed: the moved folders' new parent, the folder that
    // names it, and the data dir they left (power-cut rule: docs/testing.md, "Power loss").
    std::fs::File::open(&target)?.sync_all()?;
    std::fs::File::open(data_dir.join(QUARANTINE_DIR))?.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()?;
    tracing::warn!(quarantined_to = %target.display(), "moved this node's data aside");
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership_entry(term: u64, index: u64, node_id: u64) -> Entry {
        let membership =
            Membership::new(vec![BTreeSet::from([node_id])], BTreeMap::from([(node_id, NodeInfo::default())]))
                .expect("one voter");
        Entry { log_id: LogId::new(CommittedLeaderId::new(term), index), payload: EntryPayload::Membership(membership) }
    }

    #[tokio::test]
    async fn a_seed_continues_its_log_under_a_new_term_with_the_failover_pending() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("storage");
        let identity = ClusterIdentity { cluster_id: "cluster".into(), generation: 1, node_id: 2 };
        let failover = pharos_meta::codec::encode_command(&pharos_meta::Command {
            request_id: None,
            issued_at_ms: 7,
            actor: "coordinator".into(),
            operation: pharos_meta::Operation::Noop,
        });
        // No log: nothing to continue from.
        assert!(reform_as_seed(&storage, &identity, NodeInfo::default(), 2, &failover).await.is_err());

        // A log up to (term 3, index 5), and a vote of term 4 seen since.
        let mut batch = storage.database.batch();
        LogStore::new(storage.clone()).stage_seed(&mut batch, &membership_entry(3, 5, 1), &Vote::new(4, 1));
        batch.commit().expect("commit");
        assert!(reform_as_seed(&storage, &identity, NodeInfo::default(), 1, &failover).await.is_err(), "not above");

        let info = NodeInfo { peer_addr: "b:2".into(), ..NodeInfo::default() };
        let seeded = reform_as_seed(&storage, &identity, info, 2, &failover).await.expect("re-formed");
        assert_eq!(seeded, ClusterIdentity { generation: 2, ..identity });
        assert_eq!(ClusterIdentity::load(&storage).expect("identity"), Some(seeded));

        let mut log_store = LogStore::new(storage.clone());
        let seed_log_id = LogId::new(CommittedLeaderId::new(5), 6);
        assert_eq!(
            log_position(&storage).await.expect("position"),
            (Some(seed_log_id), Some(Vote::new_committed(5, 2)))
        );
        assert_eq!(log_store.read_committed().await.expect("committed"), Some(seed_log_id));
        let entries = log_store.try_get_log_entries(6..7).await.expect("entries");
        let [entry] = entries.as_slice() else { panic!("one seed entry, got {entries:?}") };
        let EntryPayload::Membership(membership) = &entry.payload else { panic!("a membership entry: {entry:?}") };
        assert_eq!(membership.voter_ids().collect::<Vec<_>>(), vec![2]);
        assert_eq!(membership.get_node(&2).map(|info| info.peer_addr.as_str()), Some("b:2"));
        assert_eq!(
            load_pending_failover(&storage).expect("pending failover").map(|command| command.issued_at_ms),
            Some(7)
        );
        clear_pending_failover(&storage).expect("cleared");
        assert_eq!(load_pending_failover(&storage).expect("pending failover"), None);
    }
}
