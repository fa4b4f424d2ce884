//! `remix run CONFIG --executor slurm`: each stage a Slurm job array, chained with
//! `--dependency=afterok`, over a work directory every node shares.
//!
//! The submitter decides what to run as `remix run` does: stages whose marker matches are skipped, and
//! once one stage runs, every enabled stage after it runs too (its inputs change). A split stage
//! ([`super::stages::phases`], `[executor] tasks`) is one array per phase (`remix run --from S
//! --until S --tasks N --phase P`, the index from `SLURM_ARRAY_TASK_ID`), each after the one before,
//! and then the stage itself as one job, which joins the tasks' parts and writes the stage's marker;
//! every other stage is one job (`remix run --from S --until S`). Only the tasks without a matching
//! marker are submitted, and once a phase has work every task of the phases after it runs too, so a
//! re-run after a failure or a cancelled task submits what is missing and what reads it.
//!
//! The submitter then watches the jobs (`scontrol show job`, every `poll_seconds`) and prints a line
//! whenever a stage's count of finished tasks changes. A task that ends in any state but COMPLETED stops
//! the pipeline: the jobs after it are cancelled, and the error names the stage, the task, its job id
//! and its log (`WORK/slurm/logs/<stage>-<job>_<task>.log`). Every job first checks that it sees the
//! file the submitter wrote in `WORK/slurm/`: a work directory that is not on a filesystem the nodes
//! share fails there, with a message that says so. `--dry-run` prints the `sbatch` commands and scripts
//! and submits nothing.

mod queue;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::core::lock::{LOCK_ENV, WorkLock};
use anyhow::{Context, Result, bail};

use super::executor::ExecutorSection;
use super::local::{RunOptions, RunSummary, StageOutcome, StageStatus, not_run, summary};
use super::plan::Plan;
use super::spec::Phase;
use super::stage::PipelineStage;
use super::stages::{phases_for, read_config};
use crate::core::tasks::TaskSlice;
use queue::states;

/// One job array to submit.
struct Job {
    stage: PipelineStage,
    /// `Some((phase, N))`: a phase of a split stage in N tasks, of which `indices` are submitted;
    /// `None`: the stage itself.
    tasks: Option<(Phase, usize)>,
    indices: Vec<usize>,
    script: PathBuf,
    /// The job id once submitted.
    id: Option<String>,
    /// Elements seen finished and running at the last look, and when the job finished.
    seen: (usize, usize),
    done_at: Option<Instant>,
}

impl Job {
    fn label(&self) -> String {
        match self.tasks {
            Some((phase, n)) => format!("{} {} (of {n})", self.stage.name(), phase.name),
            None => self.stage.name().to_string(),
        }
    }
}

/// Runs the pipeline of `config_path` on Slurm. Errors: `sbatch` missing, a submission refused, a task
/// that does not complete (its log named), and every error `remix run` gives before a stage starts.
pub fn run(
    config_path: &Path,
    options: &RunOptions,
    quiet: bool,
    dry_run: bool,
) -> Result<RunSummary> {
    // Read through the path the jobs get, so that WORK resolves the same for both.
    let config_path = config_path
        .canonicalize()
        .with_context(|| format!("cannot read the pipeline config {}", config_path.display()))?;
    let config = read_config(&config_path)?;
    options.check()?;
    let plan = Plan::new(&config);
    // Held while the jobs run; they carry its id and run under it (a dry run submits nothing).
    let lock = (!dry_run)
        .then(|| WorkLock::acquire(&config.work))
        .transpose()?;
    let lock_id = lock
        .as_ref()
        .map_or("<the submitter's lock id>", |l| l.id());
    let exe = std::env::current_exe().context("cannot find the remix executable to submit")?;
    let executor = &config.executor;
    let slurm_dir = absolute(&config.work)?.join("slurm");
    let logs = slurm_dir.join("logs");
    let scripts = slurm_dir.join("scripts");

    // What to submit.
    let mut outcomes = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut rerun = false;
    for stage in PipelineStage::ALL {
        if let Some(status) = not_run(&plan, options, stage, !rerun)? {
            outcomes.push(StageOutcome {
                stage,
                status,
                seconds: 0.0,
            });
            continue;
        }
        if !rerun {
            plan.check_inputs(stage)?;
        }
        let count = executor.tasks(stage);
        // Once a phase has work, every task of the phases after it has too: they read what it writes.
        let mut phase_rerun = rerun || options.force.contains(&stage);
        for &phase in phases_for(stage, &config).iter().filter(|_| count > 1) {
            let n = phase.tasks(count);
            let mut indices = Vec::new();
            for index in 0..n {
                if phase_rerun || !plan.task_done(stage, phase, TaskSlice::new(index, n)?)? {
                    indices.push(index);
                }
            }
            if !indices.is_empty() {
                phase_rerun = true;
                jobs.push(Job {
                    stage,
                    tasks: Some((phase, n)),
                    indices,
                    script: scripts.join(format!("{}.sh", stem(stage, Some(phase)))),
                    id: None,
                    seen: (0, 0),
                    done_at: None,
                });
            }
        }
        jobs.push(Job {
            stage,
            tasks: None,
            indices: vec![0],
            script: scripts.join(format!("{}.sh", stem(stage, None))),
            id: None,
            seen: (0, 0),
            done_at: None,
        });
        rerun = true;
    }

    // The file every job must see: the work directory is shared.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let shared = slurm_dir.join(format!("submitted-{stamp}"));
    let force: Vec<PipelineStage> = options.force.clone();
    let mut texts = Vec::new();
    for job in &jobs {
        texts.push(script(
            job,
            &exe,
            &config_path,
            &shared,
            lock_id,
            executor,
            force.contains(&job.stage),
        ));
    }
    if dry_run {
        for (i, (job, text)) in jobs.iter().zip(&texts).enumerate() {
            let dependency = if i == 0 {
                String::new()
            } else {
                format!(" --dependency=afterok:<job of {}>", jobs[i - 1].label())
            };
            println!(
                "# {}\nsbatch --parsable --job-name=remix-{} --output={} --array={}{dependency} {}\n{text}",
                job.label(),
                log_stem(job),
                shell_quote(&log_pattern(&logs, job).display().to_string()),
                array(&job.indices),
                job.script.display()
            );
        }
        if jobs.is_empty() {
            println!("# nothing to submit: every stage is done");
        }
        return summary(&config, &plan, outcomes);
    }
    if jobs.is_empty() {
        return summary(&config, &plan, outcomes);
    }
    sbatch_version()?;
    for dir in [&logs, &scripts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::core::workdir::write_atomic(
        &shared,
        b"written by the submitter of remix run --executor slurm\n",
    )?;
    let mut previous: Option<String> = None;
    let mut submitted: Vec<String> = Vec::new();
    for (job, text) in jobs.iter_mut().zip(&texts) {
        crate::core::workdir::write_atomic(&job.script, text.as_bytes())?;
        let mut sbatch = Command::new("sbatch");
        sbatch
            .arg("--parsable")
            .arg(format!("--job-name=remix-{}", log_stem(job)))
            .arg(format!("--output={}", log_pattern(&logs, job).display()))
            .arg(format!("--array={}", array(&job.indices)));
        if let Some(previous) = &previous {
            sbatch.arg(format!("--dependency=afterok:{previous}"));
        }
        let output = sbatch
            .arg(&job.script)
            .output()
            .context("cannot run sbatch")?;
        if !output.status.success() {
            cancel(&submitted);
            bail!(
                "sbatch refused {} ({}): {}",
                job.script.display(),
                job.label(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let id = String::from_utf8_lossy(&output.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        tracing::info!(stage = job.stage.name(), job = %id, tasks = ?job.indices, "submitted");
        if !quiet {
            eprintln!(
                "remix run: submitted {} as job {id} (array {})",
                job.label(),
                array(&job.indices)
            );
        }
        job.id = Some(id.clone());
        submitted.push(id.clone());
        previous = Some(id);
    }

    // Watch until the last job completes or one task fails.
    let started = Instant::now();
    let poll = Duration::from_secs(executor.poll_seconds);
    loop {
        let mut all_done = true;
        for j in 0..jobs.len() {
            if jobs[j].done_at.is_some() {
                continue;
            }
            let id = jobs[j].id.clone().unwrap_or_default();
            let elements = states(&id)?;
            // Each submitted task: its element, or, when the controller no longer lists it (finished
            // and purged, or cancelled while pending), its marker.
            let (mut finished, mut running, mut failure) = (0, 0, None);
            for &task in &jobs[j].indices {
                match elements.iter().find(|e| e.task == task) {
                    Some(e) if e.failed() => {
                        failure = Some((task, e.state.clone(), e.exit_code.clone()));
                    }
                    Some(e) if e.state == "COMPLETED" => finished += 1,
                    Some(e) if e.state == "RUNNING" => running += 1,
                    Some(_) => {}
                    None if task_left_marker(&plan, &jobs[j], task)? => finished += 1,
                    None => {
                        failure = Some((
                            task,
                            "gone from the queue without its marker (cancelled while pending, or lost)".into(),
                            "none".into(),
                        ));
                    }
                }
            }
            if let Some((task, state, exit_code)) = failure {
                let later: Vec<String> =
                    jobs[j + 1..].iter().filter_map(|l| l.id.clone()).collect();
                cancel(&later);
                // The jobs before it, and its other tasks, finish their work (their markers count on
                // the next run) before the submitter returns.
                let earlier: Vec<String> = jobs[..=j].iter().filter_map(|l| l.id.clone()).collect();
                while earlier
                    .iter()
                    .map(|id| states(id))
                    .collect::<Result<Vec<_>>>()?
                    .iter()
                    .flatten()
                    .any(|e| !e.failed() && e.state != "COMPLETED")
                {
                    std::thread::sleep(poll);
                }
                let job = &jobs[j];
                let which = match job.tasks {
                    Some((phase, n)) => format!("{} task {task} of {n}", phase.name),
                    None => "its one task".to_string(),
                };
                bail!(
                    "the {} stage failed: {which} (job {id}_{task}) ended {state} (exit code {exit_code}); its log is {}. \
                     The jobs after it were cancelled; run `remix run {} --executor slurm` again to submit what did not \
                     finish",
                    job.stage.name(),
                    logs.join(format!("{}-{id}_{task}.log", log_stem(job)))
                        .display(),
                    config_path.display()
                );
            }
            if (finished, running) != jobs[j].seen {
                jobs[j].seen = (finished, running);
                if !quiet {
                    eprintln!(
                        "remix run: {}: {finished}/{} done, {running} running ({:.0} s)",
                        jobs[j].label(),
                        jobs[j].indices.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            if finished >= jobs[j].indices.len() {
                jobs[j].done_at = Some(Instant::now());
            } else {
                all_done = false;
            }
        }
        if all_done {
            break;
        }
        std::thread::sleep(poll);
    }
    // A stage's time: from the end of the job before it to the end of its own.
    let mut since = started;
    for job in &jobs {
        let done = job.done_at.unwrap_or(since);
        if job.tasks.is_none() {
            outcomes.push(StageOutcome {
                stage: job.stage,
                status: StageStatus::Ran,
                seconds: done.duration_since(since).as_secs_f64(),
            });
            since = done;
        }
    }
    outcomes.sort_by_key(|o| o.stage);
    summary(&config, &plan, outcomes)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current folder")?
            .join(path)
    })
}

/// Cancels the jobs `ids`, ignoring what has already ended.
fn cancel(ids: &[String]) {
    if !ids.is_empty() {
        let _ = Command::new("scancel").args(ids).output();
    }
}

/// `0-2`, or `1,3` for the tasks left to do.
fn array(indices: &[usize]) -> String {
    match indices {
        [one] => one.to_string(),
        [first, .., last] if last - first + 1 == indices.len() => format!("{first}-{last}"),
        _ => indices
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `WORK/slurm/logs/<stage>-%A_%a.log`: a task's log, by array job and task.
fn log_pattern(logs: &Path, job: &Job) -> PathBuf {
    logs.join(format!("{}-%A_%a.log", log_stem(job)))
}

fn log_stem(job: &Job) -> String {
    stem(job.stage, job.tasks.map(|(phase, _)| phase))
}

/// `train-tasks`, `dedup-signatures`, or the stage's name for the stage itself: the name of a job's
/// script and log.
fn stem(stage: PipelineStage, phase: Option<Phase>) -> String {
    match phase {
        Some(phase) => format!("{}-{}", stage.name(), phase.name),
        None => stage.name().to_string(),
    }
}

/// The batch script of a job.
fn script(
    job: &Job,
    exe: &Path,
    config: &Path,
    shared: &Path,
    lock_id: &str,
    executor: &ExecutorSection,
    force: bool,
) -> String {
    let quote = |p: &Path| shell_quote(&p.display().to_string());
    let mut text = String::from("#!/bin/bash\n");
    let mut directive = |line: String| {
        let _ = writeln!(text, "#SBATCH {line}");
    };
    directive("--ntasks=1".into());
    directive(format!("--cpus-per-task={}", executor.cpus_per_task));
    if let Some(partition) = &executor.partition {
        directive(format!("--partition={partition}"));
    }
    if let Some(account) = &executor.account {
        directive(format!("--account={account}"));
    }
    if let Some(mem) = &executor.mem {
        directive(format!("--mem={mem}"));
    }
    if let Some(time) = &executor.time {
        directive(format!("--time={time}"));
    }
    if let Some(gpus) = executor.gpus_per_task
        && matches!(
            job.stage,
            PipelineStage::Train | PipelineStage::Doremi | PipelineStage::Validate
        )
    {
        directive(format!("--gpus-per-task={gpus}"));
    }
    for arg in &executor.sbatch_args {
        directive(arg.clone());
    }
    let _ = writeln!(
        text,
        "set -eu\nif [ ! -e {shared} ]; then\n  echo 'remix: this node does not see' {shared} 'which the submitter wrote: the \
         work directory must be on a filesystem every node shares (NFS, Lustre, GPFS...)' >&2\n  exit 3\nfi",
        shared = quote(shared)
    );
    // The job runs under the submitter's work-directory lock instead of contending for it.
    let _ = writeln!(text, "export {LOCK_ENV}={}", shell_quote(lock_id));
    let stage = job.stage.name();
    let mut command = format!(
        "exec {} run {} --quiet --from {stage} --until {stage}",
        quote(exe),
        quote(config)
    );
    if let Some((phase, count)) = job.tasks {
        let _ = write!(command, " --tasks {count} --phase {}", phase.name);
    } else if force {
        let _ = write!(command, " --force {stage}");
    }
    // The cost was the submitter's decision ([run] max_hours), not the job's.
    command.push_str(" --yes");
    text.push_str(&command);
    text.push('\n');
    text
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn sbatch_version() -> Result<()> {
    match Command::new("sbatch").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => bail!(
            "sbatch --version failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "sbatch is not on PATH: --executor slurm submits with Slurm's sbatch (Debian and Ubuntu package \
             slurm-client; slurm-wlm for a whole node). Install it, or run with --executor local"
        ),
        Err(e) => Err(e).context("cannot run sbatch"),
    }
}

/// Whether task `task` of a job the controller no longer lists left its marker.
fn task_left_marker(plan: &Plan, job: &Job, task: usize) -> Result<bool> {
    match job.tasks {
        Some((phase, count)) => plan.task_done(job.stage, phase, TaskSlice::new(task, count)?),
        None => plan.is_done(job.stage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_task_indices() {
        assert_eq!(array(&[0, 1, 2]), "0-2");
        assert_eq!(array(&[1, 3]), "1,3");
        assert_eq!(array(&[4]), "4");
    }
}
