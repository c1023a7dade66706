"""Imported by the server the pipeline's workers are forked from (`sandbox.worker_context`), never by
the program itself: it fills the detector's tables over all of Unicode — the normalisation of
`pii.find` and the digits NFKC keeps, read from `gongshi/unicode/` (or made, 0.6 s, for a Unicode
version without a file there) — once, in the server, so that each leak-gate worker forked from it
has them instead of reading or making its own. It is the first module the server
imports: what it sets in the environment holds before Arrow is loaded there."""

import ctypes
import ctypes.util
import os

# Arrow's allocator (mimalloc) in the server's processes keeps the memory they free instead of
# handing it back to the system: a leak-gate worker frees and takes again a few hundred MiB for each
# batch it scans (64 MB when measured; 16 MB since, `leakscan._TextBatch.LIMIT`, which holds what
# it keeps to a few hundred MiB), and the kernel clears every page handed back when it is taken again. The
# gate over a million-record first day's release (two workers, 147,000 files, four runs each way):
# 10.4–10.7 GB of memory faulted in against 5.5–5.7, 8.7–10.0 s of kernel time against 6.9–9.1, each
# worker's peak 880 MiB against 975; its wall time within the hour's noise. Only here: in the program
# itself (the main process), where tables are held for minutes, it raised a next day's peak by 450
# MiB and did not make it faster.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")

from gongshi import pii  # after the environment is set

pii._translation()
pii._exotic_digits()
pii._worth_a_look()

# The C library's allocator (what Python's own large objects come from: a file's bytes, a batch's
# lines joined: a batch) the same way: a block of more than 128 KiB was a mapping of its own, handed
# back when freed and cleared again by the kernel when taken again. Up to MMAP_BELOW it comes from
# the heap, and the heap keeps up to KEEP_FREE of free memory instead of trimming it. The gate over
# 58,000 pages of a first day (1.06 GB, one worker, four runs each way, 2026-12-04): memory faulted
# in 1,169–1,188 MiB against 213–233, kernel time 1.71–3.06 s against 0.85–1.69 s, the peak 438–445
# MiB against 447–455; over a whole first day the checks' 5.3 GB against 2.8–2.9 (docs/scale.md).
MMAP_BELOW = 128 * 1024 * 1024
KEEP_FREE = 256 * 1024 * 1024


def _keep_freed_memory() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_BELOW)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, KEEP_FREE)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not the GNU C library: its allocator as it is
        pass


_keep_freed_memory()
