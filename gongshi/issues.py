"""Every issue code the readers, the inbox and validation emit, with its Chinese label and severity —
the one place they are named. Messages (what exactly is wrong with this value) are written where
the issue is found; the label is what counts and lists show. An unknown code is refused when it is
emitted, so a new check cannot ship without its label.

Severities: `file` rejects the whole file; `ignored` is an inbox entry that is not a delivery;
`error` holds the row back (quarantine); `warning` publishes the row and tells the department.
Flags a dataset declares in its `dataset.yaml` (`flags:`) carry their own message and are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["file", "ignored", "error", "warning"]


@dataclass(frozen=True)
class IssueKind:
    code: str
    label: str
    severity: Severity


_KINDS = [
    # whole files
    ("not_a_file", "不是普通文件", "file"),
    ("unsupported_format", "不支持的文件格式", "file"),
    ("empty_file", "空文件", "file"),
    ("truncated", "文件不完整", "file"),
    ("undecodable", "无法识别编码", "file"),
    ("no_header", "找不到表头", "file"),
    ("duplicate_headers", "列名重复", "file"),
    ("unknown_headers", "未定义的列", "file"),
    ("missing_headers", "缺少必填列", "file"),
    ("csv_unparseable", "CSV 无法解析", "file"),
    ("json_invalid", "JSON 格式错误", "file"),
    ("json_not_array", "JSON 不是对象数组", "file"),
    ("json_too_deep", "JSON 嵌套过深", "file"),
    ("xlsx_corrupt", "Excel 文件损坏", "file"),
    ("xlsx_too_large", "Excel 解压后过大", "file"),
    ("xlsx_bomb", "Excel 压缩比异常", "file"),
    ("sheet_too_large", "工作表范围过大", "file"),
    ("too_much_memory", "读取所需内存超限", "file"),
    ("reader_failed", "读取出错", "file"),
    ("reader_crashed", "读取进程异常终止", "file"),
    ("read_timeout", "读取超时", "file"),
    ("source_failed", "前置库或接口未送达", "file"),
    # inbox entries that are not deliveries
    ("lock_file", "Excel 临时锁文件", "ignored"),
    ("hidden_file", "隐藏文件", "ignored"),
    ("nested_folder", "日期文件夹内的子文件夹", "ignored"),
    ("link", "符号链接", "ignored"),
    ("not_a_folder", "位置不对的文件", "ignored"),
    ("bad_date_folder", "无效的日期文件夹", "ignored"),
    ("unknown_dataset", "未知数据集", "ignored"),
    # rows held back
    ("required", "必填项为空", "error"),
    ("date_format", "日期格式无法识别", "error"),
    ("date_invalid", "日期不存在", "error"),
    ("date_future", "日期晚于报送日", "error"),
    ("enum", "取值不在规定范围", "error"),
    ("pattern", "格式不正确", "error"),
    ("max_length", "内容过长", "error"),
    ("credit_code_length", "信用代码位数错误", "error"),
    ("credit_code_charset", "信用代码含非法字符", "error"),
    ("credit_code_check", "信用代码校验位错误", "error"),
    ("credit_code_org_check", "组织机构代码校验位错误", "error"),
    ("duplicate_key", "重复报送", "error"),
    ("removal_incomplete", "移出信息不完整", "error"),
    ("listing_incomplete", "列入信息不完整", "error"),
    ("removal_before_listing", "移出早于列入", "error"),
    ("date_before", "日期先后顺序不对", "error"),
    ("required_when", "缺少条件必填项", "error"),
    ("malformed_row", "列数不符", "error"),
    ("nested_value", "值为对象或数组", "error"),
    ("not_an_object", "记录不是对象", "error"),
    ("excel_number_precision", "Excel 数字精度丢失", "error"),
    ("cell_too_long", "单元格内容过长", "error"),
    ("personal_number_in_field", "公开字段含个人号码", "error"),
    ("control_characters", "含控制字符", "error"),
    # rows published, the department told
    ("resident_id_length", "身份证号位数错误（已丢弃）", "warning"),
    ("resident_id_charset", "身份证号含非法字符（已丢弃）", "warning"),
    ("resident_id_birth_date", "身份证号出生日期不存在（已丢弃）", "warning"),
    ("resident_id_check", "身份证号校验位错误（已丢弃）", "warning"),
    ("resident_id_excel_precision", "身份证号被 Excel 损坏（已丢弃）", "warning"),
    ("control_characters_removed", "控制字符已删除", "warning"),
]
ISSUES: dict[str, IssueKind] = {code: IssueKind(code, label, severity) for code, label, severity in _KINDS}


class UnknownIssue(KeyError):
    """An issue code without its label and severity here."""


def kind(code: str, declared: dict[str, str] | None = None) -> IssueKind:
    """The issue kind of `code`; `declared` are a dataset's own flags (code -> message)."""
    if code in ISSUES:
        return ISSUES[code]
    if declared and code in declared:
        return IssueKind(code, declared[code], "warning")
    raise UnknownIssue(f"issue code {code!r} has no label and severity in gongshi/issues.py")


def label(code: str, declared: dict[str, str] | None = None) -> str:
    return kind(code, declared).label
