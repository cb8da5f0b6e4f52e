"""The log key the operator publishes: the C2SP note verifier key that signs checkpoints.

Clients pin it (or configure it, `BANGFU_CHECKPOINT_LOG_KEY`) and then trust a checkpoint only
if that key signed it and their own witness quorum cosigned it (`ledger.checkpoint.TrustPolicy`).
Reading it never makes a key: the checkpointer makes one on its first round.
"""

from __future__ import annotations

from typing import Any

from ledger.config import Settings
from ledger.core.errors import ConfigError, NotFoundError
from ledger.tlog.checkpointer import key_path, load_witnesses, origin_for
from ledger.tlog.note import SignerKey

__all__ = ["published_log_key"]


def published_log_key(settings: Settings, chain_id: int, contract: str) -> dict[str, Any]:
    """The log's verifier key and the witnesses the operator asks to cosign, for publication.

    Raises NotFoundError "no_log_key" before the first checkpoint has been signed."""
    origin = origin_for(chain_id, contract)
    path = key_path(settings.var_dir)
    if not path.exists():
        raise NotFoundError(
            "尚无日志密钥 / no checkpoint has been signed yet, so there is no log key: run "
            "`bangfu checkpoint sign` (the API's checkpointer does it on its first round)",
            code="no_log_key",
        )
    try:
        key = SignerKey.parse(path.read_text()).verifier()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", code="bad_log_key") from None
    if key.name != origin:
        raise ConfigError(
            f"日志密钥不属于此日志 / {path} signs for {key.name!r}, not this log {origin!r}",
            code="wrong_checkpoint_key",
        )
    return {
        "origin": origin,
        "vkey": key.encode(),
        "key_name": key.name,
        "key_id": key.key_id.hex(),
        "algorithm": "Ed25519 (C2SP signed-note type 0x01)",
        "witnesses": [
            {"name": w.name, "vkey": w.vkey.encode()} for w in load_witnesses(settings.var_dir)
        ],
    }
