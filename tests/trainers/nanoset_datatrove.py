"""Reads remix's nanotron export with datatrove's own DatatroveFolderDataset, the reader nanotron's Nanoset
builds on, and checks what the Nanoset blend samples from it.

    python nanoset_datatrove.py MANIFEST.json EXPORT.nanotron.yaml MIN_SAMPLES

Runs in its own environment (datatrove 0.10.1 needs a huggingface_hub the other trainers' libraries
refuse). Each dataset folder is opened as nanotron opens it (`*.ds`, not recursive, files shuffled) with
positions from the `.ds.index`: it must hold as many samples of sequence_length + 1 tokens as the
independent reader (nanoset.py) counts, the same tokens in every sample, and positions that restart right
after every end-of-document token. Then the Nanoset blend (nanoset.blend, written from nanotron's source,
which is not on PyPI) draws at least MIN_SAMPLES samples through datatrove's reader; each domain's share is
printed beside its weight as JSON.
"""
import urllib.parse
import collections
import os

import numpy
import yaml
from datatrove.utils.dataset import DatatroveFolderDataset

from common import arguments, report
from nanoset import Folder, blend


def main():
    manifest, export, dtype, min_samples = arguments()
    config = yaml.safe_load(open(export))["data_stages"][0]["data"]
    dataset = config["dataset"]
    folders, weights = dataset["dataset_folder"], dataset["dataset_weights"]
    token_size = dataset["token_size_in_bytes"]
    length = manifest["sequence_length"]
    eod = manifest["tokenizer"]["eod_id"]
    readers = []
    for folder in folders:
        theirs = DatatroveFolderDataset(
            data_folder=folder,
            seq_len=length,
            filename_pattern="*.ds",
            recursive=False,
            token_size=token_size,
            shuffle=True,
            return_positions=True,
        )
        ours = Folder(folder, length + 1, token_size, eod)
        assert len(theirs) == len(ours) > 0, (folder, len(theirs), len(ours))
        for i in range(len(theirs)):
            sample = theirs[i]
            tokens = sample["input_ids"].numpy()
            assert numpy.array_equal(tokens, ours[i].astype(numpy.int64)), (folder, i)
            positions = sample["positions"].numpy()
            # A document's end is the token before a position restart (the window's own start aside).
            ends = numpy.flatnonzero(tokens[:-1] == eod) + 1
            restarts = numpy.flatnonzero(positions[1:] == 0) + 1
            assert numpy.array_equal(ends[ends < len(positions)], restarts), (folder, i, ends, restarts)
        readers.append(theirs)

    datasets, samples = blend(weights, [len(r) for r in readers], min_samples, config["seed"])
    counts = collections.Counter()
    for d, s in zip(datasets, samples):
        assert readers[d][int(s)]["input_ids"].shape == (length + 1,)
        counts[urllib.parse.unquote(os.path.basename(os.path.normpath(folders[d])))] += 1
    report(manifest, counts, len(datasets))


if __name__ == "__main__":
    main()
