"""`bangfu checkpoint sign|check`: the operator signs a checkpoint now; anyone checks that the
server's latest checkpoint is consistent with every one they saw before."""

from __future__ import annotations

from pathlib import Path

import httpx
import typer
from rich.console import Console

from ledger.checkpoint import CheckpointClient, VerifierKey
from ledger.errors import ChainError, ProofError

NAME = "checkpoint"
app = typer.Typer(help="检查点 Signed checkpoints of the log.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("sign")
def sign() -> None:
    """签署检查点 Sign the indexed log's checkpoint and ask the witnesses to cosign.

    Exits non-zero and stores nothing when a witness refuses, when the new checkpoint is not
    consistent with the last one signed, or when the chain's log contradicts it."""
    from ledger.checkpoints_service import Checkpointer
    from ledger.service import LedgerService

    service = LedgerService()
    service.db.migrate()
    checkpointer = Checkpointer(service)
    row = checkpointer.sign()
    if row is None:
        out.print("尚无索引 nothing indexed yet: run the indexer first")
        raise typer.Exit(1)
    out.print(row.note, end="")
    for name in checkpointer.skipped:
        err.print(
            f"警告 warning: 见证人 {name} 无法连接 / witness {name} unreachable: not cosigned"
        )


def check_url(url: str, state: Path, log_keys: list[str] | None = None) -> tuple[int, str]:
    """Fetches the latest checkpoint and refuses it if inconsistent with any seen before."""
    base = url.rstrip("/")
    verifiers = [VerifierKey.parse(k) for k in log_keys] if log_keys else None

    def fetch(old: int, new: int) -> list[bytes]:
        r = httpx.get(f"{base}/api/v1/proofs/consistency", params={"old": old, "new": new})
        if r.status_code != 200:
            raise ProofError(
                f"the server gave no consistency proof from {old} to {new}: "
                f"{r.status_code} {r.text[:200]}",
                code="inconsistent_checkpoint",
            )
        return [bytes.fromhex(h[2:]) for h in r.json()["proof"]]

    try:
        note = httpx.get(f"{base}/api/v1/checkpoints/latest", timeout=30)
    except httpx.HTTPError as exc:
        raise ChainError(f"cannot reach {base}: {exc}", code="api_unreachable") from None
    if note.status_code != 200:
        raise ProofError(f"no checkpoint from {base}: {note.status_code}", code="no_checkpoint")
    client = CheckpointClient(verifiers, state, fetch)
    cp = client.observe(note.text)
    return cp.size, cp.root.hex()


@app.command("check")
def check(
    url: str = typer.Option(..., "--url", help="服务地址 the ledger API base URL"),
    state: Path = typer.Option(
        Path("checkpoints-seen.json"), "--state", help="已见检查点 file of checkpoints seen"
    ),
    log_key: list[str] = typer.Option(None, "--log-key", help="日志公钥 the log's vkey"),
) -> None:
    """核对检查点 Refuse the server's checkpoint if it rewrites any history seen before."""
    size, root = check_url(url, state, log_key)
    out.print(f"一致 consistent: size {size}, root 0x{root}")
