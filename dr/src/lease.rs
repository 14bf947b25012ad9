//! Broker leases as the coordinator sees them: the soft state behind "at most one master per
//! group at a time" (invariant 3), kept by the Raft leader only, never written to the log.
//!
//! A broker holds a lease of `lease_ms` from the moment it *sent* a heartbeat that was answered,
//! on its own clock. The coordinator records, for every broker, the latest moment any lease it
//! granted may still run on its own clock: `deadline_ms` = the time the grant was decided +
//! `lease_ms` + `clock_drift_ms`. Three rules make the deadline an upper bound on every lease
//! any coordinator may have granted:
//!
//! 1. **No grant past a decision.** Once a pass decides to fence a broker (its deadline ran
//!    out), the entry is marked `fencing` in the same critical section, and no later heartbeat
//!    renews it, although the fence is not committed yet and the committed state still says the
//!    broker is active. (Without this, a heartbeat answered between the decision and the commit
//!    handed out a lease that the election in the same pass ignored: the two-masters bug of
//!    `random-broker-combination` seeds 292502, 947944 and 706727.)
//! 2. **A grant needs the committed state to say active**, checked together with the table, so
//!    a fence that has been applied stops every later grant.
//! 3. **A new leadership assumes the worst.** The previous leader's grants are unknown to a new
//!    one; they were all made before this leadership began (a grant to a master follows a
//!    read-index barrier, which a quorum confirms only while no newer leader exists). So when a
//!    leadership begins, every broker that may hold a lease, active *or fenced*, gets a fresh
//!    deadline `now + grace`. A leadership is identified by its full leader id (term and node),
//!    never by the term alone.
//!
//! The election planner ([`crate::election::plan`]) elects a group's master only when no
//! non-active broker of the group (fenced, shut down or removed) has a deadline still running.

use std::collections::BTreeMap;

use pharos_meta::{Broker, BrokerState, ElectionMode, State};

use crate::election::{Action, ElectionRequest, Policy, plan};

/// Lease and heartbeat timing, in the units their names say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub heartbeat_interval_ms: u64,
    pub lease_ms: u64,
    /// Bound on how far the broker's and the coordinator's clocks may drift apart over one lease.
    pub clock_drift_ms: u64,
    /// How long a broker of a group with declared masters (a RocketMQ broker registered over
    /// the remoting port) stays live after its last registration or heartbeat: it holds no
    /// lease and never fences itself, so this is liveness only (RocketMQ's broker timeout).
    pub registration_timeout_ms: u64,
}

impl LeaseTiming {
    /// Time from a grant until the broker may be declared dead.
    pub fn grace_ms(&self) -> u64 {
        self.lease_ms + self.clock_drift_ms
    }

    /// [`Self::grace_ms`] of `broker`, by its group's election mode in `state`.
    pub fn grace_of(&self, state: &State, broker: &Broker) -> u64 {
        let declared =
            state.groups.get(&broker.group).is_some_and(|group| group.election_mode == ElectionMode::Declared);
        if declared { self.registration_timeout_ms } else { self.grace_ms() }
    }
}

/// One leadership of the Raft group: the leader id `(term, node_id)`. A table built under one
/// leadership is never used under another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leadership {
    pub term: u64,
    pub node_id: u64,
}

/// What the coordinator knows of one broker's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLease {
    /// The broker's group (kept so a removed broker's lease still holds its group's election).
    pub group: String,
    /// Coordinator time after which no lease granted to this broker can still run.
    pub deadline_ms: u64,
    /// When this leadership last granted a heartbeat; `None` for a fresh deadline (no heartbeat
    /// heard by this leadership yet).
    pub last_heartbeat_ms: Option<u64>,
    pub max_offset: u64,
    /// Highest offset the broker confirmed replicated, from its last heartbeat.
    pub confirm_offset: u64,
    /// A pass decided to fence this broker: no heartbeat renews the lease any more.
    pub fencing: bool,
    /// The heartbeat heard before the last one, as `(at_ms, max_offset)`: with the last, it
    /// tells what a master had at two moments (`crate::sync_state_set`).
    pub earlier_heartbeat: Option<(u64, u64)>,
    /// The generation of this leadership's last grant ([`LeaseTable::grant`]); 0 before any.
    pub generation: u64,
}

/// Bits of a grant generation below the Raft term: a leadership may grant 2^40 leases (35
/// years at a thousand a second) before its generations would stop increasing.
const GENERATION_COUNTER_BITS: u32 = 40;

/// Why a heartbeat was not granted a lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("the leadership changed since the heartbeat was checked")]
    LeadershipChanged,
    #[error("unknown broker {broker_id}")]
    UnknownBroker { broker_id: u64 },
    #[error("broker {broker_id} has epoch {current}")]
    StaleBrokerEpoch { broker_id: u64, current: u64 },
    #[error("broker {broker_id} is {}", state.as_str())]
    NotActive { broker_id: u64, state: BrokerState },
    #[error("broker {broker_id} is being fenced: its lease ran out")]
    BeingFenced { broker_id: u64 },
}

/// The generation of the `grants`-th grant of a leadership of `term`: strictly increasing over
/// every grant of every leadership of the cluster (terms only grow, and one term has one
/// leader), so a broker that checks generations accepts each newer grant, whichever node made
/// it. Never 0. RocketMQ brokers in controller mode refuse a grant whose generation is not
/// above the last one they installed.
pub fn generation(term: u64, grants: u64) -> u64 {
    let counter = grants.min((1 << GENERATION_COUNTER_BITS) - 1);
    (term << GENERATION_COUNTER_BITS) | counter
}

/// The leader's lease table. See the module docs for the rules it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseTable {
    leadership: Option<Leadership>,
    brokers: BTreeMap<u64, BrokerLease>,
    /// Grants made under this leadership.
    grants: u64,
}

impl LeaseTable {
    pub fn leadership(&self) -> Option<Leadership> {
        self.leadership
    }

    pub fn get(&self, broker_id: u64) -> Option<&BrokerLease> {
        self.brokers.get(&broker_id)
    }

    pub fn leases(&self) -> &BTreeMap<u64, BrokerLease> {
        &self.brokers
    }

    fn fresh(state: &State, broker: &Broker, now_ms: u64, timing: &LeaseTiming) -> BrokerLease {
        BrokerLease {
            group: broker.group.clone(),
            deadline_ms: now_ms + timing.grace_of(state, broker),
            last_heartbeat_ms: None,
            max_offset: 0,
            confirm_offset: 0,
            fencing: false,
            earlier_heartbeat: None,
            generation: 0,
        }
    }

    /// Moves the table to `leadership`. Under a leadership it was not built under, everything
    /// learned before is dropped and every broker that may hold a lease (active or fenced) gets
    /// a fresh deadline (rule 3). Cheap when the leadership is unchanged.
    pub fn ensure_leadership(&mut self, leadership: Leadership, now_ms: u64, state: &State, timing: &LeaseTiming) {
        if self.leadership == Some(leadership) {
            return;
        }
        self.leadership = Some(leadership);
        self.grants = 0;
        self.brokers = state
            .brokers
            .values()
            .filter(|broker| matches!(broker.state, BrokerState::Active | BrokerState::Fenced))
            .map(|broker| (broker.broker_id, Self::fresh(state, broker, now_ms, timing)))
            .collect();
    }

    /// Brings the table up to the committed `state`: every active broker has an entry (a fresh
    /// deadline when none was heard yet), entries of brokers that are no longer active stay only
    /// while their deadline runs.
    pub fn observe(&mut self, leadership: Leadership, now_ms: u64, state: &State, timing: &LeaseTiming) {
        self.ensure_leadership(leadership, now_ms, state, timing);
        for broker in state.brokers.values().filter(|broker| broker.state == BrokerState::Active) {
            self.brokers.entry(broker.broker_id).or_insert_with(|| Self::fresh(state, broker, now_ms, timing));
        }
        self.brokers.retain(|id, lease| {
            state.brokers.get(id).is_some_and(|broker| broker.state == BrokerState::Active)
                || lease.deadline_ms > now_ms
        });
    }

    /// Grants the heartbeat of `broker_id` at `broker_epoch` a lease, or says why not. The
    /// caller checked `leadership` (for a master, with a read-index barrier) and passes the
    /// committed `state` it holds while calling, so that no fence is applied in between.
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &mut self,
        leadership: Leadership,
        now_ms: u64,
        state: &State,
        broker_id: u64,
        broker_epoch: u64,
        offsets: (u64, u64),
        timing: &LeaseTiming,
    ) -> Result<BrokerLease, GrantRefusal> {
        if self.leadership.is_some_and(|current| current > leadership) {
            return Err(GrantRefusal::LeadershipChanged);
        }
        self.ensure_leadership(leadership, now_ms, state, timing);
        let broker = state.brokers.get(&broker_id).ok_or(GrantRefusal::UnknownBroker { broker_id })?;
        if broker.broker_epoch != broker_epoch {
            return Err(GrantRefusal::StaleBrokerEpoch { broker_id, current: broker.broker_epoch });
        }
        if broker.state != BrokerState::Active {
            return Err(GrantRefusal::NotActive { broker_id, state: broker.state });
        }
        let lease = self.brokers.entry(broker_id).or_insert_with(|| Self::fresh(state, broker, now_ms, timing));
        if lease.fencing {
            return Err(GrantRefusal::BeingFenced { broker_id });
        }
        let (max_offset, confirm_offset) = offsets;
        // Never shorten a deadline: an earlier fresh grant may reach further than this one.
        lease.deadline_ms = lease.deadline_ms.max(now_ms + timing.grace_of(state, broker));
        lease.earlier_heartbeat = lease.last_heartbeat_ms.map(|at_ms| (at_ms, lease.max_offset));
        lease.last_heartbeat_ms = Some(now_ms);
        lease.max_offset = max_offset;
        lease.confirm_offset = confirm_offset;
        self.grants += 1;
        lease.generation = generation(leadership.term, self.grants);
        Ok(lease.clone())
    }

    /// A broker that unregistered stopped serving by itself: it holds no lease any more.
    pub fn forget(&mut self, broker_id: u64) {
        self.brokers.remove(&broker_id);
    }

    /// One planning pass: observe, plan, and mark every broker the plan fences as `fencing`
    /// before anyone else can touch the table (rule 1).
    pub fn decide(
        &mut self,
        leadership: Leadership,
        now_ms: u64,
        state: &State,
        timing: &LeaseTiming,
        policy: &Policy,
        requests: &BTreeMap<String, ElectionRequest>,
    ) -> Vec<Action> {
        self.observe(leadership, now_ms, state, timing);
        let actions = plan(now_ms, state, &self.brokers, policy, requests);
        for action in &actions {
            if let Action::Fence { broker_id, .. } = action
                && let Some(lease) = self.brokers.get_mut(broker_id)
            {
                lease.fencing = true;
            }
        }
        actions
    }
}
