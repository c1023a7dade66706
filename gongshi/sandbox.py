"""Untrusted files are parsed in a worker process with limits: address space, CPU time and wall-clock
time. A reader that runs out of memory, a native library that aborts or crashes, a file that never
finishes parsing — each rejects that one file with a reason in Chinese, and the day's other files go
on. (Inside the worker, `gongshi.ingest` also checks what it can before parsing: an XLSX's
uncompressed size, compression ratio and sheet dimensions, a JSON's nesting depth, each cell's
length.)

Workers are forked from a small server process that has already imported the readers
(multiprocessing's forkserver), so a file costs a fork, not an interpreter start. Like any program
using multiprocessing, a script that reads deliveries must guard its entry point with
`if __name__ == "__main__":` (the `gongshi` command and Dagster's do).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import signal
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

from gongshi.catalog import Dataset
from gongshi.ingest import FileRejected, FileResult, read_file
from gongshi.settings import ReadLimits


@cache
def worker_context() -> multiprocessing.context.BaseContext:
    """The forkserver context every worker of the pipeline is forked from: the file readers here, and
    the leak gate's scanners (`gongshi.leakscan`), whose modules the server has imported, as those
    `start_workers` was given."""
    context = multiprocessing.get_context("forkserver")
    # gongshi.prefork first (it sets up the allocator of the server's processes, then makes the
    # detector's tables); pandas too: pyarrow imports it, half a second, the first time a worker
    # turns a column into NumPy
    preload = ["gongshi.prefork", "gongshi.sandbox", "gongshi.leakscan", "pandas", *_MAIN_IMPORTS]
    context.set_forkserver_preload(preload)
    return context


_MAIN_IMPORTS: list[str] = []


def start_workers(main_imports: Sequence[str] = ()) -> None:
    """Start the server the workers are forked from now: its imports (pyarrow, pandas, the readers and
    the scanners, about a second) then run beside whatever the caller does before the first file is
    read — for `gongshi publish`, starting Dagster. `main_imports`: what the program's main script
    imports. Multiprocessing runs that script again in every worker (as `__mp_main__`); with its
    modules imported by the server, that costs nothing — for the `gongshi` command, a third of a
    second a file otherwise. Nothing changes once the server is running."""
    if not worker_context.cache_info().currsize:
        _MAIN_IMPORTS.extend(main_imports)
    worker_context()
    from multiprocessing import forkserver

    forkserver.ensure_running()


def read_file_contained(path: Path, dataset: Dataset, limits: ReadLimits) -> tuple[FileResult, pa.Table | None, list]:
    """`ingest.read_file` in a worker process under `limits`; never raises for what the file does."""
    with tempfile.TemporaryDirectory(prefix="gongshi-read-") as scratch:
        out = Path(scratch) / "rows.arrow"
        receiver, sender = worker_context().Pipe(duplex=False)
        worker = worker_context().Process(
            target=_work, args=(str(path), dataset, str(out), limits, sender), daemon=True
        )
        worker.start()
        sender.close()
        message = None
        if not _started(receiver):
            raise WorkerUnavailable(worker)
        try:
            if receiver.poll(limits.wall_seconds):
                message = receiver.recv()
        except (EOFError, OSError):
            message = None  # the worker died before it could answer
        finally:
            if worker.is_alive() and message is None:
                worker.kill()
            worker.join()
            receiver.close()
        if message is not None and message[0] == "read":
            _, result, findings = message
            # Mapped, not copied: the mapping outlives the scratch file's name.
            table = pyarrow.ipc.open_file(pa.memory_map(str(out))).read_all() if result.status == "read" else None
            return result, table, findings
        return _rejected(path, dataset, _why(message, worker.exitcode, limits)), None, []


WORKER_START_SECONDS = 120


def _started(receiver) -> bool:
    try:
        return receiver.poll(WORKER_START_SECONDS) and receiver.recv() == ("started",)
    except (EOFError, OSError):
        return False


class WorkerUnavailable(RuntimeError):
    """The worker never started: a fault of the installation, not of the file (no file is rejected)."""

    def __init__(self, worker):
        worker.kill()
        super().__init__(
            f"无法启动读取报送文件的工作进程（退出码 {worker.exitcode}）。若是从脚本调用，入口须有 "
            "if __name__ == '__main__': 保护；否则请检查系统资源后重新运行。未退回任何文件。"
        )


def _work(path: str, dataset: Dataset, out: str, limits: ReadLimits, sender) -> None:
    sender.send(("started",))
    # A native reader dying under the limits prints its own diagnostics: the reason sent back says it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    memory = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    try:
        result, table, findings = read_file(Path(path), dataset)
        if table is not None:
            with pa.OSFile(out, "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        sender.send(("read", result, findings))
    except MemoryError:
        sender.send(("memory",))
    except BaseException as error:
        sender.send(("error", f"{type(error).__name__}: {str(error)[:300]}"))


def _why(message: tuple | None, exitcode: int | None, limits: ReadLimits) -> FileRejected:
    if message is not None and message[0] == "memory":
        return _memory(limits)
    if message is not None:
        return FileRejected(
            "reader_failed", f"读取该文件时出错（{message[1]}），文件可能已损坏或结构异常。请重新导出后报送。"
        )
    if exitcode is None or exitcode == -signal.SIGKILL:
        return FileRejected(
            "read_timeout",
            f"读取该文件超过 {limits.wall_seconds} 秒仍未完成，已停止并退回。"
            "请检查文件是否过大或结构异常，拆分后重新报送。",
        )
    if exitcode == -signal.SIGXCPU:
        return FileRejected("read_timeout", f"读取该文件占用的计算时间超过 {limits.cpu_seconds} 秒，已停止并退回。")
    # Any other end without a word from the reader (a signal, or an exit code: under the address-space
    # limit a native library that cannot allocate may exit with any code — 127 was seen on a loaded CI).
    return FileRejected(
        "reader_crashed",
        f"读取该文件时解析程序异常终止（{_signal_name(exitcode)}，多为所需内存超过 {limits.memory_mb} MB 上限"
        "或文件结构异常），已退回。请检查文件后重新报送。",
    )


def _memory(limits: ReadLimits) -> FileRejected:
    return FileRejected(
        "too_much_memory",
        f"读取该文件所需内存超过 {limits.memory_mb} MB 的上限，已退回。请把数据拆分成多个较小的文件后重新报送。",
    )


def _signal_name(exitcode: int) -> str:
    if exitcode <= 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            pass
    return f"退出码 {exitcode}"


def _rejected(path: Path, dataset: Dataset, rejection: FileRejected) -> FileResult:
    from gongshi.ingest import FORMATS, department_of

    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return FileResult(
        dataset=dataset.id,
        file=path.name,
        department=department_of(path.name),
        sha256=digest.hexdigest(),
        bytes=size,
        format=FORMATS.get(path.suffix.lower()),
        status="rejected",
        reason_code=rejection.code,
        reason=rejection.reason,
    )
