//! Retention of broker records, as a pure planner: which fenced or shut-down registrations the
//! leader forgets, so that broker restarts (one new record each) cannot grow the state without
//! bound (issue 11, bug 7).
//!
//! A record is collected once it has been retired (fenced or unregistered) for at least the
//! retention window, measured on the leader's wall clock against the retirement time the state
//! machine stamped from the retiring command (`Broker::retired_at_ms`). Never collected: an
//! active broker, the master of a group, a member of a sync state set (the next election may
//! need its name, `election::choose_master`), and a broker whose lease the coordinator still
//! counts as running (`lease::LeaseTable`: it may still act on a grant). The committed-state
//! part of the rule is `State::collectable`, which `apply` checks again, so a plan made on a view
//! that has moved on is refused instead of applied. The runtime (`server/src/brokers.rs`)
//! commits at most one batch per planning pass.

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::limits::COLLECTED_BROKERS_MAX;
use pharos_meta::{BrokerOperation, BrokerRef, BrokerState, State};

use crate::lease::BrokerLease;

/// The two clocks a retention pass reads, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The leader's wall clock since the Unix epoch: retirement times are stamped on it.
    pub unix_ms: u64,
    /// The coordinator's monotonic clock: lease deadlines are on it.
    pub monotonic_ms: u64,
}

/// The latest retirement time a record may have to be collected now: `now - retention`, or
/// `None` while the wall clock is not even `retention_ms` past the epoch (nothing is old enough).
pub fn retired_before_ms(now: Now, retention_ms: u64) -> Option<u64> {
    now.unix_ms.checked_sub(retention_ms)
}

/// Every record that may be collected at `now` with a window of `retention_ms`, by broker id.
/// `leases` is the coordinator's lease table of the current leadership.
pub fn collectable<'a>(
    now: Now,
    retention_ms: u64,
    state: &'a State,
    leases: &'a BTreeMap<u64, BrokerLease>,
) -> impl Iterator<Item = BrokerRef> + 'a {
    let cutoff = retired_before_ms(now, retention_ms);
    state
        .brokers
        .values()
        .filter(|broker| broker.state != BrokerState::Active)
        .map(|broker| BrokerRef { broker_id: broker.broker_id, broker_epoch: broker.broker_epoch })
        .filter(move |broker| {
            let lease_runs = leases.get(&broker.broker_id).is_some_and(|lease| lease.deadline_ms > now.monotonic_ms);
            cutoff.is_some_and(|cutoff| !lease_runs && state.collectable(broker, cutoff).is_ok())
        })
}

/// The next collection to commit: the first (lowest-id) `COLLECTED_BROKERS_MAX` collectable
/// records, or `None` when there is nothing to collect.
pub fn plan(
    now: Now,
    retention_ms: u64,
    state: &State,
    leases: &BTreeMap<u64, BrokerLease>,
) -> Option<BrokerOperation> {
    let retired_before_ms = retired_before_ms(now, retention_ms)?;
    let brokers: BTreeSet<BrokerRef> =
        collectable(now, retention_ms, state, leases).take(COLLECTED_BROKERS_MAX).collect();
    (!brokers.is_empty()).then_some(BrokerOperation::Collect { retired_before_ms, brokers })
}
