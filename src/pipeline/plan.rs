//! The plan of a `remix run`: for each stage of [`super::stages::SPECS`], whether it is enabled, the
//! files it reads (the markers of the stages before it and its external inputs), whether its marker
//! matches so it can be skipped, and running it or one of its tasks with the markers written after.
//! Nothing here knows a particular stage.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use super::config::PipelineConfig;
use super::context::Context;
use super::spec::{Phase, StageTasks};
use super::stage::PipelineStage;
use super::stages::{manifest_files, spec};
use crate::core::tasks::TaskSlice;
use crate::core::workdir::DoneMarker;

/// The stages of one config over its work directory.
pub struct Plan<'a> {
    cx: Context<'a>,
}

impl<'a> Plan<'a> {
    pub fn new(config: &'a PipelineConfig) -> Self {
        Self {
            cx: Context::new(config),
        }
    }

    pub fn config(&self) -> &PipelineConfig {
        self.cx.config
    }

    pub fn enabled(&self, stage: PipelineStage) -> bool {
        spec(stage).enabled(self.cx.config)
    }

    /// The enabled stages whose output `stage` reads.
    pub fn upstream(&self, stage: PipelineStage) -> Result<Vec<PipelineStage>> {
        let reads = spec(stage).reads(self.cx.config)?;
        Ok(reads.into_iter().filter(|s| self.enabled(*s)).collect())
    }

    /// Why this run does not need `stage` though the config enables it ([`super::spec::StageSpec::not_needed`]).
    pub fn not_needed(&self, stage: PipelineStage) -> Result<Option<String>> {
        spec(stage).not_needed(&self.cx)
    }

    /// The upstream stages this run needs: what a stage reads the markers of.
    fn needed_upstream(&self, stage: PipelineStage) -> Result<Vec<PipelineStage>> {
        let mut needed = Vec::new();
        for up in self.upstream(stage)? {
            if self.not_needed(up)?.is_none() {
                needed.push(up);
            }
        }
        Ok(needed)
    }

    /// The files a stage reads: the markers of its upstream stages (those this run needs) and its
    /// files from outside the work directory.
    fn inputs(&self, stage: PipelineStage) -> Result<Vec<PathBuf>> {
        let mut inputs: Vec<PathBuf> = self
            .needed_upstream(stage)?
            .into_iter()
            .map(|s| self.cx.marker_path(s))
            .collect();
        inputs.extend(spec(stage).external_inputs(&self.cx)?);
        Ok(inputs)
    }

    fn expected_marker(&self, stage: PipelineStage) -> Result<DoneMarker> {
        let settings = spec(stage).settings(&self.cx)?;
        DoneMarker::named(stage.name(), &settings, &self.inputs(stage)?)
    }

    /// Where task `task` of `phase` of `stage` leaves its marker.
    fn task_marker_dir(&self, stage: PipelineStage, phase: Phase, task: TaskSlice) -> PathBuf {
        self.cx
            .marker_dir(stage)
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
            &spec(stage).settings(&self.cx)?,
            &self.inputs(stage)?,
        )
    }

    /// Whether task `task` of `phase` of `stage` has finished with the stage's current settings and
    /// inputs, its output still there.
    pub fn task_done(&self, stage: PipelineStage, phase: Phase, task: TaskSlice) -> Result<bool> {
        let Some(marker) = DoneMarker::read(&self.task_marker_dir(stage, phase, task))? else {
            return Ok(false);
        };
        if let Some((count, output)) = spec(stage).task_output(&self.cx, phase, task) {
            let wrote = marker
                .counts
                .get(count)
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            if wrote > 0 && !output.exists() {
                return Ok(false);
            }
        }
        Ok(match self.expected_task_marker(stage, phase, task) {
            Ok(expected) => marker.matches(&expected),
            Err(e) => {
                tracing::info!(
                    stage = stage.name(),
                    phase = phase.name,
                    task = %task,
                    reason = %format!("{e:#}"),
                    "its inputs cannot be read: the task counts as not done"
                );
                false
            }
        })
    }

    /// Whether every task of the last phase of `stage` finished (never for a stage run as one task).
    fn phases_done(&self, stage: PipelineStage) -> Result<bool> {
        let count = self.cx.config.executor.tasks(stage);
        let Some(&last) = spec(stage).phases_for(self.cx.config).last() else {
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

    /// Whether the stage's marker matches its settings and inputs and its outputs are there.
    pub fn is_done(&self, stage: PipelineStage) -> Result<bool> {
        let Some(marker) = DoneMarker::read(&self.cx.marker_dir(stage))? else {
            return Ok(false);
        };
        if !spec(stage).outputs(&self.cx).iter().all(|p| p.exists()) {
            return Ok(false);
        }
        // An input that cannot be hashed (gone while an upstream stage re-runs) means not done: the
        // stage runs again once its inputs are back, and says why here.
        Ok(match self.expected_marker(stage) {
            Ok(expected) => marker.matches(&expected),
            Err(e) => {
                tracing::info!(
                    stage = stage.name(),
                    reason = %format!("{e:#}"),
                    "its inputs cannot be read: counted as not done"
                );
                false
            }
        })
    }

    /// Fails with the stage to run first when an upstream stage has not finished.
    pub fn check_inputs(&self, stage: PipelineStage) -> Result<()> {
        for up in self.needed_upstream(stage)? {
            if !self.cx.marker_path(up).exists() {
                bail!(
                    "the {} stage reads what the {} stage writes, and {} has not finished in {}: run it \
                     first (`remix run CONFIG --from {}`, or without --from)",
                    stage.name(),
                    up.name(),
                    up.name(),
                    self.cx.work.root().display(),
                    up.name()
                );
            }
        }
        Ok(())
    }

    /// The training cost of `stages` on the proxies' device ([`super::estimate`]); only their models
    /// are timed.
    /// `None` while the vocabulary is not known (token files not imported yet).
    pub fn estimate(&self, stages: &[PipelineStage]) -> Result<Option<super::estimate::Estimate>> {
        super::estimate::estimate(self.cx.config, self.cx.device()?, stages)
    }

    /// The checks made once the token index exists and before any proxy trains
    /// ([`super::checks::before_training`]). Errors: the first mistake found, naming its config key.
    pub fn check_before_training(&self) -> Result<()> {
        super::checks::before_training(&self.cx)
    }

    /// Runs one stage and writes its marker.
    pub fn run(&self, stage: PipelineStage, quiet: bool) -> Result<()> {
        let spec = spec(stage);
        let marker_dir = self.cx.marker_dir(stage);
        DoneMarker::clear(&marker_dir)?;
        let finished = || self.phases_done(stage);
        let tasks = StageTasks::new(
            stage,
            self.cx.config.executor.tasks(stage),
            marker_dir.clone(),
            spec.phases_for(self.cx.config),
            &finished,
        );
        spec.run(&self.cx, &tasks, quiet)?;
        self.expected_marker(stage)?.write(&marker_dir)
    }

    /// Runs one task of a phase of a split stage and writes its marker; the markers of the later phases
    /// go first, since their work read what this task rewrites. The stage itself finishes when
    /// [`Self::run`] joins the parts. Errors: a phase the stage does not have, a task of the phase
    /// before that has not finished.
    pub fn run_task(
        &self,
        stage: PipelineStage,
        phase: Phase,
        task: TaskSlice,
        quiet: bool,
    ) -> Result<()> {
        let spec = spec(stage);
        let all = spec.phases_for(self.cx.config);
        let Some(at) = all.iter().position(|p| p.name == phase.name) else {
            return Err(super::spec::unknown_phase(spec, phase));
        };
        // What this phase reads must be the finished work of every task of the phase before.
        if let Some(&before) = at.checked_sub(1).and_then(|i| all.get(i)) {
            let count = before.tasks(self.cx.config.executor.tasks(stage));
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
            let dir = self.cx.marker_dir(stage).join(later.name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        let mut marker = self.expected_task_marker(stage, phase, task)?;
        for (name, count) in spec.run_task(&self.cx, phase, task, quiet)? {
            marker = marker.with_count(name, count);
        }
        marker.write(&marker_dir)
    }

    /// The manifest and its exports as they are on disk.
    pub fn manifest_files(&self) -> Result<Vec<PathBuf>> {
        manifest_files(&self.cx)
    }

    pub fn report_path(&self) -> PathBuf {
        self.cx.report_path()
    }
}
