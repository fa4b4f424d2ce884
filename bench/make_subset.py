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
per_domain = args.docs_per_domain or (args.paragraph_docs + len(domains) - 1) // len(domains)
for domain in domains:
    texts = []
    for path in sorted(glob.glob(os.path.join(args.source, domain, "*.parquet"))):
        for batch in pq.ParquetFile(path).iter_batches(columns=["text"], batch_size=1000):
            for text in batch.column(0).to_pylist():
                if args.paragraph_docs:
                    texts.extend(p for p in text.split("\n\n") if len(p) >= 200)
                else:
                    texts.append(text)
            if len(texts) >= per_domain:
                break
        if len(texts) >= per_domain:
            break
    texts = texts[:per_domain]
    os.makedirs(os.path.join(args.out, domain), exist_ok=True)
    table = pa.table({"id": list(range(len(texts))), "text": texts})
    pq.write_table(table, os.path.join(args.out, domain, "part-00000.parquet"), row_group_size=2000)
    print(f"{domain}: {len(texts)} documents, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB")
