//! gRPC server reflection on the client port, in both protocol versions a client may speak:
//! `grpc.reflection.v1` and `grpc.reflection.v1alpha` (stock grpcio-reflection and older
//! grpcurl know only the latter).
//!
//! It answers the way the C++ reference server does: a file comes with every file it imports,
//! transitively; an unknown file, symbol or type is an in-stream `ErrorResponse` and the stream
//! keeps serving; only the services the client port actually serves are listed or resolvable
//! (`RaftService` and `MemberService` are on the peer port only, though their files may still be
//! sent as dependencies: `cluster.proto` imports `raft.proto`).
//!
//! One core answers both versions: [`Index::answer`] maps a version-free [`Question`] to an
//! [`Answer`] or a [`ReflectionError`]; each version only converts its wire types into and out
//! of those.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_reflection::pb::{v1, v1alpha};

/// Every service the client port serves, as reflection lists it. Taken from
/// `proto/pharos/v1/*.proto` (`RaftService` and `MemberService` are peer-port only), gRPC health,
/// and this module's own two services.
pub const SERVED_SERVICES: &[&str] = &[
    "pharos.v1.KvService",
    "pharos.v1.ClusterService",
    "pharos.v1.BrokerService",
    "pharos.v1.TopicService",
    "pharos.v1.OffsetService",
    "pharos.v1.DrService",
    "pharos.v1.AclService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Files that a descriptor set ships under a name other than the one every client imports them
/// by, and that canonical name. A rename whose old name no set holds is a no-op, so an upgrade
/// that fixes a name upstream needs no change here.
const CANONICAL_FILE_NAMES: &[(&str, &str)] = &[
    ("health.proto", "grpc/health/v1/health.proto"),
    ("reflection_v1.proto", "grpc/reflection/v1/reflection.proto"),
    ("reflection_v1alpha.proto", "grpc/reflection/v1alpha/reflection.proto"),
];

/// Responses one reflection stream may have waiting for a slow reader before it stops reading
/// requests.
const RESPONSES_QUEUED_MAX: usize = 16;

/// Largest reflection request accepted. A request is a file or symbol name; anything near this
/// size is not a reflection client.
const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// Why the reflection index could not be built from the compiled-in descriptor sets. Each is a
/// build defect (a descriptor set changed shape), found when the node starts.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot decode the {set} descriptor set: {source}")]
    Decode { set: &'static str, source: prost::DecodeError },
    #[error("the {set} descriptor set holds a file without a name")]
    UnnamedFile { set: &'static str },
    #[error("file {0} is in more than one descriptor set")]
    DuplicateFile(String),
    #[error("symbol {symbol} is declared in both {first} and {second}")]
    DuplicateSymbol { symbol: String, first: String, second: String },
    #[error("{file} imports {dependency}, which no descriptor set holds")]
    MissingDependency { file: String, dependency: String },
    #[error("served service {0} is in no descriptor set")]
    MissingService(String),
}

/// Why a reflection request has no answer. Sent in-stream as an `ErrorResponse`; the stream
/// keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReflectionError {
    #[error("file not found: {0}")]
    UnknownFile(String),
    #[error("symbol not found: {0}")]
    UnknownSymbol(String),
    #[error("extension {extension_number} of {containing_type} not found: this server defines no extensions")]
    UnknownExtension { containing_type: String, extension_number: i32 },
    #[error("message type not found: {0}")]
    UnknownMessageType(String),
    #[error("the request sets no message_request (file_by_filename, file_containing_symbol, list_services, ...)")]
    EmptyRequest,
}

impl ReflectionError {
    /// The gRPC status code the `ErrorResponse` carries.
    pub fn code(&self) -> Code {
        match self {
            ReflectionError::EmptyRequest => Code::InvalidArgument,
            ReflectionError::UnknownFile(_)
            | ReflectionError::UnknownSymbol(_)
            | ReflectionError::UnknownExtension { .. }
            | ReflectionError::UnknownMessageType(_) => Code::NotFound,
        }
    }
}

/// A reflection request, whichever protocol version carried it. Symbol and type names are
/// fully qualified, with or without a leading `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// The file of this name, with its imports.
    FileByFilename(String),
    /// The file declaring this service, method, message, field, enum or enum value, with its
    /// imports.
    FileContainingSymbol(String),
    /// The file declaring this extension of a message type (there are none).
    FileContainingExtension { containing_type: String, extension_number: i32 },
    /// The extension numbers of this message type (none).
    AllExtensionNumbersOfType(String),
    /// The services served.
    ListServices,
}

/// A successful reflection answer, whichever protocol version will carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Encoded `FileDescriptorProto`s: the file asked for first, then every file it imports,
    /// transitively, each once.
    Files(Vec<Vec<u8>>),
    /// The extension numbers known for a message type (always none here).
    ExtensionNumbers { base_type_name: String, extension_numbers: Vec<i32> },
    /// Full names of the services served.
    Services(Vec<String>),
}

/// What a fully qualified name declares. Only messages matter to an answer (extension numbers
/// are asked of message types); the rest is kept for the record and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SymbolKind {
    Service,
    Method,
    Message,
    Field,
    Enum,
    EnumValue,
}

/// One `.proto` file as reflection serves it.
#[derive(Debug)]
struct IndexedFile {
    /// The `FileDescriptorProto`, re-encoded after its name and imports were made canonical.
    encoded: Vec<u8>,
    /// Names of the files it imports, in declaration order (all present in the index).
    dependencies: Vec<String>,
}

/// Where one fully qualified symbol is declared.
#[derive(Debug)]
struct IndexedSymbol {
    file: String,
    kind: SymbolKind,
}

/// Every file and symbol reflection can resolve on the client port. Built once at start from
/// the compiled-in descriptor sets and read-only after that.
#[derive(Debug)]
pub struct Index {
    /// File name → file. Every import of every file is a key here.
    files: BTreeMap<String, IndexedFile>,
    /// Fully qualified symbol (no leading `.`) → its file. Services the client port does not
    /// serve, and their methods, are left out.
    symbols: BTreeMap<String, IndexedSymbol>,
}

impl Index {
    /// The index of everything the client port serves: the `pharos.v1` files, gRPC health, and
    /// both reflection versions.
    pub fn served() -> Result<Index, IndexError> {
        let index = Index::from_sets(&[
            ("pharos.v1", pharos_proto::FILE_DESCRIPTOR_SET),
            ("grpc.health.v1", tonic_health::pb::FILE_DESCRIPTOR_SET),
            ("grpc.reflection.v1", v1::FILE_DESCRIPTOR_SET),
            ("grpc.reflection.v1alpha", v1alpha::FILE_DESCRIPTOR_SET),
        ])?;
        match SERVED_SERVICES.iter().find(|service| !index.symbols.contains_key(**service)) {
            Some(missing) => Err(IndexError::MissingService(missing.to_string())),
            None => Ok(index),
        }
    }

    /// The index of the files in `sets` (each a label for errors and an encoded
    /// `FileDescriptorSet`), in which every import resolves.
    fn from_sets(sets: &[(&'static str, &[u8])]) -> Result<Index, IndexError> {
        let mut index = Index { files: BTreeMap::new(), symbols: BTreeMap::new() };
        for &(set, encoded) in sets {
            let decoded = FileDescriptorSet::decode(encoded).map_err(|source| IndexError::Decode { set, source })?;
            for file in decoded.file {
                index.add_file(set, file)?;
            }
        }
        for (name, file) in &index.files {
            if let Some(missing) = file.dependencies.iter().find(|dependency| !index.files.contains_key(*dependency)) {
                return Err(IndexError::MissingDependency { file: name.clone(), dependency: missing.clone() });
            }
        }
        Ok(index)
    }

    /// Answers one request.
    pub fn answer(&self, question: Question) -> Result<Answer, ReflectionError> {
        match question {
            Question::FileByFilename(name) => {
                self.file_with_dependencies(&name).map(Answer::Files).ok_or(ReflectionError::UnknownFile(name))
            }
            Question::FileContainingSymbol(symbol) => {
                let symbol = without_leading_dot(symbol);
                self.symbols
                    .get(&symbol)
                    .and_then(|found| self.file_with_dependencies(&found.file))
                    .map(Answer::Files)
                    .ok_or(ReflectionError::UnknownSymbol(symbol))
            }
            Question::FileContainingExtension { containing_type, extension_number } => {
                Err(ReflectionError::UnknownExtension {
                    containing_type: without_leading_dot(containing_type),
                    extension_number,
                })
            }
            Question::AllExtensionNumbersOfType(message_type) => {
                let message_type = without_leading_dot(message_type);
                match self.symbols.get(&message_type) {
                    Some(found) if found.kind == SymbolKind::Message => {
                        Ok(Answer::ExtensionNumbers { base_type_name: message_type, extension_numbers: Vec::new() })
                    }
                    _ => Err(ReflectionError::UnknownMessageType(message_type)),
                }
            }
            Question::ListServices => {
                Ok(Answer::Services(SERVED_SERVICES.iter().map(|name| name.to_string()).collect()))
            }
        }
    }

    /// Indexes one file under its canonical name, with its symbols.
    fn add_file(&mut self, set: &'static str, mut file: FileDescriptorProto) -> Result<(), IndexError> {
        let name = canonical_file_name(file.name.as_deref().ok_or(IndexError::UnnamedFile { set })?).to_string();
        file.name = Some(name.clone());
        for dependency in &mut file.dependency {
            *dependency = canonical_file_name(dependency).to_string();
        }
        if self.files.contains_key(&name) {
            return Err(IndexError::DuplicateFile(name));
        }
        let package = file.package().to_string();
        for service in &file.service {
            let service_name = qualified(&package, service.name());
            if !SERVED_SERVICES.contains(&service_name.as_str()) {
                continue;
            }
            for method in &service.method {
                self.add_symbol(qualified(&service_name, method.name()), &name, SymbolKind::Method)?;
            }
            self.add_symbol(service_name, &name, SymbolKind::Service)?;
        }
        for message in &file.message_type {
            self.add_message(&package, message, &name)?;
        }
        for enumeration in &file.enum_type {
            self.add_enum(&package, enumeration, &name)?;
        }
        let indexed = IndexedFile { encoded: file.encode_to_vec(), dependencies: file.dependency };
        self.files.insert(name, indexed);
        Ok(())
    }

    /// Indexes a message declared in `scope` (a package or an enclosing message): itself, its
    /// fields, and its nested messages and enums.
    fn add_message(&mut self, scope: &str, message: &DescriptorProto, file: &str) -> Result<(), IndexError> {
        let message_name = qualified(scope, message.name());
        for field in &message.field {
            self.add_symbol(qualified(&message_name, field.name()), file, SymbolKind::Field)?;
        }
        for nested in &message.nested_type {
            self.add_message(&message_name, nested, file)?;
        }
        for enumeration in &message.enum_type {
            self.add_enum(&message_name, enumeration, file)?;
        }
        self.add_symbol(message_name, file, SymbolKind::Message)
    }

    /// Indexes an enum declared in `scope` and its values. Values are siblings of their enum, not
    /// children (protobuf's C++ scoping rule): `pharos.v1.Color.RED` is `pharos.v1.RED`.
    fn add_enum(&mut self, scope: &str, enumeration: &EnumDescriptorProto, file: &str) -> Result<(), IndexError> {
        for value in &enumeration.value {
            self.add_symbol(qualified(scope, value.name()), file, SymbolKind::EnumValue)?;
        }
        self.add_symbol(qualified(scope, enumeration.name()), file, SymbolKind::Enum)
    }

    fn add_symbol(&mut self, symbol: String, file: &str, kind: SymbolKind) -> Result<(), IndexError> {
        if let Some(existing) = self.symbols.get(&symbol) {
            return Err(IndexError::DuplicateSymbol { symbol, first: existing.file.clone(), second: file.to_string() });
        }
        self.symbols.insert(symbol, IndexedSymbol { file: file.to_string(), kind });
        Ok(())
    }

    /// Names of `name` and every file it imports, transitively: `name` first, then depth first in
    /// import order, each once. `None` when the index has no file `name`.
    fn file_names_with_dependencies<'index>(&'index self, name: &str) -> Option<Vec<&'index str>> {
        let (first, _) = self.files.get_key_value(name)?;
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        let mut pending = vec![first.as_str()];
        while let Some(next) = pending.pop() {
            let Some(file) = self.files.get(next) else { continue };
            if !seen.insert(next) {
                continue;
            }
            order.push(next);
            pending.extend(file.dependencies.iter().rev().map(String::as_str));
        }
        Some(order)
    }

    /// The encoded files [`Index::file_names_with_dependencies`] names.
    fn file_with_dependencies(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        let names = self.file_names_with_dependencies(name)?;
        Some(names.into_iter().filter_map(|name| self.files.get(name)).map(|file| file.encoded.clone()).collect())
    }
}

/// `name` under its canonical file name ([`CANONICAL_FILE_NAMES`]).
fn canonical_file_name(name: &str) -> &str {
    CANONICAL_FILE_NAMES.iter().find(|(shipped, _)| *shipped == name).map_or(name, |(_, canonical)| canonical)
}

/// `name` inside `scope` (a package, service, or message; empty for the root package).
fn qualified(scope: &str, name: &str) -> String {
    if scope.is_empty() { name.to_string() } else { format!("{scope}.{name}") }
}

fn without_leading_dot(symbol: String) -> String {
    match symbol.strip_prefix('.') {
        Some(stripped) => stripped.to_string(),
        None => symbol,
    }
}

/// Serves one reflection stream: exactly one response per request, in order, until the client
/// stops sending or goes away. A transport error on the requests is the stream's last item.
fn answer_stream<Asked, Told>(
    index: Arc<Index>,
    mut requests: Streaming<Asked>,
    respond: fn(&Index, Asked) -> Told,
) -> ReceiverStream<Result<Told, Status>>
where
    Asked: Send + 'static,
    Told: Send + 'static,
{
    let (sender, receiver) = mpsc::channel(RESPONSES_QUEUED_MAX);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = requests.message() => next,
                () = sender.closed() => return,
            };
            let response = match next {
                Ok(Some(request)) => Ok(respond(&index, request)),
                Ok(None) => return,
                Err(status) => Err(status),
            };
            let failed = response.is_err();
            if sender.send(response).await.is_err() || failed {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// Defines the reflection service of one protocol version (`$pb`: its generated types) over the
/// shared [`Index`]. The versions' messages have the same shape but distinct types, so each gets
/// the same thin conversions; all decisions stay in [`Index::answer`].
macro_rules! reflection_service {
    ($(#[$doc:meta])* $service:ident, $pb:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $service {
            index: Arc<Index>,
        }

        impl $service {
            /// The service over `index`.
            pub fn new(index: Arc<Index>) -> Self {
                $service { index }
            }

            /// The service as a tonic server, with the reflection request size limit.
            pub fn into_server(self) -> $pb::server_reflection_server::ServerReflectionServer<Self> {
                $pb::server_reflection_server::ServerReflectionServer::new(self)
                    .max_decoding_message_size(REQUEST_BYTES_MAX)
            }

            /// The one response to `request`, echoing its host and the request itself.
            fn respond(index: &Index, request: $pb::ServerReflectionRequest) -> $pb::ServerReflectionResponse {
                use $pb::server_reflection_request::MessageRequest;
                use $pb::server_reflection_response::MessageResponse;
                let question = match &request.message_request {
                    None => Err(ReflectionError::EmptyRequest),
                    Some(MessageRequest::FileByFilename(name)) => Ok(Question::FileByFilename(name.clone())),
                    Some(MessageRequest::FileContainingSymbol(symbol)) => {
                        Ok(Question::FileContainingSymbol(symbol.clone()))
                    }
                    Some(MessageRequest::FileContainingExtension(extension)) => {
                        Ok(Question::FileContainingExtension {
                            containing_type: extension.containing_type.clone(),
                            extension_number: extension.extension_number,
                        })
                    }
                    Some(MessageRequest::AllExtensionNumbersOfType(message_type)) => {
                        Ok(Question::AllExtensionNumbersOfType(message_type.clone()))
                    }
                    Some(MessageRequest::ListServices(_)) => Ok(Question::ListServices),
                };
                let message_response = match question.and_then(|question| index.answer(question)) {
                    Ok(Answer::Files(files)) => MessageResponse::FileDescriptorResponse($pb::FileDescriptorResponse {
                        file_descriptor_proto: files,
                    }),
                    Ok(Answer::ExtensionNumbers { base_type_name, extension_numbers }) => {
                        MessageResponse::AllExtensionNumbersResponse($pb::ExtensionNumberResponse {
                            base_type_name,
                            extension_number: extension_numbers,
                        })
                    }
                    Ok(Answer::Services(names)) => MessageResponse::ListServicesResponse($pb::ListServiceResponse {
                        service: names.into_iter().map(|name| $pb::ServiceResponse { name }).collect(),
                    }),
                    Err(error) => MessageResponse::ErrorResponse($pb::ErrorResponse {
                        error_code: error.code() as i32,
                        error_message: error.to_string(),
                    }),
                };
                $pb::ServerReflectionResponse {
                    valid_host: request.host.clone(),
                    original_request: Some(request),
                    message_response: Some(message_response),
                }
            }
        }

        #[tonic::async_trait]
        impl $pb::server_reflection_server::ServerReflection for $service {
            type ServerReflectionInfoStream = ReceiverStream<Result<$pb::ServerReflectionResponse, Status>>;

            async fn server_reflection_info(
                &self,
                request: Request<Streaming<$pb::ServerReflectionRequest>>,
            ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
                Ok(Response::new(answer_stream(self.index.clone(), request.into_inner(), Self::respond)))
            }
        }
    };
}

reflection_service!(
    /// `grpc.reflection.v1.ServerReflection` over the shared [`Index`].
    V1Reflection,
    v1
);
reflection_service!(
    /// `grpc.reflection.v1alpha.ServerReflection` over the shared [`Index`].
    V1AlphaReflection,
    v1alpha
);

/// The v1 reflection server, ready for `Server::builder().add_service`.
pub type V1Server = v1::server_reflection_server::ServerReflectionServer<V1Reflection>;
/// The v1alpha reflection server, ready for `Server::builder().add_service`.
pub type V1AlphaServer = v1alpha::server_reflection_server::ServerReflectionServer<V1AlphaReflection>;

/// Both reflection servers for the client port, sharing one [`Index::served`].
pub fn services() -> Result<(V1Server, V1AlphaServer), IndexError> {
    let index = Arc::new(Index::served()?);
    Ok((V1Reflection::new(index.clone()).into_server(), V1AlphaReflection::new(index).into_server()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        Index::served().expect("the compiled-in descriptor sets index")
    }

    /// The names of the files in a `Files` answer, in order.
    fn file_names(answer: Result<Answer, ReflectionError>) -> Vec<String> {
        let Ok(Answer::Files(files)) = answer else { panic!("not a file answer: {answer:?}") };
        files
            .iter()
            .map(|encoded| FileDescriptorProto::decode(encoded.as_slice()).expect("decodes").name().to_string())
            .collect()
    }

    #[test]
    fn a_file_comes_first_then_its_transitive_imports_each_once() {
        let names = file_names(index().answer(Question::FileByFilename("pharos/v1/dr.proto".into())));
        // dr imports cluster, which imports raft, kv and backup (which imports raft again).
        assert_eq!(
            names,
            [
                "pharos/v1/dr.proto",
                "pharos/v1/cluster.proto",
                "pharos/v1/raft.proto",
                "pharos/v1/kv.proto",
                "pharos/v1/backup.proto"
            ]
        );
    }

    #[test]
    fn a_file_imported_twice_is_sent_once() {
        // member imports cluster and dr; dr imports cluster again.
        let names = file_names(index().answer(Question::FileByFilename("pharos/v1/member.proto".into())));
        assert_eq!(
            names,
            [
                "pharos/v1/member.proto",
                "pharos/v1/cluster.proto",
                "pharos/v1/raft.proto",
                "pharos/v1/kv.proto",
                "pharos/v1/backup.proto",
                "pharos/v1/dr.proto"
            ]
        );
    }

    #[test]
    fn symbols_resolve_to_their_file_with_or_without_a_leading_dot() {
        let index = index();
        for symbol in [
            "pharos.v1.DrService",
            ".pharos.v1.DrService",
            "pharos.v1.KvService.Put",
            "pharos.v1.PutRequest",
            "grpc.health.v1.HealthCheckResponse.ServingStatus",
            "grpc.health.v1.HealthCheckResponse.SERVING",
        ] {
            let names = file_names(index.answer(Question::FileContainingSymbol(symbol.into())));
            let expected = if symbol.contains("health") {
                "grpc/health/v1/health.proto"
            } else if symbol.contains("Dr") {
                "pharos/v1/dr.proto"
            } else {
                "pharos/v1/kv.proto"
            };
            assert_eq!(names.first().map(String::as_str), Some(expected), "{symbol}");
        }
    }

    /// A file in package `test.nested` named `name`, importing `imports`, declaring `messages`.
    fn test_file(name: &str, imports: &[&str], messages: Vec<DescriptorProto>) -> FileDescriptorProto {
        FileDescriptorProto {
            name: Some(name.into()),
            package: Some("test.nested".into()),
            dependency: imports.iter().map(|import| import.to_string()).collect(),
            message_type: messages,
            ..FileDescriptorProto::default()
        }
    }

    fn message(name: &str, nested_type: Vec<DescriptorProto>, enum_type: Vec<EnumDescriptorProto>) -> DescriptorProto {
        DescriptorProto { name: Some(name.into()), nested_type, enum_type, ..DescriptorProto::default() }
    }

    fn encoded_set(files: Vec<FileDescriptorProto>) -> Vec<u8> {
        FileDescriptorSet { file: files }.encode_to_vec()
    }

    #[test]
    fn nested_messages_and_enums_resolve_under_their_enclosing_message() {
        // The served protos have no nested messages today, so the nesting is built here.
        let kind = EnumDescriptorProto {
            name: Some("Kind".into()),
            value: vec![prost_types::EnumValueDescriptorProto { name: Some("KIND_A".into()), ..Default::default() }],
            ..Default::default()
        };
        let outer =
            message("Outer", vec![message("Inner", vec![message("Deeper", vec![], vec![])], vec![kind])], vec![]);
        let set = encoded_set(vec![test_file("test/nested.proto", &[], vec![outer])]);
        let index = Index::from_sets(&[("test", &set)]).expect("indexes");
        for (symbol, kind) in [
            ("test.nested.Outer", SymbolKind::Message),
            ("test.nested.Outer.Inner", SymbolKind::Message),
            ("test.nested.Outer.Inner.Deeper", SymbolKind::Message),
            ("test.nested.Outer.Inner.Kind", SymbolKind::Enum),
            ("test.nested.Outer.Inner.KIND_A", SymbolKind::EnumValue),
        ] {
            assert_eq!(index.symbols.get(symbol).map(|found| found.kind), Some(kind), "{symbol}");
            assert_eq!(file_names(index.answer(Question::FileContainingSymbol(symbol.into()))), ["test/nested.proto"]);
        }
        assert_eq!(
            index.answer(Question::AllExtensionNumbersOfType("test.nested.Outer.Inner.Deeper".into())),
            Ok(Answer::ExtensionNumbers {
                base_type_name: "test.nested.Outer.Inner.Deeper".into(),
                extension_numbers: vec![]
            })
        );
        // Not a root-level name.
        assert!(index.answer(Question::FileContainingSymbol("test.nested.Inner".into())).is_err());
    }

    #[test]
    fn a_broken_descriptor_set_is_refused_at_start() {
        let dangling = encoded_set(vec![test_file("test/a.proto", &["test/missing.proto"], vec![])]);
        assert!(matches!(
            Index::from_sets(&[("test", &dangling)]),
            Err(IndexError::MissingDependency { file, dependency }) if file == "test/a.proto" && dependency == "test/missing.proto"
        ));
        let twice = encoded_set(vec![
            test_file("test/a.proto", &[], vec![message("Same", vec![], vec![])]),
            test_file("test/b.proto", &[], vec![message("Same", vec![], vec![])]),
        ]);
        assert!(matches!(
            Index::from_sets(&[("test", &twice)]),
            Err(IndexError::DuplicateSymbol { symbol, .. }) if symbol == "test.nested.Same"
        ));
        let one = encoded_set(vec![test_file("test/a.proto", &[], vec![])]);
        assert!(
            matches!(Index::from_sets(&[("first", &one), ("second", &one)]), Err(IndexError::DuplicateFile(name)) if name == "test/a.proto")
        );
        assert!(matches!(
            Index::from_sets(&[("garbage", &[0xff, 0xff])]),
            Err(IndexError::Decode { set: "garbage", .. })
        ));
    }

    #[test]
    fn peer_port_services_do_not_resolve_but_their_files_do() {
        let index = index();
        for symbol in [
            "pharos.v1.RaftService",
            "pharos.v1.MemberService",
            "pharos.v1.RaftService.AppendEntries",
            ".pharos.v1.RaftService",
        ] {
            let stripped = symbol.trim_start_matches('.').to_string();
            assert_eq!(
                index.answer(Question::FileContainingSymbol(symbol.into())),
                Err(ReflectionError::UnknownSymbol(stripped)),
                "{symbol}"
            );
        }
        assert_eq!(
            file_names(index.answer(Question::FileByFilename("pharos/v1/raft.proto".into())))[0],
            "pharos/v1/raft.proto"
        );
    }

    #[test]
    fn the_list_is_exactly_the_services_the_client_port_serves() {
        let Ok(Answer::Services(names)) = index().answer(Question::ListServices) else { panic!("not a service list") };
        // The list itself is restated independently by the outsider's test (tests/reflection.rs).
        assert_eq!(names, SERVED_SERVICES);
        assert!(!names.iter().any(|name| name.ends_with("RaftService") || name.ends_with("MemberService")));
    }

    #[test]
    fn every_service_in_the_pharos_files_is_either_served_or_peer_only() {
        let index = index();
        let declared = index
            .files
            .values()
            .filter_map(|file| FileDescriptorProto::decode(file.encoded.as_slice()).ok())
            .flat_map(|file| {
                let package = file.package().to_string();
                file.service.into_iter().map(move |service| qualified(&package, service.name()))
            })
            .collect::<BTreeSet<_>>();
        let peer_only = ["pharos.v1.MemberService", "pharos.v1.RaftService"];
        let expected = SERVED_SERVICES.iter().chain(&peer_only).map(|name| name.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(declared, expected, "a service was added to or removed from the protos");
    }

    #[test]
    fn health_and_reflection_files_are_under_their_canonical_names() {
        let index = index();
        for (name, symbol) in [
            ("grpc/health/v1/health.proto", "grpc.health.v1.Health"),
            ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1.ServerReflection"),
            ("grpc/reflection/v1alpha/reflection.proto", "grpc.reflection.v1alpha.ServerReflection"),
        ] {
            assert_eq!(file_names(index.answer(Question::FileByFilename(name.into()))), [name]);
            assert_eq!(file_names(index.answer(Question::FileContainingSymbol(symbol.into()))), [name]);
        }
        assert_eq!(
            index.answer(Question::FileByFilename("health.proto".into())),
            Err(ReflectionError::UnknownFile("health.proto".into()))
        );
    }

    #[test]
    fn unknown_names_and_extensions_are_not_found() {
        let index = index();
        let refused = [
            (Question::FileByFilename("nope.proto".into()), ReflectionError::UnknownFile("nope.proto".into())),
            (
                Question::FileContainingSymbol("pharos.v1.Nope".into()),
                ReflectionError::UnknownSymbol("pharos.v1.Nope".into()),
            ),
            (
                Question::FileContainingExtension {
                    containing_type: ".pharos.v1.PutRequest".into(),
                    extension_number: 100,
                },
                ReflectionError::UnknownExtension {
                    containing_type: "pharos.v1.PutRequest".into(),
                    extension_number: 100,
                },
            ),
            (
                Question::AllExtensionNumbersOfType("pharos.v1.Nope".into()),
                ReflectionError::UnknownMessageType("pharos.v1.Nope".into()),
            ),
            // A service is not a message type.
            (
                Question::AllExtensionNumbersOfType("pharos.v1.KvService".into()),
                ReflectionError::UnknownMessageType("pharos.v1.KvService".into()),
            ),
        ];
        for (question, error) in refused {
            assert_eq!(error.code(), Code::NotFound);
            assert_eq!(index.answer(question.clone()), Err(error), "{question:?}");
        }
        assert_eq!(ReflectionError::EmptyRequest.code(), Code::InvalidArgument);
    }

    #[test]
    fn a_known_message_has_no_extension_numbers() {
        assert_eq!(
            index().answer(Question::AllExtensionNumbersOfType(".pharos.v1.PutRequest".into())),
            Ok(Answer::ExtensionNumbers {
                base_type_name: "pharos.v1.PutRequest".into(),
                extension_numbers: Vec::new()
            })
        );
    }

    #[test]
    fn each_version_echoes_the_request_and_answers_an_empty_one_with_invalid_argument() {
        let index = index();
        let request = v1::ServerReflectionRequest { host: "node-1".into(), message_request: None };
        let response = V1Reflection::respond(&index, request.clone());
        assert_eq!((response.valid_host.as_str(), response.original_request.as_ref()), ("node-1", Some(&request)));
        let Some(v1::server_reflection_response::MessageResponse::ErrorResponse(error)) = response.message_response
        else {
            panic!("not an error: {response:?}")
        };
        assert_eq!(error.error_code, Code::InvalidArgument as i32);

        let request = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "pharos.v1.RaftService".into(),
            )),
        };
        let response = V1AlphaReflection::respond(&index, request.clone());
        assert_eq!(response.original_request.as_ref(), Some(&request));
        let Some(v1alpha::server_reflection_response::MessageResponse::ErrorResponse(error)) =
            response.message_response
        else {
            panic!("not an error: {response:?}")
        };
        assert_eq!((error.error_code, error.error_message.as_str()), (5, "symbol not found: pharos.v1.RaftService"));
    }
}
