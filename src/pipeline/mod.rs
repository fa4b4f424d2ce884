//! `remix run CONFIG.toml`: every stage the config enables, in order, in one work directory.
//!
//! The stages and what they leave in `WORK/`:
//!
//! | stage | writes |
//! | --- | --- |
//! | stats | `stats/` (per-domain statistics of the corpus, as `remix stats` writes them; not with `[tokens.import]`) |
//! | dedup | `dedup/` (when `[dedup]` is there) |
//! | tokenize | `tokens/`: the corpus tokenized, or with `[tokens.import]` the token files indexed in place |
//! | sample | `mixtures.parquet` (RegMix's candidates) |
//! | train | `runs/runs.parquet` |
//! | fit | `fit/model.json`, `fit/report.json` |
//! | simulate | `fit/optimum.json` |
//! | doremi | `doremi/weights.json` (when `[doremi]` is there) |
//! | validate | `validate/results.json` (when `[validate]` is there): the manifest's mixture, built in memory, at a larger scale |
//! | manifest | `mixtures/<name>.json` (the validation in its evidence) and its exports |
//! | report | `report.html` |
//!
//! Each stage is a spec in its own file under `stages/` ([`spec::StageSpec`]: what it reads and writes, its
//! settings, its phases, its run), registered in one list; [`plan`] decides from the specs what runs, and
//! the executors (local, [`slurm`]) walk the list.
//!
//! Stats, dedup, tokenize and train split into array tasks with `[executor] tasks` ([`executor`]):
//! their tasks work in `WORK/stats-tasks/`, `WORK/dedup-tasks/`, `WORK/tokenize-tasks/` and
//! `WORK/runs/tasks/`, leave markers in `WORK/pipeline/<stage>/<phase>/`, and the stage joins their
//! output into the artifacts above, the same as one process writes.
//!
//! After a stage finishes, the pipeline writes its completion marker `WORK/pipeline/<stage>/_done.json`:
//! the hash of the stage's settings and the digests of its inputs, which are the markers of the stages
//! it reads from and any files from outside (corpus, tokenizer). A stage is skipped when its marker
//! matches and its outputs are there, so a changed setting or a re-run upstream stage re-runs it and
//! everything after it. The marker is removed before a stage starts, so a stage killed half-way runs
//! again; proxy training resumes from the runs already in its table.

mod checks;
pub mod config;
pub mod context;
pub mod disk;
pub mod estimate;
pub mod executor;
mod local;
mod plan;
pub mod schema;
pub mod slurm;
pub mod spec;
mod stage;
pub mod stages;

pub use config::PipelineConfig;
pub use local::{RunOptions, RunSummary, StageOutcome, StageStatus, run, run_task};
pub use stage::PipelineStage;

/// The training cost of the config at `path` on this machine ([`estimate::estimate`]), on the device
/// its `[proxy] device` resolves to. Errors: an unreadable config or tokenizer, a proxy shape that
/// cannot train.
pub fn estimate_config(path: &std::path::Path) -> anyhow::Result<estimate::Estimate> {
    let config = stages::read_config(path)?;
    let device = config.proxy.device.resolve()?;
    estimate::estimate(&config, &device, &PipelineStage::ALL)?
        .ok_or_else(|| anyhow::anyhow!(estimate::VOCABULARY_UNKNOWN))
}
