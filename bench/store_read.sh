#!/usr/bin/env bash
# Benchmark: `remix stats` on a corpus read from an S3-compatible store against the same files on local
# disk, in the same run: wall time and peak memory (GNU time) of each, and their ratios. The store is
# moto's server on localhost (the one tests/object_store.rs uses), so its Python shares the cores with
# remix: a real store on another machine costs remix's cores less.
#
#   bash bench/store_read.sh [OUT_DIR] [FILE_MB]
#   REMIX_CPUS=0,1 SERVER_CPUS=2-15 bash bench/store_read.sh   # remix on two cores, the server on others
#
# Writes one domain of one Parquet file of about FILE_MB (default 2048) MB in row groups of 20,000
# documents (the fixtures' texts, each made unique), uploads it with boto3, then times both reads.
# Needs: S3_PYTHON with moto[server] and boto3 (default ~/.cache/remix-s3-venv/bin/python, which .ci/run
# builds), PYARROW_PYTHON with pyarrow (default ~/.cache/remix-trainers-venv/bin/python), GNU time
# (GNU_TIME, default /usr/bin/time), and taskset where REMIX_CPUS or SERVER_CPUS pins remix (both reads) or
# the server to those cores, as a store on other machines leaves remix its cores. ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/remix-store-bench}
file_mb=${2:-2048}
s3_python=${S3_PYTHON:-$HOME/.cache/remix-s3-venv/bin/python}
pyarrow_python=${PYARROW_PYTHON:-$HOME/.cache/remix-trainers-venv/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remix-target}
if [ -z "${REMIX:-}" ]; then
  cargo build --release --locked --quiet
fi
remix=${REMIX:-$CARGO_TARGET_DIR/release/remix}  # REMIX=path times another build of remix
gnu_time=${GNU_TIME:-/usr/bin/time}
pin_remix=() pin_server=()
if [ -n "${REMIX_CPUS:-}" ]; then pin_remix=(taskset -c "$REMIX_CPUS"); fi
if [ -n "${SERVER_CPUS:-}" ]; then pin_server=(taskset -c "$SERVER_CPUS"); fi
mkdir -p "$out/corpus/web"

if [ ! -f "$out/corpus/web/part-0.parquet" ]; then
  "$pyarrow_python" - "$out/corpus/web/part-0.parquet" "$file_mb" <<'PY'
import glob, sys
import pyarrow as pa, pyarrow.parquet as pq
path, target = sys.argv[1], int(sys.argv[2]) << 20
texts = []
for f in sorted(glob.glob("fixtures/corpus/*/*.parquet")):
    texts += pq.read_table(f, columns=["text"])["text"].to_pylist()
schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
with pq.ParquetWriter(path, schema, compression="snappy") as writer:
    written, i = 0, 0
    while written < target:
        batch = [f"{i + k} {texts[(i + k) % len(texts)]}" for k in range(20000)]
        writer.write_table(pa.table({"id": list(range(i, i + 20000)), "text": batch}, schema=schema),
                           row_group_size=20000)
        i += 20000
        written += sum(len(t) for t in batch)
PY
fi
file_bytes=$(stat -c %s "$out/corpus/web/part-0.parquet")

port=$("$s3_python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
if [ -n "${S3S_FS:-}" ]; then
  rm -rf "$out/s3s" && mkdir -p "$out/s3s"
  "${pin_server[@]}" "$S3S_FS" --host 127.0.0.1 --port "$port" --access-key remix --secret-key remix "$out/s3s" > "$out/server.log" 2>&1 &
  server_name="s3s-fs"
else
  "${pin_server[@]}" "$s3_python" -m moto.server -H 127.0.0.1 -p "$port" > "$out/server.log" 2>&1 &
  server_name="moto"
fi
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done
"$s3_python" tests/s3/upload.py "http://127.0.0.1:$port" bench corpus "$out/corpus" > /dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=remix \
  AWS_SECRET_ACCESS_KEY=remix AWS_REGION=us-east-1

seconds() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$1"; }
kilobytes() { awk -F': ' '/Maximum resident/ {print $2}' "$1"; }
cpu() { awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$1"; }
cat "$out/corpus/web/part-0.parquet" > /dev/null  # the local read starts from the page cache
echo "one file of $((file_bytes >> 20)) MiB, served by $server_name on localhost ($(nproc) cores;" \
  "remix on ${REMIX_CPUS:-any}, the server on ${SERVER_CPUS:-any})"
for round in $(seq "${ROUNDS:-2}"); do
  rm -rf "$out/local" "$out/store"
  "${pin_remix[@]}" "$gnu_time" -v "$remix" stats --quiet --corpus "$out/corpus" -o "$out/local" 2> "$out/local.time" > /dev/null
  "${pin_remix[@]}" "$gnu_time" -v "$remix" stats --quiet --corpus s3://bench/corpus/ -o "$out/store" 2> "$out/store.time" > /dev/null
  cmp <(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['domains'])" "$out/local/stats.json") \
      <(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['domains'])" "$out/store/stats.json")
  l_s=$(seconds "$out/local.time"); s_s=$(seconds "$out/store.time")
  l_kb=$(kilobytes "$out/local.time"); s_kb=$(kilobytes "$out/store.time")
  l_cpu=$(cpu "$out/local.time"); s_cpu=$(cpu "$out/store.time")
  echo "round $round: local ${l_s} s (${l_cpu} s CPU), ${l_kb} KiB peak; store ${s_s} s (${s_cpu} s CPU), ${s_kb} KiB peak;" \
    "time ratio $(python3 -c "print(round($s_s / $l_s, 2))"), remix's CPU ratio $(python3 -c "print(round($s_cpu / $l_cpu, 2))")," \
    "memory above local $(( (s_kb - l_kb) >> 10 )) MiB"
done
