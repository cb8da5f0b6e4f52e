"""Evidence files behind deliveries, stored by their SHA-256: an upload signed by an
organization or county office (EIP-712 `EvidenceUpload`), and reads that show a private file
only to auditors, its uploader and the county of a delivery naming it (else 404)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse

from api.deps import ServiceDep
from api.sessions import OptionalSession
from ledger.core import codes
from ledger.core.errors import MessageError, NotFoundError
from ledger.workspace import evidence

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence 证据"])


def _message(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise MessageError(
            "消息不是 JSON / message must be the EvidenceUpload message as JSON text",
            code=codes.BAD_MESSAGE,
            field="message",
        ) from None


@router.post("", status_code=201, summary="上传证据 / upload a signed evidence file")
def upload(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="the evidence file")],
    message: Annotated[str | None, Form(description="the EvidenceUpload message, JSON")] = None,
    signature: Annotated[str | None, Form(description="EIP-712 signature, 0x-hex")] = None,
) -> dict[str, Any]:
    settings = service.settings
    folder = settings.evidence_path
    limit = settings.evidence_max_bytes
    with service.db.read() as session:
        verified = evidence.verify_upload(
            session, _message(message), signature, service.domain, limit
        )
    with (
        evidence.staged(folder, file.file, verified.message, limit) as staged,
        service.db.write() as session,
    ):
        row = evidence.store(session, verified, staged, folder)
        answer = {"sha256": row.sha256, "size": row.size, "public": row.public}
    return {**answer, "url": f"/api/v1/evidence/{answer['sha256']}"}


@router.get("/{sha256}", summary="证据文件 / an evidence file", response_class=FileResponse)
def read(sha256: str, service: ServiceDep, me: OptionalSession) -> FileResponse:
    digest = evidence.normal_hash(sha256)
    with service.db.read() as session:
        row = evidence.readable(session, digest, me.address if me is not None else None)
        media_type = row.media_type
    path = evidence.path_of(service.settings.evidence_path, digest)
    if not path.is_file():
        raise NotFoundError("没有此证据 / no such evidence file", code=codes.EVIDENCE_NOT_FOUND)
    inline = media_type in evidence.INLINE
    return FileResponse(
        path,
        media_type=media_type,
        filename=digest,
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "Cache-Control": "private, no-store" if not row.public else "public, max-age=3600"
        },
    )
