//! The DR placement a cluster has before an operator configures one, as a pure planner.
//!
//! A cluster starts with no primary and no DR region. Once its membership says where things
//! are, the leader commits the placement it implies, so that `dr status`, the sync-mode planner
//! and switchover all start from a named pair of regions: the region of the leader's own voters
//! is the primary, and the first other region that holds a learner is the DR region (learners
//! are how a DR region joins, docs/dr.md). A placement an operator configured is never
//! replaced; a configured primary without a DR region only gets its DR region filled in.

use pharos_meta::{DrCommand, DrRecord};

/// One member of the Raft membership, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub node_id: u64,
    /// Empty when the node was started without `--region`: no region is known, so it names none.
    pub region: &'a str,
    pub voter: bool,
}

/// The `Configure` the leader should commit, or `None` when the state already has a DR region or
/// the membership does not yet imply one. `leader_region` is the committing leader's own
/// region (empty when unknown). Members are read in `node_id` order, so every leader of the
/// same membership decides the same.
pub fn default_placement(record: &DrRecord, leader_region: &str, members: &[Member<'_>]) -> Option<DrCommand> {
    if !record.dr_region.is_empty() {
        return None;
    }
    let primary_region = if record.primary_region.is_empty() {
        (!leader_region.is_empty()).then(|| leader_region.to_string())?
    } else {
        record.primary_region.clone()
    };
    let mut learners: Vec<&Member<'_>> = members.iter().filter(|member| !member.voter).collect();
    learners.sort_by_key(|member| member.node_id);
    let dr_region = learners
        .iter()
        .map(|member| member.region)
        .find(|region| !region.is_empty() && *region != primary_region)?
        .to_string();
    Some(DrCommand::Configure { primary_region, dr_region })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node_id: u64, region: &'static str, voter: bool) -> Member<'static> {
        Member { node_id, region, voter }
    }

    fn configure(primary: &str, dr: &str) -> Option<DrCommand> {
        Some(DrCommand::Configure { primary_region: primary.to_string(), dr_region: dr.to_string() })
    }

    fn record(primary: &str, dr: &str) -> DrRecord {
        DrRecord { primary_region: primary.to_string(), dr_region: dr.to_string(), ..DrRecord::default() }
    }

    #[test]
    fn the_leaders_region_is_primary_and_the_first_learner_region_elsewhere_is_dr() {
        let members = [
            member(1, "east", true),
            member(2, "east", true),
            member(5, "south", false),
            member(4, "west", false),
            member(3, "east", false),
        ];
        assert_eq!(default_placement(&record("", ""), "east", &members), configure("east", "west"));
    }

    #[test]
    fn without_a_learner_in_another_region_nothing_is_implied() {
        let members = [member(1, "east", true), member(2, "west", true), member(3, "east", false)];
        assert_eq!(default_placement(&record("", ""), "east", &members), None, "voters elsewhere are not a DR region");
        let unplaced = [member(1, "east", true), member(2, "", false)];
        assert_eq!(default_placement(&record("", ""), "east", &unplaced), None, "a learner without a region");
    }

    #[test]
    fn a_leader_without_a_region_implies_no_primary() {
        let members = [member(1, "", true), member(2, "west", false)];
        assert_eq!(default_placement(&record("", ""), "", &members), None);
    }

    #[test]
    fn a_configured_primary_keeps_its_name_and_only_the_dr_region_is_filled_in() {
        let members = [member(1, "east", true), member(2, "west", false), member(3, "north", false)];
        assert_eq!(default_placement(&record("north", ""), "east", &members), configure("north", "west"));
    }

    #[test]
    fn a_configured_dr_region_is_never_replaced() {
        let members = [member(1, "east", true), member(2, "west", false)];
        assert_eq!(default_placement(&record("east", "south"), "east", &members), None);
        assert_eq!(default_placement(&record("", "south"), "east", &members), None);
    }
}
