//! How this process dials other nodes' peer ports: plaintext, or TLS with the node's own
//! certificate once [`install_node_tls`] was called. One setting per process, because every
//! node-to-node call site (Raft replication, probes, member calls, DR coordination) must dial
//! the same way and a `pharos serve` process serves one node.

use std::sync::OnceLock;

use tonic::transport::{Channel, Endpoint};

use crate::{Connector, ReloadingTls};

static NODE_TLS: OnceLock<ReloadingTls> = OnceLock::new();

/// Makes every later [`connect_lazy`] and [`connect`] dial TLS with `tls`. The first call wins:
/// a node restarted in process keeps the files it started with (they reload anyway).
pub fn install_node_tls(tls: ReloadingTls) {
    let _ = NODE_TLS.set(tls);
}

/// The node's TLS, when it has one: its CA also verifies other nodes' client ports.
pub fn node_tls() -> Option<&'static ReloadingTls> {
    NODE_TLS.get()
}

/// A channel to a peer port, connecting on first use.
pub fn connect_lazy(endpoint: Endpoint) -> Channel {
    match node_tls() {
        Some(tls) => endpoint.connect_with_connector_lazy(Connector::node(tls.clone())),
        None => endpoint.connect_lazy(),
    }
}

/// A channel to a peer port, connected now.
pub async fn connect(endpoint: Endpoint) -> Result<Channel, tonic::transport::Error> {
    match node_tls() {
        Some(tls) => endpoint.connect_with_connector(Connector::node(tls.clone())).await,
        None => endpoint.connect().await,
    }
}
