//! The stages of `remix run`, one spec a file ([`StageSpec`]), registered in [`SPECS`] in the order they
//! run. A new stage is a file here, its line in [`SPECS`], and its name in
//! [`PipelineStage`](super::stage::PipelineStage); the plan and the executors only walk the list.
//!
//! Split stages ([`StageSpec::phases`]): stats in one phase (task `i` aggregates its row groups), train
//! in one (task `i` trains candidates `i, i + N, ...`), dedup in four ([`crate::data::dedup::tasks`]), cluster in two
//! ([`crate::data::cluster::tasks`]),
//! tokenize in three ([`crate::data::tokenize::tasks`]); every other stage runs as one task.

mod cluster;
mod dedup;
mod doremi;
mod fit;
mod manifest;
mod report;
mod sample;
mod simulate;
mod stats;
mod tokenize;
mod train;
mod validate;

use std::path::Path;

use anyhow::{Result, bail};

use super::config::PipelineConfig;
use super::executor::ExecutorSection;
use super::spec::{Phase, StageSpec};
use super::stage::PipelineStage;
pub use manifest::manifest_files;

/// Every stage's spec, in the order [`PipelineStage::ALL`] lists the stages.
pub const SPECS: [&dyn StageSpec; 12] = [
    &stats::Stats,
    &dedup::Dedup,
    &cluster::Cluster,
    &tokenize::Tokenize,
    &sample::Sample,
    &train::Train,
    &fit::Fit,
    &simulate::Simulate,
    &doremi::Doremi,
    &validate::Validate,
    &manifest::Manifest,
    &report::Report,
];

/// The spec of `stage` ([`SPECS`] follows [`PipelineStage::ALL`]'s order, which a test holds).
pub fn spec(stage: PipelineStage) -> &'static dyn StageSpec {
    SPECS[stage as usize]
}

/// The phases a split stage runs before the stage itself (run as one task) joins their output, in
/// order; empty for a stage that does not split.
pub fn phases(stage: PipelineStage) -> &'static [Phase] {
    spec(stage).phases()
}

/// The phases `stage` runs under `config` ([`StageSpec::phases_for`]).
pub fn phases_for(stage: PipelineStage, config: &PipelineConfig) -> &'static [Phase] {
    spec(stage).phases_for(config)
}

/// The phase of `stage` under `config` named `name`, or its only phase when `name` is `None`. Errors:
/// no such phase, or no name for a stage of several.
pub fn find_phase(
    stage: PipelineStage,
    config: &PipelineConfig,
    name: Option<&str>,
) -> Result<Phase> {
    let all = phases_for(stage, config);
    let names = || all.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
    match (name, all) {
        (_, []) => bail!(
            "the {} stage does not split into tasks: run it as one (tasks = 1)",
            stage.name()
        ),
        (None, [one]) => Ok(*one),
        (None, _) => bail!(
            "the {} stage runs its tasks in phases ({}): name one with --phase",
            stage.name(),
            names()
        ),
        (Some(name), _) => all.iter().copied().find(|p| p.name == name).ok_or_else(|| {
            anyhow::anyhow!(
                "--phase {name}: the {} stage's phases are {}",
                stage.name(),
                names()
            )
        }),
    }
}

/// The stages that split into tasks.
pub fn splittable() -> Vec<PipelineStage> {
    PipelineStage::ALL
        .into_iter()
        .filter(|&s| !phases(s).is_empty())
        .collect()
}

/// Errors: `[executor] tasks` splitting a stage that does not split.
pub fn check_tasks(section: &ExecutorSection) -> Result<()> {
    for (&stage, &count) in &section.tasks {
        if count > 1 && phases(stage).is_empty() {
            let name = stage.name();
            bail!(
                "[executor] tasks: {name} = {count}, but {name} does not split into tasks yet (only {} do); \
                 leave it at 1",
                splittable()
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

/// Reads and checks the pipeline config at `path` ([`PipelineConfig::read`]), its `[executor] tasks`
/// against the stages that split included.
pub fn read_config(path: &Path) -> Result<PipelineConfig> {
    let config = PipelineConfig::read(path)?;
    check_tasks(&config.executor).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tasks::TaskSlice;
    use crate::manifest::WeightsFrom;
    use crate::pipeline::context::Context;

    fn fixtures_config() -> PipelineConfig {
        PipelineConfig::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mixtures/fixtures.toml"))
            .unwrap()
    }

    /// A phase name a stage does not have is an error, never another phase's work.
    #[test]
    fn a_phase_a_stage_does_not_have_is_refused() {
        let config = fixtures_config();
        let cx = Context::new(&config);
        let task = TaskSlice::new(0, 2).unwrap();
        for stage in splittable() {
            let error = spec(stage)
                .run_task(&cx, Phase::new("nope", true), task, true)
                .unwrap_err();
            assert!(
                error.to_string().contains("has no phase `nope`"),
                "{stage:?}: {error}"
            );
        }
        let error = spec(PipelineStage::Fit)
            .run_task(&cx, Phase::new("tasks", true), task, true)
            .unwrap_err();
        assert!(error.to_string().contains("does not split"), "{error}");
    }

    /// Where the manifest's weights come from is an error when the config leaves it open, never a
    /// guess.
    #[test]
    fn the_manifest_reads_the_stage_its_weights_come_from() {
        let mut config = fixtures_config();
        let reads = spec(PipelineStage::Manifest).reads(&config).unwrap();
        use PipelineStage::{Doremi, Simulate, Tokenize, Validate};
        assert_eq!(reads, [Tokenize, Simulate, Validate]);
        config.manifest.from = Some(WeightsFrom::Doremi);
        let reads = spec(PipelineStage::Manifest).reads(&config).unwrap();
        assert_eq!(reads, [Tokenize, Doremi, Validate]);
        config.doremi = None;
        assert!(spec(PipelineStage::Manifest).reads(&config).is_err());
    }

    #[test]
    fn one_spec_per_stage_in_order() {
        for (spec, stage) in SPECS.iter().zip(PipelineStage::ALL) {
            assert_eq!(spec.stage(), stage);
        }
        assert_eq!(SPECS.len(), PipelineStage::ALL.len());
    }

    #[test]
    fn only_splittable_stages_take_more_than_one_task() {
        let mut section = ExecutorSection::default();
        section.tasks.insert(PipelineStage::Train, 8);
        check_tasks(&section).unwrap();
        assert_eq!(section.tasks(PipelineStage::Train), 8);
        assert_eq!(section.tasks(PipelineStage::Fit), 1);
        section.tasks.insert(PipelineStage::Fit, 3);
        assert!(
            check_tasks(&section)
                .unwrap_err()
                .to_string()
                .contains("does not split")
        );
        section.tasks.insert(PipelineStage::Fit, 0);
        assert!(
            section
                .check()
                .unwrap_err()
                .to_string()
                .contains("at least one task")
        );
        let misspelt = toml::from_str::<ExecutorSection>("tasks = { trian = 2 }").unwrap_err();
        assert!(
            misspelt.to_string().contains("unknown variant `trian`"),
            "{misspelt}"
        );
    }

    #[test]
    fn phases_are_found_by_name_and_unknown_ones_refused() {
        let mut config = fixtures_config();
        let train = |config: &PipelineConfig, name| {
            find_phase(PipelineStage::Train, config, name).map(|p| p.name)
        };
        assert_eq!(train(&config, None).unwrap(), "tasks");
        assert_eq!(
            find_phase(PipelineStage::Dedup, &config, Some("buckets"))
                .unwrap()
                .name,
            "buckets"
        );
        assert!(find_phase(PipelineStage::Dedup, &config, None).is_err());
        assert!(find_phase(PipelineStage::Dedup, &config, Some("encode")).is_err());
        assert!(find_phase(PipelineStage::Fit, &config, None).is_err());
        // With rounds, a proposal and a round of tasks per later round.
        let regmix = config.regmix.as_mut().unwrap();
        regmix.rounds = Some(toml::from_str("candidates = [10, 4, 4]").unwrap());
        let names: Vec<&str> = (phases_for(PipelineStage::Train, &config).iter())
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            ["tasks", "propose-2", "round-2", "propose-3", "round-3"]
        );
        assert_eq!(train(&config, Some("round-3")).unwrap(), "round-3");
        assert!(train(&config, Some("round-4")).is_err());
        assert!(train(&config, None).is_err());
    }
}
