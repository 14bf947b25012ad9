//! Consumer offsets. Commits and resets carry an idempotency key (drawn by the send loop), so a
//! retry after a lost answer is applied once (batching for brokers is
//! [`OffsetBuffer`](crate::offsets::OffsetBuffer)).

use crate::rpc::offset;
use crate::{Client, ClientError, v1};

impl Client {
    pub async fn commit_offsets(
        &self,
        offsets: Vec<v1::OffsetEntry>,
        reject_backwards: bool,
    ) -> Result<v1::CommitOffsetsResponse, ClientError> {
        self.send::<offset::CommitOffsets>(v1::CommitOffsetsRequest { offsets, reject_backwards, request_id: None })
            .await
    }

    pub async fn fetch_offsets(
        &self,
        consumer_group: &str,
        topic: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::FetchOffsetsResponse, ClientError> {
        let request = v1::FetchOffsetsRequest {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            consistency: consistency as i32,
        };
        self.send::<offset::FetchOffsets>(request).await
    }

    pub async fn reset_offsets(
        &self,
        consumer_group: &str,
        topic: &str,
        to: v1::reset_offsets_request::To,
    ) -> Result<v1::ResetOffsetsResponse, ClientError> {
        let request = v1::ResetOffsetsRequest {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            to: Some(to),
            request_id: None,
        };
        self.send::<offset::ResetOffsets>(request).await
    }

    pub async fn list_consumer_groups(
        &self,
        consistency: v1::Consistency,
    ) -> Result<v1::ListConsumerGroupsResponse, ClientError> {
        self.send::<offset::ListConsumerGroups>(v1::ListConsumerGroupsRequest { consistency: consistency as i32 }).await
    }
}
