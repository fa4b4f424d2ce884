//! Log output through `tracing`, on stderr so that stdout stays clean for tables and `--json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger: warnings and the proxies' device choice by default (which adapter, why,
/// how many proxies a stack holds: what a user must see on a GPU machine), more with `-v`, `RUST_LOG`
/// when set.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn,remix::proxy::device=info",
        1 => "remix=debug,warn",
        _ => "remix=trace,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
