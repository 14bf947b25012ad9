//! A 3-member etcd cluster on loopback, as real processes, for `pharos-bench compare`, and the
//! minimal gRPC client it is driven through (`proto/etcd_rpc.proto`).
//!
//! Members run `/usr/bin/etcd` (or `$ETCD_BIN`; `bench/setup-etcd.sh` installs it) with their data
//! dirs in one temp dir. Every member is killed when the cluster is dropped, so no process
//! outlives the benchmark.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};

/// Generated from `proto/etcd_rpc.proto`.
#[allow(missing_debug_implementations, clippy::all)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

use etcdserverpb::kv_client::KvClient;
use etcdserverpb::maintenance_client::MaintenanceClient;

/// Where the `etcd` binary is: `$ETCD_BIN`, else the Debian package's path.
pub fn etcd_binary() -> PathBuf {
    std::env::var_os("ETCD_BIN").map_or_else(|| PathBuf::from("/usr/bin/etcd"), PathBuf::from)
}

/// How long one member is given to answer a status query or a leader wait.
const STATUS_TIMEOUT_MS: u64 = 500;
/// Bound on waiting for a leader after start, a kill or a restart.
const LEADER_WAIT_MS: u64 = 30_000;

/// One member: its name, client address and process if running.
#[derive(Debug)]
struct Member {
    name: String,
    client_url: String,
    args: Vec<String>,
    process: Option<Child>,
}

/// Three `etcd` processes sharing one temporary root directory.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Member>,
    root: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts three members with a static bootstrap (`--initial-cluster`) and waits for a leader.
    /// Heartbeat and election timeout stay at etcd's defaults (100 ms, 1000 ms).
    pub async fn start() -> anyhow::Result<EtcdCluster> {
        let root = tempfile::Builder::new().prefix("etcd-cluster-").tempdir().context("creating the etcd temp dir")?;
        let mut addresses = Vec::new();
        for index in 1..=3 {
            addresses.push((format!("etcd-{index}"), crate::ports::free_port()?, crate::ports::free_port()?));
        }
        let initial_cluster = addresses
            .iter()
            .map(|(name, _, peer_port)| format!("{name}=http://127.0.0.1:{peer_port}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (name, client_port, peer_port) in addresses {
            let client_url = format!("http://127.0.0.1:{client_port}");
            let peer_url = format!("http://127.0.0.1:{peer_port}");
            let data_dir = root.path().join(&name).display().to_string();
            let args = [
                ("--name", name.as_str()),
                ("--data-dir", data_dir.as_str()),
                ("--listen-client-urls", client_url.as_str()),
                ("--advertise-client-urls", client_url.as_str()),
                ("--listen-peer-urls", peer_url.as_str()),
                ("--initial-advertise-peer-urls", peer_url.as_str()),
                ("--initial-cluster", initial_cluster.as_str()),
                ("--initial-cluster-token", "pharos-bench-etcd"),
                ("--initial-cluster-state", "new"),
                ("--logger", "zap"),
                ("--log-level", "error"),
            ]
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
            .collect();
            members.push(Member { name, client_url, args, process: None });
        }
        let mut cluster = EtcdCluster { members, root };
        for index in 0..cluster.members.len() {
            cluster.spawn(index)?;
        }
        cluster.wait_for_leader().await?;
        Ok(cluster)
    }

    fn spawn(&mut self, index: usize) -> anyhow::Result<()> {
        let member = &mut self.members[index];
        let log = std::fs::File::create(self.root.path().join(format!("{}.log", member.name)))
            .context("creating an etcd log file")?;
        let child = Command::new(etcd_binary())
            .args(&member.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning an etcd log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} (run bench/setup-etcd.sh)", etcd_binary().display()))?;
        member.process = Some(child);
        Ok(())
    }

    /// Client URLs of all members, in member order.
    pub fn client_endpoints(&self) -> Vec<String> {
        self.members.iter().map(|member| member.client_url.clone()).collect()
    }

    /// kill -9 of member `index` (a no-op when it is down).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `index` again on its data dir (etcd then ignores the bootstrap flags).
    pub fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.spawn(index)
    }

    /// Status of member `index` (`None` when it does not answer in time).
    pub async fn status_of(&self, index: usize) -> Option<etcdserverpb::StatusResponse> {
        let channel = connect(&self.members[index].client_url).ok()?;
        let mut client = MaintenanceClient::new(channel);
        let call = client.status(etcdserverpb::StatusRequest {});
        let response = tokio::time::timeout(Duration::from_millis(STATUS_TIMEOUT_MS), call).await.ok()?.ok()?;
        Some(response.into_inner())
    }

    /// Index and member id of the member that is leader by the account of a running member that
    /// answers, waiting up to 30 s.
    pub async fn wait_for_leader(&self) -> anyhow::Result<(usize, u64)> {
        let deadline = Instant::now() + Duration::from_millis(LEADER_WAIT_MS);
        while Instant::now() < deadline {
            for index in 0..self.members.len() {
                if self.members[index].process.is_none() {
                    continue;
                }
                let Some(status) = self.status_of(index).await else { continue };
                let member_id = status.header.map_or(0, |header| header.member_id);
                if status.leader != 0 && status.leader == member_id {
                    return Ok((index, member_id));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("no etcd leader within {LEADER_WAIT_MS} ms (logs in {})", self.root.path().display())
    }

    /// Member ids of all running members that answer, with their index.
    pub async fn member_ids(&self) -> Vec<(usize, u64)> {
        let mut ids = Vec::new();
        for index in 0..self.members.len() {
            if let Some(status) = self.status_of(index).await {
                ids.push((index, status.header.map_or(0, |header| header.member_id)));
            }
        }
        ids
    }

    /// Raft index of member `index` (0 when it does not answer).
    pub async fn raft_index_of(&self, index: usize) -> u64 {
        self.status_of(index).await.map_or(0, |status| status.raft_index)
    }

    /// Asks the leader (member `leader_index`) to hand leadership to member id `target_id`.
    pub async fn move_leader(&self, leader_index: usize, target_id: u64) -> anyhow::Result<()> {
        let mut client = MaintenanceClient::new(connect(&self.members[leader_index].client_url)?);
        client.move_leader(etcdserverpb::MoveLeaderRequest { target_id }).await.context("etcd MoveLeader")?;
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// A lazily connecting channel to one member (no I/O until the first call).
pub fn connect(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())
        .context("parsing an etcd URL")?
        .connect_timeout(Duration::from_millis(STATUS_TIMEOUT_MS))
        .connect_lazy())
}

/// One benchmark client of etcd: a KV stub per member, starting at one of them and moving to the
/// next after a failed call (the way etcd's own client balances over endpoints).
#[derive(Debug, Clone)]
pub struct EtcdKv {
    stubs: Vec<KvClient<Channel>>,
    /// Per-attempt timeout (etcd's client has none by default; the benchmark bounds every call).
    request_timeout: Duration,
    /// Attempts per call, each on the next member after a failure (1: no retry).
    attempts_max: u32,
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl EtcdKv {
    pub fn new(
        endpoints: &[String],
        first: usize,
        request_timeout: Duration,
        attempts_max: u32,
    ) -> anyhow::Result<EtcdKv> {
        let stubs = endpoints.iter().map(|url| connect(url).map(KvClient::new)).collect::<anyhow::Result<Vec<_>>>()?;
        let current = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(first % stubs.len().max(1)));
        Ok(EtcdKv { stubs, request_timeout, attempts_max: attempts_max.max(1), current })
    }

    fn stub(&self) -> (usize, KvClient<Channel>) {
        let index = self.current.load(std::sync::atomic::Ordering::Relaxed);
        (index, self.stubs[index].clone())
    }

    fn fail_over(&self, from: usize) {
        let next = (from + 1) % self.stubs.len();
        let _ = self.current.compare_exchange(
            from,
            next,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Runs `call` on the current member, moving to the next member after each failure, up to
    /// `attempts_max` attempts; true when one attempt succeeded.
    async fn with_attempts<T, Fut>(&self, call: impl Fn(KvClient<Channel>) -> Fut) -> bool
    where
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        for _ in 0..self.attempts_max {
            let (index, stub) = self.stub();
            if matches!(tokio::time::timeout(self.request_timeout, call(stub)).await, Ok(Ok(_))) {
                return true;
            }
            self.fail_over(index);
        }
        false
    }

    /// One put; true when acknowledged.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> bool {
        self.with_attempts(|mut stub| {
            let request = etcdserverpb::PutRequest { key: key.to_vec(), value: value.to_vec() };
            async move { stub.put(request).await }
        })
        .await
    }

    /// One single-key range; `serializable` false is etcd's linearizable read.
    pub async fn get(&self, key: &[u8], serializable: bool) -> bool {
        self.with_attempts(|mut stub| {
            let request = etcdserverpb::RangeRequest { key: key.to_vec(), serializable };
            async move { stub.range(request).await }
        })
        .await
    }
}
