//! The Pharos wire API, package `pharos.v1`: generated protobuf messages and gRPC stubs, the
//! encoded descriptor set for gRPC reflection, and the validated conversions from wire requests to
//! domain commands.
//!
//! Every conversion from the wire validates (`TryFrom`), so a malformed request becomes a typed
//! [`InvalidRequest`] before anything is proposed. This crate must never hold logic beyond that:
//! core crates never see generated types.

pub mod convert;
pub mod wire_codec;

/// Generated code for `pharos.v1`.
#[allow(clippy::all, missing_debug_implementations, missing_docs)]
pub mod v1 {
    tonic::include_proto!("pharos.v1");
}

/// Encoded `FileDescriptorSet` of every `pharos.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pharos_descriptor.bin"));

pub use convert::InvalidRequest;

/// gRPC metadata keys Pharos uses. Kept here so server, client and CLI agree.
pub mod metadata {
    /// Sender's cluster id (UUID text) on every peer RPC.
    pub const CLUSTER_ID: &str = "pharos-cluster-id";
    /// Sender's fencing generation on every peer RPC.
    pub const GENERATION: &str = "pharos-generation";
    /// On a peer RPC from a node that learned of a higher generation: that generation, so the
    /// rest of its (old) cluster learns it too.
    pub const FENCED_BY: &str = "pharos-fenced-by";
    /// Machine-readable reason of an error status (`NOT_LEADER`, `INVALID_ARGUMENT`, ...).
    pub const ERROR_REASON: &str = "pharos-error";
    /// On `NOT_LEADER`: id and client address of the leader this node believes in.
    pub const LEADER_ID: &str = "pharos-leader-id";
    pub const LEADER_CLIENT_ADDR: &str = "pharos-leader-addr";
    /// On a stale-epoch refusal: the current epoch (or, for a duplicate registration, the
    /// broker id holding the name).
    pub const CURRENT: &str = "pharos-current";
}
