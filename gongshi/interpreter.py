"""How the Python interpreter is set up in a process that runs the pipeline (the command, Dagster's
processes, the benchmark): called once by each entry point, never on import of the library."""

from __future__ import annotations

import atexit
import gc

# Python's cycle collector runs a young collection every 700 allocations more than frees (its
# default) and a full one as long-lived objects grow by a quarter; a day allocates millions of
# objects — rows as dicts, page contexts, manifests of 150,000 files — nearly none of them in cycles.
# Measured on the next day of the million-record bench (`gongshi publish`, 2026-11-30): 2,500 young
# collections and 1.0–1.2 s in the collector at the default, 33 and 0.3 s with these; the command
# took 23.7 and 24.5 s at the default, 21.4 s with them.
GC_THRESHOLDS = (50_000, 20, 20)


# At exit the interpreter collects cycles once more over every object it still holds — Dagster's,
# pydantic's and the catalog's, millions of them: 0.8–0.9 s of a `gongshi publish` that had nothing
# to do (2.95 s in all; py-spy --native: gc_collect_main after the last atexit function). Frozen
# first, they are left to the system with the rest of the process's memory; everything the pipeline
# writes is closed (and renamed into place) before its command returns.
_FREEZE_AT_EXIT: list[bool] = []


def tune() -> None:
    """Collect cycles less often (`GC_THRESHOLDS`), and not at exit (`_FREEZE_AT_EXIT`)."""
    gc.set_threshold(*GC_THRESHOLDS)
    if not _FREEZE_AT_EXIT:  # once: the code location may be loaded again in the same process
        atexit.register(gc.freeze)  # registered before the command's own: runs after them
        _FREEZE_AT_EXIT.append(True)
