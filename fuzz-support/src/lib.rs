//! What every Pharos fuzz target shares (dev-only): the case budget, protobuf-shaped random
//! bodies with lying lengths and deep nesting, mutations of valid encodings, and the blobs and
//! capped-memory child that prove no decoder reserves memory from an untrusted length.
//! Stable Rust: these are proptest strategies, not libFuzzer targets (docs/security.md, "Fuzzing").
//! Also the harness of the golden fixtures ([`golden`]), which pin the bytes the decoders read.

pub mod golden;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// `PHAROS_FUZZ_CASES` cases per property (default 256), no failure persistence files.
pub fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PHAROS_FUZZ_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256);
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

pub fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes
}

/// Mostly the values that break decoders: huge lengths and counts, sign and width edges.
pub fn edge_u64() -> impl Strategy<Value = u64> {
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
pub enum Field {
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

pub fn tag() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..32, 1 => 0u32..(1 << 29)]
}

pub fn field() -> impl Strategy<Value = Field> {
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

pub fn encode_fields(fields: &[Field], out: &mut Vec<u8>) {
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
pub fn protobuf_blob(version: Option<u8>) -> impl Strategy<Value = Vec<u8>> {
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
pub enum Mutation {
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

pub fn mutation() -> impl Strategy<Value = Mutation> {
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

pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 1..6)
}

pub fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
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
pub fn lying_length_blobs(version: Option<u8>) -> Vec<Vec<u8>> {
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
pub fn rerun_with_capped_memory(test: &str) -> bool {
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
