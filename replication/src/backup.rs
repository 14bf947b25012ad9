//! Backups (docs/adr/0025-backup-and-restore.md): a checksummed file holding one consistent
//! snapshot of the state, and the restore that turns it into the data dir of a member of a new
//! cluster.
//!
//! The file is one encoded `pharos.v1.BackupFile` (proto/pharos/v1/backup.proto): the magic, a
//! header saying what the state is (cluster, generation, log position, feature level, digest),
//! the pharos-meta snapshot blob, then the SHA-256 of every byte before it. A reader checks the
//! magic, then the checksum over the raw bytes, and only then decodes anything: a corrupted or
//! truncated file is refused before a byte of it is trusted.
//!
//! A restore writes a data dir that an ordinary `pharos serve` resumes: the state installed as
//! a snapshot at the backup's log position, a log that holds nothing past it, a vote of its
//! term, the new members as the only voters, and a new cluster identity, so the restored members
//! elect a leader among themselves and refuse (and are refused by) the source cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use openraft::storage::RaftStateMachine;
use pharos_proto::v1;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::codec::{self, log_id_from_wire, log_id_to_wire};
use crate::identity::ClusterIdentity;
use crate::log_store::LogStore;
use crate::state_machine::StateMachineStore;
use crate::storage::{Storage, StorageOpenError, io_error};
use crate::types::{LogId, Membership, NodeInfo, SnapshotMeta, StoredMembership, Vote};

/// `BackupFile.magic`.
pub const MAGIC: &str = "pharos-backup";
/// `BackupHeader.format_version` this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const SHA256_BYTES: usize = 32;
/// The encoded `sha256` field that ends every backup: tag (field 15, length-delimited), length
/// 32, then the digest.
const CHECKSUM_FIELD_PREFIX: [u8; 2] = [(15 << 3) | 2, SHA256_BYTES as u8];
const CHECKSUM_FIELD_BYTES: usize = CHECKSUM_FIELD_PREFIX.len() + SHA256_BYTES;
/// `raft_meta` key of the [`v1::RestoredFrom`] record a restore leaves.
const KEY_RESTORED_FROM: &str = "restored_from";

/// Why a file is not a backup this build can restore. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("not a pharos backup file (it does not begin with the `{MAGIC}` magic)")]
    NotABackup,
    #[error("the backup file is truncated or malformed: {0}")]
    Malformed(String),
    #[error("the backup file is corrupted: its SHA-256 is {computed}, but it records {recorded}")]
    ChecksumMismatch { recorded: String, computed: String },
    #[error("backup format version {found}; this build reads version {FORMAT_VERSION}")]
    UnsupportedVersion { found: u32 },
    #[error("the backup's state hashes to digest {computed}, but its header records {recorded}")]
    DigestMismatch { recorded: String, computed: String },
    #[error(
        "the backup's cluster is at feature level {level}; this release applies levels up to {latest}: restore it with a newer release"
    )]
    FeatureLevelUnsupported { level: u32, latest: u32 },
}

/// A backup file whose checksum and header were verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub header: v1::BackupHeader,
    /// The pharos-meta snapshot blob.
    pub payload: Vec<u8>,
    /// `BackupFile.sha256`: names this exact backup (the restored cluster id derives from it).
    pub sha256: [u8; SHA256_BYTES],
}

impl Backup {
    /// The log position the state reflects.
    pub fn last_log_id(&self) -> Result<LogId, BackupError> {
        self.header
            .last_log_id
            .map(log_id_from_wire)
            .ok_or_else(|| BackupError::Malformed("the header has no last_log_id".into()))
    }

    /// Decodes the state and checks it against the header's digest.
    pub fn state(&self) -> Result<pharos_meta::State, BackupError> {
        let state = pharos_meta::codec::decode_snapshot(&self.payload)
            .map_err(|error| BackupError::Malformed(format!("the snapshot payload: {error}")))?;
        let computed = state.digest();
        if computed != self.header.state_digest {
            return Err(BackupError::DigestMismatch { recorded: self.header.state_digest.clone(), computed });
        }
        // A node of this release could not apply the restored cluster's log (ADR 0026).
        let level = state.committed_feature_level();
        if level > pharos_meta::feature::LATEST {
            return Err(BackupError::FeatureLevelUnsupported { level, latest: pharos_meta::feature::LATEST });
        }
        Ok(state)
    }
}

/// The file bytes of a backup of `payload` described by `header` (its `format_version` and
/// `payload_bytes` are filled in here).
pub fn encode(mut header: v1::BackupHeader, payload: Vec<u8>) -> Vec<u8> {
    header.format_version = FORMAT_VERSION;
    header.payload_bytes = payload.len() as u64;
    let mut bytes =
        v1::BackupFile { magic: MAGIC.to_string(), header: Some(header), payload, sha256: Vec::new() }.encode_to_vec();
    let sha256 = Sha256::digest(&bytes).to_vec();
    // Field 15 alone: proto3 leaves the empty fields out, so this is exactly the trailer.
    v1::BackupFile { sha256, ..Default::default() }.encode(&mut bytes).expect("Vec has unbounded capacity");
    bytes
}

/// Verifies and decodes a backup file: magic, then the checksum over the raw bytes, then the
/// message and its header.
pub fn decode(bytes: &[u8]) -> Result<Backup, BackupError> {
    let magic_field = v1::BackupFile { magic: MAGIC.to_string(), ..Default::default() }.encode_to_vec();
    if !bytes.starts_with(&magic_field) {
        return Err(BackupError::NotABackup);
    }
    let Some(covered_bytes) = bytes.len().checked_sub(CHECKSUM_FIELD_BYTES).filter(|&n| n >= magic_field.len()) else {
        return Err(BackupError::Malformed("too short to hold a checksum".into()));
    };
    let (covered, trailer) = bytes.split_at(covered_bytes);
    let (prefix, recorded) = trailer.split_at(CHECKSUM_FIELD_PREFIX.len());
    if prefix != CHECKSUM_FIELD_PREFIX {
        return Err(BackupError::Malformed("it does not end with its checksum (truncated?)".into()));
    }
    let computed = Sha256::digest(covered);
    if computed.as_slice() != recorded {
        return Err(BackupError::ChecksumMismatch { recorded: hex::encode(recorded), computed: hex::encode(computed) });
    }
    let file = v1::BackupFile::decode(bytes).map_err(|error| BackupError::Malformed(error.to_string()))?;
    let header = file.header.ok_or_else(|| BackupError::Malformed("no header".into()))?;
    if header.format_version != FORMAT_VERSION {
        return Err(BackupError::UnsupportedVersion { found: header.format_version });
    }
    if header.payload_bytes != file.payload.len() as u64 {
        return Err(BackupError::Malformed(format!(
            "the header says {} payload bytes, the file holds {}",
            header.payload_bytes,
            file.payload.len()
        )));
    }
    let mut sha256 = [0; SHA256_BYTES];
    sha256.copy_from_slice(recorded);
    let backup = Backup { header, payload: file.payload, sha256 };
    backup.last_log_id()?;
    Ok(backup)
}

/// What a node knows of itself when it takes a backup.
#[derive(Debug, Clone)]
pub struct BackupSource<'a> {
    pub identity: &'a ClusterIdentity,
    /// The node's wall clock, Unix ms.
    pub now_ms: u64,
}

/// A backup of the state `store` has applied: state, log position and membership are read
/// under one read lock, so they describe the same index. `None` before anything was applied.
pub fn take(store: &StateMachineStore, source: BackupSource<'_>) -> Option<(v1::BackupHeader, Vec<u8>)> {
    let (payload, digest, last_log_id, membership, feature_level) = {
        let applied = store.read();
        let last_log_id = applied.last_applied?;
        (
            pharos_meta::codec::encode_snapshot(&applied.state),
            applied.state.digest(),
            last_log_id,
            applied.last_membership.membership().clone(),
            applied.state.committed_feature_level(),
        )
    };
    let header = v1::BackupHeader {
        format_version: FORMAT_VERSION,
        cluster_id: source.identity.cluster_id.clone(),
        generation: source.identity.generation,
        last_log_id: Some(log_id_to_wire(&last_log_id)),
        feature_level: u64::from(feature_level),
        state_digest: digest,
        payload_bytes: payload.len() as u64,
        source_node_id: source.identity.node_id,
        saved_at_ms: source.now_ms,
        source_membership: Some(codec::membership_to_wire(&membership)),
    };
    let file = encode(header.clone(), payload);
    Some((header, file))
}

/// Why a restore did not happen. Nothing was left in the target data dir.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("data dir {0} is not empty: a restore writes only into an empty or missing data dir")]
    DataDirNotEmpty(PathBuf),
    #[error("{0} exists (left by an interrupted restore?): remove it and restore again")]
    StagingExists(PathBuf),
    #[error("the new membership must list this node ({node_id}); it lists {members:?}")]
    NotAMember { node_id: u64, members: Vec<u64> },
    #[error(transparent)]
    Open(#[from] StorageOpenError),
    #[error("writing the restored data dir: {0}")]
    Io(#[from] io::Error),
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub identity: ClusterIdentity,
    pub last_log_id: LogId,
    pub state_digest: String,
}

/// Writes the data dir of member `identity.node_id` of the cluster restored from `backup`, whose
/// voters are `members` (node id -> peer address). The data dir must be missing or empty: the
/// restore is written next to it (`<data dir>.restoring`), fsynced, and renamed into place, so an
/// interrupted restore never leaves a data dir `serve` would resume.
pub async fn restore(
    backup: &Backup,
    data_dir: &Path,
    identity: ClusterIdentity,
    members: &BTreeMap<u64, String>,
) -> Result<Restored, RestoreError> {
    if !members.contains_key(&identity.node_id) {
        return Err(RestoreError::NotAMember { node_id: identity.node_id, members: members.keys().copied().collect() });
    }
    let last_log_id = backup.last_log_id()?;
    // Checked before anything is written: a state that does not match its header is refused.
    backup.state()?;
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RestoreError::DataDirNotEmpty(data_dir.to_path_buf()));
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    let mut staging = data_dir.as_os_str().to_owned();
    staging.push(".restoring");
    let staging = PathBuf::from(staging);
    if staging.exists() {
        return Err(RestoreError::StagingExists(staging));
    }
    let written = write_restored(backup, &staging, &identity, members, last_log_id).await;
    let finished = written.and_then(|()| {
        // `rename` replaces an empty directory; the parent's fsync makes the name durable.
        std::fs::rename(&staging, data_dir)?;
        let parent = data_dir.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(parent)?.sync_all()?;
        Ok(())
    });
    if let Err(error) = finished {
        // Best effort: the staging dir is ours, and leaving it would block the next attempt.
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    Ok(Restored { identity, last_log_id, state_digest: backup.header.state_digest.clone() })
}

async fn write_restored(
    backup: &Backup,
    staging: &Path,
    identity: &ClusterIdentity,
    members: &BTreeMap<u64, String>,
    last_log_id: LogId,
) -> Result<(), RestoreError> {
    let storage = Storage::open(staging)?;
    let voters: BTreeSet<u64> = members.keys().copied().collect();
    // Peer addresses only, as a static bootstrap proposes: each member records its own client
    // address and placement once it runs.
    let nodes: BTreeMap<u64, NodeInfo> = members
        .iter()
        .map(|(id, peer_addr)| (*id, NodeInfo { peer_addr: peer_addr.clone(), ..NodeInfo::default() }))
        .collect();
    let membership = Membership::new(vec![voters], nodes).map_err(io_error)?;
    let meta = SnapshotMeta {
        last_log_id: Some(last_log_id),
        // The new membership stands at the snapshot's own position: every restored member
        // holds the identical one, and the source's membership is not carried over.
        last_membership: StoredMembership::new(Some(last_log_id), membership),
    };
    let mut store = StateMachineStore::open(storage.clone())?;
    store.install_snapshot(&meta, backup.payload.clone()).await?;
    let mut batch = storage.database.batch();
    // A vote of the backup's term (not committed: no leader yet), so the first election is of
    // the next term and its entries follow the restored position in term order.
    let vote = Vote::new(last_log_id.leader_id.term, identity.node_id);
    LogStore::new(storage.clone()).stage_restored(&mut batch, &last_log_id, &vote);
    let record = v1::RestoredFrom {
        source_cluster_id: backup.header.cluster_id.clone(),
        backup_sha256: backup.sha256.to_vec(),
        last_log_id: Some(log_id_to_wire(&last_log_id)),
        generation: identity.generation,
    };
    batch.insert(&storage.raft_meta, KEY_RESTORED_FROM, codec::frame(&record));
    batch.commit().map_err(io_error)?;
    // Fsyncs everything above with it.
    identity.save(&storage)?;
    drop(store);
    drop(storage);
    std::fs::File::open(staging)?.sync_all()?;
    Ok(())
}

/// The record a restore left in this data dir, if it was restored.
pub fn restored_from(storage: &Storage) -> io::Result<Option<v1::RestoredFrom>> {
    match storage.raft_meta.get(KEY_RESTORED_FROM).map_err(io_error)? {
        Some(bytes) => Ok(Some(codec::unframe("restore record", &bytes)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> v1::BackupHeader {
        v1::BackupHeader {
            cluster_id: "source".into(),
            generation: 1,
            last_log_id: Some(v1::LogId { term: 3, node_id: 0, index: 42 }),
            state_digest: pharos_meta::State::default().digest(),
            source_node_id: 2,
            saved_at_ms: 1_700_000_000_000,
            ..Default::default()
        }
    }

    fn file() -> Vec<u8> {
        encode(header(), pharos_meta::codec::encode_snapshot(&pharos_meta::State::default()))
    }

    #[test]
    fn a_backup_round_trips_and_pins_its_framing() {
        let bytes = file();
        assert!(bytes.starts_with(b"\x0a\x0dpharos-backup"), "the magic opens the file");
        assert_eq!(bytes[bytes.len() - CHECKSUM_FIELD_BYTES..][..2], [0x7a, 0x20], "the checksum closes it");
        let backup = decode(&bytes).expect("decodes");
        let payload = pharos_meta::codec::encode_snapshot(&pharos_meta::State::default());
        assert_eq!(
            backup.header,
            v1::BackupHeader { format_version: 1, payload_bytes: payload.len() as u64, ..header() }
        );
        assert_eq!(backup.payload, payload);
        assert_eq!(backup.last_log_id(), Ok(LogId::new(crate::types::CommittedLeaderId::new(3), 42)));
        assert_eq!(backup.state(), Ok(pharos_meta::State::default()));
        assert_eq!(backup.sha256.as_slice(), Sha256::digest(&bytes[..bytes.len() - CHECKSUM_FIELD_BYTES]).as_slice());
    }

    #[test]
    fn a_truncated_backup_is_refused_at_every_length() {
        let bytes = file();
        for length in 0..bytes.len() {
            let refused = decode(&bytes[..length]).expect_err("truncated");
            assert!(
                matches!(
                    refused,
                    BackupError::NotABackup | BackupError::Malformed(_) | BackupError::ChecksumMismatch { .. }
                ),
                "length {length}: {refused:?}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let bytes = file();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&flipped).is_err(), "bit {bit} flipped and still accepted");
        }
        let mut flipped = bytes.clone();
        let middle = bytes.len() / 2;
        flipped[middle] ^= 0x10;
        assert!(matches!(decode(&flipped), Err(BackupError::ChecksumMismatch { .. })));
        assert_eq!(decode(b"SQLite format 3\0 and more bytes than that"), Err(BackupError::NotABackup));
    }

    #[test]
    fn another_format_version_or_a_wrong_digest_is_refused() {
        let mut bytes =
            v1::BackupFile { magic: MAGIC.into(), header: Some(header()), payload: Vec::new(), sha256: Vec::new() }
                .encode_to_vec();
        let sha256 = Sha256::digest(&bytes).to_vec();
        v1::BackupFile { sha256, ..Default::default() }.encode(&mut bytes).expect("encodes");
        assert_eq!(decode(&bytes), Err(BackupError::UnsupportedVersion { found: 0 }));

        let payload = pharos_meta::codec::encode_snapshot(&pharos_meta::State::default());
        let lying = encode(v1::BackupHeader { state_digest: "0".repeat(64), ..header() }, payload);
        let backup = decode(&lying).expect("the file itself is intact");
        assert!(matches!(backup.state(), Err(BackupError::DigestMismatch { .. })));
    }

    proptest::proptest! {
        /// Whatever a file holds, reading it answers `Ok` or a typed error, never a panic:
        /// arbitrary bytes, and arbitrary bytes behind the magic (which pass the first check).
        #[test]
        fn any_bytes_decode_or_are_refused(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode(&tail);
            let mut behind_magic = v1::BackupFile { magic: MAGIC.into(), ..Default::default() }.encode_to_vec();
            behind_magic.extend_from_slice(&tail);
            let _ = decode(&behind_magic);
        }
    }

    #[tokio::test]
    async fn a_restore_refuses_a_non_empty_data_dir_and_writes_a_resumable_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backup = decode(&file()).expect("decodes");
        let members: BTreeMap<u64, String> = [(1, "a:1".to_string()), (2, "b:2".to_string())].into();
        let identity = ClusterIdentity { cluster_id: "restored".into(), generation: 1, node_id: 2 };

        let occupied = dir.path().join("occupied");
        std::fs::create_dir_all(occupied.join("fjall")).expect("dir");
        assert!(matches!(
            restore(&backup, &occupied, identity.clone(), &members).await,
            Err(RestoreError::DataDirNotEmpty(_))
        ));
        let stranger = ClusterIdentity { node_id: 3, ..identity.clone() };
        let target = dir.path().join("node-2");
        assert!(matches!(
            restore(&backup, &target, stranger, &members).await,
            Err(RestoreError::NotAMember { node_id: 3, .. })
        ));
        assert!(!target.exists(), "a refused restore writes nothing");

        let restored = restore(&backup, &target, identity.clone(), &members).await.expect("restores");
        let last_log_id = LogId::new(crate::types::CommittedLeaderId::new(3), 42);
        assert_eq!(restored.last_log_id, last_log_id);
        let storage = Storage::open(&target).expect("opens");
        assert_eq!(ClusterIdentity::load(&storage).expect("identity"), Some(identity));
        let record = restored_from(&storage).expect("record").expect("present");
        assert_eq!(record.backup_sha256, backup.sha256.to_vec());
        assert_eq!(record.source_cluster_id, "source");
        assert_eq!(
            crate::reform::log_position(&storage).await.expect("position"),
            (Some(last_log_id), Some(Vote::new(3, 2)))
        );
        let store = StateMachineStore::open(storage.clone()).expect("state machine");
        let applied = store.read();
        assert_eq!(applied.last_applied, Some(last_log_id));
        assert_eq!(applied.last_membership.membership().voter_ids().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(applied.state.digest(), backup.header.state_digest);
        assert!(!dir.path().join("node-2.restoring").exists());
    }
}
