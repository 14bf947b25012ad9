//! `pharos offset ...`: consumer offsets.

use std::process::ExitCode;

use pharos_client::{Client, ClientError, v1};
use serde::Serialize;

use super::{Changed, Output, View, show};

#[derive(Debug, clap::Subcommand)]
pub enum OffsetCommand {
    Commit {
        consumer_group: String,
        topic: String,
        queue_id: u32,
        offset: u64,
        /// Refuse if this would move the offset backwards.
        #[arg(long)]
        reject_backwards: bool,
    },
    Get {
        consumer_group: String,
        topic: Option<String>,
    },
    /// Reset every queue of TOPIC for CONSUMER_GROUP (audited in the leader's log).
    Reset {
        consumer_group: String,
        topic: String,
        /// `earliest` or an offset.
        #[arg(long)]
        to: String,
    },
}

pub(super) async fn run(client: &Client, output: Output, command: OffsetCommand) -> Result<ExitCode, ClientError> {
    match command {
        OffsetCommand::Commit { consumer_group, topic, queue_id, offset, reject_backwards } => {
            let entry = v1::OffsetEntry { consumer_group, topic, queue_id, offset, committed_at_revision: 0 };
            let response = client.commit_offsets(vec![entry], reject_backwards).await?;
            show(output, &Changed::new(response.revision, "committed"));
        }
        OffsetCommand::Get { consumer_group, topic } => {
            let response = client
                .fetch_offsets(&consumer_group, topic.as_deref().unwrap_or(""), v1::Consistency::Linearizable)
                .await?;
            let offsets =
                Offsets { revision: response.revision, offsets: response.offsets.iter().map(Offset::from).collect() };
            show(output, &offsets);
        }
        OffsetCommand::Reset { consumer_group, topic, to } => {
            let target = if to == "earliest" {
                v1::reset_offsets_request::To::Earliest(true)
            } else {
                v1::reset_offsets_request::To::Offset(
                    to.parse()
                        .map_err(|_| ClientError::Config(format!("--to `{to}` is neither `earliest` nor an offset")))?,
                )
            };
            let response = client.reset_offsets(&consumer_group, &topic, target).await?;
            show(output, &OffsetsReset { revision: response.revision, queues_reset: response.queues_reset });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `offset get`: a consumer group's committed offsets, of one topic or all.
#[derive(Debug, Serialize)]
struct Offsets {
    revision: u64,
    offsets: Vec<Offset>,
}

/// One queue's committed offset.
#[derive(Debug, Serialize)]
struct Offset {
    consumer_group: String,
    topic: String,
    queue_id: u32,
    offset: u64,
    /// The store's revision when this offset was committed.
    committed_at_revision: u64,
}

impl From<&v1::OffsetEntry> for Offset {
    fn from(entry: &v1::OffsetEntry) -> Self {
        Self {
            consumer_group: entry.consumer_group.clone(),
            topic: entry.topic.clone(),
            queue_id: entry.queue_id,
            offset: entry.offset,
            committed_at_revision: entry.committed_at_revision,
        }
    }
}

impl View for Offsets {
    fn print_table(&self) {
        println!("{:<24} {:<32} {:>6} {:>14}", "CONSUMER GROUP", "TOPIC", "QUEUE", "OFFSET");
        for entry in &self.offsets {
            println!("{:<24} {:<32} {:>6} {:>14}", entry.consumer_group, entry.topic, entry.queue_id, entry.offset);
        }
    }
}

/// `offset reset`.
#[derive(Debug, Serialize)]
struct OffsetsReset {
    revision: u64,
    queues_reset: u64,
}

impl View for OffsetsReset {
    fn print_table(&self) {
        println!("{} queues reset (revision {})", self.queues_reset, self.revision);
    }
}
