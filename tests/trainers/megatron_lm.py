"""Loads remix's megatron and neox exports with megatron-core itself and checks what it samples.

    python megatron.py MANIFEST.json EXPORT MIN_SAMPLES

EXPORT is `<name>.megatron.args` (Megatron-LM's `--data-path`), `<name>.megatron.json` (its
`--per-split-data-args-path`) or `<name>.neox.yml` (GPT-NeoX's `train_data_paths`/`train_data_weights`, whose
shards GPT-NeoX reads with its copy of the same indexed-dataset code). The blend is read as each trainer
reads it, every prefix is opened with megatron-core's `IndexedDataset` (the tokens must be the manifest's
dtype and end every document with its EOD token; a document may span several sequences), and `BlendedMegatronDatasetBuilder` builds the GPT
datasets of the manifest's sequence length over it, as Megatron-LM's `pretrain_gpt.py` does. At least
MIN_SAMPLES samples are drawn from the training split (and the validation split is built from the
held-out shards); each domain's share of them is printed beside its weight as JSON.
"""
import collections
import json
import os
import tempfile

import numpy
import torch.distributed
import yaml
from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
from megatron.core.datasets.indexed_dataset import IndexedDataset
from megatron.core.datasets.utils import get_blend_from_list

from common import arguments, report


class Tokenizer:
    """What GPTDataset asks of a tokenizer: the EOD and pad ids, the vocabulary size, and an identity for its
    index cache."""

    def __init__(self, manifest):
        self.unique_identifiers = {"class": "remix-manifest", "sha256": manifest["tokenizer"]["sha256"]}
        self.eod = manifest["tokenizer"]["eod_id"]
        self.pad = -1
        self.vocab_size = manifest["tokenizer"]["vocab_size"]


def blends(export):
    """[train, valid, test] blends, each ([prefix], [weight]), as the trainer reads the export."""
    if export.endswith(".args"):
        words = open(export).read().split()
        assert words[0] == "--data-path", words[:1]
        return [get_blend_from_list(words[1:]), None, None]
    if export.endswith(".json"):
        split = json.load(open(export))
        return [get_blend_from_list(split[key]) for key in ("train", "valid", "test")]
    config = yaml.safe_load(open(export))
    return [
        (config[f"{key}_data_paths"], [float(w) for w in config[f"{key}_data_weights"]])
        for key in ("train", "valid", "test")
    ]


def main():
    manifest, export, dtype, min_samples = arguments()
    per_split = blends(export)
    for blend in per_split:
        for prefix in blend[0] if blend else []:
            shard = IndexedDataset(prefix)
            assert shard.index.dtype == numpy.dtype(dtype), (prefix, shard.index.dtype)
            assert len(shard) > 0, prefix
            # The last sequence of every document ends with the EOD token.
            for end in shard.document_indices[1:]:
                assert shard[int(end) - 1][-1] == manifest["tokenizer"]["eod_id"], (prefix, int(end) - 1)

    domain_of = {s["prefix"]: d["domain"] for d in manifest["domains"] for s in d["shards"]}
    sizes = [min_samples] + [64 if blend else None for blend in per_split[1:]]
    with tempfile.TemporaryDirectory() as cache:
        # Megatron builds its datasets inside a process group (torchrun's); this is a group of one.
        torch.distributed.init_process_group(
            "gloo", init_method=f"file://{os.path.join(cache, 'group')}", rank=0, world_size=1
        )
        config = GPTDatasetConfig(
            random_seed=manifest["seed"],
            sequence_length=manifest["sequence_length"],
            blend_per_split=per_split,
            path_to_cache=cache,
            tokenizer=Tokenizer(manifest),
            reset_position_ids=False,
            reset_attention_mask=False,
            eod_mask_loss=False,
        )
        train, valid, _ = BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, config).build()
        assert (valid is not None) == (per_split[1] is not None)
        prefixes = per_split[0][0]
        counts = collections.Counter()
        for i in range(min_samples):
            sample = train[i]
            assert sample["tokens"].shape == (manifest["sequence_length"],), sample["tokens"].shape
            counts[domain_of[prefixes[sample["dataset_id"]]]] += 1
        for i in range(len(valid) if valid is not None else 0):
            valid[i]
        torch.distributed.destroy_process_group()
    report(manifest, counts, min_samples)


if __name__ == "__main__":
    main()
