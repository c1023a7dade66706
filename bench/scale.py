"""Benchmark: a province's volume (run by hand; figures go in the closing note, never in tests).

    .venv/bin/python bench/scale.py [--records 1000000] [--next 10000] [--work DIR]

Day 1: `gongshi sample-data --records N --days 1` delivered on 2026-11-01 and published from an
empty state. Day 2: a delivery of `--next` records from another seed on 2026-11-02, published on
top. For each day it prints seconds per stage (the same stages `gongshi publish` runs, in order),
the floor (every delivered file read once and written once as Parquet with pyarrow), peak resident
memory, the files and bytes of the build, the bytes the day added to public/ (hard links counted
once), the search index's figures and, per dataset, how the redaction made its rows (every record
again, or the kept rows brought up to date from the records the register's folds touched: how many
it read). Each day runs in its own process so that its peak memory is
its own, and starts with nothing of the bench's own writing still to go to disk (`flush_to_disk`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def floor_seconds(inbox: Path, day: str, out: Path) -> float:
    """Read every delivered file of `day` once and write it once as Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import python_calamine

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(sorted(p for p in inbox.glob(f"*/{day}/*") if p.is_file())):
        suffix = path.suffix.lower()
        if suffix == ".csv":
            data = path.read_bytes()
            encoding = "utf8"
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "gb18030"
            table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=encoding))
        elif suffix == ".xlsx":
            rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
            header = [str(h) for h in rows[1]]
            table = pa.table({h: [str(r[i]) for r in rows[2:]] for i, h in enumerate(header)})
        elif suffix == ".json":
            payload = json.loads(path.read_text("utf-8"))
            table = pa.Table.from_pylist(payload if isinstance(payload, list) else payload.get("records", []))
        else:
            continue
        pq.write_table(table, out / f"{index}.parquet")
    return time.perf_counter() - started


def tree_bytes(root: Path, seen: set[int] | None = None) -> tuple[int, int, set[int]]:
    """(files, bytes) under `root`, each inode once; and the inodes."""
    seen = set() if seen is None else seen
    files = size = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            if info.st_ino not in seen:
                seen.add(info.st_ino)
                files += 1
                size += info.st_size
    return files, size, seen


def machine_busy_seconds() -> float:
    """Processor seconds spent so far by the whole machine outside idle and I/O wait (0 where there is
    no /proc/stat): a stage's share shows whether it kept every processor busy."""
    return sum(machine_cpu_seconds().values())


def machine_cpu_seconds() -> dict[str, float]:
    """Processor seconds the whole machine has spent so far in programs and in the kernel (/proc/stat;
    empty where there is none). On this project's machine (a virtual machine that hands free memory
    back to its host) the slow hours are the kernel's: a first day's programs take about 110 s of a
    core in every hour, the kernel 32 s in a fast one and 90 s in a slow one, most of it clearing
    fresh pages of memory — compare runs by the first figure."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    # user and nice; system, interrupts and time stolen by the host
    return {"user": (fields[0] + fields[1]) / tick, "system": (fields[2] + fields[5] + fields[6] + fields[7]) / tick}


def fresh_memory_mib() -> float:
    """Memory the whole machine has faulted in so far (/proc/vmstat; 0 where there is none), in MiB:
    each page fault counted at 4 KiB, each transparent huge page at 2 MiB. Most of it is memory a
    program touches for the first time, which the kernel clears first — the kernel's share of a day
    (`machine_cpu_seconds`) follows it, and in this machine's slow hours clearing a page costs more."""
    try:
        counts = dict(line.split() for line in Path("/proc/vmstat").read_text().splitlines())
    except (OSError, ValueError):
        return 0.0
    faults, huge = int(counts.get("pgfault", 0)), int(counts.get("thp_fault_alloc", 0))
    return ((faults - huge) * 4096 + huge * 2 * 1024 * 1024) / 2**20


def memory_mib() -> dict[str, int]:
    """The machine's free memory and page cache now (/proc/meminfo; empty where there is none). With
    little free, every page the run writes is first taken from the cache by reclaiming, partly in the
    writing process: on this machine a file of the site cost 90 µs of a core with 5 GB free and 48
    with 20 GB (`sync; echo 1 > /proc/sys/vm/drop_caches`, as root, empties the cache before a run)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    values = {k: int(v.split()[0]) // 1024 for k, _, v in (line.partition(":") for line in lines)}
    return {"free": values.get("MemFree", 0), "page_cache": values.get("Cached", 0)}


def publish_day(state: Path, public: Path, inbox: Path, day: str) -> dict:
    """Every stage of `day`, timed (runs in a child process)."""
    from gongshi import interpreter, progress
    from gongshi.settings import Settings
    from gongshi.stages import run_day

    interpreter.tune()  # as the command does
    progress.configure(stream=sys.stderr)
    settings = Settings.from_environment({}, state=state, public=public, inbox=inbox)
    seconds: dict[str, float] = {}
    peak_after: dict[str, int] = {}  # the process's peak resident memory once each stage had run (MiB)
    last: dict[str, object] = {}  # each stage's last result

    busy: dict[str, float] = {}  # processor seconds of the whole machine (every process) during each stage
    fresh: dict[str, float] = {}  # memory faulted in by the whole machine during each stage (MiB)
    redacted: dict[str, dict] = {}  # per dataset: how the redaction made its rows, and what it read

    def timed(name, function, *args):
        started, busy_before, fresh_before = time.perf_counter(), machine_busy_seconds(), fresh_memory_mib()
        last[name] = function(*args)
        elapsed = time.perf_counter() - started
        seconds[name] = seconds.get(name, 0.0) + elapsed
        if name == "redact":
            result = last[name]
            redacted[args[1].id] = {
                "seconds": round(elapsed, 2),
                "brought_up_to_date": result.brought_up_to_date,
                "register_records_read": result.records_read,
                "register_records": result.records,
                "public_rows_redacted": result.published - result.reused,
            }
        busy[name] = busy.get(name, 0.0) + machine_busy_seconds() - busy_before
        fresh[name] = fresh.get(name, 0.0) + fresh_memory_mib() - fresh_before
        peak_after[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return last[name]

    memory_before, cpu_before = memory_mib(), machine_cpu_seconds()
    outcome = run_day(settings, day, None, timed)
    built, verdict = last["release"], last["checks"]
    return {
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "total_seconds": round(sum(seconds.values()), 1),
        # how many of the machine's processors each stage kept busy on average (this machine: 2)
        "processors_busy": {k: round(busy[k] / v, 2) for k, v in seconds.items() if v >= 0.5},
        "peak_rss_mib_after": peak_after,
        # memory faulted in during each stage, every process of the machine (`fresh_memory_mib`)
        "memory_faulted_in_mib": {k: round(v) for k, v in fresh.items() if v >= 1},
        "published": "publish" in last,
        "failed_checks": {k: v[:5] for k, v in outcome.failed_checks.items()},
        "build_files": len(built.record.files),
        "build_bytes": built.bytes,
        "site": built.site,
        "checked_early": built.checked_early,
        "memory_mib_before": memory_before,
        # the whole machine's processor seconds during the day, in programs and in the kernel
        "machine_cpu_seconds": {k: round(v - cpu_before[k], 1) for k, v in machine_cpu_seconds().items()},
        "records": built.record.records,
        "redaction": redacted,
        "leak_gate": {
            "files_scanned": verdict.scan.files_scanned,
            "files_passed_before": verdict.scan.files_passed_before,
            "bytes_scanned": verdict.scan.bytes_scanned,
            "worker_peak_rss_mib": round(verdict.scan.worker_peak_kib / 1024),
        },
        # this process, the children it waited for (the site's and the redaction's forked halves) and
        # the leak gate's workers (the forkserver's children: they report their own)
        "peak_rss_mib": round(
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                verdict.scan.worker_peak_kib,
            )
            / 1024
        ),
    }


def flush_to_disk() -> float:
    """Write every dirty page of the machine out (`sync`); the seconds it took."""
    started = time.perf_counter()
    os.sync()
    return round(time.perf_counter() - started, 2)


# This machine is a Firecracker virtual machine whose balloon device reports free memory to the host
# (virtio-balloon free page reporting: blocks of 2 MiB or more, free for about two seconds, are given
# back), and the host backs a page again only when the guest next writes it. Taking such memory costs
# 2.0-2.8 s of the kernel's time per GiB here against 0.13-0.3 s for memory just freed (an 11 GiB
# buffer written three times on a new machine: 27.9, 3.4, 1.8 s). A first day writes 4 GB of release
# files into the page cache and its processes fault in 17 GiB: with reporting turned off for a test
# (page_reporting_order above the largest order) it took 87.4 s with 26.0 s of kernel time, against
# 96.6 s with 46.2 s beside it with reporting on, as the machine comes (2026-12-04, docs/scale.md).
PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")


def memory_figures(size: int = 2**30, idle: float = 8.0) -> dict:
    """What memory costs the kernel to hand out on this machine: seconds per GiB to write a fresh
    buffer of `size` bytes at once after the same was freed, and again after `idle` seconds with it
    free (where the host takes back free memory, the second is several times the first), and the
    page reporting order if the kernel reports free memory to a host."""
    import numpy as np

    def write_once() -> float:
        started = time.perf_counter()
        buffer = np.ones(size, dtype=np.uint8)  # every page written
        elapsed = time.perf_counter() - started
        del buffer
        return elapsed

    write_once()
    again = min(write_once() for _ in range(2))
    time.sleep(idle)
    after_idle = write_once()
    try:
        order = int(PAGE_REPORTING_ORDER.read_text().strip())
    except (OSError, ValueError):
        order = None
    gib = size / 2**30
    return {
        "page_reporting_order": order,
        "seconds_per_gib_reused": round(again / gib, 2),
        f"seconds_per_gib_after_{idle:.0f}_s_free": round(after_idle / gib, 2),
    }


# a stage's closing line in the command's output (per dataset for the first four)
STAGE_LINE = re.compile(
    r"^    (读取|校验|登记|脱敏) \S+：完成，([0-9.]+) 秒$"
    r"|^    (构建发布|阻断检查|上线)：完成，([0-9.]+) 秒$"
)
LIVE_LINE = re.compile(r"^    上线：完成，[0-9.]+ 秒$")


def publish_end_to_end(work: Path, gongshi: list[str], day: str) -> dict:
    """`day` published again as the operator does it — `gongshi publish --date`, through Dagster — on a
    copy of the state and release kept after the first day (`after-day1`), its Dagster instance made
    beforehand (a schedule's instance exists long before a day's run): the command's seconds, when
    the release went live (the switch's line), the seconds its stages' own lines add up to, and the
    rest (imports, Dagster's events, the exit)."""
    scratch = work / "end-to-end"
    discard(work, scratch)
    scratch.mkdir()
    for name in ("state", "public"):
        subprocess.run(["cp", "-a", str(work / "after-day1" / name), str(scratch / name)], check=True)
    where = ["--state", str(scratch / "state"), "--public", str(scratch / "public")]
    empty = scratch / "empty-inbox"
    empty.mkdir()
    subprocess.run([*gongshi, "publish", "--inbox", str(empty), *where], check=True, capture_output=True)
    # the instance's storage, made as the first run would make it (if this cannot — an instance in
    # PostgreSQL, say — the timed run makes it, and its seconds count a little more)
    home = scratch / "state" / "dagster"
    subprocess.run(
        [sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
    )
    flushed = flush_to_disk()
    started = time.perf_counter()
    # line by line as the command prints them (unbuffered), to know when the release went live: the
    # switch's line ("上线：完成") — what the command does after it (the day's summary, its exit) is not
    # what a reader waits for
    command = subprocess.Popen(
        [*gongshi, "publish", "--inbox", str(work / "inbox"), *where, "--date", day],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines, live = [], None
    for line in command.stdout:
        lines.append(line.rstrip("\n"))
        if live is None and LIVE_LINE.match(lines[-1]):
            live = time.perf_counter() - started
    returncode = command.wait()
    seconds = time.perf_counter() - started
    stages = sum(float(m[2] or m[4]) for m in map(STAGE_LINE.match, lines) if m)
    discard(work, scratch)
    return {
        "end_to_end": day,
        "exit_status": returncode,
        "published": any("完成，已发布" in line for line in lines),
        "flushed_before_seconds": flushed,
        "command_seconds": round(seconds, 1),
        "live_after_seconds": None if live is None else round(live, 1),
        "stages_seconds": round(stages, 1),
        "command_beside_stages_seconds": round(seconds - stages, 1),
    }


def run_day_in_child(work: Path, day: str) -> dict:
    out = work / f"figures-{day}.json"
    child = subprocess.Popen([sys.executable, __file__, "--_day", day, "--work", str(work)])
    tree = TreeMemory(child.pid)
    tree.start()
    try:
        if child.wait():
            raise subprocess.CalledProcessError(child.returncode, child.args)
    finally:
        tree.stop()
    return json.loads(out.read_text("utf-8")) | tree.figures()


class TreeMemory(threading.Thread):
    """Samples, twice a second, the memory of a process and all its descendants together: the sum
    of their proportional set sizes (PSS: a page shared by forked processes counts once, split
    between them), and of their resident sizes (RSS: a shared page counted in each). `peak_rss_mib`
    is the largest single process; this is what the day held at once, every process of it."""

    def __init__(self, root: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.root, self.every, self.done = root, every, threading.Event()
        self.peak_pss_kib = self.peak_rss_kib = self.most_processes = 0

    def run(self) -> None:
        while not self.done.wait(self.every):
            pss = rss = 0
            members = self.members()
            for pid in members:
                try:
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:  # ended meanwhile, or not this system
                    continue
                fields = dict(line.split(":", 1) for line in rollup.splitlines()[1:] if ":" in line)
                pss += int(fields.get("Pss", "0 kB").split()[0])
                rss += int(fields.get("Rss", "0 kB").split()[0])
            self.peak_pss_kib, self.peak_rss_kib = max(self.peak_pss_kib, pss), max(self.peak_rss_kib, rss)
            self.most_processes = max(self.most_processes, len(members))

    def members(self) -> list[int]:
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                parents.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(parents.get(pid, []))
        return found

    def stop(self) -> None:
        self.done.set()
        self.join()

    def figures(self) -> dict:
        return {
            "all_processes_peak_pss_mib": round(self.peak_pss_kib / 1024),
            "all_processes_peak_rss_sum_mib": round(self.peak_rss_kib / 1024),
            "all_processes_most_at_once": self.most_processes,
        }


def sample_queries(public: Path) -> list[str]:
    """Two characters of a name, a longer fragment, a common fragment, and a code prefix."""
    codes = json.loads(next((public / "latest" / "search" / "codes").glob("*.json")).read_text("utf-8"))
    code, name = codes[0] if isinstance(codes, list) else ("91320100", "南京宏远")
    return [name[2:4], name[:6], "有限公司", code[:12]]


def largest_page(latest: Path) -> dict:
    """The largest HTML page of the release, with the stylesheet every page loads."""
    if not latest.exists():
        return {}
    size, path = max((p.stat().st_size, p) for p in latest.resolve().rglob("*.html"))
    css = (latest / "static" / "style.css").stat().st_size
    return {"path": str(path.relative_to(latest.resolve())), "bytes_with_css": size + css}


def search_in_browser(public: Path, queries: list[str]) -> dict:
    """Each query on the search page in headless Chromium with a phone's profile (360 px, CPU slowed
    4x by the DevTools protocol): milliseconds in the page from submit to results shown, the same
    with the driver's round trips, and the bytes fetched."""
    import functools
    import http.server
    import threading

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright not installed"}
    handler = functools.partial(_Quiet, directory=str(public))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    figures = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
            base = f"http://127.0.0.1:{server.server_address[1]}/latest/search/"
            for query in queries:
                page.goto(base)
                started = time.perf_counter()
                in_page = page.evaluate(_TIMED_SEARCH, query)
                figures[query] = {
                    "ms": round(in_page),
                    "ms_with_driver": round((time.perf_counter() - started) * 1000),
                    # the index files' bodies, from the page's own Resource Timing
                    "bytes_fetched": page.evaluate(
                        """() => performance.getEntriesByType('resource')
                            .filter(e => e.name.includes('/search/') && e.name.endsWith('.json'))
                            .reduce((sum, e) => sum + e.encodedBodySize, 0)"""
                    ),
                    "status": page.inner_text("#search-status"),
                }
            browser.close()
    finally:
        server.shutdown()
    return figures


def bulk_check_in_browser(public: Path, count: int = 5000) -> dict:
    """5,000 codes (half known to the release, half well-formed but unknown) pasted on the bulk check
    page in headless Chromium with a phone's profile (CPU slowed 4x): milliseconds from submit to the
    result table, and the bytes of index fetched."""
    import functools
    import http.server
    import json as _json
    import threading

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright not installed"}
    from gongshi.identifiers import org_code_check_char, uscc_check_char

    index = public / "latest" / "check"
    known: list[str] = []
    for bucket in sorted(index.glob("*.json")):
        if bucket.name != "meta.json" and len(known) < count // 2:
            known += list(_json.loads(bucket.read_text("utf-8")))[:5]
    unknown = []
    for n in range(count - len(known[: count // 2])):
        body = f"{n:08d}"
        first17 = "91320100" + body + org_code_check_char(body)
        unknown.append(first17 + uscc_check_char(first17))
    codes = known[: count // 2] + unknown
    handler = functools.partial(_Quiet, directory=str(public))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
            page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/latest/check/")
            # Bytes from the page's own Resource Timing (reading each body through the DevTools
            # protocol while the page runs would slow the check it measures).
            page.evaluate("performance.setResourceTimingBufferSize(100000)")
            page.locator("#check-codes").evaluate("(area, text) => { area.value = text; }", "\n".join(codes))
            started = time.perf_counter()
            page.click("#check-form button[type=submit]")
            page.wait_for_selector("#check-status[data-done]", timeout=120_000)
            elapsed = time.perf_counter() - started
            fetched = page.evaluate(
                """() => performance.getEntriesByType('resource')
                    .filter(e => e.name.includes('/check/') && e.name.endsWith('.json'))
                    .map(e => e.encodedBodySize)"""
            )
            figures = {
                "codes": len(codes),
                "ms": round(elapsed * 1000),
                "requests": len(fetched),
                "bytes_fetched": sum(fetched),
                "status": page.inner_text("#check-status"),
            }
            browser.close()
    finally:
        server.shutdown()
    return figures


# In the page: the query typed, the form submitted, and the milliseconds until the results and their
# status are in the document (what a reader waits for; the driver's own round trips, which the
# "ms_with_driver" figure adds, are not).
_TIMED_SEARCH = """async (query) => {
    const status = document.getElementById('search-status');
    document.getElementById('q').value = query;
    const done = new Promise((resolve) => {
        const watch = new MutationObserver(() => {
            if (status.textContent && !status.textContent.includes('正在')) {
                watch.disconnect();
                resolve(performance.now());
            }
        });
        watch.observe(status, { childList: true, characterData: true, subtree: true });
    });
    const started = performance.now();
    document.getElementById('search-form').requestSubmit();
    return (await done) - started;
}"""


class _Quiet(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def search_figures(public: Path) -> dict:
    index = public / "latest" / "search"
    files, size, _ = tree_bytes(index) if index.is_dir() else (0, 0, set())
    return {"path": str(index.relative_to(public)) if index.is_dir() else None, "files": files, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--next", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--next-only",
        action="store_true",
        help="with --work of an earlier --keep run: restore its state after day 1 and time only the next day",
    )
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="then the next day again as the operator runs it (`gongshi publish --date`, Dagster and all) on a "
        "copy of the state after day 1 (with --keep, or --next-only on a kept run)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start at once even if this bench deleted an earlier run's files in the last six minutes "
        "(by default it waits: files made just after a mass deletion cost more on ext4 without a journal)",
    )
    parser.add_argument("--_day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.end_to_end and not (args.keep or args.next_only):
        parser.error("--end-to-end times the next day on the state kept after day 1: add --keep")

    if args._day:
        work = args.work
        figures = publish_day(work / "state", work / "public", work / "inbox", args._day)
        (work / f"figures-{args._day}.json").write_text(json.dumps(figures), "utf-8")
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="gongshi-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    inbox, public = work / "inbox", work / "public"
    wait_if_files_were_deleted_lately(work, wait=not args.no_wait)
    gongshi = [sys.executable, "-m", "gongshi.cli"]
    print(f"working in {work}")
    memory = memory_figures()
    print(f"memory: {json.dumps(memory)}", flush=True)
    try:
        if not (inbox / ".day1").exists():
            shutil.rmtree(inbox, ignore_errors=True)
            sample = ["sample-data", "--out", str(inbox), "--days", "1"]
            subprocess.run(
                [*gongshi, *sample, "--records", str(args.records), "--start", "2026-11-01", "--seed", "1"], check=True
            )
            (inbox / ".day1").touch()
        saved = work / "after-day1"
        days = (("2026-11-01", args.records, 1), ("2026-11-02", args.next, 2))
        if args.next_only:
            if not saved.is_dir():
                raise SystemExit(f"no saved state after day 1 in {saved}: run once with --work {work} --keep")
            for name in ("state", "public"):
                discard(work, work / name)
                subprocess.run(["cp", "-a", str(saved / name), str(work / name)], check=True)
            days = days[1:]
        else:  # a first day from nothing: an earlier run's state and release out of the way
            for name in ("state", "public", "after-day1", "next-inbox"):
                discard(work, work / name)
            for later in inbox.glob("*/2026-11-02"):
                discard(work, later)
            (inbox / ".day2").unlink(missing_ok=True)
        for day, records, seed in days:
            if day == "2026-11-02" and args.keep and not args.next_only:
                discard(work, saved)
                saved.mkdir()
                for name in ("state", "public"):  # a copy to time the next day again (--next-only)
                    subprocess.run(["cp", "-a", str(work / name), str(saved / name)], check=True)
            if day == "2026-11-02" and not (inbox / ".day2").exists():
                extra = work / "next-inbox"
                discard(work, extra)
                sample = ["sample-data", "--out", str(extra), "--days", "1", "--records", str(records)]
                subprocess.run([*gongshi, *sample, "--start", day, "--seed", str(seed)], check=True)
                for folder in extra.glob(f"*/{day}"):
                    shutil.copytree(folder, inbox / folder.parent.name / day)
                (inbox / ".day2").touch()
            # What the bench itself wrote before the day — the sample deliveries, the copy of the first
            # day kept for --next-only (4 GB), the first day's release — is written out to disk first: a
            # real day starts long after the one before it, and a next day measured while the kernel
            # wrote back that copy took 4.1–7.0 s to redact against 3.9–4.9 s after a sync.
            flushed = flush_to_disk()
            # the best of three: one reading varied from 2.2 to 3.3 s on the same files
            floor = min(floor_seconds(inbox, day, work / "floor" / day) for _ in range(3))
            *_, seen = tree_bytes(public) if public.is_dir() else (0, 0, set())
            figures = run_day_in_child(work, day)
            _, added, _ = tree_bytes(public, set(seen)) if public.is_dir() else (0, 0, set())
            _, latest_bytes, _ = tree_bytes(public / "latest") if (public / "latest").exists() else (0, 0, 0)
            figures |= {
                "day": day,
                "records_delivered": records,
                "floor_seconds": round(floor, 2),
                "flushed_before_seconds": flushed,
                "times_floor": round(figures["total_seconds"] / floor, 1) if floor else None,
                "bytes_added_to_public": added,
                "full_release_bytes": latest_bytes,
                "added_share_of_release": round(added / latest_bytes, 3) if latest_bytes else None,
                "search_index": search_figures(public),
                "largest_page": largest_page(public / "latest"),
                "memory_before_the_bench": memory,
            }
            if figures["published"]:
                try:
                    figures["search_in_chromium"] = search_in_browser(public, sample_queries(public))
                    figures["bulk_check_in_chromium"] = bulk_check_in_browser(public)
                except Exception as error:  # no browser here: the other figures still count
                    figures["search_in_chromium"] = f"not measured: {type(error).__name__}: {str(error)[:200]}"
            print(json.dumps(figures, ensure_ascii=False, indent=1))
        if args.end_to_end:
            figures = publish_end_to_end(work, gongshi, days[-1][0])
            (work / "figures-end-to-end.json").write_text(json.dumps(figures, ensure_ascii=False), "utf-8")
            print(json.dumps(figures, ensure_ascii=False, indent=1))
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            empty_trash(work)


# What was put aside is deleted once the figures are taken. This machine's root file system is ext4
# without a journal: allocating an inode there skips, one by one, the inodes freed in the last one to
# six minutes (fs/ext4/ialloc.c, recently_deleted) — a first day written right after deleting an
# earlier run's 150,000 files took 144 s instead of 126 s, with 51 s of system time instead of 29.
TRASH, EMPTIED = ".trash", ".trash-emptied-at"
RECENTLY = 6 * 60


def discard(work: Path, path: Path) -> None:
    """Put `path` aside in `work` (a rename frees no inode) to be deleted after the measurement."""
    if path.exists() or path.is_symlink():
        trash = work / TRASH
        trash.mkdir(exist_ok=True)
        path.rename(trash / f"{path.name}-{time.time_ns()}")


def empty_trash(work: Path) -> None:
    trash = work / TRASH
    if trash.is_dir() and any(trash.iterdir()):
        shutil.rmtree(trash, ignore_errors=True)
        (work / EMPTIED).write_text(str(time.time()), "utf-8")


def wait_if_files_were_deleted_lately(work: Path, wait: bool = True) -> None:
    """Wait until RECENTLY has passed since this bench last deleted an earlier run's files (or, with
    `wait` false, say that the figures will be slower). Deletions by anything else — `pip` installing
    an environment, a test run's temporary folders, an `rm -rf` by hand — the bench cannot see: on this
    machine a first day begun a minute after such a deletion took 103–110 s against 86–95."""
    try:
        ago = time.time() - float((work / EMPTIED).read_text("utf-8"))
    except (OSError, ValueError):
        return
    if ago >= RECENTLY:
        return
    left = RECENTLY - ago
    if not wait:
        print(
            f"note: this bench deleted an earlier run's files {ago:.0f} s ago; on ext4 without a journal the "
            f"files written in the next {left:.0f} s cost more (inodes freed lately are skipped one by one): "
            "expect slower figures"
        )
        return
    print(
        f"waiting {left:.0f} s: this bench deleted an earlier run's files {ago:.0f} s ago, and on ext4 without "
        "a journal files made within six minutes of a mass deletion cost more (--no-wait: do not wait)",
        flush=True,
    )
    time.sleep(left)


if __name__ == "__main__":
    main()
