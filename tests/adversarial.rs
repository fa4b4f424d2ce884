//! Adversarial corpora through `remix run`: the pipeline either finishes or stops before any training
//! with an error naming the domain and the setting to change; never between two of its own stages.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `count` distinct documents of about `words` words each (a deterministic word salad).
fn documents(seed: u64, count: usize, words: usize) -> Vec<String> {
    const VOCABULARY: [&str; 16] = [
        "river", "stone", "ledger", "quiet", "market", "signal", "harbor", "copper", "winter",
        "garden", "engine", "letter", "summit", "velvet", "orchard", "lantern",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            (0..words)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    VOCABULARY[(state >> 60) as usize]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The fixtures corpus (code, email, novel, speeches) with `extra` domains added, under `dir/corpus`.
fn corpus_with(dir: &Path, extra: &[(&str, Vec<String>)]) {
    for domain in ["code", "email", "novel", "speeches"] {
        let to = dir.join("corpus").join(domain);
        fs::create_dir_all(&to).unwrap();
        fs::copy(
            fixtures()
                .join("corpus")
                .join(domain)
                .join("part-00000.parquet"),
            to.join("part-00000.parquet"),
        )
        .unwrap();
    }
    for (domain, docs) in extra {
        let docs: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
        write_parquet(
            &dir.join("corpus").join(domain).join("p.parquet"),
            vec![("text", strings(&docs))],
            100,
        );
    }
}

fn write_config(dir: &Path) {
    let text = format!(
        r#"
work = "work"
seed = 5

[corpus]
paths = ["corpus"]
tokenizer = "{tokenizer}"

[dedup]

[tokenize]
eval_only = ["speeches"]

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
val_sequences = 4

[regmix.sample]
candidates = 6

[regmix.fit]
target = ["speeches"]
regressors = ["ols", "ridge"]

[regmix.simulate]
candidates = 2000

[manifest]
name = "adversarial"
train_tokens = 1000000
allow_repeat = true
exports = ["megatron"]
"#,
        tokenizer = fixtures().join("tokenizer.json").display(),
    );
    fs::write(dir.join("pipeline.toml"), text).unwrap();
}

/// A domain far too small for the uniform mixture (a few hundred tokens against 16,384 per proxy): the
/// uniform reference row is capped where `remix sample` writes it, so `remix train` takes every row and
/// the pipeline finishes.
#[test]
fn a_tiny_domain_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    corpus_with(dir.path(), &[("tiny", documents(7, 3, 120))]);
    write_config(dir.path());
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    assert_ok(&output);
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.path().join("work/mixtures/adversarial.json")).unwrap(),
    )
    .unwrap();
    let domains: Vec<&str> = manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert!(domains.contains(&"tiny"), "{domains:?}");
}

/// A domain of one document cannot be scored on a held-out document: the run stops at tokenize, naming
/// the domain and the settings, before any proxy trains.
#[test]
fn a_one_document_domain_stops_before_training() {
    let dir = tempfile::tempdir().unwrap();
    corpus_with(dir.path(), &[("solo", documents(11, 1, 200))]);
    write_config(dir.path());
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("`solo` (1 document)"), "{message}");
    assert!(message.contains("eval_only"), "{message}");
    assert!(!dir.path().join("work/runs").exists());
}
