"""Check names (constants, so tests and the command line refer to the same checks)."""

ROWS_RECONCILE = "rows_reconcile"
FILES_READABLE = "files_readable"
REGISTER_MATCHES_ACCEPTED = "register_matches_accepted"
DAY_RECONCILES = "day_reconciles"
LEAK_GATE = "leak_gate"
