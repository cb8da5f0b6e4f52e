"""The log's public key: what verifies the operator's signed checkpoints (C2SP signed note)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ServiceDep
from ledger.tlog.log_key import published_log_key

router = APIRouter(prefix="/api/v1/log", tags=["checkpoints"])


class WitnessKey(BaseModel):
    name: str = Field(description="the witness's key name, as on its cosignature lines")
    vkey: str = Field(description="its cosignature/v1 verifier key")


class LogKey(BaseModel):
    origin: str = Field(description="the checkpoint origin (first line of every checkpoint)")
    vkey: str = Field(
        description="the C2SP verifier key `<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>`; "
        "pin it, or set it as BANGFU_CHECKPOINT_LOG_KEY"
    )
    key_name: str
    key_id: str = Field(description="4-byte key ID, hex")
    algorithm: str
    witnesses: list[WitnessKey] = Field(
        description="witnesses the operator asks to cosign; which ones a client requires, and "
        "how many, is the client's own setting (BANGFU_WITNESS_KEYS, BANGFU_WITNESS_QUORUM)"
    )


@router.get(
    "/key",
    response_model=LogKey,
    summary="日志公钥 The log's checkpoint verifier key (C2SP note key) and its witnesses",
    responses={404: {"description": "no checkpoint signed yet, so no log key (no_log_key)"}},
)
def log_key(service: ServiceDep) -> LogKey:
    d = service.deployment
    return LogKey(**published_log_key(service.settings, d.chain_id, d.address))
