"""What every trainer check shares: its arguments, the manifest, the export module, and the report."""
import importlib.util
import json
import sys


def arguments():
    """(manifest, export, numpy dtype of the tokens, MIN_SAMPLES) from MANIFEST EXPORT MIN_SAMPLES.

    A Python export is imported as a module; any other export is returned as its path."""
    manifest_path, export, min_samples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    manifest = json.load(open(manifest_path))
    if export.endswith(".py"):
        spec = importlib.util.spec_from_file_location("export", export)
        export = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(export)
    dtype = {"uint16": "uint16", "int32": "int32"}[manifest["tokenizer"]["dtype"]]
    return manifest, export, dtype, min_samples


def report(manifest, counts, total):
    """Prints {"samples": total, "shares": {domain: [share drawn, weight]}} for tests/trainers.rs."""
    shares = {d["domain"]: [counts[d["domain"]] / total, d["weight"]] for d in manifest["domains"] if d["weight"] > 0}
    print(json.dumps({"samples": total, "shares": shares}))


def shards_tokenizer(manifest):
    """The tokenizer.json that wrote the manifest's shards: the input of the tokens folder's completion
    marker whose SHA-256 is the manifest's (as remix finds it)."""
    import hashlib
    import os

    marker = json.load(open(os.path.join(manifest["tokens_dir"], "_done.json")))
    for entry in marker["inputs"]:
        path = entry["path"]
        if path.endswith(".json") and hashlib.sha256(open(path, "rb").read()).hexdigest() == manifest["tokenizer"]["sha256"]:
            return path
    raise SystemExit("the shards' tokenizer is not among the tokens folder's inputs")
