//! The RocketMQ 5 Controller codes (brokers with `enableControllerMode`), read as Pharos's
//! broker model: plain functions, no I/O (docs/rocketmq.md, "Controller mode").
//!
//! The mapping: `brokerName` is the broker group, `clusterName` the cluster, the controller
//! `brokerId` (1, 2, …, kept by the broker in its `brokerIdentity.json`) is the broker's name,
//! and its address (`brokerAddress`, `brokerAddr`) its incarnation, as in NameServer mode. The
//! group's masters are [`ElectionMode::Controlled`]: Pharos elects them, from leases and the
//! sync state set it keeps from the offsets in the brokers' heartbeats (`pharos_dr`).
//!
//! The answers name brokers by their controller id, never by their Pharos broker id: a
//! master is `masterBrokerId` with `masterAddress` and `masterEpoch` (Pharos's master epoch), a
//! sync state set is the controller ids of its members.

use std::collections::{BTreeMap, BTreeSet};

use pharos_meta::{Broker, BrokerGroup, BrokerState, ElectionMode, Registration, RegistrationMode, State};
use serde::{Deserialize, Serialize};

use crate::codes::{request, response};
use crate::command::RemotingCommand;

/// The smallest `safetyMarginMillis` a RocketMQ broker accepts in a write lease.
pub const LEASE_SAFETY_MARGIN_MS: u64 = 1_000;
/// Most controller ids one `ALTER_SYNC_STATE_SET` may name.
pub const SYNC_STATE_SET_IDS_MAX: usize = 1_024;
/// Most groups one `GET_SYNC_STATE_DATA` may name; the rest are left out of the answer.
pub const SYNC_STATE_DATA_GROUPS_MAX: usize = 1_024;

/// What a broker in controller mode asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerRequest {
    /// 1005: which controller is the leader.
    Metadata,
    /// 1012: the id a new broker of the group should apply for.
    NextBrokerId { group: String },
    /// 1013 (`registration.name` is the applied id) and 1003: join the group.
    Register(Registration),
    /// 904 with offsets: the broker is alive; a master whose `epoch` is the group's master
    /// epoch gets a write lease.
    Heartbeat(Heartbeat),
    /// 1004: the group's master and sync state set.
    ReplicaInfo { group: String },
    /// 1002: elect a master if the group has none.
    ElectMaster { group: String },
    /// 1001: the master proposes a new sync state set (controller ids).
    AlterSyncStateSet { group: String, master_id: u64, master_epoch: u64, sync_state_set: SyncStateSet },
    /// 1006: the replicas of the named groups.
    SyncStateData { groups: Vec<String> },
}

/// A controller heartbeat (904 carrying `maxOffset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub cluster: String,
    pub group: String,
    pub address: String,
    /// The controller id.
    pub name: String,
    /// The master epoch the broker follows; absent before it has a role.
    pub epoch: Option<u64>,
    pub max_offset: u64,
    pub confirm_offset: u64,
}

/// Whether `request` is a Controller code (904 counts when it carries the offsets a
/// controller heartbeat has; a NameServer heartbeat has none).
pub fn is_controller_request(request: &RemotingCommand) -> bool {
    match request.code {
        request::BROKER_HEARTBEAT => request.ext_field("maxOffset").is_some(),
        code => CODES.contains(&code),
    }
}

/// Whether the leader must answer `request` (a follower forwards it): everything but the
/// metadata and sync-state-data reads.
pub fn needs_leader(request: &RemotingCommand) -> bool {
    is_controller_request(request)
        && !matches!(request.code, request::CONTROLLER_GET_METADATA_INFO | request::CONTROLLER_GET_SYNC_STATE_DATA)
}

const CODES: [i32; 8] = [
    request::CONTROLLER_GET_METADATA_INFO,
    request::CONTROLLER_GET_NEXT_BROKER_ID,
    request::CONTROLLER_APPLY_BROKER_ID,
    request::CONTROLLER_REGISTER_BROKER,
    request::CONTROLLER_GET_REPLICA_INFO,
    request::CONTROLLER_ELECT_MASTER,
    request::CONTROLLER_ALTER_SYNC_STATE_SET,
    request::CONTROLLER_GET_SYNC_STATE_DATA,
];

/// Reads a controller request; the error is the remark of a `CONTROLLER_INVALID_REQUEST`
/// answer ([`invalid`]). Names are checked by the rules of a Pharos registration.
pub fn parse(command: &RemotingCommand, network: &str) -> Result<ControllerRequest, String> {
    let field = |name: &str| -> Result<String, String> {
        match command.ext_field(name) {
            Some(value) if !value.is_empty() => Ok(value.to_string()),
            _ => Err(format!("the request has no extFields.{name}")),
        }
    };
    let number = |name: &str| -> Result<u64, String> {
        let text = field(name)?;
        text.parse::<u64>().map_err(|_| format!("extFields.{name} `{}` is not a number", clip(&text)))
    };
    let optional_number = |name: &str| -> Result<Option<u64>, String> {
        match command.ext_field(name).filter(|value| !value.is_empty()) {
            None => Ok(None),
            Some(_) => number(name).map(Some),
        }
    };
    let broker_id = |name: &str| -> Result<u64, String> {
        let id = number(name)?;
        if id == 0 {
            return Err(format!("extFields.{name} is 0; controller broker ids start at 1"));
        }
        Ok(id)
    };
    let register = |broker_id: u64, address: String| -> Result<ControllerRequest, String> {
        let registration = Registration {
            cluster: field("clusterName")?,
            group: field("brokerName")?,
            name: broker_id.to_string(),
            incarnation_id: address.clone(),
            zone: String::new(),
            region: String::new(),
            addresses: BTreeMap::from([(network.to_string(), address)]),
            election_priority: 0,
            mode: RegistrationMode::Controlled,
        };
        pharos_meta::broker::validate_registration(&registration).map_err(|error| error.to_string())?;
        Ok(ControllerRequest::Register(registration))
    };
    match command.code {
        request::CONTROLLER_GET_METADATA_INFO => Ok(ControllerRequest::Metadata),
        request::CONTROLLER_GET_NEXT_BROKER_ID => {
            field("clusterName")?;
            Ok(ControllerRequest::NextBrokerId { group: field("brokerName")? })
        }
        request::CONTROLLER_APPLY_BROKER_ID => {
            // `registerCheckCode` is "<brokerAddr>;<millis>": the address is all Pharos keeps.
            let check_code = field("registerCheckCode")?;
            let address = check_code.split(';').next().unwrap_or_default().to_string();
            register(broker_id("appliedBrokerId")?, address)
        }
        request::CONTROLLER_REGISTER_BROKER => register(broker_id("brokerId")?, field("brokerAddress")?),
        request::BROKER_HEARTBEAT => Ok(ControllerRequest::Heartbeat(Heartbeat {
            cluster: field("clusterName")?,
            group: field("brokerName")?,
            address: field("brokerAddr")?,
            name: broker_id("brokerId")?.to_string(),
            epoch: optional_number("epoch")?,
            max_offset: optional_number("maxOffset")?.unwrap_or(0),
            confirm_offset: optional_number("confirmOffset")?.unwrap_or(0),
        })),
        request::CONTROLLER_GET_REPLICA_INFO => Ok(ControllerRequest::ReplicaInfo { group: field("brokerName")? }),
        request::CONTROLLER_ELECT_MASTER => Ok(ControllerRequest::ElectMaster { group: field("brokerName")? }),
        request::CONTROLLER_ALTER_SYNC_STATE_SET => {
            let sync_state_set: SyncStateSet = serde_json::from_slice(&command.body)
                .map_err(|error| format!("the sync state set body is not a SyncStateSet: {error}"))?;
            if sync_state_set.sync_state_set.len() > SYNC_STATE_SET_IDS_MAX {
                return Err(format!("the sync state set names more than {SYNC_STATE_SET_IDS_MAX} brokers"));
            }
            Ok(ControllerRequest::AlterSyncStateSet {
                group: field("brokerName")?,
                master_id: broker_id("masterBrokerId")?,
                master_epoch: number("masterEpoch")?,
                sync_state_set,
            })
        }
        request::CONTROLLER_GET_SYNC_STATE_DATA => {
            let groups: Vec<String> = serde_json::from_slice(&command.body)
                .map_err(|error| format!("the body is not a JSON list of broker names: {error}"))?;
            Ok(ControllerRequest::SyncStateData { groups })
        }
        code => Err(format!("request code {code} is not a controller request")),
    }
}

/// RocketMQ's `SyncStateSet` body: controller ids and the set's epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStateSet {
    #[serde(default)]
    pub sync_state_set: BTreeSet<u64>,
    pub sync_state_set_epoch: u64,
}

/// RocketMQ's `ElectMasterResponseBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ElectMasterBody {
    broker_member_group: BrokerMemberGroup,
    sync_state_set: BTreeSet<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerMemberGroup {
    cluster: String,
    broker_name: String,
    /// Controller id -> address of every active member.
    broker_addrs: BTreeMap<u64, String>,
}

/// RocketMQ's `ControllerWriteLeaseGrant`: the master may accept writes for
/// `lease_duration_millis - safety_margin_millis` from the moment it sent the heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteLease {
    pub broker_id: u64,
    pub master_epoch: u64,
    pub generation: u64,
    pub lease_duration_millis: u64,
    pub safety_margin_millis: u64,
}

/// RocketMQ's `BrokerReplicasInfo` (1006).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerReplicasInfo {
    replicas_info_table: BTreeMap<String, ReplicasInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplicasInfo {
    master_broker_id: u64,
    master_address: String,
    master_epoch: u64,
    sync_state_set_epoch: u64,
    in_sync_replicas: Vec<ReplicaIdentity>,
    not_in_sync_replicas: Vec<ReplicaIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaIdentity {
    broker_name: String,
    broker_id: u64,
    broker_address: String,
    alive: bool,
}

/// A controlled group of `state`, or the `CONTROLLER_BROKER_METADATA_NOT_EXIST` answer.
pub fn controlled_group<'a>(state: &'a State, group: &str) -> Result<&'a BrokerGroup, RemotingCommand> {
    match state.groups.get(group) {
        Some(record) if record.election_mode == ElectionMode::Controlled && !record.members.is_empty() => Ok(record),
        Some(record) if !record.members.is_empty() => Err(invalid(format!(
            "broker group {group} has {} masters, not masters a controller elects",
            record.election_mode.as_str()
        ))),
        _ => Err(RemotingCommand::response(
            response::CONTROLLER_BROKER_METADATA_NOT_EXIST,
            Some(format!("no broker group {}", clip(group))),
        )),
    }
}

/// The controller id of a broker of a controlled group (its name).
fn controller_id(broker: &Broker) -> Option<u64> {
    broker.name.parse().ok()
}

/// The active broker of `group` with controller id `name` registered from `address`.
pub fn find<'a>(state: &'a State, group: &str, name: &str, address: &str) -> Option<&'a Broker> {
    let members = state.groups.get(group)?.members.iter();
    members
        .filter_map(|id| state.brokers.get(id))
        .find(|broker| broker.state == BrokerState::Active && broker.name == name && broker.incarnation_id == address)
}

/// 1012: one more than every controller id the group has had (records still held), from 1.
pub fn next_broker_id(state: &State, group: &str) -> RemotingCommand {
    if let Some(record) = state.groups.get(group).filter(|record| !record.members.is_empty())
        && record.election_mode != ElectionMode::Controlled
    {
        return invalid(format!("broker group {group} has {} masters", record.election_mode.as_str()));
    }
    let members = state.groups.get(group).map(|record| record.members.iter()).into_iter().flatten();
    let highest = members.filter_map(|id| state.brokers.get(id)).filter_map(controller_id).max().unwrap_or(0);
    RemotingCommand::response(response::SUCCESS, None)
        .with_ext_field("nextBrokerId", (highest + 1).to_string())
        .with_ext_field("brokerName", group)
}

/// The group's master (active) and the controller ids of its sync state set.
fn replicas(state: &State, group: &BrokerGroup) -> (Option<(u64, String)>, BTreeSet<u64>) {
    let master = group
        .master_broker_id
        .and_then(|id| state.brokers.get(&id))
        .filter(|broker| broker.state == BrokerState::Active)
        .and_then(|broker| Some((controller_id(broker)?, address(broker))));
    let synced = group.sync_state_set.iter().filter_map(|id| state.brokers.get(id)).filter_map(controller_id).collect();
    (master, synced)
}

fn address(broker: &Broker) -> String {
    broker.incarnation_id.clone()
}

fn sync_state_body(group: &BrokerGroup, synced: BTreeSet<u64>) -> Vec<u8> {
    let body = SyncStateSet { sync_state_set: synced, sync_state_set_epoch: group.sync_state_epoch };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// 1003 and 1004: `SUCCESS` with the master (when the group has an active one) and the sync
/// state set. Without master fields the broker starts over (register, heartbeat, elect).
pub fn replica_info(state: &State, group: &BrokerGroup) -> RemotingCommand {
    let (master, synced) = replicas(state, group);
    let mut reply = RemotingCommand::response(response::SUCCESS, None)
        .with_ext_field("syncStateSetEpoch", group.sync_state_epoch.to_string());
    if let Some((master_id, master_address)) = master {
        reply = reply
            .with_ext_field("masterBrokerId", master_id.to_string())
            .with_ext_field("masterAddress", master_address)
            .with_ext_field("masterEpoch", group.master_epoch.to_string());
    }
    reply.with_body(sync_state_body(group, synced))
}

/// 1008, sent to a broker of `group`: its master (which must be active) and sync state set, as
/// a 1004 answer carries them; the broker applies it at once. `None` without an active master.
pub fn role_change_notice(state: &State, group: &BrokerGroup, opaque: i32) -> Option<RemotingCommand> {
    let answer = replica_info(state, group);
    answer.ext_field("masterBrokerId")?;
    let notice = RemotingCommand::request(request::NOTIFY_BROKER_ROLE_CHANGED, opaque);
    let notice =
        answer.ext_fields.iter().fold(notice, |notice, (key, value)| notice.with_ext_field(key, value.clone()));
    Some(notice.with_body(answer.body))
}

/// The addresses of `group`'s active brokers.
pub fn member_addresses(state: &State, group: &BrokerGroup) -> Vec<String> {
    let members = group.members.iter().filter_map(|id| state.brokers.get(id));
    members.filter(|broker| broker.state == BrokerState::Active).map(address).collect()
}

/// 1002: the group's master, as `SUCCESS` when this request's election made it and as
/// `CONTROLLER_MASTER_STILL_EXIST` when it was master already (the broker reads both as the
/// answer); `None` while the group has no active master.
pub fn elected(state: &State, group: &BrokerGroup, newly: bool) -> Option<RemotingCommand> {
    let (master, synced) = replicas(state, group);
    let (master_id, master_address) = master?;
    let code = if newly { response::SUCCESS } else { response::CONTROLLER_MASTER_STILL_EXIST };
    let members = group.members.iter().filter_map(|id| state.brokers.get(id));
    let broker_addrs = members
        .filter(|broker| broker.state == BrokerState::Active)
        .filter_map(|broker| Some((controller_id(broker)?, address(broker))))
        .collect();
    let cluster = state.brokers.get(&group.master_broker_id?).map(|broker| broker.cluster.clone()).unwrap_or_default();
    let body = ElectMasterBody {
        broker_member_group: BrokerMemberGroup { cluster, broker_name: group.name.clone(), broker_addrs },
        sync_state_set: synced,
    };
    Some(
        RemotingCommand::response(code, None)
            .with_ext_field("masterBrokerId", master_id.to_string())
            .with_ext_field("masterAddress", master_address)
            .with_ext_field("masterEpoch", group.master_epoch.to_string())
            .with_ext_field("syncStateSetEpoch", group.sync_state_epoch.to_string())
            .with_body(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

/// 1002 when no master could be elected (the broker then asks 1004).
pub fn elect_failed(reason: &str) -> RemotingCommand {
    RemotingCommand::response(response::CONTROLLER_ELECT_MASTER_FAILED, Some(reason.to_string()))
}

/// 1005: whether this node is the Raft leader. Pharos nodes do not know each other's remoting
/// addresses, so no `controllerLeaderAddress` is given: the broker asks its next controller
/// address, and takes the one that says `isLeader` (or, with none, the first that answered,
/// which forwards what it cannot answer).
pub fn metadata(is_leader: bool, leader_node_id: Option<u64>) -> RemotingCommand {
    let mut reply =
        RemotingCommand::response(response::SUCCESS, None).with_ext_field("isLeader", is_leader.to_string());
    if let Some(id) = leader_node_id {
        reply = reply.with_ext_field("controllerLeaderId", id.to_string());
    }
    reply
}

/// 904 of a master: `SUCCESS` with its write lease.
pub fn heartbeat_with_lease(lease: &WriteLease) -> RemotingCommand {
    RemotingCommand::response(response::SUCCESS, None).with_body(serde_json::to_vec(lease).unwrap_or_default())
}

/// 1001 accepted: the new set's epoch, and the set.
pub fn sync_state_set_altered(state: &State, group: &BrokerGroup) -> RemotingCommand {
    let (_, synced) = replicas(state, group);
    RemotingCommand::response(response::SUCCESS, None)
        .with_ext_field("newSyncStateSetEpoch", group.sync_state_epoch.to_string())
        .with_body(sync_state_body(group, synced))
}

/// The Pharos broker ids of `group`'s active members with the controller ids in `ids`, or the
/// first id that names none.
pub fn members_by_controller_id(state: &State, group: &BrokerGroup, ids: &BTreeSet<u64>) -> Result<BTreeSet<u64>, u64> {
    let active: BTreeMap<u64, u64> = group
        .members
        .iter()
        .filter_map(|id| state.brokers.get(id))
        .filter(|broker| broker.state == BrokerState::Active)
        .filter_map(|broker| Some((controller_id(broker)?, broker.broker_id)))
        .collect();
    ids.iter().map(|id| active.get(id).copied().ok_or(*id)).collect()
}

/// 1006: the replicas of every named controlled group (others are left out).
pub fn sync_state_data(state: &State, groups: &[String], alive: impl Fn(&Broker) -> bool) -> RemotingCommand {
    let mut table = BTreeMap::new();
    for name in groups.iter().take(SYNC_STATE_DATA_GROUPS_MAX) {
        let Ok(group) = controlled_group(state, name) else { continue };
        let (master, _) = replicas(state, group);
        let members = group.members.iter().filter_map(|id| state.brokers.get(id));
        let (mut in_sync, mut not_in_sync) = (Vec::new(), Vec::new());
        for broker in members.filter(|broker| broker.state == BrokerState::Active) {
            let Some(broker_id) = controller_id(broker) else { continue };
            let identity = ReplicaIdentity {
                broker_name: name.clone(),
                broker_id,
                broker_address: address(broker),
                alive: alive(broker),
            };
            if group.sync_state_set.contains(&broker.broker_id) {
                in_sync.push(identity)
            } else {
                not_in_sync.push(identity)
            }
        }
        let (master_broker_id, master_address) = master.unwrap_or_default();
        table.insert(
            name.clone(),
            ReplicasInfo {
                master_broker_id,
                master_address,
                master_epoch: group.master_epoch,
                sync_state_set_epoch: group.sync_state_epoch,
                in_sync_replicas: in_sync,
                not_in_sync_replicas: not_in_sync,
            },
        );
    }
    let body = BrokerReplicasInfo { replicas_info_table: table };
    RemotingCommand::response(response::SUCCESS, None).with_body(serde_json::to_vec(&body).unwrap_or_default())
}

/// A request Pharos cannot act on: `CONTROLLER_INVALID_REQUEST` with the reason.
pub fn invalid(remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(response::CONTROLLER_INVALID_REQUEST, Some(remark.into()))
}

/// A refusal with one of the controller's codes.
pub fn refused(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(code, Some(remark.into()))
}

/// At most 128 characters of echoed input, so a remark stays readable.
fn clip(text: &str) -> String {
    text.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
        fields
            .iter()
            .fold(RemotingCommand::request(code, 1), |command, (key, value)| command.with_ext_field(key, *value))
    }

    const BROKER: [(&str, &str); 3] =
        [("clusterName", "DefaultCluster"), ("brokerName", "broker-a"), ("brokerAddr", "127.0.0.1:30911")];

    #[test]
    fn a_controller_heartbeat_is_told_from_a_nameserver_one_by_its_offsets() {
        let nameserver = command(request::BROKER_HEARTBEAT, &[BROKER[0], BROKER[1], BROKER[2], ("brokerId", "0")]);
        assert!(!is_controller_request(&nameserver));
        let controller = command(
            request::BROKER_HEARTBEAT,
            &[BROKER[0], BROKER[1], BROKER[2], ("brokerId", "1"), ("maxOffset", "42"), ("epoch", "3")],
        );
        assert!(is_controller_request(&controller) && needs_leader(&controller));
        assert_eq!(
            parse(&controller, "internal"),
            Ok(ControllerRequest::Heartbeat(Heartbeat {
                cluster: "DefaultCluster".into(),
                group: "broker-a".into(),
                address: "127.0.0.1:30911".into(),
                name: "1".into(),
                epoch: Some(3),
                max_offset: 42,
                confirm_offset: 0,
            }))
        );
        let metadata = command(request::CONTROLLER_GET_METADATA_INFO, &[]);
        assert!(is_controller_request(&metadata) && !needs_leader(&metadata));
    }

    #[test]
    fn an_applied_id_registers_the_broker_at_the_address_of_its_check_code() {
        let apply = command(
            request::CONTROLLER_APPLY_BROKER_ID,
            &[BROKER[0], BROKER[1], ("appliedBrokerId", "2"), ("registerCheckCode", "127.0.0.1:30921;1796306603905")],
        );
        let Ok(ControllerRequest::Register(registration)) = parse(&apply, "internal") else { panic!("parses") };
        assert_eq!(
            (registration.name.as_str(), registration.incarnation_id.as_str(), registration.mode),
            ("2", "127.0.0.1:30921", RegistrationMode::Controlled)
        );
        assert_eq!(registration.addresses.get("internal").map(String::as_str), Some("127.0.0.1:30921"));
    }

    #[test]
    fn malformed_requests_are_refused_with_the_reason() {
        let cases: [(RemotingCommand, &str); 5] = [
            (command(request::CONTROLLER_GET_NEXT_BROKER_ID, &[BROKER[0]]), "brokerName"),
            (command(request::CONTROLLER_REGISTER_BROKER, &[BROKER[0], BROKER[1], ("brokerId", "0")]), "start at 1"),
            (
                command(
                    request::CONTROLLER_REGISTER_BROKER,
                    &[BROKER[0], BROKER[1], ("brokerId", "1"), ("brokerAddress", "x")],
                ),
                "host:port",
            ),
            (
                command(
                    request::BROKER_HEARTBEAT,
                    &[BROKER[0], BROKER[1], BROKER[2], ("brokerId", "1"), ("maxOffset", "-1")],
                ),
                "not a number",
            ),
            (command(request::CONTROLLER_GET_SYNC_STATE_DATA, &[]).with_body(b"{}".to_vec()), "JSON list"),
        ];
        for (request, expected) in cases {
            let error = parse(&request, "internal").expect_err("refused");
            assert!(error.contains(expected), "{error} should mention {expected}");
        }
    }

    #[test]
    fn a_write_lease_has_the_field_names_the_broker_reads() {
        let lease = WriteLease {
            broker_id: 1,
            master_epoch: 2,
            generation: 7,
            lease_duration_millis: 3_000,
            safety_margin_millis: LEASE_SAFETY_MARGIN_MS,
        };
        let json: serde_json::Value = serde_json::from_slice(&heartbeat_with_lease(&lease).body).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({"brokerId":1,"masterEpoch":2,"generation":7,"leaseDurationMillis":3000,"safetyMarginMillis":1000})
        );
    }
}
