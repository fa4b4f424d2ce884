//! The train stage: one proxy per candidate mixture into the runs table (`WORK/runs/runs.parquet`), in
//! one process or in N tasks (task `i` trains candidates `i, i + N, ...` into
//! `WORK/runs/tasks/<i>-of-<N>.parquet`), whose tables the stage folds into the runs table in candidate
//! order before it trains what is still missing. With `[regmix.rounds]` ([`crate::regmix::rounds`]),
//! split into tasks, each later round r is two more phases: `propose-r`, one task that folds the
//! earlier rounds' parts into the runs table, fits them and writes round r's candidates
//! (`WORK/runs/rounds/round-<r>.{json,parquet}`), then `round-r`, N tasks that train them into
//! `WORK/runs/tasks-round-<r>/<i>-of-<N>.parquet`; so the Slurm executor submits round after round. In
//! one process the stage runs the rounds in turn itself.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::core::tasks::TaskSlice;
use crate::data::tokens::TokensIndex;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::rounds::files::{candidates_path, propose_round, train_rounds};
use crate::regmix::rounds::{MAX_ROUNDS, Search};
use crate::regmix::runs::{fold_parts, read_runs};
use crate::regmix::train::{TrainOptions, train_candidates};

pub struct Train;

/// Round 1's tasks, then per later round its proposal (one task) and its tasks: the first
/// `2 * rounds - 1` are the phases of a search of `rounds` rounds (at most [`MAX_ROUNDS`]).
const PHASES: &[Phase] = &[
    Phase::new("tasks", true),
    Phase::new("propose-2", false),
    Phase::new("round-2", true),
    Phase::new("propose-3", false),
    Phase::new("round-3", true),
    Phase::new("propose-4", false),
    Phase::new("round-4", true),
    Phase::new("propose-5", false),
    Phase::new("round-5", true),
    Phase::new("propose-6", false),
    Phase::new("round-6", true),
    Phase::new("propose-7", false),
    Phase::new("round-7", true),
    Phase::new("propose-8", false),
    Phase::new("round-8", true),
];
const _: () = assert!(PHASES.len() == 2 * MAX_ROUNDS - 1);

/// What a phase does: propose round r's candidates, or train round r's (round 1: `tasks`).
enum Step {
    Propose(u32),
    Train(u32),
}

fn step(phase: Phase) -> Option<Step> {
    let index = PHASES.iter().position(|p| *p == phase)?;
    let round = (index / 2 + 1) as u32 + u32::from(index % 2 == 1);
    Some(match index % 2 {
        1 => Step::Propose(round),
        _ => Step::Train(round),
    })
}

/// Rounds of the search under `config` (1 without `[regmix.rounds]`).
fn rounds(config: &PipelineConfig) -> usize {
    (config.regmix.as_ref())
        .and_then(|r| r.rounds.as_ref())
        .map_or(1, |r| r.candidates.len().clamp(1, MAX_ROUNDS))
}

fn parts_dir(cx: &Context, round: u32) -> PathBuf {
    match round {
        1 => cx.path("runs/tasks"),
        r => cx.path(&format!("runs/tasks-round-{r}")),
    }
}

fn part(cx: &Context, round: u32, task: TaskSlice) -> PathBuf {
    parts_dir(cx, round).join(format!("{}.parquet", task.file_name()))
}

fn rounds_dir(cx: &Context) -> PathBuf {
    cx.path("runs/rounds")
}

/// Folds the parts of rounds 1 to `through` into the runs table, in the order one process trains
/// them in; the parts stay (a task's marker needs its part).
fn fold(cx: &Context, through: u32) -> Result<()> {
    let rounds: Vec<(PathBuf, PathBuf)> = (1..=through)
        .map(|r| {
            let order = match r {
                1 => cx.path("mixtures.parquet"),
                r => candidates_path(&rounds_dir(cx), r),
            };
            (parts_dir(cx, r), order)
        })
        .collect();
    fold_parts(&cx.path("runs/runs.parquet"), &rounds)
}

/// `then` with the search in rounds of the config; `None` without `[regmix.rounds]`.
fn with_search<T>(cx: &Context, then: impl FnOnce(&Search) -> Result<T>) -> Result<Option<T>> {
    let Some(rounds) = cx.rounds_config() else {
        return Ok(None);
    };
    let (sample, fit, simulate) = (cx.sample_config(), cx.fit_config(), cx.simulate_config());
    let index = TokensIndex::read(&cx.tokens_dir())?;
    let search = Search::new(&index, &sample, &fit, &simulate, rounds)?;
    then(&search).map(Some)
}

fn options(cx: &Context, task: TaskSlice, quiet: bool) -> TrainOptions {
    TrainOptions {
        shard: task,
        max_epochs: cx.sample_config().max_epochs,
        parallel: cx.config.proxy.parallel,
        // With rounds, the sampled candidates are round 1.
        round: cx.rounds_config().map(|_| 1),
        quiet,
    }
}

/// Trains the candidates of `task` (every one for `0/1`) into the runs table `runs`.
fn train(cx: &Context, runs: &Path, task: TaskSlice, quiet: bool) -> Result<()> {
    train_candidates(
        &cx.tokens_dir(),
        &cx.path("mixtures.parquet"),
        runs,
        &cx.proxy_config()?,
        options(cx, task, quiet),
        cx.device()?,
    )?;
    Ok(())
}

impl StageSpec for Train {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Train
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.regmix.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Tokenize, PipelineStage::Sample])
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("runs/runs.parquet")]
    }

    fn not_needed(&self, cx: &Context) -> Result<Option<String>> {
        cx.removal_only()
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        let mut settings = json!({ "proxy": cx.config.proxy, "seed": cx.config.seed });
        // Later rounds follow the fit and the search: a change there re-proposes them.
        if let Some(rounds) = cx.rounds_config() {
            settings["rounds"] = json!({
                "rounds": rounds,
                "sample": cx.sample_config(),
                "fit": cx.fit_config(),
                "simulate": cx.simulate_config(),
            });
        }
        Ok(settings)
    }

    fn phases(&self) -> &'static [Phase] {
        &PHASES[..1]
    }

    fn phases_for(&self, config: &PipelineConfig) -> &'static [Phase] {
        &PHASES[..2 * rounds(config) - 1]
    }

    /// A task that trained runs needs its part still there.
    fn task_output(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
    ) -> Option<(&'static str, PathBuf)> {
        match step(phase)? {
            Step::Train(round) => Some(("runs", part(cx, round, task))),
            Step::Propose(_) => None,
        }
    }

    fn run(&self, cx: &Context, tasks: &StageTasks, quiet: bool) -> Result<()> {
        let runs = cx.path("runs/runs.parquet");
        let rounds = rounds(cx.config) as u32;
        fold(cx, rounds)?;
        // Folded: the parts and their markers would only go stale.
        for round in 1..=rounds {
            tasks.remove_leftovers(Some(&parts_dir(cx, round)))?;
        }
        // What the tasks trained is in the runs table and their proposals hold: only what is missing
        // trains here.
        let in_rounds = with_search(cx, |search| {
            train_rounds(
                &cx.tokens_dir(),
                &cx.path("mixtures.parquet"),
                &runs,
                &rounds_dir(cx),
                &cx.proxy_config()?,
                options(cx, TaskSlice::WHOLE, quiet),
                cx.device()?,
                search,
            )
        })?;
        match in_rounds {
            Some(()) => Ok(()),
            None => train(cx, &runs, TaskSlice::WHOLE, quiet),
        }
    }

    fn run_task(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<TaskCounts> {
        let Some(step) = step(phase).filter(|_| self.phases_for(cx.config).contains(&phase)) else {
            return Err(unknown_phase(self, phase));
        };
        let (round, candidates) = match step {
            Step::Propose(round) => {
                fold(cx, round - 1)?;
                let runs = cx.path("runs/runs.parquet");
                let proposed = with_search(cx, |search| {
                    propose_round(&rounds_dir(cx), &runs, search, round, quiet)
                })?
                .ok_or_else(|| unknown_phase(self, phase))?;
                // A new proposal: what the tasks of this round and later ones trained is stale.
                for later in (round..=rounds(cx.config) as u32).filter(|_| proposed.anew) {
                    let dir = parts_dir(cx, later);
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .with_context(|| format!("cannot remove {}", dir.display()))?;
                    }
                }
                return Ok(vec![("candidates", proposed.count as u64)]);
            }
            Step::Train(1) => (1, cx.path("mixtures.parquet")),
            Step::Train(round) => (round, candidates_path(&rounds_dir(cx), round)),
        };
        let part = part(cx, round, task);
        train_candidates(
            &cx.tokens_dir(),
            &candidates,
            &part,
            &cx.proxy_config()?,
            TrainOptions {
                round: cx.rounds_config().map(|_| round),
                ..options(cx, task, quiet)
            },
            cx.device()?,
        )?;
        // A task past the last candidate trains nothing and leaves no part.
        let runs = if part.exists() {
            read_runs(&part)?.runs.len()
        } else {
            0
        };
        Ok(vec![("runs", runs as u64)])
    }
}
