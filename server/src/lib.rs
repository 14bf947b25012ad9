//! The `pharos` binary's library: configuration, the start-up plan, the gRPC client API, HTTP metrics
//! and health, and the operator CLI. Handlers stay thin (decode -> node -> encode); consensus
//! lives in `pharos-replication`, state changes in `pharos-meta`.

pub mod access_table;
pub mod acl_api;
pub mod acl_cli;
pub mod api;
pub mod auth;
pub mod broker_api;
pub mod brokers;
pub mod cert_cli;
pub mod cli;
pub mod config;
pub mod convert;
pub mod dr_api;
pub mod dr_cli;
pub mod dr_runtime;
pub mod handler;
pub mod http;
pub mod member_api;
pub mod page_token;
pub mod reflection;
pub mod remoting;
pub mod request_metrics;
pub mod restart;
pub mod server;
pub mod shutdown;
pub mod simulate;
pub mod startup;
pub mod status;
pub mod tls;
pub mod topic_api;
