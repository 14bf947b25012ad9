//! Bounded histories of changes that watch streams replay: one for broker groups, one for topic
//! routes, same mechanism.
//!
//! Every applied command that changes a watched object appends `(revision, key, view after it)`.
//! A watcher resuming from revision `R` gets every matching event with a larger revision, in
//! order, exactly once; if events after `R` were already dropped from the bounded history (or
//! predate this process), it gets [`Compacted`] and must re-list. Not persisted: after a restart
//! the history starts at the applied revision, which is what `compacted_through` says.

use std::collections::VecDeque;

/// Events kept per history for resuming watchers.
pub const EVENTS_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<T> {
    pub revision: u64,
    /// The watched object: a group name, a topic name.
    pub key: String,
    pub payload: T,
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

#[derive(Debug)]
pub struct EventLog<T> {
    events: VecDeque<Event<T>>,
    /// Every event with a revision up to this one may be missing.
    compacted_through: u64,
}

impl<T: Clone> EventLog<T> {
    pub fn starting_at(revision: u64) -> Self {
        EventLog { events: VecDeque::new(), compacted_through: revision }
    }

    pub fn push(&mut self, event: Event<T>) {
        debug_assert!(self.events.back().is_none_or(|last| last.revision <= event.revision));
        self.events.push_back(event);
        while self.events.len() > EVENTS_MAX {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted_through = self.compacted_through.max(dropped.revision);
            }
        }
    }

    /// Events whose key `matches`, with a revision above `after`, at most `limit` of them.
    pub fn since(&self, matches: impl Fn(&str) -> bool, after: u64, limit: usize) -> Result<Vec<Event<T>>, Compacted> {
        if after < self.compacted_through {
            return Err(Compacted { requested: after, compacted_through: self.compacted_through });
        }
        let start = self.events.partition_point(|event| event.revision <= after);
        Ok(self.events.range(start..).filter(|event| matches(&event.key)).take(limit).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(revision: u64, key: &str) -> Event<()> {
        Event { revision, key: key.to_string(), payload: () }
    }

    #[test]
    fn resumes_after_a_revision_and_reports_compaction() {
        let mut events = EventLog::starting_at(5);
        for revision in 6..=10 {
            events.push(event(revision, if revision % 2 == 0 { "a" } else { "b" }));
        }
        let revisions: Vec<u64> = events.since(|key| key == "a", 6, 100).unwrap().iter().map(|e| e.revision).collect();
        assert_eq!(revisions, vec![8, 10]);
        assert_eq!(events.since(|key| key == "a", 4, 100), Err(Compacted { requested: 4, compacted_through: 5 }));
        assert_eq!(events.since(|key| key == "a", 5, 100).unwrap().len(), 3);
        assert_eq!(events.since(|_| true, 5, 2).unwrap().len(), 2, "limit holds");
        for revision in 11..(11 + EVENTS_MAX as u64) {
            events.push(event(revision, "a"));
        }
        assert!(events.since(|_| true, 5, 1).is_err(), "dropped events make old revisions compacted");
        assert!(events.since(|_| true, 11, 1).is_ok());
    }
}
