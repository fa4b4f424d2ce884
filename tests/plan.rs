//! `remix plan` measures the training cost before a run; held here against the run itself on a tiny
//! config. `remix run` stops before anything trains when that estimate passes `[run] max_hours`.
//! One test in this file, so nothing else runs beside the timing.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

#[test]
fn the_estimate_is_within_twice_the_measured_training_and_gates_a_long_run() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let rest = "\n[manifest]\nname = \"p\"\ntrain_tokens = 1000000\n";
    let config = small_pipeline(&fixtures().join("corpus"), 2000, rest);
    fs::write(dir.join("pipeline.toml"), &config).unwrap();
    let output = remix(dir, &["plan", "--json", "pipeline.toml"]);
    assert_ok(&output);
    let plan: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let train = &plan["stages"][0];
    assert_eq!(train["stage"], "train");
    assert_eq!(train["models"], 8, "6 candidates, natural and uniform");
    let estimated = train["hours"].as_f64().unwrap() * 3600.0;
    // One proxy at a time on the CPU, its step's memory estimated, and no device budget.
    let memory = &plan["memory"];
    assert_eq!(memory["proxies"], 1);
    assert!(memory["per_proxy_bytes"].as_u64().unwrap() > 0);
    assert!(memory["budget_bytes"].is_null());
    // The token shards' size before tokenize ran: estimated from a sample of the corpus.
    let disk = &plan["disk"];
    assert!(
        disk["tokens_from"]["estimated"]["documents"]
            .as_u64()
            .unwrap()
            > 0
    );
    let estimated_tokens = disk["tokens"].as_f64().unwrap();
    let output = remix(dir, &["plan", "pipeline.toml"]);
    assert_ok(&output);
    assert!(stdout(&output).contains("Disk: token shards about "));
    assert!(!stdout(&output).contains("Problem:"));
    // A budget past the corpus: said before anything runs.
    fs::write(
        dir.join("pipeline.toml"),
        config.replace("train_tokens = 1000000", "train_tokens = 100000000000"),
    )
    .unwrap();
    let output = remix(dir, &["plan", "pipeline.toml"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains("Problem: [manifest] train_tokens = 100000000000 is more than"),
        "{}",
        stdout(&output)
    );
    fs::write(dir.join("pipeline.toml"), &config).unwrap();
    assert!(
        stdout(&output).contains("Memory: 1 per stack, about "),
        "{}",
        stdout(&output)
    );

    // Over the limit: nothing runs, and the message names the key and the flag.
    let limited = format!("{config}\n[run]\nmax_hours = 1e-9\n");
    fs::write(dir.join("pipeline.toml"), limited).unwrap();
    let output = remix(dir, &["run", "--quiet", "pipeline.toml"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("[run] max_hours") && message.contains("--yes"),
        "{message}"
    );
    assert!(!dir.join("work/tokens").exists(), "a stage ran: {message}");

    let output = remix(dir, &["run", "--quiet", "--json", "--yes", "pipeline.toml"]);
    assert_ok(&output);
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let measured = summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "train")
        .unwrap()["seconds"]
        .as_f64()
        .unwrap();
    // The estimated tokens against those tokenize wrote (the fixtures have few duplicates).
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("work/tokens/index.json")).unwrap()).unwrap();
    let counted: u64 = index["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["tokens"].as_u64().unwrap() + d["val_tokens"].as_u64().unwrap())
        .sum();
    let tokens_ratio = estimated_tokens / counted as f64;
    eprintln!(
        "tokens: estimated {estimated_tokens:.0}, counted {counted}, ratio {tokens_ratio:.3}"
    );
    assert!((0.8..=1.25).contains(&tokens_ratio), "{tokens_ratio}");
    let output = remix(dir, &["plan", "--json", "pipeline.toml"]);
    assert_ok(&output);
    let plan: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(plan["disk"]["tokens"], counted);
    assert_eq!(plan["disk"]["tokens_from"], "counted");
    let ratio = estimated / measured;
    eprintln!(
        "train stage: estimated {estimated:.2} s, measured {measured:.2} s, ratio {ratio:.2}"
    );
    assert!(
        (0.5..=2.0).contains(&ratio),
        "estimated {estimated:.2} s, measured {measured:.2} s"
    );
}
