#!/usr/bin/env bash
# How far remix's answer lands from a mixture known to be best (bench/known_mix.py builds the corpus and
# says why its recipe is the truth). For each seed: a fresh corpus and tokenizer, one `remix run` up to the
# answer (40 proxies), then on those same runs: every regressor fitted alone, each simulated by the
# sampling proposer (RegMix's mean of the best drawn candidates; gbdt with it is RegMix's own setting) and,
# for the models convex in the weights, by the exact proposer at several KL weights. Prints, per method,
# the L1 distance of its answer to the truth over the training domains and the weight it puts on the two
# distractor domains, then the mean and spread over seeds. Also, at the same total of 40 proxies: the
# search in rounds (22 sampled candidates with the natural and uniform ones, then 8 and 8 near the
# optimum; round 1's 24 proxies are the one-shot run's first 24, the same candidates trained with the
# same seed, so they are copied from it and only the 16 later proxies train), and every regressor
# compared by cross-validation chosen by rho or by regret, each simulated with the proposer `auto`.
# The default answer's intervals (its search bootstrapped over the runs) are checked against the truth:
# how many of them hold it, against their nominal level, and their widths. With --check-truth, also trains proxies on the truth and on 8 perturbations of it and prints their target
# losses, to show the truth is the best mixture at this proxy size, not only in the limit.
# TARGETS=2 makes the target two evaluation-only domains weighed 0.7 / 0.3 (bench/known_mix.py says why
# the best mixture is the same TRUTH), so each regressor must model a weighted target.
#
# Usage: [TARGETS=2] bash bench/known_mix.sh [OUT] [SEEDS] [--check-truth]
#   OUT    work folder (default /tmp/remix-known-mix; replaced)
#   SEEDS  corpora and runs to average over (default 5)
# REMIX names the binary (default: target/release/remix, built with `cargo build --release --locked`);
# PYTHON a python3 with pyarrow (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${1:-/tmp/remix-known-mix}
SEEDS=${2:-5}
CHECK=${3:-}
REMIX=${REMIX:-$ROOT/target/release/remix}
PYTHON=${PYTHON:-python3}
TARGETS=${TARGETS:-1}
REGRESSORS="power_law mixing_law forest gbdt log_linear ridge ols"
KL_REGS="0 0.01 0.05"
[ -x "$REMIX" ] || { echo "no remix binary at $REMIX: cargo build --release --locked, or set REMIX" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"

for seed in $(seq 1 "$SEEDS"); do
  dir="$OUT/seed-$seed"
  mkdir -p "$dir"
  "$PYTHON" bench/known_mix.py "$dir/data" --seed "$seed" --targets "$TARGETS"
  # The target as `remix fit --target` takes it, and as TOML for the config.
  target=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["target"])' "$dir/data/truth.json")
  read -r eval_only target_toml < <("$PYTHON" - "$dir/data/truth.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
pairs = [p.split("=") for p in t["target"].split(",")]
table = "{ " + ", ".join(f"{n} = {w}" for n, w in pairs) + " }" if len(pairs[0]) == 2 else json.dumps([t["target"]])
print(json.dumps(t["eval_only"]).replace(" ", ""), table)
EOF
)
  "$REMIX" tokenizer train --quiet --corpus "$dir/data/corpus" --vocab-size 2048 -o "$dir/tokenizer.json" >/dev/null
  # The proxy of the issue's measurement: 2 layers, width 64, 262,144 tokens each; 38 candidates and
  # the natural and uniform mixtures make 40 proxies. A budget no cap binds at (each domain holds about
  # 400k tokens, 4 epochs), so the truth is reachable.
  cat > "$dir/known.toml" <<EOF
work = "work"
seed = $seed

[corpus]
paths = ["data/corpus"]
tokenizer = "tokenizer.json"

[tokenize]
eval_only = $eval_only

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
candidates = 38

[regmix.fit]
target = $target_toml

[regmix.simulate]
candidates = 100000

[manifest]
name = "known"
train_tokens = 1000000
EOF
  (cd "$dir" && "$REMIX" run --quiet --yes known.toml >/dev/null)
  cp "$dir/work/fit/optimum.json" "$dir/default.json"
  simulate() {  # MODEL OUT [FLAGS...]
    local model=$1 out=$2
    shift 2
    "$REMIX" simulate --quiet --model "$model" --tokens "$dir/work/tokens" --train-tokens 1000000 \
      -n 100000 --seed "$seed" --bootstrap 0 -o "$out" "$@" >/dev/null
  }
  # RegMix's four compared by cross-validated rho, then the mean of the best drawn candidates (remix's
  # default before the laws).
  "$REMIX" fit --quiet --runs "$dir/work/runs/runs.parquet" --target "$target" --select spearman \
    --regressor ols --regressor ridge --regressor gbdt --regressor forest --seed "$seed" -o "$dir/fit-rho4" >/dev/null
  simulate "$dir/fit-rho4/model.json" "$dir/cv-sample.json" --proposer sample
  for select in spearman regret; do
    "$REMIX" fit --quiet --runs "$dir/work/runs/runs.parquet" --target "$target" --select "$select" \
      $(for r in $REGRESSORS; do printf -- '--regressor %s ' "$r"; done) --seed "$seed" -o "$dir/fit-all-$select" >/dev/null
    simulate "$dir/fit-all-$select/model.json" "$dir/all-$select-auto.json" --proposer auto --kl-reg 0
  done
  # The search in rounds at the same total (see the top of this file).
  sed -e '/^candidates = 38$/d' -e 's/^work = "work"$/work = "rounds"/' "$dir/known.toml" > "$dir/rounds.toml"
  printf '\n[regmix.rounds]\ncandidates = [22, 8, 8]\n' >> "$dir/rounds.toml"
  mkdir -p "$dir/rounds/runs"
  "$PYTHON" - "$dir/work/runs/runs.parquet" "$dir/rounds/runs/runs.parquet" <<'EOF'
import sys
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
keep = pa.array(["natural", "uniform"] + [f"cand-{i:05}" for i in range(1, 23)])
t = pq.read_table(sys.argv[1])
pq.write_table(t.filter(pc.is_in(t["run_id"], value_set=keep)), sys.argv[2])
EOF
  (cd "$dir" && "$REMIX" run --quiet --yes rounds.toml >/dev/null)
  cp "$dir/rounds/fit/optimum.json" "$dir/rounds.json"
  for r in $REGRESSORS; do
    "$REMIX" fit --quiet --runs "$dir/work/runs/runs.parquet" --target "$target" --regressor "$r" \
      --seed "$seed" -o "$dir/fit-$r" >/dev/null
    case $r in
      gbdt|forest) simulate "$dir/fit-$r/model.json" "$dir/$r-sample.json" --proposer sample ;;
      *)
        simulate "$dir/fit-$r/model.json" "$dir/$r-sample.json" --proposer sample
        for kl in $KL_REGS; do
          simulate "$dir/fit-$r/model.json" "$dir/$r-exact-$kl.json" --proposer exact --kl-reg "$kl"
        done ;;
    esac
  done
  if [ "$CHECK" = "--check-truth" ]; then
    "$PYTHON" - "$dir" <<'EOF'
import json, random, sys
dir = sys.argv[1]
truth = json.load(open(f"{dir}/data/truth.json"))["weights"]
names = list(truth)
rng = random.Random(0)
rows = [("truth", [truth[n] for n in names])]
sources = [i for i, n in enumerate(names) if truth[n] > 0]
for i in range(8):
    # Move 0.15 of the weight from a domain the target is made of to another domain.
    w = [truth[n] for n in names]
    a = rng.choice(sources)
    b = rng.choice([j for j in range(len(names)) if j != a])
    moved = min(0.15, w[a])
    w[a] -= moved
    w[b] += moved
    rows.append((f"perturbed-{i}", w))
with open(f"{dir}/check.csv", "w") as f:
    f.write("index," + ",".join("w_" + n for n in names) + "\n")
    for name, w in rows:
        f.write(name + "," + ",".join(f"{x:.6f}" for x in w) + "\n")
EOF
    "$REMIX" train --quiet --tokens "$dir/work/tokens" --mixtures "$dir/check.csv" -o "$dir/check" \
      --device cpu --layers 2 --d-model 64 --heads 4 --ffn-hidden 128 --context 128 \
      --train-tokens 262144 --batch-size 16 --learning-rate 0.003 --val-sequences 64 --seed "$seed" >/dev/null
  fi
done

"$PYTHON" - "$OUT" "$SEEDS" "$REGRESSORS" "$KL_REGS" "$CHECK" <<'EOF'
import json, statistics, sys
out, seeds, regressors, kl_regs, check = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
methods = [("gbdt-sample", "gbdt, top-k mean (RegMix)"),
           ("cv-sample", "CV-chosen of ols/ridge/gbdt/forest by rho, top-k mean (remix's former default)"),
           ("default", "`remix run` default: all seven by regret, proposer auto, kl_reg 0.01"),
           ("all-spearman-auto", "CV-chosen of all seven by rho, proposer auto (kl_reg 0)"),
           ("all-regret-auto", "CV-chosen of all seven by regret, proposer auto (kl_reg 0)"),
           ("rounds", "rounds 24 + 8 + 8 with the defaults")]
for r in regressors:
    if r != "gbdt":
        methods.append((f"{r}-sample", f"{r}, top-k mean"))
    if r not in ("gbdt", "forest"):
        methods += [(f"{r}-exact-{kl}", f"{r}, exact, kl_reg {kl}") for kl in kl_regs]
rows = {m: [] for m, _ in methods}
for seed in range(1, seeds + 1):
    d = f"{out}/seed-{seed}"
    truth = json.load(open(f"{d}/data/truth.json"))["weights"]
    chosen = "default " + json.load(open(f"{d}/work/fit/report.json"))["chosen"]
    chosen += ", by rho of four " + json.load(open(f"{d}/fit-rho4/report.json"))["chosen"]
    chosen += ", by rho of all seven " + json.load(open(f"{d}/fit-all-spearman/report.json"))["chosen"]
    chosen += ", by regret " + json.load(open(f"{d}/fit-all-regret/report.json"))["chosen"]
    for m, _ in methods:
        opt = {x["domain"]: x["weight"] for x in json.load(open(f"{d}/{m}.json"))["domains"]}
        l1 = sum(abs(opt.get(k, 0.0) - v) for k, v in truth.items())
        distract = sum(opt.get(k, 0.0) for k, v in truth.items() if v == 0.0)
        rows[m].append((l1, distract))
    print(f"seed {seed}: CV chose {chosen}; " + ", ".join(f"{m} L1 {rows[m][-1][0]:.3f}" for m, _ in methods))
print()
print("| method | L1 to the truth, mean (min-max) | weight on distractors, mean (max) |")
print("| --- | --- | --- |")
for m, label in methods:
    l1 = [r[0] for r in rows[m]]
    dis = [r[1] for r in rows[m]]
    print(f"| {label} | {statistics.mean(l1):.3f} ({min(l1):.3f}-{max(l1):.3f}) | "
          f"{statistics.mean(dis):.3f} ({max(dis):.3f}) |")
# The default answer's intervals (the search repeated on resampled runs): how often each training domain's
# interval holds its true weight, against the intervals' nominal level, and how wide they are.
held, widths, level = [], [], None
for seed in range(1, seeds + 1):
    d = f"{out}/seed-{seed}"
    truth = json.load(open(f"{d}/data/truth.json"))["weights"]
    intervals = json.load(open(f"{d}/default.json")).get("intervals")
    if not intervals:
        continue
    level = intervals["level"]
    for i in intervals["domains"]:
        held.append(i["low"] - 1e-9 <= truth.get(i["domain"], 0.0) <= i["high"] + 1e-9)
        widths.append(i["high"] - i["low"])
if held:
    print()
    print(f"Intervals of the default answer: {sum(held)} of {len(held)} (domain, seed) intervals hold the truth "
          f"({100 * sum(held) / len(held):.0f}% at a nominal {100 * level:.0f}%); width mean {statistics.mean(widths):.3f}, "
          f"max {max(widths):.3f}")
if check == "--check-truth":
    import pyarrow.parquet as pq
    print()
    print("Target loss of proxies trained on the truth and on 8 perturbations of it (0.15 moved between two domains):")
    for seed in range(1, seeds + 1):
        t = pq.read_table(f"{out}/seed-{seed}/check/runs/runs.parquet").to_pydict()
        spec = json.load(open(f"{out}/seed-{seed}/data/truth.json"))["target"]
        pairs = [(p.split("=") + ["1"])[:2] for p in spec.split(",")]
        weighted = [sum(float(w) * t[f"loss_{n}"][i] for n, w in pairs) for i in range(len(t["run_id"]))]
        losses = dict(zip(t["run_id"], weighted))
        truth = losses.pop("truth")
        beaten = sum(1 for v in losses.values() if v <= truth)
        print(f"seed {seed}: truth {truth:.4f}; perturbations {min(losses.values()):.4f} to "
              f"{max(losses.values()):.4f}; {beaten} of {len(losses)} at or below the truth")
EOF
