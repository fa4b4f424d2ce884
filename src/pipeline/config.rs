//! The pipeline config (`remix run CONFIG.toml`): one TOML file that holds every stage's settings.
//!
//! Stage sections are the stages' own settings types, so a key means the same in the config as in the
//! stage's `_done.json` and a default is stated once (beside its type). Paths are relative to the config
//! file's folder. Unknown keys are errors that name the key and the nearest valid one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stage::PipelineStage;
use crate::core::paths::beside;
use crate::data::corpus::config::{CorpusConfig, DomainFrom};
use crate::data::dedup::DedupConfig;
use crate::data::tokenize::TokenizeConfig;
use crate::data::tokenize::import::ImportConfig;
use crate::doremi::{DoremiSettings, Reference};
use crate::manifest::{ManifestConfig, WeightsFrom};
pub use crate::proxy::settings::ProxySection;
use crate::regmix::fit::FitConfig;
use crate::regmix::rounds::RoundsConfig;
use crate::regmix::sample::SampleConfig;
use crate::regmix::simulate::SimulateConfig;
use crate::reuse::ReuseConfig;

/// A pipeline config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The work directory every stage writes into.
    pub work: PathBuf,
    /// The seed of every stage (candidates, proxies, folds, simulation, validation split). Default 0.
    #[serde(default)]
    pub seed: u64,
    /// The corpus to deduplicate and tokenize; leave it out to import tokens with `[tokens.import]`.
    pub corpus: Option<CorpusSection>,
    /// Token files you already have, in place of the corpus: `[tokens.import]` replaces the stats, dedup
    /// and tokenize stages.
    pub tokens: Option<TokensSection>,
    /// Deduplication; leave the section out to tokenize the corpus as it is.
    pub dedup: Option<DedupConfig>,
    /// Topic domains: cluster the documents (after dedup, before tokenize) and mix the clusters; leave
    /// the section out to keep the corpus's own domains.
    pub cluster: Option<crate::data::cluster::ClusterConfig>,
    #[serde(default)]
    pub tokenize: TokenizeConfig,
    #[serde(default)]
    pub proxy: ProxySection,
    /// RegMix: candidates, proxy runs, regression, simulation. Needs `[regmix.fit] target`.
    pub regmix: Option<RegmixSection>,
    /// DoReMi; leave the section out to skip it.
    pub doremi: Option<DoremiSettings>,
    /// Mixture reuse: an earlier search's manifest, whose unchanged domains stay at their old
    /// proportions while the search covers only what changed ([`crate::reuse`]). Needs
    /// `[regmix]`; leave it out to search every domain.
    pub reuse: Option<ReuseConfig>,
    pub manifest: ManifestConfig,
    /// Validation at a larger scale, before the manifest (needs `[regmix]`); leave the section out to
    /// skip it.
    pub validate: Option<crate::validate::stage::ValidateSection>,
    /// How the stages split into tasks and what each Slurm job asks for (`remix run --executor slurm`).
    #[serde(default)]
    pub executor: super::executor::ExecutorSection,
    /// Write `WORK/report.html` at the end. Default true.
    #[serde(default = "yes")]
    pub report: bool,
    /// Limits on a local `remix run`.
    #[serde(default)]
    pub run: RunSection,
}

/// `[run]`: limits on a local `remix run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// Hours of proxy training (measured on this machine, `remix plan`) above which `remix run` stops
    /// before training unless given `--yes`. Default 24: a day of training is a run to start on
    /// purpose, not by a typo in a budget.
    pub max_hours: f64,
}

impl Default for RunSection {
    fn default() -> Self {
        Self { max_hours: 24.0 }
    }
}

/// `[tokens]`: tokens brought in rather than tokenized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// What `remix tokens import` would take; paths relative to the config file's folder.
    pub import: ImportConfig,
}

fn yes() -> bool {
    true
}

/// The corpus and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorpusSection {
    /// Parquet files, folders or globs.
    pub paths: Vec<PathBuf>,
    /// A HuggingFace `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// Default `text`.
    #[serde(default = "text")]
    pub text_column: String,
    /// `folder` (default), `column:DOT.PATH` or `hive:KEY` (`corpus/KEY=<domain>/*.parquet`).
    #[serde(default, with = "crate::core::text_form")]
    #[schemars(with = "String")]
    pub domain_from: DomainFrom,
    /// Retry limits for a corpus in an object store (`s3://`, `gs://`, `az://` paths).
    #[serde(default)]
    pub store: crate::core::store::StoreConfig,
}

fn text() -> String {
    CorpusConfig::default().text_column
}

/// RegMix's stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegmixSection {
    #[serde(default)]
    pub sample: SampleConfig,
    pub fit: FitConfig,
    #[serde(default)]
    pub simulate: SimulateConfig,
    /// The search in rounds ([`crate::regmix::rounds`]); without it, one round of
    /// `[regmix.sample] candidates`.
    #[serde(default)]
    pub rounds: Option<RoundsConfig>,
}

impl RegmixSection {
    /// Proxies the train stage trains in all: every round's candidates and the natural and uniform
    /// mixtures.
    pub fn proxies(&self) -> usize {
        match &self.rounds {
            Some(rounds) => rounds.candidates.iter().sum::<usize>() + 2,
            None => self.sample.candidates + 2,
        }
    }

    /// The most candidates trained in one go (the largest round; a stack never holds more).
    pub fn largest_round(&self) -> usize {
        match &self.rounds {
            Some(rounds) => rounds.candidates.iter().copied().max().unwrap_or(0) + 2,
            None => self.sample.candidates + 2,
        }
    }
}

impl PipelineConfig {
    /// Reads and checks a config; relative paths become relative to the config's folder.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the pipeline config {}", path.display()))?;
        let mut config: PipelineConfig = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid pipeline config: {}{}\n{e}",
                path.display(),
                e.message(),
                suggestion(e.message())
            )
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.work = beside(base, &config.work);
        if let Some(corpus) = &mut config.corpus {
            corpus.tokenizer = beside(base, &corpus.tokenizer);
            for p in &mut corpus.paths {
                *p = beside(base, p);
            }
        }
        if let Some(tokens) = &mut config.tokens {
            let import = &mut tokens.import;
            for p in import
                .megatron
                .values_mut()
                .chain(import.numpy.values_mut())
                .flatten()
                .chain(import.tokenizer.as_mut())
            {
                *p = beside(base, p);
            }
        }
        if let Some(doremi) = &mut config.doremi
            && let Reference::File(path) = &mut doremi.reference
        {
            *path = beside(base, path);
        }
        if let Some(reuse) = &mut config.reuse {
            reuse.from = beside(base, &reuse.from);
        }
        config.check(path)?;
        // With rounds, the first round's count is theirs: a count in [regmix.sample] would state the
        // budget twice (its default cannot be told from an explicit value once parsed). With reuse,
        // the count follows the free dimensions unless [reuse] candidates sets it.
        let sample_candidates_set = toml::from_str::<toml::Table>(&text).is_ok_and(|t| {
            t.get("regmix")
                .and_then(|r| r.get("sample"))
                .and_then(|s| s.get("candidates"))
                .is_some()
        });
        if sample_candidates_set && config.reuse.is_some() {
            bail!(
                "{}: [regmix.sample] candidates is set, but with [reuse] the candidates follow the domains searched \
                 (30 per free dimension, at least 16): set [reuse] candidates instead",
                path.display()
            );
        }
        if sample_candidates_set && config.regmix.as_ref().is_some_and(|r| r.rounds.is_some()) {
            bail!(
                "{}: [regmix.sample] candidates and [regmix.rounds] candidates both set the proxies: with \
                 rounds, remove [regmix.sample] candidates (the first round's count is the first of \
                 [regmix.rounds] candidates)",
                path.display()
            );
        }
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let where_ = path.display();
        match (&self.corpus, &self.tokens) {
            (Some(corpus), None) => {
                if corpus.paths.is_empty() {
                    bail!(
                        "{where_}: [corpus] paths is empty: list the Parquet files or folders of the corpus"
                    );
                }
            }
            (None, Some(_)) => {
                if self.executor.tasks(PipelineStage::Tokenize) > 1 {
                    bail!(
                        "{where_}: [tokens.import] indexes token files in place, in one task: set [executor] tasks \
                         tokenize = 1"
                    );
                }
                if self.dedup.is_some()
                    || self.cluster.is_some()
                    || self.tokenize != TokenizeConfig::default()
                {
                    bail!(
                        "{where_}: [tokens.import] replaces dedup, cluster and tokenize: remove [dedup], [cluster] and [tokenize] \
                         (eval_only, val_fraction and val_documents go in [tokens.import])"
                    );
                }
            }
            (Some(_), Some(_)) => bail!(
                "{where_}: give [corpus] (documents to tokenize) or [tokens.import] (tokens you have), not both"
            ),
            (None, None) => bail!(
                "{where_}: no data: add [corpus] (Parquet documents and a tokenizer) or [tokens.import] \
                 (Megatron shards or raw token files)"
            ),
        }
        if let Some(dedup) = &self.dedup {
            let tasks = self.executor.tasks(PipelineStage::Dedup);
            crate::data::dedup::tasks::check_tasks(dedup, tasks)
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
        }
        if let Some(cluster) = &self.cluster {
            cluster
                .check_pipeline_keys()
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
            let mut cluster = cluster.clone();
            cluster.eval_only = self.tokenize.eval_only.clone();
            cluster
                .check()
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
        }
        if let Some(regmix) = &self.regmix
            && regmix.fit.target.is_empty()
        {
            bail!(
                "{where_}: [regmix.fit] target is empty: name the domain(s) whose loss to minimise"
            );
        }
        if let Some(rounds) = self.regmix.as_ref().and_then(|r| r.rounds.as_ref()) {
            rounds
                .check()
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
        }
        if self.reuse.is_some() {
            match &self.regmix {
                None => bail!(
                    "{where_}: [reuse] reuses a RegMix search: add [regmix] (DoReMi reweights every domain and has no \
                     search to cut)"
                ),
                Some(regmix) if regmix.rounds.is_some() => bail!(
                    "{where_}: [reuse] with [regmix.rounds] is not supported yet: remove one of them"
                ),
                Some(_) => {}
            }
            if self.manifest.from == Some(WeightsFrom::Doremi) {
                bail!(
                    "{where_}: [reuse] searches with RegMix, but [manifest] from = \"doremi\": set it to \"regmix\""
                );
            }
        }
        if self.regmix.is_none() && self.doremi.is_none() {
            bail!("{where_}: nothing chooses the weights: add a [regmix] or a [doremi] section");
        }
        self.weights_from()
            .map_err(|e| anyhow::anyhow!("{where_}: [manifest] {e}"))?;
        self.executor
            .check()
            .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
        Ok(())
    }

    /// How every stage reads the corpus.
    pub fn corpus_config(&self) -> CorpusConfig {
        CorpusConfig {
            text_column: self
                .corpus
                .as_ref()
                .map_or_else(text, |c| c.text_column.clone()),
            domain_from: self
                .corpus
                .as_ref()
                .map_or_else(DomainFrom::default, |c| c.domain_from.clone()),
            ..Default::default()
        }
    }

    /// The `[tokens.import]` settings, when the config imports tokens.
    pub fn import(&self) -> Option<&ImportConfig> {
        self.tokens.as_ref().map(|t| &t.import)
    }

    pub fn weights_from(&self) -> Result<WeightsFrom> {
        use WeightsFrom::{Doremi, Regmix};
        match (self.manifest.from, &self.regmix, &self.doremi) {
            (None | Some(Regmix), Some(_), _) => Ok(Regmix),
            (None | Some(Doremi), None, Some(_)) | (Some(Doremi), _, Some(_)) => Ok(Doremi),
            (Some(other), _, _) => {
                bail!("from = \"{other}\" but the config has no [{other}] section")
            }
            (None, None, None) => bail!("add a [regmix] or a [doremi] section"),
        }
    }
}

/// ` (did you mean `x`?)` for serde's "unknown field `y`, expected one of `a`, `b`" messages.
fn suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return String::new();
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let nearest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (strsim::damerau_levenshtein(unknown, name), name))
        .min();
    match nearest {
        Some((distance, name)) if distance <= unknown.len().max(3) / 2 + 1 => {
            format!(" (did you mean `{name}`?)")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_the_nearest_name() {
        let message =
            "unknown field `tokenzier`, expected one of `paths`, `tokenizer`, `text_column`";
        assert_eq!(suggestion(message), " (did you mean `tokenizer`?)");
        let far = "unknown field `zzz`, expected `paths` or `tokenizer`";
        assert_eq!(suggestion(far), "");
        assert_eq!(suggestion("missing field `work`"), "");
    }

    #[test]
    fn the_committed_configs_parse() {
        let mixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("mixtures");
        for name in ["fixtures.toml", "gpu-template.toml", "cpu-small.toml"] {
            let config = PipelineConfig::read(&mixtures.join(name)).unwrap();
            assert!(config.regmix.is_some(), "{name}");
            assert_eq!(config.doremi.is_some(), name != "cpu-small.toml", "{name}");
            assert_eq!(config.weights_from().unwrap(), WeightsFrom::Regmix);
        }
    }

    /// Closed sets are typed: a value outside them fails the read, naming it, before any stage runs.
    #[test]
    fn closed_sets_are_refused_when_the_config_is_read() {
        let mixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("mixtures");
        let fixtures = std::fs::read_to_string(mixtures.join("fixtures.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "device = \"cpu\"",
                "device = \"tpu\"",
                "`tpu` is not a device",
            ),
            (
                "from = \"regmix\"",
                "from = \"optimum\"",
                "unknown variant `optimum`",
            ),
            (
                "[corpus]\n",
                "[corpus]\ndomain_from = \"meta.x\"\n",
                "column:DOT.PATH",
            ),
            (
                "[manifest]\n",
                "[executor]\ntasks = { trian = 2 }\n\n[manifest]\n",
                "unknown variant `trian`",
            ),
        ];
        let path = dir.path().join("config.toml");
        for (from, to, expected) in cases {
            assert!(fixtures.contains(from), "{from}");
            std::fs::write(&path, fixtures.replacen(from, to, 1)).unwrap();
            let error = format!("{:#}", PipelineConfig::read(&path).unwrap_err());
            assert!(error.contains(expected), "{to}: {error}");
        }
        // `from = "doremi"` without a [doremi] section.
        let (before, rest) = fixtures.split_once("\n[doremi]").unwrap();
        let after = &rest[rest.find("\n[manifest]").unwrap()..];
        let without =
            format!("{before}{after}").replacen("from = \"regmix\"", "from = \"doremi\"", 1);
        std::fs::write(&path, without).unwrap();
        let error = format!("{:#}", PipelineConfig::read(&path).unwrap_err());
        assert!(error.contains("no [doremi] section"), "{error}");
    }
}
