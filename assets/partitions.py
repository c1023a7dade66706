"""Daily partitions in Asia/Shanghai: one partition per delivery day, from the installation's first day."""

from __future__ import annotations

import dagster as dg

TIMEZONE = "Asia/Shanghai"


def daily_partitions(first_day: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's deliveries are a partition already, so a folder that lands today can run today.
    return dg.DailyPartitionsDefinition(start_date=first_day, timezone=TIMEZONE, end_offset=1)
