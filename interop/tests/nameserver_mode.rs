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
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pharos_interop::broker::{Broker, BrokerSpec};
use pharos_interop::client::{self, Collect, Placement};
use pharos_interop::pharos::{PharosCluster, RouteView};
use pharos_interop::scenario::Scenario;
use pharos_interop::wait;
use rocketmq_client_rust::{ClientRuntime, DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
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
    client::run_test("nameserver_mode", async |client_runtime| {
        Scenario::start(3).await?.run(SCENARIO_TIMEOUT, async |scenario| steps(scenario, client_runtime).await).await
    });
}

async fn steps(scenario: &mut Scenario, client_runtime: Arc<ClientRuntime>) -> anyhow::Result<()> {
    let namesrv_addr = scenario.cluster.namesrv_addr();

    // Brokers: they start only once a NameServer (here: a Pharos node) accepted them.
    let brokers_started = Instant::now();
    for group in GROUPS {
        let spec = BrokerSpec {
            cluster_name: CLUSTER_NAME.to_string(),
            broker_name: group.to_string(),
            broker_id: 0,
            controller_addr: None,
        };
        scenario.spawn_broker(group, spec)?;
    }
    for broker in &scenario.brokers {
        broker.wait_started().await?;
    }
    // The slave after its master: it learns the master's addresses from its registration's answer.
    let slave_spec = BrokerSpec {
        cluster_name: CLUSTER_NAME.to_string(),
        broker_name: SLAVE_GROUP.to_string(),
        broker_id: 1,
        controller_addr: None,
    };
    let master_address = scenario
        .brokers
        .iter()
        .find(|broker| broker.spec.broker_name == SLAVE_GROUP)
        .map(|master| master.address.clone())
        .context("the slave's group has no master")?;
    let slave = scenario.spawn_broker(&format!("{SLAVE_GROUP}-slave"), slave_spec)?;
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
    let Scenario { cluster, brokers, report, .. } = scenario;
    report.push(format!("brokers (2 masters, 1 slave) registered and started in {:.1?}", brokers_started.elapsed()));

    cluster.create_topic(TOPIC, &GROUPS, QUEUES_PER_GROUP, ROUTE_TIMEOUT).await?;
    let expected = RouteView {
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
    cluster.wait_for_route(TOPIC, QUEUES_PER_GROUP, &expected, ROUTE_TIMEOUT).await?;
    report.push(format!(
        "topic {TOPIC} routed to both groups {:.1?} after the brokers started",
        brokers_started.elapsed()
    ));

    // Consumer first, from the first offset: it must see every message, however late its
    // first rebalance comes.
    let listener = Collect::new(rejected_once);
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
        consumer.register_message_listener_concurrently(listener.listener());
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
    cluster.wait_for_route(TOPIC, QUEUES_PER_GROUP, &expected, ROUTE_TIMEOUT).await?;
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
        let body = client::message_body(index);
        match client::send(producer, TOPIC, &body).await {
            Ok(placement) => {
                *per_group.entry(placement.group.clone()).or_default() += 1;
                acknowledged.insert(body, placement);
            }
            Err(failure) => failures.push(failure),
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
    listener.await_all(acknowledged, DELIVERY_TIMEOUT).await?;
    // Every refused message came back through the retry topic, whose route only Pharos serves.
    let expected_rejections: BTreeSet<&String> = acknowledged.keys().filter(|body| rejected_once(body)).collect();
    let rejected = listener.rejected();
    let redelivered = listener.redelivered();
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

/// Whether the listener refuses this message's first delivery: message 7, 57, 107, ...
fn rejected_once(body: &str) -> bool {
    body.strip_prefix("interop-")
        .and_then(|index| index.parse::<usize>().ok())
        .is_some_and(|index| index % REJECT_EVERY == 7)
}
