//! `remix stats` on the bundled fixtures, checked against an independent computation.

mod common;

use std::collections::BTreeMap;
use std::fs;

use arrow::array::{Array, AsArray};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn run_stats(layout: &[&str]) -> Value {
    let work = tempfile::tempdir().unwrap();
    let mut args = vec!["stats", "--quiet", "--json", "-o", "out", "--corpus"];
    args.extend_from_slice(layout);
    let corpus_args: Vec<String> = args
        .iter()
        .map(|a| a.replace("FIXTURES", fixtures().to_str().unwrap()))
        .collect();
    let output = remix(
        work.path(),
        &corpus_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("--json prints JSON");
    let written: Value =
        serde_json::from_slice(&fs::read(work.path().join("out/stats.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert!(work.path().join("out/stats.parquet").exists());
    let marker: Value =
        serde_json::from_slice(&fs::read(work.path().join("out/_done.json")).unwrap()).unwrap();
    assert_eq!(marker["stage"], "stats");
    written
}

/// Per domain: documents, bytes, words and sorted lengths, read straight from the Parquet files.
fn independent_stats() -> BTreeMap<String, (u64, u64, u64, Vec<u64>)> {
    let mut out = BTreeMap::new();
    for domain in ["code", "email", "novel", "speeches"] {
        let path = fixtures()
            .join("corpus")
            .join(domain)
            .join("part-00000.parquet");
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let entry: &mut (u64, u64, u64, Vec<u64>) = out.entry(domain.to_string()).or_default();
        for batch in reader {
            let batch = batch.unwrap();
            let text = batch.column_by_name("text").unwrap().as_string::<i32>();
            for i in 0..text.len() {
                let t = text.value(i);
                entry.0 += 1;
                entry.1 += t.len() as u64;
                entry.2 += t.split_whitespace().count() as u64;
                entry.3.push(t.len() as u64);
            }
        }
        entry.3.sort_unstable();
    }
    out
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] as f64 + (sorted[high] as f64 - sorted[low] as f64) * (position - low as f64)
}

#[test]
fn folder_layout_matches_an_independent_count() {
    let report = run_stats(&["FIXTURES/corpus"]);
    let expected = independent_stats();
    let domains = report["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 4);
    let total_bytes: u64 = expected.values().map(|e| e.1).sum();
    for d in domains {
        let (docs, bytes, words, lengths) = &expected[d["domain"].as_str().unwrap()];
        assert_eq!(d["documents"].as_u64().unwrap(), *docs);
        assert_eq!(d["bytes"].as_u64().unwrap(), *bytes);
        assert_eq!(d["words"].as_u64().unwrap(), *words);
        assert_eq!(d["len_max"].as_u64().unwrap(), *lengths.last().unwrap());
        let close = |field: &str, want: f64| {
            let got = d[field].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-6 * want.max(1.0),
                "{field}: {got} vs {want}"
            );
        };
        close("len_mean", *bytes as f64 / *docs as f64);
        close("len_median", quantile(lengths, 0.5));
        close("len_p90", quantile(lengths, 0.9));
        close("len_p99", quantile(lengths, 0.99));
        close("share_bytes", *bytes as f64 / total_bytes as f64);
        assert_eq!(d["skipped"]["null_text"], 0);
        // The log-scale histogram: each document in the power-of-two bin its length falls in.
        let mut bins = std::collections::BTreeMap::new();
        for &length in lengths {
            *bins
                .entry(1u64 << (63 - length.leading_zeros()))
                .or_insert(0u64) += 1;
        }
        let got: Vec<(u64, u64)> = d["length_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["min_bytes"].as_u64().unwrap(),
                    b["documents"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, bins.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn both_layouts_give_equal_statistics() {
    let folder = run_stats(&["FIXTURES/corpus"]);
    let nested = run_stats(&[
        "FIXTURES/corpus-nested",
        "--domain-from",
        "column:meta.domain",
    ]);
    assert_eq!(folder["domains"], nested["domains"]);
    assert_eq!(folder["rows"], nested["rows"]);
}

#[test]
fn prints_a_readable_table() {
    let work = tempfile::tempdir().unwrap();
    let corpus = fixtures().join("corpus");
    let output = remix(
        work.path(),
        &["stats", "--corpus", corpus.to_str().unwrap(), "-o", "stats"],
    );
    assert_ok(&output);
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("domain") && lines[0].contains("median"),
        "{table}"
    );
    for domain in ["code", "email", "novel", "speeches", "TOTAL"] {
        assert!(
            lines.iter().any(|l| l.starts_with(domain)),
            "{domain} missing from\n{table}"
        );
    }
}

#[test]
fn globs_and_single_files_work() {
    let work = tempfile::tempdir().unwrap();
    let pattern = format!("{}/corpus/*/*.parquet", fixtures().display());
    let output = remix(
        work.path(),
        &[
            "stats", "--quiet", "--json", "--corpus", &pattern, "-o", "out",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["domains"].as_array().unwrap().len(), 4);
}

/// The stats stage split into tasks (`[executor] tasks = { stats = N }`), each task run through
/// `remix run --task I/N` and joined by `remix run`: the same `stats.json` and `stats.parquet`, byte for
/// byte, as the stage in one process, for 3 tasks and for 7 (more tasks than the fixtures' 4 row
/// groups: the extra ones aggregate nothing).
#[test]
fn stats_in_tasks_equal_the_one_process_stage() {
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, tasks: usize| {
        let root = dir.path().join(name);
        fs::create_dir_all(&root).unwrap();
        let rest = format!(
            "[manifest]\nname = \"x\"\ntrain_tokens = 1000000\n\n[executor]\ntasks = {{ stats = {tasks} }}\n"
        );
        let path = root.join("run.toml");
        fs::write(
            &path,
            small_pipeline(&fixtures().join("corpus"), 1000, &rest),
        )
        .unwrap();
        (root, path.to_str().unwrap().to_string())
    };
    let artifacts = |root: &std::path::Path| {
        ["stats.json", "stats.parquet"].map(|f| fs::read(root.join("work/stats").join(f)).unwrap())
    };
    let (whole, path) = config("whole", 1);
    assert_ok(&remix(
        &whole,
        &["run", "--quiet", &path, "--until", "stats"],
    ));
    let expected = artifacts(&whole);
    for tasks in [3, 7] {
        let (root, path) = config(&format!("tasks-{tasks}"), tasks);
        for index in 0..tasks {
            let task = format!("{index}/{tasks}");
            let stage = ["--from", "stats", "--until", "stats", "--task", &task];
            assert_ok(&remix(
                &root,
                &[&["run", "--quiet", &path][..], &stage].concat(),
            ));
        }
        let joined = remix(&root, &["run", &path, "--until", "stats"]);
        assert_ok(&joined);
        assert!(
            stderr(&joined).contains(&format!("stats: joining the output of its {tasks} tasks")),
            "{}",
            stderr(&joined)
        );
        assert!(
            artifacts(&root) == expected,
            "stats in {tasks} tasks differ from one process"
        );
        assert!(!root.join("work/stats-tasks").exists());
    }
}

/// Stats runs before tokenize and never reads its output: a token index beside the output folder is not
/// read, and `--tokens` joins one into what the command prints, leaving `stats.json` the corpus alone.
#[test]
fn token_counts_are_joined_only_when_asked() {
    let work = tempfile::tempdir().unwrap();
    tokenize_fixtures(work.path(), &[]);
    let index: Value =
        serde_json::from_slice(&fs::read(work.path().join("tokens/index.json")).unwrap()).unwrap();
    let corpus = fixtures().join("corpus");
    let corpus = corpus.to_str().unwrap();
    let args = [
        "stats", "--quiet", "--json", "-o", "stats", "--corpus", corpus,
    ];
    let output = remix(work.path(), &args);
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(printed["domains"][0]["tokens"].is_null(), "{printed}");

    let output = remix(work.path(), &[&args[..], &["--tokens", "tokens"]].concat());
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for domain in printed["domains"].as_array().unwrap() {
        let name = &domain["domain"];
        let expected = index["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| &d["domain"] == name)
            .unwrap();
        assert_eq!(domain["tokens"], expected["tokens"], "{name}");
        assert_eq!(domain["val_tokens"], expected["val_tokens"], "{name}");
    }
    let written: Value =
        serde_json::from_slice(&fs::read(work.path().join("stats/stats.json")).unwrap()).unwrap();
    assert!(written["domains"][0]["tokens"].is_null(), "{written}");
}

/// A Hive-partitioned corpus: the domain is the value of the `source=` folder nearest each file,
/// escapes decoded; a file outside any `source=` folder is refused with its path.
#[test]
fn a_hive_partition_key_names_the_domains() {
    let work = tempfile::tempdir().unwrap();
    let corpus = work.path().join("corpus");
    let text = |docs: &[&str]| {
        vec![(
            "text",
            strings(&docs.iter().map(|d| Some(*d)).collect::<Vec<_>>()),
        )]
    };
    write_parquet(
        &corpus.join("source=web/lang=en/part-0.parquet"),
        text(&["a web page", "another web page"]),
        10,
    );
    write_parquet(
        &corpus.join("source=web/lang=fr/part-0.parquet"),
        text(&["une page"]),
        10,
    );
    write_parquet(
        &corpus.join("source=code%2Fpy/part-0.parquet"),
        text(&["def f(): pass"]),
        10,
    );
    let args = [
        "stats",
        "--quiet",
        "--json",
        "-o",
        "out",
        "--domain-from",
        "hive:source",
        "--corpus",
        "corpus",
    ];
    let output = remix(work.path(), &args);
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        documents_per_domain(&report),
        BTreeMap::from([("code/py".into(), 1), ("web".into(), 3)])
    );

    write_parquet(&corpus.join("stray/part-0.parquet"), text(&["x"]), 10);
    let output = remix(work.path(), &args);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("stray/part-0.parquet") && error.contains("`source=<domain>`"),
        "{error}"
    );
}
