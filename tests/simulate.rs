//! `remix simulate` on a model fitted to RegMix's runs: the optimum obeys every constraint and is
//! reproducible from its seed.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// Imports RegMix's train runs, fits the Pile-CC loss with the tree ensemble, and writes a token
/// index for the model's domains.
fn fitted_model_with_tokens(work: &Path) {
    let mix = fixtures().join("regmix/train_mixture_1m.csv");
    let loss = fixtures().join("regmix/train_pile_loss_1m.csv");
    assert_ok(&remix(
        work,
        &[
            "runs",
            "import",
            "--regmix-mixtures",
            mix.to_str().unwrap(),
            "--regmix-losses",
            loss.to_str().unwrap(),
            "-o",
            "runs.parquet",
        ],
    ));
    assert_ok(&remix(
        work,
        &[
            "fit",
            "--runs",
            "runs.parquet",
            "--target",
            "the_pile_pile_cc",
            "--regressor",
            "gbdt",
            "-o",
            "fit",
        ],
    ));
    let model: Value =
        serde_json::from_slice(&fs::read(work.join("fit/model.json")).unwrap()).unwrap();
    let domains: Vec<String> = model["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert_eq!(domains.len(), 17);
    token_index(work, &domains);
}

/// A token index where some domains are small enough for the epoch cap to bind.
fn token_index(work: &Path, domains: &[String]) {
    let entries: Vec<Value> = domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let tokens = if d.ends_with("pile_cc") { 50_000_000u64 } else { 1_000_000 * (i as u64 % 5 + 1) };
            json!({"domain": d, "file_stem": d, "documents": 10, "tokens": tokens, "val_documents": 1, "val_tokens": 100, "eval_only": false})
        })
        .collect();
    let index = json!({"tokenizer_sha256": "0".repeat(64), "vocab_size": 4096, "dtype": "uint16", "eod_id": 0, "domains": entries});
    fs::create_dir_all(work.join("tokens")).unwrap();
    fs::write(
        work.join("tokens/index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

fn simulate(work: &Path, seed: &str, out: &str) -> Value {
    let output = remix(
        work,
        &[
            "simulate",
            "--model",
            "fit/model.json",
            "--tokens",
            "tokens",
            "--train-tokens",
            "20000000",
            "--max-epochs",
            "2",
            "-n",
            "40000",
            "--top-k",
            "64",
            "--seed",
            seed,
            "-o",
            out,
            "--json",
        ],
    );
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        printed,
        serde_json::from_slice::<Value>(&fs::read(work.join(out)).unwrap()).unwrap()
    );
    printed
}

#[test]
fn optimum_obeys_every_constraint_and_is_reproducible() {
    let work = tempfile::tempdir().unwrap();
    fitted_model_with_tokens(work.path());

    let optimum = simulate(work.path(), "7", "a.json");
    let weights: Vec<f64> = optimum["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["weight"].as_f64().unwrap())
        .collect();
    let sum = weights.iter().fold(0.0, |s, w| s + w);
    assert_eq!(sum, 1.0, "weights must sum to exactly 1: {weights:?}");
    for d in optimum["domains"].as_array().unwrap() {
        let (w, cap) = (d["weight"].as_f64().unwrap(), d["cap"].as_f64().unwrap());
        // Cap = 2 epochs x tokens / 20M training tokens.
        assert!(
            w <= cap,
            "{} weight {w} above its epoch cap {cap}",
            d["domain"]
        );
        assert!(
            w == 0.0 || w >= 2e-4,
            "{} weight {w} under the minimum",
            d["domain"]
        );
    }
    let pile_cc = optimum["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "the_pile_pile_cc")
        .unwrap();
    assert!(
        pile_cc["weight"].as_f64().unwrap() > 0.3,
        "the Pile-CC loss should want Pile-CC data: {pile_cc}"
    );
    let (best, uniform) = (
        optimum["predicted_loss"].as_f64().unwrap(),
        optimum["predicted_loss_uniform"].as_f64().unwrap(),
    );
    assert!(
        best < uniform,
        "optimum {best} should beat uniform {uniform}"
    );
    assert!(optimum["predicted_loss_natural"].as_f64().is_some());

    let again = simulate(work.path(), "7", "b.json");
    assert_eq!(
        optimum["domains"], again["domains"],
        "same seed, same optimum"
    );
}

#[test]
fn impossible_constraints_are_explained() {
    let work = tempfile::tempdir().unwrap();
    fitted_model_with_tokens(work.path());
    let output = remix(
        work.path(),
        &[
            "simulate",
            "--model",
            "fit/model.json",
            "--tokens",
            "tokens",
            "--train-tokens",
            "100000000000",
            "-o",
            "o.json",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("lower --train-tokens or raise --max-epochs"),
        "{}",
        stderr(&output)
    );
    let output = remix(
        work.path(),
        &[
            "simulate",
            "--model",
            "fit/model.json",
            "--train-tokens",
            "1000",
            "-o",
            "o.json",
        ],
    );
    assert!(
        stderr(&output).contains("--train-tokens needs --tokens"),
        "{}",
        stderr(&output)
    );
    assert!(!work.path().join("o.json").exists());
}
