use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

/// Runs tables: bring proxy runs from elsewhere into remix's format, and merge sharded tables.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    Import(ImportArgs),
    Merge(MergeArgs),
}

/// Merge runs tables written by several machines (remix train --shard I/N) into one.
///
/// Example:
///
///   remix runs merge shard-0/runs/runs.parquet shard-1/runs/runs.parquet -o work/runs/runs.parquet
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct MergeArgs {
    /// The runs tables to merge.
    #[arg(required = true, num_args = 1..)]
    pub tables: Vec<PathBuf>,

    /// The merged runs table to write (Parquet).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Convert RegMix's published CSV pair into a remix runs table.
///
/// Example:
///
///   remix runs import --regmix-mixtures train_mixture_1m.csv --regmix-losses train_pile_loss_1m.csv -o runs.parquet
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// RegMix mixtures CSV: `index` and `train_<domain>` weight columns.
    #[arg(long)]
    pub regmix_mixtures: PathBuf,

    /// RegMix losses CSV: `index` and `metric/<domain>_val_loss` columns.
    #[arg(long)]
    pub regmix_losses: PathBuf,

    /// The runs table to write (Parquet).
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        RunsCommand::Import(args) => {
            let table =
                crate::regmix::runs::regmix::import(&args.regmix_mixtures, &args.regmix_losses)?;
            crate::regmix::runs::write_runs(&table, &args.output)?;
            println!(
                "Wrote {} runs, {} training domains, {} evaluated domains to {}",
                table.runs.len(),
                table.domains.len(),
                table.loss_domains.len(),
                args.output.display()
            );
            Ok(())
        }
        RunsCommand::Merge(args) => {
            let table = crate::regmix::runs::merge::merge(&args.tables)?;
            crate::regmix::runs::write_runs(&table, &args.output)?;
            println!(
                "Wrote {} runs from {} tables to {}",
                table.runs.len(),
                args.tables.len(),
                args.output.display()
            );
            Ok(())
        }
    }
}
