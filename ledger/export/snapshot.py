"""The read model as it stood at a cut-off time, with the log size and root at that time.

Reports and indicators are computed from a `Snapshot`, never from the live running totals,
so a report for a past period gives the same figures tomorrow as today, and every figure
can name the records behind it and the log root they are all included under.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import codes
from ledger.core.errors import LedgerError, PeriodError
from ledger.core.fields import BEIJING
from ledger.core.merkle import MerkleTree, leaf_hash, root
from ledger.export.funds import FundState, load_funds
from ledger.library.models import KeyCounty, LibraryMatch
from ledger.library.regions import counties, provinces
from ledger.store import models
from ledger.store.followup_models import FollowUpRow
from ledger.store.queries.orgs import org_codes, org_names

#: Periods are calendar periods in China Standard Time (UTC+8, no daylight saving).


@dataclass(frozen=True)
class Period:
    """[start, end) in unix seconds; `end` is the report's cut-off."""

    label: str
    start: int
    end: int

    def contains(self, t: int) -> bool:
        return self.start <= t < self.end

    @property
    def start_date(self) -> str:
        return datetime.fromtimestamp(self.start, BEIJING).date().isoformat()

    @property
    def last_date(self) -> str:
        """The last calendar day inside the period."""
        return (datetime.fromtimestamp(self.end, BEIJING) - timedelta(seconds=1)).date().isoformat()


def _ts(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=BEIJING).timestamp())


def _month_start(year: int, month: int) -> date:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1)


def parse_period(text: str, *, now: int | None = None) -> Period:
    """`2026`, `2026-H1`, `2026-Q3` (or `2026Q3`), `2026-07`, `2026-07-01..2026-09-30` or `all`
    (to now)."""
    text = text.strip()
    if text.lower() == "all":
        end = now if now is not None else int(datetime.now(UTC).timestamp()) + 1
        return Period("all", 0, end)
    # ASCII digits only (\d would take ٢٠٢٦), and a year that has a next one.
    # 2026-Q4 or 2026Q4 (the hyphen is optional before a quarter or a half, not a month)
    m = re.fullmatch(r"([1-9][0-9]{3})(?:-?(Q[1-4]|H[12])|-([0-9]{2}))?", text, re.IGNORECASE)
    if m:
        year = int(m.group(1))
        part = (m.group(2) or m.group(3) or "").upper()
        if not part:
            first, months = 1, 12
        elif part.startswith("Q"):
            first, months = 3 * (int(part[1]) - 1) + 1, 3
        elif part.startswith("H"):
            first, months = 6 * (int(part[1]) - 1) + 1, 6
        else:
            first, months = int(part), 1
            if not 1 <= first <= 12:
                raise PeriodError(f"period {text}: month {part} is not 01..12", period=text)
        if year >= 9999:
            raise PeriodError(f"period {text}: the year must be before 9999", period=text)
        first_day = _month_start(year, first)
        next_day = _month_start(year, first + months)
        label = f"{year}-{part}" if part else str(year)
        return Period(label, _ts(first_day), _ts(next_day))
    m = re.fullmatch(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})", text)
    if m:
        try:
            first_day = date.fromisoformat(m.group(1))
            last_day = date.fromisoformat(m.group(2))
        except ValueError:
            raise PeriodError(f"{text!r} has an invalid date", period=text) from None
        if last_day < first_day:
            raise PeriodError("the period ends before it starts", period=text)
        if last_day >= date.max:
            raise PeriodError("the period must end before 9999-12-31", period=text)
        return Period(text, _ts(first_day), _ts(last_day + timedelta(days=1)))
    raise PeriodError(
        f"period {text!r} not understood; write 2026, 2026-H1, 2026-Q3, 2026-07, "
        "2026-07-01..2026-09-30 or all",
        period=text,
    )


def resolve_period(session: Session, text: str) -> Period:
    """`parse_period`, with `all` ending after the newest indexed record as well as after
    now: a chain whose clock runs ahead of this server's (a validator's skew, a dev chain
    moved forward) must not leave its newest records out of "all"."""
    if text.strip().lower() != "all":
        return parse_period(text)
    newest = session.scalar(
        select(models.LogEntry.block_time).order_by(models.LogEntry.leaf_index.desc()).limit(1)
    )
    now = int(datetime.now(UTC).timestamp()) + 1
    return parse_period(text, now=max(now, (newest or 0) + 1))


def records_root(ids: Iterable[str]) -> str:
    """RFC 9162 root over the sorted, distinct record ids (each id's 32 bytes is a leaf)."""
    leaves = [leaf_hash(bytes.fromhex(i[2:])) for i in sorted(set(ids))]
    return "0x" + root(leaves).hex()


@dataclass
class Need:
    project_id: str
    county: int
    category: int
    version: int
    block_time: int
    anchor_ids: list[str] = field(default_factory=list)
    #: the title its county signed in the latest anchor (the library content's title)
    title: str = ""
    budget: int = 0
    #: a 点单/接单 match with it was accepted before the cut-off
    matched: bool = False


@dataclass
class CommitmentState:
    record_id: str
    need_id: str
    org: str
    county: int
    category: int
    resource_kind: int
    quantity: int
    unit: str
    due_date: int
    block_time: int
    delivered: int = 0
    confirmed: int = 0
    delivered_by_due: int = 0
    delivery_ids: list[str] = field(default_factory=list)
    receipt_ids: list[str] = field(default_factory=list)

    @property
    def fully_delivered(self) -> bool:
        return self.delivered >= self.quantity


@dataclass
class DeliveryShare:
    record_id: str
    commitment_id: str
    org: str
    county: int
    category: int
    quantity: int
    block_time: int
    beneficiary_count: int
    batch: bool
    confirmed: int | None = None  # quantity its receipt confirms, None while unreceipted
    receipt_id: str | None = None
    receipt_time: int | None = None


@dataclass
class FlagState:
    record_id: str
    target_id: str
    reason_code: int
    block_time: int


@dataclass
class FollowUpState:
    """A county's follow-up result (回访) on a batch line: 1 received in full, 2 in part,
    3 not received, 4 household not found."""

    record_id: str
    round_id: str
    batch_id: str
    line_index: int
    org: str
    county: int
    outcome: int
    quantity: int
    block_time: int


@dataclass
class Snapshot:
    """Everything on the log before `cutoff` (block time), restricted to one province if
    asked; `log_size`/`log_root` are the whole log's at the cut-off."""

    cutoff: int
    province: int | None
    log_size: int
    log_root: str
    last_block: int | None
    needs: dict[str, Need]
    commitments: dict[str, CommitmentState]
    deliveries: list[DeliveryShare]
    flags: list[FlagState]
    org_codes: dict[str, str]
    org_names: dict[str, tuple[str, str | None]]
    tx_hashes: dict[str, str]
    #: special funds opened before the cut-off, with the snapshot's draws (ledger.export.funds)
    funds: dict[str, FundState] = field(default_factory=dict)
    follow_ups: list[FollowUpState] = field(default_factory=list)

    def org_code(self, address: str) -> str:
        return self.org_codes.get(address, address)

    def org_name(self, address: str) -> str:
        """The organization's registered name, else its credit code (else the address)."""
        code = self.org_code(address)
        name = self.org_names.get(code)
        return name[0] if name else code

    def org_label(self, address: str) -> str:
        code = self.org_code(address)
        name = self.org_names.get(code)
        return f"{name[0]} ({code})" if name else code

    @property
    def province_name(self) -> str | None:
        return provinces().get(self.province) if self.province is not None else None

    def need_title(self, need_id: str) -> str:
        """A need's title as its county signed it, or a description when it has none."""
        need = self.needs.get(need_id)
        if need is not None and need.title:
            return need.title
        return "（未命名需求 untitled need）"

    def record_owner(self) -> dict[str, str]:
        """Record id → the organization address whose record it is (for flag attribution)."""
        owner = {c.record_id: c.org for c in self.commitments.values()}
        owner.update({d.record_id: d.org for d in self.deliveries})
        for c in self.commitments.values():
            for rid in c.receipt_ids:
                owner[rid] = c.org
        return owner


def _in_province(county: int, province: int | None) -> bool:
    return province is None or county // 10000 == province


def county_label(code: int) -> str:
    """A county by name with its prefecture, `册亨县（黔西南布依族苗族自治州）`; a code the
    GB/T 2260 table does not have reads `县 <code>`."""
    county = counties().get(code)
    if county is None:
        return f"县 {code}"
    if county.city in ("市辖区", "县", "省直辖县级行政区划", ""):
        return f"{county.name}（{county.province}）"
    return f"{county.name}（{county.city}）"


def require_province(province: int) -> int:
    """A 2-digit province code that GB/T 2260 has, or an error with a stable code."""
    if not 10 <= province <= 99:
        raise LedgerError(
            f"省级代码 {province} 应为两位数字 / province {province} must be a 2-digit "
            "GB/T 2260 code such as 52 (贵州省)",
            code=codes.BAD_PROVINCE,
        )
    if province not in provinces():
        raise LedgerError(
            f"没有省级代码为 {province} 的省（区、市）/ {province} is not a province code "
            "in GB/T 2260; use the 2-digit prefix of a county code, e.g. 52 for 贵州省",
            code=codes.UNKNOWN_PROVINCE,
        )
    return province


def load_snapshot(session: Session, cutoff: int, *, province: int | None = None) -> Snapshot:
    """The read model at `cutoff` (unix seconds, exclusive), computed from indexed rows."""
    if province is not None:
        require_province(province)
    size = session.scalar(
        select(func.count()).select_from(models.LogEntry).where(models.LogEntry.block_time < cutoff)
    )
    size = int(size or 0)
    leaves = session.execute(
        select(models.LogEntry.leaf_index, models.LogEntry.leaf_hash, models.LogEntry.block_number)
        .where(models.LogEntry.leaf_index < size)
        .order_by(models.LogEntry.leaf_index)
    ).all()
    if len(leaves) != size or (leaves and leaves[-1][0] != size - 1):
        # entries before the cut-off are a prefix of the log only if the index has no gaps
        raise LedgerError(
            "the indexed log has gaps before the cut-off; let the indexer catch up and retry",
            code=codes.INDEX_INCOMPLETE,
        )
    tree = MerkleTree(bytes.fromhex(h[2:]) for _, h, _ in leaves)
    last_block = int(leaves[-1][2]) if leaves else None

    before = models.LogEntry.leaf_index < size
    needs: dict[str, Need] = {}
    rows = session.execute(
        select(models.ProjectAnchorRow, models.LogEntry.block_time)
        .join(models.LogEntry, models.LogEntry.record_id == models.ProjectAnchorRow.record_id)
        .where(before, models.ProjectAnchorRow.project_kind == 1)
        .order_by(models.LogEntry.leaf_index)
    ).all()
    for a, t in rows:
        if not _in_province(a.county, province):
            continue
        need = needs.get(a.project_id)
        if need is None:
            need = needs[a.project_id] = Need(a.project_id, a.county, a.category, a.version, t)
        need.category, need.version = a.category, a.version
        need.title, need.budget = a.title or need.title, int(a.budget or 0)
        need.anchor_ids.append(a.record_id)
    if needs:
        for need_id, responded in session.execute(
            select(LibraryMatch.need_id, LibraryMatch.responded_at).where(
                LibraryMatch.status == "accepted", LibraryMatch.need_id.in_(list(needs))
            )
        ).all():
            when = (
                responded
                if responded is None or responded.tzinfo
                else responded.replace(tzinfo=UTC)
            )
            if when is not None and when.timestamp() < cutoff:
                needs[need_id].matched = True

    commitments: dict[str, CommitmentState] = {}
    tx_hashes: dict[str, str] = {}
    for c, t, tx in session.execute(
        select(models.CommitmentRow, models.LogEntry.block_time, models.LogEntry.tx_hash)
        .join(models.LogEntry, models.LogEntry.record_id == models.CommitmentRow.record_id)
        .where(before)
        .order_by(models.LogEntry.leaf_index)
    ).all():
        if not _in_province(c.county, province):
            continue
        commitments[c.record_id] = CommitmentState(
            c.record_id, c.need_id, c.org, c.county, c.category, c.resource_kind,
            int(c.quantity), c.unit, int(c.due_date), int(t),
        )  # fmt: skip
        tx_hashes[c.record_id] = tx

    deliveries: list[DeliveryShare] = []
    by_record: dict[str, DeliveryShare] = {}
    for d, t in session.execute(
        select(models.DeliveryRow, models.LogEntry.block_time)
        .join(models.LogEntry, models.LogEntry.record_id == models.DeliveryRow.record_id)
        .where(before)
        .order_by(models.LogEntry.leaf_index, models.DeliveryRow.commitment_id)
    ).all():
        state = commitments.get(d.commitment_id)
        if state is None:
            continue
        share = DeliveryShare(
            d.record_id, d.commitment_id, d.org, d.county, d.category, int(d.quantity), int(t),
            d.beneficiary_count, d.batch,
        )  # fmt: skip
        deliveries.append(share)
        by_record.setdefault(d.record_id, share)
        state.delivered += share.quantity
        if t <= state.due_date:
            state.delivered_by_due += share.quantity
        if d.record_id not in state.delivery_ids:
            state.delivery_ids.append(d.record_id)

    for r, rt in session.execute(
        select(models.ReceiptRow, models.LogEntry.block_time)
        .join(models.LogEntry, models.LogEntry.record_id == models.ReceiptRow.record_id)
        .where(before)
        .order_by(models.LogEntry.leaf_index)
    ).all():
        target = by_record.get(r.delivery_id)
        if target is None:
            continue
        target.confirmed = int(r.confirmed_quantity)
        target.receipt_id = r.record_id
        target.receipt_time = int(rt)
        state = commitments[target.commitment_id]
        state.confirmed += int(r.confirmed_quantity)
        state.receipt_ids.append(r.record_id)

    flags = [
        FlagState(f.record_id, f.target_id, f.reason_code, int(t))
        for f, t in session.execute(
            select(models.FlagRow, models.LogEntry.block_time)
            .join(models.LogEntry, models.LogEntry.record_id == models.FlagRow.record_id)
            .where(before)
            .order_by(models.LogEntry.leaf_index)
        ).all()
    ]

    follow_ups: list[FollowUpState] = []
    for f in session.scalars(
        select(FollowUpRow).where(FollowUpRow.leaf_index < size).order_by(FollowUpRow.leaf_index)
    ):
        if _in_province(int(f.county), province):
            visit = FollowUpState(
                f.record_id, f.round_id, f.batch_id, int(f.line_index), f.org, int(f.county),
                int(f.outcome), int(f.quantity), int(f.block_time or 0),
            )  # fmt: skip
            follow_ups.append(visit)

    code_of_org = org_codes(session)
    names = org_names(session)
    return Snapshot(
        cutoff=cutoff,
        province=province,
        log_size=size,
        log_root="0x" + tree.root().hex(),
        last_block=last_block,
        needs=needs,
        commitments=commitments,
        deliveries=deliveries,
        flags=flags,
        org_codes=code_of_org,
        org_names=names,
        tx_hashes=tx_hashes,
        funds=load_funds(session, cutoff, commitments, all_funds=province is None),
        follow_ups=follow_ups,
    )


def check_against_chain(snapshot: Snapshot, ledger: Any) -> bool:
    """True if the contract's own logSize/logRoot at the last block before the cut-off equal
    the snapshot's (needs a node that serves historical state, as anvil does)."""
    if snapshot.last_block is None:
        return snapshot.log_size == 0
    size = ledger.log_size(snapshot.last_block)
    chain_root = "0x" + bytes(ledger.log_root(snapshot.last_block)).hex()
    return bool(size == snapshot.log_size and chain_root == snapshot.log_root)


def load_key_counties(path: Path | None, session: Session | None = None) -> set[int]:
    """Key counties (重点帮扶县) from a file of 6-digit codes (one per line or the first CSV
    column; `#` starts a comment); without a file, the library's key-county table."""
    if path is None:
        if session is None:
            return set()
        return {int(c) for c in session.scalars(select(KeyCounty.code)).all()}
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise LedgerError(
            f"cannot read the key-county file {path}: {exc.strerror}", code=codes.BAD_KEY_COUNTIES
        ) from None
    out: set[int] = set()
    for n, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not value or (n == 1 and not value.isdigit()):
            continue  # blank, comment or a header row
        if not (value.isdigit() and len(value) == 6):
            raise LedgerError(
                f"{path}:{n}: {value!r} is not a 6-digit county code", code=codes.BAD_KEY_COUNTIES
            )
        out.add(int(value))
    return out
