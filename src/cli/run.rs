use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

use anyhow::bail;

use crate::core::tasks::TaskSlice;
use crate::pipeline::executor::Executor;
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
///
///   remix run mixtures/gpu-template.toml --executor slurm --dry-run
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

    /// Where the stages run: `local` (this process) or `slurm` (each stage a job array, chained with
    /// afterok; see [executor] in mixtures/gpu-template.toml). The work directory must be on a
    /// filesystem every node shares.
    #[arg(long, value_enum, default_value_t = Executor::default())]
    pub executor: Executor,

    /// With --executor slurm: print the sbatch commands and scripts, submit nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Run one task of a split stage (--from S --until S): task I of N.
    #[arg(long, value_name = "I/N", conflicts_with = "tasks")]
    pub task: Option<TaskSlice>,

    /// Run one task of a split stage (--from S --until S) of N, its index from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX (what the array jobs of --executor slurm run).
    #[arg(long, value_name = "N")]
    pub tasks: Option<usize>,

    /// With --task or --tasks: the phase of a stage that runs its tasks in phases, each after every
    /// task of the one before (dedup: signatures, buckets, clusters, filter; tokenize: hashes, split,
    /// encode).
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,

    /// Start even when the proxies' training, measured on this machine, would take longer than
    /// [run] max_hours (default 24).
    #[arg(long)]
    pub yes: bool,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let task = match (args.task, args.tasks) {
        (Some(task), _) => Some(task),
        (None, Some(count)) => Some(TaskSlice::from_env(count)?),
        (None, None) => None,
    };
    if task.is_none() && args.phase.is_some() {
        bail!("--phase names the phase of a task: give --task I/N or --tasks N with it");
    }
    if let Some(task) = task {
        let (Some(from), Some(until)) = (args.from, args.until) else {
            bail!("--task and --tasks run one stage's task: give --from STAGE --until STAGE");
        };
        if from != until {
            bail!(
                "--task and --tasks run one stage's task: --from and --until name the same stage"
            );
        }
        return crate::pipeline::run_task(&args.config, from, args.phase.as_deref(), task, quiet);
    }
    let options = RunOptions {
        from: args.from,
        until: args.until,
        force: args.force,
        yes: args.yes,
    };
    let summary = match args.executor {
        Executor::Local => {
            if args.dry_run {
                bail!("--dry-run prints what --executor slurm would submit: add --executor slurm");
            }
            crate::pipeline::run(&args.config, &options, quiet)?
        }
        Executor::Slurm => {
            crate::pipeline::slurm::run(&args.config, &options, quiet, args.dry_run)?
        }
    };
    if args.dry_run {
        return Ok(());
    }
    if args.json.print(&summary)? {
        return Ok(());
    }
    for outcome in &summary.stages {
        println!(
            "{:<10} {:<10} {:>8.1} s",
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
    if let Some(answer) = &summary.answer {
        print!("\n{}", answer.text());
    }
    Ok(())
}
