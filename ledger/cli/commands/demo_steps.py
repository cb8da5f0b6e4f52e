"""The steps of `bangfu demo`, each safe to repeat: registering roles, publishing projects
and 接单 matches through the SDK, and signing and sending only the records still missing.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ledger.batches.files import parse_file
from ledger.cli.commands.core import admin_account
from ledger.cli.commands.demo_world import (
    BATCH_LINES,
    BATCH_QUANTITY,
    COUNTY_KEY,
    NEEDS,
    ORG_AUTHORITY,
    RESOURCE_KINDS,
    Actor,
    DemoState,
    Ids,
)
from ledger.core.aid_kinds import Commitment, Delivery
from ledger.core.errors import ApiError, LedgerError
from ledger.core.fields import ResourceKind, date_code, text32
from ledger.core.lines import pseudonym
from ledger.core.merkle import leaf_hash
from ledger.core.merkle import root as merkle_root
from ledger.core.program_kinds import (
    CommitmentSource,
    Fund,
    FundContribution,
    Pairing,
    PairingAcceptance,
)
from ledger.core.records import Record, SignedRecord
from ledger.evm.contract import LedgerContract
from ledger.sdk.batch_client import BatchClient, sign_batch
from ledger.sdk.client import BangfuClient
from ledger.workspace import funds


def register_roles(
    ledger: LedgerContract,
    counties: dict[int, Actor],
    orgs: list[tuple[str, Actor]],
    auditor: Actor,
) -> None:
    """Registers each county office, organization and the auditor by name (their labels:
    the county's GB/T 2260 name and 乡村振兴局, the organization's name); the type of an
    organization is the one its credit code names."""
    admin = admin_account()
    for code, actor in counties.items():
        if not ledger.has_role("COUNTY", actor.address):
            ledger.register_county(admin, actor.address, code, actor.label)
    for org_code, actor in orgs:
        if not ledger.has_role("ORG", actor.address):
            ledger.register_organization(
                admin, actor.address, org_code, actor.label, authority=ORG_AUTHORITY
            )
    if not ledger.has_role("AUDITOR", auditor.address):
        ledger.register_auditor(admin, auditor.address, auditor.label)


def wait_indexed(client: BangfuClient, timeout: float = 60) -> None:
    """Waits until the indexer has caught up (roles must be indexed before records)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = client.http.get(client.url("/readyz")).json()
        lag = (ready.get("indexer") or {}).get("lag")
        if lag is not None and lag <= 1:
            return
        time.sleep(0.5)
    raise LedgerError(
        "the indexer did not catch up; is `bangfu run` running?", code="indexer_lagging"
    )


def as_actor(client: BangfuClient, actor: Actor | LocalAccount) -> BangfuClient:
    """The SDK acting as `actor` (it signs every library write), over the same connection."""
    account = actor.account if isinstance(actor, Actor) else actor
    return BangfuClient(client.base_url, account=account, http=client.http)


def load_key_counties(client: BangfuClient) -> None:
    """The admin loads the sample key-county list once (signed and versioned: a list already
    loaded is kept, and an older version could not come back)."""
    admin = as_actor(client, admin_account())
    if not admin.request("GET", "/api/v1/library/key-counties/version")["version"]:
        admin.library_load_key_counties([522327, 522326], source="demo sample")


def find_published(
    client: BangfuClient, path: str, content: dict[str, Any], org_code: str | None
) -> str | None:
    """A published project of ours with this title (for a run that lost its state file)."""
    params: dict[str, Any] = {"kind": "need" if path == "needs" else "supply"}
    params.update(q=content["title"], limit=200)
    if path == "needs":
        params["county"] = content["county"]
    for p in client.request("GET", "/api/v1/library/projects", params=params):
        same_owner = path == "needs" or p.get("org_code") == org_code
        if same_owner and p["content"].get("title") == content["title"]:
            return str(p["project_id"])
    return None


def publish(
    client: BangfuClient,
    state: DemoState,
    key: str,
    path: str,
    owner: Actor,
    content: dict[str, Any],
    org_code: str | None = None,
) -> str:
    """The project `key` of this deployment, published once: made on the first run, and
    resumed (published) when a run stopped between its draft and its signature. The owner
    signs the draft and version 1; the SDK checks what it signs."""
    sdk = as_actor(client, owner)
    pid = state.get(key)
    project: dict[str, Any] | None = None
    if pid is not None:
        try:
            project = sdk.library_project(pid)
        except ApiError as exc:
            if exc.code != "unknown_project":
                raise
            pid = None
    if pid is None:
        pid = find_published(client, path, content, org_code)
        if pid is not None:
            state.put(key, pid)
            return pid
        kind = "need" if path == "needs" else "supply"
        pid = str(sdk.library_create(kind, content, org_code=org_code)["project_id"])
        state.put(key, pid)
    elif project is not None and project["status"] != "draft":
        return pid
    sdk.library_publish(pid)
    return pid


def take(
    client: BangfuClient,
    state: DemoState,
    key: str,
    need_id: str,
    org_code: str,
    org: Actor,
    county: Actor,
) -> str:
    """接单: the organization takes the need and the county accepts, each signing; a match
    left proposed by an earlier run is answered instead of made again."""
    match_id = state.get(key)
    status: str | None = None
    if match_id is not None:
        try:
            detail = client.request("GET", f"/api/v1/library/matches/{match_id}")
            status = str(detail["match"]["status"])
        except ApiError as exc:
            if exc.code != "unknown_match":
                raise
    if status == "accepted":
        assert match_id is not None
        return match_id
    if status != "proposed":
        proposed = as_actor(client, org).library_propose(
            need_id, direction="take", org_code=org_code, note="演示 demo"
        )
        match_id = str(proposed["match_id"])
        state.put(key, match_id)
    assert match_id is not None
    as_actor(client, county).library_answer(match_id)
    return match_id


@dataclass
class Sent:
    """Record ids this run stands for, and how many of them it had to send."""

    ids: list[str] = field(default_factory=list)
    new: int = 0


def missing_ids(client: BangfuClient, ids: list[bytes]) -> set[str]:
    return {s.record_id for s in client.status(ids) if s.status == "unknown"}


def submit_missing(client: BangfuClient, signer: Actor, records: list[Record], sent: Sent) -> None:
    """Signs and submits, all or none, those of `records` the ledger does not know yet."""
    missing = missing_ids(client, [r.id for r in records])
    todo = [r for r in records if "0x" + r.id.hex() in missing]
    if todo:
        signed = [r.sign(signer.account.key, client.domain()) for r in todo]
        client.submit(signed)
    sent.ids += ["0x" + r.id.hex() for r in records]
    sent.new += len(todo)


def commitment_and_deliveries(
    ids: Ids, i: int, need_id: str, match_id: str, org: Actor
) -> list[Record]:
    """Commitment i and its two deliveries (half, then a quarter), ids derived."""
    want = NEEDS[i]["resources"][0]
    kind = RESOURCE_KINDS[want["kind"]]
    commitment = Commitment(
        id=ids(org.address, "commitment", i),
        need_id=bytes.fromhex(need_id[2:]),
        match_id=bytes.fromhex(match_id[2:]),
        resource_kind=int(kind),
        quantity=want["quantity"],
        unit=text32(want.get("unit", "分" if kind == ResourceKind.FUNDS else "")),
        # one commitment is already overdue: an anomaly for the audit
        due_date=int(time.time()) + 86400 * (60 if i != 1 else -1),
        terms_hash=bytes(32),
    )
    records: list[Record] = [commitment]
    for part in (2, 4):
        people = [pseudonym(COUNTY_KEY, f"DEMO{i:02d}{part}{k:06d}") for k in range(5)]
        records.append(
            Delivery(
                id=ids(org.address, "delivery", i, part),
                commitment_id=commitment.id,
                quantity=want["quantity"] // part,
                delivered_at=int(time.time()),
                evidence_hash=hashlib.sha256(f"demo evidence {i}/{part}".encode()).digest(),
                beneficiary_count=len(people),
                beneficiary_root=merkle_root([leaf_hash(p) for p in people]),
            )
        )
    return records


def submit_csv_batch(
    client: BangfuClient, org: Actor, commitment_id: bytes, day: date, unit: str
) -> str:
    """Delivers to households as a CSV file through the batch API (`bangfu batch submit`'s
    path). The file is the same on every run, so is its signed batch: a rerun resumes or
    finds the same upload."""
    header = "commitment_id,item,quantity,unit,delivered_at,beneficiary,evidence_hash"
    rows = [header]
    for k in range(BATCH_LINES):
        who = pseudonym(COUNTY_KEY, f"DEMOBATCH{k:06d}").hex()
        rows.append(
            f"0x{commitment_id.hex()},油茶苗 oil-tea seedlings,{BATCH_QUANTITY},{unit},"
            f"{day.isoformat()},0x{who},"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-deliveries.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        parsed = parse_file(path)
    if not parsed.ok:
        first = parsed.problems[0] if parsed.problems else None
        raise LedgerError(f"the demo's batch file is wrong: {first}", code="demo_batch")
    batches = BatchClient(client.http)
    line_bytes = [line.line_bytes() for line in parsed.lines]
    signed: SignedRecord = sign_batch(
        parsed.lines, bytes(org.account.key), client.domain(), line_bytes=line_bytes
    )
    batches.upload(signed, line_bytes)
    return "0x" + signed.id.hex()


def wait_confirmed(client: BangfuClient, ids: list[str], timeout: float, progress: Any) -> None:
    task = progress.add_task("上链确认 waiting for the chain", total=len(ids))
    deadline = time.monotonic() + timeout
    while True:
        statuses = client.status(ids)
        failed = [s for s in statuses if s.status == "failed"]
        if failed:
            raise LedgerError(
                f"record {failed[0].record_id} failed on chain: [{failed[0].error_code}] "
                f"{failed[0].error}",
                code="demo_record_failed",
            )
        done = sum(s.status == "confirmed" for s in statuses)
        progress.update(task, completed=done)
        if done == len(ids):
            return
        if time.monotonic() > deadline:
            raise LedgerError(
                f"{len(ids) - done} demo records are not on chain after {timeout:g} s; "
                "is the relayer running? Run `bangfu demo` again to resume",
                code="demo_timeout",
            )
        time.sleep(0.5)


def indexed(client: BangfuClient, record_id: bytes, timeout: float) -> dict[str, Any]:
    """The indexed record: confirmed on chain can still be a block ahead of the indexer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer: dict[str, Any] = client.record(record_id)
            return answer
        except ApiError as exc:
            if exc.code != "record_not_found" or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


#: The demo's pairing (结对帮扶): the first organization with the key county 册亨县, for
#: three years from the deployment's day, designated assistance (定点帮扶).
PAIRING_COUNTY = 522327


def pairing_records(
    ids: Ids, org: Actor, county: Actor, start: date
) -> tuple[Pairing, PairingAcceptance]:
    """The organization's Pairing with PAIRING_COUNTY and the county's acceptance, ids
    derived (so a rerun sends only what is missing)."""
    pairing = Pairing(
        id=ids(org.address, "pairing", 0),
        county=PAIRING_COUNTY,
        start_date=date_code(start),
        end_date=date_code(start + timedelta(days=3 * 365)),
        categories=(1 << 0) | (1 << 7),  # 产业发展, 卫生健康
        funds_target=20_000_000,  # ¥200,000.00
        projects_target=3,
        hours_target=0,
        designated=True,
        terms_hash=hashlib.sha256(b"demo pairing terms 2026").digest(),
    )
    acceptance = PairingAcceptance(
        id=ids(county.address, "pairing_acceptance", 0),
        pairing_id=pairing.id,
        county=PAIRING_COUNTY,
    )
    return pairing, acceptance


def pairing_sources(pairing: Pairing, commitment_ids: list[bytes]) -> list[Record]:
    """The CommitmentSource by which each commitment cites the pairing."""
    return [
        CommitmentSource(
            id=CommitmentSource.source_id(cid), commitment_id=cid, pairing_id=pairing.id
        )
        for cid in commitment_ids
    ]


#: The demo's special fund (专项基金): a company's fund inside the third organization (a
#: foundation), the sponsor named with its consent; money received, and the organization's
#: commitment to need FUND_NEED draws on it.
FUND_ORG = 2
FUND_NEED = 2
FUND_SPONSOR = "贵州黔茶实业有限公司"
FUND_PURPOSE = "资助贵州脱贫地区的农村电商与技能培训。"


def fund_records(
    ids: Ids, org: Actor, received: date
) -> tuple[Fund, funds.FundDetails, FundContribution]:
    """The Fund (its salt derived, so a rerun signs the same record), its off-chain details
    and one contribution, ids derived."""
    salt = hashlib.sha256(ids.seed + b"/demo fund salt").digest()
    details = funds.FundDetails(FUND_SPONSOR, salt, FUND_PURPOSE)
    fund = funds.fund_record(
        ids(org.address, "fund", 0),
        details,
        name="黔茶乡村人才专项基金",
        sponsor_kind=1,
        sponsor_public=True,
        pledged=5_000_000,  # ¥50,000.00
    )
    money = FundContribution(
        id=ids(org.address, "fund_contribution", 0),
        fund_id=fund.id,
        amount=2_000_000,
        received_date=date_code(received),
        evidence_hash=hashlib.sha256(b"demo fund receipt").digest(),
    )
    return fund, details, money


def open_fund(
    client: BangfuClient, org: Actor, fund: Fund, details: funds.FundDetails, sent: Sent
) -> None:
    """Opens the fund with its details (POST /api/v1/funds) unless the ledger knows it;
    then its details are there (PUT them again: the same details are kept once)."""
    body = details.to_json()
    fid = "0x" + fund.id.hex()
    if missing_ids(client, [fund.id]):
        signed = fund.sign(org.account.key, client.domain())
        client.request("POST", "/api/v1/funds", json={"record": signed.to_json(), **body})
        sent.new += 1
    else:
        client.request("PUT", f"/api/v1/funds/{fid}/details", json=body)
    sent.ids.append(fid)


def fund_source(fund: Fund, commitment_id: bytes, amount: int) -> CommitmentSource:
    """The CommitmentSource by which a commitment draws `amount` fen on the fund."""
    return CommitmentSource(
        id=CommitmentSource.source_id(commitment_id),
        commitment_id=commitment_id,
        fund_id=fund.id,
        fund_amount=amount,
    )
