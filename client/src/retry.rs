//! The one loop that sends an RPC: endpoint rotation, `NOT_LEADER` redirects, backoff, the
//! generation check, and the retry rule of the RPC's [`RetryClass`].

use std::time::Duration;

use crate::rpc::Rpc;
use crate::{Client, ClientError, ErrorReason, accept_generation};

/// How the client may retry an RPC after an attempt failed. Every RPC has exactly one class,
/// listed in [`RETRY_CLASSES`](crate::RETRY_CLASSES) and in the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Changes nothing: retried after any transient failure, on the next node.
    Read,
    /// Carries a `RequestId`, drawn once per call and reused by every retry; the server answers
    /// a repeat with the first answer. Retried like a read, and applied at most once.
    Idempotent,
    /// Carries no key, but a repeat has no effect beyond the first one's: it asks for an end
    /// state that stays reached (`TransferLeader`, `Compact`) or renews soft state that the
    /// next request renews anyway (`Heartbeat`). Retried like a read.
    Convergent,
    /// Neither: a repeat could apply a second time, after other clients' writes (an offset moved
    /// back; a second broker failover that replaces the master the first one elected). Retried
    /// only when the attempt provably took no effect: a `NOT_LEADER` or `FENCED` refusal, or no
    /// connection at all. After a timeout or a connection lost mid-request the call ends with
    /// [`ClientError::OutcomeUnknown`].
    AtMostOnce,
}

impl RetryClass {
    /// Whether an attempt that may have reached a server, and brought back no answer, may be
    /// sent again.
    pub fn retries_unknown_outcomes(self) -> bool {
        !matches!(self, RetryClass::AtMostOnce)
    }
}

/// What to do after a failed attempt.
enum Next {
    Retry { pause: bool },
    Fail(ClientError),
}

/// Whether the failed attempt certainly changed nothing: the server refused it before acting
/// (`NOT_LEADER`: writes go to the leader only, and openraft reports an entry appended and then
/// lost as an unknown outcome, never as a redirect; `FENCED`: an old-generation node refuses
/// first), or the request was never sent because no connection was made.
fn provably_not_applied(status: &tonic::Status) -> bool {
    let refused = matches!(pharos_proto::error_reason(status), Some(ErrorReason::NotLeader | ErrorReason::Fenced));
    refused || never_connected(status)
}

/// Whether the call failed before any connection was made: tonic maps a failed connect to
/// `UNAVAILABLE` and keeps the connector's error as the status's source, wrapped in
/// `tonic::ConnectError`. A status a server sent has no source, whatever its message says.
fn never_connected(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

impl Client {
    /// Sends one RPC to the current node, following redirects and retrying as its class allows,
    /// at most `attempts_max` times. An idempotent request without a key gets a fresh one here,
    /// so every attempt of this call carries the same key.
    pub(crate) async fn send<R: Rpc>(&self, mut request: R::Request) -> Result<R::Response, ClientError> {
        if let Some(request_id) = R::request_id(&mut request) {
            request_id.get_or_insert_with(|| self.next_request_id());
        }
        let mut pause_ms = self.options.retry_backoff_ms;
        let mut last_error = String::new();
        for attempt in 1..=self.options.attempts_max {
            let (index, address, channel) = self.channel()?;
            let status = match R::attempt(channel, self.with_credentials(request.clone())).await {
                Ok(response) => match accept_generation(&self.generation, crate::generation_of(response.metadata())) {
                    Ok(()) => return Ok(response.into_inner()),
                    // Answered from a region that was failed over: whatever it did belongs to
                    // an abandoned history, so even an at-most-once request is sent again.
                    Err(highest) => {
                        tracing::warn!(rpc = R::NAME, %address, highest, "answer from an older generation refused");
                        last_error = format!("{address}: answered for a generation below {highest} (failed over)");
                        self.advance(index, None);
                        continue;
                    }
                },
                Err(status) => status,
            };
            let _ = accept_generation(&self.generation, crate::generation_of(status.metadata()));
            tracing::debug!(rpc = R::NAME, %address, %status, "pharos call failed");
            last_error = format!("{address}: {}", status.message());
            let not_applied = provably_not_applied(&status);
            match self.classify(index, status) {
                Next::Fail(error) => return Err(error),
                Next::Retry { .. } if !R::RETRY.retries_unknown_outcomes() && !not_applied => {
                    return Err(ClientError::OutcomeUnknown { rpc: R::NAME, attempts: attempt, last_error });
                }
                Next::Retry { pause } => {
                    if pause {
                        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                        pause_ms = (pause_ms * 2).min(self.options.retry_backoff_ms * 8);
                    }
                }
            }
        }
        Err(ClientError::Unavailable { attempts: self.options.attempts_max, last_error })
    }

    /// Decides from a failed attempt's status whether to try again, moving to the leader it
    /// names or to the next endpoint.
    fn classify(&self, index: usize, status: tonic::Status) -> Next {
        use ErrorReason as Reason;
        match (status.code(), pharos_proto::error_reason(&status)) {
            (_, Some(Reason::NotLeader)) => {
                let leader_addr = status
                    .metadata()
                    .get(pharos_proto::metadata::LEADER_CLIENT_ADDR)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                self.advance(index, leader_addr.as_deref());
                Next::Retry { pause: leader_addr.is_none() }
            }
            // An old-generation node (failed over without it): another endpoint may be current.
            (_, Some(Reason::Fenced)) => {
                self.advance(index, None);
                Next::Retry { pause: false }
            }
            (tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled, _)
            | (tonic::Code::Unknown, None)
            | (_, Some(Reason::UnknownOutcome)) => {
                self.advance(index, None);
                Next::Retry { pause: true }
            }
            _ => Next::Fail(ClientError::from_status(status)),
        }
    }
}
