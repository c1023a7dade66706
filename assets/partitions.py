"""Daily partitions in Asia/Shanghai: one partition per delivery day."""

from __future__ import annotations

import os

import dagster as dg

TIMEZONE = "Asia/Shanghai"
ENV_START = "GONGSHI_FIRST_DAY"
FIRST_DAY = os.environ.get(ENV_START, "2024-01-01")

# end_offset=1: today's deliveries are a partition already, so a folder that lands today can run today.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=TIMEZONE, end_offset=1)
