//! What a stage spec reads of one `remix run`: the config, the work directory and its paths, the
//! settings the stages share as the config gives them (candidates, fit, proxy), and the proxies' device,
//! decided once per process when the first stage that trains asks for it.

use std::cell::OnceCell;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::config::{CorpusSection, PipelineConfig};
use super::stage::PipelineStage;
use crate::core::workdir::{DONE_MARKER, WorkDir, read_json_if_present};
use crate::data::corpus::Corpus;
use crate::data::tokens::TokensIndex;
use crate::manifest::{self, Manifest, WeightsFrom};
use crate::proxy::device::ProxyDevice;
use crate::regmix::fit::FitConfig;
use crate::regmix::rounds::RoundsConfig;
use crate::regmix::sample::SampleConfig;
use crate::regmix::simulate::SimulateConfig;
use crate::regmix::train::ProxyRunConfig;
use crate::reuse::ReusePlan;

/// The config with every path of the work directory spelled out.
pub struct Context<'a> {
    pub config: &'a PipelineConfig,
    pub work: WorkDir,
    device: OnceCell<ProxyDevice>,
}

impl<'a> Context<'a> {
    /// The stages' view of `config`; sets the object store limits of `[corpus.store]` for the process.
    pub fn new(config: &'a PipelineConfig) -> Self {
        if let Some(corpus) = &config.corpus {
            crate::core::store::configure(&corpus.store);
        }
        Self {
            config,
            work: WorkDir::new(&config.work),
            device: OnceCell::new(),
        }
    }

    /// `WORK/<relative>`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.work.root().join(relative)
    }

    /// `WORK/pipeline/<stage>/`: the stage's marker, and its tasks' markers below it.
    pub fn marker_dir(&self, stage: PipelineStage) -> PathBuf {
        self.path("pipeline").join(stage.name())
    }

    /// `WORK/pipeline/<stage>/_done.json`.
    pub fn marker_path(&self, stage: PipelineStage) -> PathBuf {
        self.marker_dir(stage).join(DONE_MARKER)
    }

    pub fn tokens_dir(&self) -> PathBuf {
        self.path("tokens")
    }

    pub fn report_path(&self) -> PathBuf {
        self.path("report.html")
    }

    /// `WORK/mixtures/<name>.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.path("mixtures")
            .join(format!("{}.json", self.config.manifest.name))
    }

    /// `[corpus]`. Errors: a config without it.
    pub fn corpus(&self) -> Result<&'a CorpusSection> {
        self.config
            .corpus
            .as_ref()
            .context("this stage reads the corpus, and the config has no [corpus]")
    }

    /// The corpus's Parquet files, in reading order.
    pub fn corpus_files(&self) -> Result<Vec<PathBuf>> {
        Ok(Corpus::open(&self.corpus()?.paths, &self.config.corpus_config())?.paths())
    }

    /// RegMix's candidates, with the epoch caps of the proxies' token budget unless set.
    pub fn sample_config(&self) -> SampleConfig {
        let mut config = self
            .config
            .regmix
            .as_ref()
            .map(|r| r.sample.clone())
            .unwrap_or_default();
        config.seed = self.config.seed;
        config
            .train_tokens
            .get_or_insert(self.config.proxy.train.train_tokens);
        if let Some(first) = self.rounds_config().and_then(|r| r.candidates.first()) {
            config.candidates = *first;
        }
        config
    }

    /// `WORK/reuse/plan.json`, the sample stage's plan under `[reuse]`.
    pub fn reuse_plan_path(&self) -> PathBuf {
        crate::reuse::plan_path(self.work.root())
    }

    /// `WORK/reuse/weights.json`: the answer when domains were only removed.
    pub fn reuse_weights_path(&self) -> PathBuf {
        self.path("reuse").join("weights.json")
    }

    /// The sample stage's reuse plan, when `[reuse]` is set and the stage wrote it.
    pub fn reuse_plan(&self) -> Result<Option<ReusePlan>> {
        if self.config.reuse.is_none() {
            return Ok(None);
        }
        read_json_if_present(
            &self.reuse_plan_path(),
            "is not the sample stage's reuse plan: run it again (`remix run CONFIG --from sample`)",
        )
    }

    /// Why the stages after sample are not needed: `[reuse]` found domains only removed, so the
    /// answer is the old mixture renormalised ([`ReusePlan::removal_only`]).
    pub fn removal_only(&self) -> Result<Option<String>> {
        Ok(self
            .reuse_plan()?
            .filter(|plan| plan.removal_only.is_some())
            .map(|plan| {
                format!(
                    "domains were only removed since {}: its mixture renormalised is the answer",
                    plan.from
                )
            }))
    }

    /// `[regmix.rounds]`, when the search runs in rounds.
    pub fn rounds_config(&self) -> Option<&RoundsConfig> {
        self.config.regmix.as_ref()?.rounds.as_ref()
    }

    /// The simulation, with the epoch caps of the real run (the manifest's tokens) unless set.
    pub fn simulate_config(&self) -> SimulateConfig {
        let mut config = self
            .config
            .regmix
            .as_ref()
            .map(|r| r.simulate.clone())
            .unwrap_or_default();
        config.seed = self.config.seed;
        config
            .train_tokens
            .get_or_insert(self.config.manifest.train_tokens);
        config
    }

    pub fn fit_config(&self) -> FitConfig {
        let mut config = self
            .config
            .regmix
            .as_ref()
            .map(|r| r.fit.clone())
            .unwrap_or_default();
        config.seed = self.config.seed;
        config
    }

    /// The proxy of `[proxy]` for the tokenizer's vocabulary (`tokens/index.json`).
    pub fn proxy_config(&self) -> Result<ProxyRunConfig> {
        let index = TokensIndex::read(&self.tokens_dir())?;
        ProxyRunConfig::new(
            &self.config.proxy,
            index.vocab_size as usize,
            self.config.seed,
        )
    }

    /// The weights file the manifest is built from: `fit/optimum.json` or `doremi/weights.json`
    /// (`[manifest] from`). Errors: a config that leaves it open ([`PipelineConfig::weights_from`]).
    pub fn weights_path(&self) -> Result<PathBuf> {
        if self.removal_only()?.is_some() {
            return Ok(self.reuse_weights_path());
        }
        Ok(match self.config.weights_from()? {
            WeightsFrom::Regmix => self.path("fit/optimum.json"),
            WeightsFrom::Doremi => self.path("doremi/weights.json"),
        })
    }

    /// The manifest of `[manifest]`, built in memory from [`Self::weights_path`] and the token index:
    /// what the manifest stage writes, before the validation evidence. Errors: an unreadable weights
    /// file or index, or a budget the domains cannot supply ([`manifest::build`]).
    pub fn build_manifest(&self) -> Result<Manifest> {
        let source = manifest::read_weights(&self.weights_path()?)?;
        let index = TokensIndex::read(&self.tokens_dir())?;
        let (config, seed) = (&self.config.manifest, self.config.seed);
        manifest::build(&source, &index, &self.tokens_dir(), config, seed)
    }

    /// The proxies' device, resolved on first use and kept for the rest of the run.
    pub fn device(&self) -> Result<&ProxyDevice> {
        if let Some(device) = self.device.get() {
            return Ok(device);
        }
        let device = self.config.proxy.device.resolve()?;
        Ok(self.device.get_or_init(|| device))
    }
}
