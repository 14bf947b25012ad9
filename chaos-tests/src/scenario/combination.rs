//! Random fault combinations: the faults of `random-combination`, `random-broker-combination`
//! and the regression scenarios that replay one of their seeds.
//!
//! A combination is drawn from the seed and from `COMBINABLE` by index, so the list's order is
//! part of what a seed means: reorder or extend it and the `two-masters-*` regressions no longer
//! replay their schedules (`plan`'s tests would say so).

use super::fault::Fault;
use crate::rng::SplitMix64;

/// Faults a random combination may draw. Broker and membership faults need their own set-up,
/// failpoint faults their own build and DR faults two regions, so they run as their scenarios.
pub const COMBINABLE: [Fault; 10] = [
    Fault::LossyLinks,
    Fault::KillLeader,
    Fault::KillFollower,
    Fault::PauseLeader,
    Fault::RestartAll,
    Fault::IsolateLeader,
    Fault::MinorityPartition,
    Fault::PartialPartition,
    Fault::OneWayIntoLeader,
    Fault::SlowLinksKillLeader,
];

/// Fewest faults in a combination (before the master kill of a broker scenario).
const FAULTS_MIN: u64 = 2;
/// A combination has `FAULTS_MIN + 0..FAULTS_SPREAD` faults: 2–4.
const FAULTS_SPREAD: u64 = 3;

/// 2–4 combinable faults, one after the other; with `brokers`, one master-broker kill somewhere
/// among them (more would leave no replica to take over).
pub fn draw(rng: &mut SplitMix64, brokers: bool) -> Vec<Fault> {
    let mut faults = Vec::new();
    let count = FAULTS_MIN + rng.below(FAULTS_SPREAD);
    for _ in 0..count {
        if let Some(&fault) = rng.pick(&COMBINABLE) {
            faults.push(fault);
        }
    }
    if brokers {
        let position = rng.below(faults.len() as u64 + 1) as usize;
        faults.insert(position, Fault::KillBrokerMaster);
    }
    faults
}
