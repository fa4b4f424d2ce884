//! The train stage: one proxy per candidate mixture into the runs table (`WORK/runs/runs.parquet`), in
//! one process or in N tasks (task `i` trains candidates `i, i + N, ...` into
//! `WORK/runs/tasks/<i>-of-<N>.parquet`), whose tables the stage folds into the runs table in candidate
//! order before it trains what is still missing. With `[regmix.rounds]`, the tasks train round 1 and
//! the stage then trains the later rounds in one process ([`crate::regmix::rounds`], `WORK/runs/rounds/`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use crate::core::tasks::TaskSlice;
use crate::data::tokens::TokensIndex;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::rounds::Search;
use crate::regmix::rounds::files::train_rounds;
use crate::regmix::runs::{fold_parts, read_runs};
use crate::regmix::train::{TrainOptions, train_candidates};

pub struct Train;

const PHASES: &[Phase] = &[Phase::new("tasks", true)];

fn parts_dir(cx: &Context) -> PathBuf {
    cx.path("runs/tasks")
}

fn part(cx: &Context, task: TaskSlice) -> PathBuf {
    parts_dir(cx).join(format!("{}.parquet", task.file_name()))
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
        PHASES
    }

    /// A task that trained runs needs its part still there.
    fn task_output(&self, cx: &Context, task: TaskSlice) -> Option<(&'static str, PathBuf)> {
        Some(("runs", part(cx, task)))
    }

    fn run(&self, cx: &Context, tasks: &StageTasks, quiet: bool) -> Result<()> {
        let runs = cx.path("runs/runs.parquet");
        fold_parts(&runs, &parts_dir(cx), &cx.path("mixtures.parquet"))?;
        // Folded: the parts and their markers would only go stale.
        tasks.remove_leftovers(Some(&parts_dir(cx)))?;
        let Some(rounds) = cx.rounds_config() else {
            return train(cx, &runs, TaskSlice::WHOLE, quiet);
        };
        let (sample, fit, simulate) = (cx.sample_config(), cx.fit_config(), cx.simulate_config());
        let index = TokensIndex::read(&cx.tokens_dir())?;
        let search = Search::new(&index, &sample, &fit, &simulate, rounds)?;
        train_rounds(
            &cx.tokens_dir(),
            &cx.path("mixtures.parquet"),
            &runs,
            &cx.path("runs/rounds"),
            &cx.proxy_config()?,
            options(cx, TaskSlice::WHOLE, quiet),
            cx.device()?,
            &search,
        )
    }

    fn run_task(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<TaskCounts> {
        if phase != PHASES[0] {
            return Err(unknown_phase(self, phase));
        }
        let part = part(cx, task);
        train(cx, &part, task, quiet)?;
        // A task past the last candidate trains nothing and leaves no part.
        let runs = if part.exists() {
            read_runs(&part)?.runs.len()
        } else {
            0
        };
        Ok(vec![("runs", runs as u64)])
    }
}
