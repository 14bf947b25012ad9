//! Client workers that load a cluster while faults happen and record what they saw.
//!
//! Register workers read, write and compare-and-set a few hot keys with unique values
//! (linearizable reads only) and put unique keys whose presence is checked at the end. A group
//! watcher follows one broker group through reconnections. Every worker is bounded in time
//! (a deadline and a per-operation timeout) and in count (`operations_max`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientError, ClientOptions, v1};

use crate::checker::brokers::GroupObservation;
use crate::checker::watch::WatchEvent;
use crate::history::{Operation, RegisterCall, RegisterOutcome, RegisterValue};
use crate::rng::SplitMix64;

/// Prefix of the hot register keys.
pub const REGISTER_PREFIX: &str = "chaos/register/";
/// Prefix of the unique keys of the lost-write check.
pub const UNIQUE_PREFIX: &str = "chaos/unique/";
/// Consumer group, topic and queues of the offset workload; each queue's committed offset is a
/// register in the history, under the key `offset/<queue>`.
pub const OFFSET_CONSUMER_GROUP: &str = "chaos-consumers";
pub const OFFSET_TOPIC: &str = "chaos-topic";
pub const OFFSET_BROKER_GROUP: &str = "chaos-offsets";
pub const OFFSET_QUEUES: u32 = 2;
/// Unique puts per worker, so the final listing stays under the server's range limit.
const UNIQUE_PUTS_PER_WORKER_MAX: u64 = 1_000;

/// Limits of a register workload.
#[derive(Debug, Clone)]
pub struct RegisterWorkload {
    pub workers: u32,
    /// Also commit and fetch consumer offsets (needs [`prepare_offsets`] first).
    pub offsets: bool,
    pub hot_keys: u32,
    /// Operations per worker, at most.
    pub operations_max: u64,
    /// One operation (with the client's own retries) gives up after this long: outcome unknown.
    pub operation_timeout_ms: u64,
}

impl Default for RegisterWorkload {
    fn default() -> Self {
        RegisterWorkload { workers: 4, offsets: true, hot_keys: 3, operations_max: 5_000, operation_timeout_ms: 8_000 }
    }
}

/// What all workers recorded, shared while they run.
#[derive(Debug, Default)]
pub struct Recorded {
    pub operations: Vec<Operation>,
    /// Unique keys whose put was acknowledged.
    pub unique_acknowledged: BTreeSet<String>,
    /// Every unique key a put was sent for.
    pub unique_attempted: BTreeSet<String>,
}

/// A running workload: stop it, then collect.
#[derive(Debug)]
pub struct Running {
    pub recorded: Arc<Mutex<Recorded>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Running {
    /// Acknowledged operations so far (the throughput evidence).
    pub fn acknowledged_count(&self) -> usize {
        lock(&self.recorded)
            .operations
            .iter()
            .filter(|operation| {
                !matches!(operation.outcome, RegisterOutcome::Unknown { .. } | RegisterOutcome::Fail { .. })
            })
            .count()
    }

    /// Acknowledged operations that completed after `since_us`.
    pub fn acknowledged_since(&self, since_us: u64) -> usize {
        lock(&self.recorded)
            .operations
            .iter()
            .filter(|operation| {
                operation.complete_us >= since_us
                    && !matches!(operation.outcome, RegisterOutcome::Unknown { .. } | RegisterOutcome::Fail { .. })
            })
            .count()
    }

    /// Asks every worker to stop and waits for them (each finishes its current operation, which
    /// is bounded by its timeout).
    pub async fn stop(mut self) -> Recorded {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        std::mem::take(&mut *lock(&self.recorded))
    }
}

/// A run abandoned half-way (its deadline passed) must not leave workers behind.
impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A watcher task, aborted when dropped (a run abandoned half-way must not leave it behind).
#[derive(Debug)]
pub struct WatchTask {
    pub record: Arc<Mutex<WatchRecord>>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl WatchTask {
    /// Stops the watcher and returns what it recorded.
    pub async fn finish(mut self) -> WatchRecord {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        std::mem::take(&mut *lock(&self.record))
    }
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Client limits for workers: short attempts, so a fault turns into "unknown" quickly.
pub fn worker_client_options() -> ClientOptions {
    ClientOptions {
        attempts_max: 10,
        retry_backoff_ms: 50,
        request_timeout_ms: 1_000,
        connect_timeout_ms: 500,
        ..ClientOptions::default()
    }
}

/// Worker ids of pinned readers start here (one per node, in endpoint order).
pub const PINNED_READER_BASE: u32 = 100;

/// Starts the register workers. Worker `w` lists the endpoints starting at `w`, so workers
/// first talk to different nodes (and follow redirects from there). Besides, one reader per
/// endpoint sends every read to its own node first, through a fresh client: a client follows a
/// redirect to the leader and then stays there, so without pinned readers every read would end
/// up on the leader and a node serving stale reads would go unnoticed.
pub fn start_registers(endpoints: &[String], workload: &RegisterWorkload, seed: u64, started: Instant) -> Running {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..workload.workers {
        let mut rotated = endpoints.to_vec();
        rotated.rotate_left(worker as usize % endpoints.len().max(1));
        let Ok(client) = Client::with_options(rotated, worker_client_options()) else { continue };
        let context = WorkerContext {
            worker,
            pinned: None,
            client,
            workload: workload.clone(),
            rng: SplitMix64::new(seed ^ (u64::from(worker) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            recorded: recorded.clone(),
            stop: stop.clone(),
            started,
        };
        tasks.push(tokio::spawn(context.run()));
    }
    for (index, endpoint) in endpoints.iter().enumerate() {
        let Ok(client) = Client::with_options([endpoint.clone()], worker_client_options()) else { continue };
        let worker = PINNED_READER_BASE + index as u32;
        let context = WorkerContext {
            worker,
            pinned: Some(endpoint.clone()),
            client,
            workload: workload.clone(),
            rng: SplitMix64::new(seed ^ (u64::from(worker) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            recorded: recorded.clone(),
            stop: stop.clone(),
            started,
        };
        tasks.push(tokio::spawn(context.run()));
    }
    Running { recorded, stop, tasks }
}

/// Creates what the offset workload commits to: a broker group (one registration) and a topic
/// with [`OFFSET_QUEUES`] queues in it.
pub async fn prepare_offsets(client: &Client) -> Result<(), ClientError> {
    let registration = v1::RegisterBrokerRequest {
        group: OFFSET_BROKER_GROUP.into(),
        name: "offsets-broker".into(),
        incarnation_id: "chaos".into(),
        addresses: [("internal".to_string(), "127.0.0.1:1".to_string())].into(),
        ..Default::default()
    };
    client.register_broker(registration).await?;
    let topic = v1::TopicInfo {
        name: OFFSET_TOPIC.into(),
        queues: vec![v1::QueueSpec {
            group: OFFSET_BROKER_GROUP.into(),
            read_queues: OFFSET_QUEUES,
            write_queues: OFFSET_QUEUES,
        }],
        ..Default::default()
    };
    client.create_topic(topic).await?;
    Ok(())
}

/// The history key of an offset queue.
pub fn offset_key(queue_id: u32) -> String {
    format!("offset/{OFFSET_CONSUMER_GROUP}/{OFFSET_TOPIC}/{queue_id}")
}

struct WorkerContext {
    worker: u32,
    /// A pinned reader's node: it only reads, each time starting at this node.
    pinned: Option<String>,
    client: Client,
    workload: RegisterWorkload,
    rng: SplitMix64,
    recorded: Arc<Mutex<Recorded>>,
    stop: Arc<AtomicBool>,
    started: Instant,
}

fn parse_value(bytes: &[u8]) -> u64 {
    // Anything that is not one of our numbers is a value nobody wrote: the checker will say so.
    std::str::from_utf8(bytes).ok().and_then(|text| text.parse().ok()).unwrap_or(u64::MAX)
}

/// Refusals that certainly had no effect; everything else may or may not have happened.
fn definitely_refused(error: &ClientError) -> bool {
    matches!(error.reason(), Some(pharos_client::ErrorReason::InvalidArgument))
}

impl WorkerContext {
    /// Commits `value` as the offset of one queue (`commit`), or fetches every queue's offset
    /// (one read per queue in the history).
    async fn offset_operation(&mut self, commit: bool, value: u64) {
        let timeout = Duration::from_millis(self.workload.operation_timeout_ms);
        let invoke_us = self.now_us();
        if commit {
            let queue_id = self.rng.below(u64::from(OFFSET_QUEUES)) as u32;
            let entry = v1::OffsetEntry {
                consumer_group: OFFSET_CONSUMER_GROUP.into(),
                topic: OFFSET_TOPIC.into(),
                queue_id,
                offset: value,
                committed_at_revision: 0,
            };
            let outcome = match tokio::time::timeout(timeout, self.client.commit_offsets(vec![entry], false)).await {
                Ok(Ok(_)) => RegisterOutcome::WriteOk,
                Ok(Err(error)) if definitely_refused(&error) => RegisterOutcome::Fail { error: error.to_string() },
                Ok(Err(error)) => RegisterOutcome::Unknown { error: error.to_string() },
                Err(_) => RegisterOutcome::Unknown { error: "operation timed out".into() },
            };
            let complete_us = self.now_us();
            lock(&self.recorded).operations.push(Operation {
                worker: self.worker,
                key: offset_key(queue_id),
                call: RegisterCall::Write { value },
                outcome,
                invoke_us,
                complete_us,
            });
            return;
        }
        let fetch = self.client.fetch_offsets(OFFSET_CONSUMER_GROUP, OFFSET_TOPIC, v1::Consistency::Linearizable);
        let Ok(Ok(response)) = tokio::time::timeout(timeout, fetch).await else { return };
        let complete_us = self.now_us();
        let mut recorded = lock(&self.recorded);
        for queue_id in 0..OFFSET_QUEUES {
            let value = response.offsets.iter().find(|entry| entry.queue_id == queue_id).map(|entry| entry.offset);
            recorded.operations.push(Operation {
                worker: self.worker,
                key: offset_key(queue_id),
                call: RegisterCall::Read,
                outcome: RegisterOutcome::ReadOk { value },
                invoke_us,
                complete_us,
            });
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    async fn run(mut self) {
        let timeout = Duration::from_millis(self.workload.operation_timeout_ms);
        // The last value this worker saw per key, the `expect` of its next CAS.
        let mut last_seen: Vec<RegisterValue> = vec![None; self.workload.hot_keys as usize];
        let mut unique_puts = 0u64;
        for sequence in 0..self.workload.operations_max {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let value = (u64::from(self.worker) + 1) * 1_000_000_000 + sequence;
            let choice = if let Some(endpoint) = &self.pinned {
                // A fresh client, so the read goes to this node before any redirect.
                if let Ok(client) = Client::with_options([endpoint.clone()], worker_client_options()) {
                    self.client = client;
                }
                // Pace the pinned readers: they are many fresh connections.
                tokio::time::sleep(Duration::from_millis(10)).await;
                20
            } else {
                self.rng.below(100)
            };
            if choice < 15 && unique_puts < UNIQUE_PUTS_PER_WORKER_MAX {
                unique_puts += 1;
                let key = format!("{UNIQUE_PREFIX}{}/{sequence}", self.worker);
                lock(&self.recorded).unique_attempted.insert(key.clone());
                if let Ok(Ok(_)) = tokio::time::timeout(timeout, self.client.put(key.clone(), "1")).await {
                    lock(&self.recorded).unique_acknowledged.insert(key);
                }
                continue;
            }
            if choice >= 88 && self.workload.offsets {
                self.offset_operation(choice < 94, value).await;
                continue;
            }
            let key_index = self.rng.below(u64::from(self.workload.hot_keys)) as usize;
            let key = format!("{REGISTER_PREFIX}{key_index}");
            let invoke_us = self.now_us();
            let (call, outcome) = if choice < 48 {
                let result =
                    tokio::time::timeout(timeout, self.client.get(key.clone(), v1::Consistency::Linearizable)).await;
                let outcome = match result {
                    Ok(Ok(response)) => {
                        let value = response.kv.map(|kv| parse_value(&kv.value));
                        last_seen[key_index] = value;
                        RegisterOutcome::ReadOk { value }
                    }
                    Ok(Err(error)) => RegisterOutcome::Unknown { error: error.to_string() },
                    Err(_) => RegisterOutcome::Unknown { error: "operation timed out".into() },
                };
                (RegisterCall::Read, outcome)
            } else if choice < 75 {
                let result = tokio::time::timeout(timeout, self.client.put(key.clone(), value.to_string())).await;
                let outcome = match result {
                    Ok(Ok(_)) => {
                        last_seen[key_index] = Some(value);
                        RegisterOutcome::WriteOk
                    }
                    Ok(Err(error)) if definitely_refused(&error) => RegisterOutcome::Fail { error: error.to_string() },
                    Ok(Err(error)) => RegisterOutcome::Unknown { error: error.to_string() },
                    Err(_) => RegisterOutcome::Unknown { error: "operation timed out".into() },
                };
                (RegisterCall::Write { value }, outcome)
            } else {
                let expect = last_seen[key_index];
                let compare = match expect {
                    Some(expected) => v1::compare_and_set_request::Compare::ExpectValue(expected.to_string().into()),
                    None => v1::compare_and_set_request::Compare::ExpectAbsent(true),
                };
                let result =
                    tokio::time::timeout(timeout, self.client.compare_and_set(key.clone(), compare, value.to_string()))
                        .await;
                let outcome = match result {
                    Ok(Ok(response)) => {
                        if response.succeeded {
                            last_seen[key_index] = Some(value);
                        }
                        RegisterOutcome::CasOk { succeeded: response.succeeded }
                    }
                    Ok(Err(error)) if definitely_refused(&error) => RegisterOutcome::Fail { error: error.to_string() },
                    Ok(Err(error)) => RegisterOutcome::Unknown { error: error.to_string() },
                    Err(_) => RegisterOutcome::Unknown { error: "operation timed out".into() },
                };
                (RegisterCall::Cas { expect, value }, outcome)
            };
            let complete_us = self.now_us();
            let failed = matches!(outcome, RegisterOutcome::Unknown { .. });
            lock(&self.recorded).operations.push(Operation {
                worker: self.worker,
                key,
                call,
                outcome,
                invoke_us,
                complete_us,
            });
            if failed {
                // Do not hammer a cluster that is electing.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a group watcher saw.
#[derive(Debug, Default)]
pub struct WatchRecord {
    pub events: Vec<WatchEvent>,
    pub observations: Vec<GroupObservation>,
    pub reconnects: u32,
    /// Re-listings after `COMPACTED`.
    pub resyncs: u32,
    pub errors: Vec<String>,
}

/// The committed fields of a group view, to compare a live event with its replay.
pub fn summarize_group(view: &v1::BrokerGroupView) -> String {
    let mut brokers: Vec<String> = view
        .brokers
        .iter()
        .map(|broker| format!("{}:{}:{}", broker.broker_id, broker.state().label(), broker.broker_epoch))
        .collect();
    brokers.sort();
    format!(
        "master={:?} epoch={} sync={:?}@{} brokers={brokers:?}",
        view.master_broker_id, view.master_epoch, view.sync_state_set, view.sync_state_epoch
    )
}

/// What a watcher follows.
#[derive(Debug, Clone)]
pub enum Watched {
    /// A broker group (`WatchBrokerGroup`).
    Group(String),
    /// One topic's route on the `internal` network (`WatchRoutes`).
    Route(String),
}

/// One event as the checkers want it: revision, comparable summary, and for groups the master.
type Delivered = (u64, String, Option<GroupObservation>);

enum EventStream {
    Group(tonic::Streaming<v1::BrokerGroupEvent>),
    Route(tonic::Streaming<v1::RouteEvent>),
}

impl EventStream {
    async fn next(&mut self) -> Result<Option<Delivered>, tonic::Status> {
        match self {
            EventStream::Group(stream) => Ok(stream.message().await?.map(|event| {
                let view = event.group.unwrap_or_default();
                let observation = GroupObservation {
                    revision: event.revision,
                    master_broker_id: view.master_broker_id,
                    master_epoch: view.master_epoch,
                };
                (event.revision, summarize_group(&view), Some(observation))
            })),
            EventStream::Route(stream) => Ok(stream
                .message()
                .await?
                .map(|event| (event.revision, format!("deleted={} route={:?}", event.deleted, event.route), None))),
        }
    }
}

impl Watched {
    async fn open(&self, client: &Client, from_revision: u64) -> Result<EventStream, ClientError> {
        match self {
            Watched::Group(group) => Ok(EventStream::Group(client.watch_broker_group(group, from_revision).await?)),
            Watched::Route(topic) => {
                let request = v1::WatchRoutesRequest {
                    topics: vec![topic.clone()],
                    network: "internal".into(),
                    from_revision,
                    ..Default::default()
                };
                Ok(EventStream::Route(client.watch_routes(request).await?))
            }
        }
    }

    /// The current view and the revision it reflects (for a re-listing).
    async fn list(&self, client: &Client) -> Result<Delivered, ClientError> {
        match self {
            Watched::Group(group) => {
                let response = client.get_broker_group(group, v1::Consistency::Linearizable).await?;
                let view = response.group.unwrap_or_default();
                let observation = GroupObservation {
                    revision: response.revision,
                    master_broker_id: view.master_broker_id,
                    master_epoch: view.master_epoch,
                };
                Ok((response.revision, summarize_group(&view), Some(observation)))
            }
            Watched::Route(topic) => {
                let response = client.get_route(topic, "internal", v1::Consistency::Linearizable).await?;
                let revision = response.header.map_or(0, |header| header.revision);
                Ok((revision, format!("deleted=false route={:?}", response.route), None))
            }
        }
    }
}

fn record_event(record: &Mutex<WatchRecord>, delivered: Delivered, resync: bool) {
    let (revision, summary, observation) = delivered;
    let mut record = lock(record);
    record.events.push(WatchEvent { revision, summary, resync });
    record.observations.extend(observation);
}

/// Watches until stopped, reconnecting from the last revision seen (bounded pause between
/// attempts); re-lists after `COMPACTED`.
pub fn start_watch(client: Client, watched: Watched) -> WatchTask {
    let record = Arc::new(Mutex::new(WatchRecord::default()));
    let shared = record.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let mut from_revision = 0;
        while !stopped.load(Ordering::Relaxed) {
            let mut stream = match watched.open(&client, from_revision).await {
                Ok(stream) => stream,
                Err(error) if error.reason() == Some(pharos_client::ErrorReason::Compacted) => {
                    resync(&client, &watched, &shared, &mut from_revision).await;
                    continue;
                }
                Err(error) => {
                    lock(&shared).errors.push(error.to_string());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            loop {
                let next = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                match next {
                    Err(_) => continue,
                    Ok(Ok(Some(delivered))) => {
                        // From revision 0 the first event is the current view, not a change.
                        let first_view = from_revision == 0;
                        from_revision = delivered.0;
                        record_event(&shared, delivered, first_view);
                    }
                    Ok(Err(status)) if is_compacted(&status) => {
                        resync(&client, &watched, &shared, &mut from_revision).await;
                        break;
                    }
                    Ok(Ok(None)) | Ok(Err(_)) => {
                        lock(&shared).reconnects += 1;
                        break;
                    }
                }
            }
        }
    });
    WatchTask { record, task: Some(task), stop }
}

fn is_compacted(status: &tonic::Status) -> bool {
    pharos_client::error_reason(status) == Some(pharos_client::ErrorReason::Compacted)
}

/// After `COMPACTED`: re-list and go on watching from the listed revision.
async fn resync(client: &Client, watched: &Watched, shared: &Mutex<WatchRecord>, from_revision: &mut u64) {
    match watched.list(client).await {
        Ok(delivered) => {
            *from_revision = delivered.0;
            lock(shared).resyncs += 1;
            record_event(shared, delivered, true);
        }
        Err(error) => {
            lock(shared).errors.push(error.to_string());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Replays every change after `from_revision` up to `to_revision` with a fresh watch, bounded
/// by `timeout`. `Err("COMPACTED")` when the answering node no longer has them.
pub async fn replay(
    client: &Client,
    watched: &Watched,
    from_revision: u64,
    to_revision: u64,
    timeout: Duration,
) -> Result<Vec<WatchEvent>, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = watched.open(client, from_revision).await.map_err(|error| match error.reason() {
        Some(pharos_client::ErrorReason::Compacted) => "COMPACTED".to_string(),
        _ => error.to_string(),
    })?;
    let mut events = Vec::new();
    while events.last().is_none_or(|event: &WatchEvent| event.revision < to_revision) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Err(_) => break,
            Ok(Ok(Some((revision, summary, _)))) => events.push(WatchEvent { revision, summary, resync: false }),
            Ok(Ok(None)) => break,
            Ok(Err(status)) if is_compacted(&status) => return Err("COMPACTED".to_string()),
            Ok(Err(status)) => return Err(status.to_string()),
        }
    }
    Ok(events)
}

/// Samples every node's role and term every `interval_ms` until stopped (election safety).
#[derive(Debug)]
pub struct RolePoller {
    pub samples: Arc<Mutex<Vec<crate::checker::raft::RoleSample>>>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl RolePoller {
    /// `nodes`: (node id, client address). Each status call has a short deadline, so a paused or
    /// partitioned node only costs a missing sample.
    pub fn start(nodes: Vec<(u64, String)>, interval_ms: u64) -> RolePoller {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let options = ClientOptions {
            attempts_max: 1,
            retry_backoff_ms: 10,
            request_timeout_ms: 300,
            connect_timeout_ms: 300,
            ..ClientOptions::default()
        };
        let clients: Vec<(u64, Client)> = nodes
            .into_iter()
            .filter_map(|(node_id, address)| {
                Client::with_options([address], options.clone()).ok().map(|client| (node_id, client))
            })
            .collect();
        let (shared, stopped) = (samples.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                for (node_id, client) in &clients {
                    if let Ok(status) = client.status().await {
                        lock(&shared).push(crate::checker::raft::RoleSample {
                            node_id: *node_id,
                            generation: status.generation,
                            term: status.term,
                            leader: status.state() == pharos_client::v1::ServerState::Leader,
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            }
        });
        RolePoller { samples, task: Some(task), stop }
    }

    pub async fn finish(mut self) -> Vec<crate::checker::raft::RoleSample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        std::mem::take(&mut *lock(&self.samples))
    }
}

impl Drop for RolePoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
