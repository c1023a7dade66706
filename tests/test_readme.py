"""The README's quick start is a contract: exactly two commands, and CI runs the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "gongshi publish" in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _quick_start_commands()[1] in ci.splitlines()


def _journalists() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## For journalists and researchers", 1)[1].split("\n## ", 1)[0]


def test_the_files_the_readme_lists_are_in_a_release(published_demo):
    """Every path of the journalists' file list exists in a built release (for every dataset)."""
    release = published_demo.public / "latest"
    listing = re.search(r"```\n(datasets/.*?)```", _journalists(), re.S).group(1)
    datasets = sorted(p.name for p in (release / "datasets").iterdir() if p.is_dir())
    assert len(datasets) == 4
    for line in listing.splitlines():
        for path in re.split(r",\s*", line.split("  ")[0].strip()):
            if "<YYYY-MM-DD>" in path:
                path = path.replace("<YYYY-MM-DD>", "2026-11-27")
            for dataset in datasets if "<dataset>" in path else [None]:
                target = path.replace("<dataset>", dataset) if dataset else path
                assert (release / target).is_file(), target
    root = published_demo.public
    for name in ("datapackage.json", "robots.txt", "sitemap.xml"):
        assert (root / name).is_file(), name


def test_the_readme_identifier_example_is_a_published_identifier(published_demo):
    import pyarrow.parquet as pq

    from gongshi.metadata import RECORD_ID_PATTERN

    text = _journalists()
    example = re.search(r"for example `([a-z]+)`", text).group(1)
    assert re.fullmatch(RECORD_ID_PATTERN, example)
    assert "letter" in text and "16 hex" in text
    ids = pq.read_table(published_demo.public / "latest/datasets/blacklist_entries/blacklist_entries.parquet")[
        "record_id"
    ]
    assert all(re.fullmatch(RECORD_ID_PATTERN, i) and len(i) == 17 for i in ids.to_pylist())


def test_the_readme_check_commands_work_on_a_release(published_demo, tmp_path):
    """`sha256sum -c` and `frictionless validate` as the README gives them, in a copy of a release."""
    import shutil
    import subprocess
    import sys

    block = re.search(r"\*\*Check what you downloaded\.\*\*.*?```sh\n(.*?)```", _journalists(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    release = tmp_path / "release"
    shutil.copytree(published_demo.public / "latest", release)
    sums = next(c for c in commands if c.startswith("sha256sum"))
    assert subprocess.run(sums.split(), cwd=release, capture_output=True).returncode == 0
    (release / "gongshi.sqlite").write_bytes(b"changed")
    assert subprocess.run(sums.split(), cwd=release, capture_output=True).returncode != 0  # the check can fail
    validate = next(c for c in commands if c.startswith("frictionless validate"))
    shutil.copy(published_demo.public / "latest" / "gongshi.sqlite", release / "gongshi.sqlite")
    done = subprocess.run(
        [sys.executable, "-m", *validate.split()], cwd=release, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert any(c.startswith('pip install "frictionless[') for c in commands)


def test_the_readme_sync_client_rebuilds_the_tables(published_demo):
    """The README's sync client, run against the demo release served over HTTP."""
    import functools
    import http.server
    import threading

    import pyarrow.parquet as pq

    code = re.search(r"\*\*Keeping another system in sync.*?```python\n(.*?)```", _journalists(), re.S).group(1)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(published_demo.public))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = f"http://127.0.0.1:{server.server_address[1]}/"
        namespace: dict = {}
        exec(code.replace("https://data.example.gov.cn/gongshi/", root), namespace)
    finally:
        server.shutdown()
    tables = namespace["tables"]
    day = namespace["index"]["release"]
    for dataset in ("inspection_results", "blacklist_entries", "honour_list", "approval_item_changes"):
        published = pq.read_table(published_demo.layout.published_table(day, dataset))
        assert sorted(tables[dataset]) == sorted(published["record_id"].to_pylist())
        assert len(tables[dataset]) == published.num_rows > 0
