//! The catalogue: every scenario `pharos-chaos` knows, as one literal each. Adding a scenario is
//! adding a literal here (and its row in docs/testing.md); a bug found becomes a regression
//! entry with the seed that found it, as `ci_seed`, and a comment saying where it is written up.
//!
//! The order matters: `pharos-chaos list` and `ci` follow it, and the soak tier picks entries by
//! index, so a soak seed picks the same runs only from the same catalogue. A regression is run by
//! name with its own seed, so adding or moving entries never changes what it replays.

use super::fault::Fault;
use super::{Faults, Scenario};

/// Every scenario, CI tier first.
pub const CATALOGUE: &[Scenario] = &[
    Scenario {
        name: "kill-leader",
        about: "kill -9 the leader under load, restart it",
        voters: 3,
        faults: Faults::Listed(&[Fault::KillLeader]),
        brokers: false,
        ci_seed: Some(1),
    },
    Scenario {
        name: "kill-follower",
        about: "kill -9 a follower under load, restart it",
        voters: 3,
        faults: Faults::Listed(&[Fault::KillFollower]),
        brokers: false,
        ci_seed: Some(2),
    },
    Scenario {
        name: "pause-leader",
        about: "SIGSTOP the leader past the election timeout (zombie leader), then SIGCONT",
        voters: 3,
        faults: Faults::Listed(&[Fault::PauseLeader]),
        brokers: false,
        ci_seed: Some(3),
    },
    Scenario {
        name: "restart-all",
        about: "kill -9 every node at once, restart them all",
        voters: 3,
        faults: Faults::Listed(&[Fault::RestartAll]),
        brokers: false,
        ci_seed: Some(4),
    },
    Scenario {
        name: "isolate-leader",
        about: "partition the leader from its peers while clients still reach it, heal",
        voters: 3,
        faults: Faults::Listed(&[Fault::IsolateLeader]),
        brokers: false,
        ci_seed: Some(5),
    },
    Scenario {
        name: "minority-partition",
        about: "5 nodes: the leader and one follower cut off from the other three, heal",
        voters: 5,
        faults: Faults::Listed(&[Fault::MinorityPartition]),
        brokers: false,
        ci_seed: Some(6),
    },
    Scenario {
        name: "broker-master-kill",
        about: "3 simulated brokers; kill -9 the master; one master per epoch, no lease overlap, gap-free watch",
        voters: 3,
        faults: Faults::Listed(&[Fault::KillBrokerMaster]),
        brokers: true,
        ci_seed: Some(7),
    },
    Scenario {
        name: "membership-change",
        about: "add a learner, promote it, remove an old follower, all under load",
        voters: 3,
        faults: Faults::Listed(&[Fault::MembershipChange]),
        brokers: false,
        ci_seed: Some(8),
    },
    Scenario {
        name: "snapshot-install-under-load",
        about: "kill -9 a follower, compact the leader's log past it, restart it: it catches up by snapshot",
        voters: 3,
        faults: Faults::Listed(&[Fault::KillFollowerPastSnapshot]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "lossy-links",
        about: "every peer connection is reset after 2 % of its chunks for a while",
        voters: 3,
        faults: Faults::Listed(&[Fault::LossyLinks]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "dr-learner-through-leader-kill",
        about: "a learner in a second region joins and catches up; kill -9 the learner, then the leader",
        voters: 3,
        faults: Faults::Listed(&[Fault::AddDrLearner, Fault::KillLearner, Fault::KillLeader]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "brokers-through-restart-all",
        about: "3 simulated brokers; kill -9 and restart every node, then kill -9 the master broker",
        voters: 3,
        faults: Faults::Listed(&[Fault::RestartAll, Fault::KillBrokerMaster]),
        brokers: true,
        ci_seed: None,
    },
    Scenario {
        name: "brokers-through-leader-kill",
        about: "3 simulated brokers; kill -9 the Raft leader, restart it, then kill -9 the master broker",
        voters: 3,
        faults: Faults::Listed(&[Fault::KillLeader, Fault::KillBrokerMaster]),
        brokers: true,
        ci_seed: None,
    },
    // Found by random-broker-combination seeds 1 and 2: a deposed leader renewed a master's
    // lease (docs/testing.md, "Bugs found in Pharos").
    Scenario {
        name: "brokers-through-isolated-leader",
        about: "regression: 5 nodes, 3 simulated brokers; partition the Raft leader into a minority, heal, kill -9 \
            the master broker; a deposed leader must not renew a master's lease",
        voters: 5,
        faults: Faults::Listed(&[Fault::MinorityPartition, Fault::KillBrokerMaster]),
        brokers: true,
        ci_seed: Some(11),
    },
    // Issue 10: random-broker-combination with these seeds produced two masters at once (a
    // heartbeat granted between a fence decision and its commit; pharos_dr::lease). The
    // faults are drawn from the seed exactly as random-broker-combination draws them.
    Scenario {
        name: "two-masters-slow-leader-kills",
        about: "regression: 5 nodes, 3 simulated brokers, faults drawn from seed 292502 (slow links + leader kill \
            twice, follower kill, master-broker kill); no lease granted after a fence is decided",
        voters: 5,
        faults: Faults::DrawnFromSeed,
        brokers: true,
        ci_seed: Some(292_502),
    },
    Scenario {
        name: "two-masters-partial-partition",
        about: "regression: faults drawn from seed 947944 (master-broker kill, partial partition, slow links + \
            leader kill)",
        voters: 5,
        faults: Faults::DrawnFromSeed,
        brokers: true,
        ci_seed: Some(947_944),
    },
    Scenario {
        name: "two-masters-late-master-kill",
        about: "regression: faults drawn from seed 706727 (partial partition, slow links + leader kill, master-broker \
            kill)",
        voters: 5,
        faults: Faults::DrawnFromSeed,
        brokers: true,
        ci_seed: Some(706_727),
    },
    // Found by random-combination seed 824978: a retried offset commit applied twice
    // (docs/testing.md, "Bugs found in Pharos"). Soak tier: it fails only when a commit is in
    // flight as the leader freezes.
    Scenario {
        name: "offsets-through-paused-leaders",
        about: "regression: 5 nodes; SIGSTOP the leader past the election timeout, twice, while consumer offsets \
            are committed; a retried commit must not apply twice",
        voters: 5,
        faults: Faults::Listed(&[Fault::PauseLeader, Fault::PauseLeader]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "crash-before-append-fsync",
        about: "failpoint: the leader aborts after writing log entries, before fsyncing them",
        voters: 3,
        faults: Faults::Listed(&[Fault::CrashLeaderAt("append.before_fsync")]),
        brokers: false,
        ci_seed: Some(9),
    },
    Scenario {
        name: "fsync-error-on-leader",
        about: "failpoint: the leader's log fsync fails for good; another node must lead",
        voters: 3,
        faults: Faults::Listed(&[Fault::FsyncErrorOnLeader]),
        brokers: false,
        ci_seed: Some(10),
    },
    Scenario {
        name: "crash-after-append-fsync",
        about: "failpoint: the leader aborts after fsyncing log entries, before reporting them flushed",
        voters: 3,
        faults: Faults::Listed(&[Fault::CrashLeaderAt("append.after_fsync")]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "disk-full-on-follower",
        about: "failpoint: a follower's log writes fail with no space left; the majority carries on",
        voters: 3,
        faults: Faults::Listed(&[Fault::DiskFullOnFollower]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "crash-voters-after-vote-fsync",
        about: "failpoint: kill -9 the leader; followers abort right after fsyncing their vote; restart all",
        voters: 5,
        faults: Faults::Listed(&[Fault::CrashVotersAt("vote.after_fsync")]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "crash-voters-before-vote-fsync",
        about: "failpoint: kill -9 the leader; followers abort before their vote is durable; restart all",
        voters: 5,
        faults: Faults::Listed(&[Fault::CrashVotersAt("vote.before_fsync")]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "partial-partition",
        about: "cut only leader<->follower A; both still reach follower B",
        voters: 3,
        faults: Faults::Listed(&[Fault::PartialPartition]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "one-way-into-leader",
        about: "peers cannot reach the leader, the leader still reaches them",
        voters: 3,
        faults: Faults::Listed(&[Fault::OneWayIntoLeader]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "slow-links-kill-leader",
        about: "20-120 ms delay on every peer link, kill -9 the leader under it",
        voters: 3,
        faults: Faults::Listed(&[Fault::SlowLinksKillLeader]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "dr-drill",
        about: "two regions in dr-sync: cut the DR region (async) and heal (sync); kill -9 the primary region, force \
            failover; restart the old region (fenced); fail back and switch over to it",
        voters: 3,
        faults: Faults::Listed(&[Fault::DrCutRegion, Fault::DrLosePrimary, Fault::DrFailback]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "dr-cut-and-heal",
        about: "two regions in dr-sync: cut the DR region twice (async, then sync on heal), kill -9 the leader between",
        voters: 3,
        faults: Faults::Listed(&[Fault::DrCutRegion, Fault::KillLeader, Fault::DrCutRegion]),
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "random-combination",
        about: "5 nodes: 2-4 faults drawn from the seed, one after the other",
        voters: 5,
        faults: Faults::DrawnFromSeed,
        brokers: false,
        ci_seed: None,
    },
    Scenario {
        name: "random-broker-combination",
        about: "5 nodes and 3 simulated brokers: 2-4 Raft faults drawn from the seed and one master-broker kill",
        voters: 5,
        faults: Faults::DrawnFromSeed,
        brokers: true,
        ci_seed: None,
    }, // Issue 12, item 7: data dirs on the power-cut filesystem (powercut/), so a crash also
    // loses what was not fsynced. Last in the list so that the soak tier's picks by index of
    // the entries above stay what they were.
    Scenario {
        name: "power-cut-minority",
        about: "power loss (kill -9 and drop unsynced writes) on the leader, then on a follower, under load",
        voters: 3,
        faults: Faults::Listed(&[Fault::PowerCutLeader, Fault::PowerCutFollower]),
        brokers: false,
        ci_seed: Some(12),
    },
    Scenario {
        name: "power-cut-all",
        about: "power loss on every node at once under load, restart all; it must drop unsynced bytes",
        voters: 3,
        faults: Faults::Listed(&[Fault::PowerCutAll]),
        brokers: false,
        ci_seed: Some(13),
    },
];
