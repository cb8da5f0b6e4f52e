"""The programs' sections of the periodic report (issue 18, docs/programs.md), in the order
the report shows them: pairing and east–west, special funds, grievances. Each is a
`ledger.export.report_tables.ReportSection`; what one needs beyond the snapshot is read here,
from the same session as the snapshot, so all of them stand at the same cut-off. The
pairing's tables are made in `ledger.export.pairing_snapshot`, the special funds' and the
grievances' in `ledger.export.program_tables`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from ledger.export import pairing_snapshot
from ledger.export.program_tables import grievance_tables, special_funds_table
from ledger.export.report_tables import ReportSection, Table
from ledger.export.snapshot import Period, Snapshot

__all__ = ["grievance_section", "program_sections", "special_funds_section", "tables_section"]


def program_sections(
    session: Session, period: Period, province: int | None = None
) -> list[ReportSection]:
    """Every program's report section, for `build_report(sections=...)`."""
    return [
        pairing_snapshot.report_section(session),
        special_funds_section,
        grievance_section(session, period, province),
    ]


def special_funds_section(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
    """The fund program's section (`ReportSection`): the special funds at the cut-off."""
    return {"special_funds": special_funds_table(snapshot)}


def tables_section(tables: Iterable[Table]) -> ReportSection:
    """A section of tables read beforehand, for the period the caller read them for."""
    fixed = {t.name: t for t in tables}

    def section(snapshot: Snapshot, period: Period, keys: set[int]) -> dict[str, Table]:
        return fixed

    return section


def grievance_section(
    session: Session, period: Period, province: int | None = None
) -> ReportSection:
    """The grievance program's section (`ReportSection`) of `period`: `grievance_tables`,
    read now from `session`."""
    return tables_section(grievance_tables(session, period, province))
