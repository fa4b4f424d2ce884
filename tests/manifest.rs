//! `remix manifest`: the manifest contract, every export's shape, and bad weights.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// `remix manifest` with `weights` over the fixtures' tokens, 1M training tokens unless `extra` says.
fn manifest(work: &Path, weights: &Value, extra: &[&str]) -> std::process::Output {
    fs::write(work.join("weights.json"), weights.to_string()).unwrap();
    let mut args = vec![
        "manifest",
        "--weights",
        "weights.json",
        "--tokens",
        "tokens",
        "--name",
        "fx",
        "-o",
        "mixtures/fx.json",
    ];
    if !extra.contains(&"--train-tokens") {
        args.extend_from_slice(&["--train-tokens", "1000000"]);
    }
    args.extend_from_slice(extra);
    remix(work, &args)
}

/// Parses a YAML file with PyYAML, from the trainers' environment (`REMIX_TRAINERS_PYTHON`, which CI sets:
/// there a missing PyYAML fails) or the system's Python, or `None` where it is not installed.
fn yaml(path: &Path) -> Option<Value> {
    let trainers = std::env::var("REMIX_TRAINERS_PYTHON").ok();
    let output = Command::new(trainers.as_deref().unwrap_or("python3"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .ok()?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message.contains("No module named") && trainers.is_none(),
            "{} does not parse as YAML: {message}",
            path.display()
        );
        eprintln!(
            "skipped YAML parsing of {}: PyYAML is not installed",
            path.display()
        );
        return None;
    }
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn manifest_and_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    tokenize_fixtures(work, &[]);
    let weights = json!({"code": 0.3, "email": 0.3, "novel": 0.2, "speeches": 0.2});
    let output = manifest(work, &weights, &["--export", "all"]);
    assert_ok(&output);
    let first = fs::read(work.join("mixtures/fx.json")).unwrap();
    assert_ok(&manifest(work, &weights, &["--export", "all"]));
    assert_eq!(
        first,
        fs::read(work.join("mixtures/fx.json")).unwrap(),
        "same input, same manifest"
    );

    let m: Value = serde_json::from_slice(&first).unwrap();
    let schema: Value = serde_json::from_slice(
        &fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/manifest.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&m)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let domains = m["domains"].as_array().unwrap();
    let sum: f64 = domains.iter().map(|d| d["weight"].as_f64().unwrap()).sum();
    assert_eq!(sum, 1.0, "weights sum to exactly 1");
    let requested: u64 = domains
        .iter()
        .map(|d| d["tokens_requested"].as_u64().unwrap())
        .sum();
    assert_eq!(requested, 1_000_000);
    for d in domains {
        let epochs =
            d["tokens_requested"].as_f64().unwrap() / d["tokens_available"].as_f64().unwrap();
        assert!((d["epochs"].as_f64().unwrap() - epochs).abs() < 1e-12);
        for ext in ["bin", "idx"] {
            let shard = &d["shards"][0];
            assert!(Path::new(&format!("{}.{ext}", shard["prefix"].as_str().unwrap())).exists());
            assert!(Path::new(&format!("{}.{ext}", d["val_prefix"].as_str().unwrap())).exists());
        }
    }
    assert_eq!(m["weights_count"], "tokens");
    assert_eq!(m["method"]["kind"], "given");
    let prefixes: Vec<&str> = domains
        .iter()
        .map(|d| d["shards"][0]["prefix"].as_str().unwrap())
        .collect();
    let token_weights: Vec<f64> = domains
        .iter()
        .map(|d| d["weight"].as_f64().unwrap())
        .collect();

    // Megatron: --data-path weight/prefix pairs, and the per-split JSON.
    let args = fs::read_to_string(work.join("mixtures/fx.megatron.args")).unwrap();
    let words: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(words[0], "--data-path");
    let pairs: Vec<(f64, &str)> = words[1..]
        .chunks(2)
        .map(|p| (p[0].parse().unwrap(), p[1]))
        .collect();
    assert_eq!(pairs.iter().map(|p| p.0).collect::<Vec<_>>(), token_weights);
    assert_eq!(pairs.iter().map(|p| p.1).collect::<Vec<_>>(), prefixes);
    let split: Value =
        serde_json::from_slice(&fs::read(work.join("mixtures/fx.megatron.json")).unwrap()).unwrap();
    for key in ["train", "valid", "test"] {
        assert_eq!(split[key].as_array().unwrap().len(), 8, "{key}");
    }
    assert_eq!(split["valid"][1], domains[0]["val_prefix"]);

    // YAML exports.
    if let Some(neox) = yaml(&work.join("mixtures/fx.neox.yml")) {
        assert_eq!(floats(&neox["train_data_weights"]), token_weights);
        assert_eq!(neox["train_data_paths"].as_array().unwrap().len(), 4);
        assert_eq!(neox["valid_data_paths"][0], domains[0]["val_prefix"]);
    }
    if let Some(olmo) = yaml(&work.join("mixtures/fx.olmo-core.yaml")) {
        let mixture = &olmo["source_mixture_config"];
        assert_eq!(mixture["requested_tokens"], 1_000_000);
        let sources = mixture["source_list"]["sources"].as_array().unwrap();
        assert_eq!(
            sources
                .iter()
                .map(|s| s["target_ratio"].as_f64().unwrap())
                .collect::<Vec<_>>(),
            token_weights
        );
        for (s, d) in sources.iter().zip(domains) {
            assert_eq!(s["source_name"], d["domain"]);
            assert!(s["max_repetition_ratio"].as_f64().unwrap() >= d["epochs"].as_f64().unwrap());
            assert!(Path::new(s["paths"][0].as_str().unwrap()).exists());
        }
    }
    if let Some(nanotron) = yaml(&work.join("mixtures/fx.nanotron.yaml")) {
        let dataset = &nanotron["data_stages"][0]["data"]["dataset"];
        assert_eq!(floats(&dataset["dataset_weights"]), token_weights);
        assert_eq!(dataset["dataset_folder"].as_array().unwrap().len(), 4);
    }

    // Python exports compile; the document-counting ones say so and sum to exactly 1.
    for name in ["mosaic", "hf", "litgpt", "torchtitan"] {
        let path = work.join(format!("mixtures/fx.{name}.py"));
        let status = Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "{name} export is not valid Python");
        let text = fs::read_to_string(&path).unwrap();
        let counts_documents = text.contains("Weights count documents");
        assert_eq!(counts_documents, name == "hf", "{name}");
    }
    let hf = fs::read_to_string(work.join("mixtures/fx.hf.py")).unwrap();
    let probabilities: Vec<f64> = hf
        .split("WEIGHTS = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(probabilities.len(), 4);
    assert_eq!(probabilities.iter().sum::<f64>(), 1.0);
    // Emails are short, so at equal token weight far more email documents are drawn than code files.
    assert!(
        probabilities[1] > probabilities[0] * 3.0,
        "{probabilities:?}"
    );
    // tests/trainers.rs runs every export with the trainers' own libraries.
}

#[test]
fn bad_weights_and_too_many_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    tokenize_fixtures(work, &[]);
    let expect = |weights: Value, extra: &[&str], needles: &[&str]| {
        let output = manifest(work, &weights, extra);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{message}");
        for needle in needles {
            assert!(message.contains(needle), "lacks {needle:?}: {message}");
        }
        assert!(!work.join("mixtures/fx.json").exists());
    };
    expect(
        json!({"code": 0.5, "email": 0.5, "web": 0.0}),
        &[],
        &["missing novel, speeches", "not in the index web"],
    );
    expect(
        json!({"code": -0.2, "email": 0.6, "novel": 0.3, "speeches": 0.3}),
        &[],
        &["`code`", "non-negative"],
    );
    expect(json!({"code": "NaN"}), &[], &["holds no weights"]);
    expect(
        json!({"code": 0.5, "email": 0.5, "novel": 0.5, "speeches": 0.5}),
        &[],
        &["sum to 2"],
    );
    expect(
        json!({"code": 0.25, "email": 0.25, "novel": 0.25, "speeches": 0.25}),
        &["--train-tokens", "10000000"],
        &[
            "repeated more than --max-epochs 4",
            "`code`",
            "--allow-repeat",
        ],
    );
    let output = manifest(
        work,
        &json!({"code": 0.25, "email": 0.25, "novel": 0.25, "speeches": 0.25}),
        &["--train-tokens", "10000000", "--allow-repeat"],
    );
    assert_ok(&output);
}

#[test]
fn a_regmix_optimum_carries_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    regmix_ridge_optimum(work);
    // A token index for RegMix's 17 domains, 100M tokens each.
    let model: Value =
        serde_json::from_slice(&fs::read(work.join("fit/model.json")).unwrap()).unwrap();
    let domains: Vec<Value> = model["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!({"domain": d, "file_stem": d, "documents": 1000, "tokens": 100_000_000u64, "val_documents": 10, "val_tokens": 100_000, "eval_only": false}))
        .collect();
    fs::create_dir_all(work.join("tokens")).unwrap();
    let index = json!({"tokenizer_sha256": "00", "vocab_size": 50257, "dtype": "uint16", "eod_id": 50256, "domains": domains});
    fs::write(work.join("tokens/index.json"), index.to_string()).unwrap();
    let output = remix(
        work,
        &[
            "manifest",
            "--weights",
            "fit/optimum.json",
            "--tokens",
            "tokens",
            "--train-tokens",
            "100000000",
            "--name",
            "pile",
            "-o",
            "pile.json",
        ],
    );
    assert_ok(&output);
    let m: Value = serde_json::from_slice(&fs::read(work.join("pile.json")).unwrap()).unwrap();
    assert_eq!(m["method"]["kind"], "regmix");
    assert_eq!(m["method"]["evidence"]["target"][0], "the_pile_pile_cc");
    assert!(m["method"]["evidence"]["predicted_loss"].is_number());
    assert_eq!(m["method"]["evidence"]["fit"]["chosen"], "ridge");
    let sum: f64 = m["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["weight"].as_f64().unwrap())
        .sum();
    assert_eq!(sum, 1.0);
}

/// The hf and torchtitan exports decode the shards with the tokenizer that wrote them: when it has moved,
/// `remix manifest` says so and writes nothing.
#[test]
fn a_moved_tokenizer_is_named_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    tokenize_fixtures(work, &[]);
    let marker = work.join("tokens/_done.json");
    let moved = fs::read_to_string(&marker)
        .unwrap()
        .replace("tokenizer.json", "tokenizer-moved.json");
    fs::write(&marker, moved).unwrap();
    let weights = json!({"code": 0.3, "email": 0.3, "novel": 0.4, "speeches": 0.0});
    let output = manifest(work, &weights, &["--export", "hf"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("no longer where `remix tokenize` read it"),
        "{message}"
    );
    assert!(!work.join("mixtures/fx.json").exists());
    assert!(!work.join("exports/text").exists());
}

/// Every weight on one domain: the manifest and its exports name that domain alone, with all the tokens.
#[test]
fn every_weight_on_one_domain() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    tokenize_fixtures(work, &[]);
    let weights = json!({"code": 0.0, "email": 0.0, "novel": 1.0, "speeches": 0.0});
    let output = manifest(
        work,
        &weights,
        &[
            "--allow-repeat",
            "--export",
            "megatron",
            "--export",
            "olmo-core",
        ],
    );
    assert_ok(&output);
    let manifest: Value =
        serde_json::from_slice(&fs::read(work.join("mixtures/fx.json")).unwrap()).unwrap();
    for domain in manifest["domains"].as_array().unwrap() {
        let novel = domain["domain"] == "novel";
        assert_eq!(
            domain["weight"].as_f64().unwrap(),
            if novel { 1.0 } else { 0.0 }
        );
        assert_eq!(
            domain["tokens_requested"].as_u64().unwrap(),
            if novel { 1_000_000 } else { 0 }
        );
    }
    let args = fs::read_to_string(work.join("mixtures/fx.megatron.args")).unwrap();
    assert_eq!(args.split_whitespace().count(), 3, "{args}");
    assert!(args.contains("tokens/novel"), "{args}");
}
