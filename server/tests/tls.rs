//! TLS on real `pharos` processes over loopback: certificates made with `pharos cert`, a TLS
//! cluster serving a client that verifies it, the refusals (a node whose certificate a foreign
//! CA signed, a plaintext client, a client trusting another CA), and a certificate replaced
//! on disk reaching new connections without a restart.
//!
//! One test at a time (`SERIAL`), as in `cluster.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::{Client, ClientOptions, v1};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

fn pharos(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_pharos")).args(args).output().expect("run pharos");
    assert!(output.status.success(), "pharos {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `pharos cert init` in `dir`, then `pharos cert issue` for each of `names` on 127.0.0.1.
fn make_certificates(dir: &Path, names: &[&str]) {
    let dir_arg = dir.to_str().expect("utf-8 path");
    pharos(&["cert", "init", "--dir", dir_arg]);
    for name in names {
        pharos(&["cert", "issue", "--dir", dir_arg, "--name", name, "--ip", "127.0.0.1", "--dns", "localhost"]);
    }
}

fn options(voters: u64, tls_dir: &Path) -> ClusterOptions {
    ClusterOptions {
        binary: env!("CARGO_BIN_EXE_pharos").into(),
        voters,
        tls_dir: Some(tls_dir.to_path_buf()),
        ..ClusterOptions::default()
    }
}

/// A one-attempt client of `address` that trusts `ca_file` (`None`: plaintext).
fn client_trusting(address: &str, ca_file: Option<PathBuf>) -> Client {
    let options = ClientOptions { attempts_max: 1, request_timeout_ms: 2_000, ca_file, ..ClientOptions::default() };
    Client::with_options([address.to_string()], options).expect("client")
}

/// Copies `from` over `to` by rename, so a node never reads half a file.
fn replace_file(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).expect("stage the new file");
    std::fs::rename(&staged, to).expect("replace the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_cluster_serves_its_clients_and_refuses_strangers() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let certs = tempfile::tempdir().expect("temp dir");
        make_certificates(certs.path(), &["node-1", "node-2", "node-3"]);
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca.key", "node-1.key"] {
            let mode = std::fs::metadata(certs.path().join(key)).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key} is readable by its owner only");
        }

        let mut cluster = Cluster::start(options(3, certs.path())).await.expect("a TLS cluster elects a leader");
        let client = cluster.client();
        client.put("tls/key", "over TLS").await.expect("put through a verifying client");
        let got = client.get("tls/key", v1::Consistency::Linearizable).await.expect("get").kv.expect("the key");
        assert_eq!(got.value, b"over TLS");

        let address = cluster.node(1).expect("node 1").client_addr.clone();
        assert!(client_trusting(&address, None).status().await.is_err(), "a plaintext client is refused");
        let foreign = tempfile::tempdir().expect("temp dir");
        make_certificates(foreign.path(), &["node-4"]);
        let foreign_ca = Some(foreign.path().join("ca.pem"));
        assert!(
            client_trusting(&address, foreign_ca).status().await.is_err(),
            "a client that trusts another CA does not accept the cluster's certificate"
        );

        // Node 4 trusts the cluster CA but its own certificate was signed by a foreign one.
        for file in ["node-4.pem", "node-4.key"] {
            std::fs::copy(foreign.path().join(file), certs.path().join(file)).expect("install node 4's files");
        }
        cluster.add_joining_node(4, "zone-4", "region-1", &[]).expect("spawn node 4");
        let deadline = Instant::now() + WAIT;
        let exits = loop {
            let exits = cluster.unexpected_exits();
            if !exits.is_empty() || Instant::now() > deadline {
                break exits;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(exits.len(), 1, "node 4 gives up joining: {exits:?}\n{}", cluster.log_of(4));
        assert_eq!(exits[0].0, 4);
        let status = client.status().await.expect("status");
        assert_eq!(status.members.len(), 3, "the cluster did not take node 4 in: {:?}", status.members);
        let refused = (1..=3).any(|node_id| cluster.log_of(node_id).contains("TLS handshake refused"));
        assert!(refused, "a member refused node 4's handshake");

        client.put("tls/after", "still serving").await.expect("the cluster still serves");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_certificate_reaches_new_connections_without_a_restart() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let certs = tempfile::tempdir().expect("temp dir");
        make_certificates(certs.path(), &["node-1"]);
        let cluster = Cluster::start(options(1, certs.path())).await.expect("a one-node TLS cluster");
        let pid = cluster.node(1).expect("node 1").pid();
        let address = cluster.node(1).expect("node 1").client_addr.clone();
        let old_ca = Some(certs.path().join("ca.pem"));
        client_trusting(&address, old_ca.clone()).status().await.expect("the first certificate is served");

        let next = tempfile::tempdir().expect("temp dir");
        make_certificates(next.path(), &["node-1"]);
        let new_ca = Some(next.path().join("ca.pem"));
        assert!(
            client_trusting(&address, new_ca.clone()).status().await.is_err(),
            "before the files change, the new CA does not verify the node"
        );
        replace_file(&next.path().join("node-1.key"), &certs.path().join("node-1.key"));
        replace_file(&next.path().join("node-1.pem"), &certs.path().join("node-1.pem"));

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client_trusting(&address, new_ca.clone()).status().await {
                Ok(_) => break,
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(%error, "not reloaded yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("the new certificate was never served: {error}\n{}", cluster.log_of(1)),
            }
        }
        assert!(
            client_trusting(&address, old_ca).status().await.is_err(),
            "new connections no longer get the old certificate"
        );
        assert_eq!(cluster.node(1).expect("node 1").pid(), pid, "the same process serves");
        assert!(cluster.log_of(1).contains("reloaded the TLS files"));
    })
    .await
    .expect("test finished in time");
}
