"""Tables of the workspaces: sign-in sessions and evidence files (migration
0008_sessions_evidence), audit runs (0009_audit_runs), organization profiles
(0009_org_profiles). Same `Base` as the read model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, Base, created_column


class SignInSession(Base):
    """A signed-in address. Only the SHA-256 of the cookie's token and of the CSRF token are
    kept, so a copy of the database opens no session."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS, index=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class EvidenceFile(Base):
    """A file kept under `<evidence dir>/<sha256 hex>`: who uploaded it and who may read it."""

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)  # lowercase hex, no 0x
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    uploader: Mapped[str] = mapped_column(ADDRESS, index=True)
    created_at: Mapped[datetime] = created_column()


class AuditRunRow(Base):
    """An audit run from the auditor's workspace (migration 0009_audit_runs): who asked, when,
    its status (running, done, failed), whether it passed, and as JSON its summary (progress
    and heartbeat while it runs; counts, or the error of a failed run, after) and its report."""

    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requested_by: Mapped[str] = mapped_column(ADDRESS)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    summary_json: Mapped[str] = mapped_column(Text)
    report_json: Mapped[str | None] = mapped_column(Text)


class OrgProfile(Base):
    """An organization's public profile (机构简介), as its ORG key last signed it: the signed
    `OrgProfile` message (canonical JSON) and signature are kept beside the fields, so anyone
    can check the signature again without trusting this table."""

    __tablename__ = "org_profiles"

    org_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text)
    contact_role: Mapped[str] = mapped_column(String(64))
    website: Mapped[str] = mapped_column(String(200))
    signer: Mapped[str] = mapped_column(ADDRESS)
    message_json: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(132))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
