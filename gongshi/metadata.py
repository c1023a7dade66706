"""Metadata a machine can harvest: the published Table Schema of each dataset, the Frictionless
Data Package of a release, DCAT (JSON-LD) for data portals and schema.org `Dataset` for search
engines. Everything here is derived from datasets/*/ and the files of the release."""

from __future__ import annotations

from urllib.parse import quote

from gongshi.catalog import Dataset, SchemaField
from gongshi.redaction import public_fields

CHANGES = ("added", "removed", "corrected", "expired", "withdrawn", "retracted")
CHANGE_LABELS = {
    "added": "新增",
    "removed": "移出",
    "corrected": "更正",
    "expired": "公示期满",
    "withdrawn": "撤下",
    "retracted": "撤回报送",
}
PACKAGE_TITLE = "江苏省事中事后监管公示数据：双随机抽查结果、经营异常名录与严重违法失信名单、行政审批事项调整"
PACKAGE_DESCRIPTION = (
    "依据《省政府关于深化行政审批制度改革加强事中事后监管的意见》公开的数据，由 gongshi 每日从各部门报送中校验、"
    "脱敏后发布。每个数据集提供 CSV（Excel 可直接打开）、Parquet、JSON Lines、XLSX 格式，以及包含全部数据集的 "
    "SQLite 数据库；changes/ 目录为每日变更。"
)
MEDIA_TYPE_URI = "https://www.iana.org/assignments/media-types/"
UNSTREAMED = {"parquet"}
PAGE_DISTRIBUTIONS = 12  # schema.org distributions embedded in a dataset's page
RECORD_ID_PATTERN = "^[a-z]{1,3}[a-p]{16}$"

RECORD_ID = SchemaField(
    name="record_id",
    title="记录编号",
    type="string",
    description="记录的稳定编号：数据集字母前缀加上数据集标识与主键字段值 SHA-256 的前 16 位十六进制字符"
    "（数字 0—9 写作字母 g—p，编号中没有数字，不会被误认为证件或电话号码）；同一记录在各日发布中编号不变。",
    constraints={"required": True, "unique": True, "pattern": RECORD_ID_PATTERN},
)
META_FIELDS = [
    SchemaField(
        name="status",
        title="公示状态",
        type="string",
        description="active：公示中；removed：已移出（公示期内仍公开列入与移出信息）。",
        constraints={"required": True, "enum": ["active", "removed"]},
    ),
    SchemaField(
        name="first_published",
        title="首次公开日期",
        type="date",
        format="default",
        description="该记录首次出现在报送中、进入公开数据的日期。",
        constraints={"required": True},
    ),
    SchemaField(
        name="last_updated",
        title="最近更新日期",
        type="date",
        format="default",
        description="最近一次有报送涉及该记录（列入、更正或移出）的日期。",
        constraints={"required": True},
    ),
    SchemaField(
        name="corrected_on",
        title="最近更正日期",
        type="date",
        format="default",
        description="报送内容最近一次被更正的日期；从未更正则为空。",
    ),
    SchemaField(
        name="expires_on",
        title="公示截止日期",
        type="date",
        format="default",
        description="公示期届满之日，自该日起不再公开；无公示期限的数据为空。",
    ),
    SchemaField(
        name="flags",
        title="标注",
        type="string",
        description="以分号分隔的公开标注：missing_supervision_measures 未报送事中事后监管措施；"
        "removal_without_listing 移出记录未找到对应的列入记录。",
    ),
]
CHANGE_FIELDS = [
    SchemaField(
        name="day",
        title="变更日期",
        type="date",
        format="default",
        description="发布变更的日期。",
        constraints={"required": True},
    ),
    SchemaField(
        name="change",
        title="变更类型",
        type="string",
        constraints={"required": True, "enum": list(CHANGES)},
        description="added 新增；removed 移出；corrected 更正；expired 公示期满停止公示；"
        "withdrawn 依决定撤下（信用修复、法院裁定、更正等）；retracted 报送被更正后不再包含该记录。",
    ),
    SchemaField(
        name="record_id",
        title="记录编号",
        type="string",
        description="变更记录的稳定编号。",
        constraints={"required": True, "pattern": RECORD_ID_PATTERN},
    ),
    SchemaField(
        name="label",
        title="记录名称",
        type="string",
        description="便于阅读的记录名称（市场主体名称或事项名称）；撤下的记录不再显示。",
    ),
    SchemaField(name="field", title="字段", type="string", description="更正的字段名；其他变更为空。"),
    SchemaField(name="before", title="更正前", type="string", description="该字段更正前的公开值。"),
    SchemaField(name="after", title="更正后", type="string", description="该字段更正后的公开值。"),
    SchemaField(name="reason", title="原因", type="string", description="撤下的原因与决定机关；其他变更为空。"),
]


def download_files(dataset: Dataset, files: dict[str, dict]) -> list[tuple[str, dict, str | None]]:
    """A dataset's download files among a release's `files`: (path, info, the first-published day
    of the part or None for a whole-table file), whole files first, then parts newest first."""
    whole = f"datasets/{dataset.id}/{dataset.id}."
    parted = f"datasets/{dataset.id}/parts/{dataset.id}-"
    found = [(p, i, None) for p, i in sorted(files.items()) if p.startswith(whole)]
    parts = [(p, i, p[len(parted) : len(parted) + 10]) for p, i in files.items() if p.startswith(parted)]
    return found + sorted(parts, key=lambda f: (f[2], f[0]), reverse=True)


def published_fields(dataset: Dataset) -> list[SchemaField]:
    """The Table Schema fields of a dataset's published table, in published column order."""
    return [RECORD_ID, *public_fields(dataset), *META_FIELDS]


def table_schema(fields: list[SchemaField], primary_key: list[str] | None = None) -> dict:
    schema = {"fields": [f.model_dump(exclude_none=True) for f in fields], "missingValues": [""]}
    if primary_key:
        schema["primaryKey"] = primary_key
    return schema


def label_field(dataset: Dataset) -> str:
    """The column that names a record for people: the entity, or the approval item."""
    return "entity_name" if "entity_name" in dataset.field_names else "item_name"


def datapackage(catalog: dict[str, Dataset], day: str, files: dict[str, dict], prefix: str = "") -> dict:
    """The release's Data Package: one resource per dataset and format (with its Table Schema),
    the day's change files, and the SQLite database; `files` maps path -> {bytes, sha256}."""
    resources = []
    for dataset in catalog.values():
        schema = table_schema(published_fields(dataset), ["record_id"])
        for path, info, part in sorted(download_files(dataset, files), key=lambda f: (f[2] or "", f[0])):
            suffix = path.rsplit(".", 1)[1]
            if suffix == "jsonl" and not info["bytes"]:
                continue  # no records: frictionless cannot read an empty JSON Lines file (the CSV describes it)
            resource = {
                "name": f"{dataset.id}-{part}-{suffix}" if part else f"{dataset.id}-{suffix}",
                "type": "table",
                "path": prefix + path,
                "format": suffix,
                "mediatype": info["media_type"],
                "encoding": "utf-8",
                "title": f"{dataset.title}：{part} 首次公开的记录（{suffix.upper()}）"
                if part
                else f"{dataset.title}（{suffix.upper()}）",
                "description": dataset.description,
                "bytes": info["bytes"],
                "hash": f"sha256:{info['sha256']}",
                "schema": schema,
                "licenses": [_licence(dataset)],
                "sources": [_source(dataset)],
            }
            if suffix in UNSTREAMED:
                # frictionless reads these through pyarrow, not as a byte stream, so it cannot check
                # their size and hash: those are in manifest.json, SHA256SUMS and the DCAT record.
                del resource["bytes"], resource["hash"]
            resources.append(resource)
        change_path = f"changes/{day}/{dataset.id}.csv"
        if change_path in files:
            info = files[change_path]
            resources.append(
                {
                    "name": f"{dataset.id}-changes",
                    "type": "table",
                    "path": prefix + change_path,
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "title": f"{dataset.title}：{day} 变更",
                    "bytes": info["bytes"],
                    "hash": f"sha256:{info['sha256']}",
                    "schema": table_schema(CHANGE_FIELDS),
                    "licenses": [_licence(dataset)],
                }
            )
    if "gongshi.sqlite" in files:
        info = files["gongshi.sqlite"]
        resources.append(
            {
                "name": "gongshi-sqlite",
                "type": "file",
                "path": prefix + "gongshi.sqlite",
                "format": "sqlite",
                "mediatype": "application/vnd.sqlite3",
                "title": "全部数据集（SQLite，可用 Datasette 或 DB Browser 打开）",
                "bytes": info["bytes"],
                "hash": f"sha256:{info['sha256']}",
            }
        )
    datasets = list(catalog.values())
    return {
        "name": "gongshi-jiangsu",
        "title": PACKAGE_TITLE,
        "description": PACKAGE_DESCRIPTION,
        "version": day,
        "created": f"{day}T00:00:00+08:00",
        "keywords": [
            "双随机一公开",
            "抽查结果",
            "经营异常名录",
            "严重违法失信名单",
            "行政审批",
            "事中事后监管",
            "江苏",
        ],
        "licenses": [_licence(datasets[0])] if datasets else [],
        "sources": _unique([_source(d) for d in datasets]),
        "resources": resources,
    }


def _licence(dataset: Dataset) -> dict:
    return {"name": dataset.licence.name, "path": dataset.licence.path, "title": dataset.licence.title}


def _source(dataset: Dataset) -> dict:
    return {"title": dataset.publisher.name, "path": dataset.publisher.url}


def _unique(items: list[dict]) -> list[dict]:
    return [dict(t) for t in dict.fromkeys(tuple(sorted(i.items())) for i in items)]


def dcat(catalog: dict[str, Dataset], day: str, files: dict[str, dict], base_url: str) -> dict:
    """A DCAT-AP style catalogue in JSON-LD, with absolute download URLs of the dated release."""
    root = f"{base_url.rstrip('/')}/releases/{day}/"
    datasets = []
    for dataset in catalog.values():
        distributions = [
            {
                "@type": "dcat:Distribution",
                "dct:title": _distribution_title(dataset, path, part),
                "dcat:downloadURL": {"@id": root + quote(path)},
                "dcat:accessURL": {"@id": root + quote(path)},
                "dcat:mediaType": {"@id": MEDIA_TYPE_URI + info["media_type"]},
                "dct:format": path.rsplit(".", 1)[1].upper(),
                "dcat:byteSize": {"@value": str(info["bytes"]), "@type": "xsd:nonNegativeInteger"},
                "spdx:checksum": {
                    "@type": "spdx:Checksum",
                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                    "spdx:checksumValue": info["sha256"],
                },
                "dct:license": {"@id": dataset.licence.path},
            }
            for path, info, part in download_files(dataset, files)
        ]
        datasets.append(
            {
                "@id": f"{base_url.rstrip('/')}/latest/datasets/{dataset.id}/",
                "@type": "dcat:Dataset",
                "dct:identifier": dataset.id,
                "dct:title": {"@value": dataset.title, "@language": "zh-CN"},
                "dct:description": {"@value": dataset.description, "@language": "zh-CN"},
                "dct:publisher": {
                    "@type": "foaf:Organization",
                    "foaf:name": dataset.publisher.name,
                    "foaf:homepage": {"@id": dataset.publisher.url},
                },
                "dct:license": {"@id": dataset.licence.path},
                "dct:modified": {"@value": day, "@type": "xsd:date"},
                "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/ZHO"},
                "dct:accrualPeriodicity": {"@id": "http://publications.europa.eu/resource/authority/frequency/DAILY"},
                "dct:spatial": {"@value": "江苏省", "@language": "zh-CN"},
                "dcat:keyword": [dataset.title, "江苏", "公示"],
                "dcat:distribution": distributions,
            }
        )
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": f"{base_url.rstrip('/')}/latest/dcat.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": {"@value": PACKAGE_TITLE, "@language": "zh-CN"},
        "dct:description": {"@value": PACKAGE_DESCRIPTION, "@language": "zh-CN"},
        "dct:modified": {"@value": day, "@type": "xsd:date"},
        "dcat:dataset": datasets,
    }


def _distribution_title(dataset: Dataset, path: str, part: str | None) -> str:
    kind = path.rsplit(".", 1)[1].upper()
    return f"{dataset.title}：{part} 首次公开的记录（{kind}）" if part else f"{dataset.title}（{kind}）"


def schema_org(dataset: Dataset, day: str, files: dict[str, dict], base_url: str) -> dict:
    """schema.org `Dataset` markup for search engines (embedded in the dataset's page)."""
    root = f"{base_url.rstrip('/')}/releases/{day}/"
    return {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": dataset.title,
        "description": dataset.description,
        "url": f"{base_url.rstrip('/')}/latest/datasets/{dataset.id}/",
        "identifier": dataset.id,
        "inLanguage": "zh-CN",
        "isAccessibleForFree": True,
        "license": dataset.licence.path,
        "dateModified": day,
        "spatialCoverage": {"@type": "Place", "name": "江苏省"},
        "creator": {"@type": "GovernmentOrganization", "name": dataset.publisher.name, "url": dataset.publisher.url},
        "variableMeasured": [f.title for f in published_fields(dataset)],
        "distribution": [
            {
                "@type": "DataDownload",
                "encodingFormat": info["media_type"],
                "contentUrl": root + quote(path),
                "contentSize": str(info["bytes"]),
            }
            # on the dataset's page: the whole files, or the newest parts (dcat.jsonld lists all)
            for path, info, _ in download_files(dataset, files)[:PAGE_DISTRIBUTIONS]
        ],
    }
