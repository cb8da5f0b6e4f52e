"""The ledger's exceptions: one root, a few domain families, each with a stable code.

Every error a user can cause carries a `code` (stable, machine-readable, used by the API's
problem-details answers and the CLI) and a message that says what to do next.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""

    code: str = "ledger_error"
    http_status: int = 400

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

    code = "config_error"


class ToolchainError(LedgerError):
    """node_modules, solc or anvil is missing or failed."""

    code = "toolchain_error"


class ChainError(LedgerError):
    """The chain could not be reached or did not behave as expected."""

    code = "chain_unreachable"
    http_status = 503


class DeploymentError(LedgerError):
    """No deployment, or no contract at the deployed address."""

    code = "no_deployment"
    http_status = 503


class RecordError(LedgerError):
    """A record is malformed, badly signed, replayed or refers to something unknown."""

    code = "invalid_record"
    http_status = 422


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof, or a checkpoint, does not verify."""

    code = "invalid_proof"
    http_status = 422


class NotFoundError(LedgerError):
    """The thing asked for does not exist."""

    code = "not_found"
    http_status = 404


class ConflictError(LedgerError):
    """The request conflicts with what is already recorded."""

    code = "conflict"
    http_status = 409


class PermissionError_(LedgerError):
    """The caller is not allowed to do this."""

    code = "forbidden"
    http_status = 403


# ------------------------------------------------------------------ batches, SDK, libraries
# Kept here rather than beside their services, so that any layer (the API, the CLI, the SDK)
# can catch them without importing the service that raises them.


class BatchError(RecordError):
    """A batch or one of its lines is refused; `problems` lists every bad line found."""

    code = "invalid_batch"


class ApiError(LedgerError):
    """The server refused a request; `code` and the message come from its problem JSON."""

    code = "api_error"


class ApiUnreachable(LedgerError):
    """The API could not be reached at all."""

    code = "api_unreachable"
    http_status = 503


class WaitTimeout(LedgerError):
    """Records were not confirmed within the time allowed."""

    code = "wait_timeout"
    http_status = 504


class RecordFailed(LedgerError):
    """The chain refused a record the server had accepted."""

    code = "record_failed"


class LibraryError(LedgerError):
    """A project or match request is malformed or not allowed in the project's state."""

    code = "invalid_project"
    http_status = 422


# ------------------------------------------------------------------ chain state, indexer


class StateFileError(ChainError):
    """A state file is torn, empty or not anvil's."""

    code = "bad_state_file"


class IndexerIntegrityError(LedgerError):
    """The read model's log differs from the contract's: stop, something is wrong."""

    code = "index_diverged"
    http_status = 500
