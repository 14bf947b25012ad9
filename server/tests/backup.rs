//! The backup and restore drill (issue 12, item 5; docs/adr/0025-backup-and-restore.md): a
//! backup saved with `pharos snapshot save` while a load writes, restored with `pharos snapshot
//! restore` into a new 3-node cluster that holds exactly the state at the backup's index, takes
//! new writes, and refuses (and is refused by) the source cluster. Real processes, loopback only.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::v1;

const TEST_TIMEOUT: Duration = Duration::from_secs(300);
const WAIT: Duration = Duration::from_secs(30);
const LOAD_KEYS_MAX: u32 = 10_000;
const LOAD_WRITERS: u32 = 4;

/// Runs the `pharos` CLI to completion: (succeeded, stdout, stderr).
fn pharos(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(args)
        // The CLI would otherwise read ./pharos-data/root.token if the test's directory had one.
        .env_remove("PHAROS_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run pharos");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `pharos serve` with `args` and waits up to 20 s for it to exit by itself: (exited,
/// stderr). A server still running then is killed (`exited` false).
fn serve_until_exit(args: &[String]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pharos");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    (exited, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A `Vote` request to `peer_addr`'s peer port stamped as coming from `cluster_id`: what any
/// node of that cluster would send.
async fn vote_from(peer_addr: &str, cluster_id: &str, generation: u64) -> Result<v1::VoteResponse, tonic::Status> {
    let mut peer = v1::raft_service_client::RaftServiceClient::connect(format!("http://{peer_addr}"))
        .await
        .expect("connect to the peer port");
    let mut request = tonic::Request::new(v1::VoteRequest {
        vote: Some(v1::Vote { term: 1_000, node_id: 9, committed: false }),
        last_log_id: Some(v1::LogId { term: 1_000, node_id: 0, index: 1_000_000 }),
        leadership_transfer: false,
    });
    request.metadata_mut().insert("pharos-cluster-id", cluster_id.parse().expect("ascii"));
    request.metadata_mut().insert("pharos-generation", generation.into());
    peer.vote(request).await.map(tonic::Response::into_inner)
}

fn assert_refused_as_another_cluster(refusal: Result<v1::VoteResponse, tonic::Status>, local: &str, remote: &str) {
    let status = refusal.expect_err("a peer of another cluster is refused");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.message(),
        format!("peer belongs to cluster {remote}, this node to cluster {local}"),
        "a clear cluster-id error"
    );
}

fn flip_one_byte(source: &Path, target: &Path) {
    let mut bytes = std::fs::read(source).expect("read backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(target, bytes).expect("write corrupted copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_saved_under_load_restores_into_a_new_cluster_the_old_one_refuses() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let source = Cluster::start(ClusterOptions::default()).await.expect("source cluster starts");
        let source_identity = source.client().identity().await.expect("identity");
        let before = source.client().put("before-save", "kept").await.expect("put before the save");
        let before_revision = before.header.expect("header").revision;

        // The load: concurrent writers, each key written once, every acknowledged key with the
        // index that applied it.
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..LOAD_WRITERS)
            .map(|writer| {
                let client = source.client();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut acknowledged = Vec::new();
                    let mut sequence = 0u32;
                    while !stop.load(Ordering::Relaxed) && sequence < LOAD_KEYS_MAX / LOAD_WRITERS {
                        let key = format!("load/{writer}/{sequence:05}");
                        if let Ok(response) = client.put(key.clone(), format!("value-{sequence}")).await {
                            acknowledged.push((key, response.header.unwrap_or_default().revision));
                        }
                        sequence += 1;
                    }
                    acknowledged
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;

        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("drill.pharos-backup");
        let file_arg = file.display().to_string();
        let endpoints = source.client_endpoints().join(",");
        let started = Instant::now();
        let (saved, stdout, stderr) =
            pharos(&["snapshot", "save", &file_arg, "--endpoints", &endpoints, "--output", "json"]);
        let save_time = started.elapsed();
        assert!(saved, "snapshot save failed: {stderr}");
        assert!(!dir.path().join("drill.pharos-backup.part").exists(), "the partial file was renamed");
        let saved: serde_json::Value = serde_json::from_str(&stdout).expect("save prints JSON");
        let index = saved["index"].as_u64().expect("index");
        let digest = saved["state_digest"].as_str().expect("digest").to_string();
        let size = saved["size_bytes"].as_u64().expect("size");
        assert_eq!(saved["cluster_id"].as_str(), Some(source_identity.cluster_id.as_str()));
        assert_eq!(size, std::fs::metadata(&file).expect("backup file").len());
        assert!(index >= before_revision, "a linearizable backup holds every write acknowledged before it");

        tokio::time::sleep(Duration::from_millis(1_000)).await;
        stop.store(true, Ordering::Relaxed);
        let mut acknowledged = Vec::new();
        for writer in writers {
            acknowledged.extend(writer.await.expect("load writer"));
        }
        let after = source.client().put("after-save", "not-in-backup").await.expect("put after the save");
        assert!(after.header.expect("header").revision > index);
        let (in_backup, after_backup): (Vec<_>, Vec<_>) =
            acknowledged.iter().partition(|(_, revision)| *revision <= index);
        assert!(!in_backup.is_empty() && !after_backup.is_empty(), "the save happened mid-load: {index}");
        println!(
            "drill: backup at index {index} of {size} bytes saved in {} ms, {} load writes before it, {} after",
            save_time.as_millis(),
            in_backup.len(),
            after_backup.len()
        );

        // A corrupted backup is refused and writes nothing.
        let corrupted = dir.path().join("corrupted.pharos-backup");
        flip_one_byte(&file, &corrupted);
        let refused_dir = dir.path().join("refused");
        let (restored, _, stderr) = pharos(&[
            "snapshot",
            "restore",
            &corrupted.display().to_string(),
            "--data-dir",
            &refused_dir.display().to_string(),
            "--node-id",
            "1",
            "--initial-cluster",
            "1=127.0.0.1:1",
        ]);
        assert!(!restored, "a corrupted backup must not restore");
        assert!(stderr.contains("corrupted"), "clear error expected, got: {stderr}");
        assert!(!refused_dir.exists(), "a refused restore writes nothing");

        // The new cluster: three fresh data dirs restored from the backup.
        let options = ClusterOptions {
            restore_from: Some(file.clone()),
            initial_cluster_token: "restored-drill".to_string(),
            ..ClusterOptions::default()
        };
        let started = Instant::now();
        let mut restored = Cluster::start(options).await.expect("the restored cluster starts");
        println!("drill: restored cluster elected a leader in {} ms", started.elapsed().as_millis());
        let leader = restored.wait_for_leader(WAIT).await.expect("leader");
        let identity = restored.client().identity().await.expect("identity");
        assert_ne!(identity.cluster_id, source_identity.cluster_id, "a restore makes a new cluster");
        for node in [1, 2, 3] {
            let status = restored.status_of(node).await.expect("status");
            assert_eq!(status.cluster_id, identity.cluster_id);
            assert_eq!(status.snapshot_index, index, "node {node} starts from the backup's snapshot");
            assert!(status.applied_index >= index, "node {node}");
            assert_eq!(status.state_digest, digest, "node {node} holds the state at index {index}");
        }
        let get = |key: String| {
            let client = restored.client();
            async move { client.get(key, v1::Consistency::Linearizable).await.expect("get").kv.map(|kv| kv.value) }
        };
        assert_eq!(get("before-save".into()).await.as_deref(), Some(&b"kept"[..]));
        assert_eq!(get("after-save".into()).await, None, "written after the save");
        let restored_keys: std::collections::BTreeSet<String> = restored
            .client()
            .range("load/", LOAD_KEYS_MAX, v1::Consistency::Linearizable)
            .await
            .expect("range")
            .kvs
            .into_iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect();
        for (key, revision) in &in_backup {
            assert!(restored_keys.contains(key), "{key} (index {revision} <= {index}) is restored");
        }
        for (key, revision) in &after_backup {
            assert!(!restored_keys.contains(key), "{key} (index {revision} > {index}) is not");
        }
        let written = restored.client().put("after-restore", "new").await.expect("the restored cluster writes");
        assert!(written.header.expect("header").revision > index);
        assert_eq!(get("after-restore".into()).await.as_deref(), Some(&b"new"[..]));

        // Old and new refuse each other's peer requests, with the cluster-id error.
        let old_peer = source.node(1).expect("node").peer_addr.clone();
        let new_peer = restored.node(leader).expect("node").peer_addr.clone();
        assert_refused_as_another_cluster(
            vote_from(&old_peer, &identity.cluster_id, identity.generation).await,
            &source_identity.cluster_id,
            &identity.cluster_id,
        );
        assert_refused_as_another_cluster(
            vote_from(&new_peer, &source_identity.cluster_id, source_identity.generation).await,
            &identity.cluster_id,
            &source_identity.cluster_id,
        );

        // A restored node started with the old cluster's member list is refused at start.
        restored.stop(3).await.expect("stop restored node 3");
        let node3 = restored.node(3).expect("node");
        let (exited, stderr) = serve_until_exit(&[
            "serve".to_string(),
            "--insecure".to_string(),
            "--node-id=3".to_string(),
            format!("--data-dir={}", node3.data_dir.display()),
            format!("--listen-client={}", node3.client_addr),
            format!("--listen-peer={}", node3.listen_peer_addr),
            format!("--listen-http={}", node3.http_addr),
            format!("--listen-remoting={}", node3.remoting_addr),
            format!(
                "--initial-cluster={}",
                source
                    .peer_endpoints()
                    .iter()
                    .enumerate()
                    .map(|(i, peer)| {
                        if i == 2 { format!("3={}", node3.peer_addr) } else { format!("{}={peer}", i + 1) }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("--initial-cluster-token={}", source.options.initial_cluster_token),
        ]);
        assert!(exited, "a restored node must not start as a member of the old cluster");
        assert!(stderr.contains("belongs to cluster"), "clear error expected, got: {stderr}");
        // Nothing changed: with its own flags it comes back.
        restored.restart(3).expect("restart node 3");
        restored.wait_for_applied(3, index + 1, WAIT).await.expect("node 3 rejoins the restored cluster");

        // The source cluster carried on undisturbed.
        let source_leader = source.wait_for_leader(WAIT).await.expect("source leader");
        assert_eq!(source.status_of(source_leader).await.expect("status").cluster_id, source_identity.cluster_id);
        assert!(source.client().put("source-still-writes", "yes").await.is_ok());
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_needs_admin_credentials_and_a_reachable_node_and_says_so() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions { voters: 1, secure: true, ..ClusterOptions::default() };
        let cluster = Cluster::start(options).await.expect("node starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("backup");
        let file_arg = file.display().to_string();
        let endpoints = cluster.client_endpoints().join(",");

        let wrong_token = dir.path().join("wrong.token");
        std::fs::write(&wrong_token, "not-a-token\n").expect("token file");
        let wrong_token = wrong_token.display().to_string();
        let (saved, _, stderr) =
            pharos(&["snapshot", "save", &file_arg, "--endpoints", &endpoints, "--token-file", &wrong_token]);
        assert!(!saved, "a wrong token must not save");
        assert!(stderr.contains("UNAUTHENTICATED"), "clear error expected, got: {stderr}");
        assert!(!file.exists() && !dir.path().join("backup.part").exists(), "nothing written");

        let unreachable = format!("127.0.0.1:{}", pharos_chaos::free_port().expect("port"));
        let (saved, _, stderr) = pharos(&["snapshot", "save", &file_arg, "--endpoints", &unreachable]);
        assert!(!saved, "nobody to save from");
        assert!(stderr.contains("no node could serve the request"), "clear error expected, got: {stderr}");
        assert!(!file.exists() && !dir.path().join("backup.part").exists(), "nothing written");

        let root_token = dir.path().join("root.token");
        std::fs::write(&root_token, cluster.root_token().expect("secure clusters have a root token"))
            .expect("token file");
        let root_token = root_token.display().to_string();
        let (saved, stdout, stderr) =
            pharos(&["snapshot", "save", &file_arg, "--endpoints", &endpoints, "--token-file", &root_token]);
        assert!(saved, "root saves: {stderr}");
        assert!(stdout.contains("state digest"), "{stdout}");
        assert!(file.exists());
    })
    .await
    .expect("test finished in time");
}
