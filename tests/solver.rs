//! The exact proposer's answer checked against an independent solver: cvxpy with CLARABEL (exponential
//! cones) on random mixing-law problems with binding epoch caps and several KL weights.
//!
//! cvxpy lives in a Python environment that `.ci/run` builds at a pinned version and names in
//! `REMIX_SOLVER_PYTHON`; without it (a development machine) the test says so and does nothing, and CI,
//! which always sets it, fails when cvxpy is missing.

mod common;

use std::process::Command;

use common::python_ok;
use rand::{Rng, SeedableRng};
use remix::regmix::fit::Fitted;
use remix::regmix::fit::law::{Law, MixingLaw};
use remix::regmix::solve::solve;
use serde_json::{Value, json};

/// A random per-domain mixing law over `n` domains: coefficients `t` in [-3, 1] (the loss falls as
/// its own domains grow), non-negative `a` with some exactly zero, a random prior and caps of which
/// some bind.
fn problem(rng: &mut rand::rngs::StdRng, n: usize) -> (MixingLaw, Vec<f64>, Vec<f64>) {
    let laws = (0..n)
        .map(|_| Law {
            c: rng.random_range(-1.0..0.5),
            t: (0..n).map(|_| rng.random_range(-3.0..1.0)).collect(),
        })
        .collect();
    let a = (0..n)
        .map(|_| {
            if rng.random_bool(0.3) {
                0.0
            } else {
                rng.random_range(0.0..1.0)
            }
        })
        .collect();
    let prior: Vec<f64> = (0..n).map(|_| rng.random_range(0.05..1.0)).collect();
    let total: f64 = prior.iter().sum();
    let prior = prior.iter().map(|p| p / total).collect();
    // Caps between 0.1 and 0.6, raised evenly where they would not admit a mixture.
    let mut caps: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..0.6)).collect();
    let room: f64 = caps.iter().sum();
    if room < 1.2 {
        caps.iter_mut().for_each(|c| *c *= 1.2 / room);
    }
    (
        MixingLaw {
            laws,
            a,
            b: rng.random_range(0.0..1.0),
        },
        prior,
        caps,
    )
}

#[test]
fn the_exact_proposer_matches_cvxpy() {
    let Ok(python) = std::env::var("REMIX_SOLVER_PYTHON") else {
        eprintln!("skipping: REMIX_SOLVER_PYTHON is not set (.ci/run builds that environment)");
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut cases = Vec::new();
    for n in [3, 5, 8] {
        for kl_reg in [0.0, 0.01, 0.05] {
            for _ in 0..3 {
                let (law, prior, caps) = problem(&mut rng, n);
                cases.push((law, prior, caps, kl_reg));
            }
        }
    }
    let problems: Vec<Value> = cases
        .iter()
        .map(|(law, prior, caps, kl_reg)| {
            json!({"laws": law.laws, "a": law.a, "b": law.b, "prior": prior, "caps": caps, "kl_reg": kl_reg})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("problems.json");
    std::fs::write(&path, serde_json::to_vec(&problems).unwrap()).unwrap();
    let stdout = python_ok(
        Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cvxpy_solve.py"))
            .arg(&path),
        "tests/cvxpy_solve.py",
    );
    let answers: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answers.len(), cases.len());
    let mut worst = (0.0f64, 0.0f64);
    for (i, ((law, prior, caps, kl_reg), answer)) in cases.iter().zip(&answers).enumerate() {
        let model = Fitted::MixingLaw(law.clone());
        let ours = solve(&model, prior, caps, *kl_reg).unwrap();
        let objective = |w: &[f64]| {
            law.predict(w)
                + kl_reg
                    * w.iter()
                        .zip(prior)
                        .filter(|(w, _)| **w > 0.0)
                        .map(|(w, p)| w * (w / p).ln())
                        .sum::<f64>()
        };
        let theirs: Vec<f64> = answer["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        // Each answer judged by the same objective: ours no worse than cvxpy's beyond the solvers'
        // tolerances, and the two answers next to each other (the problems are strictly convex
        // where kl_reg > 0, and generic otherwise).
        let gap = objective(&ours.weights) - objective(&theirs);
        let l1: f64 = ours
            .weights
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(
            gap <= 1e-6,
            "case {i}: remix's objective {} is {gap:e} above cvxpy's {} (n {}, kl_reg {kl_reg})",
            objective(&ours.weights),
            objective(&theirs),
            prior.len()
        );
        assert!(
            l1 <= 2e-3,
            "case {i}: L1 {l1} between remix {:?} and cvxpy {theirs:?}",
            ours.weights
        );
        for (w, cap) in ours.weights.iter().zip(caps) {
            assert!(
                *w >= 0.0 && *w <= cap + 1e-9,
                "case {i}: {w} outside [0, {cap}]"
            );
        }
        worst = (worst.0.max(gap), worst.1.max(l1));
    }
    println!(
        "{} problems: remix's objective at most {:.2e} above cvxpy's, weights at most L1 {:.2e} apart",
        cases.len(),
        worst.0,
        worst.1
    );
}
