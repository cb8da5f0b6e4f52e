"""The replay of the program records (pairings, funds, commitment sources, follow-up rounds
and results, grievances and answers): every rule the contract enforces on them, checked
again from the log alone, so that a contract that skipped one, or a chain that was written
by something else, shows as a finding. `Replay` calls `ProgramReplay.apply` for these kinds.

What the contract cannot see is checked here too, from the chain: a follow-up's line must be
in the round's sample, drawn from the hash of the round's seed block (`check_samples`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ledger.audit.codes import (
    FOLLOW_UP_OUTSIDE_SAMPLE,
    FOLLOW_UP_RULE_BROKEN,
    FUND_OVER_COMMITTED,
    FUND_RULE_BROKEN,
    GRIEVANCE_RULE_BROKEN,
    INTEGRITY,
    PAIRING_RULE_BROKEN,
    SOURCE_RULE_BROKEN,
    UNKNOWN_NEED,
)
from ledger.audit.report import AuditReport, to_hex
from ledger.core.fields import (
    FollowUpOutcome,
    GrievanceOutcome,
    ProjectKind,
    ResourceKind,
    SponsorKind,
    valid_date_code,
    valid_title,
)
from ledger.core.program_kinds import (
    CommitmentSource,
    FollowUp,
    FollowUpRound,
    Fund,
    FundContribution,
    Grievance,
    GrievanceAnswer,
    Pairing,
    PairingAcceptance,
)
from ledger.core.records import Kind
from ledger.core.sample import sample_indices

if TYPE_CHECKING:
    from ledger.audit.replay import Leaf, Replay

__all__ = ["PROGRAM_KINDS", "ProgramReplay", "check_samples"]

#: The kinds this module replays.
PROGRAM_KINDS = frozenset(
    {
        Kind.PAIRING,
        Kind.PAIRING_ACCEPTANCE,
        Kind.FUND,
        Kind.FUND_CONTRIBUTION,
        Kind.COMMITMENT_SOURCE,
        Kind.FOLLOW_UP_ROUND,
        Kind.FOLLOW_UP,
        Kind.GRIEVANCE,
        Kind.GRIEVANCE_ANSWER,
    }
)
#: A county office's record on an earlier record the log does not hold: the finding, by the
#: record's kind, and its message (the earlier record's id goes in the `{}`).
_UNKNOWN_TARGET: dict[Kind, tuple[str, str]] = {
    Kind.PAIRING_ACCEPTANCE: (PAIRING_RULE_BROKEN, "pairing {} is unknown"),
    Kind.FOLLOW_UP: (FOLLOW_UP_RULE_BROKEN, "round {} is unknown"),
    Kind.GRIEVANCE: (UNKNOWN_NEED, "need {} is not anchored"),
    Kind.GRIEVANCE_ANSWER: (GRIEVANCE_RULE_BROKEN, "grievance {}"),
}
_MAX_QUANTITY = (1 << 63) - 1
_ZERO = bytes(32)


class _OfCounty(Protocol):
    """An earlier record a county office's record refers to: it belongs to one county."""

    @property
    def county(self) -> int: ...


_Target = TypeVar("_Target", bound=_OfCounty)


@dataclass
class PairingState:
    org: str
    county: int
    accepted: bool = False


@dataclass
class FundState:
    org: str
    pledged: int
    committed: int = 0
    contributed: int = 0


@dataclass
class RoundState:
    """A follow-up round: its county, batch, line count and seed block, and where it is."""

    county: int
    batch_id: bytes
    line_count: int
    seed_block: int
    leaf_index: int
    rate_bps: int = 0


@dataclass
class GrievanceState:
    """A grievance's county, and whether it was answered."""

    county: int
    answered: bool = False


class ProgramReplay:
    """The program records' state and rules, beside the `Replay` that owns the log."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.pairings: dict[bytes, PairingState] = {}
        self.funds: dict[bytes, FundState] = {}
        self.sourced: set[bytes] = set()
        self.rounds: dict[bytes, RoundState] = {}
        self.round_keys: set[tuple[bytes, int]] = set()
        self.followed: dict[tuple[bytes, int], int] = {}  # (round, line) → leaf index
        self.grievances: dict[bytes, GrievanceState] = {}
        self.follow_ups: list[tuple[Leaf, FollowUp]] = []
        self._rules: dict[Kind, Callable[[Leaf, Any], None]] = {
            Kind.PAIRING: self._pairing,
            Kind.PAIRING_ACCEPTANCE: self._acceptance,
            Kind.FUND: self._fund,
            Kind.FUND_CONTRIBUTION: self._contribution,
            Kind.COMMITMENT_SOURCE: self._source,
            Kind.FOLLOW_UP_ROUND: self._round,
            Kind.FOLLOW_UP: self._follow_up,
            Kind.GRIEVANCE: self._grievance,
            Kind.GRIEVANCE_ANSWER: self._answer,
        }

    def apply(self, leaf: Leaf) -> None:
        self._rules[leaf.record.kind](leaf, leaf.record.record)

    # ---- helpers --------------------------------------------------------------
    def _fail(self, leaf: Leaf, code: str, message: str) -> None:
        self.replay._fail(leaf, code, message)

    def _county_office(self, leaf: Leaf, county: int) -> bool:
        signer = leaf.record.signer
        if self.replay.county_of.get(signer) != county:
            self._fail(leaf, "wrong_county", f"{signer} is not the office of {county}")
            return False
        return True

    def _county_on(self, leaf: Leaf, target: _Target | None, target_id: bytes) -> _Target | None:
        """The rules of a county office's record on the earlier record `target_id` (`target`,
        None when the log holds none): the signer holds COUNTY, the earlier record is known
        (else the kind's `_UNKNOWN_TARGET` finding, and None) and the signer is the office
        of its county."""
        self.replay._need_role(leaf, "COUNTY")
        if target is None:
            code, unknown = _UNKNOWN_TARGET[leaf.record.kind]
            self._fail(leaf, code, unknown.format(to_hex(target_id)))
            return None
        self._county_office(leaf, target.county)
        return target

    # ---- pairing --------------------------------------------------------------
    def _pairing(self, leaf: Leaf, r: Pairing) -> None:
        self.replay._need_role(leaf, "ORG")
        if not 100_000 <= r.county <= 999_999:
            self._fail(leaf, PAIRING_RULE_BROKEN, f"county {r.county} is not a six-digit code")
        if not (
            r.start_date
            and valid_date_code(r.start_date)
            and valid_date_code(r.end_date)
            and r.end_date >= r.start_date
        ):
            self._fail(leaf, PAIRING_RULE_BROKEN, "the period is not two dates in order")
        if not 0 < r.categories < 1 << 10:
            self._fail(leaf, PAIRING_RULE_BROKEN, f"focus categories {r.categories:#x}")
        if r.funds_target > _MAX_QUANTITY:
            self._fail(leaf, PAIRING_RULE_BROKEN, "the funds target is out of range")
        self.pairings[r.id] = PairingState(leaf.record.signer, r.county)

    def _acceptance(self, leaf: Leaf, r: PairingAcceptance) -> None:
        p = self._county_on(leaf, self.pairings.get(r.pairing_id), r.pairing_id)
        if p is None:
            return
        if r.county != p.county or p.accepted:
            self._fail(leaf, PAIRING_RULE_BROKEN, "another county's pairing, or accepted twice")
        p.accepted = True

    # ---- funds ------------------------------------------------------------------
    def _fund(self, leaf: Leaf, r: Fund) -> None:
        self.replay._need_role(leaf, "ORG")
        if not valid_title(r.name):
            self._fail(leaf, FUND_RULE_BROKEN, "the fund's name is not 1..200 bytes of UTF-8")
        if r.sponsor_kind not in tuple(SponsorKind):
            self._fail(leaf, FUND_RULE_BROKEN, f"sponsor kind {r.sponsor_kind}")
        if not 0 < r.pledged <= _MAX_QUANTITY:
            self._fail(leaf, FUND_RULE_BROKEN, "the pledge is out of range")
        self.funds[r.id] = FundState(leaf.record.signer, r.pledged)

    def _owned_fund(self, leaf: Leaf, fund_id: bytes) -> FundState | None:
        fund = self.funds.get(fund_id)
        if fund is None or fund.org != leaf.record.signer:
            self._fail(leaf, FUND_RULE_BROKEN, f"fund {to_hex(fund_id)} is unknown or not theirs")
            return None
        return fund

    def _contribution(self, leaf: Leaf, r: FundContribution) -> None:
        self.replay._need_role(leaf, "ORG")
        fund = self._owned_fund(leaf, r.fund_id)
        if not 0 < r.amount <= _MAX_QUANTITY or not (
            r.received_date and valid_date_code(r.received_date)
        ):
            self._fail(leaf, FUND_RULE_BROKEN, "the amount or the date is out of range")
        elif fund is not None:
            fund.contributed += r.amount

    def _source(self, leaf: Leaf, r: CommitmentSource) -> None:
        self.replay._need_role(leaf, "ORG")
        c = self.replay.commitments.get(r.commitment_id)
        if c is None:
            self._fail(leaf, "unknown_commitment", f"commitment {to_hex(r.commitment_id)}")
            return
        if c.org != leaf.record.signer:
            self._fail(leaf, "not_commitment_owner", "another organization's commitment")
        if r.commitment_id in self.sourced:
            self._fail(leaf, SOURCE_RULE_BROKEN, "the commitment's source was already recorded")
        self.sourced.add(r.commitment_id)
        if (r.pairing_id == _ZERO and r.fund_id == _ZERO) or (r.fund_id == _ZERO) != (
            r.fund_amount == 0
        ):
            self._fail(leaf, SOURCE_RULE_BROKEN, "names neither a pairing nor a fund")
        if r.pairing_id != _ZERO:
            p = self.pairings.get(r.pairing_id)
            if p is None or p.org != c.org or not p.accepted or p.county != c.county:
                self._fail(
                    leaf,
                    SOURCE_RULE_BROKEN,
                    "the pairing is unknown, another organization's, not accepted or of "
                    "another county",
                )
        if r.fund_id != _ZERO:
            fund = self._owned_fund(leaf, r.fund_id)
            if c.resource_kind == ResourceKind.FUNDS and r.fund_amount > c.quantity:
                self._fail(leaf, SOURCE_RULE_BROKEN, "draws more than the commitment's sum")
            if fund is not None:
                fund.committed += r.fund_amount
                if fund.committed > fund.pledged:
                    self._fail(
                        leaf,
                        FUND_OVER_COMMITTED,
                        f"fund {to_hex(r.fund_id)} commits {fund.committed} fen of "
                        f"{fund.pledged} pledged",
                    )

    # ---- follow-up ------------------------------------------------------------------
    def _round(self, leaf: Leaf, r: FollowUpRound) -> None:
        self.replay._need_role(leaf, "COUNTY")
        self._county_office(leaf, r.county)
        batch = self.replay.deliveries.get(r.batch_id)
        if batch is None or batch.line_count == 0:
            self._fail(leaf, FOLLOW_UP_RULE_BROKEN, f"batch {to_hex(r.batch_id)} is unknown")
            return
        if not 0 < r.rate_bps <= 10_000 or r.seed_block <= leaf.block_number:
            self._fail(
                leaf, FOLLOW_UP_RULE_BROKEN, "the rate is out of range or the seed block is past"
            )
        if (r.batch_id, r.county) in self.round_keys:
            self._fail(leaf, FOLLOW_UP_RULE_BROKEN, "a second round of the batch for the county")
        self.round_keys.add((r.batch_id, r.county))
        self.rounds[r.id] = RoundState(
            r.county, r.batch_id, batch.line_count, r.seed_block, leaf.index, r.rate_bps
        )

    def _follow_up(self, leaf: Leaf, r: FollowUp) -> None:
        rnd = self._county_on(leaf, self.rounds.get(r.round_id), r.round_id)
        if rnd is None:
            return
        part = r.outcome == FollowUpOutcome.RECEIVED_IN_PART
        if (
            r.line_index >= rnd.line_count
            or r.outcome not in tuple(FollowUpOutcome)
            or part != (r.quantity != 0)
        ):
            self._fail(leaf, FOLLOW_UP_RULE_BROKEN, "line out of range or outcome malformed")
        if (r.round_id, r.line_index) in self.followed:
            self._fail(leaf, FOLLOW_UP_RULE_BROKEN, f"line {r.line_index} followed up twice")
        self.followed[(r.round_id, r.line_index)] = leaf.index
        self.follow_ups.append((leaf, r))

    # ---- grievances -------------------------------------------------------------------
    def _grievance(self, leaf: Leaf, r: Grievance) -> None:
        project = self.replay.projects.get(r.project_id)
        need = project if project is not None and project.kind == ProjectKind.NEED else None
        need = self._county_on(leaf, need, r.project_id)
        if need is None:
            return
        if r.record_id != _ZERO and r.record_id not in self.replay.ids:
            self._fail(leaf, "unknown_record", "the grievance's record is not in the log")
        self.grievances[r.id] = GrievanceState(need.county)

    def _answer(self, leaf: Leaf, r: GrievanceAnswer) -> None:
        grievance = self._county_on(leaf, self.grievances.get(r.grievance_id), r.grievance_id)
        if grievance is None:
            return
        if grievance.answered or r.outcome not in tuple(GrievanceOutcome):
            self._fail(leaf, GRIEVANCE_RULE_BROKEN, "answered twice, or the outcome is unknown")
        grievance.answered = True


def check_samples(
    replay: Replay, report: AuditReport, block_hashes: Callable[[Sequence[int]], dict[int, bytes]]
) -> None:
    """Every follow-up result is for a line of its round's sample, drawn from the hash of the
    round's seed block (`ledger.core.sample`), and was recorded after that block existed: so
    no county chose the households it visited. `block_hashes` reads hashes by block number
    from the chain."""
    programs = replay.programs
    if not programs.follow_ups:
        report.checks["follow_up_samples"] = "ok (no follow-up)"
        return
    seeds = block_hashes(sorted({r.seed_block for r in programs.rounds.values()}))
    samples: dict[bytes, set[int]] = {}
    bad = 0
    for leaf, r in programs.follow_ups:
        rnd = programs.rounds.get(r.round_id)
        if rnd is None:
            continue  # already a follow_up_rule_broken finding
        seed = seeds.get(rnd.seed_block)
        if seed is None or leaf.block_number <= rnd.seed_block:
            report.add(
                FOLLOW_UP_OUTSIDE_SAMPLE,
                INTEGRITY,
                f"leaf {leaf.index}: recorded at block {leaf.block_number}, before the round's "
                f"seed block {rnd.seed_block} existed",
                index=leaf.index,
                record_id=leaf.id_hex,
            )
            bad += 1
            continue
        if r.round_id not in samples:
            samples[r.round_id] = set(
                sample_indices(seed, rnd.batch_id, rnd.line_count, rnd.rate_bps)
            )
        if r.line_index not in samples[r.round_id]:
            report.add(
                FOLLOW_UP_OUTSIDE_SAMPLE,
                INTEGRITY,
                f"leaf {leaf.index}: line {r.line_index} is not in the round's sample "
                f"{sorted(samples[r.round_id])}",
                index=leaf.index,
                record_id=leaf.id_hex,
            )
            bad += 1
    n = len(programs.follow_ups)
    report.checks["follow_up_samples"] = f"ok ({n} results)" if not bad else f"{bad} of {n} bad"
