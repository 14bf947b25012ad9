//! Region disaster recovery on real processes (docs/architecture.md, "Regions and disaster recovery"): two regions on loopback, three
//! voters in `region-1` and two learners in `region-2`, plus simulated brokers.
//!
//! Every test is bounded (`TEST_TIMEOUT`), runs alone (`SERIAL`), and checks acknowledged writes
//! against what the cluster holds afterwards. Write gaps (RTO) and failover times are printed;
//! the figures in docs/benchmarks.md come from the `pharos-dr` benchmark, not from here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientOptions, v1};
use v1::member_service_client::MemberServiceClient;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(60);
/// Writes the async-loss test waits to see acknowledged in `async` before it kills the primary.
const ACKED_IN_ASYNC_MIN: u64 = 3;

fn options() -> ClusterOptions {
    ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters: 3, ..ClusterOptions::default() }
}

/// Three voters in region-1 (nodes 1-3), two learners in region-2 (nodes 4, 5), with the
/// placement policy filled in by the leader.
async fn two_regions() -> Cluster {
    pharos_chaos::start_two_regions(options(), 2, WAIT).await.expect("two regions start")
}

/// Polls DR status (any node that answers) until `check` holds, bounded.
async fn wait_for_dr(
    client: &Client,
    what: &str,
    check: impl Fn(&v1::DrStatusResponse) -> bool,
) -> v1::DrStatusResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(status) = client.dr_status().await
            && check(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// DR status from the leader (so lag and membership are the leader's).
async fn leader_dr_status(cluster: &Cluster) -> v1::DrStatusResponse {
    let leader = cluster.wait_for_leader(WAIT).await.expect("a leader");
    cluster.client_of(leader).expect("leader client").dr_status().await.expect("dr status")
}

fn quick_client(endpoints: Vec<String>) -> Client {
    let options =
        ClientOptions { attempts_max: 3, retry_backoff_ms: 20, request_timeout_ms: 2_000, ..Default::default() };
    Client::with_options(endpoints, options).expect("endpoints")
}

/// A client of region-2 once the new generation takes writes (its first write is
/// `after-failover`), bounded by `WAIT`: the seed restarts in process after the failover.
async fn new_generation_client(cluster: &Cluster) -> Client {
    let options = ClientOptions { attempts_max: 20, retry_backoff_ms: 20, ..Default::default() };
    let client = Client::with_options(cluster.region_endpoints("region-2"), options).expect("client");
    let deadline = Instant::now() + WAIT;
    loop {
        match client.put("after-failover", "1").await {
            Ok(_) => return client,
            Err(error) => assert!(Instant::now() < deadline, "the new generation takes no writes: {error}"),
        }
    }
}

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    value: String,
    revision: u64,
    at: Instant,
}

/// Writes unique keys until `stop`, at most `writes_max`; returns what was acknowledged.
/// Failed or unknown writes are not acknowledged and not expected anywhere.
/// Writes until `stop` (or `writes_max`); every acknowledged write is counted in `acked_count`
/// as it comes, for a test that must wait for writes rather than for time.
async fn write_until(
    client: Client,
    prefix: String,
    stop: Arc<AtomicBool>,
    writes_max: u64,
    acked_count: Arc<AtomicU64>,
) -> Vec<Acked> {
    let mut acked = Vec::new();
    for sequence in 0..writes_max {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let (key, value) = (format!("{prefix}-{sequence:06}"), format!("value-{prefix}-{sequence}"));
        match client.put(key.clone(), value.clone()).await {
            Ok(response) => {
                acked.push(Acked {
                    key,
                    value,
                    revision: response.header.map_or(0, |header| header.revision),
                    at: Instant::now(),
                });
                acked_count.fetch_add(1, Ordering::AcqRel);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    acked
}

/// Acknowledged writes that `client` (linearizable reads) does not return with their value.
async fn missing(client: &Client, acked: &[Acked]) -> Vec<Acked> {
    let mut missing = Vec::new();
    for write in acked {
        let found = client.get(write.key.clone(), v1::Consistency::Linearizable).await.expect("read");
        if found.kv.as_ref().map(|kv| kv.value.as_slice()) != Some(write.value.as_bytes()) {
            missing.push(write.clone());
        }
    }
    missing
}

/// Longest time between two consecutive acknowledgements.
fn longest_gap(acked: &[Acked]) -> Duration {
    acked.windows(2).map(|pair| pair[1].at.duration_since(pair[0].at)).max().unwrap_or_default()
}

/// `GET /metrics` of one node, as text (plain HTTP/1.1 on loopback).
async fn metrics_of(cluster: &Cluster, node_id: u64) -> String {
    http_get(cluster, node_id, "/metrics").await
}

/// `GET path` of one node's HTTP port: the whole response, status line first.
async fn http_get(cluster: &Cluster, node_id: u64, path: &str) -> String {
    cluster.http_get(node_id, path).await.expect("GET on the HTTP port")
}

/// The `pharos-error` reason of a raw gRPC refusal.
fn status_reason<T>(result: Result<T, tonic::Status>) -> Option<String> {
    let status = result.err()?;
    status.metadata().get("pharos-error").and_then(|value| value.to_str().ok()).map(str::to_string)
}

fn reason<T>(result: Result<T, pharos_client::ClientError>) -> Option<String> {
    result.err().and_then(|error| error.reason().map(|reason| reason.code_name().to_string()))
}

fn voters(status: &v1::DrStatusResponse) -> Vec<u64> {
    status
        .members
        .iter()
        .filter(|member| member.role() == pharos_client::v1::MemberRole::Voter)
        .map(|member| member.node_id)
        .collect()
}

async fn wait_for_operation(client: &Client, operation_id: u64) -> String {
    let status = wait_for_dr(client, "the switchover to finish", |status| {
        status.last_operation.as_ref().is_some_and(|finished| finished.id == operation_id)
    })
    .await;
    status.last_operation.map(|finished| finished.result).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planned_switchover_under_writes_loses_nothing_and_moves_leader_voters_and_masters() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = two_regions().await;
        let client = cluster.client();
        // broker-a registers (and so is elected) first: the master starts in region-1.
        let broker_a = cluster.spawn_broker("g1", "broker-a", &["--region", "region-1", "--priority", "5"]).expect("a");
        while broker_a.events_of("registered").is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let broker_b = cluster.spawn_broker("g1", "broker-b", &["--region", "region-2"]).expect("b");
        let before = loop {
            let view = client.get_broker_group("g1", v1::Consistency::Linearizable).await.ok().and_then(|r| r.group);
            if let Some(view) = view.filter(|view| view.master_broker_id.is_some() && view.sync_state_set.len() == 2) {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        client.dr_set_mode(v1::DrMode::DrSync, 2_000).await.expect("dr-sync");
        wait_for_dr(&client, "sync", |status| status.state() == pharos_client::v1::DrSyncState::Sync).await;

        let stop = Arc::new(AtomicBool::new(false));
        let writer =
            tokio::spawn(write_until(client.clone(), "switch".into(), stop.clone(), 100_000, Default::default()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let plan = client.dr_switchover("region-2", true).await.expect("dry run");
        assert_eq!(plan.operation_id, 0, "a dry run begins nothing");
        assert!(plan.plan.iter().any(|step| step.contains("nodes 4,5 become voters")), "{:?}", plan.plan);
        // Sent twice with one key (an answer lost on the way): both get the operation the first
        // one began; the second begins nothing and is not refused as "in progress".
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let mut raw = v1::dr_service_client::DrServiceClient::connect(format!(
            "http://{}",
            cluster.node(leader).expect("leader").client_addr
        ))
        .await
        .expect("leader's client port");
        let switchover = v1::SwitchoverRequest {
            to_region: "region-2".into(),
            dry_run: false,
            request_id: Some(client.next_request_id()),
        };
        let started = raw.switchover(switchover.clone()).await.expect("switchover begins").into_inner();
        let retried = raw.switchover(switchover).await.expect("the retry gets the first answer").into_inner();
        assert_eq!(retried.operation_id, started.operation_id);
        assert_eq!(wait_for_operation(&client, started.operation_id).await, "ok");
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Release);
        let acked = writer.await.expect("writer");
        assert!(acked.len() > 20, "the writer made progress ({} writes)", acked.len());
        println!("switchover: {} writes acknowledged, longest write gap (RTO) {:?}", acked.len(), longest_gap(&acked));

        assert!(missing(&client, &acked).await.is_empty(), "every acknowledged write survives a switchover");
        let status = leader_dr_status(&cluster).await;
        assert_eq!((status.primary_region.as_str(), status.dr_region.as_str()), ("region-2", "region-1"));
        assert_eq!(voters(&status), vec![4, 5]);
        assert!(matches!(status.leader_id, Some(4 | 5)), "leader {:?} is in region-2", status.leader_id);
        // The broker group's master follows into region-2 with a higher epoch.
        let broker_b_id =
            broker_b.events_of("registered").last().and_then(|event| event["broker_id"].as_u64()).expect("b");
        let deadline = Instant::now() + WAIT;
        loop {
            let view =
                client.get_broker_group("g1", v1::Consistency::Linearizable).await.expect("group").group.expect("g1");
            if view.master_broker_id == Some(broker_b_id) {
                assert!(view.master_epoch > before.master_epoch, "the move raised the master epoch");
                break;
            }
            assert!(Instant::now() < deadline, "the master of g1 did not move into region-2: {view:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every step is in the audit log.
        let audit = client.list_audit(1_000).await.expect("audit");
        for action in ["dr_begin_switchover", "dr_advance_switchover", "dr_finish_switchover"] {
            assert!(audit.entries.iter().any(|entry| entry.action == action), "{action} audited");
        }
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switchover_whose_leader_dies_midway_completes_under_the_next_leader() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = two_regions().await;
        let client = cluster.client();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_until(
            quick_client(cluster.client_endpoints()),
            "kill".into(),
            stop.clone(),
            100_000,
            Default::default(),
        ));
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        assert!(leader <= 3);
        let started =
            cluster.client_of(leader).expect("leader").dr_switchover("region-2", false).await.expect("begins");
        // Kill the leader as soon as the promotion is under way.
        wait_for_dr(&client, "the promotion to start", |status| {
            status.operation.as_ref().is_some_and(|operation| operation.id == started.operation_id)
                || status.last_operation.as_ref().is_some_and(|finished| finished.id == started.operation_id)
        })
        .await;
        cluster.kill(leader).expect("kill");
        println!("killed leader {leader} during the switchover");
        assert_eq!(wait_for_operation(&client, started.operation_id).await, "ok");
        stop.store(true, Ordering::Release);
        let acked = writer.await.expect("writer");
        let status = leader_dr_status(&cluster).await;
        assert_eq!(voters(&status), vec![4, 5], "the resumed switchover finished the demotion");
        assert_eq!(status.primary_region, "region-2");
        assert!(missing(&client, &acked).await.is_empty(), "every acknowledged write survives");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_primary_in_sync_then_forcing_failover_loses_nothing_and_the_old_region_is_fenced_until_failback() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = two_regions().await;
        let client = cluster.client();
        // A broker group spanning both regions: its master in region-1 dies with the region.
        let mut broker_a =
            cluster.spawn_broker("g1", "broker-a", &["--region", "region-1", "--priority", "5"]).expect("a");
        while broker_a.events_of("registered").is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let broker_b = cluster.spawn_broker("g1", "broker-b", &["--region", "region-2"]).expect("b");
        let group_before = loop {
            let view = client.get_broker_group("g1", v1::Consistency::Linearizable).await.ok().and_then(|r| r.group);
            if let Some(view) = view.filter(|view| view.master_broker_id.is_some() && view.sync_state_set.len() == 2) {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        client.dr_set_mode(v1::DrMode::DrSync, 5_000).await.expect("dr-sync");
        wait_for_dr(&client, "sync", |status| status.state() == pharos_client::v1::DrSyncState::Sync).await;

        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|worker| {
                let client = quick_client(cluster.region_endpoints("region-1"));
                tokio::spawn(write_until(client, format!("w{worker}"), stop.clone(), 100_000, Default::default()))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for node_id in [1, 2, 3] {
            cluster.kill(node_id).expect("kill");
        }
        broker_a.kill();
        stop.store(true, Ordering::Release);
        let mut acked = Vec::new();
        for writer in writers {
            acked.extend(writer.await.expect("writer"));
        }
        assert!(acked.len() > 20, "writes were acknowledged before the loss ({})", acked.len());

        let survivors = quick_client(cluster.region_endpoints("region-2"));
        let refused = survivors
            .dr_failover(v1::RegionFailoverRequest {
                to_region: "region-2".to_string(),
                force: false,
                dry_run: false,
                old_region_fenced: "".to_string(),
            })
            .await
            .expect_err("needs --force");
        assert_eq!(refused.reason(), Some(pharos_client::ErrorReason::FailoverRefused));
        let command_at = Instant::now();
        let report = survivors
            .dr_failover(v1::RegionFailoverRequest {
                to_region: "region-2".to_string(),
                force: true,
                dry_run: false,
                old_region_fenced: "".to_string(),
            })
            .await
            .expect("failover");
        assert!(report.rpo_zero, "the last DR state was sync: {report:?}");
        assert_eq!(report.generation, 2);
        // First accepted write of the new generation.
        let new_generation = new_generation_client(&cluster).await;
        println!("forced failover: first write accepted {:?} after the command", command_at.elapsed());
        assert_eq!(new_generation.generation(), 2, "answers carry the new generation");
        assert!(missing(&new_generation, &acked).await.is_empty(), "no write acknowledged in sync state is lost");
        let status = wait_for_dr(&new_generation, "both survivors voting", |status| {
            status.generation == 2 && voters(status) == vec![4, 5]
        })
        .await;
        assert_eq!(status.primary_region, "region-2");
        assert!(status.last_failover.is_some_and(|failover| failover.abandoned_node_ids == vec![1, 2, 3]));
        assert!(report.groups.iter().any(|line| line.starts_with("g1: broker")), "{:?}", report.groups);
        // The group's in-sync broker of region-2 becomes master in the new generation.
        let broker_b_id =
            broker_b.events_of("registered").last().and_then(|event| event["broker_id"].as_u64()).expect("b");
        let deadline = Instant::now() + WAIT;
        loop {
            let view =
                new_generation.get_broker_group("g1", v1::Consistency::Linearizable).await.ok().and_then(|r| r.group);
            if let Some(view) = view.filter(|view| view.master_broker_id == Some(broker_b_id)) {
                assert!(view.master_epoch > group_before.master_epoch, "a new master epoch");
                break;
            }
            assert!(Instant::now() < deadline, "broker-b did not become master of g1 in region-2");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The old region returns with its old data and flags: it must take no write.
        for node_id in [1, 2, 3] {
            cluster.restart(node_id).expect("restart");
        }
        let old_region = quick_client(cluster.region_endpoints("region-1"));
        // A client that knows generation 2 refuses any answer of the old region, even a local read.
        let knows_new =
            quick_client([cluster.region_endpoints("region-2"), cluster.region_endpoints("region-1")].concat());
        knows_new.status().await.expect("a generation-2 answer");
        assert_eq!(knows_new.generation(), 2);
        let watch_until = Instant::now() + Duration::from_secs(4);
        let mut attempts = 0;
        while Instant::now() < watch_until {
            let write = old_region.put(format!("old-region-{attempts}"), "must not land").await;
            assert!(write.is_err(), "the old region accepted a write: {write:?}");
            attempts += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for node_id in [1, 2, 3] {
            let node = cluster.client_of(node_id).expect("old node");
            let fenced = wait_for_dr(&node, "every old-region node to learn of generation 2", |status| {
                status.fenced_by_generation == Some(2)
            })
            .await;
            assert_eq!(fenced.generation, 1);
            // Issue 11, bug 6: a load balancer must stop sending traffic to a fenced node.
            let ready = http_get(&cluster, node_id, "/readyz").await;
            assert!(ready.starts_with("HTTP/1.1 503") && ready.contains("fenced by generation 2"), "{ready}");
            // Refused as FENCED whatever its role: a fenced follower that redirected to its fenced
            // leader kept clients listing both regions looping in the old one (found by the
            // chaos scenario dr-drill).
            let refused = node.put(format!("old-region-direct-{node_id}"), "must not land").await;
            let refused = refused.expect_err("a fenced node takes no write").to_string();
            assert!(refused.contains("fenced by generation 2"), "node {node_id}: {refused}");
        }
        // A client knowing no generation, old region listed first, still reaches the new one.
        let both = Client::with_options(
            [cluster.region_endpoints("region-1"), cluster.region_endpoints("region-2")].concat(),
            ClientOptions { attempts_max: 10, retry_backoff_ms: 20, request_timeout_ms: 2_000, ..Default::default() },
        )
        .expect("client");
        both.put("through-the-fence", "1").await.expect("a write reaches generation 2 past the fenced nodes");
        assert_eq!(both.generation(), 2);

        // Failback: quarantine, re-join as learners, switch the primary back.
        let response = new_generation.dr_failback().await.expect("failback");
        assert_eq!(response.rejoining, vec![1, 2, 3]);
        assert!(response.unreachable.is_empty() && response.unreachable_reasons.is_empty(), "{response:?}");
        wait_for_dr(&new_generation, "the old region caught up as learners", |status| {
            [1, 2, 3].iter().all(|id| {
                status.members.iter().any(|member| {
                    member.node_id == *id
                        && member.role() == pharos_client::v1::MemberRole::Learner
                        && member.lag_entries.is_some_and(|lag| lag <= 100)
                })
            })
        })
        .await;
        for node_id in [1, 2, 3] {
            let quarantine = cluster.node(node_id).expect("node").data_dir.join("quarantine");
            assert_eq!(std::fs::read_dir(&quarantine).expect("quarantine dir").count(), 1, "old data kept aside");
        }
        let back = new_generation.dr_switchover("region-1", false).await.expect("switch back");
        assert_eq!(wait_for_operation(&new_generation, back.operation_id).await, "ok");
        let everywhere = cluster.client();
        let status = leader_dr_status(&cluster).await;
        assert_eq!((status.primary_region.as_str(), status.generation), ("region-1", 2));
        assert_eq!(voters(&status), vec![1, 2, 3]);
        assert!(missing(&everywhere, &acked).await.is_empty(), "still nothing lost after failback");
        let old_keys = everywhere.range("old-region-", 100, v1::Consistency::Linearizable).await.expect("range");
        assert!(old_keys.kvs.is_empty(), "no write of the fenced region exists: {:?}", old_keys.kvs);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_primary_in_async_loses_no_more_than_the_failover_reports() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = two_regions().await;
        let client = cluster.client();
        client.dr_set_mode(v1::DrMode::DrSync, 2_000).await.expect("dr-sync");
        wait_for_dr(&client, "sync", |status| status.state() == pharos_client::v1::DrSyncState::Sync).await;
        let primary = quick_client(cluster.region_endpoints("region-1"));
        let stop = Arc::new(AtomicBool::new(false));
        let acked_count = Arc::new(AtomicU64::new(0));
        let writer =
            tokio::spawn(write_until(primary.clone(), "async".into(), stop.clone(), 100_000, acked_count.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Cut the DR region: writes stall, then go on in async.
        for node_id in [4, 5] {
            cluster.signal(node_id, "STOP").expect("stop");
        }
        wait_for_dr(&primary, "async", |status| status.state() == pharos_client::v1::DrSyncState::Async).await;
        // Until a few writes were acknowledged in async (the region-2 learners sleep through
        // them), at least 300 ms. A fixed 300 ms saw none acknowledged on a loaded machine, and
        // then nothing was lost to check the report against. The DR learners wake to heartbeats
        // queued while they slept, sent moments ago but after the switch. Judged by their send
        // time, the leader was "heard from within the timeout"; only the announced state id
        // shows that the switch happened (found under load).
        let in_async = acked_count.load(Ordering::Acquire);
        let deadline = Instant::now() + WAIT;
        tokio::time::sleep(Duration::from_millis(300)).await;
        while acked_count.load(Ordering::Acquire) < in_async + ACKED_IN_ASYNC_MIN {
            assert!(Instant::now() < deadline, "no write was acknowledged in async");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for node_id in [1, 2, 3] {
            cluster.kill(node_id).expect("kill");
        }
        stop.store(true, Ordering::Release);
        let acked = writer.await.expect("writer");
        for node_id in [4, 5] {
            cluster.signal(node_id, "CONT").expect("cont");
        }
        let survivors = quick_client(cluster.region_endpoints("region-2"));
        let report = survivors
            .dr_failover(v1::RegionFailoverRequest {
                to_region: "region-2".to_string(),
                force: true,
                dry_run: false,
                old_region_fenced: "".to_string(),
            })
            .await
            .expect("failover");
        assert!(!report.rpo_zero, "the last DR state known in region-2 was not sync: {report:?}");
        assert!(report.loss_report.iter().any(|line| line.contains("may be lost")), "{:?}", report.loss_report);
        let new_generation = new_generation_client(&cluster).await;
        let lost = missing(&new_generation, &acked).await;
        println!(
            "async failover: {} of {} acknowledged writes lost; report: {:?}",
            lost.len(),
            acked.len(),
            report.loss_report
        );
        // Usually some are lost. Not always: the stopped learners' sockets keep what the leader
        // sent while they slept, and on SIGCONT they may read writes acknowledged in async
        // before the kill reached them (seen under load: 0 of 58 lost). Losing less than the
        // report allows is allowed; losing what it promised is not.
        if lost.is_empty() {
            println!("no write lost: region-2 read the async writes queued in its sockets before the failover");
        }
        for write in &lost {
            assert!(
                write.revision > report.seed_last_log_index,
                "write at revision {} was lost although the report promised everything up to {}",
                write.revision,
                report.seed_last_log_index
            );
        }
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cutting_the_dr_region_in_dr_sync_stalls_writes_for_at_most_the_timeout_then_returns_to_sync() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = two_regions().await;
        let client = quick_client(cluster.region_endpoints("region-1"));
        let timeout_ms = 1_500;
        client.dr_set_mode(v1::DrMode::DrSync, timeout_ms).await.expect("dr-sync");
        let synced =
            wait_for_dr(&client, "sync", |status| status.state() == pharos_client::v1::DrSyncState::Sync).await;
        client.put("before-cut", "1").await.expect("write in sync");
        for node_id in [4, 5] {
            cluster.signal(node_id, "STOP").expect("stop");
        }
        let stalled_at = Instant::now();
        client.put("during-cut", "1").await.expect("the write completes once async");
        let stall = stalled_at.elapsed();
        println!("write stalled {stall:?} with dr_sync_timeout {timeout_ms} ms");
        assert!(stall >= Duration::from_millis(timeout_ms / 2), "the write waited for the DR region ({stall:?})");
        // The bound is the timeout plus one planning pass and a commit; 2 s of slack for a loaded CI.
        assert!(stall <= Duration::from_millis(timeout_ms + 2_000), "stalled {stall:?}, longer than the timeout");
        let asynchronous =
            wait_for_dr(&client, "async", |status| status.state() == pharos_client::v1::DrSyncState::Async).await;
        assert!(asynchronous.dr_state_id > synced.dr_state_id, "a new DR state id per switch");
        client.put("in-async", "1").await.expect("writes continue in async");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let metrics = metrics_of(&cluster, leader).await;
        assert!(metrics.contains("pharos_dr_mode{mode=\"dr-sync\"} 1"), "{metrics}");
        assert!(metrics.contains("pharos_dr_sync_state{state=\"async\"} 1"), "{metrics}");
        assert!(metrics.contains("pharos_dr_member_lag_ms{node_id=\"4\",region=\"region-2\"}"), "{metrics}");
        assert!(metrics.contains("\npharos_insecure 1\n"), "the harness runs --insecure, and it shows: {metrics}");
        for node_id in [4, 5] {
            cluster.signal(node_id, "CONT").expect("cont");
        }
        let recovered =
            wait_for_dr(&client, "back to sync", |status| status.state() == pharos_client::v1::DrSyncState::Sync).await;
        assert!(recovered.dr_state_id > asynchronous.dr_state_id);
        let audit = client.list_audit(1_000).await.expect("audit");
        let switches: Vec<&str> = audit
            .entries
            .iter()
            .rev()
            .filter(|entry| entry.action == "dr_switch_state")
            .map(|entry| entry.target.split(' ').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(switches, vec!["sync", "async", "sync-recover", "sync"], "{:?}", audit.entries);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_dr_requests_get_typed_errors_and_change_nothing() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = two_regions().await;
        let client = cluster.client();
        let before = leader_dr_status(&cluster).await;
        // Majority mode has no sync state: saying `async` would fire RPO alerts (issue 11).
        assert_eq!((before.mode(), before.state()), (v1::DrMode::Majority, v1::DrSyncState::Unspecified), "{before:?}");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let metrics = metrics_of(&cluster, leader).await;
        assert!(!metrics.contains("pharos_dr_sync_state{state=\"async\"} 1"), "{metrics}");
        assert!(metrics.contains("pharos_dr_sync_state{state=\"sync\"} 0"), "{metrics}");
        assert_eq!(reason(client.dr_set_mode(v1::DrMode::Unspecified, 0).await).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(reason(client.dr_set_mode(v1::DrMode::DrSync, 5).await).as_deref(), Some("INVALID_DR"));
        assert_eq!(reason(client.dr_configure("region-1", "region-1").await).as_deref(), Some("INVALID_DR"));
        assert_eq!(reason(client.dr_switchover("region-9", false).await).as_deref(), Some("SWITCHOVER_REFUSED"));
        assert_eq!(reason(client.dr_switchover("region-1", false).await).as_deref(), Some("SWITCHOVER_REFUSED"));
        assert_eq!(reason(client.dr_switchover("", false).await).as_deref(), Some("INVALID_ARGUMENT"));
        // The primary region answers: an unplanned failover is refused even with --force.
        let survivors = quick_client(cluster.region_endpoints("region-2"));
        let refused = survivors
            .dr_failover(v1::RegionFailoverRequest {
                to_region: "region-2".to_string(),
                force: true,
                dry_run: false,
                old_region_fenced: "".to_string(),
            })
            .await
            .expect_err("primary answers");
        assert_eq!(refused.reason(), Some(pharos_client::ErrorReason::FailoverRefused));
        assert!(refused.to_string().contains("still answers"), "{refused}");
        // Reform requests from another cluster or an older generation are refused (on the peer
        // port: the client port does not serve them at all).
        let node_4 = cluster.client_of(4).expect("node 4");
        let identity = node_4.identity().await.expect("identity");
        let node_4_peer = cluster.node(4).expect("node 4").peer_addr.clone();
        let mut member = MemberServiceClient::connect(format!("http://{node_4_peer}")).await.expect("peer port");
        let reform = |cluster_id: &str, generation: u64| v1::ReformRequest {
            cluster_id: cluster_id.to_string(),
            generation,
            role: v1::ReformRole::Seed.into(),
            ..Default::default()
        };
        // Malformed before anything else: an empty request is not "another cluster".
        assert_eq!(
            status_reason(member.reform(v1::ReformRequest::default()).await).as_deref(),
            Some("INVALID_ARGUMENT")
        );
        let unknown_role = v1::ReformRequest { role: 99, ..reform(&identity.cluster_id, 9) };
        assert_eq!(status_reason(member.reform(unknown_role).await).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(
            status_reason(member.reform(reform("another-cluster", 9)).await).as_deref(),
            Some("CLUSTER_MISMATCH")
        );
        assert_eq!(
            status_reason(member.reform(reform(&identity.cluster_id, 1)).await).as_deref(),
            Some("STALE_GENERATION")
        );
        let node_4_client = cluster.node(4).expect("node 4").client_addr.clone();
        let mut on_client_port =
            MemberServiceClient::connect(format!("http://{node_4_client}")).await.expect("client port");
        let refused = on_client_port.reform(reform(&identity.cluster_id, 9)).await.expect_err("not served");
        assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused}");
        assert_eq!(reason(client.dr_failback().await).as_deref(), Some("FAILBACK_REFUSED"));
        let after = leader_dr_status(&cluster).await;
        assert_eq!(
            (after.generation, after.dr_state_id, after.mode(), after.primary_region.as_str()),
            (before.generation, before.dr_state_id, before.mode(), before.primary_region.as_str())
        );
        assert!(after.operation.is_none());
    })
    .await
    .expect("test finished in time");
}

fn failover_request(fenced: &str) -> v1::RegionFailoverRequest {
    v1::RegionFailoverRequest {
        to_region: "region-2".to_string(),
        force: true,
        dry_run: false,
        old_region_fenced: fenced.to_string(),
    }
}

/// Issue 10, item 4: a primary region that is alive but does not answer (here: every process
/// paused, so connections are accepted by the kernel and never answered; a partition or a
/// filtered client port looks the same) is not proven down. A forced failover is refused, with
/// what each port did, until the operator states the region fenced; nothing changes before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_that_is_alive_but_silent_is_not_failed_over_without_the_operators_fence() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = two_regions().await;
        let client = cluster.client();
        client.put("before", "1").await.expect("write before the cut");
        for node_id in [1, 2, 3] {
            cluster.signal(node_id, "STOP").expect("SIGSTOP");
        }
        // Each silent node costs the failover its probe timeout (1 s, all probed at once).
        let options = ClientOptions { attempts_max: 1, request_timeout_ms: 10_000, ..Default::default() };
        let survivors = Client::with_options(cluster.region_endpoints("region-2"), options).expect("client");
        let refused = survivors.dr_failover(failover_request("")).await.expect_err("not proven down");
        assert_eq!(refused.reason(), Some(pharos_client::ErrorReason::FailoverRefused));
        let message = refused.to_string();
        assert!(message.contains("not proven down") && message.contains("--old-region-fenced region-1"), "{message}");
        assert!(message.contains("node 1: client port no answer, peer port no answer"), "{message}");
        let wrong = survivors.dr_failover(failover_request("region-9")).await.expect_err("names another region");
        assert_eq!(wrong.reason(), Some(pharos_client::ErrorReason::FailoverRefused));
        // Nothing changed: the survivors are still generation 1 learners.
        for node_id in [4, 5] {
            let status = cluster.status_of(node_id).await.expect("survivor status");
            assert_eq!((status.generation, status.state()), (1, v1::ServerState::Learner), "node {node_id}");
        }
        // The operator fences the old region (here for real: kill -9) and says so.
        for node_id in [1, 2, 3] {
            cluster.kill(node_id).expect("kill -9 the paused primary");
        }
        let report = survivors.dr_failover(failover_request("region-1")).await.expect("failover with the fence");
        assert_eq!(report.generation, 2);
        assert_eq!(report.probes.len(), 3, "every old-region node was probed: {report:?}");
        let new_generation = new_generation_client(&cluster).await;
        assert_eq!(new_generation.generation(), 2);
        assert_eq!(
            new_generation.get("before", v1::Consistency::Linearizable).await.expect("read").kv.map(|kv| kv.value),
            Some(b"1".to_vec())
        );
    })
    .await
    .expect("test finished in time");
}

/// A primary whose every process is dead (both ports refuse connections) is proven down: no
/// statement is needed, and the probes say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_primary_is_proven_down_by_refused_connections() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = two_regions().await;
        for node_id in [1, 2, 3] {
            cluster.kill(node_id).expect("kill -9");
        }
        let survivors = quick_client(cluster.region_endpoints("region-2"));
        let plan = survivors
            .dr_failover(v1::RegionFailoverRequest { dry_run: true, ..failover_request("") })
            .await
            .expect("a dry run needs no statement");
        let refused = v1::Reach::Refused as i32;
        assert!(
            plan.probes
                .iter()
                .all(|probe| probe.client == refused && probe.peer == refused && probe.region == "region-1"),
            "{:?}",
            plan.probes
        );
        for node_id in [4, 5] {
            assert_eq!(cluster.status_of(node_id).await.expect("status").generation, 1, "a dry run changes nothing");
        }
    })
    .await
    .expect("test finished in time");
}

/// docs/dr.md, "Three sites": 2 + 2 voters in two regions and a tie-breaker voter in a third.
/// Losing the primary region needs no forced failover: Raft elects among the survivors, no
/// acknowledged write is lost, the generation stays, and the group's master moves to the
/// in-sync broker of the surviving region.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_sites_lose_a_region_without_a_failover() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let regions = ["region-1", "region-1", "region-2", "region-2", "region-3"];
        let options = ClusterOptions {
            voters: 5,
            voter_regions: regions.iter().map(|region| region.to_string()).collect(),
            ..options()
        };
        let mut cluster = Cluster::start(options).await.expect("five voters in three regions");
        let client = cluster.client();
        client.dr_configure("region-1", "region-2").await.expect("primary region-1");
        let broker_a = cluster.spawn_broker("g1", "broker-a", &["--region", "region-1", "--priority", "5"]).expect("a");
        while broker_a.events_of("registered").is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut broker_a = broker_a;
        let broker_b = cluster.spawn_broker("g1", "broker-b", &["--region", "region-2"]).expect("b");
        let deadline = Instant::now() + WAIT;
        let before = loop {
            let view = client.get_broker_group("g1", v1::Consistency::Linearizable).await.ok().and_then(|r| r.group);
            if let Some(view) = view.filter(|view| view.master_broker_id.is_some() && view.sync_state_set.len() == 2) {
                break view;
            }
            assert!(Instant::now() < deadline, "g1 never had a master and two in-sync brokers");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };

        let stop = Arc::new(AtomicBool::new(false));
        let survivors_client = quick_client(cluster.region_endpoints("region-2"));
        let writer = tokio::spawn(write_until(
            cluster.client(),
            "three-sites".into(),
            stop.clone(),
            100_000,
            Default::default(),
        ));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        for node_id in [1, 2] {
            cluster.kill(node_id).expect("kill -9 region-1");
        }
        broker_a.kill();
        let lost_at = Instant::now();
        let deadline = Instant::now() + WAIT;
        let leader = loop {
            if let Ok(leader) = cluster.wait_for_leader(Duration::from_secs(1)).await
                && matches!(leader, 3..=5)
            {
                break leader;
            }
            assert!(Instant::now() < deadline, "no leader among the surviving sites");
        };
        println!("three sites: node {leader} leads {:?} after region-1 was lost", lost_at.elapsed());
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        stop.store(true, Ordering::Release);
        let acked = writer.await.expect("writer");
        let after_loss = acked.iter().filter(|write| write.at > lost_at).count();
        assert!(after_loss > 0, "writes continue without any failover command");
        assert!(missing(&survivors_client, &acked).await.is_empty(), "no acknowledged write is lost");
        let status = cluster.status_of(leader).await.expect("leader status");
        assert_eq!(status.generation, 1, "no new generation: Raft alone moved on");

        let broker_b_id =
            broker_b.events_of("registered").last().and_then(|event| event["broker_id"].as_u64()).expect("b");
        let deadline = Instant::now() + WAIT;
        loop {
            let view = survivors_client
                .get_broker_group("g1", v1::Consistency::Linearizable)
                .await
                .ok()
                .and_then(|response| response.group);
            if let Some(view) = view.filter(|view| view.master_broker_id == Some(broker_b_id)) {
                assert!(view.master_epoch > before.master_epoch, "a new master epoch");
                break;
            }
            assert!(Instant::now() < deadline, "broker-b of region-2 never became master of g1");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("test finished in time");
}
