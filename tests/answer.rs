//! The answer first: `remix run` ends with the chosen weights beside natural and uniform, their predicted
//! target loss and the warnings of a weak answer; the report opens with the same, and the manifest's
//! evidence carries the warnings.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

/// Each warning is in the summary, the manifest's evidence and the report.
fn assert_warned(dir: &std::path::Path, summary: &str, expected: &[&str]) -> Vec<Value> {
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("work/mixtures/weak.json")).unwrap()).unwrap();
    let warnings = manifest["method"]["evidence"]["warnings"]
        .as_array()
        .unwrap()
        .clone();
    let report = fs::read_to_string(dir.join("work/report.html")).unwrap();
    for expected in expected {
        let warning = warnings
            .iter()
            .find(|w| w["warning"].as_str().unwrap().contains(expected))
            .unwrap_or_else(|| panic!("{expected}: {warnings:?}"));
        assert!(!warning["todo"].as_str().unwrap().is_empty());
        let text = warning["warning"].as_str().unwrap();
        assert!(summary.contains(text), "{expected}: {summary}");
        assert!(
            report.contains(&text.replace('\'', "&#39;")),
            "{expected} not in the report"
        );
    }
    warnings
}

/// A small pipeline whose answer is weak by construction: 8 proxies for 3 training domains (too few
/// runs per domain, and too few for gradient-boosted trees to rank them) and one round of DoReMi
/// (which does not converge); its tiny proxies on 16k tokens learn next to nothing, scored on 8
/// sequences of 64 tokens (seeded, so every run sees the same). Then DoReMi's weights under a budget
/// of 10 times the training tokens at 4 epochs (allowed to repeat): some domain is beyond its epoch
/// cap. Then RegMix's answer by least squares, which puts nearly all weight on one domain, under a
/// budget of 1.5 times the training tokens: that domain's cap binds, by either proposer.
#[test]
fn a_weak_answer_is_said_in_the_summary_the_manifest_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let doremi = "\n[doremi]\nreference = \"uniform\"\n";
    let manifest = "\n[manifest]\nname = \"weak\"\ntrain_tokens = 1000000\n";
    let least_squares = small_pipeline(
        &fixtures().join("corpus"),
        2000,
        &format!("{doremi}{manifest}"),
    );
    let config = least_squares.replace(
        r#"regressors = ["ols", "ridge"]"#,
        r#"regressors = ["gbdt"]"#,
    );
    fs::write(dir.join("pipeline.toml"), &config).unwrap();
    let output = remix(dir, &["run", "--quiet", "pipeline.toml"]);
    assert_ok(&output);
    let summary = stdout(&output);
    let warnings = assert_warned(
        dir,
        &summary,
        &[
            "runs for 3 training domains",
            "DoReMi did not converge",
            "the proxies did not learn beyond the target's token frequencies",
            "the fit ranks runs weakly: cross-validated Spearman rho",
            "the target loss was measured on 512 tokens of",
        ],
    );
    // The summary ends with the answer: the chosen weights beside natural and uniform, then the
    // predicted target loss of each.
    let manifest_json: Value =
        serde_json::from_slice(&fs::read(dir.join("work/mixtures/weak.json")).unwrap()).unwrap();
    let answer = &summary[summary
        .find("Chosen mixture `weak` (regmix)")
        .expect(&summary)..];
    assert!(answer.contains("predicted target loss"), "{answer}");
    // Proxies that learned nothing: the answer block says it is not one to ship, with the losses.
    let refusal =
        "Not an answer to ship: the proxies did not learn beyond the target's token frequencies";
    assert!(answer.contains(refusal), "{answer}");
    assert!(answer.contains("Proxies: median target loss"), "{answer}");
    for d in manifest_json["domains"].as_array().unwrap() {
        let line = format!(
            "{:<24} {:>8.4}",
            d["domain"].as_str().unwrap(),
            d["weight"].as_f64().unwrap()
        );
        assert!(answer.contains(&line), "{line}: {answer}");
    }
    // The report opens with the answer, before the evidence, and says the same.
    let report = fs::read_to_string(dir.join("work/report.html")).unwrap();
    assert!(
        report.contains(&refusal.replace('\'', "&#39;")),
        "no refusal in the report"
    );
    let first = report.find("<section id=").unwrap();
    assert!(
        report[first..].starts_with("<section id=\"answer\">"),
        "{}",
        &report[first..first + 80]
    );
    let output = remix(dir, &["run", "--quiet", "--json", "pipeline.toml"]);
    assert_ok(&output);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["answer"]["name"], "weak");
    assert_eq!(
        json["answer"]["warnings"].as_array().unwrap().len(),
        warnings.len()
    );
    assert_eq!(json["answer"]["domains"].as_array().unwrap().len(), 3);
    // The losses behind the refusal, in --json and in the manifest's evidence.
    let learning = &json["answer"]["proxy_learning"];
    assert_eq!(learning["learned"], false, "{learning}");
    let (median, floor) = (
        learning["median_target_loss"].as_f64().unwrap(),
        learning["unigram_entropy"].as_f64().unwrap(),
    );
    assert!(median >= floor, "{learning}");
    assert!(learning["median_bits_per_byte"].as_f64().unwrap() > 0.0);
    assert_eq!(
        &manifest_json["method"]["evidence"]["proxy_learning"],
        learning
    );

    let training = training_tokens(&dir.join("work/tokens"));
    let repeated = format!(
        "\n[manifest]\nname = \"weak\"\nfrom = \"doremi\"\ntrain_tokens = {}\nallow_repeat = true\n",
        training * 10
    );
    let config = config.replace(manifest, &repeated).replace(
        "candidates = 2000",
        "candidates = 2000\ntrain_tokens = 1000000",
    );
    fs::write(dir.join("pipeline.toml"), &config).unwrap();
    let output = remix(dir, &["run", "--quiet", "pipeline.toml"]);
    assert_ok(&output);
    assert_warned(dir, &stdout(&output), &["is beyond its epoch cap"]);

    let capped = format!(
        "\n[manifest]\nname = \"weak\"\ntrain_tokens = {}\n",
        training * 3 / 2
    );
    // The exact proposer (asked for: `auto` samples a linear model) fills the best domain of least
    // squares to its cap; the sampling proposer's mean of capped candidates stays below it.
    for (proposer, expected) in [
        ("exact", "sits at its epoch cap"),
        ("sample", "is limited by its epoch cap"),
    ] {
        let config = least_squares.replace(manifest, &capped).replace(
            "candidates = 2000",
            &format!("candidates = 2000\nproposer = \"{proposer}\""),
        );
        fs::write(dir.join("pipeline.toml"), config).unwrap();
        let output = remix(dir, &["run", "--quiet", "pipeline.toml"]);
        assert_ok(&output);
        let warnings = assert_warned(dir, &stdout(&output), &[expected]);
        let at_cap = warnings
            .iter()
            .map(|w| w["warning"].as_str().unwrap())
            .find(|w| w.contains(expected))
            .unwrap();
        assert!(
            at_cap.contains("without caps the search gives it"),
            "{at_cap}"
        );
    }
}
