//! `remix tokenize` and `remix tokenizer train`: shards read back by an independent reader.

mod common;

use std::fs;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tokenizers::Tokenizer;

/// A Megatron indexed dataset read from the format description alone: the documents' token ids.
fn read_megatron(prefix: &Path) -> Vec<Vec<u32>> {
    let idx = fs::read(format!("{}.idx", prefix.display())).unwrap();
    let bin = fs::read(format!("{}.bin", prefix.display())).unwrap();
    let u64_at = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().unwrap());
    assert_eq!(&idx[..9], b"MMIDIDX\0\0", "magic");
    assert_eq!(u64_at(9), 1, "version");
    let dtype = idx[17];
    let width = match dtype {
        8 => 2,
        4 => 4,
        other => panic!("unexpected dtype code {other}"),
    };
    let sequences = u64_at(18) as usize;
    let documents = u64_at(26) as usize;
    assert_eq!(documents, sequences + 1);
    let lengths_at = 34;
    let pointers_at = lengths_at + 4 * sequences;
    let doc_idx_at = pointers_at + 8 * sequences;
    assert_eq!(
        idx.len(),
        doc_idx_at + 8 * documents,
        "no padding, nothing after the document index"
    );
    let mut out = Vec::with_capacity(sequences);
    let mut expected_pointer = 0i64;
    for s in 0..sequences {
        let length = i32::from_le_bytes(
            idx[lengths_at + 4 * s..lengths_at + 4 * s + 4]
                .try_into()
                .unwrap(),
        ) as usize;
        let pointer = i64::from_le_bytes(
            idx[pointers_at + 8 * s..pointers_at + 8 * s + 8]
                .try_into()
                .unwrap(),
        );
        assert_eq!(pointer, expected_pointer, "byte offset of sequence {s}");
        expected_pointer += (length * width) as i64;
        let bytes = &bin[pointer as usize..pointer as usize + length * width];
        out.push(
            bytes
                .chunks_exact(width)
                .map(|c| {
                    if width == 2 {
                        u16::from_le_bytes([c[0], c[1]]) as u32
                    } else {
                        i32::from_le_bytes(c.try_into().unwrap()) as u32
                    }
                })
                .collect(),
        );
    }
    for d in 0..documents {
        assert_eq!(u64_at(doc_idx_at + 8 * d), d as u64, "document index");
    }
    assert_eq!(
        expected_pointer as usize,
        bin.len(),
        ".bin holds exactly the sequences"
    );
    out
}

/// The texts of every Parquet file under `dir`, in file order.
fn texts_under(dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for name in files_under(dir) {
        let file = fs::File::open(dir.join(name)).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch: RecordBatch = batch.unwrap();
            let column = batch.column_by_name("text").unwrap();
            texts.extend(
                column
                    .as_string::<i32>()
                    .iter()
                    .map(|t| t.unwrap().to_string()),
            );
        }
    }
    texts
}

fn dedup_fixtures(work: &Path) {
    let corpus = fixtures().join("corpus");
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
}

#[test]
fn shards_match_a_direct_encode_in_corpus_order() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    dedup_fixtures(work);
    let tokenizer_path = fixtures().join("tokenizer.json");
    let tokenizer_arg = tokenizer_path.to_str().unwrap();
    let output = remix(
        work,
        &[
            "tokenize",
            "--quiet",
            "--input",
            "dedup",
            "--tokenizer",
            tokenizer_arg,
            "-o",
            ".",
            "--eval-only",
            "speeches",
        ],
    );
    assert_ok(&output);

    let tokenizer = Tokenizer::from_file(&tokenizer_path).unwrap();
    let eod = tokenizer.token_to_id("<|endoftext|>").unwrap();
    let index: Value =
        serde_json::from_slice(&fs::read(work.join("tokens/index.json")).unwrap()).unwrap();
    assert_eq!(index["dtype"], "uint16");
    assert_eq!(index["eod_id"], eod);
    assert_eq!(index["vocab_size"], 4096);
    for domain in index["domains"].as_array().unwrap() {
        let name = domain["domain"].as_str().unwrap();
        let train = read_megatron(&work.join("tokens").join(name));
        let val = read_megatron(&work.join("tokens").join(format!("{name}.val")));
        assert_eq!(train.len() as u64, domain["documents"].as_u64().unwrap());
        assert_eq!(val.len() as u64, domain["val_documents"].as_u64().unwrap());
        assert_eq!(
            train.iter().map(Vec::len).sum::<usize>() as u64,
            domain["tokens"].as_u64().unwrap()
        );
        if name == "speeches" {
            assert_eq!(domain["eval_only"], true);
            assert!(
                train.is_empty() && val.len() == 20,
                "eval-only: all 20 speeches held out"
            );
        } else {
            assert!(
                !val.is_empty() && val.len() * 20 < train.len() + val.len() + 20,
                "{name}: a small held-out share"
            );
        }
        // Every document of the dedup output, encoded directly, is the next document of one shard.
        let (mut t, mut v) = (0, 0);
        for text in texts_under(&work.join("dedup").join(name)) {
            let mut ids = tokenizer
                .encode(text.as_str(), false)
                .unwrap()
                .get_ids()
                .to_vec();
            ids.push(eod);
            if t < train.len() && train[t] == ids {
                t += 1;
            } else if v < val.len() && val[v] == ids {
                v += 1;
            } else {
                panic!(
                    "{name}: document {} of the dedup output is not the next document of either shard",
                    t + v
                );
            }
        }
        assert_eq!(
            (t, v),
            (train.len(), val.len()),
            "{name}: shards hold exactly the documents"
        );
    }
}

#[test]
fn same_input_same_bytes_and_a_fixed_validation_split() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    dedup_fixtures(work);
    let tokenizer = fixtures().join("tokenizer.json");
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "tokenize",
            "--quiet",
            "--input",
            "dedup",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        assert_ok(&remix(work, &args));
    };
    run("a", &[]);
    run("b", &[]);
    let names = files_under(&work.join("a/tokens"));
    assert!(names.contains(&"email.val.idx".to_string()), "{names:?}");
    for name in names.iter().filter(|n| !n.starts_with('_')) {
        assert_eq!(
            fs::read(work.join("a/tokens").join(name)).unwrap(),
            fs::read(work.join("b/tokens").join(name)).unwrap(),
            "{name}"
        );
    }
    run("c", &["--val-documents", "10"]);
    let index: Value =
        serde_json::from_slice(&fs::read(work.join("c/tokens/index.json")).unwrap()).unwrap();
    for domain in index["domains"].as_array().unwrap() {
        assert_eq!(domain["val_documents"], 10, "{domain}");
    }
    // The held-out documents of a count are a superset of those of a smaller fraction (same hash order).
    let small = read_megatron(&work.join("a/tokens/email.val"));
    let ten = read_megatron(&work.join("c/tokens/email.val"));
    assert!(small.len() < 10 && small.iter().all(|doc| ten.contains(doc)));
}

#[test]
fn tokenizer_train_is_deterministic_and_has_the_eod_token() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = fixtures().join("corpus");
    for out in ["one.json", "two.json"] {
        let output = remix(
            dir.path(),
            &[
                "tokenizer",
                "train",
                "--quiet",
                "--corpus",
                corpus.to_str().unwrap(),
                "--vocab-size",
                "1024",
                "-o",
                out,
            ],
        );
        assert_ok(&output);
    }
    let one = fs::read(dir.path().join("one.json")).unwrap();
    assert_eq!(one, fs::read(dir.path().join("two.json")).unwrap());
    let tokenizer = Tokenizer::from_file(dir.path().join("one.json")).unwrap();
    assert_eq!(tokenizer.get_vocab_size(true), 1024);
    assert!(tokenizer.token_to_id("<|endoftext|>").is_some());
    // Byte-level: any text round-trips.
    let text = "naïve café — 東京 🚀 fn main() {}";
    let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
    assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
}

/// The tokenize stage split into tasks (`[executor] tasks = { tokenize = N }`), its three phases run one
/// task at a time through `remix run --phase P --task I/N`, then joined by `remix run`: per domain the
/// same documents in the same order (the training shards of the tasks, read in the order `index.json`
/// lists them, hold the one-process shard's documents), a byte-identical validation shard, and the same
/// counts and content digests, for 3 tasks and for 40 (more than the 35 row groups of the deduplicated corpus: the extra tasks
/// have nothing to do).
#[test]
fn tokenize_in_tasks_gives_the_one_process_streams_and_split() {
    let dir = tempfile::tempdir().unwrap();
    // The fixtures' texts in row groups of 25 documents, so that a domain spans several tasks.
    let corpus = dir.path().join("corpus");
    for domain in ["code", "email", "novel", "speeches"] {
        let texts = texts_under(&fixtures().join("corpus").join(domain));
        let texts: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
        write_parquet(
            &corpus.join(domain).join("part-0.parquet"),
            vec![("text", strings(&texts))],
            25,
        );
    }
    let config = |name: &str, tasks: usize| {
        let root = dir.path().join(name);
        fs::create_dir_all(&root).unwrap();
        let rest = format!(
            "[manifest]\nname = \"x\"\ntrain_tokens = 1000000\n\n[executor]\ntasks = {{ tokenize = {tasks} }}\n"
        );
        let path = root.join("run.toml");
        fs::write(&path, small_pipeline(&corpus, 1000, &rest)).unwrap();
        (root, path.to_str().unwrap().to_string())
    };
    let (whole, path) = config("whole", 1);
    assert_ok(&remix(
        &whole,
        &["run", "--quiet", &path, "--until", "tokenize"],
    ));
    let tokens = whole.join("work/tokens");
    let expected: Value =
        serde_json::from_slice(&fs::read(tokens.join("index.json")).unwrap()).unwrap();

    for tasks in [3, 40] {
        let (root, path) = config(&format!("tasks-{tasks}"), tasks);
        assert_ok(&remix(
            &root,
            &["run", "--quiet", &path, "--until", "dedup"],
        ));
        let stage = [
            "run", &path, "--quiet", "--from", "tokenize", "--until", "tokenize",
        ];
        for (phase, count) in [("hashes", tasks), ("split", 1), ("encode", tasks)] {
            for index in (0..count).rev() {
                let task = format!("{index}/{count}");
                assert_ok(&remix(
                    &root,
                    &[&stage[..], &["--phase", phase, "--task", &task]].concat(),
                ));
            }
        }
        let joined = remix(&root, &["run", &path, "--until", "tokenize"]);
        assert_ok(&joined);
        assert!(
            stderr(&joined).contains(&format!(
                "tokenize: joining the output of its {tasks} tasks"
            )),
            "{}",
            stderr(&joined)
        );
        let split_tokens = root.join("work/tokens");
        let index: Value =
            serde_json::from_slice(&fs::read(split_tokens.join("index.json")).unwrap()).unwrap();
        let domains = expected["domains"].as_array().unwrap();
        assert_eq!(index["domains"].as_array().unwrap().len(), domains.len());
        let mut several = false;
        for (want, got) in domains.iter().zip(index["domains"].as_array().unwrap()) {
            for field in [
                "domain",
                "documents",
                "tokens",
                "val_documents",
                "val_tokens",
                "eval_only",
                "digest",
            ] {
                assert_eq!(want[field], got[field], "{field} with {tasks} tasks");
            }
            assert_eq!(want["digest"].as_str().map(str::len), Some(32));
            let stem = want["file_stem"].as_str().unwrap();
            let val = |dir: &Path| {
                ["bin", "idx"].map(|e| fs::read(dir.join(format!("{stem}.val.{e}"))).unwrap())
            };
            assert!(
                val(&tokens) == val(&split_tokens),
                "{stem}.val with {tasks} tasks"
            );
            let one = read_megatron(&tokens.join(stem));
            let parts = got["parts"].as_array().cloned().unwrap_or_default();
            let streamed: Vec<Vec<u32>> = if parts.is_empty() {
                read_megatron(&split_tokens.join(stem))
            } else {
                several |= parts.len() > 1;
                parts
                    .iter()
                    .flat_map(|p| read_megatron(&split_tokens.join(p["prefix"].as_str().unwrap())))
                    .collect()
            };
            assert!(
                one == streamed,
                "{stem}'s training documents with {tasks} tasks"
            );
        }
        assert!(
            several,
            "no domain over several task shards with {tasks} tasks"
        );
        assert!(!root.join("work/tokenize-tasks").exists());
    }
}

/// A tokenizer that spells most of the corpus as its unknown token is refused before anything is
/// written, naming it; `remix plan` refuses it the same way.
#[test]
fn a_tokenizer_that_does_not_cover_the_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let words = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<|endoftext|>": 1, "the": 2, "of": 3},
                  "unk_token": "<unk>"}
    });
    std::fs::write(work.join("words.json"), words.to_string()).unwrap();
    let corpus = fixtures().join("corpus");
    let output = remix(
        work,
        &[
            "tokenize",
            "--quiet",
            "--input",
            corpus.to_str().unwrap(),
            "--tokenizer",
            "words.json",
            "-o",
            ".",
        ],
    );
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("are its unknown token `<unk>`") && message.contains("words.json"),
        "{message}"
    );
    assert!(!work.join("tokens").exists(), "something was written");
    let config = small_pipeline(
        &corpus,
        1000,
        "\n[manifest]\nname = \"w\"\ntrain_tokens = 1000000\n",
    )
    .replace(
        &fixtures().join("tokenizer.json").display().to_string(),
        &work.join("words.json").display().to_string(),
    );
    std::fs::write(work.join("pipeline.toml"), config).unwrap();
    let output = remix(work, &["plan", "pipeline.toml"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown token `<unk>`"),
        "{}",
        stderr(&output)
    );
}
