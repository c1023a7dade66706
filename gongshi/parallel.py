"""Two pieces of work at once on a machine with more than one core: one in a forked child process,
one in the caller's. The child sees everything the caller had built up to the fork (nothing is
pickled on the way in, pages are shared until written); only its return value comes back, pickled
through a pipe. A failure in either is raised in the caller, with the child's traceback."""

from __future__ import annotations

import logging
import multiprocessing
import os
import traceback
from collections.abc import Callable
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
    if not parallel or cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        second = beside()
        return here(), second
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)

    def child() -> None:
        # The caller reports progress; lines from here would interleave with its own, and a log
        # handler the parent holds (Dagster's) must not be written to from another process.
        logging.getLogger("gongshi").disabled = True
        logging.getLogger("gongshi.progress").disabled = True
        progress.configure_quiet()
        try:
            outcome = ("ok", beside())
        except BaseException:
            outcome = ("error", traceback.format_exc())
        writer.send(outcome)
        writer.close()

    process = context.Process(target=child, name="gongshi-beside", daemon=True)
    process.start()
    writer.close()
    try:
        first = here()
    except BaseException:
        process.terminate()
        process.join()
        raise
    try:
        status, payload = reader.recv()  # before join: a large result would fill the pipe
    except EOFError:
        process.join()
        raise ChildFailed(f"the parallel worker died (exit code {process.exitcode})") from None
    finally:
        reader.close()
    process.join()
    if status != "ok":
        raise ChildFailed(f"the parallel worker failed:\n{payload}")
    return first, payload
