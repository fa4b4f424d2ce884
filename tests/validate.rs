//! `remix validate` on the fixtures: one scaled-up model per mixture, losses side by side.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

#[test]
fn validate_trains_one_larger_model_per_mixture() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    tokenize_fixtures(work, &["--eval-only", "speeches"]);
    fs::write(
        work.join("novel-heavy.json"),
        r#"{"code": 0.1, "email": 0.1, "novel": 0.8}"#,
    )
    .unwrap();
    let mut args = vec![
        "validate",
        "--quiet",
        "--json",
        "--tokens",
        "tokens",
        "-o",
        ".",
        "--device",
        "cpu",
        "--mixture",
        "novel-heavy.json",
        "--mixture",
        "natural",
        "--mixture",
        "uniform",
    ];
    args.extend_from_slice(&small_proxy(&[
        ("--d-model", "16"),
        ("--heads", "2"),
        ("--ffn-hidden", "32"),
        ("--train-tokens", "8192"),
    ]));
    let output = remix(work, &args);
    assert_ok(&output);
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let written: Value =
        serde_json::from_slice(&fs::read(work.join("validate/results.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    validate(work, &[("validate/results.json", "validation.schema.json")]);
    // Four times the non-embedding parameters (width x2) and the tokens.
    assert_eq!(written["shape"]["d_model"], 32);
    assert_eq!(written["train_tokens"], 32768);
    assert_eq!(written["target"], serde_json::json!(["speeches"]));
    let results = written["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["novel-heavy", "natural", "uniform"]);
    for r in results {
        let loss = r["target_loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss < 8.32, "{r}");
        assert_eq!(r["losses"].as_object().unwrap().len(), 4);
    }
    // The mixture with most weight on the novel does best on the novel.
    let novel = |i: usize| results[i]["losses"]["novel"].as_f64().unwrap();
    assert!(novel(0) < novel(1) && novel(0) < novel(2), "{results:?}");
}

#[test]
fn validate_refuses_bad_mixtures() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    tokenize_fixtures(work, &["--eval-only", "speeches"]);
    fs::write(work.join("web.json"), r#"{"web": 0.5, "code": 0.5}"#).unwrap();
    let base = [
        "validate", "--quiet", "--tokens", "tokens", "-o", ".", "--device", "cpu",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&small_proxy(&[
            ("--d-model", "16"),
            ("--heads", "2"),
            ("--ffn-hidden", "32"),
            ("--train-tokens", "8192"),
        ]));
        remix(work, &args)
    };
    let output = run(&["--mixture", "web.json", "--mixture", "natural"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("web"), "{}", stderr(&output));
    let output = run(&["--mixture", "natural"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least two"),
        "{}",
        stderr(&output)
    );
    let output = run(&[
        "--mixture",
        "natural",
        "--mixture",
        "uniform",
        "--target",
        "poetry",
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("poetry"), "{}", stderr(&output));
    assert!(!work.join("validate/results.json").exists());
}
