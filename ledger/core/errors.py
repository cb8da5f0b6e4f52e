"""The ledger's exceptions: one root, a few domain families, each with a stable code.

Every error a user can cause carries a `code` (a constant of `ledger.core.codes`, used by the
API's problem-details answers and the CLI) and a message that says what to do next. Which
HTTP status a code answers with is the API's business (`api.problems`), not the error's.

Every exception class of the ledger belongs here, so that the codes and the families they
belong to can be read in one place (ledger.tools.proofcheck keeps its own, being
stdlib-only: it must run without the package installed).
"""

from __future__ import annotations

from typing import Any

from ledger.core import codes


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""

    code: str = codes.LEDGER_ERROR

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.fields}


class ConfigError(LedgerError):
    """A setting or configuration file is missing or malformed."""

    code = codes.CONFIG_ERROR


class ToolchainError(LedgerError):
    """node_modules, solc or anvil is missing or failed."""

    code = codes.TOOLCHAIN_ERROR


class ChainError(LedgerError):
    """The chain could not be reached or did not behave as expected."""

    code = codes.CHAIN_UNREACHABLE


class DeploymentError(LedgerError):
    """No deployment, or no contract at the deployed address."""

    code = codes.NO_DEPLOYMENT


class RecordError(LedgerError):
    """A record is malformed, badly signed, replayed or refers to something unknown."""

    code = codes.INVALID_RECORD


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof, or a checkpoint, does not verify."""

    code = codes.INVALID_PROOF


class NotFoundError(LedgerError):
    """The thing asked for does not exist."""

    code = codes.NOT_FOUND


class ConflictError(LedgerError):
    """The request conflicts with what is already recorded."""

    code = codes.CONFLICT


class PermissionError_(LedgerError):
    """The caller is not allowed to do this."""

    code = codes.FORBIDDEN


# --- the library (项目库) --------------------------------------------------------------


class RegionError(LedgerError):
    """A county code or organization code is malformed or unknown."""

    code = codes.BAD_COUNTY_CODE


class SignatureError(LedgerError):
    """A library write is unsigned, badly signed, expired or replayed (an authentication
    failure: the API answers 401)."""

    code = codes.SIGNATURE_REQUIRED


class MessageError(LedgerError):
    """A signed message is malformed or does not match the content it comes with."""

    code = codes.BAD_MESSAGE


class PersonalDataError(LedgerError):
    """Free text holds an ID number or a mobile number."""

    code = codes.PERSONAL_DATA_IN_TEXT


# --- exports -------------------------------------------------------------------------


class IatiError(LedgerError):
    """An IATI activity file the ledger made does not validate against the schema (a bug of
    the exporter, not of the caller)."""

    code = codes.IATI_INVALID


class PeriodError(LedgerError):
    """A report period is malformed or out of range."""

    code = codes.BAD_PERIOD


# --- custodial signing and key files ---------------------------------------------------


class CustodialDisabled(NotFoundError):
    """Custodial mode is off on this server."""

    code = codes.CUSTODIAL_DISABLED


class BadToken(LedgerError):
    """The bearer token is missing, unknown or revoked."""

    code = codes.BAD_TOKEN


class KindNotAllowed(PermissionError_):
    """The key bound to the token holds no role that may sign this kind of record."""

    code = codes.KIND_NOT_ALLOWED


class KeyFileError(LedgerError):
    """A key file is missing, malformed, or its password is wrong."""

    code = codes.BAD_KEY_FILE


# --- batches, the SDK, the library's projects ------------------------------------------


class BatchError(RecordError):
    """A batch or one of its lines is refused; `problems` lists every bad line found."""

    code = codes.INVALID_BATCH


class ApiError(LedgerError):
    """The server refused a request; `code` and the message come from its problem JSON."""

    code = codes.API_ERROR


class ApiUnreachable(LedgerError):
    """The API could not be reached at all."""

    code = codes.API_UNREACHABLE


class WaitTimeout(LedgerError):
    """Records were not confirmed within the time allowed."""

    code = codes.WAIT_TIMEOUT


class RecordFailed(LedgerError):
    """The chain refused a record the server had accepted."""

    code = codes.RECORD_FAILED


class LibraryError(LedgerError):
    """A project or match request is malformed or not allowed in the project's state."""

    code = codes.INVALID_PROJECT


# --- the local chain's state files, the indexer ---------------------------------------


class StateFileError(ChainError):
    """A state file is torn, empty or not anvil's."""

    code = codes.BAD_STATE_FILE


class IndexerIntegrityError(LedgerError):
    """The read model's log differs from the contract's: stop, something is wrong."""

    code = codes.INDEX_DIVERGED


class LeafGapError(IndexerIntegrityError):
    """A leaf arrived past the index's size: an earlier read of the node missed leaves
    (the indexer reads those blocks again, a bounded number of times, before it stops)."""

    code = codes.INDEX_DIVERGED


# --- programming errors (not LedgerErrors: no user causes them, none has a code) -------


class NestedWriteError(RuntimeError):
    """A write session opened while this thread already holds one (a programming error)."""
