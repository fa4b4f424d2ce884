//! Where `remix run` runs its stages: here (`local`), or as job arrays on a Slurm cluster (`slurm`,
//! [`super::slurm`]), and which task of a split stage one process is.
//!
//! A stage with `tasks = N` runs as N independent tasks; task `i` takes a deterministic slice of the
//! stage's work and writes its own part and marker, and a reduce step (the stage run once more as one
//! task) joins the parts. A process learns its task from `--task I/N`, or from `--tasks N` and the
//! array index the scheduler sets: `SLURM_ARRAY_TASK_ID` (Slurm job arrays) or `JOB_COMPLETION_INDEX`
//! (Kubernetes indexed Jobs), so any array scheduler can run remix. A split stage runs in [`phases`],
//! each a set of tasks that reads what the one before wrote: stats in one (task `i` aggregates its row
//! groups), train in one (task `i` trains candidates `i, i + N, ...`), dedup in four
//! ([`crate::dedup::tasks`]), tokenize in three ([`crate::tokenize::tasks`]); every other stage runs
//! as one task.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PipelineStage;

/// A phase of a split stage: a `split` phase runs as the stage's N tasks, the others as one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub split: bool,
}

impl Phase {
    /// Tasks of this phase when its stage has `count`.
    pub fn tasks(self, count: usize) -> usize {
        if self.split { count } else { 1 }
    }
}

const fn phase(name: &'static str, split: bool) -> Phase {
    Phase { name, split }
}

/// The phases a split stage runs before the stage itself (run as one task) joins their output, in
/// order; empty for a stage that does not split. Stats: its row groups in N tasks. Train: its
/// candidates in N tasks. Dedup and tokenize: the phases of [`crate::dedup::tasks`] and
/// [`crate::tokenize::tasks`].
pub fn phases(stage: PipelineStage) -> &'static [Phase] {
    const ONE: &[Phase] = &[phase("tasks", true)];
    const DEDUP: &[Phase] = &[
        phase("signatures", true),
        phase("buckets", true),
        phase("clusters", false),
        phase("filter", true),
    ];
    const TOKENIZE: &[Phase] = &[
        phase("hashes", true),
        phase("split", false),
        phase("encode", true),
    ];
    match stage {
        PipelineStage::Stats | PipelineStage::Train => ONE,
        PipelineStage::Tokenize => TOKENIZE,
        PipelineStage::Dedup => DEDUP,
        _ => &[],
    }
}

/// The phase of `stage` named `name`, or its only phase when `name` is `None`. Errors: no such phase,
/// or no name for a stage of several.
pub fn find_phase(stage: PipelineStage, name: Option<&str>) -> Result<Phase> {
    let all = phases(stage);
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

/// One task of a stage split into `count`: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSlice {
    pub index: usize,
    pub count: usize,
}

impl TaskSlice {
    /// The task from `--tasks N` and the scheduler's array index (`SLURM_ARRAY_TASK_ID`, else
    /// `JOB_COMPLETION_INDEX`). Errors: neither variable set, or an index outside `0..N`.
    pub fn from_env(count: usize) -> Result<Self> {
        let (name, value) = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
            .iter()
            .find_map(|name| std::env::var(name).ok().map(|v| (*name, v)))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--tasks {count} takes the task index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, and \
                     neither is set: run it as an array job, or give --task I/{count}"
                )
            })?;
        let index: usize = value
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={value} is not a task index"))?;
        Self::new(index, count)
    }

    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            bail!("task {index}/{count} is not a task: use I/N with 0 <= I < N");
        }
        Ok(Self { index, count })
    }

    /// `00001-of-00003`: the name of the task's part and marker.
    pub fn file_name(self) -> String {
        format!("{:05}-of-{:05}", self.index, self.count)
    }
}

impl FromStr for TaskSlice {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("--task {text}: write I/N, as 0/4"))?;
        let parse = |part: &str| -> Result<usize> {
            part.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--task {text}: write I/N, as 0/4"))
        };
        Self::new(parse(index)?, parse(count)?)
    }
}

impl fmt::Display for TaskSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

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
    pub tasks: BTreeMap<String, usize>,
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
        self.tasks.get(stage.name()).copied().unwrap_or(1)
    }

    /// Errors: a task count for a stage that does not exist, is zero, or names a stage that does not
    /// split.
    pub fn check(&self) -> Result<()> {
        for (name, &count) in &self.tasks {
            let Some(stage) = PipelineStage::ALL.into_iter().find(|s| s.name() == name) else {
                bail!(
                    "[executor] tasks names `{name}`, which is not a stage ({})",
                    PipelineStage::ALL.map(PipelineStage::name).join(", ")
                );
            };
            if count == 0 {
                bail!("[executor] tasks: {name} = 0; a stage runs as at least one task");
            }
            if count > 1 && phases(stage).is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_slices_parse_and_refuse_what_is_not_a_task() {
        let task: TaskSlice = "2/5".parse().unwrap();
        assert_eq!((task.index, task.count), (2, 5));
        assert_eq!(task.file_name(), "00002-of-00005");
        for bad in ["5/5", "1/0", "x/2", "3"] {
            assert!(bad.parse::<TaskSlice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_splittable_stages_take_more_than_one_task() {
        let mut section = ExecutorSection::default();
        section.tasks.insert("train".into(), 8);
        section.check().unwrap();
        assert_eq!(section.tasks(PipelineStage::Train), 8);
        assert_eq!(section.tasks(PipelineStage::Fit), 1);
        section.tasks.insert("fit".into(), 3);
        assert!(
            section
                .check()
                .unwrap_err()
                .to_string()
                .contains("does not split")
        );
        section.tasks.remove("fit");
        section.tasks.insert("trian".into(), 2);
        assert!(
            section
                .check()
                .unwrap_err()
                .to_string()
                .contains("not a stage")
        );
    }
}
