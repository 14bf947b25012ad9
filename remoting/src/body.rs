//! Response bodies of the NameServer codes, as RocketMQ's Java and Rust clients decode them.
//!
//! Fields are declared in sorted order, so the JSON keys come out sorted; every field is always
//! written (the Rust client refuses a `TopicRouteData` without `filterServerTable`, a
//! `BrokerData` without `enableActingMaster`, a `QueueData` without `topicSysFlag`). Map keys
//! are quoted strings, which both clients accept, unlike fastjson's bare integers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// RocketMQ's `brokerId` of a group's master.
pub const MASTER_BROKER_ID: u64 = 0;

/// `GET_ROUTEINFO_BY_TOPIC`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    /// Filter servers per broker address; Pharos has none.
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    pub queue_datas: Vec<QueueData>,
}

/// One broker group (a RocketMQ "broker name") and where its brokers listen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// RocketMQ broker id -> `host:port`; [`MASTER_BROKER_ID`] is the master.
    pub broker_addrs: BTreeMap<u64, String>,
    pub broker_name: String,
    pub cluster: String,
    /// Pharos elects masters itself; no broker ever acts as master in its place.
    pub enable_acting_master: bool,
    pub zone_name: String,
}

/// A topic's queues on one broker group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    pub perm: u32,
    pub read_queue_nums: u32,
    pub topic_sys_flag: u32,
    pub write_queue_nums: u32,
}

/// `GET_BROKER_CLUSTER_INFO`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name -> its brokers.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name -> its broker names.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

/// `GET_ALL_TOPIC_LIST_FROM_NAMESERVER`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    pub topic_list: BTreeSet<String>,
}
