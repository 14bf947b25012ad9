//! Typed client errors.

/// Why a call failed. `Rejected` carries the server's machine-readable reason
/// (`INVALID_ARGUMENT`, `SEQUENCE_EXPIRED`, `INVALID_MEMBERSHIP`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("client configuration: {0}")]
    Config(String),
    #[error("no node could serve the request after {attempts} attempts; last error: {last_error}")]
    Unavailable { attempts: u32, last_error: String },
    /// An at-most-once request ([`RetryClass::AtMostOnce`](crate::RetryClass::AtMostOnce)) may
    /// have been applied, and was not sent again: read the state, then decide.
    #[error("{rpc} may or may not have been applied (not retried) after {attempts} attempts; last error: {last_error}")]
    OutcomeUnknown { rpc: &'static str, attempts: u32, last_error: String },
    #[error("{reason}: {message}")]
    Rejected { code: tonic::Code, reason: String, message: String },
}

impl ClientError {
    pub(crate) fn from_status(status: tonic::Status) -> ClientError {
        let reason = status
            .metadata()
            .get(pharos_proto::metadata::ERROR_REASON)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:?}", status.code()).to_uppercase());
        ClientError::Rejected { code: status.code(), reason, message: status.message().to_string() }
    }

    /// The server's reason, when the server refused the request.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Rejected { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
