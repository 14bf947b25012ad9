//! `pharos cluster ...`: membership and status.

use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{Output, View, serialize_label, show};

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Leader, term, indexes, every member's role, placement and lag, and warnings.
    Status,
    /// Members only.
    Members,
    /// Add a node as a learner (what `serve --join` does for itself).
    AddLearner {
        node_id: u64,
        #[arg(long)]
        peer_addr: String,
        #[arg(long)]
        client_addr: String,
        #[arg(long, default_value = "")]
        zone: String,
        #[arg(long, default_value = "")]
        region: String,
        /// The newest feature level the node's release supports (it records its own once it
        /// runs); default: this release's.
        #[arg(long, default_value_t = pharos_meta::feature::LATEST)]
        feature_level_max: u32,
    },
    /// Make a learner a voter (joint consensus).
    Promote { node_id: u64 },
    /// Remove a voter or learner.
    Remove { node_id: u64 },
    /// Hand leadership to a voter.
    TransferLeader { node_id: u64 },
    /// Snapshot the state on the answering node and purge its log behind the snapshot.
    Compact,
    /// The cluster's feature level: which request kinds it takes during a rolling upgrade.
    #[command(subcommand)]
    FeatureLevel(FeatureLevelCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum FeatureLevelCommand {
    /// The committed level, what each member's release supports, and the levels this release knows.
    Show,
    /// Raise the committed level once every member runs a release that supports it.
    Upgrade {
        /// The level to reach; default: the newest every member supports.
        #[arg(long)]
        to: Option<u32>,
    },
}

pub(super) async fn run(client: &Client, output: Output, command: ClusterCommand) -> Result<ExitCode, ClientError> {
    match command {
        ClusterCommand::Status | ClusterCommand::Members => {
            let status = Status::from(&leader_status(client).await?);
            if matches!(command, ClusterCommand::Members) {
                show(output, &Members { members: status.members, leader_id: status.leader_id });
            } else {
                show(output, &status);
            }
        }
        ClusterCommand::AddLearner { node_id, peer_addr, client_addr, zone, region, feature_level_max } => {
            let info = v1::NodeInfo { client_addr, peer_addr, zone, region, feature_level_max };
            let response = client.add_learner(node_id, info).await?;
            show(output, &LearnerAdded { node_id, role: v1::MemberRole::Learner, cluster_id: response.cluster_id });
        }
        ClusterCommand::Promote { node_id } => {
            let response = client.promote(node_id).await?;
            show(output, &Promoted { node_id, voters: response.voters, changed: response.changed });
        }
        ClusterCommand::Remove { node_id } => {
            let response = client.remove(node_id).await?;
            let removed = Removed {
                removed: node_id,
                voters: response.voters,
                learners: response.learners,
                changed: response.changed,
            };
            show(output, &removed);
        }
        ClusterCommand::TransferLeader { node_id } => {
            let response = client.transfer_leader(node_id).await?;
            show(output, &LeaderTransferred { leader_id: response.leader_id });
        }
        ClusterCommand::Compact => {
            let response = client.compact().await?;
            show(output, &Compacted { snapshot_index: response.snapshot_index, purged_index: response.purged_index });
        }
        ClusterCommand::FeatureLevel(FeatureLevelCommand::Show) => {
            let status = leader_status(client).await?;
            show(output, &FeatureLevels::from(&status));
        }
        ClusterCommand::FeatureLevel(FeatureLevelCommand::Upgrade { to }) => {
            let response = client.set_feature_level(to.unwrap_or(0)).await?;
            show(output, &FeatureLevelRaised { level: response.level, previous_level: response.previous_level });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The leader's status when it can be reached (so lag figures are present), else the
/// answering node's.
async fn leader_status(client: &Client) -> Result<v1::StatusResponse, ClientError> {
    let status = client.status().await?;
    if status.state() != v1::ServerState::Leader
        && let Some(leader) = status.members.iter().find(|member| Some(member.node_id) == status.leader_id)
        && let Some(address) = leader.info.as_ref().map(|info| info.client_addr.clone()).filter(|a| !a.is_empty())
        && let Ok(leader_status) = client.at(&address)?.status().await
    {
        return Ok(leader_status);
    }
    Ok(status)
}

/// `cluster feature-level show`.
#[derive(Debug, Serialize)]
struct FeatureLevels {
    /// The committed level, as the answering node applied it.
    level: u32,
    /// The newest level every member advertises (what `upgrade` would reach); none while a
    /// member advertises nothing yet.
    upgradable_to: Option<u32>,
    members: Vec<MemberLevel>,
    /// The levels this release (of the CLI) knows, with what each brought.
    known: Vec<KnownLevel>,
}

#[derive(Debug, Serialize)]
struct MemberLevel {
    node_id: u64,
    /// The newest level the member's release applies; 0: not advertised (an older release).
    supported: u32,
}

#[derive(Debug, Serialize)]
struct KnownLevel {
    level: u32,
    brings: &'static str,
}

impl From<&v1::StatusResponse> for FeatureLevels {
    fn from(status: &v1::StatusResponse) -> Self {
        let members: Vec<MemberLevel> = status
            .members
            .iter()
            .map(|member| MemberLevel {
                node_id: member.node_id,
                supported: member.info.as_ref().map_or(0, |info| info.feature_level_max),
            })
            .collect();
        let upgradable_to = if members.iter().any(|member| member.supported == 0) {
            None
        } else {
            members.iter().map(|member| member.supported).min()
        };
        let known =
            pharos_meta::feature::LEVELS.iter().map(|(level, brings)| KnownLevel { level: *level, brings }).collect();
        FeatureLevels { level: status.feature_level, upgradable_to, members, known }
    }
}

impl View for FeatureLevels {
    fn print_table(&self) {
        println!("committed level  {}", self.level);
        match self.upgradable_to {
            Some(level) if level > self.level => {
                println!("upgradable to    {level} (pharos cluster feature-level upgrade)")
            }
            Some(_) => println!("upgradable to    - (every member supports no more than the committed level)"),
            None => println!("upgradable to    - (a member advertises no level: it runs an older release)"),
        }
        println!();
        println!("{:<6} {:>9}", "NODE", "SUPPORTS");
        for member in &self.members {
            let supported = if member.supported == 0 { "-".to_string() } else { member.supported.to_string() };
            println!("{:<6} {:>9}", member.node_id, supported);
        }
        println!();
        for known in &self.known {
            println!("level {}: {}", known.level, known.brings);
        }
    }
}

/// `cluster feature-level upgrade`.
#[derive(Debug, Serialize)]
struct FeatureLevelRaised {
    level: u32,
    previous_level: u32,
}

impl View for FeatureLevelRaised {
    fn print_table(&self) {
        if self.level == self.previous_level {
            println!("the cluster is at feature level {} already", self.level);
        } else {
            println!("feature level raised from {} to {}", self.previous_level, self.level);
        }
    }
}

/// `cluster status`: what the answering node (the leader when it could be reached) knows.
#[derive(Debug, Serialize)]
struct Status {
    cluster_id: String,
    generation: u64,
    /// The node that answered.
    node_id: u64,
    #[serde(serialize_with = "serialize_label")]
    state: v1::ServerState,
    leader_id: Option<u64>,
    term: u64,
    last_log_index: u64,
    commit_index: u64,
    applied_index: u64,
    snapshot_index: u64,
    purged_index: u64,
    joint_consensus: bool,
    state_digest: String,
    members: Vec<Member>,
    warnings: Vec<String>,
    /// The node runs with `--insecure`: nothing is authenticated.
    insecure: bool,
    /// The committed feature level (`cluster feature-level show` says more).
    feature_level: u32,
}

impl From<&v1::StatusResponse> for Status {
    fn from(status: &v1::StatusResponse) -> Self {
        Self {
            cluster_id: status.cluster_id.clone(),
            generation: status.generation,
            node_id: status.node_id,
            state: status.state(),
            leader_id: status.leader_id,
            term: status.term,
            last_log_index: status.last_log_index,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            snapshot_index: status.snapshot_index,
            purged_index: status.purged_index,
            joint_consensus: status.joint_consensus,
            state_digest: status.state_digest.clone(),
            members: status.members.iter().map(Member::from).collect(),
            warnings: status.warnings.clone(),
            insecure: status.insecure,
            feature_level: status.feature_level,
        }
    }
}

impl View for Status {
    fn print_table(&self) {
        println!("cluster     {} (generation {})", self.cluster_id, self.generation);
        println!("leader      {}   term {}", self.leader_id.map_or("none".to_string(), |id| id.to_string()), self.term);
        println!(
            "answered by node {} ({}): last log {}, commit {}, applied {}, snapshot {}",
            self.node_id,
            self.state.label(),
            self.last_log_index,
            self.commit_index,
            self.applied_index,
            self.snapshot_index
        );
        println!("features    level {}", self.feature_level);
        if self.joint_consensus {
            println!("membership  joint consensus in progress");
        }
        println!();
        print_members(&self.members, self.leader_id);
        for warning in &self.warnings {
            println!("WARNING: {warning}");
        }
    }
}

/// One member as `cluster status` and `cluster members` show it.
#[derive(Debug, Serialize)]
struct Member {
    node_id: u64,
    #[serde(serialize_with = "serialize_label")]
    role: v1::MemberRole,
    client_addr: String,
    peer_addr: String,
    zone: String,
    region: String,
    /// Known only on the leader.
    lag_entries: Option<u64>,
    matched_index: Option<u64>,
}

impl From<&v1::MemberStatus> for Member {
    fn from(member: &v1::MemberStatus) -> Self {
        let info = member.info.clone().unwrap_or_default();
        Self {
            node_id: member.node_id,
            role: member.role(),
            client_addr: info.client_addr,
            peer_addr: info.peer_addr,
            zone: info.zone,
            region: info.region,
            lag_entries: member.lag_entries,
            matched_index: member.matched_index,
        }
    }
}

/// `cluster members`: a bare list in JSON; the table marks the leader.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Members {
    members: Vec<Member>,
    /// Only for the table's `*`; the JSON list has no place for it (`cluster status` has).
    #[serde(skip)]
    leader_id: Option<u64>,
}

impl View for Members {
    fn print_table(&self) {
        print_members(&self.members, self.leader_id);
    }
}

fn print_members(members: &[Member], leader_id: Option<u64>) {
    println!("{:<6} {:<8} {:<22} {:<22} {:<12} {:<12} {:>8}", "ID", "ROLE", "CLIENT", "PEER", "ZONE", "REGION", "LAG");
    for member in members {
        let leader = if leader_id == Some(member.node_id) { "*" } else { "" };
        println!(
            "{:<6} {:<8} {:<22} {:<22} {:<12} {:<12} {:>8}",
            format!("{}{leader}", member.node_id),
            member.role.label(),
            member.client_addr,
            member.peer_addr,
            member.zone,
            member.region,
            member.lag_entries.map_or("-".to_string(), |lag| lag.to_string()),
        );
    }
}

/// `cluster add-learner`.
#[derive(Debug, Serialize)]
struct LearnerAdded {
    node_id: u64,
    /// Always learner: the node votes only after `cluster promote`.
    #[serde(serialize_with = "serialize_label")]
    role: v1::MemberRole,
    cluster_id: String,
}

impl View for LearnerAdded {
    fn print_table(&self) {
        println!("node {} added as a {}", self.node_id, self.role.label());
    }
}

/// `cluster promote`.
#[derive(Debug, Serialize)]
struct Promoted {
    node_id: u64,
    voters: Vec<u64>,
    /// False when the node was a voter already.
    changed: bool,
}

impl View for Promoted {
    fn print_table(&self) {
        if self.changed {
            println!("node {} is a voter; voters: {:?}", self.node_id, self.voters);
        } else {
            println!("node {} was a voter already; voters: {:?}", self.node_id, self.voters);
        }
    }
}

/// `cluster remove`.
#[derive(Debug, Serialize)]
struct Removed {
    /// The node asked to be removed.
    removed: u64,
    voters: Vec<u64>,
    learners: Vec<u64>,
    /// False when the node was not a member.
    changed: bool,
}

impl View for Removed {
    fn print_table(&self) {
        if self.changed {
            println!("node {} removed; voters: {:?}", self.removed, self.voters);
        } else {
            println!("node {} was not a member; nothing changed; voters: {:?}", self.removed, self.voters);
        }
    }
}

/// `cluster transfer-leader`.
#[derive(Debug, Serialize)]
struct LeaderTransferred {
    leader_id: u64,
}

impl View for LeaderTransferred {
    fn print_table(&self) {
        println!("leader is now node {}", self.leader_id);
    }
}

/// `cluster compact`: the answering node's snapshot and how far its log is purged.
#[derive(Debug, Serialize)]
struct Compacted {
    snapshot_index: u64,
    purged_index: u64,
}

impl View for Compacted {
    fn print_table(&self) {
        println!("snapshot at {}, log purged up to {}", self.snapshot_index, self.purged_index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cluster members --output json` is a bare list; the leader mark is for the table only.
    #[test]
    fn the_members_json_is_a_bare_list() {
        let member = v1::MemberStatus {
            node_id: 2,
            role: v1::MemberRole::Learner.into(),
            info: Some(v1::NodeInfo {
                client_addr: "127.0.0.1:7371".into(),
                peer_addr: "127.0.0.1:7381".into(),
                zone: "zone-b".into(),
                region: "region-2".into(),
                feature_level_max: 2,
            }),
            lag_entries: Some(12),
            matched_index: None,
        };
        let members = Members { members: vec![Member::from(&member)], leader_id: Some(1) };
        let expected = r#"[
  {
    "client_addr": "127.0.0.1:7371",
    "lag_entries": 12,
    "matched_index": null,
    "node_id": 2,
    "peer_addr": "127.0.0.1:7381",
    "region": "region-2",
    "role": "learner",
    "zone": "zone-b"
  }
]"#;
        assert_eq!(crate::cli::json_text(&members), expected);
    }
}
