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
            // The intervals have a test of their own, on a model that refits fast.
            "--bootstrap",
            "0",
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

/// The answer's intervals (the fit and the search repeated on resampled runs) are the same for a seed
/// whatever the thread count and differ for another seed; each holds its median, within [0, 1].
#[test]
fn the_bootstrap_is_deterministic_for_a_seed() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    regmix_ridge_optimum(work);
    let intervals = |seed: &str, threads: &str, out: &str| -> Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
            .env("RAYON_NUM_THREADS", threads)
            .args(["simulate", "--model", "fit/model.json", "-n", "2000"])
            .args(["--bootstrap", "12", "--seed", seed, "-o", out, "--json"])
            .current_dir(work)
            .output()
            .unwrap();
        assert_ok(&output);
        let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
        printed["intervals"].clone()
    };
    let one = intervals("3", "1", "a.json");
    assert_eq!(one, intervals("3", "2", "b.json"));
    assert_eq!(one["resamples"], 12);
    assert_eq!(one["domains"].as_array().unwrap().len(), 17);
    for d in one["domains"].as_array().unwrap() {
        let [low, median, high] = ["low", "median", "high"].map(|k| d[k].as_f64().unwrap());
        assert!(
            (0.0..=1.0).contains(&low) && low <= median && median <= high && high <= 1.0,
            "{d}"
        );
    }
    let share = one["beats_best_run"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&share), "{one}");
    assert_ne!(one["domains"], intervals("4", "2", "c.json")["domains"]);
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

/// Ye et al.'s mixing law recovers a target made of two domains' laws, and the exact proposer finds its
/// optimum (a certified gap, no weight on the domain the target never saw) with a lower predicted
/// loss than the sampling proposer's on the same fit; `remix predict` scores with the law.
#[test]
fn the_mixing_law_and_the_exact_proposer_find_a_known_optimum() {
    use remix::regmix::runs::{Run, RunsTable, write_runs};
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let domains: Vec<String> = ["a", "b", "c"].iter().map(|d| d.to_string()).collect();
    // Each domain's loss falls as its own weight grows; the target is 0.6 a's loss + 0.4 b's.
    let own = |w: &[f64], d: usize| 1.5 + (1.2 - 1.5 * w[d] + 0.1 * w[(d + 1) % 3]).exp();
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64).max(1e-3)
    };
    let runs = (0..40)
        .map(|i| {
            let raw: Vec<f64> = (0..3).map(|_| -next().ln()).collect();
            let sum: f64 = raw.iter().sum();
            let w: Vec<f64> = raw.iter().map(|r| r / sum).collect();
            let mut losses: Vec<Option<f64>> = (0..3).map(|d| Some(own(&w, d))).collect();
            losses.push(Some(0.6 * own(&w, 0) + 0.4 * own(&w, 1)));
            Run {
                run_id: format!("r{i}"),
                seed: None,
                round: None,
                proxy_config_hash: None,
                weights: w,
                tokens_trained: None,
                wall_time_s: None,
                device: None,
                loss_errors: vec![None; 4],
                losses,
                status: "finished".into(),
            }
        })
        .collect();
    let table = RunsTable {
        domains: domains.clone(),
        loss_domains: ["a", "b", "c", "target"]
            .iter()
            .map(|d| d.to_string())
            .collect(),
        runs,
        frozen: None,
    };
    write_runs(&table, &work.join("runs.parquet")).unwrap();
    token_index(work, &domains);
    let output = remix(
        work,
        &[
            "fit",
            "--runs",
            "runs.parquet",
            "--target",
            "target",
            "--regressor",
            "mixing_law",
            "-o",
            "fit",
            "--json",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        report["regressors"][0]["spearman"].as_f64().unwrap() > 0.99,
        "{report}"
    );
    let model: Value =
        serde_json::from_slice(&fs::read(work.join("fit/model.json")).unwrap()).unwrap();
    let a: Vec<f64> = model["model"]["a"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (a[0] - 0.6).abs() < 0.05 && (a[1] - 0.4).abs() < 0.05 && a[2] < 0.05,
        "{a:?}"
    );

    let solve = |proposer: &str| -> Value {
        let out = format!("{proposer}.json");
        let output = remix(
            work,
            &[
                "simulate",
                "--model",
                "fit/model.json",
                "--tokens",
                "tokens",
                "-n",
                "20000",
                "--proposer",
                proposer,
                "--kl-reg",
                "0",
                "-o",
                &out,
                "--json",
            ],
        );
        assert_ok(&output);
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let exact = solve("exact");
    let sample = solve("sample");
    assert_eq!(exact["proposer"], "exact");
    assert!(exact["optimality_gap"].as_f64().unwrap() <= 1e-7, "{exact}");
    assert!(
        exact["domains"][2]["weight"].as_f64().unwrap() < 1e-3,
        "{exact}"
    );
    let (exact_loss, sampled_loss) = (
        exact["predicted_loss"].as_f64().unwrap(),
        sample["predicted_loss"].as_f64().unwrap(),
    );
    assert!(
        exact_loss <= sampled_loss,
        "exact {exact_loss} against sampled {sampled_loss}"
    );
    assert_eq!(
        exact["predicted_loss_sampled"].as_f64().unwrap(),
        sampled_loss
    );

    // The chosen mixture scored by `remix predict` with the same law.
    let weights: Vec<f64> = (0..3)
        .map(|d| exact["domains"][d]["weight"].as_f64().unwrap())
        .collect();
    fs::write(
        work.join("chosen.csv"),
        format!(
            "index,w_a,w_b,w_c\nchosen,{},{},{}\n",
            weights[0], weights[1], weights[2]
        ),
    )
    .unwrap();
    let output = remix(
        work,
        &[
            "predict",
            "--model",
            "fit/model.json",
            "--mixtures",
            "chosen.csv",
            "-o",
            "p.csv",
        ],
    );
    assert_ok(&output);
    let predicted = fs::read_to_string(work.join("p.csv")).unwrap();
    let value: f64 = predicted
        .lines()
        .nth(1)
        .unwrap()
        .rsplit(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((value - exact_loss).abs() < 1e-6, "{predicted}");
}
