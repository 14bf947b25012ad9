//! Counters of one listener, for the node's `/metrics`. Cheap to clone; updated without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Counters {
    connections_open: AtomicU64,
    connections_refused_total: AtomicU64,
    connections_closed_malformed_total: AtomicU64,
    requests_total: AtomicU64,
    requests_not_supported_total: AtomicU64,
}

/// What a listener has seen since it started (a restart in process starts a new one).
#[derive(Debug, Clone, Default)]
pub struct ServeStats {
    counters: Arc<Counters>,
}

/// One reading of [`ServeStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub connections_open: u64,
    /// Closed on accept: `connections_max` was reached.
    pub connections_refused_total: u64,
    /// Closed by this side for a malformed, cut-short or too slow frame.
    pub connections_closed_malformed_total: u64,
    pub requests_total: u64,
    /// Answered `REQUEST_CODE_NOT_SUPPORTED`.
    pub requests_not_supported_total: u64,
}

impl ServeStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let counters = &self.counters;
        StatsSnapshot {
            connections_open: counters.connections_open.load(Ordering::Relaxed),
            connections_refused_total: counters.connections_refused_total.load(Ordering::Relaxed),
            connections_closed_malformed_total: counters.connections_closed_malformed_total.load(Ordering::Relaxed),
            requests_total: counters.requests_total.load(Ordering::Relaxed),
            requests_not_supported_total: counters.requests_not_supported_total.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn connection_opened(&self) {
        self.counters.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self, malformed: bool) {
        self.counters.connections_open.fetch_sub(1, Ordering::Relaxed);
        if malformed {
            self.counters.connections_closed_malformed_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn connection_refused(&self) {
        self.counters.connections_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_answered(&self, not_supported: bool) {
        self.counters.requests_total.fetch_add(1, Ordering::Relaxed);
        if not_supported {
            self.counters.requests_not_supported_total.fetch_add(1, Ordering::Relaxed);
        }
    }
}
