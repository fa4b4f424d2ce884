"""Reads remix's nanotron export as nanotron's Nanoset does, and checks what it samples.

    python nanoset.py MANIFEST.json EXPORT.nanotron.yaml MIN_SAMPLES

nanotron's current Nanoset is not on PyPI (PyPI's nanotron 0.4 predates it), so this is an independent
reader written from its source and from the datatrove reader it uses (`DatatroveFolderDataset`,
`datatrove/utils/dataset.py`): each dataset folder's `*.ds` files (sorted, not recursive, file order
shuffled with seed 42) are cut into non-overlapping samples of sequence_length + 1 tokens of the
metadata's token size, each file's tail dropped; the `.ds.index` ends every document (they must end on
the EOD token, rise strictly and end at the file's token count); and the blend is Nanoset's
`build_nanoset_index_helper`: per epoch, sample i goes to argmax(weight * max(i, 1) - drawn so far), the
dataset and sample indices are shuffled with the seed, epochs are tiled and cut to the samples asked for.
At least MIN_SAMPLES samples are read; each domain's share is printed beside its weight as JSON.
"""
import urllib.parse
import collections
import glob
import os

import numpy
import yaml

from common import arguments, report


class Folder:
    """One datatrove folder: its `.ds` files cut into samples of `length` tokens."""

    def __init__(self, path, length, token_size, eod):
        self.dtype = {2: numpy.uint16, 4: numpy.uint32}[token_size]
        files = sorted(glob.glob(os.path.join(path, "*.ds")))
        assert files, f"{path} holds no .ds file"
        self.files = [files[i] for i in numpy.random.default_rng(42).permutation(len(files))]
        self.tokens = [numpy.memmap(f, dtype=self.dtype, mode="r") for f in self.files]
        for name, tokens in zip(self.files, self.tokens):
            tokenizer, size = open(f"{name}.metadata").read().split("\n")[0].split("|")
            assert int(size) == token_size, (name, size, token_size)
            ends = numpy.fromfile(f"{name}.index", dtype="<u8")
            assert len(ends) > 0 and ends[-1] == len(tokens), (name, ends[-1:], len(tokens))
            assert numpy.all(numpy.diff(ends.astype(numpy.int64)) > 0), name
            assert numpy.all(tokens[ends.astype(numpy.int64) - 1] == eod), f"{name}: a document does not end on EOD"
        self.length = length
        self.per_file = [len(t) // length for t in self.tokens]
        self.starts = numpy.cumsum([0] + self.per_file)

    def __len__(self):
        return int(self.starts[-1])

    def __getitem__(self, i):
        f = int(numpy.searchsorted(self.starts, i, side="right")) - 1
        k = i - self.starts[f]
        return self.tokens[f][k * self.length : (k + 1) * self.length]


def blend(weights, lengths, samples, seed):
    """Nanoset's (dataset index, sample index) for `samples` samples."""
    weights = numpy.array(weights, dtype=numpy.float64)
    weights /= weights.sum()
    per_epoch = int(sum(lengths))
    dataset_index = numpy.zeros(per_epoch, dtype=numpy.int64)
    sample_index = numpy.zeros(per_epoch, dtype=numpy.int64)
    drawn = numpy.zeros(len(weights), dtype=numpy.int64)
    for i in range(per_epoch):
        d = int(numpy.argmax(weights * max(i, 1.0) - drawn))
        dataset_index[i] = d
        sample_index[i] = drawn[d] % lengths[d]
        drawn[d] += 1
    numpy.random.RandomState(seed).shuffle(dataset_index)
    numpy.random.RandomState(seed).shuffle(sample_index)
    epochs = samples // per_epoch + 1
    # Whole epochs: within one, the shuffled index is a sample without replacement (shares drift by the
    # luck of the draw); over whole epochs they are Nanoset's exact blend.
    samples = max(samples, -(-samples // per_epoch) * per_epoch)
    return numpy.tile(dataset_index, epochs)[:samples], numpy.tile(sample_index, epochs)[:samples]


def main():
    manifest, export, dtype, min_samples = arguments()
    config = yaml.safe_load(open(export))["data_stages"][0]["data"]
    dataset = config["dataset"]
    folders, weights = dataset["dataset_folder"], dataset["dataset_weights"]
    assert len(folders) == len(weights), (folders, weights)
    token_size = dataset["token_size_in_bytes"]
    assert numpy.dtype(dtype).itemsize == token_size, (dtype, token_size)
    length = manifest["sequence_length"] + 1
    read = [Folder(f, length, token_size, manifest["tokenizer"]["eod_id"]) for f in folders]
    # A domain folder is the domain's file stem (`web%2Fc03-code` for `web/c03-code`).
    domain_of = {os.path.normpath(f): urllib.parse.unquote(os.path.basename(os.path.normpath(f))) for f in folders}

    datasets, samples = blend(weights, [len(r) for r in read], min_samples, config["seed"])
    counts = collections.Counter()
    for d, s in zip(datasets, samples):
        sample = read[d][s]
        assert len(sample) == length, (folders[d], s, len(sample))
        counts[domain_of[os.path.normpath(folders[d])]] += 1
    report(manifest, counts, len(datasets))


if __name__ == "__main__":
    main()
