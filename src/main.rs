//! The `remix` binary: parse the command line, set up logging, run, and print the error chain.

use std::process::ExitCode;

use clap::Parser;
use remix::cli::Cli;

fn main() -> ExitCode {
    remix::core::allocator::keep_large_blocks();
    remix::core::headless::quiet_display_lookup();
    remix::core::panic::install_hook();
    let cli = Cli::parse();
    match remix::core::logging::init(cli.verbose).and_then(|()| cli.run()) {
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
