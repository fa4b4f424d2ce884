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

/// `[validate]` in a pipeline: before the manifest, the chosen, DoReMi's, the natural and uniform and three
/// holdout mixtures trained at twice the proxy's size, the rank transfer of the fit's predictions, a
/// two-step ladder, the manifest's evidence and the report's section.
#[test]
fn the_validate_stage_measures_rank_transfer_and_the_ladder() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_pipeline(
        &fixtures().join("corpus"),
        2000,
        "\n[doremi]\nreference = \"natural\"\n\n[manifest]\nname = \"v\"\ntrain_tokens = 1000000\n\
         exports = [\"megatron\"]\n\n[validate]\nmodel_scale = 2\nholdout = 3\nladder = [1, 2]\n",
    );
    fs::write(dir.path().join("pipeline.toml"), config).unwrap();
    // Validation runs before the manifest stage, on the mixture that stage will write, and the manifest
    // stage folds its results in: nothing edits the manifest after its marker is written.
    let output = remix(
        dir.path(),
        &["run", "--quiet", "pipeline.toml", "--until", "validate"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("work/validate/results.json").is_file());
    assert!(!dir.path().join("work/mixtures").exists());
    let output = remix(dir.path(), &["run", "--quiet", "pipeline.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The run's answer ends with the verdict, and the report's answer section says it too.
    let verdict = "Validation at a larger scale: the chosen mixture";
    assert!(stdout(&output).contains(verdict), "{}", stdout(&output));
    validate(
        dir.path(),
        &[("work/validate/results.json", "validation.schema.json")],
    );
    let results: Value =
        serde_json::from_slice(&fs::read(dir.path().join("work/validate/results.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "chosen",
            "doremi",
            "natural",
            "uniform",
            "holdout-1",
            "holdout-2",
            "holdout-3"
        ]
    );
    let chosen = results["results"][0]["source"].as_str().unwrap();
    assert!(chosen.ends_with("fit/optimum.json"), "{chosen}");
    for r in results["results"].as_array().unwrap() {
        assert!(r["target_loss"].as_f64().unwrap().is_finite(), "{r}");
        assert!(
            r["predicted_target_loss"].as_f64().unwrap().is_finite(),
            "{r}"
        );
    }
    let transfer = &results["rank_transfer"];
    let rho = transfer["rho"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&rho), "{transfer}");
    assert_eq!(transfer["mixtures"], 7);
    let p = transfer["p_value"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0, "{transfer}");
    let ladder = &results["ladder"];
    assert_eq!(ladder["scales"], serde_json::json!([1.0, 2.0]));
    assert_eq!(ladder["rho"][1][1], 1.0);
    assert_eq!(ladder["target_losses"][0].as_array().unwrap().len(), 3);
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.path().join("work/mixtures/v.json")).unwrap())
            .unwrap();
    let evidence = &manifest["method"]["evidence"]["validation"];
    assert_eq!(
        evidence["rank_transfer"], results["rank_transfer"],
        "{evidence}"
    );
    assert_eq!(evidence["target_losses"].as_object().unwrap().len(), 7);
    let html = fs::read_to_string(dir.path().join("work/report.html")).unwrap();
    assert!(html.contains("id=\"validate\"") && html.contains("Rank transfer"));
    let answer = &html[html.find("id=\"answer\"").unwrap()..html.find("id=\"validate\"").unwrap()];
    assert!(
        answer.contains(verdict),
        "the report's answer has no verdict"
    );
    assert!(html.contains("Proxy ladder"));
}
