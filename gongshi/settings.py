"""Where one installation reads deliveries, keeps private state and publishes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gongshi.paths import DEMO_INBOX, StateLayout
from gongshi.release import PublicLayout
from gongshi.sandbox import ReadLimits

DEFAULT_BASE_URL = "http://localhost:8000/"


@dataclass(frozen=True)
class Settings:
    """Where a run reads deliveries, keeps private state and publishes; how many dated releases stay."""

    inbox: Path = DEMO_INBOX
    public: Path = Path("public")
    state: Path = Path("state")
    keep_releases: int = 30
    base_url: str = os.environ.get("GONGSHI_BASE_URL", DEFAULT_BASE_URL)
    # The operator's decision that a registered day's vanished files or rows are a retraction.
    retract: bool = False
    retract_reason: str | None = None
    read_limits: ReadLimits = field(default_factory=ReadLimits)

    @property
    def layout(self) -> StateLayout:
        return StateLayout(self.state)

    @property
    def public_layout(self) -> PublicLayout:
        return PublicLayout(self.public)
