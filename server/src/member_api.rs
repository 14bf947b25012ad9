//! `MemberService`, on the peer port only: what one node asks of another about membership —
//! join as a learner, record its own addresses, ask for promotion once caught up — and the DR
//! re-forming calls (survey, reform) a failover or failback coordinator makes on the nodes it
//! re-forms. None of it is served on the client port: a client that can reach the client port
//! cannot quarantine a data dir or add itself as a member. Operators add learners and promote
//! through `ClusterService` on the client port.

use pharos_proto::v1::ErrorReason as Reason;
use std::time::Duration;

use pharos_proto::v1;
use pharos_proto::v1::member_service_client::MemberServiceClient;
use pharos_proto::v1::member_service_server::MemberService;
use pharos_replication::{Node, NodeInfo};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::restart::{Restart, Restarter};
use crate::status::{command_error, node_error, with_reason};

/// Delay between answering a reform request and restarting, so the answer gets out first.
const RESTART_DELAY: Duration = Duration::from_millis(200);
/// Connect and request timeout of one node-to-node member call.
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Set on a request a follower forwards to the leader: the leader's answer is final, a
/// forwarded request is never forwarded again.
const FORWARDED: &str = "pharos-forwarded";

#[derive(Debug, Clone)]
pub struct MemberApi {
    node: Node,
    restarter: Restarter,
    brokers: crate::remoting::BrokerRequests,
}

impl MemberApi {
    pub fn new(node: Node, restarter: Restarter, brokers: crate::remoting::BrokerRequests) -> Self {
        MemberApi { node, restarter, brokers }
    }

    pub fn into_server(self) -> v1::member_service_server::MemberServiceServer<Self> {
        v1::member_service_server::MemberServiceServer::new(self)
            .max_decoding_message_size(crate::server::CLIENT_MESSAGE_BYTES_MAX)
    }

    /// The leader's peer address, when this node is not the leader and a request may be forwarded.
    fn forward_target<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        if self.node.is_leader() {
            return Ok(None);
        }
        let not_leader = || node_error(self.node.not_leader_error());
        if request.metadata().contains_key(FORWARDED) {
            return Err(not_leader());
        }
        leader_peer_addr(&self.node).map(Some).ok_or_else(not_leader)
    }
}

/// A member-service client of the node whose peer port is `peer_addr`.
pub fn peer(peer_addr: &str) -> Result<MemberServiceClient<Channel>, Status> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{peer_addr}"))
        .map_err(|error| {
            with_reason(Code::InvalidArgument, Reason::InvalidArgument, format!("bad peer address: {error}"))
        })?
        .connect_timeout(PEER_CALL_TIMEOUT)
        .timeout(PEER_CALL_TIMEOUT)
        .tcp_nodelay(true);
    Ok(MemberServiceClient::new(pharos_tls::dial::connect_lazy(endpoint)))
}

/// One line for an operator: the code and message of a member call's refusal, with the likely
/// mistake when a client port was given where a peer address belongs.
pub fn describe(status: &Status) -> String {
    match status.code() {
        Code::Unimplemented => format!(
            "{:?}: {} (is this a client port? --join takes members' peer addresses)",
            status.code(),
            status.message()
        ),
        code => format!("{code:?}: {}", status.message()),
    }
}

fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    request
}

/// The first answer of `call` from the members behind `peer_endpoints`, each tried once in
/// order; the last refusal when none answered.
async fn first_answer<T, F, Fut>(peer_endpoints: &[String], mut call: F) -> Result<T, Status>
where
    F: FnMut(MemberServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<Response<T>, Status>>,
{
    let mut last = Status::invalid_argument("no peer endpoint to ask");
    for endpoint in peer_endpoints {
        match call(peer(endpoint)?).await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) => last = status,
        }
    }
    Err(last)
}

/// Asks the cluster behind `peer_endpoints` (any member: followers forward to the leader) to
/// add `node_id` as a learner.
pub async fn join_through(
    peer_endpoints: &[String],
    node_id: u64,
    info: &NodeInfo,
) -> Result<v1::JoinResponse, Status> {
    let request = v1::JoinRequest { node_id, info: Some(info.into()), request_id: None };
    first_answer(peer_endpoints, |mut client| {
        let request = request.clone();
        async move { client.join(request).await }
    })
    .await
}

/// The identity of the cluster behind `peer_endpoints`: the first member that answers.
pub async fn identity_through(peer_endpoints: &[String]) -> Result<v1::IdentityResponse, Status> {
    first_answer(peer_endpoints, |mut client| async move { client.identity(v1::IdentityRequest {}).await }).await
}

/// Asks the leader behind `peer_addr` to answer a broker's remoting request (`frame`).
pub async fn forward_remoting(peer_addr: &str, frame: Vec<u8>) -> Result<v1::ForwardRemotingResponse, Status> {
    let request = forwarded(v1::ForwardRemotingRequest { frame });
    Ok(peer(peer_addr)?.forward_remoting(request).await?.into_inner())
}

/// The leader's peer address, as this node knows it.
pub fn leader_peer_addr(node: &Node) -> Option<String> {
    let (leader_id, _) = node.leader();
    node.status().members.get(&leader_id?).map(|info| info.peer_addr.clone()).filter(|address| !address.is_empty())
}

/// This node's own view, for a failover planner.
pub async fn survey(node: &Node) -> Result<v1::SurveyResponse, Status> {
    let status = node.status();
    let (last_log, _) = pharos_replication::reform::log_position(node.storage())
        .await
        .map_err(|error| Status::internal(format!("cannot read the log position: {error}")))?;
    let dr = node.state_machine.read().state.dr.clone();
    let announced = node.leader_contact.announced();
    Ok(v1::SurveyResponse {
        cluster_id: node.identity.cluster_id.clone(),
        generation: node.identity.generation,
        node_id: status.node_id,
        region: node.info.region.clone(),
        last_log_term: last_log.map_or(0, |log_id| log_id.leader_id.term),
        last_log_index: last_log.map_or(0, |log_id| log_id.index),
        known_commit_index: status.commit_index.max(status.cluster_commit_index),
        dr_record: pharos_meta::codec::encode_dr_record(&dr),
        members: status
            .members
            .iter()
            .map(|(id, info)| v1::MemberStatus {
                node_id: *id,
                info: Some(info.into()),
                role: crate::convert::enums::member_role(status.voters.contains(id)).into(),
                lag_entries: None,
                matched_index: None,
            })
            .collect(),
        fenced_by_generation: node.fence.fenced_by(),
        millis_since_leader_contact: node.leader_contact.millis_since(),
        announced_dr_state_id: announced.dr_state_id,
        sync_promise_remaining_ms: announced.sync_promise_remaining_ms,
    })
}

fn joined(node: &Node) -> v1::JoinResponse {
    v1::JoinResponse {
        cluster_id: node.identity.cluster_id.clone(),
        generation: node.identity.generation,
        leader_id: node.identity.node_id,
        header: None,
    }
}

#[tonic::async_trait]
impl MemberService for MemberApi {
    async fn identity(&self, _: Request<v1::IdentityRequest>) -> Result<Response<v1::IdentityResponse>, Status> {
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::IdentityResponse {
                header: None,
                cluster_id: self.node.identity.cluster_id.clone(),
                generation: self.node.identity.generation,
                node_id: self.node.identity.node_id,
                leader_id: self.node.leader().0,
            },
        ))
    }

    async fn join(&self, request: Request<v1::JoinRequest>) -> Result<Response<v1::JoinResponse>, Status> {
        if let Some(leader) = self.forward_target(&request)? {
            return peer(&leader)?.join(forwarded(request.into_inner())).await;
        }
        let request = request.into_inner();
        if request.node_id == 0 {
            return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "node_id must be at least 1"));
        }
        let info = crate::api::node_info(request.info)?;
        self.node.add_learner(request.node_id, info).await.map_err(node_error)?;
        Ok(crate::handler::answer_applied(&self.node, joined(&self.node)))
    }

    async fn update_member(&self, request: Request<v1::JoinRequest>) -> Result<Response<v1::JoinResponse>, Status> {
        if let Some(leader) = self.forward_target(&request)? {
            return peer(&leader)?.update_member(forwarded(request.into_inner())).await;
        }
        let request = request.into_inner();
        let info = crate::api::node_info(request.info)?;
        self.node.update_member(request.node_id, info).await.map_err(node_error)?;
        Ok(crate::handler::answer_applied(&self.node, joined(&self.node)))
    }

    async fn promote_self(
        &self,
        request: Request<v1::PromoteRequest>,
    ) -> Result<Response<v1::PromoteResponse>, Status> {
        if let Some(leader) = self.forward_target(&request)? {
            return peer(&leader)?.promote_self(forwarded(request.into_inner())).await;
        }
        let changed = self.node.promote(request.into_inner().node_id).await.map_err(node_error)?;
        let voters = self.node.status().voters.into_iter().collect();
        Ok(crate::handler::answer_applied(&self.node, v1::PromoteResponse { voters, changed, header: None }))
    }

    async fn survey(&self, _: Request<v1::SurveyRequest>) -> Result<Response<v1::SurveyResponse>, Status> {
        Ok(Response::new(survey(&self.node).await?))
    }

    async fn forward_remoting(
        &self,
        request: Request<v1::ForwardRemotingRequest>,
    ) -> Result<Response<v1::ForwardRemotingResponse>, Status> {
        // Answered by the leader only, never forwarded again: the follower asks another time.
        self.node.ensure_leader().map_err(node_error)?;
        if !self.brokers.open {
            return Err(with_reason(
                Code::FailedPrecondition,
                Reason::InvalidArgument,
                "the leader does not accept broker registrations over the remoting port",
            ));
        }
        crate::remoting::answer_forwarded(&self.brokers, request.into_inner())
            .await
            .map(Response::new)
            .map_err(|reason| with_reason(Code::InvalidArgument, Reason::InvalidArgument, reason))
    }

    async fn reform(&self, request: Request<v1::ReformRequest>) -> Result<Response<v1::ReformResponse>, Status> {
        let request = request.into_inner();
        // Malformed first (INVALID_ARGUMENT), then whether it is meant for this node.
        let role = v1::ReformRole::try_from(request.role).unwrap_or(v1::ReformRole::Unspecified);
        let malformed = |message: String| with_reason(Code::InvalidArgument, Reason::InvalidArgument, message);
        match role {
            v1::ReformRole::Unspecified => {
                return Err(malformed(format!(
                    "role must be REFORM_ROLE_SEED or REFORM_ROLE_REJOIN, not {}",
                    request.role
                )));
            }
            v1::ReformRole::Rejoin if request.join_endpoints.is_empty() => {
                return Err(malformed("REFORM_ROLE_REJOIN needs join_endpoints".to_string()));
            }
            _ => {}
        }
        if request.cluster_id.is_empty() {
            return Err(malformed("cluster_id is required".to_string()));
        }
        if request.cluster_id != self.node.identity.cluster_id {
            return Err(with_reason(
                Code::FailedPrecondition,
                Reason::ClusterMismatch,
                format!("this node belongs to cluster {}", self.node.identity.cluster_id),
            ));
        }
        if request.generation <= self.node.identity.generation {
            return Err(command_error(pharos_meta::CommandError::StaleGeneration {
                current: self.node.identity.generation,
            }));
        }
        let restart = match role {
            v1::ReformRole::Seed => {
                Restart::Seed { generation: request.generation, failover_command: request.failover_command }
            }
            _ => Restart::Rejoin {
                pending: v1::PendingJoin {
                    legacy_client_endpoints: Vec::new(),
                    peer_endpoints: request.join_endpoints,
                    auto_promote: request.auto_promote,
                    cluster_id: request.cluster_id,
                    generation: request.generation,
                    node_id: self.node.identity.node_id,
                },
            },
        };
        tracing::warn!(role = role.label(), generation = request.generation, "reform requested: restarting");
        // Learn the new generation now, so nothing is written here until the restart.
        self.node.fence.observe(request.generation);
        let restarter = self.restarter.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RESTART_DELAY).await;
            restarter.request(restart);
        });
        Ok(Response::new(v1::ReformResponse {}))
    }
}
