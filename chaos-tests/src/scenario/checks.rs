//! The checks after the load stopped: final reads and offset fetches appended to the history,
//! lost unique writes, writes to a fenced region, brokers and their watches, and equal replicas.
//! Linearizability and election safety are checked by `runner.rs` through `crate::checker`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pharos_client::v1;

use super::inject::FENCED_PREFIX;
use super::probe::probe_client;
use super::runner::{RunState, WAIT_MS};
use crate::Cluster;
use crate::checker::brokers::{check_masters, parse_broker_events};
use crate::checker::watch::{check_order, check_watch, segments};
use crate::history::{Operation, RegisterCall, RegisterOutcome};
use crate::workload::{self, UNIQUE_PREFIX, Watched};

impl RunState {
    /// None of the writes sent only to the fenced old region exists.
    pub(super) async fn check_fenced_writes(&mut self, cluster: &Cluster) {
        if self.fenced_attempts.is_empty() {
            return;
        }
        let client = cluster.client();
        let listing = tokio::time::timeout(
            Duration::from_millis(WAIT_MS),
            client.range(FENCED_PREFIX, 0, v1::Consistency::Linearizable),
        )
        .await;
        match listing {
            Ok(Ok(response)) => {
                self.facts.push(format!(
                    "fenced old region: {} writes sent to it, {} exist",
                    self.fenced_attempts.len(),
                    response.kvs.len()
                ));
                for kv in response.kvs {
                    self.problems.push(format!(
                        "the write {} sent only to the fenced old region exists",
                        String::from_utf8_lossy(&kv.key)
                    ));
                }
            }
            _ => self.problems.push("could not list the writes sent to the fenced old region".into()),
        }
    }

    /// One linearizable read per hot key after the load, appended to the history: the final
    /// state must be explained by the acknowledged writes too.
    pub(super) async fn final_reads(&mut self, cluster: &Cluster) {
        let Some(client) = probe_client(cluster) else { return };
        let keys: BTreeSet<String> = self
            .history
            .iter()
            .map(|operation| operation.key.clone())
            .filter(|key| key.starts_with(workload::REGISTER_PREFIX))
            .collect();
        for key in keys {
            let invoke_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let read = tokio::time::timeout(
                Duration::from_millis(WAIT_MS),
                client.get(key.clone(), v1::Consistency::Linearizable),
            )
            .await;
            let complete_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match read {
                Ok(Ok(response)) => {
                    let value = response.kv.map(|kv| {
                        std::str::from_utf8(&kv.value).ok().and_then(|text| text.parse().ok()).unwrap_or(u64::MAX)
                    });
                    self.history.push(Operation {
                        worker: u32::MAX,
                        key,
                        call: RegisterCall::Read,
                        outcome: RegisterOutcome::ReadOk { value },
                        invoke_us,
                        complete_us,
                    });
                }
                _ => self.problems.push(format!("the final read of {key} failed")),
            }
        }
    }

    /// One linearizable fetch of every offset queue, appended to the history like the register
    /// reads: the final offsets must be explained by the acknowledged commits.
    pub(super) async fn final_offset_fetch(&mut self, cluster: &Cluster) {
        let Some(client) = probe_client(cluster) else { return };
        let invoke_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let fetch = client.fetch_offsets(
            workload::OFFSET_CONSUMER_GROUP,
            workload::OFFSET_TOPIC,
            v1::Consistency::Linearizable,
        );
        let Ok(Ok(response)) = tokio::time::timeout(Duration::from_millis(WAIT_MS), fetch).await else {
            self.problems.push("the final offset fetch failed".to_string());
            return;
        };
        let complete_us = u64::try_from(self.timeline.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        for queue_id in 0..workload::OFFSET_QUEUES {
            let value = response.offsets.iter().find(|entry| entry.queue_id == queue_id).map(|entry| entry.offset);
            self.history.push(Operation {
                worker: u32::MAX,
                key: workload::offset_key(queue_id),
                call: RegisterCall::Read,
                outcome: RegisterOutcome::ReadOk { value },
                invoke_us,
                complete_us,
            });
        }
    }

    pub(super) async fn list_unique(&self, cluster: &Cluster) -> Result<BTreeSet<String>, String> {
        let client = cluster.client();
        let response = tokio::time::timeout(
            Duration::from_millis(WAIT_MS),
            client.range(UNIQUE_PREFIX, 0, v1::Consistency::Linearizable),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|error| error.to_string())?;
        if response.more {
            return Err("more unique keys than one listing returns".into());
        }
        Ok(response.kvs.into_iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect())
    }

    pub(super) fn check_brokers(&mut self, record: &workload::WatchRecord) {
        let mut claims = Vec::new();
        let mut starts = Vec::new();
        for broker in &self.brokers {
            let (broker_claims, broker_starts) = parse_broker_events(&broker.name, &broker.events());
            claims.push(broker_claims);
            starts.extend(broker_starts);
        }
        let masters: BTreeSet<(u64, Option<u64>)> =
            record.observations.iter().map(|seen| (seen.master_epoch, seen.master_broker_id)).collect();
        self.facts.push(format!(
            "brokers: {} lease claims, {} mastership starts; (epoch, master) seen on the group watch {masters:?}",
            claims.iter().map(Vec::len).sum::<usize>(),
            starts.len(),
        ));
        if claims.iter().all(Vec::is_empty) {
            self.problems.push("no broker ever held a lease: the broker check proves nothing".into());
        }
        self.problems.extend(check_masters(&claims, &starts, &record.observations));
    }

    /// Order of everything a watcher saw, and each segment between re-listings against a
    /// replay.
    pub(super) async fn check_watch_record(
        &mut self,
        cluster: &Cluster,
        watched: &Watched,
        record: &workload::WatchRecord,
    ) {
        self.facts.push(format!(
            "{watched:?} watch: {} events, {} reconnects, {} re-listings after COMPACTED",
            record.events.len(),
            record.reconnects,
            record.resyncs
        ));
        if record.events.iter().filter(|event| !event.resync).count() == 0 {
            self.problems.push(format!("the {watched:?} watch saw no change across a master failover"));
        }
        self.problems.extend(check_order(&record.events));
        let client = cluster.client();
        for segment in segments(&record.events) {
            let (Some(first), Some(last)) = (segment.first(), segment.iter().map(|event| event.revision).max()) else {
                continue;
            };
            if segment.len() < 2 {
                continue;
            }
            let wait = Duration::from_millis(WAIT_MS);
            match workload::replay(&client, watched, first.revision, last, wait).await {
                Ok(reference) => self.problems.extend(check_watch(segment, &reference)),
                Err(error) if error == "COMPACTED" => self.facts.push(format!(
                    "{watched:?} watch segment {}..={last} not replayable any more (compacted on the answering \
                     node); only its order was checked",
                    first.revision
                )),
                Err(error) => self.problems.push(format!("could not replay the {watched:?} watch: {error}")),
            }
        }
    }

    /// Every running node reaches the same applied index with the same state digest.
    pub(super) async fn check_replicas(&mut self, cluster: &Cluster) {
        for broker in &mut self.brokers {
            broker.kill();
        }
        let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            let mut statuses = Vec::new();
            for node_id in Self::running(cluster) {
                if let Some(status) = cluster.status_of(node_id).await {
                    statuses.push((node_id, status.applied_index, status.state_digest));
                }
            }
            let complete = statuses.len() == Self::running(cluster).len();
            let same_index = statuses.windows(2).all(|pair| pair[0].1 == pair[1].1);
            if complete && same_index {
                if statuses.windows(2).all(|pair| pair[0].2 == pair[1].2) {
                    self.facts.push(format!(
                        "replicas {:?} identical at applied index {}",
                        statuses.iter().map(|status| status.0).collect::<Vec<_>>(),
                        statuses.first().map_or(0, |status| status.1)
                    ));
                    return;
                }
                self.problems.push(format!("replicas differ at the same applied index: {statuses:?}"));
                return;
            }
            last = statuses;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.problems.push(format!("replicas did not converge within {WAIT_MS} ms: {last:?}"));
    }
}
