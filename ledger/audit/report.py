"""The audit's report: its findings, the checks that ran, and the JSON it is written as.

Every other audit module adds to one `AuditReport`; `AuditReport.exit_code` says how
integrity findings and anomalies count, `to_json` is the `bangfu-audit/1` document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.audit.codes import ANOMALY, INTEGRITY

__all__ = ["MAX_LISTED", "REPORT_FORMAT", "AuditReport", "Finding", "Progress", "to_hex"]

REPORT_FORMAT = "bangfu-audit/1"
#: Findings of one code listed in full in the report; the rest are counted.
MAX_LISTED = 200

#: progress(phase, done, total): told as each phase of the audit advances.
Progress = Callable[[str, int, int | None], None]


def to_hex(b: bytes) -> str:
    """Bytes as the report shows them: 0x and lowercase hex."""
    return "0x" + bytes(b).hex()


@dataclass(frozen=True)
class Finding:
    """One thing the audit found: a stable code, its class, a message and where."""

    code: str
    severity: str
    message: str
    where: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            **({"where": self.where} if self.where else {}),
        }


@dataclass
class AuditReport:
    """The findings of one audit, the checks that ran and what they covered."""

    chain_id: int = 0
    contract: str = ""
    from_block: int = 0
    to_block: int = 0
    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, code: str, severity: str, message: str, **where: Any) -> None:
        self.findings.append(Finding(code, severity, message, where))

    @property
    def integrity(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == INTEGRITY]

    @property
    def anomalies(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ANOMALY]

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def exit_code(self, *, strict: bool = False) -> int:
        """0 clean; 1 on any integrity finding; 2 on anomalies only, when `strict`."""
        if self.integrity:
            return 1
        if strict and self.anomalies:
            return 2
        return 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.code] += 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        listed: dict[str, int] = defaultdict(int)
        findings = []
        for f in self.findings:
            listed[f.code] += 1
            if listed[f.code] <= MAX_LISTED:
                findings.append(f.to_json())
        return {
            "format": REPORT_FORMAT,
            "verdict": "fail" if self.integrity else "pass",
            "chain": {"chain_id": self.chain_id, "contract": self.contract},
            "blocks": {"from": self.from_block, "to": self.to_block},
            "checks": self.checks,
            "stats": self.stats,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "counts": self.counts(),
            "integrity_findings": len(self.integrity),
            "anomalies": len(self.anomalies),
            "findings": findings,
        }
