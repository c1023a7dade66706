"""Benchmark: rendering entity pages (run by hand).

    .venv/bin/python bench/site_render.py [--entities 20000]

Builds public tables for N entities (with inspections and listings), renders the whole site twice
into temporary builds — the second time with nothing changed, so every page is hard-linked — and
prints pages per second for both, and for entity pages alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gongshi.catalog import load_catalog
from gongshi.metadata import published_fields
from gongshi.sampledata import _Entities, inspection_rows
from gongshi.site import SiteBuilder


def public_inspections(count: int):
    rng = np.random.default_rng(5)
    entities = _Entities(rng, count)
    rows = inspection_rows(rng, entities, dt.date(2026, 11, 26), count * 2, 0)
    n = count * 2
    fields = [f.name for f in published_fields(load_catalog()["inspection_results"])]
    data = {
        "record_id": [f"i{i:016x}".translate(str.maketrans("0123456789", "ghijklmnop")) for i in range(n)],
        "task_id": rows["任务编号"],
        "task_name": rows["任务名称"],
        "inspecting_authority": rows["检查实施机关"],
        "inspection_type": rows["检查类型"],
        "inspection_date": pa.array([dt.date(2026, 11, 26)] * n),
        "entity_name": rows["市场主体名称"],
        "credit_code": [c.upper() for c in rows["统一社会信用代码"]],
        "legal_representative": rows["法定代表人（负责人）"],
        "inspection_item": rows["检查事项"],
        "result": [r or "未发现问题" for r in rows["检查结果"]],
        "handling": rows["处理情况"],
        "status": ["active"] * n,
        "first_published": pa.array([dt.date(2026, 11, 26)] * n),
        "last_updated": pa.array([dt.date(2026, 11, 26)] * n),
        "corrected_on": pa.array([None] * n, pa.date32()),
        "expires_on": pa.array([dt.date(2027, 11, 26)] * n),
        "publication_delay": pa.array([3] * n, pa.int64()),
        "published_on_time": pa.array([True] * n),
        "flags": [""] * n,
    }
    return pa.table({name: data[name] for name in fields})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    args = parser.parse_args()
    catalog = load_catalog()
    inspections = public_inspections(args.entities)
    tables = {name: inspections.slice(0, 0) for name in catalog} | {"inspection_results": inspections}
    for name in (n for n in catalog if n != "inspection_results"):
        fields = published_fields(catalog[name])
        tables[name] = pa.table(
            {f.name: pa.array([], pa.date32() if f.type == "date" else pa.string()) for f in fields}
        )
    with tempfile.TemporaryDirectory() as root:
        first, second = Path(root) / "a", Path(root) / "b"
        fingerprints = None
        for build, previous in ((first, None), (second, first)):
            build.mkdir()
            builder = SiteBuilder(
                build, catalog, "2026-11-26", "http://localhost/", tables, {}, {}, {}, previous, fingerprints
            )
            start = time.perf_counter()
            result = builder.build_all()
            total = time.perf_counter() - start
            fingerprints = result.fingerprints
            label = "first build (every page rendered)" if previous is None else "second build (nothing changed)"
            print(
                f"{label}: {result.entity_pages:,} entity pages + JSON twins, every other page beside them "
                f"(two processes share the entity pages), in {result.entity_seconds:.2f} s; "
                f"whole site {result.rendered:,} "
                f"files rendered, {result.skipped:,} unchanged, in {total:.2f} s "
                f"(of which the search index {result.search_seconds:.1f} s)"
            )

        # rendering alone, no file written: what a core does per entity page
        from gongshi.site import TableView, ordered

        views = {d.id: TableView(tables[d.id], d) for d in catalog.values()}
        joined = [d for d in ordered(catalog) if d.site.entity]
        entities = builder._entity_objects(joined, {d.id: views[d.id].dicts(range(views[d.id].rows)) for d in joined})
        template = builder.env.get_template("entity.html")
        from gongshi.site.context import Page

        start = time.perf_counter()
        for entity in entities:
            template.render(
                page=Page(path="entity/x.html", root="../", canonical="", title=entity.name, description=""),
                entity=entity,
                organization="{}",
            )
        seconds = time.perf_counter() - start
        print(f"rendering only (no writes): {len(entities) / seconds:,.0f} entity pages/s on one core")


if __name__ == "__main__":
    main()
