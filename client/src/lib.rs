//! The Pharos client library, used by brokers, the CLI, chaos tests and benchmarks.
//!
//! It knows a list of endpoints, finds the leader by following `NOT_LEADER` redirects, and
//! retries a bounded number of times. It must never retry forever, never send a request again
//! when a second application could differ from the first, and never hide which error ended a
//! call.
//!
//! # Retries
//!
//! Every RPC is declared once, in `src/rpc.rs`, with a [`RetryClass`]; one loop sends them all
//! and applies the class. Whatever the class, a call makes at most
//! [`ClientOptions::attempts_max`] attempts, follows a `NOT_LEADER` redirect to the leader it
//! names, moves to the next endpoint after a transport failure, and refuses an answer from a
//! cluster generation older than one it has seen (a failed-over region) and asks elsewhere.
//! The classes differ after an attempt whose outcome is unknown (a timeout, a connection lost
//! mid-request, `UNKNOWN_OUTCOME`):
//!
//! - [`Read`](RetryClass::Read): changes nothing, sent again.
//! - [`Idempotent`](RetryClass::Idempotent): carries an idempotency key `(client_id, sequence)`,
//!   drawn once per call (unless the caller passes one) and reused by every attempt; the server
//!   answers a repeat with the first answer, so it is sent again and applied once.
//! - [`Convergent`](RetryClass::Convergent): no key, but a repeat changes nothing the first did
//!   not (an end state, or soft state renewed anyway); sent again.
//! - [`AtMostOnce`](RetryClass::AtMostOnce): no key, and a repeat could apply a second time
//!   after other clients' writes. Sent again only when the attempt provably took no effect (a
//!   `NOT_LEADER` or `FENCED` refusal, or no connection made); otherwise the call ends with
//!   [`ClientError::OutcomeUnknown`] and the caller reads the state to learn what happened.
//!
//! [`RETRY_CLASSES`] and [`retry_class`] give the same table at run time; a unit test holds it
//! to the `.proto` files (every RPC of the client services is here; exactly the requests with a
//! `request_id` field are `Idempotent`) and to this list.
//!
//! | RPC | class | why, when not obvious |
//! |---|---|---|
//! | `KvService/Put` | `Idempotent` | |
//! | `KvService/Get` | `Read` | |
//! | `KvService/Delete` | `Idempotent` | |
//! | `KvService/CompareAndSet` | `Idempotent` | |
//! | `KvService/Range` | `Read` | |
//! | `ClusterService/Identity` | `Read` | |
//! | `ClusterService/Status` | `Read` | |
//! | `ClusterService/AddLearner` | `Idempotent` | the key is committed with the change's audit record: a late repeat gets the first answer and cannot re-add a node removed meanwhile |
//! | `ClusterService/Promote` | `Convergent` | promoting a voter succeeds with `changed = false` |
//! | `ClusterService/Remove` | `Idempotent` | as `AddLearner`: a late repeat cannot remove a node added back meanwhile; a repeat by hand (a new key) answers `changed = false` |
//! | `ClusterService/TransferLeader` | `Convergent` | answers at once when the target already leads |
//! | `ClusterService/Compact` | `Convergent` | a second snapshot of the same state |
//! | `ClusterService/ListAudit` | `Read` | |
//! | `ClusterService/SetFeatureLevel` | `Idempotent` | |
//! | `ClusterService/SaveSnapshot` | `Read` | retried until the stream opens, not after: the CLI starts again from scratch |
//! | `BrokerService/RegisterBroker` | `Idempotent` | |
//! | `BrokerService/Heartbeat` | `Convergent` | soft lease state on the leader; the lease counts from the first send |
//! | `BrokerService/UnregisterBroker` | `Idempotent` | |
//! | `BrokerService/AlterSyncStateSet` | `Idempotent` | |
//! | `BrokerService/GetBrokerGroup` | `Read` | |
//! | `BrokerService/ListBrokerGroups` | `Read` | |
//! | `BrokerService/WatchBrokerGroup` | `Read` | retried until the stream opens, not after |
//! | `BrokerService/FenceBroker` | `Idempotent` | |
//! | `BrokerService/RemoveBroker` | `Idempotent` | |
//! | `BrokerService/Failover` | `Idempotent` | the election is committed under the key: a repeat gets it, never a second one |
//! | `TopicService/CreateTopic` | `Idempotent` | |
//! | `TopicService/UpdateTopic` | `Idempotent` | |
//! | `TopicService/DeleteTopic` | `Idempotent` | |
//! | `TopicService/GetTopic` | `Read` | |
//! | `TopicService/ListTopics` | `Read` | |
//! | `TopicService/GetRoute` | `Read` | |
//! | `TopicService/WatchRoutes` | `Read` | retried until the stream opens, not after |
//! | `OffsetService/CommitOffsets` | `Idempotent` | the key rides with the batch inside a coalesced entry: a late repeat gets the first answer and cannot move an offset back (`offsets-through-paused-leaders`) |
//! | `OffsetService/FetchOffsets` | `Read` | |
//! | `OffsetService/ResetOffsets` | `Idempotent` | |
//! | `OffsetService/ListConsumerGroups` | `Read` | |
//! | `DrService/Status` | `Read` | |
//! | `DrService/Configure` | `Idempotent` | |
//! | `DrService/SetMode` | `Idempotent` | |
//! | `DrService/Switchover` | `Idempotent` | a repeat gets the operation the first attempt began |
//! | `DrService/Failover` | `AtMostOnce` | a repeat after the seed restarted would plan another generation |
//! | `DrService/Failback` | `AtMostOnce` | a repeat sends the rejoin requests again |
//! | `AclService/AddUser` | `Idempotent` | |
//! | `AclService/DeleteUser` | `Idempotent` | |
//! | `AclService/SetUserEnabled` | `Idempotent` | |
//! | `AclService/RotateToken` | `Idempotent` | |
//! | `AclService/ListUsers` | `Read` | |
//! | `AclService/Grant` | `Idempotent` | |
//! | `AclService/Revoke` | `Idempotent` | |
//! | `AclService/ListPolicies` | `Read` | |
//! | `AclService/Check` | `Read` | |
//! | `AclService/WhoAmI` | `Read` | |
//! | `AclService/ListDenials` | `Read` | |
//! | `AclService/WatchAcls` | `Read` | retried until the stream opens, not after |

mod api;
pub mod broker;
mod error;
pub mod offsets;
mod retry;
mod rpc;
pub mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{ClientError, ErrorDetail, ErrorReason};
pub use pharos_proto::v1;
pub use pharos_proto::{error_details, error_reason};
pub use retry::RetryClass;
pub use rpc::{RETRY_CLASSES, retry_class};
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
    /// Bearer token sent with every call (`authorization: Bearer <token>`); `None` sends no
    /// credentials (a node running `--insecure`, or the public `Identity`).
    pub token: Option<String>,
    /// CA (PEM) that signed the servers' certificates: when set, endpoints are dialed with TLS
    /// and a server whose certificate this CA did not sign is refused.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            attempts_max: 30,
            retry_backoff_ms: 100,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            token: None,
            ca_file: None,
        }
    }
}

/// The metadata key credentials travel in.
pub const AUTHORIZATION: &str = "authorization";

#[derive(Debug)]
struct Endpoints {
    /// Configured endpoints, then any leader address learned from a redirect.
    addresses: Vec<String>,
    /// Index into `addresses` of the node to try first.
    current: usize,
    channels: Vec<Option<Channel>>,
    /// Dials TLS when the options name a CA; read once, when the client is made.
    tls: Option<pharos_tls::Connector>,
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
    /// `Bearer <token>`, when the options carry a token.
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
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
        let authorization = match &options.token {
            None => None,
            Some(token) => Some(
                format!("Bearer {}", token.trim())
                    .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
                    .map_err(|_| ClientError::Config("the token holds characters a header cannot carry".into()))?,
            ),
        };
        let tls = match &options.ca_file {
            Some(ca_file) => Some(
                pharos_tls::Connector::verifying(ca_file)
                    .map_err(|error| ClientError::Config(format!("loading the CA: {error}")))?,
            ),
            None => None,
        };
        Ok(Client {
            authorization,
            endpoints: Arc::new(Mutex::new(Endpoints { addresses, current: 0, channels, tls })),
            options,
            client_id: Arc::from(uuid::Uuid::new_v4().to_string()),
            sequence: Arc::new(AtomicU64::new(0)),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A client for the one endpoint `address`, with this client's options (credentials too).
    pub fn at(&self, address: &str) -> Result<Client, ClientError> {
        Client::with_options([address.to_string()], self.options.clone())
    }

    /// The options this client was made with (to make another one that dials the same way).
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The highest cluster generation this client has seen in an answer (0: none yet).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `message` as one call's request, with this client's credentials.
    pub(crate) fn with_credentials<M>(&self, message: M) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert(AUTHORIZATION, authorization.clone());
        }
        request
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
        let scheme = if endpoints.tls.is_some() { "https" } else { "http" };
        let url = if address.starts_with("http://") || address.starts_with("https://") {
            address.clone()
        } else {
            format!("{scheme}://{address}")
        };
        let endpoint = Endpoint::from_shared(url)
            .map_err(|error| ClientError::Config(format!("bad endpoint {address}: {error}")))?
            .connect_timeout(Duration::from_millis(self.options.connect_timeout_ms))
            .timeout(Duration::from_millis(self.options.request_timeout_ms))
            .tcp_nodelay(true);
        let channel = match &endpoints.tls {
            Some(connector) => endpoint.connect_with_connector_lazy(connector.clone()),
            None => endpoint.connect_lazy(),
        };
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
