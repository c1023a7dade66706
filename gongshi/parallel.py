"""Two pieces of work at once on a machine with more than one core: one in a forked child process,
one in the caller's. The child sees everything the caller had built up to the fork (nothing is
pickled on the way in, pages are shared until written); only its return value comes back, pickled
into a file in memory (`_send`). A failure in either is raised in the caller, with the child's
traceback (an OSError as itself, so that a full disk is reported as one).

The child is made with `os.fork`, not `multiprocessing`: a multiprocessing child runs the hooks
libraries registered for it (kombu's, in a Celery worker, closes the parent's broker connections
and can wait on them for ever); a bare fork runs only the interpreter's own at-fork handlers."""

from __future__ import annotations

import functools
import gc
import logging
import mmap
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import pickle
import signal
import struct
import tempfile
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from gongshi import progress

A = TypeVar("A")
B = TypeVar("B")


class ChildFailed(RuntimeError):
    """The forked half of the work raised, or its process died (killed, out of memory)."""


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def both(here: Callable[[], A], beside: Callable[[], B], parallel: bool = True) -> tuple[A, B]:
    """`here()` in this process and `beside()` in a forked child at the same time, when `parallel`
    and there is a second core (else one after the other, `beside` first); both results."""
    if not parallel or cores() < 2 or not hasattr(os, "fork"):
        second = beside()
        return here(), second
    result = _result_file()
    # What the caller holds is moved out of the cycle collector's sight for the fork: a collection
    # in the child would otherwise walk every object inherited and write to the page of each,
    # copying it (`_fork`).
    pid = _fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            # The caller reports progress; lines from here would interleave with its own, and a log
            # handler the parent holds (Dagster's) must not be written to from another process.
            logging.getLogger("gongshi").disabled = True
            logging.getLogger("gongshi.progress").disabled = True
            progress.configure_quiet()
            try:
                outcome = ("ok", beside(), None)
            except OSError as error:  # the disk's errors reach the caller as themselves (a full disk)
                outcome = ("error", traceback.format_exc(), OSError(error.errno, error.strerror, error.filename))
            except BaseException:
                outcome = ("error", traceback.format_exc(), None)
            try:
                _send(result, outcome)
            except BaseException:  # a result that cannot be pickled, or written
                os.ftruncate(result, 0)
                _send(result, ("error", traceback.format_exc(), None))
            status = 0
        finally:
            os._exit(status)
    try:
        first = here()
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(result)
        raise
    _, status = os.waitpid(pid, 0)
    try:
        code = os.waitstatus_to_exitcode(status)
        if code != 0:  # killed (out of memory), or it could not even say why it failed
            raise ChildFailed(f"the parallel worker died (exit code {code})")
        outcome, payload, error = _received(result)
    finally:
        os.close(result)
    if outcome != "ok":
        if error is not None:
            error.add_note(f"in the parallel worker:\n{payload}")
            raise error
        raise ChildFailed(f"the parallel worker failed:\n{payload}")
    return first, payload


def _fork() -> int:
    """`os.fork`, with the objects of this process frozen for the child (`gc.freeze`: its cycle
    collector leaves them alone, and their pages stay shared) and not for this process."""
    gc.freeze()
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:  # this process (or no child): its objects are collected as before
            gc.unfreeze()
    return pid


# The child's result comes back through a file in memory (memfd), not a pipe: pickled with its
# buffers (Arrow's, NumPy's) out of band, written once, and mapped by the caller, whose arrays then
# use the mapped pages as they are. 171 MB of Arrow columns came back in 0.09–0.14 s, against
# 1.0–1.3 s through a pipe (read in growing blocks, then copied again by unpickling); a first day's
# redaction brings 126 MB of inspections back so.


def _result_file() -> int:
    """A file for the child's result, inherited over the fork: in memory where the system has such
    files, else an unnamed temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("gongshi-result", os.MFD_CLOEXEC)
        except OSError:
            pass
    with tempfile.TemporaryFile() as handle:
        return os.dup(handle.fileno())


def _send(result: int, outcome: tuple) -> None:
    """`outcome` into the file `result` from its start: the lengths, the pickle, then its buffers."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(outcome, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    head = struct.pack(f"<QQ{len(raws)}Q", len(data), len(raws), *(raw.nbytes for raw in raws))
    os.lseek(result, 0, os.SEEK_SET)
    with os.fdopen(result, "wb", closefd=False) as out:
        out.write(struct.pack("<Q", len(head)))
        out.write(head)
        out.write(data)
        for raw in raws:
            out.write(raw)


def _received(result: int) -> tuple:
    """What `_send` wrote to `result`, its buffers on the file's pages (mapped copy-on-write: arrays
    made on them can be written to, as unpickled ones can)."""
    size = os.fstat(result).st_size
    if size == 0:
        raise ChildFailed("the parallel worker ended without a result")
    view = memoryview(mmap.mmap(result, size, access=mmap.ACCESS_COPY))
    (head,) = struct.unpack_from("<Q", view, 0)
    length, count = struct.unpack_from("<QQ", view, 8)
    sizes = struct.unpack_from(f"<{count}Q", view, 24)
    at = 8 + head
    data, at = view[at : at + length], at + length
    buffers = []
    for nbytes in sizes:
        buffers.append(view[at : at + nbytes])
        at += nbytes
    return pickle.loads(data, buffers=buffers)


def share(first: Callable[[], A], jobs: Sequence[Callable[[], object]], parallel: bool = True) -> A:
    """`first()` in this process, and `jobs` taken one at a time, in their order, by whichever of two
    processes is free: a forked child from the start, this one once `first` is done. Each job runs
    once, in one of them (only side effects come back: the jobs write files); `first`'s result.

    The jobs are tokens in a pipe both processes inherit (`Jobs`): no job is scheduled ahead, so a
    misjudged cost does not leave a core idle. A failure anywhere is raised here as `both` raises it;
    the other process takes no job after its own fails."""
    with Jobs(jobs, parallel) as shared:

        def here() -> A:
            result = first()
            shared.take_all()
            return result

        return both(here, shared.take_all)[0] if shared.parallel else here()


TOKENS = 255  # jobs `Jobs` hands out one at a time (a byte each): more are grouped


def in_groups(jobs: Sequence[Callable[[], object]], groups: int) -> list[Callable[[], None]]:
    """`jobs` as at most `groups` jobs (one at least), neighbours together, in their order: so that
    jobs of one kind keep as many of `Jobs`' tokens as the caller gives them."""
    if len(jobs) <= max(1, groups):
        return list(jobs)
    size = -(-len(jobs) // max(1, groups))
    return [functools.partial(_run_each, jobs[i : i + size]) for i in range(0, len(jobs), size)]


def _run_each(jobs: Sequence[Callable[[], object]]) -> None:
    for job in jobs:
        job()


class Jobs:
    """Jobs that two processes take one at a time, each once its own work is done (`take_all`), made
    before `both` forks: tokens in a pipe both inherit (reading one byte takes one job, atomically).
    Without a second core, or not `parallel`, `take_all` runs the jobs not yet run, in order.

        with Jobs(jobs, parallel) as shared:
            both(lambda: (mine(), shared.take_all()), lambda: (theirs(), shared.take_all()))
    """

    def __init__(self, jobs: Sequence[Callable[[], object]], parallel: bool = True):
        self.jobs = in_groups(jobs, TOKENS)  # a token each: more jobs are grouped, neighbours together
        self.parallel = parallel and bool(jobs) and cores() >= 2 and hasattr(os, "fork")
        self.reader: int | None = None
        self.next = 0
        if self.parallel:
            self.reader, writer = os.pipe()
            try:
                os.write(writer, bytes(range(len(self.jobs))))
            finally:
                os.close(writer)

    def take_all(self) -> None:
        """Run jobs until none is left."""
        if self.reader is None:
            while self.next < len(self.jobs):
                self.next += 1
                self.jobs[self.next - 1]()
            return
        while token := os.read(self.reader, 1):
            self.jobs[token[0]]()

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc) -> None:
        if self.reader is not None:
            os.close(self.reader)
            self.reader = None


class Background:
    """`target(*args)` in a process of `context` (multiprocessing; a forkserver's: a new process, not
    a copy of this one's memory) at the lowest priority (`os.nice(19)`), beside whatever the caller
    goes on with: it runs on what the caller's work leaves of the cores. `stop()` ends it — killed if
    it is not done — and says whether it finished. Nothing comes back but what `target` wrote; a
    failure in it is logged, not raised (work begun early is work the caller can do without).
    Without a second core, nothing runs."""

    def __init__(self, context: multiprocessing.context.BaseContext, target: Callable[..., object], *args):
        self.process: multiprocessing.process.BaseProcess | None = None
        if cores() < 2:
            return
        self.process = context.Process(target=_niced, args=(target, *args), daemon=True)
        self.process.start()

    def stop(self, wait: bool = False) -> bool:
        """End the work: True if it had finished (and did not fail), else it is killed — unless
        `wait`: then it is waited for. Once."""
        if self.process is None:
            return False
        process, self.process = self.process, None
        process.join(None if wait else 0)
        if process.is_alive():
            process.kill()
            process.join()
            return False
        if process.exitcode != 0:
            logging.getLogger("gongshi").warning("work begun in the background failed (exit %s)", process.exitcode)
            return False
        return True


def _niced(target: Callable[..., object], *args) -> None:
    os.nice(19)
    target(*args)
