//! The regression on RegMix's published runs: import, fit, predict, and the bar it must reach.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;
use remix::regmix::fit::{Fitted, RegressorKind, Target, metrics::spearman, samples};
use remix::regmix::runs::{read_runs, regmix};
use serde_json::Value;

fn regmix_file(name: &str) -> String {
    fixtures().join("regmix").join(name).display().to_string()
}

/// Runs `remix runs import` on a mixtures and a losses CSV.
fn run_import(work: &Path, mixtures: &str, losses: &str, out: &str) -> Output {
    remix(
        work,
        &[
            "runs",
            "import",
            "--regmix-mixtures",
            mixtures,
            "--regmix-losses",
            losses,
            "-o",
            out,
        ],
    )
}

fn import(work: &Path, split: &str) -> String {
    let out = format!("{split}.parquet");
    let output = run_import(
        work,
        &regmix_file(&format!("{split}_mixture_1m.csv")),
        &regmix_file(&format!("{split}_pile_loss_1m.csv")),
        &out,
    );
    assert_ok(&output);
    assert!(
        stdout(&output).contains("17 training domains, 13 evaluated domains"),
        "{}",
        stdout(&output)
    );
    out
}

/// Measured Pile-CC loss per RegMix index, from the test CSV.
fn measured_test_losses(column: &str) -> Vec<(String, f64)> {
    let text = fs::read_to_string(regmix_file("test_pile_loss_1m.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let c = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|cells| (cells[0].to_string(), cells[c].parse().unwrap()))
        .collect()
}

#[test]
fn fit_and_predict_rank_unseen_regmix_runs() {
    let work = tempfile::tempdir().unwrap();
    let train = import(work.path(), "train");
    let output = remix(
        work.path(),
        &[
            "fit",
            "--runs",
            &train,
            "--target",
            "the_pile_pile_cc",
            "-o",
            "fit",
            "--json",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["runs"], 512);
    let scores = report["regressors"].as_array().unwrap();
    // The default compares all seven; the published runs lack the training domains' own losses, so the
    // two per-domain laws are skipped and say why.
    assert_eq!(scores.len(), 5, "{report:#}");
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report:#}");
    for (skip, name) in skipped.iter().zip(["power_law", "mixing_law"]) {
        assert_eq!(skip["regressor"], name);
        let reason = skip["reason"].as_str().unwrap();
        assert!(
            reason.contains("loss_<domain>") && reason.starts_with(name),
            "{report:#}"
        );
    }
    for score in scores {
        println!("CV {}: rho {}", score["regressor"], score["spearman"]);
    }
    // Chosen by cross-validation alone: the best-scored regressor, whatever it is.
    assert_eq!(report["chosen"], scores[0]["regressor"], "{report:#}");
    let cv_rho = scores[0]["spearman"].as_f64().unwrap();
    assert!(cv_rho > 0.97, "cross-validated rho {cv_rho}");
    assert_eq!(report["out_of_fold"].as_array().unwrap().len(), 512);

    let output = remix(
        work.path(),
        &[
            "predict",
            "--model",
            "fit/model.json",
            "--mixtures",
            &regmix_file("test_mixture_1m.csv"),
            "-o",
            "pred.csv",
        ],
    );
    assert_ok(&output);
    let predicted: Vec<(String, f64)> = fs::read_to_string(work.path().join("pred.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (index, p) = l.split_once(',').unwrap();
            (index.to_string(), p.parse().unwrap())
        })
        .collect();
    let measured = measured_test_losses("metric/the_pile_pile_cc_val_loss");
    assert_eq!(
        predicted.iter().map(|p| &p.0).collect::<Vec<_>>(),
        measured.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    let rho = spearman(
        &predicted.iter().map(|p| p.1).collect::<Vec<_>>(),
        &measured.iter().map(|m| m.1).collect::<Vec<_>>(),
    );
    println!("Pile-CC test rho: {rho:.4}");
    assert!(
        rho >= 0.99,
        "Spearman rho on the 256 test runs: {rho:.4} (LightGBM: 0.9904)"
    );
}

#[test]
fn every_domain_ranks_unseen_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = |split: &str| {
        let table = regmix::import(
            Path::new(&regmix_file(&format!("{split}_mixture_1m.csv"))),
            Path::new(&regmix_file(&format!("{split}_pile_loss_1m.csv"))),
        )
        .unwrap();
        let out = dir.path().join(format!("{split}.parquet"));
        remix::regmix::runs::write_runs(&table, &out).unwrap();
        read_runs(&out).unwrap()
    };
    let (train, test) = (path("train"), path("test"));
    for (kind, floor) in [(RegressorKind::Gbdt, 0.989), (RegressorKind::Forest, 0.97)] {
        let mut rhos = Vec::new();
        for domain in &train.loss_domains {
            let fit = samples(&train, &Target::equal(vec![domain.clone()])).unwrap();
            let held_out = samples(&test, &Target::equal(vec![domain.clone()])).unwrap();
            let model = Fitted::fit(kind, fit.rows(), 0).unwrap();
            let rho = spearman(&model.predict(&held_out.x), &held_out.y);
            println!("{}: {domain}: {rho:.4}", kind.name());
            rhos.push(rho);
        }
        let mean = rhos.iter().sum::<f64>() / rhos.len() as f64;
        let worst = rhos.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "{}: mean over {} domains: {mean:.4} (worst {worst:.4})",
            kind.name(),
            rhos.len()
        );
        assert_eq!(rhos.len(), 13);
        assert!(
            mean >= floor,
            "{}: mean rho {mean:.4} (LightGBM: 0.9896)",
            kind.name()
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

#[test]
fn import_reports_bad_rows_with_their_numbers() {
    let work = tempfile::tempdir().unwrap();
    let mix = write(
        work.path(),
        "mix.csv",
        "index,train_a,train_b\n1,0.5,0.5\n2,0.7,0.7\n2,0.5,0.5\n3,0.2,0.8\n",
    );
    let loss = write(
        work.path(),
        "loss.csv",
        "index,metric/a_val_loss\n1,3.0\n2,nan\n",
    );
    let output = run_import(work.path(), &mix, &loss, "r.parquet");
    assert!(!output.status.success());
    let message = stderr(&output);
    for needle in [
        "row 2 (index 2): weights sum to 1.4",
        "row 3: duplicate index 2",
        "index 3 has no row",
        "loss.csv row 2 (index 2)",
    ] {
        assert!(message.contains(needle), "lacks {needle:?}:\n{message}");
    }
    assert!(!work.path().join("r.parquet").exists());
}

#[test]
fn fit_refuses_bad_runs_tables() {
    let work = tempfile::tempdir().unwrap();
    let mix = write(work.path(), "mix.csv", "index,train_a,train_b\n1,0.5,0.5\n");
    let loss = write(work.path(), "loss.csv", "index,metric/a_val_loss\n1,3.0\n");
    assert_ok(&run_import(work.path(), &mix, &loss, "one.parquet"));
    let output = remix(
        work.path(),
        &["fit", "--runs", "one.parquet", "--target", "a", "-o", "fit"],
    );
    assert!(
        stderr(&output).contains("at least 3 finished runs") && !output.status.success(),
        "{}",
        stderr(&output)
    );
    let output = remix(
        work.path(),
        &[
            "fit",
            "--runs",
            "one.parquet",
            "--target",
            "zzz",
            "-o",
            "fit",
        ],
    );
    assert!(
        stderr(&output).contains("`zzz` is not an evaluated domain")
            && stderr(&output).contains(": a"),
        "{}",
        stderr(&output)
    );
    assert!(!work.path().join("fit").exists());

    // A runs table written by someone else, with a missing loss and bad weights.
    let table = remix::regmix::runs::RunsTable {
        domains: vec!["a".into(), "b".into()],
        loss_domains: vec!["a".into()],
        runs: (0..5)
            .map(|i| remix::regmix::runs::Run {
                run_id: format!("r{i}"),
                seed: None,
                round: None,
                proxy_config_hash: None,
                weights: if i == 1 {
                    vec![0.9, 0.9]
                } else {
                    vec![0.5, 0.5]
                },
                tokens_trained: None,
                wall_time_s: None,
                device: None,
                losses: vec![if i == 3 {
                    None
                } else {
                    Some(f64::NAN).filter(|_| i == 4).or(Some(3.0))
                }],
                loss_errors: vec![None],
                status: "finished".into(),
            })
            .collect(),
        frozen: None,
    };
    remix::regmix::runs::write_runs(&table, &work.path().join("bad.parquet")).unwrap();
    let output = remix(
        work.path(),
        &["fit", "--runs", "bad.parquet", "--target", "a", "-o", "fit"],
    );
    let message = stderr(&output);
    for needle in [
        "run r1 (row 1): weights sum to 1.8",
        "run r3 (row 3): column loss_a is missing",
        "run r4 (row 4): column loss_a is NaN",
    ] {
        assert!(message.contains(needle), "lacks {needle:?}:\n{message}");
    }
}

#[test]
fn predict_refuses_mixtures_from_another_domain_set() {
    let work = tempfile::tempdir().unwrap();
    let train = import(work.path(), "train");
    assert_ok(&remix(
        work.path(),
        &[
            "fit",
            "--runs",
            &train,
            "--target",
            "the_pile_arxiv",
            "--regressor",
            "ols",
            "-o",
            "fit",
        ],
    ));
    let other = write(
        work.path(),
        "other.csv",
        "index,train_the_pile_arxiv,train_web\n1,0.5,0.5\n",
    );
    let output = remix(
        work.path(),
        &[
            "predict",
            "--model",
            "fit/model.json",
            "--mixtures",
            &other,
            "-o",
            "p.csv",
        ],
    );
    let message = stderr(&output);
    assert!(!output.status.success());
    assert!(
        message.contains("lacks weights for 16 domain(s)") && message.contains("the_pile_pile_cc"),
        "{message}"
    );
    assert!(!work.path().join("p.csv").exists());
}

/// `log_linear` with a target of two domains fits one law per domain (Olmix fits one per target
/// metric) and predicts their weighted sum; `fit/model.json` carries both laws and `remix predict` reads
/// them back. On RegMix's published runs, held out: the sum of per-domain laws ranks the unseen runs'
/// weighted loss better than one law fitted on the weighted loss itself (rho 0.925 against 0.727).
#[test]
fn log_linear_fits_a_law_per_target_domain() {
    let work = tempfile::tempdir().unwrap();
    let train = import(work.path(), "train");
    let test = import(work.path(), "test");
    let spec = "the_pile_pile_cc=0.7,the_pile_arxiv=0.3";
    assert_ok(&remix(
        work.path(),
        &[
            "fit",
            "--runs",
            &train,
            "--target",
            spec,
            "--regressor",
            "log_linear",
            "-o",
            "fit",
        ],
    ));
    let model: Value =
        serde_json::from_str(&fs::read_to_string(work.path().join("fit/model.json")).unwrap())
            .unwrap();
    let fitted = &model["model"];
    assert_eq!(fitted["kind"], "log_linear", "{model:#}");
    assert_eq!(fitted["laws"].as_array().unwrap().len(), 2, "{model:#}");
    assert_eq!(
        fitted["weights"],
        serde_json::json!([0.7, 0.3]),
        "{model:#}"
    );

    // The binary's predictions are the laws' weighted sum, read back from model.json.
    let laws: remix::regmix::fit::law::TargetLaws = serde_json::from_value(fitted.clone()).unwrap();
    let test_runs = read_runs(&work.path().join(&test)).unwrap();
    let target = Target::weighted(vec![
        ("the_pile_pile_cc".into(), 0.7),
        ("the_pile_arxiv".into(), 0.3),
    ])
    .unwrap();
    let held_out = samples(&test_runs, &target).unwrap();
    assert_ok(&remix(
        work.path(),
        &[
            "predict",
            "--model",
            "fit/model.json",
            "--mixtures",
            &test,
            "-o",
            "pred.csv",
        ],
    ));
    let predicted: Vec<f64> = fs::read_to_string(work.path().join("pred.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(predicted.len(), held_out.x.len());
    for (p, w) in predicted.iter().zip(&held_out.x) {
        assert!(
            (p - laws.predict(w)).abs() < 1e-9 * p.abs().max(1.0),
            "{p} {}",
            laws.predict(w)
        );
    }

    // Against one law on the weighted loss, both ranked on the held-out runs' weighted loss.
    let train_runs = read_runs(&work.path().join(&train)).unwrap();
    let fit = samples(&train_runs, &target).unwrap();
    let one = remix::regmix::fit::law::Law::fit(&fit.x, &fit.y, 0).unwrap();
    let one_rho = spearman(
        &held_out
            .x
            .iter()
            .map(|w| one.predict(w))
            .collect::<Vec<_>>(),
        &held_out.y,
    );
    let per_target_rho = spearman(&predicted, &held_out.y);
    println!("held-out rho: a law per target domain {per_target_rho:.4}, one law {one_rho:.4}");
    assert!(
        per_target_rho > one_rho + 0.1,
        "{per_target_rho:.4} against {one_rho:.4}"
    );
}
