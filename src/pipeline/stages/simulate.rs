//! The simulate stage: the fit's search of the mixture space under the real run's epoch caps
//! (`WORK/fit/optimum.json`).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::simulate::{self, SimulateConfig};

pub struct Simulate;

/// The simulation, with the epoch caps of the real run (the manifest's tokens) unless set.
fn config(cx: &Context) -> SimulateConfig {
    let mut config = cx
        .config
        .regmix
        .as_ref()
        .map(|r| r.simulate.clone())
        .unwrap_or_default();
    config.seed = cx.config.seed;
    config
        .train_tokens
        .get_or_insert(cx.config.manifest.train_tokens);
    config
}

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

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(config(cx))?)
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        simulate::run(
            &cx.path("fit/model.json"),
            Some(&cx.tokens_dir()),
            &config(cx),
            &cx.path("fit/optimum.json"),
        )?;
        Ok(())
    }
}
