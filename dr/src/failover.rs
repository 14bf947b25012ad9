//! Unplanned region failover as a pure planner (docs/architecture.md, "Regions and disaster recovery").
//!
//! When the primary region is gone, the surviving nodes of the target region re-form the cluster
//! from their own state: the one holding the longest log (by last log id) becomes the seed of a
//! new generation, the others re-join it. The plan says what may have been lost: entries the old
//! leader had committed beyond the seed's log, and whether the last DR state the survivors knew
//! (`dr-sync`/`sync`) promised RPO = 0.

use std::collections::BTreeMap;

use pharos_meta::{AbandonedMember, DrRecord, FailoverRecord, ReplicationMode, SyncState};

/// What one surviving node reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survivor {
    pub node_id: u64,
    pub generation: u64,
    /// `(term, index)` of its last log entry.
    pub last_log: (u64, u64),
    /// Highest commit index it heard of from the old leader.
    pub known_commit_index: u64,
    /// The DR record it last applied.
    pub dr: DrRecord,
    /// Milliseconds since a leader last reached it (`None`: never since it started).
    pub millis_since_leader_contact: Option<u64>,
    /// The newest `dr_state_id` a leader announced to it (0: none).
    pub announced_dr_state_id: u64,
    /// How much longer the leader's promise not to leave that state's `sync` holds, by the
    /// survivor's clock (0: none).
    pub sync_promise_remaining_ms: u64,
}

/// How much the clocks of two nodes may disagree: a leader's promise, stamped by its clock and
/// read by a survivor's, counts only with at least this much of it left.
pub const CLOCK_SKEW_MARGIN_MS: u64 = 500;

/// A member of the old configuration (from the survivors' membership). Those outside the
/// target region become the record's abandoned members.
pub type OldMember = AbandonedMember;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub seed_node_id: u64,
    /// The other survivors: they re-join the seed.
    pub rejoining: Vec<u64>,
    /// What the new generation's first entry records (`at_ms` is stamped when it is proposed).
    pub record: FailoverRecord,
}

/// How one port of an old-region node answered the failover's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A node of this cluster, at this generation or above, answered.
    Answered,
    /// The connection was refused: nothing listens there (the process is not running).
    Refused,
    /// No answer in time, or something else answered: the node may be alive but cut off from
    /// this region, paused, or overloaded, and still serving its clients.
    NoAnswer,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Answered => "answered",
            Reach::Refused => "connection refused",
            Reach::NoAnswer => "no answer",
        }
    }
}

/// What the probe of one old-region node found, on its client and its peer port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionProbe {
    pub node_id: u64,
    pub client: Reach,
    pub peer: Reach,
}

impl RegionProbe {
    /// Both ports refused the connection: the node's process is not running.
    pub fn proven_down(&self) -> bool {
        self.client == Reach::Refused && self.peer == Reach::Refused
    }

    pub fn answered(&self) -> bool {
        self.client == Reach::Answered || self.peer == Reach::Answered
    }

    /// One line for the operator: what each port did.
    pub fn describe(&self) -> String {
        format!("node {}: client port {}, peer port {}", self.node_id, self.client.as_str(), self.peer.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("refusing without --force: an unplanned failover may lose acknowledged writes")]
    NotForced,
    #[error("the primary region still answers (nodes {nodes:?}): use `dr switchover` instead")]
    PrimaryAnswers { nodes: Vec<u64> },
    #[error("no surviving node of region {region} answered")]
    NoSurvivor { region: String },
    #[error("{region} is not a region of this cluster's members")]
    UnknownRegion { region: String },
    #[error(
        "nodes {nodes:?} of region {region} did not answer but are not proven down (a node that is alive \
         but cut off from this region keeps serving its clients, and two generations would take writes): fence \
         them - power them off, or cut them from their clients and peers - then pass --old-region-fenced {region}"
    )]
    NotProvenDown { region: String, nodes: Vec<u64> },
}

/// Plans a failover into `to_region`. `probes` say how each node outside `to_region` answered:
/// any that answered refuses the failover, and any that is not proven down (both ports refused
/// the connection) refuses it unless the operator stated its region fenced (`fenced_region`).
/// An old member without a probe counts as not proven down.
pub fn plan(
    to_region: &str,
    force: bool,
    old_members: &[OldMember],
    probes: &[RegionProbe],
    fenced_region: Option<&str>,
    survivors: &[Survivor],
) -> Result<Plan, Refusal> {
    if !force {
        return Err(Refusal::NotForced);
    }
    if !old_members.iter().any(|member| member.region == to_region) {
        return Err(Refusal::UnknownRegion { region: to_region.to_string() });
    }
    let probe_of = |node_id: u64| probes.iter().find(|probe| probe.node_id == node_id);
    let outside: Vec<&OldMember> = old_members.iter().filter(|member| member.region != to_region).collect();
    let answering: Vec<u64> = outside
        .iter()
        .map(|member| member.node_id)
        .filter(|id| probe_of(*id).is_some_and(|probe| probe.answered()))
        .collect();
    if !answering.is_empty() {
        return Err(Refusal::PrimaryAnswers { nodes: answering });
    }
    let mut not_down: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for member in &outside {
        let down = probe_of(member.node_id).is_some_and(RegionProbe::proven_down);
        if !down && fenced_region != Some(member.region.as_str()) {
            not_down.entry(&member.region).or_default().push(member.node_id);
        }
    }
    if let Some((region, nodes)) = not_down.into_iter().next() {
        return Err(Refusal::NotProvenDown { region: region.to_string(), nodes });
    }
    // Longest log first; the lower node id breaks ties so every planner picks the same seed.
    let seed = survivors
        .iter()
        .max_by_key(|survivor| (survivor.last_log, std::cmp::Reverse(survivor.node_id)))
        .ok_or_else(|| Refusal::NoSurvivor { region: to_region.to_string() })?;
    // The most recent DR state any survivor applied is the best knowledge of the old primary's.
    let dr = survivors.iter().map(|survivor| &survivor.dr).max_by_key(|dr| dr.dr_state_id).unwrap_or(&seed.dr);
    // The most recent contact any survivor had with the old leader (reported, not relied on).
    let leader_silence_ms = survivors.iter().filter_map(|survivor| survivor.millis_since_leader_contact).min();
    // The newest DR state the old leader told any survivor of, and its strongest promise.
    let announced = survivors.iter().map(|survivor| survivor.announced_dr_state_id).max().unwrap_or(0);
    let promise_remaining_ms = survivors
        .iter()
        .filter(|survivor| survivor.announced_dr_state_id == announced)
        .map(|survivor| survivor.sync_promise_remaining_ms)
        .max()
        .unwrap_or(0);
    let generation =
        survivors.iter().map(|survivor| survivor.generation.max(survivor.dr.generation)).max().unwrap_or(1) + 1;
    let from_region = if dr.primary_region.is_empty() {
        old_members
            .iter()
            .find(|member| member.region != to_region)
            .map(|member| member.region.clone())
            .unwrap_or_default()
    } else {
        dr.primary_region.clone()
    };
    let record = FailoverRecord {
        generation,
        at_ms: 0,
        from_region,
        to_region: to_region.to_string(),
        seed_node_id: seed.node_id,
        seed_last_log_index: seed.last_log.1,
        last_known_commit_index: survivors.iter().map(|survivor| survivor.known_commit_index).max().unwrap_or(0),
        last_mode: dr.mode,
        last_state: dr.state,
        last_dr_state_id: dr.dr_state_id,
        // The old leader acknowledges a write the DR region lacks only after committing a switch
        // away from `sync`. It announces every state it applied and promises when the earliest
        // switch could be: if the survivors hold the newest state it announced, that state is
        // `sync`, and the promise still holds, no such write exists. Elapsed time alone proves
        // nothing: a message sent after the switch, or received late, looks just as recent.
        rpo_zero: dr.guarantees_rpo_zero()
            && announced > 0
            && dr.dr_state_id >= announced
            && promise_remaining_ms > CLOCK_SKEW_MARGIN_MS,
        leader_silence_ms,
        last_announced_dr_state_id: announced,
        sync_promise_remaining_ms: promise_remaining_ms,
        abandoned_members: old_members.iter().filter(|member| member.region != to_region).cloned().collect(),
    };
    let rejoining = survivors.iter().map(|survivor| survivor.node_id).filter(|id| *id != seed.node_id).collect();
    Ok(Plan { seed_node_id: seed.node_id, rejoining, record })
}

/// One line per loss the operator must know about.
pub fn loss_report(record: &FailoverRecord) -> Vec<String> {
    let mut lines = Vec::new();
    let missing_committed = record.last_known_commit_index.saturating_sub(record.seed_last_log_index);
    if missing_committed > 0 {
        lines.push(format!(
            "{missing_committed} committed entries ({}..={}) are not on any survivor and are lost",
            record.seed_last_log_index + 1,
            record.last_known_commit_index
        ));
    }
    let silence = record.leader_silence_ms.map_or("never heard from the old leader".to_string(), |silence| {
        format!("last heard from the old leader {silence} ms before the failover")
    });
    let sync = record.last_mode == ReplicationMode::DrSync && record.last_state == SyncState::Sync;
    if record.rpo_zero {
        lines.push(format!(
            "last DR state was dr-sync/sync (state id {}), the newest the old leader announced, and its promise \
             not to leave sync held {} ms more ({silence}): it cannot have acknowledged a write this region lacks, \
             every acknowledged write is here (RPO = 0)",
            record.last_dr_state_id, record.sync_promise_remaining_ms
        ));
    } else if sync && record.last_announced_dr_state_id > record.last_dr_state_id {
        lines.push(format!(
            "last DR state applied here was dr-sync/sync (state id {}), but the old leader had announced state id \
             {} that never arrived: it had left sync, and writes it acknowledged after log index {} may be lost \
             (RPO > 0)",
            record.last_dr_state_id, record.last_announced_dr_state_id, record.seed_last_log_index
        ));
    } else if sync {
        lines.push(format!(
            "last DR state was dr-sync/sync (state id {}) but the old leader's promise not to leave sync had \
             expired ({silence}): it may have switched to async and acknowledged writes after log index {} that \
             may be lost (RPO > 0)",
            record.last_dr_state_id, record.seed_last_log_index
        ));
    } else {
        lines.push(format!(
            "last DR state was {}/{} (state id {}): writes acknowledged by the old primary after log index {} \
             may be lost (RPO > 0)",
            record.last_mode.as_str(),
            record.last_state.as_str(),
            record.last_dr_state_id,
            record.seed_last_log_index
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(node_id: u64, region: &str) -> OldMember {
        OldMember {
            node_id,
            client_addr: format!("127.0.0.1:{node_id}0"),
            peer_addr: format!("127.0.0.1:{node_id}1"),
            zone: format!("z{node_id}"),
            region: region.into(),
        }
    }

    fn members() -> Vec<OldMember> {
        vec![old(1, "r1"), old(2, "r1"), old(3, "r1"), old(4, "r2"), old(5, "r2")]
    }

    fn probe(node_id: u64, client: Reach, peer: Reach) -> RegionProbe {
        RegionProbe { node_id, client, peer }
    }

    /// The old region's three nodes, killed: both ports refuse connections.
    fn down() -> Vec<RegionProbe> {
        (1..=3).map(|id| probe(id, Reach::Refused, Reach::Refused)).collect()
    }

    fn survivor(node_id: u64, last_log: (u64, u64), dr_state_id: u64, state: SyncState) -> Survivor {
        Survivor {
            node_id,
            generation: 1,
            last_log,
            known_commit_index: last_log.1 - 1,
            dr: DrRecord {
                primary_region: "r1".into(),
                dr_region: "r2".into(),
                mode: ReplicationMode::DrSync,
                state,
                dr_state_id,
                dr_sync_timeout_ms: 5_000,
                ..DrRecord::default()
            },
            millis_since_leader_contact: Some(1_000),
            // The leader announced this very state and promised a few more seconds of it.
            announced_dr_state_id: dr_state_id,
            sync_promise_remaining_ms: if state == SyncState::Sync { 3_000 } else { 0 },
        }
    }

    #[test]
    fn the_longest_log_seeds_the_next_generation() {
        let survivors = [survivor(4, (3, 50), 10, SyncState::Sync), survivor(5, (3, 52), 10, SyncState::Sync)];
        let plan = plan("r2", true, &members(), &down(), None, &survivors).expect("plannable");
        assert_eq!((plan.seed_node_id, plan.rejoining.clone()), (5, vec![4]));
        assert_eq!(plan.record.generation, 2);
        assert_eq!((plan.record.from_region.as_str(), plan.record.to_region.as_str()), ("r1", "r2"));
        assert_eq!((plan.record.seed_last_log_index, plan.record.last_known_commit_index), (52, 51));
        assert!(plan.record.rpo_zero);
        assert_eq!(
            plan.record.abandoned_members.iter().map(|member| member.node_id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(loss_report(&plan.record).len(), 1);

        // A higher term beats a longer log; equal logs pick the lower id.
        let survivors = [survivor(4, (4, 40), 10, SyncState::Sync), survivor(5, (3, 52), 10, SyncState::Sync)];
        assert_eq!(super::plan("r2", true, &members(), &down(), None, &survivors).map(|plan| plan.seed_node_id), Ok(4));
        let survivors = [survivor(5, (3, 52), 10, SyncState::Sync), survivor(4, (3, 52), 10, SyncState::Sync)];
        assert_eq!(super::plan("r2", true, &members(), &down(), None, &survivors).map(|plan| plan.seed_node_id), Ok(4));
    }

    #[test]
    fn sync_state_promises_rpo_zero_only_while_the_leaders_promise_holds() {
        let mut survivors = [survivor(4, (3, 50), 10, SyncState::Sync), survivor(5, (3, 52), 10, SyncState::Sync)];
        // Heard from just now, but the promise ran out: the leader may have gone async since.
        for survivor in &mut survivors {
            survivor.millis_since_leader_contact = Some(10);
            survivor.sync_promise_remaining_ms = 0;
        }
        let plan = plan("r2", true, &members(), &down(), None, &survivors).expect("plannable");
        assert_eq!(plan.record.leader_silence_ms, Some(10));
        assert!(!plan.record.rpo_zero, "an expired promise proves nothing, however recent the contact");
        assert!(loss_report(&plan.record)[0].contains("after log index 52 that may be lost"));
        // Less left than the clocks may disagree by: not enough.
        survivors[1].sync_promise_remaining_ms = CLOCK_SKEW_MARGIN_MS;
        assert!(!super::plan("r2", true, &members(), &down(), None, &survivors).expect("plannable").record.rpo_zero);
        // One survivor holding a live promise is enough.
        survivors[1].sync_promise_remaining_ms = CLOCK_SKEW_MARGIN_MS + 1;
        let plan = super::plan("r2", true, &members(), &down(), None, &survivors).expect("plannable");
        assert!(plan.record.rpo_zero);
        assert_eq!(plan.record.sync_promise_remaining_ms, CLOCK_SKEW_MARGIN_MS + 1);
        // Never told anything: no promise.
        for survivor in &mut survivors {
            survivor.announced_dr_state_id = 0;
        }
        assert!(!super::plan("r2", true, &members(), &down(), None, &survivors).expect("plannable").record.rpo_zero);
    }

    /// The failure found under load: the DR learners were paused while the primary went async,
    /// then woke to heartbeats queued while they slept, sent after the switch (recent send
    /// times) but carrying none of the entries. The announced state id gives it away.
    #[test]
    fn a_newer_announced_state_that_never_arrived_means_rpo_is_not_zero() {
        let mut survivors = [survivor(4, (3, 50), 10, SyncState::Sync), survivor(5, (3, 52), 10, SyncState::Sync)];
        survivors[1].announced_dr_state_id = 60;
        survivors[1].sync_promise_remaining_ms = 0;
        survivors[1].millis_since_leader_contact = Some(5);
        let plan = plan("r2", true, &members(), &down(), None, &survivors).expect("plannable");
        assert!(!plan.record.rpo_zero, "survivors applied state 10, the leader had announced 60");
        assert_eq!(plan.record.last_announced_dr_state_id, 60);
        let report = loss_report(&plan.record);
        assert!(report[0].contains("had announced state id 60 that never arrived"), "{}", report[0]);
        // The promise that came with the older state does not outlive the newer one.
        assert_eq!(plan.record.sync_promise_remaining_ms, 0);
    }

    #[test]
    fn async_state_reports_possible_loss_past_the_seed_log() {
        let survivors = [survivor(4, (3, 50), 12, SyncState::Async), survivor(5, (3, 45), 10, SyncState::Sync)];
        let mut plan = plan("r2", true, &members(), &down(), None, &survivors).expect("plannable");
        assert!(!plan.record.rpo_zero, "the newest DR state known (id 12) was async");
        plan.record.last_known_commit_index = 60;
        let report = loss_report(&plan.record);
        assert_eq!(report[0], "10 committed entries (51..=60) are not on any survivor and are lost");
        assert!(report[1].contains("after log index 50 may be lost"), "{}", report[1]);
    }

    #[test]
    fn refuses_without_force_while_the_primary_answers_or_without_survivors() {
        let survivors = [survivor(4, (3, 50), 10, SyncState::Sync)];
        assert_eq!(plan("r2", false, &members(), &down(), None, &survivors), Err(Refusal::NotForced));
        let two_answers = [probe(1, Reach::Refused, Reach::Refused), probe(2, Reach::NoAnswer, Reach::Answered)];
        assert_eq!(
            plan("r2", true, &members(), &two_answers, Some("r1"), &survivors),
            Err(Refusal::PrimaryAnswers { nodes: vec![2] }),
            "an answering node refuses even a stated fence"
        );
        assert_eq!(plan("r2", true, &members(), &down(), None, &[]), Err(Refusal::NoSurvivor { region: "r2".into() }));
        assert_eq!(
            plan("r9", true, &members(), &down(), None, &survivors),
            Err(Refusal::UnknownRegion { region: "r9".into() })
        );
    }

    #[test]
    fn an_old_region_not_proven_down_needs_the_operator_to_state_it_fenced() {
        let survivors = [survivor(4, (2, 50), 7, SyncState::Sync), survivor(5, (2, 48), 7, SyncState::Sync)];
        // The reproduction of issue 10: the primary is alive but cut off (no answer on either
        // port), or only its client port is filtered.
        let cut_off = [
            probe(1, Reach::NoAnswer, Reach::NoAnswer),
            probe(2, Reach::Refused, Reach::NoAnswer),
            probe(3, Reach::Refused, Reach::Refused),
        ];
        assert_eq!(
            plan("r2", true, &members(), &cut_off, None, &survivors),
            Err(Refusal::NotProvenDown { region: "r1".into(), nodes: vec![1, 2] })
        );
        assert_eq!(
            plan("r2", true, &members(), &cut_off, Some("r9"), &survivors),
            Err(Refusal::NotProvenDown { region: "r1".into(), nodes: vec![1, 2] }),
            "the statement must name the old region"
        );
        assert_eq!(plan("r2", true, &members(), &cut_off, Some("r1"), &survivors).map(|plan| plan.seed_node_id), Ok(4));
        // A member that was never probed is not proven down.
        assert_eq!(
            plan("r2", true, &members(), &cut_off[2..], None, &survivors),
            Err(Refusal::NotProvenDown { region: "r1".into(), nodes: vec![1, 2] })
        );
        assert_eq!(
            probe(2, Reach::Refused, Reach::NoAnswer).describe(),
            "node 2: client port connection refused, peer port no answer"
        );
    }
}
