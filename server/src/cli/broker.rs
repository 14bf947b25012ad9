//! `pharos broker ...`: brokers and broker groups.

use std::collections::BTreeMap;
use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{Output, View, serialize_label, show};

#[derive(Debug, clap::Subcommand)]
pub enum BrokerCommand {
    /// Every group: master, epochs, sync state set, and each broker's liveness and placement.
    List,
    /// One broker in detail.
    Describe { broker_id: u64 },
    /// Move a group's master: fence the current one, wait for its lease, elect another.
    Failover {
        #[arg(long)]
        group: String,
        /// Elect this broker (must be live and in the sync state set, unless --unclean).
        #[arg(long)]
        to: Option<u64>,
        /// Allow a broker outside the sync state set (possible message loss).
        #[arg(long)]
        unclean: bool,
    },
    /// Declare a broker dead now.
    Fence { broker_id: u64 },
    /// Forget a fenced or shut-down broker.
    Remove { broker_id: u64 },
}

pub(super) async fn run(client: &Client, output: Output, command: BrokerCommand) -> Result<ExitCode, ClientError> {
    match command {
        BrokerCommand::List => {
            let response = client.list_broker_groups(v1::Consistency::Linearizable).await?;
            show(output, &GroupList::from(&response));
        }
        BrokerCommand::Describe { broker_id } => {
            let response = client.list_broker_groups(v1::Consistency::Linearizable).await?;
            let found = response.groups.iter().find_map(|group| {
                group
                    .brokers
                    .iter()
                    .find(|broker| broker.broker_id == broker_id)
                    .map(|broker| Broker::new(group, broker))
            });
            let Some(found) = found else {
                eprintln!("error: UNKNOWN_BROKER: broker {broker_id} is unknown");
                return Ok(ExitCode::FAILURE);
            };
            show(output, &BrokerDetail(found));
        }
        BrokerCommand::Failover { group, to, unclean } => {
            if output == Output::Table {
                eprintln!("failing over {group}: fencing the master and waiting for its lease to run out...");
            }
            let response = client.failover(&group, to, unclean).await?;
            let moved =
                MasterMoved { group, master_broker_id: response.master_broker_id, master_epoch: response.master_epoch };
            show(output, &moved);
        }
        BrokerCommand::Fence { broker_id } => {
            let response = client.fence_broker(broker_id).await?;
            show(output, &Fenced { broker_id, state: v1::BrokerState::Fenced, revision: response.revision });
        }
        BrokerCommand::Remove { broker_id } => {
            let response = client.remove_broker(broker_id).await?;
            show(output, &BrokerRemoved { broker_id, removed: true, revision: response.revision });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `broker list`: every group with its brokers.
#[derive(Debug, Serialize)]
struct GroupList {
    revision: u64,
    groups: Vec<Group>,
}

impl From<&v1::ListBrokerGroupsResponse> for GroupList {
    fn from(response: &v1::ListBrokerGroupsResponse) -> Self {
        Self { revision: response.revision, groups: response.groups.iter().map(Group::from).collect() }
    }
}

impl View for GroupList {
    /// One line per broker; a group's own facts (epoch, sync state set) repeat on each of its lines.
    fn print_table(&self) {
        println!(
            "{:<14} {:>6} {:<14} {:<8} {:<9} {:>6} {:<10} {:<10} {:<10} {:>8}",
            "GROUP", "ID", "NAME", "ROLE", "STATE", "EPOCH", "SYNC", "ZONE", "REGION", "HB AGE"
        );
        for group in &self.groups {
            let sync = format!("{:?}", group.sync_state_set);
            for broker in &group.brokers {
                let role = if broker.role == v1::BrokerRole::None { "-" } else { broker.role.label() };
                println!(
                    "{:<14} {:>6} {:<14} {:<8} {:<9} {:>6} {:<10} {:<10} {:<10} {:>8}",
                    group.group,
                    broker.broker_id,
                    broker.name,
                    role,
                    broker.state.label(),
                    group.master_epoch,
                    sync,
                    broker.zone,
                    broker.region,
                    broker.last_heartbeat_age_ms.map_or("-".to_string(), |age| format!("{age}ms")),
                );
            }
            if group.election_mode == v1::ElectionMode::Declared {
                println!("  (group {}: its brokers declare the master; NAME is the RocketMQ broker id)", group.group);
            }
            if group.leaderless {
                println!("WARNING: group {} is leaderless: {}", group.group, group.leaderless_reason);
            }
        }
    }
}

/// One broker group: who is master, in which epoch, and who may take over without loss.
#[derive(Debug, Serialize)]
struct Group {
    group: String,
    #[serde(serialize_with = "serialize_label")]
    election_mode: v1::ElectionMode,
    master_broker_id: Option<u64>,
    master_epoch: u64,
    sync_state_set: Vec<u64>,
    sync_state_epoch: u64,
    leaderless: bool,
    leaderless_reason: String,
    brokers: Vec<Broker>,
}

impl From<&v1::BrokerGroupView> for Group {
    fn from(group: &v1::BrokerGroupView) -> Self {
        Self {
            group: group.name.clone(),
            election_mode: group.election_mode(),
            master_broker_id: group.master_broker_id,
            master_epoch: group.master_epoch,
            sync_state_set: group.sync_state_set.clone(),
            sync_state_epoch: group.sync_state_epoch,
            leaderless: group.leaderless,
            leaderless_reason: group.leaderless_reason.clone(),
            brokers: group.brokers.iter().map(|broker| Broker::new(group, broker)).collect(),
        }
    }
}

/// One broker with what its group says about it (role, election mode, in the sync state set).
#[derive(Debug, Serialize)]
struct Broker {
    broker_id: u64,
    name: String,
    group: String,
    cluster: String,
    #[serde(serialize_with = "serialize_label")]
    election_mode: v1::ElectionMode,
    /// `none` unless the broker is active: a fenced master is not master any more.
    #[serde(serialize_with = "serialize_label")]
    role: v1::BrokerRole,
    #[serde(serialize_with = "serialize_label")]
    state: v1::BrokerState,
    broker_epoch: u64,
    incarnation_id: String,
    in_sync: bool,
    zone: String,
    region: String,
    /// Network name → address; ordered so output is stable.
    addresses: BTreeMap<String, String>,
    election_priority: u32,
    last_heartbeat_age_ms: Option<u64>,
    max_offset: u64,
    confirm_offset: u64,
}

impl Broker {
    fn new(group: &v1::BrokerGroupView, broker: &v1::BrokerInfo) -> Self {
        let role = if broker.state() != v1::BrokerState::Active {
            v1::BrokerRole::None
        } else if group.master_broker_id == Some(broker.broker_id) {
            v1::BrokerRole::Master
        } else {
            v1::BrokerRole::Replica
        };
        Self {
            broker_id: broker.broker_id,
            name: broker.name.clone(),
            group: broker.group.clone(),
            cluster: broker.cluster.clone(),
            election_mode: group.election_mode(),
            role,
            state: broker.state(),
            broker_epoch: broker.broker_epoch,
            incarnation_id: broker.incarnation_id.clone(),
            in_sync: group.sync_state_set.contains(&broker.broker_id),
            zone: broker.zone.clone(),
            region: broker.region.clone(),
            addresses: broker.addresses.iter().map(|(network, address)| (network.clone(), address.clone())).collect(),
            election_priority: broker.election_priority,
            last_heartbeat_age_ms: broker.last_heartbeat_age_ms,
            max_offset: broker.max_offset,
            confirm_offset: broker.confirm_offset,
        }
    }
}

/// `broker describe`: the broker's JSON object, and as a table one `key value` line per field.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct BrokerDetail(Broker);

impl View for BrokerDetail {
    /// Rendered from the JSON itself (keys in order, values as JSON), so the two list the same fields.
    fn print_table(&self) {
        if let serde_json::Value::Object(object) = super::json_value(self) {
            for (key, value) in &object {
                println!("{key:<22} {value}");
            }
        }
    }
}

/// `broker failover`: the group's new master.
#[derive(Debug, Serialize)]
struct MasterMoved {
    group: String,
    master_broker_id: u64,
    master_epoch: u64,
}

impl View for MasterMoved {
    fn print_table(&self) {
        println!("group {}: master is broker {} (epoch {})", self.group, self.master_broker_id, self.master_epoch);
    }
}

/// `broker fence`.
#[derive(Debug, Serialize)]
struct Fenced {
    broker_id: u64,
    /// Always fenced.
    #[serde(serialize_with = "serialize_label")]
    state: v1::BrokerState,
    revision: u64,
}

impl View for Fenced {
    fn print_table(&self) {
        println!("broker {} {} (revision {})", self.broker_id, self.state.label(), self.revision);
    }
}

/// `broker remove`.
#[derive(Debug, Serialize)]
struct BrokerRemoved {
    broker_id: u64,
    /// Always true.
    removed: bool,
    revision: u64,
}

impl View for BrokerRemoved {
    fn print_table(&self) {
        println!("broker {} removed (revision {})", self.broker_id, self.revision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> v1::BrokerGroupView {
        let broker = |broker_id: u64, state: v1::BrokerState| v1::BrokerInfo {
            broker_id,
            incarnation_id: format!("inc-{broker_id}"),
            cluster: "DefaultCluster".into(),
            group: "g1".into(),
            name: format!("b{broker_id}"),
            zone: "zone-b".into(),
            region: "region-1".into(),
            addresses: [
                ("internal".to_string(), format!("127.0.0.1:1091{broker_id}")),
                ("external".to_string(), format!("10.0.0.{broker_id}:10911")),
            ]
            .into(),
            election_priority: 1,
            state: state.into(),
            broker_epoch: 3,
            last_heartbeat_age_ms: (state == v1::BrokerState::Active).then_some(120),
            max_offset: 100,
            confirm_offset: 90,
        };
        v1::BrokerGroupView {
            name: "g1".into(),
            master_broker_id: Some(1),
            master_epoch: 4,
            sync_state_set: vec![1, 2],
            sync_state_epoch: 5,
            brokers: vec![
                broker(1, v1::BrokerState::Active),
                broker(2, v1::BrokerState::Active),
                broker(3, v1::BrokerState::Fenced),
            ],
            election_mode: v1::ElectionMode::Elected.into(),
            ..Default::default()
        }
    }

    /// `broker describe --output json` (and each broker of `broker list`) is read by scripts and
    /// tests: its exact text is pinned here.
    #[test]
    fn the_broker_json_is_pinned() {
        let group = group();
        let expected = r#"{
  "addresses": {
    "external": "10.0.0.2:10911",
    "internal": "127.0.0.1:10912"
  },
  "broker_epoch": 3,
  "broker_id": 2,
  "cluster": "DefaultCluster",
  "confirm_offset": 90,
  "election_mode": "elected",
  "election_priority": 1,
  "group": "g1",
  "in_sync": true,
  "incarnation_id": "inc-2",
  "last_heartbeat_age_ms": 120,
  "max_offset": 100,
  "name": "b2",
  "region": "region-1",
  "role": "replica",
  "state": "active",
  "zone": "zone-b"
}"#;
        assert_eq!(crate::cli::json_text(&BrokerDetail(Broker::new(&group, &group.brokers[1]))), expected);
    }

    /// A fenced master is no master: role `none` (the table shows `-`), out of the sync state set.
    #[test]
    fn a_broker_list_names_roles_by_state() {
        let list = GroupList::from(&v1::ListBrokerGroupsResponse { groups: vec![group()], revision: 7, header: None });
        let value = crate::cli::json_value(&list);
        let roles: Vec<_> = value["groups"][0]["brokers"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|broker| broker["role"].clone())
            .collect();
        assert_eq!(roles, [serde_json::json!("master"), serde_json::json!("replica"), serde_json::json!("none")]);
        let fenced = &value["groups"][0]["brokers"][2];
        assert_eq!(
            (&fenced["state"], &fenced["in_sync"], &fenced["last_heartbeat_age_ms"]),
            (&serde_json::json!("fenced"), &serde_json::json!(false), &serde_json::Value::Null)
        );
        let group = value["groups"][0].as_object().expect("an object");
        assert_eq!(
            group.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "brokers",
                "election_mode",
                "group",
                "leaderless",
                "leaderless_reason",
                "master_broker_id",
                "master_epoch",
                "sync_state_epoch",
                "sync_state_set"
            ]
        );
        assert_eq!((&value["revision"], &group["master_broker_id"]), (&serde_json::json!(7), &serde_json::json!(1)));
    }
}
