//! Who is calling, and may they: authentication and authorization of the client port
//! (docs/security.md).
//!
//! - [`AuthLayer`] runs before any handler. It finds the request's row in
//!   [`crate::access_table::RPC_ACCESS`]; for a guarded RPC it reads `authorization: Bearer
//!   <token>`, hashes the token and looks the hash up among the users of the local state. No
//!   token, or one no user holds, is `UNAUTHENTICATED` before the request is even decoded. A
//!   known user rides on as a [`Caller`] in the request's extensions.
//! - Each handler then calls [`authorize`] with the name of the resource the request acts on
//!   (the table supplies the resource type and the action, so a handler cannot ask for the
//!   wrong one). A denial is `PERMISSION_DENIED` with the deciding entry in the message, and it
//!   happens before anything is proposed: a refused request never takes a log entry.
//! - Every refusal is recorded in this node's [`DenialLog`] (bounded, rate-limited per caller),
//!   never in the replicated state, so nobody can push the administrative history out of the
//!   audit log by being refused.
//!
//! `--insecure` turns all of it off: every caller is [`Caller::insecure`] and may do anything.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use pharos_meta::access::{AccessRequest, ResourceType, evaluate};
use pharos_proto::v1;
use pharos_proto::v1::ErrorReason as Reason;
use pharos_replication::Node;
use tonic::{Code, Status};

use crate::access_table::{Guard, RpcAccess, access_of};
use crate::status::with_reason;

/// Denials a node keeps (the oldest go first).
pub const DENIALS_KEPT: usize = 1_000;
/// Denials of one caller recorded in a burst; then one per [`DENIAL_REFILL_MS`].
const DENIAL_BURST: u32 = 10;
const DENIAL_REFILL_MS: u64 = 1_000;
/// Callers whose rate is tracked; past it the table starts over (a flood of distinct
/// callers is then rate-limited as a whole by the burst of each new one).
const CALLERS_TRACKED_MAX: usize = 10_000;
/// Characters of a resource name quoted in a denial.
const NAME_ECHO_CHARS_MAX: usize = 64;

/// What a node knows to authenticate and authorize: its state (the users and policies) and
/// whether it runs `--insecure`. Shared by the layer and every handler.
#[derive(Debug)]
pub struct Authority {
    node: Node,
    insecure: bool,
    pub denials: DenialLog,
}

impl Authority {
    pub fn new(node: Node, insecure: bool) -> Arc<Authority> {
        Arc::new(Authority { node, insecure, denials: DenialLog::default() })
    }

    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The caller of a request to `method`, `Ok(None)` for a method that needs no caller
    /// (public, peer-only, or not a Pharos RPC: health, reflection).
    fn authenticate(
        self: &Arc<Self>,
        method: &str,
        headers: &http::HeaderMap,
        source: Option<SocketAddr>,
    ) -> Result<Option<Caller>, Status> {
        let Some(row) = access_of(method) else { return Ok(None) };
        if matches!(row.guard, Guard::Public | Guard::PeerOnly) {
            return Ok(None);
        }
        if self.insecure {
            return Ok(Some(Caller { subject: None, row, authority: self.clone() }));
        }
        let refuse = |why: &str| {
            self.denials.record(row.method, None, source, "", "", Code::Unauthenticated, why);
            Err(with_reason(Code::Unauthenticated, Reason::Unauthenticated, why.to_string()))
        };
        let Some(value) = headers.get(pharos_client::AUTHORIZATION) else {
            return refuse("no credentials: send `authorization: Bearer <token>` (docs/security.md)");
        };
        let Some(token) = value.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")) else {
            return refuse("the authorization header is not `Bearer <token>`");
        };
        let token_sha256 = pharos_client::token::sha256(token);
        let subject = {
            let applied = self.node.state_machine.read();
            applied.state.user_by_token(&token_sha256).map(|user| user.name.clone())
        };
        match subject {
            Some(subject) => Ok(Some(Caller { subject: Some(subject), row, authority: self.clone() })),
            None => refuse("the token matches no user (deleted, rotated, or mistyped)"),
        }
    }
}

/// The authenticated caller of one request, put into its extensions by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user; `None` on a node running `--insecure`.
    pub subject: Option<String>,
    /// The RPC's row of the access table.
    pub row: &'static RpcAccess,
    authority: Arc<Authority>,
}

impl Caller {
    /// Whether the node runs without authentication.
    pub fn insecure(&self) -> bool {
        self.subject.is_none()
    }

    /// May this caller do the RPC's action on the resource named `name` (of the table's type)?
    fn authorize(&self, name: &str, source: Option<SocketAddr>) -> Result<(), Status> {
        let Some(subject) = &self.subject else { return Ok(()) };
        let (kind, action) = match self.row.guard {
            Guard::Resource { kind, action, .. } => (kind, action),
            Guard::Authenticated => {
                let enabled =
                    self.authority.node.state_machine.read().state.access.users.get(subject).map(|u| u.enabled);
                return match enabled {
                    Some(true) => Ok(()),
                    _ => Err(self.deny(subject, name, "", source, format!("user `{subject}` is disabled"))),
                };
            }
            // Never reaches a handler with a caller (see `Authority::authenticate`).
            Guard::Public | Guard::PeerOnly => return Ok(()),
        };
        let verdict = {
            let applied = self.authority.node.state_machine.read();
            let request = AccessRequest { subject, kind, name, action, source: source.map(|address| address.ip()) };
            evaluate(&applied.state.access, &request)
        };
        if verdict.allowed {
            return Ok(());
        }
        let resource = describe_resource(kind, name);
        let message = format!("user `{subject}` may not `{action}` {resource}: {}", verdict.explain());
        Err(self.deny(subject, &resource, action.as_str(), source, message))
    }

    fn deny(&self, subject: &str, resource: &str, action: &str, source: Option<SocketAddr>, message: String) -> Status {
        let code = Code::PermissionDenied;
        self.authority.denials.record(self.row.method, Some(subject), source, resource, action, code, &message);
        with_reason(code, Reason::PermissionDenied, message)
    }
}

/// `topic:orders`, or `the coordinator (cluster:*)` for the coordinator-wide resource; long
/// names cut.
fn describe_resource(kind: ResourceType, name: &str) -> String {
    if kind == ResourceType::Cluster && name.is_empty() {
        return "the coordinator (cluster:*)".to_string();
    }
    let mut shown: String = name.chars().take(NAME_ECHO_CHARS_MAX).flat_map(char::escape_debug).collect();
    if name.chars().nth(NAME_ECHO_CHARS_MAX).is_some() {
        shown.push('…');
    }
    format!("{kind}:{shown}")
}

/// Checks that the caller of `request` may do the RPC's action on the resource named `name`
/// (`""`: the coordinator itself). Every handler of a guarded RPC calls it before it proposes
/// or reads anything. Fails closed: a request without a [`Caller`] is refused.
pub fn authorize<T>(request: &tonic::Request<T>, name: &str) -> Result<(), Status> {
    match request.extensions().get::<Caller>() {
        Some(caller) => caller.authorize(name, request.remote_addr()),
        None => Err(with_reason(
            Code::Unauthenticated,
            Reason::Unauthenticated,
            "the request carries no authenticated caller",
        )),
    }
}

/// The authenticated user of `request`, if any (for the audit log's actor).
pub fn subject<T>(request: &tonic::Request<T>) -> Option<&str> {
    request.extensions().get::<Caller>()?.subject.as_deref()
}

/// The client port's authentication layer (see the module docs).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authority: Arc<Authority>,
}

impl AuthLayer {
    pub fn new(authority: Arc<Authority>) -> AuthLayer {
        AuthLayer { authority }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, authority: self.authority.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    authority: Arc<Authority>,
}

type ResponseFuture<E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<http::Response<tonic::body::Body>, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let source = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(tonic::transport::server::TcpConnectInfo::remote_addr);
        match self.authority.authenticate(request.uri().path(), request.headers(), source) {
            Ok(Some(caller)) => {
                request.extensions_mut().insert(caller);
            }
            Ok(None) => {}
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        }
        Box::pin(self.inner.call(request))
    }
}

/// The refusals a node recorded, newest last: bounded, and rate-limited per caller (user, or
/// source address when unauthenticated) so one caller cannot flood it.
#[derive(Debug, Default)]
pub struct DenialLog {
    inner: std::sync::Mutex<DenialLogInner>,
    /// Every refusal, recorded or not (a metric).
    pub denied_total: AtomicU64,
    /// Refusals the rate limit kept out of the log (a metric).
    pub suppressed_total: AtomicU64,
}

#[derive(Debug, Default)]
struct DenialLogInner {
    records: VecDeque<v1::Denial>,
    callers: HashMap<String, Allowance>,
}

/// A caller's token bucket: `tokens` denials may be recorded now.
#[derive(Debug)]
struct Allowance {
    tokens: u32,
    refilled: Instant,
    suppressed: u64,
}

impl DenialLog {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        method: &str,
        subject: Option<&str>,
        source: Option<SocketAddr>,
        resource: &str,
        action: &str,
        code: Code,
        reason: &str,
    ) {
        self.denied_total.fetch_add(1, Ordering::Relaxed);
        let caller = match (subject, source) {
            (Some(subject), _) => format!("user:{subject}"),
            (None, Some(source)) => format!("address:{}", source.ip()),
            (None, None) => "address:unknown".to_string(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.callers.len() >= CALLERS_TRACKED_MAX && !inner.callers.contains_key(&caller) {
            inner.callers.clear();
        }
        let now = Instant::now();
        let allowance =
            inner.callers.entry(caller).or_insert(Allowance { tokens: DENIAL_BURST, refilled: now, suppressed: 0 });
        let refills = now.duration_since(allowance.refilled).as_millis() as u64 / DENIAL_REFILL_MS;
        if refills > 0 {
            allowance.tokens =
                DENIAL_BURST.min(allowance.tokens.saturating_add(refills.min(u64::from(u32::MAX)) as u32));
            allowance.refilled = now;
        }
        if allowance.tokens == 0 {
            allowance.suppressed += 1;
            self.suppressed_total.fetch_add(1, Ordering::Relaxed);
            return;
        }
        allowance.tokens -= 1;
        let suppressed_before = std::mem::take(&mut allowance.suppressed);
        tracing::warn!(method, subject = subject.unwrap_or(""), source = ?source, resource, action, reason, "request refused");
        inner.records.push_back(v1::Denial {
            at_ms: crate::handler::unix_ms(),
            subject: subject.unwrap_or_default().to_string(),
            source: source.map(|source| source.to_string()).unwrap_or_default(),
            method: method.to_string(),
            resource: resource.to_string(),
            action: action.to_string(),
            code: if code == Code::Unauthenticated { "UNAUTHENTICATED" } else { "PERMISSION_DENIED" }.to_string(),
            reason: reason.to_string(),
            suppressed_before,
        });
        while inner.records.len() > DENIALS_KEPT {
            inner.records.pop_front();
        }
    }

    /// The `limit` most recent denials, newest first.
    pub fn recent(&self, limit: usize) -> Vec<v1::Denial> {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.records.iter().rev().take(limit).cloned().collect()
    }
}

/// The name of the root token file in a data dir.
pub const ROOT_TOKEN_FILE: &str = "root.token";

/// Makes sure the cluster has its first (root) user, and that this node's `root.token` file
/// holds the root's token when this node created it. Runs until `stop` fires or access control
/// is bootstrapped: only the leader proposes, and only while no user exists, so of several
/// nodes starting at once exactly one writes a token the state accepts; the others remove
/// theirs. A restarted node finds its file and proposes the same token again (a crash between
/// writing the file and committing is harmless).
pub async fn bootstrap_root(node: Node, data_dir: std::path::PathBuf, stop: impl std::future::Future<Output = ()>) {
    let path = data_dir.join(ROOT_TOKEN_FILE);
    tokio::pin!(stop);
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let bootstrapped = !node.state_machine.read().state.access.users.is_empty();
        if bootstrapped {
            forget_stale_root_token(&node, &path);
            return;
        }
        if !node.is_leader() {
            continue;
        }
        let token = match read_or_create_token(&path) {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "cannot write the root token; access control stays unbootstrapped");
                continue;
            }
        };
        let operation = pharos_meta::Operation::Acl(pharos_meta::acl::AclOperation::Bootstrap {
            name: pharos_meta::acl::ROOT_USER.to_string(),
            token_sha256: pharos_client::token::sha256(&token),
        });
        match crate::handler::propose(&node, operation, None, "coordinator".to_string()).await {
            Ok(_) => {
                tracing::warn!(
                    path = %path.display(),
                    "created user `root`; its token is in this file (mode 0600). The CLI on this machine reads it \
                     from the default data dir by itself; elsewhere pass --token-file or PHAROS_TOKEN"
                );
                return;
            }
            Err(status) => tracing::debug!(%status, "root bootstrap not committed yet"),
        }
    }
}

/// Removes `path` if it holds a token no user has (another node's bootstrap won).
fn forget_stale_root_token(node: &Node, path: &std::path::Path) {
    let Ok(token) = std::fs::read_to_string(path) else { return };
    let known = node.state_machine.read().state.user_by_token(&pharos_client::token::sha256(&token)).is_some();
    if !known && std::fs::remove_file(path).is_ok() {
        tracing::info!(path = %path.display(), "removed a root token another node's bootstrap superseded");
    }
}

/// The token in `path`, or a new one written there (mode 0600, through a temporary file so a
/// crash never leaves half a token).
fn read_or_create_token(path: &std::path::Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let token = pharos_client::token::generate();
    let temporary = path.with_extension("token.tmp");
    write_private(&temporary, &format!("{token}\n"))?;
    std::fs::rename(&temporary, path)?;
    Ok(token)
}

/// Writes `text` to a new file only its owner can read, and syncs it.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_caller_is_rate_limited_and_counted_and_others_still_recorded() {
        let log = DenialLog::default();
        let source: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        for _ in 0..100 {
            log.record("/m", Some("mallory"), Some(source), "topic:x", "create", Code::PermissionDenied, "no");
        }
        log.record("/m", None, Some(source), "", "", Code::Unauthenticated, "no token");
        assert_eq!(log.denied_total.load(Ordering::Relaxed), 101);
        assert_eq!(log.suppressed_total.load(Ordering::Relaxed), 90);
        let recent = log.recent(1_000);
        assert_eq!(recent.len(), 11, "a burst of 10 for mallory, then the unauthenticated caller");
        assert_eq!(recent[0].code, "UNAUTHENTICATED");
        assert_eq!(recent[1].subject, "mallory");
    }

    #[test]
    fn the_log_keeps_the_most_recent_denials_only() {
        let log = DenialLog::default();
        for caller in 0..(DENIALS_KEPT + 50) {
            let subject = format!("user-{caller}");
            log.record("/m", Some(&subject), None, "", "", Code::PermissionDenied, "no");
        }
        let recent = log.recent(usize::MAX);
        assert_eq!(recent.len(), DENIALS_KEPT);
        assert_eq!(recent[0].subject, format!("user-{}", DENIALS_KEPT + 49));
    }

    #[test]
    fn long_resource_names_are_cut_in_messages() {
        let long = "x".repeat(100_000);
        let shown = describe_resource(ResourceType::Topic, &long);
        assert!(shown.chars().count() < 80, "{shown}");
        assert_eq!(describe_resource(ResourceType::Cluster, ""), "the coordinator (cluster:*)");
    }
}
