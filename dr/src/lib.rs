//! Pharos decision logic as pure planners: broker liveness and leases, broker-group master
//! election, the `dr-sync` replication state machine, planned region switchover and unplanned
//! region failover.
//!
//! Planners are plain functions over plain data: time and randomness are passed in, and they
//! return the actions to take; the leader's runtime (in `pharos-server`) observes, calls them,
//! and commits their actions. This crate must never import tokio, tonic or the filesystem.

pub mod election;
pub mod failover;
pub mod switchover;
pub mod sync_mode;

/// How many voters of `voter_count` may fail while a majority survives.
pub fn tolerated_voter_failures(voter_count: usize) -> usize {
    voter_count.saturating_sub(1) / 2
}

/// Whether `zone_voters` voters in one zone, out of `voter_count`, form a majority: losing that
/// zone would lose quorum.
pub fn zone_holds_majority(zone_voters: usize, voter_count: usize) -> bool {
    voter_count > 1 && zone_voters > voter_count / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_arithmetic() {
        assert_eq!(tolerated_voter_failures(1), 0);
        assert_eq!(tolerated_voter_failures(3), 1);
        assert_eq!(tolerated_voter_failures(4), 1);
        assert_eq!(tolerated_voter_failures(5), 2);
        assert!(zone_holds_majority(2, 3));
        assert!(!zone_holds_majority(1, 3));
        assert!(!zone_holds_majority(1, 1));
        assert!(zone_holds_majority(3, 5));
        assert!(!zone_holds_majority(2, 5));
    }
}
