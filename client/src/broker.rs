//! What a broker process needs from Pharos: a registration and a mastership lease.
//!
//! A master may serve writes only while [`BrokerSession::lease_valid_until`] is in the future.
//! The lease is measured from the moment the heartbeat that renewed it was *sent*, on the
//! broker's own clock, so it always ends before the coordinator (which counts from receipt, plus
//! a clock-drift bound) elects a replacement.

use std::time::{Duration, Instant};

use crate::{Client, ClientError, v1};

/// The broker's registration and lease, updated by each heartbeat.
#[derive(Debug, Clone)]
pub struct BrokerSession {
    pub broker_id: u64,
    pub broker_epoch: u64,
    pub group: String,
    /// How often the coordinator wants heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Last answer of the coordinator.
    pub last: Option<v1::HeartbeatResponse>,
    lease_valid_until: Option<Instant>,
}

/// Errors after which the registration is gone and the broker must register anew.
pub fn registration_lost(error: &ClientError) -> bool {
    use crate::ErrorReason as Reason;
    matches!(error.reason(), Some(Reason::StaleBrokerEpoch | Reason::BrokerNotActive | Reason::UnknownBroker))
}

impl BrokerSession {
    pub fn new(response: &v1::RegisterBrokerResponse, group: &str) -> Self {
        BrokerSession {
            broker_id: response.broker_id,
            broker_epoch: response.broker_epoch,
            group: group.to_string(),
            heartbeat_interval_ms: response.heartbeat_interval_ms,
            last: None,
            lease_valid_until: None,
        }
    }

    /// Until when this broker may act as master (`None`: it is not master, or never was
    /// confirmed).
    pub fn lease_valid_until(&self) -> Option<Instant> {
        self.lease_valid_until
    }

    /// Whether this broker may serve as master right now.
    pub fn is_master_now(&self) -> bool {
        self.lease_valid_until.is_some_and(|until| Instant::now() < until)
    }

    /// Sends one heartbeat and renews (or drops) the lease from its answer.
    pub async fn heartbeat(
        &mut self,
        client: &Client,
        max_offset: u64,
        confirm_offset: u64,
    ) -> Result<&v1::HeartbeatResponse, ClientError> {
        let role = if self.is_master_now() { v1::BrokerRole::Master } else { v1::BrokerRole::Replica };
        let request = v1::HeartbeatRequest {
            broker_id: self.broker_id,
            broker_epoch: self.broker_epoch,
            max_offset,
            confirm_offset,
            role: role.into(),
        };
        let sent_at = Instant::now();
        let response = client.heartbeat(request).await?;
        self.lease_valid_until =
            (response.role() == v1::BrokerRole::Master).then(|| sent_at + Duration::from_millis(response.lease_ms));
        Ok(self.last.insert(response))
    }
}
