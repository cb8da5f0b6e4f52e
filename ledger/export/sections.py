"""The programs' sections of the periodic report (issue 18, docs/programs.md), in the order
the report shows them: pairing and east–west, special funds, grievances. Each is a
`ledger.export.report.ReportSection`; what one needs beyond the snapshot is read here, from
the same session as the snapshot, so all of them stand at the same cut-off."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.export import pairing
from ledger.export.report import ReportSection, grievance_section, special_funds_section
from ledger.export.snapshot import Period

__all__ = ["program_sections"]


def program_sections(
    session: Session, period: Period, province: int | None = None
) -> list[ReportSection]:
    """Every program's report section, for `build_report(sections=...)`."""
    return [
        pairing.report_section(session),
        special_funds_section,
        grievance_section(session, period, province),
    ]
