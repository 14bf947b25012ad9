//! Latency histograms and counters of the replication path, for `/metrics`.
//!
//! Process-wide (one node per process), lock-free (atomics), fixed buckets: observing costs a
//! few relaxed atomic adds, so the write path can afford one per fsync, batch and proposal.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: 100 µs to 10 s, roughly ×2.5 apart, so fsync
/// latencies of SSDs and disks and Raft round trips within and across regions all resolve.
const BUCKET_BOUNDS_US: [u64; 12] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000, 10_000_000];

/// A Prometheus histogram with [`BUCKET_BOUNDS_US`] (rendered in seconds).
#[derive(Debug)]
pub struct Histogram {
    /// Observations at most each bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len()],
    /// Observations above the last bound.
    overflow: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKET_BOUNDS_US.len()],
            overflow: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        match BUCKET_BOUNDS_US.iter().position(|bound| micros <= *bound) {
            Some(bucket) => self.buckets[bucket].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Appends the histogram in Prometheus text format.
    pub fn render(&self, name: &str, help: &str, text: &mut String) {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKET_BOUNDS_US.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
        }
        cumulative += self.overflow.load(Ordering::Relaxed);
        let _ = writeln!(text, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(text, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        // The count is the +Inf bucket's: every observation lands in exactly one bucket.
        let _ = writeln!(text, "{name}_count {cumulative}");
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// Log-store batches (entries, vote, purge marker) from write to fsync done.
pub static FSYNC: Histogram = Histogram::new();
/// State-machine batches, from receiving the entries to the fjall batch committed.
pub static APPLY: Histogram = Histogram::new();
/// Proposals on the leader, from `Node::write` to applied (and, in dr-sync, held by the DR region).
pub static PROPOSAL: Histogram = Histogram::new();
/// Snapshot builds, from reading the state to the file fsynced.
pub static SNAPSHOT_BUILD: Histogram = Histogram::new();
/// Times this node saw the leader change (to another node or to none) since it started.
pub static LEADER_CHANGES: AtomicU64 = AtomicU64::new(0);
/// Size of the last snapshot this node built or installed, in bytes.
pub static SNAPSHOT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Renders every histogram and counter of this module.
pub fn render(text: &mut String) {
    FSYNC.render("pharos_fsync_seconds", "Raft log writes, from write to fsync done.", text);
    APPLY.render("pharos_apply_seconds", "State-machine batches, from entries received to committed to disk.", text);
    PROPOSAL.render("pharos_proposal_seconds", "Proposals on the leader, from proposed to applied.", text);
    SNAPSHOT_BUILD.render("pharos_snapshot_build_seconds", "Snapshot builds, to the file fsynced.", text);
    let bytes = SNAPSHOT_BYTES.load(Ordering::Relaxed);
    let _ = writeln!(
        text,
        "# HELP pharos_snapshot_bytes Size of the last snapshot built or installed here.\n\
         # TYPE pharos_snapshot_bytes gauge\npharos_snapshot_bytes {bytes}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_sum_and_count_in_seconds() {
        let histogram = Histogram::new();
        histogram.observe(Duration::from_micros(80));
        histogram.observe(Duration::from_micros(3_000));
        histogram.observe(Duration::from_secs(20));
        let mut text = String::new();
        histogram.render("x_seconds", "help", &mut text);
        assert!(text.contains("x_seconds_bucket{le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"0.0025\"} 1\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"0.005\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("x_seconds_sum 20.00308\n"), "{text}");
        assert!(text.contains("x_seconds_count 3\n"), "{text}");
    }
}
