//! The retry rule of each class, against scripted fake servers on loopback ports: what is sent
//! again after an unknown outcome, with which idempotency key, and what is not.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pharos_client::{Client, ClientError, ClientOptions, v1};
use pharos_proto::v1::dr_service_server::{DrService, DrServiceServer};
use pharos_proto::v1::kv_service_server::{KvService, KvServiceServer};
use pharos_proto::v1::offset_service_server::{OffsetService, OffsetServiceServer};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

/// How the fake answers one call.
#[derive(Debug, Clone)]
enum Answer {
    Ok,
    /// A status with a `pharos-error` reason, and the leader's address for `NOT_LEADER`.
    Refuse {
        code: Code,
        reason: &'static str,
        leader_addr: Option<String>,
    },
    /// No answer before the client's deadline.
    Stall,
}

fn unknown_outcome() -> Answer {
    Answer::Refuse { code: Code::Unavailable, reason: "UNKNOWN_OUTCOME", leader_addr: None }
}

/// Answers from a script (then `Ok`), and records the idempotency key of every call it got.
#[derive(Debug, Clone, Default)]
struct Fake {
    script: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<Vec<Option<v1::RequestId>>>>,
}

impl Fake {
    fn scripted(answers: impl IntoIterator<Item = Answer>) -> Fake {
        Fake { script: Arc::new(Mutex::new(answers.into_iter().collect())), ..Fake::default() }
    }

    fn calls(&self) -> Vec<Option<v1::RequestId>> {
        self.calls.lock().expect("calls").clone()
    }

    async fn answer<T>(&self, request_id: Option<v1::RequestId>, response: T) -> Result<Response<T>, Status> {
        self.calls.lock().expect("calls").push(request_id);
        let answer = self.script.lock().expect("script").pop_front().unwrap_or(Answer::Ok);
        match answer {
            Answer::Ok => Ok(Response::new(response)),
            Answer::Refuse { code, reason, leader_addr } => {
                let mut status = Status::new(code, format!("scripted {reason}"));
                status.metadata_mut().insert(pharos_proto::metadata::ERROR_REASON, reason.parse().expect("ascii"));
                if let Some(address) = leader_addr {
                    status
                        .metadata_mut()
                        .insert(pharos_proto::metadata::LEADER_CLIENT_ADDR, address.parse().expect("ascii"));
                }
                Err(status)
            }
            Answer::Stall => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(Status::internal("stalled past every deadline"))
            }
        }
    }

    /// Serves on a fresh loopback port and returns `host:port`.
    async fn serve(self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let router = tonic::transport::Server::builder()
            .add_service(KvServiceServer::new(self.clone()))
            .add_service(DrServiceServer::new(self.clone()))
            .add_service(OffsetServiceServer::new(self));
        tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
        address
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not scripted"))
}

#[tonic::async_trait]
impl KvService for Fake {
    async fn put(&self, request: Request<v1::PutRequest>) -> Result<Response<v1::PutResponse>, Status> {
        self.answer(request.into_inner().request_id, v1::PutResponse::default()).await
    }
    async fn get(&self, _: Request<v1::GetRequest>) -> Result<Response<v1::GetResponse>, Status> {
        self.answer(None, v1::GetResponse::default()).await
    }
    async fn delete(&self, _: Request<v1::DeleteRequest>) -> Result<Response<v1::DeleteResponse>, Status> {
        unimplemented()
    }
    async fn compare_and_set(
        &self,
        _: Request<v1::CompareAndSetRequest>,
    ) -> Result<Response<v1::CompareAndSetResponse>, Status> {
        unimplemented()
    }
    async fn range(&self, _: Request<v1::RangeRequest>) -> Result<Response<v1::RangeResponse>, Status> {
        unimplemented()
    }
}

#[tonic::async_trait]
impl OffsetService for Fake {
    async fn commit_offsets(
        &self,
        request: Request<v1::CommitOffsetsRequest>,
    ) -> Result<Response<v1::CommitOffsetsResponse>, Status> {
        self.answer(request.into_inner().request_id, v1::CommitOffsetsResponse::default()).await
    }
    async fn fetch_offsets(
        &self,
        _: Request<v1::FetchOffsetsRequest>,
    ) -> Result<Response<v1::FetchOffsetsResponse>, Status> {
        unimplemented()
    }
    async fn reset_offsets(
        &self,
        _: Request<v1::ResetOffsetsRequest>,
    ) -> Result<Response<v1::ResetOffsetsResponse>, Status> {
        unimplemented()
    }
    async fn list_consumer_groups(
        &self,
        _: Request<v1::ListConsumerGroupsRequest>,
    ) -> Result<Response<v1::ListConsumerGroupsResponse>, Status> {
        unimplemented()
    }
}

/// Only `Failback` is scripted: the at-most-once example (a repeat sends the rejoin requests
/// again).
#[tonic::async_trait]
impl DrService for Fake {
    async fn status(&self, _: Request<v1::DrStatusRequest>) -> Result<Response<v1::DrStatusResponse>, Status> {
        unimplemented()
    }
    async fn configure(&self, _: Request<v1::DrConfigureRequest>) -> Result<Response<v1::DrChangeResponse>, Status> {
        unimplemented()
    }
    async fn set_mode(&self, _: Request<v1::DrSetModeRequest>) -> Result<Response<v1::DrChangeResponse>, Status> {
        unimplemented()
    }
    async fn switchover(&self, _: Request<v1::SwitchoverRequest>) -> Result<Response<v1::SwitchoverResponse>, Status> {
        unimplemented()
    }
    async fn failover(
        &self,
        _: Request<v1::RegionFailoverRequest>,
    ) -> Result<Response<v1::RegionFailoverResponse>, Status> {
        unimplemented()
    }
    async fn failback(&self, _: Request<v1::FailbackRequest>) -> Result<Response<v1::FailbackResponse>, Status> {
        self.answer(None, v1::FailbackResponse::default()).await
    }
}

const ATTEMPTS_MAX: u32 = 5;

fn client(endpoints: Vec<String>) -> Client {
    let options = ClientOptions {
        attempts_max: ATTEMPTS_MAX,
        retry_backoff_ms: 1,
        request_timeout_ms: 300,
        connect_timeout_ms: 300,
        ..ClientOptions::default()
    };
    Client::with_options(endpoints, options).expect("endpoints")
}

async fn commit(client: &Client) -> Result<v1::CommitOffsetsResponse, ClientError> {
    let entry = v1::OffsetEntry {
        consumer_group: "group".into(),
        topic: "topic".into(),
        queue_id: 0,
        offset: 7,
        committed_at_revision: 0,
    };
    client.commit_offsets(vec![entry], false).await
}

/// The at-most-once call of these tests.
async fn failback(client: &Client) -> Result<v1::FailbackResponse, ClientError> {
    client.dr_failback().await
}

/// An address where nothing listens: connecting is refused.
async fn refusing_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    address
}

#[tokio::test]
async fn an_idempotent_write_is_sent_again_with_the_same_key_after_unknown_outcomes() {
    let fake = Fake::scripted([unknown_outcome(), Answer::Stall]);
    let client = client(vec![fake.clone().serve().await]);
    client.put("key", "value").await.expect("the third attempt is answered");
    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[0].is_some(), "the client drew a key");
    assert!(calls.iter().all(|key| *key == calls[0]), "every attempt carried the first key: {calls:?}");
}

/// Offset commits carry a key since the leader remembers it per batch inside a coalesced
/// entry: a lost answer is retried, and the retry cannot move an offset back.
#[tokio::test]
async fn an_offset_commit_is_sent_again_with_the_same_key_after_unknown_outcomes() {
    let fake = Fake::scripted([unknown_outcome(), Answer::Stall]);
    let client = client(vec![fake.clone().serve().await]);
    commit(&client).await.expect("the third attempt is answered");
    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[0].is_some() && calls.iter().all(|key| *key == calls[0]), "one key for every attempt: {calls:?}");
}

#[tokio::test]
async fn a_read_is_sent_again_after_an_unknown_outcome() {
    let fake = Fake::scripted([Answer::Stall, unknown_outcome()]);
    let client = client(vec![fake.clone().serve().await]);
    client.get("key", v1::Consistency::Linearizable).await.expect("the third attempt is answered");
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn an_at_most_once_write_is_not_sent_again_after_an_unknown_outcome() {
    for answer in [unknown_outcome(), Answer::Stall] {
        let fake = Fake::scripted([answer.clone()]);
        let client = client(vec![fake.clone().serve().await]);
        let error = failback(&client).await.expect_err("not retried");
        assert!(
            matches!(error, ClientError::OutcomeUnknown { rpc: "pharos.v1.DrService/Failback", attempts: 1, .. }),
            "after {answer:?}: {error}"
        );
        assert_eq!(fake.calls().len(), 1, "after {answer:?}");
    }
}

#[tokio::test]
async fn an_at_most_once_write_follows_a_redirect_to_the_leader() {
    let leader = Fake::default();
    let leader_addr = leader.clone().serve().await;
    let follower = Fake::scripted([Answer::Refuse {
        code: Code::FailedPrecondition,
        reason: "NOT_LEADER",
        leader_addr: Some(leader_addr),
    }]);
    let client = client(vec![follower.clone().serve().await]);
    failback(&client).await.expect("answered by the leader");
    assert_eq!((follower.calls().len(), leader.calls().len()), (1, 1));
}

#[tokio::test]
async fn an_at_most_once_write_moves_on_from_a_fenced_node() {
    let fenced =
        Fake::scripted([Answer::Refuse { code: Code::FailedPrecondition, reason: "FENCED", leader_addr: None }]);
    let current = Fake::default();
    let client = client(vec![fenced.clone().serve().await, current.clone().serve().await]);
    failback(&client).await.expect("answered by the current generation");
    assert_eq!((fenced.calls().len(), current.calls().len()), (1, 1));
}

/// Also pins how this tonic version reports a refused connection (`tonic::ConnectError` as the
/// status's source): if the client stopped recognising it, at-most-once calls would fail on the
/// first dead endpoint.
#[tokio::test]
async fn an_at_most_once_write_is_sent_again_when_no_connection_was_made() {
    let alive = Fake::default();
    let client = client(vec![refusing_address().await, alive.clone().serve().await]);
    failback(&client).await.expect("answered by the node that listens");
    assert_eq!(alive.calls().len(), 1);
}

/// A server's own `UNAVAILABLE` that merely reads like a connect failure was still received:
/// the request may have been applied, so an at-most-once call must not be sent again.
#[tokio::test]
async fn an_at_most_once_write_is_not_sent_again_after_a_server_status_that_reads_like_a_connect_error() {
    let fake = Fake::scripted([Answer::Refuse {
        code: Code::Unavailable,
        reason: "tcp connect error: Connection refused",
        leader_addr: None,
    }]);
    let client = client(vec![fake.clone().serve().await]);
    let error = failback(&client).await.expect_err("not retried");
    assert!(matches!(error, ClientError::OutcomeUnknown { attempts: 1, .. }), "{error}");
    assert_eq!(fake.calls().len(), 1);
}

#[tokio::test]
async fn a_refusal_ends_the_call_whatever_the_class() {
    let refusal = Answer::Refuse { code: Code::InvalidArgument, reason: "INVALID_ARGUMENT", leader_addr: None };
    let fake = Fake::scripted([refusal.clone(), refusal]);
    let client = client(vec![fake.clone().serve().await]);
    assert_eq!(
        client.put("key", "value").await.expect_err("refused").reason(),
        Some(pharos_client::ErrorReason::InvalidArgument)
    );
    assert_eq!(commit(&client).await.expect_err("refused").reason(), Some(pharos_client::ErrorReason::InvalidArgument));
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let fake = Fake::scripted(std::iter::repeat_n(unknown_outcome(), 100));
    let client = client(vec![fake.clone().serve().await]);
    let error = client.put("key", "value").await.expect_err("never answered");
    assert!(matches!(error, ClientError::Unavailable { attempts: ATTEMPTS_MAX, .. }), "{error}");
    assert_eq!(fake.calls().len(), ATTEMPTS_MAX as usize);
}
