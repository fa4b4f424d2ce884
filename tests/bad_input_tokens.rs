//! Bad input to dedup and tokenize: clear errors, non-zero exits, nothing half-written.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

fn small_corpus(dir: &std::path::Path) {
    let docs = [
        Some("one small document of text"),
        Some("another small document here"),
        Some("a third one"),
    ];
    write_parquet(
        &dir.join("corpus/web/p.parquet"),
        vec![("text", strings(&docs))],
        10,
    );
}

fn expect_error(output: &std::process::Output, needles: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "message lacks {needle:?}:\n{message}"
        );
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn missing_or_invalid_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    small_corpus(dir.path());
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "nope.json",
            "-o",
            "work",
        ],
    );
    expect_error(&output, &["nope.json", "remix tokenizer train"]);
    fs::write(dir.path().join("bad.json"), "{\"not\": \"a tokenizer\"}").unwrap();
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "bad.json",
            "-o",
            "work",
        ],
    );
    expect_error(
        &output,
        &["bad.json", "is not a HuggingFace tokenizer.json"],
    );
    assert!(files_under(&dir.path().join("work")).is_empty());
}

#[test]
fn tokenizer_without_an_end_of_document_token() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = fixtures().join("corpus");
    let output = remix(
        dir.path(),
        &[
            "tokenizer",
            "train",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "--vocab-size",
            "300",
            "--eod-token",
            "<|doc|>",
            "-o",
            "tok.json",
        ],
    );
    assert_ok(&output);
    small_corpus(dir.path());
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "tok.json",
            "-o",
            "work",
        ],
    );
    expect_error(&output, &["tok.json", "--eod-token"]);
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "tok.json",
            "-o",
            "work",
            "--eod-token",
            "<|x|>",
        ],
    );
    expect_error(&output, &["no token `<|x|>`"]);
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "tok.json",
            "-o",
            "work",
            "--eod-token",
            "<|doc|>",
            "--json",
        ],
    );
    assert_ok(&output);
    let index: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        index["domains"][0]["documents"].as_u64().unwrap()
            + index["domains"][0]["val_documents"].as_u64().unwrap(),
        3
    );
}

#[test]
fn a_failed_run_keeps_the_previous_result_and_an_unwritable_output_is_named() {
    let dir = tempfile::tempdir().unwrap();
    small_corpus(dir.path());
    let tokenizer = fixtures().join("tokenizer.json");
    let tokenizer = tokenizer.to_str().unwrap();
    assert_ok(&remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            tokenizer,
            "-o",
            "work",
        ],
    ));
    let before: Vec<(String, Vec<u8>)> = files_under(&dir.path().join("work"))
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                fs::read(dir.path().join("work").join(&n)).unwrap(),
            )
        })
        .collect();
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            "missing.json",
            "-o",
            "work",
        ],
    );
    expect_error(&output, &["missing.json"]);
    for (name, bytes) in &before {
        assert_eq!(
            &fs::read(dir.path().join("work").join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
    }
    // An output folder that cannot be created (a file is in the way): the error names it.
    fs::write(dir.path().join("blocker"), "").unwrap();
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            tokenizer,
            "-o",
            "blocker/work",
        ],
    );
    expect_error(&output, &["blocker/work"]);
    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            "corpus",
            "-o",
            "blocker/work",
        ],
    );
    expect_error(&output, &["blocker/work"]);
}

#[test]
fn a_document_over_100_mb() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "lorem ipsum dolor sit amet ".repeat((101 << 20) / 27 + 1);
    assert!(huge.len() > 100 << 20);
    let docs = [
        Some("a short document"),
        Some(huge.as_str()),
        Some("another short document"),
    ];
    write_parquet(
        &dir.path().join("corpus/web/p.parquet"),
        vec![("text", strings(&docs))],
        10,
    );
    drop(huge);
    let output = remix(
        dir.path(),
        &[
            "dedup", "--quiet", "--corpus", "corpus", "-o", "work", "--json",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["kept"], 3);
    // A tokenizer trained on that corpus reads each document to its first MiB (105.9 MB before).
    let output = remix(
        dir.path(),
        &[
            "tokenizer",
            "train",
            "--quiet",
            "--corpus",
            "corpus",
            "--vocab-size",
            "300",
            "-o",
            "tok.json",
        ],
    );
    assert_ok(&output);
    let text = stdout(&output);
    let megabytes: f64 = text
        .split_once(" documents (")
        .and_then(|(_, rest)| rest.split_once(" MB)"))
        .and_then(|(mb, _)| mb.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    // The seed's sample holds the long document: its first MiB (1.05 MB) and at most the two short ones.
    assert!((1.0..=1.1).contains(&megabytes), "{text}");
    let tokenizer = fixtures().join("tokenizer.json");
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "work/dedup",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-o",
            "work",
            "--json",
        ],
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains("--max-document-bytes"),
        "{}",
        stderr(&output)
    );
    let index: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let web = &index["domains"][0];
    assert_eq!(
        web["documents"].as_u64().unwrap() + web["val_documents"].as_u64().unwrap(),
        2
    );
}

/// A 1 MB tmpfs, unmounted when dropped; `None` where mounting is not allowed (not root).
struct TinyDisk {
    path: std::path::PathBuf,
}

impl TinyDisk {
    fn mount(dir: &std::path::Path) -> Option<Self> {
        let path = dir.join("tiny");
        fs::create_dir_all(&path).ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Self { path })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = TinyDisk::mount(dir.path()) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let corpus = fixtures().join("corpus");
    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "-o",
            "tiny/work",
        ],
    );
    expect_error(&output, &["disk full"]);
    assert!(
        files_under(&disk.path).is_empty(),
        "left behind: {:?}",
        files_under(&disk.path)
    );

    assert_ok(&remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "-o",
            "work",
        ],
    ));
    let tokenizer = fixtures().join("tokenizer.json");
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "work/dedup",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-o",
            "tiny/work",
        ],
    );
    expect_error(&output, &["disk full"]);
    assert!(
        files_under(&disk.path).is_empty(),
        "left behind: {:?}",
        files_under(&disk.path)
    );
}

/// A training domain of one document cannot hold one out for validation, and `remix train` would stop on
/// it after the tokens are written: tokenize names it, with the settings to change, and writes nothing.
/// As evaluation-only, the same domain is fine.
#[test]
fn a_domain_without_a_held_out_document_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    small_corpus(dir.path());
    write_parquet(
        &dir.path().join("corpus/solo/p.parquet"),
        vec![("text", strings(&[Some("the only document of this domain")]))],
        10,
    );
    let tokenizer = fixtures().join("tokenizer.json");
    let tokenize = |extra: &[&str]| {
        let mut args = vec![
            "tokenize",
            "--quiet",
            "--input",
            "corpus",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-o",
            "work",
        ];
        args.extend_from_slice(extra);
        remix(dir.path(), &args)
    };
    expect_error(
        &tokenize(&[]),
        &["`solo` (1 document)", "--eval-only", "at least 2 documents"],
    );
    assert!(files_under(&dir.path().join("work")).is_empty());
    expect_error(
        &tokenize(&["--val-fraction", "0"]),
        &["`solo` (1 document)", "`web` (3 documents)"],
    );
    assert_ok(&tokenize(&["--eval-only", "solo"]));
}
