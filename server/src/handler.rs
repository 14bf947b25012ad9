//! What every gRPC handler shares: proposing a command on the leader, and preparing the local
//! state for a read of the requested consistency.

use pharos_proto::v1::ErrorReason as Reason;
use std::collections::BTreeMap;
use std::future::Future;

use pharos_meta::{Command, Operation, RequestId, Response};
use pharos_proto::v1;
use pharos_replication::Node;
use tonic::{Code, Status};

use crate::status::{command_error, node_error, with_detail, with_reason};

/// Milliseconds since the Unix epoch on this node's wall clock (stamped into commands by the
/// leader; replicas never read their own clock while applying).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

pub fn command(operation: Operation, request_id: Option<RequestId>, actor: String) -> Command {
    Command { request_id, issued_at_ms: unix_ms(), actor, operation }
}

/// Who sent `request`, for the audit log: the authenticated user and the peer address
/// (`root@127.0.0.1:50412`), or the address alone on a node running `--insecure`.
pub fn actor<T>(request: &tonic::Request<T>) -> String {
    let address = request.remote_addr().map_or_else(|| "unknown".to_string(), |address| address.to_string());
    match crate::auth::subject(request) {
        Some(subject) => format!("{subject}@{address}"),
        None => address,
    }
}

/// Proposes `operation` on this node, which must be the leader; a refusal by the state machine
/// becomes its typed status.
pub async fn propose(
    node: &Node,
    operation: Operation,
    request_id: Option<RequestId>,
    actor: String,
) -> Result<Response, Status> {
    node.ensure_leader().map_err(node_error)?;
    // A request the state machine would refuse on its shape alone never takes a log entry.
    pharos_meta::validate(&operation).map_err(command_error)?;
    // Nor does a retry whose key this node already applied: the answer is committed, and the
    // state machine would only give it back (a retry racing its first attempt still reaches
    // the state machine, which answers it the same way).
    let remembered = request_id.as_ref().and_then(|id| node.state_machine.read().state.remembered(id).cloned());
    let response = match remembered {
        Some(response) => response,
        None => node.write(command(operation, request_id, actor)).await.map_err(node_error)?.0,
    };
    match response {
        Response::Error(error) => Err(command_error(error)),
        response => Ok(response),
    }
}

/// Makes the local state fit for a read of `consistency` (a `v1::Consistency` value).
pub async fn prepare_read(node: &Node, consistency: i32) -> Result<(), Status> {
    match v1::Consistency::try_from(consistency) {
        Ok(v1::Consistency::Linearizable) => node.linearizable_barrier().await.map_err(node_error),
        Ok(v1::Consistency::Local) => Ok(()),
        Err(_) => Err(with_reason(
            Code::InvalidArgument,
            Reason::InvalidArgument,
            format!("unknown consistency {consistency}"),
        )),
    }
}

/// The header of a read answer: what it reflects and how far behind this node may be.
pub fn read_header(node: &Node, revision: u64) -> v1::ResponseHeader {
    let (node_id, applied_index, known_commit_index) = node.read_position();
    v1::ResponseHeader { revision, node_id, applied_index, known_commit_index, millis_since_leader_contact: None }
}

/// An answer of the client API. Every one carries the same [`v1::ResponseHeader`]: which node
/// answered, what revision of the state the answer reflects, and how far behind that node may
/// be (docs/api.md, "Response header").
pub trait Answer {
    fn header_mut(&mut self) -> &mut Option<v1::ResponseHeader>;
}

macro_rules! answers {
    ($($message:ident),* $(,)?) => {
        $(impl Answer for v1::$message {
            fn header_mut(&mut self) -> &mut Option<v1::ResponseHeader> {
                &mut self.header
            }
        })*
    };
}

answers!(
    AclChangeResponse,
    ListUsersResponse,
    ListPoliciesResponse,
    CheckResponse,
    WhoAmIResponse,
    ListDenialsResponse,
    RegisterBrokerResponse,
    HeartbeatResponse,
    UnregisterBrokerResponse,
    AlterSyncStateSetResponse,
    GetBrokerGroupResponse,
    ListBrokerGroupsResponse,
    FenceBrokerResponse,
    RemoveBrokerResponse,
    FailoverResponse,
    IdentityResponse,
    StatusResponse,
    JoinResponse,
    PromoteResponse,
    RemoveResponse,
    TransferLeaderRpcResponse,
    CompactResponse,
    SetFeatureLevelResponse,
    ListAuditResponse,
    DrStatusResponse,
    DrChangeResponse,
    SwitchoverResponse,
    RegionFailoverResponse,
    FailbackResponse,
    PutResponse,
    GetResponse,
    DeleteResponse,
    CompareAndSetResponse,
    RangeResponse,
    TopicResponse,
    DeleteTopicResponse,
    GetTopicResponse,
    ListTopicsResponse,
    GetRouteResponse,
    CommitOffsetsResponse,
    FetchOffsetsResponse,
    ResetOffsetsResponse,
    ListConsumerGroupsResponse,
);

/// `message` with its header: `revision` is what it reflects (a write's own log index, or the
/// revision of the state a read saw).
pub fn answer<M: Answer>(node: &Node, revision: u64, mut message: M) -> tonic::Response<M> {
    *message.header_mut() = Some(read_header(node, revision));
    tonic::Response::new(message)
}

/// `message` with its header, for answers about the node or the cluster rather than about one
/// revision of the state: they reflect what this node has applied.
pub fn answer_applied<M: Answer>(node: &Node, message: M) -> tonic::Response<M> {
    let (_, applied_index, _) = node.read_position();
    answer(node, applied_index, message)
}

/// Runs `pass` every `interval` while this node leads and is not fenced, until `stop`: the shape
/// of every leader-side reconciler (broker liveness, DR). A slow pass delays the next tick
/// rather than piling them up.
pub async fn every_leader_pass<F, Fut>(
    node: &Node,
    interval: std::time::Duration,
    stop: impl Future<Output = ()>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        if node.is_leader() && node.fence.fenced_by().is_none() {
            pass().await;
        }
    }
}

/// Events sent to one watcher before it is waited on.
pub const WATCH_BATCH_MAX: usize = 256;

pub type WatchStream<M> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<M, Status>> + Send>>;

/// Refuses a watch that starts after anything this node knows committed: it would wait,
/// silently, for a revision that may never exist. (A revision committed but not applied here
/// yet is fine: the stream starts once this node has applied it.) `OUT_OF_RANGE` /
/// `FUTURE_REVISION`, with the highest known revision in `pharos-current-revision`.
pub fn check_watch_start(node: &Node, from_revision: u64) -> Result<(), Status> {
    let status = node.status();
    let known = status.applied_index.max(status.commit_index).max(status.cluster_commit_index);
    if from_revision > known {
        let refusal = with_reason(
            Code::OutOfRange,
            Reason::FutureRevision,
            format!("from_revision {from_revision} is after the last committed revision {known}"),
        );
        return Err(with_detail(refusal, pharos_proto::ErrorDetail::CurrentRevision(known)));
    }
    Ok(())
}

/// `FAILED_PRECONDITION` / `COMPACTED`, with the compacted-through revision in `pharos-compacted-revision`.
pub fn compacted(error: pharos_replication::events::Compacted) -> Status {
    let status = with_reason(Code::FailedPrecondition, Reason::Compacted, error.to_string());
    with_detail(status, pharos_proto::ErrorDetail::CompactedRevision(error.compacted_through))
}

/// Open watch streams one client connection may hold. Each holds a task and a buffer on the
/// node, so a client cannot pin unbounded memory by opening streams it never reads.
pub const WATCHES_PER_CONNECTION_MAX: usize = 256;

/// Open watches per connection (its remote address), for [`WATCHES_PER_CONNECTION_MAX`]. One
/// per process: a connection belongs to the one server this process runs.
static OPEN_WATCHES: std::sync::Mutex<BTreeMap<std::net::SocketAddr, usize>> = std::sync::Mutex::new(BTreeMap::new());

/// One open watch of one connection; dropping it frees the slot.
#[derive(Debug)]
pub struct WatchSlot {
    connection: Option<std::net::SocketAddr>,
}

impl WatchSlot {
    /// A slot for a new watch on `request`'s connection, or `RESOURCE_EXHAUSTED` /
    /// `TOO_MANY_WATCHES` when it holds [`WATCHES_PER_CONNECTION_MAX`] already.
    pub fn take<T>(request: &tonic::Request<T>) -> Result<WatchSlot, Status> {
        let Some(connection) = request.remote_addr() else { return Ok(WatchSlot { connection: None }) };
        let mut open = OPEN_WATCHES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(connection).or_default();
        if *count >= WATCHES_PER_CONNECTION_MAX {
            return Err(with_reason(
                Code::ResourceExhausted,
                Reason::TooManyWatches,
                format!("this connection has {WATCHES_PER_CONNECTION_MAX} open watches, the most a node allows"),
            ));
        }
        *count += 1;
        Ok(WatchSlot { connection: Some(connection) })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let Some(connection) = self.connection else { return };
        let mut open = OPEN_WATCHES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&connection) {
            *count -= 1;
            if *count == 0 {
                open.remove(&connection);
            }
        }
    }
}

/// The stream behind every watch RPC: `initial` first, then every event `fetch(applied, last)`
/// returns after revision `last` (at most `WATCH_BATCH_MAX` per call), waiting on the applied
/// index between batches. It ends when the client goes away, or with `COMPACTED`; `slot` is
/// held until then.
pub fn watch_stream<M, F>(node: &Node, slot: WatchSlot, initial: Vec<M>, mut last: u64, fetch: F) -> WatchStream<M>
where
    M: Send + 'static,
    F: Fn(
            &pharos_replication::state_machine::Applied,
            u64,
        ) -> Result<Vec<(u64, M)>, pharos_replication::events::Compacted>
        + Send
        + 'static,
{
    let state_machine = node.state_machine.clone();
    let mut applied_index = state_machine.subscribe();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<M, Status>>(WATCH_BATCH_MAX);
    tokio::spawn(async move {
        let _slot = slot;
        for event in initial {
            if sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
        loop {
            let batch = fetch(&state_machine.read(), last);
            match batch {
                Err(error) => {
                    let _ = sender.send(Err(compacted(error))).await;
                    return;
                }
                Ok(events) if events.is_empty() => {
                    tokio::select! {
                        changed = applied_index.changed() => if changed.is_err() { return },
                        () = sender.closed() => return,
                    }
                }
                Ok(events) => {
                    for (revision, message) in events {
                        last = revision;
                        if sender.send(Ok(message)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::FileDescriptorSet;

    /// Every unary answer of every `pharos.v1` service the client port serves has the
    /// `ResponseHeader header` field, read from the compiled-in descriptors: a new RPC whose
    /// answer lacks it fails here (and [`super::Answer`] must then be implemented for it too).
    #[test]
    fn every_client_api_answer_has_the_response_header() {
        let set = FileDescriptorSet::decode(pharos_proto::FILE_DESCRIPTOR_SET).expect("descriptors decode");
        let messages: std::collections::BTreeMap<String, &prost_types::DescriptorProto> = set
            .file
            .iter()
            .flat_map(|file| file.message_type.iter().map(move |message| (file.package(), message)))
            .map(|(package, message)| (format!(".{package}.{}", message.name()), message))
            .collect();
        let mut checked = 0;
        let mut missing = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let full_name = format!("{}.{}", file.package(), service.name());
                if !crate::reflection::SERVED_SERVICES.contains(&full_name.as_str()) {
                    continue;
                }
                for method in service.method.iter().filter(|method| !method.server_streaming()) {
                    let output = messages.get(method.output_type()).expect("the output type is in the set");
                    let header = output.field.iter().find(|field| field.name() == "header");
                    if header.is_none_or(|field| field.type_name() != ".pharos.v1.ResponseHeader") {
                        missing.push(format!("{full_name}/{} -> {}", method.name(), method.output_type()));
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 40, "only {checked} methods were checked: are the services still served?");
        assert!(missing.is_empty(), "answers without a ResponseHeader: {missing:?}");
    }
}
