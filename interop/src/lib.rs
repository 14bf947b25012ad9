//! End-to-end interop tests of Pharos's RocketMQ remoting listener with the real third-party
//! RocketMQ software: the rocketmq-rust broker (a binary, `ROCKETMQ_BROKER_BIN`) registering
//! with Pharos as with its NameServers, and the rocketmq-rust client (linked, pinned exactly)
//! producing and consuming through routes that Pharos serves.
//!
//! This crate is its own cargo workspace so that the main build never compiles the RocketMQ
//! client's dependency tree. It is a test harness only: it starts processes on loopback ports,
//! bounds every wait, and kills every child it started when its handle is dropped. It must
//! never reach beyond loopback or leave a process behind.

pub mod broker;
pub mod client;
pub mod pharos;
pub mod process;
pub mod scenario;
pub mod wait;

/// Where the `pharos` binary is. Required: these tests exist to run one particular build.
pub fn pharos_binary() -> anyhow::Result<std::path::PathBuf> {
    required_path("PHAROS_BIN", "the pharos binary to test, e.g. target/debug/pharos")
}

/// Where the real broker is: `ROCKETMQ_BROKER_BIN`, else where `.ci/run` installs it.
pub fn broker_binary() -> anyhow::Result<std::path::PathBuf> {
    if std::env::var_os("ROCKETMQ_BROKER_BIN").is_none() {
        let cache = std::env::var_os("PHAROS_CI_CACHE")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache/pharos-ci")));
        if let Some(installed) = cache.map(|cache| cache.join("rocketmq/bin/rocketmq-broker-rust"))
            && installed.exists()
        {
            return Ok(installed);
        }
    }
    required_path(
        "ROCKETMQ_BROKER_BIN",
        "the rocketmq-rust 1.0.0 broker (cargo install rocketmq-broker --version 1.0.0 --locked)",
    )
}

fn required_path(variable: &str, what: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::var_os(variable).map(std::path::PathBuf::from).ok_or_else(|| {
        anyhow::anyhow!("{variable} is not set: it must name {what} (docs/rocketmq.md, \"Interop tests\")")
    })?;
    anyhow::ensure!(path.is_file(), "{variable}={} is not a file: it must name {what}", path.display());
    Ok(path)
}
