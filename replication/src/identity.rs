//! The cluster identity a node belongs to: `(cluster_id, generation)` plus its own node id.
//! Persisted in the data dir on first start; every peer RPC carries it and every receiver
//! checks it (docs/architecture.md, "Regions and disaster recovery": anything from another cluster or a lower generation is refused).

use std::sync::atomic::{AtomicU64, Ordering};

use pharos_proto::metadata;
use pharos_proto::v1;
use tonic::metadata::MetadataMap;

use crate::codec;
use crate::storage::{Storage, io_error};

const KEY_IDENTITY: &str = "identity";
/// The highest generation this node has learned of, when higher than its own: it is fenced.
const KEY_FENCED_BY: &str = "fenced_by_generation";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub cluster_id: String,
    pub generation: u64,
    pub node_id: u64,
}

/// Why a peer request was refused before reaching Raft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityMismatch {
    #[error("peer request carries no {0} metadata")]
    Missing(&'static str),
    #[error("peer belongs to cluster {remote}, this node to cluster {local}")]
    ClusterId { local: String, remote: String },
    #[error("peer is at generation {remote}, this node at generation {local}")]
    Generation { local: u64, remote: u64 },
}

impl ClusterIdentity {
    pub fn load(storage: &Storage) -> std::io::Result<Option<ClusterIdentity>> {
        let Some(bytes) = storage.raft_meta.get(KEY_IDENTITY).map_err(io_error)? else { return Ok(None) };
        Ok(Some(ClusterIdentity::decode(&bytes)?))
    }

    /// The identity as stored (`raft_meta/identity`): a framed `pharos.v1.IdentityResponse`
    /// without its `leader_id` or `header` (answer-only fields; the golden fixture pins the bytes).
    pub fn encode(&self) -> Vec<u8> {
        codec::frame(&v1::IdentityResponse {
            cluster_id: self.cluster_id.clone(),
            generation: self.generation,
            node_id: self.node_id,
            leader_id: None,
            header: None,
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<ClusterIdentity, codec::WireError> {
        let record: v1::IdentityResponse = codec::unframe("cluster identity", bytes)?;
        Ok(ClusterIdentity { cluster_id: record.cluster_id, generation: record.generation, node_id: record.node_id })
    }

    /// Persists the identity (fsynced): it must exist before this node talks to any peer.
    pub fn save(&self, storage: &Storage) -> std::io::Result<()> {
        storage.raft_meta.insert(KEY_IDENTITY, self.encode()).map_err(io_error)?;
        storage.database.persist(fjall::PersistMode::SyncAll).map_err(io_error)
    }

    /// Adds this node's identity to outgoing peer request metadata.
    pub fn stamp(&self, metadata_map: &mut MetadataMap) {
        if let Ok(value) = self.cluster_id.parse() {
            metadata_map.insert(metadata::CLUSTER_ID, value);
        }
        metadata_map.insert(metadata::GENERATION, self.generation.into());
    }

    /// Checks the identity an incoming peer request carries.
    pub fn check(&self, metadata_map: &MetadataMap) -> Result<(), IdentityMismatch> {
        let remote_cluster = metadata_map
            .get(metadata::CLUSTER_ID)
            .and_then(|value| value.to_str().ok())
            .ok_or(IdentityMismatch::Missing(metadata::CLUSTER_ID))?;
        if remote_cluster != self.cluster_id {
            return Err(IdentityMismatch::ClusterId {
                local: self.cluster_id.clone(),
                remote: remote_cluster.to_string(),
            });
        }
        let remote_generation = metadata_map
            .get(metadata::GENERATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .ok_or(IdentityMismatch::Missing(metadata::GENERATION))?;
        if remote_generation != self.generation {
            return Err(IdentityMismatch::Generation { local: self.generation, remote: remote_generation });
        }
        Ok(())
    }
}

/// What a node knows about generations above its own (docs/architecture.md, "Regions and disaster recovery", invariant 5). Once a node of
/// generation `g` hears of generation `g' > g` (a peer refused it, or a peer or a broker spoke
/// with `g'`), the lost region has been failed over without it: it persists the fact and from
/// then on refuses every write and linearizable read, so it can never take writes back.
#[derive(Debug)]
pub struct GenerationFence {
    local: u64,
    /// Highest generation heard of; `local` while not fenced.
    highest_seen: AtomicU64,
    storage: Storage,
}

impl GenerationFence {
    /// Loads what an earlier run of this node learned.
    pub fn load(storage: &Storage, local: u64) -> std::io::Result<GenerationFence> {
        let stored = match storage.raft_meta.get(KEY_FENCED_BY).map_err(io_error)? {
            Some(bytes) => u64::from_be_bytes(
                bytes.as_ref().try_into().map_err(|_| io_error("fenced-by generation is not 8 bytes"))?,
            ),
            None => 0,
        };
        Ok(GenerationFence { local, highest_seen: AtomicU64::new(stored.max(local)), storage: storage.clone() })
    }

    pub fn local(&self) -> u64 {
        self.local
    }

    /// The higher generation this node is fenced by, if any.
    pub fn fenced_by(&self) -> Option<u64> {
        let seen = self.highest_seen.load(Ordering::Acquire);
        (seen > self.local).then_some(seen)
    }

    /// Records that generation `remote` exists. Persisted (fsynced) the first time it is higher
    /// than anything known, so a restart stays fenced.
    pub fn observe(&self, remote: u64) {
        let previous = self.highest_seen.fetch_max(remote, Ordering::AcqRel);
        if remote > previous && remote > self.local {
            tracing::error!(
                local = self.local,
                remote,
                "a newer generation exists: this node was failed over and now refuses writes (run `pharos dr failback`)"
            );
            let persisted = self
                .storage
                .raft_meta
                .insert(KEY_FENCED_BY, remote.to_be_bytes())
                .map_err(io_error)
                .and_then(|()| self.storage.database.persist(fjall::PersistMode::SyncAll).map_err(io_error));
            if let Err(error) = persisted {
                tracing::error!(%error, "cannot persist the fence; it holds until this process stops");
            }
        }
    }

    /// Learns from the `pharos-fenced-by` metadata of a same-generation peer.
    pub fn observe_fenced_by(&self, metadata_map: &MetadataMap) {
        if let Some(remote) = metadata_map
            .get(metadata::FENCED_BY)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
        {
            self.observe(remote);
        }
    }

    /// Learns from gRPC metadata carrying a generation (a peer's refusal).
    pub fn observe_metadata(&self, metadata_map: &MetadataMap) {
        if let Some(remote) = metadata_map
            .get(metadata::GENERATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
        {
            self.observe(remote);
        }
    }
}
