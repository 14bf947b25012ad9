//! The real rocketmq-rust client as the tests drive it: its runtime around a test, one send, and
//! a push consumer's listener that records every message it is given.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, MessageListenerConcurrently,
};
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

use crate::wait;

/// How long one send may take, the client's own retries included.
pub const SEND_TIMEOUT_MS: u64 = 5_000;

/// Listener calls the client may have queued at once (see [`runtime_config`]): 8 queues
/// times 32 messages per pull, twice over.
const CLIENT_LANE_QUEUE_DEPTH_MAX: usize = 512;

/// Where a message is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub topic: String,
    /// The broker group (RocketMQ `brokerName`).
    pub group: String,
    pub queue_id: i32,
    /// Its offset in the queue.
    pub offset: i64,
}

/// Runs a test's `scenario` on the client's runtime, then shuts the client down. This is a
/// test body: it panics with the scenario's error, or when the client does not shut down
/// cleanly; else it prints the scenario's report.
pub fn run_test<F, Fut>(name: &str, scenario: F)
where
    F: FnOnce(Arc<ClientRuntime>) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let owner = RuntimeOwner::plan(runtime_config())
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
        Ok(report) => println!("{name} passed in {:.1?}\n{report}", started.elapsed()),
        Err(error) => panic!("{name} failed after {:.1?}: {error:#}", started.elapsed()),
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
/// now it only slows them down, and a test's own refusals should be the only ones.
pub fn runtime_config() -> RuntimeConfig {
    let mut config = RuntimeConfig { thread_name: "pharos-interop-client".to_string(), ..RuntimeConfig::default() };
    config.blocking_lane_policies.metadata_io.max_queue_depth = CLIENT_LANE_QUEUE_DEPTH_MAX;
    config
}

/// The body of a test's `index`-th message, which is also its key.
pub fn message_body(index: usize) -> String {
    format!("interop-{index:04}")
}

/// Sends one message to `topic` with `body` as its body and key: where the broker stored it
/// once it acknowledged it, else why not.
pub async fn send(producer: &DefaultMQProducer, topic: &str, body: &str) -> Result<Placement, String> {
    let message = Message::builder()
        .topic(topic)
        .keys(vec![body.to_string()])
        .body_slice(body.as_bytes())
        .build()
        .map_err(|error| format!("{body}: build the message: {error}"))?;
    match producer.send_with_timeout(message, SEND_TIMEOUT_MS).await {
        Ok(Some(result)) => {
            let (group, queue_id) = result
                .message_queue
                .as_ref()
                .map(|queue| (queue.broker_name().to_string(), queue.queue_id()))
                .unwrap_or_default();
            let offset = i64::try_from(result.queue_offset).unwrap_or(i64::MAX);
            Ok(Placement { topic: topic.to_string(), group, queue_id, offset })
        }
        Ok(None) => Err(format!("{body}: no send result")),
        Err(error) => Err(format!("{body}: {error}")),
    }
}

/// What a push consumer was given: every body it took, with where it was stored. It refuses
/// (`ReconsumeLater`) the first delivery of the messages its `refuse_once` picks; the broker
/// puts those on the consumer group's retry topic, to come back 10 s or more later.
#[derive(Debug)]
pub struct Collect {
    refuse_once: fn(&str) -> bool,
    received: Mutex<BTreeMap<String, Placement>>,
    /// Bodies refused once.
    rejected: Mutex<BTreeSet<String>>,
    /// Bodies taken on a redelivery (`reconsumeTimes` > 0).
    redelivered: Mutex<BTreeSet<String>>,
    /// Every delivery: (topic, group, queue) to the offsets delivered, duplicates included, and
    /// negative (`-1 - offset`) when the body was missing. For the failure message when a
    /// message never arrives.
    deliveries: Mutex<BTreeMap<(String, String, i32), Vec<i64>>>,
}

impl Collect {
    pub fn new(refuse_once: fn(&str) -> bool) -> Arc<Collect> {
        Arc::new(Collect {
            refuse_once,
            received: Mutex::default(),
            rejected: Mutex::default(),
            redelivered: Mutex::default(),
            deliveries: Mutex::default(),
        })
    }

    /// A collector that takes every delivery.
    pub fn accepting_all() -> Arc<Collect> {
        Collect::new(|_| false)
    }

    /// The listener to register with the consumer.
    pub fn listener(self: &Arc<Self>) -> Listener {
        Listener(Arc::clone(self))
    }

    pub fn rejected(&self) -> BTreeSet<String> {
        lock(&self.rejected).clone()
    }

    pub fn redelivered(&self) -> BTreeSet<String> {
        lock(&self.redelivered).clone()
    }

    /// Waits, at most `timeout`, until every body of `acknowledged` was taken. Fails naming
    /// the first missing messages and what was delivered in their queues.
    pub async fn await_all(&self, acknowledged: &BTreeMap<String, Placement>, timeout: Duration) -> anyhow::Result<()> {
        wait::until("the push consumer to receive every acknowledged message", timeout, || {
            let outcome = self.check_all(acknowledged);
            async move { outcome }
        })
        .await
    }

    fn check_all(&self, acknowledged: &BTreeMap<String, Placement>) -> anyhow::Result<Option<()>> {
        let seen = lock(&self.received);
        let missing: Vec<(&String, &Placement)> =
            acknowledged.iter().filter(|(body, _)| !seen.contains_key(*body)).collect();
        if missing.is_empty() {
            return Ok(Some(()));
        }
        // What the consumer was given in the queues of the first missing messages.
        let deliveries = lock(&self.deliveries);
        let reached: BTreeMap<_, _> = missing
            .iter()
            .take(3)
            .map(|(_, placement)| {
                let key = (placement.topic.clone(), placement.group.clone(), placement.queue_id);
                let offsets = deliveries.get(&key).map(|offsets| {
                    let shown = offsets.len().min(40);
                    format!("{} deliveries, first: {:?}", offsets.len(), &offsets[..shown])
                });
                (key, offsets.unwrap_or_else(|| "none".to_string()))
            })
            .collect();
        Err(anyhow::anyhow!(
            "{} of {} acknowledged messages not received yet, e.g. {:?} (as sent); deliveries in those \
             queues (negative: no body): {reached:?}",
            missing.len(),
            acknowledged.len(),
            &missing[..missing.len().min(8)]
        ))
    }
}

/// What the consumer is given: the [`Collect`] shared with the test.
#[derive(Debug)]
pub struct Listener(Arc<Collect>);

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        messages: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let collect = &self.0;
        let body_of = |message: &MessageExt| message.body().map(|body| String::from_utf8_lossy(&body).into_owned());
        let refuse: Vec<String> = messages
            .iter()
            .filter(|message| message.reconsume_times() == 0)
            .filter_map(|message| body_of(message))
            .filter(|body| (collect.refuse_once)(body))
            .collect();
        if !refuse.is_empty() {
            // The whole call is redelivered; nothing of it counts as received yet.
            lock(&collect.rejected).extend(refuse);
            return Ok(ConsumeConcurrentlyStatus::ReconsumeLater);
        }
        let mut received = lock(&collect.received);
        let mut deliveries = lock(&collect.deliveries);
        for message in messages {
            let topic = message.topic().to_string();
            deliveries
                .entry((topic.clone(), message.broker_name().to_string(), message.queue_id()))
                .or_default()
                .push(if message.body().is_some() { message.queue_offset() } else { -1 - message.queue_offset() });
            if let Some(body) = body_of(message) {
                if message.reconsume_times() > 0 {
                    lock(&collect.redelivered).insert(body.clone());
                }
                let placement = Placement {
                    topic,
                    group: message.broker_name().to_string(),
                    queue_id: message.queue_id(),
                    offset: message.queue_offset(),
                };
                received.insert(body, placement);
            }
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
