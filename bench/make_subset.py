"""Derives benchmark corpora from the big benchmark corpus (fixtures/build_corpus.py --scale-mb).

    python3 bench/make_subset.py SOURCE OUT --docs-per-domain N          # the first N documents per domain
    python3 bench/make_subset.py SOURCE OUT --paragraph-docs TOTAL        # TOTAL documents made of paragraphs

The second form makes many short documents (each paragraph of 200+ bytes a document), for measuring
what dedup holds per document. Deterministic.
"""
import argparse
import glob
import os

import pyarrow as pa
import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("source")
parser.add_argument("out")
parser.add_argument("--docs-per-domain", type=int)
parser.add_argument("--paragraph-docs", type=int)
args = parser.parse_args()

domains = sorted(d for d in os.listdir(args.source) if os.path.isdir(os.path.join(args.source, d)))
wanted = args.docs_per_domain or args.paragraph_docs


def read(domain, limit):
    texts = []
    for path in sorted(glob.glob(os.path.join(args.source, domain, "*.parquet"))):
        for batch in pq.ParquetFile(path).iter_batches(columns=["text"], batch_size=1000):
            for text in batch.column(0).to_pylist():
                if args.paragraph_docs:
                    texts.extend(p for p in text.split("\n\n") if len(p) >= 200)
                else:
                    texts.append(text)
            if len(texts) >= limit:
                return texts[:limit]
    return texts


available = {d: read(d, wanted) for d in domains}
# Paragraph mode: TOTAL documents in all, domains short of an equal share leave theirs to the others.
quota, left = {}, wanted
for i, domain in enumerate(sorted(domains, key=lambda d: len(available[d]))):
    share = wanted if args.docs_per_domain else left // (len(domains) - i)
    quota[domain] = min(share, len(available[domain]))
    left -= quota[domain]
for domain in domains:
    texts = available[domain][:quota[domain]]
    os.makedirs(os.path.join(args.out, domain), exist_ok=True)
    table = pa.table({"id": list(range(len(texts))), "text": texts})
    pq.write_table(table, os.path.join(args.out, domain, "part-00000.parquet"), row_group_size=2000)
    print(f"{domain}: {len(texts)} documents, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB")
