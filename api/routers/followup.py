"""Household follow-up (回访): the province's rate, the rounds counties opened on delivery
batches with their samples (drawn from the seed block's hash, which this router reads from
the chain), the results, and the confirmation rate per organization and county.

Records are written through `POST /api/v1/records` (kinds `follow_up_round`, `follow_up`),
signed by the county in its workspace, the SDK or the CLI. Every answer here is public: a
line shows its beneficiary pseudonym (a keyed hash, already public in the line's proof),
never a name or an ID number.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import RawTxIn
from ledger.core import codes
from ledger.core.display import TZ_LABEL, amount, beijing_time
from ledger.core.errors import NotFoundError
from ledger.core.fields import ResourceKind
from ledger.core.hexes import hex0x
from ledger.core.sample import sample_size
from ledger.evm import rate_tx
from ledger.export.indicators import FORMULAS
from ledger.library.regions import county_name
from ledger.relayer.rules_followup import RoundState
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from ledger.store.queries import followup as q
from ledger.store.queries.orgs import Party, parties

router = APIRouter(prefix="/api/v1/follow-up", tags=["follow-up 回访"])
HEX32 = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
#: How far ahead a new round's seed block lies: far enough that the relayer lands the
#: round before it, near enough that the county need not wait long to visit.
SEED_AHEAD = 5
FORMULA = FORMULAS["follow_up_confirmation_rate"]


def _county_label(code: int) -> str:
    try:
        return county_name(code)
    except Exception:  # noqa: BLE001 - a code outside the shipped table: show the code
        return str(code)


def _party_name(names: dict[str, Party], address: str) -> str | None:
    party = names.get(address.lower())
    return party.name if party is not None else None


def rate_text(bps: int) -> str:
    return f"{bps / 100:g}%"


def _outcome(row: FollowUpRow, kind: int, unit: str) -> dict[str, Any]:
    zh, en = q.OUTCOME_WORDS.get(row.outcome, ("?", "?"))
    return {
        "record_id": row.record_id,
        "outcome": row.outcome,
        "outcome_text": f"{zh} {en}",
        "quantity": row.quantity,
        "quantity_text": amount(row.quantity, kind, unit) if row.quantity else None,
        "note_hash": row.note_hash,
        "recorded_at": beijing_time(row.block_time),
    }


def _round_json(
    row: FollowUpRoundRow, names: dict[str, Party], results: list[FollowUpRow]
) -> dict[str, Any]:
    counts = q.Confirmation()
    for r in results:
        counts.counts[r.outcome] = counts.counts.get(r.outcome, 0) + 1
    return {
        "round_id": row.record_id,
        "batch_id": row.batch_id,
        "county": row.county,
        "county_name": _county_label(row.county),
        "signer_name": _party_name(names, row.signer),
        "org": row.org,
        "org_name": _party_name(names, row.org),
        "seed_block": row.seed_block,
        "rate_bps": row.rate_bps,
        "rate_text": rate_text(row.rate_bps),
        "line_count": row.line_count,
        "sample_size": row.sample_size,
        "opened_at": beijing_time(row.block_time),
        "time_zone": TZ_LABEL,
        "results": counts.to_dict(),
    }


@router.get("/rate", summary="回访比例 The follow-up rate the province set")
def follow_up_rate(service: ServiceDep) -> dict[str, Any]:
    """The share of a batch's lines a round samples, in basis points, as the contract holds
    it (set by the civil-affairs office: `bangfu follow-up set-rate`)."""
    bps = service.follow_up_chain.rate()
    return {"rate_bps": bps, "rate_text": rate_text(bps), "set": bps > 0}


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin: str = Field(pattern=ADDRESS, description="the admin's address (who will sign)")
    rate_bps: int = Field(ge=0, le=10_000, description="basis points, 1000 = 10%")


@router.post("/rate/prepare", summary="准备设定回访比例的交易 The unsigned rate transaction")
def prepare_rate(body: RateIn, service: ServiceDep) -> dict[str, Any]:
    """The unsigned `setFollowUpRate` transaction for the civil-affairs admin to sign in the
    browser, with what it does in words. Writes nothing."""
    tx = rate_tx.prepare(service.ledger(), body.admin, body.rate_bps)
    return {
        "tx": tx,
        "summary": {
            "操作": "设定回访比例 set the follow-up rate",
            "比例": _rate_words(body.rate_bps),
        },
    }


@router.post("/rate", summary="发送已签名的回访比例交易 Send the admin's signed rate transaction")
def set_rate(body: RawTxIn, service: ServiceDep) -> dict[str, Any]:
    """Sends the transaction only if it is a `setFollowUpRate` call on this ledger's
    contract, on this chain, signed by the current admin; waits for it."""
    ledger = service.ledger()
    answer = rate_tx.submit_raw(ledger, rate_tx.decode_raw(ledger, body.raw_tx))
    return {**answer, "rate_text": rate_text(answer["rate_bps"])}


def _rate_words(bps: int) -> str:
    return f"{bps} 基点 bps（{rate_text(bps)}）"


@router.get("/rounds", summary="回访轮次 Follow-up rounds")
def list_rounds(
    session: ReadSessionDep,
    county: Annotated[int | None, Query(ge=100000, le=999999)] = None,
    org: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[dict[str, Any]]:
    """Rounds newest first (of one county, or one organization's batches), each with its
    results counted by outcome."""
    rows = q.rounds(session, county=county, org=Web3.to_checksum_address(org) if org else None)
    names = parties(session)
    results = q.results_of(session, [r.record_id for r in rows])
    by_round: dict[str, list[FollowUpRow]] = {}
    for r in results:
        by_round.setdefault(r.round_id, []).append(r)
    return [_round_json(r, names, by_round.get(r.record_id, [])) for r in rows]


@router.get("/rounds/{round_id}", summary="回访轮次与样本 A round, its sample and results")
def round_detail(
    session: ReadSessionDep,
    service: ServiceDep,
    round_id: Annotated[str, Path(pattern=HEX32)],
) -> dict[str, Any]:
    """The round, and once its seed block is mined the sample anyone can recompute from the
    chain (`ledger.core.sample.sample_indices(blockhash(seedBlock), batchId, lineCount,
    rateBps)`): each sampled line with its pseudonym, item, quantity and leaf hash (what a
    FollowUp signs as `lineHash`), and its result if there is one."""
    rid = round_id.lower()
    row = q.round_of(session, rid)
    if row is None:
        raise NotFoundError(
            f"没有这个回访轮次 / no follow-up round {rid} is indexed", code=codes.NOT_FOUND
        )
    names = parties(session)
    results = q.results_of(session, [rid])
    out = _round_json(row, names, results)
    state = RoundState(rid, row.batch_id, row.county, row.seed_block, row.rate_bps, row.line_count)
    drawn = service.follow_up_chain.sample(state)
    if drawn is None:
        head = service.follow_up_chain.head()
        return {
            **out,
            "seed_known": False,
            "seed_hash": None,
            "blocks_to_seed": row.seed_block - head,
            "sample": None,
        }
    seed, indices = drawn
    lines = q.lines_of(session, row.batch_id, sorted(indices))
    kinds = q.resource_kinds(session, {line.commitment_id for line in lines.values()})
    done = {r.line_index: r for r in results}
    sample: list[dict[str, Any]] = []
    for index in sorted(indices):
        line = lines.get(index)
        result = done.get(index)
        if line is None:
            sample.append({"line_index": index, "held": False, "result": None})
            continue
        kind = kinds.get(line.commitment_id, int(ResourceKind.GOODS))
        sample.append(
            {
                "line_index": index,
                "held": True,
                "line_hash": line.leaf_hash,
                "commitment_id": line.commitment_id,
                "pseudonym": line.beneficiary,
                "item": line.item,
                "quantity": int(line.quantity),
                "quantity_text": amount(int(line.quantity), kind, line.unit),
                "unit": line.unit,
                "resource_kind": kind,
                "delivered_at": beijing_time(int(line.delivered_at)),
                "result": _outcome(result, kind, line.unit) if result is not None else None,
            }
        )
    return {
        **out,
        "seed_known": True,
        "seed_hash": hex0x(seed),
        "blocks_to_seed": 0,
        "sample": sample,
        "rule": "SHA-256(blockhash(seedBlock) ‖ batchId ‖ uint32 i) 最小的 k 个 / the k "
        "indices i with the smallest hash; k = max(1, ceil(lineCount × rateBps / 10000))",
    }


@router.get("/batches", summary="可回访的批次 Batches a county may open a round on")
def eligible(
    session: ReadSessionDep,
    service: ServiceDep,
    county: Annotated[int, Query(ge=100000, le=999999)],
) -> dict[str, Any]:
    """The county's own delivery batches (every commitment in them is the county's) with no
    round yet, and what a new round must say: the province's rate and a seed block
    `SEED_AHEAD` blocks ahead of the current one."""
    chain = service.follow_up_chain
    bps, head = chain.rate(), chain.head()
    names = parties(session)
    batches = q.eligible_batches(session, county)
    return {
        "rate_bps": bps,
        "rate_text": rate_text(bps),
        "current_block": head,
        "seed_block": head + SEED_AHEAD,
        "batches": [
            {
                **b,
                "org_name": _party_name(names, b["org"]),
                "delivered_at": beijing_time(b["block_time"]),
                "sample_size": sample_size(b["line_count"], bps) if bps else 0,
            }
            for b in batches
        ],
    }


@router.get("/confirmation", summary="回访确认率 Follow-up confirmation rates")
def confirmation(session: ReadSessionDep) -> dict[str, Any]:
    """Per organization and per county: lines followed up, counted by outcome, and the
    confirmation rate with its formula. Recomputable from the chain alone (the FollowUp
    records and the batches' signers)."""
    names = parties(session)
    by_org = q.confirmation_by(session, FollowUpRow.org)
    by_county = q.confirmation_by(session, FollowUpRow.county)
    return {
        "formula": FORMULA,
        "total": q.confirmation(session).to_dict(),
        "orgs": [
            {"org": org, "org_name": _party_name(names, org), **c.to_dict()}
            for org, c in sorted(by_org.items())
        ],
        "counties": [
            {"county": county, "county_name": _county_label(county), **c.to_dict()}
            for county, c in sorted(by_county.items())
        ],
    }


__all__ = ["SEED_AHEAD", "router"]
