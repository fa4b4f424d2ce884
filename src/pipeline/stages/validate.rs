//! The validate stage: larger models on the chosen (the manifest's, built in memory before the manifest
//! stage writes it), DoReMi's, the natural, the uniform and held-out mixtures, the rank transfer and the
//! proxy ladder (`WORK/validate/results.json`, which the manifest stage folds into its evidence).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::validate::stage::{self, StagePaths};

pub struct Validate;

impl StageSpec for Validate {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Validate
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.validate.is_some() && config.regmix.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        use PipelineStage::*;
        Ok(vec![Tokenize, Sample, Fit, Simulate, Doremi])
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("validate/results.json")]
    }

    fn not_needed(&self, cx: &Context) -> Result<Option<String>> {
        cx.removal_only()
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        let c = cx.config;
        Ok(json!({
            "validate": c.validate,
            // The chosen mixture's source; the manifest's other settings do not change its weights.
            "from": c.weights_from()?,
            "proxy": c.proxy,
            "sample": cx.sample_config(),
            "target": cx.fit_config().target,
            "seed": c.seed,
        }))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, quiet: bool) -> Result<()> {
        let doremi = cx.path("doremi/weights.json");
        // DoReMi's weights are validated when its stage is enabled ([doremi]) and has written them.
        let doremi = (cx.config.doremi.is_some() && doremi.exists()).then_some(doremi.as_path());
        stage::run(
            &StagePaths {
                tokens: &cx.tokens_dir(),
                fit_model: &cx.path("fit/model.json"),
                chosen: &cx.build_manifest()?,
                doremi,
                out_dir: &cx.path("validate"),
            },
            &cx.config.validate.clone().unwrap_or_default(),
            &cx.proxy_config()?,
            &cx.sample_config(),
            &cx.fit_config().target,
            cx.device()?,
            quiet,
        )?;
        Ok(())
    }
}
