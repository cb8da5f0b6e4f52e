"""Organization evaluation indicators (docs/reports.md §2), computed from a `Snapshot` only.

Every ratio is computed per commitment and averaged over the commitments in scope, so
funds (fen), goods (their units) and services (hours) can be counted together; the
funds-weighted variant is given beside it. A ratio with nothing in scope is None, not 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.core.errors import NotFoundError
from ledger.core.fields import FollowUpOutcome, ResourceKind
from ledger.export.snapshot import CommitmentState, Period, Snapshot, records_root

#: How each indicator is computed, in words (Chinese, then English), shown beside its value.
#: Every input is on chain: commitments, deliveries and receipts with their block times, and
#: the key-county list (docs/programs.md says how to recompute each).
FORMULAS: dict[str, str] = {
    "commitments": "本期签署的承诺数 / commitments recorded in the period",
    "fulfilment_rate": "各承诺 min(已交付, 承诺量) ÷ 承诺量 的平均 / mean over commitments of "
    "min(delivered, committed) ÷ committed",
    "on_time_rate": "本期到期的承诺中，到期日（dueDate）前足额交付的比例 / of the commitments "
    "due in the period, the share delivered in full by their due date (deliveries whose block "
    "time is at or before dueDate)",
    "confirmed_rate": "已交付承诺的 min(签收, 交付) ÷ 交付 的平均 / mean over delivered "
    "commitments of min(confirmed, delivered) ÷ delivered",
    "key_county_share": "本期承诺中需求位于重点帮扶县的比例 / share of the commitments made in "
    "the period whose need lies in a key county",
    "key_county_share_funds": "本期资金承诺中投向重点帮扶县的金额 ÷ 全部资金承诺金额 / fen "
    "committed to key counties ÷ all fen committed in the period",
    "follow_up_confirmation_rate": "回访确认率 = 回访结果为“全部收到”的明细行数 ÷ 已回访的"
    "明细行数 / follow-up confirmation rate = lines found received in full ÷ lines followed up "
    "(FollowUp records, outcome 1)",
    "grievances_upheld": "成立的申诉数 = 本期提交、所涉记录（承诺、交付、签收）属于本组织、"
    "县级答复为“成立”的申诉数（截至期末）/ grievances upheld = grievances filed in the period "
    "about the organization's commitment, delivery or receipt that the county answered upheld "
    "(GrievanceAnswer outcome 1) by the period's end",
    "flags": "审计标记数 / auditor flags on the organization's records",
}


@dataclass
class Indicators:
    org_code: str
    org_addresses: list[str]
    period: str
    period_start: int
    cutoff: int
    log_size: int
    log_root: str
    # participation (commitments made in the period)
    commitments: int
    needs: int
    counties: int
    committed_funds_fen: int
    # rates over all commitments made before the cut-off, and over those due in the period
    fulfilment_rate: float | None
    fulfilment_rate_funds: float | None
    on_time_rate: float | None
    commitments_due: int
    confirmed_rate: float | None
    confirmed_rate_funds: float | None
    key_county_share: float | None
    key_county_share_funds: float | None
    flags_in_period: int
    flags_total: int
    # provenance: record ids behind each indicator
    records: dict[str, list[str]] = field(default_factory=dict)
    # programs (issue 18): slots the follow-up and grievance programs fill (None: not computed)
    # household follow-up (回访): lines of the organization's batches the counties visited,
    # and the share found received in full (FORMULAS["follow_up_confirmation_rate"])
    followed_up: int = 0
    follow_up_confirmation_rate: float | None = None
    grievances_upheld: int | None = None
    #: each indicator's formula, shown beside its value (docs/reports.md §2)
    formulas: dict[str, str] = field(default_factory=lambda: dict(FORMULAS))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["records_root"] = {k: records_root(v) for k, v in self.records.items()}
        return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def org_addresses(snapshot: Snapshot, org: str) -> list[str]:
    """Signing addresses of an organization given by credit code (or one 0x address)."""
    if org.startswith("0x"):
        return [
            a for a in {c.org for c in snapshot.commitments.values()} if a.lower() == org.lower()
        ]
    return sorted(a for a, code in snapshot.org_codes.items() if code == org)


def compute(
    snapshot: Snapshot,
    org: str,
    period: Period,
    *,
    key_counties: Iterable[int] = (),
    grievances_upheld: Mapping[str, int] | None = None,
) -> Indicators:
    """The indicators of one organization (credit code) for `period`, at the snapshot's
    cut-off (which should be `period.end`); `grievances_upheld` is
    `ledger.store.queries.grievance.upheld_by_org` of the period (None leaves it unknown)."""
    addresses = org_addresses(snapshot, org)
    if not addresses:
        raise NotFoundError(
            f"no organization {org} is registered on this ledger; check the 18-character "
            "unified social credit code (统一社会信用代码)",
            code="org_not_found",
        )
    keys = set(key_counties)
    mine = [c for c in snapshot.commitments.values() if c.org in addresses]
    made = [c for c in mine if period.contains(c.block_time)]
    due = [c for c in mine if period.contains(c.due_date) and c.due_date < snapshot.cutoff]
    delivered = [c for c in mine if c.delivered > 0]
    funds = [c for c in mine if c.resource_kind == ResourceKind.FUNDS]

    def capped(c: CommitmentState) -> int:
        return min(c.delivered, c.quantity)

    fulfil = _mean([capped(c) / c.quantity for c in mine if c.quantity])
    fulfil_funds = _ratio(sum(capped(c) for c in funds), sum(c.quantity for c in funds))
    on_time = _mean([1.0 if c.delivered_by_due >= c.quantity else 0.0 for c in due])
    confirmed = _mean([min(c.confirmed, c.delivered) / c.delivered for c in delivered])
    dfunds = [c for c in delivered if c.resource_kind == ResourceKind.FUNDS]
    confirmed_funds = _ratio(
        sum(min(c.confirmed, c.delivered) for c in dfunds), sum(c.delivered for c in dfunds)
    )
    key_share = _mean([1.0 if c.county in keys else 0.0 for c in made])
    made_funds = [c for c in made if c.resource_kind == ResourceKind.FUNDS]
    key_funds = _ratio(
        sum(c.quantity for c in made_funds if c.county in keys),
        sum(c.quantity for c in made_funds),
    )
    owner = snapshot.record_owner()
    my_flags = [f for f in snapshot.flags if owner.get(f.target_id) in addresses]
    flags_period = [f for f in my_flags if period.contains(f.block_time)]

    def ids(cs: Iterable[CommitmentState], *, with_deliveries: bool = False,
            with_receipts: bool = False) -> list[str]:  # fmt: skip
        out: list[str] = []
        for c in cs:
            out.append(c.record_id)
            if with_deliveries:
                out.extend(c.delivery_ids)
            if with_receipts:
                out.extend(c.receipt_ids)
        return sorted(set(out))

    visits = [f for f in snapshot.follow_ups if f.org in addresses]
    full = sum(1 for f in visits if f.outcome == FollowUpOutcome.RECEIVED_IN_FULL)
    code = snapshot.org_codes.get(addresses[0], org)
    return Indicators(
        org_code=code,
        org_addresses=addresses,
        period=period.label,
        period_start=period.start,
        cutoff=snapshot.cutoff,
        log_size=snapshot.log_size,
        log_root=snapshot.log_root,
        commitments=len(made),
        needs=len({c.need_id for c in made}),
        counties=len({c.county for c in made}),
        committed_funds_fen=sum(c.quantity for c in made_funds),
        fulfilment_rate=fulfil,
        fulfilment_rate_funds=fulfil_funds,
        on_time_rate=on_time,
        commitments_due=len(due),
        confirmed_rate=confirmed,
        confirmed_rate_funds=confirmed_funds,
        key_county_share=key_share,
        key_county_share_funds=key_funds,
        flags_in_period=len(flags_period),
        flags_total=len(my_flags),
        records={
            "participation": ids(made),
            "fulfilment_rate": ids(mine, with_deliveries=True),
            "on_time_rate": ids(due, with_deliveries=True),
            "confirmed_rate": ids(delivered, with_deliveries=True, with_receipts=True),
            "key_county_share": ids(made),
            "flags": sorted(f.record_id for f in my_flags),
            "follow_up_confirmation_rate": sorted(f.record_id for f in visits),
        },
        followed_up=len(visits),
        follow_up_confirmation_rate=_ratio(full, len(visits)),
        grievances_upheld=None if grievances_upheld is None else grievances_upheld.get(code, 0),
    )
