"""Loads remix's torchtitan export with torchtitan itself and checks what it samples.

    python torchtitan_mix.py MANIFEST.json EXPORT.torchtitan.py MIN_SAMPLES

The export's `dataloader()` config is built as torchtitan's trainer builds it (`config.build(dp_world_size,
dp_rank, tokenizer, seq_len, local_batch_size)`), with torchtitan's HuggingFaceTokenizer over the shards'
tokenizer.json and sequences of at most 256 tokens (the weights count tokens at any sequence length; the
manifest's would only make each draw cost more tokenizing): an InterleavedHuggingFaceTextDataLoader whose sources
tokenize their domain's text and pack it into sequences, and whose InterleavedDataset picks a source per
sequence by weight. To know which source each sequence came from, every source is wrapped, after the
library built it, in a pass-through that tags what it yields; the interleaving itself is torchtitan's.
At least ten times MIN_SAMPLES sequences are drawn (a random choice per sequence needs that many for its
shares to settle within 0.01); each domain's share is printed beside its weight as JSON.
"""
import collections
import os
import shutil
import tempfile

from torchtitan.components.tokenizer import HuggingFaceTokenizer

from common import arguments, report, shards_tokenizer


class Tagged:
    """A source that yields (its index, sample), and is otherwise the source itself."""

    def __init__(self, source, index):
        self.source, self.index = source, index

    def __iter__(self):
        for sample in self.source:
            yield self.index, sample

    def __getattr__(self, name):
        return getattr(self.source, name)


def main():
    manifest, export, dtype, min_samples = arguments()
    length = min(manifest["sequence_length"], 256)
    with tempfile.TemporaryDirectory() as assets:
        shutil.copy(shards_tokenizer(manifest), os.path.join(assets, "tokenizer.json"))
        tokenizer = HuggingFaceTokenizer(tokenizer_path=assets)
        loader = export.dataloader().build(
            dp_world_size=1, dp_rank=0, tokenizer=tokenizer, seq_len=length, local_batch_size=1
        )
        interleaved = loader.dataset
        interleaved._datasets = [Tagged(s, i) for i, s in enumerate(interleaved._datasets)]
        counts = collections.Counter()
        total = 0
        for index, (inputs, labels) in loader:
            assert inputs["input"].shape == (1, length), inputs["input"].shape
            counts[export.DOMAINS[int(index)]] += 1
            total += 1
            if total >= 10 * min_samples:
                break
    report(manifest, counts, total)


if __name__ == "__main__":
    main()
