"""Special funds over the API (专项基金): open a fund (a Fund signed here, with its sponsor's
name, a fresh salt and the purpose text beside it), record money received into it, draw on it
for a commitment (a CommitmentSource), and read a fund's pledged → contributed → committed →
delivered → confirmed. The sponsor's name and salt go to the server, never on chain; the name
is shown publicly only when `sponsor_public` (the sponsor's consent) is true."""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.core import program_kinds, records
from ledger.core.fields import SponsorKind, date_code
from ledger.core.hexes import hex0x
from ledger.core.lines import new_id
from ledger.sdk.records import Accepted, as_bytes32
from ledger.sdk.transport import ApiTransport
from ledger.workspace import funds

__all__ = ["FundsApi", "source_record"]

_ZERO = bytes(32)


def source_record(
    commitment_id: bytes | str,
    *,
    fund_id: bytes | str = _ZERO,
    fund_amount: int = 0,
    pairing_id: bytes | str = _ZERO,
) -> program_kinds.CommitmentSource:
    """The (unsigned) CommitmentSource of a commitment, the fund program's and the pairing
    program's alike: its id is derived from the commitment (one source per commitment)."""
    cid = as_bytes32(commitment_id, "commitment_id")
    return program_kinds.CommitmentSource(
        id=program_kinds.CommitmentSource.source_id(cid),
        commitment_id=cid,
        pairing_id=as_bytes32(pairing_id, "pairing_id"),
        fund_id=as_bytes32(fund_id, "fund_id"),
        fund_amount=fund_amount,
    )


class FundsApi(ApiTransport):
    """`open_fund`, `fund_contribution`, `commitment_source`, `fund`, `funds`."""

    def open_fund(
        self,
        *,
        name: str,
        sponsor_kind: SponsorKind | int,
        sponsor_name: str,
        pledged: int,
        purpose: str,
        sponsor_public: bool = False,
    ) -> dict[str, Any]:
        """Signs a Fund (`pledged` in fen) and sends it with its details; answers
        {fund_id, accepted, details_stored}. The details are checked here first (no personal
        data in the purpose, no sponsor's name in public text without consent)."""
        details = funds.FundDetails(sponsor_name, funds.new_salt(), purpose)
        fund = funds.fund_record(
            new_id(self.signer_address()),
            details,
            name=name,
            sponsor_kind=sponsor_kind,
            sponsor_public=sponsor_public,
            pledged=pledged,
        )
        funds.check_details(fund, details)
        signed = self.sign(fund)
        answer: dict[str, Any] = self.request(
            "POST", "/api/v1/funds", json={"record": signed.to_json(), **details.to_json()}
        )
        return answer

    def fund_contribution(
        self,
        fund_id: bytes | str,
        *,
        amount: int,
        received: date | int,
        evidence_hash: bytes | str = _ZERO,
    ) -> records.SignedRecord:
        """Money the fund received (`amount` in fen, `received` a date or YYYYMMDD), signed
        with a fresh id; `submit` it."""
        return self.sign(
            program_kinds.FundContribution(
                id=new_id(self.signer_address()),
                fund_id=as_bytes32(fund_id, "fund_id"),
                amount=amount,
                received_date=received if isinstance(received, int) else date_code(received),
                evidence_hash=as_bytes32(evidence_hash, "evidence_hash"),
            )
        )

    def commitment_source(
        self,
        commitment_id: bytes | str,
        *,
        fund_id: bytes | str = _ZERO,
        fund_amount: int = 0,
        pairing_id: bytes | str = _ZERO,
    ) -> records.SignedRecord:
        """What a commitment comes from: `fund_amount` fen of a fund and/or a pairing; its
        id is derived from the commitment (one source per commitment). `submit` it with the
        commitment, or after."""
        return self.sign(
            source_record(
                commitment_id, fund_id=fund_id, fund_amount=fund_amount, pairing_id=pairing_id
            )
        )

    def draw_on_fund(
        self, commitment: records.SignedRecord, fund_id: bytes | str, fund_amount: int
    ) -> list[Accepted]:
        """Submits a (signed) commitment together with its source drawing on a fund: both are
        accepted, or neither (e.g. `fund_over_committed`)."""
        source = self.commitment_source(commitment.id, fund_id=fund_id, fund_amount=fund_amount)
        body = {"records": [commitment.to_json(), source.to_json()]}
        answer = self.request("POST", "/api/v1/records", json=body)
        return [Accepted(**a) for a in answer["accepted"]]

    def fund(self, fund_id: bytes | str) -> dict[str, Any]:
        """One fund: totals stage by stage (fen and yuan), contributions and draws."""
        answer: dict[str, Any] = self.request(
            "GET", f"/api/v1/funds/{hex0x(as_bytes32(fund_id, 'fund_id'))}"
        )
        return answer

    def funds(self) -> list[dict[str, Any]]:
        """Every fund, newest first."""
        answer: list[dict[str, Any]] = self.request("GET", "/api/v1/funds")["funds"]
        return answer
