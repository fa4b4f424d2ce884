//! The slice of a split stage's work that one task takes: task `index` of `count`, from `--task I/N`, or
//! from `--tasks N` and the array index a scheduler sets (`SLURM_ARRAY_TASK_ID` for Slurm job arrays,
//! `JOB_COMPLETION_INDEX` for Kubernetes indexed Jobs). Each task names its part and marker by
//! [`TaskSlice::file_name`].

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};

/// One task of a stage split into `count`: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSlice {
    pub index: usize,
    pub count: usize,
}

impl TaskSlice {
    /// The whole stage in one task: `0/1`.
    pub const WHOLE: TaskSlice = TaskSlice { index: 0, count: 1 };

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
        let wrong = || anyhow::anyhow!("`{text}` is not a task: write I/N with 0 <= I < N, as 0/4");
        let (index, count) = text.split_once('/').ok_or_else(wrong)?;
        let parse = |part: &str| -> Result<usize> { part.trim().parse().map_err(|_| wrong()) };
        Self::new(parse(index)?, parse(count)?)
    }
}

impl fmt::Display for TaskSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
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
}
