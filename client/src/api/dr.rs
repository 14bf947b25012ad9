//! Disaster recovery: regions, replication mode, switchover, failover and failback. The
//! operations that change regions are sent at most once: after an unknown outcome, read
//! `dr_status` to see whether they began.

use crate::rpc::dr;
use crate::{Client, ClientError, v1};

impl Client {
    /// DR status as seen by whichever node answers (lag figures only from the leader).
    pub async fn dr_status(&self) -> Result<v1::DrStatusResponse, ClientError> {
        self.send::<dr::Status>(v1::DrStatusRequest {}).await
    }

    pub async fn dr_configure(
        &self,
        primary_region: &str,
        dr_region: &str,
    ) -> Result<v1::DrChangeResponse, ClientError> {
        let request = v1::DrConfigureRequest {
            primary_region: primary_region.to_string(),
            dr_region: dr_region.to_string(),
            request_id: None,
        };
        self.send::<dr::Configure>(request).await
    }

    /// `mode` is `majority` or `dr-sync`; `dr_sync_timeout_ms` 0 keeps the current timeout.
    /// `dr_sync_timeout_ms` 0 keeps the current timeout.
    pub async fn dr_set_mode(
        &self,
        mode: v1::DrMode,
        dr_sync_timeout_ms: u64,
    ) -> Result<v1::DrChangeResponse, ClientError> {
        let request = v1::DrSetModeRequest { mode: mode.into(), dr_sync_timeout_ms, request_id: None };
        self.send::<dr::SetMode>(request).await
    }

    pub async fn dr_switchover(&self, to_region: &str, dry_run: bool) -> Result<v1::SwitchoverResponse, ClientError> {
        self.send::<dr::Switchover>(v1::SwitchoverRequest {
            to_region: to_region.to_string(),
            dry_run,
            request_id: None,
        })
        .await
    }

    /// Unplanned failover: send it to a surviving node of `request.to_region`.
    pub async fn dr_failover(
        &self,
        request: v1::RegionFailoverRequest,
    ) -> Result<v1::RegionFailoverResponse, ClientError> {
        self.send::<dr::Failover>(request).await
    }

    pub async fn dr_failback(&self) -> Result<v1::FailbackResponse, ClientError> {
        self.send::<dr::Failback>(v1::FailbackRequest {}).await
    }
}
