#!/usr/bin/env bash
# Benchmark: the dedup stage split into TASKS array tasks (signatures, buckets, clusters, filter; see
# src/data/dedup/tasks.rs) run one after another on DOCS synthetic documents (bench/make_dedup_corpus.py), each
# task under /usr/bin/time: its wall time and peak memory, and the bytes each phase leaves for the next. Then
# the same stage in one process, and a byte-for-byte comparison of the two outputs. Not a test: it prints
# figures (README, "Dedup in tasks at scale").
#
#   bash bench/dedup_tasks.sh [DOCS] [TASKS]        # defaults: 10000000 8
#
# Needs python3 with numpy and pyarrow, /usr/bin/time, and about 12 GB free under ${TMPDIR:-/tmp} per 10
# million documents.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-10000000}
tasks=${2:-8}
tmp=${TMPDIR:-/tmp}
corpus="$tmp/remix-dedup-corpus-$docs"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}
# The dev profile is opt-level 3 for remix and its dependencies (Cargo.toml): no release build needed.
cargo build --locked --quiet
remix="$CARGO_TARGET_DIR/debug/remix"
[ -d "$corpus" ] || python3 bench/make_dedup_corpus.py "$corpus" --docs "$docs"
work=$(mktemp -d "$tmp/remix-dedup-tasks.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "corpus: $docs documents, $(du -sm "$corpus" | cut -f1) MB of Parquet in $corpus; $tasks tasks"

config() { # config DIR TASKS
  mkdir -p "$1"
  cat > "$1/run.toml" <<TOML
work = "work"
seed = 1
[corpus]
paths = ["$corpus"]
tokenizer = "$PWD/fixtures/tokenizer.json"
[dedup]
[regmix.fit]
target = ["web"]
[manifest]
name = "bench"
train_tokens = 1000000
[executor]
tasks = { dedup = $2 }
TOML
}

measure() { # measure LABEL COMMAND...: one line of wall seconds and peak MiB
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2> "$work/log" || { cat "$work/log"; exit 1; }
  read -r wall kib < "$work/time"
  printf '%-28s %8.1f s %8.0f MiB\n' "$label" "$wall" "$((kib / 1024))"
}

config "$work/split" "$tasks"
cd "$work/split"
for phase in signatures buckets clusters filter; do
  count=$tasks
  [ "$phase" = clusters ] && count=1
  for ((i = 0; i < count; i++)); do
    measure "$phase $i/$count" "$remix" run run.toml --quiet --from dedup --until dedup --phase "$phase" --task "$i/$count"
  done
  [ "$phase" = filter ] && dir=work/dedup-tasks/output || dir=work/dedup-tasks/$phase
  echo "  $phase wrote $(du -sb "$dir" | cut -f1) bytes"
done
measure "join (the stage)" "$remix" run run.toml --from dedup --until dedup
python3 - work/dedup/stats.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  documents {r['documents_in']}, kept {r['kept']}, exact {r['dropped_exact']}, near {r['dropped_near']}, "
      f"candidate pairs {r['candidate_pairs']}")
PY
config "$work/whole" 1
cd "$work/whole"
measure "one process" "$remix" run run.toml --from dedup --until dedup
diff -r -x _done.json "$work/split/work/dedup" "$work/whole/work/dedup" > /dev/null \
  && echo "outputs identical (every part and stats.json, byte for byte)" \
  || { echo "OUTPUTS DIFFER"; exit 1; }
