"""Dataset contracts: each schema is a valid Frictionless Table Schema, documented in Chinese, and
consistent with its dataset.yaml; a typo in dataset.yaml fails at load time."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from frictionless import Schema

from gongshi.catalog import load_catalog, load_dataset, parse_duration
from gongshi.paths import DATASETS_DIR

DATASETS = ["approval_item_changes", "blacklist_entries", "honour_list", "inspection_results"]
CJK = re.compile(r"[\u4e00-\u9fff]")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def test_the_inbound_datasets(catalog):
    assert sorted(catalog) == DATASETS


@pytest.mark.parametrize("name", DATASETS)
def test_frictionless_validates_each_schema(name):
    report = Schema.validate_descriptor(str(DATASETS_DIR / name / "schema.json"))
    assert report.valid, report.flatten(["type", "note"])
    schema = Schema.from_descriptor(str(DATASETS_DIR / name / "schema.json"))
    assert len(schema.fields) >= 7


@pytest.mark.parametrize("name", DATASETS)
def test_every_field_is_documented_in_chinese_and_snake_case(name):
    fields = json.loads((DATASETS_DIR / name / "schema.json").read_text(encoding="utf-8"))["fields"]
    for field in fields:
        assert SNAKE.match(field["name"]), field["name"]
        assert CJK.search(field["title"]), field
        assert CJK.search(field["description"]) and len(field["description"]) >= 8, field
        assert field["type"] in {"string", "date", "integer", "number", "boolean"}


@pytest.mark.parametrize("name", DATASETS)
def test_every_field_has_a_privacy_class_and_aliases(catalog, name):
    dataset = catalog[name]
    assert set(dataset.fields) == set(dataset.field_names)
    for policy in dataset.fields.values():
        assert policy.privacy in {"publish", "drop", "mask", "pseudonymise", "generalise"}
        assert policy.aliases


def test_protected_columns_are_not_published(catalog):
    assert catalog["inspection_results"].fields["contact_phone"].privacy == "drop"
    assert catalog["blacklist_entries"].fields["legal_representative_id_number"].privacy == "pseudonymise"
    assert catalog["inspection_results"].fields["inspectors"].privacy == "drop"
    assert catalog["inspection_results"].fields["credit_code"].privacy == "publish"


def test_publicity_periods_are_declared(catalog):
    assert parse_duration(catalog["inspection_results"].publicity_period.default) == (1, 0, 0)
    assert catalog["blacklist_entries"].publicity_period.values["严重违法失信名单"] == "P3Y"
    assert catalog["approval_item_changes"].publicity_period is None
    # the red list is public while the recognition is valid: from the day after 有效期至, no longer
    assert catalog["honour_list"].publicity_period.counted_from == "valid_until"
    assert parse_duration(catalog["honour_list"].publicity_period.default) == (0, 0, 1)


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(DATASETS_DIR / name, target)
    return target


def test_a_typo_in_a_key_fails_at_load_time(tmp_path):
    folder = _copy(tmp_path, "inspection_results")
    spec = yaml.safe_load((folder / "dataset.yaml").read_text(encoding="utf-8"))
    spec["fields"]["credit_code"]["privcy"] = spec["fields"]["credit_code"].pop("privacy")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="privcy"):
        load_dataset(folder)


def test_a_schema_field_without_policy_fails(tmp_path):
    folder = _copy(tmp_path, "inspection_results")
    spec = yaml.safe_load((folder / "dataset.yaml").read_text(encoding="utf-8"))
    del spec["fields"]["inspectors"]
    (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="inspectors"):
        load_dataset(folder)


def test_an_alias_claimed_by_two_fields_fails(tmp_path):
    folder = _copy(tmp_path, "inspection_results")
    spec = yaml.safe_load((folder / "dataset.yaml").read_text(encoding="utf-8"))
    spec["fields"]["task_name"]["aliases"].append("任务编号")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="maps to both"):
        load_dataset(folder)


def test_catalog_loads_from_another_root(tmp_path):
    _copy(tmp_path, "approval_item_changes")
    assert list(load_catalog(tmp_path)) == ["approval_item_changes"]


def _edit(tmp_path: Path, name: str, change) -> Path:
    folder = _copy(tmp_path, name)
    spec = yaml.safe_load((folder / "dataset.yaml").read_text(encoding="utf-8"))
    change(spec)
    (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.__setitem__("exports", ["csv", "parqet"]), "unknown export format 'parqet'"),
        (lambda s: s["site"]["entity"].__setitem__("credit_code", "credit_cod"), "site: unknown field 'credit_cod'"),
        (lambda s: s["site"]["lists"][0].__setitem__("order", ["-listd_on"]), "site: unknown field 'listd_on'"),
        (lambda s: s["site"]["lists"][0]["where"].__setitem__("lst_type", ["x"]), "site: unknown field 'lst_type'"),
        (lambda s: s["site"]["standing"].__setitem__("item", "{list_typ}"), "site: unknown field 'list_typ'"),
        (lambda s: s["site"]["section"].__setitem__("rows", "missing.html"), "row template 'missing.html'"),
        (lambda s: s["site"].__setitem__("lits", []), "lits"),
    ],
)
def test_the_site_declarations_and_exports_are_checked_at_load(tmp_path, change, message):
    folder = _edit(tmp_path, "blacklist_entries", change)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset(folder)


def test_export_formats_are_the_writers(catalog):
    from gongshi.catalog import EXPORT_FORMATS
    from gongshi.writers import REGISTRY

    assert set(EXPORT_FORMATS) == {*REGISTRY, "sqlite"}


def test_a_dataset_is_a_folder_no_python_names_the_honour_list():
    sources = Path(__file__).resolve().parent.parent
    for path in [*(sources / "gongshi").rglob("*.py"), *(sources / "assets").rglob("*.py")]:
        assert "honour_list" not in path.read_text(encoding="utf-8"), path
