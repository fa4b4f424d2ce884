//! The train stage: one proxy per candidate mixture into the runs table (`WORK/runs/runs.parquet`), in
//! one process or in N tasks (task `i` trains candidates `i, i + N, ...` into
//! `WORK/runs/tasks/<i>-of-<N>.parquet`), whose tables the stage folds into the runs table in candidate
//! order before it trains what is still missing.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use crate::core::tasks::TaskSlice;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;
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

/// Trains the candidates of `task` (every one for `0/1`) into the runs table `runs`.
fn train(cx: &Context, runs: &Path, task: TaskSlice, quiet: bool) -> Result<()> {
    train_candidates(
        &cx.tokens_dir(),
        &cx.path("mixtures.parquet"),
        runs,
        &cx.proxy_config()?,
        TrainOptions {
            shard: task,
            max_epochs: cx.sample_config().max_epochs,
            parallel: cx.config.proxy.parallel,
            quiet,
        },
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

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(json!({ "proxy": cx.config.proxy, "seed": cx.config.seed }))
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
        train(cx, &runs, TaskSlice::WHOLE, quiet)
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
