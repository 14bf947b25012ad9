//! The remoting frame: `i32 BE length | i32 BE (serializeType << 24 | headerLength) | header |
//! body`, where `length` counts everything after itself. Decoding is total: any byte string
//! gives a command, "not enough bytes yet", or a typed [`DecodeError`], never a panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{RemotingCommand, SerializeType};

/// RocketMQ's own frame limit (`NettyDecoder`): 16 MiB, the length prefix included.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;
/// The `i32` length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// The `i32` word that carries the serialize type and the header length.
const HEADER_WORD_BYTES: usize = 4;
/// The header length has 24 bits.
const HEADER_BYTES_MAX: usize = (1 << 24) - 1;

/// Size limits of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest frame accepted, its length prefix included. A larger announced length is refused
    /// before any of its bytes are read.
    pub frame_bytes_max: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits { frame_bytes_max: FRAME_BYTES_MAX_DEFAULT }
    }
}

/// Why bytes are not a remoting frame. Every variant closes the connection they came on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {frame_bytes} bytes is larger than the limit of {frame_bytes_max} bytes")]
    FrameTooLarge { frame_bytes: u64, frame_bytes_max: usize },
    #[error("frame length {length} is too small to hold the header-length word")]
    FrameTooSmall { length: i32 },
    #[error("header of {header_bytes} bytes does not fit in a frame of {frame_bytes} bytes")]
    HeaderTooLong { header_bytes: usize, frame_bytes: usize },
    #[error("unknown serialize type {serialize_type} (0 is JSON, 1 is ROCKETMQ)")]
    UnknownSerializeType { serialize_type: u8 },
    #[error("JSON header is not UTF-8")]
    HeaderNotUtf8,
    #[error("JSON header is not a remoting header: {reason}")]
    HeaderJson { reason: String },
    #[error("binary header is cut short in its {field}")]
    BinaryHeaderTruncated { field: &'static str },
    #[error("binary header has a negative length for its {field}")]
    BinaryHeaderNegativeLength { field: &'static str },
    #[error("binary header's {field} is not UTF-8")]
    BinaryHeaderNotUtf8 { field: &'static str },
}

/// The number of bytes that follow a length prefix, checked against `limits`.
pub fn frame_length(prefix: [u8; LENGTH_PREFIX_BYTES], limits: FrameLimits) -> Result<usize, DecodeError> {
    let length = i32::from_be_bytes(prefix);
    let frame_bytes = i64::from(length) + LENGTH_PREFIX_BYTES as i64;
    if u64::try_from(frame_bytes).is_ok_and(|bytes| bytes > limits.frame_bytes_max as u64) {
        return Err(DecodeError::FrameTooLarge {
            frame_bytes: frame_bytes as u64,
            frame_bytes_max: limits.frame_bytes_max,
        });
    }
    match usize::try_from(length) {
        Ok(length) if length >= HEADER_WORD_BYTES => Ok(length),
        _ => Err(DecodeError::FrameTooSmall { length }),
    }
}

/// Decodes the first frame of `buffer`: `Ok(None)` while it is incomplete, else the command and
/// the bytes it took (prefix included).
pub fn try_decode(buffer: &[u8], limits: FrameLimits) -> Result<Option<(RemotingCommand, usize)>, DecodeError> {
    let Some(prefix) = buffer.first_chunk::<LENGTH_PREFIX_BYTES>() else { return Ok(None) };
    let length = frame_length(*prefix, limits)?;
    let end = LENGTH_PREFIX_BYTES + length;
    let Some(frame) = buffer.get(LENGTH_PREFIX_BYTES..end) else { return Ok(None) };
    Ok(Some((decode_frame(frame)?, end)))
}

/// Decodes one frame without its length prefix (the `length` bytes that followed it).
pub fn decode_frame(frame: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let frame_bytes = frame.len();
    let Some((word, rest)) = frame.split_first_chunk::<HEADER_WORD_BYTES>() else {
        return Err(DecodeError::FrameTooSmall { length: i32::try_from(frame_bytes).unwrap_or(i32::MAX) });
    };
    let word = u32::from_be_bytes(*word);
    let serialize_type = (word >> 24) as u8;
    let header_bytes = (word & 0x00ff_ffff) as usize;
    let serialize_type =
        SerializeType::from_wire(serialize_type).ok_or(DecodeError::UnknownSerializeType { serialize_type })?;
    if header_bytes > rest.len() {
        return Err(DecodeError::HeaderTooLong { header_bytes, frame_bytes });
    }
    let (header, body) = rest.split_at(header_bytes);
    let mut command = match serialize_type {
        SerializeType::Json => decode_json_header(header)?,
        SerializeType::Binary => decode_binary_header(header)?,
    };
    command.body = body.to_vec();
    Ok(command)
}

/// Encodes `command` with a JSON header, length prefix included. Pharos replies only this way.
pub fn encode(command: &RemotingCommand) -> Vec<u8> {
    encode_as(command, SerializeType::Json)
}

/// Encodes `command` with the header in `serialize_type`, length prefix included.
pub fn encode_as(command: &RemotingCommand, serialize_type: SerializeType) -> Vec<u8> {
    let header = match serialize_type {
        SerializeType::Json => encode_json_header(command),
        SerializeType::Binary => encode_binary_header(command),
    };
    assert!(header.len() <= HEADER_BYTES_MAX, "a header of {} bytes cannot be framed", header.len());
    let length = HEADER_WORD_BYTES + header.len() + command.body.len();
    let length = i32::try_from(length).expect("a frame fits in i32: the header is bounded and bodies are ours");
    let word = (u32::from(serialize_type.wire()) << 24) | header.len() as u32;
    let mut frame = Vec::with_capacity(LENGTH_PREFIX_BYTES + length as usize);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&word.to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&command.body);
    frame
}

/// The JSON header as a request sends it. Only `code` is required: Java's fastjson leaves out
/// null fields, and a missing number is 0 there too.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonHeaderIn {
    code: i32,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    /// Values are strings on the wire; a null value counts as absent.
    #[serde(default)]
    ext_fields: Option<BTreeMap<String, Option<String>>>,
}

/// The JSON header as Pharos writes it: every field the strictest decoder (rocketmq-rust's)
/// requires, keys in sorted order, `remark` only when there is one.
#[derive(Debug, Serialize)]
struct JsonHeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields")]
    ext_fields: &'a BTreeMap<String, String>,
    flag: i32,
    language: &'a str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type_current_rpc: &'static str,
    version: i32,
}

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let text = std::str::from_utf8(header).map_err(|_| DecodeError::HeaderNotUtf8)?;
    let parsed: JsonHeaderIn =
        serde_json::from_str(text).map_err(|error| DecodeError::HeaderJson { reason: error.to_string() })?;
    Ok(RemotingCommand {
        code: parsed.code,
        language: parsed.language.unwrap_or_else(|| "OTHER".into()),
        version: parsed.version,
        opaque: parsed.opaque,
        flag: parsed.flag,
        remark: parsed.remark,
        ext_fields: parsed
            .ext_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .collect(),
        body: Vec::new(),
        serialize_type: SerializeType::Json,
    })
}

fn encode_json_header(command: &RemotingCommand) -> Vec<u8> {
    let header = JsonHeaderOut {
        code: command.code,
        ext_fields: &command.ext_fields,
        flag: command.flag,
        language: &command.language,
        opaque: command.opaque,
        remark: command.remark.as_deref(),
        serialize_type_current_rpc: SerializeType::Json.name(),
        version: command.version,
    };
    serde_json::to_vec(&header).expect("a struct of numbers and string maps always serializes")
}

/// Reads the binary header fields in order, each a typed error if cut short.
struct BinaryReader<'a> {
    rest: &'a [u8],
}

impl<'a> BinaryReader<'a> {
    fn take(&mut self, bytes: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if bytes > self.rest.len() {
            return Err(DecodeError::BinaryHeaderTruncated { field });
        }
        let (taken, rest) = self.rest.split_at(bytes);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn length(&mut self, raw: i64, field: &'static str) -> Result<usize, DecodeError> {
        usize::try_from(raw).map_err(|_| DecodeError::BinaryHeaderNegativeLength { field })
    }

    /// An `i32`-length-prefixed UTF-8 string.
    fn text_i32(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let length = i64::from(i32::from_be_bytes(self.array(field)?));
        let length = self.length(length, field)?;
        utf8(self.take(length, field)?, field)
    }
}

fn utf8(bytes: &[u8], field: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::BinaryHeaderNotUtf8 { field })
}

/// RocketMQ's binary header (`RocketMQSerializable`): code i16, language u8, version i16,
/// opaque i32, flag i32, remark (i32 length + UTF-8), ext fields (i32 length, then pairs of
/// i16-length key and i32-length value).
fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut reader = BinaryReader { rest: header };
    let code = i16::from_be_bytes(reader.array("code")?);
    let [language] = reader.array::<1>("language")?;
    let version = i16::from_be_bytes(reader.array("version")?);
    let opaque = i32::from_be_bytes(reader.array("opaque")?);
    let flag = i32::from_be_bytes(reader.array("flag")?);
    let remark = reader.text_i32("remark")?;
    let ext_length = i64::from(i32::from_be_bytes(reader.array("ext fields")?));
    let ext_length = reader.length(ext_length, "ext fields")?;
    let mut ext = BinaryReader { rest: reader.take(ext_length, "ext fields")? };
    let mut ext_fields = BTreeMap::new();
    while !ext.rest.is_empty() {
        let key_length = i64::from(i16::from_be_bytes(ext.array("ext field key")?));
        let key_length = ext.length(key_length, "ext field key")?;
        let key = utf8(ext.take(key_length, "ext field key")?, "ext field key")?;
        let value = ext.text_i32("ext field value")?;
        ext_fields.insert(key, value);
    }
    Ok(RemotingCommand {
        code: i32::from(code),
        language: crate::command::language_name(language).to_string(),
        version: i32::from(version),
        opaque,
        flag,
        remark: (!remark.is_empty()).then_some(remark),
        ext_fields,
        body: Vec::new(),
        serialize_type: SerializeType::Binary,
    })
}

/// The binary header of `command` (for clients and tests: Pharos replies in JSON). Codes and
/// versions outside `i16` are cut to it, as RocketMQ's own encoder does.
fn encode_binary_header(command: &RemotingCommand) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&(command.code as i16).to_be_bytes());
    header.push(crate::command::language_code(&command.language));
    header.extend_from_slice(&(command.version as i16).to_be_bytes());
    header.extend_from_slice(&command.opaque.to_be_bytes());
    header.extend_from_slice(&command.flag.to_be_bytes());
    let remark = command.remark.as_deref().unwrap_or_default().as_bytes();
    header.extend_from_slice(&(remark.len() as i32).to_be_bytes());
    header.extend_from_slice(remark);
    let mut ext = Vec::new();
    for (key, value) in &command.ext_fields {
        ext.extend_from_slice(&(key.len() as i16).to_be_bytes());
        ext.extend_from_slice(key.as_bytes());
        ext.extend_from_slice(&(value.len() as i32).to_be_bytes());
        ext.extend_from_slice(value.as_bytes());
    }
    header.extend_from_slice(&(ext.len() as i32).to_be_bytes());
    header.extend_from_slice(&ext);
    header
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits() -> FrameLimits {
        FrameLimits::default()
    }

    fn sample() -> RemotingCommand {
        RemotingCommand::request(105, 42).with_ext_field("topic", "orders").with_body(b"body".to_vec())
    }

    /// A frame around raw header bytes, with the given serialize type.
    fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
        let length = (HEADER_WORD_BYTES + header.len() + body.len()) as i32;
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&((u32::from(serialize_type) << 24) | header.len() as u32).to_be_bytes());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn json_and_binary_headers_decode_to_the_same_command() {
        for serialize_type in [SerializeType::Json, SerializeType::Binary] {
            let bytes = encode_as(&sample(), serialize_type);
            let (decoded, used) = try_decode(&bytes, limits()).expect("valid").expect("complete");
            assert_eq!(used, bytes.len());
            assert_eq!(decoded, RemotingCommand { serialize_type, ..sample() });
        }
    }

    #[test]
    fn a_java_header_decodes() {
        let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":453}"#;
        let command = decode_frame(&frame(0, header, b"")[4..]).expect("valid");
        assert_eq!((command.code, command.opaque, command.version, command.language.as_str()), (105, 7, 453, "JAVA"));
        assert_eq!(command.ext_field("topic"), Some("TopicTest"));
    }

    #[test]
    fn a_minimal_json_header_takes_defaults() {
        let command = decode_frame(&frame(0, br#"{"code":206,"extFields":{"a":null}}"#, b"")[4..]).expect("valid");
        assert_eq!((command.code, command.opaque, command.flag), (206, 0, 0));
        assert!(command.ext_fields.is_empty(), "a null value is absent");
    }

    #[test]
    fn replies_carry_every_field_the_strict_decoder_requires_in_sorted_order() {
        let request = RemotingCommand { version: 453, ..sample() };
        let reply = RemotingCommand::response(17, Some("no route".into())).answering(&request);
        let bytes = encode(&reply);
        let header_bytes = (u32::from_be_bytes(bytes[4..8].try_into().expect("word")) & 0xff_ffff) as usize;
        assert_eq!(bytes[4], 0, "JSON");
        let header = std::str::from_utf8(&bytes[8..8 + header_bytes]).expect("utf-8");
        assert_eq!(
            header,
            r#"{"code":17,"extFields":{},"flag":1,"language":"JAVA","opaque":42,"remark":"no route","serializeTypeCurrentRPC":"JSON","version":453}"#
        );
        let plain = encode(&RemotingCommand::response(0, None).answering(&request));
        assert!(!String::from_utf8_lossy(&plain).contains("remark"), "no remark, no key");
    }

    #[test]
    fn truncated_frames_are_incomplete_not_errors() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(try_decode(&bytes[..cut], limits()), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn lengths_are_bounded_before_any_body_is_read() {
        let huge = i32::MAX.to_be_bytes();
        assert!(matches!(frame_length(huge, limits()), Err(DecodeError::FrameTooLarge { .. })));
        let at_limit = ((FRAME_BYTES_MAX_DEFAULT - LENGTH_PREFIX_BYTES) as i32).to_be_bytes();
        assert_eq!(frame_length(at_limit, limits()), Ok(FRAME_BYTES_MAX_DEFAULT - LENGTH_PREFIX_BYTES));
        let over = ((FRAME_BYTES_MAX_DEFAULT - LENGTH_PREFIX_BYTES + 1) as i32).to_be_bytes();
        assert!(matches!(frame_length(over, limits()), Err(DecodeError::FrameTooLarge { .. })));
        let small = FrameLimits { frame_bytes_max: 64 };
        assert!(matches!(frame_length(61i32.to_be_bytes(), small), Err(DecodeError::FrameTooLarge { .. })));
        for length in [-1, i32::MIN, 0, 3] {
            assert_eq!(frame_length(length.to_be_bytes(), limits()), Err(DecodeError::FrameTooSmall { length }));
        }
    }

    #[test]
    fn a_header_longer_than_its_frame_is_refused() {
        let mut bytes = frame(0, b"{}", b"");
        bytes[5..8].copy_from_slice(&[0, 0, 200]);
        assert_eq!(decode_frame(&bytes[4..]), Err(DecodeError::HeaderTooLong { header_bytes: 200, frame_bytes: 6 }));
    }

    #[test]
    fn bad_headers_get_typed_errors() {
        let cases: [(Vec<u8>, DecodeError); 6] = [
            (frame(2, b"{}", b""), DecodeError::UnknownSerializeType { serialize_type: 2 }),
            (frame(0xff, b"", b""), DecodeError::UnknownSerializeType { serialize_type: 0xff }),
            (frame(0, &[0xc3, 0x28], b""), DecodeError::HeaderNotUtf8),
            (frame(1, &[0, 105, 0], b""), DecodeError::BinaryHeaderTruncated { field: "version" }),
            (
                frame(1, &[0, 105, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], b""),
                DecodeError::BinaryHeaderNegativeLength { field: "remark" },
            ),
            (
                frame(1, &[0, 105, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0, 0], b""),
                DecodeError::BinaryHeaderNotUtf8 { field: "remark" },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode_frame(&bytes[4..]), Err(expected));
        }
        for header in
            [&b"not json"[..], b"[]", br#"{"opaque":1}"#, br#"{"code":"x"}"#, br#"{"code":1,"extFields":{"a":1}}"#]
        {
            assert!(
                matches!(decode_frame(&frame(0, header, b"")[4..]), Err(DecodeError::HeaderJson { .. })),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = try_decode(&bytes, limits());
            let _ = decode_frame(&bytes);
        }

        #[test]
        fn any_binary_header_decodes_without_panicking(header in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_frame(&frame(1, &header, b"")[4..]);
        }

        #[test]
        fn commands_round_trip_in_both_encodings(
            code in any::<i16>(),
            opaque in any::<i32>(),
            flag in any::<i32>(),
            remark in proptest::option::of("[a-z ]{1,20}"),
            ext in proptest::collection::btree_map("[a-zA-Z]{1,8}", "\\PC{0,12}", 0..4),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let command = RemotingCommand {
                code: i32::from(code), language: "RUST".into(), version: 1, opaque, flag, remark,
                ext_fields: ext, body, serialize_type: SerializeType::Json,
            };
            for serialize_type in [SerializeType::Json, SerializeType::Binary] {
                let bytes = encode_as(&command, serialize_type);
                let (decoded, used) = try_decode(&bytes, limits()).expect("valid").expect("complete");
                prop_assert_eq!(used, bytes.len());
                prop_assert_eq!(decoded, RemotingCommand { serialize_type, ..command.clone() });
            }
        }
    }
}
