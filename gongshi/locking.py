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
from contextlib import contextmanager
from pathlib import Path

from gongshi.faults import Busy
from gongshi.paths import StateLayout

LOCK_FILE, HOLDER_FILE = "lock", "lock.json"
_held: dict[Path, tuple[int, int]] = {}  # lock path -> (descriptor, depth) in this process
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


@contextmanager
def state_lock(
    state: StateLayout, purpose: str, wait_seconds: float = 3600, on_wait: Callable[[dict], None] | None = None
) -> Iterator[None]:
    """Hold the state directory's lock for the block. Waits up to `wait_seconds` for another holder
    (calling `on_wait` once with who it is), then raises `Busy`."""
    state.root.mkdir(parents=True, exist_ok=True)
    path = (state.root / LOCK_FILE).resolve()
    with _guard:
        if path in _held:
            descriptor, depth = _held[path]
            _held[path] = (descriptor, depth + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        descriptor = _acquire(path, state, purpose, wait_seconds, on_wait)
        with _guard:
            _held[path] = (descriptor, 1)
    try:
        yield
    finally:
        with _guard:
            descriptor, depth = _held[path]
            if depth > 1:
                _held[path] = (descriptor, depth - 1)
            else:
                del _held[path]
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)


def _acquire(path: Path, state: StateLayout, purpose: str, wait_seconds: float, on_wait) -> int:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not told and on_wait is not None:
                on_wait(holder(state))
                told = True
            if time.monotonic() >= deadline:
                os.close(descriptor)
                raise Busy(
                    state.root,
                    f"状态目录正被{describe(holder(state))}使用，等待 {wait_seconds:.0f} 秒后仍未释放",
                    "等它结束后再运行；如果该进程已不存在，锁会自动释放（无需删除任何文件）",
                ) from None
            time.sleep(0.5)
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": purpose or " ".join(sys.argv[:2]),
        "since": dt.datetime.now().isoformat(timespec="seconds"),
    }
    (state.root / HOLDER_FILE).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return descriptor


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
