//! The simulate stage: the fit's search of the mixture space under the real run's epoch caps
//! (`WORK/fit/optimum.json`).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::simulate;

pub struct Simulate;

impl StageSpec for Simulate {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Simulate
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.regmix.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Tokenize, PipelineStage::Fit])
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("fit/optimum.json")]
    }

    fn not_needed(&self, cx: &Context) -> Result<Option<String>> {
        cx.removal_only()
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(cx.simulate_config())?)
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        simulate::run(
            &cx.path("fit/model.json"),
            Some(&cx.tokens_dir()),
            &cx.simulate_config(),
            &cx.path("fit/optimum.json"),
        )?;
        Ok(())
    }
}
