"""The columns of a need list (需求表): each one's Chinese and English header and what to
write in it, which are required, the other words a header may use, and how many rows a
list may hold. The checks, the reader and the template all take the columns from here.
"""

from __future__ import annotations

from ledger.core.fields import CATEGORIES
from ledger.core.headers import header_key

__all__ = ["COLUMNS", "MAX_ROWS", "REQUIRED", "column_key"]

#: A list holds at most this many needs (rows under the header); split a longer one.
MAX_ROWS = 500

#: Columns of a need list: key → (Chinese header, English header, what to write). A header
#: cell may be the Chinese name, the English one, the key or both ("标题 title").
COLUMNS: dict[str, tuple[str, str, str]] = {
    "title": (
        "标题",
        "title",
        "1–100 字，约 66 个汉字以内 / 1-100 characters, at most 200 UTF-8 bytes",
    ),
    "village": ("村", "village", "村或乡镇，不超过 64 字 / village or township, up to 64"),
    "category": ("类别", "category", "、".join(CATEGORIES) + " / or the English name"),
    "mode": ("方式", "mode", "输血（直接救助）或 造血（能力建设） / relief or capacity"),
    "beneficiaries": ("受益人数", "beneficiaries", "整数，0 或以上 / a whole number, 0 or more"),
    "budget": (
        "预算（元）",
        "budget_yuan",
        "元，最多两位小数，无预算填 0 / yuan, 2 decimals at most",
    ),
    "resource_kind": ("资源类型", "resource_kind", "资金、物资 或 服务 / funds, goods or service"),
    "quantity": (
        "数量",
        "quantity",
        "资金以元计（最多两位小数）；物资为正整数；服务为小时数 / funds in yuan, goods a whole "
        "number of units, service in hours",
    ),
    "unit": (
        "单位",
        "unit",
        "物资必填，如 斤、台；资金、服务留空 / goods: e.g. 斤, 台; else empty",
    ),
    "item": ("物品或服务", "item", "所需物品或服务，不超过 64 字 / what is asked, up to 64"),
    "deadline": ("截止日期", "deadline", "YYYY-MM-DD 或日期单元格，不早于今天 / not in the past"),
    "contact_role": (
        "联系人角色",
        "contact_role",
        "写岗位不写个人，如 县乡村振兴局帮扶股；勿填手机号 / a role, never a person or a phone",
    ),
    "description": ("说明", "description", "不超过 4000 字；勿填身份证号、手机号 / up to 4000"),
}
REQUIRED = (
    "title",
    "category",
    "mode",
    "beneficiaries",
    "budget",
    "resource_kind",
    "quantity",
    "deadline",
    "contact_role",
)
#: Other words a header may use for a column.
_MORE_ALIASES = {
    "预算": "budget",
    "budget": "budget",
    "资源": "resource_kind",
    "kind": "resource_kind",
    "帮扶方式": "mode",
    "受益人口": "beneficiaries",
    "截止": "deadline",
    "联系角色": "contact_role",
    "contact": "contact_role",
    "描述": "description",
    "物品": "item",
    "村庄": "village",
}
_ALIASES: dict[str, str] = (
    {zh: k for k, (zh, _, _) in COLUMNS.items()}
    | {en.lower(): k for k, (_, en, _) in COLUMNS.items()}
    | {k: k for k in COLUMNS}
    | _MORE_ALIASES
)


def column_key(cell: str) -> str | None:
    """The need-list column a header cell names, or None."""
    return header_key(cell, _ALIASES)
