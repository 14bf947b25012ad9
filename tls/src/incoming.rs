//! The accepting side: TCP connections in, TLS (or plaintext) connections out, for tonic's
//! `serve_with_incoming_shutdown`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::ReloadingTls;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes finished but not yet taken by the server.
const HANDSHAKES_READY_MAX: usize = 64;

/// An accepted connection: plaintext on a port without TLS, TLS on one with it.
#[derive(Debug)]
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The connections of `accepted`: as they are without `tls`; with it, each after its own TLS
/// handshake (run concurrently, so one slow client holds up no other). A connection whose
/// handshake fails is closed and logged, never handed to the server.
pub fn incoming<S>(
    accepted: S,
    tls: Option<ReloadingTls>,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static
where
    S: Stream<Item = io::Result<TcpStream>> + Send + 'static,
{
    let Some(tls) = tls else { return accepted.map(|stream| stream.map(Connection::Plain)).boxed() };
    let (ready, handshaken) = tokio::sync::mpsc::channel(HANDSHAKES_READY_MAX);
    tokio::spawn(async move {
        let mut accepted = std::pin::pin!(accepted);
        while let Some(stream) = accepted.next().await {
            let stream = match stream {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%error, "accepting a connection");
                    continue;
                }
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
            let handshake_ready = ready.clone();
            tokio::spawn(async move {
                let remote = stream.peer_addr().ok();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = handshake_ready.send(Ok(Connection::Tls(Box::new(stream)))).await;
                    }
                    Ok(Err(error)) => tracing::info!(?remote, %error, "TLS handshake refused"),
                    Err(_) => tracing::info!(?remote, "TLS handshake timed out"),
                }
            });
            if ready.is_closed() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(handshaken).boxed()
}

impl Connection {
    fn tcp(&self) -> &TcpStream {
        match self {
            Connection::Plain(stream) => stream,
            Connection::Tls(stream) => stream.get_ref().0,
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.tcp().connect_info()
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write(context, buffer),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, buffer),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_flush(context),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}
