//! `remix sample` on the fixtures' token index: named rows, capped candidates, the same file from the same seed.

mod common;

use std::fs;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[test]
fn samples_named_and_capped_mixtures_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    tokenize_fixtures(work, &["--eval-only", "speeches"]);
    // 1M proxy tokens, at most 2 epochs: email (about 310k training tokens) is capped near 0.62.
    let args = [
        "sample",
        "--tokens",
        "tokens",
        "-n",
        "64",
        "--seed",
        "7",
        "--max-epochs",
        "2",
        "--train-tokens",
        "1000000",
    ];
    assert_ok(&remix(work, &[&args[..], &["-o", "a.parquet"]].concat()));
    assert_ok(&remix(work, &[&args[..], &["-o", "b.parquet"]].concat()));
    assert_eq!(
        fs::read(work.join("a.parquet")).unwrap(),
        fs::read(work.join("b.parquet")).unwrap()
    );

    let file = fs::File::open(work.join("a.parquet")).unwrap();
    let batch: RecordBatch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["mixture_id", "w_code", "w_email", "w_novel"],
        "eval-only speeches is never sampled"
    );
    assert_eq!(batch.num_rows(), 66);
    let ids = batch.column(0).as_string::<i32>();
    assert_eq!(
        (ids.value(0), ids.value(1), ids.value(2)),
        ("natural", "uniform", "cand-00001")
    );

    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(work.join("tokens/index.json")).unwrap()).unwrap();
    let tokens = |name: &str| {
        index["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap()["tokens"]
            .as_u64()
            .unwrap() as f64
    };
    let weights: Vec<&arrow::array::Float64Array> = (1..4)
        .map(|c| batch.column(c).as_primitive::<Float64Type>())
        .collect();
    for row in 2..batch.num_rows() {
        let sum: f64 = weights.iter().map(|w| w.value(row)).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        for (w, name) in weights.iter().zip(["code", "email", "novel"]) {
            assert!(
                w.value(row) <= 2.0 * tokens(name) / 1e6 + 1e-12,
                "{name} over its cap in row {row}"
            );
        }
    }
    let total = tokens("code") + tokens("email") + tokens("novel");
    assert!(
        (weights[1].value(0) - tokens("email") / total).abs() < 1e-12,
        "natural = token shares"
    );

    let output = remix(
        work,
        &[
            "sample",
            "--tokens",
            "tokens",
            "--train-tokens",
            "100000000",
            "-o",
            "c.parquet",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("lower --train-tokens or raise --max-epochs"),
        "{}",
        stderr(&output)
    );
    assert!(!work.join("c.parquet").exists());
}
