//! Brokers on real processes: `pharos serve` nodes plus `pharos simulate-broker` processes.
//!
//! Timing used here (see `ClusterOptions::default`): heartbeat 300 ms, lease 1500 ms, clock
//! drift bound 200 ms. Tests run one at a time (`SERIAL`).

use std::time::{Duration, Instant};

use pharos_chaos::{BrokerProcess, Cluster, ClusterOptions};
use pharos_client::{Client, ClientError, ClientOptions, v1};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

fn options(voters: u64) -> ClusterOptions {
    ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters, ..ClusterOptions::default() }
}

/// Polls `group` until `check` holds, bounded.
async fn wait_for_group(
    client: &Client,
    group: &str,
    what: &str,
    check: impl Fn(&v1::BrokerGroupView) -> bool,
) -> v1::BrokerGroupView {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get_broker_group(group, v1::Consistency::Linearizable).await
            && let Some(view) = response.group
            && check(&view)
        {
            return view;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn broker_id_of(process: &BrokerProcess) -> u64 {
    process.events_of("registered").last().and_then(|event| event["broker_id"].as_u64()).expect("registered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_master_is_replaced_by_a_sync_replica_only_after_its_lease_ran_out() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        let mut first = cluster.spawn_broker("g1", "broker-a", &["--priority", "5"]).expect("broker a");
        wait_for_group(&client, "g1", "broker a to be master", |view| view.master_broker_id.is_some()).await;
        let second = cluster.spawn_broker("g1", "broker-b", &[]).expect("broker b");
        let third = cluster.spawn_broker("g1", "broker-c", &[]).expect("broker c");
        let view = wait_for_group(&client, "g1", "a full sync state set", |view| view.sync_state_set.len() == 3).await;
        let old_master = view.master_broker_id.expect("master");
        assert_eq!(old_master, broker_id_of(&first), "the higher-priority broker was elected first");

        first.kill();
        let killed_at = Instant::now();
        let new_view = wait_for_group(&client, "g1", "a new master", |view| {
            view.master_broker_id.is_some_and(|master| master != old_master)
        })
        .await;
        let replaced_after = killed_at.elapsed();
        let new_master = new_view.master_broker_id.expect("master");
        assert_eq!(new_view.master_epoch, view.master_epoch + 1, "one election, epoch + 1");
        assert!(view.sync_state_set.contains(&new_master), "the new master was in the sync state set");
        // lease 1500 + drift 200 + detection and election: well under 5 s.
        assert!(replaced_after < Duration::from_secs(5), "replacement took {replaced_after:?}");

        // The old master's lease ran out before the new master learned it was master.
        let old_lease_end = first
            .events_of("lease")
            .last()
            .and_then(|event| event["lease_valid_until_unix_ms"].as_u64())
            .expect("the old master renewed its lease");
        let new_process = [&second, &third].into_iter().find(|p| broker_id_of(p) == new_master).expect("new master");
        let deadline = Instant::now() + WAIT;
        let became_master = loop {
            let role = new_process
                .events_of("role")
                .into_iter()
                .filter(|event| event["role"] == "master")
                .filter_map(|event| event["at_unix_ms"].as_u64())
                .next_back();
            if let Some(at) = role {
                break at;
            }
            assert!(Instant::now() < deadline, "the new master never printed its role");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            became_master > old_lease_end,
            "new master at {became_master} but the old lease ran until {old_lease_end}"
        );

        // `broker list` (CLI) names the new master; the old one is fenced.
        let endpoints = format!("--endpoints={}", cluster.client_endpoints().join(","));
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
            .args([endpoints.as_str(), "broker", "list", "--output", "json"])
            .output()
            .expect("broker list");
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let group = &listed["groups"][0];
        assert_eq!(group["master_broker_id"], new_master);
        let old = group["brokers"].as_array().expect("brokers").iter().find(|b| b["broker_id"] == old_master).cloned();
        assert_eq!(old.expect("old master listed")["state"], "fenced");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_coordinator_leader_fences_no_healthy_broker() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        let brokers: Vec<BrokerProcess> = ["a", "b", "c"]
            .iter()
            .map(|name| cluster.spawn_broker("g1", &format!("broker-{name}"), &[]).expect("broker"))
            .collect();
        let before = wait_for_group(&client, "g1", "three synced brokers", |view| view.sync_state_set.len() == 3).await;

        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        cluster.kill(leader).expect("kill -9 the coordinator leader");
        // Three leases' worth of time: enough for any wrongful fencing to happen.
        tokio::time::sleep(Duration::from_millis(3 * 1_700)).await;

        let after = wait_for_group(&client, "g1", "the group under the new leader", |_| true).await;
        assert!(
            after.brokers.iter().all(|broker| broker.state() == v1::BrokerState::Active),
            "a healthy broker was fenced: {after:?}"
        );
        assert_eq!(after.master_broker_id, before.master_broker_id, "the master did not change");
        assert_eq!(after.master_epoch, before.master_epoch);
        for broker in &brokers {
            assert!(broker.events_of("fenced").is_empty(), "{} was told it is fenced", broker.name);
        }
    })
    .await
    .expect("test finished in time");
}

fn registration(name: &str, incarnation: &str, address: &str) -> v1::RegisterBrokerRequest {
    v1::RegisterBrokerRequest {
        cluster: "c1".into(),
        group: "g2".into(),
        name: name.into(),
        incarnation_id: incarnation.into(),
        zone: "z".into(),
        region: "region-1".into(),
        addresses: [("internal".to_string(), address.to_string())].into(),
        election_priority: 0,
        request_id: None,
    }
}

fn reason(error: ClientError) -> String {
    error.reason().map_or("none", |reason| reason.code_name()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_epochs_unknown_brokers_duplicates_and_bad_addresses_are_refused() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let registered = client.register_broker(registration("b1", "inc-1", "127.0.0.1:1")).await.expect("register");
        let group = wait_for_group(&client, "g2", "a master", |view| view.master_broker_id.is_some()).await;
        let revision = client.get_broker_group("g2", v1::Consistency::Linearizable).await.expect("get").revision;

        let duplicate = client.register_broker(registration("b1", "inc-2", "127.0.0.1:1")).await.expect_err("duplicate");
        assert_eq!(reason(duplicate), "DUPLICATE_REGISTRATION");
        let bad_address = client.register_broker(registration("b9", "inc-9", "nowhere")).await.expect_err("bad address");
        assert_eq!(reason(bad_address), "INVALID_REGISTRATION");
        let bad_name = client.register_broker(registration("", "inc-9", "127.0.0.1:1")).await.expect_err("empty name");
        assert_eq!(reason(bad_name), "INVALID_REGISTRATION");
        let retried = client.register_broker(registration("b1", "inc-1", "127.0.0.1:1")).await.expect("a retry");
        assert_eq!((retried.broker_id, retried.broker_epoch), (registered.broker_id, registered.broker_epoch));
        let after = client.get_broker_group("g2", v1::Consistency::Linearizable).await.expect("get").revision;
        assert_eq!(after, revision, "a retried registration and three refused ones took no log entry");

        let stale_heartbeat = v1::HeartbeatRequest {
            broker_id: registered.broker_id,
            broker_epoch: registered.broker_epoch + 7,
            ..Default::default()
        };
        let error = client.heartbeat(stale_heartbeat).await.expect_err("stale broker epoch");
        assert!(matches!(&error, ClientError::Rejected { message, .. } if message.contains(&format!("current is {}", registered.broker_epoch))), "{error}");
        assert_eq!(reason(error), "STALE_BROKER_EPOCH");
        let unknown = client
            .heartbeat(v1::HeartbeatRequest { broker_id: 999, broker_epoch: 1, ..Default::default() })
            .await
            .expect_err("unknown broker");
        assert_eq!(reason(unknown), "UNKNOWN_BROKER");

        let alter = |master_epoch, sync_state_epoch| v1::AlterSyncStateSetRequest {
            group: "g2".into(),
            master_broker_id: registered.broker_id,
            master_epoch,
            sync_state_epoch,
            sync_state_set: vec![registered.broker_id],
            request_id: None,
        };
        let stale_master = client.alter_sync_state_set(alter(group.master_epoch + 5, group.sync_state_epoch)).await.expect_err("stale");
        assert_eq!(reason(stale_master), "STALE_MASTER_EPOCH");
        let stale_sync = client.alter_sync_state_set(alter(group.master_epoch, group.sync_state_epoch + 5)).await.expect_err("stale");
        assert_eq!(reason(stale_sync), "STALE_SYNC_STATE_EPOCH");
        let unknown_group = client.get_broker_group("nope", v1::Consistency::Linearizable).await.expect_err("unknown");
        assert_eq!(reason(unknown_group), "UNKNOWN_GROUP");

        let after = client.get_broker_group("g2", v1::Consistency::Linearizable).await.expect("get");
        assert_eq!(after.revision, revision, "no refused request changed anything");
        assert_eq!(after.group.expect("group").brokers.len(), 1);
    })
    .await
    .expect("test finished in time");
}

async fn collect(
    stream: &mut tonic::Streaming<v1::BrokerGroupEvent>,
    until_revision: u64,
) -> Vec<v1::BrokerGroupEvent> {
    let mut events = Vec::new();
    while events.last().is_none_or(|event: &v1::BrokerGroupEvent| event.revision < until_revision) {
        let event = tokio::time::timeout(WAIT, stream.message()).await.expect("event in time").expect("stream ok");
        events.push(event.expect("stream open"));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_watch_sees_every_change_exactly_once() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let first = client.register_broker(registration("w1", "i1", "127.0.0.1:1")).await.expect("register");
        wait_for_group(&client, "g2", "a master", |view| view.master_broker_id.is_some()).await;

        // Watcher A never disconnects; watcher B disconnects halfway and resumes.
        let mut watcher_a = client.watch_broker_group("g2", 0).await.expect("watch A");
        let start = collect(&mut watcher_a, 0).await;
        let start_revision = start[0].revision;
        let mut watcher_b = client.watch_broker_group("g2", start_revision).await.expect("watch B");

        let mut revisions = Vec::new();
        for name in ["w2", "w3"] {
            revisions.push(
                client.register_broker(registration(name, name, "127.0.0.1:2")).await.expect("register").revision,
            );
        }
        let seen_b_first = collect(&mut watcher_b, revisions[1]).await;
        let resume_from = seen_b_first.last().expect("events").revision;
        drop(watcher_b);

        let w2 = client.get_broker_group("g2", v1::Consistency::Linearizable).await.expect("get").group.expect("group");
        let w2_id = w2.brokers.iter().find(|b| b.name == "w2").expect("w2").broker_id;
        revisions.push(client.fence_broker(w2_id).await.expect("fence").revision);
        revisions.push(client.remove_broker(w2_id).await.expect("remove").revision);
        revisions
            .push(client.unregister_broker(first.broker_id, first.broker_epoch).await.expect("unregister").revision);
        let last = *revisions.last().expect("revisions");

        let mut watcher_b = client.watch_broker_group("g2", resume_from).await.expect("resume B");
        let seen_b_second = collect(&mut watcher_b, last).await;
        let seen_a = collect(&mut watcher_a, last).await;

        let seen_b: Vec<u64> = seen_b_first.iter().chain(&seen_b_second).map(|event| event.revision).collect();
        let seen_a_revisions: Vec<u64> = seen_a.iter().map(|event| event.revision).collect();
        assert_eq!(seen_b, seen_a_revisions, "the resumed watcher saw exactly what the steady one saw");
        assert!(seen_b.windows(2).all(|pair| pair[0] < pair[1]), "in order, no duplicate: {seen_b:?}");
        for revision in &revisions {
            assert!(seen_b.contains(revision), "change at revision {revision} missed: {seen_b:?}");
        }
        let views_b: Vec<_> = seen_b_first.iter().chain(&seen_b_second).map(|event| event.group.clone()).collect();
        let views_a: Vec<_> = seen_a.iter().map(|event| event.group.clone()).collect();
        assert_eq!(views_b, views_a, "and the same group views");

        // After a restart the history starts afresh: an old revision is reported compacted.
        cluster.kill(1).expect("kill");
        cluster.restart(1).expect("restart");
        cluster.wait_for_leader(WAIT).await.expect("leader");
        let client =
            Client::with_options(cluster.client_endpoints(), ClientOptions { attempts_max: 50, ..Default::default() })
                .expect("client");
        let compacted = client.watch_broker_group("g2", start_revision).await.expect_err("compacted");
        assert_eq!(reason(compacted), "COMPACTED");
        // Issue 11, bug 3: a revision after anything committed is refused, not waited on.
        let status = client.status().await.expect("status");
        let future = client.watch_broker_group("g2", status.commit_index + 1_000).await.expect_err("future");
        assert_eq!(reason(future), "FUTURE_REVISION");
        let routes = client
            .watch_routes(v1::WatchRoutesRequest { from_revision: status.commit_index + 1_000, ..Default::default() })
            .await
            .expect_err("future");
        assert_eq!(reason(routes), "FUTURE_REVISION");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_that_shuts_down_hands_over_without_waiting_for_its_lease() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let mut first = cluster.spawn_broker("g3", "broker-a", &["--priority", "5"]).expect("broker a");
        wait_for_group(&client, "g3", "broker a to be master", |view| view.master_broker_id.is_some()).await;
        let _second = cluster.spawn_broker("g3", "broker-b", &[]).expect("broker b");
        let view = wait_for_group(&client, "g3", "a synced replica", |view| view.sync_state_set.len() == 2).await;

        first.terminate();
        let stopped_at = Instant::now();
        assert_eq!(first.events_of("unregistered").len(), 1, "controlled shutdown unregisters");
        let after = wait_for_group(&client, "g3", "the replica to take over", |group| {
            group.master_broker_id.is_some_and(|master| Some(master) != view.master_broker_id)
        })
        .await;
        // No lease to wait for (1500 ms lease + 200 ms drift): the master gave up by itself.
        assert!(stopped_at.elapsed() < Duration::from_millis(1_500), "hand-over took {:?}", stopped_at.elapsed());
        assert_eq!(after.master_epoch, view.master_epoch + 1);
        let old = after.brokers.iter().find(|broker| Some(broker.broker_id) == view.master_broker_id).expect("listed");
        assert_eq!(old.state(), v1::BrokerState::Shutdown);
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, bug 1: `Failover{to: <no such broker>}` used to fence the live master, wait 13 s
/// and leave the group leaderless. The target is now checked before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_that_cannot_elect_changes_nothing() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(3)).await.expect("cluster starts");
        let client = cluster.client();
        let master = cluster.spawn_broker("g1", "broker-a", &["--priority", "5"]).expect("broker a");
        wait_for_group(&client, "g1", "broker a to be master", |view| view.master_broker_id.is_some()).await;
        let other = cluster.spawn_broker("g2", "broker-x", &[]).expect("a broker of another group");
        wait_for_group(&client, "g2", "broker x to be master", |view| view.master_broker_id.is_some()).await;
        let before = wait_for_group(&client, "g1", "a master", |view| view.master_broker_id.is_some()).await;
        let audit_before = client.list_audit(1_000).await.expect("audit").entries.len();
        let status_before = client.status().await.expect("status");

        let started = Instant::now();
        let no_such = client.failover("g1", Some(u64::MAX), false).await.expect_err("no such broker");
        assert_eq!(no_such.reason(), Some(pharos_client::ErrorReason::InvalidArgument), "{no_such}");
        assert!(started.elapsed() < Duration::from_secs(2), "refused at once, not after a timeout");
        let foreign = client.failover("g1", Some(broker_id_of(&other)), false).await.expect_err("another group's");
        assert_eq!(foreign.reason(), Some(pharos_client::ErrorReason::InvalidArgument), "{foreign}");
        // No replica at all: nobody could be elected, so the master is not fenced.
        let nobody = client.failover("g1", None, false).await.expect_err("no candidate");
        assert_eq!(nobody.reason(), Some(pharos_client::ErrorReason::NotEligible), "{nobody}");

        let after = wait_for_group(&client, "g1", "the group", |_| true).await;
        assert_eq!((after.master_broker_id, after.master_epoch), (before.master_broker_id, before.master_epoch));
        assert_eq!(after.master_broker_id, Some(broker_id_of(&master)), "the master is still the master");
        assert_eq!(client.list_audit(1_000).await.expect("audit").entries.len(), audit_before, "no fence audited");
        let status_after = client.status().await.expect("status");
        assert_eq!(status_after.state_digest, status_before.state_digest, "the state is unchanged");
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, safe retries: an operator failover whose answer was lost, retried with its key,
/// gets the election the first attempt caused; without the key the retry would exclude the new
/// master and fail it over in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_failover_elects_once() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let _a = cluster.spawn_broker("g1", "broker-a", &["--priority", "5"]).expect("broker a");
        wait_for_group(&client, "g1", "broker a to be master", |view| view.master_broker_id.is_some()).await;
        let _b = cluster.spawn_broker("g1", "broker-b", &[]).expect("broker b");
        let before = wait_for_group(&client, "g1", "both brokers in sync", |view| view.sync_state_set.len() == 2).await;
        let channel = cluster.channel_of(1).await.expect("connect");
        let mut brokers = v1::broker_service_client::BrokerServiceClient::new(channel);
        let failover = v1::FailoverRequest {
            group: "g1".into(),
            to: None,
            unclean: false,
            request_id: Some(client.next_request_id()),
        };
        let first = brokers.failover(failover.clone()).await.expect("failover").into_inner();
        assert_ne!(Some(first.master_broker_id), before.master_broker_id, "the master moved");
        assert_eq!(first.master_epoch, before.master_epoch + 1);
        let retry = brokers.failover(failover).await.expect("the retry gets the first answer").into_inner();
        assert_eq!((retry.master_broker_id, retry.master_epoch), (first.master_broker_id, first.master_epoch));
        let after = wait_for_group(&client, "g1", "the group", |_| true).await;
        assert_eq!(
            (after.master_broker_id, after.master_epoch),
            (Some(first.master_broker_id), first.master_epoch),
            "the retry elected nobody else"
        );
    })
    .await
    .expect("test finished in time");
}

/// One `pharos serve` node started by hand, for a flag the cluster harness does not pass. Killed
/// (and its data removed) when dropped.
struct ServeProcess {
    child: std::process::Child,
    client_addr: String,
    dir: tempfile::TempDir,
}

impl ServeProcess {
    /// A single-node cluster with the harness's broker timing plus `extra` flags.
    fn start(extra: &[&str]) -> ServeProcess {
        let free_address = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("address").to_string()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let client_addr = free_address();
        let log = std::fs::File::create(dir.path().join("node.log")).expect("log file");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
            .arg("serve")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client={client_addr}"))
            .arg(format!("--listen-peer={}", free_address()))
            .arg(format!("--listen-http={}", free_address()))
            .arg(format!("--listen-remoting={}", free_address()))
            .args(["--broker-heartbeat-interval-ms=300", "--broker-lease-ms=1500", "--broker-clock-drift-ms=200"])
            .arg("--insecure")
            .args(extra)
            .env("PHAROS_LOG_LEVEL", "info,openraft=warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pharos serve");
        ServeProcess { child, client_addr, dir }
    }

    fn client(&self) -> Client {
        Client::with_options([self.client_addr.clone()], ClientOptions { attempts_max: 50, ..Default::default() })
            .expect("client")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

/// The broker ids an audited `collect_brokers` target names: `brokers 3, 4 (retired at ...)`.
fn collected_ids(target: &str) -> Vec<u64> {
    let list = target.strip_prefix("brokers ").and_then(|rest| rest.split(" (").next()).unwrap_or_default();
    list.split(", ").filter_map(|id| id.parse().ok()).collect()
}

/// Issue 11, bug 7: every broker restart added a record that stayed until `broker remove`. A
/// shut-down and a fenced broker's records now go once the retention window has passed (and not
/// before), each collection is audited, and the live master's record stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retired_broker_records_are_collected_after_the_retention_window_and_live_ones_kept() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = ServeProcess::start(&["--broker-record-retention-ms=2000"]);
        let client = node.client();
        let register = |name: &str| {
            let mut request = registration(name, &format!("{name}-1"), "127.0.0.1:10911");
            request.group = "g7".into();
            request
        };
        let live = client.register_broker(register("live")).await.expect("register the live broker");
        let heartbeats = {
            let client = node.client();
            tokio::spawn(async move {
                loop {
                    let request = v1::HeartbeatRequest {
                        broker_id: live.broker_id,
                        broker_epoch: live.broker_epoch,
                        ..Default::default()
                    };
                    let _ = client.heartbeat(request).await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            })
        };
        wait_for_group(&client, "g7", "the live broker to be master", |view| {
            view.master_broker_id == Some(live.broker_id)
        })
        .await;
        let leaver = client.register_broker(register("leaver")).await.expect("register");
        let dead = client.register_broker(register("dead")).await.expect("register");
        let retired_from_ms = unix_ms();
        client.unregister_broker(leaver.broker_id, leaver.broker_epoch).await.expect("controlled shutdown");
        client.fence_broker(dead.broker_id).await.expect("operator fence");
        let view = wait_for_group(&client, "g7", "both retirements", |_| true).await;
        let states: Vec<(u64, &str)> =
            view.brokers.iter().map(|broker| (broker.broker_id, broker.state().label())).collect();
        assert_eq!(
            states,
            vec![(live.broker_id, "active"), (leaver.broker_id, "shutdown"), (dead.broker_id, "fenced")],
            "retired records are listed until the window has passed"
        );

        let deadline = Instant::now() + WAIT;
        let gone_at_ms = loop {
            let listed = client.list_broker_groups(v1::Consistency::Linearizable).await.expect("broker list");
            let group = listed.groups.iter().find(|group| group.name == "g7").expect("group g7 listed");
            let ids: Vec<u64> = group.brokers.iter().map(|broker| broker.broker_id).collect();
            if ids == [live.broker_id] {
                break unix_ms();
            }
            assert!(Instant::now() < deadline, "retired records still listed: {ids:?}\n{}", node.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(gone_at_ms >= retired_from_ms + 2_000, "collected {} ms after retiring", gone_at_ms - retired_from_ms);

        let audit = client.list_audit(1_000).await.expect("audit").entries;
        let collections: Vec<&v1::AuditEntry> =
            audit.iter().filter(|entry| entry.action == "collect_brokers").collect();
        assert!(!collections.is_empty(), "no collection audited: {audit:?}");
        for entry in &collections {
            assert_eq!((entry.actor.as_str(), entry.result.as_str()), ("coordinator", "ok"), "{entry:?}");
            assert!(entry.at_ms >= retired_from_ms + 2_000, "audited as collected at {} ms", entry.at_ms);
        }
        let mut collected: Vec<u64> = collections.iter().flat_map(|entry| collected_ids(&entry.target)).collect();
        collected.sort_unstable();
        assert_eq!(collected, vec![leaver.broker_id, dead.broker_id], "each collected record is audited once");

        // Well past the window, the live master's record is still there and still master.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let after = wait_for_group(&client, "g7", "the group", |_| true).await;
        assert_eq!(after.master_broker_id, Some(live.broker_id));
        let kept: Vec<(u64, &str)> =
            after.brokers.iter().map(|broker| (broker.broker_id, broker.state().label())).collect();
        assert_eq!(kept, vec![(live.broker_id, "active")]);
        heartbeats.abort();
    })
    .await
    .expect("test finished in time");
}

/// Issue 11, "safe retries everywhere": mutating requests that had no idempotency key
/// (`FenceBroker`, `RemoveBroker`, `UnregisterBroker`, `AlterSyncStateSet`, `Dr.Configure`,
/// `Dr.SetMode`) either failed confusingly when retried after a lost answer or applied twice.
/// Each is sent twice here with one key, as a client does when the first answer is lost: the
/// retry gets the first answer and is not applied (or audited) again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutating_broker_and_dr_requests_retried_with_their_key_apply_once() {
    use v1::broker_service_client::BrokerServiceClient;
    use v1::dr_service_client::DrServiceClient;
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start(options(1)).await.expect("node starts");
        let client = cluster.client();
        let channel = cluster.channel_of(1).await.expect("connect");
        let mut brokers = BrokerServiceClient::new(channel.clone());
        let mut dr = DrServiceClient::new(channel);
        let register = |name: &str| v1::RegisterBrokerRequest {
            group: "g1".into(),
            name: name.into(),
            incarnation_id: format!("{name}-1"),
            addresses: [("internal".to_string(), "127.0.0.1:1".to_string())].into(),
            request_id: Some(client.next_request_id()),
            ..Default::default()
        };
        let fenced = client.register_broker(register("a")).await.expect("register a");
        let leaving = client.register_broker(register("b")).await.expect("register b");
        // Audit records of requests (the coordinator's own decisions, such as electing a
        // master after a fence, come and go beside them).
        let last_log = || async {
            let audit = client.list_audit(1_000).await.expect("audit");
            audit.entries.iter().filter(|entry| entry.actor != "coordinator").count()
        };

        // Each mutation, twice with one key: the same answer, applied (and audited) once.
        let key = client.next_request_id();
        let fence = v1::FenceBrokerRequest { broker_id: fenced.broker_id, request_id: Some(key) };
        let first = brokers.fence_broker(fence.clone()).await.expect("fence").into_inner();
        let after_first = last_log().await;
        let retry = brokers.fence_broker(fence).await.expect("the retried fence gets the first answer").into_inner();
        assert_eq!(retry.revision, first.revision);
        assert_eq!(last_log().await, after_first, "the retried fence was not applied again");

        let key = client.next_request_id();
        let unregister = v1::UnregisterBrokerRequest {
            broker_id: leaving.broker_id,
            broker_epoch: leaving.broker_epoch,
            request_id: Some(key),
        };
        let first = brokers.unregister_broker(unregister.clone()).await.expect("unregister").into_inner();
        let after_first = last_log().await;
        let retry = brokers.unregister_broker(unregister).await.expect("retried unregister").into_inner();
        assert_eq!(retry.revision, first.revision);
        assert_eq!(last_log().await, after_first, "the retried unregistration was not applied again");

        let key = client.next_request_id();
        let remove = v1::RemoveBrokerRequest { broker_id: fenced.broker_id, request_id: Some(key) };
        let first = brokers.remove_broker(remove.clone()).await.expect("remove").into_inner();
        let after_first = last_log().await;
        let retry =
            brokers.remove_broker(remove).await.expect("the retried removal gets the first answer").into_inner();
        assert_eq!(retry.revision, first.revision);
        assert_eq!(last_log().await, after_first, "the retried removal was not applied again");

        let key = client.next_request_id();
        let mode = v1::DrSetModeRequest {
            mode: v1::DrMode::Majority.into(),
            dr_sync_timeout_ms: 4_000,
            request_id: Some(key),
        };
        let first = dr.set_mode(mode.clone()).await.expect("set mode").into_inner();
        let after_first = last_log().await;
        let retry = dr.set_mode(mode).await.expect("retried set mode").into_inner();
        assert_eq!(retry.revision, first.revision);
        assert_eq!(last_log().await, after_first, "the retried mode change was not applied again");

        // An offset reset (its consumer group needs a topic and a commit first).
        client
            .create_topic(v1::TopicInfo {
                name: "reset-me".into(),
                queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: 1, write_queues: 1 }],
                ..Default::default()
            })
            .await
            .expect("topic");
        let commit =
            v1::OffsetEntry { consumer_group: "cg".into(), topic: "reset-me".into(), offset: 5, ..Default::default() };
        client.commit_offsets(vec![commit], false).await.expect("commit");
        let mut offsets =
            v1::offset_service_client::OffsetServiceClient::new(cluster.channel_of(1).await.expect("connect"));
        let reset = v1::ResetOffsetsRequest {
            consumer_group: "cg".into(),
            topic: "reset-me".into(),
            to: Some(v1::reset_offsets_request::To::Earliest(true)),
            request_id: Some(client.next_request_id()),
        };
        let first = offsets.reset_offsets(reset.clone()).await.expect("reset").into_inner();
        let after_first = last_log().await;
        let retry = offsets.reset_offsets(reset).await.expect("retried reset").into_inner();
        assert_eq!((retry.revision, retry.queues_reset), (first.revision, first.queues_reset));
        assert_eq!(last_log().await, after_first, "the retried reset was not applied again");

        // An offset commit: its key rides with its batch in the leader's coalesced entry. The
        // retry comes after another commit moved the offset on, and must not move it back.
        let entry = |offset| v1::OffsetEntry {
            consumer_group: "cg".into(),
            topic: "reset-me".into(),
            offset,
            ..Default::default()
        };
        let keyed = v1::CommitOffsetsRequest {
            offsets: vec![entry(40)],
            reject_backwards: false,
            request_id: Some(client.next_request_id()),
        };
        let first = offsets.commit_offsets(keyed.clone()).await.expect("commit").into_inner();
        client.commit_offsets(vec![entry(70)], false).await.expect("another commit moves the offset on");
        let retry = offsets.commit_offsets(keyed).await.expect("the retried commit gets the first answer").into_inner();
        assert_eq!(retry.revision, first.revision, "the first attempt's revision");
        let fetched = client.fetch_offsets("cg", "reset-me", v1::Consistency::Linearizable).await.expect("fetch");
        assert_eq!(
            fetched.offsets.iter().map(|offset| offset.offset).collect::<Vec<_>>(),
            vec![70],
            "the retried commit did not move the offset back"
        );
        let header = retry.header.expect("every answer has the response header");
        assert_eq!((header.revision, header.node_id), (first.revision, 1), "the header names the revision and node");

        let key = client.next_request_id();
        let configure =
            v1::DrConfigureRequest { primary_region: "east".into(), dr_region: "west".into(), request_id: Some(key) };
        let first = dr.configure(configure.clone()).await.expect("configure").into_inner();
        let after_first = last_log().await;
        let retry = dr.configure(configure).await.expect("retried configure").into_inner();
        assert_eq!(retry.revision, first.revision);
        assert_eq!(last_log().await, after_first, "the retried configuration was not applied again");

        // Without a key, the same retry is a second command: it is refused (the broker is gone)
        // or applied again. This is what the key prevents.
        let unkeyed = v1::RemoveBrokerRequest { broker_id: fenced.broker_id, request_id: None };
        let again = brokers.remove_broker(unkeyed).await.expect_err("an unkeyed retry is a new command");
        assert_eq!(again.code(), tonic::Code::NotFound, "{again:?}");
    })
    .await
    .expect("test finished in time");
}
