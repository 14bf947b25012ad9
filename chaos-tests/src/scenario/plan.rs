//! A run's plan: everything it takes from its seed, computed without a cluster.
//!
//! `pharos-chaos plan SCENARIO --seed N` prints it. It is how a refactor proves that a fixed seed
//! still replays the same schedule (the tests below pin the regression seeds), and how a reader
//! sees which faults a seed of `random-combination` would inject before spending a run on it.

use std::fmt::Write as _;

use super::Scenario;
use super::fault::{Draw, Fault};
use super::runner::DR_LEARNERS;
use crate::rng::SplitMix64;

/// Everything a run of a scenario takes from its seed, on a healthy cluster: which faults, the
/// workload's seed, and each fault's draws. The bug a regression scenario pins is reproduced only
/// while this stays the same for its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scenario: &'static str,
    pub seed: u64,
    pub faults: Vec<Fault>,
    /// The seed of the register workload (its workers derive theirs from it).
    pub workload_seed: u64,
    /// One per fault, in order.
    pub draws: Vec<Draw>,
}

impl Plan {
    pub fn render(&self) -> String {
        let mut text = format!(
            "plan {} seed {}: faults {:?}, workload seed {}\n",
            self.scenario, self.seed, self.faults, self.workload_seed
        );
        for (fault, draw) in self.faults.iter().zip(&self.draws) {
            let _ = writeln!(text, "  {fault:?}: {draw:?}");
        }
        text
    }
}

/// The plan of `scenario` with `seed`: the draws `run` makes, in its order, assuming every node
/// is up whenever a fault is injected. A run draws with the candidates it finds at that moment,
/// so a cluster that is not healthy (a node that failed to restart) draws from fewer.
pub fn plan(scenario: &Scenario, seed: u64) -> Plan {
    let mut rng = SplitMix64::new(seed);
    let faults = scenario.faults(&mut rng);
    let learners = if faults.iter().any(|fault| fault.needs_regions()) { DR_LEARNERS as usize } else { 0 };
    let mut cluster = Shape { running: scenario.voters as usize + learners, learners };
    let workload_seed = rng.next_u64();
    let draws = faults
        .iter()
        .map(|&fault| {
            let draw = fault.draw(&mut rng, cluster.candidates(fault));
            cluster.after(fault);
            draw
        })
        .collect();
    Plan { scenario: scenario.name, seed, faults, workload_seed, draws }
}

/// The nodes of a healthy cluster between two faults, as far as the draws care.
struct Shape {
    running: usize,
    learners: usize,
}

impl Shape {
    /// How many nodes `fault` chooses among (see `Fault::draw`) when every node is up.
    fn candidates(&self, fault: Fault) -> usize {
        let followers = self.running.saturating_sub(1);
        match fault {
            Fault::KillLearner => self.learners,
            Fault::SlowLinksKillLeader => self.running,
            // The rest choose among the followers; `MembershipChange` too: one node joins, then
            // an old follower (not the leader, not the new node) is removed.
            _ => followers,
        }
    }

    /// Every fault heals, so only those that change the membership change the shape.
    fn after(&mut self, fault: Fault) {
        if fault == Fault::AddDrLearner {
            self.running += 1;
            self.learners += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{CATALOGUE, find};

    fn plan_of(name: &str, seed: u64) -> Plan {
        plan(find(name).expect("scenario in the catalogue"), seed)
    }

    fn delays(link_delays_ms: &[u64]) -> Draw {
        Draw { link_delays_ms: link_delays_ms.to_vec(), ..Draw::default() }
    }

    fn victim(index: usize) -> Draw {
        Draw { victim: Some(index), ..Draw::default() }
    }

    // The regression seeds of issue 10: these exact schedules are what reproduced two masters
    // at once. If this test fails, the seeds no longer replay the bug; restore the draws rather
    // than the expectations.
    #[test]
    fn the_two_masters_regressions_replay_their_schedules() {
        let plan = plan_of("two-masters-slow-leader-kills", 292_502);
        assert_eq!(
            plan.faults,
            [Fault::SlowLinksKillLeader, Fault::SlowLinksKillLeader, Fault::KillFollower, Fault::KillBrokerMaster]
        );
        assert_eq!(plan.workload_seed, 4_914_597_133_688_687_517);
        assert_eq!(
            plan.draws,
            [
                delays(&[81, 118, 36, 35, 73, 115, 84, 29, 64, 24, 82, 68, 32, 69, 54, 44, 26, 58, 40, 57]),
                delays(&[86, 91, 50, 98, 104, 24, 68, 79, 63, 44, 114, 53, 51, 111, 34, 35, 77, 53, 35, 48]),
                victim(2),
                Draw::default(),
            ]
        );

        let plan = plan_of("two-masters-partial-partition", 947_944);
        assert_eq!(plan.faults, [Fault::KillBrokerMaster, Fault::PartialPartition, Fault::SlowLinksKillLeader]);
        assert_eq!(plan.workload_seed, 17_750_962_249_721_999_715);

        let plan = plan_of("two-masters-late-master-kill", 706_727);
        assert_eq!(plan.faults, [Fault::PartialPartition, Fault::SlowLinksKillLeader, Fault::KillBrokerMaster]);
        assert_eq!(plan.workload_seed, 5_693_032_298_358_313_643);
    }

    // The soak seed that found the doubly applied offset commit: the leader paused twice.
    #[test]
    fn the_offset_commit_seed_pauses_the_leader_twice() {
        let plan = plan_of("random-combination", 824_978);
        assert_eq!(plan.faults, [Fault::PauseLeader, Fault::PauseLeader]);
        assert_eq!(plan.workload_seed, 15_917_804_115_900_232_309);
        assert_eq!(plan.draws, [Draw::default(), Draw::default()]);
    }

    #[test]
    fn ci_seeds_draw_their_victims_and_failpoint_hits() {
        let plan = plan_of("kill-follower", 2);
        assert_eq!((plan.workload_seed, plan.draws.as_slice()), (10_905_525_725_756_348_110, [victim(0)].as_slice()));
        let plan = plan_of("membership-change", 8);
        assert_eq!((plan.workload_seed, plan.draws.as_slice()), (11_409_396_526_365_357_622, [victim(1)].as_slice()));
        let plan = plan_of("slow-links-kill-leader", 1);
        assert_eq!(plan.draws, [delays(&[39, 110, 55, 81, 68, 65])]);
        let plan = plan_of("minority-partition", 6);
        assert_eq!(plan.draws, [victim(1)]);
        let plan = plan_of("brokers-through-isolated-leader", 11);
        assert_eq!(plan.workload_seed, 5_833_679_380_957_638_813);
        assert_eq!(plan.draws, [victim(1), Draw::default()]);
        let skip = |failpoint_skip| Draw { failpoint_skip: Some(failpoint_skip), ..Draw::default() };
        assert_eq!(plan_of("crash-before-append-fsync", 9).draws, [skip(86)]);
        assert_eq!(plan_of("fsync-error-on-leader", 10).draws, [skip(74)]);
        assert_eq!(
            plan_of("disk-full-on-follower", 1).draws,
            [Draw { victim: Some(1), failpoint_skip: Some(50), ..Draw::default() }]
        );
    }

    #[test]
    fn every_listed_scenario_has_faults_and_a_unique_name() {
        let mut names = std::collections::BTreeSet::new();
        for scenario in CATALOGUE {
            assert!(names.insert(scenario.name), "{} twice in the catalogue", scenario.name);
            if let crate::scenario::Faults::Listed(faults) = scenario.faults {
                assert!(!faults.is_empty(), "{} lists no fault (use Faults::DrawnFromSeed)", scenario.name);
            }
        }
    }
}
