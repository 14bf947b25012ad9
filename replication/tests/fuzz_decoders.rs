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
//! Not fuzzed here: the snapshot file header parser (`state_machine::decode_snapshot_file`) and
//! the stored membership decoder (`state_machine::decode_stored_membership`, `unframe` + the
//! membership decoder fuzzed below), whose bytes `tests/golden.rs` pins; the session key
//! splitter of `state_machine.rs` (private, reviewed instead).
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=200000 cargo test --release -p pharos-replication --test fuzz_decoders`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

use std::collections::BTreeMap;
use std::fmt::Debug;

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, StreamAppendError, StreamAppendResult};
use openraft::raft::{VoteRequest, VoteResponse};
use pharos_fuzz_support::*;
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
use prost::Message;

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
    ("[a-z0-9.:-]{0,20}", "[a-z0-9.:-]{0,20}", "[a-z0-9-]{0,8}", "[a-z0-9-]{0,8}", any::<u32>()).prop_map(
        |(client_addr, peer_addr, zone, region, feature_level_max)| NodeInfo {
            client_addr,
            peer_addr,
            zone,
            region,
            feature_level_max,
        },
    )
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

    pub fn decode_log_id(bytes: &[u8]) -> Result<LogId, WireError> {
        codec::decode_log_id("log id", bytes)
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
        let dr = v1::DrAnnouncement { dr_state_id: 7, sync_promise_until_ms: 0 };
        codec::append_request_to_wire(&AppendEntriesRequest { vote, prev_log_id, entries, leader_commit }, dr)
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
decoder_target!(disk_vote, FRAMED, vote(), codec::encode_vote, codec::decode_vote);
decoder_target!(disk_log_id, FRAMED, log_id(), codec::encode_log_id, disk::decode_log_id);
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
        ("disk vote", FRAMED, |bytes| codec::decode_vote(bytes).is_ok()),
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
