//! Where `remix run` runs its stages ([`Executor`]): here (`local`), or as job arrays on a Slurm cluster
//! (`slurm`, [`super::slurm`]); and the `[executor]` section: how the stages split into tasks and what
//! each Slurm job asks for.
//!
//! A stage with `tasks = N` runs as N independent tasks; task `i` takes a deterministic slice of the
//! stage's work and writes its own part and marker, and a reduce step (the stage run once more as one
//! task) joins the parts. A process learns its task from `--task I/N`, or from `--tasks N` and the
//! array index the scheduler sets: `SLURM_ARRAY_TASK_ID` (Slurm job arrays) or `JOB_COMPLETION_INDEX`
//! (Kubernetes indexed Jobs), so any array scheduler can run remix. A split stage runs in phases
//! ([`super::spec::StageSpec::phases`]), each a set of tasks that reads what the one before wrote.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stage::PipelineStage;

/// Where the stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Executor {
    /// Every stage in this process, one after another.
    #[default]
    Local,
    /// Each stage a Slurm job array, chained with `--dependency=afterok`.
    Slurm,
}

/// `[executor]`: how the stages split and what each Slurm job asks for. None of it changes a result:
/// markers do not hash it, and a run with other tasks or resources gives the same artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorSection {
    /// Tasks per stage, as `{ stats = 8, dedup = 8, tokenize = 8, train = 8 }`; a stage not named runs
    /// as one task. Only those four split today.
    pub tasks: BTreeMap<PipelineStage, usize>,
    /// `--partition`. Default: the cluster's default partition.
    pub partition: Option<String>,
    /// `--account`. Default: the user's default account.
    pub account: Option<String>,
    /// `--cpus-per-task`. Default 2: a proxy's CPU step and a stage's reader threads.
    pub cpus_per_task: u32,
    /// `--mem`, as `8G`. Default: the partition's default.
    pub mem: Option<String>,
    /// `--time`, as `04:00:00`. Default: the partition's limit.
    pub time: Option<String>,
    /// `--gpus-per-task` for the stages that train (train, doremi, validate). Default none.
    pub gpus_per_task: Option<u32>,
    /// More `sbatch` arguments for every job, as `["--qos=low"]`.
    pub sbatch_args: Vec<String>,
    /// Seconds between two looks at the queue. Default 10: light on the controller, and a stage lasts
    /// minutes.
    pub poll_seconds: u64,
}

impl Default for ExecutorSection {
    fn default() -> Self {
        Self {
            tasks: BTreeMap::new(),
            partition: None,
            account: None,
            cpus_per_task: 2,
            mem: None,
            time: None,
            gpus_per_task: None,
            sbatch_args: Vec::new(),
            poll_seconds: 10,
        }
    }
}

impl ExecutorSection {
    /// Tasks of `stage` (1 when not named).
    pub fn tasks(&self, stage: PipelineStage) -> usize {
        self.tasks.get(&stage).copied().unwrap_or(1)
    }

    /// Errors: a task count of zero, a line break in a value, no poll interval. (A stage name that is
    /// not a stage is refused when the config is read; whether a stage splits is the stages' to say:
    /// [`super::stages::check_tasks`].)
    pub fn check(&self) -> Result<()> {
        for (stage, &count) in &self.tasks {
            if count == 0 {
                bail!(
                    "[executor] tasks: {} = 0; a stage runs as at least one task",
                    stage.name()
                );
            }
        }
        let values = [&self.partition, &self.account, &self.mem, &self.time];
        let texts = values.into_iter().flatten().chain(&self.sbatch_args);
        if let Some(bad) = texts
            .into_iter()
            .find(|t| t.contains('\n') || t.contains('\r'))
        {
            bail!("[executor] {bad:?} holds a line break, which would end its #SBATCH line");
        }
        if self.poll_seconds == 0 {
            bail!("[executor] poll_seconds must be at least 1");
        }
        Ok(())
    }
}
