//! The gRPC peer transport, server side: decodes, checks identity, hands to Raft, encodes.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::raft::TransferLeaderRequest;
use pharos_proto::v1;
use pharos_proto::v1::raft_service_server::{RaftService, RaftServiceServer};
use tonic::{Request, Response, Status, Streaming};

use crate::codec;
use crate::dr_promise::LeaderContact;
use crate::identity::{ClusterIdentity, GenerationFence, IdentityMismatch};
use crate::state_machine::snapshot_meta_from_wire;
use crate::types::{Raft, Snapshot};

/// Largest snapshot a node accepts from a peer.
pub const SNAPSHOT_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;
/// Buffer reserved up front for an incoming snapshot.
const INITIAL_SNAPSHOT_BUFFER_BYTES: u64 = 64 * 1024 * 1024;

/// Whether this node takes part in Raft yet. Closed while a node on an empty data dir with
/// bootstrap flags checks that the cluster has never seen it (`RaftService.Probe`): until then it
/// must not vote or acknowledge anything, or a voter that lost its disk would count toward a
/// quorum with an empty log (invariant 8). Only `Probe` is served while it is closed.
#[derive(Debug, Default)]
pub struct RaftGate {
    open: std::sync::atomic::AtomicBool,
}

impl RaftGate {
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_open(&self) -> bool {
        self.open.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[derive(Clone)]
pub struct PeerService {
    raft: Raft,
    gate: Arc<RaftGate>,
    identity: Arc<ClusterIdentity>,
    fence: Arc<GenerationFence>,
    /// When a leader last sent this node entries or a heartbeat.
    leader_contact: Arc<LeaderContact>,
}

impl std::fmt::Debug for PeerService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("PeerService").field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl PeerService {
    pub fn new(
        raft: Raft,
        identity: ClusterIdentity,
        fence: Arc<GenerationFence>,
        leader_contact: Arc<LeaderContact>,
        gate: Arc<RaftGate>,
    ) -> Self {
        PeerService { raft, gate, identity: Arc::new(identity), fence, leader_contact }
    }

    /// The tonic service, with message limits suited to log batches and snapshot chunks.
    pub fn into_server(self) -> RaftServiceServer<PeerService> {
        RaftServiceServer::new(self)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024)
    }

    /// [`Self::check_identity`], and the gate: Raft traffic waits until this node may take part.
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if !self.gate.is_open() {
            let mut status = Status::unavailable("this node is checking that its empty data dir is a first start");
            status.metadata_mut().insert(
                pharos_proto::metadata::ERROR_REASON,
                tonic::metadata::MetadataValue::from_static(pharos_proto::v1::ErrorReason::NotReady.code_name()),
            );
            return Err(status);
        }
        self.check_identity(request)
    }

    fn check_identity<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let checked = self.identity.check(request.metadata());
        if checked.is_ok() {
            // A member of this same generation that learned of a higher one passes it on.
            self.fence.observe_fenced_by(request.metadata());
        }
        checked.map_err(|mismatch| {
            tracing::warn!(%mismatch, "refused peer request");
            if let IdentityMismatch::Generation { remote, .. } = mismatch {
                self.fence.observe(remote);
            }
            let mut status = Status::failed_precondition(mismatch.to_string());
            status.metadata_mut().insert(
                pharos_proto::metadata::ERROR_REASON,
                tonic::metadata::MetadataValue::from_static(pharos_proto::v1::ErrorReason::ClusterMismatch.code_name()),
            );
            // The sender learns this node's generation: a lower-generation sender fences itself.
            status.metadata_mut().insert(pharos_proto::metadata::GENERATION, self.identity.generation.into());
            status
        })
    }
}

fn fatal(error: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft is not running: {error}"))
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<v1::AppendEntriesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl RaftService for PeerService {
    async fn vote(&self, request: Request<v1::VoteRequest>) -> Result<Response<v1::VoteResponse>, Status> {
        self.check(&request)?;
        let vote_request = codec::vote_request_from_wire(request.into_inner())?;
        let response = self.raft.vote(vote_request).await.map_err(fatal)?;
        Ok(Response::new(codec::vote_response_to_wire(&response)))
    }

    async fn pre_vote(&self, request: Request<v1::VoteRequest>) -> Result<Response<v1::VoteResponse>, Status> {
        self.check(&request)?;
        let vote_request = codec::vote_request_from_wire(request.into_inner())?;
        let response = self.raft.pre_vote(vote_request).await.map_err(fatal)?;
        Ok(Response::new(codec::vote_response_to_wire(&response)))
    }

    async fn append_entries(
        &self,
        request: Request<v1::AppendEntriesRequest>,
    ) -> Result<Response<v1::AppendEntriesResponse>, Status> {
        self.check(&request)?;
        let message = request.into_inner();
        self.leader_contact.record(message.sent_at_ms, message.dr.as_ref());
        let append_request = codec::append_request_from_wire(message)?;
        let response = self.raft.append_entries(append_request).await.map_err(fatal)?;
        Ok(Response::new(codec::append_response_to_wire(&response)))
    }

    type StreamAppendStream = ResponseStream;

    async fn stream_append(
        &self,
        request: Request<Streaming<v1::AppendEntriesRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        self.check(&request)?;
        let leader_contact = self.leader_contact.clone();
        // A malformed or failed message ends the input: skipping it would break log order.
        let input = request.into_inner().scan((), move |(), item| {
            let converted = item.ok().and_then(|message| {
                leader_contact.record(message.sent_at_ms, message.dr.as_ref());
                codec::append_request_from_wire(message)
                    .inspect_err(|error| tracing::warn!(%error, "malformed stream-append request; closing the stream"))
                    .ok()
            });
            futures::future::ready(converted)
        });
        let output = self.raft.stream_append(input).map(|result| match result {
            Ok(stream_result) => Ok(codec::stream_result_to_wire(&stream_result)),
            Err(error) => Err(fatal(error)),
        });
        Ok(Response::new(Box::pin(output)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<v1::SnapshotChunk>>,
    ) -> Result<Response<v1::SnapshotResponse>, Status> {
        use v1::snapshot_chunk::Payload;
        self.check(&request)?;
        let mut stream = request.into_inner();
        let first = stream.next().await.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
        let Some(Payload::Meta(meta)) = first.payload else {
            return Err(Status::invalid_argument("the first snapshot chunk must carry the meta"));
        };
        if meta.total_bytes > SNAPSHOT_BYTES_MAX {
            return Err(Status::resource_exhausted(format!(
                "snapshot of {} bytes exceeds the limit of {SNAPSHOT_BYTES_MAX}",
                meta.total_bytes
            )));
        }
        let vote = codec::vote_from_wire(meta.vote)?;
        let total_bytes = meta.total_bytes;
        let snapshot_meta = snapshot_meta_from_wire(meta)?;
        // Grow as data arrives: the announced size is the sender's word, not an allocation order.
        let mut data = Vec::with_capacity(total_bytes.min(INITIAL_SNAPSHOT_BUFFER_BYTES) as usize);
        while let Some(chunk) = stream.next().await {
            let Some(Payload::Data(bytes)) = chunk?.payload else {
                return Err(Status::invalid_argument("snapshot chunks after the first must carry data"));
            };
            if data.len() as u64 + bytes.len() as u64 > total_bytes {
                return Err(Status::invalid_argument("snapshot data exceeds the announced size"));
            }
            data.extend_from_slice(&bytes);
        }
        if data.len() as u64 != total_bytes {
            return Err(Status::invalid_argument(format!(
                "snapshot stream ended after {} of {total_bytes} bytes",
                data.len()
            )));
        }
        let response = self
            .raft
            .install_full_snapshot(vote, Snapshot { meta: snapshot_meta, snapshot: data })
            .await
            .map_err(fatal)?;
        Ok(Response::new(v1::SnapshotResponse { vote: Some(codec::vote_to_wire(&response.vote)) }))
    }

    async fn transfer_leader(
        &self,
        request: Request<v1::TransferLeaderRequest>,
    ) -> Result<Response<v1::TransferLeaderResponse>, Status> {
        self.check(&request)?;
        let message = request.into_inner();
        let from_leader = codec::vote_from_wire(message.from_leader)?;
        let transfer = TransferLeaderRequest::new(
            from_leader,
            message.to_node_id,
            codec::option_log_id_from_wire(message.last_log_id),
        );
        let rejected = match self.raft.handle_transfer_leader(transfer).await.map_err(fatal)? {
            Ok(()) => String::new(),
            Err(error) => error.to_string(),
        };
        Ok(Response::new(v1::TransferLeaderResponse { rejected }))
    }

    async fn probe(&self, request: Request<v1::ProbeRequest>) -> Result<Response<v1::ProbeResponse>, Status> {
        self.check_identity(&request)?;
        let asker = request.into_inner().node_id;
        let initialized = self.raft.is_initialized().await.map_err(fatal)?;
        let metrics = self.raft.metrics().borrow_watched().clone();
        let asker_started_before =
            metrics.membership_config.membership().get_node(&asker).is_some_and(|info| !info.client_addr.is_empty());
        Ok(Response::new(v1::ProbeResponse { node_id: self.identity.node_id, initialized, asker_started_before }))
    }
}
