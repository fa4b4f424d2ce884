use std::path::PathBuf;

use super::args::JsonArg;
use clap::Args as ClapArgs;

use super::train::{ProxyArgs, parse_device};
use crate::data::tokens::TokensIndex;
use crate::pipeline::config::ProxySection;
use crate::proxy::device::DeviceChoice;
use crate::validate::stage::ValidateSection;

/// Train one larger model per mixture and compare their validation losses on the target domains.
///
/// Each mixture is a manifest or weights file, or `natural` / `uniform`. The model is the proxy (same
/// flags as `remix train`) scaled by --model-scale in non-embedding parameters and in tokens.
/// Writes OUT/validate/results.json.
///
/// Examples:
///
///   remix validate --tokens work/tokens --mixture work/mixtures/mine.json --mixture natural --mixture uniform -o work
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The tokens folder (shards and index.json).
    #[arg(long)]
    pub tokens: PathBuf,

    /// A mixture to validate (repeatable): a manifest, a weights file, `natural` or `uniform`.
    #[arg(long = "mixture", alias = "manifest", required = true)]
    pub mixtures: Vec<String>,

    /// Domains whose validation loss decides: `a,b` (weighed equally) or `a=0.7,b=0.3`; default: the
    /// evaluation-only domains.
    #[arg(long)]
    pub target: Option<crate::regmix::fit::Target>,

    /// Non-embedding parameters and tokens of the validation model, relative to the proxy.
    #[arg(long, default_value_t = ValidateSection::default().model_scale)]
    pub model_scale: f64,

    /// The work directory; results go to WORK/validate/results.json.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Where to train: cpu (burn's flex backend), wgpu (Vulkan, Metal, DX12); auto: cpu.
    #[arg(long, value_parser = parse_device, default_value_t = ProxySection::default().device)]
    pub device: DeviceChoice,

    #[command(flatten)]
    pub proxy: ProxyArgs,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<()> {
    let index = TokensIndex::read(&args.tokens)?;
    let section = ValidateSection {
        model_scale: args.model_scale,
        target: args.target.unwrap_or_default(),
        ..Default::default()
    };
    let config = section.config(args.proxy.config(&index)?, &Default::default());
    let out_dir = args.output.join("validate");
    let report = crate::validate::run(
        &args.tokens,
        &args.mixtures,
        &config,
        &out_dir,
        &args.device.device()?,
        quiet,
    )?;
    if args.json.print(&report)? {
        return Ok(());
    }
    println!(
        "validation model: {} non-embedding parameters (d_model {}, SwiGLU {}), {} tokens; target {}",
        report.non_embedding_params,
        report.shape.d_model,
        report.shape.ffn_hidden,
        report.train_tokens,
        report.target.label()
    );
    let domains: Vec<&String> = report
        .results
        .first()
        .map(|r| r.losses.keys().collect())
        .unwrap_or_default();
    print!("{:<24} {:>12}", "mixture", "target loss");
    for d in &domains {
        print!(" {:>12}", d.chars().take(12).collect::<String>());
    }
    println!();
    for r in &report.results {
        print!("{:<24} {:>12.4}", r.name, r.target_loss);
        for d in &domains {
            print!(" {:>12.4}", r.losses.get(*d).copied().unwrap_or(f64::NAN));
        }
        println!();
    }
    println!("Wrote {}", out_dir.join("results.json").display());
    Ok(())
}
