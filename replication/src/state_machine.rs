//! The state-machine store: `pharos_meta::State` in memory for reads, fjall for durability.
//!
//! Every `apply` call writes the record changes of all its entries **and** the applied log id
//! (plus last membership) in one fjall batch, so after a crash the store is exactly at some
//! applied index: it never loses an applied entry's effect while claiming it applied, and never
//! applies an entry twice. The batch is not fsynced: the Raft log is, and entries past the
//! persisted applied index are re-applied from it on restart.
//!
//! Snapshots are the pharos-meta snapshot blob of the in-memory state; the current one is kept
//! in `snapshots/current.snapshot` (written to a temporary file, fsynced, renamed).

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{OptionalSend, RaftSnapshotBuilder};
use pharos_meta::{Change, State, codec as meta_codec};
use pharos_proto::v1;
use prost::Message;

use crate::codec::{self, log_id_from_wire, membership_from_wire};
use crate::events::{Event, EventLog};
use crate::storage::{Storage, io_error};
use crate::types::{EntryPayload, LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};

const KEY_APPLIED: &str = "applied";
const KEY_MEMBERSHIP: &str = "membership";
const KEY_REVISION: &str = "revision";
const KEY_NEXT_BROKER_ID: &str = "next_broker_id";
const KEY_DR: &str = "dr";
/// `State::feature_level`, a big-endian u32; absent: never recorded.
const KEY_FEATURE_LEVEL: &str = "feature_level";
const SNAPSHOT_FILE: &str = "current.snapshot";
/// Key prefixes of `sm_access` (user names and subjects never hold a `/`).
const USER_PREFIX: &str = "user/";
const POLICY_PREFIX: &str = "policy/";

fn user_key(name: &str) -> String {
    format!("{USER_PREFIX}{name}")
}

fn policy_key(subject: &str) -> String {
    format!("{POLICY_PREFIX}{subject}")
}

/// What readers see: the state plus the log position it reflects.
#[derive(Debug)]
pub struct Applied {
    pub state: State,
    pub last_applied: Option<LogId>,
    pub last_membership: StoredMembership,
    /// Recent broker-group changes, for watch streams.
    pub group_events: EventLog<pharos_meta::GroupView>,
    /// Recent route changes (`None`: the topic was deleted), for route watches.
    pub route_events: EventLog<Option<pharos_meta::Route>>,
    /// Recent user and policy changes, keyed by subject (`None`: it has neither any more).
    pub acl_events: EventLog<Option<pharos_meta::access::SubjectView>>,
}

/// Cheap to clone; all clones share the same state.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    storage: Storage,
    applied: Arc<RwLock<Applied>>,
    /// Carries the last applied log index; watchers wait on it.
    applied_index: Arc<tokio::sync::watch::Sender<u64>>,
    /// The newest feature level this node applies (`NodeInfo::feature_level_max`): an entry
    /// that needs more stops the state machine rather than being skipped or misapplied.
    feature_level_max: u32,
}

impl StateMachineStore {
    /// Loads the state machine from fjall (empty on a new data dir), applying every feature
    /// level this build knows.
    pub fn open(storage: Storage) -> io::Result<Self> {
        Self::open_at_feature_level(storage, pharos_meta::feature::LATEST)
    }

    /// [`Self::open`], applying feature levels up to `feature_level_max` only (a node started
    /// with `--feature-level-max`, which stands in for an older build).
    pub fn open_at_feature_level(storage: Storage, feature_level_max: u32) -> io::Result<Self> {
        let mut state = State::default();
        for guard in storage.sm_kv.iter() {
            let (key, value) = guard.into_inner().map_err(io_error)?;
            let record = meta_codec::decode_kv_record(&value).map_err(io_error)?;
            state.kv.insert(key.to_vec(), record);
        }
        for guard in storage.sm_sessions.iter() {
            let (key, value) = guard.into_inner().map_err(io_error)?;
            let (client_id, sequence) = split_session_key(&key)?;
            let (index, response) = meta_codec::decode_session_entry(&value).map_err(io_error)?;
            state.sessions.entry(client_id).or_default().responses.insert(sequence, (index, response));
        }
        for guard in storage.sm_brokers.iter() {
            let (_, value) = guard.into_inner().map_err(io_error)?;
            let broker = meta_codec::decode_broker(&value).map_err(io_error)?;
            state.brokers.insert(broker.broker_id, broker);
        }
        for guard in storage.sm_groups.iter() {
            let (_, value) = guard.into_inner().map_err(io_error)?;
            let group = meta_codec::decode_group(&value).map_err(io_error)?;
            state.groups.insert(group.name.clone(), group);
        }
        for guard in storage.sm_topics.iter() {
            let (_, value) = guard.into_inner().map_err(io_error)?;
            let topic = meta_codec::decode_topic(&value).map_err(io_error)?;
            state.topics.insert(topic.spec.name.clone(), topic);
        }
        for guard in storage.sm_offsets.iter() {
            let (key, value) = guard.into_inner().map_err(io_error)?;
            let key = meta_codec::decode_offset_key(&key).map_err(io_error)?;
            state.offsets.insert(key, meta_codec::decode_offset_record(&value).map_err(io_error)?);
        }
        for guard in storage.sm_audit.iter() {
            let (_, value) = guard.into_inner().map_err(io_error)?;
            let record = meta_codec::decode_audit_record(&value).map_err(io_error)?;
            state.audit.insert(record.index, record);
        }
        for guard in storage.sm_access.iter() {
            let (key, value) = guard.into_inner().map_err(io_error)?;
            if key.starts_with(USER_PREFIX.as_bytes()) {
                let user = meta_codec::decode_user(&value).map_err(io_error)?;
                state.access.users.insert(user.name.clone(), user);
            } else if key.starts_with(POLICY_PREFIX.as_bytes()) {
                let (subject, entries) = meta_codec::decode_policy(&value).map_err(io_error)?;
                state.access.policies.insert(subject, entries);
            } else {
                return Err(io_error(format!("unknown access record key {:?}", String::from_utf8_lossy(&key))));
            }
        }
        if let Some(bytes) = storage.sm_meta.get(KEY_NEXT_BROKER_ID).map_err(io_error)? {
            state.next_broker_id = read_u64(&bytes)?;
        }
        if let Some(bytes) = storage.sm_meta.get(KEY_DR).map_err(io_error)? {
            state.dr = meta_codec::decode_dr_record(&bytes).map_err(io_error)?;
        }
        if let Some(bytes) = storage.sm_meta.get(KEY_FEATURE_LEVEL).map_err(io_error)? {
            state.feature_level = read_u32(&bytes)?;
        }
        state.rebuild_indexes();
        if let Some(bytes) = storage.sm_meta.get(KEY_REVISION).map_err(io_error)? {
            let revision: [u8; 8] = bytes.as_ref().try_into().map_err(|_| io_error("revision is not 8 bytes"))?;
            state.revision = u64::from_be_bytes(revision);
        }
        let last_applied = match storage.sm_meta.get(KEY_APPLIED).map_err(io_error)? {
            Some(bytes) => Some(codec::decode_log_id("applied log id", &bytes)?),
            None => None,
        };
        let last_membership = match storage.sm_meta.get(KEY_MEMBERSHIP).map_err(io_error)? {
            Some(bytes) => decode_stored_membership(&bytes)?,
            None => StoredMembership::default(),
        };
        let applied_index = last_applied.map_or(0, |log_id| log_id.index);
        let committed_level = state.committed_feature_level();
        if committed_level > feature_level_max {
            return Err(io_error(format!(
                "this data dir's cluster is at feature level {committed_level}, and this node applies levels up to \
                 {feature_level_max} only: start it with a release (and `--feature-level-max`) that supports level \
                 {committed_level}; feature levels never go down"
            )));
        }
        let applied = Applied {
            group_events: EventLog::starting_at(state.revision),
            route_events: EventLog::starting_at(state.revision),
            acl_events: EventLog::starting_at(state.revision),
            state,
            last_applied,
            last_membership,
        };
        Ok(StateMachineStore {
            storage,
            applied: Arc::new(RwLock::new(applied)),
            applied_index: Arc::new(tokio::sync::watch::channel(applied_index).0),
            feature_level_max,
        })
    }

    /// Refuses, before anything is applied, a batch holding an entry this node cannot apply
    /// faithfully: a command kind of a newer feature level, or the cluster moving to one. The
    /// state machine then stops (a storage error is fatal to openraft) with this message: a
    /// node that skipped the entry, or applied it the way an older build would, would leave
    /// the replicas' states apart.
    fn check_feature_levels(&self, entries: &[EntryResponder<TypeConfig>]) -> io::Result<()> {
        for (entry, _) in entries {
            let EntryPayload::Normal(command) = &entry.payload else { continue };
            let required = match &command.operation {
                pharos_meta::Operation::SetFeatureLevel { level } => *level,
                operation => pharos_meta::feature::required_level(operation),
            };
            if required > self.feature_level_max {
                let error = format!(
                    "log entry {} ({}) needs feature level {required}, and this node applies levels up to {} only: \
                     stopping rather than skipping it; restart this node with a release that supports level {required}",
                    entry.log_id.index,
                    command.operation.kind(),
                    self.feature_level_max
                );
                tracing::error!("{error}");
                return Err(io_error(error));
            }
        }
        Ok(())
    }

    /// Read access to the applied state. Hold it briefly: `apply` waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.applied.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of the last applied log index, for waiting on new changes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied_index.subscribe()
    }

    fn snapshot_path(&self) -> PathBuf {
        self.storage.snapshot_dir.join(SNAPSHOT_FILE)
    }

    /// Writes `snapshot` as the current snapshot file: temp file, fsync, rename, fsync dir.
    fn save_snapshot_file(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        let bytes = encode_snapshot_file(meta, data);
        let temporary = self.storage.snapshot_dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, self.snapshot_path())?;
        std::fs::File::open(&self.storage.snapshot_dir)?.sync_all()
    }

    fn load_snapshot_file(&self) -> io::Result<Option<Snapshot>> {
        let bytes = match std::fs::read(self.snapshot_path()) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let (meta, snapshot) = decode_snapshot_file(&bytes)?;
        Ok(Some(Snapshot { meta, snapshot }))
    }
}

/// The snapshot file: the format-version byte, the length of the header (4 bytes, big-endian),
/// the header (a `pharos.v1.SnapshotMeta`), then the pharos-meta snapshot blob.
pub fn encode_snapshot_file(meta: &SnapshotMeta, data: &[u8]) -> Vec<u8> {
    let header = snapshot_meta_to_wire(meta).encode_to_vec();
    let mut bytes = Vec::with_capacity(1 + 4 + header.len() + data.len());
    bytes.push(codec::FORMAT_VERSION);
    bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    bytes
}

/// The header and the snapshot blob of a snapshot file.
pub fn decode_snapshot_file(bytes: &[u8]) -> io::Result<(SnapshotMeta, SnapshotData)> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "snapshot file is truncated or malformed");
    let (&version, rest) = bytes.split_first().ok_or_else(malformed)?;
    if version != codec::FORMAT_VERSION {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("snapshot format version {version}")));
    }
    let (length, rest) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
    let length = u32::from_be_bytes(*length) as usize;
    if rest.len() < length {
        return Err(malformed());
    }
    let (header, data) = rest.split_at(length);
    let meta = v1::SnapshotMeta::decode(header).map_err(io_error)?;
    Ok((snapshot_meta_from_wire(meta)?, data.to_vec()))
}

fn session_key(client_id: &str, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(client_id.len() + 9);
    key.extend_from_slice(client_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

fn split_session_key(key: &[u8]) -> io::Result<(String, u64)> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed session key");
    if key.len() < 9 || key[key.len() - 9] != 0 {
        return Err(malformed());
    }
    let (client_id, sequence) = key.split_at(key.len() - 9);
    let sequence: [u8; 8] = sequence[1..].try_into().map_err(|_| malformed())?;
    let client_id = String::from_utf8(client_id.to_vec()).map_err(|_| malformed())?;
    Ok((client_id, u64::from_be_bytes(sequence)))
}

/// The last membership the state machine applied, as stored (`sm_meta/membership`): a framed
/// `pharos.v1.SnapshotMeta` holding only its membership fields.
pub fn encode_stored_membership(stored: &StoredMembership) -> Vec<u8> {
    let (log_id, membership) = codec::stored_membership_to_wire(stored);
    codec::frame(&v1::SnapshotMeta {
        last_membership_log_id: log_id,
        last_membership: Some(membership),
        ..Default::default()
    })
}

pub fn decode_stored_membership(bytes: &[u8]) -> io::Result<StoredMembership> {
    let meta: v1::SnapshotMeta = codec::unframe("membership", bytes)?;
    Ok(StoredMembership::new(
        meta.last_membership_log_id.map(log_id_from_wire),
        membership_from_wire(meta.last_membership)?,
    ))
}

pub fn snapshot_meta_to_wire(meta: &SnapshotMeta) -> v1::SnapshotMeta {
    let (last_membership_log_id, last_membership) = codec::stored_membership_to_wire(&meta.last_membership);
    v1::SnapshotMeta {
        vote: None,
        last_log_id: meta.last_log_id.as_ref().map(codec::log_id_to_wire),
        last_membership_log_id,
        last_membership: Some(last_membership),
        snapshot_id: String::new(),
        total_bytes: 0,
    }
}

pub fn snapshot_meta_from_wire(meta: v1::SnapshotMeta) -> Result<SnapshotMeta, codec::WireError> {
    Ok(SnapshotMeta {
        last_log_id: meta.last_log_id.map(log_id_from_wire),
        last_membership: StoredMembership::new(
            meta.last_membership_log_id.map(log_id_from_wire),
            membership_from_wire(meta.last_membership)?,
        ),
    })
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let started = std::time::Instant::now();
        let (data, meta) = {
            let applied = self.read();
            let meta =
                SnapshotMeta { last_log_id: applied.last_applied, last_membership: applied.last_membership.clone() };
            (meta_codec::encode_snapshot(&applied.state), meta)
        };
        let store = self.clone();
        let (data, meta) =
            tokio::task::spawn_blocking(move || store.save_snapshot_file(&meta, &data).map(|()| (data, meta)))
                .await
                .map_err(io_error)??;
        crate::metrics::SNAPSHOT_BUILD.observe(started.elapsed());
        crate::metrics::SNAPSHOT_BYTES.store(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "built snapshot");
        Ok(Snapshot { meta, snapshot: data })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self.read();
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let entries: Vec<EntryResponder<TypeConfig>> = entries.try_collect().await?;
        let started = std::time::Instant::now();
        self.check_feature_levels(&entries)?;
        let Some((last, _)) = entries.last() else { return Ok(()) };
        let last_log_id = last.log_id;
        let mut batch = self.storage.database.batch();
        let mut replies = Vec::with_capacity(entries.len());
        {
            let mut applied = self.applied.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (entry, responder) in entries {
                let response = match entry.payload {
                    EntryPayload::Blank => pharos_meta::Response::Noop { revision: applied.state.revision },
                    EntryPayload::Normal(command) => {
                        let index = entry.log_id.index;
                        let result = pharos_meta::apply(&mut applied.state, index, &command);
                        let mut changed_groups = BTreeSet::new();
                        let mut changed_topics = BTreeSet::new();
                        let mut changed_subjects = BTreeSet::new();
                        for change in result.changes {
                            match &change {
                                Change::GroupPut { group } => {
                                    changed_groups.insert(group.name.clone());
                                }
                                Change::TopicPut { topic } => {
                                    changed_topics.insert(topic.spec.name.clone());
                                }
                                Change::TopicDelete { name } => {
                                    changed_topics.insert(name.clone());
                                }
                                Change::UserPut { user } => {
                                    changed_subjects.insert(user.name.clone());
                                }
                                Change::UserDelete { name: subject }
                                | Change::PolicyPut { subject, .. }
                                | Change::PolicyDelete { subject } => {
                                    changed_subjects.insert(subject.clone());
                                }
                                _ => {}
                            }
                            write_change(&self.storage, &mut batch, change);
                        }
                        record_events(&mut applied, index, changed_groups, changed_topics);
                        for subject in changed_subjects {
                            let view = applied.state.access.subject_view(&subject);
                            applied.acl_events.push(Event { revision: index, key: subject, payload: view });
                        }
                        result.response
                    }
                    EntryPayload::Membership(membership) => {
                        applied.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                        batch.insert(
                            &self.storage.sm_meta,
                            KEY_MEMBERSHIP,
                            encode_stored_membership(&applied.last_membership),
                        );
                        pharos_meta::Response::Noop { revision: applied.state.revision }
                    }
                };
                applied.last_applied = Some(entry.log_id);
                if let Some(responder) = responder {
                    replies.push((responder, response));
                }
            }
            batch.insert(&self.storage.sm_meta, KEY_APPLIED, codec::encode_log_id(&last_log_id));
            batch.insert(&self.storage.sm_meta, KEY_REVISION, applied.state.revision.to_be_bytes().to_vec());
            // Committed while the write lock is held so readers never see memory ahead of disk
            // in a way a restart could reverse.
            batch.commit().map_err(io_error)?;
        }
        crate::metrics::APPLY.observe(started.elapsed());
        self.applied_index.send_replace(last_log_id.index);
        for (responder, response) in replies {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotData) -> Result<(), io::Error> {
        crate::metrics::SNAPSHOT_BYTES.store(snapshot.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let state = meta_codec::decode_snapshot(&snapshot).map_err(io_error)?;
        let store = self.clone();
        let meta_for_file = meta.clone();
        let state = tokio::task::spawn_blocking(move || -> io::Result<State> {
            store.save_snapshot_file(&meta_for_file, &snapshot)?;
            let storage = &store.storage;
            let mut batch = storage.database.batch();
            for keyspace in storage.state_machine_keyspaces() {
                for guard in keyspace.iter() {
                    batch.remove(keyspace, guard.key().map_err(io_error)?);
                }
            }
            for (key, record) in &state.kv {
                batch.insert(&storage.sm_kv, key.clone(), meta_codec::encode_kv_record(record));
            }
            for (client_id, session) in &state.sessions {
                for (sequence, (index, response)) in &session.responses {
                    batch.insert(
                        &storage.sm_sessions,
                        session_key(client_id, *sequence),
                        meta_codec::encode_session_entry(*index, response),
                    );
                }
            }
            for broker in state.brokers.values() {
                batch.insert(&storage.sm_brokers, broker.broker_id.to_be_bytes(), meta_codec::encode_broker(broker));
            }
            for group in state.groups.values() {
                batch.insert(&storage.sm_groups, group.name.clone(), meta_codec::encode_group(group));
            }
            batch.insert(&storage.sm_meta, KEY_NEXT_BROKER_ID, state.next_broker_id.to_be_bytes().to_vec());
            batch.insert(&storage.sm_meta, KEY_DR, meta_codec::encode_dr_record(&state.dr));
            if state.feature_level != 0 {
                batch.insert(&storage.sm_meta, KEY_FEATURE_LEVEL, state.feature_level.to_be_bytes().to_vec());
            }
            for topic in state.topics.values() {
                batch.insert(&storage.sm_topics, topic.spec.name.clone(), meta_codec::encode_topic(topic));
            }
            for record in state.audit.values() {
                batch.insert(&storage.sm_audit, record.index.to_be_bytes(), meta_codec::encode_audit_record(record));
            }
            for user in state.access.users.values() {
                batch.insert(&storage.sm_access, user_key(&user.name), meta_codec::encode_user(user));
            }
            for (subject, entries) in &state.access.policies {
                batch.insert(&storage.sm_access, policy_key(subject), meta_codec::encode_policy(subject, entries));
            }
            for (key, record) in &state.offsets {
                batch.insert(
                    &storage.sm_offsets,
                    meta_codec::encode_offset_key(key),
                    meta_codec::encode_offset_record(record),
                );
            }
            if let Some(last) = &meta_for_file.last_log_id {
                batch.insert(&storage.sm_meta, KEY_APPLIED, codec::encode_log_id(last));
            }
            batch.insert(&storage.sm_meta, KEY_MEMBERSHIP, encode_stored_membership(&meta_for_file.last_membership));
            batch.insert(&storage.sm_meta, KEY_REVISION, state.revision.to_be_bytes().to_vec());
            batch.commit().map_err(io_error)?;
            storage.database.persist(fjall::PersistMode::SyncAll).map_err(io_error)?;
            Ok(state)
        })
        .await
        .map_err(io_error)??;
        let mut applied = self.applied.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *applied = Applied {
            group_events: EventLog::starting_at(state.revision),
            route_events: EventLog::starting_at(state.revision),
            acl_events: EventLog::starting_at(state.revision),
            state,
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
        };
        drop(applied);
        self.applied_index.send_replace(meta.last_log_id.map_or(0, |log_id| log_id.index));
        tracing::info!(last_log_id = ?meta.last_log_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        self.load_snapshot_file()
    }
}

/// Appends the watch events of one applied entry: each changed group, and the route of each
/// topic that changed or is hosted on a changed group (a master move changes routes).
fn record_events(applied: &mut Applied, index: u64, groups: BTreeSet<String>, mut topics: BTreeSet<String>) {
    for name in &groups {
        topics.extend(applied.state.topics_on_group(name));
        if let Some(view) = applied.state.group_view(name) {
            applied.group_events.push(Event { revision: index, key: name.clone(), payload: view });
        }
    }
    for topic in topics {
        let route = applied.state.route(&topic);
        applied.route_events.push(Event { revision: index, key: topic, payload: route });
    }
}

fn write_change(storage: &Storage, batch: &mut fjall::OwnedWriteBatch, change: Change) {
    match change {
        Change::KvPut { key, record } => batch.insert(&storage.sm_kv, key, meta_codec::encode_kv_record(&record)),
        Change::KvDelete { key } => batch.remove(&storage.sm_kv, key),
        Change::SessionEntryPut { client_id, sequence, index, response } => batch.insert(
            &storage.sm_sessions,
            session_key(&client_id, sequence),
            meta_codec::encode_session_entry(index, &response),
        ),
        Change::SessionEntryDelete { client_id, sequence } => {
            batch.remove(&storage.sm_sessions, session_key(&client_id, sequence))
        }
        Change::BrokerPut { broker } => {
            batch.insert(&storage.sm_brokers, broker.broker_id.to_be_bytes(), meta_codec::encode_broker(&broker))
        }
        Change::BrokerDelete { broker_id } => batch.remove(&storage.sm_brokers, broker_id.to_be_bytes()),
        Change::GroupPut { group } => {
            batch.insert(&storage.sm_groups, group.name.clone(), meta_codec::encode_group(&group))
        }
        Change::TopicPut { topic } => {
            batch.insert(&storage.sm_topics, topic.spec.name.clone(), meta_codec::encode_topic(&topic))
        }
        Change::TopicDelete { name } => batch.remove(&storage.sm_topics, name),
        Change::OffsetPut { key, record } => batch.insert(
            &storage.sm_offsets,
            meta_codec::encode_offset_key(&key),
            meta_codec::encode_offset_record(&record),
        ),
        Change::OffsetDelete { key } => batch.remove(&storage.sm_offsets, meta_codec::encode_offset_key(&key)),
        Change::AuditPut { record } => {
            batch.insert(&storage.sm_audit, record.index.to_be_bytes(), meta_codec::encode_audit_record(&record))
        }
        Change::AuditDelete { index } => batch.remove(&storage.sm_audit, index.to_be_bytes()),
        Change::NextBrokerId { next_broker_id } => {
            batch.insert(&storage.sm_meta, KEY_NEXT_BROKER_ID, next_broker_id.to_be_bytes().to_vec())
        }
        Change::DrPut { record } => batch.insert(&storage.sm_meta, KEY_DR, meta_codec::encode_dr_record(&record)),
        Change::UserPut { user } => {
            batch.insert(&storage.sm_access, user_key(&user.name), meta_codec::encode_user(&user))
        }
        Change::UserDelete { name } => batch.remove(&storage.sm_access, user_key(&name)),
        Change::PolicyPut { subject, entries } => {
            batch.insert(&storage.sm_access, policy_key(&subject), meta_codec::encode_policy(&subject, &entries))
        }
        Change::PolicyDelete { subject } => batch.remove(&storage.sm_access, policy_key(&subject)),
        Change::FeatureLevel { level } => {
            batch.insert(&storage.sm_meta, KEY_FEATURE_LEVEL, level.to_be_bytes().to_vec())
        }
    }
}

fn read_u32(bytes: &[u8]) -> io::Result<u32> {
    let array: [u8; 4] = bytes.try_into().map_err(|_| io_error("stored feature level is not 4 bytes"))?;
    Ok(u32::from_be_bytes(array))
}

fn read_u64(bytes: &[u8]) -> io::Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| io_error("stored counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(array))
}
