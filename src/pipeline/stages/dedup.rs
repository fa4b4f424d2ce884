//! The dedup stage: exact and MinHash near-duplicate removal across domains (`WORK/dedup/`), in one
//! process or in datatrove's four phases of tasks (`WORK/dedup-tasks/`), joined into the same files.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::core::tasks::TaskSlice;
use crate::data::dedup::{self, DedupConfig, tasks};
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;

pub struct Dedup;

/// Signatures per row-group slice, then candidate pairs per band partition, then one clustering task,
/// then the survivors per row-group slice ([`crate::data::dedup::tasks`]).
const PHASES: &[Phase] = &[
    Phase::new("signatures", true),
    Phase::new("buckets", true),
    Phase::new("clusters", false),
    Phase::new("filter", true),
];

/// `[dedup]`, reading the corpus as `[corpus]` says.
fn config(cx: &Context) -> DedupConfig {
    let mut config = cx.config.dedup.clone().unwrap_or_default();
    config.corpus = cx.config.corpus_config();
    config
}

impl StageSpec for Dedup {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Dedup
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.dedup.is_some() && config.corpus.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(Vec::new())
    }

    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        cx.corpus_files()
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("dedup/_done.json")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(config(cx))?)
    }

    fn phases(&self) -> &'static [Phase] {
        PHASES
    }

    fn run(&self, cx: &Context, stage_tasks: &StageTasks, quiet: bool) -> Result<()> {
        let (paths, config) = (&cx.corpus()?.paths, config(cx));
        stage_tasks.join_or_run(
            quiet,
            &tasks::tasks_dir(&cx.work),
            || tasks::finish(paths, &config, &cx.work),
            || dedup::run(paths, &config, &cx.work, quiet),
        )
    }

    fn run_task(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<TaskCounts> {
        let (paths, config) = (&cx.corpus()?.paths, config(cx));
        let dir = tasks::tasks_dir(&cx.work);
        match phase.name {
            "signatures" => tasks::signatures(paths, &config, &dir, task, quiet)?,
            "buckets" => tasks::buckets(&config, &dir, task)?,
            "clusters" => {
                let count = cx.config.executor.tasks(PipelineStage::Dedup);
                tasks::clusters(paths, &config, &dir, count)?
            }
            "filter" => tasks::filter(paths, &config, &dir, task, quiet)?,
            _ => return Err(unknown_phase(self, phase)),
        }
        Ok(Vec::new())
    }
}
