//! The openraft type configuration of Pharos.

use std::fmt;

use pharos_proto::v1;

/// Where and how to reach a member; carried in the Raft membership so every node knows every
/// other node's addresses and placement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Client API address (`host:port`), what clients and redirects use.
    pub client_addr: String,
    /// Peer (Raft) API address.
    pub peer_addr: String,
    pub zone: String,
    pub region: String,
    /// The newest feature level the member's build applies (or less, when started with
    /// `--feature-level-max`); 0: not advertised (a build that predates feature levels, or a
    /// member whose own record is not in yet), which counts as `feature::BASELINE`. The leader
    /// raises the cluster's level only to one every member advertises (docs/adr/0026-feature-levels.md).
    pub feature_level_max: u32,
}

impl NodeInfo {
    /// The newest feature level this member is known to apply.
    pub fn supported_feature_level(&self) -> u32 {
        pharos_meta::feature::effective(self.feature_level_max)
    }
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}(peer {}, {}/{})", self.client_addr, self.peer_addr, self.region, self.zone)
    }
}

impl From<&NodeInfo> for v1::NodeInfo {
    fn from(node: &NodeInfo) -> Self {
        v1::NodeInfo {
            client_addr: node.client_addr.clone(),
            peer_addr: node.peer_addr.clone(),
            zone: node.zone.clone(),
            region: node.region.clone(),
            feature_level_max: node.feature_level_max,
        }
    }
}

impl From<v1::NodeInfo> for NodeInfo {
    fn from(node: v1::NodeInfo) -> Self {
        NodeInfo {
            client_addr: node.client_addr,
            peer_addr: node.peer_addr,
            zone: node.zone,
            region: node.region,
            feature_level_max: node.feature_level_max,
        }
    }
}

openraft::declare_raft_types!(
    /// Pharos' Raft types: log entries carry `pharos_meta::Command`s and yield `Response`s.
    /// Leader ids are openraft's *standard* ones: at most one leader per term, as in etcd and
    /// TiKV, so every rule keyed on a term (election safety, leader soft state) stays true
    /// (docs/adr/0014-standard-leader-ids.md).
    pub TypeConfig:
        D = pharos_meta::Command,
        R = pharos_meta::Response,
        NodeId = u64,
        Node = NodeInfo,
        LeaderId = openraft::vote::leader_id_std::LeaderId<u64, u64>,
);

pub type NodeId = u64;
/// The leader id of a vote: `(term, voted_for)`.
pub type LeaderId = openraft::vote::leader_id_std::LeaderId<u64, u64>;
/// The leader id stored in log ids: the term alone (one leader per term).
pub type CommittedLeaderId = openraft::vote::leader_id_std::CommittedLeaderId<u64>;
pub type LogId = openraft::LogId<CommittedLeaderId>;
pub type Vote = openraft::impls::Vote<LeaderId>;
pub type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;
pub type EntryPayload = openraft::EntryPayload<pharos_meta::Command, NodeId, NodeInfo>;
pub type Membership = openraft::Membership<NodeId, NodeInfo>;
pub type StoredMembership = openraft::StoredMembership<CommittedLeaderId, NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::SnapshotMeta<CommittedLeaderId, NodeId, NodeInfo>;
/// Snapshot bytes as built by the state machine (a pharos-meta snapshot blob).
pub type SnapshotData = Vec<u8>;
pub type Snapshot = openraft::Snapshot<CommittedLeaderId, NodeId, NodeInfo, SnapshotData>;
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachineStore>;
