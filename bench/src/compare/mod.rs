//! `pharos-bench compare`: Pharos and etcd side by side on one machine, each as a 3-member
//! loopback cluster of real processes, driven by the same closed-loop load generator.
//!
//! Cells are interleaved (etcd, then Pharos, then the next cell), so drift of a shared machine
//! hits both systems alike. After the cells come planned leader transfers and leader kills.

pub mod failover;
pub mod load;
pub mod machine;
pub mod report;

use anyhow::Context;
use pharos_chaos::{Cluster, ClusterOptions};

use crate::etcd::EtcdCluster;
use load::Connection;
use report::{CellResult, FailoverResult, Operation, Report, System};

/// What one run measures.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Concurrent clients of each cell, one cell per entry and operation.
    pub clients: Vec<u64>,
    /// Measured time of each cell, after its warm-up.
    pub cell_secs: u64,
    /// Leader kill -9 rounds per system.
    pub kills: u64,
    /// Planned leader transfers per system (0: none).
    pub transfers: u64,
    /// How the run was started, for the report.
    pub command: String,
}

/// Starts both clusters, runs every cell and the failover rounds, stops both clusters.
pub async fn run(options: &CompareOptions) -> anyhow::Result<Report> {
    let mut etcd = EtcdCluster::start().await.context("starting the etcd cluster")?;
    let mut pharos = Cluster::start(ClusterOptions::default()).await.context("starting the Pharos cluster")?;
    let etcd_endpoints = etcd.client_endpoints();
    let pharos_endpoints = pharos.client_endpoints();
    for (system, endpoints) in [(System::Etcd, &etcd_endpoints), (System::Pharos, &pharos_endpoints)] {
        let connections = Connection::open(system, endpoints, 1)?;
        load::preload(&connections[0]).await.with_context(|| format!("preloading {}", system.name()))?;
    }
    let mut cells: Vec<CellResult> = Vec::new();
    for operation in Operation::ALL {
        for &clients in &options.clients {
            for (system, endpoints) in [(System::Etcd, &etcd_endpoints), (System::Pharos, &pharos_endpoints)] {
                let connections = Connection::open(system, endpoints, clients)?;
                let cell = load::run_cell(system, &connections, operation, options.cell_secs).await?;
                eprintln!(
                    "{} {} x{}: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    system.name(),
                    operation.name(),
                    clients,
                    cell.ops_per_second,
                    cell.p50_ms,
                    cell.p99_ms,
                    cell.errors
                );
                cells.push(cell);
            }
        }
    }
    let mut transfers = failover::etcd_transfers(&etcd, options.transfers).await?;
    transfers.extend(failover::pharos_transfers(&pharos, options.transfers).await?);
    let mut failovers = Vec::new();
    if options.kills > 0 {
        let etcd_kills = failover::etcd_kills(&mut etcd, options.kills).await?;
        failovers.push(FailoverResult { system: System::Etcd, kill_to_write_ms: etcd_kills });
        let pharos_kills = failover::pharos_kills(&mut pharos, options.kills).await?;
        failovers.push(FailoverResult { system: System::Pharos, kill_to_write_ms: pharos_kills });
    }
    drop(pharos);
    drop(etcd);
    Ok(Report { machine: machine::describe(), command: options.command.clone(), cells, failovers, transfers })
}
