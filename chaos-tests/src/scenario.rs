//! Scenarios: a cluster, a workload, faults on a schedule drawn from a seed, and the checks.
//!
//! Every run goes the same way: start the cluster (and simulated brokers if the scenario has
//! them), load it, demand throughput before the first fault, inject the faults one after the
//! other and heal each, demand that writes resume within a bound, stop the load, then check the
//! history (linearizability, lost writes), the brokers (one master per epoch, no lease overlap),
//! the watch (gap-free against a replay) and the replicas (equal state digests at equal applied
//! index). The run directory keeps the history, the fault timeline, the report and every node's
//! log and data dir; it is deleted on a pass and kept (path printed) on a failure.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions, v1};

use crate::checker::brokers::{check_masters, parse_broker_events};
use crate::checker::linearizable;
use crate::checker::raft::check_election_safety;
use crate::checker::watch::{check_order, check_watch, segments};
use crate::checker::writes::check_acknowledged_writes;
use crate::history::{Operation, RegisterCall, RegisterOutcome};
use crate::rng::SplitMix64;
use crate::workload::{self, RegisterWorkload, UNIQUE_PREFIX, Watched, lock};
use crate::{BrokerProcess, Cluster, ClusterOptions};

/// Load before the first fault, to measure throughput against.
const WARMUP_MS: u64 = 3_000;
/// Acknowledged operations required before the first fault: a run that did nothing fails.
const WARMUP_ACKNOWLEDGED_MIN: usize = 30;
/// Load after the last fault healed, so the history covers recovery.
const RECOVERY_MS: u64 = 3_000;
/// Writes must succeed again this soon after a fault healed.
const WRITES_RESUME_WITHIN_MS: u64 = 30_000;
/// Bound on any wait for the cluster (leader, catch-up, convergence, broker master).
const WAIT_MS: u64 = 30_000;
/// A whole scenario run, cluster start to checks, is abandoned after this long.
const RUN_TIMEOUT_MS: u64 = 240_000;
/// How often every node's role and term are sampled.
const ROLE_POLL_INTERVAL_MS: u64 = 100;
/// How long a fault is held before it heals, unless the fault says otherwise.
const FAULT_HOLD_MS: u64 = 4_000;
/// `dr_sync_timeout_ms` of the DR scenarios.
const DR_SYNC_TIMEOUT_MS: u64 = 2_000;
/// Learners in region-2 of the DR scenarios (nodes `voters + 1 ..`).
const DR_LEARNERS: u64 = 2;
/// Allowed beyond `DR_SYNC_TIMEOUT_MS` for the state to reach `async` once the DR region is cut:
/// one 100 ms planning pass, one commit, and a loaded 2-core machine.
const DR_ASYNC_SLACK_MS: u64 = 3_000;
/// How long, after the old primary region restarts, every write sent only to it must fail.
const FENCED_WATCH_MS: u64 = 4_000;
/// Keys written only to the fenced old region: none may ever exist.
const FENCED_PREFIX: &str = "chaos/fenced/";
/// The broker group of broker scenarios.
const GROUP: &str = "chaos-group";
/// A topic on that group, whose route follows its master.
const ROUTE_TOPIC: &str = "chaos-routed";

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
    /// After `DrLosePrimary`: `dr failback` re-joins the old region as learners, then a planned
    /// switchover back to it; its nodes must end up the voters again.
    DrFailback,
}

impl Fault {
    /// Faults that need the peer proxy.
    fn needs_network(self) -> bool {
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
    fn needs_failpoints(self) -> bool {
        matches!(
            self,
            Fault::CrashLeaderAt(_) | Fault::FsyncErrorOnLeader | Fault::DiskFullOnFollower | Fault::CrashVotersAt(_)
        )
    }

    /// Faults that need two regions (`start_two_regions`, `dr-sync`).
    fn needs_regions(self) -> bool {
        matches!(self, Fault::DrCutRegion | Fault::DrLosePrimary | Fault::DrFailback)
    }

    /// Faults a random soak combination may draw (broker and membership faults need their own
    /// set-up, so they run as their scenarios).
    const COMBINABLE: [Fault; 10] = [
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
}

/// A named scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub voters: u64,
    /// Faults in order; when empty, drawn from the seed (`random-combination`, and the
    /// regressions that replay one of its seeds).
    pub faults: Vec<Fault>,
    pub brokers: bool,
    /// The seed the CI tier runs it with (`None`: soak only).
    pub ci_seed: Option<u64>,
}

/// Every scenario, CI tier first.
pub fn all() -> Vec<Scenario> {
    let scenario = |name, about, voters, faults: &[Fault], brokers, ci_seed| Scenario {
        name,
        about,
        voters,
        faults: faults.to_vec(),
        brokers,
        ci_seed,
    };
    vec![
        scenario("kill-leader", "kill -9 the leader under load, restart it", 3, &[Fault::KillLeader], false, Some(1)),
        scenario(
            "kill-follower",
            "kill -9 a follower under load, restart it",
            3,
            &[Fault::KillFollower],
            false,
            Some(2),
        ),
        scenario(
            "pause-leader",
            "SIGSTOP the leader past the election timeout (zombie leader), then SIGCONT",
            3,
            &[Fault::PauseLeader],
            false,
            Some(3),
        ),
        scenario(
            "restart-all",
            "kill -9 every node at once, restart them all",
            3,
            &[Fault::RestartAll],
            false,
            Some(4),
        ),
        scenario(
            "isolate-leader",
            "partition the leader from its peers while clients still reach it, heal",
            3,
            &[Fault::IsolateLeader],
            false,
            Some(5),
        ),
        scenario(
            "minority-partition",
            "5 nodes: the leader and one follower cut off from the other three, heal",
            5,
            &[Fault::MinorityPartition],
            false,
            Some(6),
        ),
        scenario(
            "broker-master-kill",
            "3 simulated brokers; kill -9 the master; one master per epoch, no lease overlap, gap-free watch",
            3,
            &[Fault::KillBrokerMaster],
            true,
            Some(7),
        ),
        scenario(
            "membership-change",
            "add a learner, promote it, remove an old follower, all under load",
            3,
            &[Fault::MembershipChange],
            false,
            Some(8),
        ),
        scenario(
            "snapshot-install-under-load",
            "kill -9 a follower, compact the leader's log past it, restart it: it catches up by snapshot",
            3,
            &[Fault::KillFollowerPastSnapshot],
            false,
            None,
        ),
        scenario(
            "lossy-links",
            "every peer connection is reset after 2 % of its chunks for a while",
            3,
            &[Fault::LossyLinks],
            false,
            None,
        ),
        scenario(
            "dr-learner-through-leader-kill",
            "a learner in a second region joins and catches up; kill -9 the learner, then the leader",
            3,
            &[Fault::AddDrLearner, Fault::KillLearner, Fault::KillLeader],
            false,
            None,
        ),
        scenario(
            "brokers-through-restart-all",
            "3 simulated brokers; kill -9 and restart every node, then kill -9 the master broker",
            3,
            &[Fault::RestartAll, Fault::KillBrokerMaster],
            true,
            None,
        ),
        scenario(
            "brokers-through-leader-kill",
            "3 simulated brokers; kill -9 the Raft leader, restart it, then kill -9 the master broker",
            3,
            &[Fault::KillLeader, Fault::KillBrokerMaster],
            true,
            None,
        ),
        scenario(
            "brokers-through-isolated-leader",
            "regression: 5 nodes, 3 simulated brokers; partition the Raft leader into a minority, heal, kill -9 \
             the master broker; a deposed leader must not renew a master's lease",
            5,
            &[Fault::MinorityPartition, Fault::KillBrokerMaster],
            true,
            Some(11),
        ),
        // Issue 10: random-broker-combination with these seeds produced two masters at once (a
        // heartbeat granted between a fence decision and its commit; pharos_dr::lease). The
        // faults are drawn from the seed exactly as random-broker-combination draws them.
        scenario(
            "two-masters-slow-leader-kills",
            "regression: 5 nodes, 3 simulated brokers, faults drawn from seed 292502 (slow links + leader kill \
             twice, follower kill, master-broker kill); no lease granted after a fence is decided",
            5,
            &[],
            true,
            Some(292_502),
        ),
        scenario(
            "two-masters-partial-partition",
            "regression: faults drawn from seed 947944 (master-broker kill, partial partition, slow links + \
             leader kill)",
            5,
            &[],
            true,
            Some(947_944),
        ),
        scenario(
            "two-masters-late-master-kill",
            "regression: faults drawn from seed 706727 (partial partition, slow links + leader kill, master-broker \
             kill)",
            5,
            &[],
            true,
            Some(706_727),
        ),
        scenario(
            "offsets-through-paused-leaders",
            "regression: 5 nodes; SIGSTOP the leader past the election timeout, twice, while consumer offsets \
             are committed; a retried commit must not apply twice",
            5,
            &[Fault::PauseLeader, Fault::PauseLeader],
            false,
            None,
        ),
        scenario(
            "crash-before-append-fsync",
            "failpoint: the leader aborts after writing log entries, before fsyncing them",
            3,
            &[Fault::CrashLeaderAt("append.before_fsync")],
            false,
            Some(9),
        ),
        scenario(
            "fsync-error-on-leader",
            "failpoint: the leader's log fsync fails for good; another node must lead",
            3,
            &[Fault::FsyncErrorOnLeader],
            false,
            Some(10),
        ),
        scenario(
            "crash-after-append-fsync",
            "failpoint: the leader aborts after fsyncing log entries, before reporting them flushed",
            3,
            &[Fault::CrashLeaderAt("append.after_fsync")],
            false,
            None,
        ),
        scenario(
            "disk-full-on-follower",
            "failpoint: a follower's log writes fail with no space left; the majority carries on",
            3,
            &[Fault::DiskFullOnFollower],
            false,
            None,
        ),
        scenario(
            "crash-voters-after-vote-fsync",
            "failpoint: kill -9 the leader; followers abort right after fsyncing their vote; restart all",
            5,
            &[Fault::CrashVotersAt("vote.after_fsync")],
            false,
            None,
        ),
        scenario(
            "crash-voters-before-vote-fsync",
            "failpoint: kill -9 the leader; followers abort before their vote is durable; restart all",
            5,
            &[Fault::CrashVotersAt("vote.before_fsync")],
            false,
            None,
        ),
        scenario(
            "partial-partition",
            "cut only leader<->follower A; both still reach follower B",
            3,
            &[Fault::PartialPartition],
            false,
            None,
        ),
        scenario(
            "one-way-into-leader",
            "peers cannot reach the leader, the leader still reaches them",
            3,
            &[Fault::OneWayIntoLeader],
            false,
            None,
        ),
        scenario(
            "slow-links-kill-leader",
            "20-120 ms delay on every peer link, kill -9 the leader under it",
            3,
            &[Fault::SlowLinksKillLeader],
            false,
            None,
        ),
        scenario(
            "dr-drill",
            "two regions in dr-sync: cut the DR region (async) and heal (sync); kill -9 the primary region, force \
             failover; restart the old region (fenced); fail back and switch over to it",
            3,
            &[Fault::DrCutRegion, Fault::DrLosePrimary, Fault::DrFailback],
            false,
            None,
        ),
        scenario(
            "dr-cut-and-heal",
            "two regions in dr-sync: cut the DR region twice (async, then sync on heal), kill -9 the leader between",
            3,
            &[Fault::DrCutRegion, Fault::KillLeader, Fault::DrCutRegion],
            false,
            None,
        ),
        scenario(
            "random-combination",
            "5 nodes: 2-4 faults drawn from the seed, one after the other",
            5,
            &[],
            false,
            None,
        ),
        scenario(
            "random-broker-combination",
            "5 nodes and 3 simulated brokers: 2-4 Raft faults drawn from the seed and one master-broker kill",
            5,
            &[],
            true,
            None,
        ),
    ]
}

/// Where the failpoints build of `pharos` lives: `pharos-failpoints` next to `pharos`.
pub fn failpoints_binary(pharos: &std::path::Path) -> PathBuf {
    pharos.with_file_name("pharos-failpoints")
}

pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub problems: Vec<String>,
    /// Counts and timings, one line each.
    pub facts: Vec<String>,
    pub elapsed: Duration,
    /// The run directory, when kept.
    pub kept: Option<PathBuf>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn render(&self) -> String {
        let mut text = format!(
            "scenario {} seed {}: {} in {:.1}s\n",
            self.scenario,
            self.seed,
            if self.passed() { "PASS" } else { "FAIL" },
            self.elapsed.as_secs_f64()
        );
        for fact in &self.facts {
            let _ = writeln!(text, "  {fact}");
        }
        for problem in &self.problems {
            let _ = writeln!(text, "  VIOLATION: {problem}");
        }
        if let Some(path) = &self.kept {
            let _ = writeln!(text, "  history, fault timeline, node logs and data dirs kept in {}", path.display());
        }
        text
    }
}

/// The fault timeline, with times since the run started.
#[derive(Debug, Clone)]
struct Timeline {
    started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Timeline {
    fn note(&self, what: impl Into<String>) {
        let line = format!("[{:>8.3}s] {}", self.started.elapsed().as_secs_f64(), what.into());
        tracing::info!("{line}");
        lock(&self.lines).push(line);
    }

    fn text(&self) -> String {
        lock(&self.lines).join("\n") + "\n"
    }
}

/// Runs one scenario with `seed`. Never panics on a cluster misbehaving: that is a problem in
/// the report.
pub async fn run(scenario: &Scenario, seed: u64, options: ClusterOptions) -> Report {
    let started = Instant::now();
    let timeline = Timeline { started, lines: Arc::new(Mutex::new(Vec::new())) };
    let mut faults = scenario.faults.clone();
    let mut rng = SplitMix64::new(seed);
    if faults.is_empty() {
        let count = 2 + rng.below(3);
        for _ in 0..count {
            if let Some(&fault) = rng.pick(&Fault::COMBINABLE) {
                faults.push(fault);
            }
        }
        if scenario.brokers {
            // One master kill somewhere among the Raft faults (more would leave no replica).
            let position = rng.below(faults.len() as u64 + 1) as usize;
            faults.insert(position, Fault::KillBrokerMaster);
        }
    }
    let binary = if faults.iter().any(|fault| fault.needs_failpoints()) {
        let failpoints = failpoints_binary(&options.binary);
        if !failpoints.exists() {
            return Report {
                scenario: scenario.name.to_string(),
                seed,
                problems: vec![format!(
                    "this scenario needs a pharos built with failpoints at {}: cargo build -p pharos-server --bin \
                     pharos --features pharos-replication/failpoints, then copy target/debug/pharos there",
                    failpoints.display()
                )],
                facts: Vec::new(),
                elapsed: started.elapsed(),
                kept: None,
            };
        }
        failpoints
    } else {
        options.binary.clone()
    };
    // A snapshot must replace the log entirely for a lagging follower to need it.
    let logs_to_keep_after_snapshot =
        if faults.contains(&Fault::KillFollowerPastSnapshot) { 0 } else { options.logs_to_keep_after_snapshot };
    let options = ClusterOptions {
        binary,
        logs_to_keep_after_snapshot,
        voters: scenario.voters,
        peer_proxy: options.peer_proxy || faults.iter().any(|fault| fault.needs_network()),
        ..options
    };
    timeline.note(format!("scenario {} seed {seed}: faults {faults:?}", scenario.name));
    let regions = faults.iter().any(|fault| fault.needs_regions());
    let learners = if regions { DR_LEARNERS } else { 0 };
    let started_cluster = if regions {
        crate::start_two_regions(options, learners, Duration::from_millis(WAIT_MS)).await
    } else {
        Cluster::start(options).await
    };
    let mut cluster = match started_cluster {
        Ok(cluster) => cluster,
        Err(error) => {
            return Report {
                scenario: scenario.name.to_string(),
                seed,
                problems: vec![format!("the cluster did not start: {error}")],
                facts: Vec::new(),
                elapsed: started.elapsed(),
                kept: None,
            };
        }
    };
    timeline.note(format!("cluster up in {}", cluster.root().display()));
    let mut state = RunState {
        scenario: scenario.clone(),
        faults,
        rng,
        timeline: timeline.clone(),
        problems: Vec::new(),
        facts: Vec::new(),
        brokers: Vec::new(),
        history: Vec::new(),
        next_node_id: scenario.voters + learners + 1,
        fenced_attempts: Vec::new(),
    };
    let outcome = tokio::time::timeout(Duration::from_millis(RUN_TIMEOUT_MS), state.drive(&mut cluster)).await;
    if outcome.is_err() {
        state.problems.push(format!("the run did not finish within {RUN_TIMEOUT_MS} ms"));
    }
    for broker in &mut state.brokers {
        broker.kill();
    }
    let mut report = Report {
        scenario: scenario.name.to_string(),
        seed,
        problems: state.problems,
        facts: state.facts,
        elapsed: started.elapsed(),
        kept: None,
    };
    // The evidence goes into the run directory, next to the node logs.
    let root = cluster.root().to_path_buf();
    let history = serde_json::to_string_pretty(&state.history).unwrap_or_default();
    let _ = std::fs::write(root.join("history.json"), history);
    let _ = std::fs::write(root.join("timeline.txt"), timeline.text());
    if !report.passed() {
        report.kept = Some(cluster.keep_root());
    }
    let _ = std::fs::write(root.join("report.txt"), report.render());
    report
}

struct RunState {
    scenario: Scenario,
    faults: Vec<Fault>,
    rng: SplitMix64,
    timeline: Timeline,
    problems: Vec<String>,
    facts: Vec<String>,
    brokers: Vec<BrokerProcess>,
    history: Vec<Operation>,
    next_node_id: u64,
    /// Keys of writes sent only to the fenced old primary region (`DrLosePrimary`).
    fenced_attempts: Vec<String>,
}

fn probe_client(cluster: &Cluster) -> Option<Client> {
    let endpoints: Vec<String> = cluster.nodes.iter().map(|node| node.client_addr.clone()).collect();
    Client::with_options(endpoints, workload::worker_client_options()).ok()
}

/// Puts one unique value until it is acknowledged; the time it took, or `None` after `bound`.
async fn write_until_acknowledged(cluster: &Cluster, key: &str, bound: Duration) -> Option<Duration> {
    let client = probe_client(cluster)?;
    let started = Instant::now();
    let request_id = client.next_request_id();
    while started.elapsed() < bound {
        let attempt = client.put_with_id(key, format!("{}", started.elapsed().as_micros()), request_id.clone());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// A client that gives up quickly, so a stopped or fenced node costs little.
fn quick_client(endpoints: Vec<String>) -> Result<Client, String> {
    let options =
        ClientOptions { attempts_max: 3, retry_backoff_ms: 20, request_timeout_ms: 2_000, ..Default::default() };
    Client::with_options(endpoints, options).map_err(|error| error.to_string())
}

/// A client that keeps trying through a leader change (each call is still bounded by its caller).
fn patient_client(endpoints: Vec<String>) -> Result<Client, String> {
    let options = ClientOptions { attempts_max: 200, retry_backoff_ms: 20, ..Default::default() };
    Client::with_options(endpoints, options).map_err(|error| error.to_string())
}

/// Puts one value with one request id until acknowledged; the time it took, or `None` after
/// `bound`.
async fn put_until_acknowledged(client: &Client, key: &str, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let request_id = client.next_request_id();
    while started.elapsed() < bound {
        let attempt = client.put_with_id(key, format!("{}", started.elapsed().as_micros()), request_id.clone());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Polls `client`'s DR status until `check` holds, at most `bound`.
async fn wait_for_dr(
    client: &Client,
    what: &str,
    bound: Duration,
    check: impl Fn(&v1::DrStatusResponse) -> bool,
) -> Result<v1::DrStatusResponse, String> {
    let deadline = Instant::now() + bound;
    let mut last = None;
    loop {
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(5), client.dr_status()).await {
            if check(&status) {
                return Ok(status);
            }
            last = Some(status);
        }
        if Instant::now() >= deadline {
            let last = last.map_or("no answer".to_string(), |status| {
                format!(
                    "last seen: generation {} mode {} state {} voters {:?} primary {}",
                    status.generation,
                    status.mode().label(),
                    status.state().label(),
                    voters_of(&status),
                    status.primary_region
                )
            });
            return Err(format!("timed out after {} ms waiting for {what} ({last})", bound.as_millis()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn voters_of(status: &v1::DrStatusResponse) -> Vec<u64> {
    status
        .members
        .iter()
        .filter(|member| member.role() == pharos_client::v1::MemberRole::Voter)
        .map(|member| member.node_id)
        .collect()
}

impl RunState {
    async fn drive(&mut self, cluster: &mut Cluster) {
        let wait = Duration::from_millis(WAIT_MS);
        let started = self.timeline.started;
        let mut watches = Vec::new();
        if self.scenario.brokers {
            if let Err(problem) = self.start_brokers(cluster).await {
                self.problems.push(problem);
                return;
            }
            watches.push(workload::start_watch(cluster.client(), Watched::Group(GROUP.to_string())));
            watches.push(workload::start_watch(cluster.client(), Watched::Route(ROUTE_TOPIC.to_string())));
        }

        let nodes = cluster.nodes.iter().map(|node| (node.node_id, node.client_addr.clone())).collect();
        let roles = workload::RolePoller::start(nodes, ROLE_POLL_INTERVAL_MS);
        if let Err(error) = workload::prepare_offsets(&cluster.client()).await {
            self.problems.push(format!("could not create the offset topic: {error}"));
            return;
        }
        if self.faults.iter().any(|fault| fault.needs_regions())
            && let Err(problem) = self.enter_dr_sync(cluster).await
        {
            self.problems.push(problem);
            return;
        }
        let endpoints: Vec<String> = cluster.nodes.iter().map(|node| node.client_addr.clone()).collect();
        let load = workload::start_registers(&endpoints, &RegisterWorkload::default(), self.rng.next_u64(), started);
        tokio::time::sleep(Duration::from_millis(WARMUP_MS)).await;
        let warmup_acknowledged = load.acknowledged_count();
        self.facts.push(format!("{warmup_acknowledged} operations acknowledged before the first fault"));
        if warmup_acknowledged < WARMUP_ACKNOWLEDGED_MIN {
            self.problems.push(format!(
                "only {warmup_acknowledged} operations acknowledged in {WARMUP_MS} ms before the fault (minimum \
                 {WARMUP_ACKNOWLEDGED_MIN}): the run proves nothing"
            ));
        }

        for fault in self.faults.clone() {
            self.note_exits(cluster);
            if let Err(problem) = self.inject(cluster, fault).await {
                self.problems.push(format!("{fault:?}: {problem}"));
                break;
            }
            let healed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match write_until_acknowledged(cluster, "chaos/liveness", Duration::from_millis(WRITES_RESUME_WITHIN_MS))
                .await
            {
                Some(took) => {
                    self.timeline.note(format!("writes resumed {} ms after healing", took.as_millis()));
                    self.facts.push(format!("{fault:?}: writes resumed {} ms after healing", took.as_millis()));
                }
                None => {
                    self.problems.push(format!(
                        "{fault:?}: no write succeeded within {WRITES_RESUME_WITHIN_MS} ms after healing"
                    ));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(RECOVERY_MS)).await;
            let after = load.acknowledged_since(healed_us);
            self.facts.push(format!("{fault:?}: {after} operations acknowledged after healing"));
            if after == 0 {
                self.problems.push(format!("{fault:?}: the workload made no progress after healing"));
            }
        }

        let recorded = load.stop().await;
        self.timeline.note("workload stopped");
        let samples = roles.finish().await;
        let terms: BTreeSet<u64> = samples.iter().map(|sample| sample.term).collect();
        self.facts.push(format!("election safety: {} role samples over terms {terms:?}", samples.len()));
        self.problems.extend(check_election_safety(&samples));
        self.note_exits(cluster);
        self.history = recorded.operations;
        self.final_reads(cluster).await;
        self.final_offset_fetch(cluster).await;
        match write_until_acknowledged(cluster, "chaos/final", wait).await {
            Some(_) => self.timeline.note("final write acknowledged"),
            None => self.problems.push("the final write failed".to_string()),
        }
        let unknown = self.history.iter().filter(|op| matches!(op.outcome, RegisterOutcome::Unknown { .. })).count();
        self.facts.push(format!(
            "{} register operations ({unknown} with unknown outcome), {} of {} unique puts acknowledged",
            self.history.len(),
            recorded.unique_acknowledged.len(),
            recorded.unique_attempted.len()
        ));

        // Linearizability of the register history.
        let checking = Instant::now();
        let verdict = linearizable::check(&self.history);
        self.facts.push(format!(
            "linearizability: {} operations on {} keys checked in {} ms",
            verdict.operations_checked,
            verdict.keys.len(),
            checking.elapsed().as_millis()
        ));
        self.problems.extend(verdict.problems());

        // No acknowledged unique put lost.
        match self.list_unique(cluster).await {
            Ok(present) => self.problems.extend(check_acknowledged_writes(
                &recorded.unique_acknowledged,
                &recorded.unique_attempted,
                &present,
            )),
            Err(error) => self.problems.push(format!("could not list the unique keys: {error}")),
        }

        self.check_fenced_writes(cluster).await;

        let mut watches = watches.into_iter();
        if let (Some(group_watch), Some(route_watch)) = (watches.next(), watches.next()) {
            let group_record = group_watch.finish().await;
            let route_record = route_watch.finish().await;
            self.check_brokers(&group_record);
            self.check_watch_record(cluster, &Watched::Group(GROUP.to_string()), &group_record).await;
            self.check_watch_record(cluster, &Watched::Route(ROUTE_TOPIC.to_string()), &route_record).await;
        }
        if let Some(network) = cluster.network() {
            let (attributed, unattributed, stalled) = network.counters();
            self.facts.push(format!(
                "peer proxy: {attributed} connections attributed to their sender, {unattributed} not, {stalled} chunks \
                 stalled by cuts"
            ));
            if unattributed > 0 {
                self.problems.push(format!(
                    "{unattributed} peer connection(s) could not be attributed to a node, so link rules did not apply \
                     to them"
                ));
            }
        }
        self.check_replicas(cluster).await;
        self.note_exits(cluster);
    }

    /// A node that exits by itself is a crash (§7.7: never a panic), or something else on the
    /// machine signalled it; either way the run cannot pass.
    fn note_exits(&mut self, cluster: &mut Cluster) {
        for (node_id, status) in cluster.unexpected_exits() {
            self.timeline.note(format!("node {node_id} exited by itself: {status}"));
            self.problems.push(format!(
                "node {node_id} exited without the harness stopping it ({status}); see node-{node_id}.log"
            ));
        }
    }

    async fn start_brokers(&mut self, cluster: &Cluster) -> Result<(), String> {
        for (index, name) in ["broker-a", "broker-b", "broker-c"].iter().enumerate() {
            let address = format!("internal=127.0.0.1:{}", 30_000 + index);
            let broker = cluster
                .spawn_broker(GROUP, name, &["--address", &address])
                .map_err(|error| format!("starting {name}: {error}"))?;
            self.brokers.push(broker);
        }
        let client = cluster.client();
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            if let Ok(Ok(response)) = tokio::time::timeout(
                Duration::from_secs(5),
                client.get_broker_group(GROUP, v1::Consistency::Linearizable),
            )
            .await
                && let Some(view) = response.group
                && view.master_broker_id.is_some()
                && view.sync_state_set.len() == 3
            {
                self.timeline.note(format!("broker group ready: {}", workload::summarize_group(&view)));
                let topic = v1::TopicInfo {
                    name: ROUTE_TOPIC.into(),
                    queues: vec![v1::QueueSpec { group: GROUP.into(), read_queues: 4, write_queues: 4 }],
                    ..Default::default()
                };
                client.create_topic(topic).await.map_err(|error| format!("creating {ROUTE_TOPIC}: {error}"))?;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the broker group had no master with 3 in sync within {WAIT_MS} ms"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn leader(&self, cluster: &Cluster) -> Result<u64, String> {
        cluster.wait_for_leader(Duration::from_millis(WAIT_MS)).await.map_err(|error| error.to_string())
    }

    /// Running voters other than `leader`.
    fn followers(cluster: &Cluster, leader: u64) -> Vec<u64> {
        cluster
            .nodes
            .iter()
            .filter(|node| node.is_running() && node.node_id != leader)
            .map(|node| node.node_id)
            .collect()
    }

    fn running(cluster: &Cluster) -> Vec<u64> {
        cluster.nodes.iter().filter(|node| node.is_running()).map(|node| node.node_id).collect()
    }

    async fn hold(&self) {
        tokio::time::sleep(Duration::from_millis(FAULT_HOLD_MS)).await;
    }

    /// Injects one fault, holds it, heals it.
    async fn inject(&mut self, cluster: &mut Cluster, fault: Fault) -> Result<(), String> {
        let harness = |error: crate::HarnessError| error.to_string();
        match fault {
            Fault::KillLeader => {
                let leader = self.leader(cluster).await?;
                cluster.kill(leader).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {leader} (leader)"));
                self.hold().await;
                cluster.restart(leader).map_err(harness)?;
                self.timeline.note(format!("restarted node {leader}"));
            }
            Fault::KillFollower => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let &victim = self.rng.pick(&followers).ok_or("no follower to kill")?;
                cluster.kill(victim).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {victim} (follower)"));
                self.hold().await;
                cluster.restart(victim).map_err(harness)?;
                self.timeline.note(format!("restarted node {victim}"));
            }
            Fault::PauseLeader => {
                let leader = self.leader(cluster).await?;
                cluster.signal(leader, "STOP").map_err(harness)?;
                // Several election timeouts: the others elect a new leader meanwhile.
                let pause_ms = 3 * cluster.options.election_timeout_max_ms + 1_000;
                self.timeline.note(format!("SIGSTOP node {leader} (leader) for {pause_ms} ms"));
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                cluster.signal(leader, "CONT").map_err(harness)?;
                self.timeline.note(format!("SIGCONT node {leader}"));
            }
            Fault::RestartAll => {
                let nodes = Self::running(cluster);
                for &node_id in &nodes {
                    cluster.kill(node_id).map_err(harness)?;
                }
                self.timeline.note(format!("kill -9 nodes {nodes:?} (all)"));
                tokio::time::sleep(Duration::from_millis(1_000)).await;
                for &node_id in &nodes {
                    cluster.restart(node_id).map_err(harness)?;
                }
                self.timeline.note(format!("restarted nodes {nodes:?}"));
            }
            Fault::IsolateLeader => {
                let leader = self.leader(cluster).await?;
                let others = Self::followers(cluster, leader);
                let network = cluster.network().ok_or("no peer proxy")?;
                network.partition(&[vec![leader], others.clone()]);
                self.timeline.note(format!("isolated node {leader} (leader): {}", network.describe()));
                self.hold().await;
                self.expect_new_leader(cluster, leader, &others).await?;
                let Some(network) = cluster.network() else { return Err("no peer proxy".into()) };
                network.heal();
                self.timeline.note("network healed");
            }
            Fault::MinorityPartition => {
                let leader = self.leader(cluster).await?;
                let mut majority = Self::followers(cluster, leader);
                let index = self.rng.below(majority.len() as u64) as usize;
                if majority.is_empty() {
                    return Err("no follower".into());
                }
                let companion = majority.remove(index);
                let network = cluster.network().ok_or("no peer proxy")?;
                network.partition(&[vec![leader, companion], majority.clone()]);
                self.timeline
                    .note(format!("partitioned minority [{leader} (leader), {companion}] from majority {majority:?}"));
                self.hold().await;
                self.expect_new_leader(cluster, leader, &majority).await?;
                let Some(network) = cluster.network() else { return Err("no peer proxy".into()) };
                network.heal();
                self.timeline.note("network healed");
            }
            Fault::PartialPartition => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let &follower = self.rng.pick(&followers).ok_or("no follower")?;
                let network = cluster.network().ok_or("no peer proxy")?;
                network.cut(leader, follower);
                self.timeline.note(format!("cut link {leader} (leader) <-> {follower} only"));
                self.hold().await;
                network.heal();
                self.timeline.note("network healed");
            }
            Fault::OneWayIntoLeader => {
                let leader = self.leader(cluster).await?;
                let network = cluster.network().ok_or("no peer proxy")?;
                for follower in Self::followers(cluster, leader) {
                    network.cut_one_way(follower, leader);
                }
                self.timeline.note(format!("one-way cut: nothing reaches node {leader} (leader) from its peers"));
                self.hold().await;
                network.heal();
                self.timeline.note("network healed");
            }
            Fault::SlowLinksKillLeader => {
                let nodes = Self::running(cluster);
                let mut delays = Vec::new();
                for &from in &nodes {
                    for &to in &nodes {
                        if from != to {
                            let delay_ms = 20 + self.rng.below(100);
                            delays.push((from, to, delay_ms));
                        }
                    }
                }
                let network = cluster.network().ok_or("no peer proxy")?;
                for &(from, to, delay_ms) in &delays {
                    network.delay(from, to, delay_ms);
                }
                self.timeline.note(format!("delayed links (from, to, ms): {delays:?}"));
                tokio::time::sleep(Duration::from_millis(1_000)).await;
                let leader = self.leader(cluster).await?;
                cluster.kill(leader).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {leader} (leader) under delay"));
                self.hold().await;
                cluster.restart(leader).map_err(harness)?;
                if let Some(network) = cluster.network() {
                    network.heal();
                }
                self.timeline.note(format!("restarted node {leader}, network healed"));
            }
            Fault::CrashLeaderAt(point) => {
                let leader = self.leader(cluster).await?;
                let skip = 20 + self.rng.below(80);
                cluster.arm_failpoints(leader, &format!("{point}=crash@{skip}")).map_err(harness)?;
                self.timeline.note(format!("armed {point}=crash@{skip} on node {leader} (leader)"));
                self.wait_for_exit(cluster, leader).await?;
                self.expect_fired(cluster, leader, point)?;
                cluster.arm_failpoints(leader, "").map_err(harness)?;
                self.hold().await;
                cluster.restart(leader).map_err(harness)?;
                self.timeline.note(format!("restarted node {leader} without failpoints"));
            }
            Fault::FsyncErrorOnLeader => {
                let leader = self.leader(cluster).await?;
                let others = Self::followers(cluster, leader);
                let skip = 20 + self.rng.below(80);
                cluster.arm_failpoints(leader, &format!("append.before_fsync=error@{skip}")).map_err(harness)?;
                self.timeline.note(format!("armed append.before_fsync=error@{skip} on node {leader} (leader)"));
                self.expect_new_leader(cluster, leader, &others).await?;
                self.end_io_failpoint(cluster, leader, "append.before_fsync", "with a working disk").await?;
            }
            Fault::DiskFullOnFollower => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let &victim = self.rng.pick(&followers).ok_or("no follower")?;
                let skip = 20 + self.rng.below(80);
                cluster.arm_failpoints(victim, &format!("append.before_write=nospace@{skip}")).map_err(harness)?;
                self.timeline.note(format!("armed append.before_write=nospace@{skip} on node {victim} (follower)"));
                self.end_io_failpoint(cluster, victim, "append.before_write", "with space again").await?;
            }
            Fault::KillFollowerPastSnapshot => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let &victim = self.rng.pick(&followers).ok_or("no follower to kill")?;
                cluster.kill(victim).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {victim} (follower)"));
                self.hold().await;
                let leader = self.leader(cluster).await?;
                let compacted = cluster
                    .client_of(leader)
                    .map_err(harness)?
                    .compact()
                    .await
                    .map_err(|error| format!("compacting node {leader}: {error}"))?;
                self.timeline.note(format!(
                    "node {leader} (leader) compacted: snapshot at {}, log purged up to {}",
                    compacted.snapshot_index, compacted.purged_index
                ));
                cluster.restart(victim).map_err(harness)?;
                let wait = Duration::from_millis(WAIT_MS);
                cluster.wait_for_applied(victim, compacted.snapshot_index, wait).await.map_err(harness)?;
                let snapshot_index = cluster.status_of(victim).await.map_or(0, |status| status.snapshot_index);
                self.timeline
                    .note(format!("node {victim} restarted and caught up; its snapshot is at {snapshot_index}"));
                if snapshot_index < compacted.purged_index {
                    return Err(format!(
                        "node {victim} caught up without installing the snapshot (its snapshot index {snapshot_index} < \
                         purged {})",
                        compacted.purged_index
                    ));
                }
            }
            Fault::CrashVotersAt(point) => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                for &follower in &followers {
                    cluster.arm_failpoints(follower, &format!("{point}=crash")).map_err(harness)?;
                }
                self.timeline.note(format!("armed {point}=crash on followers {followers:?}"));
                cluster.kill(leader).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {leader} (leader)"));
                self.hold().await;
                let mut crashed = Vec::new();
                for (node_id, status) in cluster.unexpected_exits() {
                    if followers.contains(&node_id) {
                        self.timeline.note(format!("node {node_id} exited as the failpoint made it: {status}"));
                        crashed.push(node_id);
                    } else {
                        self.problems.push(format!("node {node_id} exited without the harness stopping it ({status})"));
                    }
                }
                if crashed.is_empty() {
                    return Err(format!("no follower crashed at {point}: the fault did not happen"));
                }
                for &node_id in &followers {
                    cluster.arm_failpoints(node_id, "").map_err(harness)?;
                }
                for &node_id in crashed.iter().chain([leader].iter()) {
                    cluster.restart(node_id).map_err(harness)?;
                }
                self.timeline.note(format!("restarted nodes {crashed:?} and {leader} without failpoints"));
            }
            Fault::LossyLinks => {
                let nodes = Self::running(cluster);
                let network = cluster.network().ok_or("no peer proxy")?;
                for &from in &nodes {
                    for &to in &nodes {
                        if from != to {
                            network.lossy(from, to, 20);
                        }
                    }
                }
                self.timeline.note("every peer link resets after 2 % of its chunks");
                self.hold().await;
                network.heal();
                self.timeline.note(format!("network healed after {} connection resets", network.resets()));
                if network.resets() == 0 {
                    return Err("no connection was reset: the fault did not happen".into());
                }
            }
            Fault::AddDrLearner => {
                let learner = self.next_node_id;
                self.next_node_id += 1;
                cluster.add_joining_node(learner, "zone-dr-1", "region-2", &[]).map_err(harness)?;
                self.timeline.note(format!("node {learner} joins as a learner in region-2"));
                let leader = self.leader(cluster).await?;
                let applied = cluster.status_of(leader).await.ok_or("no leader status")?.applied_index;
                let wait = Duration::from_millis(WAIT_MS);
                cluster.wait_for_applied(learner, applied, wait).await.map_err(harness)?;
                let state = cluster.status_of(learner).await.map_or("unknown", |status| status.state().label());
                self.timeline.note(format!("node {learner} caught up to {applied} as {state}"));
                if state != "learner" {
                    return Err(format!("node {learner} should be a learner, is {state:?}"));
                }
            }
            Fault::KillLearner => {
                let mut learners = Vec::new();
                for node_id in Self::running(cluster) {
                    if cluster
                        .status_of(node_id)
                        .await
                        .is_some_and(|status| status.state() == pharos_client::v1::ServerState::Learner)
                    {
                        learners.push(node_id);
                    }
                }
                let &learner = self.rng.pick(&learners).ok_or("no running learner to kill")?;
                cluster.kill(learner).map_err(harness)?;
                self.timeline.note(format!("kill -9 node {learner} (learner)"));
                self.hold().await;
                cluster.restart(learner).map_err(harness)?;
                let leader = self.leader(cluster).await?;
                let applied = cluster.status_of(leader).await.ok_or("no leader status")?.applied_index;
                let wait = Duration::from_millis(WAIT_MS);
                cluster.wait_for_applied(learner, applied, wait).await.map_err(harness)?;
                self.timeline.note(format!("restarted node {learner}; it caught up to {applied}"));
            }
            Fault::KillBrokerMaster => self.kill_broker_master(cluster).await?,
            Fault::MembershipChange => self.change_membership(cluster).await?,
            Fault::DrCutRegion => self.cut_dr_region(cluster).await?,
            Fault::DrLosePrimary => self.lose_primary_region(cluster).await?,
            Fault::DrFailback => self.fail_back(cluster).await?,
        }
        Ok(())
    }

    /// Sets `dr-sync` and waits, bounded, for the state `sync`.
    async fn enter_dr_sync(&mut self, cluster: &Cluster) -> Result<(), String> {
        let client = cluster.client();
        tokio::time::timeout(
            Duration::from_millis(WAIT_MS),
            client.dr_set_mode(pharos_client::v1::DrMode::DrSync, DR_SYNC_TIMEOUT_MS),
        )
        .await
        .map_err(|_| "setting dr-sync timed out".to_string())?
        .map_err(|error| format!("setting dr-sync: {error}"))?;
        let status = wait_for_dr(&client, "state sync", Duration::from_millis(WAIT_MS), |status| {
            status.state() == pharos_client::v1::DrSyncState::Sync
        })
        .await?;
        self.timeline.note(format!(
            "dr-sync (timeout {DR_SYNC_TIMEOUT_MS} ms) in state sync (state id {}); primary {}, DR {}",
            status.dr_state_id, status.primary_region, status.dr_region
        ));
        Ok(())
    }

    /// Nodes of `region` (running or not).
    fn region_nodes(cluster: &Cluster, region: &str) -> Vec<u64> {
        cluster.nodes.iter().filter(|node| node.region == region).map(|node| node.node_id).collect()
    }

    async fn cut_dr_region(&mut self, cluster: &mut Cluster) -> Result<(), String> {
        let harness = |error: crate::HarnessError| error.to_string();
        let primary = quick_client(cluster.region_endpoints(crate::PRIMARY_REGION))?;
        let wait = Duration::from_millis(WAIT_MS);
        let before =
            wait_for_dr(&primary, "state sync", wait, |status| status.state() == pharos_client::v1::DrSyncState::Sync)
                .await?;
        let learners = Self::region_nodes(cluster, crate::DR_REGION);
        for &node_id in &learners {
            cluster.signal(node_id, "STOP").map_err(harness)?;
        }
        let cut_at = Instant::now();
        self.timeline.note(format!("SIGSTOP nodes {learners:?} (the DR region)"));
        let bound = Duration::from_millis(DR_SYNC_TIMEOUT_MS + DR_ASYNC_SLACK_MS);
        let result = wait_for_dr(&primary, "state async", bound, |status| {
            status.state() == pharos_client::v1::DrSyncState::Async && status.dr_state_id > before.dr_state_id
        })
        .await;
        let went_async = cut_at.elapsed();
        let outcome = match result {
            Ok(status) => {
                self.timeline.note(format!(
                    "state async (state id {}) {} ms after the cut",
                    status.dr_state_id,
                    went_async.as_millis()
                ));
                self.facts.push(format!(
                    "DrCutRegion: state async {} ms after the cut (timeout {DR_SYNC_TIMEOUT_MS} ms)",
                    went_async.as_millis()
                ));
                // Writes go on without the DR region.
                match put_until_acknowledged(&primary, "chaos/liveness", wait).await {
                    Some(took) => {
                        self.timeline.note(format!("a write in async acknowledged in {} ms", took.as_millis()));
                        Ok(status)
                    }
                    None => Err(format!("no write succeeded in async within {WAIT_MS} ms")),
                }
            }
            Err(error) => Err(error),
        };
        // Heal whatever happened, so the run can still be checked.
        if outcome.is_ok() {
            self.hold().await;
        }
        for &node_id in &learners {
            cluster.signal(node_id, "CONT").map_err(harness)?;
        }
        self.timeline.note(format!("SIGCONT nodes {learners:?}"));
        let asynchronous = outcome?;
        let healed_at = Instant::now();
        let status = wait_for_dr(&primary, "back to sync", wait, |status| {
            status.state() == pharos_client::v1::DrSyncState::Sync && status.dr_state_id > asynchronous.dr_state_id
        })
        .await?;
        self.timeline.note(format!(
            "back to sync (state id {}) {} ms after healing",
            status.dr_state_id,
            healed_at.elapsed().as_millis()
        ));
        Ok(())
    }

    async fn lose_primary_region(&mut self, cluster: &mut Cluster) -> Result<(), String> {
        let harness = |error: crate::HarnessError| error.to_string();
        let wait = Duration::from_millis(WAIT_MS);
        let survivors = quick_client(cluster.region_endpoints(crate::DR_REGION))?;
        let before = wait_for_dr(&survivors, "state sync", wait, |status| {
            status.state() == pharos_client::v1::DrSyncState::Sync
        })
        .await?;
        let old_region = Self::region_nodes(cluster, crate::PRIMARY_REGION);
        for &node_id in &old_region {
            cluster.kill(node_id).map_err(harness)?;
        }
        self.timeline.note(format!("kill -9 nodes {old_region:?} (the primary region)"));
        let command_at = Instant::now();
        let report = tokio::time::timeout(
            wait,
            survivors.dr_failover(v1::RegionFailoverRequest {
                to_region: crate::DR_REGION.to_string(),
                force: true,
                dry_run: false,
                // The drill killed the region itself, and says so: behind the suite's peer proxy
                // (which stays up) a dead node's peer port does not refuse connections, so it is
                // not proven down by the probe alone.
                old_region_fenced: crate::PRIMARY_REGION.to_string(),
            }),
        )
        .await
        .map_err(|_| format!("the failover did not answer within {WAIT_MS} ms"))?
        .map_err(|error| format!("failover: {error}"))?;
        self.timeline.note(format!(
            "failover to {}: generation {}, rpo_zero {}, seed log {}; {:?}",
            crate::DR_REGION,
            report.generation,
            report.rpo_zero,
            report.seed_last_log_index,
            report.loss_report
        ));
        if !report.rpo_zero {
            self.problems.push(format!(
                "DrLosePrimary: the failover did not report RPO = 0 although the last state was sync: {:?}",
                report.loss_report
            ));
        }
        let generation = before.generation + 1;
        if report.generation != generation {
            return Err(format!("the failover made generation {}, expected {generation}", report.generation));
        }
        let new_generation = patient_client(cluster.region_endpoints(crate::DR_REGION))?;
        put_until_acknowledged(&new_generation, "chaos/liveness", wait)
            .await
            .ok_or(format!("generation {generation} took no write within {WAIT_MS} ms"))?;
        let first_write = command_at.elapsed();
        self.timeline.note(format!(
            "generation {generation} took its first write {} ms after the command",
            first_write.as_millis()
        ));
        self.facts.push(format!(
            "DrLosePrimary: generation {generation}, RPO = 0 reported: {}, first write {} ms after the failover \
             command",
            report.rpo_zero,
            first_write.as_millis()
        ));
        let learners = Self::region_nodes(cluster, crate::DR_REGION);
        wait_for_dr(&new_generation, "the survivors voting", wait, |status| {
            status.generation == generation && voters_of(status) == learners
        })
        .await?;

        // The old region comes back with its old flags and data: it must take no write.
        for &node_id in &old_region {
            cluster.restart(node_id).map_err(harness)?;
        }
        self.timeline.note(format!("restarted nodes {old_region:?} with their old flags and data"));
        let watch_until = Instant::now() + Duration::from_millis(FENCED_WATCH_MS);
        let mut attempt = 0;
        while Instant::now() < watch_until {
            // A fresh client each time: it knows no generation, like a client of the old region.
            let old = quick_client(cluster.region_endpoints(crate::PRIMARY_REGION))?;
            let key = format!("{FENCED_PREFIX}{attempt}");
            attempt += 1;
            self.fenced_attempts.push(key.clone());
            let write = tokio::time::timeout(Duration::from_secs(5), old.put(key.clone(), "must not land")).await;
            if let Ok(Ok(response)) = write {
                self.problems.push(format!(
                    "DrLosePrimary: the restarted old region acknowledged the write {key} (answer {:?})",
                    response.header
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.timeline.note(format!("{attempt} writes sent only to the old region in {FENCED_WATCH_MS} ms"));
        for &node_id in &old_region {
            let node = cluster.client_of(node_id).map_err(harness)?;
            let fenced = wait_for_dr(&node, "the old region to learn of the new generation", wait, |status| {
                status.fenced_by_generation == Some(generation)
            })
            .await?;
            if fenced.generation >= generation {
                return Err(format!("old node {node_id} reports generation {}", fenced.generation));
            }
        }
        self.timeline.note(format!("nodes {old_region:?} are fenced by generation {generation}"));
        Ok(())
    }

    async fn fail_back(&mut self, cluster: &mut Cluster) -> Result<(), String> {
        let wait = Duration::from_millis(WAIT_MS);
        let new_primary = patient_client(cluster.region_endpoints(crate::DR_REGION))?;
        let old_region = Self::region_nodes(cluster, crate::PRIMARY_REGION);
        let response = tokio::time::timeout(wait, new_primary.dr_failback())
            .await
            .map_err(|_| format!("failback did not answer within {WAIT_MS} ms"))?
            .map_err(|error| format!("failback: {error}"))?;
        self.timeline
            .note(format!("failback: re-joining {:?}, unreachable {:?}", response.rejoining, response.unreachable));
        if response.rejoining != old_region {
            return Err(format!("failback re-joins {:?}, expected {old_region:?}", response.rejoining));
        }
        let started = Instant::now();
        wait_for_dr(&new_primary, "the old region caught up as learners", wait, |status| {
            old_region.iter().all(|id| {
                status.members.iter().any(|member| {
                    member.node_id == *id
                        && member.role() == pharos_client::v1::MemberRole::Learner
                        && member.lag_entries.is_some_and(|lag| lag <= 100)
                })
            })
        })
        .await?;
        self.timeline.note(format!(
            "nodes {old_region:?} caught up as learners {} ms after the failback",
            started.elapsed().as_millis()
        ));
        let back = tokio::time::timeout(wait, new_primary.dr_switchover(crate::PRIMARY_REGION, false))
            .await
            .map_err(|_| format!("the switchover did not answer within {WAIT_MS} ms"))?
            .map_err(|error| format!("switchover back: {error}"))?;
        let started = Instant::now();
        let status = wait_for_dr(&new_primary, "the switchover back to finish", wait, |status| {
            status.last_operation.as_ref().is_some_and(|finished| finished.id == back.operation_id)
        })
        .await?;
        let result = status.last_operation.map(|finished| finished.result).unwrap_or_default();
        self.timeline.note(format!(
            "switchover back to {} ended {result:?} after {} ms",
            crate::PRIMARY_REGION,
            started.elapsed().as_millis()
        ));
        self.facts.push(format!(
            "DrFailback: switchover back to {} ended {result:?} in {} ms",
            crate::PRIMARY_REGION,
            started.elapsed().as_millis()
        ));
        if result != "ok" {
            return Err(format!("the switchover back ended {result:?}"));
        }
        let everywhere = patient_client(cluster.client_endpoints())?;
        let status = wait_for_dr(&everywhere, "the old region voting again", wait, |status| {
            status.primary_region == crate::PRIMARY_REGION && voters_of(status) == old_region
        })
        .await?;
        self.timeline.note(format!(
            "voters {:?}, primary {}, generation {}",
            voters_of(&status),
            status.primary_region,
            status.generation
        ));
        Ok(())
    }

    /// None of the writes sent only to the fenced old region exists.
    async fn check_fenced_writes(&mut self, cluster: &Cluster) {
        if self.fenced_attempts.is_empty() {
            return;
        }
        let client = cluster.client();
        let listing = tokio::time::timeout(
            Duration::from_millis(WAIT_MS),
            client.range(FENCED_PREFIX, 0, v1::Consistency::Linearizable),
        )
        .await;
        match listing {
            Ok(Ok(response)) => {
                self.facts.push(format!(
                    "fenced old region: {} writes sent to it, {} exist",
                    self.fenced_attempts.len(),
                    response.kvs.len()
                ));
                for kv in response.kvs {
                    self.problems.push(format!(
                        "the write {} sent only to the fenced old region exists",
                        String::from_utf8_lossy(&kv.key)
                    ));
                }
            }
            _ => self.problems.push("could not list the writes sent to the fenced old region".into()),
        }
    }

    /// Consumes the exits nobody asked for; the one of `node_id` was expected (a failpoint),
    /// any other is a problem.
    fn take_exit(&mut self, cluster: &mut Cluster, node_id: u64) -> bool {
        let mut found = false;
        for (exited, status) in cluster.unexpected_exits() {
            if exited == node_id {
                self.timeline.note(format!("node {exited} exited as the failpoint made it: {status}"));
                found = true;
            } else {
                self.problems.push(format!("node {exited} exited without the harness stopping it ({status})"));
            }
        }
        found
    }

    /// Ends an I/O-error or out-of-space failpoint on `node_id` after the fault was held: it must
    /// have fired; the node (which may have exited on it) is killed, disarmed and restarted.
    async fn end_io_failpoint(
        &mut self,
        cluster: &mut Cluster,
        node_id: u64,
        point: &str,
        restarted: &str,
    ) -> Result<(), String> {
        let harness = |error: crate::HarnessError| error.to_string();
        self.hold().await;
        self.expect_fired(cluster, node_id, point)?;
        self.take_exit(cluster, node_id);
        cluster.kill(node_id).map_err(harness)?;
        cluster.arm_failpoints(node_id, "").map_err(harness)?;
        cluster.restart(node_id).map_err(harness)?;
        self.timeline.note(format!("node {node_id} restarted {restarted}"));
        Ok(())
    }

    /// Evidence that the failpoint `point` of `node_id` fired (the node says so in its log).
    fn expect_fired(&self, cluster: &Cluster, node_id: u64, point: &str) -> Result<(), String> {
        if cluster.log_of(node_id).contains(&format!("failpoint {point} fired")) {
            self.timeline.note(format!("failpoint {point} fired on node {node_id}"));
            Ok(())
        } else {
            Err(format!("failpoint {point} never fired on node {node_id}: the fault did not happen"))
        }
    }

    /// Waits, bounded, until a failpoint made `node_id` exit.
    async fn wait_for_exit(&mut self, cluster: &mut Cluster, node_id: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        while Instant::now() < deadline {
            if self.take_exit(cluster, node_id) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("node {node_id} did not hit its failpoint within {WAIT_MS} ms"))
    }

    /// Evidence that a partition took effect: the majority side elected another leader.
    async fn expect_new_leader(&self, cluster: &Cluster, old_leader: u64, majority: &[u64]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        while Instant::now() < deadline {
            for &node_id in majority {
                if let Some(status) = cluster.status_of(node_id).await
                    && status.state() == pharos_client::v1::ServerState::Leader
                {
                    self.timeline.note(format!("majority side elected node {node_id} (term {})", status.term));
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the majority side {majority:?} elected no leader while cut off from node {old_leader}"))
    }

    async fn kill_broker_master(&mut self, cluster: &Cluster) -> Result<(), String> {
        let client = cluster.client();
        let view = client
            .get_broker_group(GROUP, v1::Consistency::Linearizable)
            .await
            .map_err(|error| error.to_string())?
            .group
            .ok_or("no group")?;
        let master = view.master_broker_id.ok_or("no master")?;
        let broker_id_of = |broker: &BrokerProcess| {
            broker.events_of("registered").last().and_then(|event| event["broker_id"].as_u64())
        };
        let process = self.brokers.iter_mut().find(|broker| broker_id_of(broker) == Some(master));
        let process = process.ok_or(format!("no broker process is master {master}"))?;
        process.kill();
        self.timeline
            .note(format!("kill -9 broker {} (id {master}, master of epoch {})", process.name, view.master_epoch));
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            if let Ok(response) = client.get_broker_group(GROUP, v1::Consistency::Linearizable).await
                && let Some(now) = response.group
                && now.master_broker_id.is_some_and(|id| id != master)
                && now.master_epoch > view.master_epoch
            {
                self.timeline.note(format!("new master: {}", workload::summarize_group(&now)));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no new master within {WAIT_MS} ms"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn change_membership(&mut self, cluster: &mut Cluster) -> Result<(), String> {
        let wait = Duration::from_millis(WAIT_MS);
        let client = cluster.client();
        let new_node = self.next_node_id;
        self.next_node_id += 1;
        cluster.add_joining_node(new_node, &format!("zone-{new_node}"), "region-1", &[]).map_err(|e| e.to_string())?;
        self.timeline.note(format!("node {new_node} joins as a learner"));
        let leader = self.leader(cluster).await?;
        let applied = cluster.status_of(leader).await.ok_or("no leader status")?.applied_index;
        cluster.wait_for_applied(new_node, applied, wait).await.map_err(|error| error.to_string())?;
        self.timeline.note(format!("node {new_node} caught up to {applied}"));
        let promoted = client.promote(new_node).await.map_err(|error| format!("promote: {error}"))?;
        self.timeline.note(format!("promoted node {new_node}: voters {:?}", promoted.voters));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let leader = self.leader(cluster).await?;
        let candidates: Vec<u64> =
            Self::followers(cluster, leader).into_iter().filter(|&node_id| node_id != new_node).collect();
        let &removed = self.rng.pick(&candidates).ok_or("no follower to remove")?;
        let response = client.remove(removed).await.map_err(|error| format!("remove {removed}: {error}"))?;
        self.timeline.note(format!("removed node {removed}: voters {:?}", response.voters));
        cluster.kill(removed).map_err(|error| error.to_string())?;
        self.timeline.note(format!("stopped removed node {removed}"));
        Ok(())
    }

    /// One linearizable read per hot key after the load, appended to the history: the final
    /// state must be explained by the acknowledged writes too.
    async fn final_reads(&mut self, cluster: &Cluster) {
        let Some(client) = probe_client(cluster) else { return };
        let keys: BTreeSet<String> = self
            .history
            .iter()
            .map(|operation| operation.key.clone())
            .filter(|key| key.starts_with(workload::REGISTER_PREFIX))
            .collect();
        for key in keys {
            let invoke_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let read = tokio::time::timeout(
                Duration::from_millis(WAIT_MS),
                client.get(key.clone(), v1::Consistency::Linearizable),
            )
            .await;
            let complete_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match read {
                Ok(Ok(response)) => {
                    let value = response.kv.map(|kv| {
                        std::str::from_utf8(&kv.value).ok().and_then(|text| text.parse().ok()).unwrap_or(u64::MAX)
                    });
                    self.history.push(Operation {
                        worker: u32::MAX,
                        key,
                        call: RegisterCall::Read,
                        outcome: RegisterOutcome::ReadOk { value },
                        invoke_us,
                        complete_us,
                    });
                }
                _ => self.problems.push(format!("the final read of {key} failed")),
            }
        }
    }

    /// One linearizable fetch of every offset queue, appended to the history like the register
    /// reads: the final offsets must be explained by the acknowledged commits.
    async fn final_offset_fetch(&mut self, cluster: &Cluster) {
        let Some(client) = probe_client(cluster) else { return };
        let invoke_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let fetch = client.fetch_offsets(
            workload::OFFSET_CONSUMER_GROUP,
            workload::OFFSET_TOPIC,
            v1::Consistency::Linearizable,
        );
        let Ok(Ok(response)) = tokio::time::timeout(Duration::from_millis(WAIT_MS), fetch).await else {
            self.problems.push("the final offset fetch failed".to_string());
            return;
        };
        let complete_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        for queue_id in 0..workload::OFFSET_QUEUES {
            let value = response.offsets.iter().find(|entry| entry.queue_id == queue_id).map(|entry| entry.offset);
            self.history.push(Operation {
                worker: u32::MAX,
                key: workload::offset_key(queue_id),
                call: RegisterCall::Read,
                outcome: RegisterOutcome::ReadOk { value },
                invoke_us,
                complete_us,
            });
        }
    }

    async fn list_unique(&self, cluster: &Cluster) -> Result<BTreeSet<String>, String> {
        let client = cluster.client();
        let response = tokio::time::timeout(
            Duration::from_millis(WAIT_MS),
            client.range(UNIQUE_PREFIX, 0, v1::Consistency::Linearizable),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|error| error.to_string())?;
        if response.more {
            return Err("more unique keys than one listing returns".into());
        }
        Ok(response.kvs.into_iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect())
    }

    fn check_brokers(&mut self, record: &workload::WatchRecord) {
        let mut claims = Vec::new();
        let mut starts = Vec::new();
        for broker in &self.brokers {
            let (broker_claims, broker_starts) = parse_broker_events(&broker.name, &broker.events());
            claims.push(broker_claims);
            starts.extend(broker_starts);
        }
        let masters: BTreeSet<(u64, Option<u64>)> =
            record.observations.iter().map(|seen| (seen.master_epoch, seen.master_broker_id)).collect();
        self.facts.push(format!(
            "brokers: {} lease claims, {} mastership starts; (epoch, master) seen on the group watch {masters:?}",
            claims.iter().map(Vec::len).sum::<usize>(),
            starts.len(),
        ));
        if claims.iter().all(Vec::is_empty) {
            self.problems.push("no broker ever held a lease: the broker check proves nothing".into());
        }
        self.problems.extend(check_masters(&claims, &starts, &record.observations));
    }

    /// Order of everything a watcher saw, and each segment between re-listings against a
    /// replay.
    async fn check_watch_record(&mut self, cluster: &Cluster, watched: &Watched, record: &workload::WatchRecord) {
        self.facts.push(format!(
            "{watched:?} watch: {} events, {} reconnects, {} re-listings after COMPACTED",
            record.events.len(),
            record.reconnects,
            record.resyncs
        ));
        if record.events.iter().filter(|event| !event.resync).count() == 0 {
            self.problems.push(format!("the {watched:?} watch saw no change across a master failover"));
        }
        self.problems.extend(check_order(&record.events));
        let client = cluster.client();
        for segment in segments(&record.events) {
            let (Some(first), Some(last)) = (segment.first(), segment.iter().map(|event| event.revision).max()) else {
                continue;
            };
            if segment.len() < 2 {
                continue;
            }
            let wait = Duration::from_millis(WAIT_MS);
            match workload::replay(&client, watched, first.revision, last, wait).await {
                Ok(reference) => self.problems.extend(check_watch(segment, &reference)),
                Err(error) if error == "COMPACTED" => self.facts.push(format!(
                    "{watched:?} watch segment {}..={last} not replayable any more (compacted on the answering \
                     node); only its order was checked",
                    first.revision
                )),
                Err(error) => self.problems.push(format!("could not replay the {watched:?} watch: {error}")),
            }
        }
    }

    /// Every running node reaches the same applied index with the same state digest.
    async fn check_replicas(&mut self, cluster: &Cluster) {
        for broker in &mut self.brokers {
            broker.kill();
        }
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            let mut statuses = Vec::new();
            for node_id in Self::running(cluster) {
                if let Some(status) = cluster.status_of(node_id).await {
                    statuses.push((node_id, status.applied_index, status.state_digest));
                }
            }
            let complete = statuses.len() == Self::running(cluster).len();
            let same_index = statuses.windows(2).all(|pair| pair[0].1 == pair[1].1);
            if complete && same_index {
                if statuses.windows(2).all(|pair| pair[0].2 == pair[1].2) {
                    self.facts.push(format!(
                        "replicas {:?} identical at applied index {}",
                        statuses.iter().map(|status| status.0).collect::<Vec<_>>(),
                        statuses.first().map_or(0, |status| status.1)
                    ));
                    return;
                }
                self.problems.push(format!("replicas differ at the same applied index: {statuses:?}"));
                return;
            }
            last = statuses;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.problems.push(format!("replicas did not converge within {WAIT_MS} ms: {last:?}"));
    }
}

/// What a fault takes from the run's generator when it is injected.
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

/// Everything a run of a scenario takes from its seed, on a healthy cluster: which faults, the
/// workload's seed, and each fault's draws. The bug a regression scenario pins is reproduced only
/// while this stays the same for its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scenario: &'static str,
    pub seed: u64,
    pub faults: Vec<Fault>,
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

/// The plan of `scenario` with `seed`, without a cluster: the draws `run` makes, assuming every
/// node is up when a fault is injected (the candidates then are all running nodes but the leader).
pub fn plan(scenario: &Scenario, seed: u64) -> Plan {
    let mut faults = scenario.faults.clone();
    let mut rng = SplitMix64::new(seed);
    if faults.is_empty() {
        let count = 2 + rng.below(3);
        for _ in 0..count {
            if let Some(&fault) = rng.pick(&Fault::COMBINABLE) {
                faults.push(fault);
            }
        }
        if scenario.brokers {
            let position = rng.below(faults.len() as u64 + 1) as usize;
            faults.insert(position, Fault::KillBrokerMaster);
        }
    }
    let regions = faults.iter().any(|fault| fault.needs_regions());
    let learners_at_start = if regions { DR_LEARNERS } else { 0 };
    let mut running = (scenario.voters + learners_at_start) as usize;
    let mut learners = learners_at_start as usize;
    let workload_seed = rng.next_u64();
    let pick = |rng: &mut SplitMix64, candidates: usize| {
        let index = rng.below(candidates as u64) as usize;
        (index < candidates).then_some(index)
    };
    let mut draws = Vec::new();
    for &fault in &faults {
        let mut draw = Draw::default();
        match fault {
            Fault::KillFollower
            | Fault::MinorityPartition
            | Fault::PartialPartition
            | Fault::KillFollowerPastSnapshot => draw.victim = pick(&mut rng, running - 1),
            Fault::SlowLinksKillLeader => {
                for _ in 0..running * (running - 1) {
                    draw.link_delays_ms.push(20 + rng.below(100));
                }
            }
            Fault::CrashLeaderAt(_) | Fault::FsyncErrorOnLeader => draw.failpoint_skip = Some(20 + rng.below(80)),
            Fault::DiskFullOnFollower => {
                draw.victim = pick(&mut rng, running - 1);
                if draw.victim.is_some() {
                    draw.failpoint_skip = Some(20 + rng.below(80));
                }
            }
            Fault::KillLearner => draw.victim = pick(&mut rng, learners),
            Fault::AddDrLearner => {
                running += 1;
                learners += 1;
            }
            Fault::MembershipChange => {
                // The new node joins; the old follower removed is one of the others.
                draw.victim = pick(&mut rng, running - 1);
            }
            Fault::KillLeader
            | Fault::PauseLeader
            | Fault::RestartAll
            | Fault::IsolateLeader
            | Fault::OneWayIntoLeader
            | Fault::CrashVotersAt(_)
            | Fault::LossyLinks
            | Fault::KillBrokerMaster
            | Fault::DrCutRegion
            | Fault::DrLosePrimary
            | Fault::DrFailback => {}
        }
        draws.push(draw);
    }
    Plan { scenario: scenario.name, seed, faults, workload_seed, draws }
}
