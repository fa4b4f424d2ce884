//! Parquet as the tools teams use write it, written here by pyarrow itself: brotli compression (a pandas
//! `to_parquet` option), Hive-partitioned folders (Spark's `partitionBy`, DuckDB's `PARTITION_BY`,
//! pyarrow's `partition_cols`) and a dictionary-encoded text column (a pandas categorical).
//!
//! pyarrow comes from the trainers' environment, which `.ci/run` builds and names in
//! `REMIX_TRAINERS_PYTHON`; without it (a development machine) each test says so and does nothing, and
//! CI, which always sets it, fails when pyarrow is missing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// Runs `script` with the trainers' Python in `dir`; `false` when there is none.
fn pyarrow(dir: &Path, script: &str) -> bool {
    let Ok(python) = std::env::var("REMIX_TRAINERS_PYTHON") else {
        eprintln!("skipping: REMIX_TRAINERS_PYTHON is not set (.ci/run builds that environment)");
        return false;
    };
    python_ok(
        Command::new(&python)
            .arg("-c")
            .arg(format!(
                "import pyarrow as pa, pyarrow.parquet as pq\n{script}"
            ))
            .current_dir(dir),
        "a pyarrow script",
    );
    true
}

/// `remix stats` on `corpus` with `extra` arguments: documents per domain, and stderr.
fn documents(dir: &Path, extra: &[&str]) -> (BTreeMap<String, u64>, String) {
    let mut args = vec![
        "stats", "--quiet", "--json", "-o", "out", "--corpus", "corpus",
    ];
    args.extend(extra);
    let output = remix(dir, &args);
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let documents = documents_per_domain(&report);
    (documents, stderr(&output))
}

const DOCS: &str = r#"docs = {"web": ["a web page", "another web page", "a third"], "code": ["def f(): pass", "x = 1"]}"#;

#[test]
fn brotli_compressed_parquet_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "import os\n{DOCS}\nfor d, texts in docs.items():\n    os.makedirs(f'corpus/{{d}}')\n    \
         pq.write_table(pa.table({{'text': texts}}), f'corpus/{{d}}/part-0.parquet', compression='brotli')"
    );
    if !pyarrow(dir.path(), &script) {
        return;
    }
    let (documents, _) = documents(dir.path(), &[]);
    assert_eq!(
        documents,
        BTreeMap::from([("code".into(), 2), ("web".into(), 3)])
    );
}

#[test]
fn hive_partitions_name_the_domains_by_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{DOCS}\nrows = [(d, t) for d, texts in docs.items() for t in texts]\n\
         table = pa.table({{'source': [r[0] for r in rows], 'text': [r[1] for r in rows]}})\n\
         pq.write_to_dataset(table, 'corpus', partition_cols=['source'])\n\
         open('corpus/_SUCCESS', 'w').close()"
    );
    if !pyarrow(dir.path(), &script) {
        return;
    }
    let (by_key, _) = documents(dir.path(), &["--domain-from", "hive:source"]);
    assert_eq!(
        by_key,
        BTreeMap::from([("code".into(), 2), ("web".into(), 3)])
    );
    // Plain folders take the folder's whole name, and say how to name the domain by the key.
    let (by_folder, log) = documents(dir.path(), &[]);
    assert_eq!(
        by_folder,
        BTreeMap::from([("source=code".into(), 2), ("source=web".into(), 3)])
    );
    assert!(log.contains("--domain-from hive:source"), "{log}");
}

#[test]
fn a_dictionary_encoded_text_column_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "import os\n{DOCS}\nfor d, texts in docs.items():\n    os.makedirs(f'corpus/{{d}}')\n    \
         text = pa.array(texts + texts[:1]).dictionary_encode()\n    \
         assert pa.types.is_dictionary(text.type)\n    \
         pq.write_table(pa.table({{'text': text}}), f'corpus/{{d}}/part-0.parquet')"
    );
    if !pyarrow(dir.path(), &script) {
        return;
    }
    let (documents, _) = documents(dir.path(), &[]);
    assert_eq!(
        documents,
        BTreeMap::from([("code".into(), 3), ("web".into(), 4)])
    );
}
