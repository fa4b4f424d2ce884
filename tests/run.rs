//! `remix run CONFIG.toml` end to end on the fixtures: every stage runs once, a second run skips them
//! all, a changed setting re-runs only what depends on it, a run killed with SIGKILL in the middle of
//! proxy training resumes and ends with the same manifest (a second run beside it refuses, naming it),
//! and bad configs get clear errors.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A pipeline small enough for a test: 8 tiny proxies, DoReMi only when asked.
fn write_config(dir: &Path, simulate_candidates: u32, doremi: bool) -> std::path::PathBuf {
    let mut rest = String::from(
        "\n[manifest]\nname = \"test-mix\"\ntrain_tokens = 1000000\nexports = [\"megatron\", \"hf\"]\n",
    );
    if doremi {
        rest.push_str("\n[doremi]\nreference = \"uniform\"\n");
    }
    let text = small_pipeline(&fixtures().join("corpus"), simulate_candidates, &rest);
    let path = dir.join("pipeline.toml");
    fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["run", "--quiet", "--json", "pipeline.toml"];
    args.extend_from_slice(extra);
    let output = remix(dir, &args);
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn statuses(summary: &Value) -> Vec<(String, String)> {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ran(summary: &Value) -> Vec<String> {
    statuses(summary)
        .into_iter()
        .filter(|(_, status)| status == "ran")
        .map(|(stage, _)| stage)
        .collect()
}

fn manifest_weights(dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("work/mixtures/test-mix.json")).unwrap())
            .unwrap();
    manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["domain"].clone(), d["weight"].clone()))
        .map(|(d, w)| serde_json::json!([d, w]))
        .collect()
}

#[test]
fn the_pipeline_runs_once_then_skips_and_reruns_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_config(dir, 20000, true);

    let first = run(dir, &[]);
    let all = [
        "stats", "dedup", "tokenize", "sample", "train", "fit", "simulate", "doremi", "manifest",
        "report",
    ];
    assert_eq!(ran(&first), all, "{first}");
    let manifest = dir.join("work/mixtures/test-mix.json");
    assert_eq!(
        first["manifest"][0],
        manifest.strip_prefix(dir).unwrap().display().to_string()
    );
    assert!(dir.join("work/mixtures/test-mix.megatron.args").exists());
    assert!(dir.join("work/mixtures/test-mix.hf.py").exists());
    validate(
        dir,
        &[
            ("work/mixtures/test-mix.json", "manifest.schema.json"),
            ("work/fit/optimum.json", "optimum.schema.json"),
            ("work/doremi/weights.json", "doremi-weights.schema.json"),
            ("work/pipeline/train/_done.json", "done-marker.schema.json"),
        ],
    );
    let html = fs::read_to_string(dir.join("work/report.html")).unwrap();
    for section in [
        "stats", "dedup", "tokens", "runs", "fit", "optimum", "doremi",
    ] {
        assert!(
            html.contains(&format!("id=\"{section}\"")),
            "no {section} section"
        );
    }
    let weights = manifest_weights(dir);
    // The manifest's evidence says where the proxies behind it trained (the runs table's device column).
    let evidence: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(
        evidence["method"]["evidence"]["fit"]["proxy_devices"],
        serde_json::json!({"cpu": 8}),
        "{evidence}"
    );

    // Nothing changed: every stage is skipped and the manifest is untouched.
    let second = run(dir, &[]);
    assert!(ran(&second).is_empty(), "{second}");
    assert_eq!(manifest_weights(dir), weights);

    // A changed simulation setting re-runs the simulation and what reads it, not training.
    write_config(dir, 30000, true);
    let third = run(dir, &[]);
    assert_eq!(ran(&third), ["simulate", "manifest", "report"], "{third}");

    // --force re-runs a stage and its dependants; --until stops early.
    let fourth = run(dir, &["--force", "fit", "--until", "simulate"]);
    assert_eq!(ran(&fourth), ["fit", "simulate"], "{fourth}");
    let outside: Vec<_> = statuses(&fourth)
        .into_iter()
        .filter(|(_, s)| s == "outside")
        .map(|(stage, _)| stage)
        .collect();
    assert_eq!(outside, ["doremi", "manifest", "report"]);
    let fifth = run(dir, &[]);
    assert_eq!(ran(&fifth), ["manifest", "report"], "{fifth}");
}

#[test]
fn a_killed_run_resumes_and_ends_with_the_same_manifest() {
    // The uninterrupted run.
    let whole = tempfile::tempdir().unwrap();
    write_config(whole.path(), 20000, false);
    run(whole.path(), &[]);
    let expected = manifest_weights(whole.path());

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_config(dir, 20000, false);
    let mut child = Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["run", "--quiet", "pipeline.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the runs table holds a finished proxy (training is under way).
    let runs = dir.join("work/runs/runs.parquet");
    let started = Instant::now();
    while !runs.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no proxy finished in 5 minutes"
        );
        if child.try_wait().unwrap().is_some() {
            panic!("remix run ended before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second run on the same work directory refuses at once, naming the first one's pid and host.
    let second = remix(dir, &["run", "--quiet", "pipeline.toml"]);
    assert!(!second.status.success());
    let message = stderr(&second);
    assert!(
        message.contains("in use by another remix")
            && message.contains(&format!("pid {} on host", child.id())),
        "{message}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!dir.join("work/pipeline/train/_done.json").exists());
    // The killed run's lock is left behind; the next run takes it over (its pid is dead).
    assert!(dir.join("work/remix.lock").exists());

    let resumed = run(dir, &[]);
    let statuses = statuses(&resumed);
    assert!(
        statuses.contains(&("tokenize".into(), "skipped".into())),
        "{resumed}"
    );
    assert!(
        statuses.contains(&("train".into(), "ran".into())),
        "{resumed}"
    );
    assert_eq!(manifest_weights(dir), expected);
    assert!(!dir.join("work/remix.lock").exists());

    // Every candidate (natural, uniform and 6 sampled) has exactly one row.
    let table = remix::regmix::runs::read_runs(&dir.join("work/runs/runs.parquet")).unwrap();
    let mut ids: Vec<&str> = table.runs.iter().map(|r| r.run_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((table.runs.len(), ids.len()), (8, 8));
}

#[test]
fn bad_configs_and_missing_stages_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let path = write_config(dir, 20000, false);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("learning_rate", "learnig_rate")).unwrap();
    let output = remix(dir, &["run", "pipeline.toml"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("learnig_rate") && message.contains("did you mean `learning_rate`"),
        "{message}"
    );

    fs::write(
        &path,
        text.replace("[regmix.fit]\ntarget = [\"speeches\"]", "[regmix.fit]"),
    )
    .unwrap();
    let output = remix(dir, &["run", "pipeline.toml"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("target"), "{}", stderr(&output));

    fs::write(&path, &text).unwrap();
    let output = remix(dir, &["run", "pipeline.toml", "--from", "fit"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("the fit stage reads what the train stage writes"),
        "{message}"
    );
    assert!(!dir.join("work/fit").exists());

    let output = remix(dir, &["run", "missing.toml"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("missing.toml"));
}

/// What the plan once swallowed is now a logged decision: a marker cut short is reported and its stage
/// runs again; a stage whose inputs cannot be read counts as not done, says why, and then fails naming
/// the file.
#[test]
fn a_corrupt_marker_or_an_unreadable_input_is_a_logged_decision() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let tokenizer = dir.join("tokenizer.json");
    fs::copy(fixtures().join("tokenizer.json"), &tokenizer).unwrap();
    let path = write_config(dir, 20000, false);
    let fixture_tokenizer = fixtures().join("tokenizer.json").display().to_string();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace(&fixture_tokenizer, &tokenizer.display().to_string()),
    )
    .unwrap();
    run(dir, &["--until", "tokenize"]);

    fs::write(dir.join("work/pipeline/stats/_done.json"), "{\"stage\": ").unwrap();
    let output = remix(
        dir,
        &[
            "run",
            "--quiet",
            "--json",
            "pipeline.toml",
            "--until",
            "tokenize",
        ],
    );
    assert_ok(&output);
    let message = stderr(&output);
    assert!(
        message.contains("the completion marker is unreadable"),
        "{message}"
    );
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(ran(&summary), ["stats"]);

    fs::remove_file(&tokenizer).unwrap();
    let output = remix(
        dir,
        &[
            "-v",
            "run",
            "--quiet",
            "pipeline.toml",
            "--until",
            "tokenize",
        ],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("its inputs cannot be read: counted as not done")
            && message.contains("cannot read the tokenizer"),
        "{message}"
    );
}

/// What a later stage would refuse after hours of training stops the run once the token index exists
/// and before any proxy trains, naming the config key to change: a training budget the domains cannot
/// supply at the manifest's epoch cap, a misspelt target (with the nearest domain), a simulation whose
/// caps are looser than the manifest's, and caps no drawn candidate obeys.
#[test]
fn mistakes_stop_the_run_before_any_proxy_trains() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let path = write_config(dir, 2000, true);
    let text = fs::read_to_string(&path).unwrap();
    // Each config stops the run after tokenize and before any proxy trains, saying `expected`; with
    // `icd`, wgpu sees that Vulkan driver alone.
    let refused = |config: &str, icd: Option<&Path>, expected: &[&str]| {
        assert_ne!(config, text);
        fs::write(&path, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_remix"));
        command
            .args(["run", "--quiet", "pipeline.toml"])
            .current_dir(dir);
        if let Some(icd) = icd {
            command
                .env("VK_ICD_FILENAMES", icd)
                .env("VK_DRIVER_FILES", icd);
        }
        let output = command.output().unwrap();
        let message = stderr(&output);
        assert!(!output.status.success(), "{config}");
        for part in expected {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert!(dir.join("work/tokens/index.json").is_file());
        assert!(
            !dir.join("work/runs").exists(),
            "a proxy trained: {message}"
        );
        assert!(!dir.join("work/doremi/weights.json").exists());
    };
    refused(
        &text.replace("train_tokens = 1000000", "train_tokens = 100000000000"),
        None,
        &[
            "[manifest] train_tokens = 100000000000",
            "[manifest] max_epochs = 4",
            "allow_repeat",
        ],
    );
    refused(
        &text
            .replace("target = [\"speeches\"]", "target = [\"speechs\"]")
            .replace("batch_size = 16", "batch_size = 16\nwarmup_steps = 50"),
        None,
        &[
            "[regmix.fit] target names `speechs`",
            "did you mean `speeches`?",
            "warmup_steps = 50 is more than a tenth of the proxies' 16 steps",
        ],
    );
    // A stack of 64 proxies on lavapipe: their logits pass the 128 MiB a binding takes.
    if let Some(icd) = lavapipe() {
        refused(
            &text.replace("device = \"cpu\"", "device = \"wgpu\"\nparallel = 64"),
            Some(icd.as_path()),
            &[
                "a stack of 64 proxies does not fit on",
                "64 per stack",
                "lower [proxy] parallel",
            ],
        );
    }
    let training = training_tokens(&dir.join("work/tokens"));
    // Simulation caps looser than the manifest's where the manifest's bind (a budget of 3 times the
    // training tokens): the optimum could be refused after training.
    refused(
        &text
            .replace(
                "train_tokens = 1000000",
                &format!("train_tokens = {}", training * 3),
            )
            .replace("candidates = 2000", "candidates = 2000\nmax_epochs = 8"),
        None,
        &["[regmix.simulate] allows more repetition"],
    );
    // A budget whose epoch caps sum to 1.026: no mixture the simulation draws obeys them, which it
    // would find only after training (with the sampling proposer: the exact one needs no drawn
    // candidate).
    refused(
        &text
            .replace(
                "train_tokens = 1000000",
                &format!("train_tokens = {}", training * 39 / 10),
            )
            .replace(
                "candidates = 2000",
                "candidates = 2000\nproposer = \"sample\"",
            ),
        None,
        &[
            "none of the [regmix.simulate] candidates = 2000",
            "[manifest] train_tokens",
        ],
    );
}
