//! The fit stage: the regression of the target loss on the mixture weights, cross-validated
//! (`WORK/fit/model.json`, `WORK/fit/report.json`).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::fit;

pub struct Fit;

impl StageSpec for Fit {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Fit
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.regmix.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Train])
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("fit/_done.json")]
    }

    fn not_needed(&self, cx: &Context) -> Result<Option<String>> {
        cx.removal_only()
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(cx.fit_config())?)
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        fit::run(
            &cx.path("runs/runs.parquet"),
            &cx.fit_config(),
            &cx.path("fit"),
        )?;
        Ok(())
    }
}
