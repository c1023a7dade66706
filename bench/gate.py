"""Benchmark: the daily leak gate alone, over a first day's release that `bench/scale.py --keep` left
(run by hand; half a minute a reading where the whole bench takes five).

    .venv/bin/python bench/scale.py --work /tmp/bfull --keep        # once: makes the release
    .venv/bin/python bench/gate.py --work /tmp/bfull [--only pages|data] [--files] [--repeat 3]

Scans the first day's build as the checks stage does (the patterns everywhere, the known values of
the registers after day 1 in the Parquet tables, two workers) with nothing passed before: `--only
pages` takes every data file (`datasets/`, `changes/`) as passed, `--only data` every other file.
Prints seconds, bytes and the largest worker's peak for each reading; `--files` instead scans each
data file alone in this process and prints what each cost a core (the workers' parts are balanced
by bytes: this shows what a file's bytes cost). The machine's speed varies by the hour: compare two
versions alternately, reading by reading (`git stash`, or a worktree of the other version).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = ("datasets/", "changes/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="the --work folder of a `scale.py --keep` run")
    parser.add_argument("--only", choices=("pages", "data"), help="scan only the site's pages, or only the data files")
    parser.add_argument("--files", action="store_true", help="each data file alone, in this process")
    parser.add_argument("--repeat", type=int, default=1, help="readings (default 1)")
    args = parser.parse_args()

    from gongshi.leakscan import _scan_paths, scan_directory
    from gongshi.settings import Settings
    from gongshi.stages.checks import _gate_state, every_cell_in_parquet, known_values
    from gongshi.stages.release import manifest_hashes

    saved = args.work / "after-day1"
    builds = sorted((saved / "public" / "builds").glob("2026-11-01-*"))
    if not builds:
        raise SystemExit(f"no first day's build in {saved}: run bench/scale.py --work {args.work} --keep first")
    build = builds[0]
    settings = Settings.from_environment({}, state=saved / "state", public=saved / "public", inbox=args.work / "inbox")
    catalog = settings.catalog()
    in_tables = every_cell_in_parquet(catalog)
    scratch = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    try:
        _, folder, _ = _gate_state(settings)
        known_folder = scratch / folder.name  # the known values made here, not in the saved state
        if folder.is_dir():
            shutil.copytree(folder, known_folder)
        known = known_values(settings, catalog, known_folder)
        hashes = manifest_hashes(build)
        if args.files:
            costs = []
            for relative, digest in sorted(hashes.items()):
                if not relative.startswith(DATA):
                    continue
                runs = Path(tempfile.mkdtemp(dir=scratch))
                started = time.process_time()
                _scan_paths(
                    [str(build / relative)], build, known, frozenset(), {relative: digest}, in_tables, runs, listed=True
                )
                costs.append((round(time.process_time() - started, 2), (build / relative).stat().st_size, relative))
            for seconds, size, relative in sorted(costs, reverse=True):
                print(f"{seconds:7.2f} s  {size / 1e6:9.1f} MB  {relative}")
            print(f"{sum(c[0] for c in costs):7.2f} s in all")
            return
        if args.only == "pages":
            passed = frozenset(d for r, d in hashes.items() if r.startswith(DATA))
        elif args.only == "data":
            passed = frozenset(d for r, d in hashes.items() if not r.startswith(DATA))
        else:
            passed = frozenset()
        for _ in range(args.repeat):
            runs = Path(tempfile.mkdtemp(dir=scratch))
            started = time.perf_counter()
            report = scan_directory(
                build,
                known,
                passed,
                hashes,
                known_in_tables_only=in_tables,
                workers=min(4, os.cpu_count() or 1),
                runs=runs,
            )
            print(
                json.dumps(
                    {
                        "only": args.only or "all",
                        "seconds": round(time.perf_counter() - started, 1),
                        "files_scanned": report.files_scanned,
                        "bytes_scanned": report.bytes_scanned,
                        "leaks": len(report.leaks),
                        "worker_peak_rss_mib": report.worker_peak_kib // 1024,
                    }
                ),
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
