//! `pharos simulate-broker`: one process behaves as one RocketMQ-style broker, built on the
//! client library only. It registers, heartbeats, honours its mastership lease, simulates
//! replication (replicas follow the master's offset), and as master keeps its sync state set
//! with `AlterSyncStateSet`. Every event is one JSON line on stdout; killing the process is
//! killing the broker. SIGTERM or Ctrl-C unregisters (controlled shutdown) and exits.

use std::collections::BTreeSet;
use std::time::Duration;

use pharos_client::broker::{BrokerSession, registration_lost};
use pharos_client::{Client, ClientError, ClientOptions, v1};
use serde_json::json;

use crate::handler::unix_ms;

/// Offsets a simulated master appends per heartbeat while its lease is valid.
const OFFSET_STEP: u64 = 100;
/// A replica this far behind the master (or further) leaves the sync state set.
const SYNC_LAG_MAX: u64 = 1_000;

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    #[arg(long)]
    pub group: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "DefaultCluster")]
    pub cluster: String,
    #[arg(long, default_value = "zone-a")]
    pub zone: String,
    #[arg(long, default_value = "region-1")]
    pub region: String,
    #[arg(long, default_value_t = 0)]
    pub priority: u32,
    /// Addresses as `network=host:port`, repeatable (default: internal=127.0.0.1:<random>).
    #[arg(long = "address")]
    pub addresses: Vec<String>,
    /// Stop by itself after this many seconds (0: run until killed).
    #[arg(long, default_value_t = 0)]
    pub run_secs: u64,
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

struct Broker {
    args: SimulateArgs,
    client: Client,
    max_offset: u64,
    role: &'static str,
}

impl Broker {
    fn set_role(&mut self, role: &'static str, session: &BrokerSession) {
        if self.role == role {
            return;
        }
        self.role = role;
        let master_epoch = session.last.as_ref().map_or(0, |last| last.master_epoch);
        emit(json!({
            "event": "role", "role": role, "broker_id": session.broker_id, "broker_epoch": session.broker_epoch,
            "group": self.args.group, "name": self.args.name, "master_epoch": master_epoch, "at_unix_ms": unix_ms(),
        }));
    }

    async fn register(&mut self) -> BrokerSession {
        let incarnation_id = uuid::Uuid::new_v4().to_string();
        let mut addresses: std::collections::HashMap<String, String> = self
            .args
            .addresses
            .iter()
            .filter_map(|entry| {
                entry.split_once('=').map(|(network, address)| (network.to_string(), address.to_string()))
            })
            .collect();
        if addresses.is_empty() {
            addresses.insert("internal".into(), format!("127.0.0.1:{}", 10_000 + std::process::id() % 50_000));
        }
        loop {
            let request = v1::RegisterBrokerRequest {
                cluster: self.args.cluster.clone(),
                group: self.args.group.clone(),
                name: self.args.name.clone(),
                incarnation_id: incarnation_id.clone(),
                zone: self.args.zone.clone(),
                region: self.args.region.clone(),
                addresses: addresses.clone(),
                election_priority: self.args.priority,
                request_id: None,
            };
            match self.client.register_broker(request).await {
                Ok(response) => {
                    emit(json!({
                        "event": "registered", "broker_id": response.broker_id, "broker_epoch": response.broker_epoch,
                        "group": self.args.group, "name": self.args.name, "incarnation_id": incarnation_id,
                        "lease_ms": response.lease_ms, "at_unix_ms": unix_ms(),
                    }));
                    return BrokerSession::new(&response, &self.args.group);
                }
                Err(error) => {
                    emit(
                        json!({"event": "register_failed", "reason": error.reason().map(|reason| reason.code_name()), "error": error.to_string()}),
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// One heartbeat and what follows from its answer. `Err` means: register anew.
    async fn tick(&mut self, session: &mut BrokerSession) -> Result<(), ClientError> {
        if session.is_master_now() {
            self.max_offset += OFFSET_STEP;
        }
        let sent_unix_ms = unix_ms();
        match session.heartbeat(&self.client, self.max_offset, self.max_offset).await {
            Ok(response) => {
                let response = response.clone();
                if response.role() == v1::BrokerRole::Master {
                    emit(json!({
                        "event": "lease", "broker_id": session.broker_id, "master_epoch": response.master_epoch,
                        "lease_valid_until_unix_ms": sent_unix_ms + response.lease_ms, "max_offset": self.max_offset,
                    }));
                    self.set_role("master", session);
                    self.keep_sync_state_set(session, &response).await;
                } else {
                    // Replication: a replica follows the master's offset.
                    self.max_offset = self.max_offset.max(response.master_max_offset);
                    self.set_role("replica", session);
                }
                Ok(())
            }
            Err(error) if registration_lost(&error) => {
                emit(
                    json!({"event": "fenced", "broker_id": session.broker_id, "reason": error.reason().map(|reason| reason.code_name()), "at_unix_ms": unix_ms()}),
                );
                self.set_role("none", session);
                Err(error)
            }
            Err(error) => {
                emit(json!({"event": "heartbeat_failed", "error": error.to_string(), "at_unix_ms": unix_ms()}));
                if self.role == "master" && !session.is_master_now() {
                    emit(json!({"event": "lease_expired", "broker_id": session.broker_id, "at_unix_ms": unix_ms()}));
                    self.set_role("none", session);
                }
                Ok(())
            }
        }
    }

    /// As master: the replicas caught up with us form the sync state set.
    async fn keep_sync_state_set(&self, session: &BrokerSession, response: &v1::HeartbeatResponse) {
        let mut wanted: BTreeSet<u64> = response
            .replicas
            .iter()
            .filter(|replica| replica.alive && replica.max_offset + SYNC_LAG_MAX >= self.max_offset)
            .map(|replica| replica.broker_id)
            .collect();
        wanted.insert(session.broker_id);
        let current: BTreeSet<u64> = response.sync_state_set.iter().copied().collect();
        if wanted == current {
            return;
        }
        let request = v1::AlterSyncStateSetRequest {
            group: self.args.group.clone(),
            master_broker_id: session.broker_id,
            master_epoch: response.master_epoch,
            sync_state_epoch: response.sync_state_epoch,
            sync_state_set: wanted.iter().copied().collect(),
            request_id: None,
        };
        match self.client.alter_sync_state_set(request).await {
            Ok(altered) => emit(json!({
                "event": "sync_state_set", "sync_state_set": wanted, "sync_state_epoch": altered.sync_state_epoch,
            })),
            Err(error) => emit(
                json!({"event": "sync_state_set_refused", "reason": error.reason().map(|reason| reason.code_name()), "error": error.to_string()}),
            ),
        }
    }
}

pub async fn run(
    endpoints: Vec<String>,
    token: Option<String>,
    args: SimulateArgs,
    ca_file: Option<std::path::PathBuf>,
) -> Result<(), ClientError> {
    let options = ClientOptions {
        attempts_max: 4,
        retry_backoff_ms: 50,
        request_timeout_ms: 1_000,
        token,
        ca_file,
        ..Default::default()
    };
    let client = Client::with_options(endpoints, options)?;
    let deadline = (args.run_secs > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(args.run_secs));
    let mut broker = Broker { args, client, max_offset: 0, role: "none" };
    let stop = async move {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let signal = crate::shutdown::signal();
    tokio::pin!(stop, signal);
    'register: loop {
        let mut session = broker.register().await;
        let mut interval = tokio::time::interval(Duration::from_millis(session.heartbeat_interval_ms.max(10)));
        loop {
            tokio::select! {
                () = &mut stop => { leave(&broker, &session).await; return Ok(()); }
                () = &mut signal => { leave(&broker, &session).await; return Ok(()); }
                _ = interval.tick() => {}
            }
            if broker.tick(&mut session).await.is_err() {
                continue 'register;
            }
        }
    }
}

async fn leave(broker: &Broker, session: &BrokerSession) {
    match broker.client.unregister_broker(session.broker_id, session.broker_epoch).await {
        Ok(_) => emit(json!({"event": "unregistered", "broker_id": session.broker_id, "at_unix_ms": unix_ms()})),
        Err(error) => emit(json!({"event": "unregister_failed", "error": error.to_string()})),
    }
}
