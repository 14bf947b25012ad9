//! Golden fixtures of what this crate persists: log entries, the vote, the log-id markers
//! (committed, purged, applied), the state machine's stored membership, the snapshot file, the
//! cluster identity, the pending-join file, the backup file and the restore record. Kept in `tests/fixtures/<format>/<case>.bin` and
//! checked in both directions, forever: each fixture must decode to the value its case builds,
//! and that value must encode to exactly the fixture's bytes (the harness is
//! `pharos_fuzz_support::golden`). The commands inside log entries are pinned case by case by
//! pharos-meta's own fixtures (`meta/tests/golden.rs`).
//!
//! A fixture is never rewritten: a change that fails here changed a persisted format, and the
//! fix is in the code. A new case gets its fixture written once, from the value it builds:
//!
//! ```text
//! PHAROS_WRITE_FIXTURES=1 cargo test -p pharos-replication --test golden
//! ```
//!
//! Values are fixed, with every field set to a value that is not its default wherever the type
//! allows (protobuf leaves default fields out of the bytes, unpinned); comments name the rest.

use std::collections::{BTreeMap, BTreeSet};

use pharos_fuzz_support::every_variant;
use pharos_fuzz_support::golden::{Fixtures, Format, assert_pinned};
use pharos_proto::v1;
use pharos_replication::codec::{self, WireError};
use pharos_replication::reform::{PENDING_JOIN_FILE, read_pending_join, write_pending_join};
use pharos_replication::state_machine::{
    decode_snapshot_file, decode_stored_membership, encode_snapshot_file, encode_stored_membership,
};
use pharos_replication::types::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote,
};
use pharos_replication::{ClusterIdentity, NodeInfo};

use pharos_replication::backup::{self, BackupError};

const FIXTURES: Fixtures = Fixtures { root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures") };

const ENTRY: Format<Entry, WireError> =
    Format { directory: "entry", encode: codec::encode_entry, decode: codec::decode_entry };
const VOTE: Format<Vote, WireError> =
    Format { directory: "vote", encode: codec::encode_vote, decode: codec::decode_vote };
const LOG_ID: Format<LogId, WireError> =
    Format { directory: "log_id", encode: codec::encode_log_id, decode: |bytes| codec::decode_log_id("log id", bytes) };
const STORED_MEMBERSHIP: Format<StoredMembership, std::io::Error> =
    Format { directory: "stored_membership", encode: encode_stored_membership, decode: decode_stored_membership };
const SNAPSHOT_FILE: Format<(SnapshotMeta, Vec<u8>), std::io::Error> = Format {
    directory: "snapshot_file",
    encode: |(meta, data)| encode_snapshot_file(meta, data),
    decode: decode_snapshot_file,
};
const IDENTITY: Format<ClusterIdentity, WireError> =
    Format { directory: "identity", encode: ClusterIdentity::encode, decode: ClusterIdentity::decode };
/// Through the functions that write and read the file itself, in a scratch data dir.
const PENDING_JOIN: Format<v1::PendingJoin, std::io::Error> = Format {
    directory: "pending_join",
    encode: |pending| {
        let data_dir = tempfile::tempdir().expect("a scratch data dir");
        write_pending_join(data_dir.path(), pending).expect("writes the pending join");
        std::fs::read(data_dir.path().join(PENDING_JOIN_FILE)).expect("reads the pending-join file back")
    },
    decode: |bytes| {
        let data_dir = tempfile::tempdir()?;
        std::fs::write(data_dir.path().join(PENDING_JOIN_FILE), bytes)?;
        read_pending_join(data_dir.path())?.ok_or_else(|| std::io::Error::other("no pending join read"))
    },
};

const BACKUP_FILE: Format<(v1::BackupHeader, Vec<u8>), BackupError> = Format {
    directory: "backup_file",
    encode: |(header, payload)| backup::encode(header.clone(), payload.clone()),
    decode: |bytes| backup::decode(bytes).map(|backup| (backup.header, backup.payload)),
};
const RESTORED_FROM: Format<v1::RestoredFrom, WireError> = Format {
    directory: "restored_from",
    encode: |record| codec::frame(record),
    decode: |bytes| codec::unframe("restore record", bytes),
};

#[test]
fn stored_raft_formats_keep_their_bytes() {
    assert_pinned(vec![
        FIXTURES.check(&ENTRY, &entries()),
        FIXTURES.check(&VOTE, &votes()),
        FIXTURES.check(&LOG_ID, &log_ids()),
        FIXTURES.check(&STORED_MEMBERSHIP, &stored_memberships()),
        FIXTURES.check(&SNAPSHOT_FILE, &snapshot_files()),
        FIXTURES.check(&IDENTITY, &identities()),
        FIXTURES.check(&PENDING_JOIN, &pending_joins()),
        FIXTURES.check(&BACKUP_FILE, &backup_files()),
        FIXTURES.check(&RESTORED_FROM, &restore_records()),
    ]);
}

/// A fixture without a case would silently stop being checked: cases are never removed.
#[test]
fn every_fixture_file_is_checked_by_a_case() {
    FIXTURES.assert_every_file_is_checked(
        [
            FIXTURES.paths(&ENTRY, &entries()),
            FIXTURES.paths(&VOTE, &votes()),
            FIXTURES.paths(&LOG_ID, &log_ids()),
            FIXTURES.paths(&STORED_MEMBERSHIP, &stored_memberships()),
            FIXTURES.paths(&SNAPSHOT_FILE, &snapshot_files()),
            FIXTURES.paths(&IDENTITY, &identities()),
            FIXTURES.paths(&PENDING_JOIN, &pending_joins()),
            FIXTURES.paths(&BACKUP_FILE, &backup_files()),
            FIXTURES.paths(&RESTORED_FROM, &restore_records()),
        ]
        .into_iter()
        .flatten(),
    );
}

// ---- values ----

/// Log ids carry the term alone: their `node_id` is written as 0, left out of the bytes.
fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term), index)
}

fn node_info(node_id: u64) -> NodeInfo {
    let zone = if node_id % 2 == 1 { "eu-west-1a" } else { "eu-west-1b" };
    NodeInfo {
        client_addr: format!("10.0.1.{}:7001", 10 + node_id),
        peer_addr: format!("10.0.1.{}:7002", 10 + node_id),
        zone: zone.to_string(),
        region: if node_id == 5 { "eu-central-1" } else { "eu-west-1" }.to_string(),
        // Kept 0 (not advertised) here: these are the bytes of builds that predate feature
        // levels; `stored_memberships` has a case that sets it.
        feature_level_max: 0,
    }
}

/// Joint consensus from voters {1, 2, 3} to {2, 3, 4}, with node 5 a learner.
fn membership() -> Membership {
    let configs: Vec<BTreeSet<u64>> = vec![[1, 2, 3].into_iter().collect(), [2, 3, 4].into_iter().collect()];
    let nodes: BTreeMap<u64, NodeInfo> = (1..=5).map(|node_id| (node_id, node_info(node_id))).collect();
    Membership::new(configs, nodes).expect("a valid membership")
}

fn entries() -> Vec<(String, Entry)> {
    let command = pharos_meta::Command {
        request_id: Some(pharos_meta::RequestId { client_id: "golden-client".to_string(), sequence: 42 }),
        issued_at_ms: 1_764_777_600_000,
        actor: "10.1.2.3:50712 (golden-client)".to_string(),
        operation: pharos_meta::Operation::Put { key: b"config/greeting".to_vec(), value: b"hello".to_vec() },
    };
    every_variant!(EntryPayload {
        "blank" => Blank,
        "command" => Normal(command),
        "membership" => Membership(membership()),
    })
    .into_iter()
    .map(|(name, payload)| (name, Entry { log_id: log_id(7, 10_422), payload }))
    .collect()
}

fn votes() -> Vec<(String, Vote)> {
    vec![
        ("committed".to_string(), Vote::new_committed(7, 2)),
        // `committed: false` is left out of the bytes; the committed vote pins the field.
        ("granted".to_string(), Vote::new(8, 3)),
    ]
}

fn log_ids() -> Vec<(String, LogId)> {
    vec![("committed".to_string(), log_id(7, 10_422))]
}

fn stored_memberships() -> Vec<(String, StoredMembership)> {
    let nodes: BTreeMap<u64, NodeInfo> = (1..=3)
        .map(|node_id| (node_id, NodeInfo { feature_level_max: node_id as u32, ..node_info(node_id) }))
        .collect();
    let advertised = Membership::new(vec![[1, 2, 3].into_iter().collect()], nodes).expect("a valid membership");
    vec![
        ("joint".to_string(), StoredMembership::new(Some(log_id(6, 10_400)), membership())),
        ("advertised_feature_levels".to_string(), StoredMembership::new(Some(log_id(7, 10_500)), advertised)),
    ]
}

fn snapshot_files() -> Vec<(String, (SnapshotMeta, Vec<u8>))> {
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(7, 10_422)),
        last_membership: StoredMembership::new(Some(log_id(6, 10_400)), membership()),
    };
    // The blob is pharos-meta's snapshot (pinned by its own fixtures); here, of an empty state.
    vec![("after_a_membership_change".to_string(), (meta, pharos_meta::codec::encode_snapshot(&Default::default())))]
}

fn identities() -> Vec<(String, ClusterIdentity)> {
    vec![(
        "node_4_of_generation_3".to_string(),
        ClusterIdentity { cluster_id: "0d6f3c2e-8f4b-4b0a-9a43-5b1e7c9d2f10".to_string(), generation: 3, node_id: 4 },
    )]
}

fn pending_joins() -> Vec<(String, v1::PendingJoin)> {
    let pending = v1::PendingJoin {
        legacy_client_endpoints: Vec::new(),
        peer_endpoints: vec!["10.0.2.14:7002".to_string(), "10.0.2.15:7002".to_string()],
        auto_promote: true,
        cluster_id: "0d6f3c2e-8f4b-4b0a-9a43-5b1e7c9d2f10".to_string(),
        generation: 3,
        node_id: 1,
    };
    vec![
        ("join_over_the_peer_port".to_string(), pending.clone()),
        // What builds that joined over the client port wrote: only the legacy endpoints.
        (
            "legacy_client_endpoints".to_string(),
            v1::PendingJoin {
                legacy_client_endpoints: vec!["10.0.2.14:7001".to_string()],
                peer_endpoints: Vec::new(),
                ..pending
            },
        ),
    ]
}

fn backup_files() -> Vec<(String, (v1::BackupHeader, Vec<u8>))> {
    // The payload is pharos-meta's snapshot (pinned by its own fixtures); here, of an empty state.
    let payload = pharos_meta::codec::encode_snapshot(&Default::default());
    let header = v1::BackupHeader {
        format_version: backup::FORMAT_VERSION,
        cluster_id: "0d6f3c2e-8f4b-4b0a-9a43-5b1e7c9d2f10".to_string(),
        generation: 3,
        last_log_id: Some(codec::log_id_to_wire(&log_id(7, 10_422))),
        feature_level: 2,
        state_digest: pharos_meta::State::default().digest(),
        payload_bytes: payload.len() as u64,
        source_node_id: 2,
        saved_at_ms: 1_764_777_600_000,
        source_membership: Some(codec::membership_to_wire(&membership())),
    };
    vec![("of_an_empty_state".to_string(), (header, payload))]
}

fn restore_records() -> Vec<(String, v1::RestoredFrom)> {
    vec![(
        "restored_at_generation_3".to_string(),
        v1::RestoredFrom {
            source_cluster_id: "0d6f3c2e-8f4b-4b0a-9a43-5b1e7c9d2f10".to_string(),
            backup_sha256: (1..=32).collect(),
            last_log_id: Some(codec::log_id_to_wire(&log_id(7, 10_422))),
            generation: 3,
        },
    )]
}
