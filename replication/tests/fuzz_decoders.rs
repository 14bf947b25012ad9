//! Fuzzing, on stable Rust, of every decoder of Raft bytes in `pharos_replication`: log entries,
//! votes and log ids as stored on disk, and the peer RPCs (vote, append entries and their
//! answers, pipelined append results, memberships, snapshot metadata) as received from the
//! network. Such input must never panic a node: it gets a typed [`WireError`].
//!
//! Wire messages are made by decoding bytes with prost, so they are exactly what the peer
//! service or a log read could see. Four properties per decoder:
//! - `arbitrary_bytes`: any bytes decode to `Ok` or `Err`, never a panic;
//! - `arbitrary_protobuf`: a random protobuf-shaped body (random tags, wire types, nesting,
//!   lying lengths), behind the format-version byte for what is stored framed;
//! - `mutated_encoding`: a valid encoding with bits flipped, bytes inserted, removed or
//!   overwritten, varints (often huge length prefixes) spliced in, slices repeated, truncated;
//! - `round_trip`: `decode(encode(x)) == x` for realistic values.
//!
//! In the first three, whatever decodes must also re-encode to itself. On top of that,
//! `lying_lengths_reserve_no_memory` decodes huge length prefixes in a child process whose
//! address space is capped, so a decoder that pre-allocates from an untrusted length aborts it.
//!
//! Not reachable from here (private, reviewed instead): the snapshot file header parser
//! (`StateMachineStore::load_snapshot_file`), the session key splitter and the stored
//! membership decoder of `state_machine.rs`; the last is `unframe` + the membership decoder
//! fuzzed below.
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=200000 cargo test --release -p pharos-replication --test fuzz_decoders`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

use std::collections::BTreeMap;
use std::fmt::Debug;

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, StreamAppendError, StreamAppendResult};
use openraft::raft::{VoteRequest, VoteResponse};
use pharos_proto::v1;
use pharos_replication::codec::{self, WireError};
use pharos_replication::state_machine::{snapshot_meta_from_wire, snapshot_meta_to_wire};
use pharos_replication::types::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote,
};
use pharos_replication::{NodeInfo, TypeConfig};
use proptest::collection::{btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;

// ---- harness (the same in every crate's fuzz target) ----

/// `PHAROS_FUZZ_CASES` cases per property (default 256), no failure persistence files.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PHAROS_FUZZ_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256);
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes
}

/// Mostly the values that break decoders: huge lengths and counts, sign and width edges.
fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(u64::from(u32::MAX)),
        Just(1 << 31),
        (1u64 << 20)..(1u64 << 40),
        0u64..300,
    ]
}

/// One field of a protobuf-shaped message: random tag, any wire type, lying lengths, nesting.
#[derive(Debug, Clone)]
enum Field {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Fixed32(u32, u32),
    Bytes(u32, Vec<u8>),
    /// A length prefix that does not match what follows.
    LyingLength(u32, u64, Vec<u8>),
    Message(u32, Vec<Field>),
    /// A (deprecated) group: start, fields, end.
    Group(u32, Vec<Field>),
}

fn tag() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..32, 1 => 0u32..(1 << 29)]
}

fn field() -> impl Strategy<Value = Field> {
    let leaf = prop_oneof![
        (tag(), edge_u64()).prop_map(|(tag, value)| Field::Varint(tag, value)),
        (tag(), any::<u64>()).prop_map(|(tag, value)| Field::Fixed64(tag, value)),
        (tag(), any::<u32>()).prop_map(|(tag, value)| Field::Fixed32(tag, value)),
        (tag(), vec(any::<u8>(), 0..24)).prop_map(|(tag, bytes)| Field::Bytes(tag, bytes)),
        (tag(), edge_u64(), vec(any::<u8>(), 0..8))
            .prop_map(|(tag, length, bytes)| Field::LyingLength(tag, length, bytes)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            3 => (tag(), vec(inner.clone(), 0..6)).prop_map(|(tag, fields)| Field::Message(tag, fields)),
            1 => (tag(), vec(inner, 0..4)).prop_map(|(tag, fields)| Field::Group(tag, fields)),
        ]
    })
}

fn encode_fields(fields: &[Field], out: &mut Vec<u8>) {
    let key = |tag: u32, wire_type: u32| varint(u64::from(tag) << 3 | u64::from(wire_type));
    for field in fields {
        match field {
            Field::Varint(tag, value) => {
                out.extend(key(*tag, 0));
                out.extend(varint(*value));
            }
            Field::Fixed64(tag, value) => {
                out.extend(key(*tag, 1));
                out.extend(value.to_le_bytes());
            }
            Field::Fixed32(tag, value) => {
                out.extend(key(*tag, 5));
                out.extend(value.to_le_bytes());
            }
            Field::Bytes(tag, bytes) => {
                out.extend(key(*tag, 2));
                out.extend(varint(bytes.len() as u64));
                out.extend(bytes);
            }
            Field::LyingLength(tag, length, bytes) => {
                out.extend(key(*tag, 2));
                out.extend(varint(*length));
                out.extend(bytes);
            }
            Field::Message(tag, fields) => {
                let mut body = Vec::new();
                encode_fields(fields, &mut body);
                out.extend(key(*tag, 2));
                out.extend(varint(body.len() as u64));
                out.extend(body);
            }
            Field::Group(tag, fields) => {
                out.extend(key(*tag, 3));
                encode_fields(fields, out);
                out.extend(key(*tag, 4));
            }
        }
    }
}

/// A protobuf-shaped body, behind a format-version byte (nearly always `version`) if one is given.
fn protobuf_blob(version: Option<u8>) -> impl Strategy<Value = Vec<u8>> {
    let version = match version {
        Some(version) => {
            prop_oneof![15 => Just(vec![version]), 1 => any::<u8>().prop_map(|version| vec![version])].boxed()
        }
        None => Just(Vec::new()).boxed(),
    };
    (version, vec(field(), 0..10)).prop_map(|(mut bytes, fields)| {
        encode_fields(&fields, &mut bytes);
        bytes
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Overwrite(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// A varint (often a huge length prefix or count) spliced in.
    InsertVarint(Index, u64),
    /// A copy of a slice of the blob inserted elsewhere (repeated fields, confused framing).
    Duplicate(Index, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), edge_u64()).prop_map(|(at, value)| Mutation::InsertVarint(at, value)),
        (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(from, to, at)| Mutation::Duplicate(from, to, at)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 1..6)
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::FlipBit(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
            Mutation::Overwrite(at, byte) if len > 0 => bytes[at.index(len)] = *byte,
            Mutation::Insert(at, byte) => bytes.insert(at.index(len + 1), *byte),
            Mutation::Remove(at) if len > 0 => {
                bytes.remove(at.index(len));
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
            Mutation::InsertVarint(at, value) => {
                let at = at.index(len + 1);
                bytes.splice(at..at, varint(*value));
            }
            Mutation::Duplicate(from, to, at) if len > 0 => {
                let (from, to) = (from.index(len), to.index(len));
                let slice = bytes[from.min(to)..=from.max(to)].to_vec();
                let at = at.index(len + 1);
                bytes.splice(at..at, slice);
            }
            _ => {}
        }
    }
}

/// Huge length prefixes for every field tag a decoder may know, each alone behind the version
/// byte if one is given: all must be refused (and, in the capped child, without reserving memory).
/// Then blobs nested deeper than any schema: refused by the recursion limit, not the stack.
fn lying_length_blobs(version: Option<u8>) -> Vec<Vec<u8>> {
    let prefix: Vec<u8> = version.into_iter().collect();
    let lengths = [u64::MAX, i64::MAX as u64, u64::from(u32::MAX), 1 << 32, 1 << 31, 1 << 30];
    let mut blobs = Vec::new();
    for tag in 1u64..=32 {
        for length in lengths {
            let mut blob = prefix.clone();
            blob.extend(varint(tag << 3 | 2));
            blob.extend(varint(length));
            blob.extend([0x08, 0x01]);
            blobs.push(blob);
        }
    }
    // 100 000 nested groups.
    blobs.push([prefix.clone(), vec![0x0b; 100_000]].concat());
    // 2 000 nested length-delimited fields, each exactly wrapping the next.
    for tag in 1u64..=16 {
        let mut nested: Vec<u8> = Vec::new();
        for _ in 0..2_000 {
            let mut outer = varint(tag << 3 | 2);
            outer.extend(varint(nested.len() as u64));
            outer.extend(nested);
            nested = outer;
        }
        blobs.push([prefix.clone(), nested].concat());
    }
    blobs
}

/// Runs `test` (the exact name of a test of this binary) again in a child whose address space is
/// capped at 1 GiB, with `PHAROS_FUZZ_CAPPED` set; returns false when this is that child.
fn rerun_with_capped_memory(test: &str) -> bool {
    if std::env::var_os("PHAROS_FUZZ_CAPPED").is_some() {
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env("PHAROS_FUZZ_CAPPED", "1")
        .output()
        .expect("spawn the capped child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "decoding lying lengths under a 1 GiB address-space cap failed ({}): a decoder reserves memory \
         from an untrusted length or count?\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    true
}

// ---- realistic values ----

fn log_id() -> impl Strategy<Value = LogId> {
    (any::<u64>(), any::<u64>()).prop_map(|(term, index)| LogId::new(CommittedLeaderId::new(term), index))
}

fn vote() -> impl Strategy<Value = Vote> {
    (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(term, node_id, committed)| {
        if committed { Vote::new_committed(term, node_id) } else { Vote::new(term, node_id) }
    })
}

fn node_info() -> impl Strategy<Value = NodeInfo> {
    ("[a-z0-9.:-]{0,20}", "[a-z0-9.:-]{0,20}", "[a-z0-9-]{0,8}", "[a-z0-9-]{0,8}")
        .prop_map(|(client_addr, peer_addr, zone, region)| NodeInfo { client_addr, peer_addr, zone, region })
}

/// One voter set, or two (joint consensus); every voter has a node, some learners too.
fn membership() -> impl Strategy<Value = Membership> {
    (vec(btree_set(0u64..8, 1..4), 1..3), btree_set(0u64..12, 0..3), vec(node_info(), 12)).prop_map(
        |(configs, learners, infos)| {
            let nodes: BTreeMap<u64, NodeInfo> = configs
                .iter()
                .flatten()
                .chain(&learners)
                .map(|node_id| (*node_id, infos[*node_id as usize].clone()))
                .collect();
            Membership::new(configs, nodes).expect("every voter has a node")
        },
    )
}

fn command() -> impl Strategy<Value = pharos_meta::Command> {
    use pharos_meta::Operation;
    let operation = prop_oneof![
        Just(Operation::Noop),
        (vec(any::<u8>(), 1..32), vec(any::<u8>(), 0..64)).prop_map(|(key, value)| Operation::Put { key, value }),
        vec(any::<u8>(), 1..32).prop_map(|key| Operation::Delete { key }),
        any::<u64>().prop_map(|broker_id| Operation::Broker(pharos_meta::BrokerOperation::Remove { broker_id })),
    ];
    (
        option::of(
            ("[a-z0-9-]{1,16}", 1..u64::MAX)
                .prop_map(|(client_id, sequence)| pharos_meta::RequestId { client_id, sequence }),
        ),
        any::<u64>(),
        "[a-z0-9.:-]{0,16}",
        operation,
    )
        .prop_map(|(request_id, issued_at_ms, actor, operation)| pharos_meta::Command {
            request_id,
            issued_at_ms,
            actor,
            operation,
        })
}

fn entry() -> impl Strategy<Value = Entry> {
    let payload = prop_oneof![
        Just(EntryPayload::Blank),
        command().prop_map(EntryPayload::Normal),
        membership().prop_map(EntryPayload::Membership),
    ];
    (log_id(), payload).prop_map(|(log_id, payload)| Entry { log_id, payload })
}

fn vote_request() -> impl Strategy<Value = VoteRequest<TypeConfig>> {
    (vote(), option::of(log_id()), any::<bool>()).prop_map(|(vote, last_log_id, leadership_transfer)| {
        let mut request = VoteRequest::new(vote, last_log_id);
        request.leadership_transfer = leadership_transfer;
        request
    })
}

fn vote_response() -> impl Strategy<Value = VoteResponse<TypeConfig>> {
    (vote(), option::of(log_id()), any::<bool>())
        .prop_map(|(vote, last_log_id, granted)| VoteResponse::new(vote, last_log_id, granted))
}

fn append_request() -> impl Strategy<Value = AppendEntriesRequest<TypeConfig>> {
    (vote(), option::of(log_id()), vec(entry(), 0..4), option::of(log_id())).prop_map(
        |(vote, prev_log_id, entries, leader_commit)| AppendEntriesRequest {
            vote,
            prev_log_id,
            entries,
            leader_commit,
        },
    )
}

fn append_response() -> impl Strategy<Value = AppendEntriesResponse<TypeConfig>> {
    prop_oneof![
        Just(AppendEntriesResponse::Success),
        option::of(log_id()).prop_map(AppendEntriesResponse::PartialSuccess),
        Just(AppendEntriesResponse::Conflict),
        vote().prop_map(AppendEntriesResponse::HigherVote),
    ]
}

fn stream_result() -> impl Strategy<Value = StreamAppendResult<TypeConfig>> {
    prop_oneof![
        option::of(log_id()).prop_map(Ok),
        log_id().prop_map(|log_id| Err(StreamAppendError::Conflict(log_id))),
        vote().prop_map(|vote| Err(StreamAppendError::HigherVote(vote))),
    ]
}

fn snapshot_meta() -> impl Strategy<Value = SnapshotMeta> {
    (option::of(log_id()), option::of(log_id()), membership()).prop_map(
        |(last_log_id, last_membership_log_id, membership)| SnapshotMeta {
            last_log_id,
            last_membership: StoredMembership::new(last_membership_log_id, membership),
        },
    )
}

// ---- decoders and encoders under test, over bytes ----

/// Raft messages compared by their fields (`AppendEntriesRequest` has no `PartialEq`).
type AppendParts = (Vote, Option<LogId>, Vec<Entry>, Option<LogId>);

fn append_parts(request: AppendEntriesRequest<TypeConfig>) -> AppendParts {
    (request.vote, request.prev_log_id, request.entries, request.leader_commit)
}

fn decode_wire<M: Message + Default>(bytes: &[u8]) -> Result<M, WireError> {
    M::decode(bytes).map_err(|error| WireError::Malformed { what: "test message", reason: error.to_string() })
}

mod disk {
    //! What this crate stores framed (format-version byte + protobuf).
    use super::*;

    pub fn encode_vote(vote: &Vote) -> Vec<u8> {
        codec::frame(&codec::vote_to_wire(vote))
    }

    pub fn decode_vote(bytes: &[u8]) -> Result<Vote, WireError> {
        codec::vote_from_wire(Some(codec::unframe("vote", bytes)?))
    }

    pub fn encode_log_id(log_id: &LogId) -> Vec<u8> {
        codec::frame(&codec::log_id_to_wire(log_id))
    }

    pub fn decode_log_id(bytes: &[u8]) -> Result<LogId, WireError> {
        codec::unframe("log id", bytes).map(codec::log_id_from_wire)
    }
}

mod wire {
    //! What the peer service and the peer client receive (plain protobuf).
    use super::*;

    pub fn encode_vote_request(request: &VoteRequest<TypeConfig>) -> Vec<u8> {
        codec::vote_request_to_wire(request).encode_to_vec()
    }

    pub fn decode_vote_request(bytes: &[u8]) -> Result<VoteRequest<TypeConfig>, WireError> {
        codec::vote_request_from_wire(decode_wire(bytes)?)
    }

    pub fn encode_vote_response(response: &VoteResponse<TypeConfig>) -> Vec<u8> {
        codec::vote_response_to_wire(response).encode_to_vec()
    }

    pub fn decode_vote_response(bytes: &[u8]) -> Result<VoteResponse<TypeConfig>, WireError> {
        codec::vote_response_from_wire(decode_wire(bytes)?)
    }

    pub fn encode_append_request(parts: &AppendParts) -> Vec<u8> {
        let (vote, prev_log_id, entries, leader_commit) = parts.clone();
        codec::append_request_to_wire(&AppendEntriesRequest { vote, prev_log_id, entries, leader_commit })
            .encode_to_vec()
    }

    pub fn decode_append_request(bytes: &[u8]) -> Result<AppendParts, WireError> {
        codec::append_request_from_wire(decode_wire(bytes)?).map(append_parts)
    }

    pub fn encode_append_response(response: &AppendEntriesResponse<TypeConfig>) -> Vec<u8> {
        codec::append_response_to_wire(response).encode_to_vec()
    }

    pub fn decode_append_response(bytes: &[u8]) -> Result<AppendEntriesResponse<TypeConfig>, WireError> {
        codec::append_response_from_wire(decode_wire(bytes)?)
    }

    pub fn encode_stream_result(result: &StreamAppendResult<TypeConfig>) -> Vec<u8> {
        codec::stream_result_to_wire(result).encode_to_vec()
    }

    pub fn decode_stream_result(bytes: &[u8]) -> Result<StreamAppendResult<TypeConfig>, WireError> {
        codec::stream_result_from_wire(decode_wire(bytes)?)
    }

    pub fn encode_entry(entry: &Entry) -> Vec<u8> {
        codec::entry_to_wire(entry).encode_to_vec()
    }

    pub fn decode_entry(bytes: &[u8]) -> Result<Entry, WireError> {
        codec::entry_from_wire(decode_wire(bytes)?)
    }

    pub fn encode_membership(membership: &Membership) -> Vec<u8> {
        codec::membership_to_wire(membership).encode_to_vec()
    }

    pub fn decode_membership(bytes: &[u8]) -> Result<Membership, WireError> {
        codec::membership_from_wire(Some(decode_wire(bytes)?))
    }

    pub fn encode_snapshot_meta(meta: &SnapshotMeta) -> Vec<u8> {
        snapshot_meta_to_wire(meta).encode_to_vec()
    }

    pub fn decode_snapshot_meta(bytes: &[u8]) -> Result<SnapshotMeta, WireError> {
        snapshot_meta_from_wire(decode_wire(bytes)?)
    }
}

// ---- the targets ----

/// Whatever decodes re-encodes to itself: a decoder never loses or invents information.
fn check_stable<T: PartialEq + Debug>(
    decoded: Result<T, WireError>,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, WireError>,
) -> Result<(), TestCaseError> {
    if let Ok(value) = decoded {
        prop_assert_eq!(decode(&encode(&value)), Ok(value), "a decoded value must re-encode to itself");
    }
    Ok(())
}

/// Four properties for each decoder (see the module docs), in a module named after it.
macro_rules! decoder_target {
    ($target:ident, $version:expr, $strategy:expr, $encode:expr, $decode:expr) => {
        mod $target {
            use super::*;

            proptest! {
                #![proptest_config(fuzz_config())]

                #[test]
                fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn arbitrary_protobuf(bytes in protobuf_blob($version)) {
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn mutated_encoding(value in $strategy, mutations in mutations()) {
                    let mut bytes = $encode(&value);
                    mutate(&mut bytes, &mutations);
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn round_trip(value in $strategy) {
                    prop_assert_eq!($decode(&$encode(&value)), Ok(value));
                }
            }
        }
    };
}

const FRAMED: Option<u8> = Some(codec::FORMAT_VERSION);

decoder_target!(disk_entry, FRAMED, entry(), codec::encode_entry, codec::decode_entry);
decoder_target!(disk_vote, FRAMED, vote(), disk::encode_vote, disk::decode_vote);
decoder_target!(disk_log_id, FRAMED, log_id(), disk::encode_log_id, disk::decode_log_id);
decoder_target!(wire_entry, None, entry(), wire::encode_entry, wire::decode_entry);
decoder_target!(wire_vote_request, None, vote_request(), wire::encode_vote_request, wire::decode_vote_request);
decoder_target!(wire_vote_response, None, vote_response(), wire::encode_vote_response, wire::decode_vote_response);
decoder_target!(
    wire_append_request,
    None,
    append_request().prop_map(append_parts),
    wire::encode_append_request,
    wire::decode_append_request
);
decoder_target!(
    wire_append_response,
    None,
    append_response(),
    wire::encode_append_response,
    wire::decode_append_response
);
decoder_target!(wire_stream_result, None, stream_result(), wire::encode_stream_result, wire::decode_stream_result);
decoder_target!(wire_membership, None, membership(), wire::encode_membership, wire::decode_membership);
decoder_target!(wire_snapshot_meta, None, snapshot_meta(), wire::encode_snapshot_meta, wire::decode_snapshot_meta);

proptest! {
    #![proptest_config(fuzz_config())]

    /// Stored without further checks: the cluster identity and a pending join.
    #[test]
    fn framed_plain_records(bytes in prop_oneof![vec(any::<u8>(), 0..512), protobuf_blob(FRAMED)]) {
        let _ = codec::unframe::<v1::IdentityResponse>("cluster identity", &bytes);
        let _ = codec::unframe::<v1::PendingJoin>("pending join", &bytes);
    }
}

/// A decoder, type-erased: did it decode?
type Decodes = fn(&[u8]) -> bool;

fn all_decoders() -> Vec<(&'static str, Option<u8>, Decodes)> {
    vec![
        ("disk entry", FRAMED, |bytes| codec::decode_entry(bytes).is_ok()),
        ("disk vote", FRAMED, |bytes| disk::decode_vote(bytes).is_ok()),
        ("disk log id", FRAMED, |bytes| disk::decode_log_id(bytes).is_ok()),
        ("identity", FRAMED, |bytes| codec::unframe::<v1::IdentityResponse>("identity", bytes).is_ok()),
        ("pending join", FRAMED, |bytes| codec::unframe::<v1::PendingJoin>("pending join", bytes).is_ok()),
        ("wire entry", None, |bytes| wire::decode_entry(bytes).is_ok()),
        ("vote request", None, |bytes| wire::decode_vote_request(bytes).is_ok()),
        ("vote response", None, |bytes| wire::decode_vote_response(bytes).is_ok()),
        ("append request", None, |bytes| wire::decode_append_request(bytes).is_ok()),
        ("append response", None, |bytes| wire::decode_append_response(bytes).is_ok()),
        ("stream result", None, |bytes| wire::decode_stream_result(bytes).is_ok()),
        ("membership", None, |bytes| wire::decode_membership(bytes).is_ok()),
        ("snapshot meta", None, |bytes| wire::decode_snapshot_meta(bytes).is_ok()),
        ("snapshot chunk", None, |bytes| v1::SnapshotChunk::decode(bytes).is_ok()),
    ]
}

#[test]
fn lying_lengths_reserve_no_memory() {
    if rerun_with_capped_memory("lying_lengths_reserve_no_memory") {
        return;
    }
    for (name, version, decodes) in all_decoders() {
        for blob in lying_length_blobs(version) {
            if blob.len() < 64 {
                assert!(!decodes(&blob), "{name} accepted a length prefix past the end: {blob:02x?}");
            } else {
                let _ = decodes(&blob);
            }
        }
    }
}
