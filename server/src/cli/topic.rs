//! `pharos topic ...`: topics, their specs and routes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{ConsistencyArg, Output, View, serialize_label, show};

#[derive(Debug, Clone, clap::Args)]
pub struct TopicShape {
    /// Read and write queues per broker group.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Broker groups, comma separated (default: every registered group).
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,
    /// 6 read+write, 4 read only, 2 write only.
    #[arg(long, default_value_t = 6)]
    perm: u32,
    /// normal, fifo, delay or transactional.
    #[arg(long, default_value = "normal", value_parser = parse_message_type)]
    message_type: v1::MessageType,
    /// Attributes as KEY=VALUE, repeatable.
    #[arg(long = "attribute")]
    attributes: Vec<String>,
}

fn parse_message_type(label: &str) -> Result<v1::MessageType, String> {
    v1::MessageType::from_label(label).ok_or_else(|| format!("{label:?} is not normal, fifo, delay or transactional"))
}

/// What `topic update` changes; every field left out keeps its current value.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicChanges {
    /// Read and write queues per broker group (every group of the topic, or of --groups).
    #[arg(long)]
    queues: Option<u32>,
    /// The topic's broker groups, comma separated (new groups get --queues, or 8).
    #[arg(long, value_delimiter = ',')]
    groups: Option<Vec<String>>,
    /// 6 read+write, 4 read only, 2 write only.
    #[arg(long)]
    perm: Option<u32>,
    /// normal, fifo, delay or transactional.
    #[arg(long, value_parser = parse_message_type)]
    message_type: Option<v1::MessageType>,
    /// Set an attribute, KEY=VALUE, repeatable (the others stay).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
    /// Remove an attribute, repeatable.
    #[arg(long = "remove-attribute")]
    remove_attributes: Vec<String>,
}

/// Queues a group gets when `topic update --groups` adds it without `--queues`.
const NEW_GROUP_QUEUES: u32 = 8;

fn parse_attribute(entry: &str) -> Result<(String, String), ClientError> {
    entry
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| ClientError::Config(format!("attribute `{entry}` is not KEY=VALUE")))
}

/// `current` with `changes` applied; its revision stays, so the update is a compare-and-set.
fn changed_topic(mut topic: v1::TopicInfo, changes: TopicChanges) -> Result<v1::TopicInfo, ClientError> {
    if let Some(groups) = changes.groups {
        let old: std::collections::BTreeMap<String, v1::QueueSpec> =
            topic.queues.drain(..).map(|queues| (queues.group.clone(), queues)).collect();
        topic.queues = groups
            .into_iter()
            .map(|group| {
                old.get(&group).cloned().unwrap_or(v1::QueueSpec {
                    group,
                    read_queues: NEW_GROUP_QUEUES,
                    write_queues: NEW_GROUP_QUEUES,
                })
            })
            .collect();
    }
    if let Some(queues) = changes.queues {
        for spec in &mut topic.queues {
            spec.read_queues = queues;
            spec.write_queues = queues;
        }
    }
    if let Some(perm) = changes.perm {
        topic.perm = perm;
    }
    if let Some(message_type) = changes.message_type {
        topic.message_type = message_type.into();
    }
    for entry in &changes.attributes {
        let (key, value) = parse_attribute(entry)?;
        topic.attributes.insert(key, value);
    }
    for key in &changes.remove_attributes {
        topic.attributes.remove(key);
    }
    Ok(topic)
}

#[derive(Debug, clap::Subcommand)]
pub enum TopicCommand {
    Create {
        name: String,
        #[command(flatten)]
        shape: TopicShape,
    },
    /// Change only the named fields of a topic (read, change, write back if nobody changed it
    /// in between).
    Update {
        name: String,
        #[command(flatten)]
        changes: TopicChanges,
    },
    List {
        #[arg(long, default_value = "")]
        prefix: String,
    },
    Describe {
        name: String,
    },
    /// Delete a topic (--force when consumer groups still hold offsets for it).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Queues per broker group with master and replica addresses on a network.
    Route {
        name: String,
        #[arg(long, default_value = "internal")]
        network: String,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
}

pub(super) async fn run(client: &Client, output: Output, command: TopicCommand) -> Result<ExitCode, ClientError> {
    match command {
        TopicCommand::Create { name, shape } => {
            let response = client.create_topic(topic_info(client, name, shape).await?).await?;
            show(output, &TopicChanged::new(TopicChange::Created, &response));
        }
        TopicCommand::Update { name, changes } => {
            let current = client
                .get_topic(&name, v1::Consistency::Linearizable)
                .await?
                .topic
                .ok_or_else(|| ClientError::Config(format!("topic {name} has no spec")))?;
            let response = client.update_topic(changed_topic(current, changes)?).await?;
            show(output, &TopicChanged::new(TopicChange::Updated, &response));
        }
        TopicCommand::List { prefix } => {
            let mut topics = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = v1::ListTopicsRequest { prefix: prefix.clone(), limit: 0, page_token, consistency: 0 };
                let page = client.list_topics(request).await?;
                topics.extend(page.topics.iter().map(Topic::from));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            show(output, &TopicList(topics));
        }
        TopicCommand::Describe { name } => {
            let response = client.get_topic(&name, v1::Consistency::Linearizable).await?;
            show(output, &Topic::from(&response.topic.unwrap_or_default()));
        }
        TopicCommand::Delete { name, force } => {
            let response = client.delete_topic(&name, force).await?;
            show(output, &TopicDeleted { topic: name, deleted: true, revision: response.revision });
        }
        TopicCommand::Route { name, network, consistency } => {
            let response = client.get_route(&name, &network, consistency.into()).await?;
            let route = response.route.unwrap_or_default();
            let header = response.header.unwrap_or_default();
            show(output, &Route::new(&route, network, &header));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn topic_info(client: &Client, name: String, shape: TopicShape) -> Result<v1::TopicInfo, ClientError> {
    let groups = if shape.groups.is_empty() {
        client
            .list_broker_groups(v1::Consistency::Linearizable)
            .await?
            .groups
            .into_iter()
            .map(|group| group.name)
            .collect()
    } else {
        shape.groups
    };
    let attributes = shape.attributes.iter().map(|entry| parse_attribute(entry)).collect::<Result<_, _>>()?;
    Ok(v1::TopicInfo {
        name,
        queues: groups
            .into_iter()
            .map(|group| v1::QueueSpec { group, read_queues: shape.queues, write_queues: shape.queues })
            .collect(),
        perm: shape.perm,
        message_type: shape.message_type.into(),
        attributes,
        create_revision: 0,
        revision: 0,
        reported_by_group: String::new(),
    })
}

/// A topic's spec as `topic describe` and `topic list` show it.
#[derive(Debug, Serialize)]
struct Topic {
    name: String,
    /// 6 read+write, 4 read only, 2 write only.
    perm: u32,
    #[serde(serialize_with = "serialize_label")]
    message_type: v1::MessageType,
    queues: Vec<Queues>,
    /// Ordered so the JSON and the table list them the same way every time.
    attributes: BTreeMap<String, String>,
    create_revision: u64,
    revision: u64,
    /// Set when a broker group reported the topic (NameServer mode), empty when an operator made it.
    reported_by_group: String,
}

/// One group's queue counts of a topic.
#[derive(Debug, Serialize)]
struct Queues {
    group: String,
    read_queues: u32,
    write_queues: u32,
}

impl From<&v1::TopicInfo> for Topic {
    fn from(topic: &v1::TopicInfo) -> Self {
        Self {
            name: topic.name.clone(),
            perm: topic.perm,
            message_type: topic.message_type(),
            queues: topic
                .queues
                .iter()
                .map(|queues| Queues {
                    group: queues.group.clone(),
                    read_queues: queues.read_queues,
                    write_queues: queues.write_queues,
                })
                .collect(),
            attributes: topic.attributes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
            create_revision: topic.create_revision,
            revision: topic.revision,
            reported_by_group: topic.reported_by_group.clone(),
        }
    }
}

impl View for Topic {
    fn print_table(&self) {
        println!("topic        {}", self.name);
        println!("perm         {}", self.perm);
        println!("type         {}", self.message_type.label());
        println!("revision     {} (created at {})", self.revision, self.create_revision);
        for queues in &self.queues {
            println!(
                "group        {}: {} read / {} write queues",
                queues.group, queues.read_queues, queues.write_queues
            );
        }
        for (key, value) in &self.attributes {
            println!("attribute    {key}={value}");
        }
    }
}

/// `topic list`: a bare list of topics in JSON, one line per topic in the table.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct TopicList(Vec<Topic>);

impl View for TopicList {
    fn print_table(&self) {
        println!("{:<40} {:>6} {:<14} {:>7}  GROUPS", "TOPIC", "PERM", "TYPE", "QUEUES");
        for topic in &self.0 {
            let queues: u32 = topic.queues.iter().map(|queues| queues.read_queues.max(queues.write_queues)).sum();
            let groups: Vec<&str> = topic.queues.iter().map(|queues| queues.group.as_str()).collect();
            println!(
                "{:<40} {:>6} {:<14} {:>7}  {}",
                topic.name,
                topic.perm,
                topic.message_type.label(),
                queues,
                groups.join(",")
            );
        }
    }
}

/// Which command changed the topic; only the table says it.
#[derive(Debug, Clone, Copy)]
enum TopicChange {
    Created,
    Updated,
}

/// `topic create` and `topic update`: the revision of the change and the topic as stored.
#[derive(Debug, Serialize)]
struct TopicChanged {
    #[serde(skip)]
    change: TopicChange,
    revision: u64,
    topic: Option<Topic>,
}

impl TopicChanged {
    fn new(change: TopicChange, response: &v1::TopicResponse) -> Self {
        Self { change, revision: response.revision, topic: response.topic.as_ref().map(Topic::from) }
    }
}

impl View for TopicChanged {
    fn print_table(&self) {
        let change = match self.change {
            TopicChange::Created => "created",
            TopicChange::Updated => "updated",
        };
        println!("topic {change} (revision {})", self.revision);
    }
}

/// `topic delete`.
#[derive(Debug, Serialize)]
struct TopicDeleted {
    topic: String,
    /// Always true.
    deleted: bool,
    revision: u64,
}

impl View for TopicDeleted {
    fn print_table(&self) {
        println!("topic {} deleted (revision {})", self.topic, self.revision);
    }
}

/// `topic route`: where each group's queues are served on one network, and how fresh the
/// answering node's view was (the header).
#[derive(Debug, Serialize)]
struct Route {
    topic: String,
    network: String,
    perm: u32,
    #[serde(serialize_with = "serialize_label")]
    message_type: v1::MessageType,
    revision: u64,
    node_id: u64,
    applied_index: u64,
    known_commit_index: u64,
    groups: Vec<GroupRoute>,
}

/// One group of a route: its queue counts, its master (none while it has none) and replicas.
#[derive(Debug, Serialize)]
struct GroupRoute {
    group: String,
    read_queues: u32,
    write_queues: u32,
    master: Option<Address>,
    replicas: Vec<Address>,
}

/// A broker's address on the route's network.
#[derive(Debug, Serialize)]
struct Address {
    broker_id: u64,
    name: String,
    address: String,
}

impl From<&v1::BrokerAddress> for Address {
    fn from(broker: &v1::BrokerAddress) -> Self {
        Self { broker_id: broker.broker_id, name: broker.name.clone(), address: broker.address.clone() }
    }
}

impl Address {
    /// `ID ADDRESS`, as the route table shows a broker.
    fn label(&self) -> String {
        format!("{} {}", self.broker_id, self.address)
    }
}

impl Route {
    fn new(route: &v1::RouteInfo, network: String, header: &v1::ResponseHeader) -> Self {
        Self {
            topic: route.topic.clone(),
            network,
            perm: route.perm,
            message_type: route.message_type(),
            revision: header.revision,
            node_id: header.node_id,
            applied_index: header.applied_index,
            known_commit_index: header.known_commit_index,
            groups: route
                .groups
                .iter()
                .map(|group| GroupRoute {
                    group: group.group.clone(),
                    read_queues: group.read_queues,
                    write_queues: group.write_queues,
                    master: group.master.as_ref().map(Address::from),
                    replicas: group.replicas.iter().map(Address::from).collect(),
                })
                .collect(),
        }
    }
}

impl View for Route {
    fn print_table(&self) {
        println!("{:<16} {:>5} {:>5}  {:<28} REPLICAS", "GROUP", "READ", "WRITE", "MASTER");
        for group in &self.groups {
            let master = group.master.as_ref().map_or("(none)".to_string(), Address::label);
            let replicas: Vec<String> = group.replicas.iter().map(Address::label).collect();
            println!(
                "{:<16} {:>5} {:>5}  {:<28} {}",
                group.group,
                group.read_queues,
                group.write_queues,
                master,
                replicas.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> TopicChanges {
        TopicChanges {
            queues: None,
            groups: None,
            perm: None,
            message_type: None,
            attributes: Vec::new(),
            remove_attributes: Vec::new(),
        }
    }

    #[test]
    fn a_topic_update_keeps_every_field_it_does_not_name() {
        let current = v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 }],
            perm: 6,
            message_type: v1::MessageType::Fifo.into(),
            attributes: [("retention".to_string(), "7d".to_string()), ("tier".to_string(), "gold".to_string())].into(),
            create_revision: 3,
            revision: 9,
            reported_by_group: String::new(),
        };
        let perm_only = TopicChanges { perm: Some(4), ..changes() };
        assert_eq!(
            changed_topic(current.clone(), perm_only).expect("valid"),
            v1::TopicInfo { perm: 4, ..current.clone() }
        );
        let groups = TopicChanges {
            groups: Some(vec!["g1".into(), "g2".into()]),
            attributes: vec!["owner=payments".into()],
            remove_attributes: vec!["tier".into()],
            ..changes()
        };
        let changed = changed_topic(current.clone(), groups).expect("valid");
        assert_eq!(
            changed.queues,
            vec![
                v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 },
                v1::QueueSpec { group: "g2".into(), read_queues: NEW_GROUP_QUEUES, write_queues: NEW_GROUP_QUEUES },
            ],
            "an existing group keeps its counts"
        );
        assert_eq!(
            changed.attributes,
            [("retention".to_string(), "7d".to_string()), ("owner".to_string(), "payments".to_string())].into()
        );
        assert_eq!(
            (changed.message_type(), changed.revision),
            (v1::MessageType::Fifo, 9),
            "the read revision is sent back"
        );
        let bad = TopicChanges { attributes: vec!["no-equals".into()], ..changes() };
        assert!(changed_topic(current, bad).is_err());
    }

    /// `topic route --output json` is read by scripts and the interop tests (groups[].group,
    /// write_queues, master.address, replicas[].address): its exact text is pinned here.
    #[test]
    fn the_route_json_is_pinned() {
        let address = |broker_id: u64, name: &str, address: &str| v1::BrokerAddress {
            broker_id,
            name: name.into(),
            address: address.into(),
        };
        let route = v1::RouteInfo {
            topic: "orders".into(),
            perm: 6,
            message_type: v1::MessageType::Fifo.into(),
            groups: vec![
                v1::GroupRoute {
                    group: "g1".into(),
                    read_queues: 4,
                    write_queues: 4,
                    master: Some(address(1, "b1", "10.0.0.1:10911")),
                    replicas: vec![address(2, "b2", "10.0.0.2:10911")],
                },
                v1::GroupRoute { group: "g2".into(), read_queues: 8, write_queues: 2, master: None, replicas: vec![] },
            ],
        };
        let header = v1::ResponseHeader {
            revision: 42,
            node_id: 3,
            applied_index: 57,
            known_commit_index: 58,
            ..Default::default()
        };
        let expected = r#"{
  "applied_index": 57,
  "groups": [
    {
      "group": "g1",
      "master": {
        "address": "10.0.0.1:10911",
        "broker_id": 1,
        "name": "b1"
      },
      "read_queues": 4,
      "replicas": [
        {
          "address": "10.0.0.2:10911",
          "broker_id": 2,
          "name": "b2"
        }
      ],
      "write_queues": 4
    },
    {
      "group": "g2",
      "master": null,
      "read_queues": 8,
      "replicas": [],
      "write_queues": 2
    }
  ],
  "known_commit_index": 58,
  "message_type": "fifo",
  "network": "external",
  "node_id": 3,
  "perm": 6,
  "revision": 42,
  "topic": "orders"
}"#;
        assert_eq!(crate::cli::json_text(&Route::new(&route, "external".into(), &header)), expected);
    }

    /// `topic describe` and `topic list`: attributes come off the wire as a hash map; the view
    /// orders them, so JSON and table list them the same way every time.
    #[test]
    fn the_topic_json_is_pinned() {
        let topic = v1::TopicInfo {
            name: "orders".into(),
            queues: vec![v1::QueueSpec { group: "g1".into(), read_queues: 4, write_queues: 2 }],
            perm: 6,
            message_type: v1::MessageType::Normal.into(),
            attributes: [("tier".to_string(), "gold".to_string()), ("retention".to_string(), "7d".to_string())].into(),
            create_revision: 3,
            revision: 9,
            reported_by_group: String::new(),
        };
        let view = Topic::from(&topic);
        assert_eq!(view.attributes.keys().collect::<Vec<_>>(), ["retention", "tier"]);
        let expected = r#"{
  "attributes": {
    "retention": "7d",
    "tier": "gold"
  },
  "create_revision": 3,
  "message_type": "normal",
  "name": "orders",
  "perm": 6,
  "queues": [
    {
      "group": "g1",
      "read_queues": 4,
      "write_queues": 2
    }
  ],
  "reported_by_group": "",
  "revision": 9
}"#;
        assert_eq!(crate::cli::json_text(&view), expected);
        assert_eq!(
            crate::cli::json_text(&TopicList(vec![view])),
            format!("[\n  {}\n]", expected.replace('\n', "\n  "))
        );
    }
}
