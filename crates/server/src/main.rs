//! `aethex`: the AeThex LIVE server and its command-line tools.
//!
//! The only crate that reads files and environment variables for
//! configuration, installs the tracing subscriber, and uses `anyhow`.

mod cli;
mod commands;
mod config;
mod http_server;
mod logging;
mod metrics;
mod publish;
mod segment;
mod serve;
mod sweep;
mod webhooks;

use clap::Parser;

/// jemalloc: see the comment on the dependency in Cargo.toml.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli);
    // File remuxing is synchronous: no async runtime, no configuration.
    if let cli::Command::Segment(args) = &cli.command {
        return match segment::run(args, cli.config.as_deref()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
