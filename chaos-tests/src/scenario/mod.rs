//! Scenarios: a cluster, a workload, faults on a schedule drawn from a seed, and the checks.
//!
//! Every run goes the same way: start the cluster (and simulated brokers if the scenario has
//! them), load it, demand throughput before the first fault, inject the faults one after the
//! other and heal each, demand that writes resume within a bound, stop the load, then check the
//! history (linearizability, lost writes), the brokers (one master per epoch, no lease overlap),
//! the watch (gap-free against a replay) and the replicas (equal state digests at equal applied
//! index). The run directory keeps the history, the fault timeline, the report and every node's
//! log and data dir; it is deleted on a pass and kept (path printed) on a failure.
//!
//! Where things are: [`catalogue`] lists the scenarios (adding one is adding one literal there);
//! [`fault`] says what each fault is and what it draws from the seed; [`combination`] draws the
//! faults of the scenarios whose faults come from the seed; [`plan`](mod@plan) computes every draw
//! of a run without a cluster; the runner (`runner`, `inject`, `checks`, `probe`) carries a run
//! out against real processes and writes the [`Report`].
//!
//! A seed must keep drawing the same faults, nodes, failpoint hits and delays for as long as a
//! regression scenario names it: that is what makes it reproduce its bug. `plan`'s tests pin
//! the draws of the regression seeds exactly.

pub mod catalogue;
mod checks;
pub mod combination;
pub mod fault;
mod inject;
pub mod plan;
mod probe;
mod report;
mod runner;

pub use catalogue::CATALOGUE;
pub use fault::{Draw, Fault};
pub use plan::{Plan, plan};
pub use report::Report;
pub use runner::{failpoints_binary, run};

use crate::rng::SplitMix64;

/// A named scenario: one entry of the [`CATALOGUE`].
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// What `pharos-chaos run` and the docs call it; unique in the catalogue.
    pub name: &'static str,
    /// What it does and what it must show, one line for `pharos-chaos list`.
    pub about: &'static str,
    /// Raft voters at the start (DR scenarios add `runner::DR_LEARNERS` learners in a second
    /// region).
    pub voters: u64,
    pub faults: Faults,
    /// The workload adds three simulated brokers of one group, with watches on the group and on
    /// a routed topic; the checks add one master per epoch, no lease overlap and gap-free watches.
    pub brokers: bool,
    /// The seed the CI tier runs it with (`None`: soak only). For a regression scenario this is
    /// the seed that reproduced the bug.
    pub ci_seed: Option<u64>,
}

/// Which faults a scenario injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faults {
    /// These, in order (never empty).
    Listed(&'static [Fault]),
    /// 2–4 combinable faults drawn from the seed ([`combination::draw`]); `random-combination`,
    /// and the regressions that replay one of its seeds.
    DrawnFromSeed,
}

impl Scenario {
    /// The faults of a run, in order. Drawn from `rng` when they come from the seed, and then
    /// these are the first draws of the run.
    pub fn faults(&self, rng: &mut SplitMix64) -> Vec<Fault> {
        match self.faults {
            Faults::Listed(faults) => faults.to_vec(),
            Faults::DrawnFromSeed => combination::draw(rng, self.brokers),
        }
    }
}

/// Every scenario, CI tier first, in catalogue order (the soak tier picks from it by index, so
/// a soak seed reproduces only with the same order).
pub fn all() -> &'static [Scenario] {
    CATALOGUE
}

pub fn find(name: &str) -> Option<&'static Scenario> {
    CATALOGUE.iter().find(|scenario| scenario.name == name)
}
