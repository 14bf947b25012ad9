//! The faults a scenario injects, what each needs from the cluster, and what each draws from
//! the run's seed. Pure: how a fault is injected and healed against real processes is in
//! `inject.rs`.

use crate::rng::SplitMix64;

/// The shortest delay `SlowLinksKillLeader` puts on a peer link.
const LINK_DELAY_MIN_MS: u64 = 20;
/// Link delays are `LINK_DELAY_MIN_MS + 0..LINK_DELAY_SPREAD_MS`.
const LINK_DELAY_SPREAD_MS: u64 = 100;
/// A failpoint fires on hit `FAILPOINT_SKIP_MIN + 0..FAILPOINT_SKIP_SPREAD`: late enough that the
/// cluster is under load, early enough to fire within the hold.
const FAILPOINT_SKIP_MIN: u64 = 20;
const FAILPOINT_SKIP_SPREAD: u64 = 80;

/// One fault: injected, held, healed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 the Raft leader, restart it after the hold.
    KillLeader,
    /// kill -9 a follower, restart it after the hold.
    KillFollower,
    /// SIGSTOP the leader for several election timeouts (a zombie leader), then SIGCONT.
    PauseLeader,
    /// kill -9 every node at once, restart them all.
    RestartAll,
    /// Cut the leader off from every peer (clients still reach it), then heal.
    IsolateLeader,
    /// Cut the leader and one follower off from the rest (a minority holding the old leader).
    MinorityPartition,
    /// Cut only the link between the leader and one follower; both still reach the others.
    PartialPartition,
    /// Nothing reaches the leader from its peers, while it still reaches them.
    OneWayIntoLeader,
    /// Delay every peer link by 20–120 ms, kill the leader under the delay, heal.
    SlowLinksKillLeader,
    /// kill -9 a follower, compact the leader's log past it under load, restart the follower:
    /// it must catch up by installing a snapshot.
    KillFollowerPastSnapshot,
    /// Arm `vote.<stage>=crash` on every follower, then kill -9 the leader: the election makes
    /// followers persist votes and crash at that point; all are restarted without failpoints.
    CrashVotersAt(&'static str),
    /// Every peer link resets its connection after 2 % of its chunks, for the hold.
    LossyLinks,
    /// A learner joins from a second region (a DR learner) and catches up.
    AddDrLearner,
    /// kill -9 a learner, restart it after the hold; it must catch up again.
    KillLearner,
    /// kill -9 the master broker of the group; a replica must take over with a higher epoch.
    KillBrokerMaster,
    /// Add a node as learner, promote it, remove an old follower: under load.
    MembershipChange,
    /// The leader aborts at a log-store failpoint (`append.before_fsync`, `append.after_fsync`)
    /// after some appends, and restarts without it.
    CrashLeaderAt(&'static str),
    /// The leader's log fsync fails from some append on (a broken disk stays broken): it must
    /// stop leading and another node take over; then it is restarted on a "new disk".
    FsyncErrorOnLeader,
    /// A follower's disk is full from some append on; the majority carries on.
    DiskFullOnFollower,
    /// Two regions in `dr-sync`: SIGSTOP every DR-region learner; the state must reach `async`
    /// within the sync timeout (plus slack) and writes go on; SIGCONT: back to `sync`.
    DrCutRegion,
    /// Two regions in `sync`: kill -9 every primary-region node, force a failover to the DR
    /// region (RPO = 0 reported, new generation takes writes), restart the old region with its
    /// old flags and data: every write sent only to it fails, and none exists later.
    DrLosePrimary,
    /// Power loss on the leader: kill -9 it and drop every write and directory change it had
    /// not fsynced (its data dir is on a power-cut filesystem), restart it after the hold.
    PowerCutLeader,
    /// The same on a follower.
    PowerCutFollower,
    /// Power loss on every node at once, under load, then restart them all. At least one node
    /// must have lost unsynced bytes, or the fault tested nothing.
    PowerCutAll,
    /// After `DrLosePrimary`: `dr failback` re-joins the old region as learners, then a planned
    /// switchover back to it; its nodes must end up the voters again.
    DrFailback,
}

impl Fault {
    /// Faults that need the peer proxy.
    pub fn needs_network(self) -> bool {
        matches!(
            self,
            Fault::IsolateLeader
                | Fault::MinorityPartition
                | Fault::PartialPartition
                | Fault::OneWayIntoLeader
                | Fault::SlowLinksKillLeader
                | Fault::LossyLinks
        )
    }

    /// Faults that need a `pharos` built with the `failpoints` feature.
    pub fn needs_failpoints(self) -> bool {
        matches!(
            self,
            Fault::CrashLeaderAt(_) | Fault::FsyncErrorOnLeader | Fault::DiskFullOnFollower | Fault::CrashVotersAt(_)
        )
    }

    /// Faults that need every data dir on a power-cut filesystem (`ClusterOptions::power_cut`).
    pub fn needs_power_cut(self) -> bool {
        matches!(self, Fault::PowerCutLeader | Fault::PowerCutFollower | Fault::PowerCutAll)
    }

    /// Faults that need two regions (`start_two_regions`, `dr-sync`).
    pub fn needs_regions(self) -> bool {
        matches!(self, Fault::DrCutRegion | Fault::DrLosePrimary | Fault::DrFailback)
    }

    /// What this fault takes from the run's generator when it is injected. `candidates` is how
    /// many nodes it chooses among at that moment, in node-id order: the running nodes but the
    /// leader (`KillFollower`, `MinorityPartition`, `PartialPartition`, `KillFollowerPastSnapshot`,
    /// `DiskFullOnFollower`, `PowerCutFollower`), the running learners (`KillLearner`), the running nodes but the
    /// leader and the node that just joined (`MembershipChange`), or every running node
    /// (`SlowLinksKillLeader`, which delays each ordered pair). Other faults draw nothing.
    ///
    /// The order and bounds of these draws are what a fixed seed reproduces: change them and the
    /// regression scenarios stop replaying their bugs (`plan`'s tests pin them).
    pub fn draw(self, rng: &mut SplitMix64, candidates: usize) -> Draw {
        let mut draw = Draw::default();
        match self {
            Fault::KillFollower
            | Fault::MinorityPartition
            | Fault::PartialPartition
            | Fault::KillFollowerPastSnapshot
            | Fault::KillLearner
            | Fault::PowerCutFollower
            | Fault::MembershipChange => draw.victim = pick(rng, candidates),
            Fault::SlowLinksKillLeader => {
                let links = candidates * candidates.saturating_sub(1);
                draw.link_delays_ms = (0..links).map(|_| LINK_DELAY_MIN_MS + rng.below(LINK_DELAY_SPREAD_MS)).collect();
            }
            Fault::CrashLeaderAt(_) | Fault::FsyncErrorOnLeader => draw.failpoint_skip = Some(failpoint_skip(rng)),
            Fault::DiskFullOnFollower => {
                draw.victim = pick(rng, candidates);
                // Without a victim the fault fails before it draws the hit.
                if draw.victim.is_some() {
                    draw.failpoint_skip = Some(failpoint_skip(rng));
                }
            }
            Fault::KillLeader
            | Fault::PauseLeader
            | Fault::RestartAll
            | Fault::IsolateLeader
            | Fault::OneWayIntoLeader
            | Fault::CrashVotersAt(_)
            | Fault::LossyLinks
            | Fault::AddDrLearner
            | Fault::KillBrokerMaster
            | Fault::DrCutRegion
            | Fault::DrLosePrimary
            | Fault::PowerCutLeader
            | Fault::PowerCutAll
            | Fault::DrFailback => {}
        }
        draw
    }
}

/// What a fault took from the run's generator when it was injected ([`Fault::draw`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draw {
    /// The node chosen among the fault's candidates (followers, learners or removable voters), as
    /// an index in node-id order; `None` when the fault chooses none or there was no candidate.
    pub victim: Option<usize>,
    /// The failpoint fires on this hit (`point=action@skip`).
    pub failpoint_skip: Option<u64>,
    /// One delay per ordered pair (from, to) of running nodes, `from` major, in node-id order.
    pub link_delays_ms: Vec<u64>,
}

impl Draw {
    /// The chosen node among `candidates` (the list whose length was passed to [`Fault::draw`]).
    pub fn victim_of(&self, candidates: &[u64]) -> Option<u64> {
        self.victim.map(|index| candidates[index])
    }
}

/// One of `candidates`, as `SplitMix64::pick` chooses it (no draw at all when there is none).
fn pick(rng: &mut SplitMix64, candidates: usize) -> Option<usize> {
    let index = rng.below(candidates as u64) as usize;
    (index < candidates).then_some(index)
}

fn failpoint_skip(rng: &mut SplitMix64) -> u64 {
    FAILPOINT_SKIP_MIN + rng.below(FAILPOINT_SKIP_SPREAD)
}
