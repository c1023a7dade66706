"""Stage 4, ledger: the day across datasets — rows in, accepted, quarantined, registered — and every
way the counts fail to reconcile (`gongshi.ledger`), written to `ledger/<day>/day.json`, with the
inbox entries outside any day folder that were not read, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from gongshi import ledger
from gongshi.catalog import Dataset
from gongshi.inbox import ignored_in_inbox
from gongshi.settings import Settings
from gongshi.stages import Markdown
from gongshi.storage import write_json

TOTALS = ("rows_in", "accepted", "quarantined", "warnings", "files_rejected")


@dataclass
class DayLedger:
    day: str
    totals: dict[str, int]
    problems: list[str] = field(default_factory=list)  # the blocking check
    datasets: dict[str, dict] = field(default_factory=dict)
    inbox_ignored: list[dict] = field(default_factory=list)

    def metadata(self) -> dict:
        rows = [
            f"| {name} | {e['rows_in']} | {e['accepted']} | {e['quarantined']} | {e['files_rejected']} |"
            for name, e in self.datasets.items()
        ]
        table = "\n".join(["| 数据集 | 读入 | 接受 | 隔离 | 退回文件 |", "|---|---|---|---|---|", *rows])
        ignored = [f"- `{i['path']}`：{i['reason']}" for i in self.inbox_ignored]
        return {
            **self.totals,
            "by_dataset": Markdown(table),
            "inbox_ignored": Markdown("\n".join(ignored) or "（无）"),
        }


def run(settings: Settings, catalog: dict[str, Dataset], day: str) -> DayLedger:
    """The whole day across datasets, written to `ledger/<day>/day.json`, with any problems."""
    entries = ledger.read_day(settings.layout, day)
    problems = [f"{name}: no ledger entry" for name in catalog if name not in entries]
    problems += [f"{name}: {p}" for name, entry in entries.items() for p in entry.problems()]
    problems += [f"{name}: not registered" for name, entry in entries.items() if entry.registered is None]
    result = DayLedger(
        day=day,
        totals={key: sum(getattr(e, key) for e in entries.values()) for key in TOTALS},
        problems=problems,
        datasets={name: e.to_dict() for name, e in entries.items()},
        inbox_ignored=[asdict(i) for i in ignored_in_inbox(settings.inbox, list(catalog))],
    )
    write_json(settings.layout.ledger_dir(day) / ledger.DAY_FILE, asdict(result))
    return result
