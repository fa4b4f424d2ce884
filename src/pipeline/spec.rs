//! One stage of `remix run` as a spec ([`StageSpec`]): what it reads, what it writes, the settings hashed
//! into its marker, the phases its tasks run in when it splits, and the calls that run it. Each stage's
//! spec is one file in [`super::stages`], registered in one list there; the plan
//! ([`super::plan`]) and the executors (local, Slurm) only walk that list.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::config::PipelineConfig;
use super::context::Context;
use super::stage::PipelineStage;
use crate::core::tasks::TaskSlice;

/// A phase of a split stage: a `split` phase runs as the stage's N tasks, the others as one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub split: bool,
}

impl Phase {
    pub const fn new(name: &'static str, split: bool) -> Self {
        Self { name, split }
    }

    /// Tasks of this phase when its stage has `count`.
    pub fn tasks(self, count: usize) -> usize {
        if self.split { count } else { 1 }
    }
}

/// Counts a task leaves in its marker, by name.
pub type TaskCounts = Vec<(&'static str, u64)>;

/// A pipeline stage: everything the plan needs to decide whether it runs, and to run it.
pub trait StageSpec: Sync {
    /// Which stage this is.
    fn stage(&self) -> PipelineStage;

    /// Whether the config runs this stage.
    fn enabled(&self, config: &PipelineConfig) -> bool;

    /// The stages whose output it reads; the plan keeps those the config enables. Errors: a config
    /// that leaves the choice open (checked when the config is read).
    fn reads(&self, config: &PipelineConfig) -> Result<Vec<PipelineStage>>;

    /// Files from outside the work directory it reads (the corpus, the tokenizer, token files, a
    /// reference mixture), hashed into its marker. Default none.
    fn external_inputs(&self, _cx: &Context) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }

    /// What it must have left for it to count as done.
    fn outputs(&self, cx: &Context) -> Vec<PathBuf>;

    /// Why this run does not need it though the config enables it, as said in the log (mixture reuse
    /// after domains were only removed: no proxy, fit or simulation); `None` (the default) when it
    /// runs.
    fn not_needed(&self, _cx: &Context) -> Result<Option<String>> {
        Ok(None)
    }

    /// The settings that decide its result, as hashed into its marker.
    fn settings(&self, cx: &Context) -> Result<Value>;

    /// The phases its tasks run in, in order, when `[executor] tasks` splits it; empty for a stage that
    /// runs as one task.
    fn phases(&self) -> &'static [Phase] {
        &[]
    }

    /// The phases under `config`: [`Self::phases`], and for a stage whose phases depend on the config
    /// (the train stage: a proposal and a round of tasks per later round of the search) the ones it
    /// sets. The executors run these.
    fn phases_for(&self, _config: &PipelineConfig) -> &'static [Phase] {
        self.phases()
    }

    /// The file a finished task of `phase` must still have, and the count in its marker that says it
    /// wrote one (a task with nothing to do writes none). Default none.
    fn task_output(
        &self,
        _cx: &Context,
        _phase: Phase,
        _task: TaskSlice,
    ) -> Option<(&'static str, PathBuf)> {
        None
    }

    /// Runs the stage in this process: the whole work, or the join of its tasks' output when `tasks`
    /// says they all finished.
    fn run(&self, cx: &Context, tasks: &StageTasks, quiet: bool) -> Result<()>;

    /// Runs task `task` of `phase` and returns the counts for its marker. Errors: a stage that does not
    /// split (the default), a phase it does not have.
    fn run_task(
        &self,
        _cx: &Context,
        _phase: Phase,
        _task: TaskSlice,
        _quiet: bool,
    ) -> Result<TaskCounts> {
        bail!(
            "the {} stage does not split into tasks: run it as one (tasks = 1)",
            self.stage().name()
        )
    }
}

/// The error for a phase name a stage does not have.
pub fn unknown_phase(spec: &dyn StageSpec, phase: Phase) -> anyhow::Error {
    let names: Vec<&str> = spec.phases().iter().map(|p| p.name).collect();
    anyhow::anyhow!(
        "the {} stage has no phase `{}`; its phases are {}",
        spec.stage().name(),
        phase.name,
        names.join(", ")
    )
}

/// A split stage's tasks as its run sees them: whether every task of its last phase finished (then the
/// run joins their output instead of doing the work), and removing what they left.
pub struct StageTasks<'a> {
    stage: PipelineStage,
    count: usize,
    marker_dir: PathBuf,
    phases: &'static [Phase],
    finished: &'a dyn Fn() -> Result<bool>,
}

impl<'a> StageTasks<'a> {
    /// The tasks of `stage`, `count` of them (`[executor] tasks`), whose markers are in phase folders
    /// under `marker_dir`; `finished` says whether every task of the last phase finished with the
    /// stage's current settings.
    pub fn new(
        stage: PipelineStage,
        count: usize,
        marker_dir: PathBuf,
        phases: &'static [Phase],
        finished: &'a dyn Fn() -> Result<bool>,
    ) -> Self {
        Self {
            stage,
            count,
            marker_dir,
            phases,
            finished,
        }
    }

    /// The stage's task count.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether every task of the last phase has finished, so that the stage joins what the tasks wrote
    /// instead of doing the work in one process (and says so unless `quiet`). The phases' markers are
    /// removed either way, before the join touches their files: a join that fails half-way leaves the
    /// next run to do the stage in one process, never to join a half-moved output again.
    pub fn join(&self, quiet: bool) -> Result<bool> {
        let joins = (self.finished)()?;
        self.remove_leftovers(None)?;
        if joins && !quiet {
            eprintln!(
                "remix run: {}: joining the output of its {} tasks",
                self.stage.name(),
                self.count
            );
        }
        Ok(joins)
    }

    /// The run of a split stage: `join` the tasks' output when every task finished ([`Self::join`]),
    /// else `run` the whole work in this process; then remove what the tasks left, their `parts`
    /// folder included.
    pub fn join_or_run<A, B>(
        &self,
        quiet: bool,
        parts: &Path,
        join: impl FnOnce() -> Result<A>,
        run: impl FnOnce() -> Result<B>,
    ) -> Result<()> {
        if self.join(quiet)? {
            join()?;
        } else {
            run()?;
        }
        self.remove_leftovers(Some(parts))
    }

    /// Removes what the tasks left: their markers, and the folder of their `parts` when given (with any
    /// part a crashed task left).
    pub fn remove_leftovers(&self, parts: Option<&Path>) -> Result<()> {
        let marker_dirs = self
            .phases
            .iter()
            .map(|phase| self.marker_dir.join(phase.name));
        for dir in marker_dirs.chain(parts.map(Path::to_path_buf)) {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        Ok(())
    }
}
