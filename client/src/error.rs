//! Typed client errors.

pub use pharos_proto::ErrorDetail;
pub use pharos_proto::v1::ErrorReason;

/// Why a call failed. `Rejected` carries the server's machine-readable reason (one list shared
/// with the server: `pharos.v1.ErrorReason`) and the typed details that came with it.
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
    #[error("{}: {message}", reason_label(*.code, *.reason))]
    Rejected {
        code: tonic::Code,
        /// `Unspecified` when the server named no reason, or one this release does not know.
        reason: ErrorReason,
        message: String,
        details: Vec<ErrorDetail>,
    },
}

/// How a refusal names itself: its reason, or the gRPC code when it has none.
fn reason_label(code: tonic::Code, reason: ErrorReason) -> String {
    match reason {
        ErrorReason::Unspecified => format!("{code:?}").to_uppercase(),
        reason => reason.code_name().to_string(),
    }
}

impl ClientError {
    pub(crate) fn from_status(status: tonic::Status) -> ClientError {
        ClientError::Rejected {
            code: status.code(),
            reason: pharos_proto::error_reason(&status).unwrap_or(ErrorReason::Unspecified),
            message: status.message().to_string(),
            details: pharos_proto::error_details(&status),
        }
    }

    /// The server's reason, when the server refused the request with one.
    pub fn reason(&self) -> Option<ErrorReason> {
        match self {
            ClientError::Rejected { reason, .. } if *reason != ErrorReason::Unspecified => Some(*reason),
            _ => None,
        }
    }

    /// The refusal's typed details (empty for other errors).
    pub fn details(&self) -> &[ErrorDetail] {
        match self {
            ClientError::Rejected { details, .. } => details,
            _ => &[],
        }
    }

    /// A timeout of the caller's own (a CLI wait), in the shape of a server refusal.
    pub fn timed_out(what: impl Into<String>) -> ClientError {
        ClientError::Rejected {
            code: tonic::Code::DeadlineExceeded,
            reason: ErrorReason::Timeout,
            message: what.into(),
            details: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_its_reason_and_details_from_the_status() {
        let mut status = tonic::Status::already_exists("name taken");
        status.metadata_mut().insert(pharos_proto::metadata::ERROR_REASON, "DUPLICATE_REGISTRATION".parse().unwrap());
        status.metadata_mut().insert("pharos-broker-id", 3.into());
        let error = ClientError::from_status(status);
        assert_eq!(error.reason(), Some(ErrorReason::DuplicateRegistration));
        assert_eq!(error.details(), &[ErrorDetail::BrokerId(3)]);
        assert_eq!(error.to_string(), "DUPLICATE_REGISTRATION: name taken");
        let bare = ClientError::from_status(tonic::Status::internal("boom"));
        assert_eq!(bare.reason(), None);
        assert_eq!(bare.to_string(), "INTERNAL: boom");
    }
}
