"""How the Python interpreter is set up in a process that runs the pipeline (the command, Dagster's
processes, the benchmark): called once by each entry point, never on import of the library."""

from __future__ import annotations

import gc

# Python's cycle collector runs a young collection every 700 allocations more than frees (its
# default) and a full one as long-lived objects grow by a quarter; a day allocates millions of
# objects — rows as dicts, page contexts, manifests of 150,000 files — nearly none of them in cycles.
# Measured on the next day of the million-record bench (`gongshi publish`, 2026-11-30): 2,500 young
# collections and 1.0–1.2 s in the collector at the default, 33 and 0.3 s with these; the command
# took 23.7 and 24.5 s at the default, 21.4 s with them.
GC_THRESHOLDS = (50_000, 20, 20)


def tune() -> None:
    """Collect cycles less often (`GC_THRESHOLDS`)."""
    gc.set_threshold(*GC_THRESHOLDS)
