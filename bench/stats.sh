#!/usr/bin/env bash
# Benchmark: `remix stats` against DuckDB computing the same per-domain statistics on the same files,
# in the same run. Not a test: it prints figures.
#
#   bash bench/stats.sh [CORPUS_DIR] [SIZE_MB]
#
# Generates a corpus of SIZE_MB (default 2600, about 1 GB of snappy Parquet) MB of text with fixtures/build_corpus.py when
# CORPUS_DIR (default /tmp/remix-bench-corpus) does not exist yet. Needs python3 with pyarrow and duckdb
# (pip install pyarrow duckdb) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-/tmp/remix-bench-corpus}
size_mb=${2:-2600}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}

if [ ! -d "$corpus" ]; then
  python3 fixtures/build_corpus.py --scale-mb "$size_mb" --out "$corpus"
fi
cargo build --release --locked --quiet
remix="$CARGO_TARGET_DIR/release/remix"
parquet_mb=$(du -sm "$corpus" | cut -f1)
out=$(mktemp -d)
cat "$corpus"/*/*.parquet > /dev/null  # warm the page cache for both tools alike

echo "corpus: $corpus ($parquet_mb MB of Parquet, $(nproc) cores)"
/usr/bin/time -v "$remix" stats --quiet --json --corpus "$corpus" -o "$out/stats" > "$out/remix.json" 2> "$out/remix.time"
remix_s=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$out/remix.time")
remix_kb=$(awk -F': ' '/Maximum resident/ {print $2}' "$out/remix.time")
text_mb=$(python3 -c "import json; print(sum(d['bytes'] for d in json.load(open('$out/remix.json'))['domains'])/1e6)")

python3 - "$corpus" "$out" <<'PY' > "$out/duckdb.txt"
import sys, time, duckdb, resource
corpus, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
source = f"read_parquet('{corpus}/*/*.parquet', filename=true)"
domain = "regexp_extract(filename, '.*/([^/]+)/[^/]+$', 1)"
full = f"""
SELECT {domain} AS domain, count(*) AS documents, sum(strlen(text)) AS bytes,
       sum(len(string_split_regex(trim(text), '\\s+'))) AS words,
       avg(strlen(text)) AS len_mean, quantile_cont(strlen(text), [0.5, 0.9, 0.99]) AS quantiles,
       max(strlen(text)) AS len_max,
       count(*) FILTER (WHERE text IS NULL) AS null_text, count(*) FILTER (WHERE text = '') AS empty_text
FROM {source} GROUP BY 1 ORDER BY 1"""
no_words = full.replace("sum(len(string_split_regex(trim(text), '\\s+')))", "0")
for name, query in [("duckdb_full", full), ("duckdb_without_words", no_words)]:
    start = time.time()
    rows = con.execute(query).fetchall()
    print(name, time.time() - start)
    for row in rows:
        print("  ", row[:4], file=sys.stderr)
print("duckdb_peak_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
PY
duck_s=$(awk '/^duckdb_full/ {print $2}' "$out/duckdb.txt")
duck_nw_s=$(awk '/^duckdb_without_words/ {print $2}' "$out/duckdb.txt")
duck_kb=$(awk '/^duckdb_peak_kb/ {print $2}' "$out/duckdb.txt")

python3 - <<PY
text_mb, remix_s, duck_s, duck_nw_s = $text_mb, $remix_s, $duck_s, $duck_nw_s
print(f"text: {text_mb:.0f} MB in {$parquet_mb} MB of Parquet")
print(f"remix stats: {remix_s:.2f} s, {text_mb / remix_s:.0f} MB/s of text, peak RSS {$remix_kb / 1024:.0f} MiB")
print(f"duckdb (same statistics, words by regex split): {duck_s:.2f} s, {text_mb / duck_s:.0f} MB/s, peak RSS {$duck_kb / 1024:.0f} MiB")
print(f"duckdb (same, without the word count): {duck_nw_s:.2f} s, {text_mb / duck_nw_s:.0f} MB/s")
print(f"speed ratio remix/duckdb: {duck_s / remix_s:.2f} (full), {duck_nw_s / remix_s:.2f} (duckdb without words)")
PY
rm -rf "$out"
