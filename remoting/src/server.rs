//! The remoting listener: one task per connection, a bounded number of connections and of
//! requests in flight on each, replies in JSON, a malformed frame closes only its connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::codec::{self, DecodeError, FrameLimits, LENGTH_PREFIX_BYTES};
use crate::codes::response;
use crate::command::RemotingCommand;
use crate::stats::ServeStats;

/// Answers requests. `handle` gets every request that is not a response; what it returns is
/// sent back (made the answer to the request: its opaque, the response flag, a JSON header)
/// unless the request was oneway.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &RemotingCommand) -> impl Future<Output = RemotingCommand> + Send;
}

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub connections_max: usize,
    /// Requests of one connection being answered at once (RocketMQ clients pipeline requests
    /// and match replies by `opaque`); the connection is not read further while at the limit.
    pub in_flight_per_connection_max: usize,
    pub frame: FrameLimits,
    /// Once a frame's length has arrived, the rest of it must arrive within this time.
    pub frame_timeout_ms: u64,
    /// A connection that starts no frame for this long is closed, so idle connections cannot
    /// hold every slot of `connections_max` (Apache's NameServer closes them after 120 s too).
    /// Clients reconnect when they next need a route.
    pub idle_timeout_ms: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            connections_max: 1_024,
            in_flight_per_connection_max: 64,
            frame: FrameLimits::default(),
            frame_timeout_ms: 30_000,
            idle_timeout_ms: 120_000,
        }
    }
}

/// How long the accept loop pauses after a failed accept (out of file descriptors, say).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `listener` until `shutdown` resolves, then closes every connection and returns once
/// their tasks have ended. `stats` counts what happens.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ServeLimits,
    stats: ServeStats,
    shutdown: impl Future<Output = ()> + Send,
) {
    assert!(limits.connections_max > 0 && limits.in_flight_per_connection_max > 0, "limits must allow some work");
    let connections = Arc::new(Semaphore::new(limits.connections_max));
    let (stop_sender, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "remoting: cannot accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            stats.connection_refused();
            tracing::debug!(%peer, connections_max = limits.connections_max, "remoting: too many connections, closing");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "remoting: cannot set TCP_NODELAY");
        }
        let (handler, stop, stats) = (handler.clone(), stop.clone(), stats.clone());
        stats.connection_opened();
        tasks.spawn(async move {
            let result = serve_connection(stream, handler, limits, stats.clone(), stop).await;
            if let Err(reason) = &result {
                tracing::warn!(%peer, %reason, "remoting: closing the connection");
            }
            stats.connection_closed(result.is_err());
            drop(permit);
        });
    }
    let _ = stop_sender.send(true);
    while tasks.join_next().await.is_some() {}
}

/// Why a connection was closed by this side.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("frame cut short: the connection ended after {received_bytes} of {frame_bytes} bytes")]
    Truncated { received_bytes: usize, frame_bytes: usize },
    #[error("frame of {frame_bytes} bytes did not arrive within {timeout_ms} ms")]
    SlowFrame { frame_bytes: usize, timeout_ms: u64 },
    #[error("read failed: {0}")]
    Read(std::io::Error),
}

/// Reads frames and answers them until the peer closes, a frame is malformed, or `stop` is set.
/// Replies already being computed are still written before the connection closes.
async fn serve_connection<H: Handler>(
    stream: TcpStream,
    handler: Arc<H>,
    limits: ServeLimits,
    stats: ServeStats,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let (mut reader, mut writer) = stream.into_split();
    let (replies, mut outgoing) = mpsc::channel::<Vec<u8>>(limits.in_flight_per_connection_max);
    let writer_task = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let in_flight = Arc::new(Semaphore::new(limits.in_flight_per_connection_max));
    let result = loop {
        let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
        let idle = Duration::from_millis(limits.idle_timeout_ms);
        let read = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
            read = tokio::time::timeout(idle, read_prefix(&mut reader, &mut prefix)) => read,
        };
        match read {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => break Ok(()),
            Ok(Err(error)) => break Err(ConnectionError::Read(error)),
            Err(_) => {
                tracing::debug!(idle_timeout_ms = limits.idle_timeout_ms, "remoting: closing an idle connection");
                break Ok(());
            }
        }
        let frame_bytes = match codec::frame_length(prefix, limits.frame) {
            Ok(frame_bytes) => frame_bytes,
            Err(error) => break Err(error.into()),
        };
        // Grown as bytes arrive, not allocated from the announced length up front.
        let mut frame = Vec::new();
        let timeout = Duration::from_millis(limits.frame_timeout_ms);
        let mut limited = (&mut reader).take(frame_bytes as u64);
        let read = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
            read = tokio::time::timeout(timeout, limited.read_to_end(&mut frame)) => read,
        };
        match read {
            Err(_) => break Err(ConnectionError::SlowFrame { frame_bytes, timeout_ms: limits.frame_timeout_ms }),
            Ok(Err(error)) => break Err(ConnectionError::Read(error)),
            Ok(Ok(received_bytes)) if received_bytes < frame_bytes => {
                break Err(ConnectionError::Truncated { received_bytes, frame_bytes });
            }
            Ok(Ok(_)) => {}
        }
        let request = match codec::decode_frame(&frame) {
            Ok(request) => request,
            Err(error) => break Err(error.into()),
        };
        drop(frame);
        if request.is_response() {
            // Pharos sends no requests, so a response answers nothing here.
            tracing::debug!(code = request.code, opaque = request.opaque, "remoting: ignoring an unsolicited response");
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else { break Ok(()) };
        let (handler, replies, stats) = (handler.clone(), replies.clone(), stats.clone());
        tokio::spawn(async move {
            let reply = handler.handle(&request).await.answering(&request);
            let not_supported = reply.code == response::REQUEST_CODE_NOT_SUPPORTED;
            if not_supported {
                tracing::debug!(code = request.code, language = %request.language, "remoting: request code not supported");
            }
            stats.request_answered(not_supported);
            if !request.is_oneway() {
                let _ = replies.send(codec::encode(&reply)).await;
            }
            drop(permit);
        });
    };
    drop(replies);
    let _ = writer_task.await;
    result
}

/// Reads a length prefix: `Ok(false)` if the connection ended cleanly before it, an error if it
/// ended inside it.
async fn read_prefix(
    reader: &mut (impl AsyncReadExt + Unpin),
    prefix: &mut [u8; LENGTH_PREFIX_BYTES],
) -> std::io::Result<bool> {
    let received = read_full(reader, prefix).await?;
    match received {
        0 => Ok(false),
        LENGTH_PREFIX_BYTES => Ok(true),
        _ => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the connection ended inside a length prefix")),
    }
}

/// Fills `buffer` unless the connection ends first; returns the bytes received.
async fn read_full(reader: &mut (impl AsyncReadExt + Unpin), buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut received = 0;
    while received < buffer.len() {
        match reader.read(&mut buffer[received..]).await? {
            0 => break,
            bytes => received += bytes,
        }
    }
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namesrv;

    /// Answers every request with `REQUEST_CODE_NOT_SUPPORTED`, echoing the code in an ext field.
    struct Echo;

    impl Handler for Echo {
        async fn handle(&self, request: &RemotingCommand) -> RemotingCommand {
            namesrv::not_supported(request.code).with_ext_field("code", request.code.to_string())
        }
    }

    const WAIT: Duration = Duration::from_secs(10);

    type Started = (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>);

    async fn start(limits: ServeLimits) -> Started {
        start_counted(limits, ServeStats::default()).await
    }

    async fn start_counted(limits: ServeLimits, stats: ServeStats) -> Started {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::new(Echo), limits, stats, async move {
            let _ = stopped.await;
        }));
        (address, stop, task)
    }

    async fn read_reply(stream: &mut TcpStream) -> Option<RemotingCommand> {
        let mut buffer = Vec::new();
        loop {
            if let Some((command, _)) = codec::try_decode(&buffer, FrameLimits::default()).expect("valid reply") {
                return Some(command);
            }
            let mut chunk = [0u8; 4096];
            // A reset (the server closed with our request unread) is a close too.
            match tokio::time::timeout(WAIT, stream.read(&mut chunk)).await.expect("reply in time") {
                Ok(0) => return None,
                Ok(bytes) => buffer.extend_from_slice(&chunk[..bytes]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("read: {error}"),
            }
        }
    }

    #[tokio::test]
    async fn replies_carry_the_request_opaque_and_oneway_requests_get_none() {
        let (address, stop, task) = start(ServeLimits::default()).await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let mut oneway = RemotingCommand::request(999, 1);
        oneway.flag = crate::command::FLAG_ONEWAY;
        stream.write_all(&codec::encode(&oneway)).await.expect("write");
        stream
            .write_all(&codec::encode_as(&RemotingCommand::request(998, 2), crate::SerializeType::Binary))
            .await
            .expect("write");
        let reply = read_reply(&mut stream).await.expect("a reply");
        assert_eq!((reply.code, reply.opaque, reply.flag), (response::REQUEST_CODE_NOT_SUPPORTED, 2, 1));
        assert_eq!(reply.ext_field("code"), Some("998"), "the oneway request got no reply");
        let _ = stop.send(());
        tokio::time::timeout(WAIT, task).await.expect("stops").expect("no panic");
    }

    #[tokio::test]
    async fn a_malformed_frame_closes_only_its_connection() {
        let stats = ServeStats::default();
        let (address, stop, task) = start_counted(ServeLimits::default(), stats.clone()).await;
        let mut healthy = TcpStream::connect(address).await.expect("connect");
        let mut bad = TcpStream::connect(address).await.expect("connect");
        bad.write_all(&[0, 0, 0, 6, 7, 0, 0, 2, b'{', b'}']).await.expect("write");
        assert!(read_reply(&mut bad).await.is_none(), "closed without a reply");
        healthy.write_all(&codec::encode(&RemotingCommand::request(1, 3))).await.expect("write");
        assert_eq!(read_reply(&mut healthy).await.expect("reply").opaque, 3);
        // The close is counted just after the peer saw it.
        let deadline = tokio::time::Instant::now() + WAIT;
        while stats.snapshot().connections_closed_malformed_total == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let counted = stats.snapshot();
        assert_eq!(
            (counted.connections_open, counted.connections_closed_malformed_total),
            (1, 1),
            "the healthy connection is open, the bad one counted"
        );
        assert_eq!((counted.requests_total, counted.requests_not_supported_total), (1, 1));
        let _ = stop.send(());
        tokio::time::timeout(WAIT, task).await.expect("stops").expect("no panic");
        assert_eq!(stats.snapshot().connections_open, 0, "every connection closed at shutdown");
    }

    #[tokio::test]
    async fn idle_connections_are_closed_and_slow_frames_too() {
        let limits = ServeLimits { idle_timeout_ms: 200, frame_timeout_ms: 200, ..ServeLimits::default() };
        let (address, stop, task) = start(limits).await;
        let mut idle = TcpStream::connect(address).await.expect("connect");
        let mut slow = TcpStream::connect(address).await.expect("connect");
        slow.write_all(&[0, 0, 0, 100, 0]).await.expect("a length and one byte of 100");
        let started = tokio::time::Instant::now();
        assert!(read_reply(&mut idle).await.is_none(), "the idle connection is closed");
        assert!(read_reply(&mut slow).await.is_none(), "the slow frame's connection is closed");
        assert!(started.elapsed() < WAIT);
        let mut fresh = TcpStream::connect(address).await.expect("connect");
        fresh.write_all(&codec::encode(&RemotingCommand::request(1, 5))).await.expect("write");
        assert_eq!(read_reply(&mut fresh).await.expect("reply").opaque, 5);
        let _ = stop.send(());
        tokio::time::timeout(WAIT, task).await.expect("stops").expect("no panic");
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed() {
        let limits = ServeLimits { connections_max: 1, ..ServeLimits::default() };
        let (address, stop, task) = start(limits).await;
        let mut first = TcpStream::connect(address).await.expect("connect");
        first.write_all(&codec::encode(&RemotingCommand::request(1, 1))).await.expect("write");
        assert!(read_reply(&mut first).await.is_some());
        let mut second = TcpStream::connect(address).await.expect("connect");
        let _ = second.write_all(&codec::encode(&RemotingCommand::request(1, 2))).await;
        assert!(read_reply(&mut second).await.is_none(), "the second connection is closed");
        drop(first);
        let _ = stop.send(());
        tokio::time::timeout(WAIT, task).await.expect("stops").expect("no panic");
    }
}
