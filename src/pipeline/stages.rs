//! Each pipeline stage: the settings hashed into its marker, its inputs, its outputs, and the call into
//! the stage's library code.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::PipelineStage;
use super::config::{PipelineConfig, WeightsFrom};
use super::executor::{Phase, TaskSlice, phases};
use crate::corpus::Corpus;
use crate::doremi::{DoremiConfig, run_doremi};
use crate::manifest::ManifestConfig;
use crate::proxy::device::{DeviceChoice, ProxyDevice};
use crate::proxy::model::ProxyShape;
use crate::proxy::stage::{ProxyRunConfig, Shard, TrainOptions, train_candidates};
use crate::tokens::TokensIndex;
use crate::workdir::{DoneMarker, WorkDir};

/// The config with every path of the work directory spelled out.
pub struct Plan<'a> {
    config: &'a PipelineConfig,
    work: WorkDir,
    /// The proxies' device, decided when the first stage that trains runs (once per `remix run`).
    device: std::cell::OnceCell<ProxyDevice>,
}

impl<'a> Plan<'a> {
    pub fn new(config: &'a PipelineConfig) -> Self {
        Self {
            config,
            work: WorkDir::new(&config.work),
            device: std::cell::OnceCell::new(),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.work.root().join(relative)
    }

    fn marker_dir(&self, stage: PipelineStage) -> PathBuf {
        self.path("pipeline").join(stage.name())
    }

    /// Where task `task` of `phase` of `stage` leaves its marker.
    fn task_marker_dir(&self, stage: PipelineStage, phase: Phase, task: TaskSlice) -> PathBuf {
        self.marker_dir(stage)
            .join(phase.name)
            .join(task.file_name())
    }

    fn expected_task_marker(
        &self,
        stage: PipelineStage,
        phase: Phase,
        task: TaskSlice,
    ) -> Result<DoneMarker> {
        DoneMarker::named(
            &format!("{} {} task {task}", stage.name(), phase.name),
            &self.settings(stage)?,
            &self.inputs(stage)?,
        )
    }

    /// Whether task `task` of `phase` of `stage` has finished with the stage's current settings and
    /// inputs.
    pub fn task_done(&self, stage: PipelineStage, phase: Phase, task: TaskSlice) -> Result<bool> {
        let Some(marker) = DoneMarker::read(&self.task_marker_dir(stage, phase, task))? else {
            return Ok(false);
        };
        // A task that trained runs needs its part still there.
        let runs = marker
            .counts
            .get("runs")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if stage == PipelineStage::Train && runs > 0 && !self.train_part(task).exists() {
            return Ok(false);
        }
        Ok(self
            .expected_task_marker(stage, phase, task)
            .is_ok_and(|expected| marker.matches(&expected)))
    }

    /// Runs one task of a phase of a split stage ([`super::executor::phases`]) and writes its marker;
    /// the markers of the later phases go first, since their work read what this task rewrites. The
    /// stage itself finishes when [`Self::run`] joins the parts. Stats: the partial aggregate of the
    /// task's row groups into `WORK/stats-tasks/`. Train: task `i` of `N` trains candidates
    /// `i, i + N, ...` into `WORK/runs/tasks/<i>-of-<N>.parquet`. Dedup and tokenize: the phases of
    /// [`crate::dedup::tasks`] and [`crate::tokenize::tasks`] in `WORK/dedup-tasks/` and
    /// `WORK/tokenize-tasks/`. Errors: a task of the phase before that has not finished.
    pub fn run_task(
        &self,
        stage: PipelineStage,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<()> {
        // What this phase reads must be the finished work of every task of the phase before.
        let all = phases(stage);
        let at = all.iter().position(|p| p.name == phase.name).unwrap_or(0);
        if let Some(&before) = at.checked_sub(1).and_then(|i| all.get(i)) {
            let count = before.tasks(self.config.executor.tasks(stage));
            for index in 0..count {
                if !self.task_done(stage, before, TaskSlice::new(index, count)?)? {
                    bail!(
                        "the {} phase of {} reads what every {} task writes, and task {index}/{count} has not \
                         finished with these settings: run it first (--phase {} --task {index}/{count})",
                        phase.name,
                        stage.name(),
                        before.name,
                        before.name
                    );
                }
            }
        }
        let marker_dir = self.task_marker_dir(stage, phase, task);
        DoneMarker::clear(&marker_dir)?;
        for later in &all[at + 1..] {
            let dir = self.marker_dir(stage).join(later.name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        let mut marker = self.expected_task_marker(stage, phase, task)?;
        match (stage, phase.name) {
            (PipelineStage::Train, _) => {
                let part = self.train_part(task);
                self.train(&part, task, quiet)?;
                // A task past the last candidate trains nothing and leaves no part.
                let runs = if part.exists() {
                    crate::runs::read_runs(&part)?.runs.len()
                } else {
                    0
                };
                marker = marker.with_count("runs", runs as u64);
            }
            (PipelineStage::Stats, _) => crate::stats::run_task(
                &self.corpus()?.paths,
                &self.config.corpus_config(),
                &self.path("stats-tasks"),
                (task.index, task.count),
                &task.file_name(),
                quiet,
            )?,
            (PipelineStage::Tokenize, name) => {
                use crate::tokenize::tasks;
                let (input, config) = (self.tokenize_input()?, self.tokenize_config());
                let dir = tasks::tasks_dir(&self.work);
                match name {
                    "hashes" => tasks::hashes(&input, &config, &dir, task, quiet)?,
                    "split" => tasks::split(&config, &dir, self.config.executor.tasks(stage))?,
                    _ => {
                        let tokenizer = &self.corpus()?.tokenizer;
                        tasks::encode_task(&input, tokenizer, &config, &dir, task, quiet)?
                    }
                }
            }
            (PipelineStage::Dedup, name) => {
                use crate::dedup::tasks;
                let (paths, config) = (&self.corpus()?.paths, self.dedup_config());
                let dir = tasks::tasks_dir(&self.work);
                match name {
                    "signatures" => tasks::signatures(paths, &config, &dir, task, quiet)?,
                    "buckets" => tasks::buckets(&config, &dir, task)?,
                    "clusters" => {
                        tasks::clusters(paths, &config, &dir, self.config.executor.tasks(stage))?
                    }
                    _ => tasks::filter(paths, &config, &dir, task, quiet)?,
                }
            }
            (other, _) => bail!(
                "the {} stage does not split into tasks: run it as one (tasks = 1)",
                other.name()
            ),
        }
        marker.write(&marker_dir)
    }

    /// Whether every task of the last phase of `stage` has finished, so that the stage joins what the
    /// tasks wrote instead of doing the work in one process (and says so unless `quiet`). The phases'
    /// markers are removed either way, before the join touches their files: a join that fails half-way
    /// leaves the next run to do the stage in one process, never to join a half-moved output again.
    fn joins_tasks(&self, stage: PipelineStage, quiet: bool) -> Result<bool> {
        let joins = self.phases_done(stage)?;
        self.remove_task_leftovers(stage, None)?;
        if joins && !quiet {
            eprintln!(
                "remix run: {}: joining the output of its {} tasks",
                stage.name(),
                self.config.executor.tasks(stage)
            );
        }
        Ok(joins)
    }

    fn phases_done(&self, stage: PipelineStage) -> Result<bool> {
        let count = self.config.executor.tasks(stage);
        let Some(&last) = phases(stage).last() else {
            return Ok(false);
        };
        if count < 2 {
            return Ok(false);
        }
        for index in 0..last.tasks(count) {
            if !self.task_done(stage, last, TaskSlice::new(index, last.tasks(count))?)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes what the tasks of `stage` left: their markers, and the folder of their `parts` when
    /// given (with any part a crashed task left).
    fn remove_task_leftovers(&self, stage: PipelineStage, parts: Option<&Path>) -> Result<()> {
        let marker_dirs = phases(stage)
            .iter()
            .map(|phase| self.marker_dir(stage).join(phase.name));
        for dir in marker_dirs.chain(parts.map(Path::to_path_buf)) {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        Ok(())
    }

    /// Trains the candidates of `task` (every one for `0/1`) into the runs table `runs`.
    fn train(&self, runs: &Path, task: TaskSlice, quiet: bool) -> Result<()> {
        train_candidates(
            &self.tokens_dir(),
            &self.path("mixtures.parquet"),
            runs,
            &self.proxy_config()?,
            TrainOptions {
                shard: Shard {
                    index: task.index,
                    count: task.count,
                },
                max_epochs: self.sample_config().max_epochs,
                parallel: self.config.proxy.parallel,
                quiet,
            },
            self.device()?,
        )?;
        Ok(())
    }

    fn train_parts_dir(&self) -> PathBuf {
        self.path("runs/tasks")
    }

    fn train_part(&self, task: TaskSlice) -> PathBuf {
        self.train_parts_dir()
            .join(format!("{}.parquet", task.file_name()))
    }

    fn marker_path(&self, stage: PipelineStage) -> PathBuf {
        self.marker_dir(stage).join(crate::workdir::DONE_MARKER)
    }

    fn tokens_dir(&self) -> PathBuf {
        self.path("tokens")
    }

    pub fn report_path(&self) -> PathBuf {
        self.path("report.html")
    }

    fn manifest_path(&self) -> PathBuf {
        self.path("mixtures")
            .join(format!("{}.json", self.config.manifest.name))
    }

    pub fn enabled(&self, stage: PipelineStage) -> bool {
        use PipelineStage::*;
        match stage {
            Stats => self.config.corpus.is_some(),
            Dedup => self.config.dedup.is_some() && self.config.corpus.is_some(),
            Sample | Train | Fit | Simulate => self.config.regmix.is_some(),
            Doremi => self.config.doremi.is_some(),
            Validate => self.config.validate.is_some() && self.config.regmix.is_some(),
            Report => self.config.report,
            Tokenize | Manifest => true,
        }
    }

    /// The stages whose output `stage` reads.
    fn upstream(&self, stage: PipelineStage) -> Vec<PipelineStage> {
        use PipelineStage::*;
        let list = match stage {
            Stats | Dedup => vec![],
            Tokenize => vec![Dedup],
            Sample | Doremi => vec![Tokenize],
            Train => vec![Tokenize, Sample],
            Fit => vec![Train],
            Simulate => vec![Tokenize, Fit],
            Manifest => match self.config.weights_from() {
                Ok(WeightsFrom::Doremi) => vec![Tokenize, Doremi],
                _ => vec![Tokenize, Simulate],
            },
            Validate => vec![Tokenize, Sample, Fit, Doremi, Manifest],
            Report => PipelineStage::ALL
                .into_iter()
                .filter(|s| *s < Report)
                .collect(),
        };
        list.into_iter().filter(|s| self.enabled(*s)).collect()
    }

    /// The files a stage reads: the markers of its upstream stages and files from outside the work
    /// directory.
    fn inputs(&self, stage: PipelineStage) -> Result<Vec<PathBuf>> {
        let mut inputs: Vec<PathBuf> = self
            .upstream(stage)
            .into_iter()
            .map(|s| self.marker_path(s))
            .collect();
        match stage {
            PipelineStage::Stats | PipelineStage::Dedup => inputs.extend(self.corpus_files()?),
            PipelineStage::Tokenize => match (self.config.import(), &self.config.corpus) {
                (Some(import), _) => inputs.extend(import_files(import)),
                (None, Some(corpus)) => {
                    if self.config.dedup.is_none() {
                        inputs.extend(self.corpus_files()?);
                    }
                    inputs.push(corpus.tokenizer.clone());
                }
                (None, None) => {}
            },
            PipelineStage::Doremi => {
                if let crate::doremi::Reference::File(path) = self.doremi_config()?.reference {
                    inputs.push(path);
                }
            }
            _ => {}
        }
        Ok(inputs)
    }

    fn corpus(&self) -> Result<&crate::pipeline::config::CorpusSection> {
        self.config
            .corpus
            .as_ref()
            .context("this stage reads the corpus, and the config has no [corpus]")
    }

    fn corpus_files(&self) -> Result<Vec<PathBuf>> {
        Ok(Corpus::open(&self.corpus()?.paths, &self.config.corpus_config())?.paths())
    }

    /// What the stage must have left for it to count as done.
    fn outputs(&self, stage: PipelineStage) -> Vec<PathBuf> {
        use PipelineStage::*;
        match stage {
            Stats => vec![self.path("stats/_done.json")],
            Dedup => vec![self.path("dedup/_done.json")],
            Tokenize => vec![self.path("tokens/_done.json")],
            Sample => vec![self.path("mixtures.parquet")],
            Train => vec![self.path("runs/runs.parquet")],
            Fit => vec![self.path("fit/_done.json")],
            Simulate => vec![self.path("fit/optimum.json")],
            Doremi => vec![self.path("doremi/_done.json")],
            Manifest => vec![self.manifest_path()],
            Validate => vec![self.path("validate/results.json")],
            Report => vec![self.report_path()],
        }
    }

    /// The settings that decide a stage's result, as hashed into its marker.
    fn settings(&self, stage: PipelineStage) -> Result<Value> {
        let c = self.config;
        let seed = c.seed;
        Ok(match stage {
            PipelineStage::Stats => serde_json::to_value(self.config.corpus_config())?,
            PipelineStage::Dedup => serde_json::to_value(self.dedup_config())?,
            PipelineStage::Tokenize => match self.config.import() {
                Some(import) => json!({ "import": import }),
                None => serde_json::to_value(self.tokenize_config())?,
            },
            PipelineStage::Sample => serde_json::to_value(self.sample_config())?,
            PipelineStage::Train => json!({ "proxy": c.proxy, "seed": seed }),
            PipelineStage::Fit => serde_json::to_value(self.fit_config())?,
            PipelineStage::Simulate => serde_json::to_value(self.simulate_config())?,
            PipelineStage::Doremi => json!({ "doremi": c.doremi, "proxy": c.proxy, "seed": seed }),
            PipelineStage::Manifest => json!({ "manifest": c.manifest, "seed": seed }),
            PipelineStage::Validate => json!({
                "validate": c.validate,
                "proxy": c.proxy,
                "sample": self.sample_config(),
                "target": self.fit_config().target,
                "seed": seed,
            }),
            PipelineStage::Report => json!({}),
        })
    }

    fn expected_marker(&self, stage: PipelineStage) -> Result<DoneMarker> {
        DoneMarker::named(stage.name(), &self.settings(stage)?, &self.inputs(stage)?)
    }

    /// Whether the stage's marker matches its settings and inputs and its outputs are there.
    pub fn is_done(&self, stage: PipelineStage) -> Result<bool> {
        let Some(marker) = DoneMarker::read(&self.marker_dir(stage))? else {
            return Ok(false);
        };
        if !self.outputs(stage).iter().all(|p| p.exists()) {
            return Ok(false);
        }
        // An input that is gone (an upstream stage re-running) means not done.
        Ok(match self.expected_marker(stage) {
            Ok(expected) => marker.matches(&expected),
            Err(_) => false,
        })
    }

    /// Fails with the stage to run first when an upstream stage has not finished.
    pub fn check_inputs(&self, stage: PipelineStage) -> Result<()> {
        for up in self.upstream(stage) {
            if !self.marker_path(up).exists() {
                bail!(
                    "the {} stage reads what the {} stage writes, and {} has not finished in {}: run it \
                     first (`remix run CONFIG --from {}`, or without --from)",
                    stage.name(),
                    up.name(),
                    up.name(),
                    self.work.root().display(),
                    up.name()
                );
            }
        }
        Ok(())
    }

    /// Runs one stage and writes its marker.
    pub fn run(&self, stage: PipelineStage, quiet: bool) -> Result<()> {
        let marker_dir = self.marker_dir(stage);
        DoneMarker::clear(&marker_dir)?;
        let c = self.config;
        match stage {
            PipelineStage::Stats => {
                let (paths, config) = (&self.corpus()?.paths, c.corpus_config());
                let parts = self.path("stats-tasks");
                if self.joins_tasks(stage, quiet)? {
                    let count = c.executor.tasks(stage);
                    let names: Vec<String> = (0..count)
                        .map(|i| TaskSlice::new(i, count).map(TaskSlice::file_name))
                        .collect::<Result<_>>()?;
                    let out = self.path("stats");
                    crate::stats::join_tasks(paths, &config, &parts, &names, &out, None)?;
                } else {
                    crate::stats::run(paths, &config, &self.path("stats"), None, quiet)?;
                }
                self.remove_task_leftovers(stage, Some(&parts))?;
            }
            PipelineStage::Dedup => {
                let (paths, config) = (&self.corpus()?.paths, self.dedup_config());
                if self.joins_tasks(stage, quiet)? {
                    crate::dedup::tasks::finish(paths, &config, &self.work)?;
                } else {
                    crate::dedup::run(paths, &config, &self.work, quiet)?;
                }
                self.remove_task_leftovers(
                    stage,
                    Some(&crate::dedup::tasks::tasks_dir(&self.work)),
                )?;
            }
            PipelineStage::Tokenize if c.import().is_some() => {
                let import = c.import().context("checked above")?;
                crate::tokenize::import::run(import, &self.work, quiet)?;
            }
            PipelineStage::Tokenize => {
                let (input, tokenizer) = (self.tokenize_input()?, &self.corpus()?.tokenizer);
                let config = self.tokenize_config();
                let parts = crate::tokenize::tasks::tasks_dir(&self.work);
                if self.joins_tasks(stage, quiet)? {
                    let count = c.executor.tasks(stage);
                    crate::tokenize::tasks::join(&input, tokenizer, &config, &self.work, count)?;
                } else {
                    crate::tokenize::run(&input, tokenizer, &config, &self.work, quiet)?;
                }
                self.remove_task_leftovers(stage, Some(&parts))?;
            }
            PipelineStage::Sample => {
                let index = TokensIndex::read(&self.tokens_dir())?;
                let mixtures = crate::sample::sample(&index, &self.sample_config())?;
                crate::sample::write(&mixtures, &self.path("mixtures.parquet"))?;
            }
            PipelineStage::Train => {
                crate::runs::fold_parts(
                    &self.path("runs/runs.parquet"),
                    &self.train_parts_dir(),
                    &self.path("mixtures.parquet"),
                )?;
                // Folded: the parts and their markers would only go stale.
                self.remove_task_leftovers(stage, Some(&self.train_parts_dir()))?;
                self.train(
                    &self.path("runs/runs.parquet"),
                    TaskSlice { index: 0, count: 1 },
                    quiet,
                )?;
            }
            PipelineStage::Fit => {
                crate::fit::run(
                    &self.path("runs/runs.parquet"),
                    &self.fit_config(),
                    &self.path("fit"),
                )?;
            }
            PipelineStage::Simulate => {
                crate::simulate::run(
                    &self.path("fit/model.json"),
                    Some(&self.tokens_dir()),
                    &self.simulate_config(),
                    &self.path("fit/optimum.json"),
                )?;
            }
            PipelineStage::Doremi => {
                run_doremi(
                    &self.tokens_dir(),
                    &self.path("doremi"),
                    &self.doremi_config()?,
                    self.device()?,
                    quiet,
                )?;
            }
            PipelineStage::Manifest => {
                self.write_manifest()?;
            }
            PipelineStage::Validate => {
                let doremi = self.path("doremi/weights.json");
                crate::validate::stage::run(
                    &crate::validate::stage::StagePaths {
                        tokens: &self.tokens_dir(),
                        fit_model: &self.path("fit/model.json"),
                        manifest: &self.manifest_path(),
                        doremi: (self.enabled(PipelineStage::Doremi) && doremi.exists())
                            .then_some(doremi.as_path()),
                        out_dir: &self.path("validate"),
                    },
                    &c.validate.clone().unwrap_or_default(),
                    &self.proxy_config()?,
                    &self.sample_config(),
                    &self.fit_config().target,
                    self.device()?,
                    quiet,
                )?;
            }
            PipelineStage::Report => {
                crate::report::write(self.work.root(), &self.report_path())?;
            }
        }
        self.expected_marker(stage)?.write(&marker_dir)
    }

    fn write_manifest(&self) -> Result<Vec<PathBuf>> {
        let c = self.config;
        let weights = match c.weights_from()? {
            WeightsFrom::Regmix => self.path("fit/optimum.json"),
            WeightsFrom::Doremi => self.path("doremi/weights.json"),
        };
        let source = crate::manifest::read_weights(&weights)?;
        let index = TokensIndex::read(&self.tokens_dir())?;
        let manifest_config = ManifestConfig {
            name: c.manifest.name.clone(),
            train_tokens: c.manifest.train_tokens,
            max_epochs: c.manifest.max_epochs,
            allow_repeat: c.manifest.allow_repeat,
            seed: c.seed,
            sequence_length: c.manifest.sequence_length,
        };
        let manifest =
            crate::manifest::build(&source, &index, &self.tokens_dir(), &manifest_config)?;
        crate::manifest::write(&manifest, &self.manifest_path(), &c.manifest.exports)
    }

    /// The manifest and its exports as they are on disk.
    pub fn manifest_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.path("mixtures");
        let prefix = format!("{}.", self.config.manifest.name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                    && *p != self.manifest_path()
            })
            .collect();
        files.sort();
        files.insert(0, self.manifest_path());
        Ok(files)
    }

    fn dedup_config(&self) -> crate::dedup::DedupConfig {
        let mut config = self.config.dedup.clone().unwrap_or_default();
        config.corpus = self.config.corpus_config();
        config
    }

    /// What the tokenize stage reads: the dedup folder, or the one corpus path without `[dedup]`.
    fn tokenize_input(&self) -> Result<PathBuf> {
        let corpus = self.corpus()?;
        if self.config.dedup.is_some() {
            return Ok(self.path("dedup"));
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

    fn tokenize_config(&self) -> crate::tokenize::TokenizeConfig {
        let mut config = self.config.tokenize.clone();
        config.corpus = self.config.corpus_config();
        config.seed = self.config.seed;
        config
    }

    /// RegMix's candidates, with the epoch caps of the proxies' token budget unless set.
    fn sample_config(&self) -> crate::sample::SampleConfig {
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
        config
    }

    fn fit_config(&self) -> crate::fit::FitConfig {
        let mut config = self
            .config
            .regmix
            .as_ref()
            .map(|r| r.fit.clone())
            .unwrap_or_default();
        config.seed = self.config.seed;
        config
    }

    /// The simulation, with the epoch caps of the real run (the manifest's tokens) unless set.
    fn simulate_config(&self) -> crate::simulate::SimulateConfig {
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

    fn proxy_config(&self) -> Result<ProxyRunConfig> {
        let index = TokensIndex::read(&self.tokens_dir())?;
        let p = &self.config.proxy;
        let shape = ProxyShape::checked(
            index.vocab_size as usize,
            p.layers,
            p.d_model,
            p.heads,
            p.ffn_hidden,
            p.context,
        )?;
        Ok(ProxyRunConfig {
            shape,
            train: p.train.clone(),
            seed: self.config.seed,
        })
    }

    fn doremi_config(&self) -> Result<DoremiConfig> {
        let Some(section) = &self.config.doremi else {
            bail!("the config has no [doremi] section");
        };
        Ok(DoremiConfig {
            proxy: self.proxy_config()?,
            reference: section.reference(Path::new("")),
            rounds: section.rounds,
            eta: section.eta,
            smoothing: section.smoothing,
        })
    }

    fn device_choice(&self) -> Result<DeviceChoice> {
        self.config
            .proxy
            .device
            .parse::<DeviceChoice>()
            .map_err(|e| anyhow::anyhow!("[proxy] device: {e}"))
    }

    fn device(&self) -> Result<&ProxyDevice> {
        if let Some(device) = self.device.get() {
            return Ok(device);
        }
        let device = self.device_choice()?.resolve()?;
        Ok(self.device.get_or_init(|| device))
    }
}

/// The files `[tokens.import]` reads: each prefix's `.bin` and `.idx`, each raw token file, the tokenizer.
fn import_files(import: &crate::tokenize::import::ImportConfig) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = import
        .megatron
        .values()
        .flatten()
        .flat_map(|prefix| {
            ["bin", "idx"].map(|ext| crate::tokenize::shard::shard_path(prefix, ext))
        })
        .collect();
    files.extend(import.numpy.values().flatten().cloned());
    files.extend(import.tokenizer.iter().cloned());
    files
}
