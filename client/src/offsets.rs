//! Client-side offset batching for brokers: record consumer progress as often as you like,
//! flush it as one `CommitOffsets` request (the leader then coalesces concurrent requests into
//! one Raft entry).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::{Client, ClientError, v1};

/// `(consumer_group, topic, queue_id)`.
type QueueKey = (String, String, u32);

/// Latest offset per queue not yet committed. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OffsetBuffer {
    pending: Arc<Mutex<BTreeMap<QueueKey, u64>>>,
}

impl OffsetBuffer {
    /// Records progress; a later offset for the same queue replaces an earlier one.
    pub fn record(&self, consumer_group: &str, topic: &str, queue_id: u32, offset: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.insert((consumer_group.to_string(), topic.to_string(), queue_id), offset);
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Commits everything recorded, in requests of at most `offsets_per_request_max` offsets.
    /// On failure the unsent offsets are put back (unless newer ones were recorded meanwhile).
    pub async fn flush(
        &self,
        client: &Client,
        offsets_per_request_max: usize,
        reject_backwards: bool,
    ) -> Result<usize, ClientError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let entries: Vec<v1::OffsetEntry> = taken
            .iter()
            .map(|((consumer_group, topic, queue_id), offset)| v1::OffsetEntry {
                consumer_group: consumer_group.clone(),
                topic: topic.clone(),
                queue_id: *queue_id,
                offset: *offset,
                committed_at_revision: 0,
            })
            .collect();
        let mut sent = 0;
        for chunk in entries.chunks(offsets_per_request_max.max(1)) {
            if let Err(error) = client.commit_offsets(chunk.to_vec(), reject_backwards).await {
                let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for entry in &entries[sent..] {
                    pending
                        .entry((entry.consumer_group.clone(), entry.topic.clone(), entry.queue_id))
                        .or_insert(entry.offset);
                }
                return Err(error);
            }
            sent += chunk.len();
        }
        Ok(sent)
    }
}
