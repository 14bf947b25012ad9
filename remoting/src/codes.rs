//! Request and response codes of RocketMQ's `RequestCode` and `ResponseCode` that Pharos reads
//! or writes.

/// Request codes.
pub mod request {
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const BROKER_HEARTBEAT: i32 = 904;
}

/// Response codes.
pub mod response {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
}
