//! The doremi stage: domain weights by DoReMi's Group DRO against a reference proxy
//! (`WORK/doremi/weights.json`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::doremi::{DoremiConfig, Reference, run_doremi};
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;

pub struct Doremi;

/// `[doremi]` over the proxy of `[proxy]`. Errors: a config without `[doremi]`.
fn config(cx: &Context) -> Result<DoremiConfig> {
    let Some(section) = &cx.config.doremi else {
        bail!("the config has no [doremi] section");
    };
    Ok(DoremiConfig {
        proxy: cx.proxy_config()?,
        settings: section.clone(),
    })
}

impl StageSpec for Doremi {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Doremi
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.doremi.is_some()
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Tokenize])
    }

    /// A reference mixture given as a file.
    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        Ok(match config(cx)?.settings.reference {
            Reference::File(path) => vec![path],
            _ => Vec::new(),
        })
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("doremi/_done.json")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        let c = cx.config;
        Ok(json!({ "doremi": c.doremi, "proxy": c.proxy, "seed": c.seed }))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, quiet: bool) -> Result<()> {
        run_doremi(
            &cx.tokens_dir(),
            &cx.path("doremi"),
            &config(cx)?,
            cx.device()?,
            quiet,
        )?;
        Ok(())
    }
}
