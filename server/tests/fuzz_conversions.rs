//! Fuzzing, on stable Rust, of the conversions in `pharos_server::convert` from wire requests
//! (what a client sends) to domain commands: whatever a client sends must end in a domain value
//! or a typed [`InvalidRequest`], never a panic, and an accepted request must satisfy every
//! limit the conversion promises.
//!
//! The wire messages are made by decoding bytes with prost (`Message::decode`), so they are
//! exactly what a gRPC handler could receive. Four properties per conversion:
//! - `arbitrary_bytes`: any bytes; those that decode are converted;
//! - `arbitrary_protobuf`: a random protobuf-shaped body (random tags, wire types, nesting,
//!   lying lengths), which decodes far more often;
//! - `mutated_encoding`: a valid request's encoding with bits flipped, bytes inserted, removed
//!   or overwritten, varints (often huge length prefixes) spliced in, slices repeated, truncated;
//! - `valid`: realistic valid requests are accepted and carry their content unchanged.
//!
//! `lying_lengths_reserve_no_memory` decodes huge length prefixes in a child process whose
//! address space is capped, so a decoder that pre-allocates from an untrusted length aborts it.
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=200000 cargo test --release -p pharos-server --test fuzz_conversions`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

use pharos_fuzz_support::*;
use pharos_meta::{Compare, Operation, RequestId, TopicSpec, limits};
use pharos_proto::v1;
use pharos_server::convert;
use pharos_server::convert::InvalidRequest;
use pharos_server::convert::Validate;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use prost::Message;

// ---- what an accepted request promises ----

/// An accepted request id has a client id of 1..=128 bytes and a sequence from 1.
fn check_request_id(wire: Option<&v1::RequestId>, converted: &Option<RequestId>) -> Result<(), TestCaseError> {
    match converted {
        None => prop_assert!(wire.is_none(), "a request id was dropped"),
        Some(id) => {
            prop_assert!(!id.client_id.is_empty() && id.client_id.len() <= limits::CLIENT_ID_BYTES_MAX);
            prop_assert!(id.sequence >= 1);
            let wire = wire.expect("converted from a wire id");
            prop_assert_eq!((&id.client_id, id.sequence), (&wire.client_id, wire.sequence));
        }
    }
    Ok(())
}

fn check_key(key: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(!key.is_empty() && key.len() <= limits::KEY_BYTES_MAX, "accepted a key of {} bytes", key.len());
    Ok(())
}

fn check_put(request: v1::PutRequest) -> Result<(), TestCaseError> {
    let wire = request.clone();
    if let Ok((operation, request_id)) = request.validate() {
        prop_assert_eq!(operation, Operation::Put { key: wire.key.clone(), value: wire.value.clone() });
        check_key(&wire.key)?;
        prop_assert!(wire.value.len() <= limits::VALUE_BYTES_MAX);
        check_request_id(wire.request_id.as_ref(), &request_id)?;
    }
    Ok(())
}

fn check_delete(request: v1::DeleteRequest) -> Result<(), TestCaseError> {
    let wire = request.clone();
    if let Ok((operation, request_id)) = request.validate() {
        prop_assert_eq!(operation, Operation::Delete { key: wire.key.clone() });
        check_key(&wire.key)?;
        check_request_id(wire.request_id.as_ref(), &request_id)?;
    }
    Ok(())
}

fn check_compare_and_set(request: v1::CompareAndSetRequest) -> Result<(), TestCaseError> {
    use v1::compare_and_set_request::Compare as Wire;
    let wire = request.clone();
    if let Ok((operation, request_id)) = request.validate() {
        let compare = match wire.compare.clone() {
            Some(Wire::ExpectAbsent(true)) => Compare::Absent,
            Some(Wire::ExpectValue(value)) => Compare::Value(value),
            Some(Wire::ExpectModRevision(revision)) => Compare::ModRevision(revision),
            other => return Err(TestCaseError::fail(format!("accepted the condition {other:?}"))),
        };
        prop_assert_eq!(
            operation,
            Operation::CompareAndSet { key: wire.key.clone(), compare, value: wire.value.clone() }
        );
        check_key(&wire.key)?;
        prop_assert!(wire.value.len() <= limits::VALUE_BYTES_MAX);
        check_request_id(wire.request_id.as_ref(), &request_id)?;
    }
    Ok(())
}

fn check_register_broker(request: v1::RegisterBrokerRequest) -> Result<(), TestCaseError> {
    let wire = request.clone();
    if let Ok((registration, request_id)) = request.validate() {
        prop_assert!(pharos_meta::broker::validate_registration(&registration).is_ok());
        prop_assert!(wire.cluster.is_empty() || registration.cluster == wire.cluster);
        prop_assert_eq!(registration.addresses.len(), wire.addresses.len());
        check_request_id(wire.request_id.as_ref(), &request_id)?;
    }
    Ok(())
}

fn check_range(request: v1::RangeRequest) -> Result<(), TestCaseError> {
    if let Ok((prefix, limit)) = convert::range(&request) {
        prop_assert_eq!(&prefix, &request.prefix);
        prop_assert!(prefix.len() <= limits::KEY_BYTES_MAX);
        prop_assert!((1..=limits::RANGE_KEYS_MAX).contains(&limit));
    }
    Ok(())
}

/// Create and update requests carry a topic and a request id; both are converted.
fn check_topic(topic: Option<v1::TopicInfo>, request_id: Option<v1::RequestId>) -> Result<(), TestCaseError> {
    let wire = topic.clone();
    if let Ok(spec) = convert::topic_spec(topic) {
        let wire = wire.expect("converted from a wire topic");
        prop_assert!(pharos_meta::topic::validate_topic_name(&spec.name).is_ok());
        prop_assert_eq!(&spec.name, &wire.name);
        prop_assert!(spec.perm != 0);
        prop_assert_eq!(spec.queues.len(), wire.queues.len(), "a queue spec was dropped");
    }
    let wire = request_id.clone();
    if let Ok(converted) = convert::request_id(request_id) {
        check_request_id(wire.as_ref(), &converted)?;
    }
    Ok(())
}

fn check_create_topic(request: v1::CreateTopicRequest) -> Result<(), TestCaseError> {
    check_topic(request.topic, request.request_id)
}

fn check_update_topic(request: v1::UpdateTopicRequest) -> Result<(), TestCaseError> {
    check_topic(request.topic, request.request_id)
}

fn check_commit_offsets(request: v1::CommitOffsetsRequest) -> Result<(), TestCaseError> {
    let wire = request.clone();
    if let Ok(batch) = convert::offset_batch(request) {
        prop_assert!((1..=limits::OFFSET_COMMITS_MAX).contains(&batch.commits.len()));
        prop_assert_eq!(batch.commits.len(), wire.offsets.len());
        prop_assert_eq!(batch.reject_backwards, wire.reject_backwards);
        for (commit, entry) in batch.commits.iter().zip(&wire.offsets) {
            prop_assert!((1..=limits::NAME_BYTES_MAX).contains(&commit.key.consumer_group.len()));
            prop_assert!((1..=limits::TOPIC_NAME_BYTES_MAX).contains(&commit.key.topic.len()));
            prop_assert_eq!(
                (&commit.key.consumer_group, &commit.key.topic, commit.key.queue_id, commit.offset),
                (&entry.consumer_group, &entry.topic, entry.queue_id, entry.offset)
            );
        }
    }
    Ok(())
}

// ---- realistic valid requests ----

fn name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_.-]{1,16}".boxed()
}

fn topic_name() -> BoxedStrategy<String> {
    "[A-Za-z0-9_%|-]{1,24}".boxed()
}

fn key() -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 1..64).boxed()
}

fn value() -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 0..256).boxed()
}

fn request_id() -> impl Strategy<Value = Option<v1::RequestId>> {
    option::of(
        ("[A-Za-z0-9-]{1,36}", 1..u64::MAX).prop_map(|(client_id, sequence)| v1::RequestId { client_id, sequence }),
    )
}

fn put() -> impl Strategy<Value = v1::PutRequest> {
    (key(), value(), request_id()).prop_map(|(key, value, request_id)| v1::PutRequest { key, value, request_id })
}

fn delete() -> impl Strategy<Value = v1::DeleteRequest> {
    (key(), request_id()).prop_map(|(key, request_id)| v1::DeleteRequest { key, request_id })
}

fn compare_and_set() -> impl Strategy<Value = v1::CompareAndSetRequest> {
    use v1::compare_and_set_request::Compare as Wire;
    let compare = prop_oneof![
        Just(Wire::ExpectAbsent(true)),
        value().prop_map(Wire::ExpectValue),
        any::<u64>().prop_map(Wire::ExpectModRevision),
    ];
    (key(), value(), compare, request_id()).prop_map(|(key, value, compare, request_id)| v1::CompareAndSetRequest {
        key,
        value,
        compare: Some(compare),
        request_id,
    })
}

fn register_broker() -> impl Strategy<Value = v1::RegisterBrokerRequest> {
    (
        (name(), name(), name(), name(), "[a-z0-9-]{0,12}", "[a-z0-9-]{0,12}"),
        btree_map(name(), ("[a-z0-9.-]{1,20}", any::<u16>()).prop_map(|(host, port)| format!("{host}:{port}")), 1..4),
        (any::<u32>(), request_id()),
    )
        .prop_map(
            |((cluster, group, name, incarnation_id, zone, region), addresses, (election_priority, request_id))| {
                v1::RegisterBrokerRequest {
                    cluster,
                    group,
                    name,
                    incarnation_id,
                    zone,
                    region,
                    addresses: addresses.into_iter().collect(),
                    election_priority,
                    request_id,
                }
            },
        )
}

fn range() -> impl Strategy<Value = v1::RangeRequest> {
    (vec(any::<u8>(), 0..64), 0..=limits::RANGE_KEYS_MAX as u32, 0..2i32)
        .prop_map(|(prefix, limit, consistency)| v1::RangeRequest { prefix, limit, consistency })
}

/// A topic spec that passes `validate_spec_shape`.
fn topic_spec() -> impl Strategy<Value = TopicSpec> {
    (
        topic_name(),
        btree_map(
            name(),
            (0u32..16, 1u32..16).prop_map(|(read, write)| pharos_meta::QueueCounts { read, write }),
            1..4,
        ),
        prop_oneof![Just(2u32), Just(4), Just(6)],
        proptest::sample::select(vec![
            pharos_meta::MessageType::Normal,
            pharos_meta::MessageType::Fifo,
            pharos_meta::MessageType::Delay,
            pharos_meta::MessageType::Transactional,
        ]),
        btree_map("[a-z.]{1,12}", "(?s).{0,12}", 0..3),
    )
        .prop_map(|(name, queues, perm, message_type, attributes)| TopicSpec {
            name,
            queues,
            perm,
            message_type,
            attributes,
        })
}

fn topic_info() -> impl Strategy<Value = v1::TopicInfo> {
    (topic_spec(), any::<u64>(), any::<u64>()).prop_map(|(spec, create_revision, revision)| {
        convert::topic_info(&pharos_meta::Topic { spec, create_revision, revision, origin: Default::default() })
    })
}

fn create_topic() -> impl Strategy<Value = v1::CreateTopicRequest> {
    (topic_info(), request_id())
        .prop_map(|(topic, request_id)| v1::CreateTopicRequest { topic: Some(topic), request_id })
}

fn update_topic() -> impl Strategy<Value = v1::UpdateTopicRequest> {
    (topic_info(), request_id())
        .prop_map(|(topic, request_id)| v1::UpdateTopicRequest { topic: Some(topic), request_id })
}

fn commit_offsets() -> impl Strategy<Value = v1::CommitOffsetsRequest> {
    let entry =
        (name(), topic_name(), any::<u32>(), any::<u64>()).prop_map(|(consumer_group, topic, queue_id, offset)| {
            v1::OffsetEntry { consumer_group, topic, queue_id, offset, committed_at_revision: 0 }
        });
    (vec(entry, 1..8), any::<bool>()).prop_map(|(offsets, reject_backwards)| v1::CommitOffsetsRequest {
        offsets,
        reject_backwards,
        request_id: None,
    })
}

// ---- the targets ----

/// Four properties for each conversion (see the module docs), in a module named after it.
macro_rules! conversion_target {
    ($target:ident, $message:ty, $strategy:expr, $check:expr) => {
        mod $target {
            use super::*;

            proptest! {
                #![proptest_config(fuzz_config())]

                #[test]
                fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
                    if let Ok(request) = <$message>::decode(&bytes[..]) {
                        $check(request)?;
                    }
                }

                #[test]
                fn arbitrary_protobuf(bytes in protobuf_blob(None)) {
                    if let Ok(request) = <$message>::decode(&bytes[..]) {
                        $check(request)?;
                    }
                }

                #[test]
                fn mutated_encoding(request in $strategy, mutations in mutations()) {
                    let mut bytes = request.encode_to_vec();
                    mutate(&mut bytes, &mutations);
                    if let Ok(request) = <$message>::decode(&bytes[..]) {
                        $check(request)?;
                    }
                }

                #[test]
                fn valid(request in $strategy) {
                    let decoded = <$message>::decode(&request.encode_to_vec()[..]);
                    prop_assert_eq!(decoded.as_ref(), Ok(&request));
                    $check(request)?;
                }
            }
        }
    };
}

conversion_target!(put, v1::PutRequest, put(), check_put);
conversion_target!(delete, v1::DeleteRequest, delete(), check_delete);
conversion_target!(compare_and_set, v1::CompareAndSetRequest, compare_and_set(), check_compare_and_set);
conversion_target!(register_broker, v1::RegisterBrokerRequest, register_broker(), check_register_broker);
conversion_target!(range, v1::RangeRequest, range(), check_range);
conversion_target!(create_topic, v1::CreateTopicRequest, create_topic(), check_create_topic);
conversion_target!(update_topic, v1::UpdateTopicRequest, update_topic(), check_update_topic);
conversion_target!(commit_offsets, v1::CommitOffsetsRequest, commit_offsets(), check_commit_offsets);

proptest! {
    #![proptest_config(fuzz_config())]

    /// Valid requests are accepted: nothing a well-behaved client sends is refused.
    #[test]
    fn valid_requests_are_accepted(
        put in put(),
        delete in delete(),
        cas in compare_and_set(),
        register in register_broker(),
        range in range(),
        create in create_topic(),
        commit in commit_offsets(),
    ) {
        prop_assert!(put.validate().is_ok());
        prop_assert!(delete.validate().is_ok());
        prop_assert!(cas.validate().is_ok());
        prop_assert!(register.validate().is_ok());
        prop_assert!(convert::range(&range).is_ok());
        prop_assert!(convert::request_id(create.request_id).is_ok());
        prop_assert!(convert::topic_spec(create.topic).is_ok());
        prop_assert!(convert::offset_batch(commit).is_ok());
    }

    /// Domain topic -> wire -> domain is the identity (what `topic update` reads and sends back).
    #[test]
    fn topic_specs_round_trip(spec in topic_spec(), create_revision in any::<u64>(), revision in any::<u64>()) {
        let info = convert::topic_info(&pharos_meta::Topic { spec: spec.clone(), create_revision, revision, origin: Default::default() });
        let decoded = v1::TopicInfo::decode(&info.encode_to_vec()[..]).expect("a valid encoding decodes");
        prop_assert_eq!(convert::topic_spec(Some(decoded)), Ok(spec));
    }
}

/// A prost decoder, type-erased: did the bytes decode (and convert without panicking)?
type Decodes = fn(&[u8]) -> bool;

fn all_decoders() -> Vec<(&'static str, Decodes)> {
    fn decodes<M: Message + Default>(bytes: &[u8]) -> bool {
        M::decode(bytes).is_ok()
    }
    vec![
        ("PutRequest", decodes::<v1::PutRequest>),
        ("DeleteRequest", decodes::<v1::DeleteRequest>),
        ("CompareAndSetRequest", decodes::<v1::CompareAndSetRequest>),
        ("RegisterBrokerRequest", decodes::<v1::RegisterBrokerRequest>),
        ("RangeRequest", decodes::<v1::RangeRequest>),
        ("CreateTopicRequest", decodes::<v1::CreateTopicRequest>),
        ("UpdateTopicRequest", decodes::<v1::UpdateTopicRequest>),
        ("CommitOffsetsRequest", decodes::<v1::CommitOffsetsRequest>),
    ]
}

#[test]
fn lying_lengths_reserve_no_memory() {
    if rerun_with_capped_memory("lying_lengths_reserve_no_memory") {
        return;
    }
    for blob in lying_length_blobs(None) {
        for (name, decodes) in all_decoders() {
            if blob.len() < 64 {
                assert!(!decodes(&blob), "{name} accepted a length prefix past the end: {blob:02x?}");
            } else {
                let _ = decodes(&blob);
            }
        }
    }
}

#[test]
fn refusals_are_typed() {
    let refused = v1::PutRequest::default().validate();
    assert_eq!(refused, Err(InvalidRequest::new("key", "must not be empty")));
}
