"""Faults of the installation, in words: a full disk, a directory that cannot be written, a damaged
register or ledger file. Each names the file, says what happened and what the operator should do —
in Chinese — so that a run ends with one clear message instead of a traceback, and leaves the live
release as it was. Also the crash points of the crash-consistency test.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gongshi.settings import fault_point


def checkpoint(name: str) -> None:
    """With GONGSHI_FAULT_AT=<name> in the environment, the process kills itself here (SIGKILL, no
    cleanup), for the crash-consistency test. Unset, it does nothing."""
    if fault_point() == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Fault(Exception):
    """Something about the installation, not about a delivery, that the operator must fix."""

    def __init__(self, path: Path | str | None, what: str, todo: str):
        self.path, self.what, self.todo = path, what, todo
        where = f"：{path}" if path else ""
        super().__init__(f"{what}{where}。{todo}。")


class StateDamaged(Fault):
    """A file of the state directory cannot be read as what it should be."""


class DiskFault(Fault):
    """The disk refused a write: full, read-only, not permitted."""


class Busy(Fault):
    """Another publication holds the state directory."""


_DISK = {
    errno.ENOSPC: (
        "磁盘空间已满，无法写入",
        "释放空间后重新运行 gongshi publish：上次的发布仍在线，未完成的构建会被清理",
    ),
    errno.EDQUOT: ("磁盘配额已用尽，无法写入", "提高配额或释放空间后重新运行 gongshi publish"),
    errno.EROFS: ("文件系统为只读，无法写入", "把状态目录和公开目录放在可写的磁盘上后重新运行"),
    errno.EACCES: ("没有写入权限", "让运行 gongshi 的用户可以写入该目录（chown/chmod）后重新运行"),
    errno.EPERM: ("操作不被允许", "检查该目录的所有者和权限后重新运行"),
    errno.EIO: ("磁盘读写错误", "检查磁盘硬件和文件系统（fsck）后重新运行"),
}


def disk_fault(error: OSError) -> DiskFault | None:
    """The fault an OSError of the disk is, or None when it is something else."""
    code = error.errno
    if code is None and "No space left on device" in str(error):  # Arrow's errors carry no errno
        code = errno.ENOSPC
    if code not in _DISK:
        return None
    what, todo = _DISK[code]
    return DiskFault(error.filename or _path_in(str(error)), what, todo)


def _path_in(message: str) -> str | None:
    for word in message.replace("'", " ").replace('"', " ").split():
        if word.startswith("/"):
            return word.rstrip(":,.")
    return None


@contextmanager
def in_words() -> Iterator[None]:
    """Turn a disk error raised by any library inside into a `DiskFault` naming the file."""
    try:
        yield
    except Fault:
        raise
    except OSError as error:
        fault = disk_fault(error)
        if fault is None:
            raise
        raise fault from error
    except Exception as error:  # DuckDB and others report a full disk in their own exception types
        if "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
            raise DiskFault(_path_in(str(error)), *_DISK[errno.ENOSPC]) from error
        raise


def step_error_text(error) -> str:
    """The message of the exception a step raised, from the error record an orchestrator keeps (with
    `message`, `cls_name` and `cause`), without the orchestrator's wrapping around it."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    qualified = message.split(": ", 1)[0]
    return message.split(": ", 1)[1] if qualified.split(".")[-1] == error.cls_name else message
