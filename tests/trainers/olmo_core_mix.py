"""Loads remix's olmo-core export with OLMo-core itself and checks what it samples.

    python olmo_core_mix.py MANIFEST.json EXPORT.olmo-core.yaml MIN_SAMPLES

The export is read as OLMo-core reads a config file (`NumpyFSLDatasetConfig.from_file`) and built: its
`SourceMixtureDatasetConfig` counts every source's tokens in the raw `.bin` arrays and apportions the
requested tokens by target ratio, and `NumpyFSLDatasetMixture` cuts them into instances of
`sequence_length` tokens. OLMo-core's own data loader then serves them in global batches, epoch after
epoch (reshuffled per epoch), until at least MIN_SAMPLES instances; each instance is traced to its
domain by its tokens (every instance must be a window of exactly one domain's shard), and each domain's
share is printed beside its weight as JSON.
"""
import collections
import hashlib
import tempfile

import numpy
from olmo_core.data import NumpyDataLoaderConfig, NumpyFSLDatasetConfig

from common import arguments, report


def main():
    manifest, export, dtype, min_samples = arguments()
    config = NumpyFSLDatasetConfig.from_file(export)
    length = config.sequence_length
    assert length == manifest["sequence_length"], (length, manifest["sequence_length"])

    owner = {}
    for source in config.source_mixture_config.source_list.sources:
        for path in source.paths:
            tokens = numpy.fromfile(path, dtype=config.get_dtype())
            for start in range(0, len(tokens) - length + 1, length):
                owner[hashlib.sha1(tokens[start : start + length].tobytes()).digest()] = source.source_name

    with tempfile.TemporaryDirectory() as work:
        config.work_dir = work
        dataset = config.build()
        loader = NumpyDataLoaderConfig(global_batch_size=16 * length, seed=manifest["seed"], work_dir=work).build(
            dataset
        )
        counts = collections.Counter()
        total = 0
        epoch = 1
        while total < min_samples:
            loader.reshuffle(epoch=epoch)
            before = total
            for batch in loader:
                for row in batch["input_ids"]:
                    row = row.numpy().astype(config.get_dtype())
                    counts[owner[hashlib.sha1(row.tobytes()).digest()]] += 1
                    total += 1
            loader.reset()
            assert total > before, f"epoch {epoch} served nothing"
            epoch += 1
    report(manifest, counts, total)


if __name__ == "__main__":
    main()
