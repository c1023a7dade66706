"""Benchmark: the search index at a province's number of market entities (run by hand; figures go
in the closing note, never in tests).

    .venv/bin/python bench/search.py [--entities 1000000] [--changed 10000] [--work DIR]

Day 1: the index of `--entities` market entities (names and codes drawn as `gongshi sample-data`
draws them) made in full, its postings kept in a state folder. Day 2: `--changed` entities added
and a tenth as many renamed, the index brought up to date from the kept postings — what a normal
day's release does. For each day: seconds, peak resident memory, files and bytes written, and the
index's files and bytes. Then the demo site (`gongshi publish` on the bundled deliveries) is served
with this index in place of its own, and queries are timed in headless Chromium with a phone's
profile (360 px, CPU slowed 4x): milliseconds in the page, with the driver's round trips, bytes
fetched. The site's entity pages are not made: the index holds names and codes only, so a million
entity pages change nothing in what a query fetches or computes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def entities(count: int, changed: int):
    """Day 1's and day 2's (code, name) tables: day 2 adds `changed` entities and renames a tenth as many."""
    import numpy as np
    import pyarrow as pa

    from gongshi.sampledata import _Entities

    pool = _Entities(np.random.default_rng(1), count + changed)
    codes, names = pool.code.astype(str), pool.name.astype(str)
    renamed = names[:count].copy()
    renamed[: changed // 10] = np.char.add(renamed[: changed // 10], "分公司")
    first = pa.table({"code": codes[:count], "name": names[:count]})
    second = pa.table({"code": codes, "name": np.concatenate([renamed, names[count:]])})
    return first, second


def publish_index(entries, build: Path, before: Path | None, store: Path) -> dict:
    """Write the index of `entries` into `build` as the site does: shards whose bytes the previous
    build (`before`) holds are hard-linked, the others written."""
    from gongshi.site import search

    previous = {}
    if before is not None:
        previous = json.loads((before / "fingerprints.json").read_text("utf-8"))
    written_bytes = 0

    def keep(path: str, sha: str) -> bool:
        if previous.get(path) != sha:
            return False
        (build / path).parent.mkdir(parents=True, exist_ok=True)
        (build / path).hardlink_to(before / path)
        return True

    def write(path: str, data: bytes) -> None:
        nonlocal written_bytes
        (build / path).parent.mkdir(parents=True, exist_ok=True)
        (build / path).write_bytes(data)
        written_bytes += len(data)

    started = time.perf_counter()
    update = search.write(entries, keep, write, store=store, previous=previous or None)
    seconds = time.perf_counter() - started
    fingerprints = {
        p.relative_to(build).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (build / "search").rglob("*.json")
    }
    (build / "fingerprints.json").write_text(json.dumps(fingerprints), "utf-8")
    files = list((build / "search").rglob("*.json"))
    return {
        "entities": entries.num_rows,
        "mode": update.mode,
        "entities_changed": update.changed,
        "seconds": round(seconds, 2),
        "files_written": update.written,
        "bytes_written": written_bytes,
        "index_files": len(files),
        "index_bytes": sum(p.stat().st_size for p in files),
        "state_bytes": sum(p.stat().st_size for p in store.glob("*.duckdb")),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--no-browser", action="store_true", help="skip the queries in Chromium")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="gongshi-search-"))
    shutil.rmtree(work, ignore_errors=True)
    store, day1, day2 = work / "state-search", work / "day1", work / "day2"
    for folder in (store, day1, day2):
        folder.mkdir(parents=True)
    print(f"working in {work}")
    first, second = entities(args.entities, args.changed)
    figures = {"day1": publish_index(first, day1, None, store)}
    print(json.dumps(figures["day1"]), flush=True)
    figures["day2"] = publish_index(second, day2, day1, store)
    print(json.dumps(figures["day2"]), flush=True)
    if not args.no_browser:
        from scale import search_in_browser

        site = work / "site"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gongshi.cli",
                "publish",
                "--state",
                str(site / "state"),
                "--public",
                str(site / "public"),
            ],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        latest = (site / "public" / "latest").resolve()
        shutil.rmtree(latest / "search" / "names")
        shutil.rmtree(latest / "search" / "codes")
        for path in (day2 / "search").rglob("*.json"):
            target = latest / path.relative_to(day2)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        code, name = second["code"][0].as_py(), second["name"][0].as_py()
        queries = [name[2:4], name[:6], "有限公司", code[:12], "分公司"]
        figures["search_in_chromium"] = search_in_browser(site / "public", queries)
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
