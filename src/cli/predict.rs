use std::path::PathBuf;

use clap::Args as ClapArgs;

/// Predict the target loss of mixtures with a fitted model.
///
/// Example:
///
///   remix predict --model work/fit/model.json --mixtures test_mixture_1m.csv -o predictions.csv
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A model.json written by `remix fit`.
    #[arg(long)]
    pub model: PathBuf,

    /// Mixtures to score: a remix mixtures or runs table (Parquet or CSV, w_<domain> columns) or a RegMix
    /// mixture CSV (train_<domain> columns).
    #[arg(long)]
    pub mixtures: PathBuf,

    /// Score even when the file has domains the model does not know (their weights are ignored).
    #[arg(long)]
    pub ignore_extra: bool,

    /// The CSV to write: the input's index column when it has one, then `prediction`.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rows =
        crate::regmix::predict::run(&args.model, &args.mixtures, &args.output, args.ignore_extra)?;
    println!("Scored {rows} mixtures; wrote {}", args.output.display());
    Ok(())
}
