//! The client's methods, one file per noun. Each builds its request and hands it to
//! `Client::send` with the RPC's entry of the table in `rpc.rs`.

mod acl;
mod broker;
mod cluster;
mod dr;
mod kv;
mod offset;
mod topic;
