"""Loads remix's hf export with HF `datasets` itself and checks what it samples.

    python hf.py MANIFEST.json EXPORT.hf.py MIN_SAMPLES

The export's `datasets_by_domain()` loads every domain's text folder with `load_dataset("parquet")`: each
must hold the domain's training documents, one row each, whose text encodes back to the shard's tokens
with the shards' tokenizer. Then the export's `mix()` (`interleave_datasets`, which draws whole
documents) is read for at least ten times MIN_SAMPLES rows (a random choice per row needs that many for
its shares to settle within 0.01). The fixtures are small: `mix()` stops once every domain has been read
through (`all_exhausted`), which for balanced weights is a few hundred rows, so each domain is handed to
`mix()` repeated as many times as that takes; repeating a domain's documents leaves its probability as it
is. interleave_datasets counts documents, so each domain's share of the
rows is printed beside the export's document probability (its token weight over its mean document
length), as JSON.
"""
import collections
import math
import tempfile

from datasets import concatenate_datasets

from megatron.core.datasets.indexed_dataset import IndexedDataset
from tokenizers import Tokenizer

from common import arguments, shards_tokenizer


def main():
    manifest, export, dtype, min_samples = arguments()
    tokenizer = Tokenizer.from_file(shards_tokenizer(manifest))
    eod = manifest["tokenizer"]["eod_id"]
    domains = {d["domain"]: d for d in manifest["domains"]}
    with tempfile.TemporaryDirectory() as cache:
        parts = export.datasets_by_domain(cache_dir=cache)
        owner = {}
        for name, dataset in parts.items():
            domain = domains[name]
            assert len(dataset) == domain["documents_available"], (name, len(dataset), domain["documents_available"])
            (shard,) = [IndexedDataset(s["prefix"]) for s in domain["shards"]]
            for i in (0, len(dataset) // 2, len(dataset) - 1):
                encoded = tokenizer.encode(dataset[i]["text"], add_special_tokens=False).ids + [eod]
                assert encoded == shard[i].tolist(), f"{name}: document {i} does not encode back to its tokens"
            for row in dataset:
                owner[row["text"]] = name if owner.get(row["text"], name) == name else None
        once = len(export.mix(parts))
        repeats = math.ceil(10 * min_samples / once) + 1
        mixed = export.mix({name: concatenate_datasets([d] * repeats) for name, d in parts.items()})
        rows = min(len(mixed), 10 * min_samples)
        assert rows >= 10 * min_samples, f"the mix holds only {len(mixed)} rows"
        counts = collections.Counter(owner[row["text"]] for row in mixed.select(range(rows)))
    assert counts[None] <= rows / 100, f"{counts[None]} of {rows} rows are in more than one domain"
    shares = {d: [counts[d] / rows, w] for d, w in zip(export.DOMAINS, export.WEIGHTS)}
    print(__import__("json").dumps({"samples": rows, "shares": shares}))


if __name__ == "__main__":
    main()
