//! The cluster identity a node belongs to: `(cluster_id, generation)` plus its own node id.
//! Persisted in the data dir on first start; every peer RPC carries it and every receiver
//! checks it (DESIGN.md §6: anything from another cluster or a lower generation is refused).

use pharos_proto::metadata;
use pharos_proto::v1;
use tonic::metadata::MetadataMap;

use crate::codec;
use crate::storage::{Storage, io_error};

const KEY_IDENTITY: &str = "identity";

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
        let record: v1::IdentityResponse = codec::unframe("cluster identity", &bytes)?;
        Ok(Some(ClusterIdentity {
            cluster_id: record.cluster_id,
            generation: record.generation,
            node_id: record.node_id,
        }))
    }

    /// Persists the identity (fsynced): it must exist before this node talks to any peer.
    pub fn save(&self, storage: &Storage) -> std::io::Result<()> {
        let record = v1::IdentityResponse {
            cluster_id: self.cluster_id.clone(),
            generation: self.generation,
            node_id: self.node_id,
            leader_id: None,
        };
        storage.raft_meta.insert(KEY_IDENTITY, codec::frame(&record)).map_err(io_error)?;
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
