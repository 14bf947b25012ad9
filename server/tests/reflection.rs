//! gRPC server reflection on a real node's client port, driven the way outside tools drive it:
//! one bidirectional stream per protocol version (`grpc.reflection.v1` for current grpcurl,
//! `grpc.reflection.v1alpha` for stock grpcio-reflection and older grpcurl), several requests
//! on it, errors answered in-stream while the stream keeps serving.

use std::collections::BTreeSet;
use std::time::Duration;

use pharos_chaos::{Cluster, ClusterOptions};
use prost::Message;
use prost_types::FileDescriptorProto;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Exactly what the client port serves; `pharos.v1.RaftService` and `pharos.v1.MemberService`
/// are peer-port only.
const SERVED: [&str; 10] = [
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

/// The host every request names, so the echo in `valid_host` is checked against something.
const HOST: &str = "reflection-test";

/// Names of encoded `FileDescriptorProto`s, in order.
fn file_names(files: &[Vec<u8>]) -> Vec<String> {
    files
        .iter()
        .map(|encoded| {
            FileDescriptorProto::decode(encoded.as_slice()).expect("a FileDescriptorProto").name().to_string()
        })
        .collect()
}

/// One version's conversation: the same requests and expectations over that version's types.
macro_rules! conversation {
    ($module:ident, $version:ident, $reflection_file:literal) => {
        mod $module {
            use tokio::sync::mpsc;
            use tokio_stream::wrappers::ReceiverStream;
            use tonic::transport::Channel;
            use tonic_reflection::pb::$version as pb;

            use super::*;
            use pb::server_reflection_request::MessageRequest;
            use pb::server_reflection_response::MessageResponse;

            /// One open reflection stream.
            struct Stream {
                requests: mpsc::Sender<pb::ServerReflectionRequest>,
                responses: tonic::Streaming<pb::ServerReflectionResponse>,
            }

            impl Stream {
                async fn open(channel: Channel) -> Stream {
                    let (requests, receiver) = mpsc::channel(4);
                    let mut client = pb::server_reflection_client::ServerReflectionClient::new(channel);
                    let responses = client
                        .server_reflection_info(ReceiverStream::new(receiver))
                        .await
                        .expect(concat!(stringify!($version), " reflection is served"))
                        .into_inner();
                    Stream { requests, responses }
                }

                /// Sends one request and returns the one response's answer, after checking it
                /// echoes the host and the request.
                async fn ask(&mut self, message_request: Option<MessageRequest>) -> MessageResponse {
                    let request = pb::ServerReflectionRequest { host: HOST.into(), message_request };
                    self.requests.send(request.clone()).await.expect("request sent");
                    let response =
                        self.responses.message().await.expect("no transport error").expect("a response per request");
                    assert_eq!(response.valid_host, HOST);
                    assert_eq!(response.original_request.as_ref(), Some(&request), "the request is echoed");
                    response.message_response.expect("an answer")
                }

                async fn files(&mut self, message_request: MessageRequest) -> Vec<String> {
                    match self.ask(Some(message_request.clone())).await {
                        MessageResponse::FileDescriptorResponse(files) => file_names(&files.file_descriptor_proto),
                        other => panic!("{message_request:?}: not files but {other:?}"),
                    }
                }

                async fn error(&mut self, message_request: Option<MessageRequest>) -> pb::ErrorResponse {
                    match self.ask(message_request.clone()).await {
                        MessageResponse::ErrorResponse(error) => error,
                        other => panic!("{message_request:?}: not an error but {other:?}"),
                    }
                }
            }

            pub async fn run(channel: Channel) {
                let mut stream = Stream::open(channel).await;

                let MessageResponse::ListServicesResponse(list) =
                    stream.ask(Some(MessageRequest::ListServices(String::new()))).await
                else {
                    panic!("not a service list");
                };
                let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
                assert_eq!(names.iter().map(String::as_str).collect::<BTreeSet<_>>(), BTreeSet::from(SERVED));
                assert_eq!(names.len(), SERVED.len(), "each service listed once: {names:?}");

                // The file first, then its imports, transitively, each once.
                let dr = stream.files(MessageRequest::FileContainingSymbol("pharos.v1.DrService".into())).await;
                assert_eq!(
                    dr,
                    [
                        "pharos/v1/dr.proto",
                        "pharos/v1/cluster.proto",
                        "pharos/v1/raft.proto",
                        "pharos/v1/kv.proto",
                        "pharos/v1/backup.proto"
                    ]
                );

                // An unknown symbol is answered in-stream, and the stream goes on.
                let unknown =
                    stream.error(Some(MessageRequest::FileContainingSymbol("pharos.v1.NoSuchService".into()))).await;
                assert_eq!(unknown.error_code, tonic::Code::NotFound as i32);
                assert!(unknown.error_message.contains("pharos.v1.NoSuchService"), "{}", unknown.error_message);
                let kv = stream.files(MessageRequest::FileContainingSymbol(".pharos.v1.KvService.Put".into())).await;
                assert_eq!(kv, ["pharos/v1/kv.proto"]);

                // Peer-port services are not resolvable on the client port.
                let raft =
                    stream.error(Some(MessageRequest::FileContainingSymbol("pharos.v1.RaftService".into()))).await;
                assert_eq!(raft.error_code, tonic::Code::NotFound as i32);

                // Health under its canonical name, as clients import it.
                let health =
                    stream.ask(Some(MessageRequest::FileByFilename("grpc/health/v1/health.proto".into()))).await;
                let MessageResponse::FileDescriptorResponse(health) = health else { panic!("not files: {health:?}") };
                let health = FileDescriptorProto::decode(health.file_descriptor_proto[0].as_slice()).expect("decodes");
                assert_eq!((health.name(), health.package()), ("grpc/health/v1/health.proto", "grpc.health.v1"));
                assert_eq!(health.service.iter().map(|service| service.name()).collect::<Vec<_>>(), ["Health"]);

                // No extensions anywhere: none of a known message, not found for an unknown type.
                let numbers =
                    stream.ask(Some(MessageRequest::AllExtensionNumbersOfType("pharos.v1.PutRequest".into()))).await;
                let MessageResponse::AllExtensionNumbersResponse(numbers) = numbers else { panic!("{numbers:?}") };
                assert_eq!(
                    (numbers.base_type_name.as_str(), numbers.extension_number.len()),
                    ("pharos.v1.PutRequest", 0)
                );
                let no_type =
                    stream.error(Some(MessageRequest::AllExtensionNumbersOfType("pharos.v1.Nope".into()))).await;
                assert_eq!(no_type.error_code, tonic::Code::NotFound as i32);
                let extension =
                    pb::ExtensionRequest { containing_type: "pharos.v1.PutRequest".into(), extension_number: 100 };
                let extension = stream.error(Some(MessageRequest::FileContainingExtension(extension))).await;
                assert_eq!(extension.error_code, tonic::Code::NotFound as i32);

                // A request that asks nothing is invalid, in-stream, and the stream still serves.
                let empty = stream.error(None).await;
                assert_eq!(empty.error_code, tonic::Code::InvalidArgument as i32);
                let own = stream
                    .files(MessageRequest::FileContainingSymbol(
                        concat!("grpc.reflection.", stringify!($version), ".ServerReflection").into(),
                    ))
                    .await;
                assert_eq!(own, [$reflection_file]);

                // The client closing its side ends the stream cleanly.
                drop(stream.requests);
                assert!(
                    stream.responses.message().await.expect("clean end").is_none(),
                    "nothing after the last answer"
                );
            }
        }
    };
}

conversation!(v1_conversation, v1, "grpc/reflection/v1/reflection.proto");
conversation!(v1alpha_conversation, v1alpha, "grpc/reflection/v1alpha/reflection.proto");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_reflection_versions_answer_in_stream_with_dependencies_and_only_served_services() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options =
            ClusterOptions { binary: env!("CARGO_BIN_EXE_pharos").into(), voters: 1, ..ClusterOptions::default() };
        let cluster = Cluster::start(options).await.expect("node starts");
        let address = format!("http://{}", cluster.node(1).expect("node").client_addr);
        let channel =
            tonic::transport::Endpoint::from_shared(address).expect("endpoint").connect().await.expect("connect");
        v1_conversation::run(channel.clone()).await;
        v1alpha_conversation::run(channel).await;
    })
    .await
    .expect("test finished in time");
}
