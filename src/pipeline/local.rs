//! The local executor: `remix run` runs every stage the config enables in this process, one after
//! another ([`run`]), or one task of a split stage as an array job runs it ([`run_task`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use super::config::PipelineConfig;
use super::plan::Plan;
use super::stage::PipelineStage;
use super::stages::{find_phase, read_config};
use crate::core::tasks::TaskSlice;
use crate::core::workdir::read_json;
use crate::manifest::Manifest;
use crate::report::answer::Answer;

/// Which stages to consider: `from..=until`, and those to re-run even when their marker matches.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub from: Option<PipelineStage>,
    pub until: Option<PipelineStage>,
    pub force: Vec<PipelineStage>,
    /// Start training even when the estimate passes `[run] max_hours`.
    pub yes: bool,
}

impl RunOptions {
    /// Errors: `--from` after `--until`.
    pub fn check(&self) -> Result<()> {
        if let (Some(from), Some(until)) = (self.from, self.until)
            && from > until
        {
            bail!(
                "--from {} comes after --until {}: the stages run in the order {}",
                from.name(),
                until.name(),
                PipelineStage::ALL.map(PipelineStage::name).join(", ")
            );
        }
        Ok(())
    }
}

/// What happened to one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub stage: PipelineStage,
    pub status: StageStatus,
    pub seconds: f64,
}

/// Whether a stage ran in a `remix run`, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Ran,
    /// Its marker matched its settings and inputs.
    Skipped,
    /// Before `--from` or after `--until`.
    Outside,
    /// The config does not enable it.
    Disabled,
    /// Enabled, but this run does not need it (mixture reuse after domains were only removed).
    NotNeeded,
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that `{:<10}` in the run's table aligns.
        f.pad(match self {
            StageStatus::Ran => "ran",
            StageStatus::Skipped => "skipped",
            StageStatus::Outside => "outside",
            StageStatus::Disabled => "disabled",
            StageStatus::NotNeeded => "not needed",
        })
    }
}

/// The result of `remix run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub work: PathBuf,
    pub stages: Vec<StageOutcome>,
    /// The manifest and its exports, when the manifest stage is done.
    pub manifest: Vec<PathBuf>,
    pub report: Option<PathBuf>,
    /// The chosen mixture beside natural and uniform, its predicted loss, the validation verdict and
    /// the warnings, when the manifest stage is done.
    pub answer: Option<Answer>,
}

/// Runs task `task` of `phase` (a name; `None` for a stage of one phase) of `stage` of the config at
/// `config_path` (a split stage, as an array task runs it): the upstream stages must be done. Errors: a
/// stage that does not split, no such phase, a task count other than the phase's under the config's
/// `[executor] tasks`.
pub fn run_task(
    config_path: &Path,
    stage: PipelineStage,
    phase: Option<&str>,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    let config = read_config(config_path)?;
    let phase = find_phase(stage, &config, phase)?;
    let configured = phase.tasks(config.executor.tasks(stage));
    if task.count != configured {
        bail!(
            "task {task} of {} {}, but the config runs that phase as {configured} task(s): submit with `remix run \
             --executor slurm`, which reads [executor] tasks",
            stage.name(),
            phase.name
        );
    }
    crate::core::lock::check_free(&config.work)?;
    let plan = Plan::new(&config);
    plan.check_inputs(stage)?;
    if !quiet {
        eprintln!("remix run: {} {} task {task}", stage.name(), phase.name);
    }
    plan.run_task(stage, phase, task, quiet)
}

/// Runs the pipeline of the config at `config_path`.
pub fn run(config_path: &Path, options: &RunOptions, quiet: bool) -> Result<RunSummary> {
    let config = read_config(config_path)?;
    options.check()?;
    let _lock = crate::core::lock::WorkLock::acquire(&config.work)?;
    let plan = Plan::new(&config);
    // The stages that will run: enabled and in --from..--until, and not done (or forced) or reading
    // one that will run; those that train are costed.
    let mut will_run: Vec<PipelineStage> = Vec::new();
    for stage in PipelineStage::ALL {
        if not_run(&plan, options, stage, false)?.is_some() {
            continue;
        }
        let stale = not_run(&plan, options, stage, true)?.is_none();
        if stale || plan.upstream(stage)?.iter().any(|s| will_run.contains(s)) {
            will_run.push(stage);
        }
    }
    let pending: Vec<PipelineStage> = will_run
        .into_iter()
        .filter(|s| s.trains_proxies())
        .collect();
    // The cost is measured now when the vocabulary is known (a tokenizer, or tokens already there),
    // else once the import has read the token files, before the first proxy trains.
    let trains = pending.iter().any(|s| *s != PipelineStage::Sample);
    let mut gated = !trains || cost_gate(&plan, &pending, options, config_path, quiet)?;
    if !gated {
        tracing::info!(
            "the proxies' vocabulary is known once the token files are imported: their cost is measured then"
        );
    }
    let mut outcomes = Vec::new();
    let mut checked = false;
    for stage in PipelineStage::ALL {
        let started = Instant::now();
        let status = if let Some(status) = not_run(&plan, options, stage, true)? {
            status
        } else {
            plan.check_inputs(stage)?;
            if !checked && stage.trains_proxies() {
                plan.check_before_training()?;
                if !gated {
                    gated = cost_gate(&plan, &pending, options, config_path, quiet)?;
                }
                checked = true;
            }
            tracing::info!(stage = stage.name(), "running");
            if !quiet {
                eprintln!("remix run: {}", stage.name());
            }
            plan.run(stage, quiet)?;
            StageStatus::Ran
        };
        outcomes.push(StageOutcome {
            stage,
            status,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    summary(&config, &plan, outcomes)
}

/// Prints the training cost of `pending` ([`Plan::estimate`]) unless `quiet`; false when it cannot be
/// measured yet (the vocabulary is not known). Errors: a cost over `[run] max_hours` without `--yes`.
fn cost_gate(
    plan: &Plan,
    pending: &[PipelineStage],
    options: &RunOptions,
    config_path: &Path,
    quiet: bool,
) -> Result<bool> {
    let Some(estimate) = plan.estimate(pending)? else {
        return Ok(false);
    };
    if !quiet {
        eprint!("{}", estimate.text());
    }
    let limit = plan.config().run.max_hours;
    if estimate.hours > limit && !options.yes {
        bail!(
            "the proxies would train for about {:.1} hours on this machine ({}), more than [run] max_hours \
             = {limit}: pass --yes to start anyway, raise [run] max_hours, or make the run smaller \
             ([regmix.sample] candidates, [proxy.train] train_tokens); `remix plan {}` shows the parts",
            estimate.hours,
            estimate.device,
            config_path.display()
        );
    }
    Ok(true)
}

/// Why `stage` does not run, if it does not: `disabled` by the config, `outside` `--from`..`--until`, or
/// `skipped` because its marker matches (looked at only when `markers_count`: once a stage before it has
/// been submitted to run, a later stage's marker says nothing of the inputs it will get).
pub(super) fn not_run(
    plan: &Plan,
    options: &RunOptions,
    stage: PipelineStage,
    markers_count: bool,
) -> Result<Option<StageStatus>> {
    Ok(if !plan.enabled(stage) {
        Some(StageStatus::Disabled)
    } else if options.from.is_some_and(|f| stage < f) || options.until.is_some_and(|u| stage > u) {
        Some(StageStatus::Outside)
    } else if let Some(why) = plan.not_needed(stage)? {
        tracing::info!(stage = stage.name(), reason = %why, "not needed");
        Some(StageStatus::NotNeeded)
    } else if markers_count && !options.force.contains(&stage) && plan.is_done(stage)? {
        tracing::info!(stage = stage.name(), "marker matches: skipped");
        Some(StageStatus::Skipped)
    } else {
        None
    })
}

/// The summary of a run: its stages, and the manifest and report when their stages are done.
pub(super) fn summary(
    config: &PipelineConfig,
    plan: &Plan,
    stages: Vec<StageOutcome>,
) -> Result<RunSummary> {
    let (manifest, answer) = if plan.is_done(PipelineStage::Manifest)? {
        let files = plan.manifest_files()?;
        let document: Manifest = read_json(&files[0], "the manifest stage writes it")?;
        (files, Some(Answer::of(&document)))
    } else {
        (Vec::new(), None)
    };
    let report = plan
        .is_done(PipelineStage::Report)?
        .then(|| plan.report_path());
    Ok(RunSummary {
        work: config.work.clone(),
        stages,
        manifest,
        report,
        answer,
    })
}
