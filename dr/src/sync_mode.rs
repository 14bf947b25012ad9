//! The `dr-sync` replication mode's state machine, as a pure planner (docs/architecture.md, "Regions and disaster recovery").
//!
//! `sync`: every write waits until a DR-region learner has it. When the DR region stops
//! acknowledging for `dr_sync_timeout_ms`, the leader commits `async` (writes go on; RPO > 0 from
//! there, visibly). When a DR learner acknowledges promptly again, `sync-recover`; once it has
//! caught up, `sync`. Each switch is a committed command that carries the `dr_state_id` it was
//! decided against, so a decision made on a stale view is refused by the state machine.

use pharos_meta::{DrRecord, ReplicationMode, SyncState};

/// A DR learner counts as caught up when it trails the commit index by at most this many
/// entries (entries in flight on a busy link). Entries it lacks when `sync` is committed are
/// still covered: a learner that applied the `sync` entry holds every entry before it.
pub const CAUGHT_UP_LAG_ENTRIES_MAX: u64 = 64;

/// What the leader observes of the DR region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrObservation {
    /// The leader's commit index.
    pub commit_index: u64,
    /// Highest log index any DR-region learner is known to hold (`None`: no DR learner).
    pub dr_matched_index: Option<u64>,
    /// How long the oldest committed entry not yet on any DR learner has been waiting, in
    /// milliseconds (0 when the DR region has everything).
    pub dr_behind_ms: u64,
}

/// The sync-state switch to commit now, if any: `(expected_dr_state_id, next_state)`.
pub fn plan(record: &DrRecord, observed: &DrObservation) -> Option<(u64, SyncState)> {
    if record.mode != ReplicationMode::DrSync || record.dr_region.is_empty() {
        return None;
    }
    let timeout_ms = record.dr_sync_timeout_ms;
    let stalled = observed.dr_behind_ms >= timeout_ms;
    // "Prompt" is half the timeout: a learner that keeps up within it is acknowledging again.
    let prompt = observed.dr_matched_index.is_some() && observed.dr_behind_ms < timeout_ms / 2;
    let caught_up = observed
        .dr_matched_index
        .is_some_and(|matched| matched.saturating_add(CAUGHT_UP_LAG_ENTRIES_MAX) >= observed.commit_index);
    let next = match record.state {
        SyncState::Sync if stalled || observed.dr_matched_index.is_none() => SyncState::Async,
        SyncState::Async if prompt => SyncState::SyncRecover,
        SyncState::SyncRecover if stalled => SyncState::Async,
        SyncState::SyncRecover if prompt && caught_up => SyncState::Sync,
        _ => return None,
    };
    Some((record.dr_state_id, next))
}

/// Until when (wall clock, Unix ms) the leader can promise not to leave `sync`: what it
/// announces to the DR region in every append, so a DR region left alone knows whether it may
/// claim RPO = 0 (see `pharos_replication::dr_promise`). `None`: no promise.
///
/// Two bounds, the earlier wins:
/// - [`plan`] switches only once the DR region has been behind for `dr_sync_timeout_ms`, and
///   the wait it measures began `dr_behind_ms` ago (or begins no earlier than now);
/// - a leader cut off from its voters may be replaced without knowing it. A new leader cannot be
///   elected before `leader_lease_ms` after a quorum last acknowledged this one (voters refuse
///   votes while the lease holds), and it starts its own wait from scratch.
pub fn sync_promise_until(
    record: &DrRecord,
    observed: &DrObservation,
    now_wall_ms: u64,
    quorum_acked_wall_ms: Option<u64>,
    leader_lease_ms: u64,
) -> Option<u64> {
    if !record.waits_for_dr() || observed.dr_matched_index.is_none() || plan(record, observed).is_some() {
        return None;
    }
    let timeout_ms = record.dr_sync_timeout_ms;
    let own_wait = now_wall_ms.saturating_sub(observed.dr_behind_ms).saturating_add(timeout_ms);
    let successor = quorum_acked_wall_ms?.saturating_add(leader_lease_ms).saturating_add(timeout_ms);
    Some(own_wait.min(successor))
}

/// Follows the oldest committed entry a DR learner lacks, to tell how long the DR region has
/// been behind. Soft state of the leader's runtime; times are milliseconds on its monotonic
/// clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BehindTracker {
    /// `(commit index when the DR region was first seen lacking it, since when)`.
    pending: Option<(u64, u64)>,
}

impl BehindTracker {
    /// Updates with one observation and returns how long the DR region has been behind.
    pub fn observe(&mut self, now_ms: u64, commit_index: u64, dr_matched_index: Option<u64>) -> u64 {
        let matched = dr_matched_index.unwrap_or(0);
        if let Some((index, _)) = self.pending
            && matched >= index
        {
            self.pending = None;
        }
        if matched < commit_index && self.pending.is_none() {
            self.pending = Some((commit_index, now_ms));
        }
        self.pending.map_or(0, |(_, since)| now_ms.saturating_sub(since))
    }

    /// Forgets what was tracked (a new leader starts fresh).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: SyncState) -> DrRecord {
        DrRecord {
            primary_region: "r1".into(),
            dr_region: "r2".into(),
            mode: ReplicationMode::DrSync,
            state,
            dr_state_id: 9,
            dr_sync_timeout_ms: 1_000,
            ..DrRecord::default()
        }
    }

    fn seen(commit_index: u64, dr_matched_index: Option<u64>, dr_behind_ms: u64) -> DrObservation {
        DrObservation { commit_index, dr_matched_index, dr_behind_ms }
    }

    #[test]
    fn sync_goes_async_only_after_the_timeout() {
        assert_eq!(plan(&record(SyncState::Sync), &seen(100, Some(90), 999)), None);
        assert_eq!(plan(&record(SyncState::Sync), &seen(100, Some(90), 1_000)), Some((9, SyncState::Async)));
        assert_eq!(plan(&record(SyncState::Sync), &seen(100, None, 0)), Some((9, SyncState::Async)));
    }

    #[test]
    fn async_recovers_through_sync_recover_once_caught_up() {
        assert_eq!(plan(&record(SyncState::Async), &seen(100, Some(10), 5_000)), None);
        assert_eq!(plan(&record(SyncState::Async), &seen(100, Some(10), 100)), Some((9, SyncState::SyncRecover)));
        assert_eq!(plan(&record(SyncState::SyncRecover), &seen(1_000, Some(100), 100)), None);
        assert_eq!(plan(&record(SyncState::SyncRecover), &seen(1_000, Some(936), 100)), Some((9, SyncState::Sync)));
        assert_eq!(plan(&record(SyncState::SyncRecover), &seen(1_000, Some(999), 1_500)), Some((9, SyncState::Async)));
    }

    #[test]
    fn the_sync_promise_ends_when_the_switch_could_first_happen() {
        let sync = record(SyncState::Sync);
        // Caught up: the wait has not begun, so no switch before a full timeout from now.
        assert_eq!(sync_promise_until(&sync, &seen(100, Some(100), 0), 50_000, Some(49_900), 5_000), Some(51_000));
        // Behind for 400 ms: the switch may come 600 ms from now.
        assert_eq!(sync_promise_until(&sync, &seen(100, Some(90), 400), 50_000, Some(49_900), 5_000), Some(50_600));
        // A quorum last answered long ago: a successor may already be counting.
        assert_eq!(sync_promise_until(&sync, &seen(100, Some(100), 0), 50_000, Some(40_000), 500), Some(41_500));
        // No quorum acknowledgement known, no DR learner, or the switch is due: no promise.
        assert_eq!(sync_promise_until(&sync, &seen(100, Some(100), 0), 50_000, None, 500), None);
        assert_eq!(sync_promise_until(&sync, &seen(100, None, 0), 50_000, Some(50_000), 500), None);
        assert_eq!(sync_promise_until(&sync, &seen(100, Some(90), 1_000), 50_000, Some(50_000), 500), None);
        // Not in sync: nothing to promise.
        let recovering = record(SyncState::SyncRecover);
        assert_eq!(sync_promise_until(&recovering, &seen(100, Some(100), 0), 50_000, Some(50_000), 500), None);
    }

    #[test]
    fn majority_mode_never_switches() {
        let majority = DrRecord { mode: ReplicationMode::Majority, ..record(SyncState::Sync) };
        assert_eq!(plan(&majority, &seen(100, None, 10_000)), None);
    }

    #[test]
    fn behind_tracker_measures_the_oldest_unacknowledged_entry() {
        let mut tracker = BehindTracker::default();
        assert_eq!(tracker.observe(0, 10, Some(10)), 0);
        assert_eq!(tracker.observe(100, 12, Some(10)), 0);
        assert_eq!(tracker.observe(350, 15, Some(11)), 250);
        // The learner got entry 12: the wait restarts from the newest commit it lacks.
        assert_eq!(tracker.observe(400, 20, Some(12)), 0);
        assert_eq!(tracker.observe(900, 20, Some(19)), 500);
        assert_eq!(tracker.observe(950, 20, Some(20)), 0);
        assert_eq!(tracker.observe(2_000, 21, None), 0);
        assert_eq!(tracker.observe(3_000, 21, None), 1_000);
    }
}
