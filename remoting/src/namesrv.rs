//! The NameServer read codes, answered from a `pharos_meta::State`: plain functions, no I/O.
//!
//! The mapping (docs/rocketmq.md): a RocketMQ broker name is a Pharos broker group, a cluster
//! name is the cluster its brokers registered with, broker id 0 is the group's elected master
//! and every other active member appears under its Pharos broker id (never 0: Pharos ids
//! start at 1). Who serves a group is `State::serving_brokers`, the rule `pharos topic route`
//! uses, so a RocketMQ client and the gRPC API see the same route.

use std::collections::BTreeMap;

use pharos_meta::{Broker, ElectionMode, State};

use crate::body::{BrokerData, ClusterInfo, MASTER_BROKER_ID, QueueData, TopicList, TopicRouteData};
use crate::codes::{request, response};
use crate::command::RemotingCommand;

/// The answer to `request` from `state`, with broker addresses on network `network`. The caller
/// ties it to the request ([`RemotingCommand::answering`]).
pub fn answer(state: &State, network: &str, request: &RemotingCommand) -> RemotingCommand {
    match request.code {
        request::GET_ROUTEINFO_BY_TOPIC => route_by_topic(state, network, request),
        request::GET_BROKER_CLUSTER_INFO => success(&cluster_info(state, network)),
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            success(&TopicList { topic_list: state.topics.keys().cloned().collect() })
        }
        code => not_supported(code),
    }
}

/// Why a node must not answer NameServer reads from its state at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The node has applied no log entry yet: it knows no topic, and "no such topic" would be a
    /// lie (a Java producer falls back to the auto-create route on `TOPIC_NOT_EXIST`).
    NothingApplied,
    /// A newer generation exists (a region failover went on without this node): its routes may
    /// name the old region's masters.
    Fenced { generation: u64 },
}

/// The refusal of a node that is [`Unavailable`]: `SYSTEM_ERROR`, so the client keeps the route
/// it has and asks again, instead of dropping it.
pub fn unavailable(reason: Unavailable) -> RemotingCommand {
    let remark = match reason {
        Unavailable::NothingApplied => "this Pharos node has not applied any state yet".to_string(),
        Unavailable::Fenced { generation } => {
            format!("this Pharos node is fenced by generation {generation}: ask the nodes of the current generation")
        }
    };
    RemotingCommand::response(response::SYSTEM_ERROR, Some(remark))
}

/// Whether a node with this view of itself may answer: fenced wins over everything.
pub fn availability(fenced_by: Option<u64>, applied_index: Option<u64>) -> Result<(), Unavailable> {
    if let Some(generation) = fenced_by {
        return Err(Unavailable::Fenced { generation });
    }
    match applied_index {
        None | Some(0) => Err(Unavailable::NothingApplied),
        Some(_) => Ok(()),
    }
}

/// `REQUEST_CODE_NOT_SUPPORTED`, with a remark naming the code.
pub fn not_supported(code: i32) -> RemotingCommand {
    RemotingCommand::response(
        response::REQUEST_CODE_NOT_SUPPORTED,
        Some(format!("request code {code} is not supported by Pharos (docs/rocketmq.md lists the codes it serves)")),
    )
}

fn success(body: &impl serde::Serialize) -> RemotingCommand {
    let body = serde_json::to_vec(body).expect("bodies of strings, numbers and string-keyed maps always serialize");
    RemotingCommand::response(response::SUCCESS, None).with_body(body)
}

fn route_by_topic(state: &State, network: &str, request: &RemotingCommand) -> RemotingCommand {
    let Some(topic) = request.ext_field("topic") else {
        return RemotingCommand::response(response::SYSTEM_ERROR, Some("the request has no extFields.topic".into()));
    };
    match topic_route(state, network, topic) {
        Some(route) => success(&route),
        None => RemotingCommand::response(
            response::TOPIC_NOT_EXIST,
            Some(format!("No topic route info in name server for the topic: {topic}")),
        ),
    }
}

/// The route of `topic` as RocketMQ's `TopicRouteData`, or `None` if there is no such topic.
pub fn topic_route(state: &State, network: &str, topic: &str) -> Option<TopicRouteData> {
    let route = state.route(topic)?;
    let queue_datas = route
        .groups
        .iter()
        .map(|group| QueueData {
            broker_name: group.group.clone(),
            perm: route.topic.spec.perm,
            read_queue_nums: group.queues.read,
            topic_sys_flag: 0,
            write_queue_nums: group.queues.write,
        })
        .collect();
    let broker_datas = route
        .groups
        .iter()
        .map(|group| broker_data(state, &group.group, group.master.as_ref(), group.replicas.iter(), network))
        .collect();
    Some(TopicRouteData { broker_datas, filter_server_table: BTreeMap::new(), queue_datas })
}

/// Every broker group with the brokers serving it, by cluster.
pub fn cluster_info(state: &State, network: &str) -> ClusterInfo {
    let mut info = ClusterInfo { broker_addr_table: BTreeMap::new(), cluster_addr_table: BTreeMap::new() };
    for name in state.groups.keys() {
        let (master, replicas) = state.serving_brokers(name);
        let data = broker_data(state, name, master, replicas.into_iter(), network);
        info.cluster_addr_table.entry(data.cluster.clone()).or_default().insert(name.clone());
        info.broker_addr_table.insert(name.clone(), data);
    }
    info
}

/// One group's `BrokerData`. A broker without an address on `network` is left out: a client
/// could not reach it. The cluster is the master's, else any member's (brokers of one group
/// register with the same cluster).
fn broker_data<'a>(
    state: &State,
    group: &str,
    master: Option<&'a Broker>,
    replicas: impl Iterator<Item = &'a Broker>,
    network: &str,
) -> BrokerData {
    let mut broker_addrs = BTreeMap::new();
    let replicas: Vec<&Broker> = replicas.collect();
    if let Some(address) = master.and_then(|master| master.addresses.get(network)) {
        broker_addrs.insert(MASTER_BROKER_ID, address.clone());
    }
    // RocketMQ brokers (declared or controlled masters) registered under their RocketMQ id
    // (their name); the others are known by their Pharos id, which is never 0.
    let rocketmq = state.groups.get(group).is_some_and(|group| group.election_mode != ElectionMode::Elected);
    for replica in &replicas {
        let rocketmq_id = if rocketmq { replica.name.parse().ok() } else { Some(replica.broker_id) };
        if let (Some(id), Some(address)) =
            (rocketmq_id.filter(|id| *id != MASTER_BROKER_ID), replica.addresses.get(network))
        {
            broker_addrs.insert(id, address.clone());
        }
    }
    let any_member = || {
        let members = state.groups.get(group).map(|group| group.members.iter()).into_iter().flatten();
        members.filter_map(|id| state.brokers.get(id)).next()
    };
    let cluster = master.or(replicas.first().copied()).or_else(any_member).map(|broker| broker.cluster.clone());
    BrokerData {
        broker_addrs,
        broker_name: group.to_string(),
        cluster: cluster.unwrap_or_default(),
        enable_acting_master: false,
        zone_name: master.map(|master| master.zone.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pharos_meta::topic::{MessageType, QueueCounts, Topic, TopicSpec};
    use pharos_meta::{BrokerGroup, BrokerState};

    use super::*;

    fn broker(broker_id: u64, group: &str, state: BrokerState, address: &str) -> Broker {
        Broker {
            broker_id,
            incarnation_id: format!("inc-{broker_id}"),
            cluster: "c1".into(),
            group: group.into(),
            name: format!("b{broker_id}"),
            zone: format!("z{broker_id}"),
            region: "r".into(),
            addresses: [("internal".to_string(), address.to_string())].into(),
            election_priority: 0,
            state,
            broker_epoch: broker_id,
            retired_at_ms: None,
        }
    }

    /// g1: master 1, replica 2, fenced 3; g2: member 4 without a master; topic `orders` on both.
    fn state() -> State {
        let mut state = State::default();
        for broker in [
            broker(1, "g1", BrokerState::Active, "10.0.0.1:10911"),
            broker(2, "g1", BrokerState::Active, "10.0.0.2:10911"),
            broker(3, "g1", BrokerState::Fenced, "10.0.0.3:10911"),
            broker(4, "g2", BrokerState::Active, "10.0.0.4:10911"),
        ] {
            state.brokers.insert(broker.broker_id, broker);
        }
        state.groups.insert(
            "g1".into(),
            BrokerGroup {
                name: "g1".into(),
                members: BTreeSet::from([1, 2, 3]),
                master_broker_id: Some(1),
                master_epoch: 1,
                ..BrokerGroup::default()
            },
        );
        state.groups.insert(
            "g2".into(),
            BrokerGroup { name: "g2".into(), members: BTreeSet::from([4]), ..BrokerGroup::default() },
        );
        let spec = TopicSpec {
            name: "orders".into(),
            queues: [
                ("g1".to_string(), QueueCounts { read: 4, write: 4 }),
                ("g2".into(), QueueCounts { read: 2, write: 1 }),
            ]
            .into(),
            perm: 6,
            message_type: MessageType::Normal,
            attributes: BTreeMap::new(),
        };
        state
            .topics
            .insert("orders".into(), Topic { spec, create_revision: 5, revision: 5, origin: Default::default() });
        state
    }

    fn route_request(topic: &str) -> RemotingCommand {
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 9).with_ext_field("topic", topic)
    }

    #[test]
    fn a_route_names_the_master_as_broker_zero_and_replicas_by_their_ids() {
        let reply = answer(&state(), "internal", &route_request("orders"));
        assert_eq!(reply.code, response::SUCCESS);
        assert_eq!(
            String::from_utf8(reply.body).expect("utf-8"),
            concat!(
                r#"{"brokerDatas":["#,
                r#"{"brokerAddrs":{"0":"10.0.0.1:10911","2":"10.0.0.2:10911"},"brokerName":"g1","cluster":"c1","enableActingMaster":false,"zoneName":"z1"},"#,
                r#"{"brokerAddrs":{"4":"10.0.0.4:10911"},"brokerName":"g2","cluster":"c1","enableActingMaster":false,"zoneName":""}],"#,
                r#""filterServerTable":{},"#,
                r#""queueDatas":["#,
                r#"{"brokerName":"g1","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4},"#,
                r#"{"brokerName":"g2","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":1}]}"#
            )
        );
    }

    #[test]
    fn an_unknown_topic_is_topic_not_exist_and_a_missing_topic_a_system_error() {
        let reply = answer(&state(), "internal", &route_request("nope"));
        assert_eq!(reply.code, response::TOPIC_NOT_EXIST);
        assert!(reply.remark.expect("remark").contains("nope"));
        assert!(reply.body.is_empty());
        let reply = answer(&state(), "internal", &RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 1));
        assert_eq!(reply.code, response::SYSTEM_ERROR);
    }

    #[test]
    fn brokers_without_an_address_on_the_network_are_left_out() {
        let route = topic_route(&state(), "public", "orders").expect("route");
        assert!(route.broker_datas.iter().all(|data| data.broker_addrs.is_empty()));
        assert_eq!(route.queue_datas.len(), 2, "the queues stay: the route is the same, the addresses unknown");
    }

    #[test]
    fn cluster_info_lists_every_group_under_its_cluster() {
        let reply = answer(&state(), "internal", &RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO, 1));
        assert_eq!(reply.code, response::SUCCESS);
        let info: ClusterInfo = serde_json::from_slice(&reply.body).expect("json");
        assert_eq!(
            info.cluster_addr_table,
            BTreeMap::from([("c1".to_string(), BTreeSet::from(["g1".into(), "g2".into()]))])
        );
        assert_eq!(
            info.broker_addr_table["g1"].broker_addrs,
            BTreeMap::from([(0, "10.0.0.1:10911".to_string()), (2, "10.0.0.2:10911".to_string())])
        );
    }

    #[test]
    fn the_topic_list_is_every_topic() {
        let reply =
            answer(&state(), "internal", &RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 1));
        assert_eq!(String::from_utf8(reply.body).expect("utf-8"), r#"{"topicList":["orders"]}"#);
    }

    #[test]
    fn a_fenced_or_empty_node_refuses_with_system_error() {
        assert_eq!(availability(None, Some(7)), Ok(()));
        assert_eq!(availability(None, None), Err(Unavailable::NothingApplied));
        assert_eq!(availability(None, Some(0)), Err(Unavailable::NothingApplied));
        assert_eq!(availability(Some(3), Some(7)), Err(Unavailable::Fenced { generation: 3 }));
        let refusal = unavailable(Unavailable::Fenced { generation: 3 });
        assert_eq!(refusal.code, response::SYSTEM_ERROR);
        assert!(refusal.remark.expect("remark").contains("generation 3"));
    }

    #[test]
    fn other_codes_are_not_supported() {
        for code in [request::REGISTER_BROKER, request::QUERY_DATA_VERSION, 0, -1, i32::MAX] {
            let reply = answer(&state(), "internal", &RemotingCommand::request(code, 1));
            assert_eq!(reply.code, response::REQUEST_CODE_NOT_SUPPORTED);
            assert!(reply.remark.expect("remark").contains(&code.to_string()));
        }
    }
}
