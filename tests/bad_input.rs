//! Bad input: a clear error naming the file and what to do, a non-zero exit, no partial output.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, StructArray};
use arrow::buffer::{Buffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field};
use common::*;
use serde_json::Value;

/// Runs `remix stats` on `corpus` (relative to `work`) and expects a failure whose message contains
/// every one of `needles`, with nothing written to the output folder.
fn expect_failure(work: &Path, corpus: &str, extra: &[&str], needles: &[&str]) {
    let mut args = vec!["stats", "--quiet", "--corpus", corpus, "-o", "out"];
    args.extend_from_slice(extra);
    let output = remix(work, &args);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "expected failure for {corpus}, got success"
    );
    assert_eq!(output.status.code(), Some(1));
    for needle in needles {
        assert!(
            message.contains(needle),
            "message lacks {needle:?}:\n{message}"
        );
    }
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        files_under(&work.join("out")).is_empty(),
        "partial output: {:?}",
        files_under(&work.join("out"))
    );
}

fn text_file(work: &Path, rel: &str, texts: &[Option<&str>]) {
    write_parquet(&work.join(rel), vec![("text", strings(texts))], 1000);
}

#[test]
fn missing_path() {
    let work = tempfile::tempdir().unwrap();
    expect_failure(
        work.path(),
        "nowhere/corpus",
        &[],
        &["nowhere/corpus", "does not exist"],
    );
}

#[test]
fn not_parquet() {
    let work = tempfile::tempdir().unwrap();
    fs::write(
        work.path().join("notes.parquet"),
        "just some text, not parquet",
    )
    .unwrap();
    expect_failure(
        work.path(),
        "notes.parquet",
        &[],
        &["notes.parquet", "not a readable Parquet file"],
    );
}

#[test]
fn truncated_parquet() {
    let work = tempfile::tempdir().unwrap();
    text_file(work.path(), "web/a.parquet", &[Some("hello world"); 100]);
    let bytes = fs::read(work.path().join("web/a.parquet")).unwrap();
    fs::write(work.path().join("web/a.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    expect_failure(work.path(), "web", &[], &["a.parquet", "truncated"]);
}

#[test]
fn missing_text_column_lists_the_columns() {
    let work = tempfile::tempdir().unwrap();
    write_parquet(
        &work.path().join("web/a.parquet"),
        vec![
            ("content", strings(&[Some("x")])),
            ("url", strings(&[Some("u")])),
        ],
        10,
    );
    expect_failure(
        work.path(),
        "web",
        &[],
        &[
            "a.parquet",
            "no text column `text`",
            "content (Utf8)",
            "url",
            "--text-column",
        ],
    );
}

#[test]
fn text_column_of_the_wrong_type() {
    let work = tempfile::tempdir().unwrap();
    let numbers: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    write_parquet(
        &work.path().join("web/a.parquet"),
        vec![("text", numbers)],
        10,
    );
    expect_failure(
        work.path(),
        "web",
        &[],
        &["a.parquet", "Int64", "string column"],
    );
}

#[test]
fn missing_domain_column() {
    let work = tempfile::tempdir().unwrap();
    text_file(work.path(), "all.parquet", &[Some("x")]);
    expect_failure(
        work.path(),
        "all.parquet",
        &["--domain-from", "column:meta.domain"],
        &["all.parquet", "meta.domain", "text (Utf8)"],
    );
}

#[test]
fn empty_corpus() {
    let work = tempfile::tempdir().unwrap();
    fs::create_dir_all(work.path().join("empty")).unwrap();
    expect_failure(work.path(), "empty", &[], &["empty", "no *.parquet files"]);
    text_file(work.path(), "zero/web/a.parquet", &[]);
    expect_failure(work.path(), "zero", &[], &["corpus is empty", "a.parquet"]);
}

#[test]
fn null_empty_and_invalid_text_are_counted_not_fatal() {
    let work = tempfile::tempdir().unwrap();
    // Arrow's writer does not validate UTF-8, so a file with a broken string can be made directly.
    let values = b"good one\xff\xfebadalso good";
    let offsets = OffsetBuffer::new(vec![0i32, 8, 13, 22].into());
    let text =
        unsafe { StringArray::new_unchecked(offsets, Buffer::from(values.as_slice()), None) };
    write_parquet(
        &work.path().join("corpus/web/a.parquet"),
        vec![("text", Arc::new(text) as ArrayRef)],
        10,
    );
    text_file(
        work.path(),
        "corpus/web/b.parquet",
        &[None, Some(""), Some("fine text here")],
    );
    let output = remix(
        work.path(),
        &[
            "stats", "--quiet", "--json", "--corpus", "corpus", "-o", "out",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let web = &report["domains"][0];
    assert_eq!(web["documents"], 3);
    assert_eq!(
        web["skipped"],
        serde_json::json!({"null_text": 1, "empty_text": 1, "invalid_utf8": 1})
    );
    assert_eq!(web["words"], 2 + 2 + 3);
}

#[test]
fn hostile_domain_names_are_kept_and_mapped_to_safe_stems() {
    let work = tempfile::tempdir().unwrap();
    let long = "x".repeat(300);
    let names: Vec<Option<&str>> = vec![
        Some("../../x"),
        Some("a/b"),
        Some(""),
        Some(&long),
        Some("tab\tbell\x07"),
        None,
    ];
    let domain = Arc::new(StringArray::from(names.clone())) as ArrayRef;
    let meta = StructArray::from(vec![(
        Arc::new(Field::new("domain", DataType::Utf8, true)),
        domain,
    )]);
    write_parquet(
        &work.path().join("c.parquet"),
        vec![
            ("text", strings(&[Some("one"); 6])),
            ("meta", Arc::new(meta) as ArrayRef),
        ],
        2,
    );
    let output = remix(
        work.path(),
        &[
            "stats",
            "--quiet",
            "--json",
            "--corpus",
            "c.parquet",
            "--domain-from",
            "column:meta.domain",
            "-o",
            "out",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["rows_without_domain"], 1);
    let domains = report["domains"].as_array().unwrap();
    let mut seen: Vec<&str> = domains
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    seen.sort();
    let mut want: Vec<&str> = names.iter().flatten().copied().collect();
    want.sort();
    assert_eq!(seen, want);
    for d in domains {
        let stem = d["file_stem"].as_str().unwrap();
        assert!(
            !stem.is_empty() && stem.len() <= 120 && !stem.starts_with('.'),
            "{stem}"
        );
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_%~".contains(&b)),
            "{stem}"
        );
    }
    assert_eq!(
        files_under(work.path()),
        vec![
            "c.parquet",
            "out/_done.json",
            "out/stats.json",
            "out/stats.parquet"
        ]
    );
}

#[test]
fn bad_domain_source_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    let output = remix(
        work.path(),
        &[
            "stats",
            "--corpus",
            "x",
            "--domain-from",
            "meta.domain",
            "-o",
            "out",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("column:DOT.PATH"),
        "{}",
        stderr(&output)
    );
}
