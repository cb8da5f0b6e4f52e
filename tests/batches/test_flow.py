"""A batch end to end against a real anvil and real databases: upload, relay, index, and a
line's two-level proof checked offline by the standalone checker."""

from __future__ import annotations

import random

from sqlalchemy import func, select

from ledger.sdk.batch_client import sign_batch
from ledger.store.batch_models import BatchLine
from ledger.store.models import DeliveryRow
from ledger.tools import proofcheck
from tests.factories import BatchEnv, make_lines


def test_thousand_lines_end_to_end_with_offline_proof(benv: BatchEnv) -> None:
    env = benv.env
    c1, c2 = benv.commitment(5000), benv.commitment(5000)
    lines = make_lines(c1, 600, quantity=3) + make_lines(c2, 400, quantity=2)
    random.shuffle(lines)
    signed = sign_batch(lines, env.actors.org_a.key, env.domain)
    result = benv.client.upload(signed, [line.line_bytes() for line in lines])
    assert result.status == "accepted"
    assert result.lines_received == 1000
    batch_id = "0x" + signed.id.hex()

    benv.relay_until_confirmed(batch_id)
    benv.index()
    with benv.service.db.read() as session:
        shares = {
            r.commitment_id: r
            for r in session.scalars(select(DeliveryRow).where(DeliveryRow.record_id == batch_id))
        }
        stored = session.scalar(
            select(func.count()).select_from(BatchLine).where(BatchLine.batch_id == batch_id)
        )
    assert stored == 1000
    assert {k: (v.quantity, v.batch, v.line_count) for k, v in shares.items()} == {
        "0x" + c1.hex(): (1800, True, 1000),
        "0x" + c2.hex(): (800, True, 1000),
    }

    index = random.randrange(1000)
    resp = benv.http.get(f"/api/v1/batches/{batch_id}/lines/{index}/proof")
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    assert bytes.fromhex(bundle["batch"]["line_bytes"][2:]) == lines[index].line_bytes()
    chain_root = "0x" + env.ledger.log_root(bundle["chain"]["block"]).hex()
    summary = proofcheck.verify_bundle(bundle, chain_root)
    assert summary["batch"]["line_index"] == index
    assert summary["root_checked"] == "log.root"

    # The same bundle with another line's bytes must not verify.
    other = dict(
        bundle,
        batch=dict(bundle["batch"], line_bytes="0x" + lines[(index + 1) % 1000].line_bytes().hex()),
    )
    try:
        proofcheck.verify_bundle(other, chain_root)
    except proofcheck.ProofCheckError:
        pass
    else:
        raise AssertionError("a proof for the wrong line verified")
