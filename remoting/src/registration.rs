//! The NameServer codes a RocketMQ broker sends about itself — `REGISTER_BROKER` (103),
//! `UNREGISTER_BROKER` (104), `BROKER_HEARTBEAT` (904), `QUERY_DATA_VERSION` (322) — read as
//! Pharos's broker model. Plain functions, no I/O: the server decides whether a request is a
//! Raft write or only liveness (docs/rocketmq.md, "Broker registration").
//!
//! The mapping: `brokerName` is the broker group, `clusterName` the cluster, the RocketMQ
//! `brokerId` (0 = master) is the broker's name, and its address (`brokerAddr`) is its
//! incarnation: the same broker restarted on the same address is the same registration, one on
//! another address is another broker. The broker's configuration says who is master
//! (`pharos_meta::DeclaredRole`), as with Apache's NameServer.

use std::collections::BTreeMap;

use pharos_meta::topic::{PERM_READ, PERM_WRITE};
use pharos_meta::{
    Broker, BrokerState, DeclaredRole, MessageType, QueueCounts, Registration, RegistrationMode, ReportedTopic, State,
    TopicSpec,
};

use crate::codes::{request, response};
use crate::command::RemotingCommand;

/// The network name of a broker's HA address (`haServerAddr`), where its replicas connect.
pub const HA_NETWORK: &str = "ha";

/// What a broker asks, in Pharos's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerRequest {
    /// 103: register, or (the same content again, every 30 s) stay alive; with the topics the
    /// broker serves, as its topic config says (only a master's count, see
    /// [`reported_topics`]).
    Register { registration: Registration, topics: Vec<ReportedTopic> },
    /// 217: a broker created a topic (`group` is the broker name of its queue data).
    RegisterTopic { group: String, topic: ReportedTopic },
    /// 104: the broker shuts down.
    Unregister(BrokerKey),
    /// 904 and 322: the broker is alive. `name` is `None` when the request does not carry the
    /// broker's id (a 322 never does).
    Alive { group: String, address: String, name: Option<String> },
}

/// Names one registration: its group, its name (the RocketMQ broker id) and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerKey {
    pub group: String,
    pub name: String,
    pub address: String,
}

/// Whether `code` is one a broker sends about itself: answered by the leader, forwarded to it
/// by a follower.
pub fn is_broker_request(code: i32) -> bool {
    matches!(
        code,
        request::REGISTER_BROKER
            | request::UNREGISTER_BROKER
            | request::BROKER_HEARTBEAT
            | request::QUERY_DATA_VERSION
            | request::REGISTER_TOPIC_IN_NAMESRV
    )
}

/// Reads a broker request; the error is the remark of a `SYSTEM_ERROR` answer. Nothing about
/// the request is trusted before this succeeds: names are checked by the same rules as a
/// registration through the Pharos API, and a registration's body must be a JSON object (the
/// broker's topic config; Pharos does not take topics from it).
pub fn parse(command: &RemotingCommand, network: &str) -> Result<BrokerRequest, String> {
    let field = |name: &str| -> Result<String, String> {
        match command.ext_field(name) {
            Some(value) if !value.is_empty() => Ok(value.to_string()),
            _ => Err(format!("the request has no extFields.{name}")),
        }
    };
    let broker_id = || -> Result<u64, String> {
        let text = field("brokerId")?;
        text.parse::<u64>().map_err(|_| format!("extFields.brokerId `{}` is not a broker id", clip(&text)))
    };
    match command.code {
        request::REGISTER_BROKER => {
            let body = check_body(command)?;
            let (group, address, cluster, broker_id) =
                (field("brokerName")?, field("brokerAddr")?, field("clusterName")?, broker_id()?);
            let mut addresses = BTreeMap::from([(network.to_string(), address.clone())]);
            if let Some(ha) = command.ext_field("haServerAddr").filter(|ha| !ha.is_empty()) {
                addresses.insert(HA_NETWORK.to_string(), ha.to_string());
            }
            let registration = Registration {
                cluster,
                group,
                name: broker_id.to_string(),
                incarnation_id: address,
                zone: command.ext_field("zoneName").unwrap_or_default().to_string(),
                region: String::new(),
                addresses,
                election_priority: 0,
                mode: RegistrationMode::Declared(if broker_id == crate::body::MASTER_BROKER_ID {
                    DeclaredRole::Master
                } else {
                    DeclaredRole::Replica
                }),
            };
            pharos_meta::broker::validate_registration(&registration).map_err(|error| error.to_string())?;
            let topics = body.as_ref().map(reported_topics).unwrap_or_default();
            Ok(BrokerRequest::Register { registration, topics })
        }
        request::REGISTER_TOPIC_IN_NAMESRV => {
            let name = field("topic")?;
            let route: serde_json::Value = serde_json::from_slice(&command.body)
                .map_err(|error| format!("the topic registration body is not JSON: {error}"))?;
            let queue = route
                .get("queueDatas")
                .and_then(serde_json::Value::as_array)
                .and_then(|queues| queues.first())
                .ok_or_else(|| "the topic registration body has no queueDatas".to_string())?;
            let group = queue
                .get("brokerName")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| "the topic registration's queue data has no brokerName".to_string())?
                .to_string();
            let topic = reported_topic(&name, queue, &group)
                .ok_or_else(|| format!("topic `{}` cannot be a Pharos topic (name, queues or perm)", clip(&name)))?;
            Ok(BrokerRequest::RegisterTopic { group, topic })
        }
        request::UNREGISTER_BROKER => Ok(BrokerRequest::Unregister(BrokerKey {
            group: field("brokerName")?,
            name: broker_id()?.to_string(),
            address: field("brokerAddr")?,
        })),
        request::BROKER_HEARTBEAT | request::QUERY_DATA_VERSION => Ok(BrokerRequest::Alive {
            group: field("brokerName")?,
            address: field("brokerAddr")?,
            name: command.ext_field("brokerId").and_then(|id| id.parse::<u64>().ok()).map(|id| id.to_string()),
        }),
        code => Err(format!("request code {code} is not a broker request")),
    }
}

/// A registration's body is the broker's topic config serialized as JSON (RocketMQ's
/// `RegisterBrokerBody`); a compressed one is RocketMQ's own deflate layout, accepted unread.
/// Either may be absent; anything else is refused before it can reach the state.
fn check_body(command: &RemotingCommand) -> Result<Option<serde_json::Value>, String> {
    if command.body.is_empty() || command.ext_field("compressed") == Some("true") {
        return Ok(None);
    }
    match serde_json::from_slice::<serde_json::Value>(&command.body) {
        Ok(body @ serde_json::Value::Object(_)) => Ok(Some(body)),
        Ok(_) => Err("the registration body is not a JSON object".to_string()),
        Err(error) => Err(format!("the registration body is not JSON: {error}")),
    }
}

/// The topics of a registration body (`topicConfigSerializeWrapper.topicConfigTable`) that
/// Pharos can hold, by name, at most `limits::REPORTED_TOPICS_MAX`. A RocketMQ permission's
/// inherit bit (1) is dropped; a topic whose name, queue counts or permission Pharos cannot
/// represent is left out (and logged at `debug`).
pub fn reported_topics(body: &serde_json::Value) -> Vec<ReportedTopic> {
    let table = body
        .get("topicConfigSerializeWrapper")
        .and_then(|wrapper| wrapper.get("topicConfigTable"))
        .and_then(serde_json::Value::as_object);
    let mut topics: Vec<ReportedTopic> = table
        .into_iter()
        .flatten()
        .filter_map(|(name, config)| {
            let topic = reported_topic(name, config, "group");
            if topic.is_none() {
                tracing::debug!(topic = %clip(name), "remoting: a reported topic Pharos cannot hold is left out");
            }
            topic
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics.truncate(pharos_meta::limits::REPORTED_TOPICS_MAX);
    topics
}

/// One topic of a broker's config (or a topic registration's queue data), if Pharos can hold
/// it on one group.
fn reported_topic(name: &str, config: &serde_json::Value, group: &str) -> Option<ReportedTopic> {
    let number = |key: &str| config.get(key).and_then(serde_json::Value::as_u64).and_then(|n| u32::try_from(n).ok());
    let queues = QueueCounts { read: number("readQueueNums")?, write: number("writeQueueNums")? };
    let perm = number("perm")? & (PERM_READ | PERM_WRITE);
    let spec = TopicSpec {
        name: name.to_string(),
        queues: BTreeMap::from([(group.to_string(), queues)]),
        perm,
        message_type: MessageType::Normal,
        attributes: BTreeMap::new(),
    };
    pharos_meta::topic::validate_spec_shape(&spec).ok()?;
    Some(ReportedTopic { name: name.to_string(), queues, perm })
}

/// The active broker of `group` registered from `address` (under `name`, when given).
pub fn find<'a>(state: &'a State, group: &str, address: &str, name: Option<&str>) -> Option<&'a Broker> {
    let members = state.groups.get(group)?.members.iter();
    members.filter_map(|id| state.brokers.get(id)).find(|broker| {
        broker.state == BrokerState::Active
            && broker.incarnation_id == address
            && name.is_none_or(|name| broker.name == name)
    })
}

/// The active broker a registration would be answered from without a write: the same group,
/// name and address. Anything else it says (zone, HA address) is taken only by a new
/// registration, as for a retried registration through the Pharos API.
pub fn registered<'a>(state: &'a State, registration: &Registration) -> Option<&'a Broker> {
    find(state, &registration.group, &registration.incarnation_id, Some(&registration.name))
}

/// The answer to a registration from `address` that `state` holds: `SUCCESS`, and for a
/// broker that is not its group's active master, the master's address (`masterAddr`) and HA
/// address (`haServerAddr`, when it registered one). No body: the Rust broker reads a body as
/// a `KVTable`.
pub fn registered_reply(state: &State, group: &str, address: &str, network: &str) -> RemotingCommand {
    let mut reply = RemotingCommand::response(response::SUCCESS, None);
    let (master, _) = state.serving_brokers(group);
    if let Some(master) = master.filter(|master| master.incarnation_id != address) {
        if let Some(address) = master.addresses.get(network) {
            reply = reply.with_ext_field("masterAddr", address.clone());
        }
        if let Some(ha) = master.addresses.get(HA_NETWORK) {
            reply = reply.with_ext_field("haServerAddr", ha.clone());
        }
    }
    reply
}

/// A `SYSTEM_ERROR` with `remark`: the broker logs it and tries again at its next period.
pub fn refused(remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(response::SYSTEM_ERROR, Some(remark.into()))
}

/// The answer to a broker request on a node that does not accept them (`NO_PERMISSION`).
pub fn registration_closed() -> RemotingCommand {
    RemotingCommand::response(
        response::NO_PERMISSION,
        Some(
            "this Pharos node does not accept broker registrations over the remoting port \
             (start it with --remoting-open-registration; docs/rocketmq.md)"
                .to_string(),
        ),
    )
}

/// At most 128 characters of echoed input, so a remark stays readable.
fn clip(text: &str) -> String {
    text.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(fields: &[(&str, &str)]) -> RemotingCommand {
        let mut command = RemotingCommand::request(request::REGISTER_BROKER, 1);
        for (key, value) in fields {
            command = command.with_ext_field(key, *value);
        }
        command
    }

    const MASTER: [(&str, &str); 5] = [
        ("brokerName", "broker-a"),
        ("brokerAddr", "127.0.0.1:10911"),
        ("clusterName", "DefaultCluster"),
        ("brokerId", "0"),
        ("haServerAddr", "127.0.0.1:10912"),
    ];

    #[test]
    fn a_registration_maps_to_a_declared_broker() {
        let parsed = parse(&register(&MASTER).with_body(br#"{"topicConfigSerializeWrapper":{}}"#.to_vec()), "internal");
        let Ok(BrokerRequest::Register { registration, topics }) = parsed else { panic!("{parsed:?}") };
        assert!(topics.is_empty(), "a wrapper without a topic table reports no topics");
        assert_eq!(
            registration,
            Registration {
                cluster: "DefaultCluster".into(),
                group: "broker-a".into(),
                name: "0".into(),
                incarnation_id: "127.0.0.1:10911".into(),
                zone: String::new(),
                region: String::new(),
                addresses: BTreeMap::from([
                    ("ha".to_string(), "127.0.0.1:10912".to_string()),
                    ("internal".to_string(), "127.0.0.1:10911".to_string()),
                ]),
                election_priority: 0,
                mode: RegistrationMode::Declared(DeclaredRole::Master),
            }
        );
        let mut slave = MASTER;
        slave[3] = ("brokerId", "2");
        let Ok(BrokerRequest::Register { registration, .. }) = parse(&register(&slave), "internal") else { panic!() };
        assert_eq!(
            (registration.name.as_str(), registration.mode),
            ("2", RegistrationMode::Declared(DeclaredRole::Replica))
        );
    }

    #[test]
    fn malformed_registrations_are_refused_with_the_reason() {
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields, &[u8], &str); 6] = [
            (&MASTER[1..], b"", "brokerName"),
            (&MASTER[..3], b"", "brokerId"),
            (&[MASTER[0], MASTER[1], MASTER[2], ("brokerId", "-1")], b"", "not a broker id"),
            (&[("brokerName", "bad name"), MASTER[1], MASTER[2], MASTER[3]], b"", "group"),
            (&[MASTER[0], ("brokerAddr", "nowhere"), MASTER[2], MASTER[3]], b"", "host:port"),
            (&MASTER, b"{not json", "not JSON"),
        ];
        for (fields, body, expected) in cases {
            let error = parse(&register(fields).with_body(body.to_vec()), "internal").expect_err("refused");
            assert!(error.contains(expected), "{error} should mention {expected}");
        }
        assert!(parse(&register(&MASTER).with_body(b"[1]".to_vec()), "internal").is_err());
    }

    #[test]
    fn heartbeats_and_unregistrations_name_the_broker() {
        let mut heartbeat = RemotingCommand::request(request::BROKER_HEARTBEAT, 1);
        for (key, value) in &MASTER[..3] {
            heartbeat = heartbeat.with_ext_field(key, *value);
        }
        assert_eq!(
            parse(&heartbeat, "internal"),
            Ok(BrokerRequest::Alive { group: "broker-a".into(), address: "127.0.0.1:10911".into(), name: None })
        );
        let mut unregister = RemotingCommand::request(request::UNREGISTER_BROKER, 1);
        for (key, value) in &MASTER[..4] {
            unregister = unregister.with_ext_field(key, *value);
        }
        assert_eq!(
            parse(&unregister, "internal"),
            Ok(BrokerRequest::Unregister(BrokerKey {
                group: "broker-a".into(),
                name: "0".into(),
                address: "127.0.0.1:10911".into()
            }))
        );
        assert!(is_broker_request(request::QUERY_DATA_VERSION) && !is_broker_request(request::GET_ROUTEINFO_BY_TOPIC));
    }

    #[test]
    fn a_masters_topic_config_and_a_topic_registration_become_reported_topics() {
        let body = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{
            "TBW102":{"topicName":"TBW102","readQueueNums":8,"writeQueueNums":8,"perm":7},
            "orders":{"topicName":"orders","readQueueNums":4,"writeQueueNums":2,"perm":6},
            "bad name":{"readQueueNums":1,"writeQueueNums":1,"perm":6},
            "empty":{"readQueueNums":0,"writeQueueNums":0,"perm":6},
            "huge":{"readQueueNums":100000,"writeQueueNums":1,"perm":6},
            "no-counts":{"perm":6}},"dataVersion":{"counter":0}},"filterServerList":[]}"#;
        let Ok(BrokerRequest::Register { topics, .. }) = parse(&register(&MASTER).with_body(body.to_vec()), "internal")
        else {
            panic!("parses")
        };
        assert_eq!(
            topics,
            vec![
                ReportedTopic { name: "TBW102".into(), queues: QueueCounts { read: 8, write: 8 }, perm: 6 },
                ReportedTopic { name: "orders".into(), queues: QueueCounts { read: 4, write: 2 }, perm: 6 },
            ],
            "sorted by name, the inherit bit dropped, what Pharos cannot hold left out"
        );
        let route = br#"{"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}],"brokerDatas":[],"filterServerTable":{},"topicQueueMappingInfo":null}"#;
        let command = RemotingCommand::request(request::REGISTER_TOPIC_IN_NAMESRV, 3)
            .with_ext_field("topic", "interop-t1")
            .with_body(route.to_vec());
        assert_eq!(
            parse(&command, "internal"),
            Ok(BrokerRequest::RegisterTopic {
                group: "broker-a".into(),
                topic: ReportedTopic { name: "interop-t1".into(), queues: QueueCounts { read: 4, write: 4 }, perm: 6 },
            })
        );
        let no_queues = command.clone().with_body(br#"{"queueDatas":[]}"#.to_vec());
        assert!(parse(&no_queues, "internal").expect_err("refused").contains("queueDatas"));
        let bad_name = command.with_ext_field("topic", "bad name");
        assert!(parse(&bad_name, "internal").expect_err("refused").contains("cannot be a Pharos topic"));
    }
}
