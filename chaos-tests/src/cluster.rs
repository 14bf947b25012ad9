use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions, v1};
use pharos_powercut::{CutReport, MountError, PowerCutMount};

use crate::proxy::PeerProxy;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot start {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    #[error("node {0} is not part of this cluster")]
    UnknownNode(u64),
    #[error("node {node_id}'s power-cut filesystem: {source}")]
    PowerCut { node_id: u64, source: MountError },
    #[error("node {0}'s data dir is not on a power-cut filesystem (start the cluster with `power_cut`)")]
    NoPowerCut(u64),
}

/// Where the `pharos` binary is: `$PHAROS_BIN`, else next to the running executable (or one
/// level up, for test binaries in `target/*/deps`).
pub fn pharos_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PHAROS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for candidate in [dir.join("pharos"), dir.join("..").join("pharos")] {
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from("pharos")
}

/// Listen ports are drawn below Linux's ephemeral range (32768–60999). A port the kernel hands
/// out for `:0` is free now but may be handed out again, as the source port of some outgoing
/// connection, before the node binds it (seen in the chaos soak: "Address already in use" at
/// start); ports below that range are never used as source ports.
const LISTEN_PORT_MIN: u16 = 20_000;
const LISTEN_PORT_MAX: u16 = 32_000;
/// Ports tried before falling back to one the kernel picks.
const LISTEN_PORT_ATTEMPTS_MAX: u32 = 200;

/// A loopback port no other caller of this function in any process was given recently, free now.
pub fn free_port() -> Result<u16, HarnessError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let seed = u64::from(std::process::id()) << 32
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64);
    for _ in 0..LISTEN_PORT_ATTEMPTS_MAX {
        let mut rng = crate::rng::SplitMix64::new(seed ^ DRAWS.fetch_add(1, Ordering::Relaxed));
        let port = LISTEN_PORT_MIN + rng.below(u64::from(LISTEN_PORT_MAX - LISTEN_PORT_MIN)) as u16;
        // Never hand out one port twice in this process (two nodes could not both bind it).
        let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::Port)?;
    Ok(listener.local_addr().map_err(HarnessError::Port)?.port())
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub binary: PathBuf,
    pub voters: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub logs_to_keep_after_snapshot: u64,
    pub initial_cluster_token: String,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_lease_ms: u64,
    pub broker_clock_drift_ms: u64,
    /// Keep node logs on stderr instead of files (debugging).
    pub inherit_output: bool,
    /// Put a [`PeerProxy`] in front of every node's peer port, so tests can partition and
    /// delay links (`Cluster::network`). Needs a tokio runtime.
    pub peer_proxy: bool,
    /// Region of each bootstrap voter, in node-id order; voters past its end (all, when empty)
    /// are in `region-1`.
    pub voter_regions: Vec<String>,
    /// Run with authentication and access control (the server's default). Off, nodes run
    /// `--insecure`, so fault scenarios need no credentials.
    pub secure: bool,
    /// TLS on every port: node N starts with `DIR/node-N.pem`, `DIR/node-N.key` and
    /// `DIR/ca.pem` (as `pharos cert` writes them), and the harness's clients verify the nodes
    /// against `DIR/ca.pem`. `None`: plaintext.
    pub tls_dir: Option<PathBuf>,
    /// More `pharos serve` flags for every node, after the harness's own.
    pub extra_args: Vec<String>,
    /// Start from this backup file: every bootstrap voter's data dir is written by `pharos
    /// snapshot restore` (with the cluster's `--initial-cluster` and token) before it starts.
    pub restore_from: Option<PathBuf>,
    /// Put every node's data dir on its own power-cut filesystem (`pharos-powercut`, FUSE), so
    /// tests can drop what a node wrote but did not fsync (`Cluster::cut_power`). Needs
    /// /dev/fuse and root; starting fails (it never silently falls back to a plain dir).
    pub power_cut: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            binary: pharos_binary(),
            voters: 3,
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 600,
            election_timeout_max_ms: 1200,
            snapshot_logs_since_last: 20_000,
            logs_to_keep_after_snapshot: 5_000,
            initial_cluster_token: "pharos-test".to_string(),
            broker_heartbeat_interval_ms: 300,
            broker_lease_ms: 1_500,
            broker_clock_drift_ms: 200,
            inherit_output: false,
            peer_proxy: false,
            voter_regions: Vec::new(),
            secure: false,
            tls_dir: None,
            extra_args: Vec::new(),
            restore_from: None,
            power_cut: false,
        }
    }
}

/// One node: its addresses, data dir, and process if running.
#[derive(Debug)]
pub struct NodeHandle {
    pub node_id: u64,
    pub client_addr: String,
    /// The peer address in the membership (the proxy's, when there is one).
    pub peer_addr: String,
    /// Where the node itself listens for peers (equal to `peer_addr` without a proxy).
    pub listen_peer_addr: String,
    pub http_addr: String,
    /// RocketMQ remoting (NameServer) address: a free port, never the default 9876, so that
    /// clusters of parallel tests do not collide.
    pub remoting_addr: String,
    pub zone: String,
    pub region: String,
    pub data_dir: PathBuf,
    /// Flags this node was last started with (bootstrap flags included), reused on restart.
    args: Vec<String>,
    process: Option<Child>,
    /// Bound but not listening while the node is down, so another process's harness cannot take
    /// its ports before it restarts (connections are still refused, as to a dead node).
    reserved: Vec<tokio::net::TcpSocket>,
}

impl NodeHandle {
    /// Holds the node's ports while it is down (best effort: a port another process holds
    /// already stays theirs, and the restart will say so).
    fn reserve_ports(&mut self) {
        self.reserved = [&self.client_addr, &self.listen_peer_addr, &self.http_addr, &self.remoting_addr]
            .into_iter()
            .filter_map(|address| address.parse::<std::net::SocketAddr>().ok())
            .filter_map(|address| {
                let socket = tokio::net::TcpSocket::new_v4().ok()?;
                socket.bind(address).ok()?;
                Some(socket)
            })
            .collect();
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }
}

/// A set of `pharos` processes sharing one temporary root directory.
#[derive(Debug)]
pub struct Cluster {
    pub options: ClusterOptions,
    pub nodes: Vec<NodeHandle>,
    root: tempfile::TempDir,
    /// Present when `options.peer_proxy`: every peer connection passes through it.
    proxy: Option<PeerProxy>,
    /// With `options.power_cut`: the filesystem each node's data dir is mounted from, by node
    /// id. Unmounted (in `Drop`) after the nodes are killed and before `root` is removed.
    mounts: std::collections::BTreeMap<u64, PowerCutMount>,
}

impl Cluster {
    /// Starts `options.voters` nodes with a static bootstrap and waits for a leader.
    pub async fn start(options: ClusterOptions) -> Result<Cluster, HarnessError> {
        let root = tempfile::Builder::new()
            .prefix("pharos-cluster-")
            .tempdir()
            .map_err(|source| HarnessError::Spawn { what: "temp dir".into(), source })?;
        let proxy = options.peer_proxy.then(PeerProxy::new);
        let mut cluster = Cluster { options, nodes: Vec::new(), root, proxy, mounts: Default::default() };
        for node_id in 1..=cluster.options.voters {
            let region = cluster.options.voter_regions.get(node_id as usize - 1).cloned();
            cluster.add_node_handle(node_id, &format!("zone-{node_id}"), region.as_deref().unwrap_or("region-1"))?;
        }
        let initial_cluster = cluster
            .nodes
            .iter()
            .map(|node| format!("{}={}", node.node_id, node.peer_addr))
            .collect::<Vec<_>>()
            .join(",");
        let token = cluster.options.initial_cluster_token.clone();
        if let Some(backup) = cluster.options.restore_from.clone() {
            for node in &cluster.nodes {
                let restored = Command::new(&cluster.options.binary)
                    .arg("snapshot")
                    .arg("restore")
                    .arg(&backup)
                    .arg(format!("--data-dir={}", node.data_dir.display()))
                    .arg(format!("--node-id={}", node.node_id))
                    .arg(format!("--initial-cluster={initial_cluster}"))
                    .arg(format!("--initial-cluster-token={token}"))
                    .output()
                    .map_err(|source| HarnessError::Spawn { what: "pharos snapshot restore".into(), source })?;
                if !restored.status.success() {
                    return Err(HarnessError::Spawn {
                        what: format!("a restore of node {}", node.node_id),
                        source: std::io::Error::other(String::from_utf8_lossy(&restored.stderr).into_owned()),
                    });
                }
            }
        }
        for index in 0..cluster.nodes.len() {
            let bootstrap = vec![
                "--initial-cluster".to_string(),
                initial_cluster.clone(),
                "--initial-cluster-token".to_string(),
                token.clone(),
            ];
            cluster.nodes[index].args = cluster.base_args(index, bootstrap);
            cluster.spawn(index)?;
        }
        let formed = async {
            cluster.wait_for_leader(Duration::from_secs(30)).await?;
            cluster.wait_for_recorded_members(Duration::from_secs(30)).await
        };
        if let Err(error) = formed.await {
            // Keep the evidence of a cluster that never formed: the node logs say why.
            let kept = cluster.keep_root();
            eprintln!("the cluster did not start ({error}); its data and logs are kept in {}", kept.display());
            return Err(error);
        }
        Ok(cluster)
    }

    /// Waits until the leader's membership holds every running node's own record (client
    /// address, zone, region). A statically bootstrapped node writes that record itself once it
    /// reaches the leader, so until then a fresh cluster still writes log entries of its own,
    /// which a test that counts entries would blame on what it does.
    pub async fn wait_for_recorded_members(&self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let leader = self.wait_for_leader(deadline.saturating_duration_since(Instant::now())).await?;
            if let Some(status) = self.status_of(leader).await {
                let recorded = |node: &NodeHandle| {
                    status.members.iter().any(|member| {
                        member.node_id == node.node_id
                            && member.info.as_ref().is_some_and(|info| {
                                info.client_addr == node.client_addr
                                    && info.zone == node.zone
                                    && info.region == node.region
                            })
                    })
                };
                // And, for a new cluster, the first feature level its leader records once every
                // member advertises one: requests of newer levels are refused until then.
                let advertised: Vec<u32> = status
                    .members
                    .iter()
                    .map(|member| member.info.as_ref().map_or(0, |info| info.feature_level_max))
                    .collect();
                let shared = advertised.iter().copied().min().unwrap_or(0);
                let level_recorded = advertised.contains(&0) || status.feature_level >= shared;
                if self.nodes.iter().filter(|node| node.is_running()).all(recorded) && level_recorded {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout { what: "every node's membership record".into(), waited: timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn add_node_handle(&mut self, node_id: u64, zone: &str, region: &str) -> Result<usize, HarnessError> {
        let listen_peer_addr = format!("127.0.0.1:{}", free_port()?);
        let peer_addr = match &self.proxy {
            Some(proxy) => {
                // Bound here and kept, so nobody else takes the advertised port.
                let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::Port)?;
                let address = listener.local_addr().map_err(HarnessError::Port)?.to_string();
                proxy.serve(node_id, listener, listen_peer_addr.clone()).map_err(HarnessError::Port)?;
                address
            }
            None => listen_peer_addr.clone(),
        };
        let data_dir = self.root.path().join(format!("node-{node_id}"));
        if self.options.power_cut {
            // What the node synced lands in `node-N.disk`; the data dir is the mount.
            let backing = self.root.path().join(format!("node-{node_id}.disk"));
            let mount = PowerCutMount::mount(&backing, &data_dir)
                .map_err(|source| HarnessError::PowerCut { node_id, source })?;
            self.mounts.insert(node_id, mount);
        }
        let handle = NodeHandle {
            node_id,
            client_addr: format!("127.0.0.1:{}", free_port()?),
            peer_addr,
            listen_peer_addr,
            http_addr: format!("127.0.0.1:{}", free_port()?),
            remoting_addr: format!("127.0.0.1:{}", free_port()?),
            zone: zone.to_string(),
            region: region.to_string(),
            data_dir,
            args: Vec::new(),
            process: None,
            reserved: Vec::new(),
        };
        self.nodes.push(handle);
        Ok(self.nodes.len() - 1)
    }

    fn base_args(&self, index: usize, bootstrap: Vec<String>) -> Vec<String> {
        let node = &self.nodes[index];
        let options = &self.options;
        let mut args = vec![
            "serve".to_string(),
            format!("--node-id={}", node.node_id),
            format!("--data-dir={}", node.data_dir.display()),
            format!("--listen-client={}", node.client_addr),
            format!("--listen-peer={}", node.listen_peer_addr),
            format!("--advertise-peer={}", node.peer_addr),
            format!("--listen-http={}", node.http_addr),
            format!("--listen-remoting={}", node.remoting_addr),
            format!("--zone={}", node.zone),
            format!("--region={}", node.region),
            format!("--heartbeat-interval-ms={}", options.heartbeat_interval_ms),
            format!("--election-timeout-min-ms={}", options.election_timeout_min_ms),
            format!("--election-timeout-max-ms={}", options.election_timeout_max_ms),
            format!("--snapshot-logs-since-last={}", options.snapshot_logs_since_last),
            format!("--logs-to-keep-after-snapshot={}", options.logs_to_keep_after_snapshot),
            format!("--broker-heartbeat-interval-ms={}", options.broker_heartbeat_interval_ms),
            format!("--broker-lease-ms={}", options.broker_lease_ms),
            format!("--broker-clock-drift-ms={}", options.broker_clock_drift_ms),
        ];
        if !options.secure {
            args.push("--insecure".to_string());
        }
        if let Some(dir) = &options.tls_dir {
            args.push(format!("--tls-cert-file={}", dir.join(format!("node-{}.pem", node.node_id)).display()));
            args.push(format!("--tls-key-file={}", dir.join(format!("node-{}.key", node.node_id)).display()));
            args.push(format!("--tls-ca-file={}", dir.join("ca.pem").display()));
        }
        args.extend(options.extra_args.iter().cloned());
        args.extend(bootstrap);
        args
    }

    fn spawn(&mut self, index: usize) -> Result<(), HarnessError> {
        self.nodes[index].reserved.clear();
        let node = &self.nodes[index];
        let mut command = Command::new(&self.options.binary);
        command
            .args(&node.args)
            .env("PHAROS_LOG_LEVEL", "info,openraft=warn")
            .env("PHAROS_FAILPOINTS_FILE", self.failpoints_file(node.node_id))
            .stdin(Stdio::null());
        if !self.options.inherit_output {
            std::fs::create_dir_all(self.root.path()).ok();
            let log_path = self.root.path().join(format!("node-{}.log", node.node_id));
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|source| HarnessError::Spawn { what: log_path.display().to_string(), source })?;
            let log_err = log.try_clone().map_err(|source| HarnessError::Spawn { what: "log".into(), source })?;
            command.stdout(log).stderr(log_err);
        }
        let child = command.spawn().map_err(|source| HarnessError::Spawn {
            what: format!("{} (node {})", self.options.binary.display(), node.node_id),
            source,
        })?;
        if let Some(proxy) = &self.proxy {
            proxy.set_pid(node.node_id, Some(child.id()));
        }
        self.nodes[index].process = Some(child);
        Ok(())
    }

    fn index_of(&self, node_id: u64) -> Result<usize, HarnessError> {
        self.nodes.iter().position(|node| node.node_id == node_id).ok_or(HarnessError::UnknownNode(node_id))
    }

    pub fn node(&self, node_id: u64) -> Result<&NodeHandle, HarnessError> {
        Ok(&self.nodes[self.index_of(node_id)?])
    }

    /// `GET path` on one node's HTTP port (metrics, health): the whole response, status line
    /// and headers included (plain HTTP/1.1 on loopback).
    pub async fn http_get(&self, node_id: u64, path: &str) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.node(node_id).map_err(std::io::Error::other)?.http_addr.clone();
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok(response)
    }

    /// The directory holding every node's data dir and log.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The contents of a node's log file (for failure messages).
    pub fn log_of(&self, node_id: u64) -> String {
        std::fs::read_to_string(self.root.path().join(format!("node-{node_id}.log"))).unwrap_or_default()
    }

    /// Kills a node with SIGKILL and reaps it.
    pub fn kill(&mut self, node_id: u64) -> Result<(), HarnessError> {
        let index = self.index_of(node_id)?;
        if let Some(mut child) = self.nodes[index].process.take() {
            let _ = child.kill();
            // A killed process exits only once its held syncs are answered.
            if let Some(mount) = self.mounts.get(&node_id) {
                mount.release_held_syncs();
            }
            let _ = child.wait();
            self.nodes[index].reserve_ports();
        }
        if let Some(proxy) = &self.proxy {
            proxy.set_pid(node_id, None);
        }
        Ok(())
    }

    /// Power loss on these nodes at once: SIGKILL every one, then drop everything each wrote
    /// but did not fsync (so none syncs after another's cut), then reap them. Restart them
    /// with `restart`. One report per node, in the order given.
    ///
    /// The cut comes before the reaping because a killed process exits only once its held
    /// syncs are answered (the cut fails them); and it is repeated after the reaping, because
    /// a request the filesystem read just before the first cut can land just after it.
    pub fn cut_power(&mut self, node_ids: &[u64]) -> Result<Vec<CutReport>, HarnessError> {
        for &node_id in node_ids {
            self.power_cut_mount(node_id)?;
        }
        let mut children = Vec::new();
        for &node_id in node_ids {
            let index = self.index_of(node_id)?;
            if let Some(mut child) = self.nodes[index].process.take() {
                let _ = child.kill();
                children.push((index, child));
            }
        }
        let mut reports: Vec<CutReport> =
            node_ids.iter().filter_map(|node_id| self.mounts.get(node_id).map(PowerCutMount::cut)).collect();
        for (index, mut child) in children {
            let _ = child.wait();
            self.nodes[index].reserve_ports();
        }
        for (report, node_id) in reports.iter_mut().zip(node_ids) {
            if let Some(mount) = self.mounts.get(node_id) {
                let late = mount.cut();
                report.dropped_write_bytes += late.dropped_write_bytes;
                report.dropped_writes += late.dropped_writes;
                report.files_with_unsynced_writes += late.files_with_unsynced_writes;
                report.paths_rolled_back += late.paths_rolled_back;
                report.syncs_interrupted += late.syncs_interrupted;
            }
        }
        if let Some(proxy) = &self.proxy {
            for &node_id in node_ids {
                proxy.set_pid(node_id, None);
            }
        }
        Ok(reports)
    }

    /// The power-cut filesystem a node's data dir is mounted from (to hold its syncs before a
    /// cut, or read its counters).
    pub fn power_cut_mount(&self, node_id: u64) -> Result<&PowerCutMount, HarnessError> {
        self.index_of(node_id)?;
        self.mounts.get(&node_id).ok_or(HarnessError::NoPowerCut(node_id))
    }

    /// The counters of a node's power-cut filesystem (`None` without `power_cut`).
    pub fn power_cut_stats(&self, node_id: u64) -> Option<pharos_powercut::Stats> {
        self.mounts.get(&node_id).map(PowerCutMount::stats)
    }

    /// Nodes that exited although the harness did not stop them (a panic, an abort, a signal
    /// from elsewhere), with how they ended. They count as stopped afterwards.
    pub fn unexpected_exits(&mut self) -> Vec<(u64, String)> {
        let mut exits = Vec::new();
        for node in &mut self.nodes {
            let exited = node.process.as_mut().and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                node.process = None;
                node.reserve_ports();
                exits.push((node.node_id, status.to_string()));
            }
        }
        if let Some(proxy) = &self.proxy {
            for (node_id, _) in &exits {
                proxy.set_pid(*node_id, None);
            }
        }
        exits
    }

    fn failpoints_file(&self, node_id: u64) -> PathBuf {
        self.root.path().join(format!("failpoints-node-{node_id}"))
    }

    /// Arms failpoints in a running node built with the `failpoints` feature (the node reads
    /// the file at every point it passes; other builds ignore it). An empty `spec` disarms.
    /// Syntax: `point=crash|error|nospace[@skip]`, comma separated (replication/src/log_store.rs).
    pub fn arm_failpoints(&self, node_id: u64, spec: &str) -> Result<(), HarnessError> {
        self.index_of(node_id)?;
        let path = self.failpoints_file(node_id);
        let staging = path.with_extension("new");
        // Written aside and renamed, so a node never reads half a spec.
        std::fs::write(&staging, spec)
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(|source| HarnessError::Spawn { what: path.display().to_string(), source })
    }

    /// The network between the nodes, when the cluster was started with `peer_proxy`.
    pub fn network(&self) -> Option<&PeerProxy> {
        self.proxy.as_ref()
    }

    /// Keeps the root directory (logs, data dirs, anything a test wrote there) after the
    /// cluster is dropped and returns its path. Later node logs still go to the same place.
    pub fn keep_root(&mut self) -> PathBuf {
        let path = self.root.path().to_path_buf();
        self.root.disable_cleanup(true);
        path
    }

    /// Stops a node with SIGTERM (graceful) and waits, bounded, for it to exit.
    pub async fn stop(&mut self, node_id: u64) -> Result<(), HarnessError> {
        let index = self.index_of(node_id)?;
        if let Some(mut child) = self.nodes[index].process.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    self.nodes[index].reserve_ports();
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            self.nodes[index].reserve_ports();
        }
        Ok(())
    }

    /// Sends SIGSTOP or SIGCONT to a node.
    pub fn signal(&self, node_id: u64, signal: &str) -> Result<(), HarnessError> {
        let node = self.node(node_id)?;
        if let Some(pid) = node.pid() {
            let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
        }
        Ok(())
    }

    /// Changes the flags a stopped node restarts with (say, a rolling upgrade's release change,
    /// played by `--feature-level-max`): `edit` gets the whole `pharos serve` argument list.
    pub fn edit_args(&mut self, node_id: u64, edit: impl FnOnce(&mut Vec<String>)) -> Result<(), HarnessError> {
        let index = self.index_of(node_id)?;
        edit(&mut self.nodes[index].args);
        Ok(())
    }

    /// Restarts a stopped or killed node with the very same flags.
    pub fn restart(&mut self, node_id: u64) -> Result<(), HarnessError> {
        let index = self.index_of(node_id)?;
        if self.nodes[index].process.is_none() {
            self.spawn(index)?;
        }
        Ok(())
    }

    /// Starts a new node that joins through the running nodes' peer endpoints.
    pub fn add_joining_node(
        &mut self,
        node_id: u64,
        zone: &str,
        region: &str,
        extra: &[&str],
    ) -> Result<(), HarnessError> {
        let join = self.peer_endpoints().join(",");
        let index = self.add_node_handle(node_id, zone, region)?;
        let mut bootstrap = vec!["--join".to_string(), join];
        bootstrap.extend(extra.iter().map(|arg| arg.to_string()));
        self.nodes[index].args = self.base_args(index, bootstrap);
        self.spawn(index)
    }

    /// Restarts a stopped member on an empty data dir, joining through the running nodes (the
    /// second half of replacing a member that lost its disk; remove it from the cluster first).
    pub fn rejoin_empty(&mut self, node_id: u64) -> Result<(), HarnessError> {
        let index = self.index_of(node_id)?;
        if self.nodes[index].process.is_some() {
            return Err(HarnessError::Spawn {
                what: format!("node {node_id}"),
                source: std::io::Error::other("still running: stop it first"),
            });
        }
        let data_dir = self.nodes[index].data_dir.clone();
        std::fs::remove_dir_all(&data_dir)
            .or_else(|error| if error.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(error) })
            .map_err(|source| HarnessError::Spawn { what: data_dir.display().to_string(), source })?;
        let join = self.peer_endpoints().join(",");
        self.nodes[index].args = self.base_args(index, vec!["--join".to_string(), join]);
        self.spawn(index)
    }

    /// Advertised peer endpoints of running nodes (what `--join` takes).
    pub fn peer_endpoints(&self) -> Vec<String> {
        self.nodes.iter().filter(|node| node.is_running()).map(|node| node.peer_addr.clone()).collect()
    }

    /// Client endpoints of running nodes.
    pub fn client_endpoints(&self) -> Vec<String> {
        self.nodes.iter().filter(|node| node.is_running()).map(|node| node.client_addr.clone()).collect()
    }

    /// The root token of a secure cluster: the `root.token` some node's bootstrap wrote.
    pub fn root_token(&self) -> Option<String> {
        self.nodes
            .iter()
            .find_map(|node| std::fs::read_to_string(node.data_dir.join("root.token")).ok())
            .map(|token| token.trim().to_string())
    }

    /// Client options that dial the nodes the way they serve: with TLS under `tls_dir`, and
    /// the root token on a secure cluster.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            ca_file: self.options.tls_dir.as_ref().map(|dir| dir.join("ca.pem")),
            token: self.root_token(),
            ..ClientOptions::default()
        }
    }

    /// A client over every node's endpoint (running or not), with generous retries.
    pub fn client(&self) -> Client {
        let endpoints: Vec<String> = self.nodes.iter().map(|node| node.client_addr.clone()).collect();
        Client::with_options(endpoints, ClientOptions { attempts_max: 60, ..self.client_options() })
            .expect("endpoints are non-empty")
    }

    /// A client bound to one node, with a single attempt (no redirects followed).
    pub fn client_of(&self, node_id: u64) -> Result<Client, HarnessError> {
        let options = ClientOptions { attempts_max: 1, ..self.client_options() };
        Ok(Client::with_options([self.node(node_id)?.client_addr.clone()], options).expect("one endpoint"))
    }

    /// A plain gRPC channel to one node's client port, for tests that send requests exactly as
    /// built (an idempotency key of their own, a raw retry) rather than through the client.
    pub async fn channel_of(&self, node_id: u64) -> Result<tonic::transport::Channel, HarnessError> {
        let address = &self.node(node_id)?.client_addr;
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}")).map_err(|error| {
            HarnessError::Spawn { what: format!("an endpoint for {address}"), source: std::io::Error::other(error) }
        })?;
        endpoint.connect().await.map_err(|error| HarnessError::Spawn {
            what: format!("a connection to node {node_id} at {address}"),
            source: std::io::Error::other(error),
        })
    }

    /// Status as reported by one node.
    pub async fn status_of(&self, node_id: u64) -> Option<v1::StatusResponse> {
        self.client_of(node_id).ok()?.status().await.ok()
    }

    /// Waits until a running node reports itself leader and returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            for node in self.nodes.iter().filter(|node| node.is_running()) {
                if let Some(status) = self.status_of(node.node_id).await
                    && status.state() == pharos_client::v1::ServerState::Leader
                {
                    return Ok(node.node_id);
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout { what: "a leader".into(), waited: timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `node_id` has applied at least `index`.
    pub async fn wait_for_applied(&self, node_id: u64, index: u64, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.status_of(node_id).await
                && status.applied_index >= index
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("node {node_id} to apply {index}"),
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A `pharos simulate-broker` process; its JSON event lines go to a file.
#[derive(Debug)]
pub struct BrokerProcess {
    pub name: String,
    pub group: String,
    log: PathBuf,
    process: Option<Child>,
}

impl BrokerProcess {
    /// Every JSON event the broker printed so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Events of one kind (`role`, `lease`, `fenced`, ...).
    pub fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|event| event["event"] == kind).collect()
    }

    /// SIGKILL: the broker dies without a word.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: controlled shutdown (the broker unregisters), bounded wait.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Cluster {
    /// Starts a simulated broker talking to every node of this cluster.
    pub fn spawn_broker(&self, group: &str, name: &str, extra: &[&str]) -> Result<BrokerProcess, HarnessError> {
        let log = self.root.path().join(format!("broker-{group}-{name}.jsonl"));
        let stdout = std::fs::File::create(&log)
            .map_err(|source| HarnessError::Spawn { what: log.display().to_string(), source })?;
        let endpoints: Vec<String> = self.nodes.iter().map(|node| node.client_addr.clone()).collect();
        let child = Command::new(&self.options.binary)
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(["simulate-broker", "--group", group, "--name", name])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| HarnessError::Spawn { what: format!("broker {name}"), source })?;
        Ok(BrokerProcess { name: name.to_string(), group: group.to_string(), log, process: Some(child) })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = &mut node.process {
                let _ = child.kill();
            }
        }
        // Killed processes exit only once their held syncs are answered.
        for mount in self.mounts.values() {
            mount.release_held_syncs();
        }
        for node in &mut self.nodes {
            if let Some(mut child) = node.process.take() {
                let _ = child.wait();
            }
        }
        // No process holds a file there any more; unmounted before the root is removed, or
        // its removal would go through the mounts.
        self.mounts.clear();
        if std::thread::panicking() {
            // Keep the evidence: logs and data dirs of a failed test.
            let kept = self.root.path().to_path_buf();
            let root = std::mem::replace(&mut self.root, tempfile::tempdir().expect("temp dir"));
            let _ = root.keep();
            eprintln!("cluster data and logs kept in {}", kept.display());
        }
    }
}
