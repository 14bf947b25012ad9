//! The generic revisioned key/value namespace.

use crate::rpc::kv;
use crate::{Client, ClientError, v1};

impl Client {
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<v1::PutResponse, ClientError> {
        self.send::<kv::Put>(v1::PutRequest { key: key.into(), value: value.into(), request_id: None }).await
    }

    /// Put with an explicit idempotency key (retries of one logical write share it).
    pub async fn put_with_id(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        request_id: v1::RequestId,
    ) -> Result<v1::PutResponse, ClientError> {
        self.send::<kv::Put>(v1::PutRequest { key: key.into(), value: value.into(), request_id: Some(request_id) })
            .await
    }

    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        consistency: v1::Consistency,
    ) -> Result<v1::GetResponse, ClientError> {
        self.send::<kv::Get>(v1::GetRequest { key: key.into(), consistency: consistency as i32 }).await
    }

    pub async fn delete(&self, key: impl Into<Vec<u8>>) -> Result<v1::DeleteResponse, ClientError> {
        self.send::<kv::Delete>(v1::DeleteRequest { key: key.into(), request_id: None }).await
    }

    pub async fn compare_and_set(
        &self,
        key: impl Into<Vec<u8>>,
        compare: v1::compare_and_set_request::Compare,
        value: impl Into<Vec<u8>>,
    ) -> Result<v1::CompareAndSetResponse, ClientError> {
        let request =
            v1::CompareAndSetRequest { key: key.into(), value: value.into(), compare: Some(compare), request_id: None };
        self.send::<kv::CompareAndSet>(request).await
    }

    pub async fn range(
        &self,
        prefix: impl Into<Vec<u8>>,
        limit: u32,
        consistency: v1::Consistency,
    ) -> Result<v1::RangeResponse, ClientError> {
        self.send::<kv::Range>(v1::RangeRequest { prefix: prefix.into(), limit, consistency: consistency as i32 }).await
    }
}
