//! A data dir written by an earlier release opens with this build, every record intact
//! (issue 12). The fixtures are made once per release by `tests/fixtures/make-datadir.sh` and
//! never regenerated: a format change that cannot read them fails here.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_client::{Client, ClientOptions, v1};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A node serving `data_dir` on fresh loopback ports; killed when dropped.
struct Node {
    child: Child,
    client_addr: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pharos debug ARGS --output json`: the parsed answer, or what it printed on failure.
fn debug(args: &[&str]) -> Result<serde_json::Value, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["--output", "json", "debug"])
        .args(args)
        .output()
        .expect("run pharos debug");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("{error}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn serve(data_dir: &Path, log: &Path) -> Node {
    let port = || pharos_chaos::free_port().expect("a free port");
    let client_addr = format!("127.0.0.1:{}", port());
    let log = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg("serve")
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client={client_addr}"))
        .arg(format!("--listen-peer=127.0.0.1:{}", port()))
        .arg(format!("--listen-http=127.0.0.1:{}", port()))
        .arg(format!("--listen-remoting=127.0.0.1:{}", port()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start pharos");
    Node { child, client_addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_written_by_release_0_1_0_opens_with_every_record() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadir-0.1.0.tar.gz");
        let untar = Command::new("tar").arg("-xzf").arg(&fixture).arg("-C").arg(dir.path()).status().expect("tar");
        assert!(untar.success(), "cannot unpack {}", fixture.display());
        let data_dir = dir.path().join("data");
        let token = std::fs::read_to_string(data_dir.join("root.token")).expect("the fixture's root token");

        // Read offline first, as an operator inspects a stopped node: every entry decodes, and
        // the state digest is the one the node reports once it serves the same index.
        let log = debug(&["dump-log", "--data-dir", &data_dir.display().to_string()]).expect("dump-log");
        let entries = log["entries"].as_array().expect("entries");
        let kinds: Vec<&str> = entries.iter().filter_map(|entry| entry["kind"].as_str()).collect();
        assert!(kinds.contains(&"put"), "the fixture's last write is in the log: {kinds:?}");
        assert!(log["purged"].is_array(), "the fixture's snapshot purged the entries before it: {log}");
        assert!(!kinds.contains(&"undecodable"), "{log}");
        let hash = debug(&["state-hash", "--data-dir", &data_dir.display().to_string()]).expect("state-hash");
        assert_eq!(hash["feature_level"], 1, "a 0.1.0 state reads as level 1: {hash}");
        assert_eq!(hash["state_digest"].as_str().map(str::len), Some(64), "{hash}");

        let node = serve(&data_dir, &dir.path().join("node.log"));
        let options = ClientOptions { token: Some(token.trim().to_string()), ..ClientOptions::default() };
        let client = Client::with_options(vec![node.client_addr.clone()], options).expect("client");

        let deadline = Instant::now() + Duration::from_secs(60);
        while client.put("after-upgrade", "ok").await.is_err() {
            let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "the old data dir never served a write; log:\n{log}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let locked = debug(&["state-hash", "--data-dir", &data_dir.display().to_string()]);
        assert!(locked.as_ref().is_err_and(|error| error.contains("still running")), "{locked:?}");

        let value = |key: &'static str| {
            let client = client.clone();
            async move { client.get(key, v1::Consistency::Linearizable).await.expect("get").kv.map(|kv| kv.value) }
        };
        assert_eq!(value("fixture/greeting").await.as_deref(), Some(&b"hello"[..]), "a key from the snapshot");
        assert_eq!(value("fixture/deleted").await, None, "a deletion");
        assert_eq!(value("fixture/after-snapshot").await.as_deref(), Some(&b"yes"[..]), "a key from the log");

        let topic =
            client.get_topic("orders", v1::Consistency::Linearizable).await.expect("topic").topic.expect("kept");
        assert_eq!(topic.message_type(), v1::MessageType::Fifo);
        assert_eq!(topic.attributes.get("owner").map(String::as_str), Some("payments"));
        assert_eq!((topic.queues.len(), topic.queues[0].group.as_str(), topic.queues[0].read_queues), (1, "g1", 4));

        let offsets = client.fetch_offsets("cg-1", "orders", v1::Consistency::Linearizable).await.expect("offsets");
        assert_eq!(offsets.offsets.iter().map(|entry| (entry.queue_id, entry.offset)).collect::<Vec<_>>(), [(2, 42)]);

        let group = client.get_broker_group("g1", v1::Consistency::Linearizable).await.expect("group").group;
        let group = group.expect("the group is kept");
        assert!(group.master_epoch >= 1, "its election is kept: {group:?}");
        assert!(group.brokers.iter().any(|broker| broker.name == "broker-a"), "{group:?}");

        let users: Vec<String> = client.list_users().await.expect("users").users.into_iter().map(|u| u.name).collect();
        assert_eq!(users, ["app", "root"]);
        let policies = client.list_policies("app").await.expect("policies").policies;
        assert_eq!(policies[0].entries[0].resource, "topic:orders*");
        assert_eq!(policies[0].entries[0].actions, ["pub", "sub"]);

        let audit = client.list_audit(100).await.expect("audit").entries;
        for action in ["acl_bootstrap", "create_topic", "acl_add_user", "acl_grant"] {
            assert!(audit.iter().any(|entry| entry.action == action), "{action} kept in the audit log: {audit:?}");
        }

        // Every member (the one node) runs a release with feature levels: the cluster records
        // the newest they share, once, by itself (ADR 0026).
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.status().await.expect("status").feature_level != pharos_meta::feature::LATEST {
            assert!(Instant::now() < deadline, "the upgraded cluster never recorded a feature level");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("test finished in time");
}
