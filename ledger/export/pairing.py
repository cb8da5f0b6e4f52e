"""The pairing program and east–west cooperation as people read them
(docs/programs.md): the store's facts (`ledger.store.queries.pairing`) with county,
province and organization names, yuan and Beijing dates beside the raw fen and codes. The
JSON API, the portal and the CLI shape their answers here; the periodic report's section
and the IATI export's pairings, at a snapshot's cut-off, are in `ledger.export.pairing_snapshot`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.display import beijing_time, yuan
from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.library.models import KeyCounty
from ledger.library.regions import counties, provinces
from ledger.store.queries import pairing as q
from ledger.store.queries.orgs import org_names

__all__ = [
    "BEHIND_RULE",
    "KEY_SHARE_FORMULA",
    "KEY_SHARE_FUNDS_FORMULA",
    "TARGETS",
    "county_name",
    "east_west",
    "iso_day",
    "key_counties",
    "key_county_codes",
    "org_programs",
    "oversight",
    "pairing_json",
    "pairings",
    "province_name",
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

#: How the key-county share (重点县占比) of an organization's aid is reckoned, by count and
#: by funds; the portal's pages and the report say it in these words.
KEY_SHARE_FORMULA = (
    "重点县占比 = 对重点帮扶县的承诺数 ÷ 全部承诺数 / key-county share = commitments to key "
    "counties ÷ all commitments"
)
KEY_SHARE_FUNDS_FORMULA = (
    "资金口径 = 对重点县承诺的金额 ÷ 全部资金承诺金额 / by funds = fen committed to key "
    "counties ÷ all fen committed"
)


def county_name(code: int) -> str:
    c = counties().get(int(code))
    return c.full_name if c else str(code)


def province_name(code: int | None) -> str:
    return provinces().get(code, NATIONAL) if code is not None else NATIONAL


def iso_day(code: int) -> str:
    """A day code yyyymmdd as the date yyyy-mm-dd."""
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
        "start_date": iso_day(p.start_date),
        "end_date": iso_day(p.end_date),
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
        "today": iso_day(day),
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
        "today": iso_day(day),
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
        "key_share_formula": f"{KEY_SHARE_FORMULA}; {KEY_SHARE_FUNDS_FORMULA}",
    }


def org_programs(session: Session, org_code: str | None) -> dict[str, Any] | None:
    """What the organization's portal page shows of the programs: its home province, its
    pairings with their progress, and its key-county share, each share with its formula."""
    if not org_code:
        return None
    keys = key_county_codes(session)
    names = provinces()
    found = q.aid_by_org(session, keys, names, org_code=org_code)
    home = found[0].home if found else q.home_province(org_code, None, names)
    day = q.today_code()
    return {
        "home_name": province_name(home),
        "pairings": [pairing_json(p, day, keys) for p in q.pairings(session, org_code=org_code)],
        "key_share": found[0].key_share if found else None,
        "key_share_funds": found[0].key_share_funds if found else None,
        "key_share_formula": KEY_SHARE_FORMULA,
        "key_share_funds_formula": KEY_SHARE_FUNDS_FORMULA,
    }
