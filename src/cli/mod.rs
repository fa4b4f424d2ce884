//! The command line: one file per subcommand, each holding its arguments and a call into the library
//! (the xsv habit). Nothing here computes anything.

mod args;
pub mod bench;
pub mod cluster;
pub mod dedup;
pub mod devices;
pub mod doremi;
pub mod fit;
pub mod manifest;
pub mod plan;
pub mod predict;
pub mod report;
pub mod run;
pub mod runs;
pub mod sample;
pub mod simulate;
pub mod stats;
pub mod tokenize;
pub mod tokenizer;
pub mod tokens;
pub mod train;
pub mod validate;

use clap::{Parser, Subcommand};

/// remix finds the data mixture for a language-model pre-training run.
#[derive(Debug, Parser)]
#[command(name = "remix", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Show no progress bars (they are drawn only on a terminal anyway).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Stats(stats::Args),
    Dedup(dedup::Args),
    Cluster(cluster::Args),
    Tokenize(tokenize::Args),
    Tokenizer(tokenizer::Args),
    Tokens(tokens::Args),
    Sample(sample::Args),
    Train(train::Args),
    Doremi(doremi::Args),
    Run(run::Args),
    Plan(plan::Args),
    Runs(runs::Args),
    Fit(fit::Args),
    Predict(predict::Args),
    Simulate(simulate::Args),
    Manifest(manifest::Args),
    Report(report::Args),
    Validate(validate::Args),
    Bench(bench::Args),
    Devices(devices::Args),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Stats(args) => stats::run(args, self.quiet),
            Command::Dedup(args) => dedup::run(args, self.quiet),
            Command::Cluster(args) => cluster::run(args, self.quiet),
            Command::Tokenize(args) => tokenize::run(args, self.quiet),
            Command::Tokenizer(args) => tokenizer::run(args, self.quiet),
            Command::Tokens(args) => tokens::run(args, self.quiet),
            Command::Sample(args) => sample::run(args),
            Command::Train(args) => train::run(args, self.quiet),
            Command::Doremi(args) => doremi::run(args, self.quiet),
            Command::Run(args) => run::run(args, self.quiet),
            Command::Plan(args) => plan::run(args),
            Command::Runs(args) => runs::run(args),
            Command::Fit(args) => fit::run(args),
            Command::Predict(args) => predict::run(args),
            Command::Simulate(args) => simulate::run(args),
            Command::Manifest(args) => manifest::run(args),
            Command::Report(args) => report::run(args),
            Command::Validate(args) => validate::run(args, self.quiet),
            Command::Bench(args) => bench::run(args),
            Command::Devices(args) => devices::run(args),
        }
    }
}
