//! `pharos-bench compare`: Pharos and etcd side by side on 3-member loopback clusters (puts,
//! linearizable and local gets at several client counts, leader kills, planned transfers).
//! Prints the markdown table; `--markdown FILE` and `--svg FILE` also write it and a bar chart.
//!
//! Needs the release `pharos` next to this binary (or `$PHAROS_BIN`) and etcd at /usr/bin/etcd
//! (or `$ETCD_BIN`; `bench/setup-etcd.sh` installs it). Bounded in time; loopback only.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pharos_bench::compare::{CompareOptions, report, run};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    Compare {
        /// Concurrent clients per cell, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        clients: Vec<u64>,
        /// Measured seconds per cell (after a 1 s warm-up).
        #[arg(long, default_value_t = 6)]
        cell_secs: u64,
        /// Leader kill -9 rounds per system.
        #[arg(long, default_value_t = 10)]
        kills: u64,
        /// Planned leader transfers per system.
        #[arg(long, default_value_t = 3)]
        transfers: u64,
        #[arg(long)]
        markdown: Option<PathBuf>,
        #[arg(long)]
        svg: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let Mode::Compare { clients, cell_secs, kills, transfers, markdown, svg } = Args::parse().command;
    let options = CompareOptions { clients, cell_secs, kills, transfers, command };
    let result = run(&options).await?;
    let table = report::render_markdown(&result);
    print!("{table}");
    if let Some(path) = markdown {
        std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = svg {
        std::fs::write(&path, report::render_svg(&result.cells))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
