#!/usr/bin/env python3
"""Does `remix cluster` recover real sources whose labels are stripped? Against scikit-learn, same run.

Takes a corpus of domain folders (CORPUS/<source>/*.parquet, e.g. the fixtures or a corpus built by
`fixtures/build_corpus.py --scale-mb N`), writes every document into one folder with its source only
in a column remix does not read (the labels stripped), and clusters it with k = the number of sources:

  remix cluster --k K        (hashed uni+bigram TF-IDF, projection, k-means; the whole command timed)
  scikit-learn 1.7           TfidfVectorizer(sublinear_tf, uni+bigrams) + KMeans(k, n_init=3), timed

Prints the adjusted Rand index of each against the sources and the documents per second of each.

Usage: bench/cluster_ari.py CORPUS REMIX_BINARY [--seeds 3] [--per-source N] [--out /tmp/cluster-ari]
Needs: pyarrow, scikit-learn (pinned in the command the README quotes).
"""
import argparse
import glob
import os
import random
import shutil
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score


def stripped_corpus(corpus, out, per_source):
    """One folder `crawl/` holding every document (at most `per_source` of each source, a seeded pick);
    the source only in the `label` column."""
    texts, labels = [], []
    for folder in sorted(glob.glob(os.path.join(corpus, "*"))):
        if not os.path.isdir(folder):
            continue
        for path in sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True)):
            column = pq.read_table(path, columns=["text"]).column("text").to_pylist()
            if per_source:
                column = random.Random(0).sample(column, min(per_source, len(column)))
            texts.extend(column)
            labels.extend([os.path.basename(folder)] * len(column))
    os.makedirs(os.path.join(out, "crawl"))
    table = pa.table({"text": texts, "label": labels})
    pq.write_table(table, os.path.join(out, "crawl", "part-00000.parquet"), row_group_size=2048)
    return texts, labels


def remix_ari(binary, corpus, work, k, seed):
    started = time.perf_counter()
    subprocess.run([binary, "cluster", "-q", "--corpus", corpus, "--k", str(k), "--seed", str(seed),
                    "-o", work], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    truth, found = [], []
    for folder in sorted(glob.glob(os.path.join(work, "cluster", "*", ""))):
        for path in glob.glob(os.path.join(folder, "*.parquet")):
            column = pq.read_table(path, columns=["label"]).column("label").to_pylist()
            truth.extend(column)
            found.extend([folder] * len(column))
    return adjusted_rand_score(truth, found), seconds, len(truth)


def sklearn_ari(texts, labels, k, seed):
    started = time.perf_counter()
    vectors = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts)
    found = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)
    seconds = time.perf_counter() - started
    return adjusted_rand_score(labels, found), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("remix")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="/tmp/cluster-ari")
    parser.add_argument("--per-source", type=int, default=0,
                        help="at most this many documents of each source (0: all)")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    stripped = os.path.join(args.out, "corpus")
    texts, labels = stripped_corpus(args.corpus, stripped, args.per_source)
    k = len(set(labels))
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {megabytes:.1f} MB of text, {k} sources: k = {k}")
    print(f"{'seed':>4} {'remix ARI':>10} {'sklearn ARI':>12} {'remix docs/s':>13} {'sklearn docs/s':>15}")
    rows = []
    for seed in range(1, args.seeds + 1):
        work = os.path.join(args.out, f"work-{seed}")
        r_ari, r_s, n = remix_ari(args.remix, stripped, work, k, seed)
        assert n == len(texts), f"remix wrote {n} documents of {len(texts)}"
        s_ari, s_s = sklearn_ari(texts, labels, k, seed)
        rows.append((r_ari, s_ari, len(texts) / r_s, len(texts) / s_s))
        print(f"{seed:>4} {r_ari:>10.3f} {s_ari:>12.3f} {len(texts) / r_s:>13.0f} {len(texts) / s_s:>15.0f}")
    mean = [sum(r[i] for r in rows) / len(rows) for i in range(4)]
    print(f"mean {mean[0]:>10.3f} {mean[1]:>12.3f} {mean[2]:>13.0f} {mean[3]:>15.0f}"
          f"   speed ratio {mean[2] / mean[3]:.1f}x")


if __name__ == "__main__":
    main()
