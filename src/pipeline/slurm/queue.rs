//! Reading a job array's state back from Slurm: `scontrol show job` parsed into one [`Element`] per
//! array task, with its state and exit code.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// One element of a job array as `scontrol` shows it.
pub(super) struct Element {
    pub(super) task: usize,
    pub(super) state: String,
    pub(super) reason: String,
    pub(super) exit_code: String,
}

impl Element {
    /// Ended without completing, or waiting on a job that failed (Slurm leaves such a job pending).
    pub(super) fn failed(&self) -> bool {
        matches!(
            self.state.as_str(),
            "FAILED"
                | "CANCELLED"
                | "TIMEOUT"
                | "NODE_FAIL"
                | "OUT_OF_MEMORY"
                | "BOOT_FAIL"
                | "DEADLINE"
        ) || (self.state == "PENDING" && self.reason == "DependencyNeverSatisfied")
    }
}

/// The elements of job `id`; empty when the controller no longer knows it.
pub(super) fn states(id: &str) -> Result<Vec<Element>> {
    // A busy controller times out now and then: a few tries before giving up on it.
    let mut tries = 0;
    loop {
        let output = Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output()
            .context("cannot run scontrol (part of Slurm's client tools)")?;
        if output.status.success() {
            return Ok(parse_states(&String::from_utf8_lossy(&output.stdout)));
        }
        let err = String::from_utf8_lossy(&output.stderr);
        if err.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        tries += 1;
        if tries == 5 {
            bail!(
                "scontrol show job {id} failed 5 times: {}. The jobs go on without a watcher; once they end, \
                 `remix run --executor slurm` again submits only what left no marker",
                err.trim()
            );
        }
        std::thread::sleep(Duration::from_secs(2 * tries));
    }
}

/// Parses `scontrol show job -o` lines: one per array element, or one for a pending range
/// (`ArrayTaskId=0-2`, counted as each of its tasks).
pub(super) fn parse_states(text: &str) -> Vec<Element> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
                .unwrap_or("")
                .to_string()
        };
        let state = field("JobState");
        let reason = field("Reason");
        let exit_code = field("ExitCode");
        let Some(indices) = task_ids(&field("ArrayTaskId")) else {
            continue;
        };
        for task in indices {
            out.push(Element {
                task,
                state: state.clone(),
                reason: reason.clone(),
                exit_code: exit_code.clone(),
            });
        }
    }
    out
}

/// The task ids of `ArrayTaskId`: `3`, `0-7`, `1-7:2`, lists of them, an optional `%limit`; `None` when
/// it is none of these.
pub(super) fn task_ids(field: &str) -> Option<Vec<usize>> {
    let list = field.split('%').next()?;
    let mut ids = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((range, step)) => (range, step.parse::<usize>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        match range.split_once('-') {
            Some((a, b)) => {
                ids.extend((a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?).step_by(step))
            }
            None => ids.push(range.parse().ok()?),
        }
    }
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_and_task_ranges() {
        let text = "JobId=12 ArrayJobId=10 ArrayTaskId=2 JobState=CANCELLED Reason=None ExitCode=0:15\n\
                    JobId=10 ArrayJobId=10 ArrayTaskId=0-1,4%2 JobState=PENDING Reason=Priority ExitCode=0:0\n\
                    JobId=13 ArrayJobId=13 ArrayTaskId=N/A JobState=PENDING Reason=Priority ExitCode=0:0\n";
        assert_eq!(task_ids("1-7:2"), Some(vec![1, 3, 5, 7]));
        assert_eq!(task_ids("0,5-6%1"), Some(vec![0, 5, 6]));
        let elements = parse_states(text);
        let tasks: Vec<(usize, &str)> = elements
            .iter()
            .map(|e| (e.task, e.state.as_str()))
            .collect();
        assert_eq!(
            tasks,
            [
                (2, "CANCELLED"),
                (0, "PENDING"),
                (1, "PENDING"),
                (4, "PENDING")
            ]
        );
        assert!(elements[0].failed() && !elements[1].failed());
        assert_eq!(elements[0].exit_code, "0:15");
    }
}
