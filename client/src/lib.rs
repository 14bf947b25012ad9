//! The Pharos client library, used by brokers, the CLI, chaos tests and benchmarks.
//!
//! It knows a list of endpoints, finds the leader by following `NOT_LEADER` redirects, and
//! retries a bounded number of times. Every mutating call carries an idempotency key
//! `(client_id, sequence)`; a retry reuses it, so a write whose outcome was unknown (leader died
//! mid-request) is applied exactly once. It must never retry forever or hide which error ended a
//! call.

pub mod broker;
mod error;
pub mod offsets;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{ClientError, ErrorDetail, ErrorReason};
pub use pharos_proto::v1;
use pharos_proto::v1::broker_service_client::BrokerServiceClient;
use pharos_proto::v1::cluster_service_client::ClusterServiceClient;
use pharos_proto::v1::dr_service_client::DrServiceClient;
use pharos_proto::v1::kv_service_client::KvServiceClient;
use pharos_proto::v1::offset_service_client::OffsetServiceClient;
use pharos_proto::v1::topic_service_client::TopicServiceClient;
pub use pharos_proto::{error_details, error_reason};
use tonic::transport::{Channel, Endpoint};

/// Retry and timeout limits of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per call, redirects included.
    pub attempts_max: u32,
    /// Pause before retrying an unreachable or leaderless cluster; doubles up to 8x.
    pub retry_backoff_ms: u64,
    /// Deadline of one attempt.
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { attempts_max: 30, retry_backoff_ms: 100, request_timeout_ms: 5_000, connect_timeout_ms: 1_000 }
    }
}

#[derive(Debug)]
struct Endpoints {
    /// Configured endpoints, then any leader address learned from a redirect.
    addresses: Vec<String>,
    /// Index into `addresses` of the node to try first.
    current: usize,
    channels: Vec<Option<Channel>>,
}

/// A Pharos client. Cheap to clone; clones share the leader hint and the idempotency sequence.
#[derive(Debug, Clone)]
pub struct Client {
    endpoints: Arc<Mutex<Endpoints>>,
    options: ClientOptions,
    client_id: Arc<str>,
    sequence: Arc<AtomicU64>,
    /// Highest cluster generation any answer carried: answers from a lower one come from a
    /// region that was failed over and are refused (docs/architecture.md, "Regions and disaster recovery").
    generation: Arc<AtomicU64>,
}

/// Records `answered` (an answer's generation, if it carried one) into `highest` and says
/// whether the answer may be used: not when it comes from a generation below one already seen.
pub fn accept_generation(highest: &AtomicU64, answered: Option<u64>) -> Result<(), u64> {
    let Some(answered) = answered else { return Ok(()) };
    let previous = highest.fetch_max(answered, Ordering::AcqRel);
    if answered < previous { Err(previous) } else { Ok(()) }
}

fn generation_of(metadata: &tonic::metadata::MetadataMap) -> Option<u64> {
    metadata.get(pharos_proto::metadata::GENERATION)?.to_str().ok()?.parse().ok()
}

/// Which node to ask, and what to do next.
enum Next {
    Retry { pause: bool },
    Fail(ClientError),
}

impl Client {
    /// A client for `endpoints` (`host:port`). Connects lazily.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Result<Client, ClientError> {
        Self::with_options(endpoints, ClientOptions::default())
    }

    pub fn with_options(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let addresses: Vec<String> = endpoints.into_iter().map(Into::into).filter(|a: &String| !a.is_empty()).collect();
        if addresses.is_empty() {
            return Err(ClientError::Config("no endpoints given".to_string()));
        }
        let channels = vec![None; addresses.len()];
        Ok(Client {
            endpoints: Arc::new(Mutex::new(Endpoints { addresses, current: 0, channels })),
            options,
            client_id: Arc::from(uuid::Uuid::new_v4().to_string()),
            sequence: Arc::new(AtomicU64::new(0)),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The highest cluster generation this client has seen in an answer (0: none yet).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// This client's idempotency id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A fresh idempotency key for one logical request; reuse it to retry that request.
    pub fn next_request_id(&self) -> v1::RequestId {
        v1::RequestId {
            client_id: self.client_id.to_string(),
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    fn channel(&self) -> Result<(usize, String, Channel), ClientError> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = endpoints.current % endpoints.addresses.len();
        let address = endpoints.addresses[index].clone();
        if let Some(channel) = &endpoints.channels[index] {
            return Ok((index, address, channel.clone()));
        }
        let url = if address.starts_with("http://") || address.starts_with("https://") {
            address.clone()
        } else {
            format!("http://{address}")
        };
        let channel = Endpoint::from_shared(url)
            .map_err(|error| ClientError::Config(format!("bad endpoint {address}: {error}")))?
            .connect_timeout(Duration::from_millis(self.options.connect_timeout_ms))
            .timeout(Duration::from_millis(self.options.request_timeout_ms))
            .tcp_nodelay(true)
            .connect_lazy();
        endpoints.channels[index] = Some(channel.clone());
        Ok((index, address, channel))
    }

    /// Moves on after `failed_index` failed: to the leader address if known, else the next one.
    fn advance(&self, failed_index: usize, leader_addr: Option<&str>) {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(leader_addr) = leader_addr {
            let position = match endpoints.addresses.iter().position(|address| address == leader_addr) {
                Some(position) => position,
                None => {
                    endpoints.addresses.push(leader_addr.to_string());
                    endpoints.channels.push(None);
                    endpoints.addresses.len() - 1
                }
            };
            endpoints.current = position;
        } else if endpoints.current == failed_index {
            endpoints.current = (failed_index + 1) % endpoints.addresses.len();
        }
    }

    fn classify(&self, index: usize, status: tonic::Status) -> Next {
        use ErrorReason as Reason;
        match (status.code(), pharos_proto::error_reason(&status)) {
            (_, Some(Reason::NotLeader)) => {
                let leader_addr = status
                    .metadata()
                    .get(pharos_proto::metadata::LEADER_CLIENT_ADDR)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                self.advance(index, leader_addr.as_deref());
                Next::Retry { pause: leader_addr.is_none() }
            }
            // An old-generation node (failed over without it): another endpoint may be current.
            (_, Some(Reason::Fenced)) => {
                self.advance(index, None);
                Next::Retry { pause: false }
            }
            (tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled, _)
            | (tonic::Code::Unknown, None)
            | (_, Some(Reason::UnknownOutcome)) => {
                self.advance(index, None);
                Next::Retry { pause: true }
            }
            _ => Next::Fail(ClientError::from_status(status)),
        }
    }

    /// Runs `call` against the leader (or any node, for local reads), following redirects and
    /// retrying transport failures, at most `attempts_max` times.
    async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut pause_ms = self.options.retry_backoff_ms;
        let mut last_error = None;
        for _ in 0..self.options.attempts_max {
            let (index, address, channel) = self.channel()?;
            match call(channel).await {
                Ok(response) => match accept_generation(&self.generation, generation_of(response.metadata())) {
                    Ok(()) => return Ok(response.into_inner()),
                    Err(highest) => {
                        tracing::warn!(%address, highest, "answer from an older generation refused");
                        last_error =
                            Some(format!("{address}: answered for a generation below {highest} (failed over)"));
                        self.advance(index, None);
                    }
                },
                Err(status) => {
                    let _ = accept_generation(&self.generation, generation_of(status.metadata()));
                    tracing::debug!(%address, %status, "pharos call failed");
                    last_error = Some(format!("{address}: {}", status.message()));
                    match self.classify(index, status) {
                        Next::Fail(error) => return Err(error),
                        Next::Retry { pause } => {
                            if pause {
                                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                                pause_ms = (pause_ms * 2).min(self.options.retry_backoff_ms * 8);
                            }
                        }
                    }
                }
            }
        }
        Err(ClientError::Unavailable {
            attempts: self.options.attempts_max,
            last_error: last_error.unwrap_or_default(),
        })
    }

    /// Like `call`, for a mutating request that carries no idempotency key: it is retried only
    /// when it certainly did not take effect (a `NOT_LEADER` redirect, or no connection at all).
    /// After a timeout or a connection lost mid-request it may have been applied, and a blind
    /// retry could apply it a second time, later, after other clients' writes (found by the
    /// chaos suite: a retried offset commit moved an offset back; `offsets-through-paused-leaders`).
    /// The caller gets the error and knows the outcome is unknown.
    async fn call_without_blind_retry<T, F, Fut>(&self, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut pause_ms = self.options.retry_backoff_ms;
        let mut last_error = None;
        for _ in 0..self.options.attempts_max {
            let (index, address, channel) = self.channel()?;
            match call(channel).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => {
                    tracing::debug!(%address, %status, "pharos call failed");
                    last_error = Some(format!("{address}: {}", status.message()));
                    let redirected = pharos_proto::error_reason(&status) == Some(ErrorReason::NotLeader);
                    let never_connected = status.code() == tonic::Code::Unavailable
                        && (status.message().contains("connect error")
                            || status.message().contains("error trying to connect"));
                    if !redirected && !never_connected {
                        return Err(match self.classify(index, status) {
                            Next::Fail(error) => error,
                            Next::Retry { .. } => ClientError::Unavailable {
                                attempts: 1,
                                last_error: format!(
                                    "{}; not retried: the request may have been applied",
                                    last_error.unwrap_or_default()
                                ),
                            },
                        });
                    }
                    if let Next::Retry { pause: true } = self.classify(index, status) {
                        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                        pause_ms = (pause_ms * 2).min(self.options.retry_backoff_ms * 8);
                    }
                }
            }
        }
        Err(ClientError::Unavailable {
            attempts: self.options.attempts_max,
            last_error: last_error.unwrap_or_default(),
        })
    }

    // ---- key/value ----

    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<v1::PutResponse, ClientError> {
        self.put_with_id(key, value, self.next_request_id()).await
    }

    /// Put with an explicit idempotency key (retries of one logical write share it).
    pub async fn put_with_id(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        request_id: v1::RequestId,
    ) -> Result<v1::PutResponse, ClientError> {
        let request = v1::PutRequest { key: key.into(), value: value.into(), request_id: Some(request_id) };
        self.call(|channel| {
            let request = request.clone();
            async move { KvServiceClient::new(channel).put(request).await }
        })
        .await
    }

    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        consistency: v1::Consistency,
    ) -> Result<v1::GetResponse, ClientError> {
        let request = v1::GetRequest { key: key.into(), consistency: consistency as i32 };
        self.call(|channel| {
            let request = request.clone();
            async move { KvServiceClient::new(channel).get(request).await }
        })
        .await
    }

    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> Result<v1::DeleteResponse, ClientError> {
        let request = v1::DeleteRequest { key: key.into(), request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { KvServiceClient::new(channel).delete(request).await }
        })
        .await
    }

    pub async fn compare_and_set(
        &self,
        key: impl Into<Vec<u8>>,
        compare: v1::compare_and_set_request::Compare,
        value: impl Into<Vec<u8>>,
    ) -> Result<v1::CompareAndSetResponse, ClientError> {
        let request = v1::CompareAndSetRequest {
            key: key.into(),
            value: value.into(),
            compare: Some(compare),
            request_id: Some(self.next_request_id()),
        };
        self.call(|channel| {
            let request = request.clone();
            async move { KvServiceClient::new(channel).compare_and_set(request).await }
        })
        .await
    }

    pub async fn range(
        &self,
        prefix: impl Into<Vec<u8>>,
        limit: u32,
        consistency: v1::Consistency,
    ) -> Result<v1::RangeResponse, ClientError> {
        let request = v1::RangeRequest { prefix: prefix.into(), limit, consistency: consistency as i32 };
        self.call(|channel| {
            let request = request.clone();
            async move { KvServiceClient::new(channel).range(request).await }
        })
        .await
    }

    // ---- cluster ----

    /// Status of whichever node answers first (not necessarily the leader).
    pub async fn status(&self) -> Result<v1::StatusResponse, ClientError> {
        self.call(|channel| async move { ClusterServiceClient::new(channel).status(v1::StatusRequest {}).await }).await
    }

    pub async fn identity(&self) -> Result<v1::IdentityResponse, ClientError> {
        self.call(|channel| async move { ClusterServiceClient::new(channel).identity(v1::IdentityRequest {}).await })
            .await
    }

    /// Adds `node_id` as a learner (`cluster add-learner`). A node joining by itself uses the
    /// peer port's `MemberService` instead.
    pub async fn add_learner(&self, node_id: u64, info: v1::NodeInfo) -> Result<v1::JoinResponse, ClientError> {
        let request = v1::JoinRequest { node_id, info: Some(info) };
        self.call(|channel| {
            let request = request.clone();
            async move { ClusterServiceClient::new(channel).add_learner(request).await }
        })
        .await
    }

    pub async fn promote(&self, node_id: u64) -> Result<v1::PromoteResponse, ClientError> {
        self.call(
            |channel| async move { ClusterServiceClient::new(channel).promote(v1::PromoteRequest { node_id }).await },
        )
        .await
    }

    pub async fn remove(&self, node_id: u64) -> Result<v1::RemoveResponse, ClientError> {
        self.call(
            |channel| async move { ClusterServiceClient::new(channel).remove(v1::RemoveRequest { node_id }).await },
        )
        .await
    }

    pub async fn transfer_leader(&self, to_node_id: u64) -> Result<v1::TransferLeaderRpcResponse, ClientError> {
        self.call(|channel| async move {
            ClusterServiceClient::new(channel).transfer_leader(v1::TransferLeaderRpcRequest { to_node_id }).await
        })
        .await
    }

    /// Snapshot + log purge on the first endpoint that answers.
    pub async fn compact(&self) -> Result<v1::CompactResponse, ClientError> {
        self.call(|channel| async move { ClusterServiceClient::new(channel).compact(v1::CompactRequest {}).await })
            .await
    }

    // ---- brokers ----

    pub async fn register_broker(
        &self,
        mut request: v1::RegisterBrokerRequest,
    ) -> Result<v1::RegisterBrokerResponse, ClientError> {
        if request.request_id.is_none() {
            request.request_id = Some(self.next_request_id());
        }
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).register_broker(request).await }
        })
        .await
    }

    pub async fn heartbeat(&self, request: v1::HeartbeatRequest) -> Result<v1::HeartbeatResponse, ClientError> {
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).heartbeat(request).await }
        })
        .await
    }

    pub async fn unregister_broker(
        &self,
        broker_id: u64,
        broker_epoch: u64,
    ) -> Result<v1::UnregisterBrokerResponse, ClientError> {
        let request = v1::UnregisterBrokerRequest { broker_id, broker_epoch, request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).unregister_broker(request).await }
        })
        .await
    }

    /// Sends `request`, with a fresh idempotency key unless it carries one.
    pub async fn alter_sync_state_set(
        &self,
        mut request: v1::AlterSyncStateSetRequest,
    ) -> Result<v1::AlterSyncStateSetResponse, ClientError> {
        request.request_id = request.request_id.or_else(|| Some(self.next_request_id()));
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).alter_sync_state_set(request).await }
        })
        .await
    }

    pub async fn get_broker_group(
        &self,
        group: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetBrokerGroupResponse, ClientError> {
        let request = v1::GetBrokerGroupRequest { group: group.to_string(), consistency: consistency as i32 };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).get_broker_group(request).await }
        })
        .await
    }

    pub async fn list_broker_groups(
        &self,
        consistency: v1::Consistency,
    ) -> Result<v1::ListBrokerGroupsResponse, ClientError> {
        let request = v1::ListBrokerGroupsRequest { consistency: consistency as i32 };
        self.call(|channel| async move { BrokerServiceClient::new(channel).list_broker_groups(request).await }).await
    }

    /// A stream of every change to `group` after `from_revision` (0: the current view first).
    pub async fn watch_broker_group(
        &self,
        group: &str,
        from_revision: u64,
    ) -> Result<tonic::Streaming<v1::BrokerGroupEvent>, ClientError> {
        let request = v1::WatchBrokerGroupRequest { group: group.to_string(), from_revision };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).watch_broker_group(request).await }
        })
        .await
    }

    pub async fn fence_broker(&self, broker_id: u64) -> Result<v1::FenceBrokerResponse, ClientError> {
        let request = v1::FenceBrokerRequest { broker_id, request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).fence_broker(request).await }
        })
        .await
    }

    pub async fn remove_broker(&self, broker_id: u64) -> Result<v1::RemoveBrokerResponse, ClientError> {
        let request = v1::RemoveBrokerRequest { broker_id, request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).remove_broker(request).await }
        })
        .await
    }

    pub async fn failover(
        &self,
        group: &str,
        to: Option<u64>,
        unclean: bool,
    ) -> Result<v1::FailoverResponse, ClientError> {
        let request = v1::FailoverRequest { group: group.to_string(), to, unclean };
        self.call(|channel| {
            let request = request.clone();
            async move { BrokerServiceClient::new(channel).failover(request).await }
        })
        .await
    }

    // ---- topics, routes, offsets ----

    pub async fn create_topic(&self, topic: v1::TopicInfo) -> Result<v1::TopicResponse, ClientError> {
        let request = v1::CreateTopicRequest { topic: Some(topic), request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).create_topic(request).await }
        })
        .await
    }

    pub async fn update_topic(&self, topic: v1::TopicInfo) -> Result<v1::TopicResponse, ClientError> {
        let request = v1::UpdateTopicRequest { topic: Some(topic), request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).update_topic(request).await }
        })
        .await
    }

    pub async fn delete_topic(&self, name: &str, force: bool) -> Result<v1::DeleteTopicResponse, ClientError> {
        let request =
            v1::DeleteTopicRequest { name: name.to_string(), force, request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).delete_topic(request).await }
        })
        .await
    }

    pub async fn get_topic(
        &self,
        name: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetTopicResponse, ClientError> {
        let request = v1::GetTopicRequest { name: name.to_string(), consistency: consistency as i32 };
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).get_topic(request).await }
        })
        .await
    }

    pub async fn list_topics(&self, request: v1::ListTopicsRequest) -> Result<v1::ListTopicsResponse, ClientError> {
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).list_topics(request).await }
        })
        .await
    }

    /// A topic's route with addresses on `network`, read at `consistency` like every read.
    pub async fn get_route(
        &self,
        topic: &str,
        network: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetRouteResponse, ClientError> {
        let request = v1::GetRouteRequest {
            topic: topic.to_string(),
            network: network.to_string(),
            consistency: consistency as i32,
        };
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).get_route(request).await }
        })
        .await
    }

    pub async fn watch_routes(
        &self,
        request: v1::WatchRoutesRequest,
    ) -> Result<tonic::Streaming<v1::RouteEvent>, ClientError> {
        self.call(|channel| {
            let request = request.clone();
            async move { TopicServiceClient::new(channel).watch_routes(request).await }
        })
        .await
    }

    pub async fn commit_offsets(
        &self,
        offsets: Vec<v1::OffsetEntry>,
        reject_backwards: bool,
    ) -> Result<v1::CommitOffsetsResponse, ClientError> {
        let request = v1::CommitOffsetsRequest { offsets, reject_backwards };
        self.call_without_blind_retry(|channel| {
            let request = request.clone();
            async move { OffsetServiceClient::new(channel).commit_offsets(request).await }
        })
        .await
    }

    pub async fn fetch_offsets(
        &self,
        consumer_group: &str,
        topic: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::FetchOffsetsResponse, ClientError> {
        let request = v1::FetchOffsetsRequest {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            consistency: consistency as i32,
        };
        self.call(|channel| {
            let request = request.clone();
            async move { OffsetServiceClient::new(channel).fetch_offsets(request).await }
        })
        .await
    }

    pub async fn reset_offsets(
        &self,
        consumer_group: &str,
        topic: &str,
        to: v1::reset_offsets_request::To,
    ) -> Result<v1::ResetOffsetsResponse, ClientError> {
        let request = v1::ResetOffsetsRequest {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            to: Some(to),
        };
        self.call_without_blind_retry(|channel| {
            let request = request.clone();
            async move { OffsetServiceClient::new(channel).reset_offsets(request).await }
        })
        .await
    }

    pub async fn list_consumer_groups(
        &self,
        consistency: v1::Consistency,
    ) -> Result<v1::ListConsumerGroupsResponse, ClientError> {
        let request = v1::ListConsumerGroupsRequest { consistency: consistency as i32 };
        self.call(|channel| async move { OffsetServiceClient::new(channel).list_consumer_groups(request).await }).await
    }

    /// The audit log, newest first.
    pub async fn list_audit(&self, limit: u32) -> Result<v1::ListAuditResponse, ClientError> {
        let request = v1::ListAuditRequest { limit, consistency: v1::Consistency::Linearizable as i32 };
        self.call(|channel| async move { ClusterServiceClient::new(channel).list_audit(request).await }).await
    }

    // ---- disaster recovery ----

    /// DR status as seen by whichever node answers (lag figures only from the leader).
    pub async fn dr_status(&self) -> Result<v1::DrStatusResponse, ClientError> {
        self.call(|channel| async move { DrServiceClient::new(channel).status(v1::DrStatusRequest {}).await }).await
    }

    pub async fn dr_configure(
        &self,
        primary_region: &str,
        dr_region: &str,
    ) -> Result<v1::DrChangeResponse, ClientError> {
        let request = v1::DrConfigureRequest {
            primary_region: primary_region.to_string(),
            dr_region: dr_region.to_string(),
            request_id: Some(self.next_request_id()),
        };
        self.call(|channel| {
            let request = request.clone();
            async move { DrServiceClient::new(channel).configure(request).await }
        })
        .await
    }

    /// `dr_sync_timeout_ms` 0 keeps the current timeout.
    pub async fn dr_set_mode(
        &self,
        mode: v1::DrMode,
        dr_sync_timeout_ms: u64,
    ) -> Result<v1::DrChangeResponse, ClientError> {
        let request =
            v1::DrSetModeRequest { mode: mode.into(), dr_sync_timeout_ms, request_id: Some(self.next_request_id()) };
        self.call(|channel| {
            let request = request.clone();
            async move { DrServiceClient::new(channel).set_mode(request).await }
        })
        .await
    }

    pub async fn dr_switchover(&self, to_region: &str, dry_run: bool) -> Result<v1::SwitchoverResponse, ClientError> {
        let request = v1::SwitchoverRequest { to_region: to_region.to_string(), dry_run };
        self.call(|channel| {
            let request = request.clone();
            async move { DrServiceClient::new(channel).switchover(request).await }
        })
        .await
    }

    /// Unplanned failover: send it to a surviving node of `request.to_region`.
    pub async fn dr_failover(
        &self,
        request: v1::RegionFailoverRequest,
    ) -> Result<v1::RegionFailoverResponse, ClientError> {
        self.call(|channel| {
            let request = request.clone();
            async move { DrServiceClient::new(channel).failover(request).await }
        })
        .await
    }

    pub async fn dr_failback(&self) -> Result<v1::FailbackResponse, ClientError> {
        self.call(|channel| async move { DrServiceClient::new(channel).failback(v1::FailbackRequest {}).await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_an_older_generation_are_refused_once_a_newer_one_was_seen() {
        let highest = AtomicU64::new(0);
        assert_eq!(accept_generation(&highest, None), Ok(()));
        assert_eq!(accept_generation(&highest, Some(1)), Ok(()));
        assert_eq!(accept_generation(&highest, Some(2)), Ok(()));
        assert_eq!(accept_generation(&highest, Some(1)), Err(2), "the failed-over region answered");
        assert_eq!(accept_generation(&highest, Some(2)), Ok(()));
        assert_eq!(accept_generation(&highest, None), Ok(()), "servers that carry no generation are not judged");
        assert_eq!(highest.load(Ordering::Acquire), 2);
    }
}
