"""Imported by the server the pipeline's workers are forked from (`sandbox.worker_context`), never by
the program itself: it fills the detector's tables over all of Unicode — the normalisation of
`pii.find` and the digits NFKC keeps, about 0.7 s — once, in the server, so that each leak-gate
worker forked from it has them instead of building its own."""

from gongshi import pii

pii._translation()
pii._exotic_digits()
pii._worth_a_look()
