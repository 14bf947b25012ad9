//! Pharos as the NameServer of real rocketmq-rust brokers in their ordinary (non-controller)
//! mode, with a real producer and push consumer (docs/rocketmq.md, "Interop tests").
//!
//! Three Pharos nodes; two broker groups, one master each and a slave in one, registering over
//! remoting with all three nodes; a topic created with `pharos topic create` on both groups. A
//! producer sends 1,000 messages while the Pharos leader is killed -9 half-way; a push consumer
//! must receive every message the producer saw acknowledged; `pharos topic route` must name
//! every broker, and the slave must learn its master from Pharos; the messages the listener
//! refuses once must come back through the retry topic the brokers reported; and over a quiet
//! window holding at least one re-registration of every broker with every running node, the Raft
//! log must not grow: a registration that changes nothing is no write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use pharos_interop::broker::{Broker, BrokerSpec};
use pharos_interop::pharos::PharosCluster;
use pharos_interop::{broker_binary, pharos_binary, wait};
use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use serde_json::Value;

/// The whole scenario, processes started and stopped included.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(360);
const CLUSTER_NAME: &str = "InteropCluster";
const GROUPS: [&str; 2] = ["broker-a", "broker-b"];
/// The group that also gets a slave (RocketMQ `brokerId` 1).
const SLAVE_GROUP: &str = "broker-a";
const TOPIC: &str = "interop-orders";
/// Queues per group: what the producer asks a broker to auto-create the topic with (its
/// `defaultTopicQueueNums`), so Pharos's route and the brokers' own topic config agree.
const QUEUES_PER_GROUP: u32 = 4;
const MESSAGES: usize = 1_000;
/// The listener refuses the first delivery of one message in this many.
const REJECT_EVERY: usize = 50;
const CONSUMER_GROUP: &str = "pharos-interop-consumer";
/// Where the broker puts the messages a consumer of [`CONSUMER_GROUP`] refused.
const RETRY_TOPIC: &str = "%RETRY%pharos-interop-consumer";
/// The Pharos leader is killed before this message is sent.
const KILL_LEADER_BEFORE_MESSAGE: usize = MESSAGES / 2;
/// Below this many acknowledged sends the delivery check proves too little.
const ACKNOWLEDGED_MIN: usize = MESSAGES * 95 / 100;
const SEND_TIMEOUT_MS: u64 = 5_000;
/// Listener calls the client may have queued at once (see [`client_runtime_config`]): 8 queues
/// times 32 messages per pull, twice over.
const CLIENT_LANE_QUEUE_DEPTH_MAX: usize = 512;
/// How long groups and routes may take to show up after the brokers started.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the consumer may take to receive every acknowledged message.
/// How long the consumer may take to receive every acknowledged message, the refused ones
/// included: their redelivery waits 10 s (RocketMQ's first retry delay), and the retry topic
/// reaches the consumer's route at its next route poll (every 30 s) after its broker reported it
/// (at its next registration, every 30 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(150);
/// The quiet window lasts at least one broker registration period (30 s) plus margin, and
/// until every broker logged a registration with every running node; at most this long.
const QUIET_WINDOW_MIN: Duration = Duration::from_secs(35);
const QUIET_WINDOW_MAX: Duration = Duration::from_secs(80);
/// A node's log after the whole test: a few hundred KB normally.
const NODE_LOG_BYTES_MAX: u64 = 4 * 1024 * 1024;

#[test]
fn nameserver_mode() {
    let owner = RuntimeOwner::plan(client_runtime_config())
        .expect("a valid runtime configuration")
        .build()
        .expect("build the RocketMQ client's runtime");
    let telemetry = TelemetryRuntimeGuard::noop();
    let client_runtime = ClientRuntime::try_new(
        owner.root_context().component("pharos-interop"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    )
    .expect("create the RocketMQ client runtime");
    let started = Instant::now();
    let outcome = owner.block_on(scenario(Arc::clone(&client_runtime)));
    let client_report = owner.block_on(client_runtime.shutdown());
    drop(owner.shutdown_runtime_blocking());
    match outcome {
        Ok(report) => println!("nameserver_mode passed in {:.1?}\n{report}", started.elapsed()),
        Err(error) => panic!("nameserver_mode failed after {:.1?}: {error:#}", started.elapsed()),
    }
    assert!(client_report.is_healthy(), "the RocketMQ client did not shut down cleanly: {}", client_report.to_json());
}

/// The client's runtime, with room for every message a pull brings in.
///
/// The push consumer runs each listener call as a task on the runtime's metadata-I/O blocking
/// lane, one per message (`consumeMessageBatchMaxSize` 1), and a pull brings up to 32 messages
/// per queue. The default lane queue on 2 cores holds 16: the rest are refused
/// ("runtime.capacity.exhausted") and count as consume failures, which go through the retry
/// topic like the listener's own refusals. Before Pharos routed retry topics that lost them;
/// now it only slows them down, and the test's refusals should be the only ones.
fn client_runtime_config() -> RuntimeConfig {
    let mut config = RuntimeConfig { thread_name: "pharos-interop-client".to_string(), ..RuntimeConfig::default() };
    config.blocking_lane_policies.metadata_io.max_queue_depth = CLIENT_LANE_QUEUE_DEPTH_MAX;
    config
}

/// Starts everything, runs the steps within [`SCENARIO_TIMEOUT`], and keeps every log and data
/// dir when they fail.
async fn scenario(client_runtime: Arc<ClientRuntime>) -> anyhow::Result<String> {
    let pharos = pharos_binary()?;
    let broker_bin = broker_binary()?;
    let brokers_root = tempfile::Builder::new().prefix("pharos-interop-brokers-").tempdir()?;
    let client_log_path = brokers_root.path().join("client.log");
    let client_log = std::fs::File::create(&client_log_path).context("create the client's log")?;
    // Global and once per process; a second test in this binary would keep the first's log.
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(client_log))
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .try_init();
    let mut cluster = PharosCluster::start(pharos, 3).await?;
    let mut brokers = Vec::new();
    let mut report = Vec::new();
    let outcome = match tokio::time::timeout(
        SCENARIO_TIMEOUT,
        steps(&mut cluster, &mut brokers, &broker_bin, brokers_root.path(), client_runtime, &mut report),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(anyhow::anyhow!("the scenario did not finish within {SCENARIO_TIMEOUT:?}")),
    };
    if let Err(error) = outcome {
        eprintln!("what happened before the failure:\n{}", report.join("\n"));
        cluster.keep();
        let kept = brokers_root.keep();
        eprintln!("the brokers' configs and logs are kept in {}", kept.display());
        eprintln!("{}", cluster.log_excerpts());
        for broker in &mut brokers {
            broker.keep();
            eprintln!(
                "--- {} ({})\n{}",
                broker.process.name,
                broker.process.log_path.display(),
                broker.process.log_excerpt()
            );
        }
        return Err(error);
    }
    Ok(report.join("\n"))
}

async fn steps(
    cluster: &mut PharosCluster,
    brokers: &mut Vec<Broker>,
    broker_bin: &Path,
    brokers_root: &Path,
    client_runtime: Arc<ClientRuntime>,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let namesrv_addr = cluster.namesrv_addr();

    // Brokers: they start only once a NameServer (here: a Pharos node) accepted them.
    let brokers_started = Instant::now();
    for group in GROUPS {
        let spec = BrokerSpec { cluster_name: CLUSTER_NAME.to_string(), broker_name: group.to_string(), broker_id: 0 };
        brokers.push(Broker::spawn(broker_bin, &brokers_root.join(group), spec, &namesrv_addr)?);
    }
    for broker in brokers.iter() {
        broker.wait_started().await?;
    }
    // The slave after its master: it learns the master's addresses from its registration's answer.
    let slave_spec =
        BrokerSpec { cluster_name: CLUSTER_NAME.to_string(), broker_name: SLAVE_GROUP.to_string(), broker_id: 1 };
    let master_address = brokers
        .iter()
        .find(|broker| broker.spec.broker_name == SLAVE_GROUP)
        .map(|master| master.address.clone())
        .context("the slave's group has no master")?;
    // Pushed at once, so that a failure keeps its log and store with the others'.
    brokers.push(Broker::spawn(
        broker_bin,
        &brokers_root.join(format!("{SLAVE_GROUP}-slave")),
        slave_spec,
        &namesrv_addr,
    )?);
    let slave = brokers.last().context("the slave was just added")?;
    slave.wait_started().await?;
    // Pharos answers a slave's registration with its master's address (`masterAddr`); the
    // broker logs what it took.
    wait::until(
        &format!("the slave to learn its master {master_address} from its registration"),
        ROUTE_TIMEOUT,
        || {
            let log = slave.process.log();
            let learned =
                log.lines().any(|line| line.contains("Update master address") && line.contains(&master_address));
            async move { Ok(learned.then_some(())) }
        },
    )
    .await?;
    report.push(format!("brokers (2 masters, 1 slave) registered and started in {:.1?}", brokers_started.elapsed()));

    create_topic(cluster).await?;
    let expected = ExpectedRoute {
        masters: brokers
            .iter()
            .filter(|broker| broker.spec.broker_id == 0)
            .map(|broker| (broker.spec.broker_name.clone(), broker.address.clone()))
            .collect(),
        replicas: brokers
            .iter()
            .filter(|broker| broker.spec.broker_id != 0)
            .map(|broker| (broker.spec.broker_name.clone(), broker.address.clone()))
            .collect(),
    };
    wait_for_route(cluster, &expected).await?;
    report.push(format!(
        "topic {TOPIC} routed to both groups {:.1?} after the brokers started",
        brokers_started.elapsed()
    ));

    // Consumer first, from the first offset: it must see every message, however late its
    // first rebalance comes.
    let listener = Arc::new(Collect::default());
    let mut consumer = DefaultMQPushConsumer::builder(Arc::clone(&client_runtime))
        .consumer_group(CONSUMER_GROUP)
        .name_server_addr(namesrv_addr.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    let mut producer = DefaultMQProducer::builder(Arc::clone(&client_runtime))
        .producer_group("pharos-interop-producer")
        .name_server_addr(namesrv_addr.clone())
        .build();
    let traffic = async {
        consumer.subscribe(TOPIC, "*").await.context("subscribe the push consumer")?;
        consumer.register_message_listener_concurrently(Listener(Arc::clone(&listener)));
        consumer.start().await.context("start the push consumer")?;
        producer.start().await.context("start the producer")?;
        let sent = send_killing_the_leader(cluster, &producer, report).await?;
        await_delivery(&sent, &listener, report).await?;
        anyhow::Ok(())
    }
    .await;
    Box::pin(producer.shutdown()).await;
    Box::pin(consumer.shutdown()).await;
    traffic?;

    // The route as Pharos's own CLI shows it, after the leader change.
    wait_for_route(cluster, &expected).await?;
    report.push(format!("pharos topic route {TOPIC} names {expected:?}"));
    // The retry topic is one the brokers reported: Pharos routes it to the groups that did.
    let retry_route = cluster.cli_json(&["topic", "route", RETRY_TOPIC]).await?;
    let retry_groups: Vec<&str> = retry_route
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|group| group.get("group")?.as_str())
        .collect();
    anyhow::ensure!(!retry_groups.is_empty(), "pharos topic route {RETRY_TOPIC} names no group: {retry_route}");
    report.push(format!("pharos topic route {RETRY_TOPIC} names {retry_groups:?}"));

    quiet_window(cluster, brokers, report).await?;

    // Regression (replication/src/network.rs, REPLICATION_RETRY_MS): the leader redialled the
    // killed node ~800 times a second, two WARN lines each, ~90 MB of log in 2 minutes.
    for node in cluster.running() {
        let bytes = cluster.log_bytes(node.node_id);
        anyhow::ensure!(
            bytes <= NODE_LOG_BYTES_MAX,
            "pharos node {}'s log grew to {bytes} bytes (at most {NODE_LOG_BYTES_MAX} expected): \
             is it redialling the killed node without backing off?",
            node.node_id
        );
    }

    cluster.fail_on_exits()?;
    for broker in brokers.iter() {
        if let Some(status) = broker.process.exit_status() {
            anyhow::bail!("{} exited during the test ({status})", broker.process.name);
        }
    }
    Ok(())
}

/// `pharos topic create` on both groups, retried until Pharos knows both groups. A create
/// whose answer was lost but which took effect shows up in `topic describe`.
async fn create_topic(cluster: &PharosCluster) -> anyhow::Result<()> {
    let groups = GROUPS.join(",");
    let queues = QUEUES_PER_GROUP.to_string();
    wait::until(&format!("pharos topic create {TOPIC} on {groups}"), ROUTE_TIMEOUT, || async {
        if cluster.cli_json(&["topic", "describe", TOPIC]).await.is_ok() {
            return Ok(Some(()));
        }
        cluster.cli_json(&["topic", "create", TOPIC, "--groups", &groups, "--queues", &queues]).await.map(|_| Some(()))
    })
    .await
}

/// What `pharos topic route` must show: each group's master, and the slaves' addresses.
#[derive(Debug)]
struct ExpectedRoute {
    masters: BTreeMap<String, String>,
    replicas: BTreeMap<String, String>,
}

/// Waits until `pharos topic route` names every group's master broker, the slave among its
/// group's replicas, and the topic's queues.
async fn wait_for_route(cluster: &PharosCluster, expected: &ExpectedRoute) -> anyhow::Result<()> {
    wait::until(&format!("pharos topic route {TOPIC} to name {expected:?}"), ROUTE_TIMEOUT, || async {
        let route = cluster.cli_json(&["topic", "route", TOPIC]).await?;
        let groups: Vec<&Value> = route
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|group| group.get("write_queues").and_then(Value::as_u64) == Some(u64::from(QUEUES_PER_GROUP)))
            .collect();
        let name = |group: &Value| group.get("group").and_then(Value::as_str).unwrap_or_default().to_string();
        let masters: BTreeMap<String, String> = groups
            .iter()
            .filter_map(|group| Some((name(group), group.get("master")?.get("address")?.as_str()?.to_string())))
            .collect();
        let replicas: BTreeMap<String, String> = groups
            .iter()
            .flat_map(|group| {
                let replicas = group.get("replicas").and_then(Value::as_array).cloned().unwrap_or_default();
                replicas
                    .into_iter()
                    .filter_map(move |replica| Some((name(group), replica.get("address")?.as_str()?.to_string())))
            })
            .collect();
        anyhow::ensure!(
            masters == expected.masters && replicas == expected.replicas,
            "the route names masters {masters:?} and replicas {replicas:?}: {route}"
        );
        Ok(Some(()))
    })
    .await
}

/// Sends [`MESSAGES`] messages one at a time and kills the Pharos leader half-way. Returns
/// the bodies of the acknowledged ones.
async fn send_killing_the_leader(
    cluster: &mut PharosCluster,
    producer: &DefaultMQProducer,
    report: &mut Vec<String>,
) -> anyhow::Result<BTreeMap<String, Placement>> {
    let started = Instant::now();
    let mut acknowledged = BTreeMap::new();
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for index in 0..MESSAGES {
        if index == KILL_LEADER_BEFORE_MESSAGE {
            let leader = cluster.progress().await.context("find the Pharos leader to kill")?.leader_id;
            anyhow::ensure!(leader != 0, "no Pharos leader to kill");
            cluster.kill(leader)?;
            report.push(format!("killed -9 the Pharos leader (node {leader}) before message {index}"));
        }
        let body = format!("interop-{index:04}");
        let message = Message::builder()
            .topic(TOPIC)
            .keys(vec![body.clone()])
            .body_slice(body.as_bytes())
            .build()
            .context("build a message")?;
        match producer.send_with_timeout(message, SEND_TIMEOUT_MS).await {
            Ok(Some(result)) => {
                let (group, queue_id) = result
                    .message_queue
                    .as_ref()
                    .map(|queue| (queue.broker_name().to_string(), queue.queue_id()))
                    .unwrap_or_default();
                *per_group.entry(group.clone()).or_default() += 1;
                let offset = i64::try_from(result.queue_offset).unwrap_or(i64::MAX);
                acknowledged.insert(body, (group, queue_id, offset));
            }
            Ok(None) => failures.push(format!("{body}: no send result")),
            Err(error) => failures.push(format!("{body}: {error}")),
        }
    }
    report.push(format!(
        "sent {MESSAGES} messages in {:.1?}: {} acknowledged ({per_group:?}), {} failed{}",
        started.elapsed(),
        acknowledged.len(),
        failures.len(),
        failures.first().map(|first| format!(", first: {first}")).unwrap_or_default()
    ));
    anyhow::ensure!(
        acknowledged.len() >= ACKNOWLEDGED_MIN,
        "only {} of {MESSAGES} sends were acknowledged (at least {ACKNOWLEDGED_MIN} needed); failures: {:?}",
        acknowledged.len(),
        &failures[..failures.len().min(10)]
    );
    for group in GROUPS {
        anyhow::ensure!(
            per_group.get(group).copied().unwrap_or(0) > 0,
            "no message went to group {group} ({per_group:?}): the producer did not use Pharos's route to both groups"
        );
    }
    Ok(acknowledged)
}

async fn await_delivery(
    acknowledged: &BTreeMap<String, Placement>,
    listener: &Collect,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    wait::until("the push consumer to receive every acknowledged message", DELIVERY_TIMEOUT, || {
        let seen = lock(&listener.received);
        let missing: Vec<(&String, &Placement)> =
            acknowledged.iter().filter(|(body, _)| !seen.contains_key(*body)).collect();
        let outcome = if missing.is_empty() {
            Ok(Some(()))
        } else {
            // What the consumer was given in the queues of the first missing messages.
            let deliveries = lock(&DELIVERIES);
            let reached: BTreeMap<_, _> = missing
                .iter()
                .take(3)
                .map(|(_, (group, queue_id, _))| {
                    let key = (group.clone(), *queue_id);
                    let offsets = deliveries.get(&key).map(|offsets| {
                        let shown = offsets.len().min(40);
                        format!("{} deliveries, first: {:?}", offsets.len(), &offsets[..shown])
                    });
                    (key, offsets.unwrap_or_else(|| "none".to_string()))
                })
                .collect();
            Err(anyhow::anyhow!(
                "{} of {} acknowledged messages not received yet, e.g. {:?} (group, queue, offset as sent); \
                 deliveries in those queues (negative: no body): {reached:?}",
                missing.len(),
                acknowledged.len(),
                &missing[..missing.len().min(8)]
            ))
        };
        async move { outcome }
    })
    .await?;
    // Every refused message came back through the retry topic, whose route only Pharos serves.
    let expected_rejections: BTreeSet<&String> = acknowledged.keys().filter(|body| rejected_once(body)).collect();
    let rejected = lock(&listener.rejected).clone();
    let redelivered = lock(&listener.redelivered).clone();
    anyhow::ensure!(
        !expected_rejections.is_empty() && expected_rejections.iter().all(|body| redelivered.contains(*body)),
        "messages refused once were not all redelivered: refused {rejected:?}, redelivered {redelivered:?}"
    );
    report.push(format!(
        "the consumer received all {} acknowledged messages {:.1?} after the last send, {} of them redelivered \
         through {RETRY_TOPIC} after being refused once",
        acknowledged.len(),
        started.elapsed(),
        expected_rejections.len()
    ));
    Ok(())
}

/// Over at least one registration period, during which every broker re-registers with every
/// running node, the leader's log must not grow.
async fn quiet_window(cluster: &mut PharosCluster, brokers: &[Broker], report: &mut Vec<String>) -> anyhow::Result<()> {
    let before = wait::until("a Pharos leader after the kill", ROUTE_TIMEOUT, || async {
        let progress = cluster.progress().await?;
        Ok((progress.leader_id != 0).then_some(progress))
    })
    .await?;
    let running_nodes = cluster.running().count();
    let registrations_before: Vec<usize> = brokers.iter().map(Broker::registrations_logged).collect();
    let started = Instant::now();
    wait::until("every broker to re-register with every running node", QUIET_WINDOW_MAX, || {
        let registered_enough = brokers
            .iter()
            .zip(&registrations_before)
            .all(|(broker, before)| broker.registrations_logged() >= before + running_nodes);
        let outcome = Ok((registered_enough && started.elapsed() >= QUIET_WINDOW_MIN).then_some(()));
        async move { outcome }
    })
    .await?;
    let after = cluster.progress().await?;
    let registrations: Vec<usize> = brokers
        .iter()
        .zip(&registrations_before)
        .map(|(broker, before)| broker.registrations_logged() - before)
        .collect();
    anyhow::ensure!(
        after.last_log_index == before.last_log_index
            && after.commit_index == before.commit_index
            && after.term == before.term,
        "the Raft log moved during a quiet window of {:.1?} in which the brokers registered {registrations:?} times: \
         before {before:?}, after {after:?} (re-registrations must not be Raft writes)",
        started.elapsed()
    );
    report.push(format!(
        "quiet window of {:.1?}: brokers re-registered {registrations:?} times with {running_nodes} running nodes; \
         last log index stayed {}, commit index {}",
        started.elapsed(),
        after.last_log_index,
        after.commit_index
    ));
    Ok(())
}

/// Where a message is stored: broker group, queue id, offset in the queue.
type Placement = (String, i32, i64);

/// The listener: records the body of every message it takes, with where it was stored, and
/// refuses the first delivery of every [`REJECT_EVERY`]th message.
#[derive(Default)]
struct Collect {
    received: Mutex<BTreeMap<String, Placement>>,
    /// Bodies refused once (`ReconsumeLater`): the broker puts them on the group's retry topic.
    rejected: Mutex<BTreeSet<String>>,
    /// Bodies taken on a redelivery (`reconsumeTimes` > 0).
    redelivered: Mutex<BTreeSet<String>>,
}

/// Whether the listener refuses this message's first delivery: message 7, 57, 107, ...
fn rejected_once(body: &str) -> bool {
    body.strip_prefix("interop-")
        .and_then(|index| index.parse::<usize>().ok())
        .is_some_and(|index| index % REJECT_EVERY == 7)
}

/// Every delivery the listener saw: (group, queue) to the offsets delivered, duplicates
/// included, and bodies missing. For the failure message when a message never arrives.
static DELIVERIES: Mutex<BTreeMap<(String, i32), Vec<i64>>> = Mutex::new(BTreeMap::new());

/// What the consumer is given: the listener shared with the test.
struct Listener(Arc<Collect>);

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        messages: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let body_of = |message: &MessageExt| message.body().map(|body| String::from_utf8_lossy(&body).into_owned());
        let refuse: Vec<String> = messages
            .iter()
            .filter(|message| message.reconsume_times() == 0)
            .filter_map(|message| body_of(message))
            .filter(|body| rejected_once(body))
            .collect();
        if !refuse.is_empty() {
            // The whole call is redelivered; nothing of it counts as received yet.
            lock(&self.0.rejected).extend(refuse);
            return Ok(ConsumeConcurrentlyStatus::ReconsumeLater);
        }
        let mut received = lock(&self.0.received);
        let mut deliveries = lock(&DELIVERIES);
        for message in messages {
            deliveries
                .entry((message.broker_name().to_string(), message.queue_id()))
                .or_default()
                .push(if message.body().is_some() { message.queue_offset() } else { -1 - message.queue_offset() });
            if let Some(body) = body_of(message) {
                if message.reconsume_times() > 0 {
                    lock(&self.0.redelivered).insert(body.clone());
                }
                let placement = (message.broker_name().to_string(), message.queue_id(), message.queue_offset());
                received.insert(body, placement);
            }
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
