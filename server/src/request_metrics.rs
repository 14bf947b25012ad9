//! gRPC requests on the client port, counted by method and status code for `/metrics`
//! (`pharos_grpc_requests_total{method, code}`).
//!
//! Outermost layer, so refusals of authentication count too. The method label is the RPC's
//! path when it is one of the served RPCs (`access_table`), else `unknown`: a caller cannot
//! grow the label set. The code is the `grpc-status` of the response head (an error answered
//! before any message, as every unary refusal is) or `OK`: a stream that fails after its first
//! message counts as `OK`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Counts by `(method, code)`.
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl RequestCounts {
    fn count(&self, method: &'static str, code: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((method, code)).or_default() += 1;
    }

    /// `(method, code, count)`, sorted.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.iter().map(|((method, code), count)| (*method, *code, *count)).collect()
    }
}

/// The status code's name as gRPC documents it (`NOT_FOUND`); `UNKNOWN` for anything else.
fn code_name(value: Option<&http::HeaderValue>) -> &'static str {
    let Some(value) = value else { return "OK" };
    let code = value.to_str().ok().and_then(|text| text.parse::<i32>().ok()).unwrap_or(2);
    match tonic::Code::from(code) {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[derive(Debug, Clone)]
pub struct RequestMetricsLayer {
    counts: Arc<RequestCounts>,
}

impl RequestMetricsLayer {
    pub fn new(counts: Arc<RequestCounts>) -> RequestMetricsLayer {
        RequestMetricsLayer { counts }
    }
}

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> RequestMetrics<S> {
        RequestMetrics { inner, counts: self.counts.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    counts: Arc<RequestCounts>,
}

type ResponseFuture<E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<http::Response<tonic::body::Body>, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for RequestMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = crate::access_table::access_of(request.uri().path()).map_or("unknown", |access| access.method);
        let counts = self.counts.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            counts.count(method, code_name(response.headers().get("grpc-status")));
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_grpc_documents_them_and_a_head_without_one_is_ok() {
        assert_eq!(code_name(None), "OK");
        assert_eq!(code_name(Some(&http::HeaderValue::from_static("9"))), "FAILED_PRECONDITION");
        assert_eq!(code_name(Some(&http::HeaderValue::from_static("16"))), "UNAUTHENTICATED");
        assert_eq!(code_name(Some(&http::HeaderValue::from_static("junk"))), "UNKNOWN");
    }
}
