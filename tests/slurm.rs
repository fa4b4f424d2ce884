//! `remix run --executor slurm` against a real Slurm: the one-node cluster `scripts/slurm-local.sh start`
//! brings up from Debian's slurm-wlm and munge, which `.ci/run` starts, setting `REMIX_SLURM=1`. Without it
//! (a development machine) the cluster tests say so and do nothing; the dry run and the missing-sbatch
//! error need no cluster.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The small fixtures pipeline with its training domains clustered into 2 topic domains (`[cluster]`), the stats,
/// dedup, cluster, tokenize and train stages split into 3 tasks, in `dir/run.toml`.
fn config(dir: &Path) -> PathBuf {
    let rest = "[cluster]\nk = 2\n\n\
                [manifest]\nname = \"fx\"\ntrain_tokens = 1000000\nexports = [\"megatron\"]\n\n\
                [executor]\ntasks = { stats = 3, dedup = 3, cluster = 3, tokenize = 3, train = 3 }\ncpus_per_task = 1\npoll_seconds = 1\n";
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("run.toml");
    fs::write(
        &path,
        small_pipeline(&fixtures().join("corpus"), 2000, rest),
    )
    .unwrap();
    path
}

fn slurm() -> bool {
    let on = std::env::var("REMIX_SLURM").is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "skipping: REMIX_SLURM is not 1 (.ci/run starts a one-node Slurm with scripts/slurm-local.sh)"
        );
    }
    on
}

/// What `remix run --executor slurm --dry-run` prints for [`config`] in `dir`.
fn dry_run(dir: &Path) -> String {
    let config = config(dir);
    let args = [
        "run",
        config.to_str().unwrap(),
        "--executor",
        "slurm",
        "--dry-run",
    ];
    let output = remix(dir, &args);
    assert_ok(&output);
    stdout(&output)
}

#[test]
fn a_dry_run_prints_each_stage_as_a_chained_array() {
    let dir = tempfile::tempdir().unwrap();
    let out = dry_run(dir.path());
    assert!(
        out.contains("sbatch --parsable --job-name=remix-stats --output='")
            && out.contains("/work/slurm/logs/stats-%A_%a.log' --array=0 "),
        "{out}"
    );
    assert!(
        out.contains("--array=0-2 --dependency=afterok:<job of sample>"),
        "{out}"
    );
    assert!(
        out.contains("--from train --until train --tasks 3"),
        "{out}"
    );
    assert!(
        out.contains("--dependency=afterok:<job of train tasks (of 3)>"),
        "{out}"
    );
    assert!(
        out.contains("--from dedup --until dedup --tasks 3 --phase signatures"),
        "{out}"
    );
    assert!(
        out.contains("--array=0 --dependency=afterok:<job of dedup buckets (of 3)>")
            && out.contains("--from dedup --until dedup --tasks 1 --phase clusters"),
        "{out}"
    );
    assert!(out.contains("#SBATCH --cpus-per-task=1"), "{out}");
    assert!(
        !dir.path().join("work").exists(),
        "a dry run writes nothing"
    );
}

/// A node that does not see the work directory: the batch script checks for the file the submitter
/// writes in `WORK/slurm/` before it runs remix. A dry run writes no such file, so its first script, run
/// as a node would run it, must stop with the message and exit code 3.
#[test]
fn a_job_that_cannot_see_the_work_directory_says_it_must_be_shared() {
    let dir = tempfile::tempdir().unwrap();
    let out = dry_run(dir.path());
    let start = out.find("#!/bin/bash").unwrap();
    let end = start + out[start..].find("\nexec ").unwrap();
    let line_end = end + 1 + out[end + 1..].find('\n').unwrap();
    let script = dir.path().join("first.sh");
    fs::write(&script, &out[start..line_end]).unwrap();
    let ran = Command::new("bash").arg(&script).output().unwrap();
    assert_eq!(ran.status.code(), Some(3), "{}", stderr(&ran));
    assert!(
        stderr(&ran).contains("must be on a filesystem every node shares"),
        "{}",
        stderr(&ran)
    );
}

#[test]
fn without_sbatch_the_error_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["run", config.to_str().unwrap(), "--executor", "slurm"])
        .env("PATH", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("sbatch") && err.contains("slurm-client"),
        "{err}"
    );
}

fn manifest_weights(work: &Path) -> Vec<(String, f64)> {
    manifest_weights_at(&work.join("mixtures/fx.json"))
}

/// The files of a folder and their bytes, for the artifacts that must not depend on the executor.
fn contents(dir: &Path, under: &str) -> Vec<(String, Vec<u8>)> {
    files_under(&dir.join(under))
        .into_iter()
        .filter(|f| f.ends_with(".bin") || f.ends_with(".idx") || f.ends_with(".parquet"))
        .map(|f| {
            let bytes = fs::read(dir.join(under).join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// Each domain's training and validation token streams, read across every file of the domain.
fn streams(work: &Path) -> Vec<(String, Vec<u32>, Vec<u32>)> {
    let dir = work.join("tokens");
    let index = remix::data::tokens::TokensIndex::read(&dir).unwrap();
    let all = |shard: remix::data::tokens::read::TokenShard| {
        let mut tokens = vec![0u32; shard.tokens() as usize];
        shard.read(0, &mut tokens);
        tokens
    };
    index
        .domains
        .iter()
        .map(|d| {
            let train = remix::data::tokens::read::TokenShard::training(d, &dir).unwrap();
            let val = remix::data::tokens::read::TokenShard::validation(d, &dir).unwrap();
            (d.domain.clone(), all(train), all(val))
        })
        .collect()
}

/// The ids of the queue's jobs named `name` that are pending.
fn pending(name: &str) -> Option<String> {
    let out = Command::new("squeue")
        .args(["-h", "-n", name, "-t", "PENDING", "-o", "%F"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

#[test]
fn a_slurm_run_equals_a_local_run_and_a_cancelled_task_is_submitted_again() {
    if !slurm() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let config_local = config(&local);
    assert_ok(&remix(
        &local,
        &["run", "--quiet", config_local.to_str().unwrap()],
    ));

    let on_slurm = dir.path().join("slurm");
    let config_slurm = config(&on_slurm);
    let output = remix(
        &on_slurm,
        &["run", config_slurm.to_str().unwrap(), "--executor", "slurm"],
    );
    assert_ok(&output);
    let log = stderr(&output);
    assert!(log.contains("train tasks (of 3): 3/3 done"), "{log}");
    assert!(log.contains("dedup filter (of 3): 3/3 done"), "{log}");
    assert!(log.contains("stats tasks (of 3): 3/3 done"), "{log}");
    assert!(log.contains("tokenize encode (of 3): 3/3 done"), "{log}");
    assert!(log.contains("cluster assign (of 3): 3/3 done"), "{log}");
    let (a, b) = (local.join("work"), on_slurm.join("work"));
    assert_eq!(
        contents(&a, "cluster"),
        contents(&b, "cluster"),
        "the topic domains' parts"
    );
    // The same clusters; the documents they show name files under each run's own work directory.
    let clusters = |work: &Path| {
        fs::read_to_string(work.join("cluster/clusters.json"))
            .unwrap()
            .replace(&work.display().to_string(), "WORK")
    };
    assert_eq!(clusters(&a), clusters(&b));
    assert_eq!(manifest_weights(&a), manifest_weights(&b));
    assert_eq!(streams(&a), streams(&b), "token streams");
    assert!(
        files_under(&b.join("tokens"))
            .iter()
            .any(|f| f.ends_with("-of-00003.bin")),
        "the tokenize tasks' shards"
    );
    assert_eq!(
        contents(&a, "dedup"),
        contents(&b, "dedup"),
        "the dedup kept set"
    );
    assert_eq!(
        fs::read(a.join("dedup/stats.json")).unwrap(),
        fs::read(b.join("dedup/stats.json")).unwrap()
    );
    assert_eq!(
        fs::read(a.join("stats/stats.json")).unwrap(),
        fs::read(b.join("stats/stats.json")).unwrap()
    );
    // The runs table: same runs in the same order with the same losses (wall times aside).
    let runs = |work: &Path| {
        let table = remix::regmix::runs::read_runs(&work.join("runs/runs.parquet")).unwrap();
        table
            .runs
            .into_iter()
            .map(|r| (r.run_id, r.weights, r.losses))
            .collect::<Vec<_>>()
    };
    assert_eq!(runs(&a), runs(&b), "the runs tables");

    // Cancel task 1 of the dedup buckets array while it waits for the signatures: the run stops,
    // naming it.
    let killed = dir.path().join("killed");
    let config_killed = config(&killed);
    let child = Command::new(env!("CARGO_BIN_EXE_remix"))
        .args([
            "run",
            config_killed.to_str().unwrap(),
            "--executor",
            "slurm",
        ])
        .current_dir(&killed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let array = loop {
        if let Some(id) = pending("remix-dedup-buckets") {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the buckets array never queued"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let cancelled = Command::new("scancel")
        .arg(format!("{array}_1"))
        .status()
        .unwrap();
    assert!(cancelled.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        !output.status.success(),
        "the run went on past a cancelled task"
    );
    let err = stderr(&output);
    assert!(
        err.contains("buckets task 1 of 3")
            && err.contains(&format!("dedup-buckets-{array}_1.log")),
        "{err}"
    );
    // Run again: only task 1 of buckets is submitted, then the phases and stages that read it, and the
    // result is the local one.
    let output = remix(
        &killed,
        &[
            "run",
            config_killed.to_str().unwrap(),
            "--executor",
            "slurm",
        ],
    );
    assert_ok(&output);
    let log = stderr(&output);
    assert!(
        log.contains("submitted dedup buckets (of 3) as job") && log.contains("(array 1)"),
        "only the cancelled task: {log}"
    );
    assert!(!log.contains("submitted dedup signatures"), "{log}");
    assert!(
        log.contains("submitted dedup filter (of 3) as job"),
        "{log}"
    );
    assert_eq!(manifest_weights(&a), manifest_weights(&killed.join("work")));
    assert_eq!(
        contents(&a, "dedup"),
        contents(&killed.join("work"), "dedup"),
        "the dedup kept set after the re-run"
    );
}

/// Any array scheduler: the train stage's tasks run one by one through `--task I/N` and `--tasks N` with
/// `JOB_COMPLETION_INDEX` (a Kubernetes indexed Job's), more tasks than candidates (the extra ones finish
/// with nothing to do), and a plain `remix run` joins them: the same manifest as a run without tasks.
#[test]
fn tasks_run_by_any_scheduler_join_into_the_local_result() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let config_whole = config(&whole);
    assert_ok(&remix(
        &whole,
        &["run", "--quiet", config_whole.to_str().unwrap()],
    ));

    let split = dir.path().join("split");
    let config_split = config(&split);
    // 8 candidates (6 sampled, natural, uniform) in 10 tasks.
    let text = fs::read_to_string(&config_split)
        .unwrap()
        .replace("train = 3 }", "train = 10 }");
    fs::write(&config_split, text).unwrap();
    let path = config_split.to_str().unwrap();
    assert_ok(&remix(
        &split,
        &["run", "--quiet", path, "--until", "sample"],
    ));
    let stage = ["--from", "train", "--until", "train", "--quiet"];
    let early = remix(
        &split,
        &[&["run", path, "--task", "0/3"][..], &stage].concat(),
    );
    assert!(
        stderr(&early).contains("runs that phase as 10 task(s)"),
        "{}",
        stderr(&early)
    );
    for task in 0..10 {
        let output = if task % 2 == 0 {
            remix(
                &split,
                &[&["run", path, "--task", &format!("{task}/10")][..], &stage].concat(),
            )
        } else {
            Command::new(env!("CARGO_BIN_EXE_remix"))
                .args([&["run", path, "--tasks", "10"][..], &stage].concat())
                .env("JOB_COMPLETION_INDEX", task.to_string())
                .current_dir(&split)
                .output()
                .unwrap()
        };
        assert_ok(&output);
    }
    let parts = files_under(&split.join("work/runs/tasks"));
    assert_eq!(
        parts.len(),
        8,
        "the two tasks past the candidates wrote nothing: {parts:?}"
    );
    let output = remix(&split, &["run", path]);
    assert_ok(&output);
    assert_eq!(
        manifest_weights(&whole.join("work")),
        manifest_weights(&split.join("work"))
    );
}
