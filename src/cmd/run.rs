use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::pipeline::{PipelineStage, RunOptions};

/// Run every stage a pipeline config enables, in order, skipping stages that are already done.
///
/// A stage is done when its marker (WORK/pipeline/<stage>/_done.json) matches its settings and the
/// markers of the stages it reads; a changed setting re-runs that stage and every stage after it.
/// Killed half-way, a second run picks up where the first stopped (proxy training keeps its finished runs).
///
/// Examples:
///
///   remix run mixtures/fixtures.toml
///
///   remix run mixtures/fixtures.toml --from fit --force simulate
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The pipeline config (TOML); see mixtures/fixtures.toml and mixtures/gpu-template.toml.
    pub config: PathBuf,

    /// Start at this stage (the stages before it must be done).
    #[arg(long, value_enum)]
    pub from: Option<PipelineStage>,

    /// Stop after this stage.
    #[arg(long, value_enum)]
    pub until: Option<PipelineStage>,

    /// Re-run this stage even when its marker matches (repeatable); the stages after it follow.
    #[arg(long, value_enum)]
    pub force: Vec<PipelineStage>,

    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let options = RunOptions {
        from: args.from,
        until: args.until,
        force: args.force,
    };
    let summary = crate::pipeline::run(&args.config, &options, quiet)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for outcome in &summary.stages {
        println!(
            "{:<10} {:<9} {:>8.1} s",
            outcome.stage.name(),
            outcome.status,
            outcome.seconds
        );
    }
    match summary.manifest.split_first() {
        Some((manifest, exports)) => {
            println!("Manifest: {}", manifest.display());
            for export in exports {
                println!("Export:   {}", export.display());
            }
        }
        None => println!("No manifest yet (the manifest stage has not run)"),
    }
    if let Some(report) = &summary.report {
        println!("Report:   {}", report.display());
    }
    Ok(())
}
