"""Imported by the server the pipeline's workers are forked from (`sandbox.worker_context`), never by
the program itself: it fills the detector's tables over all of Unicode — the normalisation of
`pii.find` and the digits NFKC keeps, read from `gongshi/unicode/` (or made, 0.6 s, for a Unicode
version without a file there) — once, in the server, so that each leak-gate worker forked from it
has them instead of reading or making its own. It is the first module the server
imports: what it sets in the environment holds before Arrow is loaded there."""

import os

# Arrow's allocator (mimalloc) in the server's processes keeps the memory they free instead of
# handing it back to the system: a leak-gate worker frees and takes again a few hundred MiB for each
# 64 MB batch it scans, and the kernel clears every page handed back when it is taken again. The
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
