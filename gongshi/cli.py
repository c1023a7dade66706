"""The `gongshi` command. The only module of the library that starts Dagster (for `publish` and `ui`)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

from gongshi import alerts, interpreter, ledger, progress
from gongshi.faults import Fault, in_words, step_error_text
from gongshi.inbox import first_partition, ignored_in_inbox, inbox_days, pending_days
from gongshi.locking import describe, process_alive, state_lock
from gongshi.paths import PROJECT_ROOT
from gongshi.settings import DAGSTER_POSTGRES_URL, Settings, default, secret
from gongshi.snapshots import published_days
from gongshi.stages.publish import tidy
from gongshi.stages.takedowns import unapplied_lifts, unapplied_takedowns

DAGSTER_YAML = """\
# Written by `gongshi`: a local instance whose runs show in `gongshi ui` / `dagster dev`.
telemetry:
  enabled: false
nux:
  enabled: false
# The run queue: runs from the schedule, the sensors, a backfill or the UI wait their turn — one at
# a time writes the state directory (every run of the daily and pull jobs carries the tag).
concurrency:
  runs:
    tag_concurrency_limits:
      - key: gongshi/state
        limit: 1
# The stages' progress lines (rows, pages, files) go into each run's log.
python_logs:
  managed_python_loggers:
    - gongshi.progress
  python_log_level: INFO
"""
# With GONGSHI_DAGSTER_POSTGRES_URL set: runs, event logs (materializations, check results) and
# schedule state in PostgreSQL through dagster-postgres. The URL (it holds a password) stays in the
# environment: the file names the variable, never its value.
POSTGRES_STORAGE = """\
# Runs, events, schedules and asset checks in PostgreSQL ($GONGSHI_DAGSTER_POSTGRES_URL).
storage:
  postgres:
    postgres_url:
      env: GONGSHI_DAGSTER_POSTGRES_URL
"""
PID_TAG = "gongshi/pid"  # the process that ran it: a run marked running whose process is gone was killed
PROBLEMS_SHOWN = 20  # per failed check, in the command's output (all of them are in the Dagster run)
# The command prints its own account of every step; the whole log is in the Dagster instance.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def main(argv: list[str] | None = None) -> int:
    interpreter.tune()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with in_words():
            return args.func(args)
    except Fault as fault:
        print(f"gongshi：{fault}", file=sys.stderr)
        return 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gongshi",
        description="公示 gongshi：把部门每日报送的抽查结果、名单和审批事项调整变成可信的开放数据。",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    publish = commands.add_parser("publish", help="run the daily pipeline on the inbox (Dagster, in-process)")
    _path_options(publish)
    publish.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help="process only this delivery day (even if already processed); "
        "default: every day in the inbox not yet processed, oldest first",
    )
    publish.add_argument(
        "--from",
        dest="date_from",
        type=_day,
        metavar="YYYY-MM-DD",
        help="backfill: process the inbox's pending days from this day on, oldest first (resumable: "
        "days that went live are not run again)",
    )
    publish.add_argument(
        "--to",
        dest="date_to",
        type=_day,
        metavar="YYYY-MM-DD",
        help="backfill: up to and including this day (with or without --from)",
    )
    publish.add_argument(
        "--keep-releases",
        type=int,
        metavar="N",
        help=f"dated releases kept online (default {default('keep_releases')}, or $GONGSHI_KEEP_RELEASES)",
    )
    publish.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the public address of the web root, for absolute links (default {default('base_url')}, "
        "or $GONGSHI_BASE_URL)",
    )
    publish.add_argument(
        "--retract",
        action="store_true",
        help="with --date: files or rows of that registered day were taken back on purpose; "
        "their records are retracted, and the decision is audited",
    )
    publish.add_argument("--reason", metavar="TEXT", help="with --retract: why the department took them back")
    publish.add_argument(
        "--wait",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="how long to wait for another publication on the same state directory (default 3600)",
    )
    publish.set_defaults(func=cmd_publish)

    sample = commands.add_parser("sample-data", help="write synthetic deliveries with realistic mess")
    sample.add_argument("--out", type=Path, required=True, metavar="DIR", help="inbox directory to write")
    sample.add_argument("--records", type=_positive, default=10_000, metavar="N", help="total rows (default 10000)")
    sample.add_argument("--days", type=_positive, default=3, metavar="D", help="delivery days (default 3)")
    sample.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    sample.add_argument(
        "--start", type=_day, default="2026-11-01", metavar="YYYY-MM-DD", help="first delivery day (default 2026-11-01)"
    )
    sample.set_defaults(func=cmd_sample_data)

    scan = commands.add_parser("scan", help="the leak gate: find protected personal data in a folder")
    scan.add_argument("directory", type=Path, metavar="DIR", help="folder to scan (e.g. ./public before syncing it)")
    scan.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="also look for every protected value delivered into this state directory's registers",
    )
    scan.add_argument("--json", action="store_true", help="print the full report as JSON")
    scan.set_defaults(func=cmd_scan)

    withdraw = commands.add_parser("withdraw", help="take a record down on a decision (credit repair, court order)")
    withdraw.add_argument("record_ids", nargs="*", metavar="RECORD_ID", help="record_id as published")
    withdraw.add_argument("--reason", help="the decision, e.g. 信用修复 / 法院裁定 / 更正")
    withdraw.add_argument("--authority", help="the deciding authority")
    withdraw.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="date of the decision")
    withdraw.add_argument("--list", action="store_true", help="list recorded takedowns and the audit of rewrites")
    withdraw.add_argument(
        "--lift",
        metavar="RECORD_ID",
        help="reinstate a record taken down earlier (on a new decision: --reason, --authority, --date)",
    )
    withdraw.add_argument(
        "--state", type=Path, metavar="DIR", help=f"state directory (default ./{default('state')}, or $GONGSHI_STATE)"
    )
    withdraw.set_defaults(func=cmd_withdraw)

    bulk = commands.add_parser(
        "check", help="批量核查: black list, red list and recent inspection findings for a list of credit codes"
    )
    bulk.add_argument(
        "codes",
        type=Path,
        metavar="CODES.csv",
        help="one code per line, or a CSV with a column headed 统一社会信用代码 or credit_code (at most 5,000)",
    )
    bulk.add_argument(
        "--release",
        required=True,
        metavar="DIR|URL",
        help="a release folder (public/latest, public/releases/<day>) or its web address",
    )
    bulk.add_argument("--out", type=Path, metavar="FILE", help="write the CSV here (default: standard output)")
    bulk.set_defaults(func=cmd_check)

    ui = commands.add_parser("ui", help="open the Dagster UI on the same instance `publish` uses")
    _path_options(ui)
    ui.add_argument("--port", type=int, default=3000, help="web UI port (default 3000)")
    ui.set_defaults(func=cmd_ui)
    return parser


def _path_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inbox",
        type=Path,
        metavar="DIR",
        help="deliveries as inbox/<dataset>/<YYYY-MM-DD>/<files> "
        "(default: $GONGSHI_INBOX, else the bundled demo inbox)",
    )
    parser.add_argument(
        "--public",
        type=Path,
        metavar="DIR",
        help=f"web root for what may be published (default: $GONGSHI_PUBLIC, else ./{default('public')})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="private state: register, quarantine, ledger, reports, Dagster instance "
        f"(default: $GONGSHI_STATE, else ./{default('state')}; never serve it)",
    )


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return number


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, with what the command line says over them."""
    return Settings.from_environment(
        inbox=getattr(args, "inbox", None),
        public=getattr(args, "public", None),
        state=getattr(args, "state", None),
        keep_releases=getattr(args, "keep_releases", None),
        base_url=getattr(args, "base_url", None),
        retract=getattr(args, "retract", None),
        retract_reason=getattr(args, "reason", None),
    )


def is_local_address(url: str) -> bool:
    """Whether a base URL points at this machine (links nobody else can follow)."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""} or host.endswith(".localhost")


def instance_yaml() -> str:
    """The dagster.yaml `gongshi` writes: local storage under the state directory, or PostgreSQL."""
    return DAGSTER_YAML + (POSTGRES_STORAGE if secret(DAGSTER_POSTGRES_URL) else "")


def prepare_instance(settings: Settings) -> Path:
    """The persistent Dagster home under the state directory; the same env the code location reads."""
    home = settings.layout.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = instance_yaml()
    ours = not config.exists() or config.read_text(encoding="utf-8").startswith(DAGSTER_YAML.splitlines()[0])
    if ours and (not config.exists() or config.read_text(encoding="utf-8") != wanted):
        config.write_text(wanted, encoding="utf-8")  # an operator's own dagster.yaml is left alone
    os.environ.update({"DAGSTER_HOME": str(home), **settings.to_environment()})
    url = secret(DAGSTER_POSTGRES_URL)
    if url and re.match(r"postgres(ql)?://", url):
        # dagster-postgres speaks through psycopg2; SQLAlchemy 2.1 would take psycopg 3 for a bare
        # postgresql:// (and fail on Dagster's queries): name the driver for this process and its children
        os.environ[DAGSTER_POSTGRES_URL] = re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)
    return home


def cmd_publish(args: argparse.Namespace) -> int:
    if args.retract and not (args.date and args.reason):
        print("--retract 需要同时给出 --date（撤回的报送日期）和 --reason（撤回原因）", file=sys.stderr)
        return 2
    if args.date and (args.date_from or args.date_to):
        print("--date 不能与 --from/--to 同时使用", file=sys.stderr)
        return 2
    if args.date_from and args.date_to and args.date_from > args.date_to:
        print(f"--from {args.date_from} 晚于 --to {args.date_to}", file=sys.stderr)
        return 2
    if args.keep_releases is not None and args.keep_releases < 1:
        print("--keep-releases 至少为 1", file=sys.stderr)
        return 2
    settings = _settings(args)
    if not settings.inbox.is_dir():
        print(f"收件箱不存在：{settings.inbox}", file=sys.stderr)
        return 2
    with state_lock(
        settings.layout,
        "gongshi publish",
        wait_seconds=args.wait,
        on_wait=lambda info: print(
            f"状态目录正被{describe(info)}使用，等待其结束（最多 {args.wait:.0f} 秒）…", flush=True
        ),
    ):
        return _publish(settings, args)


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from gongshi.sandbox import start_workers

    start_workers([__name__])  # the readers' and scanners' server imports while Dagster starts
    catalog = settings.catalog()
    home = prepare_instance(settings)
    tidy(settings)  # what a killed run left behind, whether or not anything is pending now

    import dagster as dg

    from assets.automation import DAILY_JOB, PULL_JOB
    from assets.definitions import build_definitions
    from assets.partitions import daily_partitions

    days = [args.date] if args.date else pending_days(settings, list(catalog))
    if args.date_from or args.date_to:
        # a backfill: the range's days not yet processed, oldest first — run again after an
        # interruption, it goes on from the first day that did not go live
        days = [d for d in days if (args.date_from or d) <= d <= (args.date_to or d)]
        print(f"补录 {args.date_from or '最早'} 至 {args.date_to or '最新'}：{len(days)} 个待处理的报送日期。")
    print(f"gongshi publish: inbox {settings.inbox}")
    print(f"                 state {settings.state} (Dagster instance {home})")
    if is_local_address(settings.base_url):
        print(
            f"注意：公开地址为本机地址 {settings.base_url}，发布中的绝对链接（DCAT、schema.org、订阅源、网站地图、"
            "规范链接）都指向它；对外发布请用 --base-url 或环境变量 GONGSHI_BASE_URL 给出公开地址。"
        )
    else:
        print(f"                 public address {settings.base_url}")
    progress.configure(sys.stdout)  # each stage's progress: a bar on a terminal, plain lines otherwise
    waiting = unapplied_takedowns(settings, catalog) + unapplied_lifts(settings, catalog)
    published = published_days(settings.layout)
    if not days and waiting and published:
        days = [max(published)]
        print(f"{len(waiting)} 条撤下或恢复决定尚未生效：重新发布 {days[0]}（撤下的记录从所有保留的发布中撤下）。")
    if not days:
        known = inbox_days(settings.inbox, list(catalog))
        print(f"没有待处理的报送日期（收件箱中 {len(known)} 个日期均已处理，文件未变化）。")
        return 0
    first = first_partition(settings, list(catalog))
    partitions = daily_partitions(first)
    valid = set(partitions.get_partition_keys())
    outside = [d for d in days if d not in valid]
    if outside:
        print(
            f"以下日期不在分区范围内（{first} 至明天），未处理：{'、'.join(outside)}；"
            "可设置环境变量 GONGSHI_FIRST_DAY 调整起始日期。",
            file=sys.stderr,
        )
        if args.date:
            return 2
        days = [d for d in days if d in valid]
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(DAILY_JOB)
    pulled = [(d, s) for d in catalog.values() for s in d.pulled_sources]
    pull_job = definitions.resolve_job_def(PULL_JOB) if pulled else None
    instance = dg.DagsterInstance.get()
    for stale in _stale_runs(instance):
        instance.report_run_failed(stale)
        print(f"上次被中断的运行 {stale.run_id}（进程 {stale.tags.get(PID_TAG)} 已不存在）已标记为失败。")
    tags = {"gongshi/trigger": "cli", PID_TAG: str(os.getpid())}
    failed = []
    for day in days:
        if pull_job is not None:
            print(f"[{day}] 从 {len(pulled)} 个前置库/接口拉取 …", flush=True)
            pulling = pull_job.execute_in_process(
                partition_key=day,
                instance=instance,
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags=tags,
            )
            for event in pulling.all_events:
                if event.is_step_failure:
                    print(f"    来源失败：{event.step_key}：{step_error_text(event.event_specific_data.error)}")
                elif event.is_step_materialization:
                    metadata = event.step_materialization_data.materialization.metadata
                    print(f"    {event.step_key}：{metadata['rows'].value} 行")
        print(f"[{day}] 读取 → 校验 → 登记 → 对账 …", flush=True)
        result = job.execute_in_process(
            partition_key=day,
            instance=instance,
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags=tags,
        )
        sources_failed = {}
        for name in catalog:
            entry = ledger.read(settings.layout, day, name)
            if entry is not None:
                sources_failed[name] = entry.sources_failed
                failed_sources = f"  来源失败 {entry.sources_failed}" if entry.sources_failed else ""
                print(
                    f"    {name:<24} 读入 {entry.rows_in:>7}  接受 {entry.accepted:>7}  "
                    f"隔离 {entry.quarantined:>6}  退回文件 {entry.files_rejected}{failed_sources}"
                )
        failed_checks: dict[str, list[str]] = {}
        for check in result.get_asset_check_evaluations():
            if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR:
                print(f"    阻断检查未通过：{check.asset_key.to_user_string()} {check.check_name}")
                problems = check.metadata.get("problems")
                failed_checks[check.check_name] = list(problems.value if problems is not None else [])
                for problem in failed_checks[check.check_name][:PROBLEMS_SHOWN]:
                    print(f"      {problem}")
        step_failures = []
        for event in result.all_events:
            error = event.event_specific_data.error if event.is_step_failure else None
            if error is not None and error.cls_name != "DagsterAssetCheckFailedError":  # checks are listed above
                step_failures.append(f"{event.step_key}：{step_error_text(error)}")
                print(f"    步骤失败：{step_failures[-1]}")
        for alert in alerts.day_alerts(day, result.run_id, failed_checks, step_failures, sources_failed):
            sent = alerts.send(alert) if alerts.configured() else []
            if sent:
                print(f"    已发送告警（{'、'.join(sent)}）：{alert.subject}")
        release = ledger.published_in(settings.layout, day)
        status = (
            ("完成，已发布" if release == day else f"完成：较晚送达，已并入 {release} 的发布重新发布")
            if result.success
            else "失败（阻断检查未通过或步骤出错，未发布；详见 Dagster UI）"
        )
        print(f"[{day}] {status}  run {result.run_id}")
        if not result.success:
            failed.append(day)
    _print_summary(settings, catalog, days)
    return 1 if failed else 0


def _stale_runs(instance) -> list:
    """Runs this command started that are still marked as running though their process is gone
    (killed): the state lock is ours, so none of them can still be at work."""
    import dagster as dg

    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    return [
        run
        for run in runs
        if run.tags.get(PID_TAG, "").isdigit()
        and int(run.tags[PID_TAG]) != os.getpid()
        and not process_alive(int(run.tags[PID_TAG]))
    ]


def _print_summary(settings: Settings, catalog: dict, days: list[str]) -> None:
    print()
    print(f"{'数据集':<24}{'读入':>8}{'接受':>8}{'隔离':>8}{'退回文件':>8}")
    for name in catalog:
        entries = [e for e in (ledger.read(settings.layout, d, name) for d in days) if e is not None]
        totals = [sum(getattr(e, k) for e in entries) for k in ("rows_in", "accepted", "quarantined", "files_rejected")]
        print(f"{name:<24}" + "".join(f"{v:>10}" for v in totals))
    ignored = [
        (f"{name}/{day}/{f['file']}", f["reason"])
        for day in days
        for name in catalog
        if (entry := ledger.read(settings.layout, day, name)) is not None
        for f in entry.files
        if f["status"] == "ignored"
    ]
    ignored += [(i.path, i.reason) for i in ignored_in_inbox(settings.inbox, list(catalog))]
    if ignored:
        print(f"\n未读取的收件箱条目（{len(ignored)} 个）：")
        for path, reason in ignored:
            print(f"    {path}：{reason}")
    latest = settings.public / "latest"
    if latest.is_symlink():
        print(f"\n公开目录：{latest} → {latest.resolve().name}（已通过泄露闸门）")
    print(f"退回报告：{settings.layout.reports_dir('<日期>')}  隔离区：{settings.state / 'quarantine'}")


def cmd_withdraw(args: argparse.Namespace) -> int:
    from gongshi.metadata import RECORD_ID_PATTERN
    from gongshi.stages.takedowns import find_record
    from gongshi.takedown import add_takedown, lift_takedown, read_audit, read_takedowns, withdrawn_ids

    settings = _settings(args)
    state, layout = settings.state, settings.layout
    if not state.is_dir():
        print(f"状态目录不存在：{state}（用 --state 指定 gongshi publish 使用的状态目录）", file=sys.stderr)
        return 2
    if args.list:
        for takedown in read_takedowns(layout):
            action = "恢复公开" if takedown.action == "lift" else "撤下"
            print(
                f"{takedown.record_id}  {takedown.dataset}  {action}  {takedown.public_reason()}  "
                f"记录于 {takedown.recorded_at}"
            )
        for entry in read_audit(layout):
            if "lift" in entry:
                print(f"  恢复公开 {entry['lift']}：{entry['decision']}（{entry['at']}）")
            else:
                records = ", ".join(entry["records"])
                print(f"  重写发布 {entry['release']}：{len(entry['files'])} 个文件（记录 {records}）")
        return 0
    ids = [args.lift] if args.lift is not None else args.record_ids
    if args.lift is not None and args.record_ids:
        print("--lift 一次只恢复一条记录，不要同时给出其他 RECORD_ID", file=sys.stderr)
        return 2
    if not ids:
        print("需要至少一个 RECORD_ID（或 --lift RECORD_ID，或 --list）", file=sys.stderr)
        return 2
    empty = [i for i in ids if not i.strip()]
    if empty:
        print("RECORD_ID 不能为空", file=sys.stderr)
        return 2
    malformed = [i for i in ids if not re.fullmatch(RECORD_ID_PATTERN.strip("^$"), i.strip())]
    if malformed:
        print(
            f"不是有效的 record_id：{'、'.join(malformed)}（应为数据集字母加 16 个字母，如 bkmfaolhcjpgiigbm；"
            "在公开文件或网站的记录中可以找到）",
            file=sys.stderr,
        )
        return 2
    if not (args.reason and args.authority and args.date):
        print("需要 --reason（决定内容）、--authority（决定机关）和 --date（决定日期）", file=sys.stderr)
        return 2
    catalog = settings.catalog()
    with state_lock(layout, "gongshi withdraw", on_wait=lambda info: print(f"等待{describe(info)}结束 …")):
        if args.lift is not None:
            record_id = args.lift.strip()
            if record_id not in withdrawn_ids(layout):
                print(f"该记录没有被撤下，无需恢复：{record_id}", file=sys.stderr)
                return 1
            lift_takedown(layout, record_id, args.reason, args.authority, args.date)
            print(f"已记录恢复公开：{record_id}。下一次 gongshi publish 将把它放回新发布和 latest，并写入审计记录。")
            return 0
        unknown = []
        for record_id in (i.strip() for i in ids):
            dataset = find_record(settings, catalog, record_id)
            if dataset is None:
                unknown.append(record_id)
                continue
            add_takedown(layout, record_id, dataset.id, args.reason, args.authority, args.date)
            print(
                f"已记录撤下：{record_id}（{dataset.title}）。下一次 gongshi publish 将把它从新发布、latest "
                "和所有保留的发布中撤下，并写入审计记录。"
            )
    for record_id in unknown:
        print(f"登记簿中没有该记录：{record_id}", file=sys.stderr)
    return 1 if unknown else 0


def cmd_scan(args: argparse.Namespace) -> int:
    import json

    from gongshi.leakscan import format_report, scan_directory
    from gongshi.stages.checks import leak_gate

    if not args.directory.is_dir():
        print(f"不是目录：{args.directory}", file=sys.stderr)
        return 2
    if args.state:
        if not args.state.is_dir():
            print(f"状态目录不存在：{args.state}", file=sys.stderr)
            return 2
        settings = _settings(args)
        with state_lock(settings.layout, "gongshi scan", on_wait=lambda info: print(f"等待{describe(info)}结束 …")):
            report = leak_gate(settings, settings.catalog(), args.directory)
    else:
        report = scan_directory(args.directory)
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0 if report.clean else 1


def cmd_check(args: argparse.Namespace) -> int:
    from gongshi import checking

    try:
        codes = checking.read_codes(args.codes.read_bytes())
        header, rows = checking.check(codes, checking.Release(str(args.release)))
    except (OSError, ValueError) as error:
        print(f"gongshi check: {error}", file=sys.stderr)
        return 2
    data = checking.to_csv(header, rows)
    if args.out:
        args.out.write_bytes(data)
        unknown = sum(r["核查结果"] == checking.UNKNOWN for r in rows)
        malformed = sum(r["核查结果"].startswith(checking.MALFORMED) for r in rows)
        print(f"{len(rows)} 个代码：{malformed} 个代码有误，{unknown} 个未收录；结果写入 {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0


def cmd_sample_data(args: argparse.Namespace) -> int:
    from gongshi.sampledata import write_sample_inbox

    summary = write_sample_inbox(
        args.out, records=args.records, days=args.days, seed=args.seed, start=dt.date.fromisoformat(args.start)
    )
    for name, count in summary.items():
        print(f"{name:<24}{count:>10} rows")
    print(f"written to {args.out}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    settings = _settings(args)
    prepare_instance(settings)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(args.port)]
    return subprocess.call(command, cwd=PROJECT_ROOT)


if __name__ == "__main__":
    sys.exit(main())
