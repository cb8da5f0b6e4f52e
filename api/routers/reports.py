"""Reports and exports for the public: organization indicators, CSV and IATI 2.03 XML."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from api.deps import ReadSessionDep, ServiceDep
from api.schemas import ORG_OR_ADDRESS, text_body
from api.schemas import PERIOD as PERIOD_PATTERN
from ledger.core.errors import LedgerError, NotFoundError
from ledger.export import csv_export, iati, pairing_snapshot
from ledger.export import indicators as ind
from ledger.export.report import build_report
from ledger.export.report_files import write_report
from ledger.export.sections import program_sections
from ledger.export.snapshot import (
    check_against_chain,
    load_key_counties,
    load_snapshot,
    resolve_period,
)
from ledger.store.queries.grievance import upheld_by_org

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
    p = resolve_period(session, period)
    snap = load_snapshot(session, p.end)
    result = ind.compute(
        snap,
        org,
        p,
        key_counties=load_key_counties(None, session),
        grievances_upheld=upheld_by_org(session, p.start, p.end),
    ).to_dict()
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
def export_iati(session: ReadSessionDep, service: ServiceDep, period: str = PERIOD) -> Response:
    """Needs as IATI activities, commitments and funds deliveries as transactions, goods and
    services as result indicators; the document is validated against the IATI 2.03 schema
    before it is served. The publisher comes from the settings (BANGFU_IATI_REPORTING_ORG,
    BANGFU_IATI_REPORTING_ORG_NAME); without one the export is refused."""
    p = resolve_period(session, period)
    publisher = iati.reporting_org_from(service.settings)
    snap = load_snapshot(session, p.end)
    if not snap.needs:
        # IATI 2.03 requires at least one activity: an empty ledger has no document to give.
        raise NotFoundError(
            f"此期间没有需求项目 / no need projects up to the end of {period}; nothing to export",
            code="nothing_to_export",
        )
    cited = pairing_snapshot.iati_pairings(session, snap)  # programs (issue 18)
    return Response(
        iati.export(snap, publisher=publisher, pairings=cited), media_type="application/xml"
    )


#: The report's two downloadable forms: the PDF a provincial office sends, the XLSX of its tables.
REPORT_FILES = {
    "pdf": ("report.pdf", "application/pdf"),
    "xlsx": ("figures.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@router.get(
    "/reports/periodic.{fmt}",
    summary="定期报告 Periodic report of a period (PDF, or its tables as XLSX)",
    response_class=Response,
    responses={
        200: {
            "description": "the report as `bangfu report` writes it",
            "content": {
                media: {"schema": {"type": "string"}} for _, media in REPORT_FILES.values()
            },
        }
    },
)
def periodic_report(
    fmt: Literal["pdf", "xlsx"],
    service: ServiceDep,
    period: str = Query(
        ...,
        max_length=40,
        description="2026-Q3, 2026-07, 2026-H1 or 2026",
        json_schema_extra={"pattern": PERIOD_PATTERN},
    ),
    province: int | None = Query(
        None,
        ge=10,
        le=99,
        description="2-digit GB/T 2260 province code, e.g. 52 (贵州省); one without counties "
        "is refused (unknown_province)",
    ),
) -> Response:
    """The periodic report (定期报告) of `period`, as `bangfu report` makes it: the read model
    at the period's end, compared with the contract's log root at that block."""
    with service.db.read() as session:
        p = resolve_period(session, period)
        snap = load_snapshot(session, p.end, province=province)
        keys = load_key_counties(None, session)
        sections = program_sections(session, p, province)  # programs (issue 18)
    try:
        verified: bool | None = check_against_chain(snap, service.ledger())
    except LedgerError:
        verified = None  # the chain is unreachable: the report says it was not compared
    report = build_report(
        snap,
        p,
        key_counties=keys,
        chain_verified=verified,
        unit=service.settings.iati_reporting_org_name or "",
        sections=sections,
    )
    name, media = REPORT_FILES[fmt]
    with tempfile.TemporaryDirectory(prefix="bangfu-report-") as out:
        data = write_report(report, Path(out))[name].read_bytes()
    where = f"-{province}" if province else ""
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="bangfu-report{where}-{p.label}.{fmt}"'
        },
    )
