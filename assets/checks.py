"""Check names (constants, so tests and the command line refer to the same checks); the release's
blocking checks are named where they are made (`gongshi.stages.checks`)."""

from gongshi.stages.checks import LEAK_GATE, PACKAGE_VALID, RELEASE_RECONCILES, WITHIN_BOUNDS

ROWS_RECONCILE = "rows_reconcile"
FILES_READABLE = "files_readable"
REGISTER_MATCHES_ACCEPTED = "register_matches_accepted"
DAY_RECONCILES = "day_reconciles"
__all__ = [
    "DAY_RECONCILES",
    "FILES_READABLE",
    "LEAK_GATE",
    "PACKAGE_VALID",
    "REGISTER_MATCHES_ACCEPTED",
    "RELEASE_RECONCILES",
    "ROWS_RECONCILE",
    "WITHIN_BOUNDS",
]
