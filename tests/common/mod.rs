//! Helpers shared by the integration tests: the real binary, the fixtures, small Parquet writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs the remix binary with `args` in `dir`.
pub fn remix(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot start remix")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that remix succeeded, showing its stderr when it did not.
pub fn assert_ok(output: &Output) {
    assert!(output.status.success(), "remix failed: {}", stderr(output));
}

/// Writes `columns` as one Parquet file with row groups of `row_group_rows`.
pub fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, row_group_rows: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

pub fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from(values.to_vec()))
}

/// Files under `dir`, recursively, relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Dedups the fixture corpus into `work/dedup` and tokenizes it with the fixture tokenizer into
/// `work/tokens`; `extra` goes to `remix tokenize` (for example `--eval-only speeches`).
pub fn tokenize_fixtures(work: &Path, extra: &[&str]) {
    let corpus = fixtures().join("corpus");
    let tokenizer = fixtures().join("tokenizer.json");
    assert_ok(&remix(
        work,
        &[
            "dedup",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "-o",
            ".",
        ],
    ));
    let mut args = vec![
        "tokenize",
        "--quiet",
        "--input",
        "dedup",
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "-o",
        ".",
    ];
    args.extend_from_slice(extra);
    assert_ok(&remix(work, &args));
}

/// Imports RegMix's train runs into `work/runs.parquet`, fits the Pile-CC loss with ridge into
/// `work/fit/`, and simulates 2000 candidates into `work/fit/optimum.json`.
pub fn regmix_ridge_optimum(work: &Path) {
    let regmix = fixtures().join("regmix");
    let file = |name: &str| regmix.join(name).display().to_string();
    assert_ok(&remix(
        work,
        &[
            "runs",
            "import",
            "--regmix-mixtures",
            &file("train_mixture_1m.csv"),
            "--regmix-losses",
            &file("train_pile_loss_1m.csv"),
            "-o",
            "runs.parquet",
        ],
    ));
    assert_ok(&remix(
        work,
        &[
            "fit",
            "--runs",
            "runs.parquet",
            "--target",
            "the_pile_pile_cc",
            "--regressor",
            "ridge",
            "-o",
            "fit",
        ],
    ));
    assert_ok(&remix(
        work,
        &[
            "simulate",
            "--model",
            "fit/model.json",
            "-n",
            "2000",
            "-o",
            "fit/optimum.json",
        ],
    ));
}

/// The committed JSON Schemas.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Asserts that each (file under `work`, schema file) pair validates.
pub fn validate(work: &std::path::Path, pairs: &[(&str, &str)]) {
    for (file, schema) in pairs {
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(schema_dir().join(schema)).unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(
            &std::fs::read(work.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}

/// Proxy flags for a model small enough to train in seconds on two cores (1 layer, width 32, context
/// 64, 65,536 tokens), with `overrides` (flag, value) replacing the defaults.
pub fn small_proxy(overrides: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    let defaults = [
        ("--context", "64"),
        ("--layers", "1"),
        ("--d-model", "32"),
        ("--heads", "4"),
        ("--ffn-hidden", "64"),
        ("--train-tokens", "65536"),
        ("--batch-size", "8"),
        ("--val-sequences", "4"),
        ("--learning-rate", "0.003"),
    ];
    defaults
        .iter()
        .map(|&(flag, value)| {
            let value = overrides
                .iter()
                .find(|(f, _)| *f == flag)
                .map_or(value, |(_, v)| *v);
            [flag, value]
        })
        .collect::<Vec<_>>()
        .concat()
}

/// A pipeline config small enough for a test, over the corpus at `corpus` with the fixtures' tokenizer:
/// 8 tiny proxies (6 candidates, natural, uniform) targeting the evaluation-only speeches, and
/// `simulate_candidates` simulated mixtures; `rest` (TOML: `[manifest]` and any other section) follows.
#[allow(dead_code)]
pub fn small_pipeline(corpus: &Path, simulate_candidates: u32, rest: &str) -> String {
    let data = format!(
        "[corpus]\npaths = [\"{}\"]\ntokenizer = \"{}\"\n\n[dedup]\n\n[tokenize]\neval_only = [\"speeches\"]\n",
        corpus.display(),
        fixtures().join("tokenizer.json").display()
    );
    small_pipeline_over(&data, simulate_candidates, rest)
}

/// [`small_pipeline`] over `data`, the TOML sections that bring the tokens (`[corpus]`, or
/// `[tokens.import]`).
#[allow(dead_code)]
pub fn small_pipeline_over(data: &str, simulate_candidates: u32, rest: &str) -> String {
    format!(
        r#"
work = "work"
seed = 3

{data}
[proxy]
device = "cpu"
layers = 1
d_model = 32
heads = 4
ffn_hidden = 64
context = 64

[proxy.train]
train_tokens = 16384
batch_size = 16
learning_rate = 0.003
val_sequences = 8

[regmix.sample]
candidates = 6

[regmix.fit]
target = ["speeches"]
regressors = ["ols", "ridge"]

[regmix.simulate]
candidates = {simulate_candidates}
{rest}"#
    )
}

/// The training tokens of every domain the token index in `tokens` trains on (evaluation-only left out).
#[allow(dead_code)]
pub fn training_tokens(tokens: &Path) -> u64 {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tokens.join("index.json")).unwrap()).unwrap();
    index["domains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["eval_only"] == false)
        .map(|d| d["tokens"].as_u64().unwrap())
        .sum()
}

/// Each domain of the manifest at `path` with its weight, in manifest order.
#[allow(dead_code)]
pub fn manifest_weights_at(path: &Path) -> Vec<(String, f64)> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                d["weight"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Mesa's lavapipe's Vulkan driver file, where it is installed; CI (`REMIX_REQUIRE_WGPU`) requires it.
#[allow(dead_code)]
pub fn lavapipe() -> Option<std::path::PathBuf> {
    let found = std::fs::read_dir("/usr/share/vulkan/icd.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lvp_icd."))
        });
    assert!(
        found.is_some() || std::env::var_os("REMIX_REQUIRE_WGPU").is_none(),
        "REMIX_REQUIRE_WGPU is set but lavapipe is not installed (apt-get install mesa-vulkan-drivers)"
    );
    if found.is_none() {
        eprintln!("skipping: lavapipe (mesa-vulkan-drivers) is not installed");
    }
    found
}

/// Runs `remix cluster -q --corpus CORPUS ARGS` in `dir` with `threads` rayon threads.
pub fn remix_cluster(dir: &Path, corpus: &Path, threads: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["cluster", "-q", "--corpus", corpus.to_str().unwrap()])
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Per domain, the documents of a `remix stats --json` report.
pub fn documents_per_domain(report: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                d["documents"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Runs `command` (a Python script of a test), failing the test with its stderr when it fails; its
/// stdout.
pub fn python_ok(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
