"""Work shared between two processes (`gongshi.parallel.share`): every job once, by whichever
process is free, and a failure in either raised in the caller."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from gongshi import parallel

pytestmark = pytest.mark.skipif(parallel.cores() < 2 or not hasattr(os, "fork"), reason="needs two cores and fork")


def _job(log: Path, name: str, seconds: float = 0.0):
    def run() -> None:
        time.sleep(seconds)
        with open(log, "a", encoding="utf-8") as out:  # one short append: whole lines
            out.write(f"{name} {os.getpid()}\n")

    return run


def _runs(log: Path) -> list[tuple[str, int]]:
    return [(name, int(pid)) for name, pid in (line.split() for line in log.read_text("utf-8").splitlines())]


def test_every_job_runs_once_and_both_processes_take_jobs(tmp_path):
    log = tmp_path / "log"
    log.touch()

    def first():
        time.sleep(0.6)  # meanwhile the child takes the first jobs
        return "the rest"

    jobs = [_job(log, f"j{i}", 0.2) for i in range(8)]
    assert parallel.share(first, jobs) == "the rest"
    runs = _runs(log)
    assert sorted(name for name, _ in runs) == [f"j{i}" for i in range(8)]
    by = {pid for _, pid in runs}
    assert os.getpid() in by and len(by) == 2  # this process took jobs once it was free
    assert runs[0][1] != os.getpid()  # the child started at once, with the first job


def test_one_process_when_not_parallel(tmp_path):
    log = tmp_path / "log"
    log.touch()
    assert parallel.share(lambda: 1, [_job(log, "a"), _job(log, "b")], parallel=False) == 1
    assert _runs(log) == [("a", os.getpid()), ("b", os.getpid())]
    assert parallel.share(lambda: 2, []) == 2


def test_a_failure_in_either_process_is_raised(tmp_path):
    log = tmp_path / "log"
    log.touch()

    def full_disk():
        raise OSError(errno.ENOSPC, "No space left on device", "/srv/build/x.xlsx")

    # the child's job fails: raised as itself; the jobs the other process could take still ran once
    with pytest.raises(OSError) as raised:
        parallel.share(lambda: time.sleep(0.3), [full_disk, *(_job(log, f"j{i}") for i in range(3))])
    assert raised.value.errno == errno.ENOSPC
    assert sorted(name for name, _ in _runs(log)) == ["j0", "j1", "j2"]
    with pytest.raises(ValueError, match="bad row"):
        parallel.share(lambda: (_ for _ in ()).throw(ValueError("bad row")), [_job(log, "x", 0.1)])


def test_the_child_s_result_comes_back_whole_and_its_arrays_can_be_written():
    """Arrow columns and NumPy arrays come back out of band (on the pages of the result's file):
    the same values, and an array the caller can change, as an unpickled one."""
    import numpy as np
    import pyarrow as pa

    texts = pa.array([f"市场主体{n}" if n % 7 else None for n in range(200_000)])
    numbers = np.arange(300_000, dtype=np.int64)
    here, (column, array, small) = parallel.both(lambda: "here", lambda: (texts, numbers * 2, {"行": [1, "二"]}))
    assert here == "here" and small == {"行": [1, "二"]}
    assert column.equals(texts) and column.null_count == texts.null_count
    assert np.array_equal(array, numbers * 2)
    array[0] = -1  # writable
    assert array[0] == -1 and array[1] == 2


def test_a_child_that_dies_or_cannot_send_its_result_is_said_to_have_failed():
    import signal

    with pytest.raises(parallel.ChildFailed, match="died"):
        parallel.both(lambda: None, lambda: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(parallel.ChildFailed, match="died"):
        parallel.both(lambda: None, lambda: os._exit(3))
    with pytest.raises(parallel.ChildFailed, match=r"(?s)failed.*pickle"):  # a lambda cannot be pickled
        parallel.both(lambda: None, lambda: lambda: None)
    assert parallel.both(lambda: 1, lambda: None) == (1, None)  # and the next call works


def test_more_jobs_than_tokens_each_run_once(tmp_path):
    """A pipe holds 255 distinct tokens: 600 jobs go in groups, and each still runs once."""
    log = tmp_path / "log"
    log.touch()
    assert parallel.share(lambda: "done", [_job(log, f"j{i}") for i in range(600)]) == "done"
    assert sorted(name for name, _ in _runs(log)) == sorted(f"j{i}" for i in range(600))


def test_both_sides_take_jobs_after_their_own_work(tmp_path):
    """`Jobs` with `both`: each process does its own work, then takes jobs; every job runs once and
    each side's result comes back."""
    log = tmp_path / "log"
    log.touch()
    jobs = [_job(log, f"j{i}", 0.1) for i in range(10)]
    with parallel.Jobs(jobs) as shared:

        def mine():
            time.sleep(0.3)
            shared.take_all()
            return os.getpid()

        def theirs():
            shared.take_all()
            return os.getpid()

        here, there = parallel.both(mine, theirs)
    runs = _runs(log)
    assert sorted(name for name, _ in runs) == sorted(f"j{i}" for i in range(10))
    assert {pid for _, pid in runs} == {here, there}  # both took jobs
    # one process (not parallel): the first to ask runs them all, once
    log.write_text("", encoding="utf-8")
    with parallel.Jobs(jobs, parallel=False) as shared:
        shared.take_all()
        shared.take_all()
    assert sorted(name for name, _ in _runs(log)) == sorted(f"j{i}" for i in range(10))


def _append(log: Path, name: str, seconds: float) -> None:
    time.sleep(seconds)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{name} {os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)}\n")


def _fail() -> None:
    raise RuntimeError("in the background")


def test_work_in_the_background_is_killed_when_not_done_and_waited_for_when_asked(tmp_path):
    from gongshi.sandbox import worker_context

    # the pipeline's own (a process has one forkserver: one started here without the pipeline's
    # imports would be the one every later test in this process gets)
    context = worker_context()
    log = tmp_path / "log"
    log.touch()
    slow = parallel.Background(context, _append, log, "slow", 30)
    started = time.monotonic()
    assert slow.stop() is False and time.monotonic() - started < 5  # killed, not waited for
    assert slow.stop() is False and log.read_text("utf-8") == ""  # once; it wrote nothing
    quick = parallel.Background(context, _append, log, "quick", 0.2)
    assert quick.stop(wait=True) is True
    [(name, pid, priority)] = [line.split() for line in log.read_text("utf-8").splitlines()]
    assert name == "quick" and int(pid) != os.getpid() and int(priority) == 19  # it yields to other work
    assert parallel.Background(context, _fail).stop(wait=True) is False  # logged, not raised


def _allocator_setting() -> str | None:
    return os.environ.get("MIMALLOC_PURGE_DELAY")


def test_the_workers_keep_the_memory_they_free_and_the_program_does_not_change():
    """The processes forked from the workers' server (file readers, leak-gate scanners) keep what
    Arrow's allocator frees (`gongshi.prefork`); the program itself is left as the user started it."""
    import concurrent.futures

    from gongshi.sandbox import worker_context

    before = os.environ.get("MIMALLOC_PURGE_DELAY")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=worker_context()) as pool:
        in_worker = pool.submit(_allocator_setting).result(timeout=120)
    assert in_worker == (before if before is not None else "-1")
    assert os.environ.get("MIMALLOC_PURGE_DELAY") == before
