//! `remix bench train`: proxy training speed on random tokens, the figure to hold against PyTorch.
//!
//! Writes one domain of uniformly random token ids to a temporary tokens folder, trains the proxy on it
//! through the same sampler and loop as `remix train`, and times every step. The first step (allocation
//! and first-touch of the weights) is left out of the rate. With `parallel` P, P proxies train in one
//! stack, each on its own batches, and the rate counts the tokens of all P. `bench/train_pytorch.py`
//! trains the same model the same way in PyTorch, so the two can run side by side on one machine.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::Device;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::tokens::write::{ShardWriter, TokenDtype};
use crate::data::tokens::{TokenDomain, TokensIndex};
use crate::proxy::data::MixtureSampler;
use crate::proxy::model::ProxyShape;
use crate::proxy::settings::TrainConfig;
use crate::proxy::train::train_proxies;

/// What one benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub shape: ProxyShape,
    pub batch_size: usize,
    pub steps: usize,
    /// Proxies trained together.
    pub parallel: usize,
    pub threads: usize,
    /// Tokens (of all proxies) per second over the steps after the first.
    pub tokens_per_second: f64,
    /// Seconds of each step, the first included.
    pub step_seconds: Vec<f64>,
    /// Mean training loss of the proxies at the last step.
    pub final_loss: f64,
}

/// Trains `parallel` proxies together for `steps` steps of `batch_size` x `shape.context` random
/// tokens each, and times them.
pub fn train(
    shape: &ProxyShape,
    batch_size: usize,
    steps: usize,
    parallel: usize,
    device: &Device,
) -> Result<TrainBench> {
    let parallel = parallel.max(1);
    shape.check()?;
    let steps = steps.max(2);
    let dir = tempfile::tempdir()?;
    let needed = (parallel * steps * batch_size * (shape.context + 1)) as u64 + 1;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let eod = shape.vocab_size as u32 - 1;
    let dtype = TokenDtype::for_vocab(shape.vocab_size);
    let mut shard = ShardWriter::create(&dir.path().join("random"), dtype)?;
    while shard.tokens() < needed {
        let mut document: Vec<u32> = (0..4095).map(|_| rng.random_range(0..eod)).collect();
        document.push(eod);
        shard.push(&document)?;
    }
    let tokens = shard.tokens();
    shard.finish()?;
    let index = TokensIndex {
        tokenizer_sha256: String::new(),
        vocab_size: shape.vocab_size as u64,
        dtype,
        eod_id: u64::from(eod),
        domains: vec![TokenDomain {
            domain: "random".into(),
            file_stem: "random".into(),
            documents: 0,
            tokens,
            val_documents: 0,
            val_tokens: 0,
            eval_only: false,
            val_unigram_entropy: None,
            val_bytes: None,
            digest: None,
            parts: Vec::new(),
        }],
    };
    // Each proxy its own seed, so each reads other batches, as candidates would.
    let mut samplers = (0..parallel as u64)
        .map(|seed| MixtureSampler::new(dir.path(), &index, &[1.0], shape.context, seed))
        .collect::<Result<Vec<_>>>()?;
    let config = TrainConfig {
        train_tokens: (steps * batch_size * shape.context) as u64,
        batch_size,
        ..Default::default()
    };
    let mut step_seconds = Vec::with_capacity(steps);
    let mut last = Instant::now();
    let mut final_loss = f64::NAN;
    train_proxies(
        shape,
        &config,
        &mut samplers,
        &[],
        device,
        0,
        |_, _, loss| {
            step_seconds.push(last.elapsed().as_secs_f64());
            last = Instant::now();
            final_loss = loss;
        },
    )?;
    let timed: f64 = step_seconds[1..].iter().sum();
    Ok(TrainBench {
        shape: shape.clone(),
        batch_size,
        steps,
        parallel,
        threads: rayon::current_num_threads(),
        tokens_per_second: (parallel * (steps - 1) * batch_size * shape.context) as f64
            / timed.max(1e-9),
        step_seconds,
        final_loss,
    })
}
