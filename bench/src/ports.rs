//! Loopback listen ports for the etcd members.

use std::net::TcpListener;

/// Ports are drawn below Linux's ephemeral range (32768–60999), from a range apart from the one
/// the Pharos harness uses (20000–32000), so neither an outgoing connection's source port nor a
/// Pharos node takes one between the draw and etcd's bind.
const LISTEN_PORT_MIN: u16 = 12_000;
const LISTEN_PORT_MAX: u16 = 19_000;

/// A loopback port that is free now and was not handed out before by this process.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = LISTEN_PORT_MAX - LISTEN_PORT_MIN;
    let start = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = LISTEN_PORT_MIN + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port in {LISTEN_PORT_MIN}..{LISTEN_PORT_MAX}")
}
