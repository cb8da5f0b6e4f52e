"""Household follow-up (回访) over the API: read the province's rate, the batches a county may
follow up, its rounds and their samples; open a round and record a visit's result, both
signed here with this client's COUNTY key and sent through `POST /api/v1/records`.

A result's note (what the visitor saw) never leaves this process: it is screened for
personal data (`ledger.library.pii`) and only its SHA-256 is signed.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ledger.core.errors import LedgerError
from ledger.core.fields import FollowUpOutcome
from ledger.core.lines import new_id
from ledger.core.program_kinds import FollowUp, FollowUpRound
from ledger.core.records import SignedRecord
from ledger.library import pii
from ledger.sdk.records import Accepted, as_bytes32
from ledger.sdk.transport import ApiTransport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.core.records import Record

__all__ = ["OUTCOMES", "FollowUpApi", "note_hash"]

#: Outcome names the CLI and SDK take, beside the numbers 1..4.
OUTCOMES: dict[str, FollowUpOutcome] = {
    "full": FollowUpOutcome.RECEIVED_IN_FULL,
    "part": FollowUpOutcome.RECEIVED_IN_PART,
    "none": FollowUpOutcome.NOT_RECEIVED,
    "not-found": FollowUpOutcome.HOUSEHOLD_NOT_FOUND,
}


def note_hash(note: str | None) -> bytes:
    """SHA-256 of a visit note's trimmed UTF-8 text (zero for none), after refusing one that
    holds an ID number or a mobile number: the note stays with the county."""
    text = (note or "").strip()
    if not text:
        return bytes(32)
    kind = pii.find(text)
    if kind is not None:
        raise pii.refusal(
            "note",
            kind,
            "回访记录只写情况，不写个人信息",
            "a follow-up note says what was found, never who (no ID or phone numbers)",
            "回访备注",
        )
    return hashlib.sha256(text.encode("utf-8")).digest()


def outcome_of(value: int | str) -> FollowUpOutcome:
    """An outcome from 1..4 or a name of `OUTCOMES`."""
    try:
        if isinstance(value, str) and value.strip().lower() in OUTCOMES:
            return OUTCOMES[value.strip().lower()]
        return FollowUpOutcome(int(value))
    except ValueError:
        raise LedgerError(
            f"回访结果须为 1..4 或 {'/'.join(OUTCOMES)} / the outcome must be 1 received in "
            "full, 2 in part, 3 not received or 4 household not found (or "
            f"{', '.join(OUTCOMES)}), not {value!r}",
            code="InvalidOutcome",
        ) from None


class FollowUpApi(ApiTransport):
    """Reads are public; `open_follow_up_round` and `record_follow_up` sign as the county."""

    if TYPE_CHECKING:  # BangfuClient brings it, from RecordsApi beside this mixin

        def submit(self, items: Sequence[Record | SignedRecord]) -> list[Accepted]: ...

    def follow_up_rate(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/api/v1/follow-up/rate")
        return answer

    def follow_up_batches(self, county: int) -> dict[str, Any]:
        """The county's batches with no round yet, the rate and the seed block to use."""
        answer: dict[str, Any] = self.request(
            "GET", "/api/v1/follow-up/batches", params={"county": county}
        )
        return answer

    def follow_up_rounds(self, county: int | None = None) -> list[dict[str, Any]]:
        params = {"county": county} if county is not None else None
        answer: list[dict[str, Any]] = self.request(
            "GET", "/api/v1/follow-up/rounds", params=params
        )
        return answer

    def follow_up_round(self, round_id: bytes | str) -> dict[str, Any]:
        """A round with its sample (once the seed block is mined) and results."""
        rid = "0x" + as_bytes32(round_id, "round_id").hex()
        answer: dict[str, Any] = self.request("GET", f"/api/v1/follow-up/rounds/{rid}")
        return answer

    def follow_up_confirmation(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/api/v1/follow-up/confirmation")
        return answer

    def open_follow_up_round(
        self, batch_id: bytes | str, county: int, *, seed_block: int | None = None
    ) -> tuple[SignedRecord, Accepted]:
        """Signs and submits a round on `batch_id`: the province's rate, and a seed block a
        few blocks ahead (the server's suggestion) unless `seed_block` is given."""
        signer = self.signer_address("县级部门 the county office")
        offer = self.follow_up_batches(county)
        if not offer["rate_bps"]:
            raise LedgerError(
                "省级尚未设定回访比例 / the province has not set a follow-up rate yet "
                "(`bangfu follow-up set-rate`)",
                code="WrongFollowUpRate",
            )
        signed = self.sign(
            FollowUpRound(
                id=new_id(signer),
                batch_id=as_bytes32(batch_id, "batch_id"),
                county=int(county),
                seed_block=int(seed_block if seed_block is not None else offer["seed_block"]),
                rate_bps=int(offer["rate_bps"]),
            )
        )
        return signed, self.submit([signed])[0]

    def record_follow_up(
        self,
        round_id: bytes | str,
        line_index: int,
        outcome: int | str,
        *,
        quantity: int = 0,
        note: str | None = None,
    ) -> tuple[SignedRecord, Accepted]:
        """Signs and submits the result of visiting sampled line `line_index`; the line's
        leaf hash comes from the round's sample (and the relayer checks it again)."""
        signer = self.signer_address("县级部门 the county office")
        found = self.follow_up_round(round_id)
        if not found["seed_known"]:
            raise LedgerError(
                f"种子区块尚未产生，还需约 {found['blocks_to_seed']} 个区块 / the seed block is "
                f"not mined yet ({found['blocks_to_seed']} blocks to go): the sample is not "
                "known",
                code="seed_not_yet_known",
            )
        line = next((s for s in found["sample"] if s["line_index"] == line_index), None)
        if line is None:
            raise LedgerError(
                f"第 {line_index} 行不在抽样中 / line {line_index} is not in the round's sample: "
                + ", ".join(str(s["line_index"]) for s in found["sample"]),
                code="line_not_in_sample",
            )
        if not line.get("held"):
            raise LedgerError(
                "本服务未保存该批次的明细行 / the server does not hold this batch's lines",
                code="batch_lines_not_held",
            )
        hashed = note_hash(note)
        signed = self.sign(
            FollowUp(
                id=new_id(signer),
                round_id=as_bytes32(round_id, "round_id"),
                line_index=int(line_index),
                line_hash=as_bytes32(line["line_hash"], "line_hash"),
                outcome=int(outcome_of(outcome)),
                quantity=int(quantity),
                note_hash=hashed,
            )
        )
        return signed, self.submit([signed])[0]
