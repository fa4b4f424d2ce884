//! Mixture reuse (`[reuse]`) through `remix run`: each change kind (add, remove, revise, split,
//! reopen) is found and searched as it should be, the unchanged domains keep their old proportions in
//! the manifest, removal trains nothing, the report shows the old and new mixtures side by side, bad
//! old manifests are refused before any proxy trains, and the answer is the same whatever the thread
//! count and on Slurm in tasks.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::RecordBatch;
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// A corpus folder under `dir` with the fixture domains `domains` (symlinked folders), returned.
fn corpus(dir: &Path, name: &str, domains: &[&str]) -> PathBuf {
    let root = dir.join(name);
    fs::create_dir_all(&root).unwrap();
    for domain in domains {
        std::os::unix::fs::symlink(fixtures().join("corpus").join(domain), root.join(domain))
            .unwrap();
    }
    root
}

/// The rows of fixture domain `domain`'s Parquet file.
fn fixture_rows(domain: &str) -> RecordBatch {
    let file = fs::File::open(
        fixtures()
            .join("corpus")
            .join(domain)
            .join("part-00000.parquet"),
    )
    .unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// Writes `rows` as domain `domain` of the corpus at `root`.
fn write_domain(root: &Path, domain: &str, rows: &RecordBatch) {
    let schema = rows.schema();
    let columns: Vec<(&str, arrow::array::ArrayRef)> = schema
        .fields()
        .iter()
        .zip(rows.columns())
        .map(|(f, c)| (f.name().as_str(), c.clone()))
        .collect();
    write_parquet(
        &root.join(domain).join("part-00000.parquet"),
        columns,
        1 << 20,
    );
}

/// A pipeline over the corpus at `corpus` reusing `reuse` (a TOML `[reuse]` body) when given.
fn pipeline(dir: &Path, corpus: &Path, reuse: Option<&str>) {
    let rest = match reuse {
        Some(body) => {
            format!("\n[manifest]\nname = \"mix\"\ntrain_tokens = 1000000\n\n[reuse]\n{body}\n")
        }
        None => "\n[manifest]\nname = \"mix\"\ntrain_tokens = 1000000\n".to_string(),
    };
    let mut text = small_pipeline(corpus, 2000, &rest);
    if reuse.is_some() {
        // With [reuse] the candidates follow the free domains (set in [reuse] here).
        text = text.replace("[regmix.sample]\ncandidates = 6\n", "[regmix.sample]\n");
    }
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("pipeline.toml"), text).unwrap();
}

/// Runs the pipeline in `dir`; returns the summary and the log.
fn run(dir: &Path) -> (Value, String) {
    let output = remix(dir, &["run", "--json", "pipeline.toml"]);
    assert_ok(&output);
    (
        serde_json::from_slice(&output.stdout).unwrap(),
        stderr(&output),
    )
}

fn status(summary: &Value, stage: &str) -> String {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn weights(dir: &Path) -> Vec<(String, f64)> {
    manifest_weights_at(&dir.join("work/mixtures/mix.json"))
}

fn weight(weights: &[(String, f64)], domain: &str) -> f64 {
    weights
        .iter()
        .find(|(d, _)| d == domain)
        .map_or(0.0, |&(_, w)| w)
}

fn names(values: &Value) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Runs in the runs table of `dir`.
fn runs(dir: &Path) -> usize {
    remix::regmix::runs::read_runs(&dir.join("work/runs/runs.parquet"))
        .unwrap()
        .runs
        .len()
}

/// A manifest at `path` of the given `weights` (JSON) over the token index of the pipeline in `dir`.
fn given_manifest(dir: &Path, weights: &str, path: &Path) -> PathBuf {
    let weights_path = path.with_extension("weights.json");
    fs::write(&weights_path, weights).unwrap();
    let tokens = dir.join("work/tokens");
    assert_ok(&remix(
        dir,
        &[
            "manifest",
            "--quiet",
            "--weights",
            weights_path.to_str().unwrap(),
            "--tokens",
            tokens.to_str().unwrap(),
            "--train-tokens",
            "1000000",
            "--name",
            "old",
            "-o",
            path.to_str().unwrap(),
        ],
    ));
    path.to_path_buf()
}

/// The earlier mixture every test reuses: code 0.4 and email 0.6 over the fixtures' tokens (given,
/// so that both are weighted: a search may put a domain at 0, which would leave nothing to check the
/// frozen proportions on), as `tmp/old.json`.
fn earlier_mixture(tmp: &Path) -> PathBuf {
    let base = tmp.join("base");
    pipeline(
        &base,
        &corpus(tmp, "c-base", &["code", "email", "speeches"]),
        None,
    );
    assert_ok(&remix(
        &base,
        &["run", "--quiet", "--until", "tokenize", "pipeline.toml"],
    ));
    let old = given_manifest(
        &base,
        r#"{"code": 0.4, "email": 0.6}"#,
        &tmp.join("old.json"),
    );
    old
}

#[test]
fn each_change_kind_is_found_searched_and_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();

    let old = earlier_mixture(tmp);
    let old_weights = manifest_weights_at(&old);

    // Add: novel is new; code and email are frozen at their old ratio.
    let add = tmp.join("add");
    let full = corpus(tmp, "c-full", &["code", "email", "novel", "speeches"]);
    pipeline(
        &add,
        &full,
        Some(&format!("from = \"{}\"\ncandidates = 4", old.display())),
    );
    let (summary, log) = run(&add);
    assert!(log.contains("unchanged: code, email"), "{log}");
    assert!(log.contains("added: novel"), "{log}");
    let plan = json(&add.join("work/reuse/plan.json"));
    assert_eq!(names(&plan["block"]["domains"]), ["code", "email"]);
    assert_eq!(names(&plan["free"]), ["novel"]);
    assert_eq!(names(&plan["changes"]["added"]), ["novel"]);
    assert_eq!(status(&summary, "train"), "ran");
    // Natural, uniform, the old mixture and 4 candidates.
    assert_eq!(runs(&add), 7);
    // Every proxy and the answer hold code and email at 0.4 : 0.6.
    let table = remix::regmix::runs::read_runs(&add.join("work/runs/runs.parquet")).unwrap();
    let (c, e) = (
        table.domains.iter().position(|d| d == "code").unwrap(),
        table.domains.iter().position(|d| d == "email").unwrap(),
    );
    assert!(table.runs.iter().any(|r| r.weights[c] > 0.0));
    for r in &table.runs {
        assert!(
            (r.weights[c] * 0.6 - r.weights[e] * 0.4).abs() < 1e-9,
            "{}: {:?}",
            r.run_id,
            r.weights
        );
    }
    let new = weights(&add);
    assert!(
        (weight(&new, "code") * 0.6 - weight(&new, "email") * 0.4).abs() < 1e-6,
        "the frozen block keeps code:email: {old_weights:?} -> {new:?}"
    );
    assert!(new.iter().any(|(d, _)| d == "novel"), "{new:?}");
    let manifest = json(&add.join("work/mixtures/mix.json"));
    let evidence = &manifest["method"]["evidence"]["reuse"];
    assert_eq!(evidence["from"], old.display().to_string());
    assert_eq!(names(&evidence["frozen"]["domains"]), ["code", "email"]);
    assert_eq!(evidence["from_sha256"].as_str().unwrap().len(), 64);
    // The report's side-by-side view: the old and new weight of every domain, and what changed.
    let report = fs::read_to_string(add.join("work/report.html")).unwrap();
    assert!(
        report.contains("Mixture reuse: old and new"),
        "the reuse section"
    );
    for (domain, what) in [
        ("code", "unchanged, frozen"),
        ("email", "unchanged, frozen"),
        ("novel", "added, searched"),
    ] {
        let old_cell = weight(&old_weights, domain);
        let row = format!(
            "<td>{domain}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td>{what}</td>",
            if domain == "novel" {
                "-".to_string()
            } else {
                format!("{:.1}%", old_cell * 100.0)
            },
            weight(&new, domain) * 100.0
        );
        assert!(report.contains(&row), "report row {row}");
    }
    // The later changes start from a mixture of all three, each weighted.
    let added = given_manifest(
        &add,
        r#"{"code": 0.3, "email": 0.3, "novel": 0.4}"#,
        &tmp.join("added.json"),
    );
    let from_added = format!("from = \"{}\"\ncandidates = 4", added.display());

    // Remove: email dropped; the answer is the old mixture renormalised, and nothing trains.
    // DoReMi reweights every domain as without reuse; validation has no search to validate.
    let also = "\n[doremi]\nreference = \"uniform\"\n\n[validate]\nmodel_scale = 1\nholdout = 3\n";
    let remove = tmp.join("remove");
    pipeline(
        &remove,
        &corpus(tmp, "c-remove", &["code", "novel", "speeches"]),
        Some(&format!("{from_added}{also}")),
    );
    let (summary, log) = run(&remove);
    for stage in ["train", "fit", "simulate", "validate"] {
        assert_eq!(status(&summary, stage), "not_needed", "{stage}: {log}");
    }
    assert_eq!(status(&summary, "doremi"), "ran", "{log}");
    assert!(!remove.join("work/runs").exists(), "no proxy trained");
    let kept = weights(&remove);
    for (domain, expected) in [("code", 0.3 / 0.7), ("novel", 0.4 / 0.7)] {
        assert!((weight(&kept, domain) - expected).abs() < 1e-9, "{kept:?}");
    }
    let manifest = json(&remove.join("work/mixtures/mix.json"));
    assert_eq!(
        manifest["method"]["evidence"]["reuse"]["removal_only"],
        true
    );
    assert!(
        fs::read_to_string(remove.join("work/report.html"))
            .unwrap()
            .contains("<td>email</td><td class=\"num\">")
    );

    // Revise: email loses half its documents; it is searched beside the block of code and novel.
    let rows = fixture_rows("email");
    let revised = corpus(tmp, "c-revise", &["code", "novel", "speeches"]);
    write_domain(&revised, "email", &rows.slice(0, rows.num_rows() / 2));
    let revise = tmp.join("revise");
    pipeline(&revise, &revised, Some(&format!("{from_added}{also}")));
    let (summary, log) = run(&revise);
    let plan = json(&revise.join("work/reuse/plan.json"));
    assert_eq!(plan["changes"]["changed"][0]["domain"], "email");
    assert_eq!(names(&plan["block"]["domains"]), ["code", "novel"]);
    assert_eq!(names(&plan["free"]), ["email"]);
    // Validation trains the reused answer, and holdout mixtures drawn as the proxies were: code and
    // novel at 0.3 : 0.4.
    assert_eq!(status(&summary, "validate"), "ran", "{log}");
    let results = json(&revise.join("work/validate/results.json"));
    let holdout: Vec<&Value> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("holdout-"))
        .collect();
    assert_eq!(holdout.len(), 3);
    for r in holdout {
        let w = |d: &str| r["weights"][d].as_f64().unwrap_or(0.0);
        assert!((w("code") * 0.4 - w("novel") * 0.3).abs() < 1e-9, "{r}");
        assert!(r["predicted_target_loss"].is_number());
    }

    // Split: novel's documents are now two domains; both are searched, code and email stay frozen.
    let rows = fixture_rows("novel");
    let split_corpus = corpus(tmp, "c-split", &["code", "email", "speeches"]);
    let half = rows.num_rows() / 2;
    write_domain(&split_corpus, "novel_a", &rows.slice(0, half));
    write_domain(
        &split_corpus,
        "novel_b",
        &rows.slice(half, rows.num_rows() - half),
    );
    let split = tmp.join("split");
    pipeline(&split, &split_corpus, Some(&from_added));
    let (_, log) = run(&split);
    let plan = json(&split.join("work/reuse/plan.json"));
    assert_eq!(plan["changes"]["split"][0]["old"], "novel", "{log}");
    assert_eq!(
        names(&plan["changes"]["split"][0]["into"]),
        ["novel_a", "novel_b"]
    );
    assert_eq!(names(&plan["free"]), ["novel_a", "novel_b"]);
    assert_eq!(names(&plan["block"]["domains"]), ["code", "email"]);

    // Reopen: code is unchanged but searched again; email alone is frozen.
    let reopen = tmp.join("reopen");
    pipeline(
        &reopen,
        &full,
        Some(&format!(
            "from = \"{}\"\nreopen = [\"code\"]\ncandidates = 4",
            old.display()
        )),
    );
    run(&reopen);
    let plan = json(&reopen.join("work/reuse/plan.json"));
    assert_eq!(names(&plan["reopened"]), ["code"]);
    assert_eq!(names(&plan["free"]), ["code", "novel"]);
    assert_eq!(names(&plan["block"]["domains"]), ["email"]);

    // Bad old manifests: refused before any proxy trains, naming the file and what to do.
    let not_manifest = tmp.join("not-a-manifest.json");
    fs::write(&not_manifest, "{\"weights\": [0.5, 0.5]}").unwrap();
    let mut other_tokenizer = json(&old);
    other_tokenizer["tokenizer"]["vocab_size"] = Value::from(12345);
    let other_tokenizer_path = tmp.join("other-tokenizer.json");
    fs::write(&other_tokenizer_path, other_tokenizer.to_string()).unwrap();
    let mut gone = json(&old);
    for d in gone["domains"].as_array_mut().unwrap() {
        let name = d["domain"].as_str().unwrap().to_string();
        d["domain"] = Value::from(format!("gone-{name}"));
        d["digest"] = Value::from("0123456789abcdef0123456789abcdef");
    }
    let gone_path = tmp.join("gone.json");
    fs::write(&gone_path, gone.to_string()).unwrap();
    for (i, (from, expected)) in [
        (&not_manifest, "is not a remix manifest"),
        (&other_tokenizer_path, "tokenizer"),
        (&gone_path, "nothing"),
        (
            &tmp.join("missing.json"),
            "cannot read the manifest to reuse",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let bad = tmp.join(format!("bad-{i}"));
        pipeline(&bad, &full, Some(&format!("from = \"{}\"", from.display())));
        let output = remix(&bad, &["run", "pipeline.toml"]);
        assert!(!output.status.success(), "{expected}");
        let error = stderr(&output);
        assert!(
            error.contains(expected) && error.contains(&from.display().to_string()),
            "{expected}: {error}"
        );
        assert!(
            !bad.join("work/runs").exists(),
            "{expected}: refused before any proxy trains"
        );
    }
}

/// The same seed gives the same reused answer with one thread or several, and (on the one-node Slurm
/// `.ci/run` starts, `REMIX_SLURM=1`) with training split into 2 array tasks.
#[test]
fn reuse_gives_the_same_answer_whatever_the_threads_and_on_slurm() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    // Here the earlier mixture is a whole search's, as a team has it.
    let base = tmp.join("base");
    pipeline(
        &base,
        &corpus(tmp, "c-base", &["code", "email", "speeches"]),
        None,
    );
    run(&base);
    let old = tmp.join("old.json");
    fs::copy(base.join("work/mixtures/mix.json"), &old).unwrap();
    let full = corpus(tmp, "c-full", &["code", "email", "novel", "speeches"]);
    let body = format!("from = \"{}\"\ncandidates = 4", old.display());

    let runs_of = |dir: &Path| {
        remix::regmix::runs::read_runs(&dir.join("work/runs/runs.parquet"))
            .unwrap()
            .runs
            .into_iter()
            .map(|r| (r.run_id, r.weights, r.losses))
            .collect::<Vec<_>>()
    };
    let one = tmp.join("one-thread");
    pipeline(&one, &full, Some(&body));
    let output = Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["run", "--quiet", "pipeline.toml"])
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(&one)
        .output()
        .unwrap();
    assert_ok(&output);
    let many = tmp.join("threads");
    pipeline(&many, &full, Some(&body));
    run(&many);
    assert_eq!(runs_of(&one), runs_of(&many));
    assert_eq!(weights(&one), weights(&many));

    if std::env::var("REMIX_SLURM").is_ok_and(|v| v == "1") {
        let cluster = tmp.join("slurm");
        pipeline(&cluster, &full, Some(&body));
        let config = cluster.join("pipeline.toml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(
            &config,
            text + "\n[executor]\ntasks = { train = 2 }\ncpus_per_task = 1\npoll_seconds = 1\n",
        )
        .unwrap();
        let output = remix(&cluster, &["run", "pipeline.toml", "--executor", "slurm"]);
        assert_ok(&output);
        assert!(stderr(&output).contains("train tasks (of 2): 2/2 done"));
        assert_eq!(runs_of(&one), runs_of(&cluster));
        assert_eq!(weights(&one), weights(&cluster));
        let frozen = |dir: &Path| {
            let file = fs::File::open(dir.join("work/runs/runs.parquet")).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            reader
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .and_then(|kv| {
                    kv.iter()
                        .find(|e| e.key == remix::regmix::frozen::FROZEN_BLOCK_KEY)
                        .cloned()
                })
                .and_then(|e| e.value)
        };
        assert!(frozen(&cluster).is_some());
        assert_eq!(frozen(&one), frozen(&cluster));
    } else {
        eprintln!(
            "skipping the Slurm half: REMIX_SLURM is not 1 (.ci/run starts a one-node Slurm)"
        );
    }
}

/// A reuse run killed while its proxies train resumes: the plan and the trained proxies are kept, and
/// the answer is the uninterrupted run's.
#[test]
fn a_killed_reuse_run_resumes_with_the_same_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let old = earlier_mixture(tmp);
    let full = corpus(tmp, "c-full", &["code", "email", "novel", "speeches"]);
    let body = format!("from = \"{}\"\ncandidates = 8", old.display());

    let whole = tmp.join("whole");
    pipeline(&whole, &full, Some(&body));
    run(&whole);

    let killed = tmp.join("killed");
    pipeline(&killed, &full, Some(&body));
    let mut child = Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["run", "--quiet", "pipeline.toml"])
        .current_dir(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs_path = killed.join("work/runs/runs.parquet");
    let started = std::time::Instant::now();
    while !runs_path.exists() {
        assert!(
            started.elapsed().as_secs() < 300,
            "no proxy finished in 5 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "remix run ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let plan = fs::read(killed.join("work/reuse/plan.json")).unwrap();
    let (summary, _) = run(&killed);
    assert_eq!(status(&summary, "sample"), "skipped", "the plan stands");
    assert_eq!(status(&summary, "train"), "ran");
    assert_eq!(fs::read(killed.join("work/reuse/plan.json")).unwrap(), plan);
    assert_eq!(runs(&killed), 11);
    assert_eq!(weights(&killed), weights(&whole));
}
