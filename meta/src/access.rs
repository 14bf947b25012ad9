//! Access control: users, policies and the pure decision "may this subject do this action on this
//! resource from this address?" (the shape of RocketMQ ACL 2.0).
//!
//! # The model
//!
//! - A [`User`] is a named subject with a hashed token. A [`UserKind::Super`] user may do
//!   everything; a [`UserKind::Normal`] user may do only what its policy entries allow. A disabled
//!   user may do nothing, super or not.
//! - A subject's policy is a list of [`PolicyEntry`]s. Each names a [`Resource`] pattern, the
//!   [`Action`]s it covers ([`Action::All`] covers every action), the source networks it applies
//!   to ([`Cidr`]s; none means any source) and a [`Decision`] (allow or deny).
//! - A resource pattern has a text form, `type:name`: `topic:orders` is the literal topic
//!   `orders`, `topic:orders-*` every topic whose name starts with `orders-` (the only wildcard is
//!   a single trailing `*`), `topic:*` every topic. The coordinator-wide resource is
//!   [`ResourceType::Cluster`] with the empty name; only `cluster:*` (or a prefixed pattern with an
//!   empty prefix) matches it, never a literal.
//!
//! # The decision ([`evaluate`]), in order
//!
//! 1. An unknown subject is denied.
//! 2. A disabled user is denied (even a super user).
//! 3. A super user is allowed.
//! 4. Otherwise the subject's entries that *match* the request are collected: same resource type,
//!    pattern matches the name, action covered, and the source address inside one of the entry's
//!    CIDRs (an entry without CIDRs matches any source, one with CIDRs never matches a request
//!    without a source address). The **most specific** match decides: a literal beats any prefix,
//!    a longer prefix beats a shorter one, a prefix beats `*`. Among equally specific matches a
//!    deny wins. No match at all is a deny: access is closed by default.
//!
//! An IPv4-mapped IPv6 source (`::ffff:a.b.c.d`) is matched against IPv4 CIDRs as its IPv4
//! address; otherwise IPv4 and IPv6 never match each other.
//!
//! Everything here is pure (no I/O, no clock), so the state machine can use it as is.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::limits;

/// Most policy entries one subject may hold.
pub const ENTRIES_PER_SUBJECT_MAX: usize = 128;
/// Most source CIDRs one policy entry may carry.
pub const CIDRS_PER_ENTRY_MAX: usize = 16;
/// Longest user name, in bytes.
pub const USER_NAME_BYTES_MAX: usize = 64;
/// Longest resource name (or prefix), in bytes.
pub const RESOURCE_NAME_BYTES_MAX: usize = limits::NAME_BYTES_MAX;
/// Characters of user input echoed back in an error message at most.
const ECHO_CHARS_MAX: usize = 64;

/// Why an access-control value was refused. Messages echo at most 64 characters of any input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("resource `{text}` has no type: expected `type:name`")]
    MissingResourceType { text: String },
    #[error("unknown resource type `{text}`: expected cluster, topic, group or namespace")]
    UnknownResourceType { text: String },
    #[error("resource name is empty: name a resource, or use `*` for all of them")]
    EmptyResourceName,
    #[error("resource name `{name}` has a `*` that is not its last character")]
    MisplacedWildcard { name: String },
    #[error("resource name is {bytes} bytes, the limit is {max}")]
    ResourceNameTooLong { bytes: usize, max: usize },
    #[error("a resource with pattern any carries no name, found `{name}`")]
    NameOnAnyPattern { name: String },
    #[error("a prefixed resource needs a non-empty prefix: use `type:*` for all resources of a type")]
    EmptyPrefix,
    #[error("unknown pattern `{text}`: expected literal, prefixed or any")]
    UnknownPattern { text: String },
    #[error("unknown action `{text}`")]
    UnknownAction { text: String },
    #[error("unknown decision `{text}`: expected allow or deny")]
    UnknownDecision { text: String },
    #[error("unknown user kind `{text}`: expected super or normal")]
    UnknownUserKind { text: String },
    #[error("invalid CIDR `{text}`: {reason}")]
    InvalidCidr { text: String, reason: &'static str },
    #[error("invalid user name `{name}`: {reason}")]
    InvalidUserName { name: String, reason: &'static str },
    #[error("user `{name}` is unknown")]
    UnknownUser { name: String },
    #[error("user `{subject}` has no such policy entry")]
    UnknownEntry { subject: String },
    #[error("a policy entry needs at least one action")]
    NoActions,
    #[error("a policy entry has {count} source CIDRs, the limit is {max}")]
    TooManyCidrs { count: usize, max: usize },
    #[error("user `{subject}` already has {max} policy entries, the limit")]
    TooManyEntries { subject: String, max: usize },
}

/// `text` as it may appear in an error message: at most 64 characters (then "…"), control
/// characters escaped so the message stays one line.
fn echo(text: &str) -> String {
    let mut out: String = text.chars().take(ECHO_CHARS_MAX).flat_map(char::escape_debug).collect();
    if text.chars().nth(ECHO_CHARS_MAX).is_some() {
        out.push('…');
    }
    out
}

/// Implements `Display` (through `as_str`) and `FromStr` (the inverse of `as_str`) for a
/// field-less enum whose every value is listed in `$all`.
macro_rules! text_enum {
    ($type:ident, $all:expr, $error:ident) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = AccessError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $all.iter()
                    .copied()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| AccessError::$error { text: echo(text) })
            }
        }
    };
}

/// Whether a user bypasses policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserKind {
    /// May do everything (while enabled); policies are not consulted.
    Super,
    /// May do only what its policy entries allow.
    Normal,
}

impl UserKind {
    /// Every kind, in declaration order.
    pub const ALL: [UserKind; 2] = [UserKind::Super, UserKind::Normal];

    /// `super` or `normal`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Super => "super",
            UserKind::Normal => "normal",
        }
    }
}

text_enum!(UserKind, UserKind::ALL, UnknownUserKind);

/// A subject that can authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub kind: UserKind,
    /// A disabled user is denied everything, even a super user.
    pub enabled: bool,
    /// SHA-256 of the user's token, lowercase hex. The token itself is never stored.
    pub token_sha256: String,
}

/// What kind of thing a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// The coordinator itself (name `""`) or a broker cluster.
    Cluster,
    Topic,
    /// A consumer group.
    Group,
    Namespace,
}

impl ResourceType {
    /// Every type, in declaration order.
    pub const ALL: [ResourceType; 4] =
        [ResourceType::Cluster, ResourceType::Topic, ResourceType::Group, ResourceType::Namespace];

    /// `cluster`, `topic`, `group` or `namespace`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Cluster => "cluster",
            ResourceType::Topic => "topic",
            ResourceType::Group => "group",
            ResourceType::Namespace => "namespace",
        }
    }
}

text_enum!(ResourceType, ResourceType::ALL, UnknownResourceType);

/// How a resource pattern's name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// The name exactly (never the empty name).
    Literal,
    /// Every name starting with the pattern's name.
    Prefixed,
    /// Every name of the type, the empty one included.
    Any,
}

impl Pattern {
    /// Every pattern, in declaration order.
    pub const ALL: [Pattern; 3] = [Pattern::Literal, Pattern::Prefixed, Pattern::Any];

    /// `literal`, `prefixed` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Literal => "literal",
            Pattern::Prefixed => "prefixed",
            Pattern::Any => "any",
        }
    }
}

text_enum!(Pattern, Pattern::ALL, UnknownPattern);

/// How specific a matching pattern is; the greater one decides. Literal > prefixed (longer prefix
/// first) > any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    Any,
    Prefixed { prefix_bytes: usize },
    Literal,
}

/// A resource pattern of a policy entry. Text form `type:name`, `type:prefix*` or `type:*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    pub kind: ResourceType,
    /// The literal name, or the prefix (without the `*`); empty for [`Pattern::Any`].
    pub name: String,
    pub pattern: Pattern,
}

impl Resource {
    /// The single resource `kind:name`.
    pub fn literal(kind: ResourceType, name: impl Into<String>) -> Resource {
        Resource { kind, name: name.into(), pattern: Pattern::Literal }
    }

    /// Every resource of `kind` whose name starts with `prefix`.
    pub fn prefixed(kind: ResourceType, prefix: impl Into<String>) -> Resource {
        Resource { kind, name: prefix.into(), pattern: Pattern::Prefixed }
    }

    /// Every resource of `kind`.
    pub fn any(kind: ResourceType) -> Resource {
        Resource { kind, name: String::new(), pattern: Pattern::Any }
    }

    /// Whether this pattern matches the resource `kind:name`.
    pub fn matches(&self, kind: ResourceType, name: &str) -> bool {
        self.kind == kind
            && match self.pattern {
                Pattern::Literal => !name.is_empty() && self.name == name,
                Pattern::Prefixed => name.starts_with(self.name.as_str()),
                Pattern::Any => true,
            }
    }

    /// Checks what the text form guarantees, for a resource built in code: a non-empty literal
    /// name or prefix without `*`, at most [`RESOURCE_NAME_BYTES_MAX`] bytes, no name on `any`.
    pub fn validate(&self) -> Result<(), AccessError> {
        match self.pattern {
            Pattern::Any if !self.name.is_empty() => Err(AccessError::NameOnAnyPattern { name: echo(&self.name) }),
            Pattern::Any => Ok(()),
            Pattern::Prefixed if self.name.is_empty() => Err(AccessError::EmptyPrefix),
            Pattern::Literal | Pattern::Prefixed => validate_resource_name(&self.name),
        }
    }

    fn specificity(&self) -> Specificity {
        match self.pattern {
            Pattern::Literal => Specificity::Literal,
            Pattern::Prefixed => Specificity::Prefixed { prefix_bytes: self.name.len() },
            Pattern::Any => Specificity::Any,
        }
    }
}

/// A literal name or a prefix: non-empty, no `*`, bounded.
fn validate_resource_name(name: &str) -> Result<(), AccessError> {
    if name.is_empty() {
        return Err(AccessError::EmptyResourceName);
    }
    if name.len() > RESOURCE_NAME_BYTES_MAX {
        return Err(AccessError::ResourceNameTooLong { bytes: name.len(), max: RESOURCE_NAME_BYTES_MAX });
    }
    if name.contains('*') {
        return Err(AccessError::MisplacedWildcard { name: echo(name) });
    }
    Ok(())
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pattern {
            Pattern::Literal => write!(f, "{}:{}", self.kind, self.name),
            Pattern::Prefixed => write!(f, "{}:{}*", self.kind, self.name),
            Pattern::Any => write!(f, "{}:*", self.kind),
        }
    }
}

impl FromStr for Resource {
    type Err = AccessError;

    /// `topic:orders` (literal), `topic:orders-*` (prefixed `orders-`), `topic:*` (any).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, name) = text.split_once(':').ok_or_else(|| AccessError::MissingResourceType { text: echo(text) })?;
        let kind: ResourceType = kind.parse()?;
        if name == "*" {
            return Ok(Resource::any(kind));
        }
        let resource = match name.strip_suffix('*') {
            Some(prefix) => Resource::prefixed(kind, prefix),
            None => Resource::literal(kind, name),
        };
        validate_resource_name(&resource.name).map_err(|error| match error {
            // Report the name as written, `*` included.
            AccessError::MisplacedWildcard { .. } => AccessError::MisplacedWildcard { name: echo(name) },
            other => other,
        })?;
        Ok(resource)
    }
}

/// Something a subject may do. [`Action::All`] in a policy entry covers every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Get,
    List,
    Create,
    Update,
    Delete,
    /// Publish messages.
    Pub,
    /// Subscribe / consume.
    Sub,
    /// Register a broker.
    Register,
    Failover,
    /// Disaster-recovery operations.
    Dr,
    Admin,
    /// Manage users and policies.
    Acl,
    /// Read the audit log.
    Audit,
    /// Every action (in a policy entry).
    All,
}

impl Action {
    /// Every action, [`Action::All`] included, in declaration order.
    pub const ALL_ACTIONS: [Action; 14] = [
        Action::Get,
        Action::List,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Pub,
        Action::Sub,
        Action::Register,
        Action::Failover,
        Action::Dr,
        Action::Admin,
        Action::Acl,
        Action::Audit,
        Action::All,
    ];

    /// The lowercase name: `get`, `pub`, `failover`, `all`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Pub => "pub",
            Action::Sub => "sub",
            Action::Register => "register",
            Action::Failover => "failover",
            Action::Dr => "dr",
            Action::Admin => "admin",
            Action::Acl => "acl",
            Action::Audit => "audit",
            Action::All => "all",
        }
    }
}

text_enum!(Action, Action::ALL_ACTIONS, UnknownAction);

/// What a matching policy entry decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    /// Both decisions.
    pub const ALL: [Decision; 2] = [Decision::Allow, Decision::Deny];

    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

text_enum!(Decision, Decision::ALL, UnknownDecision);

/// A network, `address/prefix_len`. Text form `10.0.0.0/8`, `fd00::/8`; a bare address is the
/// network of that one address (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address (parsing refuses host bits set after the prefix).
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. IPv4 and IPv6 never match each other, except that an
    /// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is matched against an IPv4 network as its IPv4
    /// address. A prefix length longer than the address (possible only for a `Cidr` built in
    /// code) matches nothing.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.prefix_len > max_prefix_len(self.address) {
            return false;
        }
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => same_prefix_v4(network.to_bits(), ip.to_bits(), self.prefix_len),
            (IpAddr::V4(network), IpAddr::V6(ip)) => {
                ip.to_ipv4_mapped().is_some_and(|ip| same_prefix_v4(network.to_bits(), ip.to_bits(), self.prefix_len))
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => same_prefix_v6(network.to_bits(), ip.to_bits(), self.prefix_len),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    /// Checks what parsing guarantees, for a `Cidr` built in code: a prefix no longer than the
    /// address and no host bits set.
    pub fn validate(&self) -> Result<(), AccessError> {
        let invalid = |reason| Err(AccessError::InvalidCidr { text: self.to_string(), reason });
        if self.prefix_len > max_prefix_len(self.address) {
            return invalid("prefix length is longer than the address");
        }
        if !self.host_bits_clear() {
            return invalid("address has bits set after the prefix");
        }
        Ok(())
    }

    fn host_bits_clear(&self) -> bool {
        match self.address {
            IpAddr::V4(network) => network.to_bits() & !mask_v4(self.prefix_len) == 0,
            IpAddr::V6(network) => network.to_bits() & !mask_v6(self.prefix_len) == 0,
        }
    }
}

/// 32 for IPv4, 128 for IPv6.
fn max_prefix_len(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The top `prefix_len` bits set (`prefix_len` at most 32).
fn mask_v4(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        len => u32::MAX << (32 - u32::from(len.min(32))),
    }
}

/// The top `prefix_len` bits set (`prefix_len` at most 128).
fn mask_v6(prefix_len: u8) -> u128 {
    match prefix_len {
        0 => 0,
        len => u128::MAX << (128 - u32::from(len.min(128))),
    }
}

fn same_prefix_v4(a: u32, b: u32, prefix_len: u8) -> bool {
    (a ^ b) & mask_v4(prefix_len) == 0
}

fn same_prefix_v6(a: u128, b: u128, prefix_len: u8) -> bool {
    (a ^ b) & mask_v6(prefix_len) == 0
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = AccessError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| AccessError::InvalidCidr { text: echo(text), reason };
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid("not an IP address"))?;
        let max = max_prefix_len(address);
        let prefix_len = match prefix {
            None => max,
            Some(prefix) => parse_prefix_len(prefix).ok_or_else(|| invalid("prefix length is not a number"))?,
        };
        if prefix_len > max {
            return Err(invalid("prefix length is longer than the address"));
        }
        let cidr = Cidr { address, prefix_len };
        if !cidr.host_bits_clear() {
            return Err(invalid("address has bits set after the prefix"));
        }
        Ok(cidr)
    }
}

/// One to three decimal digits (no sign, no spaces).
fn parse_prefix_len(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One rule of a subject's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    pub resource: Resource,
    /// The actions covered; [`Action::All`] covers every action.
    pub actions: Vec<Action>,
    /// The sources the entry applies to; empty means any source.
    pub source_cidrs: Vec<Cidr>,
    pub decision: Decision,
}

impl PolicyEntry {
    /// Whether the entry covers `action` (it lists it, or lists [`Action::All`]).
    pub fn covers(&self, action: Action) -> bool {
        self.actions.iter().any(|&listed| listed == action || listed == Action::All)
    }

    /// Whether the entry applies to a request from `source`: any source if it has no CIDRs,
    /// else only a known source inside one of them.
    pub fn admits_source(&self, source: Option<IpAddr>) -> bool {
        if self.source_cidrs.is_empty() {
            return true;
        }
        source.is_some_and(|ip| self.source_cidrs.iter().any(|cidr| cidr.contains(ip)))
    }

    /// Whether the entry applies to `request` (its subject aside).
    pub fn matches(&self, request: &AccessRequest<'_>) -> bool {
        self.resource.matches(request.kind, request.name)
            && self.covers(request.action)
            && self.admits_source(request.source)
    }

    /// Checks the entry can be stored: a valid resource, 1 or more actions, at most
    /// [`CIDRS_PER_ENTRY_MAX`] valid CIDRs.
    pub fn validate(&self) -> Result<(), AccessError> {
        self.resource.validate()?;
        if self.actions.is_empty() {
            return Err(AccessError::NoActions);
        }
        if self.source_cidrs.len() > CIDRS_PER_ENTRY_MAX {
            return Err(AccessError::TooManyCidrs { count: self.source_cidrs.len(), max: CIDRS_PER_ENTRY_MAX });
        }
        self.source_cidrs.iter().try_for_each(Cidr::validate)
    }

    /// The same entry with its actions and CIDRs sorted and deduplicated, the form it is stored
    /// in (so `pub,sub` and `sub,pub` are the same entry).
    pub fn normalized(mut self) -> PolicyEntry {
        self.actions.sort_unstable();
        self.actions.dedup();
        self.source_cidrs.sort_unstable();
        self.source_cidrs.dedup();
        self
    }
}

/// A subject and its entries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub subject: String,
    pub entries: Vec<PolicyEntry>,
}

/// What a subject is allowed, as ACL watchers see it: its user (if it exists) and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectView {
    pub user: Option<User>,
    pub entries: Vec<PolicyEntry>,
}

/// The access-control part of the replicated state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessState {
    /// User name -> user.
    pub users: BTreeMap<String, User>,
    /// Subject (user name) -> its entries, in grant order. A subject without entries has no key.
    pub policies: BTreeMap<String, Vec<PolicyEntry>>,
}

impl AccessState {
    /// The entries of `subject`, in grant order (empty if it has none).
    pub fn entries(&self, subject: &str) -> &[PolicyEntry] {
        self.policies.get(subject).map_or(&[], Vec::as_slice)
    }

    /// `subject`'s user and entries; `None` when it has neither.
    pub fn subject_view(&self, subject: &str) -> Option<SubjectView> {
        let user = self.users.get(subject).cloned();
        let entries = self.entries(subject).to_vec();
        (user.is_some() || !entries.is_empty()).then_some(SubjectView { user, entries })
    }

    /// The policy of `subject`.
    pub fn policy(&self, subject: &str) -> Policy {
        Policy { subject: subject.to_string(), entries: self.entries(subject).to_vec() }
    }

    /// Adds `entry` (normalized, see [`PolicyEntry::normalized`]) to the policy of `subject`.
    /// `Ok(false)` if the subject holds the same entry already (nothing changes). Refused if the
    /// subject is not a known user, the entry is invalid ([`PolicyEntry::validate`]) or the
    /// subject holds [`ENTRIES_PER_SUBJECT_MAX`] entries already.
    pub fn grant(&mut self, subject: &str, entry: PolicyEntry) -> Result<bool, AccessError> {
        if !self.users.contains_key(subject) {
            return Err(AccessError::UnknownUser { name: echo(subject) });
        }
        entry.validate()?;
        let entry = entry.normalized();
        let entries = self.entries(subject);
        if entries.contains(&entry) {
            return Ok(false);
        }
        if entries.len() >= ENTRIES_PER_SUBJECT_MAX {
            return Err(AccessError::TooManyEntries { subject: echo(subject), max: ENTRIES_PER_SUBJECT_MAX });
        }
        self.policies.entry(subject.to_string()).or_default().push(entry);
        Ok(true)
    }

    /// Removes the entry equal to `entry` (after normalization) from the policy of `subject`,
    /// dropping the subject's policy once it is empty. Refused with [`AccessError::UnknownEntry`]
    /// if the subject holds no such entry.
    pub fn revoke(&mut self, subject: &str, entry: &PolicyEntry) -> Result<(), AccessError> {
        let entry = entry.clone().normalized();
        let unknown = || AccessError::UnknownEntry { subject: echo(subject) };
        let entries = self.policies.get_mut(subject).ok_or_else(unknown)?;
        let position = entries.iter().position(|held| *held == entry).ok_or_else(unknown)?;
        entries.remove(position);
        if entries.is_empty() {
            self.policies.remove(subject);
        }
        Ok(())
    }
}

/// Checks a user name: 1 to 64 bytes of `A-Z a-z 0-9 . _ -`.
pub fn validate_user_name(name: &str) -> Result<(), AccessError> {
    let invalid = |reason| Err(AccessError::InvalidUserName { name: echo(name), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > USER_NAME_BYTES_MAX {
        return invalid("it is longer than 64 bytes");
    }
    if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')) {
        return invalid("only letters, digits, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

/// The request being decided: may `subject` do `action` on `kind:name` from `source`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest<'a> {
    pub subject: &'a str,
    pub kind: ResourceType,
    /// The resource's name; `""` with [`ResourceType::Cluster`] is the coordinator itself.
    pub name: &'a str,
    pub action: Action,
    /// The client's address, if known.
    pub source: Option<IpAddr>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: VerdictReason,
}

/// Why a [`Verdict`] came out the way it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictReason {
    /// The subject is not a known user (denied).
    UnknownUser,
    /// The user is disabled (denied, even a super user).
    DisabledUser,
    /// The user is a super user (allowed).
    SuperUser,
    /// This entry, at this index of the subject's entry list, decided.
    Matched { entry_index: usize, entry: PolicyEntry },
    /// No entry of the subject matches (denied).
    NoMatch,
}

impl Verdict {
    fn new(allowed: bool, reason: VerdictReason) -> Verdict {
        Verdict { allowed, reason }
    }

    /// A one-line explanation, e.g. `allowed: topic:orders (literal) allows pub [entry 0]`, with
    /// ` from <cidr>,<cidr>` before the index when the deciding entry has source CIDRs.
    pub fn explain(&self) -> String {
        let outcome = if self.allowed { "allowed" } else { "denied" };
        match &self.reason {
            VerdictReason::UnknownUser => format!("{outcome}: unknown user"),
            VerdictReason::DisabledUser => format!("{outcome}: user is disabled"),
            VerdictReason::SuperUser => format!("{outcome}: super user"),
            VerdictReason::NoMatch => format!("{outcome}: no entry matches"),
            VerdictReason::Matched { entry_index, entry } => {
                format!("{outcome}: {} [entry {entry_index}]", describe_entry(entry))
            }
        }
    }
}

/// `topic:orders (literal) allows pub,sub from 10.0.0.0/8`.
fn describe_entry(entry: &PolicyEntry) -> String {
    let verb = match entry.decision {
        Decision::Allow => "allows",
        Decision::Deny => "denies",
    };
    let actions = join(entry.actions.iter());
    let mut text = format!("{} ({}) {verb} {actions}", entry.resource, entry.resource.pattern);
    if !entry.source_cidrs.is_empty() {
        text.push_str(" from ");
        text.push_str(&join(entry.source_cidrs.iter()));
    }
    text
}

fn join<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|item| item.to_string()).collect::<Vec<_>>().join(",")
}

/// Decides `request` against `state` (see the module documentation for the rules).
pub fn evaluate(state: &AccessState, request: &AccessRequest<'_>) -> Verdict {
    let Some(user) = state.users.get(request.subject) else {
        return Verdict::new(false, VerdictReason::UnknownUser);
    };
    if !user.enabled {
        return Verdict::new(false, VerdictReason::DisabledUser);
    }
    if user.kind == UserKind::Super {
        return Verdict::new(true, VerdictReason::SuperUser);
    }
    match deciding_entry(state.entries(request.subject), request) {
        Some((entry_index, entry)) => Verdict::new(
            entry.decision == Decision::Allow,
            VerdictReason::Matched { entry_index, entry: entry.clone() },
        ),
        None => Verdict::new(false, VerdictReason::NoMatch),
    }
}

/// The most specific matching entry; among equally specific ones the first deny, else the first.
fn deciding_entry<'e>(entries: &'e [PolicyEntry], request: &AccessRequest<'_>) -> Option<(usize, &'e PolicyEntry)> {
    let mut best: Option<(Specificity, usize, &PolicyEntry)> = None;
    for (index, entry) in entries.iter().enumerate().filter(|(_, entry)| entry.matches(request)) {
        let specificity = entry.resource.specificity();
        let better = match best {
            None => true,
            Some((best_specificity, _, best_entry)) => {
                specificity > best_specificity
                    || (specificity == best_specificity
                        && entry.decision == Decision::Deny
                        && best_entry.decision == Decision::Allow)
            }
        };
        if better {
            best = Some((specificity, index, entry));
        }
    }
    best.map(|(_, index, entry)| (index, entry))
}
