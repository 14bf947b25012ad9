//! Brokers and broker groups: registration, fencing, master election and the sync state set
//! (docs/architecture.md, "Brokers"). The *decisions* (who is dead, who becomes master) are made elsewhere, by the
//! leader's runtime with the `pharos-dr` planners; these commands only record them, refusing any
//! that was made against a state that has moved on (stale epochs).

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::Change;
use crate::limits;
use crate::state::{CommandError, Response, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BrokerState {
    /// Registered and, as far as the committed state knows, serving.
    Active,
    /// Declared dead by the coordinator (lease expired) or by an operator. Final.
    Fenced,
    /// Left by controlled shutdown (`UnregisterBroker`). Final.
    Shutdown,
}

impl BrokerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Active => "active",
            BrokerState::Fenced => "fenced",
            BrokerState::Shutdown => "shutdown",
        }
    }
}

/// One registration of one broker process. A restarted process registers anew and gets a new
/// `broker_id` (ids are never reused) and a new `broker_epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub broker_id: u64,
    /// Chosen by the broker process at start; tells a retry from a second process.
    pub incarnation_id: String,
    pub cluster: String,
    pub group: String,
    pub name: String,
    pub zone: String,
    pub region: String,
    /// Network name (`internal`, `public`, ...) -> `host:port`.
    pub addresses: BTreeMap<String, String>,
    /// Higher is preferred in elections.
    pub election_priority: u32,
    pub state: BrokerState,
    /// Revision of the registration that created this broker.
    pub broker_epoch: u64,
    /// When the broker left service (fenced or unregistered): the `issued_at_ms` of that command
    /// (the proposing leader's wall clock), set by the state machine, which never reads a clock.
    /// `None` while active, and for a record retired by a build that did not record the time;
    /// the retention rule counts such a record as retired long ago (`State::collectable`).
    pub retired_at_ms: Option<u64>,
}

/// One registration, named by its id and the epoch it was registered at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BrokerRef {
    pub broker_id: u64,
    pub broker_epoch: u64,
}

/// Why a broker record may not be collected (yet). Persisted as a code in refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotCollectable {
    /// The broker is active: it is registered and may be serving.
    Active,
    /// The broker is the committed master of its group.
    Master,
    /// The broker is in its group's sync state set: the next election may need its name.
    InSyncStateSet,
    /// The broker retired after the command's `retired_before_ms`.
    RetiredTooRecently,
}

impl NotCollectable {
    pub fn as_str(self) -> &'static str {
        match self {
            NotCollectable::Active => "it is active",
            NotCollectable::Master => "it is the master of its group",
            NotCollectable::InSyncStateSet => "it is in its group's sync state set",
            NotCollectable::RetiredTooRecently => "it retired too recently",
        }
    }
}

impl std::fmt::Display for NotCollectable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A master/replica set of brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerGroup {
    pub name: String,
    /// Brokers registered in the group (any state until removed).
    pub members: BTreeSet<u64>,
    pub master_broker_id: Option<u64>,
    /// +1 on every master change; never goes backwards.
    pub master_epoch: u64,
    /// Replicas in sync with the master (the master included).
    pub sync_state_set: BTreeSet<u64>,
    /// +1 on every sync-state-set change and every master change.
    pub sync_state_epoch: u64,
    pub allow_unclean_election: bool,
    /// Who decides the master; fixed by the group's first registration.
    pub election_mode: ElectionMode,
}

/// Who decides a group's master.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElectionMode {
    /// The coordinator elects masters from leases and the sync state set (brokers that register
    /// through the Pharos API and heartbeat).
    #[default]
    Elected,
    /// Each broker's own configuration says whether it is the master, as with an Apache
    /// NameServer (RocketMQ brokers registering over the remoting protocol): a registration that
    /// declares itself master becomes master while the group has no active one; nothing elects.
    Declared,
    /// The coordinator elects masters, as for [`ElectionMode::Elected`], and also keeps the sync
    /// state set itself, from the offsets in the brokers' heartbeats: RocketMQ brokers in
    /// controller mode, which never report one (`pharos_dr::sync_state_set`).
    Controlled,
}

impl ElectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ElectionMode::Elected => "elected",
            ElectionMode::Declared => "declared",
            ElectionMode::Controlled => "controlled",
        }
    }

    /// Whether the coordinator chooses the group's masters (elections, failovers, switchovers).
    pub fn coordinator_elects(self) -> bool {
        self != ElectionMode::Declared
    }
}

/// The role a registration declares, in a group whose masters are [`ElectionMode::Declared`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeclaredRole {
    Master,
    Replica,
}

/// What a broker sends to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cluster: String,
    pub group: String,
    pub name: String,
    pub incarnation_id: String,
    pub zone: String,
    pub region: String,
    pub addresses: BTreeMap<String, String>,
    pub election_priority: u32,
    /// Who decides the group's master. A group takes the mode of its first registration and
    /// refuses registrations of another mode.
    pub mode: RegistrationMode,
}

/// What a registration says about who decides its group's master.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum RegistrationMode {
    /// The coordinator elects ([`ElectionMode::Elected`]): brokers of the Pharos API.
    #[default]
    Elected,
    /// The coordinator elects and keeps the sync state set ([`ElectionMode::Controlled`]):
    /// RocketMQ brokers in controller mode.
    Controlled,
    /// The broker's configuration says its role ([`ElectionMode::Declared`]): RocketMQ brokers
    /// registering with a NameServer.
    Declared(DeclaredRole),
}

impl Registration {
    pub fn election_mode(&self) -> ElectionMode {
        match self.mode {
            RegistrationMode::Elected => ElectionMode::Elected,
            RegistrationMode::Controlled => ElectionMode::Controlled,
            RegistrationMode::Declared(_) => ElectionMode::Declared,
        }
    }
}

/// Broker operations. All but registration name the broker (and its epoch) they act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerOperation {
    Register(Registration),
    /// Controlled shutdown: the broker stops serving and leaves.
    Unregister {
        broker_id: u64,
        broker_epoch: u64,
    },
    /// The broker is declared dead.
    Fence {
        broker_id: u64,
        broker_epoch: u64,
    },
    /// Forget a fenced or shut-down broker.
    Remove {
        broker_id: u64,
    },
    /// Forget retired broker records the coordinator's retention rule selected
    /// (`pharos_dr::retention`), at most `limits::COLLECTED_BROKERS_MAX` of them. Every named
    /// registration must still be collectable ([`State::collectable`]) as retired at or before
    /// `retired_before_ms` (leader wall clock); if one is not, the whole command is refused and
    /// changes nothing (the next pass plans again from the state it then sees).
    Collect {
        retired_before_ms: u64,
        brokers: BTreeSet<BrokerRef>,
    },
    /// Make `broker_id` the master of `group`; refused unless the group is still at
    /// `expected_master_epoch`.
    ElectMaster {
        group: String,
        broker_id: u64,
        expected_master_epoch: u64,
    },
    /// The master reports which replicas are in sync.
    AlterSyncStateSet {
        group: String,
        master_broker_id: u64,
        master_epoch: u64,
        sync_state_epoch: u64,
        sync_state_set: BTreeSet<u64>,
    },
}

impl BrokerOperation {
    pub fn kind(&self) -> &'static str {
        match self {
            BrokerOperation::Register(_) => "register_broker",
            BrokerOperation::Unregister { .. } => "unregister_broker",
            BrokerOperation::Fence { .. } => "fence_broker",
            BrokerOperation::Remove { .. } => "remove_broker",
            BrokerOperation::Collect { .. } => "collect_brokers",
            BrokerOperation::ElectMaster { .. } => "elect_master",
            BrokerOperation::AlterSyncStateSet { .. } => "alter_sync_state_set",
        }
    }
}

/// A group and its brokers, as watchers and `GetBrokerGroup` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub group: BrokerGroup,
    pub brokers: Vec<Broker>,
}

impl State {
    pub fn group_view(&self, name: &str) -> Option<GroupView> {
        let group = self.groups.get(name)?.clone();
        let brokers = group.members.iter().filter_map(|id| self.brokers.get(id).cloned()).collect();
        Some(GroupView { group, brokers })
    }

    /// The group `broker_id` is the committed master of, if it is one.
    pub fn master_of(&self, broker_id: u64) -> Option<&BrokerGroup> {
        let group = self.groups.get(&self.brokers.get(&broker_id)?.group)?;
        (group.master_broker_id == Some(broker_id)).then_some(group)
    }

    /// Whether the record of `broker` may be forgotten as retired at or before
    /// `retired_before_ms`: it exists at that epoch, is fenced or shut down, is neither the
    /// master of its group nor in its sync state set (election needs the names there), and
    /// retired no later than `retired_before_ms`. A record without a retirement time was retired
    /// by an older build, before any cutoff. The one rule both the retention planner
    /// (`pharos_dr::retention`) and `apply` of [`BrokerOperation::Collect`] use.
    ///
    /// A broker references no other group than its own: registration, election and
    /// `AlterSyncStateSet` all check `broker.group`.
    pub fn collectable(&self, broker: &BrokerRef, retired_before_ms: u64) -> Result<&Broker, CommandError> {
        let record = broker_for(self, broker.broker_id, broker.broker_epoch)?;
        let refuse = |reason| Err(CommandError::BrokerNotCollectable { broker_id: broker.broker_id, reason });
        if record.state == BrokerState::Active {
            return refuse(NotCollectable::Active);
        }
        if let Some(group) = self.groups.get(&record.group) {
            if group.master_broker_id == Some(broker.broker_id) {
                return refuse(NotCollectable::Master);
            }
            if group.sync_state_set.contains(&broker.broker_id) {
                return refuse(NotCollectable::InSyncStateSet);
            }
        }
        if record.retired_at_ms.is_some_and(|retired_at_ms| retired_at_ms > retired_before_ms) {
            return refuse(NotCollectable::RetiredTooRecently);
        }
        Ok(record)
    }
}

impl State {
    /// Every check of a registration `apply` makes, for the leader to run before proposing
    /// too: `Ok(Some(broker))` when it is a retry of the active registration `broker` (same
    /// group, name and incarnation: answered with that registration, nothing changes),
    /// `Ok(None)` when it would register a new broker, or the refusal.
    pub fn check_registration(&self, registration: &Registration) -> Result<Option<&Broker>, CommandError> {
        validate_registration(registration)?;
        let group = self.groups.get(&registration.group);
        if let Some(group) = group.filter(|group| !group.members.is_empty())
            && group.election_mode != registration.election_mode()
        {
            return Err(CommandError::InvalidRegistration {
                reason: format!(
                    "group {} has {} masters; a broker whose master is {} cannot join it",
                    group.name,
                    group.election_mode.as_str(),
                    registration.election_mode().as_str()
                ),
            });
        }
        let members = group.map(|group| group.members.iter()).into_iter().flatten();
        let active = members.filter_map(|id| self.brokers.get(id)).filter(|broker| broker.state == BrokerState::Active);
        if let Some(existing) = active.clone().find(|broker| broker.name == registration.name) {
            if existing.incarnation_id == registration.incarnation_id {
                return Ok(Some(existing));
            }
            return Err(CommandError::DuplicateRegistration {
                broker_id: existing.broker_id,
                incarnation_id: existing.incarnation_id.clone(),
            });
        }
        if registration.mode == RegistrationMode::Declared(DeclaredRole::Master)
            && let Some(master) = group
                .and_then(|group| group.master_broker_id)
                .and_then(|id| active.clone().find(|broker| broker.broker_id == id))
        {
            return Err(CommandError::MasterStillActive {
                group: registration.group.clone(),
                master_broker_id: master.broker_id,
            });
        }
        Ok(None)
    }
}

impl State {
    /// Every check `apply` makes of an `AlterSyncStateSet`, for the leader to run before
    /// proposing too: the group, its master and both epochs are current, and the set holds the
    /// master and only active members of the group. Returns the group.
    pub fn check_sync_state_set(
        &self,
        group: &str,
        master_broker_id: u64,
        master_epoch: u64,
        sync_state_epoch: u64,
        sync_state_set: &BTreeSet<u64>,
    ) -> Result<&BrokerGroup, CommandError> {
        let record = self.groups.get(group).ok_or_else(|| CommandError::UnknownGroup { group: group.to_string() })?;
        if record.master_epoch != master_epoch {
            return Err(CommandError::StaleMasterEpoch { group: group.to_string(), current: record.master_epoch });
        }
        if record.master_broker_id != Some(master_broker_id) {
            return Err(CommandError::NotMaster {
                group: group.to_string(),
                master_broker_id: record.master_broker_id,
            });
        }
        if record.sync_state_epoch != sync_state_epoch {
            return Err(CommandError::StaleSyncStateEpoch {
                group: group.to_string(),
                current: record.sync_state_epoch,
            });
        }
        if !sync_state_set.contains(&master_broker_id) {
            return Err(CommandError::InvalidSyncStateSet { reason: "the master must be in the set".into() });
        }
        for member in sync_state_set {
            let active = self
                .brokers
                .get(member)
                .is_some_and(|broker| broker.group == group && broker.state == BrokerState::Active);
            if !active {
                return Err(CommandError::InvalidSyncStateSet {
                    reason: format!("broker {member} is not an active member of {group}"),
                });
            }
        }
        Ok(record)
    }
}

fn check_name(field: &'static str, value: &str) -> Result<(), CommandError> {
    let valid = !value.is_empty()
        && value.len() <= limits::NAME_BYTES_MAX
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'%' | b'|'));
    if valid {
        Ok(())
    } else {
        Err(CommandError::InvalidRegistration {
            reason: format!("{field} `{value}` must be 1..={} characters of [A-Za-z0-9-_.%|]", limits::NAME_BYTES_MAX),
        })
    }
}

/// Checks a registration the way the API edge does (the state machine checks again).
pub fn validate_registration(registration: &Registration) -> Result<(), CommandError> {
    check_name("group", &registration.group)?;
    check_name("name", &registration.name)?;
    check_name("cluster", &registration.cluster)?;
    if registration.incarnation_id.is_empty() || registration.incarnation_id.len() > limits::NAME_BYTES_MAX {
        return Err(CommandError::InvalidRegistration { reason: "incarnation_id must be 1..=255 bytes".into() });
    }
    for (field, value) in [("zone", &registration.zone), ("region", &registration.region)] {
        if value.len() > limits::NAME_BYTES_MAX {
            return Err(CommandError::InvalidRegistration { reason: format!("{field} is too long") });
        }
    }
    if registration.addresses.is_empty() || registration.addresses.len() > limits::BROKER_ADDRESSES_MAX {
        return Err(CommandError::InvalidRegistration {
            reason: format!("1..={} addresses are required", limits::BROKER_ADDRESSES_MAX),
        });
    }
    for (network, address) in &registration.addresses {
        check_name("network name", network)?;
        let port = address.rsplit_once(':').and_then(|(host, port)| (!host.is_empty()).then_some(port));
        if address.len() > limits::NAME_BYTES_MAX || port.and_then(|port| port.parse::<u16>().ok()).is_none() {
            return Err(CommandError::InvalidRegistration {
                reason: format!("address `{address}` of network {network} is not host:port"),
            });
        }
    }
    Ok(())
}

fn broker_for(state: &State, broker_id: u64, broker_epoch: u64) -> Result<&Broker, CommandError> {
    let broker = state.brokers.get(&broker_id).ok_or(CommandError::UnknownBroker { broker_id })?;
    if broker.broker_epoch != broker_epoch {
        return Err(CommandError::StaleBrokerEpoch { broker_id, current: broker.broker_epoch });
    }
    Ok(broker)
}

fn put_broker(state: &mut State, broker: Broker, changes: &mut Vec<Change>) {
    changes.push(Change::BrokerPut { broker: broker.clone() });
    state.brokers.insert(broker.broker_id, broker);
}

fn put_group(state: &mut State, group: BrokerGroup, changes: &mut Vec<Change>) {
    changes.push(Change::GroupPut { group: group.clone() });
    state.groups.insert(group.name.clone(), group);
}

/// Takes a broker out of service at `retired_at_ms` (the command's leader wall clock; a broker
/// already retired keeps its first time, so a retried unregistration does not postpone its
/// collection): it stops being master (the group becomes leaderless until the runtime elects)
/// but stays in the sync state set until the next master rewrites it.
fn retire(
    state: &mut State,
    broker_id: u64,
    new_state: BrokerState,
    retired_at_ms: u64,
    changes: &mut Vec<Change>,
) -> Option<String> {
    let mut broker = state.brokers.get(&broker_id)?.clone();
    broker.state = new_state;
    broker.retired_at_ms = broker.retired_at_ms.or(Some(retired_at_ms));
    let group_name = broker.group.clone();
    put_broker(state, broker, changes);
    let mut group = state.groups.get(&group_name)?.clone();
    if group.master_broker_id == Some(broker_id) {
        group.master_broker_id = None;
    }
    put_group(state, group, changes);
    Some(group_name)
}

/// Removes `broker_id`'s record and its group membership (callers checked it is not active).
fn forget(state: &mut State, broker_id: u64, changes: &mut Vec<Change>) {
    let Some(broker) = state.brokers.remove(&broker_id) else { return };
    changes.push(Change::BrokerDelete { broker_id });
    if let Some(mut group) = state.groups.get(&broker.group).cloned() {
        group.members.remove(&broker_id);
        if group.sync_state_set.remove(&broker_id) {
            group.sync_state_epoch += 1;
        }
        put_group(state, group, changes);
    }
}

/// The checks of a collection that need no state (the leader runs them before proposing too).
pub(crate) fn validate_collection(brokers: &BTreeSet<BrokerRef>) -> Result<(), CommandError> {
    if brokers.is_empty() || brokers.len() > limits::COLLECTED_BROKERS_MAX {
        return Err(CommandError::CollectionSize {
            brokers: brokers.len() as u64,
            max: limits::COLLECTED_BROKERS_MAX as u64,
        });
    }
    Ok(())
}

/// Applies a broker operation; `issued_at_ms` is the proposing leader's wall clock.
pub(crate) fn execute(
    state: &mut State,
    index: u64,
    issued_at_ms: u64,
    operation: &BrokerOperation,
    changes: &mut Vec<Change>,
) -> Response {
    let result = execute_checked(state, index, issued_at_ms, operation, changes);
    crate::apply::settle(state, index, result, changes)
}

fn execute_checked(
    state: &mut State,
    index: u64,
    issued_at_ms: u64,
    operation: &BrokerOperation,
    changes: &mut Vec<Change>,
) -> Result<Response, CommandError> {
    match operation {
        BrokerOperation::Register(registration) => {
            if let Some(existing) = state.check_registration(registration)? {
                // A retry (or a re-registration after a coordinator failover): same answer.
                return Ok(Response::BrokerRegistered {
                    broker_id: existing.broker_id,
                    broker_epoch: existing.broker_epoch,
                });
            }
            let declared_master = registration.mode == RegistrationMode::Declared(DeclaredRole::Master);
            let broker_id = state.next_broker_id.max(1);
            state.next_broker_id = broker_id + 1;
            changes.push(Change::NextBrokerId { next_broker_id: state.next_broker_id });
            let broker = Broker {
                broker_id,
                incarnation_id: registration.incarnation_id.clone(),
                cluster: registration.cluster.clone(),
                group: registration.group.clone(),
                name: registration.name.clone(),
                zone: registration.zone.clone(),
                region: registration.region.clone(),
                addresses: registration.addresses.clone(),
                election_priority: registration.election_priority,
                state: BrokerState::Active,
                broker_epoch: index,
                retired_at_ms: None,
            };
            put_broker(state, broker, changes);
            let mut group = state
                .groups
                .get(&registration.group)
                .cloned()
                .unwrap_or_else(|| BrokerGroup { name: registration.group.clone(), ..BrokerGroup::default() });
            if group.members.is_empty() {
                group.election_mode = registration.election_mode();
            }
            group.members.insert(broker_id);
            if declared_master {
                // The broker's configuration makes it master: the same record of a master
                // change as an election, so epochs and fencing read alike in both modes.
                group.master_broker_id = Some(broker_id);
                group.master_epoch += 1;
                group.sync_state_set = BTreeSet::from([broker_id]);
                group.sync_state_epoch += 1;
            }
            put_group(state, group, changes);
            Ok(Response::BrokerRegistered { broker_id, broker_epoch: index })
        }
        BrokerOperation::Unregister { broker_id, broker_epoch } => {
            broker_for(state, *broker_id, *broker_epoch)?;
            retire(state, *broker_id, BrokerState::Shutdown, issued_at_ms, changes);
            Ok(Response::BrokerChanged { revision: index })
        }
        BrokerOperation::Fence { broker_id, broker_epoch } => {
            let broker = broker_for(state, *broker_id, *broker_epoch)?;
            if broker.state != BrokerState::Active {
                return Err(CommandError::BrokerNotActive { broker_id: *broker_id, state: broker.state.as_str() });
            }
            retire(state, *broker_id, BrokerState::Fenced, issued_at_ms, changes);
            Ok(Response::BrokerChanged { revision: index })
        }
        BrokerOperation::Remove { broker_id } => {
            let broker = state.brokers.get(broker_id).ok_or(CommandError::UnknownBroker { broker_id: *broker_id })?;
            if broker.state == BrokerState::Active {
                return Err(CommandError::BrokerNotActive { broker_id: *broker_id, state: "active: fence it first" });
            }
            forget(state, *broker_id, changes);
            Ok(Response::BrokerChanged { revision: index })
        }
        BrokerOperation::Collect { retired_before_ms, brokers } => {
            validate_collection(brokers)?;
            // All or nothing: a plan made on a view that has moved on is refused whole.
            for broker in brokers {
                state.collectable(broker, *retired_before_ms)?;
            }
            for broker in brokers {
                forget(state, broker.broker_id, changes);
            }
            Ok(Response::BrokerChanged { revision: index })
        }
        BrokerOperation::ElectMaster { group, broker_id, expected_master_epoch } => {
            let mut record =
                state.groups.get(group).cloned().ok_or_else(|| CommandError::UnknownGroup { group: group.clone() })?;
            if record.election_mode == ElectionMode::Declared {
                return Err(CommandError::MasterDeclared { group: group.clone() });
            }
            if record.master_epoch != *expected_master_epoch {
                return Err(CommandError::StaleMasterEpoch { group: group.clone(), current: record.master_epoch });
            }
            let broker = state.brokers.get(broker_id).ok_or(CommandError::UnknownBroker { broker_id: *broker_id })?;
            if broker.group != *group {
                return Err(CommandError::InvalidSyncStateSet {
                    reason: format!("broker {broker_id} belongs to group {}", broker.group),
                });
            }
            if broker.state != BrokerState::Active {
                return Err(CommandError::BrokerNotActive { broker_id: *broker_id, state: broker.state.as_str() });
            }
            record.master_broker_id = Some(*broker_id);
            record.master_epoch += 1;
            // The new master starts alone in the sync state set; it adds replicas as they catch
            // up with it (AlterSyncStateSet).
            record.sync_state_set = BTreeSet::from([*broker_id]);
            record.sync_state_epoch += 1;
            let master_epoch = record.master_epoch;
            put_group(state, record, changes);
            Ok(Response::MasterElected { group: group.clone(), master_broker_id: *broker_id, master_epoch })
        }
        BrokerOperation::AlterSyncStateSet {
            group,
            master_broker_id,
            master_epoch,
            sync_state_epoch,
            sync_state_set,
        } => {
            let mut record = state
                .check_sync_state_set(group, *master_broker_id, *master_epoch, *sync_state_epoch, sync_state_set)?
                .clone();
            record.sync_state_set = sync_state_set.clone();
            record.sync_state_epoch += 1;
            let new_epoch = record.sync_state_epoch;
            put_group(state, record, changes);
            Ok(Response::SyncStateSetAltered { sync_state_epoch: new_epoch })
        }
    }
}
