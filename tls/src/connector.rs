//! The dialing side: a tower connector for tonic channels that opens TCP with `TCP_NODELAY`
//! and then TLS, verifying the server's certificate for the host of the URI it dials.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::{ReloadingTls, TlsError};

/// Where a [`Connector`] takes its config from for each new connection.
#[derive(Debug, Clone)]
enum Source {
    /// A node dialing a peer: its own certificate, reloaded when its files change.
    Reloading(ReloadingTls),
    /// A client that verifies servers against a CA read once.
    Fixed(Arc<ClientConfig>),
}

/// Dials TLS connections for `Endpoint::connect_with_connector_lazy`.
#[derive(Debug, Clone)]
pub struct Connector {
    source: Source,
}

impl Connector {
    /// Presents the certificate of `tls` and verifies the peer against its CA.
    pub fn node(tls: ReloadingTls) -> Connector {
        Connector { source: Source::Reloading(tls) }
    }

    /// Verifies servers against the CA in `ca_file`; presents no certificate.
    pub fn verifying(ca_file: &std::path::Path) -> Result<Connector, TlsError> {
        Ok(Connector { source: Source::Fixed(crate::reload::client_config_verifying(ca_file)?) })
    }

    fn config(&self) -> Arc<ClientConfig> {
        match &self.source {
            Source::Reloading(tls) => tls.client_config(),
            Source::Fixed(config) => config.clone(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config());
        Box::pin(async move {
            let host = uri.host().ok_or("the address has no host")?;
            let port = uri.port_u16().ok_or("the address has no port")?;
            let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())?;
            let stream = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port)).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(connector.connect(name, stream).await?))
        })
    }
}
