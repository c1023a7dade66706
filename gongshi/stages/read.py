"""Stage 1, read: every file delivered for a dataset on a day — dropped in the inbox or pulled from a
source — read in a contained worker into rows (all text, as delivered), each row keeping its file,
sheet and row number. A file that cannot be read as a whole is rejected with a reason; a day already
registered that lost files or rows is refused unless the operator retracts it."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq

from gongshi import ledger, progress, retraction, sources
from gongshi.catalog import Dataset
from gongshi.inbox import delivery_files
from gongshi.ingest import FINDING_SCHEMA, Delivery, FileResult, read_delivery
from gongshi.sandbox import read_file_contained
from gongshi.settings import ReadLimits, Settings
from gongshi.stages import Json, bullets
from gongshi.storage import file_identity, read_parquet, write_json, write_parquet


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
def run(settings: Settings, dataset: Dataset, day: str, ahead: Sequence[Dataset] = ()) -> ReadResult:
    """Read the day's files into rows + findings; record every file's fate. `ahead`: the datasets
    this run reads next — their delivered files are read now, beside this one and the stages that
    follow it (`read_ahead`)."""
    layout = settings.layout
    with _AHEAD_LOCK:
        _STARTED.add((str(settings.inbox), dataset.id, day))
    read_ahead(settings, ahead, day)
    delivery = read_delivery(
        settings.inbox,
        dataset,
        day,
        sources.pulled_dir(layout, dataset.id, day),
        sources.failures(layout, dataset.id, day),
        reader=partial(_read, limits=settings.read_limits),
    )
    vanished = vanished_deliveries(settings, dataset, day, delivery)
    if vanished and not settings.retract:
        ledger.refuse(layout, dataset.id, day, vanished)
        raise DeliveryVanished(dataset, day, vanished)
    if vanished:
        retraction.record(layout, dataset.id, day, vanished, settings.retract_reason)
    write_parquet(delivery.rows, layout.rows(day, dataset.id), hand_on=True)  # validated next
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
        rows=read_parquet(layout.rows(day, dataset.id)),
        findings=pq.read_table(layout.findings(day, dataset.id), schema=FINDING_SCHEMA),
        files=[FileResult(**f) for f in manifest["files"]],
        fingerprint=manifest["fingerprint"],
    )


# -- reading ahead --------------------------------------------------------------------------------

AHEAD_AT_ONCE = 2  # files read ahead at the same time, each in its own contained worker


def read_ahead(settings: Settings, datasets: Sequence[Dataset], day: str) -> None:
    """Start reading the files delivered in the inbox for `datasets` on `day`, the largest first, in
    background threads (each file in its contained worker, `AHEAD_AT_ONCE` at a time), unless they are
    being read already. A day's datasets are read one after another, and the province's largest
    delivery (the inspections': 3.2 of a first day's 5 s of reading) came last, while a core waited:
    read ahead, it is read while this process validates and registers the datasets before it. The
    stage of each dataset takes what was read ahead for a file only if the file is still the one that
    was read (`_ahead_key`: its path and `storage.file_identity`; the dataset's configuration; the
    limits); anything else — a file changed since, a read ahead that failed — is read again by the
    stage itself, as it always was."""
    limits = settings.read_limits
    jobs = []
    with _AHEAD_LOCK:
        # what another day left unused (a day that stopped before its later datasets) goes
        for key in [k for k in _AHEAD if k[1] != day]:
            del _AHEAD[key]
        _STARTED.intersection_update({s for s in _STARTED if s[2] == day})
        for dataset in datasets:
            if (str(settings.inbox), dataset.id, day) in _STARTED:  # its stage read it already (or reads it now)
                continue
            for path in delivery_files(settings.inbox, dataset.id, day):
                key = _ahead_key(path, dataset, day)
                if key is None or key in _AHEAD:
                    continue
                future: Future = Future()
                _AHEAD[key] = (dataset, limits, future)
                jobs.append((key[3][1], path, dataset, future))  # by size
    if not jobs:
        return
    jobs.sort(key=lambda job: -job[0])
    queue = iter(jobs)  # taken by the threads under the lock
    for _ in range(min(AHEAD_AT_ONCE, len(jobs))):
        threading.Thread(target=_read_ahead_from, args=(queue, limits), daemon=True).start()


def _read_ahead_from(queue, limits: ReadLimits) -> None:
    while True:
        with _AHEAD_LOCK:
            job = next(queue, None)
        if job is None:
            return
        _, path, dataset, future = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(read_file_contained(path, dataset, limits))
        except BaseException as error:  # the stage reads the file itself, and meets its error there
            future.set_exception(error)


def _read(path: Path, dataset: Dataset, limits: ReadLimits):
    """`read_file_contained`, or what was read ahead for the same file, dataset and limits."""
    key = _ahead_key(path, dataset, None)
    found = None
    with _AHEAD_LOCK:
        for ahead_key in [k for k in _AHEAD if key is not None and k[0] == key[0] and k[2:] == key[2:]]:
            found = _AHEAD.pop(ahead_key)
    if found is not None:
        ahead_dataset, ahead_limits, future = found
        # waited for without raising what the read ahead met (an interrupt of this thread still stops it)
        if ahead_dataset == dataset and ahead_limits == limits and future.exception() is None:
            return future.result()
    return read_file_contained(path, dataset, limits)


def _ahead_key(path: Path, dataset: Dataset, day: str | None) -> tuple | None:
    """What identifies a read ahead: the dataset, the day, the file as it is on disk now."""
    identity = file_identity(path)
    return None if identity is None else (dataset.id, day, str(path), identity)


_AHEAD: dict[tuple, tuple[Dataset, ReadLimits, Future]] = {}
_STARTED: set[tuple[str, str, str]] = set()  # (inbox, dataset, day) whose read stage began in this process
_AHEAD_LOCK = threading.Lock()
