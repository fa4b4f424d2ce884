"""Writes the fixtures' tokens as a team's existing tokenized data, with the writers' own code.

    python megatron_write.py TOKENS_DIR OUT_DIR

Reads remix's shards in TOKENS_DIR (every document of a domain: training, then held-out) with megatron-core's
`IndexedDataset`, and writes into OUT_DIR:
- `code`: one Megatron prefix by megatron-core's `IndexedDatasetBuilder.add_document`, each document stored as
  two sequences (as Megatron-LM's preprocess_data.py does with --split-sentences);
- `email-a`, `email-b`: the email domain over two prefixes (`add_item` + `end_document`);
- `speeches`: one prefix, the evaluation-only domain;
- `novel-0.npy`, `novel-1.npy`: raw uint16 token files as OLMo-core and dolma write them (numpy's `tofile`,
  no header, each document ending with the end-of-document token), split at a document boundary.
Prints the number of documents of each domain as JSON.
"""
import json
import os
import sys

import numpy
import torch
from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder


def documents(tokens, name):
    out = []
    for prefix in (name, name + ".val"):
        path = os.path.join(tokens, prefix)
        if os.path.getsize(path + ".bin") > 0:
            shard = IndexedDataset(path)
            out.extend(numpy.array(shard[i]) for i in range(len(shard)))
    return out


def builder(out, prefix):
    return IndexedDatasetBuilder(os.path.join(out, prefix + ".bin"), dtype=numpy.uint16)


def main():
    tokens, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    counts = {}

    code = documents(tokens, "code")
    b = builder(out, "code")
    for doc in code:
        half = len(doc) // 2
        b.add_document(torch.from_numpy(doc.astype(numpy.int64)), [half, len(doc) - half])
    b.finalize(os.path.join(out, "code.idx"))
    counts["code"] = len(code)

    email = documents(tokens, "email")
    cut = len(email) // 2
    for prefix, docs in (("email-a", email[:cut]), ("email-b", email[cut:])):
        b = builder(out, prefix)
        for doc in docs:
            b.add_item(torch.from_numpy(doc.astype(numpy.int64)))
            b.end_document()
        b.finalize(os.path.join(out, prefix + ".idx"))
    counts["email"] = len(email)

    speeches = documents(tokens, "speeches")
    b = builder(out, "speeches")
    for doc in speeches:
        b.add_item(torch.from_numpy(doc.astype(numpy.int64)))
        b.end_document()
    b.finalize(os.path.join(out, "speeches.idx"))
    counts["speeches"] = len(speeches)

    novel = documents(tokens, "novel")
    cut = len(novel) // 2
    for k, docs in enumerate((novel[:cut], novel[cut:])):
        numpy.concatenate(docs).astype(numpy.uint16).tofile(os.path.join(out, f"novel-{k}.npy"))
    counts["novel"] = len(novel)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
