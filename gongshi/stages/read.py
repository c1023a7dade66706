"""Stage 1, read: every file delivered for a dataset on a day — dropped in the inbox or pulled from a
source — read in a contained worker into rows (all text, as delivered), each row keeping its file,
sheet and row number. A file that cannot be read as a whole is rejected with a reason; a day already
registered that lost files or rows is refused unless the operator retracts it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial

import pyarrow.parquet as pq

from gongshi import ledger, progress, retraction, sources
from gongshi.catalog import Dataset
from gongshi.ingest import FINDING_SCHEMA, Delivery, FileResult, read_delivery
from gongshi.sandbox import read_file_contained
from gongshi.settings import Settings
from gongshi.stages import Json, bullets
from gongshi.storage import write_json, write_parquet


@dataclass
class ReadResult:
    files: int
    files_rejected: int
    rows_in: int
    fingerprint: str
    rejections: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    encodings: dict[str, str] = field(default_factory=dict)
    retracted: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {
            "files": self.files,
            "files_rejected": self.files_rejected,
            "rows_in": self.rows_in,
            "encodings": Json(self.encodings),
            "rejections": bullets(self.rejections),
            "ignored": bullets(self.ignored),
            "retracted_by_operator": Json(self.retracted),
            "fingerprint": self.fingerprint,
        }


class DeliveryVanished(Exception):
    """A day already registered lost files or rows since: a silent retraction, refused."""

    def __init__(self, dataset: Dataset, day: str, vanished: list[str]):
        self.dataset, self.day, self.vanished = dataset, day, vanished
        super().__init__(
            f"{dataset.title}（{dataset.id}）{day} 的报送已经处理并发布过，现在{'；'.join(vanished)}。"
            f"已拒绝处理，上线的发布保持不变。如果文件是被误移走的，请放回 {dataset.id}/{day}/ 后重新运行；"
            f"如果部门确实撤回了这些数据，请运行 gongshi publish --date {day} --retract --reason 撤回原因，"
            "撤回将像撤下决定一样记入审计记录。"
        )


@progress.stage("读取")
def run(settings: Settings, dataset: Dataset, day: str) -> ReadResult:
    """Read the day's files into rows + findings; record every file's fate."""
    layout = settings.layout
    delivery = read_delivery(
        settings.inbox,
        dataset,
        day,
        sources.pulled_dir(layout, dataset.id, day),
        sources.failures(layout, dataset.id, day),
        reader=partial(read_file_contained, limits=settings.read_limits),
    )
    vanished = vanished_deliveries(settings, dataset, day, delivery)
    if vanished and not settings.retract:
        ledger.refuse(layout, dataset.id, day, vanished)
        raise DeliveryVanished(dataset, day, vanished)
    if vanished:
        retraction.record(layout, dataset.id, day, vanished, settings.retract_reason)
    write_parquet(delivery.rows, layout.rows(day, dataset.id))
    write_parquet(delivery.findings, layout.findings(day, dataset.id))
    write_json(
        layout.files(day, dataset.id),
        {"fingerprint": delivery.fingerprint, "files": [f.to_dict() for f in delivery.files]},
    )
    rejected = [f for f in delivery.files if f.status not in ("read", "ignored")]
    return ReadResult(
        files=len(delivery.files),
        files_rejected=len(rejected),
        rows_in=delivery.rows.num_rows,
        fingerprint=delivery.fingerprint,
        rejections={f.file: f.reason for f in rejected},
        ignored={f.file: f.reason for f in delivery.files if f.status == "ignored"},
        encodings={f.file: f.encoding or f.format for f in delivery.files if f.status == "read"},
        retracted=vanished,
    )


def vanished_deliveries(settings: Settings, dataset: Dataset, day: str, delivery: Delivery) -> list[str]:
    """What a registered day lost since it was last read: files that are gone, files with fewer rows."""
    before = ledger.read(settings.layout, day, dataset.id)
    if before is None or before.registered is None:
        return []
    now = {f.file: f.rows_in for f in delivery.files if f.status == "read"}
    lost = []
    for entry in before.files:
        name, rows = entry["file"], entry["rows_in"]
        if entry["status"] != "read":
            continue
        if name not in now:
            lost.append(f"文件“{name}”（{rows} 行）不见了")
        elif now[name] < rows:
            lost.append(f"文件“{name}”从 {rows} 行减少到 {now[name]} 行")
    return lost


def load(settings: Settings, dataset: Dataset, day: str) -> Delivery:
    """What `run` wrote, for the next stage."""
    layout = settings.layout
    manifest = json.loads(layout.files(day, dataset.id).read_text(encoding="utf-8"))
    return Delivery(
        dataset=dataset.id,
        day=day,
        rows=pq.read_table(layout.rows(day, dataset.id)),
        findings=pq.read_table(layout.findings(day, dataset.id), schema=FINDING_SCHEMA),
        files=[FileResult(**f) for f in manifest["files"]],
        fingerprint=manifest["fingerprint"],
    )
