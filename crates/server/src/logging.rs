//! The tracing subscriber: human or JSON lines on stderr, filtered by AETHEX_LOG.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};

pub fn init(cli: &Cli) {
    // The server logs what it does; one-shot commands only warn.
    let default = match cli.command {
        Command::Serve => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_env("AETHEX_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
