#!/usr/bin/env bash
# Benchmark: remix tokenize (Parquet to finished Megatron shards) against the `tokenizers` Python package's
# encode_batch alone (texts already in memory) on the same texts, the same tokenizer and the same number of
# threads, in the same run. Not a test: it prints figures.
#
#   bash bench/tokenize.sh [BENCH_CORPUS] [DOCS_PER_DOMAIN] [THREADS]
#
# Needs python3 with pyarrow and tokenizers (pip install tokenizers pyarrow).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/remix-bench-corpus}
per_domain=${2:-20000}
threads=${3:-$(nproc)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}
[ -d "$corpus" ] || python3 fixtures/build_corpus.py --scale-mb 2600 --out "$corpus"
cargo build --release --locked --quiet
remix="$CARGO_TARGET_DIR/release/remix"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
subset="$work/subset"
python3 bench/make_subset.py "$corpus" "$subset" --docs-per-domain "$per_domain" > /dev/null
cat "$subset"/*/*.parquet > /dev/null

export RAYON_NUM_THREADS=$threads
start=$(date +%s.%N)
"$remix" tokenize --quiet --input "$subset" --tokenizer fixtures/tokenizer.json -o "$work/out" --json > "$work/index.json"
end=$(date +%s.%N)
python3 - "$subset" "$start" "$end" "$threads" <<'PY'
import glob, sys, time
import pyarrow.parquet as pq
from tokenizers import Tokenizer
subset, start, end, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
texts = [t for f in sorted(glob.glob(f"{subset}/*/*.parquet")) for t in pq.read_table(f, columns=["text"]).column(0).to_pylist()]
mb = sum(len(t.encode()) for t in texts) / 1e6
tok = Tokenizer.from_file("fixtures/tokenizer.json")
t0 = time.perf_counter()
tok.encode_batch(texts, add_special_tokens=False)
python_s = time.perf_counter() - t0
remix_s = end - start
print(f"texts: {len(texts)} documents, {mb:.1f} MB, {threads} threads")
print(f"remix tokenize (Parquet -> shards): {remix_s:.2f} s = {mb / remix_s:.2f} MB/s")
print(f"python tokenizers encode_batch alone: {python_s:.2f} s = {mb / python_s:.2f} MB/s")
print(f"ratio remix / python: {python_s / remix_s:.2f}")
PY
