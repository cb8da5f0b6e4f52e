"""IATI 2.03 activity XML: one activity per need, its commitments and funds deliveries as
transactions, validated against the official 2.03 activity schema (shipped in data/).

Mapping (docs/reports.md §4): commitment of funds → transaction type 2 (outgoing
commitment); delivery of funds with no beneficiaries listed → 3 (disbursement, to the
county office); delivery of funds to listed beneficiaries → 4 (expenditure). In-kind
commitments (goods, service hours) have no money value, so they are not transactions; the
activity description counts them. Organizations are `CN-USCI-<credit code>` (org-id.guide
list CN-USCI, the unified social credit identifier).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from lxml import etree

from ledger.core.errors import IatiError
from ledger.core.fields import BEIJING, CATEGORIES, CATEGORY_EN, ResourceKind
from ledger.export.snapshot import Snapshot

DATA = Path(__file__).parent / "data"
SCHEMA_DIR = DATA / "iati-2.03"
ORG_PREFIX = "CN-USCI-"
#: Publishers pass their own credit code; this placeholder only keeps a demo export valid.
DEFAULT_REPORTING_ORG = "CN-USCI-000000000000000000"
REPORTING_NAME = "社会组织参与乡村振兴对接平台 Social organizations rural revitalization platform"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@cache
def sector_map() -> dict[int, dict[str, str]]:
    """Category number (1..10) → DAC 5-digit purpose code and its name."""
    raw = json.loads((DATA / "sectors.json").read_text("utf-8"))
    return {int(k): v for k, v in raw["categories"].items()}


@cache
def _schema() -> etree.XMLSchema:
    doc = etree.parse(str(SCHEMA_DIR / "iati-activities-schema.xsd"))
    return etree.XMLSchema(doc)


@cache
def dac_sector_codes() -> frozenset[str]:
    """Every code of the IATI 2.03 Sector codelist (DAC 5-digit)."""
    tree = etree.parse(str(SCHEMA_DIR / "Sector.xml"))
    return frozenset(str(c.text) for c in tree.iter("code"))


def org_ref(code: str) -> str:
    return ORG_PREFIX + code


def _date(t: int) -> str:
    return datetime.fromtimestamp(t, BEIJING).date().isoformat()


def _narr(parent: etree._Element, tag: str, *texts: tuple[str, str | None]) -> etree._Element:
    el = etree.SubElement(parent, tag)
    for text, lang in texts:
        n = etree.SubElement(el, "narrative")
        if lang:
            n.set(XML_LANG, lang)
        n.text = text
    return el


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def build(
    snapshot: Snapshot,
    *,
    reporting_org: str = DEFAULT_REPORTING_ORG,
    reporting_name: str = REPORTING_NAME,
    generated: datetime | None = None,
) -> etree._Element:
    """The <iati-activities> tree for every need in the snapshot."""
    generated = generated or datetime.now(UTC)
    stamp = generated.replace(microsecond=0).isoformat()
    root = etree.Element("iati-activities", version="2.03", nsmap=None)
    root.set("generated-datetime", stamp)
    sectors = sector_map()
    by_need: dict[str, list[str]] = {}
    for cid, c in snapshot.commitments.items():
        by_need.setdefault(c.need_id, []).append(cid)
    shares_by_commitment: dict[str, list[int]] = {}
    for i, d in enumerate(snapshot.deliveries):
        shares_by_commitment.setdefault(d.commitment_id, []).append(i)

    for need in sorted(snapshot.needs.values(), key=lambda n: (n.block_time, n.project_id)):
        commitments = [snapshot.commitments[c] for c in by_need.get(need.project_id, [])]
        act = etree.SubElement(root, "iati-activity", {"default-currency": "CNY"})
        act.set("last-updated-datetime", stamp)
        act.set(XML_LANG, "zh")
        etree.SubElement(act, "iati-identifier").text = f"{reporting_org}-{need.project_id}"
        rep = etree.SubElement(act, "reporting-org", ref=reporting_org, type="10")
        etree.SubElement(rep, "narrative").text = reporting_name
        cat = need.category
        cat_zh = CATEGORIES[cat - 1] if 1 <= cat <= 10 else "未知"
        cat_en = CATEGORY_EN[cat - 1] if 1 <= cat <= 10 else "unknown"
        _narr(
            act,
            "title",
            (f"{need.county} 县需求项目：{cat_zh}", None),
            (f"County {need.county} need project: {cat_en}", "en"),
        )
        in_kind = [c for c in commitments if c.resource_kind != ResourceKind.FUNDS]
        kinds_zh = {ResourceKind.GOODS: "物资", ResourceKind.SERVICE: "服务"}
        kind_text = "；".join(
            f"{kinds_zh.get(ResourceKind(c.resource_kind), '其他')} {c.quantity} {c.unit}"
            for c in in_kind
        )
        desc = etree.SubElement(act, "description", type="1")
        d1 = etree.SubElement(desc, "narrative")
        d1.text = (
            f"帮扶链需求项目 {need.project_id}（版本 {need.version}），承诺 {len(commitments)} 项"
            + (f"；实物/服务承诺：{kind_text}" if kind_text else "")
            + f"。核验：日志大小 {snapshot.log_size}，根 {snapshot.log_root}。"
        )
        d2 = etree.SubElement(desc, "narrative")
        d2.set(XML_LANG, "en")
        d2.text = (
            f"Bangfu Ledger need {need.project_id} (version {need.version}) with "
            f"{len(commitments)} commitment(s); {len(in_kind)} in kind (goods or service "
            f"hours, not IATI transactions). Verify at log size {snapshot.log_size}, "
            f"root {snapshot.log_root}."
        )
        orgs = sorted({c.org for c in commitments})
        for address in orgs:
            code = snapshot.org_code(address)
            po = etree.SubElement(act, "participating-org", role="1", type="22")
            if code != address:
                po.set("ref", org_ref(code))
            name = snapshot.org_names.get(code)
            pn = etree.SubElement(po, "narrative")
            pn.text = name[0] if name else code
        county = etree.SubElement(act, "participating-org", role="4", type="10")
        cn = etree.SubElement(county, "narrative")
        cn.text = f"县级乡村振兴部门 county rural revitalization office {need.county}"
        if not commitments:
            status = "1"
        elif all(c.fully_delivered for c in commitments):
            status = "3"
        else:
            status = "2"
        etree.SubElement(act, "activity-status", code=status)
        if commitments:
            first = min(c.block_time for c in commitments)
            etree.SubElement(act, "activity-date", {"type": "2", "iso-date": _date(first)})
        else:
            etree.SubElement(
                act, "activity-date", {"type": "1", "iso-date": _date(need.block_time)}
            )
        etree.SubElement(act, "recipient-country", code="CN", percentage="100")
        loc = etree.SubElement(act, "location", ref=f"CN-{need.county}")
        etree.SubElement(loc, "location-reach", code="2")
        _narr(loc, "name", (f"行政区划代码 {need.county}", None))
        sector = sectors.get(cat)
        if sector is not None:
            s = etree.SubElement(
                act, "sector", vocabulary="1", code=sector["dac"], percentage="100"
            )
            sn = etree.SubElement(s, "narrative")
            sn.text = sector["name"]
        for c in commitments:
            if c.resource_kind != ResourceKind.FUNDS:
                continue
            code = snapshot.org_code(c.org)
            _transaction(act, c.record_id, "2", c.block_time, c.quantity, code, c.org, need.county)
            for i in shares_by_commitment.get(c.record_id, []):
                d = snapshot.deliveries[i]
                ttype = "4" if d.beneficiary_count > 0 else "3"
                ref = d.record_id if not d.batch else f"{d.record_id}:{c.record_id}"
                _transaction(act, ref, ttype, d.block_time, d.quantity, code, c.org, need.county)
    return root


def _transaction(
    act: etree._Element,
    ref: str,
    ttype: str,
    when: int,
    fen: int,
    code: str,
    address: str,
    county: int,
) -> None:
    tr = etree.SubElement(act, "transaction", ref=ref)
    etree.SubElement(tr, "transaction-type", code=ttype)
    etree.SubElement(tr, "transaction-date", {"iso-date": _date(when)})
    value = etree.SubElement(tr, "value", {"value-date": _date(when), "currency": "CNY"})
    value.text = _yuan(fen)
    provider = etree.SubElement(tr, "provider-org")
    if code != address:
        provider.set("ref", org_ref(code))
    pn = etree.SubElement(provider, "narrative")
    pn.text = code
    receiver = etree.SubElement(tr, "receiver-org")
    rn = etree.SubElement(receiver, "narrative")
    rn.text = f"县级乡村振兴部门 {county}"


def validate(root: etree._Element) -> None:
    """Raises IatiError listing the schema violations, if any."""
    schema = _schema()
    if not schema.validate(root):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:10])
        raise IatiError(f"the IATI export does not validate against 2.03: {errors}")
    unknown = {
        s.get("code")
        for s in root.iter("sector")
        if s.get("vocabulary") == "1" and s.get("code") not in dac_sector_codes()
    }
    if unknown:
        raise IatiError(f"sector codes not in the 2.03 Sector codelist: {sorted(unknown)}")


def to_bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def export(snapshot: Snapshot, **kwargs: object) -> bytes:
    """Builds, validates and serializes the IATI activities of a snapshot."""
    root = build(snapshot, **kwargs)  # type: ignore[arg-type]
    validate(root)
    return to_bytes(root)
