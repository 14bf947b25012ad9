//! A Pharos cluster of real `pharos serve` processes on loopback, and its CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::process::{ChildProcess, free_port, run_bounded};
use crate::wait;

/// How long one `pharos` CLI call may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a fresh cluster may take to elect its first leader.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// One node: its addresses and its process while it runs.
#[derive(Debug)]
pub struct PharosNode {
    pub node_id: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub http_addr: String,
    /// RocketMQ remoting (NameServer) address: what brokers and clients are given.
    pub remoting_addr: String,
    /// `None` once killed.
    pub process: Option<ChildProcess>,
}

/// Raft progress as `pharos cluster status` reports it (from the leader when one is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftProgress {
    pub leader_id: u64,
    pub term: u64,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
}

/// One broker group as `pharos broker list --output json` shows it (docs/brokers.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerGroupView {
    pub group: String,
    /// `controlled` for RocketMQ brokers in controller mode, `declared` in NameServer mode.
    pub election_mode: String,
    /// Pharos's broker id of the master, while the group has an active one.
    pub master_broker_id: Option<u64>,
    pub master_epoch: u64,
    /// Pharos broker ids.
    pub sync_state_set: Vec<u64>,
    pub brokers: Vec<BrokerView>,
}

/// One broker record of a [`BrokerGroupView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerView {
    /// Pharos's own id of this registration.
    pub broker_id: u64,
    /// For a RocketMQ broker in controller mode, its controller id; in NameServer mode, its
    /// RocketMQ `brokerId`.
    pub name: String,
    /// `active`, `fenced` or `shutdown`.
    pub state: String,
    /// Its address on network `internal`: the RocketMQ broker's remoting address.
    pub address: String,
    /// The leader's soft state: how long ago it last heard the broker's heartbeat (absent when
    /// the leader heard none), and the offsets that heartbeat reported.
    pub last_heartbeat_age_ms: Option<u64>,
    pub max_offset: u64,
}

impl BrokerGroupView {
    /// The group named `group` in a `pharos broker list --output json` answer.
    pub fn find(list: &Value, group: &str) -> anyhow::Result<Option<BrokerGroupView>> {
        let Some(view) = list
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|view| view.get("group").and_then(Value::as_str) == Some(group))
        else {
            return Ok(None);
        };
        let text =
            |value: &Value, field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
        let number = |value: &Value, field: &str| {
            value.get(field).and_then(Value::as_u64).with_context(|| format!("no {field} in {value}"))
        };
        let brokers = view
            .get("brokers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|broker| {
                Ok(BrokerView {
                    broker_id: number(broker, "broker_id")?,
                    name: text(broker, "name"),
                    state: text(broker, "state"),
                    address: broker
                        .get("addresses")
                        .and_then(|addresses| addresses.get("internal"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    last_heartbeat_age_ms: broker.get("last_heartbeat_age_ms").and_then(Value::as_u64),
                    max_offset: number(broker, "max_offset")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(BrokerGroupView {
            group: group.to_string(),
            election_mode: text(view, "election_mode"),
            master_broker_id: view.get("master_broker_id").and_then(Value::as_u64),
            master_epoch: number(view, "master_epoch")?,
            sync_state_set: view
                .get("sync_state_set")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect(),
            brokers,
        }))
    }

    /// The record of the active broker at `address`.
    pub fn active_at(&self, address: &str) -> Option<&BrokerView> {
        self.brokers.iter().find(|broker| broker.state == "active" && broker.address == address)
    }

    pub fn broker(&self, broker_id: u64) -> Option<&BrokerView> {
        self.brokers.iter().find(|broker| broker.broker_id == broker_id)
    }
}

/// What `pharos topic route` names for a topic, by group: its master's address, and its
/// replicas' (one per group is enough for these tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteView {
    pub masters: BTreeMap<String, String>,
    pub replicas: BTreeMap<String, String>,
}

/// A static-bootstrap cluster of `--insecure` nodes sharing one temporary directory. Dropping
/// it kills every node; when the thread is panicking the directory (logs, data) is kept and
/// its path printed.
#[derive(Debug)]
pub struct PharosCluster {
    pub binary: PathBuf,
    pub nodes: Vec<PharosNode>,
    root: tempfile::TempDir,
}

impl PharosCluster {
    /// Starts `voters` nodes with a static bootstrap and waits for a leader.
    pub async fn start(binary: PathBuf, voters: u64) -> anyhow::Result<PharosCluster> {
        let root = tempfile::Builder::new().prefix("pharos-interop-").tempdir().context("create the cluster dir")?;
        let mut nodes = Vec::new();
        for node_id in 1..=voters {
            nodes.push(PharosNode {
                node_id,
                client_addr: format!("127.0.0.1:{}", free_port()?),
                peer_addr: format!("127.0.0.1:{}", free_port()?),
                http_addr: format!("127.0.0.1:{}", free_port()?),
                remoting_addr: format!("127.0.0.1:{}", free_port()?),
                process: None,
            });
        }
        let initial_cluster =
            nodes.iter().map(|node| format!("{}={}", node.node_id, node.peer_addr)).collect::<Vec<_>>().join(",");
        let mut cluster = PharosCluster { binary, nodes, root };
        for index in 0..cluster.nodes.len() {
            let node = &cluster.nodes[index];
            let mut command = std::process::Command::new(&cluster.binary);
            command
                .arg("serve")
                .arg(format!("--node-id={}", node.node_id))
                .arg(format!("--data-dir={}", cluster.root.path().join(format!("node-{}", node.node_id)).display()))
                .arg(format!("--listen-client={}", node.client_addr))
                .arg(format!("--listen-peer={}", node.peer_addr))
                .arg(format!("--listen-http={}", node.http_addr))
                .arg(format!("--listen-remoting={}", node.remoting_addr))
                .arg(format!("--zone=zone-{}", node.node_id))
                .arg("--insecure")
                // Fast failover, as in the chaos tier: the leader kill must not stall the test.
                .arg("--heartbeat-interval-ms=100")
                .arg("--election-timeout-min-ms=600")
                .arg("--election-timeout-max-ms=1200")
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg("--initial-cluster-token=pharos-interop")
                .env("PHAROS_LOG_LEVEL", "info,openraft=warn");
            let log_path = cluster.root.path().join(format!("node-{}.log", node.node_id));
            let process = ChildProcess::spawn(&format!("pharos node {}", node.node_id), command, &log_path)?;
            cluster.nodes[index].process = Some(process);
        }
        let started = &cluster;
        wait::until("a Pharos leader", LEADER_TIMEOUT, || async move {
            started.fail_on_exits()?;
            let progress = started.progress().await?;
            Ok((progress.leader_id != 0).then_some(()))
        })
        .await?;
        Ok(cluster)
    }

    /// The remoting addresses of every node, `;`-separated: a RocketMQ NameServer list.
    pub fn namesrv_addr(&self) -> String {
        self.nodes.iter().map(|node| node.remoting_addr.as_str()).collect::<Vec<_>>().join(";")
    }

    /// Client endpoints of the nodes still running, comma separated (for `--endpoints`).
    pub fn endpoints(&self) -> String {
        self.running().map(|node| node.client_addr.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn running(&self) -> impl Iterator<Item = &PharosNode> {
        self.nodes.iter().filter(|node| node.process.is_some())
    }

    /// Fails if a node exited although the harness did not kill it (a crash is a bug).
    pub fn fail_on_exits(&self) -> anyhow::Result<()> {
        for node in &self.nodes {
            if let Some(process) = node.process.as_ref()
                && let Some(status) = process.exit_status()
            {
                anyhow::bail!(
                    "pharos node {} exited on its own ({status}); its log:\n{}",
                    node.node_id,
                    process.log_excerpt()
                );
            }
        }
        Ok(())
    }

    /// `pharos --output json --endpoints <running nodes> ARGS...`, parsed.
    pub async fn cli_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut command = tokio::process::Command::new(&self.binary);
        command.arg("--output=json").arg(format!("--endpoints={}", self.endpoints())).args(args);
        let stdout = run_bounded(command, CLI_TIMEOUT).await?;
        serde_json::from_str(&stdout)
            .with_context(|| format!("parse the JSON of `pharos {}`: {stdout}", args.join(" ")))
    }

    /// `pharos broker list`'s view of `group` (`None` while Pharos knows no such group). The
    /// read is linearizable, so it is answered by the leader, with its soft state.
    pub async fn broker_group(&self, group: &str) -> anyhow::Result<Option<BrokerGroupView>> {
        BrokerGroupView::find(&self.cli_json(&["broker", "list"]).await?, group)
    }

    /// `pharos topic create TOPIC --groups ... --queues N`, retried until Pharos knows the
    /// groups, within `timeout`. A create whose answer was lost but which took effect shows up
    /// in `topic describe`.
    pub async fn create_topic(
        &self,
        topic: &str,
        groups: &[&str],
        queues: u32,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let groups = groups.join(",");
        let queues = queues.to_string();
        wait::until(&format!("pharos topic create {topic} on {groups}"), timeout, || async {
            if self.cli_json(&["topic", "describe", topic]).await.is_ok() {
                return Ok(Some(()));
            }
            self.cli_json(&["topic", "create", topic, "--groups", &groups, "--queues", &queues]).await.map(|_| Some(()))
        })
        .await
    }

    /// Waits, at most `timeout`, until `pharos topic route TOPIC` names exactly `expected` among
    /// the groups that have `queues` write queues.
    pub async fn wait_for_route(
        &self,
        topic: &str,
        queues: u32,
        expected: &RouteView,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait::until(&format!("pharos topic route {topic} to name {expected:?}"), timeout, || async {
            let route = self.cli_json(&["topic", "route", topic]).await?;
            let groups: Vec<&Value> = route
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|group| group.get("write_queues").and_then(Value::as_u64) == Some(u64::from(queues)))
                .collect();
            let name = |group: &Value| group.get("group").and_then(Value::as_str).unwrap_or_default().to_string();
            let masters: BTreeMap<String, String> = groups
                .iter()
                .filter_map(|group| Some((name(group), group.get("master")?.get("address")?.as_str()?.to_string())))
                .collect();
            let replicas: BTreeMap<String, String> = groups
                .iter()
                .flat_map(|group| {
                    let replicas = group.get("replicas").and_then(Value::as_array).cloned().unwrap_or_default();
                    replicas
                        .into_iter()
                        .filter_map(move |replica| Some((name(group), replica.get("address")?.as_str()?.to_string())))
                })
                .collect();
            anyhow::ensure!(
                masters == expected.masters && replicas == expected.replicas,
                "the route names masters {masters:?} and replicas {replicas:?}: {route}"
            );
            Ok(Some(()))
        })
        .await
    }

    /// Leader, term and indexes, from the leader when one is known.
    pub async fn progress(&self) -> anyhow::Result<RaftProgress> {
        let status = self.cli_json(&["cluster", "status"]).await?;
        let number = |field: &str| status.get(field).and_then(Value::as_u64);
        Ok(RaftProgress {
            leader_id: number("leader_id").unwrap_or(0),
            term: number("term").context("cluster status without term")?,
            last_log_index: number("last_log_index").context("cluster status without last_log_index")?,
            commit_index: number("commit_index").context("cluster status without commit_index")?,
            applied_index: number("applied_index").context("cluster status without applied_index")?,
        })
    }

    /// Kills a node with SIGKILL.
    pub fn kill(&mut self, node_id: u64) -> anyhow::Result<()> {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.node_id == node_id)
            .with_context(|| format!("node {node_id} is not in this cluster"))?;
        let process = node.process.take().with_context(|| format!("node {node_id} is not running"))?;
        process.kill();
        Ok(())
    }

    /// `GET /metrics` on a node's HTTP port: the value of one unlabelled metric.
    pub async fn metric(&self, node_id: u64, name: &str) -> anyhow::Result<f64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let node = self.nodes.iter().find(|node| node.node_id == node_id).context("no such node")?;
        let mut stream = tokio::time::timeout(CLI_TIMEOUT, tokio::net::TcpStream::connect(&node.http_addr))
            .await
            .context("connect to the HTTP port in time")??;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", node.http_addr);
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        tokio::time::timeout(CLI_TIMEOUT, stream.read_to_string(&mut response))
            .await
            .context("read /metrics in time")??;
        response
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
            .with_context(|| format!("node {node_id} reports no metric {name}"))
    }

    /// The size of a node's log file so far.
    pub fn log_bytes(&self, node_id: u64) -> u64 {
        std::fs::metadata(self.root.path().join(format!("node-{node_id}.log"))).map_or(0, |metadata| metadata.len())
    }

    /// The warnings, errors and last lines of every node's log, for failure messages.
    pub fn log_excerpts(&self) -> String {
        self.nodes
            .iter()
            .map(|node| {
                let path = self.root.path().join(format!("node-{}.log", node.node_id));
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                format!("--- pharos node {} ({})\n{}", node.node_id, path.display(), crate::process::excerpt(&log))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl PharosCluster {
    /// Keeps the directory (data dirs, node logs) after the cluster is dropped; prints where.
    pub fn keep(&mut self) {
        self.root.disable_cleanup(true);
        eprintln!("the Pharos cluster's data dirs and logs are kept in {}", self.root.path().display());
    }
}

impl Drop for PharosCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(process) = node.process.take() {
                process.kill();
            }
        }
        if std::thread::panicking() {
            self.keep();
        }
    }
}
