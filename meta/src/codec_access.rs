//! Persisted formats of users, policies and ACL commands. Tags and codes are forever: never
//! reuse or renumber one. Enumerations are stored as their text form (`topic`, `prefixed`,
//! `allow`, `pub`, `10.0.0.0/8`), which `meta::access` parses back and never rewords.

use super::DecodeError;
use crate::access::{Action, Cidr, Decision, Pattern, PolicyEntry, Resource, ResourceType, User, UserKind};
use crate::acl::AclOperation;

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    /// `super` or `normal`.
    #[prost(string, tag = "2")]
    pub kind: String,
    #[prost(bool, tag = "3")]
    pub enabled: bool,
    #[prost(string, tag = "4")]
    pub token_sha256: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryRecord {
    /// `cluster`, `topic`, `group` or `namespace`.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource_name: String,
    /// `literal`, `prefixed` or `any`.
    #[prost(string, tag = "3")]
    pub pattern: String,
    #[prost(string, repeated, tag = "4")]
    pub actions: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub source_cidrs: Vec<String>,
    /// `allow` or `deny`.
    #[prost(string, tag = "6")]
    pub decision: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PolicyRecord {
    #[prost(string, tag = "1")]
    pub subject: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Command {
    #[prost(oneof = "Kind", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserName {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SetEnabled {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bool, tag = "2")]
    pub enabled: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Grant {
    #[prost(string, tag = "1")]
    pub subject: String,
    #[prost(message, optional, tag = "2")]
    pub entry: Option<EntryRecord>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// `kind` is always `super`.
    #[prost(message, tag = "1")]
    Bootstrap(UserRecord),
    /// `enabled` is always true.
    #[prost(message, tag = "2")]
    AddUser(UserRecord),
    #[prost(message, tag = "3")]
    DeleteUser(UserName),
    #[prost(message, tag = "4")]
    SetEnabled(SetEnabled),
    /// Only `name` and `token_sha256` are used.
    #[prost(message, tag = "5")]
    RotateToken(UserRecord),
    #[prost(message, tag = "6")]
    Grant(Grant),
    #[prost(message, tag = "7")]
    Revoke(Grant),
}

fn parse<T: std::str::FromStr>(field: &'static str, text: &str) -> Result<T, DecodeError> {
    text.parse().map_err(|_| DecodeError::Malformed(format!("{field}: `{}` is not a known value", text.escape_debug())))
}

pub fn user_to_message(user: &User) -> UserRecord {
    UserRecord {
        name: user.name.clone(),
        kind: user.kind.as_str().to_string(),
        enabled: user.enabled,
        token_sha256: user.token_sha256.clone(),
    }
}

pub fn user_from_message(message: UserRecord) -> Result<User, DecodeError> {
    Ok(User {
        kind: parse::<UserKind>("user.kind", &message.kind)?,
        name: message.name,
        enabled: message.enabled,
        token_sha256: message.token_sha256,
    })
}

pub fn entry_to_message(entry: &PolicyEntry) -> EntryRecord {
    EntryRecord {
        resource_type: entry.resource.kind.as_str().to_string(),
        resource_name: entry.resource.name.clone(),
        pattern: entry.resource.pattern.as_str().to_string(),
        actions: entry.actions.iter().map(|action| action.as_str().to_string()).collect(),
        source_cidrs: entry.source_cidrs.iter().map(ToString::to_string).collect(),
        decision: entry.decision.as_str().to_string(),
    }
}

pub fn entry_from_message(message: EntryRecord) -> Result<PolicyEntry, DecodeError> {
    Ok(PolicyEntry {
        resource: Resource {
            kind: parse::<ResourceType>("entry.resource_type", &message.resource_type)?,
            name: message.resource_name,
            pattern: parse::<Pattern>("entry.pattern", &message.pattern)?,
        },
        actions: message
            .actions
            .iter()
            .map(|action| parse::<Action>("entry.actions", action))
            .collect::<Result<_, _>>()?,
        source_cidrs: message
            .source_cidrs
            .iter()
            .map(|cidr| parse::<Cidr>("entry.source_cidrs", cidr))
            .collect::<Result<_, _>>()?,
        decision: parse::<Decision>("entry.decision", &message.decision)?,
    })
}

pub fn policy_to_message(subject: &str, entries: &[PolicyEntry]) -> PolicyRecord {
    PolicyRecord { subject: subject.to_string(), entries: entries.iter().map(entry_to_message).collect() }
}

pub fn policy_from_message(message: PolicyRecord) -> Result<(String, Vec<PolicyEntry>), DecodeError> {
    let entries = message.entries.into_iter().map(entry_from_message).collect::<Result<_, _>>()?;
    Ok((message.subject, entries))
}

fn user_record(name: &str, kind: UserKind, token_sha256: &str) -> UserRecord {
    UserRecord {
        name: name.to_string(),
        kind: kind.as_str().to_string(),
        enabled: true,
        token_sha256: token_sha256.to_string(),
    }
}

pub fn command_to_message(operation: &AclOperation) -> Command {
    let kind = match operation {
        AclOperation::Bootstrap { name, token_sha256 } => {
            Kind::Bootstrap(user_record(name, UserKind::Super, token_sha256))
        }
        AclOperation::AddUser { name, kind, token_sha256 } => Kind::AddUser(user_record(name, *kind, token_sha256)),
        AclOperation::DeleteUser { name } => Kind::DeleteUser(UserName { name: name.clone() }),
        AclOperation::SetEnabled { name, enabled } => {
            Kind::SetEnabled(SetEnabled { name: name.clone(), enabled: *enabled })
        }
        AclOperation::RotateToken { name, token_sha256 } => {
            Kind::RotateToken(user_record(name, UserKind::Normal, token_sha256))
        }
        AclOperation::Grant { subject, entry } => {
            Kind::Grant(Grant { subject: subject.clone(), entry: Some(entry_to_message(entry)) })
        }
        AclOperation::Revoke { subject, entry } => {
            Kind::Revoke(Grant { subject: subject.clone(), entry: Some(entry_to_message(entry)) })
        }
    };
    Command { kind: Some(kind) }
}

pub fn command_from_message(message: Command) -> Result<AclOperation, DecodeError> {
    let entry = |grant: Grant| -> Result<(String, PolicyEntry), DecodeError> {
        let entry = grant.entry.ok_or(DecodeError::MissingField("acl.grant.entry"))?;
        Ok((grant.subject, entry_from_message(entry)?))
    };
    Ok(match message.kind.ok_or(DecodeError::MissingField("acl.kind"))? {
        Kind::Bootstrap(user) => AclOperation::Bootstrap { name: user.name, token_sha256: user.token_sha256 },
        Kind::AddUser(user) => AclOperation::AddUser {
            kind: parse::<UserKind>("acl.add_user.kind", &user.kind)?,
            name: user.name,
            token_sha256: user.token_sha256,
        },
        Kind::DeleteUser(user) => AclOperation::DeleteUser { name: user.name },
        Kind::SetEnabled(set) => AclOperation::SetEnabled { name: set.name, enabled: set.enabled },
        Kind::RotateToken(user) => AclOperation::RotateToken { name: user.name, token_sha256: user.token_sha256 },
        Kind::Grant(grant) => {
            let (subject, entry) = entry(grant)?;
            AclOperation::Grant { subject, entry }
        }
        Kind::Revoke(grant) => {
            let (subject, entry) = entry(grant)?;
            AclOperation::Revoke { subject, entry }
        }
    })
}
