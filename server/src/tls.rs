//! The TLS of a serving node's two ports, made from the `[tls]` config: the client port shows
//! the node's certificate; the peer port shows it too and demands one signed by the cluster CA
//! of every caller. Dialing other nodes (peer ports with the node's certificate, client ports
//! verified against the CA) goes through `pharos_tls::dial`, installed here.

use anyhow::Context;
use pharos_tls::{ReloadingTls, Role};

use crate::config::TlsConfig;

/// Each port's TLS; `None` on both without a `[tls]` config (plaintext).
#[derive(Debug, Clone, Default)]
pub struct PortsTls {
    pub client: Option<ReloadingTls>,
    pub peer: Option<ReloadingTls>,
}

impl PortsTls {
    /// Loads the files (a start with unusable files fails here) and makes every node-to-node
    /// call of this process dial with them.
    pub fn load(config: Option<&TlsConfig>) -> anyhow::Result<PortsTls> {
        let Some(config) = config else { return Ok(PortsTls::default()) };
        let client = ReloadingTls::load(config.files(), Role::ClientPort).context("loading the TLS files")?;
        let peer = ReloadingTls::load(config.files(), Role::PeerPort).context("loading the TLS files")?;
        pharos_tls::dial::install_node_tls(peer.clone());
        Ok(PortsTls { client: Some(client), peer: Some(peer) })
    }
}

/// The CA that verifies other nodes' client ports when this node dials them (DR probes, the
/// generation probe at start); `None` when this node runs without TLS.
pub fn cluster_ca_file() -> Option<std::path::PathBuf> {
    pharos_tls::dial::node_tls().map(|tls| tls.files().ca_file.clone())
}
