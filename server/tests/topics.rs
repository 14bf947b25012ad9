//! Topics, routes and offsets on real processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pharos_chaos::raw_codec::RawCodec;
use pharos_chaos::{BrokerProcess, Cluster, ClusterOptions};
use pharos_client::{Client, ClientError, v1};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

fn options(voters: u64) -> ClusterOptions {
    ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters, ..ClusterOptions::default() }
}

fn reason(error: ClientError) -> String {
    error.reason().map_or("none", |reason| reason.code_name()).to_string()
}

fn topic(name: &str, groups: &[&str], queues: u32) -> v1::TopicInfo {
    v1::TopicInfo {
        name: name.into(),
        queues: groups
            .iter()
            .map(|group| v1::QueueSpec { group: group.to_string(), read_queues: queues, write_queues: queues })
            .collect(),
        ..Default::default()
    }
}

/// Waits, bounded, until the coordinator has elected `group`'s master.
async fn wait_for_master(client: &Client, group: &str) {
    let deadline = Instant::now() + WAIT;
    while client
        .get_broker_group(group, v1::Consistency::Linearizable)
        .await
        .ok()
        .and_then(|response| response.group)
        .is_none_or(|view| view.master_broker_id.is_none())
    {
        assert!(Instant::now() < deadline, "{group} never got its master");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers one broker in `group` directly (no simulated process), so the group exists.
async fn register_one_broker(client: &Client, group: &str) {
    let request = v1::RegisterBrokerRequest {
        group: group.into(),
        name: "b".into(),
        incarnation_id: "i".into(),
        addresses: [("internal".to_string(), "127.0.0.1:1".to_string())].into(),
        ..Default::default()
    };
    client.register_broker(request).await.expect("register");
}

fn spawn(cluster: &Cluster, group: &str, name: &str, port: u16, priority: &str) -> BrokerProcess {
    let internal = format!("internal=127.0.0.1:{port}");
    let public = format!("public=127.0.0.2:{port}");
    cluster
        .spawn_broker(group, name, &["--address", &internal, "--address", &public, "--priority", priority])
        .expect("spawn broker")
}

async fn wait_for_sync(client: &Client, group: &str, members: usize) -> v1::BrokerGroupView {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get_broker_group(group, v1::Consistency::Linearizable).await
            && let Some(view) = response.group
            && view.master_broker_id.is_some()
            && view.sync_state_set.len() == members
        {
            return view;
        }
        assert!(Instant::now() < deadline, "group {group} never got a master and {members} synced brokers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_follow_masters_on_every_network_and_offsets_survive_a_leader_kill() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        let mut g1_master = spawn(&cluster, "g1", "g1-a", 20001, "5");
        let _g2_master = spawn(&cluster, "g2", "g2-a", 20003, "5");
        wait_for_sync(&client, "g1", 1).await;
        let _g1_replica = spawn(&cluster, "g1", "g1-b", 20002, "0");
        let _g2_replica = spawn(&cluster, "g2", "g2-b", 20004, "0");
        let g1 = wait_for_sync(&client, "g1", 2).await;
        wait_for_sync(&client, "g2", 2).await;

        // The CLI creates the topic on every registered group by default.
        let endpoints = format!("--endpoints={}", cluster.client_endpoints().join(","));
        let cli = |args: &[&str]| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
                .arg(&endpoints)
                .args(args)
                .output()
                .expect("run cli");
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json")
        };
        cli(&["topic", "create", "orders", "--queues", "4", "--output", "json"]);
        for (network, host) in [("internal", "127.0.0.1"), ("public", "127.0.0.2")] {
            let route = cli(&["topic", "route", "orders", "--network", network, "--output", "json"]);
            let groups = route["groups"].as_array().expect("groups");
            assert_eq!(groups.len(), 2, "{route}");
            for group in groups {
                let address = group["master"]["address"].as_str().expect("a master address");
                assert!(address.starts_with(host), "{network} address {address}");
                assert_eq!(group["replicas"].as_array().expect("replicas").len(), 1);
            }
        }

        // A route watch sees the master move when the g1 master dies.
        let mut watch = client
            .watch_routes(v1::WatchRoutesRequest {
                topics: vec!["orders".into()],
                network: "public".into(),
                ..Default::default()
            })
            .await
            .expect("watch");
        let first = watch.message().await.expect("stream").expect("current route");
        let old_master = first
            .route
            .as_ref()
            .and_then(|route| route.groups.iter().find(|g| g.group == "g1"))
            .and_then(|g| g.master.clone());
        assert_eq!(old_master.map(|m| m.broker_id), g1.master_broker_id);
        g1_master.kill();
        let moved = tokio::time::timeout(WAIT, async {
            loop {
                let event = watch.message().await.expect("stream").expect("open");
                let master = event
                    .route
                    .as_ref()
                    .and_then(|route| route.groups.iter().find(|g| g.group == "g1"))
                    .and_then(|g| g.master.clone());
                if let Some(master) = master
                    && Some(master.broker_id) != g1.master_broker_id
                {
                    return (event.revision, master);
                }
            }
        })
        .await
        .expect("the watch delivered the new master");
        assert!(moved.1.address.starts_with("127.0.0.2:"), "public address of the new master: {:?}", moved.1);

        // Offsets committed before a coordinator-leader kill are all there after it.
        let mut committed = BTreeMap::new();
        for queue_id in 0..8 {
            let entry = v1::OffsetEntry {
                consumer_group: "cg".into(),
                topic: "orders".into(),
                queue_id,
                offset: 100 + u64::from(queue_id),
                committed_at_revision: 0,
            };
            client.commit_offsets(vec![entry], true).await.expect("commit");
            committed.insert(queue_id, 100 + u64::from(queue_id));
        }
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        cluster.kill(leader).expect("kill -9 the coordinator leader");
        let fetched =
            client.fetch_offsets("cg", "orders", v1::Consistency::Linearizable).await.expect("fetch after kill");
        let fetched: BTreeMap<u32, u64> = fetched.offsets.iter().map(|entry| (entry.queue_id, entry.offset)).collect();
        assert_eq!(fetched, committed);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_offset_commits_end_with_the_last_acknowledged_value() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        register_one_broker(&client, "g1").await;
        client.create_topic(topic("t", &["g1"], 4)).await.expect("create topic");

        // 16 clients commit random-ish offsets on the same 4 keys at once.
        let mut tasks = Vec::new();
        for writer in 0..16u64 {
            let client = Client::new(cluster.client_endpoints()).expect("client");
            tasks.push(tokio::spawn(async move {
                let mut history = Vec::new();
                for round in 0..20u64 {
                    let queue_id = ((writer + round) % 4) as u32;
                    let offset = writer * 1_000 + round;
                    let entry = v1::OffsetEntry {
                        consumer_group: "cg".into(),
                        topic: "t".into(),
                        queue_id,
                        offset,
                        committed_at_revision: 0,
                    };
                    if let Ok(response) = client.commit_offsets(vec![entry], false).await {
                        history.push((queue_id, offset, response.revision));
                    }
                }
                history
            }));
        }
        let mut history = Vec::new();
        for task in tasks {
            history.extend(task.await.expect("task"));
        }
        assert_eq!(history.len(), 16 * 20, "every commit was acknowledged");
        let revisions: std::collections::BTreeSet<u64> = history.iter().map(|(_, _, revision)| *revision).collect();
        assert!(revisions.len() < history.len(), "concurrent commits were coalesced into shared entries");

        let fetched = client.fetch_offsets("cg", "t", v1::Consistency::Linearizable).await.expect("fetch");
        for entry in &fetched.offsets {
            let last_revision =
                history.iter().filter(|(q, _, _)| *q == entry.queue_id).map(|(_, _, r)| *r).max().expect("committed");
            let candidates: Vec<u64> = history
                .iter()
                .filter(|(q, _, r)| *q == entry.queue_id && *r == last_revision)
                .map(|(_, offset, _)| *offset)
                .collect();
            assert!(
                candidates.contains(&entry.offset),
                "queue {} ended at {} but the last acknowledged were {candidates:?}",
                entry.queue_id,
                entry.offset
            );
            assert_eq!(entry.committed_at_revision, last_revision);
        }
        assert_eq!(fetched.offsets.len(), 4);

        // Monotonic commits refuse to go back and change nothing.
        let current = fetched.offsets[0].clone();
        let back = v1::OffsetEntry { offset: current.offset.saturating_sub(1), ..current.clone() };
        let error = client.commit_offsets(vec![back], true).await.expect_err("backwards");
        assert_eq!(reason(error), "OFFSET_BACKWARDS");
        let again = client.fetch_offsets("cg", "t", v1::Consistency::Linearizable).await.expect("fetch");
        assert_eq!(again.offsets[0], current);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_topics_unknown_groups_and_huge_batches_are_refused() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        register_one_broker(&client, "g1").await;
        // The election is audited as the coordinator's: wait for it, so it is not lost among
        // the operator's entries below on a slow machine.
        wait_for_master(&client, "g1").await;
        client.create_topic(topic("ok", &["g1"], 2)).await.expect("create");
        let before = client.get_topic("ok", v1::Consistency::Linearizable).await.expect("get").revision;

        assert_eq!(
            reason(client.create_topic(topic("bad name!", &["g1"], 2)).await.expect_err("name")),
            "INVALID_ARGUMENT"
        );
        assert_eq!(reason(client.create_topic(topic("x", &["nope"], 2)).await.expect_err("group")), "UNKNOWN_GROUP");
        assert_eq!(reason(client.create_topic(topic("ok", &["g1"], 2)).await.expect_err("exists")), "TOPIC_EXISTS");
        assert_eq!(
            reason(client.create_topic(topic("big", &["g1"], 100_000)).await.expect_err("queues")),
            "INVALID_TOPIC"
        );
        let mut bad_type = topic("typed", &["g1"], 2);
        bad_type.message_type = 99;
        assert_eq!(reason(client.create_topic(bad_type).await.expect_err("type")), "INVALID_ARGUMENT");
        assert_eq!(
            reason(client.get_route("missing", "internal", v1::Consistency::Local).await.expect_err("route")),
            "UNKNOWN_TOPIC"
        );

        let entry = |queue_id| v1::OffsetEntry {
            consumer_group: "cg".into(),
            topic: "ok".into(),
            queue_id,
            offset: 1,
            committed_at_revision: 0,
        };
        let huge: Vec<v1::OffsetEntry> = (0..10_001).map(|_| entry(0)).collect();
        assert_eq!(reason(client.commit_offsets(huge, false).await.expect_err("huge")), "INVALID_ARGUMENT");
        assert_eq!(
            reason(client.commit_offsets(vec![entry(99)], false).await.expect_err("queue")),
            "INVALID_OFFSET_COMMIT"
        );
        let unknown_topic = v1::OffsetEntry { topic: "missing".into(), ..entry(0) };
        assert_eq!(
            reason(client.commit_offsets(vec![unknown_topic], false).await.expect_err("topic")),
            "UNKNOWN_TOPIC"
        );
        assert_eq!(reason(client.commit_offsets(vec![], false).await.expect_err("empty")), "INVALID_ARGUMENT");

        // A topic that consumers hold offsets for is only deleted with force.
        client.commit_offsets(vec![entry(1)], false).await.expect("commit");
        assert_eq!(reason(client.delete_topic("ok", false).await.expect_err("consumers")), "TOPIC_HAS_CONSUMERS");
        let groups = client.list_consumer_groups(v1::Consistency::Linearizable).await.expect("groups");
        assert_eq!(groups.consumer_groups, vec!["cg".to_string()]);
        let after = client.get_topic("ok", v1::Consistency::Linearizable).await.expect("still there");
        assert!(after.revision > before, "only the accepted commit moved the revision");
        client.delete_topic("ok", true).await.expect("forced delete");
        let reset = client
            .reset_offsets("cg", "missing", v1::reset_offsets_request::To::Earliest(true))
            .await
            .expect_err("unknown topic");
        assert_eq!(reason(reset), "UNKNOWN_TOPIC");

        // Every administrative change and refusal is in the audit log, newest first, with its caller.
        let audit = client.list_audit(1_000).await.expect("audit");
        // (The leader's own election of g1's master is in there too, as `coordinator`.)
        let operator: Vec<_> = audit.entries.iter().filter(|e| e.actor != "coordinator").collect();
        assert!(audit.entries.iter().any(|e| e.actor == "coordinator" && e.action == "elect_master"));
        let actions: Vec<(&str, bool)> = operator.iter().map(|e| (e.action.as_str(), e.result == "ok")).collect();
        assert_eq!(
            &actions[..4],
            &[("reset_offsets", false), ("delete_topic", true), ("delete_topic", false), ("create_topic", false)],
            "{audit:?}"
        );
        assert!(operator[1].target.contains("topic ok (force)"));
        assert!(operator[0].actor.starts_with("127.0.0.1:"), "the caller's address: {}", operator[0].actor);
        assert!(client.fetch_offsets("cg", "", v1::Consistency::Linearizable).await.expect("fetch").offsets.is_empty());
        // Pages: tokens are opaque and belong to their listing; a topic name is not a token.
        for name in ["ok-a", "ok-b", "ok-c"] {
            client.create_topic(topic(name, &["g1"], 1)).await.expect("create");
        }
        let list = |prefix: &str, page_token: String| v1::ListTopicsRequest {
            prefix: prefix.to_string(),
            limit: 2,
            page_token,
            consistency: 0,
        };
        let first = client.list_topics(list("ok", String::new())).await.expect("first page");
        let names = |page: &v1::ListTopicsResponse| page.topics.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&first), ["ok-a", "ok-b"]);
        assert_ne!(first.next_page_token, "ok-b", "the token is not the bare name");
        let second = client.list_topics(list("ok", first.next_page_token.clone())).await.expect("second page");
        assert_eq!((names(&second), second.next_page_token.as_str()), (vec!["ok-c".to_string()], ""));
        let foreign = client.list_topics(list("ok-", first.next_page_token.clone())).await.expect_err("other listing");
        assert_eq!(reason(foreign), "INVALID_ARGUMENT");
        assert_eq!(
            reason(client.list_topics(list("ok", "ok-b".into())).await.expect_err("a name")),
            "INVALID_ARGUMENT"
        );
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, bug 2: requests refused on their shape alone used to take a log entry, change the
/// digest and write an audit record. They are now refused before they are proposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_admin_requests_take_no_log_entry() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        register_one_broker(&client, "g1").await;
        // The coordinator elects the broker master by itself: let that entry land first.
        wait_for_master(&client, "g1").await;
        let before = client.status().await.expect("status");
        let audit_before = client.list_audit(1_000).await.expect("audit").entries.len();

        let too_many = topic("too-many", &["g1"], 1_025);
        assert_eq!(reason(client.create_topic(too_many).await.expect_err("1,025 queues")), "INVALID_TOPIC");
        let bad_perm = v1::TopicInfo { perm: 99, ..topic("bad-perm", &["g1"], 4) };
        assert_eq!(reason(client.create_topic(bad_perm).await.expect_err("perm 99")), "INVALID_TOPIC");
        let no_queues = topic("no-queues", &[], 4);
        assert_eq!(reason(client.create_topic(no_queues).await.expect_err("no queues")), "INVALID_TOPIC");
        let bad_update = topic("bad name!", &["g1"], 4);
        assert_eq!(reason(client.update_topic(bad_update).await.expect_err("bad name")), "INVALID_ARGUMENT");
        let bad_delete = client.delete_topic("bad name!", false).await.expect_err("bad name");
        assert_eq!(reason(bad_delete), "INVALID_ARGUMENT", "the same name check gives the same reason in every RPC");
        // A 100,000-character name is refused without coming back whole: status messages are
        // bounded (gRPC C-core clients reject metadata over 8 KiB).
        let huge_name = "t".repeat(100_000);
        let huge = client.create_topic(topic(&huge_name, &["g1"], 4)).await.expect_err("huge name");
        assert_eq!(reason(huge.clone()), "INVALID_ARGUMENT");
        let message = huge.to_string();
        assert!(message.len() < 2_048, "the status message is {} bytes", message.len());
        let huge_get = client.get_topic(&huge_name, v1::Consistency::Local).await.expect_err("huge get");
        assert!(huge_get.to_string().len() < 2_048, "{} bytes", huge_get.to_string().len());
        assert_eq!(reason(client.remove_broker(0).await.expect_err("RemoveBroker{}")), "UNKNOWN_BROKER");
        assert_eq!(reason(client.fence_broker(0).await.expect_err("FenceBroker{}")), "UNKNOWN_BROKER");

        let after = client.status().await.expect("status");
        assert_eq!(
            (after.last_log_index, &after.state_digest),
            (before.last_log_index, &before.state_digest),
            "nothing in the log, nothing in the state"
        );
        assert_eq!(client.list_audit(1_000).await.expect("audit").entries.len(), audit_before, "no audit record");
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, bug 5: `pharos topic update` sent a full replacement built from the CLI's defaults,
/// so updating one field turned a fifo topic into a normal one and dropped its attributes. It
/// now changes only what the operator named, and the update is a compare-and-set on the
/// revision it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_update_changes_only_what_it_names_and_never_loses_a_concurrent_one() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        register_one_broker(&client, "g1").await;
        let fifo = v1::TopicInfo {
            message_type: v1::MessageType::Fifo.into(),
            attributes: [("retention".to_string(), "7d".to_string())].into(),
            ..topic("orders", &["g1"], 4)
        };
        client.create_topic(fifo).await.expect("create");

        let endpoints = format!("--endpoints={}", cluster.client_endpoints().join(","));
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
            .args([&endpoints, "topic", "update", "orders", "--perm", "4", "--attribute", "owner=payments"])
            .output()
            .expect("run the CLI");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let updated = client.get_topic("orders", v1::Consistency::Linearizable).await.expect("get").topic.expect("t");
        assert_eq!((updated.perm, updated.message_type()), (4, v1::MessageType::Fifo), "the type is kept");
        assert_eq!(updated.attributes.get("retention").map(String::as_str), Some("7d"), "old attributes kept");
        assert_eq!(updated.attributes.get("owner").map(String::as_str), Some("payments"));
        assert_eq!(updated.queues.len(), 1);
        assert_eq!((updated.queues[0].read_queues, updated.queues[0].write_queues), (4, 4), "queues kept");

        // Two operators read the same revision; the second write back is refused.
        let first = v1::TopicInfo { perm: 6, ..updated.clone() };
        client.update_topic(first).await.expect("the first update");
        let second = v1::TopicInfo { message_type: v1::MessageType::Normal.into(), ..updated.clone() };
        let stale = client.update_topic(second).await.expect_err("stale revision");
        assert_eq!(reason(stale), "STALE_TOPIC_REVISION");
        let now = client.get_topic("orders", v1::Consistency::Linearizable).await.expect("get").topic.expect("t");
        assert_eq!((now.perm, now.message_type()), (6, v1::MessageType::Fifo), "the first update stands, whole");
    })
    .await
    .expect("test finished in time");
}

/// Sends `body` as the request of `path` on the node's client port.
async fn raw_call(address: &str, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
        Ok(response) => panic!("{} bytes answered, expected a refusal", response.into_inner().len()),
        Err(status) => status,
    }
}

/// Issue 11: undecodable requests (a bad wire type, invalid UTF-8 in a string field, a truncated
/// field) came back `INTERNAL` with no `pharos-error`, as if the server had failed. They are the
/// sender's fault: `INVALID_ARGUMENT` with the reason, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undecodable_requests_are_invalid_arguments_and_change_nothing() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        client.put("before", "1").await.expect("a first write");
        let before = client.status().await.expect("status");
        let address = cluster.nodes[0].client_addr.clone();
        // CreateTopicRequest{topic: TopicInfo{name: "\xff"}}: field 1 (message, 3 bytes) holding
        // field 1 (string, 1 byte) that is not UTF-8.
        let invalid_utf8 = vec![0x0a, 0x03, 0x0a, 0x01, 0xff];
        let cases: [(&'static str, Vec<u8>); 4] = [
            ("/pharos.v1.KvService/Put", vec![0x0f]),
            ("/pharos.v1.KvService/Put", vec![0x0a, 0x05, b'k']),
            ("/pharos.v1.TopicService/CreateTopic", invalid_utf8),
            ("/pharos.v1.ClusterService/Status", vec![0xff, 0xff, 0xff]),
        ];
        for (path, body) in cases {
            let status = raw_call(&address, path, body.clone()).await;
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{path} {body:02x?}: {status:?}");
            let reason = status.metadata().get("pharos-error").and_then(|value| value.to_str().ok());
            assert_eq!(reason, Some("INVALID_ARGUMENT"), "{path} {body:02x?}");
            assert!(status.message().starts_with("cannot decode the received message"), "{}", status.message());
        }
        let after = client.status().await.expect("status");
        assert_eq!(
            (after.last_log_index, &after.state_digest),
            (before.last_log_index, &before.state_digest),
            "nothing in the log, nothing in the state"
        );
    })
    .await
    .expect("test finished in time");
}
