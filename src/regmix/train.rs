//! The train stage: every candidate mixture becomes one proxy run, one row of `runs/runs.parquet`.
//!
//! Candidates come from `mixtures.parquet` (`remix sample`); `--shard I/N` takes every N-th candidate
//! from the I-th, so several machines can share one candidate list (their tables are joined with
//! `remix runs merge`). A candidate whose run id already has a finished row is skipped, and the table
//! is rewritten atomically after every proxy, so a crash loses at most the proxy in flight.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::progress::Progress;
use crate::core::tasks::TaskSlice;
use crate::core::workdir::config_hash;
use crate::data::tokens::TokensIndex;
use crate::proxy::data::{MixtureSampler, validation_sets};
use crate::proxy::device::ProxyDevice;
use crate::proxy::eval::ValidationLoss;
use crate::proxy::memory::StackMemory;
use crate::proxy::model::ProxyShape;
use crate::proxy::settings::{ProxySection, TrainConfig};
use crate::proxy::train::train_proxies;
use crate::regmix::runs::{Run, RunsTable, WEIGHT_SUM_TOLERANCE, read_runs, write_runs};

/// Everything that decides a proxy run's result (hashed into the runs table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProxyRunConfig {
    pub shape: ProxyShape,
    pub train: TrainConfig,
    /// Seed of the model's initialisation and of its batches: the same for every candidate, so runs
    /// differ only by their mixture.
    pub seed: u64,
}

impl ProxyRunConfig {
    /// The run settings of `[proxy]` (or `remix train`'s flags) for a tokenizer's vocabulary. Errors: a
    /// shape that cannot train ([`ProxySection::shape`]).
    pub fn new(proxy: &ProxySection, vocab_size: usize, seed: u64) -> Result<Self> {
        Ok(Self {
            shape: proxy.shape(vocab_size)?,
            train: proxy.train.clone(),
            seed,
        })
    }
}

/// How a train invocation runs, beside what decides the results ([`ProxyRunConfig`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Which candidates this process trains: every `count`-th from `index`.
    pub shard: TaskSlice,
    /// Most times a candidate may repeat a domain within one proxy's tokens.
    pub max_epochs: f64,
    /// Proxies trained together in one stack; 0 = as many as fit on the device ([`crate::proxy::memory::auto_parallel`]).
    pub parallel: usize,
    /// The search round the candidates belong to, recorded in each run's row; `None` without rounds.
    pub round: Option<u32>,
    pub quiet: bool,
}

/// Summary of a train invocation.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub trained: usize,
    pub skipped: usize,
    pub runs_in_table: usize,
    /// Proxies trained together.
    pub parallel: usize,
    /// Tokens of all proxies per second of training.
    pub tokens_per_second: f64,
}

/// Refuses, before any training, candidates that could not run to the end: weights that are not finite,
/// negative or do not sum to 1, weight on a domain without training tokens, or a domain repeated more
/// than `max_epochs` times within the proxy's token budget.
fn check_candidates(
    path: &Path,
    ids: &[String],
    columns: &[(String, Vec<f64>)],
    tokens: &[u64],
    train_tokens: u64,
    max_epochs: f64,
) -> Result<()> {
    let mut problems = Vec::new();
    for (row, id) in ids.iter().enumerate() {
        let weights: Vec<f64> = columns.iter().map(|(_, w)| w[row]).collect();
        let sum: f64 = weights.iter().sum();
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
            || (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE
        {
            problems.push(format!(
                "row {row} ({id}): weights must be finite, non-negative and sum to 1 (sum {sum:.6})"
            ));
            continue;
        }
        for (((domain, _), &w), &available) in columns.iter().zip(&weights).zip(tokens) {
            if w <= 0.0 {
                continue;
            }
            if available == 0 {
                problems.push(format!(
                    "row {row} ({id}): column w_{domain} is {w} but `{domain}` has no training tokens"
                ));
                continue;
            }
            let epochs = w * train_tokens as f64 / available as f64;
            if epochs > max_epochs * (1.0 + 1e-9) {
                problems.push(format!(
                    "row {row} ({id}): column w_{domain} = {w:.4} repeats `{domain}` {epochs:.1} times \
                     ({available} tokens) in {train_tokens} proxy tokens, over the cap of {max_epochs}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} has {} candidate(s) that cannot be trained:\n  {}\nlower --train-tokens, raise --max-epochs, \
             or sample the candidates again with `remix sample --train-tokens N --max-epochs E`",
            path.display(),
            problems.len(),
            problems
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(())
}

/// Trains the candidates of `mixtures` on the shards of `tokens_dir`, appending to `runs_path`.
/// P candidates at a time are stacked into one [`crate::proxy::model::ProxyModel`] (`options.parallel`); each
/// ends as it would have trained alone, and their rows are written together.
pub fn train_candidates(
    tokens_dir: &Path,
    mixtures: &Path,
    runs_path: &Path,
    config: &ProxyRunConfig,
    options: TrainOptions,
    device: &ProxyDevice,
) -> Result<TrainSummary> {
    let TrainOptions {
        shard,
        max_epochs,
        parallel,
        round,
        quiet,
    } = options;
    let index = TokensIndex::read(tokens_dir)?;
    let training: Vec<String> = index.training_names();
    let mut file = crate::regmix::mixture_table::read_mixtures(mixtures)?;
    let Some((_, ids)) = file.id else {
        bail!(
            "{} has no mixture_id column: make it with `remix sample`",
            mixtures.display()
        );
    };
    // The columns in the index's order, whatever order the file has them in.
    let mut columns: Vec<&str> = file.weights.iter().map(|(d, _)| d.as_str()).collect();
    let mut names: Vec<&str> = training.iter().map(String::as_str).collect();
    columns.sort_unstable();
    names.sort_unstable();
    if columns != names {
        bail!(
            "the mixtures in {} are over {} but the token index trains on {}: sample them again from this index",
            mixtures.display(),
            columns.join(", "),
            training.join(", ")
        );
    }
    file.weights
        .sort_by_key(|(d, _)| training.iter().position(|t| t == d));
    let tokens: Vec<u64> = training
        .iter()
        .map(|d| index.training_tokens(d).unwrap_or(0))
        .collect();
    check_candidates(
        mixtures,
        &ids,
        &file.weights,
        &tokens,
        config.train.train_tokens,
        max_epochs,
    )?;
    TaskSlice::new(shard.index, shard.count)?;
    let validation = validation_sets(
        tokens_dir,
        &index,
        config.shape.context,
        config.train.val_sequences,
    )?;
    let loss_domains: Vec<String> = validation.iter().map(|v| v.domain.clone()).collect();
    let config_id = config_hash(config)?;

    let mut table = if runs_path.exists() {
        let table = read_runs(runs_path)?;
        if table.domains != training
            || table.loss_domains != loss_domains
            || table.frozen != file.frozen
        {
            bail!(
                "{} holds runs over other domains: give another output, or remove it to start over",
                runs_path.display()
            );
        }
        table
    } else {
        RunsTable {
            domains: training.clone(),
            loss_domains: loss_domains.clone(),
            runs: Vec::new(),
            frozen: file.frozen.clone(),
        }
    };
    let done = |table: &RunsTable, id: &str| {
        table.runs.iter().any(|r| {
            r.run_id == id
                && r.status == crate::regmix::runs::FINISHED
                && r.proxy_config_hash.as_deref() == Some(config_id.as_str())
        })
    };
    let mine: Vec<usize> = (shard.index..ids.len()).step_by(shard.count).collect();
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&c| !done(&table, &ids[c]))
        .collect();
    if todo.is_empty() {
        return Ok(TrainSummary {
            trained: 0,
            skipped: mine.len(),
            runs_in_table: table.runs.len(),
            parallel: parallel.max(1),
            tokens_per_second: 0.0,
        });
    }
    let parallel = match parallel {
        0 => {
            let budget = device.stack_budget();
            let stack = StackMemory::of(&config.shape, &config.train, 0, budget, todo.len());
            if let Some(budget) = budget {
                tracing::info!(
                    target: "remix::proxy::device",
                    "--parallel 0 on {}: {} ({})",
                    device.label(),
                    stack.describe(),
                    budget.source(),
                );
            }
            stack.proxies
        }
        p => p,
    };
    let steps = config.train.steps(config.shape.context) as u64;
    let step_tokens = (config.train.batch_size * config.shape.context) as u64;
    // Both bars count tokens, so each shows a rate and an ETA from the first steps, not only after
    // the first proxy: the whole stage's, and the stack in training's (all its proxies' tokens).
    let progress = Progress::new(todo.len() as u64 * steps * step_tokens, "tokens", quiet);
    let stack_progress = progress.child(0, "tokens");
    let started = Instant::now();
    let mut tokens = 0u64;
    for (done, group) in todo.chunks(parallel).enumerate() {
        progress.set_message(format!(
            "proxies {}/{}, training {} together",
            done * parallel,
            todo.len(),
            group.len()
        ));
        let weights: Vec<Vec<f64>> = group
            .iter()
            .map(|&c| file.weights.iter().map(|(_, values)| values[c]).collect())
            .collect();
        let mut samplers = weights
            .iter()
            .map(|w| MixtureSampler::new(tokens_dir, &index, w, config.shape.context, config.seed))
            .collect::<Result<Vec<_>>>()?;
        let group_started = Instant::now();
        stack_progress.restart(steps * step_tokens * group.len() as u64);
        let trained = train_proxies(
            &config.shape,
            &config.train,
            &mut samplers,
            &validation,
            &device.device,
            config.seed,
            |_, _, _| {
                stack_progress.inc(step_tokens * group.len() as u64);
                progress.inc(step_tokens * group.len() as u64);
            },
        )?;
        tokens += trained.tokens_trained * group.len() as u64;
        let wall_time_s = group_started.elapsed().as_secs_f64();
        for (p, (&c, weights)) in group.iter().zip(weights).enumerate() {
            let scored: Vec<Option<ValidationLoss>> = loss_domains
                .iter()
                .map(|d| {
                    trained.val_losses[p]
                        .iter()
                        .find(|(name, _)| name == d)
                        .map(|(_, l)| *l)
                })
                .collect();
            table.runs.retain(|r| r.run_id != ids[c]);
            table.runs.push(Run {
                run_id: ids[c].clone(),
                seed: Some(config.seed),
                round,
                proxy_config_hash: Some(config_id.clone()),
                weights,
                tokens_trained: Some(trained.tokens_trained),
                // The stack's time: each proxy shared it.
                wall_time_s: Some(wall_time_s),
                device: Some(device.label()),
                losses: scored.iter().map(|l| l.map(|l| l.loss)).collect(),
                loss_errors: scored
                    .iter()
                    .map(|l| l.map(|l| l.standard_error).filter(|e| e.is_finite()))
                    .collect(),
                status: crate::regmix::runs::FINISHED.into(),
            });
            tracing::debug!(run = %ids[c], steps = trained.steps, train_loss = trained.final_train_loss[p], "proxy finished");
        }
        write_runs(&table, runs_path)?;
        if !quiet && !progress.draws() {
            // No bar (a pipe, a log file, CI): a line per stack instead.
            let finished = (done * parallel + group.len()) as f64;
            let seconds = started.elapsed().as_secs_f64();
            let left = seconds / finished * (todo.len() as f64 - finished);
            tracing::info!(
                "{finished}/{} proxies trained, {:.0} tokens/s, about {:.0} s left",
                todo.len(),
                tokens as f64 / seconds.max(1e-9),
                left
            );
        }
    }
    stack_progress.finish();
    progress.finish();
    Ok(TrainSummary {
        trained: todo.len(),
        skipped: mine.len() - todo.len(),
        runs_in_table: table.runs.len(),
        parallel,
        tokens_per_second: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
    })
}
