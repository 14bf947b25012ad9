//! The runner: one scenario with one seed against real processes, from starting the cluster to
//! the report. Faults are injected by `inject.rs`, the history and replicas checked by
//! `checks.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pharos_client::v1;

use super::Scenario;
use super::fault::Fault;
use super::probe::write_until_acknowledged;
use super::report::{Report, Timeline};
use crate::checker::linearizable;
use crate::checker::raft::check_election_safety;
use crate::checker::writes::check_acknowledged_writes;
use crate::history::{Operation, RegisterOutcome};
use crate::rng::SplitMix64;
use crate::workload::{self, RegisterWorkload, Watched};
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
pub(super) const WAIT_MS: u64 = 30_000;
/// A whole scenario run, cluster start to checks, is abandoned after this long.
const RUN_TIMEOUT_MS: u64 = 240_000;
/// How often every node's role and term are sampled.
const ROLE_POLL_INTERVAL_MS: u64 = 100;
/// Learners in region-2 of the DR scenarios (nodes `voters + 1 ..`).
pub(super) const DR_LEARNERS: u64 = 2;
/// The broker group of broker scenarios.
pub(super) const GROUP: &str = "chaos-group";
/// A topic on that group, whose route follows its master.
pub(super) const ROUTE_TOPIC: &str = "chaos-routed";

/// Where the failpoints build of `pharos` lives: `pharos-failpoints` next to `pharos`.
pub fn failpoints_binary(pharos: &std::path::Path) -> PathBuf {
    pharos.with_file_name("pharos-failpoints")
}

/// Runs one scenario with `seed`. Never panics on a cluster misbehaving: that is a problem in
/// the report.
pub async fn run(scenario: &Scenario, seed: u64, options: ClusterOptions) -> Report {
    let started = Instant::now();
    let timeline = Timeline::new(started);
    // The run's only generator: the faults (when drawn), the workload's seed, then each fault's
    // draws, in this order (`plan` makes the same draws without a cluster).
    let mut rng = SplitMix64::new(seed);
    let faults = scenario.faults(&mut rng);
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
        power_cut: options.power_cut || faults.iter().any(|fault| fault.needs_power_cut()),
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
        scenario: *scenario,
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

pub(super) struct RunState {
    pub(super) scenario: Scenario,
    pub(super) faults: Vec<Fault>,
    pub(super) rng: SplitMix64,
    pub(super) timeline: Timeline,
    pub(super) problems: Vec<String>,
    pub(super) facts: Vec<String>,
    pub(super) brokers: Vec<BrokerProcess>,
    pub(super) history: Vec<Operation>,
    pub(super) next_node_id: u64,
    /// Keys of writes sent only to the fenced old primary region (`DrLosePrimary`).
    pub(super) fenced_attempts: Vec<String>,
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
        for node in &cluster.nodes {
            if let Some(stats) = cluster.power_cut_stats(node.node_id) {
                self.facts.push(format!(
                    "node {}'s power-cut disk: {} bytes in {} writes, {} file syncs, {} directory syncs, {} cuts",
                    node.node_id, stats.write_bytes, stats.writes, stats.file_syncs, stats.directory_syncs, stats.cuts
                ));
            }
        }
    }

    /// A node that exits by itself is a crash (§7.7: never a panic), or something else on the
    /// machine signalled it; either way the run cannot pass.
    pub(super) fn note_exits(&mut self, cluster: &mut Cluster) {
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

    pub(super) async fn leader(&self, cluster: &Cluster) -> Result<u64, String> {
        cluster.wait_for_leader(Duration::from_millis(WAIT_MS)).await.map_err(|error| error.to_string())
    }

    /// Running voters other than `leader`.
    pub(super) fn followers(cluster: &Cluster, leader: u64) -> Vec<u64> {
        cluster
            .nodes
            .iter()
            .filter(|node| node.is_running() && node.node_id != leader)
            .map(|node| node.node_id)
            .collect()
    }

    pub(super) fn running(cluster: &Cluster) -> Vec<u64> {
        cluster.nodes.iter().filter(|node| node.is_running()).map(|node| node.node_id).collect()
    }
}
