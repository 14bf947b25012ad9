//! A userspace TCP proxy in front of every node's peer port, for network faults without `tc
//! netem`, nftables or root.
//!
//! Node `i` listens for peers on a private port but advertises the proxy's port, so every peer
//! connection *into* `i` passes through the proxy. Membership holds one peer address per node,
//! so the proxy cannot tell senders apart by the address they dialled; instead, on accept it
//! looks the connection's source port up in `/proc/net/tcp` and finds which of our `pharos`
//! processes owns that socket (`/proc/<pid>/fd`). Knowing both ends, it applies per directed
//! link rules: a cut link stalls (bytes wait in the proxy, as packets would be lost and
//! retransmitted until the partition heals), a delayed link holds each chunk for a while.
//! Stalling keeps TCP streams intact, so healing resumes them like a real network would.
//!
//! That gives isolate-the-leader, majority/minority, one-way and partial (A–B cut while both
//! reach C) partitions and link delay. Client traffic is not proxied: clients keep reaching
//! every node, which is exactly the situation in which a partitioned leader must not answer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How often a stalled pump looks whether its link healed.
const STALL_POLL_MS: u64 = 20;
/// Lookups of a connection's sender before it counts as unknown, and the pause between them.
const SENDER_LOOKUPS_MAX: u32 = 5;
const SENDER_LOOKUP_PAUSE_MS: u64 = 20;
/// Bytes read per chunk.
const CHUNK_BYTES: usize = 16 * 1024;

/// Directed link rules and who is who.
#[derive(Debug, Default)]
struct Rules {
    /// `(from, to)` pairs whose traffic is stalled.
    cut: HashSet<(u64, u64)>,
    /// Extra latency per chunk on `(from, to)`.
    delay_ms: HashMap<(u64, u64), u64>,
    /// Per mille of chunks on `(from, to)` after which the connection is reset: packet loss as
    /// TCP shows it to the application (bytes cannot vanish from a stream without corrupting it).
    reset_per_mille: HashMap<(u64, u64), u64>,
    /// Drives the reset draws; advanced per chunk.
    draws: u64,
    /// Process id of every running node, to attribute connections to their sender.
    pids: HashMap<u64, u32>,
    /// Connections whose sender was found, and those whose sender was not (rules cannot apply
    /// to those, so a partition scenario checks that this stays zero).
    attributed_connections: u64,
    unattributed_connections: u64,
    /// Chunks that waited on a cut link at least once.
    stalled_chunks: u64,
    /// Connections reset by a lossy link.
    resets: u64,
}

/// The proxies of one cluster: one listener per node, shared rules.
#[derive(Debug, Default)]
pub struct PeerProxy {
    rules: Arc<Mutex<Rules>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock(rules: &Mutex<Rules>) -> std::sync::MutexGuard<'_, Rules> {
    rules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PeerProxy {
    pub fn new() -> PeerProxy {
        PeerProxy::default()
    }

    /// Starts forwarding `listener` (the advertised peer address of `node_id`) to `upstream`
    /// (its real peer port). Needs a tokio runtime.
    pub fn serve(&self, node_id: u64, listener: std::net::TcpListener, upstream: String) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let advertised_port = listener.local_addr()?.port();
        let rules = self.rules.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, source)) = listener.accept().await else { continue };
                let rules = rules.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A node killed or started at this very moment can make the lookup
                    // race; look again a few times before calling the sender unknown.
                    let mut sender = Sender::Unknown;
                    for attempt in 0..SENDER_LOOKUPS_MAX {
                        if attempt > 0 {
                            tokio::time::sleep(Duration::from_millis(SENDER_LOOKUP_PAUSE_MS)).await;
                        }
                        let pids = lock(&rules).pids.clone();
                        sender = sender_of(source.port(), advertised_port, &pids);
                        if sender != Sender::Unknown {
                            break;
                        }
                    }
                    let from = match sender {
                        Sender::Node(node_id) => {
                            lock(&rules).attributed_connections += 1;
                            node_id
                        }
                        Sender::Unknown => {
                            lock(&rules).unattributed_connections += 1;
                            0
                        }
                        // The sender closed it already (a node killed while its connection
                        // waited to be accepted): nothing to forward.
                        Sender::Gone => return,
                    };
                    let Ok(outbound) = TcpStream::connect(&upstream).await else { return };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (inbound_read, inbound_write) = inbound.into_split();
                    let (outbound_read, outbound_write) = outbound.into_split();
                    let forward = pump(inbound_read, outbound_write, rules.clone(), (from, node_id));
                    let backward = pump(outbound_read, inbound_write, rules, (node_id, from));
                    // Either side closing ends the connection.
                    tokio::select! {
                        () = forward => {}
                        () = backward => {}
                    }
                });
            }
        });
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(task);
        Ok(())
    }

    /// Records (or forgets, with `None`) the process of a node.
    pub fn set_pid(&self, node_id: u64, pid: Option<u32>) {
        let mut rules = lock(&self.rules);
        match pid {
            Some(pid) => rules.pids.insert(node_id, pid),
            None => rules.pids.remove(&node_id),
        };
    }

    /// Stalls traffic from `from` to `to` (one direction).
    pub fn cut_one_way(&self, from: u64, to: u64) {
        lock(&self.rules).cut.insert((from, to));
    }

    /// Stalls traffic between `a` and `b`, both directions.
    pub fn cut(&self, a: u64, b: u64) {
        let mut rules = lock(&self.rules);
        rules.cut.insert((a, b));
        rules.cut.insert((b, a));
    }

    /// Cuts every link between different sides.
    pub fn partition(&self, sides: &[Vec<u64>]) {
        for (index, side) in sides.iter().enumerate() {
            for other in &sides[index + 1..] {
                for &a in side {
                    for &b in other {
                        self.cut(a, b);
                    }
                }
            }
        }
    }

    /// Adds latency to every chunk from `from` to `to`.
    pub fn delay(&self, from: u64, to: u64, delay_ms: u64) {
        lock(&self.rules).delay_ms.insert((from, to), delay_ms);
    }

    /// Resets a connection from `from` to `to` after `per_mille` of its chunks (chosen at
    /// random, seeded per chunk count).
    pub fn lossy(&self, from: u64, to: u64, per_mille: u64) {
        lock(&self.rules).reset_per_mille.insert((from, to), per_mille);
    }

    /// Removes every cut, delay and loss.
    pub fn heal(&self) {
        let mut rules = lock(&self.rules);
        rules.cut.clear();
        rules.delay_ms.clear();
        rules.reset_per_mille.clear();
    }

    /// Connections reset by lossy links so far.
    pub fn resets(&self) -> u64 {
        lock(&self.rules).resets
    }

    /// The links currently cut, for the fault timeline.
    pub fn describe(&self) -> String {
        let rules = lock(&self.rules);
        let mut cut: Vec<_> = rules.cut.iter().copied().collect();
        cut.sort_unstable();
        format!("cut {cut:?}, delayed {:?}", rules.delay_ms)
    }

    /// (connections attributed to a node, connections not attributed, chunks stalled).
    pub fn counters(&self) -> (u64, u64, u64) {
        let rules = lock(&self.rules);
        (rules.attributed_connections, rules.unattributed_connections, rules.stalled_chunks)
    }
}

impl Drop for PeerProxy {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// Copies one direction of a connection, honouring the link's rules.
async fn pump(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    rules: Arc<Mutex<Rules>>,
    link: (u64, u64),
) {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        {
            let mut rules = lock(&rules);
            if let Some(&per_mille) = rules.reset_per_mille.get(&link) {
                rules.draws += 1;
                let mut draw = crate::rng::SplitMix64::new(rules.draws);
                if draw.below(1_000) < per_mille {
                    rules.resets += 1;
                    return;
                }
            }
        }
        let mut stalled = false;
        loop {
            let (cut, delay_ms) = {
                let rules = lock(&rules);
                (rules.cut.contains(&link), rules.delay_ms.get(&link).copied().unwrap_or(0))
            };
            if cut {
                if !stalled {
                    stalled = true;
                    lock(&rules).stalled_chunks += 1;
                }
                tokio::time::sleep(Duration::from_millis(STALL_POLL_MS)).await;
                continue;
            }
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            break;
        }
        if writer.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Who is at the other end of an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Node(u64),
    /// The socket is open but none of our nodes holds it.
    Unknown,
    /// The socket is closed already (or only lingers in TIME_WAIT, owned by nobody).
    Gone,
}

/// Which node owns the loopback socket `127.0.0.1:source_port` connected to `target_port`.
fn sender_of(source_port: u16, target_port: u16, pids: &HashMap<u64, u32>) -> Sender {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return Sender::Unknown };
    let inode = match socket_inode(&table, source_port, target_port) {
        None | Some(0) => return Sender::Gone,
        Some(inode) => inode,
    };
    let wanted = format!("socket:[{inode}]");
    let owner = pids.iter().find_map(|(&node_id, &pid)| {
        let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        entries
            .flatten()
            .any(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str()))
            .then_some(node_id)
    });
    owner.map_or(Sender::Unknown, Sender::Node)
}

/// The inode of the socket whose local port is `local_port` and remote port `remote_port`, from
/// the text of `/proc/net/tcp` (`sl local_address rem_address st ... uid timeout inode`, ports in
/// hex).
fn socket_inode(table: &str, local_port: u16, remote_port: u16) -> Option<u64> {
    let port_of = |address: &str| address.split_once(':').and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 {
            return None;
        }
        (port_of(fields[1]) == Some(local_port) && port_of(fields[2]) == Some(remote_port))
            .then(|| fields[9].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_are_parsed() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
                     0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 \
                     0000000000000000 20 4 30 10 -1\n";
        assert_eq!(socket_inode(table, 0x1F90, 0xC350), Some(4242));
        assert_eq!(socket_inode(table, 0xC350, 0x1F90), None);
    }

    #[tokio::test]
    async fn a_cut_link_stalls_and_healing_delivers() {
        // An echo server behind the proxy; this test process is the unknown sender 0.
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let echo_addr = echo.local_addr().expect("echo addr").to_string();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.expect("accept");
            let mut buffer = [0u8; 64];
            while let Ok(read) = socket.read(&mut buffer).await {
                if read == 0 || socket.write_all(&buffer[..read]).await.is_err() {
                    return;
                }
            }
        });
        let proxy = PeerProxy::new();
        let front = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let front_addr = front.local_addr().expect("proxy addr");
        proxy.serve(1, front, echo_addr).expect("serve");
        let mut client = TcpStream::connect(front_addr).await.expect("connect");
        let mut answer = [0u8; 4];

        client.write_all(b"ping").await.expect("write");
        client.read_exact(&mut answer).await.expect("echo before the cut");
        assert_eq!(&answer, b"ping");

        proxy.cut_one_way(0, 1);
        client.write_all(b"pong").await.expect("write");
        let stalled = tokio::time::timeout(Duration::from_millis(300), client.read_exact(&mut answer)).await;
        assert!(stalled.is_err(), "a cut link must not deliver");

        proxy.heal();
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut answer))
            .await
            .expect("healed link delivers")
            .expect("read");
        assert_eq!(&answer, b"pong");
    }
}
