"""Rebuilding the read model from the chain alone, and a digest of every read-model row so
that a live database and a rebuild can be compared (trust model §3.5: the database is a cache).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, inspect, select
from sqlalchemy.orm import Session

from ledger.core.errors import ChainError, ConfigError
from ledger.core.hexes import hex0x
from ledger.evm.contract import LedgerContract
from ledger.indexer.worker import Indexer, IndexStatus
from ledger.store import fund_models, models, pairing_models  # noqa: F401  (tables in the digest)
from ledger.store.db import Database
from ledger.store.followup_models import FollowUpRoundRow, FollowUpRow
from ledger.store.grievance_models import GrievanceAnswerRow, GrievanceRow

#: The tables the indexer derives from chain events alone, with the columns that are
#: local bookkeeping (surrogate keys) rather than facts, so they are left out of digests.
READ_MODEL: dict[str, tuple[str, ...]] = {
    models.LogEntry.__tablename__: (),
    models.ProjectAnchorRow.__tablename__: (),
    models.CommitmentRow.__tablename__: (),
    models.DeliveryRow.__tablename__: ("id",),
    models.ReceiptRow.__tablename__: (),
    models.FlagRow.__tablename__: (),
    models.RoleEvent.__tablename__: ("id",),
    # the totals the indexer maintains (migration 0010_read_model): a rebuild must sum the
    # same, whatever reorgs the live one went through
    models.CommitmentTotal.__tablename__: (),
    models.GroupTotal.__tablename__: (),
    # programs (issue 18)
    **{t: () for t in ("pairings", "pairing_acceptances", "pairing_commitments")},
    **fund_models.READ_MODEL,
    # household follow-up (回访)
    FollowUpRoundRow.__tablename__: (),
    FollowUpRow.__tablename__: (),
    # grievances (申诉): the county's registrations and answers
    GrievanceRow.__tablename__: (),
    GrievanceAnswerRow.__tablename__: (),
}


@dataclass(frozen=True)
class Digest:
    """SHA-256 over the sorted rows of each read-model table, and the row counts."""

    tables: dict[str, str]
    counts: dict[str, int]

    @property
    def value(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tables):
            h.update(f"{name}={self.tables[name]};".encode())
        return h.hexdigest()

    def differences(self, other: Digest) -> list[str]:
        """Names of the tables whose rows differ, with both row counts."""
        return [
            f"{name}: {self.counts.get(name)} rows vs {other.counts.get(name)} rows"
            for name in sorted(set(self.tables) | set(other.tables))
            if self.tables.get(name) != other.tables.get(name)
        ]


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return hex0x(value)
    if isinstance(value, bool):
        return int(value)
    return value


def table_rows(session: Session, table: Table, skip: tuple[str, ...]) -> Iterator[str]:
    """Every row of `table` as canonical JSON, without the `skip` columns, sorted."""
    cols = [c for c in table.columns if c.name not in skip]
    rows = (
        json.dumps([_canonical(v) for v in row], separators=(",", ":"), default=str)
        for row in session.execute(select(*cols))
    )
    yield from sorted(rows)


def digest(db: Database) -> Digest:
    """The digest of every read-model row in `db` (order and surrogate keys ignored)."""
    tables: dict[str, str] = {}
    counts: dict[str, int] = {}
    present = set(inspect(db.engine).get_table_names())
    with db.read() as session:
        for name, skip in READ_MODEL.items():
            if name not in present:
                continue
            h = hashlib.sha256()
            n = 0
            for line in table_rows(session, models.Base.metadata.tables[name], skip):
                h.update(line.encode())
                h.update(b"\n")
                n += 1
            tables[name] = h.hexdigest()
            counts[name] = n
    return Digest(tables, counts)


def rebuild(
    ledger: LedgerContract, url: str, *, block_range: int = 2000, confirmations: int = 0
) -> tuple[Database, IndexStatus]:
    """Indexes the whole chain into the empty database at `url` and returns it.

    Refuses a database that already holds indexed rows: a rebuild must start from nothing.
    """
    db = Database(url)
    db.migrate()
    with db.read() as session:
        if session.scalar(
            select(models.LogEntry.leaf_index).limit(1)
        ) is not None or session.scalar(select(models.RoleEvent.id).limit(1)):
            raise ConfigError(
                f"{db.engine.url.render_as_string(hide_password=True)} already holds indexed "
                "rows; rebuild into a new, empty database",
                code="rebuild_target_not_empty",
            )
    indexer = Indexer(db, ledger, confirmations=confirmations, block_range=block_range)
    target = int(ledger.w3.eth.block_number) - confirmations
    status = indexer.run_until_synced()
    for _ in range(50):
        # A pass that meets a reorg returns 0 without reaching the head: go on to the head
        # as it was when the rebuild began, so a rebuild is never silently short.
        if status.last_block >= target:
            return db, status
        time.sleep(0.1)
        status = indexer.run_until_synced()
    raise ChainError(
        f"the rebuild stopped at block {status.last_block}, short of {target}; the chain keeps "
        "reorganizing or does not link (see the indexer log) — run it again",
        code="rebuild_incomplete",
    )
