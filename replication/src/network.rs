//! The gRPC peer transport, client side: one long-lived channel per peer, every RPC stamped with
//! this node's `(cluster_id, generation)` and bounded by openraft's RPC deadline.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, OptionalSend};
use pharos_proto::v1;
use pharos_proto::v1::raft_service_client::RaftServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::codec;
use crate::dr_promise::DrAnnouncer;
use crate::identity::{ClusterIdentity, GenerationFence};
use crate::types::{NodeId, NodeInfo, Snapshot, SnapshotData, TypeConfig, Vote};

/// Largest snapshot chunk sent in one message.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a replication stream that could not be opened (peer down, refusing, or not ready)
/// waits before reporting the failure, and how long openraft backs off between attempts
/// otherwise ([`PeerConnection::backoff`]).
///
/// openraft applies its backoff while it polls the request stream, and a stream whose
/// connection failed is never polled: without this pause the leader redials a dead follower at
/// once, ~800 times a second with two `WARN` lines each (seen in the interop tests after a
/// leader kill: ~90 MB of log in 2 minutes).
const REPLICATION_RETRY_MS: u64 = 200;

/// Creates peer connections; shares one channel per peer address across all of them.
#[derive(Debug, Clone)]
pub struct PeerNetwork {
    identity: Arc<ClusterIdentity>,
    fence: Arc<GenerationFence>,
    announcer: DrAnnouncer,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl PeerNetwork {
    pub fn new(identity: ClusterIdentity, fence: Arc<GenerationFence>, announcer: DrAnnouncer) -> Self {
        PeerNetwork { identity: Arc::new(identity), fence, announcer, channels: Arc::default() }
    }

    fn channel(&self, peer_addr: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(peer_addr) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{peer_addr}"))
            .map_err(|error| format!("bad peer address {peer_addr}: {error}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let channel = pharos_tls::dial::connect_lazy(endpoint);
        channels.insert(peer_addr.to_string(), channel.clone());
        Ok(channel)
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerConnection {
        let client = self.channel(&node.peer_addr).map(|channel| {
            RaftServiceClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024)
                .max_encoding_message_size(64 * 1024 * 1024)
        });
        PeerConnection {
            target,
            identity: self.identity.clone(),
            fence: self.fence.clone(),
            announcer: self.announcer.clone(),
            client,
        }
    }
}

/// A connection to one peer, as openraft uses it.
#[derive(Debug)]
pub struct PeerConnection {
    target: NodeId,
    identity: Arc<ClusterIdentity>,
    fence: Arc<GenerationFence>,
    announcer: DrAnnouncer,
    /// `Err` holds why no channel could be made (a malformed address); every RPC reports it.
    client: Result<RaftServiceClient<Channel>, String>,
}

/// Maps a peer's error status; a refusal that names a higher generation fences this node.
fn status_to_rpc_error(fence: &GenerationFence, status: tonic::Status) -> RPCError<TypeConfig> {
    if status.code() == tonic::Code::FailedPrecondition {
        fence.observe_metadata(status.metadata());
    }
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::FailedPrecondition => {
            RPCError::Unreachable(Unreachable::new(&AnyError::error(status.to_string())))
        }
        _ => RPCError::Network(NetworkError::new(&AnyError::error(status.to_string()))),
    }
}

fn wire_error(error: codec::WireError) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(&error))
}

impl PeerConnection {
    fn client(&self) -> Result<RaftServiceClient<Channel>, RPCError<TypeConfig>> {
        self.client.clone().map_err(|reason| RPCError::Unreachable(Unreachable::new(&AnyError::error(reason))))
    }

    fn request<T>(&self, message: T, timeout: Option<Duration>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.stamp(request.metadata_mut());
        if let Some(generation) = self.fence.fenced_by() {
            request.metadata_mut().insert(pharos_proto::metadata::FENCED_BY, generation.into());
        }
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = codec::append_request_to_wire(&request, self.announcer.announce());
        let response = self
            .client()?
            .append_entries(self.request(message, Some(option.hard_ttl())))
            .await
            .map_err(|status| status_to_rpc_error(&self.fence, status))?;
        codec::append_response_from_wire(response.into_inner()).map_err(wire_error)
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        _option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>, RPCError<TypeConfig>>,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            let mut client = self.client()?;
            // No deadline on the stream itself: it lives as long as the replication session;
            // the leader's own heartbeat/timeout logic detects a dead follower.
            let announcer = self.announcer.clone();
            let input = input.map(move |request| codec::append_request_to_wire(&request, announcer.announce()));
            let request = self.request(input, None);
            let fence = self.fence.clone();
            let response = match client.stream_append(request).await {
                Ok(response) => response,
                Err(status) => {
                    let error = status_to_rpc_error(&fence, status);
                    tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_MS)).await;
                    return Err(error);
                }
            };
            let output = response.into_inner().map(move |item| {
                let message = item.map_err(|status| status_to_rpc_error(&fence, status))?;
                codec::stream_result_from_wire(message).map_err(wire_error)
            });
            Ok(Box::pin(output) as BoxStream<'s, _>)
        })
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = codec::vote_request_to_wire(&request);
        let response = self
            .client()?
            .vote(self.request(message, Some(option.hard_ttl())))
            .await
            .map_err(|status| status_to_rpc_error(&self.fence, status))?;
        codec::vote_response_from_wire(response.into_inner()).map_err(wire_error)
    }

    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = codec::vote_request_to_wire(&request);
        let response = self
            .client()?
            .pre_vote(self.request(message, Some(option.hard_ttl())))
            .await
            .map_err(|status| status_to_rpc_error(&self.fence, status))?;
        codec::vote_response_from_wire(response.into_inner()).map_err(wire_error)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunk_bytes =
            option.snapshot_chunk_size().unwrap_or(SNAPSHOT_CHUNK_BYTES_MAX).clamp(1, SNAPSHOT_CHUNK_BYTES_MAX);
        let mut meta = crate::state_machine::snapshot_meta_to_wire(&snapshot.meta);
        meta.vote = Some(codec::vote_to_wire(&vote));
        meta.total_bytes = snapshot.snapshot.len() as u64;
        let data = Arc::new(snapshot.snapshot);
        let chunk_count = data.len().div_ceil(chunk_bytes);
        let first = futures::stream::once(async move {
            v1::SnapshotChunk { payload: Some(v1::snapshot_chunk::Payload::Meta(meta)) }
        });
        let chunks = futures::stream::iter(0..chunk_count).map(move |chunk| {
            let start = chunk * chunk_bytes;
            let end = (start + chunk_bytes).min(data.len());
            v1::SnapshotChunk { payload: Some(v1::snapshot_chunk::Payload::Data(data[start..end].to_vec())) }
        });
        let mut client = self.client()?;
        let request = self.request(first.chain(chunks), None);
        let send = client.install_snapshot(request);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            response = send => {
                let response = response.map_err(|status| status_to_rpc_error(&self.fence, status))?.into_inner();
                Ok(SnapshotResponse::new(codec::vote_from_wire(response.vote).map_err(wire_error)?))
            }
        }
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = v1::TransferLeaderRequest {
            from_leader: Some(codec::vote_to_wire(request.from_leader())),
            to_node_id: *request.to_node_id(),
            last_log_id: codec::option_log_id_to_wire(request.last_log_id()),
        };
        let response = self
            .client()?
            .transfer_leader(self.request(message, Some(option.hard_ttl())))
            .await
            .map_err(|status| status_to_rpc_error(&self.fence, status))?
            .into_inner();
        if response.rejected.is_empty() {
            Ok(Ok(()))
        } else {
            Err(RPCError::Network(NetworkError::new(&AnyError::error(format!(
                "node {} rejected leadership transfer: {}",
                self.target, response.rejected
            )))))
        }
    }

    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(std::iter::repeat(Duration::from_millis(REPLICATION_RETRY_MS))))
    }
}

/// Asks the node at `peer_addr` whether the cluster has seen `identity.node_id` before
/// (`RaftService.Probe`); `None` when it does not answer within `timeout` or refuses.
pub async fn probe_peer(identity: &ClusterIdentity, peer_addr: &str, timeout: Duration) -> Option<v1::ProbeResponse> {
    let endpoint = Endpoint::from_shared(format!("http://{peer_addr}")).ok()?.connect_timeout(timeout);
    let attempt = async {
        let channel = pharos_tls::dial::connect(endpoint).await.ok()?;
        let mut request = tonic::Request::new(v1::ProbeRequest { node_id: identity.node_id });
        identity.stamp(request.metadata_mut());
        RaftServiceClient::new(channel).probe(request).await.ok().map(tonic::Response::into_inner)
    };
    tokio::time::timeout(timeout, attempt).await.ok().flatten()
}

/// [`probe_peer`] for every peer in `peers` (`node_id -> peer address`) but this node, at once.
/// Returns the answers of the peers that answered.
pub async fn probe_peers(
    identity: &ClusterIdentity,
    peers: &std::collections::BTreeMap<NodeId, String>,
    timeout: Duration,
) -> Vec<v1::ProbeResponse> {
    let probes = peers
        .iter()
        .filter(|(id, _)| **id != identity.node_id)
        .map(|(_, peer_addr)| probe_peer(identity, peer_addr, timeout));
    futures::future::join_all(probes).await.into_iter().flatten().collect()
}
