//! Membership, status and maintenance of the cluster, and its audit log.

use crate::rpc::cluster;
use crate::{Client, ClientError, v1};

impl Client {
    /// Status of whichever node answers first (not necessarily the leader).
    pub async fn status(&self) -> Result<v1::StatusResponse, ClientError> {
        self.send::<cluster::Status>(v1::StatusRequest {}).await
    }

    pub async fn identity(&self) -> Result<v1::IdentityResponse, ClientError> {
        self.send::<cluster::Identity>(v1::IdentityRequest {}).await
    }

    /// Adds `node_id` as a learner (`cluster add-learner`). A node joining by itself uses the
    /// peer port's `MemberService` instead.
    pub async fn add_learner(&self, node_id: u64, info: v1::NodeInfo) -> Result<v1::JoinResponse, ClientError> {
        self.send::<cluster::AddLearner>(v1::JoinRequest { node_id, info: Some(info), request_id: None }).await
    }

    pub async fn promote(&self, node_id: u64) -> Result<v1::PromoteResponse, ClientError> {
        self.send::<cluster::Promote>(v1::PromoteRequest { node_id }).await
    }

    pub async fn remove(&self, node_id: u64) -> Result<v1::RemoveResponse, ClientError> {
        self.send::<cluster::Remove>(v1::RemoveRequest { node_id, request_id: None }).await
    }

    pub async fn transfer_leader(&self, to_node_id: u64) -> Result<v1::TransferLeaderRpcResponse, ClientError> {
        self.send::<cluster::TransferLeader>(v1::TransferLeaderRpcRequest { to_node_id }).await
    }

    /// Raises the cluster's committed feature level to `level` (0: the newest every member
    /// supports). Refused while a member's build supports less; levels never go down.
    pub async fn set_feature_level(&self, level: u32) -> Result<v1::SetFeatureLevelResponse, ClientError> {
        self.send::<cluster::SetFeatureLevel>(v1::SetFeatureLevelRequest { level, request_id: None }).await
    }

    /// Snapshot + log purge on the first endpoint that answers.
    pub async fn compact(&self) -> Result<v1::CompactResponse, ClientError> {
        self.send::<cluster::Compact>(v1::CompactRequest {}).await
    }

    /// A backup of the state (`pharos snapshot save`): the first message carries the backup's
    /// header and the file's length, the following ones the file's bytes in order.
    pub async fn save_snapshot(
        &self,
        consistency: v1::Consistency,
    ) -> Result<tonic::Streaming<v1::SaveSnapshotResponse>, ClientError> {
        self.send::<cluster::SaveSnapshot>(v1::SaveSnapshotRequest { consistency: consistency.into() }).await
    }

    /// The audit log, newest first.
    pub async fn list_audit(&self, limit: u32) -> Result<v1::ListAuditResponse, ClientError> {
        let request = v1::ListAuditRequest { limit, ..Default::default() };
        self.query_audit(request).await
    }

    /// The audit entries matching `request`'s filters (since, subject, action), newest first.
    pub async fn query_audit(&self, request: v1::ListAuditRequest) -> Result<v1::ListAuditResponse, ClientError> {
        self.send::<cluster::ListAudit>(request).await
    }
}
