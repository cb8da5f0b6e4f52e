"""The portal's pages of records as the chain holds them: a transaction's records in words
(`/tx/<hash>`), and the verify page (`/verify`), which shows a record and its proof bundle
and checks them in the browser against the chain's public JSON-RPC URL."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import HEX32
from api.web import render
from api.web.pages import PageLang, PageRoute
from ledger.core import display
from ledger.core.errors import LedgerError, NotFoundError
from ledger.core.record_types import RECORD_TYPES
from ledger.core.records import Kind
from ledger.core.words import bundle_display
from ledger.evm.localchain import public_rpc_url
from ledger.store import queries
from ledger.store.proofs import LogProofs
from ledger.store.queries.words import describe_entries, describe_record
from ledger.tlog.log_key import published_log_key
from ledger.tools.proofcheck import ProofCheckError, verify_bundle

router = APIRouter(tags=["portal 门户"], include_in_schema=False, route_class=PageRoute)


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def transaction(
    request: Request,
    session: ReadSessionDep,
    tx_hash: str,
    L: PageLang,
) -> Response:
    """The records one transaction appended, each in words: who signed it (role and name),
    what it is, how much, for which need, when (Beijing time); the raw bytes one click away."""
    entries = queries.records_in_tx(session, tx_hash) if re.match(HEX32, tx_hash) else []
    if not entries:
        raise NotFoundError(
            L.t("未找到该交易的记录", "no indexed records in this transaction"),
            code="tx_not_found",
        )
    return render.page(
        request,
        "tx.html",
        L,
        tx_hash=tx_hash.lower(),
        entries=entries,
        words=describe_entries(session, entries),
        block_time=display.beijing_time(entries[0].block_time, seconds=True),
        tz_label=L.t(display.TZ_LABEL, display.TZ_LABEL_EN),
    )


def _type_strings() -> dict[str, str]:
    return {str(int(k)): cls.type_string() for k, cls in RECORD_TYPES.items()}


def _log_key(service: Any) -> dict[str, Any] | None:
    """The published log key (GET /api/v1/log/key), or None before the first checkpoint."""
    try:
        d = service.deployment
        return published_log_key(service.settings, d.chain_id, d.address)
    except LedgerError:
        return None


@router.get("/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    service: ServiceDep,
    session: ReadSessionDep,
    L: PageLang,
    id: str | None = Query(None, max_length=80),
) -> Response:
    """A record in words and its proof bundle, checked in the browser against the chain at the
    deployment's public JSON-RPC URL (prefilled, so a genuine record verifies on first click)."""
    ctx: dict[str, Any] = {
        "record_id": (id or "").strip(),
        "bundle": None,
        "record": None,
        "words": None,
        "server_check": None,
        "error": None,
        "kind_num": 0,
    }
    rid = ctx["record_id"]
    if rid:
        try:
            if not re.match(HEX32, rid):
                raise LedgerError(
                    L.t(
                        "记录编号应为 0x 开头的 64 位十六进制",
                        "a record id is 0x and 64 hex digits",
                    ),
                    code="bad_record_id",
                )
            ctx["record"] = queries.get_record(session, rid)
            ctx["kind_num"] = int(Kind[ctx["record"]["kind"].upper()])
            ctx["words"] = describe_record(session, rid)
            bundle = LogProofs(service.db).bundle(rid)
            if ctx["words"] is not None:
                bundle["display"] = bundle_display(ctx["words"])
            ctx["bundle"] = bundle
            try:
                verify_bundle(bundle)
                ctx["server_check"] = "ok"
            except ProofCheckError as exc:
                ctx["server_check"] = str(exc)
        except LedgerError as exc:
            ctx["error"] = exc.message
    try:
        chain_id: int | None = service.deployment.chain_id
    except LedgerError:
        chain_id = None
    return render.page(
        request,
        "verify.html",
        L,
        status=404 if ctx["error"] and rid else 200,
        rpc_url=public_rpc_url(service.settings) or "",
        chain_id=chain_id,
        block_time=display.beijing_time(
            ctx["record"]["chain"]["block_time"] if ctx["record"] else None, seconds=True
        ),
        tz_label=L.t(display.TZ_LABEL, display.TZ_LABEL_EN),
        log_key=_log_key(service),
        bundle_json=(
            json.dumps(ctx["bundle"], indent=1, ensure_ascii=False) if ctx["bundle"] else ""
        ),
        type_strings=_type_strings(),
        **ctx,
    )
