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
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from ledger.core import codes, display
from ledger.core.errors import IatiError
from ledger.core.fields import ResourceKind
from ledger.export.snapshot import Snapshot, county_label
from ledger.library.regions import counties

DATA = Path(__file__).parent / "data"
SCHEMA_DIR = DATA / "iati-2.03"
ORG_PREFIX = "CN-USCI-"
#: An IATI organisation identifier: a registration agency prefix (XX-XXX) and the id there.
ORG_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]+-[^\s/&|?]+")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
KIND_NAMES = {ResourceKind.GOODS: ("物资", "goods"), ResourceKind.SERVICE: ("服务", "services")}


@dataclass(frozen=True)
class Publisher:
    """The reporting organisation: its IATI id, registered name and IATI type code."""

    ref: str
    name: str
    type: str = "10"


def reporting_org_from(
    settings: Any, *, ref: str | None = None, name: str | None = None
) -> Publisher:
    """The publisher from the options given, else the settings; refuses to go without one
    (IATI files name who publishes them, and a placeholder would publish for nobody)."""
    ref = (ref or getattr(settings, "iati_reporting_org", None) or "").strip()
    name = (name or getattr(settings, "iati_reporting_org_name", None) or "").strip()
    kind = str(getattr(settings, "iati_reporting_org_type", "10") or "10")
    if not ref or not name:
        raise IatiError(
            "未设置报送机构 / no IATI reporting organisation is set: set "
            "BANGFU_IATI_REPORTING_ORG (e.g. CN-USCI-<统一社会信用代码>) and "
            "BANGFU_IATI_REPORTING_ORG_NAME (the publisher's registered name, e.g. 贵州省民政厅), "
            "or pass --reporting-org and --reporting-name",
            code=codes.IATI_NO_REPORTING_ORG,
        )
    if not ORG_ID.fullmatch(ref) or ref.endswith("-" + "0" * 18):
        raise IatiError(
            f"报送机构标识无效 / {ref!r} is not an IATI organisation identifier; write the "
            "registration agency's prefix and the id there, e.g. CN-USCI-<统一社会信用代码>",
            code=codes.IATI_NO_REPORTING_ORG,
        )
    return Publisher(ref, name, kind)


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
    return display.beijing_date(t)


def _office(county: int) -> str:
    """The county office a need belongs to, by name."""
    return f"{county_label(county)}乡村振兴部门 county rural revitalization office"


def _narr(parent: etree._Element, tag: str, *texts: tuple[str, str | None]) -> etree._Element:
    el = etree.SubElement(parent, tag)
    for text, lang in texts:
        n = etree.SubElement(el, "narrative")
        if lang:
            n.set(XML_LANG, lang)
        n.text = text
    return el


@dataclass(frozen=True)
class PairingRef:
    """A pairing (结对帮扶) a commitment cites, as an IATI participating organization."""

    pairing_id: str
    org: str
    start: str
    end: str
    designated: bool


def build(
    snapshot: Snapshot,
    *,
    publisher: Publisher,
    generated: datetime | None = None,
    pairings: Mapping[str, PairingRef] | None = None,
) -> etree._Element:
    """The <iati-activities> tree for every need in the snapshot. `pairings` (commitment id
    → the pairing it cites) adds each pairing's organization as an extending (role 3)
    participating organization of the activities its commitments serve."""
    reporting_org = publisher.ref
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
        rep = etree.SubElement(act, "reporting-org", ref=reporting_org, type=publisher.type)
        etree.SubElement(rep, "narrative").text = publisher.name
        cat = need.category
        _narr(act, "title", (snapshot.need_title(need.project_id), None))
        in_kind = [c for c in commitments if c.resource_kind != ResourceKind.FUNDS]
        kind_text = "；".join(
            f"{KIND_NAMES.get(ResourceKind(c.resource_kind), ('其他', 'other'))[0]} "
            f"{display.amount(c.quantity, c.resource_kind, c.unit)}"
            for c in in_kind
        )
        where = county_label(need.county)
        desc = etree.SubElement(act, "description", type="1")
        d1 = etree.SubElement(desc, "narrative")
        d1.text = (
            f"{where}的需求项目《{snapshot.need_title(need.project_id)}》，"
            f"承诺 {len(commitments)} 项"
            + (f"；实物/服务承诺：{kind_text}（见成果指标）" if kind_text else "")
            + f"。帮扶链项目编号 {need.project_id}（版本 {need.version}）；核验：日志大小 "
            f"{snapshot.log_size}，根 {snapshot.log_root}。"
        )
        d2 = etree.SubElement(desc, "narrative")
        d2.set(XML_LANG, "en")
        d2.text = (
            f"Need project of {where} with {len(commitments)} commitment(s); {len(in_kind)} "
            "in kind (goods or service hours, reported as result indicators). Bangfu Ledger "
            f"project {need.project_id} (version {need.version}); verify at log size "
            f"{snapshot.log_size}, root {snapshot.log_root}."
        )
        orgs = sorted({c.org for c in commitments})
        for address in orgs:
            code = snapshot.org_code(address)
            po = etree.SubElement(act, "participating-org", role="1", type="22")
            if code != address:
                po.set("ref", org_ref(code))
            pn = etree.SubElement(po, "narrative")
            pn.text = snapshot.org_name(address)
        cited = {pairings[c.record_id] for c in commitments if pairings and c.record_id in pairings}
        for pref in sorted(cited, key=lambda r: r.pairing_id):
            code = snapshot.org_code(pref.org)
            po = etree.SubElement(act, "participating-org", role="3", type="22")
            if code != pref.org:
                po.set("ref", org_ref(code))
            kind = "定点帮扶" if pref.designated else "结对帮扶"
            pn = etree.SubElement(po, "narrative")
            pn.text = f"{snapshot.org_name(pref.org)}（{kind} {pref.start}–{pref.end}）"
            pe = etree.SubElement(po, "narrative")
            pe.set(XML_LANG, "en")
            kind_en = "designated assistance" if pref.designated else "pairing"
            pe.text = f"{snapshot.org_name(pref.org)} ({kind_en} {pref.start} to {pref.end})"
        county = etree.SubElement(act, "participating-org", role="4", type="10")
        cn = etree.SubElement(county, "narrative")
        cn.text = _office(need.county)
        _fund_sources(act, snapshot, {c.record_id for c in commitments})
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
        known = counties().get(need.county)
        _narr(loc, "name", (known.full_name if known else f"行政区划代码 {need.county}", None))
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
            name = snapshot.org_name(c.org)
            _transaction(act, c.record_id, "2", c.block_time, c.quantity, code, c.org, name,
                         need.county)  # fmt: skip
            for i in shares_by_commitment.get(c.record_id, []):
                d = snapshot.deliveries[i]
                ttype = "4" if d.beneficiary_count > 0 else "3"
                ref = d.record_id if not d.batch else f"{d.record_id}:{c.record_id}"
                _transaction(act, ref, ttype, d.block_time, d.quantity, code, c.org, name,
                             need.county)  # fmt: skip
        if in_kind:
            _results(act, snapshot, in_kind)
    return root


#: IATI OrganisationType of a fund's sponsor: 70 private sector (a company), 90 other.
SPONSOR_ORG_TYPES = {1: "70", 2: "90"}


def _fund_sources(act: etree._Element, snapshot: Snapshot, commitment_ids: set[str]) -> None:
    """Each special fund the activity's commitments draw on, as a funding participating-org
    (role 1): the fund by name, its sponsor by kind, named only with consent."""
    for fund in snapshot.funds.values():
        drawn = sum(d.amount for d in fund.draws if d.commitment_id in commitment_ids)
        if not drawn:
            continue
        po = etree.SubElement(
            act,
            "participating-org",
            role="1",
            type=SPONSOR_ORG_TYPES.get(fund.sponsor_kind, "90"),
        )
        kind_zh, kind_en = ("企业", "company") if fund.sponsor_kind == 1 else ("个人", "individual")
        sponsor = f"：{fund.sponsor_name}" if fund.sponsor_name else ""
        org = snapshot.org_name(fund.org)
        zh = etree.SubElement(po, "narrative")
        zh.text = (
            f"专项基金《{fund.name}》（{kind_zh}出资{sponsor}，设于{org}），"
            f"本项目动用 {display.yuan(drawn)} 元"
        )
        en = etree.SubElement(po, "narrative")
        en.set(XML_LANG, "en")
        en.text = (
            f"Special fund {fund.name} ({kind_en} sponsor{sponsor}, inside {org}); drawn "
            f"for this activity: CNY {display.yuan_decimal(drawn)}"
        )


def _results(act: etree._Element, snapshot: Snapshot, in_kind: list[Any]) -> None:
    """Goods and services as one output result with an indicator per kind and unit: the
    quantity committed is the target, the quantity delivered by the cut-off the actual."""
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for c in in_kind:
        groups[(c.resource_kind, display.unit_of(c.resource_kind, c.unit))].append(c)
    result = etree.SubElement(act, "result", {"type": "1", "aggregation-status": "1"})
    _narr(result, "title", ("实物与服务交付", None), ("Goods and services delivered", "en"))
    end = _date(snapshot.cutoff - 1)
    for (rk, unit), cs in sorted(groups.items()):
        zh, en = KIND_NAMES.get(ResourceKind(rk), ("其他", "other"))
        ind = etree.SubElement(result, "indicator", measure="1", ascending="1")
        _narr(ind, "title", (f"{zh}（{unit}）", None), (f"{en} ({unit})", "en"))
        _narr(
            ind,
            "description",
            (f"承诺与交付的{zh}数量，单位：{unit}", None),
            (f"quantity of {en} committed and delivered, in {unit}", "en"),
        )
        period = etree.SubElement(ind, "period")
        etree.SubElement(period, "period-start", {"iso-date": _date(min(c.block_time for c in cs))})
        etree.SubElement(period, "period-end", {"iso-date": end})
        target = etree.SubElement(period, "target", value=str(sum(c.quantity for c in cs)))
        _narr(target, "comment", (f"承诺 committed，单位 unit：{unit}", None))
        actual = etree.SubElement(period, "actual", value=str(sum(c.delivered for c in cs)))
        _narr(actual, "comment", (f"已交付 delivered，单位 unit：{unit}", None))


def _transaction(
    act: etree._Element,
    ref: str,
    ttype: str,
    when: int,
    fen: int,
    code: str,
    address: str,
    name: str,
    county: int,
) -> None:
    tr = etree.SubElement(act, "transaction", ref=ref)
    etree.SubElement(tr, "transaction-type", code=ttype)
    etree.SubElement(tr, "transaction-date", {"iso-date": _date(when)})
    value = etree.SubElement(tr, "value", {"value-date": _date(when), "currency": "CNY"})
    value.text = display.yuan_decimal(fen)
    provider = etree.SubElement(tr, "provider-org")
    if code != address:
        provider.set("ref", org_ref(code))
    pn = etree.SubElement(provider, "narrative")
    pn.text = name
    receiver = etree.SubElement(tr, "receiver-org")
    rn = etree.SubElement(receiver, "narrative")
    rn.text = _office(county)


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


def export(
    snapshot: Snapshot,
    *,
    publisher: Publisher,
    generated: datetime | None = None,
    pairings: Mapping[str, PairingRef] | None = None,
) -> bytes:
    """Builds, validates and serializes the IATI activities of a snapshot."""
    root = build(snapshot, publisher=publisher, generated=generated, pairings=pairings)
    validate(root)
    return to_bytes(root)
