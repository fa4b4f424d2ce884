//! `remix bench train`: proxy training speed on random tokens, the figure to hold against PyTorch.
//!
//! Writes one domain of uniformly random token ids to a temporary tokens folder, trains the proxy on it
//! through the same sampler and loop as `remix train`, and times every step. The first step (allocation
//! and first-touch of the weights) is left out of the rate. `bench/train_pytorch.py` trains the same
//! model the same way in PyTorch, so the two can run side by side on one machine.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::Device;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::proxy::data::MixtureSampler;
use crate::proxy::model::ProxyShape;
use crate::proxy::train::{TrainConfig, train_proxy};
use crate::tokenize::shard::{ShardWriter, TokenDtype};
use crate::tokens::{TokenDomain, TokensIndex};

/// What one benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub shape: ProxyShape,
    pub batch_size: usize,
    pub steps: usize,
    pub threads: usize,
    /// Tokens per second over the steps after the first.
    pub tokens_per_second: f64,
    /// Seconds of each step, the first included.
    pub step_seconds: Vec<f64>,
    pub final_loss: f64,
}

/// Trains `steps` steps of `batch_size` x `shape.context` random tokens and times them.
pub fn train(
    shape: &ProxyShape,
    batch_size: usize,
    steps: usize,
    device: &Device,
) -> Result<TrainBench> {
    shape.check()?;
    let steps = steps.max(2);
    let dir = tempfile::tempdir()?;
    let needed = (steps * batch_size * (shape.context + 1)) as u64 + 1;
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
        dtype: dtype.name().into(),
        eod_id: u64::from(eod),
        domains: vec![TokenDomain {
            domain: "random".into(),
            file_stem: "random".into(),
            documents: 0,
            tokens,
            val_documents: 0,
            val_tokens: 0,
            eval_only: false,
        }],
    };
    let mut sampler = MixtureSampler::new(dir.path(), &index, &[1.0], shape.context, 0)?;
    let config = TrainConfig {
        train_tokens: (steps * batch_size * shape.context) as u64,
        batch_size,
        ..Default::default()
    };
    let mut step_seconds = Vec::with_capacity(steps);
    let mut last = Instant::now();
    let trained = train_proxy(shape, &config, &mut sampler, &[], device, 0, |_, _, _| {
        step_seconds.push(last.elapsed().as_secs_f64());
        last = Instant::now();
    })?;
    let timed: f64 = step_seconds[1..].iter().sum();
    Ok(TrainBench {
        shape: shape.clone(),
        batch_size,
        steps,
        threads: rayon::current_num_threads(),
        tokens_per_second: ((steps - 1) * batch_size * shape.context) as f64 / timed.max(1e-9),
        step_seconds,
        final_loss: trained.final_train_loss,
    })
}
