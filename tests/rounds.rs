//! The search in rounds (`[regmix.rounds]`): later rounds' proxies are drawn around the optimum of every
//! run before them, append to the one runs table with their round, resume without retraining, are
//! proposed again when the fit's settings change, and run the same on Slurm with every round split into
//! tasks.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// The small pipeline with rounds of 4 (+ natural and uniform), 3 and 3 proxies, and `rest` after it.
fn rounds_pipeline(rest: &str) -> String {
    small_pipeline(
        &fixtures().join("corpus"),
        2000,
        &format!("\n[regmix.rounds]\ncandidates = [4, 3, 3]\n\n[manifest]\nname = \"rounds\"\ntrain_tokens = 1000000\n{rest}"),
    )
    .replace("[regmix.sample]\ncandidates = 6\n", "[regmix.sample]\n")
}

/// (run id, round) of every run in the runs table of `work`.
fn rounds_of(work: &Path) -> Vec<(String, Option<u32>)> {
    remix::regmix::runs::read_runs(&work.join("runs/runs.parquet"))
        .unwrap()
        .runs
        .into_iter()
        .map(|r| (r.run_id, r.round))
        .collect()
}

fn proposal(work: &Path, round: u32) -> serde_json::Value {
    serde_json::from_slice(&fs::read(work.join(format!("runs/rounds/round-{round}.json"))).unwrap())
        .unwrap()
}

#[test]
fn rounds_close_in_resume_and_are_proposed_again_when_the_fit_changes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs::write(dir.join("pipeline.toml"), rounds_pipeline("")).unwrap();
    let output = remix(dir, &["run", "pipeline.toml"]);
    assert_ok(&output);
    let log = stderr(&output);
    assert!(
        log.contains("round 2: 3 candidates around the optimum of 6 runs"),
        "{log}"
    );
    assert!(
        log.contains("round 3: 3 candidates around the optimum of 9 runs"),
        "{log}"
    );
    let work = dir.join("work");
    let runs = rounds_of(&work);
    let count = |round| runs.iter().filter(|(_, r)| *r == Some(round)).count();
    assert_eq!(
        (runs.len(), count(1), count(2), count(3)),
        (12, 6, 3, 3),
        "{runs:?}"
    );
    assert!(
        runs[6..9].iter().all(|(id, _)| id.starts_with("r2-")),
        "{runs:?}"
    );
    let round2 = proposal(&work, 2);
    assert_eq!(round2["runs_fitted"], 6);
    assert_eq!(
        round2["near_optimum"].as_u64().unwrap() + round2["from_prior"].as_u64().unwrap(),
        3
    );
    let report = fs::read_to_string(work.join("report.html")).unwrap();
    assert!(
        report.contains("Search rounds"),
        "the report's rounds section"
    );
    assert!(work.join("mixtures/rounds.json").exists());

    // Done: a second run trains nothing.
    let again = remix(dir, &["run", "pipeline.toml"]);
    assert_ok(&again);
    assert_eq!(rounds_of(&work), runs);

    // Another regressor: round 1's runs stay, rounds 2 and 3 are proposed again from the new fit.
    let modified = fs::metadata(work.join("runs/rounds/round-2.json"))
        .unwrap()
        .modified()
        .unwrap();
    fs::write(
        dir.join("pipeline.toml"),
        rounds_pipeline("").replace(
            r#"regressors = ["ols", "ridge"]"#,
            r#"regressors = ["ridge"]"#,
        ),
    )
    .unwrap();
    let output = remix(dir, &["run", "pipeline.toml"]);
    assert_ok(&output);
    let log = stderr(&output);
    assert!(
        log.contains("round 2: 3 candidates around the optimum of 6 runs (ridge chose"),
        "{log}"
    );
    assert_ne!(
        fs::metadata(work.join("runs/rounds/round-2.json"))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
    let rerun = rounds_of(&work);
    assert_eq!(rerun.len(), 12);
    assert_eq!(rerun[..6], runs[..6], "round 1 kept");
}

#[test]
fn rounds_and_a_sample_count_together_are_refused_naming_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config =
        rounds_pipeline("").replace("[regmix.sample]\n", "[regmix.sample]\ncandidates = 6\n");
    fs::write(dir.join("pipeline.toml"), config).unwrap();
    let output = remix(dir, &["run", "pipeline.toml"]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("[regmix.sample] candidates and [regmix.rounds] candidates"),
        "{error}"
    );
    fs::write(
        dir.join("pipeline.toml"),
        rounds_pipeline("").replace("candidates = [4, 3, 3]", "candidates = [4, 0]"),
    )
    .unwrap();
    let error = stderr(&remix(dir, &["run", "pipeline.toml"]));
    assert!(
        error.contains("[regmix.rounds] candidates = [4, 0]"),
        "{error}"
    );
    assert!(
        !dir.join("work/runs").exists(),
        "refused before any proxy trains"
    );
}

/// On the one-node Slurm `.ci/run` starts (`REMIX_SLURM=1`), with every round split into 2 array tasks
/// and each later round's proposal a job between them, submitted round after round: the same runs,
/// rounds and answer as a local run in one process, with a weighted target.
#[test]
fn rounds_on_slurm_in_array_tasks_equal_a_local_run() {
    if std::env::var("REMIX_SLURM").is_ok_and(|v| v == "1") {
        let dir = tempfile::tempdir().unwrap();
        let (local, cluster) = (dir.path().join("local"), dir.path().join("slurm"));
        let tasks = "\n[executor]\ntasks = { train = 2 }\ncpus_per_task = 1\npoll_seconds = 1\n";
        for (folder, rest) in [(&local, ""), (&cluster, tasks)] {
            fs::create_dir_all(folder).unwrap();
            let weighted = rounds_pipeline(rest).replace(
                r#"target = ["speeches"]"#,
                "target = { speeches = 0.7, code = 0.3 }",
            );
            assert!(weighted.contains("speeches = 0.7"));
            fs::write(folder.join("pipeline.toml"), weighted).unwrap();
        }
        assert_ok(&remix(&local, &["run", "--quiet", "pipeline.toml"]));
        // The rounds' decisions logged (info) in each job's log: sbatch passes the environment on.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
            .args(["run", "pipeline.toml", "--executor", "slurm"])
            .env("RUST_LOG", "warn,remix::regmix::rounds=info")
            .current_dir(&cluster)
            .output()
            .unwrap();
        assert_ok(&output);
        let log = stderr(&output);
        for done in [
            "train tasks (of 2): 2/2 done",
            "train propose-2 (of 1): 1/1 done",
            "train round-2 (of 2): 2/2 done",
            "train propose-3 (of 1): 1/1 done",
            "train round-3 (of 2): 2/2 done",
        ] {
            assert!(log.contains(done), "lacks {done:?}:\n{log}");
        }
        // Round 2 was proposed in its own job, and the join (the job logged as `train-<id>_0.log`)
        // found every round's proposal standing: what the array tasks trained stood.
        let logs: Vec<(String, String)> = fs::read_dir(cluster.join("work/slurm/logs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read_to_string(&p).unwrap())
            })
            .collect();
        let of = |prefix: &str| {
            let found: Vec<&String> = (logs.iter())
                .filter(|(name, _)| {
                    name.strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                })
                .map(|(_, text)| text)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{prefix}: {:?}",
                logs.iter().map(|l| &l.0).collect::<Vec<_>>()
            );
            found[0].clone()
        };
        let (propose, join) = (of("train-propose-2-"), of("train-"));
        assert!(propose.contains("round 2 proposed"), "{propose}");
        for round in [2, 3] {
            let holds = format!("round {round}'s proposal holds");
            assert!(
                join.contains(&holds) && !join.contains(&format!("round {round} proposed")),
                "{join}"
            );
        }
        let runs = |work: &Path| {
            remix::regmix::runs::read_runs(&work.join("runs/runs.parquet"))
                .unwrap()
                .runs
                .into_iter()
                .map(|r| (r.run_id, r.round, r.weights, r.losses))
                .collect::<Vec<_>>()
        };
        assert_eq!(runs(&local.join("work")), runs(&cluster.join("work")));
        assert_eq!(
            fs::read(local.join("work/runs/rounds/round-3.parquet")).unwrap(),
            fs::read(cluster.join("work/runs/rounds/round-3.parquet")).unwrap()
        );
    } else {
        eprintln!("skipping: REMIX_SLURM is not 1 (.ci/run starts a one-node Slurm)");
    }
}

/// Rounds with a weighted target run end to end: the fit, the report and the manifest's evidence name
/// the weighted target, and the target loss is the weighted sum of the domains' losses. Bad weights
/// stop the run before any proxy trains.
#[test]
fn rounds_with_a_weighted_target_run_end_to_end_and_bad_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let weighted = |target: &str| {
        rounds_pipeline("").replace(r#"target = ["speeches"]"#, &format!("target = {target}"))
    };
    fs::write(
        dir.join("pipeline.toml"),
        weighted("{ speeches = 0.7, code = 0.3 }"),
    )
    .unwrap();
    let output = remix(dir, &["run", "--quiet", "pipeline.toml"]);
    assert_ok(&output);
    let work = dir.join("work");
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(work.join("fit/report.json")).unwrap()).unwrap();
    assert_eq!(
        report["config"]["target"],
        serde_json::json!({"code": 0.3, "speeches": 0.7})
    );
    let table = remix::regmix::runs::read_runs(&work.join("runs/runs.parquet")).unwrap();
    let (s, c) = (
        table.loss_index("speeches").unwrap(),
        table.loss_index("code").unwrap(),
    );
    let first = &report["out_of_fold"][0];
    let run = table
        .runs
        .iter()
        .find(|r| r.run_id == first["run_id"])
        .unwrap();
    let expected = 0.7 * run.losses[s].unwrap() + 0.3 * run.losses[c].unwrap();
    assert!((first["measured"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert!(
        fs::read_to_string(work.join("report.html"))
            .unwrap()
            .contains("0.30 code + 0.70 speeches")
    );

    for (target, expected) in [
        (
            "{ speeches = -1.0, code = 1.0 }",
            "weights must be 0 or more",
        ),
        ("{ speeches = 0.0, code = 0.0 }", "all zero"),
        ("{ speeches = 0.5, nosuch = 0.5 }", "names `nosuch`"),
    ] {
        let fresh = dir.join(format!("bad-{}", target.len()));
        fs::create_dir_all(&fresh).unwrap();
        fs::write(fresh.join("pipeline.toml"), weighted(target)).unwrap();
        let output = remix(&fresh, &["run", "pipeline.toml"]);
        assert!(!output.status.success(), "{target}");
        let error = stderr(&output);
        assert!(error.contains(expected), "{target}: {error}");
        assert!(
            !fresh.join("work/runs").exists(),
            "{target}: refused before any proxy trains"
        );
    }
}
