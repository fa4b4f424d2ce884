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
