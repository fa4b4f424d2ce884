use std::path::PathBuf;

use clap::Args as ClapArgs;

/// Write one self-contained HTML page over a work directory: the answer, then the evidence.
///
/// The page holds statistics, dedup, clusters, tokens, candidates, runs, the fit, the chosen mixture and
/// the manifests, whichever exist.
///
/// Example:
///
///   remix report work -o work/report.html
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The work directory.
    pub work: PathBuf,

    /// Where to write the page.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let sections = crate::report::write(&args.work, &args.output)?;
    println!("Wrote {} ({sections} sections)", args.output.display());
    Ok(())
}
