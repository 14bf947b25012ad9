//! Planned region switchover as a pure reconciler step (docs/architecture.md, "Regions and disaster recovery").
//!
//! The intent is the committed [`DrOperation`]; the leader's runtime observes the membership,
//! the leader and the broker masters, calls [`next_action`], performs the action, and calls
//! again. Every action is idempotent against the observation, so a new leader that finds the
//! operation half done simply continues: it never restarts or forks it.

use pharos_meta::{DrOperation, SwitchoverStep};

/// How long the move-masters step waits for a group's broker in the target region to be in
/// sync before it leaves that group's master where it is.
pub const MOVE_MASTERS_WAIT_MS: u64 = 30_000;

/// A target-region learner is promoted only once it trails the leader by at most this many
/// entries, so the joint configuration does not wait on a slow new voter.
pub const PROMOTE_LAG_ENTRIES_MAX: u64 = 1_000;

/// One member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node_id: u64,
    pub region: String,
    pub voter: bool,
    /// Last log index the leader knows it holds.
    pub matched_index: u64,
}

/// Where a broker group's master is, and who could take over in the target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlacement {
    pub group: String,
    /// Region of the current master (`None`: no master).
    pub master_region: Option<String>,
    /// Best active broker of the group in the target region that is in the sync state set.
    pub target_candidate: Option<u64>,
    /// Active brokers of the group in the target region, in sync or not.
    pub target_brokers: usize,
    /// A move of this group is already under way (its master is fenced and waiting out its
    /// lease).
    pub moving: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub leader_id: u64,
    pub last_log_index: u64,
    /// The membership is a joint configuration (a change is half done).
    pub joint: bool,
    pub members: Vec<Member>,
    pub groups: Vec<GroupPlacement>,
    /// How long the operation has been at its current step, in milliseconds.
    pub step_age_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add these learners as voters (joint consensus).
    Promote(Vec<u64>),
    /// Hand Raft leadership to this voter.
    TransferLeader(u64),
    /// Make exactly these nodes the voters; the others stay as learners.
    SetVoters(Vec<u64>),
    /// The membership is a joint configuration left by a leader that died mid-change: move to
    /// its newer half, so the operation can go on.
    LeaveJoint,
    /// Record that the operation reached this step.
    Advance(SwitchoverStep),
    /// Move the master of `group` to `to` (epoch + 1).
    MoveMaster { group: String, to: u64 },
    /// Nothing to do until the observation changes.
    Wait(String),
    /// Done: record it.
    Finish,
    /// Cannot complete: record why (the cluster keeps its current, consistent placement).
    Abort(String),
}

fn target_members<'a>(operation: &'a DrOperation, observed: &'a Observation) -> impl Iterator<Item = &'a Member> {
    observed.members.iter().filter(move |member| member.region == operation.to_region)
}

/// The next thing to do for `operation`.
pub fn next_action(operation: &DrOperation, observed: &Observation) -> Action {
    let targets: Vec<&Member> = target_members(operation, observed).collect();
    if targets.is_empty() {
        return Action::Abort(format!("no member is in region {}", operation.to_region));
    }
    let leader_region = observed.members.iter().find(|member| member.node_id == observed.leader_id).map(|m| &m.region);
    let leader_in_target = leader_region == Some(&operation.to_region);
    match operation.step {
        SwitchoverStep::PromoteLearners => {
            if observed.joint {
                return Action::LeaveJoint;
            }
            let learners: Vec<&&Member> = targets.iter().filter(|member| !member.voter).collect();
            if learners.is_empty() {
                return Action::Advance(SwitchoverStep::TransferLeader);
            }
            if let Some(lagging) = learners
                .iter()
                .find(|member| member.matched_index.saturating_add(PROMOTE_LAG_ENTRIES_MAX) < observed.last_log_index)
            {
                return Action::Wait(format!(
                    "node {} is {} entries behind",
                    lagging.node_id,
                    observed.last_log_index - lagging.matched_index
                ));
            }
            Action::Promote(learners.iter().map(|member| member.node_id).collect())
        }
        SwitchoverStep::TransferLeader | SwitchoverStep::DemoteVoters if !leader_in_target => {
            if observed.joint {
                return Action::LeaveJoint;
            }
            let best = targets
                .iter()
                .filter(|member| member.voter)
                .max_by_key(|member| (member.matched_index, u64::MAX - member.node_id));
            match best {
                Some(member) => Action::TransferLeader(member.node_id),
                None => Action::Abort(format!("no voter in region {} to lead", operation.to_region)),
            }
        }
        SwitchoverStep::TransferLeader => Action::Advance(SwitchoverStep::DemoteVoters),
        SwitchoverStep::DemoteVoters => {
            if observed.joint {
                return Action::LeaveJoint;
            }
            let others_vote =
                observed.members.iter().any(|member| member.voter && member.region != operation.to_region);
            if others_vote {
                Action::SetVoters(targets.iter().map(|member| member.node_id).collect())
            } else {
                Action::Advance(SwitchoverStep::MoveMasters)
            }
        }
        SwitchoverStep::MoveMasters => {
            let mut waiting = Vec::new();
            for group in &observed.groups {
                if group.master_region.as_deref() == Some(operation.to_region.as_str()) {
                    continue;
                }
                match (group.moving, group.target_candidate) {
                    (true, _) => waiting.push(group.group.clone()),
                    (false, Some(to)) => return Action::MoveMaster { group: group.group.clone(), to },
                    // A broker there is catching up: wait for it to join the sync set, bounded.
                    (false, None) if group.target_brokers > 0 && observed.step_age_ms < MOVE_MASTERS_WAIT_MS => {
                        waiting.push(format!("{} (no in-sync broker in {} yet)", group.group, operation.to_region));
                    }
                    // No broker of the group in the target region: nothing to move it to.
                    (false, None) => {}
                }
            }
            if waiting.is_empty() {
                Action::Finish
            } else {
                Action::Wait(format!("masters moving: {}", waiting.join(", ")))
            }
        }
    }
}

/// The steps a switchover would take from `observed`, for `--dry-run` and the precheck: the
/// target region's members, who would lead, who would be demoted, which masters would move.
/// Refuses what cannot work.
pub fn plan(from_region: &str, to_region: &str, observed: &Observation) -> Result<Vec<String>, String> {
    if from_region == to_region {
        return Err(format!("{to_region} is already the primary region"));
    }
    let targets: Vec<&Member> = observed.members.iter().filter(|member| member.region == to_region).collect();
    if targets.is_empty() {
        return Err(format!("no member is in region {to_region}"));
    }
    if observed.joint {
        return Err("a membership change is in progress; retry when it is done".into());
    }
    let ids =
        |members: &[&Member]| members.iter().map(|member| member.node_id.to_string()).collect::<Vec<_>>().join(",");
    let learners: Vec<&Member> = targets.iter().copied().filter(|member| !member.voter).collect();
    let voters_elsewhere: Vec<&Member> =
        observed.members.iter().filter(|member| member.voter && member.region != to_region).collect();
    let lagging: Vec<String> = targets
        .iter()
        .filter(|member| member.matched_index.saturating_add(PROMOTE_LAG_ENTRIES_MAX) < observed.last_log_index)
        .map(|member| {
            format!("node {} ({} entries behind)", member.node_id, observed.last_log_index - member.matched_index)
        })
        .collect();
    if !lagging.is_empty() {
        return Err(format!("target region lags: {}", lagging.join(", ")));
    }
    let moving: Vec<String> = observed
        .groups
        .iter()
        .filter(|group| group.master_region.as_deref() != Some(to_region) && group.target_candidate.is_some())
        .map(|group| group.group.clone())
        .collect();
    let stranded: Vec<String> = observed
        .groups
        .iter()
        .filter(|group| group.master_region.as_deref() != Some(to_region) && group.target_candidate.is_none())
        .map(|group| group.group.clone())
        .collect();
    let mut steps = vec![format!("precheck: {} member(s) in {to_region}, none lagging", targets.len())];
    steps.push(if learners.is_empty() {
        format!("{}: nothing to promote", SwitchoverStep::PromoteLearners.as_str())
    } else {
        format!(
            "{}: nodes {} become voters (joint consensus)",
            SwitchoverStep::PromoteLearners.as_str(),
            ids(&learners)
        )
    });
    steps.push(format!("{}: leadership moves into {to_region}", SwitchoverStep::TransferLeader.as_str()));
    steps.push(format!(
        "{}: nodes {} become learners; primary region = {to_region}, DR region = {from_region}",
        SwitchoverStep::DemoteVoters.as_str(),
        if voters_elsewhere.is_empty() { "(none)".to_string() } else { ids(&voters_elsewhere) }
    ));
    steps.push(format!(
        "{}: masters of {} move into {to_region} (epoch + 1){}",
        SwitchoverStep::MoveMasters.as_str(),
        if moving.is_empty() { "no group".to_string() } else { moving.join(", ") },
        if stranded.is_empty() {
            String::new()
        } else {
            format!("; groups without a broker in {to_region} keep their master: {}", stranded.join(", "))
        }
    ));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node_id: u64, region: &str, voter: bool, matched_index: u64) -> Member {
        Member { node_id, region: region.into(), voter, matched_index }
    }

    fn operation(step: SwitchoverStep) -> DrOperation {
        DrOperation { id: 7, from_region: "r1".into(), to_region: "r2".into(), step, started_at_ms: 0, step_at_ms: 0 }
    }

    fn observed(leader_id: u64, members: Vec<Member>) -> Observation {
        Observation { leader_id, last_log_index: 2_000, joint: false, members, groups: Vec::new(), step_age_ms: 0 }
    }

    fn before() -> Vec<Member> {
        vec![
            member(1, "r1", true, 2_000),
            member(2, "r1", true, 2_000),
            member(3, "r1", true, 1_999),
            member(4, "r2", false, 1_998),
            member(5, "r2", false, 2_000),
        ]
    }

    #[test]
    fn promotes_caught_up_target_learners_then_moves_on() {
        assert_eq!(
            next_action(&operation(SwitchoverStep::PromoteLearners), &observed(1, before())),
            Action::Promote(vec![4, 5])
        );
        let mut lagging = before();
        lagging[3].matched_index = 10;
        assert!(matches!(
            next_action(&operation(SwitchoverStep::PromoteLearners), &observed(1, lagging)),
            Action::Wait(_)
        ));
        let mut promoted = before();
        promoted[3].voter = true;
        promoted[4].voter = true;
        assert_eq!(
            next_action(&operation(SwitchoverStep::PromoteLearners), &observed(1, promoted.clone())),
            Action::Advance(SwitchoverStep::TransferLeader)
        );
        // A joint configuration (its leader died mid-promotion) is finished first.
        let joint = Observation { joint: true, ..observed(1, before()) };
        assert_eq!(next_action(&operation(SwitchoverStep::PromoteLearners), &joint), Action::LeaveJoint);
        assert_eq!(
            next_action(&operation(SwitchoverStep::DemoteVoters), &Observation { leader_id: 5, ..joint }),
            Action::LeaveJoint
        );

        // Transfer to the most caught-up target voter; once it leads, demote.
        assert_eq!(
            next_action(&operation(SwitchoverStep::TransferLeader), &observed(1, promoted.clone())),
            Action::TransferLeader(5)
        );
        assert_eq!(
            next_action(&operation(SwitchoverStep::TransferLeader), &observed(5, promoted.clone())),
            Action::Advance(SwitchoverStep::DemoteVoters)
        );
        assert_eq!(
            next_action(&operation(SwitchoverStep::DemoteVoters), &observed(5, promoted.clone())),
            Action::SetVoters(vec![4, 5])
        );
        // A resumed leader outside the target region first hands leadership back in.
        assert_eq!(
            next_action(&operation(SwitchoverStep::DemoteVoters), &observed(2, promoted.clone())),
            Action::TransferLeader(5)
        );
        let mut demoted = promoted;
        for member in demoted.iter_mut().take(3) {
            member.voter = false;
        }
        assert_eq!(
            next_action(&operation(SwitchoverStep::DemoteVoters), &observed(4, demoted)),
            Action::Advance(SwitchoverStep::MoveMasters)
        );
    }

    #[test]
    fn moves_masters_one_group_at_a_time_and_finishes() {
        let mut seen = observed(4, before());
        seen.groups = vec![
            GroupPlacement {
                group: "a".into(),
                master_region: Some("r2".into()),
                target_candidate: Some(11),
                target_brokers: 1,
                moving: false,
            },
            GroupPlacement {
                group: "b".into(),
                master_region: Some("r1".into()),
                target_candidate: Some(12),
                target_brokers: 1,
                moving: false,
            },
            GroupPlacement {
                group: "c".into(),
                master_region: Some("r1".into()),
                target_candidate: None,
                target_brokers: 0,
                moving: false,
            },
        ];
        let step = operation(SwitchoverStep::MoveMasters);
        assert_eq!(next_action(&step, &seen), Action::MoveMaster { group: "b".into(), to: 12 });
        seen.groups[1].moving = true;
        assert!(matches!(next_action(&step, &seen), Action::Wait(_)));
        seen.groups[1] = GroupPlacement { master_region: Some("r2".into()), moving: false, ..seen.groups[1].clone() };
        assert_eq!(next_action(&step, &seen), Action::Finish);
        // A broker in the target region that is not in sync yet is waited for, but not forever.
        seen.groups[2].target_brokers = 1;
        assert!(matches!(next_action(&step, &seen), Action::Wait(_)));
        seen.step_age_ms = MOVE_MASTERS_WAIT_MS;
        assert_eq!(next_action(&step, &seen), Action::Finish);
    }

    #[test]
    fn aborts_without_target_members_and_plans_the_dry_run() {
        let only_primary = vec![member(1, "r1", true, 2_000)];
        assert!(matches!(
            next_action(&operation(SwitchoverStep::PromoteLearners), &observed(1, only_primary.clone())),
            Action::Abort(_)
        ));
        assert_eq!(plan("r1", "r2", &observed(1, only_primary)), Err("no member is in region r2".to_string()));
        let steps = plan("r1", "r2", &observed(1, before())).expect("plannable");
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[1], "promote-learners: nodes 4,5 become voters (joint consensus)");
        assert_eq!(steps[3], "demote-voters: nodes 1,2,3 become learners; primary region = r2, DR region = r1");
        let mut lagging = before();
        lagging[4].matched_index = 5;
        assert_eq!(
            plan("r1", "r2", &observed(1, lagging)),
            Err("target region lags: node 5 (1995 entries behind)".to_string())
        );
    }
}
