"""datatrove's MinHash signature stage on a Parquet corpus, timed: the reference for `bench/dedup.sh`.

    python3 bench/datatrove_minhash.py CORPUS_DIR [--tasks N]

Runs ParquetReader -> MinhashDedupSignature (5-grams, 14 buckets x 8 hashes, 64-bit xxhash: datatrove's
defaults, the same as remix's) with N tasks on N workers, and prints one JSON line with the documents,
the seconds and documents per second. Needs `pip install datatrove xxhash`.
"""
import argparse
import json
import tempfile
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.pipeline.readers import ParquetReader
from datatrove.utils.hashing import HashConfig

parser = argparse.ArgumentParser()
parser.add_argument("corpus")
parser.add_argument("--tasks", type=int, default=1)
args = parser.parse_args()

config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8,
                       hash_config=HashConfig(precision=64, hash_fc="xxhash"))
with tempfile.TemporaryDirectory() as out:
    executor = LocalPipelineExecutor(
        pipeline=[
            ParquetReader(args.corpus, glob_pattern="*/*.parquet", text_key="text"),
            MinhashDedupSignature(output_folder=f"{out}/signatures", config=config),
        ],
        tasks=args.tasks,
        workers=args.tasks,
        logging_dir=f"{out}/logs",
    )
    start = time.perf_counter()
    stats = executor.run()
    seconds = time.perf_counter() - start
    with open(f"{out}/logs/stats.json") as f:
        merged = json.load(f)
docs = next(s["stats"].get("documents", {}).get("total", 0) for s in merged if "Parquet" in s["name"])
print(json.dumps({"tool": "datatrove", "tasks": args.tasks, "documents": docs, "seconds": round(seconds, 2),
                  "documents_per_second": round(docs / seconds, 1)}))
