use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

/// What `remix run CONFIG` will cost on this machine, in hours per stage, before it starts.
///
/// A few real training steps of the configured proxy (its vocabulary, context, batch and device) and of
/// the validation models are timed, and each stage that trains gets its models x tokens at that rate.
///
/// `remix run` makes the same estimate when proxies are left to train, and stops when it passes
/// [run] max_hours unless given --yes.
///
/// Examples:
///
///   remix plan mixtures/gpu-template.toml
///
///   remix plan my-corpus.toml --json
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The pipeline config (TOML).
    pub config: PathBuf,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let estimate = crate::pipeline::estimate_config(&args.config)?;
    if !args.json.print(&estimate)? {
        print!("{}", estimate.text());
    }
    Ok(())
}
