"""Metadata a machine can harvest: the published Table Schema of each dataset, the Frictionless
Data Package of a release, DCAT (JSON-LD) for data portals and schema.org `Dataset` for search
engines. Everything here is derived from datasets/*/ and the files of the release."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from gongshi.catalog import Contact, Dataset, SchemaField, catalogue_info
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
MEDIA_TYPE_URI = "https://www.iana.org/assignments/media-types/"
SELF_DESCRIBED = {"parquet"}  # described as file resources in the Data Package (see `datapackage`)
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
        name="publication_delay",
        title="公开用时（工作日）",
        type="integer",
        description="信息产生之日（检查、决定、认定或生效日期）后至首次公开之日的工作日数，按国务院公布的节假日和调休安排计算。",
    ),
    SchemaField(
        name="published_on_time",
        title="是否按时公开",
        type="boolean",
        description="首次公开是否在规定期限内（默认自信息产生之日起 20 个工作日，"
        "《企业信息公示暂行条例》第六条、第七条）；所用日历未覆盖的年份按周一至周五估算。",
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
    found = sorted((p, i, None) for p, i in files.items() if p.startswith(whole))  # filtered, then sorted
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
            if suffix in SELF_DESCRIBED:
                # frictionless reads Parquet through pyarrow, not as a byte stream, and then cannot
                # check a table resource's bytes and hash; as a file resource it checks both, and the
                # file carries its own schema (with each field's title and description).
                resource["type"] = "file"
                del resource["schema"], resource["encoding"]
                resource["description"] += (
                    " 字段及其中文名称、说明保存在 Parquet 文件自身的元数据中（与同名 CSV 的表结构一致）。"
                )
            resources.append(resource)
        changes = (p for p in files if p.startswith("changes/") and p.endswith(f"/{dataset.id}.csv"))
        for change_path in sorted(changes):
            info = files[change_path]
            change_day = change_path.split("/")[1]
            resources.append(
                {
                    "name": f"{dataset.id}-changes-{change_day}",
                    "type": "table",
                    "path": prefix + change_path,
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "title": f"{dataset.title}：{change_day} 变更",
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
    info = catalogue_info(catalog)
    return {
        "name": "gongshi-jiangsu",
        "title": info.title,
        "description": info.description,
        "version": day,
        "created": f"{day}T00:00:00+08:00",
        "keywords": info.keywords,
        "licenses": [{"name": info.licence.name, "path": info.licence.path, "title": info.licence.title}],
        "sources": _unique([_source(d) for d in datasets]),
        "resources": resources,
    }


def _licence(dataset: Dataset) -> dict:
    return {"name": dataset.licence.name, "path": dataset.licence.path, "title": dataset.licence.title}


def _source(dataset: Dataset) -> dict:
    return {"title": dataset.publisher.name, "path": dataset.publisher.url}


def _unique(items: list[dict]) -> list[dict]:
    return [dict(t) for t in dict.fromkeys(tuple(sorted(i.items())) for i in items)]


# Vocabularies DCAT-AP 3 asks for (EU Publications Office authority tables, IANA media types, SPDX).
EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
FILE_TYPES = {
    "csv": "CSV",
    "parquet": "PARQUET",
    "jsonl": "JSON",  # the EU file-type table has no JSON Lines
    "xlsx": "XLSX",
    "sqlite": "OCTET",  # nor SQLite: an octet stream, with its IANA media type beside
    "jsonld": "JSON_LD",
    "json": "JSON",
}
# IANA registered types only (JSON Lines has none registered: its distributions give the format only).
IANA_TYPES = {
    "text/csv",
    "application/vnd.apache.parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.sqlite3",
    "application/json",
    "application/ld+json",
}
LANGUAGES = {"zh-CN": "ZHO", "zh": "ZHO", "en": "ENG"}
# The EU data themes' preferred labels (English, as the vocabulary gives them).
THEME_LABELS = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
}


@dataclass(frozen=True)
class Coverage:
    """What the records of a dataset span: the dates their information arose on."""

    start: str | None = None
    end: str | None = None


def coverage(dataset: Dataset, table) -> Coverage:
    """The first and last `arises_on` date among `table`'s records."""
    if not dataset.arises_on or dataset.arises_on not in table.column_names or not table.num_rows:
        return Coverage()
    import pyarrow.compute as pc

    bounds = pc.min_max(table[dataset.arises_on])
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return Coverage(str(low) if low else None, str(high) if high else None)


def _iri(uri: str, kind: str) -> dict:
    return {"@id": uri, "@type": kind}


def _text(value: str, language: str) -> dict:
    return {"@value": value, "@language": language}


def _date(value: str) -> dict:
    return {"@value": value, "@type": "xsd:date"}


def _licence_document(path: str) -> dict:
    """A licence, typed as DCAT-AP asks (ADMS licence type: these licences ask for attribution)."""
    return _iri(path, "dct:LicenseDocument") | {
        "dct:type": _iri("http://purl.org/adms/licencetype/Attribution", "skos:Concept")
        | {"skos:prefLabel": _text("Attribution", "en")}
    }


def _agent(publisher, kind: str) -> dict:
    return {
        "@id": publisher.url,
        "@type": "foaf:Agent",
        "foaf:name": publisher.name,
        "dct:type": _iri(f"http://purl.org/adms/publishertype/{kind}", "skos:Concept")
        | {"skos:prefLabel": _text(re.sub(r"(?<!^)([A-Z])", r" \1", kind), "en")},
    }


def _contact(publisher) -> dict:
    contact = publisher.contact or Contact(name=publisher.name, url=publisher.url)
    point = {"@type": ["vcard:Kind", "vcard:Organization"], "vcard:fn": contact.name}
    if contact.url:
        point["vcard:hasURL"] = {"@id": contact.url}
    if contact.email:
        point["vcard:hasEmail"] = {"@id": f"mailto:{contact.email}"}
    if contact.phone:
        point["vcard:hasTelephone"] = {"@id": f"tel:{contact.phone.replace(' ', '')}"}
    return point


def _distribution(root: str, path: str, info: dict, title: str, licence: str, issued: str) -> dict:
    suffix = path.rsplit(".", 1)[1]
    distribution = {
        "@type": "dcat:Distribution",
        "dct:title": title,
        "dct:description": f"{title}。文件 {path}，{info['bytes']} 字节，SHA-256 {info['sha256']}。",
        # a dated release's files never change once out: stable as long as the release is retained
        "dcatap:availability": _iri(f"{EU_AUTHORITY}planned-availability/STABLE", "skos:Concept")
        | {"skos:prefLabel": _text("stable", "en")},
        "dcat:accessURL": {"@id": root + quote(path)},
        "dcat:downloadURL": {"@id": root + quote(path)},
        "dct:format": _iri(f"{EU_AUTHORITY}file-type/{FILE_TYPES.get(suffix, 'OCTET')}", "dct:MediaTypeOrExtent"),
        "dcat:byteSize": {"@value": str(info["bytes"]), "@type": "xsd:nonNegativeInteger"},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": _iri("http://spdx.org/rdf/terms#checksumAlgorithm_sha256", "spdx:ChecksumAlgorithm"),
            "spdx:checksumValue": {"@value": info["sha256"], "@type": "xsd:hexBinary"},
        },
        "dct:license": _licence_document(licence),
        "dct:issued": _date(issued),
    }
    if info["media_type"] in IANA_TYPES:
        distribution["dcat:mediaType"] = _iri(MEDIA_TYPE_URI + info["media_type"], "dct:MediaType")
    return distribution


def dcat(
    catalog: dict[str, Dataset],
    day: str,
    files: dict[str, dict],
    base_url: str,
    coverages: dict[str, Coverage] | None = None,
    first_release: str | None = None,
) -> dict:
    """The catalogue in DCAT-AP 3 (JSON-LD): every dataset with its publisher, contact point, themes,
    temporal and spatial coverage, and as distributions every file of it a portal would offer — each
    format or part, the SQLite database it is in, and the change files of every retained day —
    with absolute URLs of the dated release. Checked against the official SHACL shapes in the tests."""
    info = catalogue_info(catalog)
    base = base_url.rstrip("/")
    root = f"{base}/releases/{day}/"
    language = LANGUAGES.get(info.language, "ZHO")
    lang = info.language
    linguistic = _iri(f"{EU_AUTHORITY}language/{language}", "dct:LinguisticSystem")
    spatial = {"@id": info.spatial.uri, "@type": "dct:Location", "skos:prefLabel": _text(info.spatial.name, lang)}
    if info.spatial.bbox:
        spatial["dcat:bbox"] = {"@value": info.spatial.bbox, "@type": "gsp:wktLiteral"}
    if info.spatial.centroid:
        spatial["dcat:centroid"] = {"@value": info.spatial.centroid, "@type": "gsp:wktLiteral"}
    first_release = first_release or day
    coverages = coverages or {}
    datasets = []
    for dataset in catalog.values():
        licence = dataset.licence.path
        distributions = [
            _distribution(root, path, i, _distribution_title(dataset, path, part), licence, part or day)
            for path, i, part in download_files(dataset, files)
        ]
        parted = any(part for _, _, part in download_files(dataset, files))
        if "gongshi.sqlite" in files and "sqlite" in dataset.exports and not parted:
            title = f"{dataset.title}（SQLite 数据库 gongshi.sqlite 中的表 {dataset.id}）"
            distributions.append(_distribution(root, "gongshi.sqlite", files["gongshi.sqlite"], title, licence, day))
        for path in sorted(p for p in files if p.startswith("changes/")):
            i = files[path]
            if path.rsplit("/", 1)[-1].split(".")[0] == dataset.id:
                change_day = path.split("/")[1]
                kind = path.rsplit(".", 1)[1].upper()
                what = "同步文件" if ".sync." in path else "变更"
                title = f"{dataset.title}：{change_day} {what}（{kind}）"
                distributions.append(_distribution(root, path, i, title, licence, change_day))
        record = {
            "@id": f"{base}/latest/datasets/{dataset.id}/",
            "@type": "dcat:Dataset",
            "dct:identifier": dataset.id,
            "dct:title": _text(dataset.title, lang),
            "dct:description": _text(dataset.description, lang),
            "dct:publisher": _agent(dataset.publisher, info.publisher_type),
            "dcat:contactPoint": _contact(dataset.publisher),
            "dct:issued": _date(first_release),
            "dct:modified": _date(day),
            "dct:language": linguistic,
            "dct:accrualPeriodicity": _iri(f"{EU_AUTHORITY}frequency/DAILY", "dct:Frequency"),
            "dct:spatial": spatial,
            "dcat:theme": [
                _iri(f"{EU_AUTHORITY}data-theme/{t}", "skos:Concept") | {"skos:prefLabel": _text(THEME_LABELS[t], "en")}
                for t in dataset.themes
            ],
            "dcat:keyword": [_text(k, lang) for k in [dataset.title, *dataset.keywords, info.spatial.name]],
            "dcat:landingPage": _iri(f"{base}/latest/datasets/{dataset.id}/", "foaf:Document"),
            "dcat:distribution": distributions,
        }
        span = coverages.get(dataset.id, Coverage())
        if span.start and span.end:
            record["dct:temporal"] = {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": _date(span.start),
                "dcat:endDate": _date(span.end),
            }
        datasets.append(record)
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dcatap": "http://data.europa.eu/r5r/",
            "dct": "http://purl.org/dc/terms/",
            "gsp": "http://www.opengis.net/ont/geosparql#",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "spdx": "http://spdx.org/rdf/terms#",
            "vcard": "http://www.w3.org/2006/vcard/ns#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": f"{base}/latest/dcat.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": _text(info.title, lang),
        "dct:description": _text(info.description, lang),
        "dct:publisher": _agent(info.publisher, info.publisher_type),
        "dcat:contactPoint": _contact(info.publisher),
        "dct:license": _licence_document(info.licence.path),
        "dct:issued": _date(first_release),
        "dct:modified": _date(day),
        "dct:language": linguistic,
        "dct:spatial": spatial,
        "foaf:homepage": _iri(f"{base}/latest/", "foaf:Document"),
        "dcat:themeTaxonomy": _iri(f"{EU_AUTHORITY}data-theme", "skos:ConceptScheme")
        | {"dct:title": _text("Data theme", "en")},
        "dcat:keyword": [_text(k, lang) for k in info.keywords],
        "dcat:dataset": datasets,
    }


def _distribution_title(dataset: Dataset, path: str, part: str | None) -> str:
    kind = path.rsplit(".", 1)[1].upper()
    return f"{dataset.title}：{part} 首次公开的记录（{kind}）" if part else f"{dataset.title}（{kind}）"


def schema_org(dataset: Dataset, day: str, files: dict[str, dict], base_url: str, span: Coverage | None = None) -> dict:
    """schema.org `Dataset` markup for search engines (embedded in the dataset's page), with what
    Google's Dataset rich result recommends."""
    info = catalogue_info(catalog={dataset.id: dataset})
    base = base_url.rstrip("/")
    root = f"{base}/releases/{day}/"
    publisher = {"@type": "GovernmentOrganization", "name": dataset.publisher.name, "url": dataset.publisher.url}
    markup = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": dataset.title,
        "description": dataset.description,
        "url": f"{base}/latest/datasets/{dataset.id}/",
        "sameAs": f"{base}/releases/{day}/datasets/{dataset.id}/",
        "identifier": dataset.id,
        "keywords": [dataset.title, *dataset.keywords, info.spatial.name],
        "inLanguage": info.language,
        "isAccessibleForFree": True,
        "license": dataset.licence.path,
        "dateModified": day,
        "spatialCoverage": {"@type": "Place", "name": info.spatial.name, "sameAs": info.spatial.uri},
        "creator": publisher,
        "publisher": publisher,
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": info.title,
            "url": f"{base}/latest/",
            "publisher": {"@type": "GovernmentOrganization", "name": info.publisher.name, "url": info.publisher.url},
        },
        "variableMeasured": [
            {"@type": "PropertyValue", "name": f.name, "description": f.title} for f in published_fields(dataset)
        ],
        "distribution": [
            {
                "@type": "DataDownload",
                "encodingFormat": i["media_type"],
                "contentUrl": root + quote(path),
                "contentSize": str(i["bytes"]),
            }
            # on the dataset's page: the whole files, or the newest parts (dcat.jsonld lists all)
            for path, i, _ in download_files(dataset, files)[:PAGE_DISTRIBUTIONS]
        ],
    }
    if span is not None and span.start and span.end:
        markup["temporalCoverage"] = f"{span.start}/{span.end}"
    return markup


DATASETTE_METADATA = "gongshi.metadata.json"


def search_columns(dataset: Dataset) -> list[str]:
    """The columns of a dataset's full-text index in the SQLite database: its names and codes."""
    columns = [label_field(dataset)]
    entity = dataset.site.entity
    if entity is not None and entity.credit_code not in columns:
        columns.append(entity.credit_code)
    return columns


def datasette_metadata(catalog: dict[str, Dataset], in_database: list[str], search: dict[str, list[str]]) -> dict:
    """Datasette's metadata for gongshi.sqlite (`datasette gongshi.sqlite -m gongshi.metadata.json`):
    titles, descriptions, licence and source of the database and each table, every column's Chinese
    title, and the full-text index `_search` uses."""
    info = catalogue_info(catalog)
    tables = {}
    for name in in_database:
        dataset = catalog[name]
        tables[name] = {
            "title": dataset.title,
            "description": dataset.description,
            "license": dataset.licence.title,
            "license_url": dataset.licence.path,
            "source": dataset.publisher.name,
            "source_url": dataset.publisher.url,
            "columns": {
                f.name: f"{f.title}：{f.description}" if f.description else f.title for f in published_fields(dataset)
            },
            "label_column": label_field(dataset),
            "sort_desc": "first_published",
        }
        if search.get(name):
            tables[name] |= {"fts_table": f"{name}_fts", "fts_pk": "rowid"}
    tables["_fields"] = {"title": "数据字典", "description": "每个数据集每一列的中文名称、说明和类型。"}
    return {
        "title": info.title,
        "description": info.description,
        "license": info.licence.title,
        "license_url": info.licence.path,
        "source": info.publisher.name,
        "source_url": info.publisher.url,
        "databases": {"gongshi": {"title": info.title, "tables": tables}},
    }
