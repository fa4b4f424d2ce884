//! `remix doremi` on the fixtures plus a domain of uniformly random tokens: the random domain cannot be
//! learned (a trained reference is no better on it than a fresh proxy), so DoReMi must weigh it below its
//! uniform share; the trajectory and the rounds are written, and `remix manifest` reads the result.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use rand::{Rng, SeedableRng};
use remix::data::tokens::write::{ShardWriter, TokenDtype};
use remix::data::tokens::{TokenDomain, TokensIndex};
use serde_json::Value;

/// Adds a `noise` domain of random tokens (documents of 256 ids, end-of-document included) to the index.
fn add_noise_domain(tokens: &Path, train_tokens: u64) {
    let mut index = TokensIndex::read(tokens).unwrap();
    let dtype = TokenDtype::for_vocab(index.vocab_size as usize);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut write = |stem: &str, total: u64| -> (u64, u64) {
        let mut shard = ShardWriter::create(&tokens.join(stem), dtype).unwrap();
        while shard.tokens() < total {
            let mut ids: Vec<u32> = (0..255)
                .map(|_| {
                    loop {
                        let id = rng.random_range(0..index.vocab_size as u32);
                        if u64::from(id) != index.eod_id {
                            break id;
                        }
                    }
                })
                .collect();
            ids.push(index.eod_id as u32);
            shard.push(&ids).unwrap();
        }
        let counts = (shard.documents(), shard.tokens());
        shard.finish().unwrap();
        counts
    };
    let (documents, train) = write("noise", train_tokens);
    let (val_documents, val_tokens) = write("noise.val", 4096);
    index.domains.push(TokenDomain {
        domain: "noise".into(),
        file_stem: "noise".into(),
        documents,
        tokens: train,
        val_documents,
        val_tokens,
        eval_only: false,
        val_unigram_entropy: None,
        val_bytes: None,
        digest: None,
        parts: Vec::new(),
    });
    fs::write(
        tokens.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn doremi_weighs_an_unlearnable_domain_below_its_uniform_share() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    tokenize_fixtures(work, &[]);
    let index = TokensIndex::read(&work.join("tokens")).unwrap();
    let largest = index.domains.iter().map(|d| d.tokens).max().unwrap();
    add_noise_domain(&work.join("tokens"), largest);

    let mut args = vec![
        "doremi", "--quiet", "--json", "--tokens", "tokens", "-o", ".", "--device", "cpu",
        "--rounds", "2",
    ];
    args.extend_from_slice(&small_proxy(&[("--batch-size", "10")]));
    let output = remix(work, &args);
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();

    let weights: Value =
        serde_json::from_slice(&fs::read(work.join("doremi/weights.json")).unwrap()).unwrap();
    assert_eq!(weights["method"], "doremi");
    assert_eq!(printed, weights["domains"]);
    let domains = weights["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 5, "{domains:?}");
    let weight_of = |name: &str| {
        domains
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap_or_else(|| panic!("no {name} in {domains:?}"))["weight"]
            .as_f64()
            .unwrap()
    };
    let sum: f64 = domains.iter().map(|d| d["weight"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}");
    let noise = weight_of("noise");
    assert!(
        noise < 0.2,
        "the random domain got {noise}, not below 1/5: {domains:?}"
    );

    let rounds = weights["rounds"].as_array().unwrap();
    assert!(!rounds.is_empty() && rounds.len() <= 2);
    let first = &rounds[0];
    let steps = 65536 / (10 * 64);
    let trajectory = first["trajectory"].as_array().unwrap();
    assert_eq!(trajectory.len(), steps);
    for step in trajectory {
        let step: Vec<f64> = serde_json::from_value(step.clone()).unwrap();
        assert_eq!(step.len(), 5);
        assert!((step.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(step.iter().all(|w| *w >= 1e-3 / 5.0 - 1e-12), "{step:?}");
    }
    // The DoReMi proxy starts uniform; the first step already moves weight off the random domain.
    let noise_at = |step: usize| trajectory[step][4].as_f64().unwrap();
    assert!(noise_at(0) < 0.2);
    validate(
        work,
        &[
            ("doremi/weights.json", "doremi-weights.schema.json"),
            ("doremi/_done.json", "done-marker.schema.json"),
        ],
    );
    // A second round takes the first round's answer as its reference.
    if let Some(second) = rounds.get(1) {
        assert_eq!(second["reference_weights"], first["weights"]);
    }

    // The manifest takes DoReMi's weights and records the method.
    let manifest = remix(
        work,
        &[
            "manifest",
            "--quiet",
            "--weights",
            "doremi/weights.json",
            "--tokens",
            "tokens",
            "--train-tokens",
            "100000",
            "--allow-repeat",
            "--name",
            "doremi",
            "-o",
            "doremi.json",
        ],
    );
    assert_ok(&manifest);
    let manifest: Value =
        serde_json::from_slice(&fs::read(work.join("doremi.json")).unwrap()).unwrap();
    assert_eq!(manifest["method"]["kind"], "doremi");
    assert_eq!(manifest["method"]["evidence"]["eta"], 1.0);

    // The report draws the trajectory.
    assert_ok(&remix(work, &["report", ".", "-o", "report.html"]));
    let html = fs::read_to_string(work.join("report.html")).unwrap();
    assert!(html.contains("id=\"doremi\"") && html.contains("domain weights per step"));
}

#[test]
fn doremi_refuses_a_reference_file_with_other_domains() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    tokenize_fixtures(work, &[]);
    fs::write(work.join("ref.json"), r#"{"code": 0.5, "web": 0.5}"#).unwrap();
    let mut args = vec![
        "doremi",
        "--quiet",
        "--tokens",
        "tokens",
        "-o",
        ".",
        "--device",
        "cpu",
        "--reference",
        "ref.json",
    ];
    args.extend_from_slice(&small_proxy(&[("--batch-size", "10")]));
    let output = remix(work, &args);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("ref.json") && message.contains("web"),
        "{message}"
    );
    assert!(!work.join("doremi/weights.json").exists());
}
