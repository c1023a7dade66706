"""Benchmark: ingest + validation of 1,000,000 generated inspection rows, beside `frictionless
validate` on the same file, with the findings compared. Run by hand:

    .venv/bin/python bench/ingest_validate.py [--rows 1000000] [--out bench/out]

Each measured run is a fresh subprocess, so peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 1)
sys.path.insert(0, str(ROOT))

from gongshi.validation import FRICTIONLESS_ERRORS  # noqa: E402

OURS = """
import json, sys, time
from pathlib import Path
from gongshi.catalog import load_catalog
from gongshi.ingest import read_delivery
from gongshi.validation import validate
dataset = load_catalog()["inspection_results"]
start = time.perf_counter()
delivery = read_delivery(Path(sys.argv[1]), dataset, sys.argv[2])
read = time.perf_counter() - start
result = validate(delivery, dataset)
total = time.perf_counter() - start
rows = dict(zip(delivery.rows["_row_id"].to_pylist(), delivery.rows["_source_row"].to_pylist()))
findings = [(rows[i["_row_id"]], i["code"]) for i in result.issues.select(["_row_id", "code"]).to_pylist()]
json.dump({"rows": delivery.rows.num_rows, "read": read, "total": total, "accepted": result.accepted.num_rows,
           "quarantined": result.quarantined.num_rows, "findings": findings}, open(sys.argv[3], "w"))
"""

STAGES = """
import json, sys, time
from pathlib import Path
from gongshi.catalog import load_catalog
from gongshi.settings import Settings
from gongshi.stages import read, register, validate
dataset = load_catalog()["inspection_results"]
settings = Settings(inbox=Path(sys.argv[1]), state=Path(sys.argv[3]))
times = {}
for name, stage in (("read", read), ("validate", validate), ("register", register)):
    start = time.perf_counter()
    stage.run(settings, dataset, sys.argv[2])
    times[name] = time.perf_counter() - start
print(json.dumps(times))
"""


def make_files(out: Path, rows: int) -> tuple[Path, Path]:
    """One delivery as departments send it (GB18030, messy spellings) and the same rows in the
    canonical form frictionless can read (UTF-8, field names, ISO dates, normalised codes); both
    keep the real errors (impossible dates, empty results, wrong check characters)."""
    from gongshi.catalog import load_catalog
    from gongshi.sampledata import INSPECTION_HEADER, _Entities, _write_csv, inspection_rows

    rng = np.random.default_rng(42)
    entities = _Entities(rng, max(50, rows // 20))
    data = inspection_rows(rng, entities, DAY, rows, 0)
    messy = out / "messy" / "inspection_results" / DAY.isoformat() / "江苏省市场监管局_抽查结果.csv"
    messy.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(messy, data, INSPECTION_HEADER, "gb18030")

    dataset = load_catalog()["inspection_results"]
    canonical = out / "canonical" / "inspection_results" / DAY.isoformat() / "江苏省市场监管局_抽查结果.csv"
    canonical.parent.mkdir(parents=True, exist_ok=True)
    names = [dataset.header_lookup[h] for h in (unicodedata.normalize("NFKC", h).lower() for h in INSPECTION_HEADER)]
    codes = [unicodedata.normalize("NFKC", c).upper() for c in data["统一社会信用代码"]]
    dates = [_iso(d) for d in data["检查日期"]]
    with canonical.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        columns = [data[h] for h in INSPECTION_HEADER]
        columns[INSPECTION_HEADER.index("统一社会信用代码")] = codes
        columns[INSPECTION_HEADER.index("检查日期")] = dates
        writer.writerows(zip(*columns, strict=True))
    return messy.parents[2], canonical


def _iso(text: str) -> str:
    if "年" in text:
        year, rest = text.split("年")
        month, day = rest.rstrip("日").split("月")
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text.replace("/", "-")


def measured(command: list[str]) -> tuple[float, float, str]:
    """Run `command`; return (seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.generate_only:
        make_files(args.out, args.rows)
        return

    # Generate in a child: a fork inherits the parent's peak RSS, so the parent must stay small.
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--generate-only", "--rows", str(args.rows), "--out", str(args.out)], check=True
    )
    messy_inbox = args.out / "messy"
    canonical = args.out / "canonical" / "inspection_results" / DAY.isoformat() / "江苏省市场监管局_抽查结果.csv"
    print(
        f"generated {args.rows:,} rows in {time.perf_counter() - start:.1f} s "
        f"({canonical.stat().st_size / 1e6:.0f} MB canonical UTF-8)"
    )

    python = sys.executable
    print("\n| run | rows | seconds | rows/s | peak MiB |\n|---|---:|---:|---:|---:|")
    results = {}
    for label, inbox in (
        ("gongshi ingest+validate, canonical UTF-8", canonical.parents[2]),
        ("gongshi ingest+validate, delivered GB18030", messy_inbox),
    ):
        findings_path = args.out / f"findings-{len(results)}.json"
        seconds, peak, _ = measured([python, "-c", OURS, str(inbox), DAY.isoformat(), str(findings_path)])
        report = json.loads(findings_path.read_text())
        results[label] = report
        print(
            f"| {label} | {report['rows']:,} | {report['total']:.2f} (read {report['read']:.2f}) | "
            f"{report['rows'] / report['total']:,.0f} | {peak:,.0f} |"
        )

    state = args.out / "state"
    shutil.rmtree(state, ignore_errors=True)
    seconds, peak, out = measured([python, "-c", STAGES, str(canonical.parents[2]), DAY.isoformat(), str(state)])
    stages = json.loads(out)
    print(
        f"| gongshi stages read+validate+register (Parquet, reports, DuckDB) | {args.rows:,} | "
        f"{sum(stages.values()):.2f} ({', '.join(f'{k} {v:.2f}' for k, v in stages.items())}) | "
        f"{args.rows / sum(stages.values()):,.0f} | {peak:,.0f} |"
    )

    schema = ROOT / "datasets" / "inspection_results" / "schema.json"
    seconds, peak, out = measured(
        [
            python,
            "-m",
            "frictionless",
            "validate",
            "--trusted",
            "--json",
            "--limit-errors",
            "100000000",
            "--schema",
            str(schema),
            str(canonical),
        ]
    )
    task = json.loads(out)["tasks"][0]
    print(
        f"| frictionless validate, canonical UTF-8 | {task['stats']['rows']:,} | {seconds:.2f} | "
        f"{task['stats']['rows'] / seconds:,.0f} | {peak:,.0f} |"
    )
    ours = results["gongshi ingest+validate, canonical UTF-8"]
    print(f"\nspeed-up on the same file: {seconds / ours['total']:.0f}x (ingest+validate vs frictionless validate)")

    theirs = {(e["rowNumber"], e["type"]) for e in task["errors"]}
    mine = {(row, FRICTIONLESS_ERRORS[code]) for row, code in ours["findings"] if code in FRICTIONLESS_ERRORS}
    domain = {}
    for _, code in ours["findings"]:
        if code not in FRICTIONLESS_ERRORS:
            domain[code] = domain.get(code, 0) + 1
    print(
        f"schema findings: frictionless {len(theirs):,}, gongshi {len(mine):,}, "
        f"identical: {mine == theirs} (only frictionless: {len(theirs - mine)}, only gongshi: {len(mine - theirs)})"
    )
    print(f"domain findings frictionless cannot know: {domain}")


if __name__ == "__main__":
    main()
