//! One request to a RocketMQ peer and its reply: what Pharos sends brokers of its own accord
//! (`NOTIFY_BROKER_ROLE_CHANGED`). A connection per call; nothing is kept open.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::codec::{self, FrameLimits};
use crate::command::RemotingCommand;

/// Sends `request` to `address` and returns the peer's reply, all within `timeout`.
pub async fn call(address: &str, request: &RemotingCommand, timeout: Duration) -> Result<RemotingCommand, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.map_err(|error| format!("cannot connect: {error}"))?;
        stream.write_all(&codec::encode(request)).await.map_err(|error| format!("cannot send: {error}"))?;
        let mut received = Vec::new();
        loop {
            match codec::try_decode(&received, FrameLimits::default()) {
                Ok(Some((reply, _))) if reply.is_response() && reply.opaque == request.opaque => return Ok(reply),
                // Something else first (a request of the peer's own): not the answer.
                Ok(Some((_, used))) => {
                    received.drain(..used);
                    continue;
                }
                Ok(None) => {}
                Err(error) => return Err(format!("the reply is malformed: {error}")),
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) => return Err("the peer closed the connection".to_string()),
                Ok(read) => received.extend_from_slice(&chunk[..read]),
                Err(error) => return Err(format!("cannot read: {error}")),
            }
        }
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("no reply within {timeout:?}"))?
}
