//! `remix tokens import` and `[tokens.import]`: token files a team already has, indexed where they are.
//!
//! The Megatron files here are laid out byte by byte from Megatron-LM's index format (several sequences
//! per document, as its preprocessing writes with sentence splitting), not with remix's writer; megatron-
//! core's own `IndexedDatasetBuilder` writes the files of `tests/trainers.rs`'s import check.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Writes a Megatron uint16 prefix: each document a list of sequences.
fn megatron(prefix: &Path, documents: &[Vec<Vec<u16>>]) {
    megatron_typed(prefix, documents, false)
}

/// [`megatron`], with int32 tokens when `int32`.
fn megatron_typed(prefix: &Path, documents: &[Vec<Vec<u16>>], int32: bool) {
    let width = if int32 { 4 } else { 2 };
    let sequences: Vec<&Vec<u16>> = documents.iter().flatten().collect();
    let mut bin = Vec::new();
    for s in &sequences {
        for t in *s {
            bin.extend_from_slice(&t.to_le_bytes());
            if int32 {
                bin.extend_from_slice(&[0, 0]);
            }
        }
    }
    let mut idx = b"MMIDIDX\0\0".to_vec();
    idx.extend_from_slice(&1u64.to_le_bytes());
    idx.push(if int32 { 4 } else { 8 });
    idx.extend_from_slice(&(sequences.len() as u64).to_le_bytes());
    idx.extend_from_slice(&(documents.len() as u64 + 1).to_le_bytes());
    for s in &sequences {
        idx.extend_from_slice(&(s.len() as i32).to_le_bytes());
    }
    let mut pointer = 0i64;
    for s in &sequences {
        idx.extend_from_slice(&pointer.to_le_bytes());
        pointer += width * s.len() as i64;
    }
    let mut at = 0i64;
    idx.extend_from_slice(&0i64.to_le_bytes());
    for d in documents {
        at += d.len() as i64;
        idx.extend_from_slice(&at.to_le_bytes());
    }
    fs::write(format!("{}.bin", prefix.display()), bin).unwrap();
    fs::write(format!("{}.idx", prefix.display()), idx).unwrap();
}

/// Raw uint16 tokens, as numpy's `tofile` writes them.
fn raw(path: &Path, tokens: &[u16]) {
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    fs::write(path, bytes).unwrap();
}

fn index(work: &Path) -> Value {
    serde_json::from_slice(&fs::read(work.join("tokens/index.json")).unwrap()).unwrap()
}

fn import(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["tokens", "import", "--quiet", "-o", "work"];
    all.extend_from_slice(args);
    remix(dir, &all)
}

#[test]
fn megatron_and_raw_files_are_indexed_in_place_with_the_last_documents_held_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // web: 3 documents in a.* (the first of two sequences), 2 in b.*; every document ends with EOD 0.
    megatron(
        &d.join("a"),
        &[
            vec![vec![5, 6], vec![7, 0]],
            vec![vec![8, 0]],
            vec![vec![9], vec![10, 11, 0]],
        ],
    );
    megatron(
        &d.join("b"),
        &[vec![vec![12, 0]], vec![vec![13, 14, 15, 0]]],
    );
    // books: four documents in one raw file, the last without its EOD.
    raw(&d.join("books.npy"), &[20, 21, 0, 22, 0, 0, 23, 24]);
    let output = import(
        d,
        &[
            "--megatron",
            "web=a,b",
            "--numpy",
            "books=books.npy",
            "--dtype",
            "uint16",
            "--eod-token-id",
            "0",
            "--val-documents",
            "2",
        ],
    );
    assert_ok(&output);
    let index = index(&d.join("work"));
    assert_eq!(index["dtype"], "uint16");
    assert_eq!(index["eod_id"], 0);
    assert_eq!(index["vocab_size"], 25, "the largest id plus one");
    let domains = index["domains"].as_array().unwrap();
    let (books, web) = (&domains[0], &domains[1]);
    assert_eq!(web["domain"], "web");
    // web's last two documents (b's) are held out; a is read whole.
    let a = d.canonicalize().unwrap().join("a");
    assert_eq!(
        web["parts"],
        serde_json::json!([{ "prefix": a.display().to_string(), "documents": 3, "tokens": 10 }])
    );
    assert_eq!(
        (web["val_documents"].as_u64(), web["val_tokens"].as_u64()),
        (Some(2), Some(6))
    );
    let val = fs::read(d.join("work/tokens/web.val.bin")).unwrap();
    assert_eq!(val, [12, 0, 0, 0, 13, 0, 14, 0, 15, 0, 0, 0]);
    // books: documents [20 21 0] [22 0] [0] [23 24]; the last two are held out.
    assert_eq!(
        books["parts"],
        serde_json::json!([{ "prefix": "books.0", "documents": 2, "tokens": 5 }])
    );
    let link = fs::read_link(d.join("work/tokens/books.0.bin")).unwrap();
    assert_eq!(link, d.join("books.npy").canonicalize().unwrap());
    assert_eq!(books["val_tokens"], 3);
    // Nothing of the training tokens was copied.
    let copied: u64 = fs::read_dir(d.join("work/tokens"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.metadata().unwrap().len())
        .filter(|&n| n > 0)
        .count() as u64;
    assert!(copied > 0);
    assert!(!d.join("work/tokens/web.bin").exists());
}

/// Runs an import that must fail; returns its stderr after checking nothing was written.
fn refused(dir: &Path, args: &[&str]) -> String {
    let output = import(dir, args);
    assert!(!output.status.success(), "{args:?} was accepted");
    assert!(
        !dir.join("work/tokens").exists(),
        "{args:?} left a tokens folder"
    );
    let leftovers: Vec<PathBuf> = fs::read_dir(dir.join("work"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{args:?} left {leftovers:?}");
    stderr(&output)
}

#[test]
fn bad_token_files_are_refused_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = |end: u16| {
        vec![
            vec![vec![1, 2, end]],
            vec![vec![3, end]],
            vec![vec![4, end]],
        ]
    };
    megatron(&d.join("good"), &docs(0));

    let err = refused(d, &["--megatron", "web=good,missing"]);
    assert!(
        err.contains("missing.idx") && err.contains("does not exist"),
        "{err}"
    );

    megatron(&d.join("short"), &docs(0));
    let bin = d.join("short.bin");
    let bytes = fs::read(&bin).unwrap();
    fs::write(&bin, &bytes[..bytes.len() - 2]).unwrap();
    let err = refused(d, &["--megatron", "web=good,short"]);
    assert!(
        err.contains("short.bin") && err.contains("truncated"),
        "{err}"
    );

    // An int32 prefix beside a uint16 one.
    megatron_typed(&d.join("wide"), &docs(0), true);
    let err = refused(d, &["--megatron", "web=good,wide"]);
    assert!(err.contains("wide.bin") && err.contains("dtype"), "{err}");

    // Documents that end with another token: another vocabulary.
    megatron(&d.join("other"), &docs(7));
    let err = refused(d, &["--megatron", "web=good,other", "--eod-token-id", "0"]);
    assert!(
        err.contains("other.bin") && err.contains("vocabulary"),
        "{err}"
    );

    let err = refused(d, &["--megatron", "web=good", "--vocab-size", "4"]);
    assert!(
        err.contains("good.bin") && err.contains("token id 4"),
        "{err}"
    );

    megatron(&d.join("one"), &[vec![vec![1, 0]]]);
    let err = refused(d, &["--megatron", "web=good", "--megatron", "tiny=one"]);
    assert!(
        err.contains("`tiny`") && err.contains("validation"),
        "{err}"
    );

    fs::write(d.join("header.npy"), b"\x93NUMPY\x01\x00rest").unwrap();
    let args = ["--dtype", "uint16", "--eod-token-id", "0"];
    let err = refused(d, &[&["--numpy", "web=header.npy"][..], &args].concat());
    assert!(
        err.contains("header.npy") && err.contains("NumPy header"),
        "{err}"
    );

    fs::write(d.join("odd.npy"), [1u8, 0, 0]).unwrap();
    let err = refused(d, &[&["--numpy", "web=odd.npy"][..], &args].concat());
    assert!(
        err.contains("odd.npy") && err.contains("truncated"),
        "{err}"
    );

    let err = refused(d, &["--numpy", "web=odd.npy"]);
    assert!(err.contains("--dtype"), "{err}");

    // Files inside the tokens folder the import replaces are refused, and the folder stays as it was.
    assert_ok(&import(d, &["--megatron", "web=good"]));
    let index_before = fs::read(d.join("work/tokens/index.json")).unwrap();
    let output = import(d, &["--megatron", "web=work/tokens/web.val"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("web.val") && err.contains("inside"), "{err}");
    assert_eq!(
        fs::read(d.join("work/tokens/index.json")).unwrap(),
        index_before
    );
    assert!(
        d.join("work/tokens/_done.json").exists(),
        "the marker is kept"
    );
}

#[test]
fn a_pipeline_trains_on_imported_shards_and_exports_them_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = d.join("source");
    fs::create_dir_all(&source).unwrap();
    tokenize_fixtures(&source, &["--eval-only", "speeches"]);
    let tokens = source.join("tokens");
    let prefix = |name: &str| tokens.join(name).display().to_string();
    let data = format!(
        "[tokens.import]\nmegatron = {{ code = [\"{}\"], email = [\"{}\", \"{}\"], novel = [\"{}\"], speeches = [\"{}\"] }}\n\
         eval_only = [\"speeches\"]\nval_documents = 1\n",
        prefix("code"),
        prefix("email"),
        prefix("email.val"),
        prefix("novel"),
        prefix("speeches.val"),
    );
    let rest = "[manifest]\nname = \"imported\"\ntrain_tokens = 1000000\nexports = [\"megatron\", \"olmo-core\"]\n";
    fs::write(d.join("run.toml"), small_pipeline_over(&data, 2000, rest)).unwrap();
    let output = remix(d, &["run", "--quiet", "run.toml"]);
    assert_ok(&output);
    let out = stdout(&output);
    assert!(
        !out.contains("stats ") || out.contains("stats      disabled"),
        "{out}"
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(d.join("work/mixtures/imported.json")).unwrap()).unwrap();
    let email = manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "email")
        .unwrap();
    let shards: Vec<&str> = email["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["prefix"].as_str().unwrap())
        .collect();
    let canonical = |name: &str| {
        tokens
            .canonicalize()
            .unwrap()
            .join(name)
            .display()
            .to_string()
    };
    assert_eq!(shards, [canonical("email"), canonical("email.val")]);
    // Megatron's --data-path lists every file, the domain's weight split by their tokens.
    let args = fs::read_to_string(d.join("work/mixtures/imported.megatron.args")).unwrap();
    let words: Vec<&str> = args.split_whitespace().skip(1).collect();
    let weight_of = |prefix: &str| -> f64 {
        let at = words.iter().position(|w| *w == prefix).unwrap();
        words[at - 1].parse().unwrap()
    };
    let total = weight_of(&canonical("email")) + weight_of(&canonical("email.val"));
    assert!((total - email["weight"].as_f64().unwrap()).abs() < 1e-12);
    let olmo = fs::read_to_string(d.join("work/mixtures/imported.olmo-core.yaml")).unwrap();
    assert!(
        olmo.contains(&format!("{}.bin", canonical("email.val"))),
        "{olmo}"
    );

    // Nothing to do the second time.
    let again = stdout(&remix(d, &["run", "--quiet", "run.toml"]));
    assert!(again.contains("tokenize   skipped"), "{again}");
}
