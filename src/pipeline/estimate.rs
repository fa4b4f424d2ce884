//! What a `remix run` will cost on this machine, measured rather than quoted (`remix plan`, and the
//! first lines of `remix run`): a few real training steps of the configured proxy (its vocabulary,
//! context, batch and device, on random tokens: [`crate::proxy::bench`]) give the tokens per second,
//! and each stage that trains proxies costs its proxies times their tokens at that rate. The
//! validation models are timed the same way at their own size. Beside the hours: the memory of a stack
//! of proxies on the device ([`StackMemory`]) and the disk the shards and exports take
//! ([`super::disk`]).

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::config::PipelineConfig;
use super::context::Context;
use super::disk::Disk;
use super::stage::PipelineStage;
use crate::data::tokenize::{LoadedTokenizer, load_tokenizer};
use crate::data::tokens::TokensIndex;
use crate::proxy::bench;
use crate::proxy::device::ProxyDevice;
use crate::proxy::memory::StackMemory;
use crate::proxy::model::ProxyShape;
use crate::validate::scaled_shape;

/// Steps run per model: the first (allocation, first touch) is left out of the rate, the other two
/// give it. Few, since a step of RegMix's 1M proxy with a 50k vocabulary takes seconds on a 2-core CPU.
pub const TIMED_STEPS: usize = 3;

/// One stage's training cost.
#[derive(Debug, Clone, Serialize)]
pub struct StageCost {
    pub stage: PipelineStage,
    /// Models the stage trains.
    pub models: usize,
    /// Training tokens of each.
    pub tokens_each: u64,
    /// Tokens per second of one such model on this machine, measured.
    pub tokens_per_second: f64,
    pub hours: f64,
}

/// The training cost of a config on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Where the proxies train ([`ProxyDevice::label`]).
    pub device: String,
    pub vocab_size: usize,
    pub proxy_params: usize,
    pub stages: Vec<StageCost>,
    /// A stack of RegMix's proxies in memory on this device.
    pub memory: StackMemory,
    /// The token shards and exports on disk; `None` for imported tokens before the import counted them.
    pub disk: Option<Disk>,
    /// What `remix run` will stop at before training, as far as the estimate can see now (the
    /// checks themselves run on the token index: [`super::checks`]).
    pub problems: Vec<String>,
    /// What the estimate could not count yet, and why.
    pub notes: Vec<String>,
    /// The stages' hours together (the data stages, stats to tokenize, are not timed).
    pub hours: f64,
}

impl Estimate {
    /// The estimate as lines for a terminal.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Training on {} (proxy of {} parameters, vocabulary {}), measured over {TIMED_STEPS} steps:\n",
            self.device, self.proxy_params, self.vocab_size
        );
        for s in &self.stages {
            out.push_str(&format!(
                "  {:<9} {:>5} models x {:>12} tokens at {:>9.0} tokens/s: {:>8.2} h\n",
                s.stage.name(),
                s.models,
                s.tokens_each,
                s.tokens_per_second,
                s.hours
            ));
        }
        out.push_str(&format!(
            "  {:<9} {:>65.2} h (stats, dedup and tokenize not included)\n",
            "total", self.hours
        ));
        out.push_str(&format!("Memory: {}\n", self.memory.describe()));
        match &self.disk {
            Some(disk) => out.push_str(&disk.text()),
            None => out.push_str("Disk: not known before [tokens.import] counts the token files\n"),
        }
        for problem in &self.problems {
            out.push_str(&format!("Problem: {problem}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("Note: {note}\n"));
        }
        out
    }
}

/// The vocabulary the proxies will have: the token index's when tokenize has run, else the
/// tokenizer's (`[corpus] tokenizer`, `[tokens.import] tokenizer`) or `[tokens.import] vocab_size`.
/// `None` while it is not known: token files imported without either, before the import reads their
/// largest id.
fn vocab_size(
    config: &PipelineConfig,
    corpus_tokenizer: Option<&LoadedTokenizer>,
) -> Result<Option<usize>> {
    // The configured tokenizer first: an index already on disk may be from another tokenizer that
    // tokenize is about to replace.
    if let Some(tokenizer) = corpus_tokenizer {
        return Ok(Some(tokenizer.vocab_size));
    }
    let import = config
        .import()
        .context("the config has no [corpus] and no [tokens.import]")?;
    let index = Context::new(config).tokens_dir().join("index.json");
    Ok(match (import.vocab_size, &import.tokenizer) {
        (Some(vocab), _) => Some(vocab as usize),
        (None, Some(tokenizer)) => Some(load_tokenizer(tokenizer, None)?.vocab_size),
        (None, None) if index.is_file() => Some(TokensIndex::read(&index)?.vocab_size as usize),
        (None, None) => None,
    })
}

/// Said when [`estimate`] has no vocabulary to measure with.
pub const VOCABULARY_UNKNOWN: &str = "the proxies' vocabulary is not known before [tokens.import] reads the \
    token files (it gives neither vocab_size nor a tokenizer): run `remix run --until tokenize` first, or give \
    vocab_size";

/// Measures those of the training stages of `config` listed in `stages` on `device` (only their
/// models are timed); `None` while the vocabulary is not known ([`vocab_size`]). Errors: an unreadable
/// tokenizer or index, a proxy shape that cannot train.
pub fn estimate(
    config: &PipelineConfig,
    device: &ProxyDevice,
    stages: &[PipelineStage],
) -> Result<Option<Estimate>> {
    let p = &config.proxy;
    // `[corpus] tokenizer`, loaded once: it gives the vocabulary and measures the corpus for the disk.
    let corpus_tokenizer = match &config.corpus {
        Some(corpus) => Some(load_tokenizer(
            &corpus.tokenizer,
            config.tokenize.eod_token.as_deref(),
        )?),
        None => None,
    };
    let Some(vocab) = vocab_size(config, corpus_tokenizer.as_ref())? else {
        return Ok(None);
    };
    let shape = p.shape(vocab)?;
    let batch = p.train.batch_size;
    let rate = |shape: &ProxyShape| -> Result<f64> {
        Ok(bench::train(shape, batch, TIMED_STEPS, 1, &device.device)?.tokens_per_second)
    };
    let wanted = |stage| stages.contains(&stage);
    let proxy_rate = if wanted(PipelineStage::Train) || wanted(PipelineStage::Doremi) {
        rate(&shape)?
    } else {
        f64::NAN
    };
    let tokens = p.train.train_tokens;
    let cost = |stage, models: usize, tokens_each: u64, tokens_per_second: f64| StageCost {
        stage,
        models,
        tokens_each,
        tokens_per_second,
        hours: models as f64 * tokens_each as f64 / tokens_per_second.max(1e-9) / 3600.0,
    };
    let mut stages = Vec::new();
    let mut notes = Vec::new();
    // Under [reuse] the search's size follows what changed, known once the token index is written.
    let (regmix_proxies, removal_only) = match &config.reuse {
        None => (config.regmix.as_ref().map(|r| r.proxies()), false),
        Some(reuse) => {
            let index = Context::new(config).tokens_dir().join("index.json");
            if index.is_file() {
                let plan = crate::reuse::plan(reuse, &TokensIndex::read(&index)?)?;
                match plan.removal_only {
                    Some(_) => (Some(0), true),
                    None => (
                        Some(plan.candidates + crate::regmix::sample::FIXED_ROWS_REUSED),
                        false,
                    ),
                }
            } else {
                notes.push(
                    "[reuse]: the proxies are counted once tokenize has written the token index (the \
                     search covers only what changed): run `remix run --until tokenize`, then plan again"
                        .to_string(),
                );
                (None, false)
            }
        }
    };
    if let (Some(proxies), true) = (regmix_proxies, wanted(PipelineStage::Train)) {
        stages.push(cost(PipelineStage::Train, proxies, tokens, proxy_rate));
    }
    if let (Some(doremi), true) = (&config.doremi, wanted(PipelineStage::Doremi)) {
        // A reference proxy and a DoReMi proxy per round.
        stages.push(cost(
            PipelineStage::Doremi,
            2 * doremi.rounds.max(1),
            tokens,
            proxy_rate,
        ));
    }
    if let (Some(validate), Some(_), true, false) = (
        &config.validate,
        &config.regmix,
        wanted(PipelineStage::Validate),
        removal_only,
    ) {
        let scaled = scaled_shape(&shape, validate.model_scale);
        let token_scale = validate.token_scale.unwrap_or(validate.model_scale);
        // The chosen, natural, uniform and holdout mixtures, and DoReMi's when it ran.
        let models = 3 + validate.holdout + usize::from(config.doremi.is_some());
        let scaled_tokens = (tokens as f64 * token_scale) as u64;
        stages.push(cost(
            PipelineStage::Validate,
            models,
            scaled_tokens,
            rate(&scaled)?,
        ));
        for &scale in &validate.ladder {
            let at = scaled_shape(&shape, scale);
            let each = (tokens as f64 * scale) as u64;
            stages.push(cost(
                PipelineStage::Validate,
                validate.holdout,
                each,
                rate(&at)?,
            ));
        }
    }
    // From +0.0: an empty f64 sum is -0.0, which prints as "-0.00 h".
    let hours = stages.iter().map(|s| s.hours).fold(0.0, |a, b| a + b);
    let candidates = config.regmix.as_ref().map_or(1, |r| r.largest_round());
    let disk = super::disk::estimate(config, vocab, corpus_tokenizer.as_ref())?;
    let manifest = &config.manifest;
    let mut problems = Vec::new();
    if let Some(disk) = &disk
        && !manifest.allow_repeat
    {
        // All the corpus's tokens, so a budget past them is past the training tokens too.
        let most = disk.tokens as f64 * manifest.max_epochs;
        if manifest.train_tokens as f64 > most {
            problems.push(format!(
            "[manifest] train_tokens = {} is more than the about {} tokens of the corpus repeated \
             [manifest] max_epochs = {} times ({most:.0}): remix run will stop after tokenize; lower \
             train_tokens, raise max_epochs, or set allow_repeat = true",
            manifest.train_tokens, disk.tokens, manifest.max_epochs
        ));
        }
    }
    Ok(Some(Estimate {
        device: device.label(),
        vocab_size: vocab,
        proxy_params: shape.params(),
        stages,
        memory: StackMemory::of(
            &shape,
            &p.train,
            p.parallel,
            device.stack_budget(),
            candidates,
        ),
        disk,
        problems,
        notes,
        hours,
    }))
}
