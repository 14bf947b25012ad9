//! The RocketMQ remoting port on a real `pharos serve` process (docs/rocketmq.md): NameServer
//! reads in both header encodings give the routes and broker groups the gRPC API reports;
//! unknown codes, unknown topics and bad frames get RocketMQ's answers; a bad frame closes only
//! its own connection and writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, v1};
use pharos_remoting::body::{BrokerData, ClusterInfo, QueueData, TopicList, TopicRouteData};
use pharos_remoting::codes::{request, response};
use pharos_remoting::{FrameLimits, RemotingCommand, SerializeType, codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);
/// How long one reply (or the close of a connection) may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

fn options() -> ClusterOptions {
    ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters: 1, ..ClusterOptions::default() }
}

/// A RocketMQ client connection, just enough for the NameServer codes.
struct RemotingClient {
    stream: TcpStream,
    received: Vec<u8>,
    next_opaque: i32,
}

impl RemotingClient {
    async fn connect(address: &str) -> RemotingClient {
        let stream = TcpStream::connect(address).await.expect("connect to the remoting port");
        RemotingClient { stream, received: Vec::new(), next_opaque: 1 }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next reply, or `None` once the server closed the connection.
    async fn reply(&mut self) -> Option<RemotingCommand> {
        loop {
            if let Some((command, used)) =
                codec::try_decode(&self.received, FrameLimits::default()).expect("a valid reply")
            {
                self.received.drain(..used);
                return Some(command);
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut chunk)).await.expect("reply in time");
            match read {
                Ok(0) => return None,
                Ok(bytes) => self.received.extend_from_slice(&chunk[..bytes]),
                // The server closed with our bytes unread: a close too.
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("read: {error}"),
            }
        }
    }

    async fn call(&mut self, code: i32, ext: &[(&str, &str)], serialize_type: SerializeType) -> RemotingCommand {
        self.call_as(code, ext, Vec::new(), serialize_type).await
    }

    async fn call_with_body(&mut self, code: i32, ext: &[(&str, &str)], body: Vec<u8>) -> RemotingCommand {
        self.call_as(code, ext, body, SerializeType::Json).await
    }

    /// Sends a request and reads its reply, checking what every reply must carry.
    async fn call_as(
        &mut self,
        code: i32,
        ext: &[(&str, &str)],
        body: Vec<u8>,
        serialize_type: SerializeType,
    ) -> RemotingCommand {
        let mut command = RemotingCommand::request(code, self.next_opaque).with_body(body);
        self.next_opaque += 1;
        for (key, value) in ext {
            command = command.with_ext_field(key, *value);
        }
        self.send_raw(&codec::encode_as(&command, serialize_type)).await;
        let reply = self.reply().await.expect("a reply, not a close");
        assert_eq!(reply.opaque, command.opaque, "the reply carries the request's opaque");
        assert!(reply.is_response(), "the response flag is set");
        assert_eq!(reply.serialize_type, SerializeType::Json, "replies are JSON");
        reply
    }

    async fn route(&mut self, topic: &str, serialize_type: SerializeType) -> RemotingCommand {
        self.call(request::GET_ROUTEINFO_BY_TOPIC, &[("topic", topic)], serialize_type).await
    }
}

/// The `TopicRouteData` a RocketMQ client must get for the route the gRPC API reports.
fn expected_route(route: &v1::RouteInfo, cluster: &str, zone_of: &BTreeMap<u64, String>) -> TopicRouteData {
    let mut broker_datas = Vec::new();
    let mut queue_datas = Vec::new();
    for group in &route.groups {
        queue_datas.push(QueueData {
            broker_name: group.group.clone(),
            perm: route.perm,
            read_queue_nums: group.read_queues,
            topic_sys_flag: 0,
            write_queue_nums: group.write_queues,
        });
        let mut broker_addrs: BTreeMap<u64, String> =
            group.replicas.iter().map(|replica| (replica.broker_id, replica.address.clone())).collect();
        if let Some(master) = &group.master {
            broker_addrs.insert(0, master.address.clone());
        }
        broker_datas.push(BrokerData {
            broker_addrs,
            broker_name: group.group.clone(),
            cluster: cluster.to_string(),
            enable_acting_master: false,
            zone_name: group.master.as_ref().map(|master| zone_of[&master.broker_id].clone()).unwrap_or_default(),
        });
    }
    TopicRouteData { broker_datas, filter_server_table: BTreeMap::new(), queue_datas }
}

async fn wait_for_group(client: &Client, group: &str, members: usize) -> v1::BrokerGroupView {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get_broker_group(group, v1::Consistency::Linearizable).await
            && let Some(view) = response.group
            && view.master_broker_id.is_some()
            && view.brokers.iter().filter(|broker| broker.state() == v1::BrokerState::Active).count() == members
        {
            return view;
        }
        assert!(Instant::now() < deadline, "{group} never got a master and {members} active brokers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rocketmq_clients_read_the_routes_and_groups_the_grpc_api_reports() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options()).await.expect("node starts");
        let client = cluster.client();
        let _first = cluster
            .spawn_broker("g1", "broker-a", &["--address", "internal=127.0.0.1:10911", "--priority", "5"])
            .expect("broker a");
        let _second = cluster.spawn_broker("g1", "broker-b", &["--address", "internal=127.0.0.1:10921"]).expect("broker b");
        let view = wait_for_group(&client, "g1", 2).await;
        let topic = v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 }],
            ..Default::default()
        };
        client.create_topic(topic).await.expect("create topic");
        let api_route = client
            .get_route("orders", "", v1::Consistency::Linearizable)
            .await
            .expect("route")
            .route
            .expect("a route");
        assert!(api_route.groups[0].master.is_some() && !api_route.groups[0].replicas.is_empty(), "{api_route:?}");
        let cluster_name = view.brokers[0].cluster.clone();
        let zone_of = view.brokers.iter().map(|broker| (broker.broker_id, broker.zone.clone())).collect();
        let expected = expected_route(&api_route, &cluster_name, &zone_of);

        let mut remoting = RemotingClient::connect(&cluster.nodes[0].remoting_addr).await;
        for serialize_type in [SerializeType::Json, SerializeType::Binary] {
            let reply = remoting.route("orders", serialize_type).await;
            assert_eq!(reply.code, response::SUCCESS, "{serialize_type:?}: {:?}", reply.remark);
            let route: TopicRouteData = serde_json::from_slice(&reply.body).expect("TopicRouteData");
            assert_eq!(route, expected, "{serialize_type:?}: the route the gRPC API reports");
            let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
            for field in ["filterServerTable", "brokerDatas", "queueDatas"] {
                assert!(json.get(field).is_some(), "{field} is always written");
            }
            assert_eq!(json["brokerDatas"][0]["enableActingMaster"], false);
            assert_eq!(json["queueDatas"][0]["topicSysFlag"], 0);

            let missing = remoting.route("no-such-topic", serialize_type).await;
            assert_eq!(missing.code, response::TOPIC_NOT_EXIST, "{serialize_type:?}");
            assert!(missing.remark.is_some_and(|remark| remark.contains("no-such-topic")));

            let unknown = remoting.call(9_999, &[], serialize_type).await;
            assert_eq!(unknown.code, response::REQUEST_CODE_NOT_SUPPORTED, "{serialize_type:?}");
            assert!(unknown.remark.is_some_and(|remark| remark.contains("9999")));
        }

        // A header exactly as the Java client writes it.
        let java = br#"{"code":105,"extFields":{"topic":"orders"},"flag":0,"language":"JAVA","opaque":77,"serializeTypeCurrentRPC":"JSON","version":453}"#;
        let mut frame = ((4 + java.len()) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&(java.len() as u32).to_be_bytes());
        frame.extend_from_slice(java);
        remoting.send_raw(&frame).await;
        let reply = remoting.reply().await.expect("reply");
        assert_eq!((reply.code, reply.opaque), (response::SUCCESS, 77));
        assert_eq!(serde_json::from_slice::<TopicRouteData>(&reply.body).expect("route"), expected);

        let reply = remoting.call(request::GET_BROKER_CLUSTER_INFO, &[], SerializeType::Json).await;
        assert_eq!(reply.code, response::SUCCESS);
        let info: ClusterInfo = serde_json::from_slice(&reply.body).expect("ClusterInfo");
        assert_eq!(info.cluster_addr_table, BTreeMap::from([(cluster_name.clone(), BTreeSet::from(["g1".to_string()]))]));
        assert_eq!(info.broker_addr_table["g1"], expected.broker_datas[0], "the route's broker data");

        let reply = remoting.call(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &[], SerializeType::Binary).await;
        let list: TopicList = serde_json::from_slice(&reply.body).expect("TopicList");
        assert_eq!(list.topic_list, BTreeSet::from(["orders".to_string()]));
    })
    .await
    .expect("test finished in time");
}

/// The last log index once it has stopped moving (start-up writes its membership record).
async fn settled_last_log_index(client: &Client) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut last = client.status().await.expect("status").last_log_index;
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = client.status().await.expect("status").last_log_index;
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "the log never settled");
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_frames_close_only_their_connection_and_write_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options()).await.expect("node starts");
        let client = cluster.client();
        let address = cluster.nodes[0].remoting_addr.clone();
        let before = settled_last_log_index(&client).await;
        let mut bystander = RemotingClient::connect(&address).await;
        assert_eq!(bystander.route("t", SerializeType::Json).await.code, response::TOPIC_NOT_EXIST);

        let oversized = (16i32 * 1024 * 1024).to_be_bytes();
        let mut truncated = 100i32.to_be_bytes().to_vec();
        truncated.extend_from_slice(&[0, 0, 0, 2, b'{', b'}']);
        let bad_frames: [(&str, Vec<u8>); 5] = [
            ("an oversized frame", oversized.to_vec()),
            ("a negative length", (-5i32).to_be_bytes().to_vec()),
            ("an unknown serialize type", [0, 0, 0, 6, 9, 0, 0, 2, b'{', b'}'].to_vec()),
            ("a header that is not JSON", [0, 0, 0, 7, 0, 0, 0, 3, b'x', b'y', b'z'].to_vec()),
            ("a truncated frame", truncated),
        ];
        for (what, bytes) in bad_frames {
            let mut bad = RemotingClient::connect(&address).await;
            bad.send_raw(&bytes).await;
            if what == "a truncated frame" {
                bad.stream.shutdown().await.expect("half-close");
            }
            assert!(bad.reply().await.is_none(), "{what}: the connection is closed without a reply");
            let mut fresh = RemotingClient::connect(&address).await;
            assert_eq!(fresh.route("t", SerializeType::Binary).await.code, response::TOPIC_NOT_EXIST, "after {what}");
        }
        assert_eq!(bystander.route("t", SerializeType::Json).await.code, response::TOPIC_NOT_EXIST, "untouched");

        let status = client.status().await.expect("the node is alive");
        assert_eq!(status.last_log_index, before, "bad remoting input took log entries");

        // A close is counted just after the peer sees it: poll, bounded.
        let deadline = Instant::now() + WAIT;
        let metrics = loop {
            let metrics = metrics_of(&cluster.nodes[0].http_addr).await;
            if metric(&metrics, "pharos_remoting_connections_closed_malformed_total") >= 5 || Instant::now() > deadline
            {
                break metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let closed = metric(&metrics, "pharos_remoting_connections_closed_malformed_total");
        assert_eq!(closed, 5, "every bad frame's connection is counted once:\n{metrics}");
        assert!(metric(&metrics, "pharos_remoting_requests_total") >= 7, "{metrics}");
    })
    .await
    .expect("test finished in time");
}

/// `GET /metrics` of a node's HTTP port (plain HTTP/1.1 on loopback), the whole response.
async fn metrics_of(address: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect to the HTTP port");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(REPLY_TIMEOUT, stream.read_to_string(&mut response)).await.expect("in time").expect("read");
    response
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    let prefix = format!("{name} ");
    let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("no {name}:\n{text}"));
    line[prefix.len()..].trim().parse().unwrap_or_else(|_| panic!("{name} is not a number: {line}"))
}

/// The ext fields of a rocketmq-rust 1.0.0 broker's `REGISTER_BROKER`, exactly as it sends them.
fn registration_fields<'a>(
    group: &'a str,
    rocketmq_id: &'a str,
    address: &'a str,
    ha: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("bodyCrc32", "636404587"),
        ("brokerAddr", address),
        ("brokerId", rocketmq_id),
        ("brokerName", group),
        ("clusterName", "DefaultCluster"),
        ("compressed", "false"),
        ("enableActingMaster", "false"),
        ("haServerAddr", ha),
    ]
}

/// A registration body as the broker sends it; `flip` reorders its topic table (the broker's is
/// a hash map: every registration orders it anew).
fn registration_body(flip: bool) -> Vec<u8> {
    let topics = [
        r#""TBW102":{"topicName":"TBW102","readQueueNums":8,"writeQueueNums":8,"perm":7,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false,"attributes":{}}"#,
        r#""SELF_TEST_TOPIC":{"topicName":"SELF_TEST_TOPIC","readQueueNums":1,"writeQueueNums":1,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false,"attributes":{}}"#,
    ];
    let table = if flip { format!("{},{}", topics[1], topics[0]) } else { topics.join(",") };
    format!(
        r#"{{"topicConfigSerializeWrapper":{{"topicQueueMappingInfoMap":{{}},"topicQueueMappingDetailMap":{{}},"mappingDataVersion":{{"stateVersion":0,"timestamp":0,"counter":0}},"topicConfigTable":{{{table}}},"dataVersion":{{"stateVersion":0,"timestamp":0,"counter":0}}}},"filterServerList":[]}}"#
    )
    .into_bytes()
}

async fn group_of(client: &Client, name: &str) -> v1::BrokerGroupView {
    client.get_broker_group(name, v1::Consistency::Linearizable).await.expect("group").group.expect("a group")
}

async fn topic_of(client: &Client, name: &str) -> v1::TopicInfo {
    client.get_topic(name, v1::Consistency::Linearizable).await.expect(name).topic.expect(name)
}

/// Every node's routes for `topic` over remoting, once they all name `expected` as the
/// broker addresses of `group`.
async fn wait_for_route_everywhere(
    clients: &mut [RemotingClient],
    topic: &str,
    group: &str,
    expected: &BTreeMap<u64, String>,
) {
    let deadline = Instant::now() + WAIT;
    for (node, client) in clients.iter_mut().enumerate() {
        loop {
            let reply = client.route(topic, SerializeType::Json).await;
            let addresses = (reply.code == response::SUCCESS)
                .then(|| serde_json::from_slice::<TopicRouteData>(&reply.body).expect("route"))
                .and_then(|route| route.broker_datas.into_iter().find(|data| data.broker_name == group))
                .map(|data| data.broker_addrs);
            if addresses.as_ref() == Some(expected) {
                break;
            }
            assert!(Instant::now() < deadline, "node {node} never routed {group} to {expected:?}: {addresses:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rocketmq_brokers_register_with_every_node_and_re_registering_writes_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions {
            binary: env!("CARGO_BIN_EXE_pharos").into(),
            voters: 3,
            extra_args: vec!["--remoting-broker-timeout-ms=4000".to_string()],
            ..ClusterOptions::default()
        };
        let cluster = Cluster::start(options).await.expect("cluster starts");
        let client = cluster.client();
        let mut nodes = Vec::new();
        for node in &cluster.nodes {
            nodes.push(RemotingClient::connect(&node.remoting_addr).await);
        }
        let master = registration_fields("broker-a", "0", "127.0.0.1:20911", "192.0.2.2:20912");
        let slave = registration_fields("broker-a", "1", "127.0.0.1:20921", "192.0.2.2:20922");
        // As a broker does: the same registration to every node at once.
        for node in &mut nodes {
            let reply = node.call_with_body(request::REGISTER_BROKER, &master, registration_body(false)).await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
            assert_eq!(reply.ext_field("masterAddr"), None, "a master is told of no master");
        }
        for node in &mut nodes {
            let reply = node.call_with_body(request::REGISTER_BROKER, &slave, registration_body(true)).await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
            assert_eq!(reply.ext_field("masterAddr"), Some("127.0.0.1:20911"), "a slave learns its master");
            assert_eq!(reply.ext_field("haServerAddr"), Some("192.0.2.2:20912"));
        }
        let topic = v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "broker-a".into(), read_queues: 4, write_queues: 4 }],
            ..Default::default()
        };
        client.create_topic(topic).await.expect("create topic");
        let both = BTreeMap::from([(0, "127.0.0.1:20911".to_string()), (1, "127.0.0.1:20921".to_string())]);
        wait_for_route_everywhere(&mut nodes, "orders", "broker-a", &both).await;
        let group = group_of(&client, "broker-a").await;
        assert_eq!(group.election_mode(), v1::ElectionMode::Declared);
        // The master's topic config joined the topics (the slave's, the same, added nothing);
        // the operator's topic kept its own queues.
        for name in ["TBW102", "SELF_TEST_TOPIC"] {
            let topic = topic_of(&client, name).await;
            assert_eq!(topic.reported_by_group, "broker-a", "{topic:?}");
        }
        let tbw = topic_of(&client, "TBW102").await;
        assert_eq!((tbw.perm, tbw.queues[0].read_queues), (6, 8), "the inherit bit dropped, the broker's counts");
        let orders = topic_of(&client, "orders").await;
        assert_eq!(orders.reported_by_group, "");
        assert_eq!(group.brokers.len(), 2, "one record per broker, not one per node it registered with");
        assert_eq!(group.master_epoch, 1);

        // Re-registrations (every 30 s from a real broker, to every node): liveness, no entry.
        let before = settled_last_log_index(&client).await;
        for round in 0..3 {
            for node in &mut nodes {
                for fields in [&master, &slave] {
                    let reply =
                        node.call_with_body(request::REGISTER_BROKER, fields, registration_body(round % 2 == 0)).await;
                    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
                }
            }
        }
        // Bad registrations are refused with a reason and write nothing either.
        let mut bad_body = nodes.remove(1);
        let refused = bad_body.call_with_body(request::REGISTER_BROKER, &master, b"{not json".to_vec()).await;
        assert_eq!(refused.code, response::SYSTEM_ERROR);
        assert!(refused.remark.is_some_and(|remark| remark.contains("not JSON")));
        let no_name: Vec<_> = master.iter().copied().filter(|(key, _)| *key != "brokerName").collect();
        let refused = bad_body.call_with_body(request::REGISTER_BROKER, &no_name, Vec::new()).await;
        assert_eq!(
            (refused.code, refused.remark.as_deref()),
            (response::SYSTEM_ERROR, Some("the request has no extFields.brokerName"))
        );
        let usurper = registration_fields("broker-a", "0", "127.0.0.1:20931", "192.0.2.2:20932");
        let refused = bad_body.call_with_body(request::REGISTER_BROKER, &usurper, Vec::new()).await;
        assert_eq!(refused.code, response::SYSTEM_ERROR, "a second master while the first is active");
        assert!(refused.remark.is_some_and(|remark| remark.contains("incarnation 127.0.0.1:20911 holds this name")));
        nodes.insert(1, bad_body);
        let after_refusals = settled_last_log_index(&client).await;
        assert_eq!(after_refusals, before, "re-registrations and refusals took log entries");

        // A topic the broker created itself (217, sent to every node): one entry, then routed.
        let topic_route = br#"{"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","readQueueNums":2,"writeQueueNums":2,"perm":6,"topicSysFlag":0}],"brokerDatas":[],"filterServerTable":{},"topicQueueMappingInfo":null}"#;
        for node in &mut nodes {
            let reply = node
                .call_with_body(request::REGISTER_TOPIC_IN_NAMESRV, &[("topic", "auto-created")], topic_route.to_vec())
                .await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        }
        wait_for_route_everywhere(&mut nodes, "auto-created", "broker-a", &both).await;
        let after_topic = settled_last_log_index(&client).await;
        assert_eq!(after_topic, after_refusals + 1, "one topic registration, one entry, from whichever node");
        let after_refusals = after_topic;

        // The slave shuts down: its unregistration, sent to every node, commits once.
        let unregister = [
            ("brokerAddr", "127.0.0.1:20921"),
            ("brokerId", "1"),
            ("brokerName", "broker-a"),
            ("clusterName", "DefaultCluster"),
        ];
        for node in &mut nodes {
            let reply = node.call_with_body(request::UNREGISTER_BROKER, &unregister, Vec::new()).await;
            assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        }
        assert_eq!(settled_last_log_index(&client).await, after_refusals + 1, "one unregistration, one entry");
        let master_only = BTreeMap::from([(0, "127.0.0.1:20911".to_string())]);
        wait_for_route_everywhere(&mut nodes, "orders", "broker-a", &master_only).await;

        // The master stops registering: after the broker timeout (4 s here) it leaves the
        // routes; registering again brings it back as master at the next epoch.
        wait_for_route_everywhere(&mut nodes, "orders", "broker-a", &BTreeMap::new()).await;
        let reply = nodes[2].call_with_body(request::REGISTER_BROKER, &master, registration_body(false)).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        wait_for_route_everywhere(&mut nodes, "orders", "broker-a", &master_only).await;
        let group = group_of(&client, "broker-a").await;
        assert_eq!(group.master_epoch, 2, "the returning master is a new registration");
        // Nobody elects or fails over a group whose brokers declare the master.
        let failover = client.failover("broker-a", None, false).await.expect_err("refused");
        assert_eq!(failover.reason(), Some(v1::ErrorReason::MasterDeclared), "{failover:?}");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_does_not_open_registration_refuses_brokers_and_writes_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options =
            ClusterOptions { extra_args: vec!["--remoting-open-registration=false".to_string()], ..options() };
        let cluster = Cluster::start(options).await.expect("node starts");
        let client = cluster.client();
        let before = settled_last_log_index(&client).await;
        let mut node = RemotingClient::connect(&cluster.nodes[0].remoting_addr).await;
        let master = registration_fields("broker-a", "0", "127.0.0.1:20911", "192.0.2.2:20912");
        let reply = node.call_with_body(request::REGISTER_BROKER, &master, registration_body(false)).await;
        assert_eq!(reply.code, response::NO_PERMISSION);
        assert!(reply.remark.is_some_and(|remark| remark.contains("--remoting-open-registration")));
        assert_eq!(node.route("orders", SerializeType::Json).await.code, response::TOPIC_NOT_EXIST, "reads still work");
        assert_eq!(client.status().await.expect("status").last_log_index, before);
    })
    .await
    .expect("test finished in time");
}

/// A request code, its ext fields and body, and the code it must be refused with.
type BadRequest<'a> = (i32, Vec<(&'a str, &'a str)>, &'a [u8], i32);

/// A broker in controller mode, as the test plays it: its controller id and address.
struct ControllerBroker {
    id: u64,
    address: String,
}

/// `APPLY_BROKER_ID`'s ext fields.
fn apply_fields<'a>(id: &'a str, check: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("clusterName", "DefaultCluster"),
        ("brokerName", CONTROLLED_GROUP),
        ("appliedBrokerId", id),
        ("registerCheckCode", check),
    ]
}

/// A broker's remoting port, as far as Pharos's announcements go: every request it receives is
/// answered `SUCCESS` and passed on.
async fn broker_port() -> (String, tokio::sync::mpsc::UnboundedReceiver<RemotingCommand>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut client = RemotingClient { stream, received: Vec::new(), next_opaque: 1 };
                while let Some(request) = client.reply().await {
                    let answer = RemotingCommand::response(response::SUCCESS, None).answering(&request);
                    client.send_raw(&codec::encode(&answer)).await;
                    let _ = sender.send(request);
                }
            });
        }
    });
    (address, receiver)
}

const CONTROLLED_GROUP: &str = "broker-ctl";

impl ControllerBroker {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("clusterName", "DefaultCluster".to_string()),
            ("brokerName", CONTROLLED_GROUP.to_string()),
            ("brokerAddr", self.address.to_string()),
            ("brokerId", self.id.to_string()),
        ]
    }

    /// A 904 exactly as a rocketmq-rust 1.0.0 broker in controller mode sends it.
    async fn heartbeat(&self, node: &mut RemotingClient, epoch: Option<u64>, max_offset: u64) -> RemotingCommand {
        let mut fields = self.fields();
        let offset = max_offset.to_string();
        fields.extend([
            ("maxOffset", offset.clone()),
            ("confirmOffset", offset),
            ("storeReady", "true".to_string()),
            ("heartbeatTimeoutMills", "10000".to_string()),
            ("electionPriority", "2147483647".to_string()),
        ]);
        if let Some(epoch) = epoch {
            fields.push(("epoch", epoch.to_string()));
        }
        let ext: Vec<(&str, &str)> = fields.iter().map(|(key, value)| (*key, value.as_str())).collect();
        node.call(request::BROKER_HEARTBEAT, &ext, SerializeType::Json).await
    }

    async fn register(&self, node: &mut RemotingClient) -> RemotingCommand {
        let id = self.id.to_string();
        let ext = [
            ("clusterName", "DefaultCluster"),
            ("brokerName", CONTROLLED_GROUP),
            ("brokerId", id.as_str()),
            ("brokerAddress", self.address.as_str()),
            ("invokeTime", "0"),
        ];
        node.call(request::CONTROLLER_REGISTER_BROKER, &ext, SerializeType::Json).await
    }
}

/// The write lease of a heartbeat reply, if it carries one.
fn write_lease(reply: &RemotingCommand) -> Option<pharos_remoting::controller::WriteLease> {
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    (!reply.body.is_empty()).then(|| serde_json::from_slice(&reply.body).expect("a ControllerWriteLeaseGrant"))
}

/// The master (controller id, epoch) and sync state set (ids, epoch) of a 1003/1004/1002 reply.
fn replicas_of(reply: &RemotingCommand) -> (Option<(u64, u64)>, BTreeSet<u64>, u64) {
    let number = |key: &str| reply.ext_field(key).map(|value| value.parse::<u64>().expect(key));
    let master = number("masterBrokerId").zip(number("masterEpoch"));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("a JSON body");
    let set =
        body["syncStateSet"].as_array().expect("syncStateSet").iter().map(|id| id.as_u64().expect("id")).collect();
    let epoch = body.get("syncStateSetEpoch").and_then(serde_json::Value::as_u64).unwrap_or_default();
    (master, set, epoch)
}

async fn replica_info(node: &mut RemotingClient) -> RemotingCommand {
    node.call(request::CONTROLLER_GET_REPLICA_INFO, &[("brokerName", CONTROLLED_GROUP)], SerializeType::Json).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_mode_assigns_ids_elects_grants_write_leases_and_fails_over_after_the_lease() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions { voters: 3, ..options() };
        let cluster = Cluster::start(options).await.expect("cluster starts");
        let client = cluster.client();
        let mut nodes = Vec::new();
        for node in &cluster.nodes {
            nodes.push(RemotingClient::connect(&node.remoting_addr).await);
        }
        // 1005 on every node: exactly one says it leads (the broker takes that address).
        let deadline = Instant::now() + WAIT;
        let leader = loop {
            let mut leaders = Vec::new();
            for (index, node) in nodes.iter_mut().enumerate() {
                let reply = node.call(request::CONTROLLER_GET_METADATA_INFO, &[], SerializeType::Json).await;
                assert_eq!(reply.code, response::SUCCESS);
                if reply.ext_field("isLeader") == Some("true") {
                    leaders.push(index);
                }
            }
            if let [leader] = leaders[..] {
                break leader;
            }
            assert!(Instant::now() < deadline, "no single leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Everything below goes through a follower, which forwards to the leader.
        let follower = (leader + 1) % nodes.len();
        let node = &mut nodes[follower];
        let id_request = [("clusterName", "DefaultCluster"), ("brokerName", CONTROLLED_GROUP)];
        let reply = node.call(request::CONTROLLER_GET_NEXT_BROKER_ID, &id_request, SerializeType::Json).await;
        assert_eq!((reply.code, reply.ext_field("nextBrokerId")), (response::SUCCESS, Some("1")), "{:?}", reply.remark);
        let apply = apply_fields;
        // The second broker's port is real: Pharos announces a new master to it.
        let (second_address, mut announcements) = broker_port().await;
        let second_check = format!("{second_address};18");
        let reply = node
            .call(request::CONTROLLER_APPLY_BROKER_ID, &apply("1", "127.0.0.1:30911;17"), SerializeType::Json)
            .await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        let reply = node
            .call(request::CONTROLLER_APPLY_BROKER_ID, &apply("1", "127.0.0.1:30911;17"), SerializeType::Json)
            .await;
        assert_eq!(reply.code, response::SUCCESS, "a retried application is the same registration");
        let reply = node.call(request::CONTROLLER_GET_NEXT_BROKER_ID, &id_request, SerializeType::Json).await;
        assert_eq!(reply.ext_field("nextBrokerId"), Some("2"));
        let reply =
            node.call(request::CONTROLLER_APPLY_BROKER_ID, &apply("2", &second_check), SerializeType::Json).await;
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        let reply = node
            .call(request::CONTROLLER_APPLY_BROKER_ID, &apply("2", "127.0.0.1:30931;19"), SerializeType::Json)
            .await;
        assert_eq!(reply.code, response::CONTROLLER_BROKER_ID_INVALID, "an id another active broker holds");
        let first = ControllerBroker { id: 1, address: "127.0.0.1:30911".to_string() };
        let second = ControllerBroker { id: 2, address: second_address.clone() };

        // The first registered broker of a new group is elected at once; 1002 names it.
        let elect = [("clusterName", "DefaultCluster"), ("brokerName", CONTROLLED_GROUP), ("brokerId", "2")];
        let reply = node.call(request::CONTROLLER_ELECT_MASTER, &elect, SerializeType::Json).await;
        assert!(
            matches!(reply.code, response::SUCCESS | response::CONTROLLER_MASTER_STILL_EXIST),
            "{:?}",
            reply.remark
        );
        let (master, _, _) = replicas_of(&reply);
        let (master_id, epoch) = master.expect("a master");
        assert_eq!((master_id, epoch), (1, 1), "broker 1 registered first");
        let (master, replica) = (first, second);
        let (_, set, _) = replicas_of(&master.register(node).await);
        assert_eq!(set, BTreeSet::from([1]));

        // The master's heartbeats carry write leases with growing generations; a heartbeat of
        // another epoch, or of a replica, carries none.
        let lease = write_lease(&master.heartbeat(node, Some(epoch), 100).await).expect("a write lease");
        assert_eq!((lease.broker_id, lease.master_epoch), (1, epoch));
        assert!(lease.safety_margin_millis >= 1_000 && lease.lease_duration_millis > lease.safety_margin_millis);
        let renewed = write_lease(&master.heartbeat(node, Some(epoch), 100).await).expect("a write lease");
        assert!(renewed.generation > lease.generation, "{} then {}", lease.generation, renewed.generation);
        assert_eq!(write_lease(&master.heartbeat(node, None, 100).await), None, "no epoch, no lease");
        assert_eq!(write_lease(&replica.heartbeat(node, Some(epoch), 100).await), None, "replicas get none");

        // Pharos keeps the sync state set: the replica joins once it has caught up.
        let deadline = Instant::now() + WAIT;
        let sync_epoch = loop {
            write_lease(&master.heartbeat(node, Some(epoch), 200).await).expect("a write lease");
            replica.heartbeat(node, Some(epoch), 200).await;
            let (_, set, sync_epoch) = replicas_of(&replica_info(node).await);
            if set == BTreeSet::from([1, 2]) {
                break sync_epoch;
            }
            assert!(Instant::now() < deadline, "the replica never joined the sync state set: {set:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };

        // While both beat, nothing is written, and refused requests write nothing either.
        let before = client.status().await.expect("status").last_log_index;
        for _ in 0..5 {
            write_lease(&master.heartbeat(node, Some(epoch), 200).await).expect("a write lease");
            replica.heartbeat(node, Some(epoch), 200).await;
            let (master_now, _, _) = replicas_of(&master.register(node).await);
            assert_eq!(master_now, Some((1, epoch)), "a registration of a registered broker is an answer");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let bad: [BadRequest; 6] = [
            (
                request::CONTROLLER_APPLY_BROKER_ID,
                apply("0", "127.0.0.1:30941;1").to_vec(),
                b"",
                response::CONTROLLER_INVALID_REQUEST,
            ),
            (
                request::CONTROLLER_GET_NEXT_BROKER_ID,
                vec![("clusterName", "DefaultCluster")],
                b"",
                response::CONTROLLER_INVALID_REQUEST,
            ),
            (
                request::CONTROLLER_GET_REPLICA_INFO,
                vec![("brokerName", "nobody")],
                b"",
                response::CONTROLLER_BROKER_METADATA_NOT_EXIST,
            ),
            (
                request::CONTROLLER_ALTER_SYNC_STATE_SET,
                vec![("brokerName", CONTROLLED_GROUP), ("masterBrokerId", "1"), ("masterEpoch", "1")],
                b"{not json",
                response::CONTROLLER_INVALID_REQUEST,
            ),
            (
                request::CONTROLLER_ALTER_SYNC_STATE_SET,
                vec![("brokerName", CONTROLLED_GROUP), ("masterBrokerId", "1"), ("masterEpoch", "1")],
                br#"{"syncStateSet":[1],"syncStateSetEpoch":0}"#,
                response::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH,
            ),
            (
                request::CONTROLLER_ALTER_SYNC_STATE_SET,
                vec![("brokerName", CONTROLLED_GROUP), ("masterBrokerId", "2"), ("masterEpoch", "1")],
                br#"{"syncStateSet":[2],"syncStateSetEpoch":0}"#,
                response::CONTROLLER_INVALID_MASTER,
            ),
        ];
        for (code, ext, body, expected) in bad {
            let reply = node.call_with_body(code, &ext, body.to_vec()).await;
            assert_eq!(reply.code, expected, "code {code} {ext:?}: {:?}", reply.remark);
        }
        let declared = registration_fields("broker-a", "0", "127.0.0.1:20911", "192.0.2.2:20912");
        let reply = node.call_with_body(request::REGISTER_BROKER, &declared, registration_body(false)).await;
        assert_eq!(reply.code, response::SUCCESS);
        let foreign = [
            ("clusterName", "DefaultCluster"),
            ("brokerName", "broker-a"),
            ("brokerId", "1"),
            ("brokerAddress", "127.0.0.1:30951"),
            ("invokeTime", "0"),
        ];
        let reply = node.call(request::CONTROLLER_REGISTER_BROKER, &foreign, SerializeType::Json).await;
        assert_eq!(reply.code, response::CONTROLLER_INVALID_REQUEST, "a NameServer group is no controller's");
        let declared_entries = 2; // the registration and the topics its body reports
        write_lease(&master.heartbeat(node, Some(epoch), 200).await).expect("a write lease");
        replica.heartbeat(node, Some(epoch), 200).await;
        let after = client.status().await.expect("status").last_log_index;
        assert!(after <= before + declared_entries, "heartbeats and refusals wrote entries: {before} -> {after}");
        // A follower answers it from what it applied.
        let data = node
            .call_with_body(
                request::CONTROLLER_GET_SYNC_STATE_DATA,
                &[],
                format!("[\"{CONTROLLED_GROUP}\"]").into_bytes(),
            )
            .await;
        let data: serde_json::Value = serde_json::from_slice(&data.body).expect("BrokerReplicasInfo");
        let info = &data["replicasInfoTable"][CONTROLLED_GROUP];
        assert_eq!(
            (info["masterBrokerId"].as_u64(), info["inSyncReplicas"].as_array().map(Vec::len)),
            (Some(1), Some(2))
        );

        // The master stops: the replica is elected with epoch + 1, not before the master's last
        // lease could have run out.
        let last = master.heartbeat(node, Some(epoch), 300).await;
        let last_grant = Instant::now();
        let last_lease = write_lease(&last).expect("a write lease");
        let deadline = Instant::now() + WAIT;
        loop {
            replica.heartbeat(node, Some(epoch), 300).await;
            let (master_now, set, sync_epoch_now) = replicas_of(&replica_info(node).await);
            if let Some((new_master, new_epoch)) = master_now.filter(|(id, _)| *id != 1) {
                assert_eq!((new_master, new_epoch), (2, epoch + 1));
                assert!(sync_epoch_now > sync_epoch && set.contains(&2));
                break;
            }
            assert!(Instant::now() < deadline, "the replica was never elected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let elected_after = last_grant.elapsed();
        assert!(
            elected_after >= Duration::from_millis(last_lease.lease_duration_millis),
            "a successor {elected_after:?} after the last grant of a {} ms lease",
            last_lease.lease_duration_millis
        );
        // Pharos told the new master at once (1008), before its next 1004 poll.
        let deadline = Instant::now() + WAIT;
        let notice = loop {
            let notice = tokio::time::timeout_at(deadline.into(), announcements.recv()).await;
            let notice = notice.expect("announced in time").expect("the port is open");
            if notice.code == request::NOTIFY_BROKER_ROLE_CHANGED && notice.ext_field("masterBrokerId") == Some("2") {
                break notice;
            }
        };
        assert_eq!(notice.ext_field("masterEpoch"), Some((epoch + 1).to_string().as_str()));
        assert_eq!(notice.ext_field("masterAddress"), Some(second_address.as_str()));
        let lease = write_lease(&replica.heartbeat(node, Some(epoch + 1), 300).await).expect("the new master's lease");
        assert_eq!((lease.broker_id, lease.master_epoch), (2, epoch + 1));
        assert!(lease.generation > last_lease.generation);
        assert_eq!(write_lease(&master.heartbeat(node, Some(epoch), 300).await), None, "the old master gets no lease");
        // The old master, restarted on its store, registers again and follows the new one.
        let (master_now, _, _) = replicas_of(&master.register(node).await);
        assert_eq!(master_now, Some((2, epoch + 1)));
        let view = group_of(&client, CONTROLLED_GROUP).await;
        assert_eq!(view.election_mode(), v1::ElectionMode::Controlled);
        let active: BTreeSet<String> = view
            .brokers
            .iter()
            .filter(|broker| broker.state() == v1::BrokerState::Active)
            .map(|broker| broker.name.clone())
            .collect();
        assert_eq!(active, BTreeSet::from(["1".to_string(), "2".to_string()]), "RocketMQ's ids are the names");

        // The operator moves the master back (`pharos broker failover`) once broker 1 caught up
        // and is in the sync state set again: Pharos fences broker 2, waits out its lease, and
        // elects broker 1 at the next epoch.
        let deadline = Instant::now() + WAIT;
        loop {
            master.heartbeat(node, Some(epoch + 1), 400).await;
            replica.heartbeat(node, Some(epoch + 1), 400).await;
            let (_, set, _) = replicas_of(&replica_info(node).await);
            if set == BTreeSet::from([1, 2]) {
                break;
            }
            assert!(Instant::now() < deadline, "broker 1 never rejoined the sync state set: {set:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let operator = client.clone();
        let failover = tokio::spawn(async move { operator.failover(CONTROLLED_GROUP, None, false).await });
        let deadline = Instant::now() + WAIT;
        while !failover.is_finished() {
            master.heartbeat(node, Some(epoch + 1), 400).await;
            replica.heartbeat(node, Some(epoch + 1), 400).await;
            assert!(Instant::now() < deadline, "the operator's failover did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let moved = failover.await.expect("the failover task").expect("the operator's failover");
        assert_eq!(moved.master_epoch, epoch + 2);
        let (master_now, _, _) = replicas_of(&replica_info(node).await);
        assert_eq!(master_now, Some((1, epoch + 2)), "broker 1 leads again");
        let lease = write_lease(&master.heartbeat(node, Some(epoch + 2), 400).await).expect("its write lease");
        assert_eq!((lease.broker_id, lease.master_epoch), (1, epoch + 2));
    })
    .await
    .expect("test finished in time");
}

/// The committed feature level and every node's `(applied index, digest)`, once all nodes
/// applied the same index.
async fn settled_digests(cluster: &Cluster) -> (u32, Vec<(u64, String)>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut seen = Vec::new();
        let mut level = 0;
        for node in &cluster.nodes {
            if let Some(status) = cluster.status_of(node.node_id).await {
                level = status.feature_level;
                seen.push((status.applied_index, status.state_digest));
            }
        }
        let indexes: BTreeSet<u64> = seen.iter().map(|(index, _)| *index).collect();
        if seen.len() == cluster.nodes.len() && indexes.len() == 1 {
            return (level, seen);
        }
        assert!(Instant::now() < deadline, "the nodes never applied the same index: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the members' records advertise `expected` (in node-id order); returns the
/// committed feature level then.
async fn wait_for_advertised(client: &Client, expected: [u32; 3]) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = client.status().await.expect("status");
        let advertised: Vec<u32> =
            status.members.iter().map(|member| member.info.as_ref().map_or(0, |info| info.feature_level_max)).collect();
        if advertised == expected {
            return status.feature_level;
        }
        assert!(Instant::now() < deadline, "the members never advertised {expected:?}: {advertised:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Restarts `node_id` as another release would run it: with `--feature-level-max=LEVEL`, or
/// without the flag (the newest release) when `level` is `None`.
async fn restart_as_release(cluster: &mut Cluster, node_id: u64, level: Option<u32>) {
    cluster.stop(node_id).await.expect("stop");
    cluster
        .edit_args(node_id, |args| {
            args.retain(|arg| !arg.starts_with("--feature-level-max"));
            args.extend(level.map(|level| format!("--feature-level-max={level}")));
        })
        .expect("edit flags");
    cluster.restart(node_id).expect("restart");
}

/// Issue 12's rolling upgrade: a cluster whose nodes run "the previous release" (level 1, played
/// by `--feature-level-max=1`) refuses RocketMQ registrations (a level-2 kind) without a log entry;
/// while one node still runs it, the upgrade is refused naming that node; once all run the new
/// release the level stays until the operator raises it, then registrations work. Digests stay
/// equal throughout, and a node rolled back below the committed level refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_upgrade_takes_rocketmq_registrations_only_once_the_feature_level_is_raised() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions {
            binary: env!("CARGO_BIN_EXE_pharos").into(),
            voters: 3,
            extra_args: vec!["--feature-level-max=1".to_string()],
            ..ClusterOptions::default()
        };
        let mut cluster = Cluster::start(options).await.expect("cluster starts");
        let client = cluster.client();
        let master = registration_fields("broker-a", "0", "127.0.0.1:20911", "192.0.2.2:20912");
        let register = |address: String| {
            let master = master.clone();
            async move {
                let mut node = RemotingClient::connect(&address).await;
                node.call_with_body(request::REGISTER_BROKER, &master, registration_body(false)).await
            }
        };
        let remoting = cluster.nodes[0].remoting_addr.clone();

        let (level, digests) = settled_digests(&cluster).await;
        assert_eq!(level, 1, "every member runs the previous release");
        assert!(digests.iter().all(|(_, digest)| *digest == digests[0].1), "{digests:?}");
        let before = settled_last_log_index(&client).await;
        let refused = register(remoting.clone()).await;
        assert_eq!(refused.code, response::SYSTEM_ERROR);
        assert!(refused.remark.as_deref().is_some_and(|remark| remark.contains("feature level 2")), "{refused:?}");
        assert_eq!(settled_last_log_index(&client).await, before, "a refused kind takes no log entry");

        // A member of a release that predates feature levels (it advertises none) could not
        // even decode the change: no level is set while it is a member, not even the current one.
        let older = v1::NodeInfo {
            client_addr: "127.0.0.1:1".into(),
            peer_addr: "127.0.0.1:2".into(),
            zone: "zone-9".into(),
            region: "region-1".into(),
            feature_level_max: 0,
        };
        client.add_learner(9, older).await.expect("a level-1 cluster takes a learner of level 1");
        for level in [0, 1] {
            let error = client.set_feature_level(level).await.expect_err("node 9 predates feature levels");
            assert!(error.to_string().contains("node 9") && error.to_string().contains("predates"), "{error}");
        }
        client.remove(9).await.expect("remove node 9");

        // Nodes 1 and 2 move to the new release; node 3 still runs the old one.
        for node_id in [1, 2] {
            restart_as_release(&mut cluster, node_id, None).await;
            cluster.wait_for_recorded_members(WAIT).await.expect("members recorded");
        }
        assert_eq!(wait_for_advertised(&client, [2, 2, 1]).await, 1);
        let error = client.set_feature_level(2).await.expect_err("node 3 supports level 1 only");
        assert_eq!(error.reason(), Some(v1::ErrorReason::FeatureLevelNotSupported), "{error}");
        assert!(error.to_string().contains("node 3 supports feature levels up to 1"), "{error}");
        let highest = client.set_feature_level(0).await.expect("the newest level every member supports");
        assert_eq!((highest.previous_level, highest.level), (1, 1));
        assert_eq!(register(remoting.clone()).await.code, response::SYSTEM_ERROR, "still level 1");

        restart_as_release(&mut cluster, 3, None).await;
        let level = wait_for_advertised(&client, [2, 2, 2]).await;
        assert_eq!(level, 1, "an upgraded cluster keeps its level until the operator raises it");
        let (level, digests) = settled_digests(&cluster).await;
        assert_eq!(level, 1);
        assert!(digests.iter().all(|(_, digest)| *digest == digests[0].1), "{digests:?}");

        let raised = client.set_feature_level(0).await.expect("upgrade");
        assert_eq!((raised.previous_level, raised.level), (1, 2));
        let accepted = register(remoting.clone()).await;
        assert_eq!(accepted.code, response::SUCCESS, "{:?}", accepted.remark);
        assert_eq!(group_of(&client, "broker-a").await.election_mode(), v1::ElectionMode::Declared);
        let (level, digests) = settled_digests(&cluster).await;
        assert_eq!(level, 2);
        assert!(digests.iter().all(|(_, digest)| *digest == digests[0].1), "{digests:?}");
        let lower = client.set_feature_level(1).await.expect_err("levels never go down");
        assert_eq!(lower.reason(), Some(v1::ErrorReason::FeatureLevelLowering), "{lower}");

        // Rolled back to the previous release, node 3 refuses to start rather than misapply.
        restart_as_release(&mut cluster, 3, Some(1)).await;
        let deadline = Instant::now() + WAIT;
        while !cluster.unexpected_exits().iter().any(|(node_id, _)| *node_id == 3) {
            assert!(Instant::now() < deadline, "node 3 started below the committed feature level");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = cluster.log_of(3);
        assert!(log.contains("feature level 2") && log.contains("up to 1"), "{log}");
    })
    .await
    .expect("test finished in time");
}
