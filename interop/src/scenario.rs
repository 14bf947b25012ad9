//! One test's world: a Pharos cluster, the brokers it started and what its steps found, all of
//! it kept for inspection when a step fails.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::broker::{Broker, BrokerSpec};
use crate::pharos::PharosCluster;
use crate::{broker_binary, pharos_binary};

/// A Pharos cluster and the brokers of one test. Dropping it kills every process.
#[derive(Debug)]
pub struct Scenario {
    pub cluster: PharosCluster,
    /// Every broker started, in order. A broker joins as soon as it is spawned, so that a
    /// failure while it starts keeps its log and store with the others'.
    pub brokers: Vec<Broker>,
    pub broker_bin: PathBuf,
    /// The brokers' homes (config, log) and the client's log.
    pub brokers_root: tempfile::TempDir,
    /// What the steps found, in order: the test's output, also printed before a failure.
    pub report: Vec<String>,
}

impl Scenario {
    /// Finds both binaries, sends the client's log to a file, and starts `voters` Pharos nodes.
    pub async fn start(voters: u64) -> anyhow::Result<Scenario> {
        let pharos = pharos_binary()?;
        let broker_bin = broker_binary()?;
        let brokers_root = tempfile::Builder::new().prefix("pharos-interop-brokers-").tempdir()?;
        let client_log =
            std::fs::File::create(brokers_root.path().join("client.log")).context("create the client's log")?;
        // Global and once per process; a second test in one binary would keep the first's log.
        let _ = tracing_subscriber::fmt()
            .with_writer(Mutex::new(client_log))
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .try_init();
        let cluster = PharosCluster::start(pharos, voters).await?;
        Ok(Scenario { cluster, brokers: Vec::new(), broker_bin, brokers_root, report: Vec::new() })
    }

    /// Spawns a broker with all the nodes as NameServers and its home in `home` under the
    /// brokers' root, without waiting for it; it joins [`Scenario::brokers`].
    pub fn spawn_broker(&mut self, home: &str, spec: BrokerSpec) -> anyhow::Result<&Broker> {
        let namesrv_addr = self.cluster.namesrv_addr();
        let broker = Broker::spawn(&self.broker_bin, &self.brokers_root.path().join(home), spec, &namesrv_addr)?;
        self.brokers.push(broker);
        self.brokers.last().context("the broker was just added")
    }

    /// Runs `steps` within `timeout`. Returns the report; on failure prints it, keeps the
    /// node logs and data dirs, the broker homes and stores and the client's log, prints where
    /// and the logs' warnings, and returns the error.
    pub async fn run(
        mut self,
        timeout: Duration,
        steps: impl AsyncFnOnce(&mut Scenario) -> anyhow::Result<()>,
    ) -> anyhow::Result<String> {
        let outcome = match tokio::time::timeout(timeout, steps(&mut self)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!("the scenario did not finish within {timeout:?}")),
        };
        if let Err(error) = outcome {
            eprintln!("what happened before the failure:\n{}", self.report.join("\n"));
            self.cluster.keep();
            self.brokers_root.disable_cleanup(true);
            eprintln!(
                "the brokers' configs and logs and the client's log are kept in {}",
                self.brokers_root.path().display()
            );
            eprintln!("{}", self.cluster.log_excerpts());
            for broker in &mut self.brokers {
                broker.keep();
                eprintln!(
                    "--- {} ({})\n{}",
                    broker.process.name,
                    broker.process.log_path.display(),
                    broker.process.log_excerpt()
                );
            }
            return Err(error);
        }
        Ok(self.report.join("\n"))
    }
}
