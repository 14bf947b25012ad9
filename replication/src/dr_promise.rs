//! What a leader announces about its DR state in every append, and what a follower remembers of
//! it (docs/architecture.md, "Regions and disaster recovery").
//!
//! In `dr-sync`/`sync` the leader acknowledges a write only once a DR-region learner holds it,
//! until it commits `async`. A DR region left alone after losing the primary must tell whether
//! that switch may have happened: time since the last message proves nothing (a message sent
//! after the switch looks as fresh as one sent before it, and a paused node receives old ones
//! late). So every append carries the `dr_state_id` the sender had applied and, while in
//! `sync`, the wall-clock time before which it promises not to leave `sync`. The DR region may
//! claim RPO = 0 only if it applied the newest state it was told of, that state is `sync`, and
//! that promise still holds.

use std::sync::{Arc, Mutex, MutexGuard};

use pharos_proto::v1;

use crate::codec::unix_ms;
use crate::state_machine::StateMachineStore;

/// The leader's promise not to leave `sync` before a wall-clock time. Set by the leader's DR
/// runtime (which alone decides the switch to `async`), read by the transport on every send.
#[derive(Debug, Default)]
pub struct SyncPromise {
    /// `(dr_state_id, until_ms)`: holds only while the applied DR record still has that id.
    promise: Mutex<Option<(u64, u64)>>,
}

impl SyncPromise {
    fn lock(&self) -> MutexGuard<'_, Option<(u64, u64)>> {
        self.promise.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Promises not to leave the `sync` state `dr_state_id` before `until_ms` (Unix ms).
    pub fn promise(&self, dr_state_id: u64, until_ms: u64) {
        *self.lock() = Some((dr_state_id, until_ms));
    }

    /// Withdraws the promise: called before proposing a switch away from `sync`, and whenever
    /// this node cannot bound when it would switch.
    pub fn withdraw(&self) {
        *self.lock() = None;
    }

    fn until_ms(&self, dr_state_id: u64) -> u64 {
        match *self.lock() {
            Some((promised_id, until_ms)) if promised_id == dr_state_id => until_ms,
            _ => 0,
        }
    }
}

/// Builds the announcement the transport stamps on each append.
#[derive(Debug, Clone)]
pub struct DrAnnouncer {
    state_machine: StateMachineStore,
    promise: Arc<SyncPromise>,
}

impl DrAnnouncer {
    pub fn new(state_machine: StateMachineStore, promise: Arc<SyncPromise>) -> Self {
        DrAnnouncer { state_machine, promise }
    }

    /// The applied DR state, and the promise only if it is about that very state and the state
    /// is `sync`: a record changed by any other path (an operator's mode change) voids it at once.
    pub fn announce(&self) -> v1::DrAnnouncement {
        let (dr_state_id, waits) = {
            let applied = self.state_machine.read();
            (applied.state.dr.dr_state_id, applied.state.dr.waits_for_dr())
        };
        let sync_promise_until_ms = if waits { self.promise.until_ms(dr_state_id) } else { 0 };
        v1::DrAnnouncement { dr_state_id, sync_promise_until_ms }
    }
}

/// What this node heard from leaders: when one last reached it (by the leader's send time, not
/// by receipt: a message that sat in a socket buffer while this node was paused is old news),
/// and the newest DR state announced to it with the promise that came with it.
#[derive(Debug, Default)]
pub struct LeaderContact {
    heard: Mutex<Heard>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Heard {
    /// Highest `sent_at_ms` (leader wall clock, Unix ms) of any append; 0 = never.
    last_sent_at_ms: u64,
    announced_dr_state_id: u64,
    /// Latest promise heard for `announced_dr_state_id` (0: none).
    sync_promise_until_ms: u64,
}

/// What [`LeaderContact::announced`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced {
    /// Highest `dr_state_id` any leader announced (0: none).
    pub dr_state_id: u64,
    /// How much longer, by this node's clock, the promise for that state holds (0: none left).
    pub sync_promise_remaining_ms: u64,
}

impl LeaderContact {
    fn lock(&self) -> MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one append's send time and announcement.
    pub fn record(&self, sent_at_ms: u64, announcement: Option<&v1::DrAnnouncement>) {
        let mut heard = self.lock();
        heard.last_sent_at_ms = heard.last_sent_at_ms.max(sent_at_ms);
        let Some(announcement) = announcement else { return };
        if announcement.dr_state_id > heard.announced_dr_state_id {
            heard.announced_dr_state_id = announcement.dr_state_id;
            heard.sync_promise_until_ms = announcement.sync_promise_until_ms;
        } else if announcement.dr_state_id == heard.announced_dr_state_id {
            // Each promise binds its sender on its own; the latest-ending one is the strongest.
            heard.sync_promise_until_ms = heard.sync_promise_until_ms.max(announcement.sync_promise_until_ms);
        }
    }

    /// Milliseconds since a leader last reached this node (`None`: never since start).
    pub fn millis_since(&self) -> Option<u64> {
        let last = self.lock().last_sent_at_ms;
        (last > 0).then(|| unix_ms().saturating_sub(last))
    }

    pub fn announced(&self) -> Announced {
        let heard = *self.lock();
        Announced {
            dr_state_id: heard.announced_dr_state_id,
            sync_promise_remaining_ms: heard.sync_promise_until_ms.saturating_sub(unix_ms()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(dr_state_id: u64, sync_promise_until_ms: u64) -> v1::DrAnnouncement {
        v1::DrAnnouncement { dr_state_id, sync_promise_until_ms }
    }

    #[test]
    fn a_newer_state_replaces_the_promise_of_an_older_one() {
        let contact = LeaderContact::default();
        let far = unix_ms() + 60_000;
        contact.record(unix_ms(), Some(&announcement(5, far)));
        assert_eq!(contact.announced().dr_state_id, 5);
        assert!(contact.announced().sync_promise_remaining_ms > 50_000);
        // The switch to async carries no promise: the old one must not survive it.
        contact.record(unix_ms(), Some(&announcement(9, 0)));
        assert_eq!(contact.announced(), Announced { dr_state_id: 9, sync_promise_remaining_ms: 0 });
        // A late message about the older state changes nothing.
        contact.record(unix_ms(), Some(&announcement(5, far)));
        assert_eq!(contact.announced(), Announced { dr_state_id: 9, sync_promise_remaining_ms: 0 });
    }

    #[test]
    fn the_latest_ending_promise_for_one_state_is_kept() {
        let contact = LeaderContact::default();
        let now = unix_ms();
        contact.record(now, Some(&announcement(3, now + 40_000)));
        contact.record(now, Some(&announcement(3, now + 10_000)));
        assert!(contact.announced().sync_promise_remaining_ms > 30_000);
    }

    #[test]
    fn an_expired_promise_leaves_nothing() {
        let contact = LeaderContact::default();
        contact.record(unix_ms(), Some(&announcement(3, unix_ms().saturating_sub(1))));
        assert_eq!(contact.announced().sync_promise_remaining_ms, 0);
        assert!(contact.millis_since().is_some());
    }
}
