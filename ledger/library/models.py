"""Tables of the project libraries: projects, their anchored versions, matches, pushes, key
counties, used nonces and loaded key-county lists. Same `Base` as the read model; created by
migrations 0002_library and 0006_library_auth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.models import ADDRESS, HEX32, Base, created_column, updated_column


class LibraryProject(Base):
    """A need (需求) or supply (供给) project: its current state and searchable text."""

    __tablename__ = "library_projects"

    project_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer, index=True)  # fields.ProjectKind
    status: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str] = mapped_column(ADDRESS, index=True)
    county: Mapped[int | None] = mapped_column(Integer, index=True)
    org_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # need: its category; supply: every category it serves, as ",1,5," for LIKE filters
    category: Mapped[int] = mapped_column(Integer, index=True)
    categories: Mapped[str] = mapped_column(String(64))
    # ",1,2," resource kinds wanted (need) or offered (supply)
    resource_kinds: Mapped[str] = mapped_column(String(16))
    key_county: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    title: Mapped[str] = mapped_column(String(200))
    # NFC + casefold of title and description: LIKE works the same on SQLite and PostgreSQL
    search_text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    draft_json: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(64), default="local")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class LibraryProjectVersion(Base):
    """One anchored version: its canonical JSON and the signed ProjectAnchor bytes."""

    __tablename__ = "library_project_versions"

    project_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    content_json: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(HEX32)
    anchor_id: Mapped[str] = mapped_column(HEX32, unique=True)
    anchor_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    signer: Mapped[str] = mapped_column(ADDRESS)
    created_at: Mapped[datetime] = created_column()


class LibraryMatch(Base):
    """A 点单 (county orders) or 接单 (org takes) proposal and the other side's answer."""

    __tablename__ = "library_matches"

    match_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # "order" 点单 | "take" 接单
    need_id: Mapped[str] = mapped_column(HEX32, index=True)
    supply_id: Mapped[str] = mapped_column(HEX32)  # zero when an org takes a need directly
    county: Mapped[int] = mapped_column(Integer, index=True)
    org_code: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # proposed|accepted|declined
    proposer: Mapped[str] = mapped_column(ADDRESS)
    proposal_signature: Mapped[str] = mapped_column(String(132))
    responder: Mapped[str | None] = mapped_column(ADDRESS)
    response_signature: Mapped[str | None] = mapped_column(String(132))
    note: Mapped[str] = mapped_column(String(500), default="")
    # the signed LibraryMatch messages (JSON), so anyone can re-check both signatures
    proposal_message: Mapped[str | None] = mapped_column(Text)
    response_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LibraryPush(Base):
    """A project recommended ("pushed") to a county or an organization."""

    __tablename__ = "library_pushes"

    project_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)  # county:522327 | org:…
    score: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_column()


class KeyCounty(Base):
    """A 国家乡村振兴重点帮扶县, loaded by the admin from a list (CSV of codes)."""

    __tablename__ = "library_key_counties"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = created_column()


class LibraryNonce(Base):
    """A nonce a signer has used in a library write; kept until its message expires, since
    an expired message is refused anyway (created by migration 0006_library_auth)."""

    __tablename__ = "library_nonces"

    signer: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    nonce: Mapped[str] = mapped_column(HEX32, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    expiry: Mapped[int] = mapped_column(BigInteger, index=True)


class KeyCountyList(Base):
    """Each admin-signed KeyCountyList that was loaded: a new one needs a higher version."""

    __tablename__ = "library_key_county_lists"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    signer: Mapped[str] = mapped_column(ADDRESS)
    message_json: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(132))
    loaded_at: Mapped[datetime] = created_column()
