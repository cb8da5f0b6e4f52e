"""An audit finding as the auditor's workspace shows it: its code in words, Chinese first and
English beside (`ledger.audit.codes`' meaning), the records it names with a link to verify
the first, and its place without the server's folders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledger.audit import codes as audit_codes

__all__ = ["CODE_WORDS_ZH", "code_words", "finding_view", "records_of"]

_HEX32 = re.compile(r"0x[0-9a-f]{64}")

#: Every audit finding code in words, Chinese first (English: ledger.audit.codes' meaning).
CODE_WORDS_ZH: dict[str, str] = {
    "bytecode_mismatch": "合约代码与源码编译结果不符",
    "no_contract": "合约地址上没有代码",
    "malformed_record": "链上记录无法解析",
    "leaf_hash_mismatch": "事件的叶哈希与记录不符",
    "event_id_mismatch": "事件的记录编号与记录不符",
    "log_index_gap": "日志序号不连续",
    "wrong_domain": "记录属于其他链或合约",
    "bad_signature": "签名与签名者不符",
    "record_id_reused": "记录编号被重复使用",
    "signer_lacks_role": "签名者当时没有相应角色",
    "wrong_county": "县级密钥为其他县签名",
    "project_rule_broken": "项目版本的所有者或顺序不对",
    "unknown_need": "承诺所指的需求未上链",
    "unknown_commitment": "交付所指的承诺不存在",
    "not_commitment_owner": "交付方不是承诺方",
    "over_delivery": "交付超过承诺",
    "receipt_rule_broken": "签收了未知、批量或已签收的交付",
    "pairing_rule_broken": "结对超出范围，或接受了未知、他县或已接受的结对",
    "fund_rule_broken": "基金超出范围，或向未知或他人的基金到账、动用",
    "fund_over_committed": "专项基金的承诺超过认捐额",
    "source_rule_broken": "承诺来源重复、为空、超出承诺额，或引用了不可引用的结对",
    "follow_up_rule_broken": "合约会拒绝的回访轮次或结果（未知批次或轮次、种子已过、重复）",
    "follow_up_outside_sample": "回访了抽样以外的行，或在种子区块产生前记录",
    "grievance_rule_broken": "答复了未知或已答复的申诉",
    "over_confirmation": "签收数量超过交付",
    "unknown_record": "审计标记指向不存在的记录",
    "root_mismatch": "合约的日志根与重放结果不符",
    "historical_root_mismatch": "历史区块的日志根与重放结果不符",
    "totals_mismatch": "合约的承诺合计与重放结果不符",
    "match_missing": "承诺引用的撮合不在项目库中",
    "match_not_accepted": "承诺引用的撮合未被接受",
    "match_parties_mismatch": "承诺与所引用撮合的需求、县或组织不符",
    "checkpoint_mismatch": "检查点的根与日志不符",
    "checkpoint_beyond_log": "检查点超出链上日志",
    "checkpoint_missing": "检查点记录被删除",
    "checkpoint_note_mismatch": "检查点签名文本与记录不符",
    "db_table_missing": "数据库缺少表",
    "db_column_missing": "数据库缺少列",
    "db_row_missing": "数据库缺少链上应有的行",
    "db_row_extra": "数据库有链上没有的行",
    "db_row_altered": "数据库中的数据与链上不符（被改动）",
    "db_value_invalid": "数据库中的值类型错误或无法解码",
    "batch_lines_altered": "批量交付明细与签名的根不符",
    "batch_line_malformed": "批量交付明细无法解析",
    "check_failed": "某项检查未能完成",
    "evidence_altered": "证据文件与其哈希不符",
    "evidence_missing": "交付的证据文件缺失",
    "evidence_unreferenced": "证据文件未被任何记录引用",
    "evidence_unnamed": "证据文件未以其哈希命名",
    "delivery_unreceipted": "交付超过签收期限仍未签收",
    "receipt_shortfall": "签收数量少于交付",
    "commitment_overdue": "承诺逾期且未交付完",
    "duplicate_beneficiary": "同一受益人就同一需求由两个组织服务",
    "flag_unanswered": "审计标记尚未得到回应",
    "follow_up_not_received": "回访发现抽中的农户未收到",
    "follow_up_household_not_found": "回访查无此户",
    "follow_up_part_received": "回访发现抽中的农户只收到部分",
}


def code_words(code: str) -> dict[str, str]:
    """A finding code in words: {zh, en}; a code this table lacks is shown as itself."""
    meaning = audit_codes.CODES.get(code)
    return {
        "zh": CODE_WORDS_ZH.get(code, code),
        "en": meaning.meaning if meaning else code,
    }


def records_of(where: Mapping[str, Any]) -> list[str]:
    """The records a finding is about, when it names any: its record id, a row's key, a
    commitment, or a list of records (an evidence hash's deliveries)."""
    candidates: list[Any] = [where.get("record_id"), where.get("commitment")]
    key = where.get("key")
    if isinstance(key, Mapping):
        candidates.append(key.get("record_id"))
    listed = where.get("records")
    if isinstance(listed, list):
        candidates.extend(listed)
    out: list[str] = []
    for value in candidates:
        if isinstance(value, str) and _HEX32.fullmatch(value.lower()) and value.lower() not in out:
            out.append(value.lower())
    return out


def finding_view(f: Mapping[str, Any]) -> dict[str, Any]:
    raw = f.get("where")
    where = dict(raw) if isinstance(raw, Mapping) else {}
    if isinstance(where.get("file"), str):
        # the file's name (its hash) is the fact; the server's folder is no one's business
        where["file"] = Path(where["file"]).name
    ids = records_of(where)
    code = str(f.get("code", ""))
    message = str(f.get("message", ""))
    return {
        "code": code,
        "severity": f.get("severity"),
        "record_id": ids[0] if ids else None,
        "record_url": f"/verify?id={ids[0]}" if ids else None,
        "record_ids": ids,
        "message": message,
        "words": code_words(code),
        "where": where,
    }
