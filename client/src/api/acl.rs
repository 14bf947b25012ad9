//! Users, tokens and policies (docs/security.md). A token is generated on the caller's side
//! ([`crate::token::generate`]) and only its SHA-256 is sent.

use crate::rpc::acl;
use crate::{Client, ClientError, v1};

impl Client {
    /// Creates a user holding the token whose SHA-256 is `token_sha256`.
    pub async fn add_user(
        &self,
        name: &str,
        kind: v1::UserKind,
        token_sha256: &str,
    ) -> Result<v1::AclChangeResponse, ClientError> {
        let request = v1::AddUserRequest {
            request_id: None,
            name: name.to_string(),
            kind: kind as i32,
            token_sha256: token_sha256.to_string(),
        };
        self.send::<acl::AddUser>(request).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<v1::AclChangeResponse, ClientError> {
        self.send::<acl::DeleteUser>(v1::DeleteUserRequest { request_id: None, name: name.to_string() }).await
    }

    pub async fn set_user_enabled(&self, name: &str, enabled: bool) -> Result<v1::AclChangeResponse, ClientError> {
        let request = v1::SetUserEnabledRequest { request_id: None, name: name.to_string(), enabled };
        self.send::<acl::SetUserEnabled>(request).await
    }

    pub async fn rotate_token(&self, name: &str, token_sha256: &str) -> Result<v1::AclChangeResponse, ClientError> {
        let request =
            v1::RotateTokenRequest { request_id: None, name: name.to_string(), token_sha256: token_sha256.to_string() };
        self.send::<acl::RotateToken>(request).await
    }

    pub async fn list_users(&self) -> Result<v1::ListUsersResponse, ClientError> {
        self.send::<acl::ListUsers>(v1::ListUsersRequest {}).await
    }

    pub async fn grant(&self, subject: &str, entry: v1::PolicyEntry) -> Result<v1::AclChangeResponse, ClientError> {
        let request = v1::GrantRequest { request_id: None, subject: subject.to_string(), entry: Some(entry) };
        self.send::<acl::Grant>(request).await
    }

    pub async fn revoke(&self, subject: &str, entry: v1::PolicyEntry) -> Result<v1::AclChangeResponse, ClientError> {
        let request = v1::RevokeRequest { request_id: None, subject: subject.to_string(), entry: Some(entry) };
        self.send::<acl::Revoke>(request).await
    }

    /// Every policy, or only `subject`'s.
    pub async fn list_policies(&self, subject: &str) -> Result<v1::ListPoliciesResponse, ClientError> {
        self.send::<acl::ListPolicies>(v1::ListPoliciesRequest { subject: subject.to_string() }).await
    }

    pub async fn check_access(&self, request: v1::CheckRequest) -> Result<v1::CheckResponse, ClientError> {
        self.send::<acl::Check>(request).await
    }

    pub async fn who_am_i(&self) -> Result<v1::WhoAmIResponse, ClientError> {
        self.send::<acl::WhoAmI>(v1::WhoAmIRequest {}).await
    }

    /// Users and policies as they change; see [`v1::WatchAclsRequest`] for resuming.
    pub async fn watch_acls(
        &self,
        request: v1::WatchAclsRequest,
    ) -> Result<tonic::Streaming<v1::AclEvent>, ClientError> {
        self.send::<acl::WatchAcls>(request).await
    }

    pub async fn list_denials(&self, limit: u32) -> Result<v1::ListDenialsResponse, ClientError> {
        self.send::<acl::ListDenials>(v1::ListDenialsRequest { limit }).await
    }
}
