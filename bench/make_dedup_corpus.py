"""A synthetic corpus for measuring dedup at scale: DOCS short documents in four domain folders, with
planted exact copies and near-duplicates (some across domains). Deterministic (seeded).

    python3 bench/make_dedup_corpus.py OUT --docs 10000000

Each document is 30 to 80 words drawn from a 100,000-word vocabulary (Zipf-like, exponent 1.1), about 300
bytes. In each block of 100,000 documents, 3% are exact copies and 3% are edits (5% of words replaced,
Jaccard of 5-gram shingles about 0.6-0.8) of a document of the same or the previous block, which may be in
another domain. Files hold 500,000 documents in row groups of 100,000; files go to the domains in turn.
"""
import argparse
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--docs", type=int, default=10_000_000)
args = parser.parse_args()

DOMAINS = ["books", "code", "papers", "web"]
BLOCK = 100_000
FILE_BLOCKS = 5
rng = np.random.default_rng(17)
vocab = np.array([f"w{i}" for i in range(100_000)], dtype=object)
weights = 1.0 / np.arange(1, 100_001) ** 1.1
weights /= weights.sum()


def block_words(n):
    lengths = rng.integers(30, 81, size=n)
    ids = rng.choice(100_000, size=int(lengths.sum()), p=weights)
    return np.split(ids, np.cumsum(lengths)[:-1])


previous = None
blocks = (args.docs + BLOCK - 1) // BLOCK
written = 0
for f in range(0, blocks, FILE_BLOCKS):
    domain = DOMAINS[(f // FILE_BLOCKS) % len(DOMAINS)]
    os.makedirs(os.path.join(args.out, domain), exist_ok=True)
    path = os.path.join(args.out, domain, f"part-{f // FILE_BLOCKS:05d}.parquet")
    writer = None
    for b in range(f, min(f + FILE_BLOCKS, blocks)):
        n = min(BLOCK, args.docs - written)
        docs = block_words(n)
        pool = docs if previous is None else previous + docs
        picks = rng.random(n)
        for i in range(n):
            if picks[i] < 0.06:
                source = pool[rng.integers(0, len(pool) - n + i + 1)] if len(pool) > n else docs[rng.integers(0, i + 1)]
                if picks[i] < 0.03:
                    docs[i] = source
                else:
                    edited = source.copy()
                    k = max(1, len(edited) // 20)
                    edited[rng.integers(0, len(edited), size=k)] = rng.integers(0, 100_000, size=k)
                    docs[i] = edited
        texts = pa.array([" ".join(vocab[d]) for d in docs], type=pa.string())
        ids = pa.array(np.arange(written, written + n, dtype=np.int64))
        table = pa.table({"id": ids, "text": texts})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=BLOCK)
        written += n
        previous = docs
    writer.close()
print(f"{written} documents in {args.out}")
