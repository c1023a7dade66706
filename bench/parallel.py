"""Benchmark: one day's run with the datasets' intake steps in one process, then side by side in
worker processes (Dagster's multiprocess executor), on fresh state each time (run by hand; the
figures go in notes, never in tests).

    .venv/bin/python bench/parallel.py [--records 200000] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = "2026-11-01"


def daily_job():
    from assets.automation import DAILY_JOB
    from assets.definitions import build_definitions

    return build_definitions().resolve_job_def(DAILY_JOB)


def run(work: Path, inbox: Path, executor: str) -> dict:
    import dagster as dg

    folder = work / executor
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "dagster").mkdir(parents=True)
    os.environ.update(
        {
            "GONGSHI_INBOX": str(inbox),
            "GONGSHI_STATE": str(folder / "state"),
            "GONGSHI_PUBLIC": str(folder / "public"),
            "GONGSHI_EXECUTOR": executor,
            "GONGSHI_PSEUDONYM_KEY": "bench",
        }
    )
    with dg.instance_for_test(temp_dir=str(folder / "dagster")) as instance:
        started = time.perf_counter()
        result = dg.execute_job(dg.reconstructable(daily_job), instance=instance, tags={"dagster/partition": DAY})
        seconds = time.perf_counter() - started
        intake = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is not None and event.step_key and "__" in event.step_key:
                if event.event_type_value == "STEP_START":
                    intake.setdefault("start", record.timestamp)
                elif event.event_type_value == "STEP_SUCCESS":
                    intake["end"] = record.timestamp
    return {
        "executor": executor,
        "success": result.success,
        "seconds": round(seconds, 1),
        "intake_seconds": round(intake.get("end", 0) - intake.get("start", 0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:  # one executor in a process of its own: Dagster keeps definitions it has loaded
        print(run(args.work, args.work / "inbox", args._run), flush=True)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="gongshi-parallel-"))
    inbox = work / "inbox"
    if not inbox.is_dir():
        command = [sys.executable, "-m", "gongshi.cli", "sample-data", "--out", str(inbox)]
        command += ["--records", str(args.records), "--days", "1", "--start", DAY, "--seed", "1"]
        subprocess.run(command, check=True, cwd=ROOT)
    for executor in ("in_process", "multiprocess"):
        subprocess.run([sys.executable, __file__, "--_run", executor, "--work", str(work)], check=True)


if __name__ == "__main__":
    main()
