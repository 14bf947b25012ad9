//! A real rocketmq-rust broker process on loopback, in ordinary (NameServer) mode or in
//! RocketMQ 5 controller mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::process::{ChildProcess, free_port, free_port_run};
use crate::wait;

/// How long a broker may take from spawn to "started successfully". Startup includes its
/// first registration with the NameServers, which it must get from at least one of them.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// What the broker logs once per successful registration with one NameServer (its first at
/// start, then every 30 s); counting these shows re-registrations reached Pharos.
pub const REGISTRATION_SUCCESS_LOG: &str = "Register broker to name remoting_server success";

/// The broker logs this once it is ready; before, it has not served a request.
const STARTED_LOG: &str = "started successfully";

/// Which broker of which group.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    pub cluster_name: String,
    /// RocketMQ's `brokerName`: a Pharos broker group.
    pub broker_name: String,
    /// 0: the group's master; anything else: a slave. Ignored in controller mode, where the
    /// controller assigns ids and roles.
    pub broker_id: u64,
    /// `Some(a;b;c)`: controller mode (`enableControllerMode`), with these Controllers.
    pub controller_addr: Option<String>,
}

/// One broker process. Dropping it kills the broker.
#[derive(Debug)]
pub struct Broker {
    pub spec: BrokerSpec,
    /// Its remoting address, as it registers it (`brokerIp1:listenPort`).
    pub address: String,
    pub process: ChildProcess,
    /// Its config and log (`ROCKETMQ_HOME`).
    pub home: PathBuf,
    /// Its message store (on tmpfs when there is one; see [`store_parent`]).
    store: tempfile::TempDir,
}

impl Broker {
    /// Writes a broker.toml into `home` and starts the broker against `namesrv_addr`
    /// (`a;b;c`), without waiting for it.
    pub fn spawn(binary: &Path, home: &Path, spec: BrokerSpec, namesrv_addr: &str) -> anyhow::Result<Broker> {
        std::fs::create_dir_all(home).with_context(|| format!("create {}", home.display()))?;
        // The broker also listens on listenPort - 2 (its "fast" port).
        let listen_port = free_port_run(3)? + 2;
        let ha_port = free_port()?;
        let store = tempfile::Builder::new()
            .prefix(&format!("pharos-interop-store-{}-{}-", spec.broker_name, spec.broker_id))
            .tempdir_in(store_parent())
            .context("create the broker's store dir")?;
        // In controller mode the controller decides the role; the broker accepts brokerId 0
        // with SLAVE only there (docs/rocketmq-controller-protocol.md, "broker.toml used").
        let role = if spec.broker_id == 0 && spec.controller_addr.is_none() { "ASYNC_MASTER" } else { "SLAVE" };
        let broker_id = if spec.controller_addr.is_some() { 0 } else { spec.broker_id };
        let controller = spec.controller_addr.as_ref().map_or_else(String::new, |controller_addr| {
            format!("enableControllerMode = true\ncontrollerAddr = \"{controller_addr}\"\n")
        });
        let config = format!(
            r#"# Written by the Pharos interop tests (interop/src/broker.rs).
[broker]
namesrvAddr = "{namesrv_addr}"
{controller}brokerIp1 = "127.0.0.1"
# The host of the HA address the broker registers (haServerAddr); its default is the host's
# first non-loopback address, where the HA listener (loopback here) does not listen.
brokerIp2 = "127.0.0.1"
listenPort = {listen_port}
storePathRootDir = "{broker_root}"

[broker.brokerServerConfig]
bindAddress = "127.0.0.1"

[broker.brokerIdentity]
brokerName = "{broker_name}"
brokerClusterName = "{cluster_name}"
brokerId = {broker_id}

[store]
storeType = "LocalFile"
brokerRole = "{role}"
storePathRootDir = "{store_root}"
haListenAddress = "127.0.0.1"
haListenPort = {ha_port}
# 64 MiB commit log files instead of 1 GiB: the store may be on tmpfs.
mappedFileSizeCommitLog = 67108864
"#,
            broker_root = store.path().join("broker").display(),
            store_root = store.path().join("store").display(),
            broker_name = spec.broker_name,
            cluster_name = spec.cluster_name,
        );
        let config_path = home.join("broker.toml");
        std::fs::write(&config_path, config).with_context(|| format!("write {}", config_path.display()))?;
        let mut command = std::process::Command::new(binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("-n")
            .arg(namesrv_addr)
            .env("ROCKETMQ_HOME", home)
            // The broker checks that every listener is on loopback, which these tests promise.
            .env("ROCKETMQ_SECURITY_PROFILE", "development-insecure-loopback")
            .env_remove("NAMESRV_ADDR")
            // Plain log lines: they end up in files and failure messages.
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        let name = match spec.controller_addr {
            // The controller gives the id; the port tells the group's brokers apart.
            Some(_) => format!("broker {} at :{listen_port}", spec.broker_name),
            None => format!("broker {} (id {})", spec.broker_name, spec.broker_id),
        };
        let process = ChildProcess::spawn(&name, command, &home.join("broker.log"))?;
        Ok(Broker { spec, address: format!("127.0.0.1:{listen_port}"), process, home: home.to_path_buf(), store })
    }

    /// Waits, bounded, until the broker says it started. A broker that exits first (it does
    /// when no NameServer accepts its registration) ends the wait at once, with its log.
    pub async fn wait_started(&self) -> anyhow::Result<()> {
        let name = &self.process.name;
        wait::until(&format!("{name} to start"), BROKER_START_TIMEOUT, || {
            let outcome = match self.process.exit_status() {
                Some(status) => Err(wait::Hopeless(format!(
                    "{name} exited ({status}) before it started; it does when no NameServer in -n answers its \
                     REGISTER_BROKER (103) with SUCCESS, or in controller mode when no Controller gave it a role, \
                     so see the Pharos node logs too. Its log:\n{}",
                    self.process.log_excerpt()
                ))
                .into()),
                None => Ok(self.process.log().contains(STARTED_LOG).then_some(())),
            };
            async move { outcome }
        })
        .await
        .map_err(|error| match self.process.exit_status() {
            Some(_) => error,
            None => error.context(format!("{name}'s log:\n{}", self.process.log_excerpt())),
        })
    }

    /// Keeps the broker's message store after it is dropped; prints where.
    pub fn keep(&mut self) {
        self.store.disable_cleanup(true);
        eprintln!("{}'s message store is kept in {}", self.process.name, self.store.path().display());
    }

    /// How many successful registrations (with any NameServer) the broker has logged so far.
    pub fn registrations_logged(&self) -> usize {
        self.process.log().matches(REGISTRATION_SUCCESS_LOG).count()
    }
}

/// Where broker stores go: `/dev/shm` when it exists, else the temp dir.
///
/// The broker refuses writes (and rolls its startup back right after registering) when the
/// disk holding its store is more than 90 % used counting only space available to unprivileged
/// users, a ratio its config cannot raise. CI disks with many reserved blocks pass that mark
/// while far from full; tmpfs does not, and the tests write only a few megabytes.
pub fn store_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() { shm.to_path_buf() } else { std::env::temp_dir() }
}
