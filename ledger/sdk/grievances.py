"""Grievances (申诉) over the API: anyone files one (no key), anyone reads them, and a
county office registers and answers them with its key — the same actions as the portal form
and the county workspace. Registration and answer are signed records built here from what
the server lists (the filing's hash and time), so the key never leaves this process."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ledger.core.errors import LedgerError
from ledger.core.grievances import answer_hash
from ledger.core.lines import new_id
from ledger.core.program_kinds import Grievance, GrievanceAnswer
from ledger.sdk.transport import ApiTransport

__all__ = ["GrievancesApi"]


def _b32(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


class GrievancesApi(ApiTransport):
    """`file_grievance` and the reads (no key); `register_grievance` and `answer_grievance`
    (signed by a county office's key)."""

    def file_grievance(
        self,
        project_id: str,
        text: str,
        *,
        record_id: str | None = None,
        contact: str | None = None,
    ) -> dict[str, Any]:
        """Files a grievance about a need project; answers the filing number, the
        grievanceHash and the canonical text it is over. `contact` is never public."""
        body: dict[str, Any] = {"project_id": project_id, "text": text}
        if record_id:
            body["record_id"] = record_id
        if contact:
            body["contact"] = contact
        answer: dict[str, Any] = self.request("POST", "/api/v1/grievances", json=body)
        return answer

    def grievance(self, filing_no: str) -> dict[str, Any]:
        """One grievance: its text, status, registration and answer."""
        answer: dict[str, Any] = self.request(
            "GET", f"/api/v1/grievances/{quote(filing_no.strip(), safe='')}"
        )
        return answer

    def grievances(
        self, *, county: int | None = None, project_id: str | None = None
    ) -> dict[str, Any]:
        """The grievances of a county's need projects or of one project, with counts."""
        params: dict[str, Any] = (
            {"county": county} if county is not None else {"project_id": project_id}
        )
        answer: dict[str, Any] = self.request("GET", "/api/v1/grievances", params=params)
        return answer

    def register_grievance(self, filing_no: str) -> dict[str, Any]:
        """Signs and submits the county's Grievance record for a filing (its project,
        record, hash and filing time as filed). Answers the accepted record."""
        signer = self.signer_address("县级部门 a county office")
        g = self.grievance(filing_no)
        signed = self.sign(
            Grievance(
                id=new_id(signer),
                project_id=_b32(g["project_id"]),
                record_id=_b32(g["record_id"]),
                grievance_hash=_b32(g["grievance_hash"]),
                filed_at=int(g["filed_at"]),
            )
        )
        answer = self.request("POST", "/api/v1/records", json={"records": [signed.to_json()]})
        accepted: dict[str, Any] = answer["accepted"][0]
        return accepted

    def answer_grievance(self, filing_no: str, outcome: int, text: str) -> dict[str, Any]:
        """Signs the county's GrievanceAnswer (1 upheld, 2 partly upheld, 3 not upheld) over
        the SHA-256 of `text` and sends both; the grievance must be registered on chain."""
        signer = self.signer_address("县级部门 a county office")
        g = self.grievance(filing_no)
        if not g.get("registration"):
            raise LedgerError(
                f"申诉 {filing_no} 尚未登记上链 / grievance {filing_no} is not registered on chain "
                "yet; register it first and wait for it to be confirmed",
                code="unknown_grievance",
            )
        signed = self.sign(
            GrievanceAnswer(
                id=new_id(signer),
                grievance_id=_b32(g["registration"]["record_id"]),
                outcome=int(outcome),
                answer_hash=_b32(answer_hash(text)),
            )
        )
        answer: dict[str, Any] = self.request(
            "POST", "/api/v1/grievance-answers", json={"record": signed.to_json(), "text": text}
        )
        return answer
