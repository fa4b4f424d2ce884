use clap::{Args as ClapArgs, Subcommand};

use super::args::JsonArg;
use super::train::parse_device;
use crate::pipeline::config::ProxySection;
use crate::proxy::device::DeviceChoice;
use crate::proxy::memory::{StackMemory, auto_parallel};
use crate::proxy::model::ProxyShape;
use crate::proxy::settings::TrainConfig;

/// Benchmarks that print figures (speed is measured here, never asserted in tests).
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    Train(TrainArgs),
}

/// Train the proxy on random tokens and print tokens per second (compare: bench/train_pytorch.py).
///
/// It prints one line per stack size: first one proxy at a time, then each P of --parallel stacked
/// (the tokens of all P per second). bench/gpu_sweep.sh runs it over P = 1, 4, 16, 64 on wgpu.
///
/// Examples:
///
///   remix bench train --steps 20 --context 256
///
///   remix bench train --steps 10 --parallel 8 --json
///
///   remix bench train --device wgpu --vocab-size 50304 --parallel 4,16,64
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct TrainArgs {
    /// Timed steps (the first, a warm-up, is not counted).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,

    /// Sequences per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,

    /// Context length. Default 256 rather than the proxy's 512: a step of the same tokens in half the
    /// attention, so the figure tracks the matrix products (the part a stack of proxies changes).
    #[arg(long, default_value_t = 256)]
    pub context: usize,

    /// Vocabulary size. Default 4096, the bundled fixtures' tokenizer; pass yours (GPT-2: 50257) for
    /// the speed your run will see.
    #[arg(long, default_value_t = 4096)]
    pub vocab_size: usize,

    #[arg(long, default_value_t = ProxySection::default().layers)]
    pub layers: usize,

    #[arg(long, default_value_t = ProxySection::default().d_model)]
    pub d_model: usize,

    #[arg(long, default_value_t = ProxySection::default().heads)]
    pub heads: usize,

    #[arg(long, default_value_t = ProxySection::default().ffn_hidden)]
    pub ffn_hidden: usize,

    #[arg(long, value_parser = parse_device, default_value_t = ProxySection::default().device)]
    pub device: DeviceChoice,

    /// Proxies trained together, compared with one at a time: one count or a list (4,16,64).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub parallel: Vec<usize>,

    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let BenchCommand::Train(args) = args.command;
    let shape = ProxyShape::checked(
        args.vocab_size,
        args.layers,
        args.d_model,
        args.heads,
        args.ffn_hidden,
        args.context,
    )?;
    let device = args.device.resolve()?;
    let mut sizes = vec![1];
    for &p in &args.parallel {
        if !sizes.contains(&p.max(1)) {
            sizes.push(p.max(1));
        }
    }
    let mut results: Vec<crate::proxy::bench::TrainBench> = Vec::new();
    let config = TrainConfig {
        batch_size: args.batch_size,
        ..Default::default()
    };
    for parallel in sizes {
        // A stack past the device's memory or largest buffer (the check `remix plan` makes) is refused
        // before anything is allocated, with the largest stack that fits.
        let stack = StackMemory::of(&shape, &config, parallel, device.stack_budget(), parallel);
        stack.check(&device.label(), || {
            let fix = match parallel {
                1 => "not even one proxy fits".to_string(),
                _ => {
                    let most = auto_parallel(&shape, &config, device.stack_budget(), usize::MAX);
                    format!("at most --parallel {most} fits at this shape")
                }
            };
            format!("{fix} (or lower --batch-size, --context or --vocab-size)")
        })?;
        let result = crate::proxy::bench::train(
            &shape,
            args.batch_size,
            args.steps,
            parallel,
            &device.device,
        )?;
        let line = format!(
            "{:.0} tokens/s ({parallel} proxies stacked, {} threads, on {})",
            result.tokens_per_second,
            result.threads,
            device.label()
        );
        // With --json, stdout holds the JSON alone; each measurement still shows as it comes.
        if args.json.enabled {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        results.push(result);
    }
    if args.json.enabled {
        let speedup = results.last().map_or(1.0, |r| r.tokens_per_second)
            / results[0].tokens_per_second.max(1e-9);
        let summary = serde_json::json!({
            "device": device.label(),
            "adapter": device.adapter,
            "runs": results,
            "stacked_over_one_at_a_time": speedup,
        });
        args.json.print(&summary)?;
    }
    Ok(())
}
