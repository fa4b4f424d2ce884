#!/usr/bin/env python3
"""A corpus whose best mixture is known by construction, for judging remix's answer (bench/known_mix.sh).

Five training domains, each its own source of text: a first-order Markov chain over a shared vocabulary of
made-up words (a Zipf unigram law under a domain-specific permutation of the words, and for each word a
domain-specific set of favoured successors). A sixth, evaluation-only domain, `target`, is made of documents
of three of them in known proportions (TRUTH below); the other two (`distract_d`, `distract_e`) never appear
in it. The target's documents all have one length and are interleaved so that every prefix of the target
holds TRUTH's shares: a proxy is evaluated on the target's first val_sequences x context tokens, about 50
documents at the benchmark's settings, and a random draw of 50 documents misses the recipe by up to 0.29 in
L1 (it did for seed 1 before the interleaving: 0.65 / 0.22 / 0.13), which moves the best mixture with it.

Why TRUTH is the best mixture: a model trained on the mixture q of the training domains learns (in the
limit) the mixture sum_d q_d P_d of their text distributions, and its cross-entropy on the target
sum_d p_d P_d is H(target) + KL(target || model), smallest exactly when the model is the target, that is,
q = p, since distinct domains make the mixture identifiable. Tiny proxies on little data only approximate
that limit, which is why bench/known_mix.sh also trains proxies on TRUTH and on perturbations of it and
shows TRUTH wins.

With --targets 2 the target is two evaluation-only domains weighed 0.7 and 0.3 in the objective,
`target_1` made of the sources in the shares RECIPES[0] and `target_2` in RECIPES[1] (distinct recipes, one
mostly source_a, one mostly source_c). Cross-entropy is linear in the distribution scored, so the weighted
objective 0.7 H(p_1, model) + 0.3 H(p_2, model) is H(0.7 p_1 + 0.3 p_2, model), smallest at the model
0.7 p_1 + 0.3 p_2: the best mixture is the objective's weighted sum of the recipes, TRUTH again by the choice
of RECIPES. A regressor must then get each target domain's response right, and the weights between them.

Usage:
  python3 bench/known_mix.py OUT [--words-per-domain 300000] [--seed 0] [--targets 1|2]
writes OUT/corpus/<domain>/part-00000.parquet (columns id, text) and OUT/truth.json (the target as
`remix fit --target` takes it, the evaluation-only domains, the best mixture).
Needs pyarrow. Deterministic: the same arguments give the same files.
"""
import argparse
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

# The target's recipe: its documents come from these domains in these shares; the distractors get none.
TRUTH = {"source_a": 0.5, "source_b": 0.3, "source_c": 0.2, "distract_d": 0.0, "distract_e": 0.0}
# With --targets 2: the objective's weights and each target domain's recipe; OBJECTIVE-weighted, they sum
# to TRUTH (0.7 x 0.7 + 0.3 x 1/30 = 0.5, 0.7 x 0.3 + 0.3 x 0.3 = 0.3, 0.3 x 2/3 = 0.2).
OBJECTIVE = (0.7, 0.3)
RECIPES = ({"source_a": 0.7, "source_b": 0.3},
           {"source_a": 1 / 30, "source_b": 0.3, "source_c": 2 / 3})
WORDS = 1500          # word types shared by every domain
SUCCESSORS = 4        # favoured next words per word and domain
FAVOURED = 0.6        # probability that the next word is one of the favoured successors
ZIPF = 1.1            # exponent of each domain's unigram law
DOC_WORDS = (60, 240)  # words per document of a training domain, uniform
TARGET_DOC_WORDS = 150  # words per document of the target: equal lengths, so shares of documents are shares of text


def make_words(rng):
    """WORDS distinct lowercase words of 2 to 4 syllables."""
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words = set()
    while len(words) < WORDS:
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Domain:
    """One domain's Markov chain over the shared words."""

    def __init__(self, words, rng):
        order = list(range(len(words)))
        rng.shuffle(order)
        weights = [1.0 / (rank + 1) ** ZIPF for rank in range(len(words))]
        self.words = words
        self.unigram = [0.0] * len(words)
        for rank, w in enumerate(order):
            self.unigram[w] = weights[rank]
        self.successors = [rng.sample(range(len(words)), SUCCESSORS) for _ in words]
        self.cumulative = []
        total = 0.0
        for p in self.unigram:
            total += p
            self.cumulative.append(total)

    def draw_unigram(self, rng):
        x = rng.random() * self.cumulative[-1]
        lo, hi = 0, len(self.cumulative) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cumulative[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def document(self, rng, n=None):
        n = n or rng.randint(*DOC_WORDS)
        w = self.draw_unigram(rng)
        out = [w]
        for _ in range(n - 1):
            w = rng.choice(self.successors[w]) if rng.random() < FAVOURED else self.draw_unigram(rng)
            out.append(w)
        text = " ".join(self.words[i] for i in out)
        return text[0].upper() + text[1:] + "."


def write(out, domain, texts):
    folder = os.path.join(out, "corpus", domain)
    os.makedirs(folder, exist_ok=True)
    table = pa.table({"id": [f"{domain}-{i}" for i in range(len(texts))], "text": texts})
    pq.write_table(table, os.path.join(folder, "part-00000.parquet"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--words-per-domain", type=int, default=300_000,
                        help="words of text per training domain (the target gets half as many)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", type=int, choices=(1, 2), default=1,
                        help="evaluation-only target domains: 1, or 2 weighed 0.7 / 0.3 in the objective")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    words = make_words(rng)
    domains = {name: Domain(words, rng) for name in TRUTH}
    for name, domain in domains.items():
        texts, count = [], 0
        while count < args.words_per_domain:
            texts.append(domain.document(rng))
            count += texts[-1].count(" ") + 1
        write(args.out, name, texts)
    if args.targets == 1:
        targets = {"target": (1.0, TRUTH)}
    else:
        targets = {f"target_{i + 1}": (weight, recipe)
                   for i, (weight, recipe) in enumerate(zip(OBJECTIVE, RECIPES))}
        for name in TRUTH:
            mixed = sum(weight * recipe.get(name, 0.0) for weight, recipe in targets.values())
            assert abs(mixed - TRUTH[name]) < 1e-9, (name, mixed)
    for target, (_, recipe) in targets.items():
        write(args.out, target, target_documents(domains, recipe, args.words_per_domain // 2, rng))
    spec = ",".join(f"{t}={w}" for t, (w, _) in targets.items()) if args.targets > 1 else "target"
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump({"target": spec, "eval_only": list(targets), "weights": TRUTH, "seed": args.seed}, f,
                  indent=2)
        f.write("\n")


def target_documents(domains, recipe, words, rng):
    """Documents of TARGET_DOC_WORDS words from the sources in `recipe`'s shares, in the order that keeps
    every prefix closest to the recipe (the source furthest behind its share goes next), so the few
    sequences a proxy is evaluated on hold the recipe's shares, not a random draw's."""
    sources = [n for n in recipe if recipe[n] > 0]
    taken = {n: 0 for n in sources}
    texts = []
    while len(texts) * TARGET_DOC_WORDS < words:
        source = max(sources, key=lambda n: (recipe[n] * (len(texts) + 1) - taken[n], recipe[n]))
        taken[source] += 1
        texts.append(domains[source].document(rng, TARGET_DOC_WORDS))
    return texts


if __name__ == "__main__":
    main()
