//! Who may call what: every RPC of every Pharos service, with the resource it acts on and the
//! action it needs (the ACL model is `pharos_meta::access`). One table, so a reviewer reads the
//! whole policy surface in one place, a test proves no RPC is missing from it (a new RPC without
//! a row fails the build's tests, rather than being served unchecked), and docs/security.md
//! prints it from here.
//!
//! Broker groups are `cluster` resources named by the group (RocketMQ's broker name): a broker's
//! token is granted `cluster:<its group>` `register`, and nothing else. Coordinator-wide RPCs
//! (membership, DR, audit, listing) act on the `cluster` resource with the empty name, which only
//! `cluster:*` covers.

use pharos_meta::access::{Action, ResourceType};

/// How an RPC is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Served to anyone who reaches the port: it reveals nothing but which cluster and generation
    /// a node serves (a failover's client-port probe asks it, without credentials).
    Public,
    /// Served on the peer port only, to members of the cluster; never on the client port.
    PeerOnly,
    /// Needs a valid token of an enabled user, and nothing else (it only describes the caller).
    Authenticated,
    /// Needs `action` on the resource of type `kind` named by the request's `name_from`.
    Resource { kind: ResourceType, action: Action, name_from: &'static str },
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcAccess {
    /// The gRPC method path, `/pharos.v1.Service/Method`.
    pub method: &'static str,
    pub guard: Guard,
}

const fn on(kind: ResourceType, action: Action, name_from: &'static str) -> Guard {
    Guard::Resource { kind, action, name_from }
}

const fn coordinator(action: Action) -> Guard {
    Guard::Resource { kind: ResourceType::Cluster, action, name_from: "(coordinator-wide)" }
}

use Action::{Acl, Admin, Audit, Create, Delete, Dr, Failover, Get, List, Register, Sub, Update};
use ResourceType::{Cluster, Group, Namespace, Topic};

/// Every RPC of every service the `pharos` binary serves.
pub const RPC_ACCESS: &[RpcAccess] = &[
    // KvService: keys are `namespace` resources; a prefix pattern covers a key space.
    RpcAccess { method: "/pharos.v1.KvService/Put", guard: on(Namespace, Update, "key") },
    RpcAccess { method: "/pharos.v1.KvService/Get", guard: on(Namespace, Get, "key") },
    RpcAccess { method: "/pharos.v1.KvService/Delete", guard: on(Namespace, Delete, "key") },
    RpcAccess { method: "/pharos.v1.KvService/CompareAndSet", guard: on(Namespace, Update, "key") },
    RpcAccess { method: "/pharos.v1.KvService/Range", guard: on(Namespace, List, "prefix") },
    // ClusterService: the coordinator itself.
    RpcAccess { method: "/pharos.v1.ClusterService/Identity", guard: Guard::Public },
    RpcAccess { method: "/pharos.v1.ClusterService/Status", guard: coordinator(Get) },
    RpcAccess { method: "/pharos.v1.ClusterService/AddLearner", guard: coordinator(Admin) },
    RpcAccess { method: "/pharos.v1.ClusterService/Promote", guard: coordinator(Admin) },
    RpcAccess { method: "/pharos.v1.ClusterService/Remove", guard: coordinator(Admin) },
    RpcAccess { method: "/pharos.v1.ClusterService/TransferLeader", guard: coordinator(Admin) },
    RpcAccess { method: "/pharos.v1.ClusterService/Compact", guard: coordinator(Admin) },
    RpcAccess { method: "/pharos.v1.ClusterService/ListAudit", guard: coordinator(Audit) },
    RpcAccess { method: "/pharos.v1.ClusterService/SetFeatureLevel", guard: coordinator(Admin) },
    // The whole state, user token hashes included: as much as administering the cluster.
    RpcAccess { method: "/pharos.v1.ClusterService/SaveSnapshot", guard: coordinator(Admin) },
    // BrokerService: broker groups. Register covers a broker's whole self-service.
    RpcAccess { method: "/pharos.v1.BrokerService/RegisterBroker", guard: on(Cluster, Register, "group") },
    RpcAccess { method: "/pharos.v1.BrokerService/Heartbeat", guard: on(Cluster, Register, "broker_id's group") },
    RpcAccess {
        method: "/pharos.v1.BrokerService/UnregisterBroker",
        guard: on(Cluster, Register, "broker_id's group"),
    },
    RpcAccess { method: "/pharos.v1.BrokerService/AlterSyncStateSet", guard: on(Cluster, Register, "group") },
    RpcAccess { method: "/pharos.v1.BrokerService/GetBrokerGroup", guard: on(Cluster, Get, "group") },
    RpcAccess { method: "/pharos.v1.BrokerService/ListBrokerGroups", guard: coordinator(List) },
    RpcAccess { method: "/pharos.v1.BrokerService/WatchBrokerGroup", guard: on(Cluster, Get, "group") },
    RpcAccess { method: "/pharos.v1.BrokerService/FenceBroker", guard: on(Cluster, Failover, "broker_id's group") },
    RpcAccess { method: "/pharos.v1.BrokerService/RemoveBroker", guard: on(Cluster, Failover, "broker_id's group") },
    RpcAccess { method: "/pharos.v1.BrokerService/Failover", guard: on(Cluster, Failover, "group") },
    // TopicService: topics and their routes.
    RpcAccess { method: "/pharos.v1.TopicService/CreateTopic", guard: on(Topic, Create, "topic.name") },
    RpcAccess { method: "/pharos.v1.TopicService/UpdateTopic", guard: on(Topic, Update, "topic.name") },
    RpcAccess { method: "/pharos.v1.TopicService/DeleteTopic", guard: on(Topic, Delete, "name") },
    RpcAccess { method: "/pharos.v1.TopicService/GetTopic", guard: on(Topic, Get, "name") },
    RpcAccess { method: "/pharos.v1.TopicService/ListTopics", guard: on(Topic, List, "(all topics)") },
    RpcAccess { method: "/pharos.v1.TopicService/GetRoute", guard: on(Topic, Get, "topic") },
    RpcAccess { method: "/pharos.v1.TopicService/WatchRoutes", guard: on(Topic, Get, "each of topics, or prefix") },
    // OffsetService: consumer groups.
    RpcAccess {
        method: "/pharos.v1.OffsetService/CommitOffsets",
        guard: on(Group, Sub, "each entry's consumer_group"),
    },
    RpcAccess { method: "/pharos.v1.OffsetService/FetchOffsets", guard: on(Group, Get, "consumer_group") },
    RpcAccess { method: "/pharos.v1.OffsetService/ResetOffsets", guard: on(Group, Update, "consumer_group") },
    RpcAccess { method: "/pharos.v1.OffsetService/ListConsumerGroups", guard: on(Group, List, "(all groups)") },
    // DrService: regions and disaster recovery.
    RpcAccess { method: "/pharos.v1.DrService/Status", guard: coordinator(Get) },
    RpcAccess { method: "/pharos.v1.DrService/Configure", guard: coordinator(Dr) },
    RpcAccess { method: "/pharos.v1.DrService/SetMode", guard: coordinator(Dr) },
    RpcAccess { method: "/pharos.v1.DrService/Switchover", guard: coordinator(Dr) },
    RpcAccess { method: "/pharos.v1.DrService/Failover", guard: coordinator(Dr) },
    RpcAccess { method: "/pharos.v1.DrService/Failback", guard: coordinator(Dr) },
    // AclService: users and policies.
    RpcAccess { method: "/pharos.v1.AclService/AddUser", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/DeleteUser", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/SetUserEnabled", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/RotateToken", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/ListUsers", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/Grant", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/Revoke", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/ListPolicies", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/Check", guard: coordinator(Acl) },
    RpcAccess { method: "/pharos.v1.AclService/WhoAmI", guard: Guard::Authenticated },
    RpcAccess { method: "/pharos.v1.AclService/ListDenials", guard: coordinator(Audit) },
    RpcAccess { method: "/pharos.v1.AclService/WatchAcls", guard: coordinator(Acl) },
    // RaftService and MemberService: node to node, peer port only.
    RpcAccess { method: "/pharos.v1.RaftService/Vote", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/PreVote", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/AppendEntries", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/StreamAppend", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/InstallSnapshot", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/TransferLeader", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.RaftService/Probe", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/Identity", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/Join", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/UpdateMember", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/PromoteSelf", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/Survey", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/Reform", guard: Guard::PeerOnly },
    RpcAccess { method: "/pharos.v1.MemberService/ForwardRemoting", guard: Guard::PeerOnly },
];

/// The row of `method`, if it is a Pharos RPC.
pub fn access_of(method: &str) -> Option<&'static RpcAccess> {
    RPC_ACCESS.iter().find(|row| row.method == method)
}

/// The table as markdown, for docs/security.md.
pub fn markdown() -> String {
    let mut table = String::from("| RPC | guard | resource | action | resource name from |\n|---|---|---|---|---|\n");
    for row in RPC_ACCESS {
        let method = row.method.trim_start_matches("/pharos.v1.");
        let line = match row.guard {
            Guard::Public => format!("| `{method}` | public | — | — | — |\n"),
            Guard::PeerOnly => format!("| `{method}` | peer port only | — | — | — |\n"),
            Guard::Authenticated => format!("| `{method}` | any enabled user | — | — | — |\n"),
            Guard::Resource { kind, action, name_from } => {
                format!("| `{method}` | ACL | `{}` | `{}` | {name_from} |\n", kind.as_str(), action.as_str())
            }
        };
        table.push_str(&line);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every method of every service in the compiled .proto files, as a gRPC path.
    fn served_methods() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(pharos_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let mut methods = Vec::new();
        for file in set.file {
            let package = file.package().to_string();
            for service in file.service {
                for method in &service.method {
                    methods.push(format!("/{package}.{}/{}", service.name(), method.name()));
                }
            }
        }
        methods
    }

    #[test]
    fn every_rpc_of_every_service_has_exactly_one_row_and_no_row_is_stale() {
        let methods = served_methods();
        let missing: Vec<&String> = methods.iter().filter(|method| access_of(method).is_none()).collect();
        assert!(missing.is_empty(), "RPCs without an access row (add them to RPC_ACCESS): {missing:?}");
        let stale: Vec<&str> =
            RPC_ACCESS.iter().map(|row| row.method).filter(|method| !methods.iter().any(|m| m == method)).collect();
        assert!(stale.is_empty(), "rows for RPCs that do not exist: {stale:?}");
        for row in RPC_ACCESS {
            assert_eq!(RPC_ACCESS.iter().filter(|other| other.method == row.method).count(), 1, "{}", row.method);
        }
    }

    #[test]
    fn node_to_node_services_are_peer_only_and_nothing_administrative_is_public() {
        for row in RPC_ACCESS {
            let node_to_node = row.method.starts_with("/pharos.v1.RaftService/")
                || row.method.starts_with("/pharos.v1.MemberService/");
            assert_eq!(node_to_node, row.guard == Guard::PeerOnly, "{}", row.method);
        }
        let public: Vec<&str> =
            RPC_ACCESS.iter().filter(|row| row.guard == Guard::Public).map(|row| row.method).collect();
        assert_eq!(public, ["/pharos.v1.ClusterService/Identity"]);
    }

    #[test]
    fn a_brokers_register_grant_covers_its_self_service_and_nothing_administrative() {
        let register: Vec<&str> = RPC_ACCESS
            .iter()
            .filter(|row| matches!(row.guard, Guard::Resource { action: Action::Register, .. }))
            .map(|row| row.method.trim_start_matches("/pharos.v1.BrokerService/"))
            .collect();
        assert_eq!(register, ["RegisterBroker", "Heartbeat", "UnregisterBroker", "AlterSyncStateSet"]);
    }

    #[test]
    fn docs_security_md_prints_this_table() {
        let doc = include_str!("../../docs/security.md");
        let table = markdown();
        assert!(doc.contains(&table), "docs/security.md's RPC table is out of date; it must read:\n{table}");
    }
}
