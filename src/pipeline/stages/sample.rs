//! The sample stage: RegMix's candidate mixtures for the proxies (`WORK/mixtures.parquet`); under
//! `[reuse]`, first the reuse plan (`WORK/reuse/plan.json`, [`crate::reuse`]), then the
//! candidates in its reduced space, or, when domains were only removed, the answer itself
//! (`WORK/reuse/weights.json`) and no candidates.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

use crate::data::tokens::TokensIndex;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::regmix::sample;
use crate::reuse;

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

    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        Ok(cx.config.reuse.iter().map(|r| r.from.clone()).collect())
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        // Under reuse the plan is written last, after the candidates or the answer.
        match cx.config.reuse {
            Some(_) => vec![cx.reuse_plan_path()],
            None => vec![cx.path("mixtures.parquet")],
        }
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(json!({
            "sample": serde_json::to_value(cx.sample_config())?,
            "reuse": serde_json::to_value(&cx.config.reuse)?,
        }))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, quiet: bool) -> Result<()> {
        let index = TokensIndex::read(&cx.tokens_dir())?;
        let mixtures_path = cx.path("mixtures.parquet");
        let Some(config) = &cx.config.reuse else {
            let mixtures = sample::sample(&index, &cx.sample_config())?;
            return sample::write(&mixtures, &mixtures_path);
        };
        let mut sample_config = cx.sample_config();
        let plan = reuse::sample(
            config,
            &index,
            &mut sample_config,
            &mixtures_path,
            &cx.path("reuse"),
        )?;
        if !quiet {
            eprintln!("{}", plan.summary());
        }
        Ok(())
    }
}
