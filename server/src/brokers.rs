//! Broker liveness and master election on the Raft leader (docs/architecture.md, "Brokers").
//!
//! Heartbeats are soft state held here, on the leader only: never one Raft write per heartbeat.
//! The rules live in `pharos_dr::lease::LeaseTable` (pure, with exact tests): a background pass
//! (every `PLAN_INTERVAL`) lets it observe the committed state, plan (`pharos_dr::election`),
//! and mark the brokers it fences, all under one lock that heartbeat grants take too; this
//! runtime commits what the plan returns (`FenceBroker`, `ElectMaster`), in order, then the sync
//! state sets it keeps for controlled groups (`pharos_dr::sync_state_set`). The same pass
//! then asks `pharos_dr::retention` for the next batch of retired broker records to forget and
//! commits it (`CollectBrokers`): at most one batch of `COLLECTED_BROKERS_MAX` per second.
//!
//! Timing argument (why two masters never overlap): a broker's lease is `lease_ms` from the
//! moment it *sent* its last successful heartbeat, on its own clock. The leader grants it later,
//! and sets the deadline to `grant time + lease_ms + clock_drift_ms`. No heartbeat is granted
//! once a fence is decided, a new leadership gives every active or fenced broker a fresh
//! deadline, and a new master is elected only after every deadline of a non-active broker of the
//! group has passed, so the old master's lease ran out at least `clock_drift_ms` earlier, as long
//! as the two clocks' rates differ by less than that over one lease.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_dr::election::{Action, ElectionRequest, Policy};
pub use pharos_dr::lease::LeaseTiming as BrokerTiming;
use pharos_dr::lease::{BrokerLease, GrantRefusal, Leadership, LeaseTable};
use pharos_dr::retention::Now;
use pharos_meta::{BrokerOperation, BrokerState, Operation, Response, State};
use pharos_replication::{Node, NodeError};

/// How often the leader re-plans liveness and elections.
pub const PLAN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Table {
    /// Lease soft state, rebuilt whenever this node's leadership begins (pharos_dr::lease).
    leases: LeaseTable,
    /// Groups the last pass found leaderless, with the reason.
    leaderless: BTreeMap<String, String>,
    /// Operator failovers waiting to be carried out.
    requests: BTreeMap<String, ElectionRequest>,
    /// Monotonic ms before which no retention scan runs (they walk every broker record).
    next_collection_ms: u64,
}

/// How often the leader looks for retired broker records: retention is measured in hours, so
/// a scan of every record on each 100 ms planning pass would be work for nothing.
const COLLECTION_INTERVAL_MS: u64 = 1_000;

/// Leader-side broker liveness. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrokerRuntime {
    node: Node,
    pub timing: BrokerTiming,
    /// How long a fenced or shut-down broker's record is kept before it is collected
    /// (`--broker-record-retention-ms`), on the leader's wall clock.
    record_retention_ms: u64,
    started: Instant,
    table: Arc<Mutex<Table>>,
}

impl BrokerRuntime {
    pub fn new(node: Node, timing: BrokerTiming, record_retention_ms: u64) -> Self {
        BrokerRuntime { node, timing, record_retention_ms, started: Instant::now(), table: Arc::default() }
    }

    /// Milliseconds on this process's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This node's current leadership, or why it cannot grant anything.
    pub fn leadership(&self) -> Result<Leadership, NodeError> {
        self.node.ensure_leader()?;
        let (term, node_id) = self.node.leadership().ok_or_else(|| self.node.not_leader_error())?;
        Ok(Leadership { term, node_id })
    }

    /// Grants a heartbeat a lease under `leadership` (checked by the caller before its read
    /// barrier). `state` is the committed state the caller holds while calling, so no fence
    /// applies between the check and the grant.
    pub fn grant(
        &self,
        leadership: Leadership,
        state: &State,
        broker_id: u64,
        broker_epoch: u64,
        offsets: (u64, u64),
    ) -> Result<BrokerLease, GrantRefusal> {
        let now = self.now_ms();
        self.table().leases.grant(leadership, now, state, broker_id, broker_epoch, offsets, &self.timing)
    }

    /// Gives a newly registered broker a deadline (it holds no lease until its first heartbeat).
    pub fn registered(&self) {
        if let Ok(leadership) = self.leadership() {
            let now = self.now_ms();
            let applied = self.node.state_machine.read();
            self.table().leases.observe(leadership, now, &applied.state, &self.timing);
        }
    }

    /// A broker that shut down cleanly holds no lease any more.
    pub fn forget(&self, broker_id: u64) {
        self.table().leases.forget(broker_id);
    }

    /// What this leadership knows of a broker's lease (nothing on a follower).
    pub fn lease_of(&self, broker_id: u64) -> Option<BrokerLease> {
        let table = self.table();
        let current = self.node.leadership().map(|(term, node_id)| Leadership { term, node_id });
        if table.leases.leadership() != current {
            return None;
        }
        table.leases.get(broker_id).cloned()
    }

    pub fn leaderless(&self) -> BTreeMap<String, String> {
        self.table().leaderless.clone()
    }

    /// Queues an operator failover for the next pass.
    pub fn request_failover(&self, group: &str, request: ElectionRequest) {
        self.table().requests.insert(group.to_string(), request);
    }

    pub fn cancel_failover(&self, group: &str) {
        self.table().requests.remove(group);
    }

    /// Groups with a master move under way (queued, waiting for the old master's lease).
    pub fn pending_failovers(&self) -> BTreeSet<String> {
        self.table().requests.keys().cloned().collect()
    }

    /// Starts moving the master of `group` (operator failover, or a switchover moving masters
    /// into the new primary region): queues the election and fences the active master, whose
    /// lease must then run out before the planning pass elects the successor. Returns the
    /// fence's answer (`None` when there was no active master to fence); a refused or failed
    /// fence cancels the queued election.
    pub async fn begin_failover(
        &self,
        group: &pharos_meta::BrokerGroup,
        request: ElectionRequest,
        actor: String,
    ) -> Result<Option<Response>, NodeError> {
        let master = {
            let applied = self.node.state_machine.read();
            group.master_broker_id.and_then(|id| applied.state.brokers.get(&id).cloned())
        };
        self.request_failover(&group.name, request);
        let Some(master) = master.filter(|broker| broker.state == BrokerState::Active) else { return Ok(None) };
        let fence = BrokerOperation::Fence { broker_id: master.broker_id, broker_epoch: master.broker_epoch };
        match self.node.write(crate::handler::command(Operation::Broker(fence), None, actor)).await {
            Ok((response, _)) => {
                if matches!(response, Response::Error(_)) {
                    self.cancel_failover(&group.name);
                }
                Ok(Some(response))
            }
            Err(error) => {
                self.cancel_failover(&group.name);
                Err(error)
            }
        }
    }

    /// Runs the planning loop until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        crate::handler::every_leader_pass(&self.node, PLAN_INTERVAL, stop, || self.pass()).await;
    }

    /// One planning pass: observe, plan, commit; then collect retired records.
    async fn pass(&self) {
        let Ok(leadership) = self.leadership() else { return };
        let now = self.now_ms();
        let (actions, requests, sync_state_sets) = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            let mut table = self.table();
            // The configured primary region; until one is known, the leader's own region.
            let primary_region =
                if state.dr.primary_region.is_empty() { &self.node.info.region } else { &state.dr.primary_region };
            // A leader started without `--region` knows no primary region: no preference.
            let policy = Policy { primary_region: Some(primary_region.clone()).filter(|region| !region.is_empty()) };
            let requests = table.requests.clone();
            let actions = table.leases.decide(leadership, now, state, &self.timing, &policy, &requests);
            // After `decide`, so a broker this pass fences is already out of every set.
            let sync_state_sets = pharos_dr::sync_state_set::plan(state, table.leases.leases());
            (actions, requests, sync_state_sets)
        };
        let mut leaderless = BTreeMap::new();
        for action in actions {
            match action {
                Action::Fence { broker_id, broker_epoch } => {
                    tracing::warn!(broker_id, "broker lease expired; fencing");
                    self.commit(BrokerOperation::Fence { broker_id, broker_epoch }).await;
                }
                Action::Elect { group, broker_id, expected_master_epoch, unclean } => {
                    tracing::info!(%group, broker_id, master_epoch = expected_master_epoch + 1, unclean, "electing master");
                    let operation =
                        BrokerOperation::ElectMaster { group: group.clone(), broker_id, expected_master_epoch };
                    // An operator's election is committed under the request's key.
                    let request_id = requests.get(&group).and_then(|request| request.request_id.clone());
                    let keyed = request_id.is_some();
                    if self.commit_as(operation, request_id).await {
                        if requests.contains_key(&group) {
                            self.cancel_failover(&group);
                        }
                    } else if keyed {
                        // The key now answers with this refusal (the operator's retry sees it);
                        // the next pass elects without it, or it would get the same answer.
                        if let Some(request) = self.table().requests.get_mut(&group) {
                            request.request_id = None;
                        }
                    }
                }
                Action::Leaderless { group, reason } => {
                    leaderless.insert(group, reason);
                }
            }
        }
        for operation in sync_state_sets {
            if let BrokerOperation::AlterSyncStateSet { group, sync_state_set, .. } = &operation {
                tracing::info!(%group, ?sync_state_set, "sync state set changes");
            }
            self.commit(operation).await;
        }
        {
            let mut table = self.table();
            for (group, reason) in &leaderless {
                if table.leaderless.get(group) != Some(reason) {
                    tracing::warn!(%group, %reason, "broker group is leaderless");
                }
            }
            table.leaderless = leaderless;
        }
        self.collect_retired().await;
    }

    /// Commits the next batch of retired broker records the retention rule selects, if any.
    async fn collect_retired(&self) {
        let now = Now { unix_ms: crate::handler::unix_ms(), monotonic_ms: self.now_ms() };
        let operation = {
            let applied = self.node.state_machine.read();
            let mut table = self.table();
            if now.monotonic_ms < table.next_collection_ms {
                return;
            }
            table.next_collection_ms = now.monotonic_ms + COLLECTION_INTERVAL_MS;
            pharos_dr::retention::plan(now, self.record_retention_ms, &applied.state, table.leases.leases())
        };
        let Some(operation) = operation else { return };
        let broker_ids: Vec<u64> = match &operation {
            BrokerOperation::Collect { brokers, .. } => brokers.iter().map(|broker| broker.broker_id).collect(),
            _ => Vec::new(),
        };
        if self.commit(operation).await {
            tracing::info!(?broker_ids, retention_ms = self.record_retention_ms, "collected retired broker records");
        }
    }

    /// Commits one broker operation; returns whether it was applied.
    async fn commit(&self, operation: BrokerOperation) -> bool {
        self.commit_as(operation, None).await
    }

    /// [`Self::commit`] under an operator request's idempotency key.
    async fn commit_as(&self, operation: BrokerOperation, request_id: Option<pharos_meta::RequestId>) -> bool {
        match self
            .node
            .write(crate::handler::command(Operation::Broker(operation), request_id, "coordinator".to_string()))
            .await
        {
            Ok((Response::Error(error), _)) => {
                tracing::info!(%error, "planned broker change refused (state moved on)");
                false
            }
            Ok(_) => true,
            Err(NodeError::NotLeader { .. }) => false,
            Err(error) => {
                tracing::warn!(%error, "cannot commit broker change");
                false
            }
        }
    }
}
