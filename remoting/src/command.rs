//! `RemotingCommand`: one request or response of the RocketMQ remoting protocol, decoded.

use std::collections::BTreeMap;

/// `flag` bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit 1: the request wants no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// How a header was encoded on the wire: the high byte of the header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerializeType {
    /// `0`: a JSON object (the default of the Java and Rust clients).
    Json,
    /// `1`: RocketMQ's own binary layout (`RocketMQSerializable`).
    Binary,
}

impl SerializeType {
    pub fn from_wire(byte: u8) -> Option<SerializeType> {
        match byte {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::Binary),
            _ => None,
        }
    }

    pub fn wire(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::Binary => 1,
        }
    }

    /// The name the JSON header's `serializeTypeCurrentRPC` carries.
    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::Binary => "ROCKETMQ",
        }
    }
}

/// RocketMQ's `LanguageCode`, by the number the binary header carries. The JSON header carries
/// the name; the binary one the index into this table.
const LANGUAGES: [&str; 13] =
    ["JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"];

/// The language name of a binary header's language byte (`OTHER` for a number nobody assigned).
pub fn language_name(code: u8) -> &'static str {
    LANGUAGES.get(usize::from(code)).copied().unwrap_or("OTHER")
}

/// The binary header's language byte of a language name (`OTHER` for an unknown name).
pub fn language_code(name: &str) -> u8 {
    let other = 7;
    LANGUAGES.iter().position(|known| *known == name).and_then(|index| u8::try_from(index).ok()).unwrap_or(other)
}

/// The language Pharos names in its replies. `JAVA`, not `RUST`: every RocketMQ decoder knows
/// it (Java clients before 5.x have no `RUST` in their enum), and no client changes behaviour on
/// the server's language.
pub const REPLY_LANGUAGE: &str = "JAVA";

/// One decoded frame. Requests and responses share the shape; `flag` tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// The request code of a request, the response code of a response.
    pub code: i32,
    /// The sender's implementation language, by name (`JAVA`, `RUST`, ...).
    pub language: String,
    /// The sender's RocketMQ version number.
    pub version: i32,
    /// Chosen by the requester; a response carries its request's.
    pub opaque: i32,
    /// [`FLAG_RESPONSE`], [`FLAG_ONEWAY`].
    pub flag: i32,
    pub remark: Option<String>,
    /// The request's or response's custom header, flattened to strings.
    pub ext_fields: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// How the header arrived; replies are always JSON.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with `code`, as a RocketMQ client would send it (used by tests and tools).
    pub fn request(code: i32, opaque: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: "RUST".into(),
            version: 0,
            opaque,
            flag: 0,
            remark: None,
            ext_fields: BTreeMap::new(),
            body: Vec::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response with `code` and `remark`; [`RemotingCommand::answering`] ties it to a request.
    pub fn response(code: i32, remark: Option<String>) -> RemotingCommand {
        RemotingCommand {
            code,
            language: REPLY_LANGUAGE.into(),
            version: 0,
            opaque: 0,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: BTreeMap::new(),
            body: Vec::new(),
            serialize_type: SerializeType::Json,
        }
    }

    pub fn with_body(mut self, body: Vec<u8>) -> RemotingCommand {
        self.body = body;
        self
    }

    pub fn with_ext_field(mut self, key: &str, value: impl Into<String>) -> RemotingCommand {
        self.ext_fields.insert(key.to_string(), value.into());
        self
    }

    /// This response made the answer to `request`: its opaque, its version, the response flag,
    /// a JSON header.
    pub fn answering(mut self, request: &RemotingCommand) -> RemotingCommand {
        self.opaque = request.opaque;
        self.version = request.version;
        self.flag = FLAG_RESPONSE;
        self.language = REPLY_LANGUAGE.into();
        self.serialize_type = SerializeType::Json;
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn ext_field(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key).map(String::as_str)
    }
}
