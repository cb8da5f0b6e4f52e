"""The pairing program and east–west cooperation as people read them
(docs/programs.md): the store's facts (`ledger.store.queries.pairing`) with county,
province and organization names, yuan and Beijing dates beside the raw fen and codes. The
JSON API, the portal, the CLI and the periodic report all shape their answers here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.display import beijing_time, yuan
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.library.models import KeyCounty
from ledger.library.regions import counties, provinces
from ledger.store.models import CommitmentRow, RoleEvent
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow
from ledger.store.queries import pairing as q
from ledger.store.queries.orgs import org_codes, org_names

if TYPE_CHECKING:
    from ledger.export.report import ReportSection

__all__ = [
    "BEHIND_RULE",
    "east_west",
    "key_counties",
    "key_county_codes",
    "org_programs",
    "oversight",
    "pairing_json",
    "pairings",
    "province_name",
    "report_section",
]

#: What "behind" means, as the views say it.
BEHIND_RULE = (
    f"落后：某项目标的完成比例比结对期已过比例低 {q.BEHIND_MARGIN:.0%} 以上（资金按已交付、"
    "项目按承诺的需求项目数、服务按已交付小时计）/ behind: for some target, the share met "
    f"(funds delivered, need projects committed to, service hours delivered) trails the "
    f"elapsed share of the period by more than {q.BEHIND_MARGIN:.0%} points"
)
NATIONAL = "全国性或未知 national or unknown"
TARGETS = {"funds": "资金 funds", "projects": "项目 projects", "hours": "服务时长 service hours"}


def county_name(code: int) -> str:
    c = counties().get(int(code))
    return c.full_name if c else str(code)


def province_name(code: int | None) -> str:
    return provinces().get(code, NATIONAL) if code is not None else NATIONAL


def _ymd(code: int) -> str:
    return f"{code // 10000:04d}-{code // 100 % 100:02d}-{code % 100:02d}"


def key_county_codes(session: Session) -> set[int]:
    """The loaded key-county list (国家乡村振兴重点帮扶县)."""
    return set(session.scalars(select(KeyCounty.code)))


def pairing_json(p: q.PairingView, today: int, keys: set[int] | None = None) -> dict[str, Any]:
    """One pairing: names, yuan and Beijing dates beside the raw values."""
    g = p.progress
    met = p.met_shares()
    behind = p.behind(today)
    return {
        "pairing_id": p.pairing_id,
        "org_code": p.org_code,
        "org_name": p.org_name or p.org_code or p.org,
        "county": p.county,
        "county_name": county_name(p.county),
        "key_county": None if keys is None else p.county in keys,
        "start_date": _ymd(p.start_date),
        "end_date": _ymd(p.end_date),
        "categories": [
            {"code": c, "name": CATEGORIES[c - 1], "name_en": CATEGORY_EN[c - 1]}
            for c in p.categories
        ],
        "designated": p.designated,
        "designated_label": "定点帮扶 designated assistance" if p.designated else "",
        "terms_hash": p.terms_hash,
        "proposed_at": beijing_time(p.proposed_at),
        "accepted": p.accepted,
        "status_label": "已接受 accepted" if p.accepted else "待县接受 awaiting the county",
        "accepted_at": beijing_time(p.accepted_at) if p.accepted_at else None,
        "acceptance_id": p.acceptance_id,
        "targets": {
            "funds_fen": p.funds_target,
            "funds": yuan(p.funds_target),
            "projects": p.projects_target,
            "hours": p.hours_target,
        },
        "progress": {
            "commitments": g.commitments,
            "funds_committed_fen": g.funds_committed,
            "funds_committed": yuan(g.funds_committed),
            "funds_delivered_fen": g.funds_delivered,
            "funds_delivered": yuan(g.funds_delivered),
            "funds_confirmed_fen": g.funds_confirmed,
            "funds_confirmed": yuan(g.funds_confirmed),
            "projects": g.projects,
            "hours_committed": g.hours_committed,
            "hours_delivered": g.hours_delivered,
            "commitment_ids": g.commitment_ids,
        },
        "met_share": {k: round(v, 4) for k, v in met.items()},
        "elapsed_share": round(p.elapsed_share(today), 4),
        "behind": behind,
        "behind_label": "、".join(TARGETS[t] for t in behind),
        "time_zone": "北京时间 Beijing time (UTC+8)",
    }


def pairings(
    session: Session,
    *,
    county: int | None = None,
    org_code: str | None = None,
    accepted: bool | None = None,
    today: int | None = None,
) -> list[dict[str, Any]]:
    day = today if today is not None else q.today_code()
    keys = key_county_codes(session)
    return [
        pairing_json(p, day, keys)
        for p in q.pairings(session, county=county, org_code=org_code)
        if accepted is None or p.accepted == accepted
    ]


def _county_block(k: q.KeyCountyPairings, day: int, keys: set[int]) -> dict[str, Any]:
    return {
        "county": k.county,
        "county_name": county_name(k.county),
        "active_pairings": k.active,
        "unpaired": k.unpaired,
        "behind": [{"pairing_id": pid, "targets": t} for pid, t in k.behind],
        "pairings": [pairing_json(p, day, keys) for p in k.pairings],
    }


def key_counties(session: Session, today: int | None = None) -> dict[str, Any]:
    """Per key county: who is paired with it and the progress against each target."""
    day = today if today is not None else q.today_code()
    keys = key_county_codes(session)
    return {
        "today": _ymd(day),
        "behind_rule": BEHIND_RULE,
        "counties": [
            _county_block(k, day, keys) for k in q.key_county_pairings(session, keys, day)
        ],
    }


def oversight(session: Session, today: int | None = None) -> dict[str, Any]:
    """For the civil-affairs office: key counties nobody is paired with, or behind."""
    day = today if today is not None else q.today_code()
    keys = key_county_codes(session)
    found = q.oversight(session, keys, day)
    return {
        "today": _ymd(day),
        "key_counties": len(keys),
        "unpaired": [_county_block(k, day, keys) for k in found if k.unpaired],
        "behind": [_county_block(k, day, keys) for k in found if k.behind],
        "unpaired_rule": "无人结对：没有已接受且在期内的结对 / unpaired: no accepted pairing "
        "whose period includes today",
        "behind_rule": BEHIND_RULE,
    }


def east_west(session: Session, keys: Iterable[int] | None = None) -> dict[str, Any]:
    """Flows from home province to receiving province (a matrix), designated pairings, and
    each organization's key-county share."""
    key_set = set(keys) if keys is not None else key_county_codes(session)
    names = provinces()
    flows = q.flows(session, names)
    homes = sorted({f.home for f in flows}, key=lambda h: h or 0)
    receiving = sorted({f.receiving for f in flows})
    cell = {(f.home, f.receiving): f for f in flows}
    org_label = {code: n for code, (n, _en) in org_names(session).items()}
    designated = [p for p in q.pairings(session) if p.designated]
    day = q.today_code()
    return {
        "rule": "来源省份：登记管理机关所在省（登记中载明时），否则统一社会信用代码第 3–8 位"
        "（登记管理机关行政区划码）的前两位 / home province: the registering authority's "
        "province when the registration names one, else the first two digits of characters "
        "3–8 of the credit code (the authority's division code)",
        "east_west_rule": "东西部协作：东部省份的组织对西部省份的帮扶（国家统计局东中西部划分）"
        " / east–west: aid from organizations of eastern to counties of western provinces "
        "(National Bureau of Statistics' division)",
        "homes": [{"code": h, "name": province_name(h)} for h in homes],
        "receiving": [{"code": r, "name": province_name(r)} for r in receiving],
        "matrix": [
            [
                {
                    "commitments": c.commitments,
                    "orgs": len(c.orgs),
                    "funds_committed_fen": c.funds_committed,
                    "funds_committed": yuan(c.funds_committed),
                    "funds_delivered_fen": c.funds_delivered,
                    "funds_delivered": yuan(c.funds_delivered),
                    "hours_committed": c.hours_committed,
                    "east_west": c.east_west,
                }
                if (c := cell.get((h, r)))
                else None
                for r in receiving
            ]
            for h in homes
        ],
        "flows": [
            {
                "home": f.home,
                "home_name": province_name(f.home),
                "receiving": f.receiving,
                "receiving_name": province_name(f.receiving),
                "commitments": f.commitments,
                "orgs": len(f.orgs),
                "funds_committed_fen": f.funds_committed,
                "funds_committed": yuan(f.funds_committed),
                "funds_delivered_fen": f.funds_delivered,
                "funds_delivered": yuan(f.funds_delivered),
                "funds_confirmed_fen": f.funds_confirmed,
                "funds_confirmed": yuan(f.funds_confirmed),
                "east_west": f.east_west,
            }
            for f in flows
        ],
        "designated": [pairing_json(p, day, key_set) for p in designated],
        "orgs": [
            {
                "org_code": a.org_code,
                "org_name": org_label.get(a.org_code, a.org_code),
                "home": a.home,
                "home_name": province_name(a.home),
                "commitments": a.commitments,
                "key_commitments": a.key_commitments,
                "key_share": None if a.key_share is None else round(a.key_share, 4),
                "funds_committed_fen": a.funds_committed,
                "funds_committed": yuan(a.funds_committed),
                "key_funds_committed": yuan(a.key_funds_committed),
                "key_share_funds": None
                if a.key_share_funds is None
                else round(a.key_share_funds, 4),
                "pairings": a.pairings,
                "designated_pairings": a.designated_pairings,
            }
            for a in q.aid_by_org(session, key_set, names)
        ],
        "key_share_formula": "重点县占比 = 对重点帮扶县的承诺数 ÷ 全部承诺数（资金口径：对重点县"
        "承诺的金额 ÷ 全部资金承诺金额） / key-county share = commitments to key counties ÷ all "
        "commitments (funds: fen committed to key counties ÷ all fen committed)",
    }


# ------------------------------------------------------------------ the periodic report


def report_section(session: Session) -> ReportSection:
    """The report's pairing and east–west section (`ledger.export.report.ReportSection`):
    what it needs beyond the snapshot (pairings, acceptances and citations, home provinces)
    is read now from `session`; each table keeps only what lies before the snapshot's
    cut-off (leaf index below its log size), so a past period's section stays the same."""
    from ledger.export.report import (
        COMMITMENTS_COLUMN,
        CREDIT_CODE_COLUMN,
        ORG_COLUMN,
        Column,
        Row,
        Table,
    )

    names = provinces()
    homes = q.home_provinces(session, names)
    pairing_rows = list(session.scalars(select(PairingRow).order_by(PairingRow.leaf_index)))
    accepted = {
        a.pairing_id: (int(a.leaf_index or 0), a.record_id)
        for a in session.scalars(select(PairingAcceptanceRow))
    }
    cites = [
        (int(c.leaf_index or 0), c.commitment_id, c.pairing_id)
        for c in session.scalars(select(PairingCommitmentRow))
    ]
    org_label = {code: n for code, (n, _en) in org_names(session).items()}

    def section(snapshot: Any, period: Any, keys: set[int]) -> dict[str, Table]:
        size = snapshot.log_size
        province = snapshot.province
        last_day = int(period.last_date.replace("-", ""))
        by_pairing: dict[str, list[Any]] = {}
        for leaf, cid, pid in cites:
            c = snapshot.commitments.get(cid)
            if leaf < size and c is not None:
                by_pairing.setdefault(pid, []).append(c)
        rows = []
        for p in pairing_rows:
            if int(p.leaf_index or 0) >= size:
                continue
            if province is not None and int(p.county) // 10000 != province:
                continue
            acc = accepted.get(p.record_id)
            is_accepted = acc is not None and acc[0] < size
            cs = by_pairing.get(p.record_id, []) if is_accepted else []
            funds = [c for c in cs if c.resource_kind == 1]
            hours = [c for c in cs if c.resource_kind == 3]
            view = q.PairingView(
                pairing_id=p.record_id, org=p.org, org_code=snapshot.org_codes.get(p.org),
                org_name=None, county=int(p.county), start_date=int(p.start_date),
                end_date=int(p.end_date), categories=[], funds_target=int(p.funds_target),
                projects_target=int(p.projects_target), hours_target=int(p.hours_target),
                designated=bool(p.designated), terms_hash=p.terms_hash,
                proposed_at=int(p.block_time or 0), accepted=is_accepted, accepted_at=None,
                acceptance_id=None,
                progress=q.Progress(
                    commitments=len(cs),
                    funds_committed=sum(c.quantity for c in funds),
                    funds_delivered=sum(min(c.delivered, c.quantity) for c in funds),
                    projects=len({c.need_id for c in cs}),
                    hours_committed=sum(c.quantity for c in hours),
                    hours_delivered=sum(min(c.delivered, c.quantity) for c in hours),
                ),
            )  # fmt: skip
            code = snapshot.org_codes.get(p.org, p.org)
            behind = view.behind(last_day)
            records = {p.record_id, *(c.record_id for c in cs)}
            if is_accepted and acc is not None:
                records.add(acc[1])
            rows.append(
                Row(
                    f"pairing/{p.record_id}",
                    {
                        "org": org_label.get(code, code),
                        "county": county_name(int(p.county)),
                        "period": f"{_ymd(int(p.start_date))}..{_ymd(int(p.end_date))}",
                        "status": "已接受 accepted" if is_accepted else "待接受 awaiting",
                        "designated": "是 yes" if p.designated else "",
                        "key": "是 yes" if int(p.county) in keys else "",
                        "funds_target": int(p.funds_target),
                        "funds_delivered": view.progress.funds_delivered,
                        "projects": f"{view.progress.projects} / {int(p.projects_target)}",
                        "hours": f"{view.progress.hours_delivered} / {int(p.hours_target)}",
                        "behind": "、".join(TARGETS[t] for t in behind),
                        "id": p.record_id,
                    },
                    records,
                    highlight=bool(behind),
                )
            )
        pairings_table = Table(
            "pairings",
            "结对帮扶 Pairings（截至期末 at the period's end）",
            [
                ORG_COLUMN,
                Column("county", "结对县", "county"),
                Column("period", "结对期", "period"),
                Column("status", "状态", "status"),
                Column("designated", "定点帮扶", "designated"),
                Column("key", "重点县", "key county"),
                Column("funds_target", "资金目标", "funds target", "yuan"),
                Column("funds_delivered", "资金已交付", "funds delivered", "yuan"),
                Column("projects", "项目 已达/目标", "projects met/target"),
                Column("hours", "服务小时 已交付/目标", "hours delivered/target"),
                Column("behind", "落后", "behind"),
                Column("id", "结对编号", "pairing id", pdf=False),
            ],
            rows,
            BEHIND_RULE,
        )

        # flows from home province to receiving province, and each org's key-county share
        cells: dict[tuple[int | None, int], dict[str, Any]] = {}
        share: dict[str, dict[str, Any]] = {}
        for c in snapshot.commitments.values():
            if not period.contains(c.block_time):
                continue
            code = snapshot.org_codes.get(c.org, c.org)
            home = homes.get(code)
            key = (home, c.county // 10000)
            cell = cells.setdefault(
                key, {"n": 0, "funds": 0, "delivered": 0, "records": set(), "orgs": set()}
            )
            cell["n"] += 1
            cell["orgs"].add(code)
            cell["records"].add(c.record_id)
            mine = share.setdefault(
                code, {"n": 0, "key": 0, "funds": 0, "key_funds": 0, "records": set()}
            )
            mine["n"] += 1
            mine["key"] += c.county in keys
            mine["records"].add(c.record_id)
            if c.resource_kind == 1:
                cell["funds"] += c.quantity
                cell["delivered"] += min(c.delivered, c.quantity)
                mine["funds"] += c.quantity
                mine["key_funds"] += c.quantity if c.county in keys else 0
        flow_rows = [
            Row(
                f"flow/{home or 0}/{recv}",
                {
                    "home": province_name(home),
                    "receiving": province_name(recv),
                    "east_west": "是 yes" if home in q.EAST and recv in q.WEST else "",
                    "orgs": len(v["orgs"]),
                    "commitments": v["n"],
                    "funds": v["funds"],
                    "delivered": v["delivered"],
                },
                v["records"],
                highlight=home in q.EAST and recv in q.WEST,
            )
            for (home, recv), v in sorted(cells.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))
        ]
        flows_table = Table(
            "east_west",
            "东西部协作 From home province to receiving province（本期承诺 commitments made in "
            "the period）",
            [
                Column("home", "来源省份", "home province"),
                Column("receiving", "受援省份", "receiving province"),
                Column("east_west", "东西部协作", "east–west"),
                Column("orgs", "组织数", "organizations", "count"),
                COMMITMENTS_COLUMN,
                Column("funds", "资金承诺", "funds committed", "yuan"),
                Column("delivered", "资金交付", "funds delivered", "yuan"),
            ],
            flow_rows,
            "来源省份取自登记 home province from the registration (authority, else credit code)",
        )
        share_rows = [
            Row(
                f"key_share/{code}",
                {
                    "org": org_label.get(code, code),
                    "home": province_name(homes.get(code)),
                    "commitments": v["n"],
                    "key": v["key"],
                    "share": v["key"] / v["n"] if v["n"] else None,
                    "share_funds": v["key_funds"] / v["funds"] if v["funds"] else None,
                    "code": code,
                },
                v["records"],
            )
            for code, v in sorted(share.items())
        ]
        share_table = Table(
            "org_key_share",
            "重点县占比 Key-county share of each organization's aid",
            [
                ORG_COLUMN,
                Column("home", "来源省份", "home province"),
                COMMITMENTS_COLUMN,
                Column("key", "对重点县", "to key counties", "count"),
                Column("share", "重点县占比", "key-county share", "pct"),
                Column("share_funds", "资金口径", "by funds", "pct"),
                CREDIT_CODE_COLUMN,
            ],
            share_rows,
            "重点县占比 = 对重点帮扶县的承诺数 ÷ 全部承诺数；资金口径按金额 / key-county share = "
            "commitments to key counties ÷ all commitments; by funds, in fen",
        )
        return {"pairings": pairings_table, "east_west": flows_table, "org_key_share": share_table}

    return section


def iati_pairings(session: Session, snapshot: Any) -> dict[str, Any]:
    """Commitment id → the accepted pairing it cites (`ledger.export.iati.PairingRef`), all
    recorded before the snapshot's cut-off, for the IATI export's participating orgs."""
    from ledger.export.iati import PairingRef

    size = snapshot.log_size
    accepted = {
        a.pairing_id
        for a in session.scalars(select(PairingAcceptanceRow))
        if int(a.leaf_index or 0) < size
    }
    rows = {
        p.record_id: p
        for p in session.scalars(select(PairingRow))
        if int(p.leaf_index or 0) < size and p.record_id in accepted
    }
    out: dict[str, Any] = {}
    for c in session.scalars(select(PairingCommitmentRow)):
        p = rows.get(c.pairing_id)
        if p is not None and int(c.leaf_index or 0) < size:
            out[c.commitment_id] = PairingRef(
                p.record_id, p.org, _ymd(int(p.start_date)), _ymd(int(p.end_date)), p.designated
            )
    return out


def org_programs(session: Session, org_code: str | None) -> dict[str, Any] | None:
    """What the organization's portal page shows of the programs: its home province, its
    pairings with their progress, and its key-county share, each share with its formula."""
    if not org_code:
        return None
    keys = key_county_codes(session)
    names = provinces()
    addresses = [a for a, c in org_codes(session).items() if c == org_code]
    n = key = funds = key_funds = 0
    for county, kind, quantity in session.execute(
        select(CommitmentRow.county, CommitmentRow.resource_kind, CommitmentRow.quantity).where(
            CommitmentRow.org.in_(addresses)
        )
    ):
        n += 1
        key += int(county) in keys
        if kind == 1:
            funds += int(quantity)
            key_funds += int(quantity) if int(county) in keys else 0
    day = q.today_code()
    authority = session.scalars(
        select(RoleEvent.authority)
        .where(RoleEvent.org_code == org_code, RoleEvent.role == "ORG", RoleEvent.granted)
        .order_by(RoleEvent.block_number.desc(), RoleEvent.log_index.desc())
        .limit(1)
    ).first()
    return {
        "home_name": province_name(q.home_province(org_code, authority, names)),
        "pairings": [pairing_json(p, day, keys) for p in q.pairings(session, org_code=org_code)],
        "key_share": key / n if n else None,
        "key_share_funds": key_funds / funds if funds else None,
        "key_share_formula": "对重点帮扶县的承诺数 ÷ 全部承诺数 / commitments to key "
        "counties ÷ all commitments",
        "key_share_funds_formula": "对重点县的资金承诺 ÷ 全部资金承诺（按金额）/ fen "
        "committed to key counties ÷ all fen committed",
    }
