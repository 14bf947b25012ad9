//! Wire request -> domain command conversions, validated on receive.

use pharos_meta::{Compare, Operation, Registration, RequestId, limits};

use pharos_proto::v1;

/// A request that cannot be turned into a command. Maps to gRPC `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidRequest {
    pub field: &'static str,
    pub reason: String,
}

/// A wire request that validates into the domain value it carries.
pub trait Validate {
    type Valid;

    /// The domain value, or why the request is malformed (nothing is proposed then).
    fn validate(self) -> Result<Self::Valid, InvalidRequest>;
}

impl InvalidRequest {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

pub fn validate_key(field: &'static str, key: &[u8]) -> Result<(), InvalidRequest> {
    if key.is_empty() {
        return Err(InvalidRequest::new(field, "must not be empty"));
    }
    if key.len() > limits::KEY_BYTES_MAX {
        return Err(InvalidRequest::new(
            field,
            format!("is {} bytes, the limit is {}", key.len(), limits::KEY_BYTES_MAX),
        ));
    }
    Ok(())
}

fn validate_value(value: &[u8]) -> Result<(), InvalidRequest> {
    if value.len() > limits::VALUE_BYTES_MAX {
        return Err(InvalidRequest::new(
            "value",
            format!("is {} bytes, the limit is {}", value.len(), limits::VALUE_BYTES_MAX),
        ));
    }
    Ok(())
}

/// Converts an optional wire request id; an absent one means "not idempotent".
pub fn request_id(request_id: Option<v1::RequestId>) -> Result<Option<RequestId>, InvalidRequest> {
    let Some(request_id) = request_id else { return Ok(None) };
    if request_id.client_id.is_empty() {
        return Err(InvalidRequest::new("request_id.client_id", "must not be empty"));
    }
    if request_id.client_id.len() > limits::CLIENT_ID_BYTES_MAX {
        return Err(InvalidRequest::new(
            "request_id.client_id",
            format!("is {} bytes, the limit is {}", request_id.client_id.len(), limits::CLIENT_ID_BYTES_MAX),
        ));
    }
    if request_id.sequence == 0 {
        return Err(InvalidRequest::new("request_id.sequence", "must start at 1"));
    }
    Ok(Some(RequestId { client_id: request_id.client_id, sequence: request_id.sequence }))
}

impl Validate for v1::PutRequest {
    type Valid = (Operation, Option<RequestId>);

    fn validate(self) -> Result<Self::Valid, InvalidRequest> {
        let request = self;
        validate_key("key", &request.key)?;
        validate_value(&request.value)?;
        let request_id = request_id(request.request_id)?;
        Ok((Operation::Put { key: request.key, value: request.value }, request_id))
    }
}

impl Validate for v1::DeleteRequest {
    type Valid = (Operation, Option<RequestId>);

    fn validate(self) -> Result<Self::Valid, InvalidRequest> {
        let request = self;
        validate_key("key", &request.key)?;
        let request_id = request_id(request.request_id)?;
        Ok((Operation::Delete { key: request.key }, request_id))
    }
}

impl Validate for v1::CompareAndSetRequest {
    type Valid = (Operation, Option<RequestId>);

    fn validate(self) -> Result<Self::Valid, InvalidRequest> {
        let request = self;
        use v1::compare_and_set_request::Compare as Wire;
        validate_key("key", &request.key)?;
        validate_value(&request.value)?;
        let compare = match request.compare {
            Some(Wire::ExpectAbsent(true)) => Compare::Absent,
            Some(Wire::ExpectAbsent(false)) => {
                return Err(InvalidRequest::new("compare.expect_absent", "must be true when set"));
            }
            Some(Wire::ExpectValue(value)) => Compare::Value(value),
            Some(Wire::ExpectModRevision(revision)) => Compare::ModRevision(revision),
            None => return Err(InvalidRequest::new("compare", "one condition is required")),
        };
        let request_id = request_id(request.request_id)?;
        Ok((Operation::CompareAndSet { key: request.key, compare, value: request.value }, request_id))
    }
}

/// Validated range request: prefix, effective limit.
pub fn range(request: &v1::RangeRequest) -> Result<(Vec<u8>, usize), InvalidRequest> {
    if request.prefix.len() > limits::KEY_BYTES_MAX {
        return Err(InvalidRequest::new("prefix", format!("is longer than {} bytes", limits::KEY_BYTES_MAX)));
    }
    let limit = match request.limit as usize {
        0 => limits::RANGE_KEYS_MAX,
        limit if limit > limits::RANGE_KEYS_MAX => {
            return Err(InvalidRequest::new("limit", format!("must be at most {}", limits::RANGE_KEYS_MAX)));
        }
        limit => limit,
    };
    Ok((request.prefix.clone(), limit))
}

pub fn key_value(key: Vec<u8>, record: pharos_meta::KvRecord) -> v1::KeyValue {
    v1::KeyValue {
        key,
        value: record.value,
        create_revision: record.create_revision,
        mod_revision: record.mod_revision,
        version: record.version,
    }
}

impl Validate for v1::RegisterBrokerRequest {
    type Valid = (Registration, Option<RequestId>);

    fn validate(self) -> Result<Self::Valid, InvalidRequest> {
        let request = self;
        let registration = Registration {
            cluster: if request.cluster.is_empty() { "DefaultCluster".to_string() } else { request.cluster },
            group: request.group,
            name: request.name,
            incarnation_id: request.incarnation_id,
            zone: request.zone,
            region: request.region,
            addresses: request.addresses.into_iter().collect(),
            election_priority: request.election_priority,
            mode: pharos_meta::RegistrationMode::Elected,
        };
        pharos_meta::broker::validate_registration(&registration).map_err(|error| {
            // The field name already says "registration"; keep only the reason.
            let reason = match error {
                pharos_meta::CommandError::InvalidRegistration { reason } => reason,
                other => other.to_string(),
            };
            InvalidRequest::new("registration", reason)
        })?;
        Ok((registration, request_id(request.request_id)?))
    }
}

/// Domain group view -> wire view (without leader soft state, which the server adds).
pub fn group_view(view: &pharos_meta::GroupView) -> v1::BrokerGroupView {
    let group = &view.group;
    v1::BrokerGroupView {
        name: group.name.clone(),
        master_broker_id: group.master_broker_id,
        master_epoch: group.master_epoch,
        sync_state_set: group.sync_state_set.iter().copied().collect(),
        sync_state_epoch: group.sync_state_epoch,
        allow_unclean_election: group.allow_unclean_election,
        brokers: view.brokers.iter().map(broker_info).collect(),
        leaderless: false,
        leaderless_reason: String::new(),
        election_mode: match group.election_mode {
            pharos_meta::ElectionMode::Elected => v1::ElectionMode::Elected,
            pharos_meta::ElectionMode::Declared => v1::ElectionMode::Declared,
            pharos_meta::ElectionMode::Controlled => v1::ElectionMode::Controlled,
        }
        .into(),
    }
}

pub fn broker_info(broker: &pharos_meta::Broker) -> v1::BrokerInfo {
    v1::BrokerInfo {
        broker_id: broker.broker_id,
        incarnation_id: broker.incarnation_id.clone(),
        cluster: broker.cluster.clone(),
        group: broker.group.clone(),
        name: broker.name.clone(),
        zone: broker.zone.clone(),
        region: broker.region.clone(),
        addresses: broker.addresses.clone().into_iter().collect(),
        election_priority: broker.election_priority,
        state: enums::broker_state(broker.state).into(),
        broker_epoch: broker.broker_epoch,
        last_heartbeat_age_ms: None,
        max_offset: 0,
        confirm_offset: 0,
    }
}

/// Wire topic -> domain spec (names and counts are checked again by the state machine, which
/// also checks that the groups exist).
pub fn topic_spec(topic: Option<v1::TopicInfo>) -> Result<pharos_meta::TopicSpec, InvalidRequest> {
    let topic = topic.ok_or_else(|| InvalidRequest::new("topic", "is required"))?;
    pharos_meta::topic::validate_topic_name(&topic.name)
        .map_err(|error| InvalidRequest::new("topic.name", error.to_string()))?;
    let message_type = enums::domain_message_type(topic.message_type).ok_or_else(|| {
        InvalidRequest::new("topic.message_type", format!("{} is not a MessageType", topic.message_type))
    })?;
    let mut queues = std::collections::BTreeMap::new();
    for spec in topic.queues {
        let counts = pharos_meta::QueueCounts { read: spec.read_queues, write: spec.write_queues };
        if queues.insert(spec.group.clone(), counts).is_some() {
            return Err(InvalidRequest::new("topic.queues", format!("group {} is listed twice", spec.group)));
        }
    }
    Ok(pharos_meta::TopicSpec {
        name: topic.name,
        queues,
        perm: if topic.perm == 0 { pharos_meta::topic::PERM_READ | pharos_meta::topic::PERM_WRITE } else { topic.perm },
        message_type,
        attributes: topic.attributes.into_iter().collect(),
    })
}

pub fn topic_info(topic: &pharos_meta::Topic) -> v1::TopicInfo {
    v1::TopicInfo {
        name: topic.spec.name.clone(),
        queues: topic
            .spec
            .queues
            .iter()
            .map(|(group, counts)| v1::QueueSpec {
                group: group.clone(),
                read_queues: counts.read,
                write_queues: counts.write,
            })
            .collect(),
        perm: topic.spec.perm,
        message_type: enums::message_type(topic.spec.message_type).into(),
        attributes: topic.spec.attributes.clone().into_iter().collect(),
        create_revision: topic.create_revision,
        revision: topic.revision,
        reported_by_group: match &topic.origin {
            pharos_meta::TopicOrigin::Operator => String::new(),
            pharos_meta::TopicOrigin::Broker { group } => group.clone(),
        },
    }
}

fn broker_address(broker: &pharos_meta::Broker, network: &str) -> v1::BrokerAddress {
    v1::BrokerAddress {
        broker_id: broker.broker_id,
        name: broker.name.clone(),
        address: broker.addresses.get(network).cloned().unwrap_or_default(),
    }
}

/// A route with addresses resolved on `network`.
pub fn route_info(route: &pharos_meta::Route, network: &str) -> v1::RouteInfo {
    v1::RouteInfo {
        topic: route.topic.spec.name.clone(),
        perm: route.topic.spec.perm,
        message_type: enums::message_type(route.topic.spec.message_type).into(),
        groups: route
            .groups
            .iter()
            .map(|group| v1::GroupRoute {
                group: group.group.clone(),
                read_queues: group.queues.read,
                write_queues: group.queues.write,
                master: group.master.as_ref().map(|broker| broker_address(broker, network)),
                replicas: group.replicas.iter().map(|broker| broker_address(broker, network)).collect(),
            })
            .collect(),
    }
}

/// Validated offset commit request.
pub fn offset_batch(request: v1::CommitOffsetsRequest) -> Result<pharos_meta::OffsetBatch, InvalidRequest> {
    if request.offsets.is_empty() {
        return Err(InvalidRequest::new("offsets", "at least one offset is required"));
    }
    if request.offsets.len() > limits::OFFSET_COMMITS_MAX {
        return Err(InvalidRequest::new(
            "offsets",
            format!("{} offsets, the limit is {}", request.offsets.len(), limits::OFFSET_COMMITS_MAX),
        ));
    }
    let request_id = request_id(request.request_id)?;
    let commits = request
        .offsets
        .into_iter()
        .map(|entry| {
            if entry.consumer_group.is_empty() || entry.consumer_group.len() > limits::NAME_BYTES_MAX {
                return Err(InvalidRequest::new("offsets.consumer_group", "must be 1..=255 bytes"));
            }
            if entry.topic.is_empty() || entry.topic.len() > limits::TOPIC_NAME_BYTES_MAX {
                return Err(InvalidRequest::new("offsets.topic", "must be 1..=127 bytes"));
            }
            Ok(pharos_meta::OffsetCommit {
                key: pharos_meta::OffsetKey {
                    consumer_group: entry.consumer_group,
                    topic: entry.topic,
                    queue_id: entry.queue_id,
                },
                offset: entry.offset,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(pharos_meta::OffsetBatch { commits, reject_backwards: request.reject_backwards, request_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_oversized_keys_are_refused() {
        let empty = v1::PutRequest { key: vec![], value: vec![], request_id: None };
        assert_eq!(empty.validate(), Err(InvalidRequest::new("key", "must not be empty")));
        let big = v1::PutRequest { key: vec![1; limits::KEY_BYTES_MAX + 1], value: vec![], request_id: None };
        assert!(big.validate().is_err());
    }

    #[test]
    fn cas_needs_a_condition_and_sequences_start_at_one() {
        let request = v1::CompareAndSetRequest { key: b"k".to_vec(), value: vec![], compare: None, request_id: None };
        assert_eq!(request.validate().unwrap_err().field, "compare");
        let zero = Some(v1::RequestId { client_id: "c".into(), sequence: 0 });
        assert_eq!(request_id(zero).unwrap_err().field, "request_id.sequence");
    }

    #[test]
    fn a_bad_registration_says_what_is_wrong_once() {
        let request = v1::RegisterBrokerRequest { group: "bad group".into(), ..Default::default() };
        let message = request.validate().unwrap_err().to_string();
        assert!(message.starts_with("invalid registration: group `bad group`"), "{message}");
        assert_eq!(message.matches("invalid registration").count(), 1, "{message}");
    }
}

/// Domain enums -> wire enums (the wire has an UNSPECIFIED zero value; the domain never does).
pub mod enums {
    use pharos_meta::{BrokerState, MessageType, ReplicationMode, SwitchoverStep, SyncState};
    use pharos_proto::v1;

    pub fn broker_state(state: BrokerState) -> v1::BrokerState {
        match state {
            BrokerState::Active => v1::BrokerState::Active,
            BrokerState::Fenced => v1::BrokerState::Fenced,
            BrokerState::Shutdown => v1::BrokerState::Shutdown,
        }
    }

    pub fn member_role(voter: bool) -> v1::MemberRole {
        if voter { v1::MemberRole::Voter } else { v1::MemberRole::Learner }
    }

    pub fn dr_mode(mode: ReplicationMode) -> v1::DrMode {
        match mode {
            ReplicationMode::Majority => v1::DrMode::Majority,
            ReplicationMode::DrSync => v1::DrMode::DrSync,
        }
    }

    /// The wire mode a request names; `None` for UNSPECIFIED or a value this release does not know.
    pub fn replication_mode(mode: i32) -> Option<ReplicationMode> {
        match v1::DrMode::try_from(mode).ok()? {
            v1::DrMode::Majority => Some(ReplicationMode::Majority),
            v1::DrMode::DrSync => Some(ReplicationMode::DrSync),
            v1::DrMode::Unspecified => None,
        }
    }

    pub fn sync_state(state: SyncState) -> v1::DrSyncState {
        match state {
            SyncState::Sync => v1::DrSyncState::Sync,
            SyncState::Async => v1::DrSyncState::Async,
            SyncState::SyncRecover => v1::DrSyncState::SyncRecover,
        }
    }

    pub fn switchover_step(step: SwitchoverStep) -> v1::SwitchoverStep {
        match step {
            SwitchoverStep::PromoteLearners => v1::SwitchoverStep::PromoteLearners,
            SwitchoverStep::TransferLeader => v1::SwitchoverStep::TransferLeader,
            SwitchoverStep::DemoteVoters => v1::SwitchoverStep::DemoteVoters,
            SwitchoverStep::MoveMasters => v1::SwitchoverStep::MoveMasters,
        }
    }

    pub fn message_type(message_type: MessageType) -> v1::MessageType {
        match message_type {
            MessageType::Normal => v1::MessageType::Normal,
            MessageType::Fifo => v1::MessageType::Fifo,
            MessageType::Delay => v1::MessageType::Delay,
            MessageType::Transactional => v1::MessageType::Transactional,
        }
    }

    /// The domain type a request names (UNSPECIFIED is NORMAL); `None` for an unknown value.
    pub fn domain_message_type(message_type: i32) -> Option<MessageType> {
        match v1::MessageType::try_from(message_type).ok()? {
            v1::MessageType::Unspecified | v1::MessageType::Normal => Some(MessageType::Normal),
            v1::MessageType::Fifo => Some(MessageType::Fifo),
            v1::MessageType::Delay => Some(MessageType::Delay),
            v1::MessageType::Transactional => Some(MessageType::Transactional),
        }
    }

    pub fn server_state(state: openraft::ServerState) -> v1::ServerState {
        match state {
            openraft::ServerState::Leader => v1::ServerState::Leader,
            openraft::ServerState::Follower => v1::ServerState::Follower,
            openraft::ServerState::Candidate => v1::ServerState::Candidate,
            openraft::ServerState::Learner => v1::ServerState::Learner,
            openraft::ServerState::Shutdown => v1::ServerState::Shutdown,
        }
    }
}
