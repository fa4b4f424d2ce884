"""Loads remix's litgpt export with litdata itself and checks what it samples.

    python litgpt.py MANIFEST.json EXPORT.litgpt.py MIN_SAMPLES

Every domain's chunk folder is first read alone through litdata's TokensLoader (which block belongs to
which domain, and its dtype), then the export's own `dataset()` (a CombinedStreamingDataset, which picks a
domain at random per block by weight) is iterated with one seed after another until it has drawn at least
ten times MIN_SAMPLES blocks (a random choice per block needs that many for its shares to settle within
0.01), and each domain's share is printed beside its weight in the manifest as JSON.
"""
import collections
import hashlib

from litdata.streaming import StreamingDataset, TokensLoader

from common import arguments, report

BLOCK = 65


def main():
    manifest, export, dtype, min_samples = arguments()
    owner = {}
    for domain, path in zip(export.DOMAINS, export.INPUT_DIRS):
        alone = StreamingDataset(input_dir=path, item_loader=TokensLoader(block_size=BLOCK))
        assert len(alone) > 0, path
        for block in alone:
            assert str(block.dtype) == dtype and block.shape == (BLOCK,), (block.dtype, block.shape)
            key = hashlib.sha1(block.tobytes()).digest()
            owner[key] = domain if owner.get(key, domain) == domain else None

    counts = collections.Counter()
    total = 0
    seed = 0
    while total < 10 * min_samples:
        before = total
        for block in export.dataset(block_size=BLOCK, seed=seed):
            counts[owner[hashlib.sha1(block.tobytes()).digest()]] += 1
            total += 1
        assert total > before, f"seed {seed}: the combined dataset drew nothing"
        seed += 1
    assert counts[None] <= total / 100, f"{counts[None]} of {total} blocks are in more than one domain"
    report(manifest, counts, total)


if __name__ == "__main__":
    main()
