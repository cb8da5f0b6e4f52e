"""Reports and exports for the public: organization indicators, CSV and IATI 2.03 XML."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import ORG_OR_ADDRESS, text_body
from api.schemas import PERIOD as PERIOD_PATTERN
from ledger.core.errors import NotFoundError
from ledger.export import csv_export, iati
from ledger.export import indicators as ind
from ledger.export.snapshot import load_key_counties, load_snapshot, parse_period

router = APIRouter(prefix="/api/v1", tags=["reports 报告"])

ExportKind = Literal["commitments", "deliveries", "receipts", "flags", "projects"]
# The pattern is the document's; ledger.export.snapshot.parse_period checks it (bad_period).
PERIOD = Query(
    "all",
    max_length=40,
    description="2026-Q3, 2026-07, 2026-H1, 2026 or all",
    json_schema_extra={"pattern": PERIOD_PATTERN},
)


@router.get("/reports/indicators", summary="社会组织评价指标 Organization indicators")
def indicators(
    session: ReadSessionDep,
    org: str = Query(..., pattern=ORG_OR_ADDRESS, description="credit code or address"),
    period: str = PERIOD,
) -> dict[str, Any]:
    """Participation, fulfilment, on-time, confirmed and key-county rates and flags of one
    organization for a period (docs/reports.md), with the records behind each as a root."""
    p = parse_period(period)
    snap = load_snapshot(session, p.end)
    result = ind.compute(snap, org, p, key_counties=load_key_counties(None, session)).to_dict()
    result["record_counts"] = {k: len(v) for k, v in result.pop("records").items()}
    return result


@router.get(
    "/exports/{kind}.csv",
    summary="CSV 导出 CSV export of one record kind",
    response_class=StreamingResponse,
    responses=text_body("text/csv", "UTF-8 CSV with a header line"),
)
def export_csv(kind: ExportKind, service: ServiceDep) -> StreamingResponse:
    """Every indexed record of the kind, in log order, with tx hash and proof path."""

    def chunks() -> Any:
        with service.db.read() as session:
            yield from csv_export.iter_csv(session, kind)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'},
    )


@router.get(
    "/exports/iati.xml",
    summary="IATI 2.03 导出 IATI 2.03 activities",
    response_class=Response,
    responses=text_body("application/xml", "an IATI 2.03 <iati-activities> document"),
)
def export_iati(session: ReadSessionDep, period: str = PERIOD) -> Response:
    """Needs as IATI activities, commitments and funds deliveries as transactions; the
    document is validated against the IATI 2.03 schema before it is served."""
    p = parse_period(period)
    snap = load_snapshot(session, p.end)
    if not snap.needs:
        # IATI 2.03 requires at least one activity: an empty ledger has no document to give.
        raise NotFoundError(
            f"此期间没有需求项目 / no need projects up to the end of {period}; nothing to export",
            code="nothing_to_export",
        )
    return Response(iati.export(snap), media_type="application/xml")
