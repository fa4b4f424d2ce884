use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;

use crate::data::tokens::TokensIndex;
use crate::regmix::mixture::SamplingConfig;
use crate::regmix::sample::SampleConfig;
use crate::reuse::{self, ReuseConfig};

/// Sample candidate mixtures for proxy runs (RegMix's Dirichlet generator), plus the natural and uniform ones.
///
/// Example:
///
///   remix sample --tokens work/tokens -n 512 --seed 0 --max-epochs 4 --train-tokens 100000000 -o work/mixtures.parquet
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The tokens folder (or its index.json): domains and token counts.
    #[arg(long)]
    pub tokens: PathBuf,

    /// Candidates to sample, besides the natural and uniform mixtures. Default 512; with --reuse, 30
    /// per domain searched (at least 16).
    #[arg(short = 'n', long)]
    pub candidates: Option<usize>,

    #[arg(long, default_value_t = SampleConfig::default().seed)]
    pub seed: u64,

    /// Exponent on token shares in the Dirichlet prior.
    #[arg(long, default_value_t = SamplingConfig::default().temperature)]
    pub temperature: f64,

    /// Range of the Dirichlet strength, sampled log-uniformly: MIN..MAX.
    #[arg(long, default_value = STRENGTH, value_parser = parse_range)]
    pub strength: (f64, f64),

    /// Weights under this are set to 0.
    #[arg(long, default_value_t = SamplingConfig::default().min_weight)]
    pub min_weight: f64,

    /// Most times a domain may be repeated in one proxy run (needs --train-tokens).
    #[arg(long, default_value_t = SampleConfig::default().max_epochs)]
    pub max_epochs: f64,

    /// Tokens each proxy trains on, for the epoch caps.
    #[arg(long)]
    pub train_tokens: Option<u64>,

    /// A candidate within this L1 distance of one already kept is drawn again.
    #[arg(long, default_value_t = SampleConfig::default().min_distance)]
    pub min_distance: f64,

    /// Where to write mixtures.parquet.
    #[arg(short, long)]
    pub output: PathBuf,

    /// An earlier search's manifest: keep its unchanged domains at their old proportions and sample
    /// only the changed ones and the frozen block's total (mixture reuse). Writes the plan to
    /// reuse/plan.json beside the output.
    #[arg(long, value_name = "OLD.json")]
    pub reuse: Option<PathBuf>,

    /// With --reuse: an unchanged domain to search again instead of freezing it (repeatable).
    #[arg(long, value_name = "DOMAIN", requires = "reuse")]
    pub reopen: Vec<String>,
}

/// `SamplingConfig`'s default strength range as the flag writes it (a test holds them equal).
const STRENGTH: &str = "0.1..5";

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let parsed = text
        .split_once("..")
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)));
    match parsed {
        Some((low, high)) if low > 0.0 && low <= high => Ok((low, high)),
        _ => Err(format!(
            "`{text}` is not a strength range: write MIN..MAX with 0 < MIN <= MAX, e.g. 0.1..5"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = SampleConfig {
        candidates: args
            .candidates
            .unwrap_or(SampleConfig::default().candidates),
        seed: args.seed,
        sampling: SamplingConfig {
            temperature: args.temperature,
            strength_min: args.strength.0,
            strength_max: args.strength.1,
            min_weight: args.min_weight,
        },
        max_epochs: args.max_epochs,
        train_tokens: args.train_tokens,
        min_distance: args.min_distance,
    };
    let index = TokensIndex::read(&args.tokens)?;
    if let Some(from) = args.reuse {
        let reuse = ReuseConfig {
            from,
            reopen: args.reopen,
            candidates: args.candidates,
        };
        let dir = args.output.parent().unwrap_or(Path::new("."));
        let plan = reuse::sample(
            &reuse,
            &index,
            &mut config,
            &args.output,
            &dir.join("reuse"),
        )?;
        eprintln!("{}", plan.summary());
        match plan.removal_only {
            Some(_) => println!(
                "Domains were only removed: no candidates. The answer is in {}: make the manifest with \
                 `remix manifest --weights {}`",
                dir.join("reuse/weights.json").display(),
                dir.join("reuse/weights.json").display()
            ),
            None => println!(
                "Wrote {} mixtures over {} domains ({} sampled in the reduced space of {} entries) to {}",
                plan.candidates + 3,
                index.training_domains().count(),
                plan.candidates,
                plan.free.len() + 1,
                args.output.display()
            ),
        }
        return Ok(());
    }
    let mixtures = crate::regmix::sample::sample(&index, &config)?;
    crate::regmix::sample::write(&mixtures, &args.output)?;
    println!(
        "Wrote {} mixtures over {} domains (natural, uniform and {} sampled) to {}",
        mixtures.rows.len(),
        mixtures.domains.len(),
        mixtures.rows.len() - 2,
        args.output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strength_flag_defaults_to_the_sampling_default() {
        let d = SamplingConfig::default();
        assert_eq!(parse_range(STRENGTH), Ok((d.strength_min, d.strength_max)));
    }
}
