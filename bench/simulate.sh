#!/usr/bin/env bash
# Benchmark: `remix simulate` with 1,000,000 candidates over RegMix's 17 domains, scored by the
# gradient-boosted model fitted to RegMix's 512 published runs. Not a test: it prints figures.
#
#   bash bench/simulate.sh [CANDIDATES]
set -euo pipefail
cd "$(dirname "$0")/.."
candidates=${1:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}
cargo build --release --locked --quiet
remix="$CARGO_TARGET_DIR/release/remix"
work=$(mktemp -d)
"$remix" runs import --regmix-mixtures fixtures/regmix/train_mixture_1m.csv \
  --regmix-losses fixtures/regmix/train_pile_loss_1m.csv -o "$work/runs.parquet" > /dev/null
"$remix" fit --runs "$work/runs.parquet" --target the_pile_pile_cc --regressor gbdt -o "$work/fit" > /dev/null
echo "remix simulate: $candidates candidates, 17 domains, 1000-tree model, $(nproc) cores"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: %e s wall, %M KiB peak" "$remix" simulate --model "$work/fit/model.json" \
    -n "$candidates" --top-k 128 --seed "$i" --bootstrap 0 -o "$work/optimum.json" > /dev/null
done
rm -rf "$work"
