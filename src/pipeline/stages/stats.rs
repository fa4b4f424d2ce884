//! The stats stage: per-domain statistics of the corpus (`WORK/stats/`), in one process or in N tasks
//! over the corpus's row groups (`WORK/stats-tasks/`), joined into the same files.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::core::tasks::TaskSlice;
use crate::data::stats;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;

pub struct Stats;

const PHASES: &[Phase] = &[Phase::new("tasks", true)];

impl StageSpec for Stats {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Stats
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.corpus.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(Vec::new())
    }

    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        cx.corpus_files()
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("stats/_done.json")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(cx.config.corpus_config())?)
    }

    fn phases(&self) -> &'static [Phase] {
        PHASES
    }

    fn run(&self, cx: &Context, tasks: &StageTasks, quiet: bool) -> Result<()> {
        let (paths, config) = (&cx.corpus()?.paths, cx.config.corpus_config());
        let parts = cx.path("stats-tasks");
        let join = || {
            let count = tasks.count();
            let names: Vec<String> = (0..count)
                .map(|i| TaskSlice::new(i, count).map(TaskSlice::file_name))
                .collect::<Result<_>>()?;
            stats::join_tasks(paths, &config, &parts, &names, &cx.path("stats"))
        };
        tasks.join_or_run(quiet, &parts, join, || {
            stats::run(paths, &config, &cx.path("stats"), quiet)
        })
    }

    /// Task `i` writes the partial aggregate of its row groups to `WORK/stats-tasks/`.
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
        stats::run_task(
            &cx.corpus()?.paths,
            &cx.config.corpus_config(),
            &cx.path("stats-tasks"),
            (task.index, task.count),
            &task.file_name(),
            quiet,
        )?;
        Ok(Vec::new())
    }
}
