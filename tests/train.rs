//! `remix train` on the fixtures: proxies train on sampled mixtures, the runs table fills, re-runs skip,
//! shards split the work, and the table feeds `remix fit`.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

/// A small proxy so the test trains in seconds on two cores.
const SMALL: [&str; 18] = [
    "--context",
    "64",
    "--layers",
    "1",
    "--d-model",
    "32",
    "--heads",
    "4",
    "--ffn-hidden",
    "64",
    "--train-tokens",
    "65536",
    "--batch-size",
    "8",
    "--val-sequences",
    "4",
    "--learning-rate",
    "0.003",
];

fn prepare(work: &Path, candidates: &str) {
    tokenize_fixtures(work, &["--eval-only", "speeches"]);
    assert_ok(&remix(
        work,
        &[
            "sample",
            "--tokens",
            "tokens",
            "-n",
            candidates,
            "--seed",
            "1",
            "-o",
            "mixtures.parquet",
        ],
    ));
}

fn train(work: &Path, out: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "train",
        "--quiet",
        "--tokens",
        "tokens",
        "--mixtures",
        "mixtures.parquet",
        "-o",
        out,
        "--json",
    ];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    let output = remix(work, &args);
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn proxies_fill_the_runs_table_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    prepare(work, "2");

    let dry = remix(
        work,
        &[
            "train",
            "--tokens",
            "tokens",
            "--mixtures",
            "mixtures.parquet",
            "-o",
            ".",
            "--dry-run",
        ],
    );
    assert_ok(&dry);
    assert!(
        stdout(&dry).contains("1312000 without embeddings"),
        "{}",
        stdout(&dry)
    );

    let summary = train(work, ".", &[]);
    assert_eq!(summary["trained"], 4, "natural, uniform and 2 sampled");
    let again = train(work, ".", &[]);
    assert_eq!(
        (again["trained"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(4)),
        "finished runs are skipped"
    );

    let table = remix::runs::read_runs(&work.join("runs/runs.parquet")).unwrap();
    assert_eq!(table.domains, ["code", "email", "novel"]);
    assert_eq!(
        table.loss_domains,
        ["code", "email", "novel", "speeches"],
        "the eval-only domain is scored"
    );
    for run in &table.runs {
        assert_eq!(run.status, "finished");
        assert_eq!(run.tokens_trained, Some(65536));
        for loss in &run.losses {
            let loss = loss.unwrap();
            // Below uniform over the 4096-token vocabulary (ln 4096 = 8.3): the proxies learned.
            assert!(loss.is_finite() && loss < 8.0, "{} loss {loss}", run.run_id);
        }
    }
    // A code-heavy and an email-heavy mixture differ where they should: the natural mixture is the reference.
    assert!(
        table.runs.iter().any(|r| r.run_id == "natural")
            && table.runs.iter().any(|r| r.run_id == "uniform")
    );

    // Two shards train disjoint halves; merged, they hold every run.
    let a = train(work, "shard-a", &["--shard", "0/2"]);
    let b = train(work, "shard-b", &["--shard", "1/2"]);
    assert_eq!(
        a["trained"].as_u64().unwrap() + b["trained"].as_u64().unwrap(),
        4
    );
    assert_ok(&remix(
        work,
        &[
            "runs",
            "merge",
            "shard-a/runs/runs.parquet",
            "shard-b/runs/runs.parquet",
            "-o",
            "merged.parquet",
        ],
    ));
    let merged = remix::runs::read_runs(&work.join("merged.parquet")).unwrap();
    assert_eq!(merged.runs.len(), 4);
    // Same seed, same mixture, same losses, whichever process trained it.
    for run in &merged.runs {
        let first = table.runs.iter().find(|r| r.run_id == run.run_id).unwrap();
        for (x, y) in run.losses.iter().zip(&first.losses) {
            assert!(
                (x.unwrap() - y.unwrap()).abs() < 1e-4,
                "{}: {x:?} vs {y:?}",
                run.run_id
            );
        }
    }
    let _ = fs::remove_dir_all(work.join("shard-a"));
}
