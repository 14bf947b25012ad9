//! Hard limits on what a command may carry. Checked at the API edge (typed error, nothing
//! proposed) and again in `apply` (a command that slipped through is answered with an error and
//! changes nothing), so no replica ever stores an oversized record.

/// Longest key of the generic key/value namespace, in bytes.
pub const KEY_BYTES_MAX: usize = 4 * 1024;
/// Largest value of the generic key/value namespace, in bytes.
pub const VALUE_BYTES_MAX: usize = 1024 * 1024;
/// Longest idempotency client id, in bytes.
pub const CLIENT_ID_BYTES_MAX: usize = 128;
/// Responses remembered per client for retries (the idempotency window).
pub const SESSION_RESPONSES_MAX: usize = 64;
/// Clients remembered at once; the least recently active one is forgotten first.
pub const SESSIONS_MAX: usize = 100_000;
/// Most keys one range read returns.
pub const RANGE_KEYS_MAX: usize = 10_000;
/// Longest broker, group, cluster, zone, region or network name, in bytes.
pub const NAME_BYTES_MAX: usize = 255;
/// Most network addresses one broker may register.
pub const BROKER_ADDRESSES_MAX: usize = 16;
/// Longest topic name, in bytes (RocketMQ's limit).
pub const TOPIC_NAME_BYTES_MAX: usize = 127;
/// Most queues one topic may have over all its broker groups.
pub const TOPIC_QUEUES_MAX: usize = 1_024;
/// Most attributes one topic may carry.
pub const TOPIC_ATTRIBUTES_MAX: usize = 64;
/// Most offsets one commit request may carry.
pub const OFFSET_COMMITS_MAX: usize = 10_000;
/// Audit records kept; the oldest are dropped first.
pub const AUDIT_RECORDS_MAX: usize = 10_000;
/// Audit records older than this (by the proposing leader's clock, against the newest record's)
/// are dropped as new ones arrive: 90 days.
pub const AUDIT_RECORD_AGE_MAX_MS: u64 = 90 * 24 * 60 * 60 * 1000;
/// Most broker records one `CollectBrokers` command forgets (the retention batch).
pub const COLLECTED_BROKERS_MAX: usize = 100;

/// Topics one broker report may name (a RocketMQ broker's topic config table).
pub const REPORTED_TOPICS_MAX: usize = 4_096;
