//! Server configuration: defaults < TOML file (`--config`) < environment (`PHAROS_*`) < flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default retention of a fenced or shut-down broker's record: one day.
pub const BROKER_RECORD_RETENTION_MS_DEFAULT: u64 = 24 * 60 * 60 * 1_000;
/// RocketMQ's broker timeout: a broker registers every 30 s, its NameServer drops it after 120 s.
pub const REMOTING_BROKER_TIMEOUT_MS_DEFAULT: u64 = 120_000;
pub const REMOTING_BROKER_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 1_000..=3_600_000;
/// Longest retention accepted: ten years. Far below `i64::MAX` (the TOML integer range, so
/// `--print-config` stays readable) and far from overflowing any wall-clock arithmetic.
pub const BROKER_RECORD_RETENTION_MS_MAX: u64 = 10 * 365 * BROKER_RECORD_RETENTION_MS_DEFAULT;

/// `pharos serve` flags. Every field is optional so that an unset flag falls through to the
/// environment, then the file, then the default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with the same settings as the flags (snake_case keys).
    #[arg(long, env = "PHAROS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    #[arg(long, env = "PHAROS_NODE_ID")]
    pub node_id: Option<u64>,
    #[arg(long, env = "PHAROS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client API listen address.
    #[arg(long, env = "PHAROS_LISTEN_CLIENT")]
    pub listen_client: Option<String>,
    /// Peer (Raft) API listen address.
    #[arg(long, env = "PHAROS_LISTEN_PEER")]
    pub listen_peer: Option<String>,
    /// HTTP /metrics /healthz /readyz listen address.
    #[arg(long, env = "PHAROS_LISTEN_HTTP")]
    pub listen_http: Option<String>,
    /// RocketMQ remoting (NameServer codes) listen address (docs/rocketmq.md).
    #[arg(long, env = "PHAROS_LISTEN_REMOTING")]
    pub listen_remoting: Option<String>,
    /// Client address other nodes and clients use to reach this node (default: --listen-client).
    #[arg(long, env = "PHAROS_ADVERTISE_CLIENT")]
    pub advertise_client: Option<String>,
    /// Peer address other nodes use to reach this node (default: --listen-peer).
    #[arg(long, env = "PHAROS_ADVERTISE_PEER")]
    pub advertise_peer: Option<String>,
    #[arg(long, env = "PHAROS_ZONE")]
    pub zone: Option<String>,
    #[arg(long, env = "PHAROS_REGION")]
    pub region: Option<String>,
    /// Static bootstrap: `1=peerA,2=peerB,3=peerC` (every listed node is a voter). Ignored once
    /// the data dir is initialized.
    #[arg(long, env = "PHAROS_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// Mixed into the cluster id of a static bootstrap so two clusters with the same member
    /// list still get different ids.
    #[arg(long, env = "PHAROS_INITIAL_CLUSTER_TOKEN")]
    pub initial_cluster_token: Option<String>,
    /// Join a running cluster as a learner through these members' peer addresses (comma
    /// separated; any member will do, followers forward to the leader).
    #[arg(long, env = "PHAROS_JOIN")]
    pub join: Option<String>,
    /// Ask to be promoted to voter once caught up (with --join).
    #[arg(long, env = "PHAROS_AUTO_PROMOTE")]
    pub auto_promote: Option<bool>,
    #[arg(long, env = "PHAROS_HEARTBEAT_INTERVAL_MS")]
    pub heartbeat_interval_ms: Option<u64>,
    #[arg(long, env = "PHAROS_ELECTION_TIMEOUT_MIN_MS")]
    pub election_timeout_min_ms: Option<u64>,
    #[arg(long, env = "PHAROS_ELECTION_TIMEOUT_MAX_MS")]
    pub election_timeout_max_ms: Option<u64>,
    /// Build a snapshot every N applied entries (then purge the log behind it).
    #[arg(long, env = "PHAROS_SNAPSHOT_LOGS_SINCE_LAST")]
    pub snapshot_logs_since_last: Option<u64>,
    /// Entries kept in the log behind the latest snapshot.
    #[arg(long, env = "PHAROS_LOGS_TO_KEEP_AFTER_SNAPSHOT")]
    pub logs_to_keep_after_snapshot: Option<u64>,
    /// How often brokers are told to heartbeat.
    #[arg(long, env = "PHAROS_BROKER_HEARTBEAT_INTERVAL_MS")]
    pub broker_heartbeat_interval_ms: Option<u64>,
    /// A broker's mastership lease, from the moment it sent its last successful heartbeat.
    #[arg(long, env = "PHAROS_BROKER_LEASE_MS")]
    pub broker_lease_ms: Option<u64>,
    /// Bound on clock-rate difference between broker and coordinator over one lease; the
    /// coordinator waits lease + this before it declares a broker dead.
    #[arg(long, env = "PHAROS_BROKER_CLOCK_DRIFT_MS")]
    pub broker_clock_drift_ms: Option<u64>,
    /// How long the record of a fenced or shut-down broker is kept before the leader collects it
    /// (docs/brokers.md, "Record retention").
    #[arg(long, env = "PHAROS_BROKER_RECORD_RETENTION_MS")]
    pub broker_record_retention_ms: Option<u64>,
    /// A RocketMQ broker registered over the remoting port is dropped from routes this long
    /// after its last registration or heartbeat (RocketMQ's broker timeout; docs/rocketmq.md).
    #[arg(long, env = "PHAROS_REMOTING_BROKER_TIMEOUT_MS")]
    pub remoting_broker_timeout_ms: Option<u64>,
    /// Accept RocketMQ broker registrations (and unregistrations) on the remoting port, which
    /// does not authenticate them (docs/rocketmq.md, "Security"). Implied by `--insecure`.
    #[arg(long, env = "PHAROS_REMOTING_OPEN_REGISTRATION", num_args = 0..=1, default_missing_value = "true")]
    pub remoting_open_registration: Option<bool>,
    /// Serve the client port without authentication or access control (docs/security.md):
    /// anyone who reaches it may do anything. Logged at every start, shown in `cluster status`
    /// and in the `pharos_auth_insecure` metric.
    #[arg(long, env = "PHAROS_INSECURE", num_args = 0..=1, default_missing_value = "true")]
    pub insecure: Option<bool>,
    /// The newest feature level this node advertises and applies; default: the newest this
    /// release knows. Set it lower to run a node as the previous release would during a rolling
    /// upgrade rehearsal (docs/operations.md, "Feature levels"); it cannot start on a data dir
    /// whose cluster is past it.
    #[arg(long, env = "PHAROS_FEATURE_LEVEL_MAX")]
    pub feature_level_max: Option<u32>,
    /// `text` or `json`.
    #[arg(long, env = "PHAROS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// tracing filter, e.g. `info` or `pharos=debug,openraft=info`.
    #[arg(long, env = "PHAROS_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// This node's certificate (PEM), for both ports; with --tls-key-file and --tls-ca-file.
    #[arg(long, env = "PHAROS_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file.
    #[arg(long, env = "PHAROS_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The cluster CA (PEM): peers must present a certificate it signed.
    #[arg(long, env = "PHAROS_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub node_id: u64,
    pub data_dir: PathBuf,
    pub listen_client: String,
    pub listen_peer: String,
    pub listen_http: String,
    /// RocketMQ clients' NameServer address (docs/rocketmq.md).
    pub listen_remoting: String,
    pub advertise_client: String,
    pub advertise_peer: String,
    pub zone: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_cluster: Option<String>,
    pub initial_cluster_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    pub auto_promote: bool,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub logs_to_keep_after_snapshot: u64,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_lease_ms: u64,
    pub broker_clock_drift_ms: u64,
    pub broker_record_retention_ms: u64,
    pub remoting_broker_timeout_ms: u64,
    pub remoting_open_registration: bool,
    pub insecure: bool,
    pub feature_level_max: u32,
    pub log_format: String,
    pub log_level: String,
    /// TLS on both ports (mutual on the peer port); none: plaintext. Last: a TOML table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// The `[tls]` table: all three files or none (docs/security.md, "TLS").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
}

/// The `[tls]` table of the file, before the all-or-none check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

impl TlsConfig {
    pub fn files(&self) -> pharos_tls::TlsFiles {
        pharos_tls::TlsFiles {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            ca_file: self.ca_file.clone(),
        }
    }

    /// Flags over the file, then all three or none.
    fn resolve(args: &ServeArgs, file: Option<FileTls>) -> Result<Option<TlsConfig>, ConfigError> {
        let file = file.unwrap_or_default();
        let cert_file = args.tls_cert_file.clone().or(file.cert_file);
        let key_file = args.tls_key_file.clone().or(file.key_file);
        let ca_file = args.tls_ca_file.clone().or(file.ca_file);
        match (cert_file, key_file, ca_file) {
            (None, None, None) => Ok(None),
            (Some(cert_file), Some(key_file), Some(ca_file)) => Ok(Some(TlsConfig { cert_file, key_file, ca_file })),
            _ => Err(ConfigError::Invalid {
                field: "tls",
                reason: "give all three of cert_file, key_file and ca_file (--tls-cert-file, --tls-key-file, \
                         --tls-ca-file), or none for plaintext"
                    .into(),
            }),
        }
    }
}

/// The TOML file: every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    data_dir: Option<PathBuf>,
    listen_client: Option<String>,
    listen_peer: Option<String>,
    listen_http: Option<String>,
    listen_remoting: Option<String>,
    advertise_client: Option<String>,
    advertise_peer: Option<String>,
    zone: Option<String>,
    region: Option<String>,
    initial_cluster: Option<String>,
    initial_cluster_token: Option<String>,
    join: Option<String>,
    auto_promote: Option<bool>,
    heartbeat_interval_ms: Option<u64>,
    election_timeout_min_ms: Option<u64>,
    election_timeout_max_ms: Option<u64>,
    snapshot_logs_since_last: Option<u64>,
    logs_to_keep_after_snapshot: Option<u64>,
    broker_heartbeat_interval_ms: Option<u64>,
    broker_lease_ms: Option<u64>,
    broker_clock_drift_ms: Option<u64>,
    broker_record_retention_ms: Option<u64>,
    remoting_broker_timeout_ms: Option<u64>,
    remoting_open_registration: Option<bool>,
    insecure: Option<bool>,
    feature_level_max: Option<u32>,
    log_format: Option<String>,
    log_level: Option<String>,
    tls: Option<FileTls>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// How this node becomes part of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A one-node cluster of its own.
    Single,
    /// Every listed node is a voter: node id -> peer address.
    InitialCluster { members: BTreeMap<u64, String>, token: String },
    /// Join a running cluster through these members' peer addresses.
    Join { endpoints: Vec<String> },
}

impl ServeConfig {
    pub fn resolve(args: &ServeArgs) -> Result<ServeConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|source| ConfigError::Parse { path: path.clone(), source: Box::new(source) })?
            }
            None => FileConfig::default(),
        };
        let listen_client = args.listen_client.clone().or(file.listen_client).unwrap_or("127.0.0.1:7370".into());
        let listen_peer = args.listen_peer.clone().or(file.listen_peer).unwrap_or("127.0.0.1:7380".into());
        let config = ServeConfig {
            node_id: args.node_id.or(file.node_id).unwrap_or(1),
            data_dir: args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./pharos-data")),
            advertise_client: args.advertise_client.clone().or(file.advertise_client).unwrap_or(listen_client.clone()),
            advertise_peer: args.advertise_peer.clone().or(file.advertise_peer).unwrap_or(listen_peer.clone()),
            listen_client,
            listen_peer,
            listen_http: args.listen_http.clone().or(file.listen_http).unwrap_or("127.0.0.1:7390".into()),
            // RocketMQ's NameServer port, so clients find Pharos where they look by default.
            listen_remoting: args.listen_remoting.clone().or(file.listen_remoting).unwrap_or("127.0.0.1:9876".into()),
            // No invented names: a node that was not told its zone or region says so (empty),
            // and placement warnings say what that means.
            zone: args.zone.clone().or(file.zone).unwrap_or_default(),
            region: args.region.clone().or(file.region).unwrap_or_default(),
            initial_cluster: args.initial_cluster.clone().or(file.initial_cluster),
            initial_cluster_token: args
                .initial_cluster_token
                .clone()
                .or(file.initial_cluster_token)
                .unwrap_or(DEFAULT_INITIAL_CLUSTER_TOKEN.into()),
            join: args.join.clone().or(file.join),
            auto_promote: args.auto_promote.or(file.auto_promote).unwrap_or(false),
            heartbeat_interval_ms: args.heartbeat_interval_ms.or(file.heartbeat_interval_ms).unwrap_or(150),
            election_timeout_min_ms: args.election_timeout_min_ms.or(file.election_timeout_min_ms).unwrap_or(750),
            election_timeout_max_ms: args.election_timeout_max_ms.or(file.election_timeout_max_ms).unwrap_or(1500),
            snapshot_logs_since_last: args.snapshot_logs_since_last.or(file.snapshot_logs_since_last).unwrap_or(20_000),
            logs_to_keep_after_snapshot: args
                .logs_to_keep_after_snapshot
                .or(file.logs_to_keep_after_snapshot)
                .unwrap_or(5_000),
            broker_heartbeat_interval_ms: args
                .broker_heartbeat_interval_ms
                .or(file.broker_heartbeat_interval_ms)
                .unwrap_or(1_000),
            broker_lease_ms: args.broker_lease_ms.or(file.broker_lease_ms).unwrap_or(3_000),
            broker_clock_drift_ms: args.broker_clock_drift_ms.or(file.broker_clock_drift_ms).unwrap_or(500),
            broker_record_retention_ms: args
                .broker_record_retention_ms
                .or(file.broker_record_retention_ms)
                .unwrap_or(BROKER_RECORD_RETENTION_MS_DEFAULT),
            remoting_broker_timeout_ms: args
                .remoting_broker_timeout_ms
                .or(file.remoting_broker_timeout_ms)
                .unwrap_or(REMOTING_BROKER_TIMEOUT_MS_DEFAULT),
            remoting_open_registration: args
                .remoting_open_registration
                .or(file.remoting_open_registration)
                .or(args.insecure.or(file.insecure))
                .unwrap_or(false),
            insecure: args.insecure.or(file.insecure).unwrap_or(false),
            feature_level_max: args
                .feature_level_max
                .or(file.feature_level_max)
                .unwrap_or(pharos_meta::feature::LATEST),
            log_format: args.log_format.clone().or(file.log_format).unwrap_or("text".into()),
            log_level: args.log_level.clone().or(file.log_level).unwrap_or("info,openraft=warn".into()),
            tls: TlsConfig::resolve(args, file.tls)?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(ConfigError::Invalid { field: "node_id", reason: "must be at least 1".into() });
        }
        if self.initial_cluster.is_some() && self.join.is_some() {
            return Err(ConfigError::Invalid {
                field: "join",
                reason: "--join and --initial-cluster exclude each other".into(),
            });
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid { field: "log_format", reason: "must be text or json".into() });
        }
        if self.election_timeout_min_ms <= self.heartbeat_interval_ms
            || self.election_timeout_max_ms <= self.election_timeout_min_ms
        {
            return Err(ConfigError::Invalid {
                field: "election_timeout_min_ms",
                reason: "need heartbeat_interval_ms < election_timeout_min_ms < election_timeout_max_ms".into(),
            });
        }
        if self.broker_heartbeat_interval_ms == 0
            || self.broker_heartbeat_interval_ms.checked_mul(2).is_none_or(|twice| self.broker_lease_ms < twice)
        {
            return Err(ConfigError::Invalid {
                field: "broker_lease_ms",
                reason: "must be at least twice broker_heartbeat_interval_ms (> 0)".into(),
            });
        }
        if !REMOTING_BROKER_TIMEOUT_MS_RANGE.contains(&self.remoting_broker_timeout_ms) {
            return Err(ConfigError::Invalid {
                field: "remoting_broker_timeout_ms",
                reason: format!(
                    "must be {}..={} ms",
                    REMOTING_BROKER_TIMEOUT_MS_RANGE.start(),
                    REMOTING_BROKER_TIMEOUT_MS_RANGE.end()
                ),
            });
        }
        if !(1..=BROKER_RECORD_RETENTION_MS_MAX).contains(&self.broker_record_retention_ms) {
            return Err(ConfigError::Invalid {
                field: "broker_record_retention_ms",
                reason: format!("must be 1..={BROKER_RECORD_RETENTION_MS_MAX} (ten years)"),
            });
        }
        if !(pharos_meta::feature::BASELINE..=pharos_meta::feature::LATEST).contains(&self.feature_level_max) {
            return Err(ConfigError::Invalid {
                field: "feature_level_max",
                reason: format!(
                    "must be {}..={}: the feature levels this release knows",
                    pharos_meta::feature::BASELINE,
                    pharos_meta::feature::LATEST
                ),
            });
        }
        self.bootstrap()?;
        Ok(())
    }

    pub fn bootstrap(&self) -> Result<Bootstrap, ConfigError> {
        if let Some(join) = &self.join {
            let endpoints: Vec<String> =
                join.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
            if endpoints.is_empty() {
                return Err(ConfigError::Invalid { field: "join", reason: "no endpoint given".into() });
            }
            return Ok(Bootstrap::Join { endpoints });
        }
        let Some(initial_cluster) = &self.initial_cluster else { return Ok(Bootstrap::Single) };
        let members = parse_initial_cluster(initial_cluster)?;
        match members.get(&self.node_id) {
            None => Err(ConfigError::Invalid {
                field: "initial_cluster",
                reason: format!("does not list this node ({})", self.node_id),
            }),
            Some(peer) if *peer != self.advertise_peer => Err(ConfigError::Invalid {
                field: "initial_cluster",
                reason: format!(
                    "lists node {} at {peer} but this node advertises {}",
                    self.node_id, self.advertise_peer
                ),
            }),
            Some(_) => Ok(Bootstrap::InitialCluster { members, token: self.initial_cluster_token.clone() }),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|error| format!("# cannot render config: {error}\n"))
    }

    pub fn broker_timing(&self) -> crate::brokers::BrokerTiming {
        crate::brokers::BrokerTiming {
            heartbeat_interval_ms: self.broker_heartbeat_interval_ms,
            lease_ms: self.broker_lease_ms,
            clock_drift_ms: self.broker_clock_drift_ms,
            registration_timeout_ms: self.remoting_broker_timeout_ms,
        }
    }

    /// This node's addresses and placement, as its membership record should say them.
    pub fn node_info(&self) -> pharos_replication::NodeInfo {
        pharos_replication::NodeInfo {
            client_addr: self.advertise_client.clone(),
            peer_addr: self.advertise_peer.clone(),
            zone: self.zone.clone(),
            region: self.region.clone(),
            feature_level_max: self.feature_level_max,
        }
    }

    pub fn raft_tuning(&self) -> pharos_replication::RaftTuning {
        pharos_replication::RaftTuning {
            heartbeat_interval_ms: self.heartbeat_interval_ms,
            election_timeout_min_ms: self.election_timeout_min_ms,
            election_timeout_max_ms: self.election_timeout_max_ms,
            snapshot_logs_since_last: self.snapshot_logs_since_last,
            logs_to_keep_after_snapshot: self.logs_to_keep_after_snapshot,
        }
    }
}

/// `--initial-cluster-token` when none is given (`serve` and `snapshot restore` agree on it).
pub const DEFAULT_INITIAL_CLUSTER_TOKEN: &str = "pharos";

/// `--initial-cluster` (`1=host:port,2=host:port`): node id -> peer address, each id once.
pub fn parse_initial_cluster(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut members = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let invalid = |reason: String| ConfigError::Invalid { field: "initial_cluster", reason };
        let (id, peer) = item.split_once('=').ok_or_else(|| invalid(format!("`{item}` is not ID=PEER_ADDR")))?;
        let id: u64 = id.trim().parse().map_err(|_| invalid(format!("`{id}` is not a node id")))?;
        if id == 0 || peer.trim().is_empty() {
            return Err(invalid(format!("`{item}` needs a node id >= 1 and a peer address")));
        }
        if members.insert(id, peer.trim().to_string()).is_some() {
            return Err(invalid(format!("node {id} is listed twice")));
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_single_node_embedded_setup() {
        let config = ServeConfig::resolve(&ServeArgs::default()).expect("defaults are valid");
        assert_eq!(config.node_id, 1);
        assert_eq!(config.listen_client, "127.0.0.1:7370");
        assert_eq!(config.listen_peer, "127.0.0.1:7380");
        assert_eq!(config.listen_http, "127.0.0.1:7390");
        assert_eq!(config.listen_remoting, "127.0.0.1:9876");
        assert_eq!(config.data_dir, PathBuf::from("./pharos-data"));
        assert_eq!(config.bootstrap().expect("bootstrap"), Bootstrap::Single);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, "node_id = 2\nzone = \"file-zone\"\nregion = \"file-region\"\n").expect("write");
        let args = ServeArgs { config: Some(path), zone: Some("flag-zone".into()), ..ServeArgs::default() };
        let config = ServeConfig::resolve(&args).expect("valid");
        assert_eq!((config.node_id, config.zone.as_str(), config.region.as_str()), (2, "flag-zone", "file-region"));
    }

    #[test]
    fn initial_cluster_must_list_this_node_at_its_peer_address() {
        let args = ServeArgs {
            node_id: Some(2),
            listen_peer: Some("127.0.0.1:9002".into()),
            initial_cluster: Some("1=127.0.0.1:9001,2=127.0.0.1:9002".into()),
            ..ServeArgs::default()
        };
        let config = ServeConfig::resolve(&args).expect("valid");
        let Bootstrap::InitialCluster { members, .. } = config.bootstrap().expect("bootstrap") else {
            panic!("expected a static bootstrap");
        };
        assert_eq!(members.len(), 2);
        let wrong = ServeArgs { node_id: Some(3), ..args.clone() };
        assert!(ServeConfig::resolve(&wrong).is_err());
        let wrong_peer = ServeArgs { listen_peer: Some("127.0.0.1:1".into()), ..args };
        assert!(ServeConfig::resolve(&wrong_peer).is_err());
    }

    #[test]
    fn broker_record_retention_is_bounded() {
        let config = ServeConfig::resolve(&ServeArgs::default()).expect("defaults are valid");
        assert_eq!(config.broker_record_retention_ms, 86_400_000, "one day by default");
        for refused in [0, BROKER_RECORD_RETENTION_MS_MAX + 1, u64::MAX] {
            let args = ServeArgs { broker_record_retention_ms: Some(refused), ..ServeArgs::default() };
            assert!(
                matches!(
                    ServeConfig::resolve(&args),
                    Err(ConfigError::Invalid { field: "broker_record_retention_ms", .. })
                ),
                "{refused} must be refused"
            );
        }
        for accepted in [1, BROKER_RECORD_RETENTION_MS_MAX] {
            let args = ServeArgs { broker_record_retention_ms: Some(accepted), ..ServeArgs::default() };
            assert_eq!(ServeConfig::resolve(&args).expect("valid").broker_record_retention_ms, accepted);
        }
    }

    #[test]
    fn tls_takes_all_three_files_or_none() {
        assert_eq!(ServeConfig::resolve(&ServeArgs::default()).expect("plaintext").tls, None);
        let partial = ServeArgs { tls_cert_file: Some("node.pem".into()), ..ServeArgs::default() };
        let error = ServeConfig::resolve(&partial).expect_err("a partial set");
        assert!(matches!(error, ConfigError::Invalid { field: "tls", .. }), "{error}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, "[tls]\ncert_file = \"n.pem\"\nkey_file = \"n.key\"\nca_file = \"ca.pem\"\n")
            .expect("write");
        let args = ServeArgs { config: Some(path), tls_ca_file: Some("other-ca.pem".into()), ..ServeArgs::default() };
        let config = ServeConfig::resolve(&args).expect("file and flag");
        let tls = config.tls.clone().expect("tls");
        assert_eq!((tls.cert_file, tls.ca_file), ("n.pem".into(), "other-ca.pem".into()), "the flag wins");
        let printed: ServeConfig = toml::from_str(&config.to_toml()).expect("--print-config reads back");
        assert_eq!(printed, config);
    }

    #[test]
    fn the_remoting_address_comes_from_the_flag_then_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, "listen_remoting = \"127.0.0.1:19876\"\n").expect("write");
        let from_file = ServeArgs { config: Some(path), ..ServeArgs::default() };
        assert_eq!(ServeConfig::resolve(&from_file).expect("valid").listen_remoting, "127.0.0.1:19876");
        let from_flag = ServeArgs { listen_remoting: Some("0.0.0.0:9876".into()), ..from_file };
        let config = ServeConfig::resolve(&from_flag).expect("valid");
        assert_eq!(config.listen_remoting, "0.0.0.0:9876");
        let printed: ServeConfig = toml::from_str(&config.to_toml()).expect("--print-config reads back");
        assert_eq!(printed, config);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, "node_idd = 2\n").expect("write");
        let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
        assert!(matches!(ServeConfig::resolve(&args), Err(ConfigError::Parse { .. })));
    }
}
