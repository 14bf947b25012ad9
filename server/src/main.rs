//! `pharos`: parse arguments, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use pharos_server::cli::{Cli, Command};
use pharos_server::config::ServeConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => {
            let config = match ServeConfig::resolve(&args) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            if args.print_config {
                print!("{}", config.to_toml());
                return ExitCode::SUCCESS;
            }
            init_tracing(&config.log_format, &config.log_level);
            runtime.block_on(async {
                let (trigger, shutdown) = pharos_server::shutdown::channel();
                tokio::spawn(async move {
                    pharos_server::shutdown::signal().await;
                    trigger.trigger();
                });
                match pharos_server::server::run(config, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        tracing::error!("{error:#}");
                        eprintln!("error: {error:#}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        other => runtime.block_on(pharos_server::cli::run(cli.global, other)),
    }
}

fn init_tracing(format: &str, level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
