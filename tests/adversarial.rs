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
    corpus_of(dir, &["code", "email", "novel", "speeches"], extra);
}

/// The fixtures domains `fixture` (speeches is the evaluation target) and `extra` domains, under
/// `dir/corpus`.
fn corpus_of(dir: &Path, fixture: &[&str], extra: &[(&str, Vec<String>)]) {
    for domain in fixture {
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
    write_config_with(dir, "");
}

/// The test pipeline over `dir/corpus`, with `settings` appended (TOML).
fn write_config_with(dir: &Path, settings: &str) {
    let rest = format!(
        "\n[manifest]\nname = \"adversarial\"\ntrain_tokens = 1000000\nallow_repeat = true\n\
         exports = [\"megatron\"]\n{settings}"
    );
    fs::write(
        dir.join("pipeline.toml"),
        small_pipeline(&dir.join("corpus"), 2000, &rest),
    )
    .unwrap();
}

fn manifest_domains(dir: &Path) -> Vec<(String, f64)> {
    manifest_weights_at(&dir.join("work/mixtures/adversarial.json"))
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
    let domains = manifest_domains(dir.path());
    assert!(domains.iter().any(|d| d.0 == "tiny"), "{domains:?}");
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

/// One training domain (and the evaluation target): every mixture is the same, so there is nothing to
/// choose; the run stops at sample, before any proxy trains, naming the domain and what to do.
#[test]
fn a_single_training_domain_stops_before_training() {
    let dir = tempfile::tempdir().unwrap();
    corpus_of(dir.path(), &["novel", "speeches"], &[]);
    write_config(dir.path());
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("`novel` is the only training domain"),
        "{message}"
    );
    assert!(message.contains("remix manifest --weights"), "{message}");
    assert!(!dir.path().join("work/runs").exists());
}

/// Twenty training domains (the three of the fixtures and seventeen more): the candidates, the fit and
/// the manifest cover all of them.
#[test]
fn twenty_domains() {
    let dir = tempfile::tempdir().unwrap();
    let extra: Vec<(String, Vec<String>)> = (0..17)
        .map(|i| (format!("d{i:02}"), documents(100 + i, 6, 150)))
        .collect();
    let extra: Vec<(&str, Vec<String>)> = extra
        .iter()
        .map(|(d, docs)| (d.as_str(), docs.clone()))
        .collect();
    corpus_with(dir.path(), &extra);
    write_config_with(dir.path(), "");
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let domains = manifest_domains(dir.path());
    assert_eq!(domains.len(), 20, "{domains:?}");
    assert_eq!(domains.iter().map(|d| d.1).sum::<f64>(), 1.0);
}

/// A domain whose documents are all shorter than the proxies' context: its held-out documents make less
/// than one validation sequence, and the run stops before any proxy trains, naming the domain and the
/// settings to change.
#[test]
fn a_domain_of_documents_shorter_than_the_context_stops_before_training() {
    let dir = tempfile::tempdir().unwrap();
    corpus_with(dir.path(), &[("short", documents(13, 40, 6))]);
    write_config(dir.path());
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("`short`"), "{message}");
    assert!(message.contains("[tokenize] val_fraction"), "{message}");
    let runs = dir.path().join("work/runs");
    assert!(
        !runs.exists() || fs::read_dir(&runs).unwrap().next().is_none(),
        "proxies trained before the stop"
    );
}
