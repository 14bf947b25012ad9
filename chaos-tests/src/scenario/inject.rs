//! How each fault is injected into a running cluster, held and healed, with the evidence that
//! it happened (a new leader elected, a failpoint fired, a connection reset). What a fault draws
//! from the seed is decided by `Fault::draw` (`fault.rs`), called here where the candidates are
//! known, so that `plan` can make the same draws without a cluster.

use std::time::{Duration, Instant};

use pharos_client::v1;

use super::fault::Fault;
use super::probe::{patient_client, put_until_acknowledged, quick_client, voters_of, wait_for_dr};
use super::runner::{GROUP, RunState, WAIT_MS};
use crate::workload;
use crate::{BrokerProcess, Cluster};

/// How long a fault is held before it heals, unless the fault says otherwise.
const FAULT_HOLD_MS: u64 = 4_000;
/// `dr_sync_timeout_ms` of the DR scenarios.
const DR_SYNC_TIMEOUT_MS: u64 = 2_000;
/// Allowed beyond `DR_SYNC_TIMEOUT_MS` for the state to reach `async` once the DR region is cut:
/// one 100 ms planning pass, one commit, and a loaded 2-core machine.
const DR_ASYNC_SLACK_MS: u64 = 3_000;
/// How long, after the old primary region restarts, every write sent only to it must fail.
const FENCED_WATCH_MS: u64 = 4_000;
/// How long every node stays without power in `PowerCutAll` (the cluster has no quorum).
const POWER_OFF_ALL_MS: u64 = 1_000;
/// How long a power cut waits for each victim to have a sync in flight (held) before it cuts
/// anyway: under load a node syncs every few milliseconds.
const SYNC_IN_FLIGHT_WAIT_MS: u64 = 5_000;
/// Log lines quoted when a node refuses to start after a power cut.
const LOG_TAIL_LINES: usize = 15;
/// Keys written only to the fenced old region: none may ever exist.
pub(super) const FENCED_PREFIX: &str = "chaos/fenced/";

impl RunState {
    async fn hold(&self) {
        tokio::time::sleep(Duration::from_millis(FAULT_HOLD_MS)).await;
    }

    /// Injects one fault, holds it, heals it.
    pub(super) async fn inject(&mut self, cluster: &mut Cluster, fault: Fault) -> Result<(), String> {
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
                let draw = fault.draw(&mut self.rng, followers.len());
                let victim = draw.victim_of(&followers).ok_or("no follower to kill")?;
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
            Fault::PowerCutLeader => {
                let leader = self.leader(cluster).await?;
                self.cut_power(cluster, fault, &[leader], "leader").await?;
                self.hold().await;
                self.restart_after_power_cut(cluster, &[leader]).await?;
            }
            Fault::PowerCutFollower => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let draw = fault.draw(&mut self.rng, followers.len());
                let victim = draw.victim_of(&followers).ok_or("no follower")?;
                self.cut_power(cluster, fault, &[victim], "follower").await?;
                self.hold().await;
                self.restart_after_power_cut(cluster, &[victim]).await?;
            }
            Fault::PowerCutAll => {
                let nodes = Self::running(cluster);
                let dropped_write_bytes = self.cut_power(cluster, fault, &nodes, "all").await?;
                tokio::time::sleep(Duration::from_millis(POWER_OFF_ALL_MS)).await;
                self.restart_after_power_cut(cluster, &nodes).await?;
                // Judged after the restart, so that the run still checks what survived.
                if dropped_write_bytes == 0 {
                    return Err("the cut dropped no unsynced byte on any node: it tested nothing".into());
                }
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
                let draw = fault.draw(&mut self.rng, majority.len());
                let index = draw.victim.ok_or("no follower")?;
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
                let draw = fault.draw(&mut self.rng, followers.len());
                let follower = draw.victim_of(&followers).ok_or("no follower")?;
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
                let draw = fault.draw(&mut self.rng, nodes.len());
                let links = nodes
                    .iter()
                    .flat_map(|&from| nodes.iter().filter(move |&&to| to != from).map(move |&to| (from, to)));
                let delays: Vec<(u64, u64, u64)> =
                    links.zip(draw.link_delays_ms).map(|((from, to), delay_ms)| (from, to, delay_ms)).collect();
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
                let skip = fault.draw(&mut self.rng, 0).failpoint_skip.expect("a failpoint fault draws its hit");
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
                let skip = fault.draw(&mut self.rng, 0).failpoint_skip.expect("a failpoint fault draws its hit");
                cluster.arm_failpoints(leader, &format!("append.before_fsync=error@{skip}")).map_err(harness)?;
                self.timeline.note(format!("armed append.before_fsync=error@{skip} on node {leader} (leader)"));
                self.expect_new_leader(cluster, leader, &others).await?;
                self.end_io_failpoint(cluster, leader, "append.before_fsync", "with a working disk").await?;
            }
            Fault::DiskFullOnFollower => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let draw = fault.draw(&mut self.rng, followers.len());
                let victim = draw.victim_of(&followers).ok_or("no follower")?;
                let skip = draw.failpoint_skip.expect("a failpoint fault with a victim draws its hit");
                cluster.arm_failpoints(victim, &format!("append.before_write=nospace@{skip}")).map_err(harness)?;
                self.timeline.note(format!("armed append.before_write=nospace@{skip} on node {victim} (follower)"));
                self.end_io_failpoint(cluster, victim, "append.before_write", "with space again").await?;
            }
            Fault::KillFollowerPastSnapshot => {
                let leader = self.leader(cluster).await?;
                let followers = Self::followers(cluster, leader);
                let draw = fault.draw(&mut self.rng, followers.len());
                let victim = draw.victim_of(&followers).ok_or("no follower to kill")?;
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
                let draw = fault.draw(&mut self.rng, learners.len());
                let learner = draw.victim_of(&learners).ok_or("no running learner to kill")?;
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
    pub(super) async fn enter_dr_sync(&mut self, cluster: &Cluster) -> Result<(), String> {
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

    /// Holds the syncs of `nodes` until each has one in flight (bounded), then kills -9 every
    /// one of them first and cuts their power after (so none syncs after another's cut), and
    /// records what each cut dropped. Returns the unsynced bytes dropped in all.
    async fn cut_power(
        &mut self,
        cluster: &mut Cluster,
        fault: Fault,
        nodes: &[u64],
        role: &str,
    ) -> Result<u64, String> {
        let harness = |error: crate::HarnessError| error.to_string();
        for &node_id in nodes {
            cluster.power_cut_mount(node_id).map_err(harness)?.hold_syncs();
        }
        let deadline = Instant::now() + Duration::from_millis(SYNC_IN_FLIGHT_WAIT_MS);
        loop {
            let mut held = Vec::new();
            for &node_id in nodes {
                held.push((node_id, cluster.power_cut_mount(node_id).map_err(harness)?.held_syncs()));
            }
            if held.iter().all(|&(_, count)| count > 0) || Instant::now() >= deadline {
                self.timeline.note(format!("syncs held in flight (node, syncs): {held:?}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reports = cluster.cut_power(nodes).map_err(harness)?;
        let mut dropped_write_bytes = 0;
        for (&node_id, report) in nodes.iter().zip(reports) {
            dropped_write_bytes += report.dropped_write_bytes;
            let line = format!(
                "{fault:?}: power cut on node {node_id} ({role}) during {} syncs dropped {} unsynced bytes in {} writes \
                 to {} files; {} paths rolled back {:?}",
                report.syncs_interrupted,
                report.dropped_write_bytes,
                report.dropped_writes,
                report.files_with_unsynced_writes,
                report.paths_rolled_back,
                report.paths_rolled_back_sample
            );
            self.timeline.note(line.clone());
            self.facts.push(line);
        }
        Ok(dropped_write_bytes)
    }

    /// Restarts nodes whose power was cut and demands that each comes up and catches up with
    /// the leader's applied index (as it was once a leader answered): a node that refuses to
    /// start on what it had synced, or that answers and then stops, is a durability bug.
    async fn restart_after_power_cut(&mut self, cluster: &mut Cluster, nodes: &[u64]) -> Result<(), String> {
        for &node_id in nodes {
            cluster.restart(node_id).map_err(|error| error.to_string())?;
        }
        self.timeline.note(format!("restarted nodes {nodes:?} after the power cut"));
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        let mut target_applied_index = None;
        let mut waiting: Vec<u64> = nodes.to_vec();
        while !waiting.is_empty() {
            if let Some((node_id, status)) = cluster.unexpected_exits().into_iter().next() {
                let log = cluster.log_of(node_id);
                let tail: Vec<&str> = log.lines().rev().take(LOG_TAIL_LINES).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "node {node_id} refused to start after the power cut ({status}); last log lines:\n{}",
                    tail.join("\n")
                ));
            }
            if target_applied_index.is_none()
                && let Ok(leader) = cluster.wait_for_leader(Duration::from_millis(100)).await
            {
                target_applied_index = cluster.status_of(leader).await.map(|status| status.applied_index);
            }
            if let Some(target) = target_applied_index {
                let mut behind = Vec::new();
                for &node_id in &waiting {
                    if cluster.status_of(node_id).await.is_none_or(|status| status.applied_index < target) {
                        behind.push(node_id);
                    }
                }
                waiting = behind;
            }
            if Instant::now() >= deadline && !waiting.is_empty() {
                return Err(format!(
                    "nodes {waiting:?} did not catch up to applied index {target_applied_index:?} within {WAIT_MS} ms \
                     of restarting after the cut"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.timeline.note(format!(
            "nodes {nodes:?} caught up to applied index {} after the power cut",
            target_applied_index.unwrap_or(0)
        ));
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
        let draw = Fault::MembershipChange.draw(&mut self.rng, candidates.len());
        let removed = draw.victim_of(&candidates).ok_or("no follower to remove")?;
        let response = client.remove(removed).await.map_err(|error| format!("remove {removed}: {error}"))?;
        self.timeline.note(format!("removed node {removed}: voters {:?}", response.voters));
        cluster.kill(removed).map_err(|error| error.to_string())?;
        self.timeline.note(format!("stopped removed node {removed}"));
        Ok(())
    }
}
