//! gRPC client API (thin: decode -> node -> encode).

use crate::convert::Validate;
use pharos_proto::v1::ErrorReason as Reason;
use std::time::Duration;

use pharos_meta::{MembershipChange, Operation, RequestId, Response};
use pharos_proto::v1;
use pharos_proto::v1::cluster_service_server::ClusterService;
use pharos_proto::v1::kv_service_server::KvService;
use pharos_replication::{Node, NodeInfo};
use tonic::{Code, Request, Status};

use crate::status::{invalid_request, node_error, with_reason};

/// Bound of an operator membership operation (promote, transfer, compact).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of the backup file per `SaveSnapshot` message: well under the 4 MiB gRPC message limit
/// clients decode by default.
const BACKUP_CHUNK_BYTES_MAX: usize = 1024 * 1024;

type BackupStream = crate::handler::WatchStream<v1::SaveSnapshotResponse>;

#[derive(Debug, Clone)]
pub struct Api {
    node: Node,
}

impl Api {
    pub fn new(node: Node) -> Self {
        Api { node }
    }

    fn header(&self, revision: u64) -> v1::ResponseHeader {
        crate::handler::read_header(&self.node, revision)
    }

    async fn write(
        &self,
        operation: Operation,
        request_id: Option<RequestId>,
        actor: String,
    ) -> Result<Response, Status> {
        crate::handler::propose(&self.node, operation, request_id, actor).await
    }

    async fn prepare_read(&self, consistency: i32) -> Result<(), Status> {
        crate::handler::prepare_read(&self.node, consistency).await
    }

    /// Records an operator's membership change in the audit log (membership lives in Raft's own
    /// entries, which name no caller). The change is made already: a failure to record it is
    /// logged, not returned.
    /// Records a membership change made, in the audit log and, with the request's key, as that
    /// key's answer. A keyed request that changed nothing still leaves its key answered (a
    /// no-op entry), so that a late repeat cannot act on a membership that changed meanwhile.
    async fn record_membership(&self, change: Option<MembershipChange>, request_id: Option<RequestId>, actor: String) {
        let operation = match change {
            Some(change) => Operation::RecordMembershipChange(change),
            None if request_id.is_some() => Operation::Noop,
            None => return,
        };
        if let Err(status) = self.write(operation, request_id, actor).await {
            tracing::warn!(?change, error = %status.message(), "membership change made but not recorded");
        }
    }

    /// Whether a membership request with this key was carried out already (its record is
    /// committed under the key), and if so whether it changed the membership (its audit record
    /// is at the key's index; a request that changed nothing left a no-op). The retry then
    /// answers from the membership as it is, and changes nothing. The window between the change
    /// and its record is the one place a crash leaves a change whose retry runs again, and then
    /// answers as a repeat by hand does.
    fn membership_request_done(&self, request_id: Option<&RequestId>) -> Result<Option<bool>, Status> {
        let Some(request_id) = request_id else { return Ok(None) };
        let applied = self.node.state_machine.read();
        let state = &applied.state;
        let remembered =
            state.sessions.get(&request_id.client_id).and_then(|session| session.responses.get(&request_id.sequence));
        match remembered {
            None => Ok(None),
            Some((_, Response::Error(error))) => Err(crate::status::command_error(error.clone())),
            Some((index, _)) => Ok(Some(state.audit.contains_key(index))),
        }
    }
}

fn unexpected(response: Response) -> Status {
    Status::internal(format!("state machine answered with an unexpected response: {response:?}"))
}

#[tonic::async_trait]
impl KvService for Api {
    async fn put(&self, request: Request<v1::PutRequest>) -> Result<tonic::Response<v1::PutResponse>, Status> {
        crate::auth::authorize(&request, &String::from_utf8_lossy(&request.get_ref().key))?;
        let actor = crate::handler::actor(&request);
        let (operation, request_id) = request.into_inner().validate().map_err(invalid_request)?;
        match self.write(operation, request_id, actor).await? {
            Response::Put { revision, created } => {
                Ok(tonic::Response::new(v1::PutResponse { header: Some(self.header(revision)), created }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn get(&self, request: Request<v1::GetRequest>) -> Result<tonic::Response<v1::GetResponse>, Status> {
        crate::auth::authorize(&request, &String::from_utf8_lossy(&request.get_ref().key))?;
        let request = request.into_inner();
        crate::convert::validate_key("key", &request.key).map_err(invalid_request)?;
        self.prepare_read(request.consistency).await?;
        let (revision, record) = {
            let applied = self.node.state_machine.read();
            (applied.state.revision, applied.state.kv.get(&request.key).cloned())
        };
        Ok(tonic::Response::new(v1::GetResponse {
            header: Some(self.header(revision)),
            kv: record.map(|record| crate::convert::key_value(request.key, record)),
        }))
    }

    async fn delete(&self, request: Request<v1::DeleteRequest>) -> Result<tonic::Response<v1::DeleteResponse>, Status> {
        crate::auth::authorize(&request, &String::from_utf8_lossy(&request.get_ref().key))?;
        let actor = crate::handler::actor(&request);
        let (operation, request_id) = request.into_inner().validate().map_err(invalid_request)?;
        match self.write(operation, request_id, actor).await? {
            Response::Delete { revision, deleted } => {
                Ok(tonic::Response::new(v1::DeleteResponse { header: Some(self.header(revision)), deleted }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn compare_and_set(
        &self,
        request: Request<v1::CompareAndSetRequest>,
    ) -> Result<tonic::Response<v1::CompareAndSetResponse>, Status> {
        crate::auth::authorize(&request, &String::from_utf8_lossy(&request.get_ref().key))?;
        let actor = crate::handler::actor(&request);
        let (operation, request_id) = request.into_inner().validate().map_err(invalid_request)?;
        match self.write(operation, request_id, actor).await? {
            Response::CompareAndSet { succeeded, revision, current_mod_revision } => {
                Ok(tonic::Response::new(v1::CompareAndSetResponse {
                    header: Some(self.header(revision)),
                    succeeded,
                    current_mod_revision,
                }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn range(&self, request: Request<v1::RangeRequest>) -> Result<tonic::Response<v1::RangeResponse>, Status> {
        crate::auth::authorize(&request, &String::from_utf8_lossy(&request.get_ref().prefix))?;
        let request = request.into_inner();
        let (prefix, limit) = crate::convert::range(&request).map_err(invalid_request)?;
        self.prepare_read(request.consistency).await?;
        let (revision, mut kvs) = {
            let applied = self.node.state_machine.read();
            (applied.state.revision, applied.state.range_prefix(&prefix, limit + 1))
        };
        let more = kvs.len() > limit;
        kvs.truncate(limit);
        Ok(tonic::Response::new(v1::RangeResponse {
            header: Some(self.header(revision)),
            kvs: kvs.into_iter().map(|(key, record)| crate::convert::key_value(key, record)).collect(),
            more,
        }))
    }
}

pub(crate) fn node_info(info: Option<v1::NodeInfo>) -> Result<NodeInfo, Status> {
    let info: NodeInfo =
        info.ok_or_else(|| with_reason(Code::InvalidArgument, Reason::InvalidArgument, "info is required"))?.into();
    for (field, value) in [("info.client_addr", &info.client_addr), ("info.peer_addr", &info.peer_addr)] {
        if value.parse::<std::net::SocketAddr>().is_err()
            && value.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(with_reason(
                Code::InvalidArgument,
                Reason::InvalidArgument,
                format!("{field} `{value}` is not host:port"),
            ));
        }
    }
    Ok(info)
}

#[tonic::async_trait]
impl ClusterService for Api {
    async fn identity(&self, _: Request<v1::IdentityRequest>) -> Result<tonic::Response<v1::IdentityResponse>, Status> {
        let identity = &self.node.identity;
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::IdentityResponse {
                header: None,
                cluster_id: identity.cluster_id.clone(),
                generation: identity.generation,
                node_id: identity.node_id,
                leader_id: self.node.leader().0,
            },
        ))
    }

    async fn status(&self, request: Request<v1::StatusRequest>) -> Result<tonic::Response<v1::StatusResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let status = self.node.status();
        let members = status
            .members
            .iter()
            .map(|(id, info)| {
                let matched = status.matched.as_ref().and_then(|matched| matched.get(id).copied());
                v1::MemberStatus {
                    node_id: *id,
                    info: Some(info.into()),
                    role: crate::convert::enums::member_role(status.voters.contains(id)).into(),
                    lag_entries: matched.map(|matched| status.last_log_index.saturating_sub(matched)),
                    matched_index: matched,
                }
            })
            .collect();
        let placement: Vec<(u64, &str, &str, bool)> = status
            .members
            .iter()
            .map(|(id, info)| (*id, info.zone.as_str(), info.region.as_str(), status.voters.contains(id)))
            .collect();
        let (digest, feature_level, mut warnings) = {
            let applied = self.node.state_machine.read();
            let dr = &applied.state.dr;
            (
                applied.state.digest(),
                applied.state.committed_feature_level(),
                pharos_dr::placement_warnings(&dr.primary_region, &dr.dr_region, &placement),
            )
        };
        let insecure = request.extensions().get::<crate::auth::Caller>().is_some_and(crate::auth::Caller::insecure);
        if insecure {
            warnings.push(format!(
                "node {} runs --insecure: its client port serves everyone without authentication or access control",
                status.node_id
            ));
        }
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::StatusResponse {
                header: None,
                cluster_id: self.node.identity.cluster_id.clone(),
                generation: self.node.identity.generation,
                node_id: status.node_id,
                leader_id: status.leader_id,
                term: status.term,
                state: crate::convert::enums::server_state(status.state).into(),
                last_log_index: status.last_log_index,
                commit_index: status.commit_index,
                applied_index: status.applied_index,
                snapshot_index: status.snapshot_index,
                purged_index: status.purged_index,
                members,
                joint_consensus: status.joint_consensus,
                state_digest: digest,
                insecure,
                warnings,
                feature_level,
            },
        ))
    }

    async fn add_learner(
        &self,
        request: Request<v1::JoinRequest>,
    ) -> Result<tonic::Response<v1::JoinResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        if request.node_id == 0 {
            return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "node_id must be at least 1"));
        }
        let info = node_info(request.info)?;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        if self.membership_request_done(request_id.as_ref())?.is_none() {
            self.node.add_learner(request.node_id, info).await.map_err(node_error)?;
            let change = MembershipChange::AddLearner { node_id: request.node_id };
            self.record_membership(Some(change), request_id, actor).await;
        }
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::JoinResponse {
                header: None,
                cluster_id: self.node.identity.cluster_id.clone(),
                generation: self.node.identity.generation,
                leader_id: self.node.identity.node_id,
            },
        ))
    }

    async fn promote(
        &self,
        request: Request<v1::PromoteRequest>,
    ) -> Result<tonic::Response<v1::PromoteResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let node_id = required_node_id(request.into_inner().node_id)?;
        let changed = self.node.promote(node_id).await.map_err(node_error)?;
        if changed {
            self.record_membership(Some(MembershipChange::Promote { node_id }), None, actor).await;
        }
        let voters = self.node.status().voters.into_iter().collect();
        Ok(crate::handler::answer_applied(&self.node, v1::PromoteResponse { voters, changed, header: None }))
    }

    async fn remove(&self, request: Request<v1::RemoveRequest>) -> Result<tonic::Response<v1::RemoveResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let node_id = required_node_id(request.node_id)?;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        // A retry of a removal already made answers as the first attempt did: removed.
        let changed = if let Some(changed) = self.membership_request_done(request_id.as_ref())? {
            changed
        } else {
            let changed = self.node.remove(node_id).await.map_err(node_error)?;
            let change = changed.then_some(MembershipChange::Remove { node_id });
            self.record_membership(change, request_id, actor).await;
            changed
        };
        let status = self.node.status();
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::RemoveResponse {
                header: None,
                voters: status.voters.iter().copied().collect(),
                learners: status.members.keys().filter(|id| !status.voters.contains(id)).copied().collect(),
                changed,
            },
        ))
    }

    async fn transfer_leader(
        &self,
        request: Request<v1::TransferLeaderRpcRequest>,
    ) -> Result<tonic::Response<v1::TransferLeaderRpcResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let to_node_id = request.into_inner().to_node_id;
        // Recorded when asked, while this node still leads (afterwards it cannot propose).
        if self.node.ensure_leader().is_ok() {
            self.record_membership(Some(MembershipChange::TransferLeader { to_node_id }), None, actor).await;
        }
        let leader_id = self.node.transfer_leader(to_node_id, ADMIN_TIMEOUT).await.map_err(node_error)?;
        Ok(crate::handler::answer_applied(&self.node, v1::TransferLeaderRpcResponse { leader_id, header: None }))
    }

    async fn list_audit(
        &self,
        request: Request<v1::ListAuditRequest>,
    ) -> Result<tonic::Response<v1::ListAuditResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let request = request.into_inner();
        let limit = match request.limit as usize {
            0 => 100,
            limit if limit > pharos_meta::limits::AUDIT_RECORDS_MAX => {
                return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "limit must be at most 10000"));
            }
            limit => limit,
        };
        self.prepare_read(request.consistency).await?;
        let applied = self.node.state_machine.read();
        let entries = applied
            .state
            .audit
            .values()
            .rev()
            // A filter, not take_while: leader clocks may differ, so times need not grow with the index.
            .filter(|record| record.at_ms >= request.since_ms)
            .map(|record| {
                let (subject, source) = split_actor(&record.actor);
                v1::AuditEntry {
                    index: record.index,
                    at_ms: record.at_ms,
                    actor: record.actor.clone(),
                    action: record.action.clone(),
                    target: record.target.clone(),
                    result: record.result.clone(),
                    subject: subject.to_string(),
                    source: source.to_string(),
                }
            })
            .filter(|entry| request.subject.is_empty() || entry.subject == request.subject)
            .filter(|entry| request.action.is_empty() || entry.action == request.action)
            .take(limit)
            .collect();
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(&self.node, revision, v1::ListAuditResponse { entries, header: None }))
    }

    async fn compact(
        &self,
        request: Request<v1::CompactRequest>,
    ) -> Result<tonic::Response<v1::CompactResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let (snapshot_index, purged_index) = self.node.compact(ADMIN_TIMEOUT).await.map_err(node_error)?;
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::CompactResponse { snapshot_index, purged_index, header: None },
        ))
    }

    async fn set_feature_level(
        &self,
        request: Request<v1::SetFeatureLevelRequest>,
    ) -> Result<tonic::Response<v1::SetFeatureLevelResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        self.node.ensure_leader().map_err(node_error)?;
        let previous_level = self.node.state_machine.read().state.committed_feature_level();
        let level = match request.level {
            0 => self.node.members_feature_level().unwrap_or(previous_level).max(previous_level),
            level if level > pharos_meta::feature::LATEST => {
                return Err(with_reason(
                    Code::FailedPrecondition,
                    Reason::FeatureLevelNotSupported,
                    format!(
                        "feature level {level} is unknown to this release (it knows levels up to {})",
                        pharos_meta::feature::LATEST
                    ),
                ));
            }
            level => level,
        };
        // A retry whose key was answered gets that answer; `propose` never re-checks it.
        if request_id.as_ref().is_none_or(|id| self.node.state_machine.read().state.remembered(id).is_none()) {
            self.node.check_members_support(level).map_err(node_error)?;
        }
        match self.write(Operation::SetFeatureLevel { level }, request_id, actor).await? {
            Response::FeatureLevel { level, revision } => Ok(crate::handler::answer(
                &self.node,
                revision,
                v1::SetFeatureLevelResponse { level, previous_level, header: None },
            )),
            other => Err(unexpected(other)),
        }
    }

    type SaveSnapshotStream = BackupStream;

    /// Takes the backup at the index this node has applied once the read barrier passed (for a
    /// linearizable backup: at least every write acknowledged before the call), and streams the
    /// file. The state is encoded off the async executor under the state machine's read lock.
    async fn save_snapshot(
        &self,
        request: Request<v1::SaveSnapshotRequest>,
    ) -> Result<tonic::Response<BackupStream>, Status> {
        crate::auth::authorize(&request, "")?;
        crate::handler::prepare_read(&self.node, request.into_inner().consistency).await?;
        let store = self.node.state_machine.clone();
        let identity = self.node.identity.clone();
        let taken = tokio::task::spawn_blocking(move || {
            let source =
                pharos_replication::backup::BackupSource { identity: &identity, now_ms: crate::handler::unix_ms() };
            pharos_replication::backup::take(&store, source)
        })
        .await
        .map_err(|error| Status::internal(format!("taking the backup: {error}")))?;
        let Some((backup, file)) = taken else {
            return Err(with_reason(Code::Unavailable, Reason::NotReady, "this node has applied nothing yet"));
        };
        let index = backup.last_log_id.map_or(0, |log_id| log_id.index);
        tracing::info!(index, file_bytes = file.len(), "streaming a backup");
        let mut messages = vec![v1::SaveSnapshotResponse {
            backup: Some(backup),
            file_bytes: file.len() as u64,
            chunk: Vec::new(),
            header: Some(self.header(index)),
        }];
        messages.extend(
            file.chunks(BACKUP_CHUNK_BYTES_MAX)
                .map(|chunk| v1::SaveSnapshotResponse { chunk: chunk.to_vec(), ..Default::default() }),
        );
        let stream: BackupStream = Box::pin(futures::stream::iter(messages.into_iter().map(Ok)));
        Ok(tonic::Response::new(stream))
    }
}

/// Node ids start at 1: 0 is an absent field, a malformed request rather than an unknown node.
/// `root@127.0.0.1:5000` → (`root`, `127.0.0.1:5000`); a bare address (a node running
/// `--insecure`) has no subject; anything else (`coordinator`) has no source.
fn split_actor(actor: &str) -> (&str, &str) {
    if let Some((subject, source)) = actor.rsplit_once('@') {
        (subject, source)
    } else if actor.parse::<std::net::SocketAddr>().is_ok() {
        ("", actor)
    } else {
        (actor, "")
    }
}

fn required_node_id(node_id: u64) -> Result<u64, Status> {
    if node_id == 0 {
        return Err(crate::status::with_reason(
            tonic::Code::InvalidArgument,
            Reason::InvalidArgument,
            "node_id is required (node ids start at 1)",
        ));
    }
    Ok(node_id)
}
