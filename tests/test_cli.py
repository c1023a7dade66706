"""The `gongshi` command end to end on the sample deliveries, and the generator's contract."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.cli import build_parser
from gongshi.sampledata import write_sample_inbox

ROOT = Path(__file__).resolve().parent.parent


def gongshi(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "gongshi.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_publish_end_to_end_on_the_demo_inbox(tmp_path):
    first = gongshi("publish", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    assert out.index("[2026-11-26]") < out.index("[2026-11-27]")  # oldest first
    assert re.search(r"inspection_results\s+42\s+39\s+3\s+0", out)
    assert re.search(r"approval_item_changes\s+4\s+4\s+0\s+1", out)
    assert re.search(r"blacklist_entries\s+18\s+18\s+0\s+0", out)
    state = tmp_path / "state"
    assert (state / "register" / "blacklist_entries.duckdb").is_file()
    latest = tmp_path / "public" / "latest"
    assert latest.is_symlink() and (latest / "datasets" / "inspection_results" / "inspection_results.csv").is_file()
    assert "已通过泄露闸门" in out
    scan = gongshi("scan", "public", "--state", "state", cwd=tmp_path)
    assert scan.returncode == 0 and "CLEAN" in scan.stdout
    # the runs are in the persistent instance the UI reads
    instance = dg.DagsterInstance.from_config(str(state / "dagster"))
    assert len(instance.get_runs()) == 2
    # progress per stage, in the command's output and in each run's log
    day = out[out.index("[2026-11-27]") :]
    for line in ("读取 inspection_results：完成", "网站：市场主体页：完成 33 / 33 个主体", "泄露闸门：完成"):
        assert line in day, line
    logged = [e.message for e in instance.all_logs(instance.get_runs()[0].run_id) if e.message]
    assert any(m.startswith("构建发布：完成") for m in logged) and any("泄露闸门：完成" in m for m in logged)
    # no public address given: said once, at the start
    assert out.count("公开地址为本机地址 http://localhost:8000/") == 1
    assert out.index("公开地址为本机地址") < out.index("[2026-11-26]")
    registers = _digest(state / "ledger")
    again = gongshi("publish", cwd=tmp_path)
    assert again.returncode == 0 and "没有待处理的报送日期" in again.stdout
    rerun = gongshi("publish", "--date", "2026-11-27", cwd=tmp_path)
    assert rerun.returncode == 0 and "[2026-11-27] 完成" in rerun.stdout
    assert _digest(state / "ledger") == registers
    instance = dg.DagsterInstance.from_config(str(state / "dagster"))
    assert len(instance.get_runs()) == 3


@pytest.mark.slow
def test_a_release_for_a_public_address_never_says_localhost(tmp_path):
    done = gongshi("publish", "--date", "2026-11-26", "--base-url", "https://data.example.gov.cn/gs/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "本机地址" not in done.stdout and "public address https://data.example.gov.cn/gs/" in done.stdout
    public = tmp_path / "public"
    for path in [*public.rglob("*")]:
        if path.is_file() and path.suffix in {".html", ".json", ".jsonld", ".xml", ".atom", ".txt"}:
            assert "localhost" not in path.read_text("utf-8", errors="replace"), path
    assert (public / "robots.txt").read_text("utf-8").endswith("Sitemap: https://data.example.gov.cn/gs/sitemap.xml\n")


def test_publish_refuses_a_missing_inbox(tmp_path):
    done = gongshi("publish", "--inbox", str(tmp_path / "nowhere"), "--state", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2 and "收件箱不存在" in done.stderr


def test_bad_date_option_is_a_usage_error(tmp_path):
    done = gongshi("publish", "--date", "2026-13-01", cwd=tmp_path)
    assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.json")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_sample_data_is_deterministic_and_messy(tmp_path):
    counts = write_sample_inbox(tmp_path / "a", records=3000, days=3, seed=5)
    write_sample_inbox(tmp_path / "b", records=3000, days=3, seed=5)
    write_sample_inbox(tmp_path / "c", records=3000, days=3, seed=6)
    assert sum(counts.values()) == 3000
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b") != _tree(tmp_path / "c")
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.*"))
    assert any(f.endswith(".xlsx") for f in files) and any(f.endswith(".json") for f in files)
    assert any("补报" in f for f in files)  # the truncated resend
    gb = (tmp_path / "a" / "inspection_results" / "2026-11-01").glob("*.csv")
    text = next(gb).read_bytes().decode("gb18030")
    assert "年" in text and "/13/" in text and "身份证" in text and "<img" in text


def test_sample_data_command(tmp_path):
    done = gongshi(
        "sample-data", "--out", str(tmp_path / "x"), "--records", "500", "--days", "2", "--seed", "1", cwd=tmp_path
    )
    assert done.returncode == 0 and "inspection_results" in done.stdout
    assert len(list((tmp_path / "x").rglob("*.csv"))) >= 2


@settings(max_examples=20, deadline=None)
@given(records=st.integers(1, 120), days=st.integers(1, 6))
def test_sample_data_writes_exactly_the_records_asked_for_however_few(records, days):
    """A few records over many days: a dataset with no row on a day has no delivery that day."""
    with tempfile.TemporaryDirectory() as root:
        counts = write_sample_inbox(Path(root), records=records, days=days, seed=records)
        assert sum(counts.values()) == records
        assert all(any(folder.iterdir()) for folder in Path(root).glob("*/*"))  # no empty day folder


@pytest.mark.parametrize("option", ["--records", "--days"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_sample_data_refuses_a_count_below_one(tmp_path, option, value):
    done = gongshi("sample-data", "--out", str(tmp_path / "x"), option, value, cwd=tmp_path)
    assert done.returncode == 2 and f"argument {option}: not a whole number of at least 1" in done.stderr
    assert not (tmp_path / "x").exists()


def _tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + _content(path))
    return digest.hexdigest()


def _content(path: Path) -> bytes:
    if path.suffix != ".xlsx":
        return path.read_bytes()
    import python_calamine  # workbooks carry a creation time: compare their cells

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return repr([book.get_sheet_by_name(n).to_python() for n in book.sheet_names]).encode()


def _reference_table(readme: str) -> dict[str, set[str]]:
    """The README's command reference table: command -> the options it documents."""
    table = readme.split("## Command reference", 1)[1].split("\n\n| command |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, set[str]] = {}
    command = None
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        command = cells[0].strip("`").removeprefix("gongshi ") or command
        documented.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", cells[1]))
    return documented


def test_every_cli_option_is_in_the_readme_and_every_documented_option_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    real = {
        name: {o for a in sub._actions for o in a.option_strings if o not in ("-h", "--help")}
        for name, sub in commands.choices.items()
    }
    assert _reference_table(readme) == real
    # and every option a command line in the README's examples shows exists
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", readme, flags=re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines() if re.match(r"\s*(\S*/)?gongshi ", line)]
    assert len(lines) > 15
    for line in lines:
        words = line.split("#")[0].split()
        command = words[words.index(next(w for w in words if w.endswith("gongshi"))) + 1]
        assert command in real, line
        assert set(re.findall(r"--[a-z][a-z-]*", " ".join(words))) <= real[command], line


def test_check_command_reads_codes_and_writes_excel_safe_csv(published_demo, tmp_path):
    release = published_demo.public / "latest"
    plain = tmp_path / "codes.txt"
    plain.write_text(
        "91320200A270313CX1\n\n９１３２０１００７０７９００３ＣＸＥ\n91320200A270313CX2\n", encoding="utf-8"
    )
    done = gongshi("check", str(plain), "--release", str(release), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("统一社会信用代码,核查结果,市场主体名称,名单状态,守信红名单,")
    assert lines[1].startswith("91320200A270313CX1,已收录,无锡长江餐饮管理有限公司,经营异常名录")
    assert lines[2].split(",")[1:3] == ["已收录", "南京恒泰电子科技有限公司"]  # full-width digits normalised
    assert lines[3].split(",")[1] == "代码有误：第 18 位校验码不符"
    assert lines[1].endswith(",2026-11-27")
    table = tmp_path / "bids.csv"
    table.write_bytes("序号,统一社会信用代码\r\n1,91320200A270313CX1\r\n2,=1+1\r\n".encode("gb18030"))
    out = tmp_path / "result.csv"
    done = gongshi("check", str(table), "--release", str(release), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0 and "2 个代码：1 个代码有误，0 个未收录" in done.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n'=1+1," in data
    missing = gongshi("check", str(table), "--release", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 2 and "没有批量核查索引" in missing.stderr
    many = tmp_path / "many.txt"
    many.write_text("\n".join(["91320200A270313CX1"] * 5001), encoding="utf-8")
    too_many = gongshi("check", str(many), "--release", str(release), cwd=tmp_path)
    assert too_many.returncode == 2 and "一次最多核查 5,000 个代码" in too_many.stderr


def test_the_command_and_the_code_location_set_the_interpreter_up_the_same_way(tmp_path):
    """Both entry points of a run — the command and the Dagster code location a launched run loads —
    collect cycles as `gongshi.interpreter` says; importing the library does not."""
    from gongshi.interpreter import GC_THRESHOLDS

    script = (
        "import gc, sys\n"
        "import gongshi.cli, assets.definitions\n"
        "print(gc.get_threshold())\n"
        "gongshi.cli.main(['sample-data', '--out', sys.argv[1], '--records', '20', '--days', '1'])\n"
        "print(gc.get_threshold())\n"
        "gc.set_threshold(700, 10, 10)\n"
        "assets.definitions.defs()\n"
        "print(gc.get_threshold())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "inbox")], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == str(gc_default := (700, 10, 10)) and gc_default != GC_THRESHOLDS
    assert out[-2] == out[-1] == str(GC_THRESHOLDS)


def test_a_tuned_interpreter_leaves_its_objects_to_the_system_at_exit():
    """After `interpreter.tune` the objects still held when the process exits are frozen (the exit's
    cycle collection over them was most of a second of every command), after the functions registered
    later have run; once, however often it is called. Without it, nothing is frozen."""
    script = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen at the end', gc.get_freeze_count() > 0))\n"
        "from gongshi import interpreter\n"
        "if sys.argv[1] == 'tuned':\n"
        "    interpreter.tune()\n"
        "    interpreter.tune()\n"
        "print('registered', len(interpreter._FREEZE_AT_EXIT))\n"
        "cycle = []\n"
        "cycle.append(cycle)\n"
        "atexit.register(lambda: print('frozen before', gc.get_freeze_count() > 0))\n"
    )

    def run(mode: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    assert run("tuned") == ["registered 1", "frozen before False", "frozen at the end True"]
    assert run("plain") == ["registered 0", "frozen before False", "frozen at the end False"]
