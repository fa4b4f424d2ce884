//! The exact proposer's answer checked against an independent solver: cvxpy with CLARABEL (exponential
//! and power cones) on random mixing-law and power-law problems with binding epoch caps and several KL
//! weights.
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
use remix::regmix::fit::power_law::{PowerLaw, PowerMixingLaw};
use remix::regmix::solve::solve;
use serde_json::{Value, json};

/// A random prior and caps between 0.1 and 0.6 of which some bind, raised evenly where they would not
/// admit a mixture.
fn prior_and_caps(rng: &mut rand::rngs::StdRng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let prior: Vec<f64> = (0..n).map(|_| rng.random_range(0.05..1.0)).collect();
    let total: f64 = prior.iter().sum();
    let prior = prior.iter().map(|p| p / total).collect();
    let mut caps: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..0.6)).collect();
    let room: f64 = caps.iter().sum();
    if room < 1.2 {
        caps.iter_mut().for_each(|c| *c *= 1.2 / room);
    }
    (prior, caps)
}

/// Non-negative combination weights, some exactly zero.
fn combination(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            if rng.random_bool(0.3) {
                0.0
            } else {
                rng.random_range(0.0..1.0)
            }
        })
        .collect()
}

/// A random per-domain law over `n` domains, the exponential form (coefficients `t` in [-3, 1]: the
/// loss falls as its own domains grow) or the power form (exponents 0.1 to 1, transfer 0 to 0.3).
fn problem(rng: &mut rand::rngs::StdRng, n: usize, power: bool) -> (Fitted, Value) {
    let a = combination(rng, n);
    let b = rng.random_range(0.0..1.0);
    if power {
        let laws: Vec<PowerLaw> = (0..n)
            .map(|j| PowerLaw {
                e: rng.random_range(1.0..3.0),
                k: rng.random_range(0.1..1.0),
                alpha: rng.random_range(0.1..1.0),
                eps: rng.random_range(0.001..0.1),
                t: (0..n)
                    .map(|i| {
                        if i == j {
                            1.0
                        } else {
                            rng.random_range(0.0..0.3)
                        }
                    })
                    .collect(),
            })
            .collect();
        let json = json!({"laws": laws, "a": a, "b": b});
        (Fitted::PowerLaw(PowerMixingLaw { laws, a, b }), json)
    } else {
        let laws: Vec<Law> = (0..n)
            .map(|_| Law {
                c: rng.random_range(-1.0..0.5),
                t: (0..n).map(|_| rng.random_range(-3.0..1.0)).collect(),
            })
            .collect();
        let json = json!({"laws": laws, "a": a, "b": b});
        (Fitted::MixingLaw(MixingLaw { laws, a, b }), json)
    }
}

#[test]
fn the_exact_proposer_matches_cvxpy() {
    let Ok(python) = std::env::var("REMIX_SOLVER_PYTHON") else {
        eprintln!("skipping: REMIX_SOLVER_PYTHON is not set (.ci/run builds that environment)");
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut cases = Vec::new();
    let mut problems: Vec<Value> = Vec::new();
    for power in [false, true] {
        for n in [3, 5, 8] {
            for kl_reg in [0.0, 0.01, 0.05] {
                for _ in 0..3 {
                    let (model, mut json) = problem(&mut rng, n, power);
                    let (prior, caps) = prior_and_caps(&mut rng, n);
                    json["prior"] = json!(prior);
                    json["caps"] = json!(caps);
                    json["kl_reg"] = json!(kl_reg);
                    problems.push(json);
                    cases.push((model, prior, caps, kl_reg));
                }
            }
        }
    }
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
    for (i, ((model, prior, caps, kl_reg), answer)) in cases.iter().zip(&answers).enumerate() {
        let ours = solve(model, prior, caps, *kl_reg).unwrap();
        let objective = |w: &[f64]| {
            model.predict(&[w.to_vec()])[0]
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
