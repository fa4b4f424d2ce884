//! The cluster stage: documents into topic domains (`WORK/cluster/`), in one process or in two phases of
//! tasks (`WORK/cluster-tasks/`) joined into the same files.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::core::tasks::TaskSlice;
use crate::data::cluster::{ClusterConfig, tasks};
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;

pub struct Cluster;

/// The model fitted in one task, then the assignment per row-group slice ([`tasks`]).
const PHASES: &[Phase] = &[Phase::new("fit", false), Phase::new("assign", true)];

/// `[cluster]`, reading the corpus (or the dedup output) as `[corpus]` says, with the run's seed and
/// the targets of `[tokenize] eval_only` kept as they are.
fn config(cx: &Context) -> ClusterConfig {
    let mut config = cx.config.cluster.clone().unwrap_or_default();
    config.corpus = cx.config.corpus_config();
    config.eval_only = cx.config.tokenize.eval_only.clone();
    config.seed = cx.config.seed;
    config
}

/// What the stage reads: the dedup folder, or the corpus paths.
fn input(cx: &Context) -> Result<Vec<PathBuf>> {
    Ok(if cx.config.dedup.is_some() {
        vec![cx.path("dedup")]
    } else {
        cx.corpus()?.paths.clone()
    })
}

impl StageSpec for Cluster {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Cluster
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.cluster.is_some() && config.corpus.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Dedup])
    }

    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        let mut inputs = Vec::new();
        if cx.config.dedup.is_none() {
            inputs.extend(cx.corpus_files()?);
        }
        if let Some(from) = &config(cx).centroids_from {
            inputs.push(from.clone());
        }
        Ok(inputs)
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("cluster/_done.json")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(config(cx))?)
    }

    fn phases(&self) -> &'static [Phase] {
        PHASES
    }

    fn run(&self, cx: &Context, stage_tasks: &StageTasks, quiet: bool) -> Result<()> {
        let (paths, config) = (input(cx)?, config(cx));
        stage_tasks.join_or_run(
            quiet,
            &tasks::tasks_dir(&cx.work),
            || tasks::finish(&paths, &config, &cx.work, stage_tasks.count()),
            || crate::data::cluster::run(&paths, &config, &cx.work, quiet),
        )
    }

    fn run_task(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<TaskCounts> {
        let (paths, config) = (input(cx)?, config(cx));
        let dir = tasks::tasks_dir(&cx.work);
        match phase.name {
            "fit" => tasks::fit(&paths, &config, &dir, quiet)?,
            "assign" => tasks::assign(&paths, &config, &dir, task, quiet)?,
            _ => return Err(unknown_phase(self, phase)),
        }
        Ok(Vec::new())
    }
}
