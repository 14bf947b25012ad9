//! Every RPC the client sends, in one table: its gRPC service and method, its request and
//! response types, and its [`RetryClass`]. `Client::send` is the only code that sends any of
//! them, so the retry rule of an RPC is the class written here and nothing else.

use std::future::Future;

use pharos_proto::v1;
use tonic::transport::Channel;

use crate::RetryClass;

/// One RPC of the client-facing API.
pub(crate) trait Rpc {
    /// `pharos.v1.<Service>/<Method>`, as gRPC names it on the wire.
    const NAME: &'static str;
    const RETRY: RetryClass;
    type Request: Clone + Send + 'static;
    type Response;

    /// The idempotency key of the request, for [`RetryClass::Idempotent`] RPCs only (the table
    /// asserts that these are exactly the requests with a `request_id` field).
    fn request_id(request: &mut Self::Request) -> Option<&mut Option<v1::RequestId>>;

    /// One attempt over `channel` (`request` carries the call's metadata, e.g. credentials).
    fn attempt(
        channel: Channel,
        request: tonic::Request<Self::Request>,
    ) -> impl Future<Output = Result<tonic::Response<Self::Response>, tonic::Status>> + Send;
}

/// Declares the RPCs of each service: one zero-sized type per RPC implementing [`Rpc`], in a
/// module per service, and [`RETRY_CLASSES`] listing them all.
macro_rules! rpcs {
    (@request_id Idempotent $request:ident) => { Some(&mut $request.request_id) };
    (@request_id $class:ident $request:ident) => {{
        let _ = $request;
        None
    }};
    ($(
        $module:ident = $service:ident via $client_module:ident::$client:ident {
            $( $rpc:ident = $method:ident($request:ident) -> $response:ty, $class:ident; )*
        }
    )*) => {
        $(
            #[doc = concat!("The RPCs of `pharos.v1.", stringify!($service), "`.")]
            pub(crate) mod $module {
                use pharos_proto::v1;
                use pharos_proto::v1::$client_module::$client;
                use tonic::transport::Channel;

                use crate::RetryClass;
                use crate::rpc::Rpc;

                $(
                    #[doc = concat!("`pharos.v1.", stringify!($service), "/", stringify!($rpc), "`: ",
                        stringify!($class), ".")]
                    #[derive(Debug)]
                    pub(crate) struct $rpc;

                    impl Rpc for $rpc {
                        const NAME: &'static str =
                            concat!("pharos.v1.", stringify!($service), "/", stringify!($rpc));
                        const RETRY: RetryClass = RetryClass::$class;
                        type Request = v1::$request;
                        type Response = $response;

                        fn request_id(request: &mut v1::$request) -> Option<&mut Option<v1::RequestId>> {
                            rpcs!(@request_id $class request)
                        }

                        async fn attempt(
                            channel: Channel,
                            request: tonic::Request<v1::$request>,
                        ) -> Result<tonic::Response<$response>, tonic::Status> {
                            $client::new(channel).$method(request).await
                        }
                    }
                )*
            }
        )*

        /// Every RPC the client sends, `pharos.v1.<Service>/<Method>`, with its retry class, in
        /// the order of the `.proto` files.
        pub const RETRY_CLASSES: &[(&str, RetryClass)] = &[
            $( $( (<$module::$rpc as Rpc>::NAME, RetryClass::$class), )* )*
        ];
    };
}

rpcs! {
    kv = KvService via kv_service_client::KvServiceClient {
        Put = put(PutRequest) -> v1::PutResponse, Idempotent;
        Get = get(GetRequest) -> v1::GetResponse, Read;
        Delete = delete(DeleteRequest) -> v1::DeleteResponse, Idempotent;
        CompareAndSet = compare_and_set(CompareAndSetRequest) -> v1::CompareAndSetResponse, Idempotent;
        Range = range(RangeRequest) -> v1::RangeResponse, Read;
    }
    cluster = ClusterService via cluster_service_client::ClusterServiceClient {
        Identity = identity(IdentityRequest) -> v1::IdentityResponse, Read;
        Status = status(StatusRequest) -> v1::StatusResponse, Read;
        AddLearner = add_learner(JoinRequest) -> v1::JoinResponse, Idempotent;
        Promote = promote(PromoteRequest) -> v1::PromoteResponse, Convergent;
        Remove = remove(RemoveRequest) -> v1::RemoveResponse, Idempotent;
        TransferLeader = transfer_leader(TransferLeaderRpcRequest) -> v1::TransferLeaderRpcResponse, Convergent;
        Compact = compact(CompactRequest) -> v1::CompactResponse, Convergent;
        ListAudit = list_audit(ListAuditRequest) -> v1::ListAuditResponse, Read;
        SetFeatureLevel = set_feature_level(SetFeatureLevelRequest) -> v1::SetFeatureLevelResponse, Idempotent;
        SaveSnapshot = save_snapshot(SaveSnapshotRequest) -> tonic::Streaming<v1::SaveSnapshotResponse>, Read;
    }
    broker = BrokerService via broker_service_client::BrokerServiceClient {
        RegisterBroker = register_broker(RegisterBrokerRequest) -> v1::RegisterBrokerResponse, Idempotent;
        Heartbeat = heartbeat(HeartbeatRequest) -> v1::HeartbeatResponse, Convergent;
        UnregisterBroker = unregister_broker(UnregisterBrokerRequest) -> v1::UnregisterBrokerResponse, Idempotent;
        AlterSyncStateSet = alter_sync_state_set(AlterSyncStateSetRequest) -> v1::AlterSyncStateSetResponse, Idempotent;
        GetBrokerGroup = get_broker_group(GetBrokerGroupRequest) -> v1::GetBrokerGroupResponse, Read;
        ListBrokerGroups = list_broker_groups(ListBrokerGroupsRequest) -> v1::ListBrokerGroupsResponse, Read;
        WatchBrokerGroup = watch_broker_group(WatchBrokerGroupRequest) -> tonic::Streaming<v1::BrokerGroupEvent>, Read;
        FenceBroker = fence_broker(FenceBrokerRequest) -> v1::FenceBrokerResponse, Idempotent;
        RemoveBroker = remove_broker(RemoveBrokerRequest) -> v1::RemoveBrokerResponse, Idempotent;
        Failover = failover(FailoverRequest) -> v1::FailoverResponse, Idempotent;
    }
    topic = TopicService via topic_service_client::TopicServiceClient {
        CreateTopic = create_topic(CreateTopicRequest) -> v1::TopicResponse, Idempotent;
        UpdateTopic = update_topic(UpdateTopicRequest) -> v1::TopicResponse, Idempotent;
        DeleteTopic = delete_topic(DeleteTopicRequest) -> v1::DeleteTopicResponse, Idempotent;
        GetTopic = get_topic(GetTopicRequest) -> v1::GetTopicResponse, Read;
        ListTopics = list_topics(ListTopicsRequest) -> v1::ListTopicsResponse, Read;
        GetRoute = get_route(GetRouteRequest) -> v1::GetRouteResponse, Read;
        WatchRoutes = watch_routes(WatchRoutesRequest) -> tonic::Streaming<v1::RouteEvent>, Read;
    }
    offset = OffsetService via offset_service_client::OffsetServiceClient {
        CommitOffsets = commit_offsets(CommitOffsetsRequest) -> v1::CommitOffsetsResponse, Idempotent;
        FetchOffsets = fetch_offsets(FetchOffsetsRequest) -> v1::FetchOffsetsResponse, Read;
        ResetOffsets = reset_offsets(ResetOffsetsRequest) -> v1::ResetOffsetsResponse, Idempotent;
        ListConsumerGroups = list_consumer_groups(ListConsumerGroupsRequest) -> v1::ListConsumerGroupsResponse, Read;
    }
    dr = DrService via dr_service_client::DrServiceClient {
        Status = status(DrStatusRequest) -> v1::DrStatusResponse, Read;
        Configure = configure(DrConfigureRequest) -> v1::DrChangeResponse, Idempotent;
        SetMode = set_mode(DrSetModeRequest) -> v1::DrChangeResponse, Idempotent;
        Switchover = switchover(SwitchoverRequest) -> v1::SwitchoverResponse, Idempotent;
        Failover = failover(RegionFailoverRequest) -> v1::RegionFailoverResponse, AtMostOnce;
        Failback = failback(FailbackRequest) -> v1::FailbackResponse, AtMostOnce;
    }
    acl = AclService via acl_service_client::AclServiceClient {
        AddUser = add_user(AddUserRequest) -> v1::AclChangeResponse, Idempotent;
        DeleteUser = delete_user(DeleteUserRequest) -> v1::AclChangeResponse, Idempotent;
        SetUserEnabled = set_user_enabled(SetUserEnabledRequest) -> v1::AclChangeResponse, Idempotent;
        RotateToken = rotate_token(RotateTokenRequest) -> v1::AclChangeResponse, Idempotent;
        ListUsers = list_users(ListUsersRequest) -> v1::ListUsersResponse, Read;
        Grant = grant(GrantRequest) -> v1::AclChangeResponse, Idempotent;
        Revoke = revoke(RevokeRequest) -> v1::AclChangeResponse, Idempotent;
        ListPolicies = list_policies(ListPoliciesRequest) -> v1::ListPoliciesResponse, Read;
        Check = check(CheckRequest) -> v1::CheckResponse, Read;
        WhoAmI = who_am_i(WhoAmIRequest) -> v1::WhoAmIResponse, Read;
        ListDenials = list_denials(ListDenialsRequest) -> v1::ListDenialsResponse, Read;
        WatchAcls = watch_acls(WatchAclsRequest) -> tonic::Streaming<v1::AclEvent>, Read;
    }
}

/// The retry class of `rpc` (`pharos.v1.<Service>/<Method>`), if the client sends it.
pub fn retry_class(rpc: &str) -> Option<RetryClass> {
    RETRY_CLASSES.iter().find(|(name, _)| *name == rpc).map(|(_, class)| *class)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;
    use prost_types::FileDescriptorSet;

    use super::*;

    /// The services of the client port (the peer port's `RaftService` and `MemberService` are
    /// not the client's).
    const CLIENT_SERVICES: &[&str] =
        &["KvService", "ClusterService", "BrokerService", "TopicService", "OffsetService", "DrService", "AclService"];

    /// Every method of the client services, with whether its request has a `request_id` field.
    fn schema() -> BTreeMap<String, bool> {
        let set = FileDescriptorSet::decode(pharos_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let keyed: BTreeMap<String, bool> = set
            .file
            .iter()
            .flat_map(|file| &file.message_type)
            .map(|message| {
                let has_key = message.field.iter().any(|field| field.name() == "request_id");
                (format!(".pharos.v1.{}", message.name()), has_key)
            })
            .collect();
        set.file
            .iter()
            .flat_map(|file| &file.service)
            .filter(|service| CLIENT_SERVICES.contains(&service.name()))
            .flat_map(|service| {
                service.method.iter().map(|method| {
                    let name = format!("pharos.v1.{}/{}", service.name(), method.name());
                    (name, keyed[method.input_type()])
                })
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_the_client_services_has_a_retry_class_and_only_those() {
        let schema = schema();
        let declared: Vec<&str> = RETRY_CLASSES.iter().map(|(name, _)| *name).collect();
        let mut unique = declared.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), declared.len(), "an RPC is declared twice: {declared:?}");
        let in_schema: Vec<&str> = schema.keys().map(String::as_str).collect();
        assert_eq!(unique, in_schema, "the table and the .proto files list different RPCs");
    }

    #[test]
    fn exactly_the_requests_with_an_idempotency_key_are_idempotent() {
        let schema = schema();
        for (name, class) in RETRY_CLASSES {
            let keyed = schema[*name];
            assert_eq!(
                keyed,
                *class == RetryClass::Idempotent,
                "{name} is {class:?}, but its request {} a request_id",
                if keyed { "has" } else { "has no" }
            );
        }
    }

    /// The table in the crate documentation is the one readers see: it must say what the code does.
    #[test]
    fn the_crate_documentation_lists_every_rpc_with_its_class() {
        let documented: Vec<(String, String)> = include_str!("lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! | `"))
            .filter_map(|row| {
                let mut cells = row.split('|').map(|cell| cell.trim().trim_matches('`'));
                let rpc = cells.next()?;
                let class = cells.next()?;
                Some((format!("pharos.v1.{rpc}"), class.to_string()))
            })
            .collect();
        let declared: Vec<(String, String)> =
            RETRY_CLASSES.iter().map(|(name, class)| (name.to_string(), format!("{class:?}"))).collect();
        assert_eq!(documented, declared);
    }

    #[test]
    fn retry_class_looks_rpcs_up_by_their_wire_name() {
        assert_eq!(retry_class("pharos.v1.KvService/Get"), Some(RetryClass::Read));
        assert_eq!(retry_class("pharos.v1.KvService/Put"), Some(RetryClass::Idempotent));
        assert_eq!(retry_class("pharos.v1.BrokerService/Heartbeat"), Some(RetryClass::Convergent));
        assert_eq!(retry_class("pharos.v1.OffsetService/CommitOffsets"), Some(RetryClass::Idempotent));
        assert_eq!(retry_class("pharos.v1.DrService/Failback"), Some(RetryClass::AtMostOnce));
        assert_eq!(retry_class("pharos.v1.RaftService/Vote"), None, "a peer-port RPC");
    }
}
