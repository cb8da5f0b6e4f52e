"""Every finding code of the audit, in one place: its name, its class and what it means.

The audit modules pass these codes to `AuditReport.add` (or through `Replay._fail` and
`rows.row_fail`); `tests/audit/test_audit_codes.py` reads the audit sources and fails when
a code is used that is not listed here, or when a code listed here has no test that
produces it. docs/audit.md shows the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGRITY = "integrity"
ANOMALY = "anomaly"


@dataclass(frozen=True)
class Code:
    """A finding code: the stable name, integrity or anomaly, and a one-line meaning."""

    name: str
    severity: str
    meaning: str


CODES: dict[str, Code] = {}


def _code(name: str, severity: str, meaning: str) -> str:
    CODES[name] = Code(name, severity, meaning)
    return name


# ---- the contract's code
BYTECODE_MISMATCH = _code(
    "bytecode_mismatch", INTEGRITY, "the runtime code is not a fresh compile of --sources"
)
NO_CONTRACT = _code("no_contract", INTEGRITY, "no code at the contract address")

# ---- the log's events and records
MALFORMED_RECORD = _code("malformed_record", INTEGRITY, "a RecordAppended record does not parse")
LEAF_HASH_MISMATCH = _code(
    "leaf_hash_mismatch", INTEGRITY, "the event's leafHash is not SHA-256(0x00 ‖ record)"
)
EVENT_ID_MISMATCH = _code("event_id_mismatch", INTEGRITY, "the event's recordId is not the id")
LOG_INDEX_GAP = _code("log_index_gap", INTEGRITY, "the event's index is not the next log index")
WRONG_DOMAIN = _code("wrong_domain", INTEGRITY, "the record names another chain or contract")
BAD_SIGNATURE = _code("bad_signature", INTEGRITY, "the signature does not recover to the signer")
RECORD_ID_REUSED = _code("record_id_reused", INTEGRITY, "a record id is used twice")

# ---- roles and the contract's rules, replayed
SIGNER_LACKS_ROLE = _code(
    "signer_lacks_role", INTEGRITY, "the signer did not hold the kind's role at that point"
)
WRONG_COUNTY = _code("wrong_county", INTEGRITY, "a county key signed for another county")
PROJECT_RULE_BROKEN = _code(
    "project_rule_broken", INTEGRITY, "a project version by another owner or out of order"
)
UNKNOWN_NEED = _code("unknown_need", INTEGRITY, "a commitment on a need that is not anchored")
UNKNOWN_COMMITMENT = _code(
    "unknown_commitment", INTEGRITY, "a delivery on a commitment that is not recorded"
)
NOT_COMMITMENT_OWNER = _code(
    "not_commitment_owner", INTEGRITY, "a delivery by an organization that did not commit"
)
OVER_DELIVERY = _code("over_delivery", INTEGRITY, "deliveries exceed the commitment")
RECEIPT_RULE_BROKEN = _code(
    "receipt_rule_broken", INTEGRITY, "a receipt of an unknown, batch or receipted delivery"
)
OVER_CONFIRMATION = _code("over_confirmation", INTEGRITY, "a receipt confirms more than delivered")
PAIRING_RULE_BROKEN = _code(
    "pairing_rule_broken",
    INTEGRITY,
    "a pairing out of range, or an acceptance of an unknown, another county's or accepted pairing",
)
FUND_RULE_BROKEN = _code(
    "fund_rule_broken",
    INTEGRITY,
    "a fund out of range, or a contribution or draw on an unknown fund or another's",
)
FUND_OVER_COMMITTED = _code(
    "fund_over_committed", INTEGRITY, "a fund's commitments exceed what was pledged to it"
)
SOURCE_RULE_BROKEN = _code(
    "source_rule_broken",
    INTEGRITY,
    "a commitment source twice, empty, over its sum, or citing a pairing it may not",
)
FOLLOW_UP_RULE_BROKEN = _code(
    "follow_up_rule_broken",
    INTEGRITY,
    "a follow-up round or result the contract refuses (unknown batch or round, past seed, repeat)",
)
FOLLOW_UP_OUTSIDE_SAMPLE = _code(
    "follow_up_outside_sample",
    INTEGRITY,
    "a follow-up of a line outside its round's sample, or recorded before the seed block existed",
)
GRIEVANCE_RULE_BROKEN = _code(
    "grievance_rule_broken", INTEGRITY, "an answer to an unknown or answered grievance"
)
UNKNOWN_RECORD = _code("unknown_record", INTEGRITY, "a flag on a record that is not in the log")

# ---- roots and totals
ROOT_MISMATCH = _code("root_mismatch", INTEGRITY, "logRoot()/logSize() differ from the replay")
HISTORICAL_ROOT_MISMATCH = _code(
    "historical_root_mismatch", INTEGRITY, "logRoot() at an earlier block differs from the replay"
)
TOTALS_MISMATCH = _code(
    "totals_mismatch", INTEGRITY, "commitmentTotals() differs from the replayed totals"
)

# ---- the match rule (off-chain matches, re-checked against the chain)
MATCH_MISSING = _code(
    "match_missing", INTEGRITY, "a commitment's matchId is not in library_matches"
)
MATCH_NOT_ACCEPTED = _code(
    "match_not_accepted", INTEGRITY, "a commitment cites a match that is not accepted"
)
MATCH_PARTIES_MISMATCH = _code(
    "match_parties_mismatch",
    INTEGRITY,
    "the cited match is for another need, county or organization than the commitment",
)

# ---- operator checkpoints
CHECKPOINT_MISMATCH = _code(
    "checkpoint_mismatch", INTEGRITY, "a stored checkpoint's root is not the log's at its size"
)
CHECKPOINT_BEYOND_LOG = _code(
    "checkpoint_beyond_log", INTEGRITY, "a stored checkpoint is larger than the chain's log"
)
CHECKPOINT_MISSING = _code(
    "checkpoint_missing", INTEGRITY, "checkpoint rows were deleted (an id gap, or a cosigned size)"
)
CHECKPOINT_NOTE_MISMATCH = _code(
    "checkpoint_note_mismatch", INTEGRITY, "a checkpoint's note text does not state its row"
)

# ---- the read model
DB_TABLE_MISSING = _code("db_table_missing", INTEGRITY, "a read-model table is missing")
DB_COLUMN_MISSING = _code("db_column_missing", INTEGRITY, "a compared column is missing")
DB_ROW_MISSING = _code("db_row_missing", INTEGRITY, "a row the chain implies is missing")
DB_ROW_EXTRA = _code("db_row_extra", INTEGRITY, "a row no chain event explains")
DB_ROW_ALTERED = _code("db_row_altered", INTEGRITY, "a served column differs from the chain")
DB_VALUE_INVALID = _code(
    "db_value_invalid", INTEGRITY, "a stored value of the wrong type, or that does not decode"
)
BATCH_LINES_ALTERED = _code(
    "batch_lines_altered", INTEGRITY, "a batch's stored lines do not hash to its signed root"
)
BATCH_LINE_MALFORMED = _code("batch_line_malformed", INTEGRITY, "a stored line does not parse")
CHECK_FAILED = _code(
    "check_failed", INTEGRITY, "a check could not finish (its error is named); the rest ran"
)

# ---- evidence files
EVIDENCE_ALTERED = _code("evidence_altered", INTEGRITY, "a file does not hash to its name")
EVIDENCE_MISSING = _code("evidence_missing", ANOMALY, "no file for a delivery's evidence hash")
EVIDENCE_UNREFERENCED = _code("evidence_unreferenced", ANOMALY, "a file no record refers to")
EVIDENCE_UNNAMED = _code("evidence_unnamed", ANOMALY, "a file not named by its SHA-256")

# ---- anomalies of a consistent ledger
DELIVERY_UNRECEIPTED = _code(
    "delivery_unreceipted", ANOMALY, "a delivery older than the receipt window, not receipted"
)
RECEIPT_SHORTFALL = _code("receipt_shortfall", ANOMALY, "a receipt confirms less than delivered")
COMMITMENT_OVERDUE = _code("commitment_overdue", ANOMALY, "due date passed, not fully delivered")
DUPLICATE_BENEFICIARY = _code(
    "duplicate_beneficiary", ANOMALY, "one pseudonym served for one need by two organizations"
)
FLAG_UNANSWERED = _code(
    "flag_unanswered", ANOMALY, "no later record by the flagged record's author on its subject"
)
# household follow-up (回访): what a county found on a sampled batch line
FOLLOW_UP_NOT_RECEIVED = _code(
    "follow_up_not_received", ANOMALY, "a follow-up found a sampled household did not receive it"
)
FOLLOW_UP_HOUSEHOLD_NOT_FOUND = _code(
    "follow_up_household_not_found", ANOMALY, "a follow-up found no household for a sampled line"
)
FOLLOW_UP_PART_RECEIVED = _code(
    "follow_up_part_received", ANOMALY, "a follow-up found a sampled household received part only"
)


def severity(code: str) -> str:
    """The class of a code (integrity for a code not listed, so nothing passes silently)."""
    found = CODES.get(code)
    return found.severity if found else INTEGRITY
