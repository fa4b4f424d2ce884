#!/usr/bin/env bash
# Benchmark: remix dedup's MinHash signature pass against datatrove's MinhashDedupSignature stage with the
# same settings (5-grams, 14 bands x 8 rows, 64-bit xxhash) on the same documents, in the same run, one core
# each; then remix dedup's peak memory on one million documents. Not a test: it prints figures.
#
#   bash bench/dedup.sh [BENCH_CORPUS] [DOCS_PER_DOMAIN]
#
# BENCH_CORPUS (default /tmp/remix-bench-corpus) is made by fixtures/build_corpus.py --scale-mb 2600 when
# missing. Needs python3 with pyarrow, datatrove, spacy and xxhash<4 (datatrove 0.10 passes str to xxhash),
# and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/remix-bench-corpus}
per_domain=${2:-5000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}
[ -d "$corpus" ] || python3 fixtures/build_corpus.py --scale-mb 2600 --out "$corpus"
cargo build --release --locked --quiet
remix="$CARGO_TARGET_DIR/release/remix"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

subset="$work/subset"
python3 bench/make_subset.py "$corpus" "$subset" --docs-per-domain "$per_domain" > /dev/null
echo "signature corpus: $((per_domain * 4)) documents, $(du -sm "$subset" | cut -f1) MB of Parquet"
RAYON_NUM_THREADS=1 "$remix" -v dedup --quiet --corpus "$subset" -o "$work/remix" 2> "$work/remix.log" > /dev/null
grep "hash pass" "$work/remix.log" | sed 's/^/remix (1 thread): /'
python3 bench/datatrove_minhash.py "$subset" --tasks 1 2> /dev/null | sed 's/^/datatrove (1 task): /'

million="$work/million"
python3 bench/make_subset.py "$corpus" "$million" --paragraph-docs 1000000 > /dev/null
echo "memory corpus: 1000000 documents, $(du -sm "$million" | cut -f1) MB of Parquet"
/usr/bin/time -v "$remix" -v dedup --quiet --corpus "$million" -o "$work/million-out" --json \
  > "$work/million.json" 2> "$work/million.log"
grep -E "hash pass|clustered" "$work/million.log" | sed 's/^/remix (2 threads): /'
python3 - "$work/million.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"documents {r['documents_in']}, kept {r['kept']}, exact {r['dropped_exact']}, near {r['dropped_near']}, "
      f"candidate pairs {r['candidate_pairs']}, index bytes/document {r['index_bytes_per_document']}")
PY
awk -F': ' '/Elapsed \(wall clock\)/ {print "wall clock: " $2} /Maximum resident/ {printf "peak RSS: %.0f MiB\n", $2/1024}' "$work/million.log"
