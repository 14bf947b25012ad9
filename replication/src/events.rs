//! The bounded history of broker-group changes that watch streams replay.
//!
//! Every applied command that touches a group appends `(revision, group view after it)`. A
//! watcher resuming from revision `R` gets every event with a larger revision, in order, exactly
//! once; if events after `R` were already dropped from the bounded history (or predate this
//! process), it gets [`Compacted`] and must re-list. Not persisted: after a restart the history
//! starts at the applied revision, which is what `compacted_through` says.

use std::collections::VecDeque;

use pharos_meta::GroupView;

/// Events kept for resuming watchers.
pub const GROUP_EVENTS_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    pub revision: u64,
    pub view: GroupView,
}

/// Resuming from this revision would skip dropped events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "revision {requested} is compacted (history starts after {compacted_through}); re-list and watch from the listed revision"
)]
pub struct Compacted {
    pub requested: u64,
    pub compacted_through: u64,
}

#[derive(Debug, Default)]
pub struct GroupEvents {
    events: VecDeque<GroupEvent>,
    /// Every event with a revision up to this one may be missing.
    compacted_through: u64,
}

impl GroupEvents {
    pub fn starting_at(revision: u64) -> Self {
        GroupEvents { events: VecDeque::new(), compacted_through: revision }
    }

    pub fn push(&mut self, event: GroupEvent) {
        debug_assert!(self.events.back().is_none_or(|last| last.revision <= event.revision));
        self.events.push_back(event);
        while self.events.len() > GROUP_EVENTS_MAX {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted_through = self.compacted_through.max(dropped.revision);
            }
        }
    }

    /// Forgets everything (a snapshot replaced the state): history restarts at `revision`.
    pub fn reset(&mut self, revision: u64) {
        self.events.clear();
        self.compacted_through = revision;
    }

    /// Events of `group` with a revision above `after`, at most `limit` of them.
    pub fn since(&self, group: &str, after: u64, limit: usize) -> Result<Vec<GroupEvent>, Compacted> {
        if after < self.compacted_through {
            return Err(Compacted { requested: after, compacted_through: self.compacted_through });
        }
        let start = self.events.partition_point(|event| event.revision <= after);
        Ok(self.events.range(start..).filter(|event| event.view.group.name == group).take(limit).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(revision: u64, group: &str) -> GroupEvent {
        GroupEvent {
            revision,
            view: GroupView {
                group: pharos_meta::BrokerGroup { name: group.to_string(), ..Default::default() },
                brokers: vec![],
            },
        }
    }

    #[test]
    fn resumes_after_a_revision_and_reports_compaction() {
        let mut events = GroupEvents::starting_at(5);
        for revision in 6..=10 {
            events.push(event(revision, if revision % 2 == 0 { "a" } else { "b" }));
        }
        let revisions: Vec<u64> = events.since("a", 6, 100).unwrap().iter().map(|e| e.revision).collect();
        assert_eq!(revisions, vec![8, 10]);
        assert_eq!(events.since("a", 4, 100), Err(Compacted { requested: 4, compacted_through: 5 }));
        assert_eq!(events.since("a", 5, 100).unwrap().len(), 3);
        for revision in 11..(11 + GROUP_EVENTS_MAX as u64) {
            events.push(event(revision, "a"));
        }
        assert!(events.since("a", 5, 1).is_err(), "dropped events make old revisions compacted");
        assert!(events.since("a", 11, 1).is_ok());
    }
}
