"""Loads remix's mosaic export with mosaicml-streaming itself and checks what it samples.

    python mosaic.py MANIFEST.json EXPORT.mosaic.py MIN_SAMPLES

Every domain's MDS folder is first read alone through streaming (which sample belongs to which domain,
and that each holds SEQUENCE_LENGTH tokens of the manifest's dtype) and written again with streaming's own
MDSWriter, which must give the same bytes as remix; then the export's own `dataset()`
is iterated, epoch after epoch, until MIN_SAMPLES samples, and each domain's share of them is printed
beside its weight in the manifest as JSON: {"samples": N, "shares": {domain: [share, weight]}}.
"""
import urllib.parse
import collections
import hashlib
import os
import tempfile

from streaming import MDSWriter, StreamingDataset
from streaming.base.util import clean_stale_shared_memory

from common import arguments, report


def main():
    manifest, export, dtype, min_samples = arguments()
    clean_stale_shared_memory()
    owner = {}
    for stream in export.STREAMS:
        # A domain folder is the domain's file stem (`web%2Fc03-code` for `web/c03-code`).
        domain = urllib.parse.unquote(os.path.basename(stream.local.rstrip("/")))
        alone = StreamingDataset(local=stream.local, batch_size=1, shuffle=False)
        samples = [alone[i]["tokens"] for i in range(len(alone))]
        del alone
        with tempfile.TemporaryDirectory() as again:
            with MDSWriter(out=again, columns={"tokens": f"ndarray:{dtype}"}) as writer:
                for tokens in samples:
                    assert tokens.dtype == dtype and tokens.shape == (export.SEQUENCE_LENGTH,), (tokens.dtype, tokens.shape)
                    owner[hashlib.sha1(tokens.tobytes()).digest()] = domain
                    writer.write({"tokens": tokens})
            names = sorted(os.listdir(again))
            assert names == sorted(n for n in os.listdir(stream.local) if not n.startswith(".")), names
            for name in names:
                theirs = open(os.path.join(again, name), "rb").read()
                ours = open(os.path.join(stream.local, name), "rb").read()
                assert theirs == ours, f"{stream.local}/{name} differs from what MDSWriter writes"

    mixed = export.dataset(batch_size=1)
    assert len(mixed) == export.EPOCH_SIZE, (len(mixed), export.EPOCH_SIZE)
    counts = collections.Counter()
    total = 0
    while total < min_samples:
        assert len(mixed) > 0, "the mixed dataset is empty"
        for sample in mixed:
            counts[owner[hashlib.sha1(sample["tokens"].tobytes()).digest()]] += 1
            total += 1

    report(manifest, counts, total)


if __name__ == "__main__":
    main()
