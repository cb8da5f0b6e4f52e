"""Writes tests/vectors/records.json: fixed EIP-712 and leaf-hash vectors for every record kind.

One example of each kind with fixed ids and hashes, under a fixed domain (chain 31337, the
first contract anvil's account #0 deploys), signed with anvil's public dev keys #1, #3 and #5 (a
county office, an organization and an auditor, each kind by the role that signs it). Each
entry holds the full EIP-712 typed data, its struct hash and digest, the signature, the
canonical record bytes and their RFC 9162 leaf hash; delivery lines give their line bytes,
leaf hashes and the batch root. Other implementations (a wallet, an auditor in another
language) can check themselves against these without a chain.

    .venv/bin/python scripts/make_vectors.py           # rewrite the file
    .venv/bin/python scripts/make_vectors.py --check   # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from ledger.core import aid_kinds, merkle, program_kinds, records
from ledger.core.eip712 import Domain
from ledger.core.fields import FlagReason, ProjectKind, ResourceKind, text32
from ledger.core.hexes import hex0x
from ledger.core.lines import DeliveryLine, batch_totals, scoped_id

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "records.json"

#: anvil's well-known development keys #1, #3 and #5 (public; never use them on a real
#: chain): a county office of 522327, an organization and an auditor, as tests/factories.py
#: registers them. One address holds one role on chain, so each kind is signed by the key
#: whose role signs it. Key #0 deploys (the admin).
SIGNER_KEYS = {
    "county": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "org": "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "auditor": "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
}
SIGNERS = {role: Account.from_key(key).address for role, key in SIGNER_KEYS.items()}
#: Who signs each kind.
ROLE_OF = {
    records.Kind.PROJECT_ANCHOR: "county",
    records.Kind.COMMITMENT: "org",
    records.Kind.DELIVERY: "org",
    records.Kind.RECEIPT: "county",
    records.Kind.FLAG: "auditor",
    records.Kind.DELIVERY_BATCH: "org",
    records.Kind.PAIRING: "org",
    records.Kind.PAIRING_ACCEPTANCE: "county",
    records.Kind.FUND: "org",
    records.Kind.FUND_CONTRIBUTION: "org",
    records.Kind.COMMITMENT_SOURCE: "org",
    records.Kind.FOLLOW_UP_ROUND: "county",
    records.Kind.FOLLOW_UP: "county",
    records.Kind.GRIEVANCE: "county",
    records.Kind.GRIEVANCE_ANSWER: "county",
}
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


def fixed(label: str) -> bytes:
    """A fixed 32-byte value: SHA-256 of a label, so the vectors need no randomness."""
    return hashlib.sha256(f"bangfu-vector:{label}".encode()).digest()


def fixed_id(label: str, role: str) -> bytes:
    """A fixed record or project id, scoped to its signer as the contract requires."""
    return scoped_id(SIGNERS[role], fixed(label))


def delivery_lines() -> list[DeliveryLine]:
    commitment_id = fixed_id("commitment", "org")
    return [
        DeliveryLine(
            commitment_id,
            "化肥 fertilizer",
            100,
            "kg",
            1_735_689_600,
            fixed("beneficiary-1"),
            fixed("evidence-line-1"),
        ),
        DeliveryLine(
            commitment_id,
            "化肥 fertilizer",
            150,
            "kg",
            1_735_776_000,
            fixed("beneficiary-2"),
            fixed("evidence-line-2"),
        ),
        DeliveryLine(
            fixed_id("commitment-2", "org"),
            "鸡苗",
            50,
            "只",
            1_735_862_400,
            fixed("beneficiary-3"),
            fixed("evidence-line-3"),
        ),
    ]


def examples() -> list[records.Record]:
    """One record of each kind, in kind order, referring to one another."""
    project_id = fixed_id("need-project", "county")
    lines = delivery_lines()
    return [
        aid_kinds.ProjectAnchor(
            id=aid_kinds.ProjectAnchor.anchor_id(project_id, 1),
            project_id=project_id,
            project_kind=ProjectKind.NEED,
            county=522327,
            category=3,
            title="册亨县饮水安全巩固提升工程 drinking water",
            budget=12_000_000,
            end_date=20261231,
            content_hash=fixed("need-content"),
            version=1,
        ),
        aid_kinds.Commitment(
            id=fixed_id("commitment", "org"),
            need_id=project_id,
            match_id=fixed("match"),
            resource_kind=ResourceKind.GOODS,
            quantity=5_000,
            unit=text32("斤"),
            due_date=1_767_225_600,
            terms_hash=fixed("terms"),
        ),
        aid_kinds.Delivery(
            id=fixed_id("delivery", "org"),
            commitment_id=fixed_id("commitment", "org"),
            quantity=1_200,
            delivered_at=1_735_689_600,
            evidence_hash=fixed("evidence"),
            beneficiary_count=12,
            beneficiary_root=fixed("beneficiaries"),
        ),
        aid_kinds.Receipt(
            id=fixed_id("receipt", "county"),
            delivery_id=fixed_id("delivery", "org"),
            confirmed_quantity=1_150,
            note_hash=fixed("receipt-note"),
        ),
        aid_kinds.Flag(
            id=fixed_id("flag", "auditor"),
            record_id=fixed_id("delivery", "org"),
            reason_code=FlagReason.RECEIPT_SHORTFALL,
            note_hash=fixed("flag-note"),
        ),
        aid_kinds.DeliveryBatch(
            id=fixed_id("batch", "org"),
            # in ascending id order, as the contract requires (batch_totals sorts them)
            commitment_ids=batch_totals(lines)[0],
            quantities=batch_totals(lines)[1],
            line_count=len(lines),
            batch_root=merkle.root([line.leaf_hash() for line in lines]),
            evidence_hash=fixed("batch-evidence"),
        ),
        program_kinds.Pairing(
            id=fixed_id("pairing", "org"),
            county=522327,
            start_date=20260101,
            end_date=20281231,
            categories=0b101,
            funds_target=50_000_000,
            projects_target=3,
            hours_target=1_200,
            designated=True,
            terms_hash=fixed("pairing-terms"),
        ),
        program_kinds.PairingAcceptance(
            id=fixed_id("pairing-acceptance", "county"),
            pairing_id=fixed_id("pairing", "org"),
            county=522327,
        ),
        program_kinds.Fund(
            id=fixed_id("fund", "org"),
            name="某某公司乡村振兴专项基金 rural revitalization fund",
            sponsor_kind=1,
            sponsor_hash=fixed("sponsor"),
            sponsor_public=True,
            pledged=100_000_000,
            purpose_hash=fixed("fund-purpose"),
        ),
        program_kinds.FundContribution(
            id=fixed_id("fund-contribution", "org"),
            fund_id=fixed_id("fund", "org"),
            amount=30_000_000,
            received_date=20260315,
            evidence_hash=fixed("contribution-evidence"),
        ),
        program_kinds.CommitmentSource(
            id=program_kinds.CommitmentSource.source_id(fixed_id("commitment", "org")),
            commitment_id=fixed_id("commitment", "org"),
            pairing_id=fixed_id("pairing", "org"),
            fund_id=fixed_id("fund", "org"),
            fund_amount=2_000_000,
        ),
        program_kinds.FollowUpRound(
            id=fixed_id("follow-up-round", "county"),
            batch_id=fixed_id("batch", "org"),
            county=522327,
            seed_block=1_000,
            rate_bps=1_000,
        ),
        program_kinds.FollowUp(
            id=fixed_id("follow-up", "county"),
            round_id=fixed_id("follow-up-round", "county"),
            line_index=1,
            line_hash=lines[1].leaf_hash(),
            outcome=2,
            quantity=120,
            note_hash=fixed("follow-up-note"),
        ),
        program_kinds.Grievance(
            id=fixed_id("grievance", "county"),
            project_id=project_id,
            record_id=fixed_id("delivery", "org"),
            grievance_hash=fixed("grievance-text"),
            filed_at=1_767_225_600,
        ),
        program_kinds.GrievanceAnswer(
            id=fixed_id("grievance-answer", "county"),
            grievance_id=fixed_id("grievance", "county"),
            outcome=2,
            answer_hash=fixed("grievance-answer-text"),
        ),
    ]


def record_vector(record: records.Record) -> dict[str, Any]:
    role = ROLE_OF[record.KIND]
    signed = record.sign(SIGNER_KEYS[role], DOMAIN)
    return {
        "kind": record.KIND.slug,
        "kind_number": int(record.KIND),
        "signer_role": role,
        "signer": signed.signer,
        "type_string": record.type_string(),
        "typehash": hex0x(record.typehash()),
        "typed_data": record.typed_data(DOMAIN),
        "abi_encoded": hex0x(record.abi_encoded()),
        "struct_hash": hex0x(record.struct_hash()),
        "digest": hex0x(record.digest(DOMAIN)),
        "signature": hex0x(signed.signature),
        "canonical_bytes": hex0x(signed.canonical_bytes()),
        "leaf_hash": hex0x(signed.leaf_hash()),
    }


def line_vector(line: DeliveryLine) -> dict[str, Any]:
    return {
        "line": {
            "commitmentId": hex0x(line.commitment_id),
            "item": line.item,
            "quantity": line.quantity,
            "unit": line.unit,
            "deliveredAt": line.delivered_at,
            "beneficiary": hex0x(line.beneficiary),
            "evidenceHash": hex0x(line.evidence_hash),
        },
        "line_bytes": hex0x(line.line_bytes()),
        "leaf_hash": hex0x(line.leaf_hash()),
    }


def build() -> dict[str, Any]:
    """The whole vector file as a JSON-ready dict (deterministic)."""
    lines = delivery_lines()
    return {
        "about": "Bangfu Ledger record vectors, format version 1. Regenerate with "
        "`.venv/bin/python scripts/make_vectors.py`.",
        "domain": DOMAIN.as_dict(),
        "domain_separator": hex0x(DOMAIN.separator()),
        "signers": {
            role: {"private_key": key, "address": SIGNERS[role]}
            for role, key in SIGNER_KEYS.items()
        },
        "records": [record_vector(r) for r in examples()],
        "delivery_lines": [line_vector(line) for line in lines],
        "batch_root": hex0x(merkle.root([line.leaf_hash() for line in lines])),
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only say whether the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run scripts/make_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
