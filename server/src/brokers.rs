//! Broker liveness and master election on the Raft leader (DESIGN.md §5).
//!
//! Heartbeats are soft state held here, on the leader only: never one Raft write per heartbeat.
//! A background pass (every `PLAN_INTERVAL`) hands the committed state plus this soft state to the
//! pure planner `pharos_dr::election::plan` and commits what it returns (`FenceBroker`,
//! `ElectMaster`), in order. When this node becomes leader (a new term), every active broker is
//! given a fresh deadline before anyone is judged.
//!
//! Timing argument (why two masters never overlap): a broker's lease is `lease_ms` from the
//! moment it *sent* its last successful heartbeat, on its own clock. The leader received that
//! heartbeat later, and sets the deadline to `receipt + lease_ms + clock_drift_ms`. A new master
//! is elected only after the old master's deadline has passed (also when it was fenced by an
//! operator), so the old master's lease ran out at least `clock_drift_ms` earlier, as long as
//! the two clocks' rates differ by less than that over one lease.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_dr::election::{Action, ElectionRequest, Liveness, Policy, plan};
use pharos_meta::{BrokerOperation, BrokerState, Operation, Response};
use pharos_replication::{Node, NodeError};

/// How often the leader re-plans liveness and elections.
pub const PLAN_INTERVAL: Duration = Duration::from_millis(100);

/// Lease and heartbeat timing, in the units their names say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerTiming {
    pub heartbeat_interval_ms: u64,
    pub lease_ms: u64,
    pub clock_drift_ms: u64,
}

impl BrokerTiming {
    /// Time from a heartbeat's receipt until the broker may be declared dead.
    pub fn grace_ms(&self) -> u64 {
        self.lease_ms + self.clock_drift_ms
    }
}

/// What the leader knows of one broker from its heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    pub deadline_ms: u64,
    /// `None` when the entry is a fresh grant (no heartbeat received by this leader yet).
    pub last_heartbeat_ms: Option<u64>,
    pub max_offset: u64,
    pub confirm_offset: u64,
}

#[derive(Debug, Default)]
struct Table {
    /// Term these entries were built in; a new term clears them.
    term: u64,
    brokers: HashMap<u64, Heard>,
    /// Groups the last pass found leaderless, with the reason.
    leaderless: BTreeMap<String, String>,
    /// Operator failovers waiting to be carried out.
    requests: BTreeMap<String, ElectionRequest>,
}

/// Leader-side broker liveness. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrokerRuntime {
    node: Node,
    pub timing: BrokerTiming,
    started: Instant,
    table: Arc<Mutex<Table>>,
}

impl BrokerRuntime {
    pub fn new(node: Node, timing: BrokerTiming) -> Self {
        BrokerRuntime { node, timing, started: Instant::now(), table: Arc::default() }
    }

    /// Milliseconds on this process's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Clears soft state learned under another term (the caller checked it is the leader).
    fn table_for_current_term(&self) -> std::sync::MutexGuard<'_, Table> {
        let term = self.node.current_term();
        let mut table = self.table();
        if table.term != term {
            table.term = term;
            table.brokers.clear();
            table.leaderless.clear();
        }
        table
    }

    /// Records a heartbeat; returns the broker's entry after it.
    pub fn heard(&self, broker_id: u64, max_offset: u64, confirm_offset: u64) -> Heard {
        let now = self.now_ms();
        let heard = Heard {
            deadline_ms: now + self.timing.grace_ms(),
            last_heartbeat_ms: Some(now),
            max_offset,
            confirm_offset,
        };
        self.table_for_current_term().brokers.insert(broker_id, heard);
        heard
    }

    /// Gives a newly registered broker a fresh deadline.
    pub fn registered(&self, broker_id: u64) {
        let deadline_ms = self.now_ms() + self.timing.grace_ms();
        let fresh = Heard { deadline_ms, last_heartbeat_ms: None, max_offset: 0, confirm_offset: 0 };
        self.table_for_current_term().brokers.insert(broker_id, fresh);
    }

    /// A broker that shut down cleanly holds no lease any more.
    pub fn forget(&self, broker_id: u64) {
        self.table().brokers.remove(&broker_id);
    }

    pub fn heard_of(&self, broker_id: u64) -> Option<Heard> {
        self.table().brokers.get(&broker_id).copied()
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

    /// One planning pass: observe, plan, commit.
    async fn pass(&self) {
        let now = self.now_ms();
        let (actions, requests) = {
            let applied = self.node.state_machine.read();
            let state = &applied.state;
            let mut table = self.table_for_current_term();
            // Every active broker has an entry (a fresh grant when this leader never heard it);
            // entries of inactive brokers stay only while their lease may still run.
            for broker in state.brokers.values().filter(|broker| broker.state == BrokerState::Active) {
                table.brokers.entry(broker.broker_id).or_insert(Heard {
                    deadline_ms: now + self.timing.grace_ms(),
                    last_heartbeat_ms: None,
                    max_offset: 0,
                    confirm_offset: 0,
                });
            }
            table.brokers.retain(|id, heard| {
                state.brokers.get(id).is_some_and(|broker| broker.state == BrokerState::Active)
                    || heard.deadline_ms > now
            });
            let liveness: BTreeMap<u64, Liveness> = table
                .brokers
                .iter()
                .map(|(id, heard)| {
                    (*id, Liveness { deadline_ms: heard.deadline_ms, confirm_offset: heard.confirm_offset })
                })
                .collect();
            // The configured primary region; until one is known, the leader's own region.
            let primary_region =
                if state.dr.primary_region.is_empty() { &self.node.info.region } else { &state.dr.primary_region };
            let policy = Policy { primary_region: Some(primary_region.clone()) };
            (
                plan(now, state, &liveness, &policy, &table.requests),
                table.requests.keys().cloned().collect::<BTreeSet<_>>(),
            )
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
                    if self.commit(operation).await && requests.contains(&group) {
                        self.cancel_failover(&group);
                    }
                }
                Action::Leaderless { group, reason } => {
                    leaderless.insert(group, reason);
                }
            }
        }
        let mut table = self.table();
        for (group, reason) in &leaderless {
            if table.leaderless.get(group) != Some(reason) {
                tracing::warn!(%group, %reason, "broker group is leaderless");
            }
        }
        table.leaderless = leaderless;
    }

    /// Commits one broker operation; returns whether it was applied.
    async fn commit(&self, operation: BrokerOperation) -> bool {
        match self
            .node
            .write(crate::handler::command(Operation::Broker(operation), None, "coordinator".to_string()))
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
