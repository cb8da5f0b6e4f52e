"""Every error code the ledger and its API answer with, as one named constant each.

A code is stable and machine-readable: clients branch on it, tests assert it, the API's
problem documents carry it (`api.problems` maps each one to an HTTP status and lists them
all in the OpenAPI document). Every code is snake_case. The contract's custom errors keep
their Solidity names (`RecordIdUsed`) only in `CONTRACT_ERRORS`, which maps each one to its
code here; `canonical` applies that mapping where such a name reaches an answer.

It is one module past issue 13's ~500 lines on purpose: it is the one registry (`ALL`), a
constant a line, which tests/core/test_codes.py checks whole (each code spelled once, every
contract error mapped into it); split up, a code could be defined twice or missed.
"""

from __future__ import annotations

from typing import Final

# The ledger's and the API's own codes.
ABSURD_QUANTITY: Final = "absurd_quantity"
ALREADY_PUBLISHED: Final = "already_published"
API_ERROR: Final = "api_error"
API_UNREACHABLE: Final = "api_unreachable"
BAD_ACTION: Final = "bad_action"
BAD_ADDRESS: Final = "bad_address"
BAD_ADMIN_DELAY: Final = "bad_admin_delay"
BAD_ARGUMENTS: Final = "bad_arguments"
BAD_BATCH_FILE: Final = "bad_batch_file"
BAD_BUNDLE: Final = "bad_bundle"
BAD_BUNDLE_PROOF: Final = "bad_bundle_proof"
BAD_BUNDLE_SIGNATURE: Final = "bad_bundle_signature"
BAD_CHARACTERS: Final = "bad_characters"
BAD_CHECKPOINT_SIGNATURE: Final = "bad_checkpoint_signature"
BAD_CONTENT_LENGTH: Final = "bad_content_length"
BAD_COUNTY_CODE: Final = "bad_county_code"
BAD_CURSOR: Final = "bad_cursor"
BAD_DATABASE_URL: Final = "bad_database_url"
BAD_DEPLOYMENT: Final = "bad_deployment"
BAD_DIRECTION: Final = "bad_direction"
BAD_DUMP: Final = "bad_dump"
BAD_EVIDENCE: Final = "bad_evidence"
BAD_FIELD: Final = "bad_field"
BAD_FILE: Final = "bad_file"
BAD_FRAME: Final = "bad_frame"
BAD_GROUP: Final = "bad_group"
BAD_HEX: Final = "bad_hex"
BAD_KEY_COUNTIES: Final = "bad_key_counties"
BAD_KEY_FILE: Final = "bad_key_file"
BAD_KIND: Final = "bad_kind"
BAD_LENGTH: Final = "bad_length"
BAD_LINE: Final = "bad_line"
BAD_LINE_BYTES: Final = "bad_line_bytes"
BAD_LINE_COUNT: Final = "bad_line_count"
BAD_LIST: Final = "bad_list"
BAD_LOCALCHAIN: Final = "bad_localchain"
BAD_LOG_KEY: Final = "bad_log_key"
BAD_MESSAGE: Final = "bad_message"
BAD_NUMBER: Final = "bad_number"
BAD_ORG_CODE: Final = "bad_org_code"
BAD_PERIOD: Final = "bad_period"
BAD_PROJECT_ID: Final = "bad_project_id"
BAD_PROOF: Final = "bad_proof"
BAD_PROVINCE: Final = "bad_province"
BAD_QUORUM: Final = "bad_quorum"
BAD_RECORD_BYTES: Final = "bad_record_bytes"
BAD_RECORD_ID: Final = "bad_record_id"
BAD_RESPONSE: Final = "bad_response"
BAD_SIGNATURE: Final = "bad_signature"
BAD_SIZE: Final = "bad_size"
BAD_SOURCES: Final = "bad_sources"
BAD_STATE_FILE: Final = "bad_state_file"
BAD_STATUS: Final = "bad_status"
BAD_TOKEN: Final = "bad_token"
BAD_TYPE: Final = "bad_type"
BAD_WITNESSES: Final = "bad_witnesses"
BATCH_LINES_TAMPERED: Final = "batch_lines_tampered"
BATCH_NOT_INDEXED: Final = "batch_not_indexed"
BATCH_ROOT_MISMATCH: Final = "batch_root_mismatch"
BATCH_TOTALS_MISMATCH: Final = "batch_totals_mismatch"
BODY_TOO_LARGE: Final = "body_too_large"
BUSY: Final = "busy"
CHAIN_REORGANIZED: Final = "chain_reorganized"
CHAIN_START_FAILED: Final = "chain_start_failed"
CHAIN_START_TIMEOUT: Final = "chain_start_timeout"
CHAIN_UNREACHABLE: Final = "chain_unreachable"
CHECKPOINT_RACED: Final = "checkpoint_raced"
CHECKPOINT_UNSIGNED: Final = "checkpoint_unsigned"
CJK_FONT_MISSING: Final = "cjk_font_missing"
COMPILE_FAILED: Final = "compile_failed"
CONFIG_ERROR: Final = "config_error"
CONFLICT: Final = "conflict"
CONTENT_MISMATCH: Final = "content_mismatch"
COUNTY_CHANGED: Final = "county_changed"
COUNTY_NOT_FOUND: Final = "county_not_found"
CUSTODIAL_DISABLED: Final = "custodial_disabled"
CUSTODIAL_KEY_MISMATCH: Final = "custodial_key_mismatch"
CUSTODIAL_KEY_NOT_FOUND: Final = "custodial_key_not_found"
CUSTODIAL_NO_PASSWORD: Final = "custodial_no_password"
CUSTODIAL_TOKENS_CORRUPT: Final = "custodial_tokens_corrupt"
DATABASE_BUSY: Final = "database_busy"
DEMO_BATCH: Final = "demo_batch"
DEMO_RECORD_FAILED: Final = "demo_record_failed"
DEMO_TIMEOUT: Final = "demo_timeout"
DUMP_MISMATCH: Final = "dump_mismatch"
DUPLICATE_IN_SUBMISSION: Final = "duplicate_in_submission"
EMPTY_BATCH: Final = "empty_batch"
EMPTY_LIST: Final = "empty_list"
EXPIRY_TOO_FAR: Final = "expiry_too_far"
EXPORT_RACED: Final = "export_raced"
FORBIDDEN: Final = "forbidden"
HISTORY_REWRITTEN: Final = "history_rewritten"
IATI_INVALID: Final = "iati_invalid"
ID_NOT_SIGNER_SCOPED: Final = "id_not_signer_scoped"
IMPORT_CONFLICT: Final = "import_conflict"
IMPORTED_PROJECT: Final = "imported_project"
INCONSISTENT_CHECKPOINT: Final = "inconsistent_checkpoint"
INDEX_DIVERGED: Final = "index_diverged"
INDEX_INCOMPLETE: Final = "index_incomplete"
INDEXER_LAGGING: Final = "indexer_lagging"
INDEXER_NOT_STARTED: Final = "indexer_not_started"
INTERNAL_ERROR: Final = "internal_error"
INVALID_ADDRESS: Final = "invalid_address"
INVALID_BATCH: Final = "invalid_batch"
INVALID_JSON: Final = "invalid_json"
INVALID_PROJECT: Final = "invalid_project"
INVALID_PROOF: Final = "invalid_proof"
INVALID_RECORD: Final = "invalid_record"
INVALID_REQUEST: Final = "invalid_request"
KEY_FILE_EXISTS: Final = "key_file_exists"
KEY_FILE_NOT_FOUND: Final = "key_file_not_found"
KIND_NOT_ALLOWED: Final = "kind_not_allowed"
LEDGER_ERROR: Final = "ledger_error"
LINE_COMMITMENT_NOT_IN_BATCH: Final = "line_commitment_not_in_batch"
LINE_NOT_FOUND: Final = "line_not_found"
LIST_VERSION_NOT_NEWER: Final = "list_version_not_newer"
LOG_INCOMPLETE: Final = "log_incomplete"
LOG_KEY_CHANGED: Final = "log_key_changed"
MATCH_CLOSED: Final = "match_closed"
MATCH_EXISTS: Final = "match_exists"
MESSAGE_MISMATCH: Final = "message_mismatch"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
MISSING_FIELD: Final = "missing_field"
MISSING_NODE: Final = "missing_node"
MISSING_NODE_MODULES: Final = "missing_node_modules"
MISSING_ORG: Final = "missing_org"
MISSING_SIGNER: Final = "missing_signer"
MISSING_SOURCE: Final = "missing_source"
MISSING_SUPPLY: Final = "missing_supply"
NEED_CHANGED: Final = "need_changed"
NEED_NOT_OPEN: Final = "need_not_open"
NO_ACCEPTED_MATCH: Final = "no_accepted_match"
NO_CHECKPOINT: Final = "no_checkpoint"
NO_CONTRACT: Final = "no_contract"
NO_DEPLOYMENT: Final = "no_deployment"
NO_KEY: Final = "no_key"
NO_LOCALCHAIN: Final = "no_localchain"
NO_LOG_KEY: Final = "no_log_key"
NO_PASSWORD: Final = "no_password"
NO_VERSION: Final = "no_version"
NOT_A_NEED: Final = "not_a_need"
NOT_ADMIN: Final = "not_admin"
NOT_FOUND: Final = "not_found"
NOT_INDEXED_YET: Final = "not_indexed_yet"
NOT_MATCH_PARTY: Final = "not_match_party"
NOT_PROJECT_OWNER: Final = "not_project_owner"
NOT_YET_ON_CHAIN: Final = "not_yet_on_chain"
NOTHING_TO_EXPORT: Final = "nothing_to_export"
NOTHING_TO_PUBLISH: Final = "nothing_to_publish"
ORG_NOT_FOUND: Final = "org_not_found"
OUT_OF_RANGE: Final = "out_of_range"
PERSONAL_DATA_IN_TEXT: Final = "personal_data_in_text"
PORT_IN_USE: Final = "port_in_use"
PROJECT_EXISTS: Final = "project_exists"
PROJECT_IS_DRAFT: Final = "project_is_draft"
PROJECT_NOT_EDITABLE: Final = "project_not_editable"
PROJECT_NOT_FOUND: Final = "project_not_found"
PROJECT_NOT_OPEN: Final = "project_not_open"
PUBLISHED_IS_IMMUTABLE: Final = "published_is_immutable"
QUORUM_NOT_MET: Final = "quorum_not_met"
REBUILD_INCOMPLETE: Final = "rebuild_incomplete"
REBUILD_TARGET_NOT_EMPTY: Final = "rebuild_target_not_empty"
RECORD_CONFLICT: Final = "record_conflict"
RECORD_FAILED: Final = "record_failed"
RECORD_NOT_FOUND: Final = "record_not_found"
REPORT_CUTOFF_MISMATCH: Final = "report_cutoff_mismatch"
ROLLED_BACK: Final = "rolled_back"
RPC_ERROR: Final = "rpc_error"
SIGNATURE_EXPIRED: Final = "signature_expired"
SIGNATURE_REPLAYED: Final = "signature_replayed"
SIGNATURE_REQUIRED: Final = "signature_required"
STALE_VERSION: Final = "stale_version"
STATE_DIR_NOT_WRITABLE: Final = "state_dir_not_writable"
SUPPLY_NOT_OPEN: Final = "supply_not_open"
TEXT_TOO_LONG: Final = "text_too_long"
TO_SIGN_MISMATCH: Final = "to_sign_mismatch"
TOO_MANY_LINES: Final = "too_many_lines"
TOOLCHAIN_ERROR: Final = "toolchain_error"
TRANSITION_NOT_ALLOWED: Final = "transition_not_allowed"
TX_NOT_FOUND: Final = "tx_not_found"
TX_REVERTED: Final = "tx_reverted"
UNKNOWN_CATEGORY: Final = "unknown_category"
UNKNOWN_COUNTY: Final = "unknown_county"
UNKNOWN_FIELD: Final = "unknown_field"
UNKNOWN_KIND: Final = "unknown_kind"
UNKNOWN_MATCH: Final = "unknown_match"
UNKNOWN_PROJECT: Final = "unknown_project"
UNKNOWN_PROVINCE: Final = "unknown_province"
UNKNOWN_ROLE: Final = "unknown_role"
UNTRUSTED_EXPORTER: Final = "untrusted_exporter"
UPLOAD_ACCEPTED: Final = "upload_accepted"
UPLOAD_GAP: Final = "upload_gap"
UPLOAD_INCOMPLETE: Final = "upload_incomplete"
UPLOAD_NOT_FOUND: Final = "upload_not_found"
UPLOAD_REFUSED: Final = "upload_refused"
VAR_NOT_WRITABLE: Final = "var_not_writable"
WAIT_TIMEOUT: Final = "wait_timeout"
WEAK_PASSWORD: Final = "weak_password"
WITNESS_REFUSED: Final = "witness_refused"
WRONG_CHAIN: Final = "wrong_chain"
WRONG_CHECKPOINT_KEY: Final = "wrong_checkpoint_key"
WRONG_CONTRACT: Final = "wrong_contract"
WRONG_DOMAIN: Final = "wrong_domain"
WRONG_ORIGIN: Final = "wrong_origin"
WRONG_PASSWORD: Final = "wrong_password"

# The CLI's own codes for a command line it cannot run.
BAD_PARAMETER: Final = "bad_parameter"
USAGE_ERROR: Final = "usage_error"
FILE_NOT_FOUND: Final = "file_not_found"

# The problems of one line of a delivery-batch file (each line's problems are listed in one
# answer; a line can also fail with codes above, such as bad_type, bad_hex, unknown_field or
# too_many_commitments).
ABSURD_DATE: Final = "absurd_date"
BAD_CSV: Final = "bad_csv"
BAD_DATE: Final = "bad_date"
BAD_ENCODING: Final = "bad_encoding"
BAD_HEADER: Final = "bad_header"
BAD_ID_NUMBER: Final = "bad_id_number"
BAD_JSON: Final = "bad_json"
BOTH_BENEFICIARY_COLUMNS: Final = "both_beneficiary_columns"
COUNTY_KEY_NEEDED: Final = "county_key_needed"
DUPLICATE_LINE: Final = "duplicate_line"
EMPTY_FILE: Final = "empty_file"
FIELD_TOO_LARGE: Final = "field_too_large"
MISSING_VALUE: Final = "missing_value"
NOT_POSITIVE: Final = "not_positive"
TOO_LONG: Final = "too_long"
WRONG_COLUMN_COUNT: Final = "wrong_column_count"

# The proof-bundle verifier's codes (`bangfu verify`; ledger.tools.proofcheck repeats them,
# being stdlib-only; the verifier's other codes are above).
BAD_CONSISTENCY: Final = "bad_consistency"
BAD_FORMAT: Final = "bad_format"
BAD_INCLUSION: Final = "bad_inclusion"
BAD_LEAF_HASH: Final = "bad_leaf_hash"
BAD_LINE_PROOF: Final = "bad_line_proof"
BAD_RECORD: Final = "bad_record"
LINE_COUNT_MISMATCH: Final = "line_count_mismatch"
ROOT_MISMATCH: Final = "root_mismatch"
SIGNER_NOT_AUTHORIZED: Final = "signer_not_authorized"
WRONG_KIND: Final = "wrong_kind"
NOT_ANCHORED: Final = "not_anchored"

# Registration by name and the admin's browser-signed registration transactions
# (ledger.core.fields, ledger.evm.registrations).
BAD_RAW_TX: Final = "bad_raw_tx"
INVALID_AUTHORITY: Final = "invalid_authority"
INVALID_NAME: Final = "invalid_name"
INVALID_ORG_TYPE: Final = "invalid_org_type"
NOT_REGISTRATION_CALL: Final = "not_registration_call"
ORG_TYPE_MISMATCH: Final = "org_type_mismatch"
ORG_TYPE_REQUIRED: Final = "org_type_required"
REGISTRATION_FAILED: Final = "registration_failed"
WRONG_CHAIN_ID: Final = "wrong_chain_id"

# The workspaces' codes: sign-in sessions, evidence files (ledger.workspace).
CSRF_FAILED: Final = "csrf_failed"
EVIDENCE_HASH_MISMATCH: Final = "evidence_hash_mismatch"
EVIDENCE_NOT_FOUND: Final = "evidence_not_found"
EVIDENCE_SIZE_MISMATCH: Final = "evidence_size_mismatch"
EVIDENCE_TOO_LARGE: Final = "evidence_too_large"
SESSION_EXPIRED: Final = "session_expired"
SESSION_REQUIRED: Final = "session_required"

# A need list (需求表) is refused cell by cell (ledger.library.needlist): its cells' and its
# file's codes beside the shared ones above (missing_value, bad_type, …).
BAD_AMOUNT: Final = "bad_amount"
BAD_CHOICE: Final = "bad_choice"
DEADLINE_PASSED: Final = "deadline_passed"
FILE_EXISTS: Final = "file_exists"
FILE_TOO_LARGE: Final = "file_too_large"
NEED_LIST_REFUSED: Final = "need_list_refused"

# Audits run from the auditor's workspace (ledger.workspace.audits): who may start one, a
# run that is not there, and the codes a failed run is stored with.
AUDIT_FAILED: Final = "audit_failed"
AUDIT_INTERRUPTED: Final = "audit_interrupted"
AUDIT_NOT_FOUND: Final = "audit_not_found"
NOT_AUDITOR: Final = "not_auditor"

# Organization profiles (机构简介), signed by a registered ORG key of the organization
# (ledger.workspace.profiles).
BAD_WEBSITE: Final = "bad_website"
NOT_ORG_KEY: Final = "not_org_key"
PROFILE_VERSION_NOT_NEXT: Final = "profile_version_not_next"

# Special funds (专项基金, ledger.workspace.funds, ledger.store.queries.fund): a fund that is not
# there, and off-chain details that do not hash to what the Fund signed or that would name a
# sponsor who did not consent.
FUND_NOT_FOUND: Final = "fund_not_found"
PURPOSE_HASH_MISMATCH: Final = "purpose_hash_mismatch"
SPONSOR_HASH_MISMATCH: Final = "sponsor_hash_mismatch"
SPONSOR_NAME_IN_PUBLIC_TEXT: Final = "sponsor_name_in_public_text"

# Reports and IATI exports (ledger.export): an IATI file names its publisher, which comes
# from the settings (BANGFU_IATI_REPORTING_ORG / _NAME), never from a placeholder.
IATI_NO_REPORTING_ORG: Final = "iati_no_reporting_org"

# Programs (issue 18, docs/programs.md): pairings (结对帮扶) are read by id.
PAIRING_NOT_FOUND: Final = "pairing_not_found"

# Consortium chains (ledger.evm.profiles, ledger.evm.probe): an unknown chain profile, a
# profile or gas model the node disagrees with, and a node that cannot hold the ledger's
# guarantees (`bangfu chain probe` names which).
BAD_CHAIN_PROFILE: Final = "bad_chain_profile"
CHAIN_UNFIT: Final = "chain_unfit"
PROFILE_MISMATCH: Final = "profile_mismatch"

# Grievances (申诉, ledger.library.grievances, ledger.relayer.rules_grievance): a filing
# refused or not found, too many filings from one address, a registration that names no
# filing of the county's projects (or differs from it, or repeats one), and an answer whose
# public text is missing or does not hash to what the county signed.
ANSWER_HASH_MISMATCH: Final = "answer_hash_mismatch"
ANSWER_TEXT_MISSING: Final = "answer_text_missing"
GRIEVANCE_ALREADY_REGISTERED: Final = "grievance_already_registered"
GRIEVANCE_FILING_MISMATCH: Final = "grievance_filing_mismatch"
GRIEVANCE_NOT_FILED: Final = "grievance_not_filed"
RECORD_NOT_OF_PROJECT: Final = "record_not_of_project"
TOO_MANY_GRIEVANCES: Final = "too_many_grievances"
UNKNOWN_FILING: Final = "unknown_filing"

# The codes of the contract's custom errors (and of the ledger's own checks that mirror them
# before a record is sent); `CONTRACT_ERRORS` names the Solidity error of each.
ACCESS_CONTROL_BAD_CONFIRMATION: Final = "access_control_bad_confirmation"
ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_DELAY: Final = "access_control_enforced_default_admin_delay"
ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_RULES: Final = "access_control_enforced_default_admin_rules"
ACCESS_CONTROL_INVALID_DEFAULT_ADMIN: Final = "access_control_invalid_default_admin"
ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT: Final = "access_control_unauthorized_account"
ALREADY_RECEIPTED: Final = "already_receipted"
BATCH_LENGTH_MISMATCH: Final = "batch_length_mismatch"
BATCH_RECEIPT_NEEDS_SINGLE_COMMITMENT: Final = "batch_receipt_needs_single_commitment"
COMMITMENTS_NOT_SORTED: Final = "commitments_not_sorted"
INVALID_BUDGET: Final = "invalid_budget"
INVALID_CATEGORY: Final = "invalid_category"
INVALID_COUNTY_CODE: Final = "invalid_county_code"
INVALID_END_DATE: Final = "invalid_end_date"
INVALID_ORG_CODE: Final = "invalid_org_code"
INVALID_PROJECT_KIND: Final = "invalid_project_kind"
INVALID_QUANTITY: Final = "invalid_quantity"
INVALID_RESOURCE_KIND: Final = "invalid_resource_kind"
INVALID_SIGNATURE: Final = "invalid_signature"
INVALID_TITLE: Final = "invalid_title"
MISSING_ROLE: Final = "missing_role"
NOT_COMMITMENT_OWNER: Final = "not_commitment_owner"
NOT_REGISTERED: Final = "not_registered"
OVER_CONFIRMATION: Final = "over_confirmation"
OVER_DELIVERY: Final = "over_delivery"
PROJECT_COUNTY_CHANGED: Final = "project_county_changed"
PROJECT_ID_NOT_SCOPED: Final = "project_id_not_scoped"
PROJECT_KIND_CHANGED: Final = "project_kind_changed"
RECORD_ID_NOT_SCOPED: Final = "record_id_not_scoped"
RECORD_ID_USED: Final = "record_id_used"
REVERTED: Final = "reverted"
ROLE_CONFLICT: Final = "role_conflict"
ROLE_MANAGED_BY_REGISTRATION: Final = "role_managed_by_registration"
SELF_RECEIPT: Final = "self_receipt"
TOO_MANY_COMMITMENTS: Final = "too_many_commitments"
UNKNOWN_COMMITMENT: Final = "unknown_commitment"
UNKNOWN_DELIVERY: Final = "unknown_delivery"
UNKNOWN_NEED: Final = "unknown_need"
UNKNOWN_RECORD: Final = "unknown_record"
WRONG_COUNTY: Final = "wrong_county"
WRONG_PROJECT_VERSION: Final = "wrong_project_version"

INVALID_PERIOD: Final = "invalid_period"
INVALID_CATEGORIES: Final = "invalid_categories"
UNKNOWN_PAIRING: Final = "unknown_pairing"
PAIRING_ALREADY_ACCEPTED: Final = "pairing_already_accepted"
PAIRING_NOT_ACCEPTED: Final = "pairing_not_accepted"
NOT_PAIRING_PARTY: Final = "not_pairing_party"
PAIRING_COUNTY_MISMATCH: Final = "pairing_county_mismatch"
INVALID_FUND_NAME: Final = "invalid_fund_name"
INVALID_SPONSOR_KIND: Final = "invalid_sponsor_kind"
UNKNOWN_FUND: Final = "unknown_fund"
NOT_FUND_OWNER: Final = "not_fund_owner"
FUND_OVER_COMMITTED: Final = "fund_over_committed"
COMMITMENT_ALREADY_SOURCED: Final = "commitment_already_sourced"
EMPTY_SOURCE: Final = "empty_source"
INVALID_RATE: Final = "invalid_rate"
WRONG_FOLLOW_UP_RATE: Final = "wrong_follow_up_rate"
SEED_BLOCK_NOT_FUTURE: Final = "seed_block_not_future"
UNKNOWN_BATCH: Final = "unknown_batch"
FOLLOW_UP_ROUND_EXISTS: Final = "follow_up_round_exists"
UNKNOWN_FOLLOW_UP_ROUND: Final = "unknown_follow_up_round"
FOLLOW_UP_REPEATED: Final = "follow_up_repeated"
LINE_OUT_OF_RANGE: Final = "line_out_of_range"
INVALID_OUTCOME: Final = "invalid_outcome"
MALFORMED_FIELDS: Final = "malformed_fields"
UNKNOWN_GRIEVANCE: Final = "unknown_grievance"
GRIEVANCE_ALREADY_ANSWERED: Final = "grievance_already_answered"

# Household follow-up (回访): the relayer's off-chain rules beside the contract's
# (ledger/relayer/rules_followup.py).
BATCH_NOT_IN_COUNTY: Final = "batch_not_in_county"
SEED_NOT_YET_KNOWN: Final = "seed_not_yet_known"
LINE_NOT_IN_SAMPLE: Final = "line_not_in_sample"
LINE_HASH_MISMATCH: Final = "line_hash_mismatch"
BATCH_LINES_NOT_HELD: Final = "batch_lines_not_held"
NOT_RATE_CALL: Final = "not_rate_call"

#: Solidity custom-error name → its code.
CONTRACT_ERRORS: Final[dict[str, str]] = {
    "AccessControlBadConfirmation": ACCESS_CONTROL_BAD_CONFIRMATION,
    "AccessControlEnforcedDefaultAdminDelay": ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_DELAY,
    "AccessControlEnforcedDefaultAdminRules": ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_RULES,
    "AccessControlInvalidDefaultAdmin": ACCESS_CONTROL_INVALID_DEFAULT_ADMIN,
    "AccessControlUnauthorizedAccount": ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT,
    "AlreadyReceipted": ALREADY_RECEIPTED,
    "BatchLengthMismatch": BATCH_LENGTH_MISMATCH,
    "BatchReceiptNeedsSingleCommitment": BATCH_RECEIPT_NEEDS_SINGLE_COMMITMENT,
    "CommitmentAlreadySourced": COMMITMENT_ALREADY_SOURCED,
    "CommitmentsNotSorted": COMMITMENTS_NOT_SORTED,
    "EmptyBatch": EMPTY_BATCH,
    "EmptySource": EMPTY_SOURCE,
    "FollowUpRepeated": FOLLOW_UP_REPEATED,
    "FollowUpRoundExists": FOLLOW_UP_ROUND_EXISTS,
    "FundOverCommitted": FUND_OVER_COMMITTED,
    "GrievanceAlreadyAnswered": GRIEVANCE_ALREADY_ANSWERED,
    "InvalidAuthority": INVALID_AUTHORITY,
    "InvalidBudget": INVALID_BUDGET,
    "InvalidCategories": INVALID_CATEGORIES,
    "InvalidCategory": INVALID_CATEGORY,
    "InvalidCountyCode": INVALID_COUNTY_CODE,
    "InvalidEndDate": INVALID_END_DATE,
    "InvalidFundName": INVALID_FUND_NAME,
    "InvalidName": INVALID_NAME,
    "InvalidOrgCode": INVALID_ORG_CODE,
    "InvalidOrgType": INVALID_ORG_TYPE,
    "InvalidOutcome": INVALID_OUTCOME,
    "InvalidPeriod": INVALID_PERIOD,
    "InvalidProjectKind": INVALID_PROJECT_KIND,
    "InvalidQuantity": INVALID_QUANTITY,
    "InvalidRate": INVALID_RATE,
    "InvalidResourceKind": INVALID_RESOURCE_KIND,
    "InvalidSignature": INVALID_SIGNATURE,
    "InvalidSponsorKind": INVALID_SPONSOR_KIND,
    "InvalidTitle": INVALID_TITLE,
    "LineOutOfRange": LINE_OUT_OF_RANGE,
    "MalformedFields": MALFORMED_FIELDS,
    "MissingRole": MISSING_ROLE,
    "NotCommitmentOwner": NOT_COMMITMENT_OWNER,
    "NotFundOwner": NOT_FUND_OWNER,
    "NotPairingParty": NOT_PAIRING_PARTY,
    "NotProjectOwner": NOT_PROJECT_OWNER,
    "NotRegistered": NOT_REGISTERED,
    "OverConfirmation": OVER_CONFIRMATION,
    "OverDelivery": OVER_DELIVERY,
    "PairingAlreadyAccepted": PAIRING_ALREADY_ACCEPTED,
    "PairingCountyMismatch": PAIRING_COUNTY_MISMATCH,
    "PairingNotAccepted": PAIRING_NOT_ACCEPTED,
    "ProjectCountyChanged": PROJECT_COUNTY_CHANGED,
    "ProjectIdNotScoped": PROJECT_ID_NOT_SCOPED,
    "ProjectKindChanged": PROJECT_KIND_CHANGED,
    "RecordIdNotScoped": RECORD_ID_NOT_SCOPED,
    "RecordIdUsed": RECORD_ID_USED,
    "Reverted": REVERTED,
    "RoleConflict": ROLE_CONFLICT,
    "RoleManagedByRegistration": ROLE_MANAGED_BY_REGISTRATION,
    "SeedBlockNotFuture": SEED_BLOCK_NOT_FUTURE,
    "SelfReceipt": SELF_RECEIPT,
    "TooManyCommitments": TOO_MANY_COMMITMENTS,
    "UnknownBatch": UNKNOWN_BATCH,
    "UnknownCommitment": UNKNOWN_COMMITMENT,
    "UnknownDelivery": UNKNOWN_DELIVERY,
    "UnknownFollowUpRound": UNKNOWN_FOLLOW_UP_ROUND,
    "UnknownFund": UNKNOWN_FUND,
    "UnknownGrievance": UNKNOWN_GRIEVANCE,
    "UnknownKind": UNKNOWN_KIND,
    "UnknownNeed": UNKNOWN_NEED,
    "UnknownPairing": UNKNOWN_PAIRING,
    "UnknownRecord": UNKNOWN_RECORD,
    "WrongCounty": WRONG_COUNTY,
    "WrongFollowUpRate": WRONG_FOLLOW_UP_RATE,
    "WrongProjectVersion": WRONG_PROJECT_VERSION,
}


def canonical(code: str) -> str:
    """The registry's code for `code`: a contract error's name becomes its snake_case code,
    any other code is returned as it is."""
    return CONTRACT_ERRORS.get(code, code)


#: Every code in the registry.
ALL: Final[frozenset[str]] = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)
)
