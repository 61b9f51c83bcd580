//! `aethex`: the AeThex LIVE server and its command-line tools.
//!
//! The only crate that reads files and environment variables for
//! configuration, installs the tracing subscriber, and uses `anyhow`.

mod cli;
mod clip_export;
mod commands;
mod config;
mod http_server;
mod logging;
mod metrics;
mod publish;
mod segment;
mod serve;
mod sweep;
mod transcoder;
mod webhooks;

use clap::Parser;

/// jemalloc: see the comment on the dependency in Cargo.toml.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer jemalloc reads at start-up.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points at a static, immutable, NUL-terminated string.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
unsafe impl Sync for MallocConf {}

/// jemalloc's options (its `malloc_conf`, under tikv-jemalloc-sys's symbol
/// prefix): a background thread hands freed pages back to the kernel
/// within about a second, so the server's RSS follows what it holds (after
/// a burst of connections or a broadcast's end) instead of keeping freed
/// memory for jemalloc's default 10 s, or until the next allocation.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf =
    MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000".as_ptr());

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
