"""Output formats: one small class per format in one registry; a dataset lists the ones it wants.

A writer gets the public (already redacted) table of one dataset with its published Table Schema
fields, in schema order and deterministic row order, and writes one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from gongshi.catalog import SchemaField

REGISTRY: dict[str, type[Writer]] = {}


class Writer:
    FORMAT: ClassVar[str]
    SUFFIX: ClassVar[str]
    MEDIA_TYPE: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        REGISTRY[cls.FORMAT] = cls

    def fits(self, table: pa.Table) -> bool:
        """Whether the format can hold `table` (a spreadsheet has a row limit)."""
        return True

    def write(self, table: pa.Table, fields: list[SchemaField], path: Path) -> None:
        raise NotImplementedError


def writer_for(name: str) -> Writer:
    try:
        return REGISTRY[name]()
    except KeyError:
        raise ValueError(f"unknown export format {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


from gongshi.writers import csv, jsonl, parquet, xlsx  # noqa: E402,F401  (registers the formats)
