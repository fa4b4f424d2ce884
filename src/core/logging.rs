//! Log output through `tracing`, on stderr so that stdout stays clean for tables and `--json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger: warnings and the proxies' device choice by default (which adapter, why,
/// how many proxies a stack holds: what a user must see on a GPU machine), more with `-v`, `RUST_LOG`
/// when set. Errors: a `RUST_LOG` that is not a `tracing` filter (never ignored in silence).
pub fn init(verbose: u8) -> anyhow::Result<()> {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), verbose)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
    Ok(())
}

/// The filter of `RUST_LOG` (`env`) when set and not empty, else the default of `-v` given `verbose`
/// times.
fn filter(env: Option<&str>, verbose: u8) -> anyhow::Result<EnvFilter> {
    match env.filter(|e| !e.trim().is_empty()) {
        Some(env) => EnvFilter::try_new(env).map_err(|e| {
            anyhow::anyhow!(
                "RUST_LOG=`{env}` is not a log filter ({e}): use a level (`info`) or directives \
                 (`remix=debug,warn`), or unset it"
            )
        }),
        None => Ok(EnvFilter::new(match verbose {
            0 => "warn,remix::proxy::device=info",
            1 => "remix=debug,warn",
            _ => "remix=trace,info",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_rust_log_is_an_error_and_an_empty_one_the_default() {
        let error = filter(Some("remix=loud"), 0).unwrap_err().to_string();
        assert!(error.contains("RUST_LOG=`remix=loud`"), "{error}");
        assert_eq!(
            filter(Some(" "), 1).unwrap().to_string(),
            filter(None, 1).unwrap().to_string()
        );
        assert!(filter(Some("remix=debug,warn"), 0).is_ok());
    }
}
