#!/usr/bin/env python3
"""Compares two remix work directories made from the same config in the same absolute work path (run
one, move its folder aside, run the other): the manifest and every export under mixtures/, the trainers'
native data under exports/, every file under fit/ but its completion marker (whose input digest covers
the runs table's wall times), validate/results.json and report.html, byte for byte; runs/runs.parquet
column by column except wall_time_s (the only column that measures time). Prints one line per artifact
and exits 1 when any differs. Needs pyarrow for the runs table.

    python3 scripts/compare_work.py BEFORE_WORK AFTER_WORK
"""
import hashlib
import sys
from pathlib import Path

import pyarrow.parquet as pq


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def files_under(root: Path, relative: str):
    base = root / relative
    if base.is_file():
        return [Path(relative)]
    if not base.is_dir():
        return []
    return sorted(
        p.relative_to(root) for p in base.rglob("*") if p.is_file() and p.name != "_done.json"
    )


def main() -> int:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    differ = 0
    same = 0
    for relative in ["mixtures", "exports", "fit", "validate/results.json", "report.html"]:
        names = sorted(set(files_under(before, relative)) | set(files_under(after, relative)))
        if not names:
            print(f"MISSING {relative}: in neither")
            differ += 1
        for name in names:
            a, b = before / name, after / name
            if not a.is_file() or not b.is_file():
                print(f"DIFFERS {name}: only in {'after' if b.is_file() else 'before'}")
                differ += 1
            elif a.read_bytes() != b.read_bytes():
                print(f"DIFFERS {name}: {digest(a)} != {digest(b)}")
                differ += 1
            else:
                same += 1
    print(f"same    {same} files under mixtures/, exports/, fit/, validate/ and report.html")
    runs_a = pq.read_table(before / "runs/runs.parquet")
    runs_b = pq.read_table(after / "runs/runs.parquet")
    if runs_a.column_names != runs_b.column_names:
        print(f"DIFFERS runs/runs.parquet columns: {runs_a.column_names} != {runs_b.column_names}")
        differ += 1
    else:
        columns = [c for c in runs_a.column_names if c != "wall_time_s"]
        changed = [c for c in columns if runs_a.column(c).to_pylist() != runs_b.column(c).to_pylist()]
        if changed:
            print(f"DIFFERS runs/runs.parquet: columns {changed}")
            differ += 1
        else:
            print(f"same    runs/runs.parquet ({runs_a.num_rows} rows, every column but wall_time_s)")
    print("identical" if differ == 0 else f"{differ} artifact(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
