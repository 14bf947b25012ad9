//! Power loss on real `pharos` processes whose data dirs sit on the power-cut filesystem
//! (`pharos-powercut`, FUSE): what a node wrote but did not fsync is gone after the cut.
//!
//! Needs /dev/fuse and root (or `fusermount3`), like the power-cut chaos scenarios; without
//! them the cluster fails to start and the test fails, it never passes silently.

use std::time::{Duration, Instant};

use pharos_chaos::{Cluster, ClusterOptions};
use pharos_client::v1;

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

/// `power-cut-all` (seed 13), 2 runs of 10: a linearizable read right after every node lost
/// power returned the value before the last acknowledged write. The leader's state machine
/// applies without fsync (the log is fsynced, and it re-applies from it), so the cut rolled
/// back its applied index and its committed marker; openraft's leader restore then made it
/// leader again in the same term, and a ReadIndex read (the larger of its term's first entry
/// and its local committed index) could be answered from that rolled-back state before a
/// follower's answer re-committed the rest.
///
/// Made deterministic: the follower the leader comes back with never received the last write,
/// so re-committing it needs that follower to receive, append and fsync it, while confirming
/// a read takes one heartbeat round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_after_every_node_lost_power_sees_the_last_acknowledged_write() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = ClusterOptions {
            binary: env!("CARGO_BIN_EXE_pharos").into(),
            power_cut: true,
            peer_proxy: true,
            // A read waits for a quorum for up to `election_timeout_max_ms` (openraft's leader
            // lease): long enough for the follower to start while the read is parked.
            election_timeout_min_ms: 1_500,
            election_timeout_max_ms: 3_000,
            ..ClusterOptions::default()
        };
        let mut cluster = Cluster::start(options).await.expect("cluster starts on power-cut data dirs");
        let leader = cluster.wait_for_leader(WAIT).await.expect("leader");
        let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
        let (behind, acknowledging) = (followers[0], followers[1]);
        let client = cluster.client();
        client.put("register", "old").await.expect("first write acknowledged by all three");
        cluster
            .wait_for_applied(behind, cluster.status_of(leader).await.expect("status").applied_index, WAIT)
            .await
            .expect("the follower that will fall behind has the first write");

        // `behind` misses the last write: the leader and `acknowledging` acknowledge it.
        let network = cluster.network().expect("peer proxy");
        network.partition(&[vec![leader, acknowledging], vec![behind]]);
        client.put("register", "new").await.expect("last write acknowledged by two of three");

        let reports = cluster.cut_power(&[1, 2, 3]).expect("power cut on every node");
        let leader_report = &reports[usize::try_from(leader - 1).expect("small node id")];
        assert!(
            leader_report.dropped_write_bytes > 0,
            "the leader's apply of the last write was not fsynced, so the cut must drop it: {leader_report:?}"
        );
        cluster.network().expect("peer proxy").heal();

        // The old leader comes back alone and a read waits at it for a quorum; then the
        // follower that lacks the last write. `acknowledging` stays down.
        cluster.restart(leader).expect("restart the old leader");
        let deadline = Instant::now() + WAIT;
        while cluster.status_of(leader).await.is_none() {
            assert!(Instant::now() < deadline, "the old leader never answers after the power cut");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at_old_leader = cluster.client_of(leader).expect("client of the old leader");
        let parked_read =
            tokio::spawn(async move { at_old_leader.get("register", v1::Consistency::Linearizable).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        cluster.restart(behind).expect("restart the follower that fell behind");

        // The old leader may refuse (it is not the leader before an election); what it answers
        // must not be older than the last acknowledged write, nor what the cluster answers.
        if let Ok(answer) = parked_read.await.expect("read task") {
            assert_eq!(
                answer.kv.map(|kv| kv.value).as_deref(),
                Some(b"new".as_slice()),
                "the old leader answered a linearizable read from before the last acknowledged write"
            );
        }
        let value = client
            .get("register", v1::Consistency::Linearizable)
            .await
            .expect("linearizable get after the power cut")
            .kv
            .map(|kv| kv.value);
        assert_eq!(value.as_deref(), Some(b"new".as_slice()), "the last acknowledged write is lost");
    })
    .await
    .expect("test finished in time");
}
