"""Need lists (需求表) over HTTP: a county's spreadsheet of needs checked cell by cell, with
nothing stored, and the list's templates (CSV and XLSX) to fill in. Publishing the needs is
then the library's own signed drafts, one per need."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.routers.library import PREFIX, TAGS
from ledger.library import needlist, needlist_files, needlist_template

router = APIRouter(prefix=PREFIX, tags=TAGS)


def _check_list(
    service: ServiceDep, data: bytes, name: str, county: str | None, address: str | None
) -> dict[str, Any]:
    with service.db.read() as session:
        code = needlist.county_for(session, county, address)
    return needlist.parse_need_list(data, code, name=name).to_dict()


@router.post("/need-lists/check", summary="检查需求表 Check a need list (writes nothing)")
async def check_need_list(
    service: ServiceDep,
    file: UploadFile = File(..., description="需求表 CSV (UTF-8, BOM or not) or XLSX"),
    county: str | None = Form(
        None, max_length=12, description="县级代码 the county the list is for (the signer's)"
    ),
    address: str | None = Form(
        None, max_length=42, description="或县级账户地址 or the county office's address"
    ),
) -> dict[str, Any]:
    """Every cell of the list checked in one pass: `{county, needs, rows, errors}`, each
    error `{row, column, code, message}` at its spreadsheet row (header = 1) and its column
    as the header writes it. Nothing is stored; publishing is then one signed draft and
    publish per need, by the county's key. A file that is no CSV or XLSX is 422 bad_file."""
    data = await file.read(needlist_files.MAX_FILE_BYTES + 1)
    return await run_in_threadpool(_check_list, service, data, file.filename or "", county, address)


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(data: bytes, media_type: str, suffix: str) -> Response:
    name = f"need-list-template.{suffix}"
    disposition = (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''%E9%9C%80%E6%B1%82%E8%A1%A8.{suffix}"
    )
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


@router.get(
    "/need-lists/template.csv",
    summary="需求表模板 CSV Need-list template (CSV UTF-8)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def need_list_template_csv() -> Response:
    """A bilingual header row, an example row and a note (one need and one resource per row)."""
    return _download(needlist_template.template_csv(), "text/csv; charset=utf-8", "csv")


@router.get(
    "/need-lists/template.xlsx",
    summary="需求表模板 XLSX Need-list template (Excel)",
    response_class=Response,
    responses={200: {"content": {_XLSX: {}}}},
)
def need_list_template_xlsx() -> Response:
    """A frozen bilingual header row, an example row, choice lists and a sheet of notes."""
    return _download(needlist_template.template_xlsx(), _XLSX, "xlsx")
