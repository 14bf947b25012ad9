//! Broker registration, leases, sync state sets and masters (the broker side of a session is
//! [`BrokerSession`](crate::broker::BrokerSession)).

use crate::rpc::broker;
use crate::{Client, ClientError, v1};

impl Client {
    /// Sends `request`, with a fresh idempotency key unless it carries one (a new incarnation
    /// retrying its registration passes the key of its first attempt).
    pub async fn register_broker(
        &self,
        request: v1::RegisterBrokerRequest,
    ) -> Result<v1::RegisterBrokerResponse, ClientError> {
        self.send::<broker::RegisterBroker>(request).await
    }

    pub async fn heartbeat(&self, request: v1::HeartbeatRequest) -> Result<v1::HeartbeatResponse, ClientError> {
        self.send::<broker::Heartbeat>(request).await
    }

    pub async fn unregister_broker(
        &self,
        broker_id: u64,
        broker_epoch: u64,
    ) -> Result<v1::UnregisterBrokerResponse, ClientError> {
        self.send::<broker::UnregisterBroker>(v1::UnregisterBrokerRequest { broker_id, broker_epoch, request_id: None })
            .await
    }

    /// Sends `request`, with a fresh idempotency key unless it carries one.
    pub async fn alter_sync_state_set(
        &self,
        request: v1::AlterSyncStateSetRequest,
    ) -> Result<v1::AlterSyncStateSetResponse, ClientError> {
        self.send::<broker::AlterSyncStateSet>(request).await
    }

    pub async fn get_broker_group(
        &self,
        group: &str,
        consistency: v1::Consistency,
    ) -> Result<v1::GetBrokerGroupResponse, ClientError> {
        let request = v1::GetBrokerGroupRequest { group: group.to_string(), consistency: consistency as i32 };
        self.send::<broker::GetBrokerGroup>(request).await
    }

    pub async fn list_broker_groups(
        &self,
        consistency: v1::Consistency,
    ) -> Result<v1::ListBrokerGroupsResponse, ClientError> {
        self.send::<broker::ListBrokerGroups>(v1::ListBrokerGroupsRequest { consistency: consistency as i32 }).await
    }

    /// A stream of every change to `group` after `from_revision` (0: the current view first).
    pub async fn watch_broker_group(
        &self,
        group: &str,
        from_revision: u64,
    ) -> Result<tonic::Streaming<v1::BrokerGroupEvent>, ClientError> {
        self.send::<broker::WatchBrokerGroup>(v1::WatchBrokerGroupRequest { group: group.to_string(), from_revision })
            .await
    }

    pub async fn fence_broker(&self, broker_id: u64) -> Result<v1::FenceBrokerResponse, ClientError> {
        self.send::<broker::FenceBroker>(v1::FenceBrokerRequest { broker_id, request_id: None }).await
    }

    pub async fn remove_broker(&self, broker_id: u64) -> Result<v1::RemoveBrokerResponse, ClientError> {
        self.send::<broker::RemoveBroker>(v1::RemoveBrokerRequest { broker_id, request_id: None }).await
    }

    /// Replaces `group`'s master (by `to`, or by election). Retried under one key: a retry gets
    /// the election the first attempt caused, never a second one.
    pub async fn failover(
        &self,
        group: &str,
        to: Option<u64>,
        unclean: bool,
    ) -> Result<v1::FailoverResponse, ClientError> {
        self.send::<broker::Failover>(v1::FailoverRequest { group: group.to_string(), to, unclean, request_id: None })
            .await
    }
}
