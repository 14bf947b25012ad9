//! gRPC `AclService`: users, tokens and policies (decode -> check -> propose). Changes are
//! checked against the leader's state before they are proposed (`acl::dry_run`), so a refused
//! change takes no log entry; `apply` checks them again.

use std::str::FromStr;

use pharos_meta::access::{Action, Cidr, Decision, PolicyEntry, Resource, ResourceType, SubjectView, User, UserKind};
use pharos_meta::acl::AclOperation;
use pharos_meta::{Operation, RequestId, Response};
use pharos_proto::v1;
use pharos_proto::v1::ErrorReason as Reason;
use pharos_proto::v1::acl_service_server::{AclService, AclServiceServer};
use pharos_replication::Node;
use std::sync::Arc;
use tonic::{Code, Request, Status};

use crate::auth::{Authority, Caller, authorize};
use crate::handler::{WATCH_BATCH_MAX, WatchSlot, WatchStream, check_watch_start, compacted, watch_stream};
use crate::status::{command_error, node_error, with_reason};

/// Denials listed when the request names no limit, and at most.
const DENIALS_LISTED_DEFAULT: usize = 100;
const DENIALS_LISTED_MAX: usize = crate::auth::DENIALS_KEPT;

#[derive(Debug, Clone)]
pub struct AclApi {
    node: Node,
    authority: Arc<Authority>,
}

fn invalid(message: impl Into<String>) -> Status {
    with_reason(Code::InvalidArgument, Reason::InvalidAcl, message)
}

fn request_id(id: Option<v1::RequestId>) -> Option<RequestId> {
    id.map(|id| RequestId { client_id: id.client_id, sequence: id.sequence })
}

fn user_kind(kind: i32) -> Result<UserKind, Status> {
    match v1::UserKind::try_from(kind) {
        Ok(v1::UserKind::Super) => Ok(UserKind::Super),
        Ok(v1::UserKind::Normal) => Ok(UserKind::Normal),
        _ => Err(invalid(format!("user kind must be SUPER or NORMAL, got {kind}"))),
    }
}

fn kind_to_wire(kind: UserKind) -> v1::UserKind {
    match kind {
        UserKind::Super => v1::UserKind::Super,
        UserKind::Normal => v1::UserKind::Normal,
    }
}

/// A wire policy entry as the model's, every text form parsed.
pub fn entry_from_wire(entry: Option<v1::PolicyEntry>) -> Result<PolicyEntry, Status> {
    let entry = entry.ok_or_else(|| invalid("a policy entry is required"))?;
    let text = |error: pharos_meta::access::AccessError| invalid(error.to_string());
    if entry.actions.len() > Action::ALL_ACTIONS.len() {
        return Err(invalid(format!("a policy entry lists {} actions; there are only 14", entry.actions.len())));
    }
    if entry.source_cidrs.len() > pharos_meta::access::CIDRS_PER_ENTRY_MAX {
        return Err(invalid(format!(
            "a policy entry has {} source CIDRs, the limit is {}",
            entry.source_cidrs.len(),
            pharos_meta::access::CIDRS_PER_ENTRY_MAX
        )));
    }
    let decision = match v1::Decision::try_from(entry.decision) {
        Ok(v1::Decision::Allow) => Decision::Allow,
        Ok(v1::Decision::Deny) => Decision::Deny,
        _ => return Err(invalid("a policy entry's decision must be ALLOW or DENY")),
    };
    let entry = PolicyEntry {
        resource: Resource::from_str(&entry.resource).map_err(text)?,
        actions: entry.actions.iter().map(|action| Action::from_str(action)).collect::<Result<_, _>>().map_err(text)?,
        source_cidrs: entry
            .source_cidrs
            .iter()
            .map(|cidr| Cidr::from_str(cidr))
            .collect::<Result<_, _>>()
            .map_err(text)?,
        decision,
    };
    entry.validate().map_err(text)?;
    Ok(entry)
}

pub fn entry_to_wire(entry: &PolicyEntry) -> v1::PolicyEntry {
    v1::PolicyEntry {
        resource: entry.resource.to_string(),
        actions: entry.actions.iter().map(|action| action.as_str().to_string()).collect(),
        source_cidrs: entry.source_cidrs.iter().map(ToString::to_string).collect(),
        decision: match entry.decision {
            Decision::Allow => v1::Decision::Allow,
            Decision::Deny => v1::Decision::Deny,
        } as i32,
    }
}

impl AclApi {
    pub fn new(node: Node, authority: Arc<Authority>) -> Self {
        AclApi { node, authority }
    }

    pub fn into_server(self) -> AclServiceServer<AclApi> {
        AclServiceServer::new(self).max_decoding_message_size(crate::server::CLIENT_MESSAGE_BYTES_MAX)
    }

    /// Checks `operation` against this node's state, then proposes it.
    async fn change<T>(
        &self,
        request: &Request<T>,
        operation: AclOperation,
        id: Option<RequestId>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        authorize(request, "")?;
        self.node.ensure_leader().map_err(node_error)?;
        let remembered = id.as_ref().and_then(|id| self.node.state_machine.read().state.remembered(id).cloned());
        if remembered.is_none() {
            pharos_meta::acl::dry_run(&self.node.state_machine.read().state, &operation).map_err(command_error)?;
        }
        let actor = crate::handler::actor(request);
        match crate::handler::propose(&self.node, Operation::Acl(operation), id, actor).await? {
            Response::AclChanged { revision } => {
                Ok(crate::handler::answer(&self.node, revision, v1::AclChangeResponse { revision, header: None }))
            }
            other => Err(Status::internal(format!("unexpected answer to an ACL change: {other:?}"))),
        }
    }

    async fn read_barrier(&self) -> Result<(), Status> {
        self.node.linearizable_barrier().await.map_err(node_error)
    }
}

#[tonic::async_trait]
impl AclService for AclApi {
    async fn add_user(
        &self,
        request: Request<v1::AddUserRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        authorize(&request, "")?;
        let message = request.get_ref().clone();
        let operation = AclOperation::AddUser {
            name: message.name,
            kind: user_kind(message.kind)?,
            token_sha256: message.token_sha256,
        };
        self.change(&request, operation, request_id(message.request_id)).await
    }

    async fn delete_user(
        &self,
        request: Request<v1::DeleteUserRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        let message = request.get_ref().clone();
        self.change(&request, AclOperation::DeleteUser { name: message.name }, request_id(message.request_id)).await
    }

    async fn set_user_enabled(
        &self,
        request: Request<v1::SetUserEnabledRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        let message = request.get_ref().clone();
        let operation = AclOperation::SetEnabled { name: message.name, enabled: message.enabled };
        self.change(&request, operation, request_id(message.request_id)).await
    }

    async fn rotate_token(
        &self,
        request: Request<v1::RotateTokenRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        let message = request.get_ref().clone();
        let operation = AclOperation::RotateToken { name: message.name, token_sha256: message.token_sha256 };
        self.change(&request, operation, request_id(message.request_id)).await
    }

    async fn list_users(
        &self,
        request: Request<v1::ListUsersRequest>,
    ) -> Result<tonic::Response<v1::ListUsersResponse>, Status> {
        authorize(&request, "")?;
        self.read_barrier().await?;
        let applied = self.node.state_machine.read();
        let users = applied.state.access.users.values().map(user_to_wire).collect();
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(&self.node, revision, v1::ListUsersResponse { users, revision, header: None }))
    }

    async fn grant(
        &self,
        request: Request<v1::GrantRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        authorize(&request, "")?;
        let message = request.get_ref().clone();
        let operation = AclOperation::Grant { subject: message.subject, entry: entry_from_wire(message.entry)? };
        self.change(&request, operation, request_id(message.request_id)).await
    }

    async fn revoke(
        &self,
        request: Request<v1::RevokeRequest>,
    ) -> Result<tonic::Response<v1::AclChangeResponse>, Status> {
        authorize(&request, "")?;
        let message = request.get_ref().clone();
        let operation = AclOperation::Revoke { subject: message.subject, entry: entry_from_wire(message.entry)? };
        self.change(&request, operation, request_id(message.request_id)).await
    }

    async fn list_policies(
        &self,
        request: Request<v1::ListPoliciesRequest>,
    ) -> Result<tonic::Response<v1::ListPoliciesResponse>, Status> {
        authorize(&request, "")?;
        self.read_barrier().await?;
        let subject = &request.get_ref().subject;
        let applied = self.node.state_machine.read();
        let policies = applied
            .state
            .access
            .policies
            .iter()
            .filter(|(name, _)| subject.is_empty() || *name == subject)
            .map(|(name, entries)| v1::Policy {
                subject: name.clone(),
                entries: entries.iter().map(entry_to_wire).collect(),
            })
            .collect();
        let revision = applied.state.revision;
        drop(applied);
        Ok(crate::handler::answer(&self.node, revision, v1::ListPoliciesResponse { policies, revision, header: None }))
    }

    async fn check(&self, request: Request<v1::CheckRequest>) -> Result<tonic::Response<v1::CheckResponse>, Status> {
        authorize(&request, "")?;
        let message = request.get_ref();
        let text = |error: pharos_meta::access::AccessError| invalid(error.to_string());
        let kind = ResourceType::from_str(&message.resource_type).map_err(text)?;
        let action = Action::from_str(&message.action).map_err(text)?;
        let source = match message.source.as_str() {
            "" => None,
            source => Some(source.parse().map_err(|_| invalid("source must be an IP address"))?),
        };
        if message.resource_name.len() > pharos_meta::access::RESOURCE_NAME_BYTES_MAX {
            return Err(invalid("resource name is too long"));
        }
        self.read_barrier().await?;
        let verdict = {
            let applied = self.node.state_machine.read();
            let access_request = pharos_meta::access::AccessRequest {
                subject: &message.subject,
                kind,
                name: &message.resource_name,
                action,
                source,
            };
            pharos_meta::access::evaluate(&applied.state.access, &access_request)
        };
        let (entry_index, entry) = match &verdict.reason {
            pharos_meta::access::VerdictReason::Matched { entry_index, entry } => {
                (Some(*entry_index as u32), Some(entry_to_wire(entry)))
            }
            _ => (None, None),
        };
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::CheckResponse {
                header: None,
                allowed: verdict.allowed,
                explanation: verdict.explain(),
                entry_index,
                entry,
            },
        ))
    }

    async fn who_am_i(
        &self,
        request: Request<v1::WhoAmIRequest>,
    ) -> Result<tonic::Response<v1::WhoAmIResponse>, Status> {
        authorize(&request, "")?;
        let caller = request.extensions().get::<Caller>();
        let user = caller.and_then(|caller| caller.subject.clone()).unwrap_or_default();
        let kind = self.node.state_machine.read().state.access.users.get(&user).map(|user| kind_to_wire(user.kind));
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::WhoAmIResponse {
                header: None,
                user,
                kind: kind.unwrap_or(v1::UserKind::Unspecified) as i32,
                insecure: self.authority.insecure(),
            },
        ))
    }

    async fn list_denials(
        &self,
        request: Request<v1::ListDenialsRequest>,
    ) -> Result<tonic::Response<v1::ListDenialsResponse>, Status> {
        authorize(&request, "")?;
        let limit = match request.get_ref().limit as usize {
            0 => DENIALS_LISTED_DEFAULT,
            limit => limit.min(DENIALS_LISTED_MAX),
        };
        let denials = &self.authority.denials;
        Ok(crate::handler::answer_applied(
            &self.node,
            v1::ListDenialsResponse {
                header: None,
                denials: denials.recent(limit),
                suppressed_total: denials.suppressed_total.load(std::sync::atomic::Ordering::Relaxed),
                node_id: self.node.status().node_id,
            },
        ))
    }

    type WatchAclsStream = WatchStream<v1::AclEvent>;

    async fn watch_acls(
        &self,
        request: Request<v1::WatchAclsRequest>,
    ) -> Result<tonic::Response<Self::WatchAclsStream>, Status> {
        authorize(&request, "")?;
        let slot = WatchSlot::take(&request)?;
        let request = request.into_inner();
        let subject = request.subject.clone();
        let matches = move |name: &str| subject.is_empty() || name == subject;
        check_watch_start(&self.node, request.from_revision)?;
        let (initial, last) = {
            let applied = self.node.state_machine.read();
            if request.from_revision == 0 {
                let revision = applied.state.revision;
                let access = &applied.state.access;
                let subjects: std::collections::BTreeSet<&String> =
                    access.users.keys().chain(access.policies.keys()).filter(|name| matches(name)).collect();
                let events = subjects
                    .into_iter()
                    .map(|name| acl_event(revision, name, access.subject_view(name).as_ref()))
                    .collect();
                (events, revision)
            } else {
                applied.acl_events.since(&matches, request.from_revision, 0).map_err(compacted)?;
                (Vec::new(), request.from_revision)
            }
        };
        let stream = watch_stream(&self.node, slot, initial, last, move |applied, last| {
            let events = applied.acl_events.since(&matches, last, WATCH_BATCH_MAX)?;
            Ok(events
                .into_iter()
                .map(|event| (event.revision, acl_event(event.revision, &event.key, event.payload.as_ref())))
                .collect())
        });
        Ok(tonic::Response::new(stream))
    }
}

/// The wire form of a subject after `revision` (never the token's hash).
fn acl_event(revision: u64, subject: &str, view: Option<&SubjectView>) -> v1::AclEvent {
    v1::AclEvent {
        revision,
        subject: subject.to_string(),
        deleted: view.is_none(),
        user: view.and_then(|view| view.user.as_ref()).map(user_to_wire),
        entries: view.map(|view| view.entries.iter().map(entry_to_wire).collect()).unwrap_or_default(),
    }
}

fn user_to_wire(user: &User) -> v1::User {
    v1::User { name: user.name.clone(), kind: kind_to_wire(user.kind) as i32, enabled: user.enabled }
}
