//! Pharos decision logic as pure planners: broker liveness and leases, broker-group master
//! election, coordinator-kept sync state sets, broker record retention, the default DR
//! placement, the `dr-sync` replication state machine, planned region switchover and unplanned
//! region failover.
//!
//! Planners are plain functions over plain data: time and randomness are passed in, and they
//! return the actions to take; the leader's runtime (in `pharos-server`) observes, calls them,
//! and commits their actions. This crate must never import tokio, tonic or the filesystem.

pub mod election;
pub mod failover;
pub mod lease;
pub mod placement;
pub mod retention;
pub mod switchover;
pub mod sync_mode;
pub mod sync_state_set;

/// How many voters of `voter_count` may fail while a majority survives.
pub fn tolerated_voter_failures(voter_count: usize) -> usize {
    voter_count.saturating_sub(1) / 2
}

/// Whether `zone_voters` voters in one zone, out of `voter_count`, form a majority: losing that
/// zone would lose quorum.
pub fn zone_holds_majority(zone_voters: usize, voter_count: usize) -> bool {
    voter_count > 1 && zone_voters > voter_count / 2
}

/// Placement warnings for `cluster status` and `dr status` (docs/architecture.md, "Regions and disaster recovery"). `members` are
/// `(node_id, zone, region, is_voter)`; `primary_region` / `dr_region` may be empty (unknown).
pub fn placement_warnings(primary_region: &str, dr_region: &str, members: &[(u64, &str, &str, bool)]) -> Vec<String> {
    let mut warnings = Vec::new();
    let voters: Vec<&(u64, &str, &str, bool)> = members.iter().filter(|member| member.3).collect();
    if voters.len() == 1 {
        warnings.push("a single voter: losing it loses the cluster (no fault tolerance)".to_string());
    }
    let mut per_zone = std::collections::BTreeMap::<&str, usize>::new();
    for (_, zone, _, _) in &voters {
        *per_zone.entry(zone).or_default() += 1;
    }
    // Voters started without `--zone`: their failure domains are unknown, not one zone.
    if let Some(unplaced) = per_zone.remove("")
        && voters.len() > 1
    {
        warnings.push(format!(
            "{unplaced} of {} voters have no zone (--zone): spread across failure domains cannot be checked",
            voters.len()
        ));
    }
    for (zone, count) in per_zone {
        if zone_holds_majority(count, voters.len()) {
            warnings
                .push(format!("zone {zone:?} holds {count} of {} voters: losing that zone loses quorum", voters.len()));
        }
    }
    if !primary_region.is_empty() {
        for (node_id, _, region, _) in voters.iter().filter(|member| member.2 != primary_region) {
            warnings.push(format!(
                "voter {node_id} is in region {region:?}, outside the primary region {primary_region:?}"
            ));
        }
    }
    let learner_regions: std::collections::BTreeSet<&str> =
        members.iter().filter(|member| !member.3).map(|member| member.2).collect();
    if dr_region.is_empty() {
        if members.len() > 1 && !learner_regions.iter().any(|region| *region != primary_region) {
            warnings.push("no learner in another region: losing this region loses the cluster".to_string());
        }
    } else if !learner_regions.contains(dr_region) {
        warnings.push(format!("the DR region {dr_region:?} has no learner: a primary region loss loses data"));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_warnings_name_zone_majorities_stray_voters_and_missing_learners() {
        let spread = [(1, "a", "r1", true), (2, "b", "r1", true), (3, "c", "r1", true), (4, "d", "r2", false)];
        assert!(placement_warnings("r1", "r2", &spread).is_empty());
        let one_zone = [(1, "a", "r1", true), (2, "a", "r1", true), (3, "c", "r1", true), (4, "d", "r2", false)];
        assert_eq!(
            placement_warnings("r1", "r2", &one_zone),
            vec!["zone \"a\" holds 2 of 3 voters: losing that zone loses quorum".to_string()]
        );
        let stray = [(1, "a", "r1", true), (2, "b", "r2", true), (3, "c", "r1", true)];
        assert_eq!(
            placement_warnings("r1", "r2", &stray),
            vec![
                "voter 2 is in region \"r2\", outside the primary region \"r1\"".to_string(),
                "the DR region \"r2\" has no learner: a primary region loss loses data".to_string(),
            ]
        );
        let single_region = [(1, "a", "r1", true), (2, "b", "r1", true), (3, "c", "r1", true)];
        assert_eq!(
            placement_warnings("", "", &single_region),
            vec!["no learner in another region: losing this region loses the cluster".to_string()]
        );
        assert_eq!(placement_warnings("", "", &[(1, "a", "r1", true)]).len(), 1);
        // Not told their zones: unknown, which is not the same as one zone.
        let unplaced = [(1, "", "", true), (2, "", "", true), (3, "c", "", true)];
        assert_eq!(
            placement_warnings("", "", &unplaced),
            vec![
                "2 of 3 voters have no zone (--zone): spread across failure domains cannot be checked".to_string(),
                "no learner in another region: losing this region loses the cluster".to_string(),
            ]
        );
        assert_eq!(
            placement_warnings("", "", &[(1, "", "", true)]),
            vec!["a single voter: losing it loses the cluster (no fault tolerance)".to_string()]
        );
    }

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
