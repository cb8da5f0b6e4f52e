"""The pairing program at a snapshot's cut-off: the periodic report's pairing and east–west
section and the pairings the IATI export names, each keeping only what was recorded before
the snapshot's cut-off (leaf index below its log size), so a past period's stays the same.
The live views the API, the portal and the CLI show are in `ledger.export.pairing`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.export.iati import PairingRef
from ledger.export.pairing import (
    BEHIND_RULE,
    KEY_SHARE_FORMULA,
    KEY_SHARE_FUNDS_FORMULA,
    TARGETS,
    county_name,
    iso_day,
    province_name,
)
from ledger.export.report_tables import (
    COMMITMENTS_COLUMN,
    CREDIT_CODE_COLUMN,
    ORG_COLUMN,
    Column,
    ReportSection,
    Row,
    Table,
)
from ledger.export.snapshot import Period, Snapshot
from ledger.library.regions import provinces
from ledger.store.pairing_models import PairingAcceptanceRow, PairingCommitmentRow, PairingRow
from ledger.store.queries import pairing as q
from ledger.store.queries.orgs import org_names

__all__ = ["iati_pairings", "report_section"]


def report_section(session: Session) -> ReportSection:
    """The report's pairing and east–west section (`ledger.export.report_tables.ReportSection`):
    what it needs beyond the snapshot (pairings, acceptances and citations, home provinces)
    is read now from `session`; each table keeps only what lies before the snapshot's
    cut-off (leaf index below its log size), so a past period's section stays the same."""
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

    def section(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
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
                        "period": f"{iso_day(int(p.start_date))}..{iso_day(int(p.end_date))}",
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
            f"{KEY_SHARE_FORMULA}; {KEY_SHARE_FUNDS_FORMULA}",
        )
        return {"pairings": pairings_table, "east_west": flows_table, "org_key_share": share_table}

    return section


def iati_pairings(session: Session, snapshot: Snapshot) -> dict[str, PairingRef]:
    """Commitment id → the accepted pairing it cites (`ledger.export.iati.PairingRef`), all
    recorded before the snapshot's cut-off, for the IATI export's participating orgs."""
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
    out: dict[str, PairingRef] = {}
    for c in session.scalars(select(PairingCommitmentRow)):
        p = rows.get(c.pairing_id)
        if p is not None and int(c.leaf_index or 0) < size:
            out[c.commitment_id] = PairingRef(
                p.record_id,
                p.org,
                iso_day(int(p.start_date)),
                iso_day(int(p.end_date)),
                p.designated,
            )
    return out
