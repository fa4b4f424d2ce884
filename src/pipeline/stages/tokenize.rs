//! The tokenize stage: the corpus (or the dedup folder) into Megatron token shards with a held-out
//! validation split (`WORK/tokens/`), in one process or in three phases of tasks
//! (`WORK/tokenize-tasks/`) joined into the same streams; with `[tokens.import]`, the token files a team
//! has indexed in place instead.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::core::tasks::TaskSlice;
use crate::data::tokenize::import::ImportConfig;
use crate::data::tokenize::{self, TokenizeConfig, tasks};
use crate::data::tokens::write::shard_path;
use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{Phase, StageSpec, StageTasks, TaskCounts, unknown_phase};
use crate::pipeline::stage::PipelineStage;

pub struct Tokenize;

/// Split hashes per task, then one task picks each domain's validation documents, then shards per task
/// ([`crate::data::tokenize::tasks`]).
const PHASES: &[Phase] = &[
    Phase::new("hashes", true),
    Phase::new("split", false),
    Phase::new("encode", true),
];

/// What the stage reads: the cluster folder, the dedup folder, or the one corpus path without either.
fn input(cx: &Context) -> Result<PathBuf> {
    let corpus = cx.corpus()?;
    if cx.config.cluster.is_some() {
        return Ok(cx.path("cluster"));
    }
    if cx.config.dedup.is_some() {
        return Ok(cx.path("dedup"));
    }
    match corpus.paths.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "without a [dedup] section the tokenize stage reads one corpus path; [corpus] paths lists {}: \
             add [dedup] or point paths at one folder",
            corpus.paths.len()
        ),
    }
}

/// `[tokenize]`, reading the corpus as `[corpus]` says, with the run's seed.
fn config(cx: &Context) -> TokenizeConfig {
    let mut config = cx.config.tokenize.clone();
    config.corpus = cx.config.corpus_config();
    config.seed = cx.config.seed;
    config
}

/// The files `[tokens.import]` reads: each prefix's `.bin` and `.idx`, each raw token file, the tokenizer.
fn import_files(import: &ImportConfig) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = import
        .megatron
        .values()
        .flatten()
        .flat_map(|prefix| ["bin", "idx"].map(|ext| shard_path(prefix, ext)))
        .collect();
    files.extend(import.numpy.values().flatten().cloned());
    files.extend(import.tokenizer.iter().cloned());
    files
}

impl StageSpec for Tokenize {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Tokenize
    }

    fn enabled(&self, _config: &PipelineConfig) -> bool {
        true
    }

    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(vec![PipelineStage::Dedup, PipelineStage::Cluster])
    }

    fn external_inputs(&self, cx: &Context) -> Result<Vec<PathBuf>> {
        Ok(match (cx.config.import(), &cx.config.corpus) {
            (Some(import), _) => import_files(import),
            (None, Some(corpus)) => {
                let mut inputs = Vec::new();
                if cx.config.dedup.is_none() && cx.config.cluster.is_none() {
                    inputs.extend(cx.corpus_files()?);
                }
                inputs.push(corpus.tokenizer.clone());
                inputs
            }
            (None, None) => Vec::new(),
        })
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.path("tokens/_done.json")]
    }

    fn settings(&self, cx: &Context) -> Result<Value> {
        Ok(match cx.config.import() {
            Some(import) => json!({ "import": import }),
            None => serde_json::to_value(config(cx))?,
        })
    }

    fn phases(&self) -> &'static [Phase] {
        PHASES
    }

    fn run(&self, cx: &Context, stage_tasks: &StageTasks, quiet: bool) -> Result<()> {
        if let Some(import) = cx.config.import() {
            tokenize::import::run(import, &cx.work, quiet)?;
            return Ok(());
        }
        let (input, tokenizer) = (input(cx)?, &cx.corpus()?.tokenizer);
        let config = config(cx);
        stage_tasks.join_or_run(
            quiet,
            &tasks::tasks_dir(&cx.work),
            || tasks::join(&input, tokenizer, &config, &cx.work, stage_tasks.count()),
            || tokenize::run(&input, tokenizer, &config, &cx.work, quiet),
        )
    }

    fn run_task(
        &self,
        cx: &Context,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<TaskCounts> {
        let (input, config) = (input(cx)?, config(cx));
        let dir = tasks::tasks_dir(&cx.work);
        match phase.name {
            "hashes" => tasks::hashes(&input, &config, &dir, task, quiet)?,
            "split" => {
                let count = cx.config.executor.tasks(PipelineStage::Tokenize);
                tasks::split(&config, &dir, count)?
            }
            "encode" => {
                let tokenizer = &cx.corpus()?.tokenizer;
                tasks::encode_task(&input, tokenizer, &config, &dir, task, quiet)?
            }
            _ => return Err(unknown_phase(self, phase)),
        }
        Ok(Vec::new())
    }
}
