//! The sample stage: RegMix's candidate mixtures for the proxies (`WORK/mixtures.parquet`).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::data::tokens::TokensIndex;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::sample;

pub struct Sample;

impl StageSpec for Sample {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Sample
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.regmix.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Tokenize])
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("mixtures.parquet")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(serde_json::to_value(cx.sample_config())?)
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        let index = TokensIndex::read(&cx.tokens_dir())?;
        let mixtures = sample::sample(&index, &cx.sample_config())?;
        sample::write(&mixtures, &cx.path("mixtures.parquet"))
    }
}
