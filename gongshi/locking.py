"""One writer at a time: every command and run that changes the state directory holds its lock
(`state/lock`, an advisory `flock`, released by the kernel when the process dies — a killed run never
leaves it held). A second publication waits, saying on what, or gives up after a while with a
clear message; nothing interleaves. The lock is re-entrant within a process (the command holds
it, and the Dagster run it starts takes it again)."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from gongshi.faults import Busy
from gongshi.paths import StateLayout

LOCK_FILE, HOLDER_FILE = "lock", "lock.json"
_held: dict[Path, tuple[int, int, bool]] = {}  # lock path -> (descriptor, depth, exclusive) in this process
_guard = threading.Lock()


def holder(state: StateLayout) -> dict:
    """Who holds (or last held) the lock: pid, host, command, since when."""
    try:
        return json.loads((state.root / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe(info: dict) -> str:
    if not info:
        return "另一个 gongshi 进程"
    return f"进程 {info.get('pid')}（{info.get('host')}，{info.get('command')}，开始于 {info.get('since')}）"


def state_lock(
    state: StateLayout,
    purpose: str,
    wait_seconds: float = 3600,
    on_wait: Callable[[dict], None] | None = None,
    shared: bool = False,
) -> AbstractContextManager[None]:
    """Hold the state directory's lock for the block. Waits up to `wait_seconds` for another holder
    (calling `on_wait` once with who it is), then raises `Busy`.

    `shared`: held beside other shared holders (the intake steps of one run, each in its own worker
    process, each also holding its dataset's lock), never beside an exclusive one (a command, the
    release). Asked for exclusively while this process holds it shared, it is converted."""
    return _locked(state, state.root / LOCK_FILE, purpose, wait_seconds, on_wait, shared)


@contextmanager
def dataset_lock(state: StateLayout, dataset: str, purpose: str, wait_seconds: float = 3600) -> Iterator[None]:
    """One writer at a time of one dataset's register and stage files (`state/locks/<dataset>.lock`),
    for steps that hold the state lock shared."""
    with _locked(state, state.root / "locks" / f"{dataset}.lock", purpose, wait_seconds, None, False):
        yield


@contextmanager
def _locked(state, path: Path, purpose, wait_seconds, on_wait, shared) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path = path.resolve()
    with _guard:
        held = _held.get(path)
        if held is not None:
            _held[path] = (held[0], held[1] + 1, held[2])
    if held is not None and not shared and not held[2]:
        try:
            _flock(held[0], path, state, False, wait_seconds, on_wait)  # shared -> exclusive
        except Busy:
            with _guard:
                descriptor, depth, exclusive = _held[path]
                _held[path] = (descriptor, depth - 1, exclusive)
            raise
        with _guard:
            _held[path] = (held[0], _held[path][1], True)
    if held is None:
        descriptor = _acquire(path, state, purpose, wait_seconds, on_wait, shared)
        with _guard:
            _held[path] = (descriptor, 1, not shared)
    try:
        yield
    finally:
        with _guard:
            descriptor, depth, exclusive = _held[path]
            if depth > 1:
                _held[path] = (descriptor, depth - 1, exclusive)
            else:
                del _held[path]
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)


def _acquire(path: Path, state: StateLayout, purpose: str, wait_seconds: float, on_wait, shared: bool = False) -> int:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _flock(descriptor, path, state, shared, wait_seconds, on_wait)
    except Busy:
        os.close(descriptor)
        raise
    if path.name == LOCK_FILE:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": purpose or " ".join(sys.argv[:2]),
            "since": dt.datetime.now().isoformat(timespec="seconds"),
        }
        (state.root / HOLDER_FILE).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return descriptor


def _flock(descriptor: int, path: Path, state: StateLayout, shared: bool, wait_seconds: float, on_wait) -> None:
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not told and on_wait is not None:
                on_wait(holder(state))
                told = True
            if time.monotonic() >= deadline:
                raise Busy(
                    state.root,
                    f"状态目录正被{describe(holder(state))}使用，等待 {wait_seconds:.0f} 秒后仍未释放",
                    "等它结束后再运行；如果该进程已不存在，锁会自动释放（无需删除任何文件）",
                ) from None
            time.sleep(0.5)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
