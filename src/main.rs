//! The `remix` binary: parse the command line, set up logging, run, and print the error chain.

use std::process::ExitCode;

use clap::Parser;
use remix::cmd::Cli;

fn main() -> ExitCode {
    remix::allocator::keep_large_blocks();
    let cli = Cli::parse();
    remix::logging::init(cli.verbose);
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
