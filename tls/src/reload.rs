//! PEM files to rustls configs, loaded again when the files change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// How often, at most, the files' modification times are looked at.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no usable {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("the TLS files do not make a config: {0}")]
    Config(String),
}

/// Where a node's TLS material is: its certificate chain and key (PEM), and the CA (PEM) that
/// signs every member's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
}

/// Which port a config is for: what a server demands of the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client port: a server certificate, no client certificate asked.
    ClientPort,
    /// The peer port: both sides present a certificate signed by the cluster CA.
    PeerPort,
}

/// The configs made from one loading of the files.
#[derive(Debug)]
struct Loaded {
    /// Modification time and length of each file, in `TlsFiles` order, when they were read.
    stamps: [Option<(SystemTime, u64)>; 3],
    server: Arc<ServerConfig>,
    /// Dials peers: presents this node's certificate, verifies the peer's against the CA.
    client: Arc<ClientConfig>,
}

#[derive(Debug)]
struct State {
    loaded: Loaded,
    checked_at: Instant,
}

/// TLS configs for one port, loaded from [`TlsFiles`] and reloaded when they change. Cheap to
/// clone; clones share the loaded configs.
#[derive(Debug, Clone)]
pub struct ReloadingTls {
    files: Arc<TlsFiles>,
    role: Role,
    state: Arc<Mutex<State>>,
}

impl ReloadingTls {
    /// Loads the files now: a start with bad files fails here, not at the first connection.
    pub fn load(files: TlsFiles, role: Role) -> Result<ReloadingTls, TlsError> {
        let loaded = load(&files, role)?;
        let state = State { loaded, checked_at: Instant::now() };
        Ok(ReloadingTls { files: Arc::new(files), role, state: Arc::new(Mutex::new(state)) })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The config for the next accepted connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current(|loaded| loaded.server.clone())
    }

    /// The config for the next dialed connection.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current(|loaded| loaded.client.clone())
    }

    fn current<T>(&self, pick: impl Fn(&Loaded) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.checked_at.elapsed() >= RELOAD_CHECK_INTERVAL {
            state.checked_at = Instant::now();
            if stamps(&self.files) != state.loaded.stamps {
                match load(&self.files, self.role) {
                    Ok(loaded) => {
                        tracing::info!(cert_file = %self.files.cert_file.display(), "reloaded the TLS files");
                        state.loaded = loaded;
                    }
                    Err(error) => {
                        // Asked again at the next check: the files may be in the middle of a copy.
                        tracing::warn!(%error, "cannot reload the TLS files; keeping the loaded ones");
                    }
                }
            }
        }
        pick(&state.loaded)
    }
}

/// The roots of a CA file, for a client that only verifies servers (`pharos-client`).
pub fn client_config_verifying(ca_file: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = roots(ca_file)?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(error: impl std::fmt::Display) -> TlsError {
    TlsError::Config(error.to_string())
}

fn stamps(files: &TlsFiles) -> [Option<(SystemTime, u64)>; 3] {
    [&files.cert_file, &files.key_file, &files.ca_file].map(|path| {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::Pem { path: path.to_path_buf(), what: "certificate" });
    }
    Ok(chain)
}

fn roots(ca_file: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates(ca_file)?);
    if added == 0 {
        return Err(TlsError::Pem { path: ca_file.to_path_buf(), what: "CA certificate" });
    }
    Ok(roots)
}

fn load(files: &TlsFiles, role: Role) -> Result<Loaded, TlsError> {
    // Stamps first: a file changed while it is read is read again at the next check.
    let stamps = stamps(files);
    let chain = certificates(&files.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key_file)?)
        .map_err(|_| TlsError::Pem { path: files.key_file.clone(), what: "private key" })?;
    let roots = Arc::new(roots(&files.ca_file)?);

    let server =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(config_error)?;
    let server = match role {
        Role::ClientPort => server.with_no_client_auth(),
        Role::PeerPort => server.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider()).build().map_err(config_error)?,
        ),
    };
    let mut server = server.with_single_cert(chain.clone(), key.clone_key()).map_err(config_error)?;
    server.alpn_protocols = vec![b"h2".to_vec()];

    let mut client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(config_error)?;
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Loaded { stamps, server: Arc::new(server), client: Arc::new(client) })
}
