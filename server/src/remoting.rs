//! The RocketMQ NameServer on the remoting port (docs/rocketmq.md).
//!
//! Route reads (105, 106, 206) are answered from this node's applied state, with no leader
//! round trip, like a `local` read of the gRPC API. A follower may answer with a route a little
//! behind the leader's, as one Apache NameServer of several may; RocketMQ clients poll routes
//! every 30 s and retry brokers. A node that has applied nothing yet, or that a newer
//! generation fenced, refuses instead (`namesrv::availability`).
//!
//! What brokers send about themselves (103, 104, 904, 322) is answered by the Raft leader: a
//! follower forwards the request frame over the peer port (`MemberService/ForwardRemoting`) and
//! answers the broker once it has applied what the leader's answer reflects, so a route read
//! from it right after includes the broker. On the leader, a registration whose group, broker
//! id and address match an active record is liveness only (the broker re-registers every 30 s,
//! with every NameServer it knows): it renews the broker's deadline in the lease table and
//! writes nothing. Only a new registration, an unregistration, or a broker coming back commits
//! an entry. A broker that stops registering is fenced when `--remoting-broker-timeout-ms` has
//! passed (the planning pass of `crate::brokers`), which takes it out of every route.

use std::time::Duration;

use pharos_meta::{BrokerOperation, ElectionMode, Operation, ReportedTopic, Response, TopicOperation};
use pharos_proto::v1;
use pharos_remoting::codes::response::SUCCESS;
use pharos_remoting::registration::{self, BrokerRequest};
use pharos_remoting::{FrameLimits, Handler, RemotingCommand, codec, controller, namesrv};
use pharos_replication::Node;

use crate::brokers::BrokerRuntime;

mod controller_role;

pub use controller_role::announce_masters;

/// The network whose broker addresses RocketMQ clients get: the one `pharos topic route` and
/// the gRPC `GetRoute` use when none is named.
pub const REMOTING_NETWORK: &str = "internal";

/// How long a follower waits to apply what the leader's answer reflects before it answers the
/// broker anyway (the broker's next registration comes in 30 s).
const APPLY_WAIT: Duration = Duration::from_secs(3);

/// How long a broker request waits for a leader to be known (for a moment after a start or an
/// election no node knows one), checking every `LEADER_POLL`: a broker that is refused tries
/// again only at its next period, 30 s later for a registration.
const LEADER_WAIT: Duration = Duration::from_secs(3);
const LEADER_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct NameServer {
    node: Node,
    brokers: BrokerRequests,
}

impl NameServer {
    pub fn new(node: Node, brokers: BrokerRequests) -> Self {
        NameServer { node, brokers }
    }

    /// A broker request: the leader's answer, from this node when it leads, else forwarded to
    /// the leader and passed on once this node has applied it.
    async fn answer_by_leader(&self, request: &RemotingCommand) -> RemotingCommand {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            if self.node.is_leader() {
                return self.brokers.answer_as_leader(request).await.0;
            }
            if let Some(leader) = crate::member_api::leader_peer_addr(&self.node) {
                return self.forward(&leader, request).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return registration::refused("no Pharos leader is known right now; register again later");
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }

    async fn forward(&self, leader: &str, request: &RemotingCommand) -> RemotingCommand {
        let forwarded = crate::member_api::forward_remoting(leader, codec::encode(request)).await;
        let answer = match forwarded {
            Ok(answer) => answer,
            Err(status) => {
                tracing::debug!(%leader, code = ?status.code(), message = status.message(), "remoting: forwarding failed");
                return registration::refused(format!("the Pharos leader did not answer: {}", status.message()));
            }
        };
        let reply = match codec::try_decode(&answer.frame, FrameLimits::default()) {
            Ok(Some((reply, _))) => reply,
            _ => return registration::refused("the Pharos leader's answer could not be read"),
        };
        let mut applied = self.node.state_machine.subscribe();
        let caught_up = applied.wait_for(|index| *index >= answer.applied_index);
        if tokio::time::timeout(APPLY_WAIT, caught_up).await.is_err() {
            tracing::debug!(index = answer.applied_index, "remoting: answering before applying the leader's answer");
        }
        reply
    }
}

impl Handler for NameServer {
    async fn handle(&self, request: &RemotingCommand) -> RemotingCommand {
        if is_leader_request(request) {
            if !self.brokers.open {
                return registration::registration_closed();
            }
            return self.answer_by_leader(request).await;
        }
        if controller::is_controller_request(request) {
            if !self.brokers.open {
                return registration::registration_closed();
            }
            return match controller::parse(request, REMOTING_NETWORK) {
                Ok(parsed) => self.brokers.answer_controller_read(&parsed),
                Err(reason) => controller::invalid(reason),
            };
        }
        // The answer is built under the read lock and nothing is awaited while it is held.
        let applied = self.node.state_machine.read();
        let applied_index = applied.last_applied.as_ref().map(|log_id| log_id.index);
        if let Err(reason) = namesrv::availability(self.node.fence.fenced_by(), applied_index) {
            return namesrv::unavailable(reason);
        }
        namesrv::answer(&applied.state, REMOTING_NETWORK, request)
    }
}

/// The leader's side of what brokers send about themselves. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrokerRequests {
    node: Node,
    runtime: BrokerRuntime,
    /// Whether this node accepts them at all (`--remoting-open-registration`).
    pub open: bool,
    /// One broker request at a time: a broker registers with every node at once, and the
    /// copies a follower forwards must find the record the first one committed instead of
    /// proposing it again.
    serial: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl BrokerRequests {
    pub fn new(node: Node, runtime: BrokerRuntime, open: bool) -> Self {
        BrokerRequests { node, runtime, open, serial: Default::default() }
    }

    /// Answers a broker request as the leader: the reply, and the log index it reflects (which
    /// a follower applies before passing the reply on).
    pub async fn answer_as_leader(&self, request: &RemotingCommand) -> (RemotingCommand, u64) {
        if controller::is_controller_request(request) {
            return self.answer_controller(request).await;
        }
        let parsed = match registration::parse(request, REMOTING_NETWORK) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::info!(code = request.code, %reason, "remoting: refusing a broker request");
                return (registration::refused(reason), 0);
            }
        };
        let _serial = self.serial.lock().await;
        let group = match &parsed {
            BrokerRequest::Register { registration, .. } => &registration.group,
            BrokerRequest::RegisterTopic { group, .. } | BrokerRequest::Alive { group, .. } => group,
            BrokerRequest::Unregister(key) => &key.group,
        };
        let mode = {
            let applied = self.node.state_machine.read();
            applied
                .state
                .groups
                .get(group)
                .filter(|record| !record.members.is_empty())
                .map(|record| record.election_mode)
        };
        if mode == Some(ElectionMode::Controlled) {
            return self.answer_for_controlled(parsed).await;
        }
        match parsed {
            BrokerRequest::Register { registration, topics } => {
                let (reply, index) = self.register(registration.clone()).await;
                if reply.code != SUCCESS || topics.is_empty() {
                    return (reply, index);
                }
                let master = Some(registration.incarnation_id.as_str());
                let reported = self.report_topics(&registration.group, master, &topics).await;
                (reply, reported.unwrap_or(index).max(index))
            }
            BrokerRequest::RegisterTopic { group, topic } => {
                if mode != Some(ElectionMode::Declared) {
                    return (registration::refused(format!("no broker group {group} of RocketMQ brokers")), 0);
                }
                let index = self.report_topics(&group, None, std::slice::from_ref(&topic)).await;
                (success(), index.unwrap_or(0))
            }
            BrokerRequest::Unregister(key) => self.unregister(key, true).await,
            BrokerRequest::Alive { group, address, name } => {
                self.alive(request.code, &group, &address, name.as_deref())
            }
        }
    }

    /// What a broker in controller mode sends its NameServer, in a group Pharos controls: its
    /// controller registration (1003) made it a member and its controller heartbeats keep it
    /// alive, so a registration (103) only reports the master's topics, an unregistration
    /// (104) retires the broker by its address (the master registers with the NameServer as
    /// `brokerId` 0, not by its controller id), and NameServer heartbeats change nothing.
    async fn answer_for_controlled(&self, parsed: BrokerRequest) -> (RemotingCommand, u64) {
        match parsed {
            BrokerRequest::Register { registration, topics } => {
                let (reply, index) = {
                    let applied = self.node.state_machine.read();
                    let address = &registration.incarnation_id;
                    let reply =
                        registration::registered_reply(&applied.state, &registration.group, address, REMOTING_NETWORK);
                    (reply, applied_index(&applied))
                };
                let reported =
                    self.report_topics(&registration.group, Some(&registration.incarnation_id), &topics).await;
                (reply, reported.unwrap_or(index).max(index))
            }
            BrokerRequest::RegisterTopic { group, topic } => {
                let index = self.report_topics(&group, None, std::slice::from_ref(&topic)).await;
                (success(), index.unwrap_or(0))
            }
            BrokerRequest::Unregister(key) => self.unregister(key, false).await,
            BrokerRequest::Alive { .. } => (success(), self.applied()),
        }
    }

    async fn register(&self, registration: pharos_meta::Registration) -> (RemotingCommand, u64) {
        if let Some(answer) = self.renew(&registration) {
            return answer;
        }
        // Refused before proposing, so a refusal takes no log entry (`apply` checks again).
        {
            let applied = self.node.state_machine.read();
            if let Err(error) = applied.state.check_registration(&registration) {
                let index = applied_index(&applied);
                return (registration::refused(error.to_string()), index);
            }
        }
        match self.commit_registration(&registration).await {
            (Ok(()), index) => match self.renew(&registration) {
                Some(answer) => answer,
                None => (registration::refused("the registration was applied but is gone again"), index),
            },
            (Err(refusal), index) => (refusal, index),
        }
    }

    /// Commits a registration the caller checked (`State::check_registration`) and gives the
    /// new broker its first deadline; the refusal otherwise, and the log index either way.
    async fn commit_registration(
        &self,
        registration: &pharos_meta::Registration,
    ) -> (Result<(), RemotingCommand>, u64) {
        let actor = format!("remoting broker {}", registration.incarnation_id);
        match self.commit(BrokerOperation::Register(registration.clone()), actor).await {
            (Ok(Response::BrokerRegistered { broker_id, .. }), index) => {
                tracing::info!(
                    group = %registration.group,
                    rocketmq_broker_id = %registration.name,
                    address = %registration.incarnation_id,
                    mode = registration.election_mode().as_str(),
                    broker_id,
                    "remoting: broker registered"
                );
                self.runtime.registered();
                (Ok(()), index)
            }
            (Ok(other), index) => (Err(registration::refused(format!("unexpected answer {other:?}"))), index),
            (Err(refusal), index) => (Err(refusal), index),
        }
    }

    /// Commits a broker operation: the answer (a refusal or a failed write as the broker's
    /// `SYSTEM_ERROR` reply) and the log index it was applied at (0 when nothing was).
    async fn commit(&self, operation: BrokerOperation, actor: String) -> (Result<Response, RemotingCommand>, u64) {
        match self.node.write(crate::handler::command(Operation::Broker(operation), None, actor)).await {
            Ok((Response::Error(error), log_id)) => (Err(registration::refused(error.to_string())), log_id.index),
            Ok((response, log_id)) => (Ok(response), log_id.index),
            Err(error) => (Err(registration::refused(error.to_string())), 0),
        }
    }

    /// Commits the topics of `reported` that `group`'s active master serves and the state does
    /// not hold yet (`State::topic_report`): nothing when a broker reports what it did before,
    /// and nothing from a replica. `master`, when given, is the address the reporting broker
    /// registered from; it must be the master's. Returns the entry's log index.
    async fn report_topics(&self, group: &str, master: Option<&str>, reported: &[ReportedTopic]) -> Option<u64> {
        let changed = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            let (active_master, _) = state.serving_brokers(group);
            let by_master =
                active_master.is_some_and(|broker| master.is_none_or(|address| broker.incarnation_id == address));
            if !by_master {
                return None;
            }
            state.topic_report(group, reported)
        };
        if changed.is_empty() {
            return None;
        }
        let names = changed.len();
        let operation = TopicOperation::Report { group: group.to_string(), topics: changed };
        let actor = format!("remoting broker group {group}");
        match self.node.write(crate::handler::command(Operation::Topic(operation), None, actor)).await {
            Ok((Response::TopicChanged { .. }, log_id)) => {
                tracing::info!(%group, topics = names, "remoting: topics reported by a broker joined the topics");
                Some(log_id.index)
            }
            Ok((answer, log_id)) => {
                tracing::warn!(%group, ?answer, "remoting: a broker's topic report was refused");
                Some(log_id.index)
            }
            Err(error) => {
                tracing::info!(%group, %error, "remoting: cannot commit a broker's topic report; it comes again");
                None
            }
        }
    }

    /// The answer to a registration the committed state already holds, with the broker's
    /// deadline renewed; `None` when it holds no such active broker.
    fn renew(&self, registration: &pharos_meta::Registration) -> Option<(RemotingCommand, u64)> {
        let leadership = self.runtime.leadership().map_err(|error| error.to_string());
        let applied = self.node.state_machine.read();
        let index = applied_index(&applied);
        let broker = registration::registered(&applied.state, registration)?;
        Some(match self.grant(leadership, &applied.state, broker) {
            Ok(()) => {
                let address = &registration.incarnation_id;
                (registration::registered_reply(&applied.state, &registration.group, address, REMOTING_NETWORK), index)
            }
            Err(reason) => (registration::refused(reason), index),
        })
    }

    /// Renews `broker`'s deadline under `leadership` (taken before the state was read, as for a
    /// heartbeat).
    fn grant(
        &self,
        leadership: Result<pharos_dr::lease::Leadership, String>,
        state: &pharos_meta::State,
        broker: &pharos_meta::Broker,
    ) -> Result<(), String> {
        self.runtime
            .grant(leadership?, state, broker.broker_id, broker.broker_epoch, (0, 0))
            .map(|_| ())
            .map_err(|refusal| format!("{refusal}; register again"))
    }

    /// 104: retires the broker of `key` (by its name too when `by_name`).
    async fn unregister(&self, key: registration::BrokerKey, by_name: bool) -> (RemotingCommand, u64) {
        let (found, index) = {
            let applied = self.node.state_machine.read();
            let index = applied_index(&applied);
            let name = Some(key.name.as_str()).filter(|_| by_name);
            let broker = registration::find(&applied.state, &key.group, &key.address, name);
            (broker.map(|broker| (broker.broker_id, broker.broker_epoch)), index)
        };
        let Some((broker_id, broker_epoch)) = found else {
            // Unknown or gone already: as Apache, an unregistration of nothing succeeds.
            return (success(), index);
        };
        let actor = format!("remoting broker {}", key.address);
        match self.commit(BrokerOperation::Unregister { broker_id, broker_epoch }, actor).await {
            (Ok(Response::BrokerChanged { .. }), index) => {
                tracing::info!(group = %key.group, rocketmq_broker_id = %key.name, broker_id, "remoting: broker unregistered");
                self.runtime.forget(broker_id);
                (success(), index)
            }
            (Ok(other), index) => (registration::refused(format!("unexpected answer {other:?}")), index),
            (Err(refusal), index) => (refusal, index),
        }
    }

    /// 904 and 322: renew the broker's deadline. An unknown broker gets `SUCCESS` too (as from
    /// Apache's NameServer): its next registration brings it back. A 322 says `changed`, so
    /// the broker sends its full registration.
    fn alive(&self, code: i32, group: &str, address: &str, name: Option<&str>) -> (RemotingCommand, u64) {
        let leadership = self.runtime.leadership().map_err(|error| error.to_string());
        let applied = self.node.state_machine.read();
        let index = applied_index(&applied);
        let mut reply = success();
        if let Some(broker) = registration::find(&applied.state, group, address, name)
            && let Err(reason) = self.grant(leadership, &applied.state, broker)
        {
            reply = registration::refused(reason);
        }
        if code == pharos_remoting::codes::request::QUERY_DATA_VERSION && reply.code == 0 {
            reply = reply.with_ext_field("changed", "true");
        }
        (reply, index)
    }
}

/// Whether the leader answers `request`: what brokers send about themselves, in NameServer and
/// in controller mode (a follower forwards it).
fn is_leader_request(request: &RemotingCommand) -> bool {
    controller::needs_leader(request)
        || (registration::is_broker_request(request.code) && !controller::is_controller_request(request))
}

fn success() -> RemotingCommand {
    RemotingCommand::response(SUCCESS, None)
}

/// The index of the last entry `applied` reflects (0 before any).
fn applied_index(applied: &pharos_replication::state_machine::Applied) -> u64 {
    applied.last_applied.as_ref().map_or(0, |log_id| log_id.index)
}

/// The leader's answer to a forwarded broker request, for `MemberService/ForwardRemoting`.
pub async fn answer_forwarded(
    brokers: &BrokerRequests,
    request: v1::ForwardRemotingRequest,
) -> Result<v1::ForwardRemotingResponse, String> {
    let command = match codec::try_decode(&request.frame, FrameLimits::default()) {
        Ok(Some((command, _))) => command,
        Ok(None) => return Err("the forwarded frame is cut short".to_string()),
        Err(error) => return Err(format!("the forwarded frame is malformed: {error}")),
    };
    if !is_leader_request(&command) {
        return Err(format!("request code {} is not forwarded", command.code));
    }
    let (reply, applied_index) = brokers.answer_as_leader(&command).await;
    Ok(v1::ForwardRemotingResponse { frame: codec::encode(&reply.answering(&command)), applied_index })
}
