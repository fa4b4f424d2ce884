use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;
use clap::ValueEnum as _;

use crate::regmix::fit::{FitConfig, RegressorKind, Selection, Target};

/// Fit the target loss as a function of the mixture weights, with cross-validated model choice.
///
/// Examples:
///
///   remix fit --runs work/runs/runs.parquet --target web -o work/fit
///
///   remix fit --runs runs.parquet --target the_pile_pile_cc,the_pile_arxiv --regressor gbdt -o fit --json
///
///   remix fit --runs runs.parquet --target speeches=0.7,code=0.3 -o fit
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The runs table (Parquet), from `remix train` or `remix runs import`.
    #[arg(long)]
    pub runs: PathBuf,

    /// Evaluated domain(s) whose validation loss is the target: `a,b` (weighed equally) or
    /// `a=0.7,b=0.3` (weights, normalised to sum to 1).
    #[arg(long, required = true)]
    pub target: Target,

    /// Regressors to compare (repeatable), in order of preference for a tie; default: all seven,
    /// power_law first, skipping one the runs table lacks data for.
    #[arg(long, value_enum)]
    pub regressor: Vec<RegressorKind>,

    /// How the best regressor is chosen: spearman (the best ranking of held-out runs) or regret (the
    /// best pick of a held-out run).
    #[arg(long, value_enum, default_value_t = FitConfig::default().select)]
    pub select: Selection,

    /// Cross-validation folds.
    #[arg(long, default_value_t = FitConfig::default().folds)]
    pub folds: usize,

    /// Seed of the fold assignment.
    #[arg(long, default_value_t = FitConfig::default().seed)]
    pub seed: u64,

    /// Output folder for model.json, report.json and _done.json.
    #[arg(short, long)]
    pub output: PathBuf,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = FitConfig {
        target: args.target,
        folds: args.folds,
        seed: args.seed,
        select: args.select,
        ..Default::default()
    };
    if !args.regressor.is_empty() {
        config.regressors = args.regressor;
    }
    let report = crate::regmix::fit::run(&args.runs, &config, &args.output)?;
    if args.json.print(&report)? {
        return Ok(());
    }
    println!(
        "{} runs, target {}, {}-fold cross-validation:",
        report.runs,
        report.config.target.label(),
        report.config.folds
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9}",
        "regressor", "spearman", "pearson", "MAE", "regret"
    );
    for s in &report.regressors {
        println!(
            "{:<10} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            s.regressor.name(),
            s.spearman,
            s.pearson,
            s.mean_absolute_error,
            s.regret.unwrap_or(f64::NAN)
        );
    }
    for s in &report.skipped {
        println!("{:<10} skipped: {}", s.regressor.name(), s.reason);
    }
    println!(
        "Chose {} (by {}); wrote {}",
        report.chosen.name(),
        report
            .config
            .select
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string()),
        args.output.join("model.json").display()
    );
    Ok(())
}
