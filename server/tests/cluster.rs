//! Integration tests on real `pharos` processes talking gRPC over loopback.
//!
//! Cluster tests run one at a time (`SERIAL`): several 3-node clusters fsyncing at once on a
//! 2-core machine would turn timing margins into flakes.

use std::process::Command;
use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientError, ClientOptions, v1};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

fn options(voters: u64) -> ClusterOptions {
    ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters, ..ClusterOptions::default() }
}

async fn get_value(client: &Client, key: &str) -> Option<Vec<u8>> {
    client.get(key, v1::Consistency::Linearizable).await.expect("linearizable get").kv.map(|kv| kv.value)
}

/// Every node's status once all have applied `index`; asserts their state digests agree.
async fn assert_replicas_identical(cluster: &Cluster, index: u64) {
    let mut digests = Vec::new();
    for node in cluster.nodes.iter().filter(|node| node.is_running()) {
        cluster.wait_for_applied(node.node_id, index, WAIT).await.expect("replica catches up");
    }
    // Digests are compared at the same applied index: no writes run concurrently here.
    for node in cluster.nodes.iter().filter(|node| node.is_running()) {
        let status = cluster.status_of(node.node_id).await.expect("status");
        digests.push((node.node_id, status.applied_index, status.state_digest));
    }
    let first = &digests[0];
    for other in &digests[1..] {
        assert_eq!((first.1, &first.2), (other.1, &other.2), "replica digests differ: {digests:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_survive_leader_kill_restart_and_full_restart() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let mut acknowledged = Vec::new();

        // Writes through any node: a client that only knows one node follows its redirect.
        for node_id in 1..=3 {
            let address = cluster.node(node_id).expect("node").client_addr.clone();
            let client = Client::with_options([address], ClientOptions { attempts_max: 20, ..Default::default() })
                .expect("client");
            for i in 0..5 {
                let key = format!("via-{node_id}/{i}");
                client.put(key.clone(), format!("v{i}")).await.expect("write through any node");
                acknowledged.push((key, format!("v{i}")));
            }
        }

        let old_leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        cluster.kill(old_leader).expect("kill -9 the leader");
        let client = cluster.client();
        for i in 0..10 {
            let key = format!("after-kill/{i}");
            client.put(key.clone(), format!("w{i}")).await.expect("write after leader kill");
            acknowledged.push((key, format!("w{i}")));
        }
        let new_leader = cluster.wait_for_leader(WAIT).await.expect("new leader");
        assert_ne!(new_leader, old_leader, "a new leader was elected");
        for (key, value) in &acknowledged {
            assert_eq!(get_value(&client, key).await.as_deref(), Some(value.as_bytes()), "acknowledged {key} lost");
        }

        // The killed node restarts with the same flags and catches up.
        cluster.restart(old_leader).expect("restart");
        let leader_status = cluster.status_of(new_leader).await.expect("leader status");
        cluster.wait_for_applied(old_leader, leader_status.applied_index, WAIT).await.expect("catches up");
        let local = cluster
            .client_of(old_leader)
            .expect("client")
            .get("after-kill/9", v1::Consistency::Local)
            .await
            .expect("local read on the restarted node");
        assert_eq!(local.kv.expect("caught up").value, b"w9");
        assert_replicas_identical(&cluster, leader_status.applied_index).await;

        // Stop everything (kill -9), start everything: all data is there.
        for node_id in 1..=3 {
            cluster.kill(node_id).expect("kill");
        }
        for node_id in 1..=3 {
            cluster.restart(node_id).expect("restart");
        }
        cluster.wait_for_leader(WAIT).await.expect("leader after full restart");
        let client = cluster.client();
        for (key, value) in &acknowledged {
            assert_eq!(get_value(&client, key).await.as_deref(), Some(value.as_bytes()), "{key} lost in full restart");
        }
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_joins_by_snapshot_is_promoted_and_serves_linearizable_reads() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(ClusterOptions { logs_to_keep_after_snapshot: 0, ..options(3) })
            .await
            .expect("cluster starts");
        let client = cluster.client();
        for i in 0..50 {
            client.put(format!("k/{i:02}"), format!("{i}")).await.expect("put");
        }
        // Purge every log, so the new node can only catch up from a snapshot.
        let mut purged = Vec::new();
        for node_id in 1..=3 {
            let response = cluster.client_of(node_id).expect("client").compact().await.expect("compact");
            purged.push(response.purged_index);
        }
        assert!(purged.iter().all(|index| *index >= 50), "logs purged: {purged:?}");

        cluster.add_joining_node(4, "zone-4", "region-1", &[]).expect("start joiner");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let applied = cluster.status_of(leader).await.expect("status").applied_index;
        cluster.wait_for_applied(4, applied, WAIT).await.expect("learner catches up");
        let learner = cluster.status_of(4).await.expect("learner status");
        assert_eq!(learner.state(), v1::ServerState::Learner);
        assert!(learner.snapshot_index >= 50, "the learner installed a snapshot: {learner:?}");
        let member = learner.members.iter().find(|member| member.node_id == 4).expect("listed");
        assert_eq!(member.role(), v1::MemberRole::Learner);

        let promoted = client.promote(4).await.expect("promote");
        assert!(promoted.voters.contains(&4) && promoted.changed, "voters {:?}", promoted.voters);
        let again = client.promote(4).await.expect("promoting a voter converges");
        assert_eq!((again.voters, again.changed), (promoted.voters.clone(), false), "a repeat changes nothing");
        let transferred = client.transfer_leader(4).await.expect("transfer leadership");
        assert_eq!(transferred.leader_id, 4);

        // Node 4, now a voter and the leader, serves a linearizable read of data it got by snapshot.
        let node4 = cluster.client_of(4).expect("client");
        let read = node4.get("k/07", v1::Consistency::Linearizable).await.expect("linearizable read on node 4");
        assert_eq!(read.kv.expect("present").value, b"7");
        let write = node4.put("after-promotion", "yes").await.expect("node 4 leads writes");
        assert_replicas_identical(&cluster, write.header.expect("header").revision).await;

        // Removing a voter shrinks the voter set; the cluster keeps serving.
        let removed = client.remove(1).await.expect("remove node 1");
        assert_eq!((removed.voters.as_slice(), removed.changed), (&[2, 3, 4][..], true));
        let again = client.remove(1).await.expect("removing a non-member converges");
        assert_eq!((again.voters, again.changed), (vec![2, 3, 4], false));
        cluster.kill(1).expect("stop the removed node");
        client.put("after-removal", "ok").await.expect("writes continue without node 1");

        // Operators' membership changes are audited, with who asked.
        let audit = client.list_audit(100).await.expect("audit").entries;
        assert_eq!(
            audit.iter().filter(|entry| entry.action == "promote_voter").count(),
            1,
            "only the change is audited"
        );
        for (action, target) in
            [("promote_voter", "node 4"), ("transfer_leader", "node 4"), ("remove_member", "node 1")]
        {
            let entry =
                audit.iter().find(|entry| entry.action == action).unwrap_or_else(|| panic!("{action}: {audit:?}"));
            assert_eq!((entry.target.as_str(), entry.result.as_str()), (target, "ok"));
            assert!(entry.source.starts_with("127.0.0.1:"), "{entry:?}");
        }
    })
    .await
    .expect("test finished in time");
}

/// `AddLearner` and `Remove` take idempotency keys (issue 11, safe retries): a late retry of
/// either, whose first answer was lost, gets that answer and does not act on a membership
/// that changed meanwhile (without the key, a repeat re-adds a node removed since, or removes
/// one added back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_changes_retried_with_their_key_apply_once() {
    use v1::cluster_service_client::ClusterServiceClient;
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let channel = cluster.channel_of(1).await.expect("connect");
        let mut admin = ClusterServiceClient::new(channel);
        // Node 9 never runs: a learner that is only a membership record is enough here.
        let info = v1::NodeInfo {
            client_addr: "127.0.0.1:1".into(),
            peer_addr: "127.0.0.1:2".into(),
            zone: "zone-9".into(),
            region: "region-1".into(),
            feature_level_max: 2,
        };
        // A release that predates feature levels advertises none: it could not apply this
        // cluster's level-2 entries, so it is not let in.
        let older = v1::NodeInfo { feature_level_max: 0, ..info.clone() };
        let refused = admin
            .add_learner(v1::JoinRequest { node_id: 9, info: Some(older), request_id: None })
            .await
            .expect_err("an older release is refused");
        assert!(refused.message().contains("supports feature levels up to 1"), "{refused:?}");
        let add = v1::JoinRequest { node_id: 9, info: Some(info.clone()), request_id: Some(client.next_request_id()) };
        let remove = v1::RemoveRequest { node_id: 9, request_id: Some(client.next_request_id()) };
        let is_member = || async { client.status().await.expect("status").members.iter().any(|m| m.node_id == 9) };

        admin.add_learner(add.clone()).await.expect("add node 9");
        assert!(is_member().await);
        let removed = admin.remove(remove.clone()).await.expect("remove node 9").into_inner();
        assert!(removed.changed);
        assert!(!is_member().await);
        // The add's answer was lost; its retry arrives now.
        admin.add_learner(add).await.expect("the retried add gets the first answer");
        assert!(!is_member().await, "the retried add did not add the removed node back");

        // Added back on purpose; then the removal's late retry.
        let again = v1::JoinRequest { node_id: 9, info: Some(info), request_id: Some(client.next_request_id()) };
        admin.add_learner(again).await.expect("add node 9 again");
        let retried = admin.remove(remove).await.expect("the retried removal gets the first answer").into_inner();
        assert!(retried.changed, "the first attempt's answer: removed");
        assert!(is_member().await, "the retried removal did not remove the node added back");

        // A keyed removal of a non-member changes nothing, and its retry says so too.
        let absent = v1::RemoveRequest { node_id: 7, request_id: Some(client.next_request_id()) };
        let first = admin.remove(absent.clone()).await.expect("remove a non-member").into_inner();
        let retry = admin.remove(absent).await.expect("retried").into_inner();
        assert_eq!((first.changed, retry.changed), (false, false));
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_retried_with_its_idempotency_key_after_a_leader_kill_applies_once() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        let request_id = client.next_request_id();
        let first = client.put_with_id("once", "payload", request_id.clone()).await.expect("first attempt");
        let first_revision = first.header.expect("header").revision;

        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        cluster.kill(leader).expect("kill -9 the leader");
        client.put("unrelated", "moves the revision").await.expect("write under the new leader");

        let retry = client.put_with_id("once", "payload", request_id).await.expect("retry");
        assert_eq!(retry.header.expect("header").revision, first_revision, "the retry got the first answer");
        assert!(retry.created);
        let record = client.get("once", v1::Consistency::Linearizable).await.expect("get").kv.expect("present");
        assert_eq!((record.version, record.mod_revision), (1, first_revision), "applied exactly once");
    })
    .await
    .expect("test finished in time");
}

/// Runs `pharos` with `args` (bounded) and returns (success, stderr).
fn run_pharos(args: &[String]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pharos");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_clusters_data_dir_and_peers_are_refused() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        cluster.client().put("before", "1").await.expect("put");
        cluster.stop(3).await.expect("stop node 3");
        let node3 = cluster.node(3).expect("node");
        let base = |node_id: u64, token: &str| {
            vec![
                "serve".to_string(),
                format!("--node-id={node_id}"),
                format!("--data-dir={}", node3.data_dir.display()),
                format!("--listen-client={}", node3.client_addr),
                format!("--listen-peer={}", node3.peer_addr),
                format!("--listen-http={}", node3.http_addr),
                format!("--listen-remoting={}", node3.remoting_addr),
                format!(
                    "--initial-cluster=1={},2={},3={}",
                    cluster.nodes[0].peer_addr, cluster.nodes[1].peer_addr, node3.peer_addr
                ),
                format!("--initial-cluster-token={token}"),
            ]
        };
        let (started, stderr) = run_pharos(&base(3, "another-cluster"));
        assert!(!started, "a node must not start on another cluster's data dir");
        assert!(stderr.contains("belongs to cluster"), "clear error expected, got: {stderr}");
        let (started, stderr) = run_pharos(&[
            "serve".to_string(),
            "--node-id=5".to_string(),
            format!("--data-dir={}", node3.data_dir.display()),
            format!("--listen-client={}", node3.client_addr),
            format!("--listen-peer={}", node3.peer_addr),
            format!("--listen-http={}", node3.http_addr),
            format!("--listen-remoting={}", node3.remoting_addr),
        ]);
        assert!(!started);
        assert!(stderr.contains("belongs to node 3"), "clear error expected, got: {stderr}");
        // Nothing changed: node 3 restarts with its own flags and rejoins.
        cluster.restart(3).expect("restart node 3");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let leader_status = cluster.status_of(leader).await.expect("status");
        cluster.wait_for_applied(3, leader_status.applied_index, WAIT).await.expect("node 3 rejoins");

        // A peer from another cluster asks for votes with a huge term: refused before Raft.
        let leader_peer = format!("http://{}", cluster.node(leader).expect("node").peer_addr);
        let mut peer = v1::raft_service_client::RaftServiceClient::connect(leader_peer).await.expect("connect");
        let vote = v1::VoteRequest {
            vote: Some(v1::Vote { term: 1_000, node_id: 9, committed: false }),
            last_log_id: Some(v1::LogId { term: 1_000, node_id: 9, index: 1_000_000 }),
            leadership_transfer: false,
        };
        let mut request = tonic::Request::new(vote);
        request
            .metadata_mut()
            .insert("pharos-cluster-id", "00000000-0000-0000-0000-000000000000".parse().expect("ascii"));
        request.metadata_mut().insert("pharos-generation", "1".parse().expect("ascii"));
        let refused = peer.vote(request).await.expect_err("another cluster's vote request is refused");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(refused.message().contains("cluster"), "{}", refused.message());
        let unstamped = peer.vote(tonic::Request::new(vote)).await.expect_err("unstamped request refused");
        assert_eq!(unstamped.code(), tonic::Code::FailedPrecondition);

        let after = cluster.status_of(leader).await.expect("status");
        assert_eq!(after.state(), v1::ServerState::Leader, "the refused requests changed nothing");
        assert_eq!(after.term, leader_status.term);
        assert_eq!(
            cluster.client().get("before", v1::Consistency::Linearizable).await.expect("get").kv.expect("kept").value,
            b"1"
        );
    })
    .await
    .expect("test finished in time");
}

fn reason(error: &ClientError) -> String {
    error.reason().map_or("none", |reason| reason.code_name()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_and_oversized_requests_get_typed_errors_and_change_nothing() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client_of(1).expect("client");
        let before = client.put("k", "v").await.expect("put").header.expect("header").revision;

        let empty_key = client.put("", "v").await.expect_err("empty key");
        assert_eq!(reason(&empty_key), "INVALID_ARGUMENT");
        let too_big_value = client.put("k", vec![0u8; 1_500_000]).await.expect_err("value over 1 MiB");
        assert_eq!(reason(&too_big_value), "INVALID_ARGUMENT", "{too_big_value}");
        let oversized = client.put("k", vec![0u8; 5 * 1024 * 1024]).await.expect_err("message over 2 MiB");
        assert!(
            matches!(
                oversized,
                ClientError::Rejected { code: tonic::Code::OutOfRange | tonic::Code::ResourceExhausted, .. }
            ),
            "{oversized:?}"
        );
        let stale_key = client.put(vec![b'x'; 5000], "v").await.expect_err("key over 4 KiB");
        assert_eq!(reason(&stale_key), "INVALID_ARGUMENT");
        let range = client.range("", 1_000_000, v1::Consistency::Local).await.expect_err("limit too high");
        assert_eq!(reason(&range), "INVALID_ARGUMENT");

        let address = format!("http://{}", cluster.node(1).expect("node").client_addr);
        let mut kv = v1::kv_service_client::KvServiceClient::connect(address).await.expect("connect");
        let no_condition = kv
            .compare_and_set(v1::CompareAndSetRequest {
                key: b"k".to_vec(),
                value: b"x".to_vec(),
                compare: None,
                request_id: None,
            })
            .await
            .expect_err("CAS without a condition");
        assert_eq!(no_condition.code(), tonic::Code::InvalidArgument);
        let bad_consistency =
            kv.get(v1::GetRequest { key: b"k".to_vec(), consistency: 42 }).await.expect_err("unknown consistency");
        assert_eq!(bad_consistency.code(), tonic::Code::InvalidArgument);
        let zero_sequence = kv
            .put(v1::PutRequest {
                key: b"k".to_vec(),
                value: b"x".to_vec(),
                request_id: Some(v1::RequestId { client_id: "c".into(), sequence: 0 }),
            })
            .await
            .expect_err("sequence 0");
        assert_eq!(zero_sequence.code(), tonic::Code::InvalidArgument);

        // Garbage on the wire: raw bytes to the client port, then a malformed peer message.
        {
            use tokio::io::AsyncWriteExt;
            let address = cluster.node(1).expect("node").client_addr.clone();
            let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
            let _ = stream.write_all(b"\x00\x01garbage that is not http/2\r\n\r\n").await;
        }
        let identity = client.identity().await.expect("identity");
        let peer_address = format!("http://{}", cluster.node(1).expect("node").peer_addr);
        let mut peer = v1::raft_service_client::RaftServiceClient::connect(peer_address).await.expect("connect");
        let mut request = tonic::Request::new(v1::AppendEntriesRequest {
            vote: Some(v1::Vote { term: 1, node_id: 1, committed: true }),
            prev_log_id: None,
            entries: vec![v1::Entry { log_id: None, payload: None }],
            leader_commit: None,
            sent_at_ms: 0,
            dr: None,
        });
        request.metadata_mut().insert("pharos-cluster-id", identity.cluster_id.parse().expect("ascii"));
        request.metadata_mut().insert("pharos-generation", identity.generation.into());
        let malformed = peer.append_entries(request).await.expect_err("entry without log id");
        assert_eq!(malformed.code(), tonic::Code::InvalidArgument);

        // Generic gRPC tooling can discover and probe the node.
        let channel = cluster.channel_of(1).await.expect("connect");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let serving = health
            .check(tonic_health::pb::HealthCheckRequest { service: "pharos.v1.KvService".into() })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(serving.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        let mut reflection =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
        let list = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut responses =
            reflection.server_reflection_info(futures::stream::iter([list])).await.expect("reflection").into_inner();
        let response = responses.message().await.expect("reflection answer").expect("one message");
        let Some(tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(services)) =
            response.message_response
        else {
            panic!("unexpected reflection answer: {response:?}");
        };
        let names: Vec<String> = services.service.into_iter().map(|service| service.name).collect();
        for expected in ["pharos.v1.KvService", "pharos.v1.ClusterService", "grpc.health.v1.Health"] {
            assert!(names.iter().any(|name| name == expected), "{expected} not listed in {names:?}");
        }

        // The node still serves, and none of the refused requests changed anything.
        let record = client.get("k", v1::Consistency::Linearizable).await.expect("get").kv.expect("present");
        assert_eq!((record.value.as_slice(), record.mod_revision, record.version), (b"v".as_slice(), before, 1));
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_puts_gets_and_reports_status() {
    let _serial = SERIAL.lock().await;
    let cluster = tokio::time::timeout(TEST_TIMEOUT, Cluster::start(options(1))).await.expect("in time").expect("node");
    let endpoints = format!("--endpoints={}", cluster.node(1).expect("node").client_addr);
    let pharos = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_pharos")).arg(&endpoints).args(args).output().expect("run cli");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, _, _) = pharos(&["kv", "put", "greeting", "hello world"]);
    assert_eq!(code, Some(0));
    let (code, stdout, _) = pharos(&["kv", "get", "greeting"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "hello world\n"), "kv get prints the value alone");
    let (code, _, stderr) = pharos(&["kv", "get", "missing"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim(), "error: key not found: missing");
    let (code, stdout, _) = pharos(&["kv", "range", "greet", "--output", "json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["kvs"][0]["value"], "hello world");
    let (code, stdout, _) = pharos(&["cluster", "status", "--output", "json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["leader_id"], 1);
    assert_eq!(json["members"][0]["role"], "voter");
    let (code, _, stderr) = pharos(&["cluster", "promote", "9"]);
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("error: INVALID_MEMBERSHIP"), "{stderr}");
}

/// Waits until `node_id` reports every member's client address recorded (each node writes its
/// own once it runs: what lets the cluster recognise a member that lost its disk).
async fn wait_for_recorded_addresses(cluster: &Cluster, node_id: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = cluster.status_of(node_id).await
            && status.members.len() == cluster.nodes.len()
            && status.members.iter().all(|member| member.info.as_ref().is_some_and(|info| !info.client_addr.is_empty()))
        {
            return;
        }
        assert!(Instant::now() < deadline, "node {node_id} never saw every member's address recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 10, item 3: a voter restarted on a wiped disk with its original `--initial-cluster`
/// used to initialize itself again and, with a paused peer, form a majority that lost 94 of 100
/// acknowledged writes. It now neither votes nor initializes until a majority of the other
/// members answered, and stops with the replace procedure once one of them remembers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voter_restarted_on_a_wiped_disk_is_refused_and_no_acknowledged_write_is_lost() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
        let (wiped, paused) = (followers[0], followers[1]);
        wait_for_recorded_addresses(&cluster, paused).await;

        // The paused node misses every write: the leader and `wiped` acknowledge them.
        cluster.signal(paused, "STOP").expect("SIGSTOP");
        let client = cluster.client();
        for i in 0..100 {
            client.put(format!("acked/{i:03}"), format!("{i}")).await.expect("write acknowledged by two of three");
        }
        cluster.kill(leader).expect("kill -9 the leader");
        cluster.kill(wiped).expect("kill -9 the follower whose disk is lost");
        std::fs::remove_dir_all(&cluster.node(wiped).expect("node").data_dir).expect("wipe the data dir");
        cluster.restart(wiped).expect("restart with the original flags (as the old runbook said)");

        // Nobody who could remember it answers: it waits, says why, and takes no part in Raft.
        let deadline = Instant::now() + WAIT;
        while !cluster.log_of(wiped).contains("waiting for the initial cluster") {
            assert!(Instant::now() < deadline, "it never said why it waits");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(cluster.unexpected_exits().is_empty(), "it waits rather than exit or initialize");
        let status = cluster.status_of(wiped).await.expect("status of the waiting node");
        assert_eq!((status.last_log_index, status.members.len()), (0, 0), "it did not initialize: {status:?}");

        // The paused node comes back and remembers the wiped one: the wiped node stops.
        cluster.signal(paused, "CONT").expect("SIGCONT");
        let deadline = Instant::now() + WAIT;
        let exits = loop {
            let exits = cluster.unexpected_exits();
            if !exits.is_empty() || Instant::now() > deadline {
                break exits;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(exits.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![wiped], "the wiped node stops");
        let log = cluster.log_of(wiped);
        assert!(log.contains("already bootstrapped") && log.contains("cluster remove"), "it names the fix: {log}");

        // The old leader returns: no acknowledged write is lost.
        cluster.restart(leader).expect("restart the old leader");
        cluster.wait_for_leader(WAIT).await.expect("a leader among the two that kept their data");
        for i in 0..100 {
            let key = format!("acked/{i:03}");
            assert_eq!(get_value(&client, &key).await.as_deref(), Some(format!("{i}").as_bytes()), "{key} lost");
        }

        // The replace procedure: remove it, re-join on an empty data dir, promote.
        client.remove(wiped).await.expect("remove the member that lost its disk");
        cluster.rejoin_empty(wiped).expect("start it again with --join");
        let deadline = Instant::now() + WAIT;
        loop {
            let promoted = client.promote(wiped).await;
            if promoted.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the re-joined node is never promoted: {promoted:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let leader_status =
            cluster.status_of(cluster.wait_for_leader(WAIT).await.expect("leader")).await.expect("status");
        assert_eq!(
            leader_status.members.iter().filter(|member| member.role() == pharos_client::v1::MemberRole::Voter).count(),
            3,
            "three voters again: {leader_status:?}"
        );
        assert_replicas_identical(&cluster, leader_status.applied_index).await;
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, bug 4: a write's answer reported `applied_index` one below its own `revision`
/// (openraft's metrics learn of an apply a moment after the state machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_answer_reports_its_own_revision_as_applied() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        for i in 0..20 {
            let header = client.put(format!("applied/{i}"), "v").await.expect("put").header.expect("header");
            assert!(
                header.applied_index >= header.revision && header.known_commit_index >= header.revision,
                "write {i}: {header:?}"
            );
        }
    })
    .await
    .expect("test finished in time");
}
