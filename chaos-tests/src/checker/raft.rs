//! Election safety: at most one leader per term, as the nodes themselves report it.
//!
//! A poller samples every node's status during the run; two different nodes claiming to lead
//! the same term is the Raft bug behind every split brain (a vote granted twice in a term, for
//! example after a vote that was answered before it was durable).

use std::collections::{BTreeMap, BTreeSet};

/// One sample: `node_id` said it was `leader` (or not) in `term`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleSample {
    pub node_id: u64,
    pub term: u64,
    pub leader: bool,
}

pub fn check_election_safety(samples: &[RoleSample]) -> Vec<String> {
    let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for sample in samples.iter().filter(|sample| sample.leader) {
        leaders.entry(sample.term).or_default().insert(sample.node_id);
    }
    leaders
        .into_iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .map(|(term, nodes)| format!("term {term} had {} leaders: nodes {nodes:?}", nodes.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(node_id: u64, term: u64, leader: bool) -> RoleSample {
        RoleSample { node_id, term, leader }
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
}
