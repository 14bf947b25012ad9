//! The example configurations in `deploy/config/` start the clusters they describe, exactly as
//! written: each node is `pharos serve --config <that file>`, run from a scratch directory so
//! that the files' relative data dirs land there. The files use fixed loopback ports (they are
//! what an operator copies), so the two examples run one after the other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions, v1};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const WAIT: Duration = Duration::from_secs(40);

/// The example files, from the repository root.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("deploy/config").join(name)
}

/// Nodes started from example files; killed when dropped.
struct Nodes {
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Nodes {
    fn new() -> Nodes {
        let dir = tempfile::Builder::new().prefix("pharos-deploy-").tempdir().expect("scratch dir");
        Nodes { children: Vec::new(), dir }
    }

    fn start(&mut self, config: &Path) {
        let name = config.file_stem().and_then(|stem| stem.to_str()).unwrap_or("node").to_string();
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_pharos"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .current_dir(self.dir.path())
            .env_remove("PHAROS_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("pharos starts");
        self.children.push(child);
    }

    /// The root token the first leader wrote into its data dir.
    async fn root_token(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            for node in 1..=6 {
                let path = self.dir.path().join(format!("data-{node}/root.token"));
                if let Ok(token) = std::fs::read_to_string(&path) {
                    return token.trim().to_string();
                }
            }
            self.assert_alive();
            assert!(Instant::now() < deadline, "no leader wrote a root token; logs in {}", self.keep());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn assert_alive(&self) {
        for (index, child) in self.children.iter().enumerate() {
            let pid = child.id();
            let exited = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
                .unwrap_or(true);
            assert!(!exited, "node {} exited; logs in {}", index + 1, self.keep());
        }
    }

    /// Keeps the scratch dir (logs, data) for a failure message.
    fn keep(&self) -> String {
        let kept = self.dir.path().with_extension("kept");
        let _ = std::fs::rename(self.dir.path(), &kept);
        kept.display().to_string()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The names of the `pharos_*` metrics a text uses.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("pharos_"))
        .map(str::to_string)
        .collect()
}

/// A plain HTTP/1.1 GET on loopback: the whole response.
async fn http_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the HTTP port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

fn client(endpoints: &[&str], token: &str) -> Client {
    let options = ClientOptions { token: Some(token.to_string()), ..ClientOptions::default() };
    Client::with_options(endpoints.iter().map(|endpoint| endpoint.to_string()), options).expect("endpoints")
}

/// Waits until the leader's status shows `voters` and `learners`, each with the zone and region
/// its file gives it.
async fn wait_for_members(client: &Client, voters: &[u64], learners: &[u64], nodes: &Nodes) -> v1::StatusResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(status) = client.status().await {
            let role = |role: v1::MemberRole| {
                let mut ids: Vec<u64> =
                    status.members.iter().filter(|member| member.role() == role).map(|member| member.node_id).collect();
                ids.sort_unstable();
                ids
            };
            let placed = status.members.iter().all(|member| {
                member.info.as_ref().is_some_and(|info| {
                    let region = if member.node_id <= 3 { "region-1" } else { "region-2" };
                    info.zone == format!("zone-{}", member.node_id) && info.region == region
                })
            });
            if status.leader_id.is_some()
                && role(v1::MemberRole::Voter) == voters
                && role(v1::MemberRole::Learner) == learners
                && placed
            {
                return status;
            }
        }
        nodes.assert_alive();
        assert!(Instant::now() < deadline, "the cluster never showed voters {voters:?} and learners {learners:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_configurations_start_the_clusters_they_describe() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Three voters in one region (the README's quick start as files).
        {
            let mut nodes = Nodes::new();
            for node in 1..=3 {
                nodes.start(&example(&format!("three-node/node-{node}.toml")));
            }
            let token = nodes.root_token().await;
            let client = client(&["127.0.0.1:7371", "127.0.0.1:7372", "127.0.0.1:7373"], &token);
            let status = wait_for_members(&client, &[1, 2, 3], &[], &nodes).await;
            assert!(status.warnings.iter().all(|warning| !warning.contains("single voter")), "{:?}", status.warnings);
            let put = client.put("deploy/example", "three-node").await.expect("a write");
            assert!(put.header.expect("header").revision > 0);
            // Every metric the example alert rules and the dashboard use is one the nodes serve
            // (some only on the leader: the three nodes' together).
            let mut metrics = String::new();
            for address in ["127.0.0.1:7391", "127.0.0.1:7392", "127.0.0.1:7393"] {
                metrics.push_str(&http_get(address, "/metrics").await);
            }
            let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
            let rules = std::fs::read_to_string(deploy.join("prometheus/pharos-alerts.yml")).expect("the alert rules");
            let dashboard =
                std::fs::read_to_string(deploy.join("grafana/pharos-dashboard.json")).expect("the dashboard");
            let panels =
                serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON")["panels"]
                    .as_array()
                    .map_or(0, Vec::len);
            assert!(panels >= 12, "the dashboard has {panels} panels");
            for (file, text, at_least) in [("alert rules", &rules, 8), ("dashboard", &dashboard, 20)] {
                let used = metric_names(text);
                assert!(used.len() >= at_least, "the {file} use {used:?}");
                for name in used {
                    assert!(
                        metrics.contains(&format!("\n{name} ")) || metrics.contains(&format!("\n{name}{{")),
                        "{name}, used by the {file}, is not served"
                    );
                }
            }
        }

        // Two regions: voters 1-3 in region-1, learners 4-6 joining from region-2. The leader
        // names the placement itself once a region-2 learner joined.
        let mut nodes = Nodes::new();
        for node in 1..=3 {
            nodes.start(&example(&format!("two-region/node-{node}.toml")));
        }
        let token = nodes.root_token().await;
        let client = client(&["127.0.0.1:7471", "127.0.0.1:7472", "127.0.0.1:7473"], &token);
        wait_for_members(&client, &[1, 2, 3], &[], &nodes).await;
        for node in 4..=6 {
            nodes.start(&example(&format!("two-region/node-{node}.toml")));
        }
        wait_for_members(&client, &[1, 2, 3], &[4, 5, 6], &nodes).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let dr = client.dr_status().await.expect("dr status");
            if (dr.primary_region.as_str(), dr.dr_region.as_str()) == ("region-1", "region-2") {
                break;
            }
            assert!(Instant::now() < deadline, "the placement never became region-1 / region-2: {dr:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        client.put("deploy/example", "two-region").await.expect("a write");
    })
    .await
    .expect("test finished in time");
}

/// The per-node configurations docs/production.md shows for real hosts are files this release
/// accepts (unknown keys are refused), and they say what the page says they do.
#[test]
fn the_production_page_configs_are_accepted_as_they_are_written() {
    use pharos_server::config::{Bootstrap, ServeArgs, ServeConfig};
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/production.md"))
        .expect("docs/production.md");
    let blocks: Vec<&str> = page
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.contains("node_id"))
        .collect();
    assert_eq!(blocks.len(), 2, "node 1 and node 4");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut configs = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let path = dir.path().join(format!("node-{index}.toml"));
        std::fs::write(&path, block).expect("write");
        let config = ServeConfig::resolve(&ServeArgs { config: Some(path), ..ServeArgs::default() })
            .unwrap_or_else(|error| panic!("docs/production.md config {index} is refused: {error}"));
        configs.push(config);
    }
    let (voter, learner) = (&configs[0], &configs[1]);
    assert_eq!((voter.node_id, voter.region.as_str(), voter.advertise_peer.as_str()), (1, "eu-west", "10.0.1.11:7380"));
    assert!(matches!(voter.bootstrap(), Ok(Bootstrap::InitialCluster { .. })), "{:?}", voter.bootstrap());
    assert_eq!((learner.node_id, learner.region.as_str()), (4, "eu-central"));
    assert!(matches!(learner.bootstrap(), Ok(Bootstrap::Join { .. })), "{:?}", learner.bootstrap());
    assert!(voter.tls.is_some() && learner.tls.is_some(), "both run TLS");
}
