"""Crash points for the crash-consistency test: with GONGSHI_FAULT_AT=<name> in the environment,
the process kills itself (SIGKILL, no cleanup) when it reaches that point. Unset, it does nothing."""

from __future__ import annotations

import os
import signal

ENV = "GONGSHI_FAULT_AT"


def checkpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
