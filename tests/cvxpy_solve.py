"""The exact proposer's problem solved by cvxpy (CLARABEL, exponential and power cones), as an independent check of
remix's own solver (tests/solver.rs). Reads a JSON list of problems from argv[1], writes one JSON list of
answers to stdout: per problem {"weights": [...], "objective": F(w*)}.

A problem: {"laws": [{"c": float, "t": [float]*n}], "a": [float] (one per law, >= 0), "b": float,
"prior": [float]*n (> 0), "caps": [float]*n, "kl_reg": float}; its objective is
b + sum_j a_j (exp(c_j) + exp(t_j . w)) + kl_reg * sum_d w_d ln(w_d / prior_d) over
{w >= 0, sum w = 1, w <= caps}. A power law {"e", "k", "alpha", "eps", "t"} enters as
e + k (t . w + eps)^(-alpha) instead of exp(c) + exp(t . w).
"""
import json
import sys

import cvxpy as cp
import numpy as np

answers = []
for p in json.load(open(sys.argv[1])):
    n = len(p["prior"])
    w = cp.Variable(n, nonneg=True)
    prior = np.array(p["prior"])
    def term(l):
        if "alpha" in l:
            return l["k"] * cp.power(np.array(l["t"]) @ w + l["eps"], -l["alpha"])
        return cp.exp(np.array(l["t"]) @ w)
    law = sum(a * term(l) for a, l in zip(p["a"], p["laws"]))
    constant = p["b"] + sum(a * (l["e"] if "alpha" in l else np.exp(l["c"])) for a, l in zip(p["a"], p["laws"]))
    objective = constant + law + p["kl_reg"] * cp.sum(cp.rel_entr(w, prior))
    problem = cp.Problem(cp.Minimize(objective), [cp.sum(w) == 1, w <= np.array(p["caps"])])
    problem.solve(solver=cp.CLARABEL)
    if problem.status != cp.OPTIMAL:
        sys.exit(f"cvxpy: {problem.status}")
    answers.append({"weights": [float(x) for x in np.clip(w.value, 0.0, None)], "objective": float(problem.value)})
json.dump(answers, sys.stdout)
