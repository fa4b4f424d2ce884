//! The manifest stage: the chosen weights (RegMix's optimum or DoReMi's) as `WORK/mixtures/<name>.json`
//! and its exports for the trainers `[manifest] exports` names.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::data::tokens::TokensIndex;
use crate::manifest::{self, ManifestConfig};
use crate::pipeline::config::{PipelineConfig, WeightsFrom};
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;

pub struct Manifest;

/// The manifest and its exports as they are on disk, the manifest first. Errors: an unreadable folder.
pub fn manifest_files(cx: &Context) -> Result<Vec<PathBuf>> {
    let dir = cx.path("mixtures");
    let prefix = format!("{}.", cx.config.manifest.name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                && *p != cx.manifest_path()
        })
        .collect();
    files.sort();
    files.insert(0, cx.manifest_path());
    Ok(files)
}

impl StageSpec for Manifest {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Manifest
    }

    fn enabled(&self, _config: &PipelineConfig) -> bool {
        true
    }

    /// The tokens, and the stage whose weights it writes.
    fn reads(&self, config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(match config.weights_from()? {
            WeightsFrom::Doremi => vec![PipelineStage::Tokenize, PipelineStage::Doremi],
            WeightsFrom::Regmix => vec![PipelineStage::Tokenize, PipelineStage::Simulate],
        })
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.manifest_path()]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(json!({ "manifest": cx.config.manifest, "seed": cx.config.seed }))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        let c = cx.config;
        let weights = match c.weights_from()? {
            WeightsFrom::Regmix => cx.path("fit/optimum.json"),
            WeightsFrom::Doremi => cx.path("doremi/weights.json"),
        };
        let source = manifest::read_weights(&weights)?;
        let index = TokensIndex::read(&cx.tokens_dir())?;
        let manifest_config = ManifestConfig {
            name: c.manifest.name.clone(),
            train_tokens: c.manifest.train_tokens,
            max_epochs: c.manifest.max_epochs,
            allow_repeat: c.manifest.allow_repeat,
            seed: c.seed,
            sequence_length: c.manifest.sequence_length,
        };
        let manifest = manifest::build(&source, &index, &cx.tokens_dir(), &manifest_config)?;
        manifest::write(&manifest, &cx.manifest_path(), &c.manifest.exports)?;
        Ok(())
    }
}
