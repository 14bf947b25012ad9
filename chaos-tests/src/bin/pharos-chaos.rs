//! `pharos-chaos`: run the chaos scenarios against real `pharos` processes.
//!
//! `list` names the scenarios, `run SCENARIO --seed N` runs one, `plan SCENARIO --seed N` prints
//! what that run draws from its seed without starting a cluster, `ci` runs the CI tier (fixed
//! seeds, one fault each) and `soak --duration D --seed N` runs random scenarios and fault
//! combinations with seeds drawn from N until D has passed. Every run prints its seed; a failed
//! run prints where its history, fault timeline and node logs were kept. The exit code is 0 only
//! if every run passed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use pharos_chaos::scenario::{self, Report, Scenario};
use pharos_chaos::{ClusterOptions, SplitMix64};

#[derive(Debug, Parser)]
#[command(name = "pharos-chaos", about = "Chaos scenarios for Pharos: real processes, real faults, histories checked")]
struct Args {
    /// The `pharos` binary (default: $PHAROS_BIN, else next to this executable).
    #[arg(long, global = true)]
    pharos: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Name every scenario, with its CI seed if it belongs to the CI tier.
    List,
    /// Run one scenario.
    Run {
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print what a run would draw from its seed (faults, workload seed, each fault's victim,
    /// failpoint hit and link delays) without starting a cluster.
    Plan {
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run the CI tier: every scenario with a CI seed, once.
    Ci,
    /// Run random scenarios (and random fault combinations) until the duration has passed.
    Soak {
        /// How long, like `90s`, `10m` or `2h`.
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `90s`, `10m`, `2h`, or a sum of them like `2h10m` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text;
    let mut seconds: u64 = 0;
    if rest.is_empty() {
        return Err("empty duration".to_string());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| format!("bad duration {text:?}"))?;
        let (unit, tail) = rest[digits..].split_at(rest[digits..].chars().next().map_or(0, char::len_utf8));
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3_600,
            _ => return Err(format!("bad duration unit in {text:?} (s, m or h)")),
        };
        seconds = number.checked_mul(scale).and_then(|part| seconds.checked_add(part)).ok_or("duration too long")?;
        rest = tail;
    }
    Ok(Duration::from_secs(seconds))
}

fn options(args: &Args) -> ClusterOptions {
    let mut options = ClusterOptions::default();
    if let Some(binary) = &args.pharos {
        options.binary = binary.clone();
    }
    options
}

async fn run_one(scenario: &Scenario, seed: u64, options: &ClusterOptions) -> Report {
    println!("=== {} seed {seed}: {}", scenario.name, scenario.about);
    println!("    reproduce: pharos-chaos run {} --seed {seed}", scenario.name);
    let report = scenario::run(scenario, seed, options.clone()).await;
    print!("{}", report.render());
    report
}

fn summary(reports: &[Report]) -> ExitCode {
    let failed: Vec<&Report> = reports.iter().filter(|report| !report.passed()).collect();
    for report in &failed {
        println!(
            "failed: {} seed {}{}",
            report.scenario,
            report.seed,
            report.kept.as_ref().map(|path| format!(" (kept in {})", path.display())).unwrap_or_default()
        );
    }
    println!("chaos: {} passed, {} failed", reports.len() - failed.len(), failed.len());
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn main_inner(args: Args) -> anyhow::Result<ExitCode> {
    let options = options(&args);
    if !options.binary.exists() && matches!(args.command, Command::Run { .. } | Command::Ci | Command::Soak { .. }) {
        bail!("no pharos binary at {} (build it, or pass --pharos / set PHAROS_BIN)", options.binary.display());
    }
    match args.command {
        Command::List => {
            for scenario in scenario::all() {
                let tier = scenario.ci_seed.map_or("soak".to_string(), |seed| format!("ci (seed {seed})"));
                println!("{:<32} {:<16} {}", scenario.name, tier, scenario.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { scenario, seed } => {
            let scenario = scenario::find(&scenario)
                .with_context(|| format!("no scenario {scenario:?} (see `pharos-chaos list`)"))?;
            let report = run_one(scenario, seed, &options).await;
            Ok(summary(&[report]))
        }
        Command::Plan { scenario, seed } => {
            let scenario = scenario::find(&scenario)
                .with_context(|| format!("no scenario {scenario:?} (see `pharos-chaos list`)"))?;
            print!("{}", scenario::plan(scenario, seed).render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Ci => {
            let started = Instant::now();
            let mut reports = Vec::new();
            for scenario in scenario::all() {
                if let Some(seed) = scenario.ci_seed {
                    reports.push(run_one(scenario, seed, &options).await);
                }
            }
            println!("ci tier took {:.0}s", started.elapsed().as_secs_f64());
            Ok(summary(&reports))
        }
        Command::Soak { duration, seed } => {
            println!("soak for {}s from seed {seed}", duration.as_secs());
            let started = Instant::now();
            let mut rng = SplitMix64::new(seed);
            let scenarios = scenario::all();
            let mut reports = Vec::new();
            while started.elapsed() < duration {
                // Half the runs are random fault combinations (with or without brokers), the
                // rest any scenario.
                let scenario = match rng.below(4) {
                    0 => scenario::find("random-combination"),
                    1 => scenario::find("random-broker-combination"),
                    _ => rng.pick(scenarios),
                };
                let Some(scenario) = scenario else { break };
                let run_seed = rng.next_u64() % 1_000_000;
                reports.push(run_one(scenario, run_seed, &options).await);
            }
            Ok(summary(&reports))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHAROS_CHAOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match main_inner(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pharos-chaos: {error:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_add_up_their_parts() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2h10m"), Ok(Duration::from_secs(7_800)));
        assert_eq!(parse_duration("1h30m15s"), Ok(Duration::from_secs(5_415)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
