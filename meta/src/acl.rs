//! Users and policies as commands: how the access-control part of the replicated state
//! ([`crate::access::AccessState`]) changes. The decision itself is [`crate::access::evaluate`].
//!
//! Tokens never enter the log: a command carries the SHA-256 of a token (lowercase hex), and a
//! token authenticates as the one user holding its hash. Two rules keep an operator from locking
//! everyone out: the last enabled super user cannot be deleted or disabled, and the first user
//! (the root, created when a cluster starts) is created only while no user exists.

use crate::access::{self, AccessError, PolicyEntry, User, UserKind};
use crate::apply::{Change, settle};
use crate::state::{CommandError, Response, State};

/// Most users the state holds.
pub const USERS_MAX: usize = 1_024;
/// The name of the user a new cluster creates for its operator.
pub const ROOT_USER: &str = "root";

/// A change to users or policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclOperation {
    /// Creates the first (super) user; refused once any user exists.
    Bootstrap {
        name: String,
        token_sha256: String,
    },
    AddUser {
        name: String,
        kind: UserKind,
        token_sha256: String,
    },
    /// Deletes the user and its policy.
    DeleteUser {
        name: String,
    },
    SetEnabled {
        name: String,
        enabled: bool,
    },
    RotateToken {
        name: String,
        token_sha256: String,
    },
    Grant {
        subject: String,
        entry: PolicyEntry,
    },
    Revoke {
        subject: String,
        entry: PolicyEntry,
    },
}

impl AclOperation {
    /// Short name for logs, metrics and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            AclOperation::Bootstrap { .. } => "acl_bootstrap",
            AclOperation::AddUser { .. } => "acl_add_user",
            AclOperation::DeleteUser { .. } => "acl_delete_user",
            AclOperation::SetEnabled { enabled: true, .. } => "acl_enable_user",
            AclOperation::SetEnabled { enabled: false, .. } => "acl_disable_user",
            AclOperation::RotateToken { .. } => "acl_rotate_token",
            AclOperation::Grant { .. } => "acl_grant",
            AclOperation::Revoke { .. } => "acl_revoke",
        }
    }

    /// What the operation acts on, for the audit log (never a token or its hash).
    pub fn target(&self) -> String {
        match self {
            AclOperation::Bootstrap { name, .. }
            | AclOperation::AddUser { name, .. }
            | AclOperation::DeleteUser { name }
            | AclOperation::SetEnabled { name, .. }
            | AclOperation::RotateToken { name, .. } => format!("user {name}"),
            AclOperation::Grant { subject, entry } | AclOperation::Revoke { subject, entry } => {
                format!("user {subject}: {}", describe_entry(entry))
            }
        }
    }
}

/// `allow get,list on topic:orders-* from 10.0.0.0/8`.
pub fn describe_entry(entry: &PolicyEntry) -> String {
    let actions: Vec<&str> = entry.actions.iter().map(|action| action.as_str()).collect();
    let mut text = format!("{} {} on {}", entry.decision, actions.join(","), entry.resource);
    if !entry.source_cidrs.is_empty() {
        let cidrs: Vec<String> = entry.source_cidrs.iter().map(ToString::to_string).collect();
        text.push_str(&format!(" from {}", cidrs.join(",")));
    }
    text
}

/// Checks a token hash: 64 lowercase hex digits.
pub fn validate_token_sha256(token_sha256: &str) -> Result<(), CommandError> {
    let hex = token_sha256.len() == 64 && token_sha256.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
    if hex {
        Ok(())
    } else {
        Err(CommandError::InvalidAcl { reason: "a token hash must be 64 lowercase hex digits (SHA-256)".into() })
    }
}

fn invalid(error: AccessError) -> CommandError {
    CommandError::InvalidAcl { reason: error.to_string() }
}

/// The checks that need no state (run by the leader before proposing, and again at apply).
pub fn validate(operation: &AclOperation) -> Result<(), CommandError> {
    match operation {
        AclOperation::Bootstrap { name, token_sha256 }
        | AclOperation::AddUser { name, token_sha256, .. }
        | AclOperation::RotateToken { name, token_sha256 } => {
            access::validate_user_name(name).map_err(invalid)?;
            validate_token_sha256(token_sha256)
        }
        AclOperation::DeleteUser { name } | AclOperation::SetEnabled { name, .. } => {
            access::validate_user_name(name).map_err(invalid)
        }
        AclOperation::Grant { subject, entry } | AclOperation::Revoke { subject, entry } => {
            access::validate_user_name(subject).map_err(invalid)?;
            entry.validate().map_err(invalid)
        }
    }
}

/// Whether `operation` would be accepted by the current `state`, without changing it: the leader
/// asks before proposing, so a request refused for the state it finds takes no log entry.
pub fn dry_run(state: &State, operation: &AclOperation) -> Result<(), CommandError> {
    validate(operation)?;
    let mut scratch = State { access: state.access.clone(), ..State::default() };
    scratch.rebuild_token_index();
    change(&mut scratch, operation, &mut Vec::new())
}

/// Applies an ACL operation committed at `index`.
pub(crate) fn execute(state: &mut State, index: u64, operation: &AclOperation, changes: &mut Vec<Change>) -> Response {
    let result = validate(operation).and_then(|()| change(state, operation, changes));
    let response = settle(state, index, result.map(|()| Response::AclChanged { revision: index }), changes);
    state.rebuild_token_index();
    match response {
        // Nothing changed (a grant already held): the revision stays.
        Response::AclChanged { .. } if changes.is_empty() => Response::AclChanged { revision: state.revision },
        other => other,
    }
}

fn change(state: &mut State, operation: &AclOperation, changes: &mut Vec<Change>) -> Result<(), CommandError> {
    let access = &mut state.access;
    match operation {
        AclOperation::Bootstrap { name, token_sha256 } => {
            if !access.users.is_empty() {
                return Err(CommandError::AclBootstrapped);
            }
            put_user(
                state,
                User { name: name.clone(), kind: UserKind::Super, enabled: true, token_sha256: token_sha256.clone() },
                changes,
            );
        }
        AclOperation::AddUser { name, kind, token_sha256 } => {
            if access.users.contains_key(name) {
                return Err(CommandError::UserExists { name: name.clone() });
            }
            if access.users.len() >= USERS_MAX {
                return Err(CommandError::TooManyUsers { max: USERS_MAX as u64 });
            }
            check_token_unused(state, name, token_sha256)?;
            let user = User { name: name.clone(), kind: *kind, enabled: true, token_sha256: token_sha256.clone() };
            put_user(state, user, changes);
        }
        AclOperation::DeleteUser { name } => {
            known_user(state, name)?;
            check_not_last_super_user(state, name)?;
            state.access.users.remove(name);
            changes.push(Change::UserDelete { name: name.clone() });
            if state.access.policies.remove(name).is_some() {
                changes.push(Change::PolicyDelete { subject: name.clone() });
            }
        }
        AclOperation::SetEnabled { name, enabled } => {
            let mut user = known_user(state, name)?.clone();
            if !enabled {
                check_not_last_super_user(state, name)?;
            }
            if user.enabled != *enabled {
                user.enabled = *enabled;
                put_user(state, user, changes);
            }
        }
        AclOperation::RotateToken { name, token_sha256 } => {
            let mut user = known_user(state, name)?.clone();
            check_token_unused(state, name, token_sha256)?;
            user.token_sha256 = token_sha256.clone();
            put_user(state, user, changes);
        }
        AclOperation::Grant { subject, entry } => {
            known_user(state, subject)?;
            let added = state.access.grant(subject, entry.clone()).map_err(|error| match error {
                AccessError::TooManyEntries { max, .. } => {
                    CommandError::TooManyPolicyEntries { subject: subject.clone(), max: max as u64 }
                }
                other => invalid(other),
            })?;
            if added {
                put_policy(state, subject, changes);
            }
        }
        AclOperation::Revoke { subject, entry } => {
            known_user(state, subject)?;
            state
                .access
                .revoke(subject, entry)
                .map_err(|_| CommandError::UnknownPolicyEntry { subject: subject.clone() })?;
            put_policy(state, subject, changes);
        }
    }
    Ok(())
}

fn known_user<'a>(state: &'a State, name: &str) -> Result<&'a User, CommandError> {
    state.access.users.get(name).ok_or_else(|| CommandError::UnknownUser { name: name.to_string() })
}

/// A token authenticates as one user only: refuse a hash another user holds.
fn check_token_unused(state: &State, name: &str, token_sha256: &str) -> Result<(), CommandError> {
    match state.user_by_token(token_sha256) {
        Some(holder) if holder.name != name => Err(CommandError::TokenInUse),
        _ => Ok(()),
    }
}

/// Refuses to delete or disable the last enabled super user: nobody could manage ACLs after it.
fn check_not_last_super_user(state: &State, name: &str) -> Result<(), CommandError> {
    let is_enabled_super = |user: &User| user.kind == UserKind::Super && user.enabled;
    let Some(user) = state.access.users.get(name) else { return Ok(()) };
    let others = state.access.users.values().filter(|other| other.name != name && is_enabled_super(other)).count();
    if is_enabled_super(user) && others == 0 {
        return Err(CommandError::LastSuperUser { name: name.to_string() });
    }
    Ok(())
}

fn put_user(state: &mut State, user: User, changes: &mut Vec<Change>) {
    state.access.users.insert(user.name.clone(), user.clone());
    changes.push(Change::UserPut { user });
}

/// Records the subject's policy as it now is (deleted once it holds no entry).
fn put_policy(state: &State, subject: &str, changes: &mut Vec<Change>) {
    let entries = state.access.entries(subject);
    if entries.is_empty() {
        changes.push(Change::PolicyDelete { subject: subject.to_string() });
    } else {
        changes.push(Change::PolicyPut { subject: subject.to_string(), entries: entries.to_vec() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Action, Decision, Resource, ResourceType};
    use crate::command::{Command, Operation};

    const TOKEN_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TOKEN_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const TOKEN_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn run(state: &mut State, operation: AclOperation) -> Response {
        let index = state.revision.max(state.audit.keys().last().copied().unwrap_or(0)) + 1;
        let command =
            Command { request_id: None, issued_at_ms: 1, actor: "test".into(), operation: Operation::Acl(operation) };
        crate::apply(state, index, &command).response
    }

    fn bootstrapped() -> State {
        let mut state = State::default();
        let response =
            run(&mut state, AclOperation::Bootstrap { name: ROOT_USER.into(), token_sha256: TOKEN_A.into() });
        assert!(matches!(response, Response::AclChanged { .. }), "{response:?}");
        state
    }

    fn topic_entry() -> PolicyEntry {
        PolicyEntry {
            resource: Resource::literal(ResourceType::Topic, "orders"),
            actions: vec![Action::Pub],
            source_cidrs: Vec::new(),
            decision: Decision::Allow,
        }
    }

    #[test]
    fn the_root_is_created_once_and_authenticates_by_its_token_hash() {
        let mut state = bootstrapped();
        assert_eq!(state.user_by_token(TOKEN_A).map(|user| user.name.as_str()), Some(ROOT_USER));
        let again = run(&mut state, AclOperation::Bootstrap { name: "other".into(), token_sha256: TOKEN_B.into() });
        assert_eq!(again, Response::Error(CommandError::AclBootstrapped));
        assert_eq!(state.access.users.len(), 1);
        assert_eq!(state.user_by_token(TOKEN_B), None);
    }

    #[test]
    fn the_last_enabled_super_user_can_be_neither_deleted_nor_disabled() {
        let mut state = bootstrapped();
        let last = Response::Error(CommandError::LastSuperUser { name: ROOT_USER.into() });
        assert_eq!(run(&mut state, AclOperation::DeleteUser { name: ROOT_USER.into() }), last);
        assert_eq!(run(&mut state, AclOperation::SetEnabled { name: ROOT_USER.into(), enabled: false }), last);
        let add = AclOperation::AddUser { name: "admin".into(), kind: UserKind::Super, token_sha256: TOKEN_B.into() };
        assert!(matches!(run(&mut state, add), Response::AclChanged { .. }));
        assert!(matches!(
            run(&mut state, AclOperation::SetEnabled { name: ROOT_USER.into(), enabled: false }),
            Response::AclChanged { .. }
        ));
        assert_eq!(
            run(&mut state, AclOperation::DeleteUser { name: "admin".into() }),
            Response::Error(CommandError::LastSuperUser { name: "admin".into() })
        );
    }

    #[test]
    fn a_token_hash_belongs_to_one_user_and_rotation_replaces_it() {
        let mut state = bootstrapped();
        let clash = AclOperation::AddUser { name: "app".into(), kind: UserKind::Normal, token_sha256: TOKEN_A.into() };
        assert_eq!(run(&mut state, clash), Response::Error(CommandError::TokenInUse));
        let add = AclOperation::AddUser { name: "app".into(), kind: UserKind::Normal, token_sha256: TOKEN_B.into() };
        assert!(matches!(run(&mut state, add), Response::AclChanged { .. }));
        let rotate = AclOperation::RotateToken { name: "app".into(), token_sha256: TOKEN_C.into() };
        assert!(matches!(run(&mut state, rotate), Response::AclChanged { .. }));
        assert_eq!(state.user_by_token(TOKEN_B), None, "the old token no longer authenticates");
        assert_eq!(state.user_by_token(TOKEN_C).map(|user| user.name.as_str()), Some("app"));
    }

    #[test]
    fn grants_and_revokes_change_the_policy_and_deleting_a_user_drops_it() {
        let mut state = bootstrapped();
        let add = AclOperation::AddUser { name: "app".into(), kind: UserKind::Normal, token_sha256: TOKEN_B.into() };
        run(&mut state, add);
        let grant = AclOperation::Grant { subject: "app".into(), entry: topic_entry() };
        let Response::AclChanged { revision: granted } = run(&mut state, grant.clone()) else { panic!("granted") };
        assert_eq!(state.access.entries("app"), [topic_entry()]);
        // The same grant again changes nothing, not even the revision.
        assert_eq!(run(&mut state, grant), Response::AclChanged { revision: granted });
        let revoke = AclOperation::Revoke { subject: "app".into(), entry: topic_entry() };
        assert!(matches!(run(&mut state, revoke.clone()), Response::AclChanged { .. }));
        assert!(state.access.entries("app").is_empty());
        assert_eq!(
            run(&mut state, revoke),
            Response::Error(CommandError::UnknownPolicyEntry { subject: "app".into() })
        );
        run(&mut state, AclOperation::Grant { subject: "app".into(), entry: topic_entry() });
        assert!(matches!(
            run(&mut state, AclOperation::DeleteUser { name: "app".into() }),
            Response::AclChanged { .. }
        ));
        assert!(state.access.policies.is_empty());
        assert_eq!(state.user_by_token(TOKEN_B), None);
    }

    #[test]
    fn refusals_change_nothing_but_the_audit_log() {
        let mut state = bootstrapped();
        let before = state.clone();
        for operation in [
            AclOperation::Grant { subject: "ghost".into(), entry: topic_entry() },
            AclOperation::DeleteUser { name: "ghost".into() },
            AclOperation::AddUser { name: "bad name".into(), kind: UserKind::Normal, token_sha256: TOKEN_B.into() },
            AclOperation::AddUser { name: "app".into(), kind: UserKind::Normal, token_sha256: "ABC".into() },
        ] {
            assert!(matches!(run(&mut state, operation), Response::Error(_)));
        }
        assert_eq!(state.access, before.access);
        assert_eq!(state.revision, before.revision);
    }
}
