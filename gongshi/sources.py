"""Pulling deliveries from where departments keep them: exchange databases (前置库, through
SQLAlchemy) and paged JSON APIs.

A pull writes what it got as one JSON file per source and day under `state/pulled/<dataset>/<day>/`,
named `<department>_<source>.json`; the day's reading takes it like a file dropped in the inbox, so
pulled rows meet exactly the same validation, quarantine, ledger and register. Pulls are
incremental on the source's cursor column (an update timestamp or a sequence): the watermark —
the last cursor value, and which rows at that value were already taken — advances only once the
day's rows are in the register. A pull that fails or is killed is simply repeated from the old
watermark: no gaps, no duplicates; an updated row with a newer cursor value arrives as a correction.

Connection strings and tokens come from environment variables and never appear in a message:
every error is scrubbed of them before anyone sees it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from gongshi.catalog import Dataset, HttpSource, SqlSource, normalise_header
from gongshi.faults import checkpoint
from gongshi.paths import StateLayout
from gongshi.settings import secret
from gongshi.storage import write_json, write_text

PulledSource = SqlSource | HttpSource


class SourceError(Exception):
    """A source could not be read: names the source and the cause; carries no secret."""

    def __init__(self, dataset: str, source: PulledSource, cause: str, detail: str = ""):
        self.cause = cause
        self.detail = detail
        super().__init__(
            f"来源 {dataset}/{source.name}（{source.type}）未能取数：{cause}" + (f"。{detail}" if detail else "")
        )


@dataclass
class Secrets:
    """What a source needs from the environment; `scrub` removes all of it from any text."""

    url: str | None = None
    token: str | None = None

    def values(self) -> list[str]:
        values = [v for v in (self.url, self.token) if v]
        if self.url and "://" in self.url:
            from sqlalchemy.engine import make_url

            try:
                password = make_url(self.url).password
            except Exception:
                password = None
            if password:
                values.append(str(password))
        return sorted(values, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self.values():
            text = text.replace(value, "***")
        return text


def secrets_from_environment(source: PulledSource) -> Secrets:
    """The source's URL and token from the variables its dataset.yaml names (missing -> None)."""
    url = secret(source.url_env) if source.url_env else getattr(source, "url", None)
    token = secret(source.token_env) if getattr(source, "token_env", None) else None
    return Secrets(url=url, token=token)


@dataclass
class Watermark:
    """How far a source has been read: the largest cursor value taken, and digests of the rows
    taken at exactly that value (rows sharing it may still arrive)."""

    value: str | int | None = None
    kind: str = "none"  # int | datetime | text | none
    at_value: list[str] = field(default_factory=list)

    def bound(self):
        if self.kind == "datetime":
            return dt.datetime.fromisoformat(self.value)
        return self.value


@dataclass
class PullResult:
    dataset: str
    source: str
    day: str
    status: str  # pulled | reused | failed
    rows: int = 0
    pages: int = 0
    retries: int = 0
    watermark_before: dict = field(default_factory=dict)
    watermark_after: dict = field(default_factory=dict)
    committed: bool = False
    cause: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# --- where pulls live ------------------------------------------------------------------------------


def pulled_dir(state: StateLayout, dataset: str, day: str) -> Path:
    return state.root / "pulled" / dataset / day


def _file_stem(source: PulledSource) -> str:
    return f"{source.department}_{source.name}"


def watermark_path(state: StateLayout, dataset: str, source: str) -> Path:
    return state.root / "sources" / dataset / f"{source}.json"


def read_watermark(state: StateLayout, dataset: str, source: str) -> Watermark:
    path = watermark_path(state, dataset, source)
    return Watermark(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else Watermark()


def failures(state: StateLayout, dataset: str, day: str) -> list[dict]:
    """Sources that delivered nothing for `day`, with the cause (for the ledger)."""
    folder = pulled_dir(state, dataset, day)
    return (
        [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.failed.json"))]
        if folder.is_dir()
        else []
    )


# --- pulling --------------------------------------------------------------------------------------------


def pull(state: StateLayout, dataset: Dataset, source: PulledSource, day: str, secrets: Secrets) -> PullResult:
    """Pull `source` for `day` into the state directory. Raises SourceError (scrubbed) on failure,
    after recording the failure for the ledger."""
    folder = pulled_dir(state, dataset.id, day)
    sidecar = folder / f"{_file_stem(source)}.pull.json"
    if sidecar.is_file():
        previous = PullResult(**json.loads(sidecar.read_text(encoding="utf-8")))
        if previous.committed:  # the day's rows are already in the register: pulling again would shift days
            previous.status = "reused"
            return previous
    watermark = read_watermark(state, dataset.id, source.name)
    failed = folder / f"{_file_stem(source)}.failed.json"
    try:
        if isinstance(source, SqlSource):
            raw_rows, columns, pages, retries = _fetch_sql(dataset, source, watermark, secrets)
        else:
            raw_rows, columns, pages, retries = _fetch_http(dataset, source, watermark, secrets)
        rows, after = _new_rows(dataset, source, raw_rows, columns, watermark)
    except SourceError as error:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(
            failed,
            {
                "dataset": dataset.id,
                "source": source.name,
                "type": source.type,
                "department": source.department,
                "day": day,
                "cause": secrets.scrub(str(error)),
            },
        )
        sidecar.unlink(missing_ok=True)
        (folder / f"{_file_stem(source)}.json").unlink(missing_ok=True)
        raise SourceError(dataset.id, source, secrets.scrub(error.cause), secrets.scrub(error.detail)) from None
    failed.unlink(missing_ok=True)
    checkpoint("pull:fetched")
    write_text(folder / f"{_file_stem(source)}.json", json.dumps(rows, ensure_ascii=False, indent=0) + "\n")
    result = PullResult(
        dataset.id, source.name, day, "pulled", len(rows), pages, retries, asdict(watermark), asdict(after)
    )
    write_json(sidecar, result.to_dict())
    return result


def commit(state: StateLayout, dataset: str, day: str) -> list[str]:
    """Advance the watermarks of the sources pulled for `day` (call once its rows are registered);
    never move one backwards (an older day processed late)."""
    committed = []
    folder = pulled_dir(state, dataset, day)
    for sidecar in sorted(folder.glob("*.pull.json")) if folder.is_dir() else []:
        result = PullResult(**json.loads(sidecar.read_text(encoding="utf-8")))
        if result.committed:
            continue
        current = read_watermark(state, dataset, result.source)
        after = Watermark(**result.watermark_after)
        if _later_or_equal(after, current):
            write_json(watermark_path(state, dataset, result.source), asdict(after))
        result.committed = True
        write_json(sidecar, result.to_dict())
        committed.append(result.source)
    return committed


def _later_or_equal(a: Watermark, b: Watermark) -> bool:
    if b.value is None:
        return True
    if a.value is None:
        return False
    return a.bound() >= b.bound()


def _mapping(dataset: Dataset, source: PulledSource, columns: list[str]) -> dict[str, str]:
    """Source column -> field; a column the agreement does not name means the source changed."""
    mapping, unknown = {}, []
    for column in columns:
        if column in source.columns:
            mapping[column] = source.columns[column]
        elif column == source.cursor or column in source.ignore:
            continue
        elif not source.columns and normalise_header(column) in dataset.header_lookup:
            mapping[column] = dataset.header_lookup[normalise_header(column)]
        else:
            unknown.append(column)
    missing = [f for f in dataset.field_names if dataset.schema_field(f).required and f not in mapping.values()]
    expected = [c for c in source.columns if c not in columns]
    if unknown or missing or expected:
        parts = []
        if unknown:
            parts.append(f"出现未约定的列 {', '.join(unknown)}")
        if expected:
            parts.append(f"缺少约定的列 {', '.join(expected)}")
        if missing:
            parts.append(f"缺少必填字段 {', '.join(missing)}")
        raise SourceError(
            dataset.id,
            source,
            "来源的表结构与约定不一致（" + "；".join(parts) + "）",
            "请与报送部门核对后更新 dataset.yaml 中该来源的 columns / ignore",
        )
    return mapping


def _new_rows(
    dataset: Dataset, source: PulledSource, raw_rows: list[dict], columns: list[str] | None, watermark: Watermark
):
    """Rows past the watermark (mapped to field names, as text) and the watermark after them.
    `columns` are the source's columns when it can say so even without rows (a database can)."""
    columns = columns if columns is not None else (list(raw_rows[0]) if raw_rows else None)
    if columns is None:
        return [], watermark  # an API page without records says nothing about its columns
    if source.cursor not in columns:
        raise SourceError(dataset.id, source, f"来源的表结构与约定不一致（没有游标列 {source.cursor}）")
    mapping = _mapping(dataset, source, columns)
    seen = set(watermark.at_value)
    rows, kind, top, at_top = [], watermark.kind, watermark.value, set(watermark.at_value)
    for raw in raw_rows:
        value, value_kind = _cursor_value(raw[source.cursor])
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]
        if watermark.value is not None and value == watermark.value and digest in seen:
            continue  # taken on an earlier day at the same cursor value
        rows.append({field: _text(raw[column]) for column, field in mapping.items()})
        kind = value_kind
        if top is None or _key(value, kind) > _key(top, kind):
            top, at_top = value, {digest}
        elif value == top:
            at_top.add(digest)
    return rows, Watermark(top, kind if top is not None else "none", sorted(at_top))


def _key(value, kind: str):
    return dt.datetime.fromisoformat(value) if kind == "datetime" else value


def _cursor_value(value) -> tuple[str | int, str]:
    if isinstance(value, bool):
        return int(value), "int"
    if isinstance(value, int):
        return value, "int"
    if isinstance(value, dt.datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).isoformat(), "datetime"
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).isoformat(), "datetime"
        except ValueError:
            return value, "text"
    return str(value), "text"


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- SQL ---------------------------------------------------------------------------------------------------


def _fetch_sql(dataset: Dataset, source: SqlSource, watermark: Watermark, secrets: Secrets):
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError, ProgrammingError, SQLAlchemyError

    if not secrets.url:
        raise SourceError(dataset.id, source, f"环境变量 {source.url_env} 未设置（数据库连接串）")
    try:
        url = sa.engine.make_url(secrets.url)
        connect_args = {"connect_timeout": int(source.timeout_seconds)}
        if url.get_backend_name() == "mysql":
            connect_args |= {"read_timeout": int(source.timeout_seconds), "write_timeout": int(source.timeout_seconds)}
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except (NoSuchModuleError, SQLAlchemyError, ValueError) as error:
        raise SourceError(
            dataset.id, source, "连接串无效或缺少数据库驱动", secrets.scrub(type(error).__name__)
        ) from None
    quote = engine.dialect.identifier_preparer.quote
    base = source.query if source.query else "SELECT * FROM " + ".".join(quote(p) for p in source.table.split("."))
    sql = f"SELECT * FROM ({base}) AS src"
    params = {}
    if watermark.value is not None:
        sql += f" WHERE src.{quote(source.cursor)} >= :watermark"
        params["watermark"] = watermark.bound()
    sql += f" ORDER BY src.{quote(source.cursor)}"
    rows: list[dict] = []
    batches = 0
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(sql), params)
            columns = list(result.keys())
            for batch in result.mappings().partitions(source.batch_size):
                rows.extend(dict(row) for row in batch)
                batches += 1
                checkpoint("pull:batch")
    except OperationalError as error:
        raise SourceError(dataset.id, source, _sql_cause(error), secrets.scrub(_first_line(error))) from None
    except ProgrammingError as error:
        raise SourceError(
            dataset.id, source, "来源的表结构与约定不一致（查询失败：表或列不存在）", secrets.scrub(_first_line(error))
        ) from None
    except (DBAPIError, SQLAlchemyError) as error:
        raise SourceError(dataset.id, source, "数据库返回错误", secrets.scrub(_first_line(error))) from None
    finally:
        engine.dispose()
    return rows, columns, batches, 0


def _sql_cause(error) -> str:
    text = str(error).lower()
    if "refused" in text or "could not connect" in text or "can't connect" in text:
        return "无法连接数据库（连接被拒绝）"
    if "timeout" in text or "timed out" in text:
        return "连接数据库超时"
    if "password" in text or "access denied" in text or "authentication" in text:
        return "数据库拒绝登录（用户名或密码错误）"
    return "数据库连接失败"


def _first_line(error: Exception) -> str:
    return (
        str(getattr(error, "orig", error)).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    )


# --- HTTP --------------------------------------------------------------------------------------------------


def _fetch_http(dataset: Dataset, source: HttpSource, watermark: Watermark, secrets: Secrets):
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    if not secrets.url:
        raise SourceError(dataset.id, source, f"环境变量 {source.url_env} 未设置（接口地址）")
    if source.token_env and not secrets.token:
        raise SourceError(dataset.id, source, f"环境变量 {source.token_env} 未设置（接口令牌）")
    retry = Retry(
        total=source.retries,
        connect=source.retries,
        read=source.retries,
        status=source.retries,
        backoff_factor=source.backoff_seconds,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=True,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["Accept"] = "application/json"
    if secrets.token:
        session.headers["Authorization"] = f"Bearer {secrets.token}"
    paging = source.paging
    params: dict[str, str | int] = {}
    if source.since_param and watermark.value is not None:
        params[source.since_param] = watermark.value
    url, rows, pages, retries = secrets.url, [], 0, 0
    number, offset = paging.first_page, 0
    try:
        while url:
            page_params = dict(params)
            if paging.style == "page":
                page_params |= {paging.page_param: number, paging.size_param: paging.size}
            elif paging.style == "offset":
                page_params |= {paging.offset_param: offset, paging.limit_param: paging.size}
            elif pages:
                page_params = {}  # a "next" link carries its own query
            response = session.get(url, params=page_params, timeout=(source.timeout_seconds, source.timeout_seconds))
            retries += len(response.raw.retries.history) if response.raw.retries else 0
            response.raise_for_status()
            try:
                payload = response.json()
            except ValueError:
                raise SourceError(
                    dataset.id, source, f"第 {pages + 1} 页不是合法的 JSON（内容被截断或格式错误）"
                ) from None
            records = _dig(payload, source.records_path)
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise SourceError(
                    dataset.id, source, f"第 {pages + 1} 页在 {source.records_path or '顶层'} 没有记录数组"
                )
            rows.extend(records)
            pages += 1
            if paging.style == "next":
                following = _dig(payload, paging.next_path)
                url = urljoin(url, following) if following else None
            elif len(records) < paging.size:
                url = None
            number, offset = number + 1, offset + len(records)
    except SourceError:
        raise
    except requests.exceptions.RetryError as error:
        raise SourceError(
            dataset.id,
            source,
            f"接口在 {source.retries} 次重试后仍返回错误（限流或服务器错误）",
            secrets.scrub(_reason(error)),
        ) from None
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as error:
        timed_out = isinstance(error, requests.exceptions.Timeout) or "timed out" in str(error).lower()
        cause = "接口响应超时" if timed_out else "无法连接接口（连接被拒绝或地址不可达）"
        raise SourceError(
            dataset.id, source, f"{cause}，已重试 {source.retries} 次", secrets.scrub(_reason(error))
        ) from None
    except requests.exceptions.HTTPError as error:
        raise SourceError(
            dataset.id, source, f"接口返回 HTTP {error.response.status_code}", secrets.scrub(_reason(error))
        ) from None
    finally:
        session.close()
    return rows, None, pages, retries


def _dig(payload, path: str):
    for part in [p for p in path.split(".") if p]:
        payload = payload.get(part) if isinstance(payload, dict) else None
    return payload


def _reason(error: Exception) -> str:
    reason = getattr(error, "args", [error])[0]
    return type(getattr(reason, "reason", reason)).__name__
