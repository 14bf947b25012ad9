//! Fuzzing, on stable Rust, of every decoder in `pharos_meta::codec`: the bytes they read come
//! from the Raft log, the peers and the disk, and such input must never panic a node (it gets a
//! typed [`DecodeError`]).
//!
//! Property tests with arbitrary input (proptest), four properties per decoder:
//! - `arbitrary_bytes`: any bytes decode to `Ok` or `Err`, never a panic;
//! - `arbitrary_protobuf`: a version byte and a random protobuf-shaped body (random tags, wire
//!   types, nested messages, lying lengths), which gets much deeper into the decoders;
//! - `mutated_encoding`: a valid encoding with bits flipped, bytes inserted, removed or
//!   overwritten, varints (often huge length prefixes) spliced in, slices repeated, truncated;
//! - `round_trip`: `decode(encode(x)) == x` for realistic values.
//!
//! In the first three, whatever decodes must also re-encode to itself (no lossy decoder). On
//! top of that, `lying_lengths_reserve_no_memory` feeds every decoder huge length prefixes in a
//! child process whose address space is capped, so a decoder that pre-allocates from an
//! untrusted length or count aborts the child instead of passing unnoticed.
//!
//! Cases per property: `PHAROS_FUZZ_CASES` (default 256). A long run:
//! `PHAROS_FUZZ_CASES=200000 cargo test --release -p pharos-meta --test fuzz_decoders`.
//! A failure prints the minimal (shrunk) failing input; nothing is written to the repository.

mod support;

use std::fmt::Debug;

use pharos_fuzz_support::*;
use pharos_meta::Response;
use pharos_meta::access::PolicyEntry;
use pharos_meta::codec::{self, DecodeError};
use proptest::collection::vec;
use proptest::prelude::*;
use support::*;

// ---- the targets ----

/// Whatever decodes re-encodes to itself: a decoder never loses or invents information.
fn check_stable<T: PartialEq + Debug>(
    decoded: Result<T, DecodeError>,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<(), TestCaseError> {
    if let Ok(value) = decoded {
        prop_assert_eq!(decode(&encode(&value)), Ok(value), "a decoded value must re-encode to itself");
    }
    Ok(())
}

/// Four properties for each decoder (see the module docs), in a module named after it.
macro_rules! decoder_target {
    ($target:ident, $strategy:expr, $encode:expr, $decode:expr) => {
        mod $target {
            use super::*;

            proptest! {
                #![proptest_config(fuzz_config())]

                #[test]
                fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
                    check_stable($decode(&bytes), $encode, $decode)?;
                }

                #[test]
                fn arbitrary_protobuf(bytes in protobuf_blob(Some(codec::FORMAT_VERSION))) {
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

decoder_target!(command, command(), codec::encode_command, codec::decode_command);
decoder_target!(kv_record, kv_record(), codec::encode_kv_record, codec::decode_kv_record);
decoder_target!(
    session_entry,
    session_entry(),
    |(index, response): &(u64, Response)| codec::encode_session_entry(*index, response),
    codec::decode_session_entry
);
decoder_target!(broker, broker(), codec::encode_broker, codec::decode_broker);
decoder_target!(group, group(), codec::encode_group, codec::decode_group);
decoder_target!(topic, topic(), codec::encode_topic, codec::decode_topic);
decoder_target!(offset_key, offset_key(), codec::encode_offset_key, codec::decode_offset_key);
decoder_target!(offset_record, offset_record(), codec::encode_offset_record, codec::decode_offset_record);
decoder_target!(audit_record, audit_record(), codec::encode_audit_record, codec::decode_audit_record);
decoder_target!(dr_record, dr_record(), codec::encode_dr_record, codec::decode_dr_record);
decoder_target!(response, response(), codec::encode_response, codec::decode_response);
decoder_target!(snapshot, state(), codec::encode_snapshot, codec::decode_snapshot);
decoder_target!(user, user(), codec::encode_user, codec::decode_user);
decoder_target!(
    policy,
    policy(),
    |(subject, entries): &(String, Vec<PolicyEntry>)| codec::encode_policy(subject, entries),
    codec::decode_policy
);

/// A decoder, type-erased: did it decode?
type Decodes = fn(&[u8]) -> bool;

/// Every decoder, for the deterministic checks.
fn all_decoders() -> Vec<(&'static str, Decodes)> {
    vec![
        ("command", |bytes| codec::decode_command(bytes).is_ok()),
        ("kv_record", |bytes| codec::decode_kv_record(bytes).is_ok()),
        ("session_entry", |bytes| codec::decode_session_entry(bytes).is_ok()),
        ("broker", |bytes| codec::decode_broker(bytes).is_ok()),
        ("group", |bytes| codec::decode_group(bytes).is_ok()),
        ("topic", |bytes| codec::decode_topic(bytes).is_ok()),
        ("offset_key", |bytes| codec::decode_offset_key(bytes).is_ok()),
        ("offset_record", |bytes| codec::decode_offset_record(bytes).is_ok()),
        ("audit_record", |bytes| codec::decode_audit_record(bytes).is_ok()),
        ("dr_record", |bytes| codec::decode_dr_record(bytes).is_ok()),
        ("response", |bytes| codec::decode_response(bytes).is_ok()),
        ("snapshot", |bytes| codec::decode_snapshot(bytes).is_ok()),
        ("user", |bytes| codec::decode_user(bytes).is_ok()),
        ("policy", |bytes| codec::decode_policy(bytes).is_ok()),
    ]
}

#[test]
fn lying_lengths_reserve_no_memory() {
    if rerun_with_capped_memory("lying_lengths_reserve_no_memory") {
        return;
    }
    for blob in lying_length_blobs(Some(codec::FORMAT_VERSION)) {
        for (name, decodes) in all_decoders() {
            // Only the length-delimited field at the very front matters here: a length past the
            // end of the blob must be refused.
            if blob.len() < 64 {
                assert!(!decodes(&blob), "{name} accepted a length prefix past the end: {blob:02x?}");
            } else {
                let _ = decodes(&blob);
            }
        }
    }
}

#[test]
fn empty_and_foreign_versions_are_typed_errors() {
    assert_eq!(codec::decode_command(&[]), Err(DecodeError::Empty));
    for version in (0..=u8::MAX).filter(|version| *version != codec::FORMAT_VERSION) {
        assert_eq!(
            codec::decode_snapshot(&[version]),
            Err(DecodeError::UnsupportedVersion { found: version, supported: codec::FORMAT_VERSION })
        );
    }
}
