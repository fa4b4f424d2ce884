#!/usr/bin/env bash
# Mixture reuse against a full recomputation, where the best mixture is known (bench/known_mix.py builds
# the corpus and says why its recipe is the truth). For each seed: a fresh corpus and tokenizer, then
#   full:   one `remix run` over all five training domains, 40 proxies (38 candidates with the natural and
#           uniform mixtures; the proxy and settings of bench/known_mix.sh);
#   old:    one `remix run` over three of them (source_a, source_b, distract_d), 24 proxies: the earlier
#           search of a team whose corpus then grew;
#   reuse:  one `remix run` over all five with `[reuse] from` the old manifest: source_a, source_b and
#           distract_d frozen at the old proportions as one block, source_c and distract_e added and
#           searched with 10 candidates (13 proxies with the natural, uniform and old mixtures).
# Same proxy size and tokens throughout. Prints, per seed and as mean (min-max), the L1 distance of the
# full and the reused answers to the truth over the five training domains, and the proxies each trained.
#
# Usage: bash bench/known_reuse.sh [OUT] [SEEDS]
#   OUT    work folder (default /tmp/remix-known-reuse; replaced)
#   SEEDS  corpora and runs to average over (default 3)
# REMIX names the binary (default: target/release/remix, built with `cargo build --release --locked`);
# PYTHON a python3 with pyarrow (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-/tmp/remix-known-reuse}
SEEDS=${2:-3}
REMIX=${REMIX:-$ROOT/target/release/remix}
PYTHON=${PYTHON:-python3}
[ -x "$REMIX" ] || { echo "no remix binary at $REMIX: cargo build --release --locked, or set REMIX" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"

config() {  # WORK CORPUS CANDIDATES REUSE_BODY
  cat <<EOF
work = "$1"
seed = $seed

[corpus]
paths = ["$2"]
tokenizer = "tokenizer.json"

[tokenize]
eval_only = ["target"]

[proxy]
device = "cpu"
layers = 2
d_model = 64
heads = 4
ffn_hidden = 128
context = 128

[proxy.train]
train_tokens = 262144
batch_size = 16
learning_rate = 0.003
val_sequences = 64

[regmix.sample]
$3

[regmix.fit]
target = ["target"]

[regmix.simulate]
candidates = 100000

[manifest]
name = "known"
train_tokens = 1000000
$4
EOF
}

for seed in $(seq 1 "$SEEDS"); do
  dir="$OUT/seed-$seed"
  mkdir -p "$dir"
  "$PYTHON" bench/known_mix.py "$dir/data" --seed "$seed"
  "$REMIX" tokenizer train --quiet --corpus "$dir/data/corpus" --vocab-size 2048 -o "$dir/tokenizer.json" >/dev/null
  mkdir -p "$dir/subset"
  for d in source_a source_b distract_d target; do ln -s "../data/corpus/$d" "$dir/subset/$d"; done
  config full data/corpus "candidates = 38" "" > "$dir/full.toml"
  config old subset "candidates = 22" "" > "$dir/old.toml"
  config reuse data/corpus "" "
[reuse]
from = \"old/mixtures/known.json\"
candidates = 10" > "$dir/reuse.toml"
  for run in full old reuse; do
    start=$(date +%s)
    (cd "$dir" && "$REMIX" run --quiet --yes "$run.toml" >/dev/null)
    echo $(( $(date +%s) - start )) > "$dir/$run.seconds"
  done
done

"$PYTHON" - "$OUT" "$SEEDS" <<'EOF'
import json, statistics, sys
import pyarrow.parquet as pq
out, seeds = sys.argv[1], int(sys.argv[2])
rows = {"full": [], "reuse": []}
for seed in range(1, seeds + 1):
    d = f"{out}/seed-{seed}"
    truth = json.load(open(f"{d}/data/truth.json"))["weights"]
    line = []
    for run in rows:
        manifest = json.load(open(f"{d}/{run}/mixtures/known.json"))
        w = {x["domain"]: x["weight"] for x in manifest["domains"]}
        l1 = sum(abs(w.get(k, 0.0) - v) for k, v in truth.items())
        proxies = pq.read_metadata(f"{d}/{run}/runs/runs.parquet").num_rows
        seconds = int(open(f"{d}/{run}.seconds").read())
        rows[run].append((l1, proxies, seconds))
        line.append(f"{run} L1 {l1:.3f} ({proxies} proxies, {seconds} s): "
                    + ", ".join(f"{k} {w.get(k, 0.0):.3f}" for k in truth))
    old = json.load(open(f"{d}/old/mixtures/known.json"))
    line.append("old: " + ", ".join(f"{x['domain']} {x['weight']:.3f}" for x in old["domains"]))
    print(f"seed {seed}:\n  " + "\n  ".join(line))
print()
print("| search | L1 to the truth, mean (min-max) | proxies trained per seed | wall time per seed, mean |")
print("| --- | --- | --- | --- |")
for run, label in [("full", "full recomputation, 5 domains"), ("reuse", "reuse: block of 3 + 2 added")]:
    l1 = [r[0] for r in rows[run]]
    print(f"| {label} | {statistics.mean(l1):.3f} ({min(l1):.3f}-{max(l1):.3f}) | {rows[run][0][1]} | "
          f"{statistics.mean(r[2] for r in rows[run]):.0f} s |")
gap = [r[0] - f[0] for r, f in zip(rows["reuse"], rows["full"])]
print(f"\nreuse minus full, L1 per seed: " + ", ".join(f"{g:+.3f}" for g in gap)
      + f"; mean {statistics.mean(gap):+.3f}")
EOF
