//! Election safety: at most one leader per term, as the nodes themselves report it. That is the
//! invariant of the leader-id mode Pharos runs (openraft's standard leader ids, ADR 0014); under
//! the advanced mode a second leader in a term would be legal and this check would be wrong.
//!
//! A poller samples every node's status during the run; two different nodes claiming to lead
//! the same term is the Raft bug behind every split brain (a vote granted twice in a term, for
//! example after a vote that was answered before it was durable). Terms are compared within
//! one generation: after a region failover the new generation and the fenced old one each have
//! their own Raft log, so a term may recur in both without any split brain (the fence, not the
//! term, keeps the old one from serving).

use std::collections::{BTreeMap, BTreeSet};

/// One sample: `node_id` said it was `leader` (or not) in `term` of `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleSample {
    pub node_id: u64,
    pub generation: u64,
    pub term: u64,
    pub leader: bool,
}

pub fn check_election_safety(samples: &[RoleSample]) -> Vec<String> {
    let mut leaders: BTreeMap<(u64, u64), BTreeSet<u64>> = BTreeMap::new();
    for sample in samples.iter().filter(|sample| sample.leader) {
        leaders.entry((sample.generation, sample.term)).or_default().insert(sample.node_id);
    }
    leaders
        .into_iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .map(|((generation, term), nodes)| {
            let generation = if generation > 1 { format!(" of generation {generation}") } else { String::new() };
            format!("term {term}{generation} had {} leaders: nodes {nodes:?}", nodes.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(node_id: u64, term: u64, leader: bool) -> RoleSample {
        RoleSample { node_id, generation: 1, term, leader }
    }

    #[test]
    fn one_leader_per_term_passes_even_when_old_leaders_linger() {
        // Node 1 still believes it leads term 2 while node 2 leads term 3: allowed.
        let samples = [sample(1, 2, true), sample(2, 2, false), sample(2, 3, true), sample(1, 2, true)];
        assert!(check_election_safety(&samples).is_empty());
    }

    #[test]
    fn two_leaders_in_one_term_are_reported() {
        let samples = [sample(1, 4, true), sample(3, 4, true), sample(2, 4, false)];
        assert_eq!(check_election_safety(&samples), vec!["term 4 had 2 leaders: nodes {1, 3}".to_string()]);
    }

    #[test]
    fn the_same_term_in_two_generations_is_no_split_brain() {
        let fenced_old = RoleSample { node_id: 1, generation: 1, term: 5, leader: true };
        let new = RoleSample { node_id: 4, generation: 2, term: 5, leader: true };
        assert!(check_election_safety(&[fenced_old, new]).is_empty());
    }
}
