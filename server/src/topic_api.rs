//! gRPC `TopicService` and `OffsetService` (thin: decode -> node -> encode), and the leader's
//! offset group commit.

use pharos_proto::v1::ErrorReason as Reason;
use std::time::Duration;

use pharos_meta::{Operation, Response, TopicOperation};
use pharos_proto::v1;
use pharos_proto::v1::offset_service_server::OffsetService;
use pharos_proto::v1::topic_service_server::TopicService;
use pharos_replication::Node;
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Request, Status};

use crate::handler::{WATCH_BATCH_MAX, WatchStream, compacted, prepare_read, propose, watch_stream};
use crate::status::{command_error, invalid_request, node_error, with_reason};

/// Topics one list page returns at most.
const LIST_TOPICS_MAX: usize = 1_000;
/// Commit requests waiting for the group committer.
const COMMIT_QUEUE_MAX: usize = 4_096;
/// Requests coalesced into one Raft entry at most, and offsets at most.
const COMMIT_REQUESTS_PER_ENTRY_MAX: usize = 512;
const COMMIT_OFFSETS_PER_ENTRY_MAX: usize = 50_000;

fn unexpected(response: Response) -> Status {
    Status::internal(format!("state machine answered with an unexpected response: {response:?}"))
}

fn network_or_default(network: &str) -> String {
    if network.is_empty() { "internal".to_string() } else { network.to_string() }
}

/// A topic name argument, checked the way every RPC checks it (create and update check theirs
/// in the wire conversion): `INVALID_ARGUMENT` with the field named.
fn topic_name(field: &'static str, name: &str) -> Result<(), Status> {
    pharos_meta::topic::validate_topic_name(name)
        .map_err(|error| invalid_request(crate::convert::InvalidRequest::new(field, error.to_string())))
}

#[derive(Debug, Clone)]
pub struct TopicApi {
    node: Node,
}

impl TopicApi {
    pub fn new(node: Node) -> Self {
        TopicApi { node }
    }

    async fn change(
        &self,
        operation: TopicOperation,
        request_id: Option<pharos_meta::RequestId>,
        actor: String,
    ) -> Result<u64, Status> {
        match propose(&self.node, Operation::Topic(operation), request_id, actor).await? {
            Response::TopicChanged { revision } => Ok(revision),
            other => Err(unexpected(other)),
        }
    }

    /// Create or update: validate the wire topic, commit, answer with the topic as stored.
    async fn upsert(
        &self,
        topic: Option<v1::TopicInfo>,
        request_id: Option<v1::RequestId>,
        actor: String,
        operation: impl FnOnce(pharos_meta::TopicSpec) -> TopicOperation,
    ) -> Result<tonic::Response<v1::TopicResponse>, Status> {
        let spec = crate::convert::topic_spec(topic).map_err(invalid_request)?;
        let request_id = crate::convert::request_id(request_id).map_err(invalid_request)?;
        let name = spec.name.clone();
        let revision = self.change(operation(spec), request_id, actor).await?;
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::TopicResponse { revision, topic: self.topic_info(&name), header: None },
        ))
    }

    fn topic_info(&self, name: &str) -> Option<v1::TopicInfo> {
        self.node.state_machine.read().state.topics.get(name).map(crate::convert::topic_info)
    }
}

type RouteStream = WatchStream<v1::RouteEvent>;

#[tonic::async_trait]
impl TopicService for TopicApi {
    async fn create_topic(
        &self,
        request: Request<v1::CreateTopicRequest>,
    ) -> Result<tonic::Response<v1::TopicResponse>, Status> {
        crate::auth::authorize(&request, request.get_ref().topic.as_ref().map_or("", |topic| topic.name.as_str()))?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        self.upsert(request.topic, request.request_id, actor, TopicOperation::Create).await
    }

    async fn update_topic(
        &self,
        request: Request<v1::UpdateTopicRequest>,
    ) -> Result<tonic::Response<v1::TopicResponse>, Status> {
        crate::auth::authorize(&request, request.get_ref().topic.as_ref().map_or("", |topic| topic.name.as_str()))?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        // A non-zero revision in the request is the one the caller read: compare-and-set.
        let expected_revision = request.topic.as_ref().map(|topic| topic.revision).filter(|revision| *revision != 0);
        let update = move |spec| TopicOperation::Update { spec, expected_revision };
        self.upsert(request.topic, request.request_id, actor, update).await
    }

    async fn delete_topic(
        &self,
        request: Request<v1::DeleteTopicRequest>,
    ) -> Result<tonic::Response<v1::DeleteTopicResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().name)?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        topic_name("name", &request.name)?;
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let revision =
            self.change(TopicOperation::Delete { name: request.name, force: request.force }, request_id, actor).await?;
        Ok(crate::handler::answer(&self.node, revision, v1::DeleteTopicResponse { revision, header: None }))
    }

    async fn get_topic(
        &self,
        request: Request<v1::GetTopicRequest>,
    ) -> Result<tonic::Response<v1::GetTopicResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().name)?;
        let request = request.into_inner();
        topic_name("name", &request.name)?;
        prepare_read(&self.node, request.consistency).await?;
        let applied = self.node.state_machine.read();
        let topic =
            applied.state.topics.get(&request.name).ok_or_else(|| {
                command_error(pharos_meta::CommandError::UnknownTopic { topic: request.name.clone() })
            })?;
        let message = v1::GetTopicResponse {
            topic: Some(crate::convert::topic_info(topic)),
            revision: applied.state.revision,
            header: None,
        };
        drop(applied);
        Ok(crate::handler::answer(&self.node, message.revision, message))
    }

    async fn list_topics(
        &self,
        request: Request<v1::ListTopicsRequest>,
    ) -> Result<tonic::Response<v1::ListTopicsResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        let request = request.into_inner();
        let limit = match request.limit as usize {
            0 => LIST_TOPICS_MAX,
            limit if limit > LIST_TOPICS_MAX => {
                return Err(with_reason(
                    Code::InvalidArgument,
                    Reason::InvalidArgument,
                    format!("limit must be at most {LIST_TOPICS_MAX}"),
                ));
            }
            limit => limit,
        };
        let after = crate::page_token::decode(&request.page_token, &request.prefix).map_err(invalid_request)?;
        prepare_read(&self.node, request.consistency).await?;
        let applied = self.node.state_machine.read();
        let start = after.clone().unwrap_or_else(|| request.prefix.clone());
        let mut topics: Vec<v1::TopicInfo> = applied
            .state
            .topics
            .range(start..)
            .filter(|(name, _)| after.as_ref() != Some(*name))
            .take_while(|(name, _)| name.starts_with(&request.prefix))
            .take(limit + 1)
            .map(|(_, topic)| crate::convert::topic_info(topic))
            .collect();
        let next_page_token = if topics.len() > limit {
            topics.truncate(limit);
            topics.last().map(|topic| crate::page_token::encode(&request.prefix, &topic.name)).unwrap_or_default()
        } else {
            String::new()
        };
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::ListTopicsResponse { topics, next_page_token, revision, header: None },
        ))
    }

    async fn get_route(
        &self,
        request: Request<v1::GetRouteRequest>,
    ) -> Result<tonic::Response<v1::GetRouteResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().topic)?;
        let request = request.into_inner();
        topic_name("topic", &request.topic)?;
        prepare_read(&self.node, request.consistency).await?;
        let network = network_or_default(&request.network);
        let (route, revision) = {
            let applied = self.node.state_machine.read();
            (applied.state.route(&request.topic), applied.state.revision)
        };
        let route = route
            .ok_or_else(|| command_error(pharos_meta::CommandError::UnknownTopic { topic: request.topic.clone() }))?;
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::GetRouteResponse { header: None, route: Some(crate::convert::route_info(&route, &network)) },
        ))
    }

    type WatchRoutesStream = RouteStream;

    async fn watch_routes(
        &self,
        request: Request<v1::WatchRoutesRequest>,
    ) -> Result<tonic::Response<Self::WatchRoutesStream>, Status> {
        {
            let watch = request.get_ref();
            if watch.topics.is_empty() {
                crate::auth::authorize(&request, &watch.prefix)?;
            }
            for topic in &watch.topics {
                crate::auth::authorize(&request, topic)?;
            }
        }
        let slot = crate::handler::WatchSlot::take(&request)?;
        let request = request.into_inner();
        if request.topics.len() > LIST_TOPICS_MAX {
            return Err(with_reason(
                Code::InvalidArgument,
                Reason::InvalidArgument,
                format!("at most {LIST_TOPICS_MAX} topics"),
            ));
        }
        let network = network_or_default(&request.network);
        let topics: std::collections::BTreeSet<String> = request.topics.iter().cloned().collect();
        let prefix = request.prefix.clone();
        let matches =
            move |topic: &str| if topics.is_empty() { topic.starts_with(&prefix) } else { topics.contains(topic) };
        crate::handler::check_watch_start(&self.node, request.from_revision)?;
        let (initial, last) = {
            let applied = self.node.state_machine.read();
            if request.from_revision == 0 {
                let revision = applied.state.revision;
                let events: Vec<v1::RouteEvent> = applied
                    .state
                    .topics
                    .keys()
                    .filter(|name| matches(name))
                    .filter_map(|name| applied.state.route(name))
                    .map(|route| v1::RouteEvent {
                        revision,
                        topic: route.topic.spec.name.clone(),
                        deleted: false,
                        route: Some(crate::convert::route_info(&route, &network)),
                    })
                    .collect();
                (events, revision)
            } else {
                applied.route_events.since(&matches, request.from_revision, 0).map_err(compacted)?;
                (Vec::new(), request.from_revision)
            }
        };
        let stream = watch_stream(&self.node, slot, initial, last, move |applied, last| {
            let events = applied.route_events.since(&matches, last, WATCH_BATCH_MAX)?;
            Ok(events
                .into_iter()
                .map(|event| {
                    let message = v1::RouteEvent {
                        revision: event.revision,
                        topic: event.key.clone(),
                        deleted: event.payload.is_none(),
                        route: event.payload.as_ref().map(|route| crate::convert::route_info(route, &network)),
                    };
                    (event.revision, message)
                })
                .collect())
        });
        Ok(tonic::Response::new(stream))
    }
}

/// One commit request waiting to be coalesced.
struct PendingCommit {
    batch: pharos_meta::OffsetBatch,
    reply: oneshot::Sender<Result<u64, Status>>,
}

/// Coalesces concurrent offset commits on the leader into one Raft entry (group commit): the
/// first waiting request opens a batch, every request that arrives while the previous entry is
/// being committed joins the next one, bounded by `COMMIT_REQUESTS_PER_ENTRY_MAX` requests and
/// `COMMIT_OFFSETS_PER_ENTRY_MAX` offsets. No timer: the window is the commit latency itself.
#[derive(Debug, Clone)]
pub struct OffsetCommitter {
    queue: mpsc::Sender<PendingCommit>,
}

impl std::fmt::Debug for PendingCommit {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("PendingCommit").field("commits", &self.batch.commits.len()).finish()
    }
}

impl OffsetCommitter {
    pub fn start(node: Node) -> Self {
        let (queue, mut receiver) = mpsc::channel::<PendingCommit>(COMMIT_QUEUE_MAX);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut pending = vec![first];
                let mut offsets = pending[0].batch.commits.len();
                while pending.len() < COMMIT_REQUESTS_PER_ENTRY_MAX && offsets < COMMIT_OFFSETS_PER_ENTRY_MAX {
                    match receiver.try_recv() {
                        Ok(next) => {
                            offsets += next.batch.commits.len();
                            pending.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let batches = pending.iter().map(|commit| commit.batch.clone()).collect();
                let result =
                    propose(&node, Operation::Topic(TopicOperation::CommitOffsets { batches }), None, String::new())
                        .await;
                match result {
                    Ok(Response::OffsetsCommitted { revision, results }) => {
                        for (commit, result) in pending.into_iter().zip(results) {
                            // A retried batch was applied by its first attempt: that revision.
                            let revision = commit
                                .batch
                                .request_id
                                .as_ref()
                                .and_then(|id| remembered_commit(&node, id))
                                .map_or(revision, |(revision, _)| revision);
                            let _ = commit.reply.send(match result {
                                None => Ok(revision),
                                Some(error) => Err(command_error(error)),
                            });
                        }
                    }
                    Ok(other) => {
                        let status = unexpected(other);
                        for commit in pending {
                            let _ = commit.reply.send(Err(status.clone()));
                        }
                    }
                    Err(status) => {
                        for commit in pending {
                            let _ = commit.reply.send(Err(status.clone()));
                        }
                    }
                }
            }
        });
        OffsetCommitter { queue }
    }

    async fn commit(&self, batch: pharos_meta::OffsetBatch) -> Result<u64, Status> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(PendingCommit { batch, reply }).map_err(|_| {
            with_reason(Code::ResourceExhausted, Reason::Overloaded, "too many offset commits waiting; retry")
        })?;
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .map_err(|_| with_reason(Code::Unavailable, Reason::UnknownOutcome, "offset commit timed out"))?
            .map_err(|_| with_reason(Code::Unavailable, Reason::UnknownOutcome, "offset committer stopped"))?
    }
}

/// The revision and result remembered for an offset commit's idempotency key, once a batch
/// with that key was applied.
fn remembered_commit(
    node: &Node,
    request_id: &pharos_meta::RequestId,
) -> Option<(u64, Option<pharos_meta::CommandError>)> {
    match node.state_machine.read().state.remembered(request_id)? {
        Response::OffsetsCommitted { revision, results } if results.len() == 1 => Some((*revision, results[0].clone())),
        Response::Error(error) => Some((0, Some(error.clone()))),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct OffsetApi {
    node: Node,
    committer: OffsetCommitter,
}

impl OffsetApi {
    pub fn new(node: Node, committer: OffsetCommitter) -> Self {
        OffsetApi { node, committer }
    }
}

fn offset_entry(key: &pharos_meta::OffsetKey, record: &pharos_meta::OffsetRecord) -> v1::OffsetEntry {
    v1::OffsetEntry {
        consumer_group: key.consumer_group.clone(),
        topic: key.topic.clone(),
        queue_id: key.queue_id,
        offset: record.offset,
        committed_at_revision: record.committed_at_revision,
    }
}

#[tonic::async_trait]
impl OffsetService for OffsetApi {
    async fn commit_offsets(
        &self,
        request: Request<v1::CommitOffsetsRequest>,
    ) -> Result<tonic::Response<v1::CommitOffsetsResponse>, Status> {
        // No entry names no group: only a grant on every group covers that (the request is
        // refused as empty afterwards, but never before it is authorized).
        if request.get_ref().offsets.is_empty() {
            crate::auth::authorize(&request, "")?;
        }
        for entry in &request.get_ref().offsets {
            crate::auth::authorize(&request, &entry.consumer_group)?;
        }
        self.node.ensure_leader().map_err(node_error)?;
        let mut batch = crate::convert::offset_batch(request.into_inner()).map_err(invalid_request)?;
        // Below feature level 2 a batch's key stays out of the log: a member on a release that
        // predates batch keys would ignore it and apply a retried batch twice, while the others
        // would not (docs/adr/0026-feature-levels.md). Until the upgrade, a retry may apply twice,
        // as it did on that release.
        if self.node.state_machine.read().state.committed_feature_level() < pharos_meta::feature::ROCKETMQ {
            batch.request_id = None;
        }
        // A retry of a batch already applied is answered from the state, without an entry.
        let remembered = batch.request_id.as_ref().and_then(|id| remembered_commit(&self.node, id));
        let revision = match remembered {
            Some((revision, None)) => revision,
            Some((_, Some(error))) => return Err(command_error(error)),
            None => self.committer.commit(batch).await?,
        };
        Ok(crate::handler::answer(&self.node, revision, v1::CommitOffsetsResponse { revision, header: None }))
    }

    async fn fetch_offsets(
        &self,
        request: Request<v1::FetchOffsetsRequest>,
    ) -> Result<tonic::Response<v1::FetchOffsetsResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().consumer_group)?;
        let request = request.into_inner();
        if request.consumer_group.is_empty() {
            return Err(with_reason(Code::InvalidArgument, Reason::InvalidArgument, "consumer_group is required"));
        }
        prepare_read(&self.node, request.consistency).await?;
        let applied = self.node.state_machine.read();
        let offsets = applied
            .state
            .offsets
            .iter()
            .filter(|(key, _)| key.consumer_group == request.consumer_group)
            .filter(|(key, _)| request.topic.is_empty() || key.topic == request.topic)
            .map(|(key, record)| offset_entry(key, record))
            .collect();
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(&self.node, revision, v1::FetchOffsetsResponse { offsets, revision, header: None }))
    }

    async fn reset_offsets(
        &self,
        request: Request<v1::ResetOffsetsRequest>,
    ) -> Result<tonic::Response<v1::ResetOffsetsResponse>, Status> {
        crate::auth::authorize(&request, &request.get_ref().consumer_group)?;
        let actor = crate::handler::actor(&request);
        let request = request.into_inner();
        let to = match request.to {
            Some(v1::reset_offsets_request::To::Earliest(true)) => pharos_meta::ResetTarget::Earliest,
            Some(v1::reset_offsets_request::To::Offset(offset)) => pharos_meta::ResetTarget::Offset(offset),
            _ => {
                return Err(with_reason(
                    Code::InvalidArgument,
                    Reason::InvalidArgument,
                    "to: earliest or an offset is required",
                ));
            }
        };
        let request_id = crate::convert::request_id(request.request_id).map_err(invalid_request)?;
        let operation =
            TopicOperation::ResetOffsets { consumer_group: request.consumer_group, topic: request.topic, to };
        match propose(&self.node, Operation::Topic(operation), request_id, actor).await? {
            Response::OffsetsReset { revision, queues_reset } => {
                tracing::info!(revision, queues_reset, "consumer offsets reset");
                Ok(crate::handler::answer(
                    &self.node,
                    revision,
                    v1::ResetOffsetsResponse { revision, queues_reset, header: None },
                ))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn list_consumer_groups(
        &self,
        request: Request<v1::ListConsumerGroupsRequest>,
    ) -> Result<tonic::Response<v1::ListConsumerGroupsResponse>, Status> {
        crate::auth::authorize(&request, "")?;
        prepare_read(&self.node, request.into_inner().consistency).await?;
        let applied = self.node.state_machine.read();
        let groups: std::collections::BTreeSet<&String> =
            applied.state.offsets.keys().map(|key| &key.consumer_group).collect();
        let consumer_groups = groups.into_iter().cloned().collect();
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(
            &self.node,
            revision,
            v1::ListConsumerGroupsResponse { consumer_groups, revision, header: None },
        ))
    }
}
