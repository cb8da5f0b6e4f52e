"""`bangfu checkpoint sign|check`: the operator signs a checkpoint now; anyone checks that the
server's latest checkpoint is consistent with every one they saw before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import typer
from rich.console import Console

from ledger.cli.commands import group_app
from ledger.config import Settings, get_settings
from ledger.core import codes
from ledger.core.errors import ChainError, ConfigError, ProofError
from ledger.tlog.client import CheckpointClient, TrustPolicy
from ledger.tlog.note import VerifierKey

NAME = "checkpoint"
app = group_app(NAME, no_args_is_help=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("sign")
def sign() -> None:
    """签署检查点 Sign the indexed log's checkpoint and ask the witnesses to cosign.

    Exits non-zero and stores nothing when a witness refuses, when the new checkpoint is not
    consistent with the last one signed, or when the chain's log contradicts it."""
    from ledger.app import LedgerService
    from ledger.tlog.checkpointer import Checkpointer

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


def published_log_key(base: str, http: httpx.Client | None = None) -> VerifierKey:
    """The log key the server publishes at /api/v1/log/key (to be pinned, not trusted anew)."""
    try:
        r = (http or httpx).get(f"{base}/api/v1/log/key", timeout=30)
    except httpx.HTTPError as exc:
        raise ChainError(
            f"无法连接 / cannot reach {base}: {exc}", code=codes.API_UNREACHABLE
        ) from None
    if r.status_code != 200:
        raise ProofError(
            f"服务未公布日志密钥 / {base} publishes no log key: {r.status_code}; pass --log-key",
            code=codes.NO_LOG_KEY,
        )
    try:
        return VerifierKey.parse(str(r.json()["vkey"]))
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise ProofError(
            f"公布的日志密钥无效 / the published log key is not a vkey: {exc}",
            code=codes.NO_LOG_KEY,
        ) from None


@dataclass
class CheckResult:
    size: int
    root: str
    log_key: str
    key_source: str
    witnesses: list[str]
    quorum: int


def check_url(
    url: str,
    state: Path,
    log_key: str | None = None,
    witness_keys: list[str] | None = None,
    quorum: int | None = None,
    settings: Settings | None = None,
    http: httpx.Client | None = None,
) -> CheckResult:
    """Fetches the latest checkpoint; refuses it unless it is signed by the log key and cosigned
    by the witness quorum, and if it is inconsistent with any checkpoint seen before.

    The log key is --log-key, else the configured BANGFU_CHECKPOINT_LOG_KEY, else the key the
    server publishes, pinned in the state file on first use (and refused if it ever changes)."""
    settings = settings or get_settings()
    base = url.rstrip("/")
    get = (http or httpx).get

    def fetch(old: int, new: int) -> list[bytes]:
        r = get(f"{base}/api/v1/proofs/consistency", params={"old": old, "new": new})
        if r.status_code != 200:
            raise ProofError(
                f"the server gave no consistency proof from {old} to {new}: "
                f"{r.status_code} {r.text[:200]}",
                code=codes.INCONSISTENT_CHECKPOINT,
            )
        return [bytes.fromhex(h[2:]) for h in r.json()["proof"]]

    client = CheckpointClient(None, state, fetch)
    if log_key:
        key, source = VerifierKey.parse(log_key), "--log-key"
    elif settings.checkpoint_log_key:
        key, source = VerifierKey.parse(settings.checkpoint_log_key), "BANGFU_CHECKPOINT_LOG_KEY"
    else:
        key = published_log_key(base, http)
        first = key.name not in client.log_keys
        client.pin_log_key(key)
        source = (
            "首次使用时固定 published by the server, pinned now (trust on first use)"
            if first
            else f"固定于 pinned in {state}"
        )
    policy = TrustPolicy.from_texts(
        key.encode(),
        settings.witness_keys if witness_keys is None else witness_keys,
        settings.witness_quorum if quorum is None else quorum,
    )
    client.policy = policy
    try:
        note = get(f"{base}/api/v1/checkpoints/latest", timeout=30)
    except httpx.HTTPError as exc:
        raise ChainError(
            f"无法连接 / cannot reach {base}: {exc}", code=codes.API_UNREACHABLE
        ) from None
    if note.status_code != 200:
        raise ProofError(f"no checkpoint from {base}: {note.status_code}", code=codes.NO_CHECKPOINT)
    cp = client.observe(note.text)
    return CheckResult(
        cp.size, cp.root.hex(), key.encode(), source, list(client.witnessed), policy.quorum
    )


@app.command("check")
def check(
    url: str = typer.Option(..., "--url", help="服务地址 the ledger API base URL"),
    state: Path = typer.Option(
        Path("checkpoints-seen.json"), "--state", help="已见检查点 file of checkpoints seen"
    ),
    log_key: str | None = typer.Option(
        None, "--log-key", help="日志公钥 the log's vkey (default: configured, else pinned)"
    ),
    witness_key: list[str] = typer.Option(
        None, "--witness-key", help="见证公钥 a witness vkey (default: BANGFU_WITNESS_KEYS)"
    ),
    quorum: int | None = typer.Option(
        None,
        "--quorum",
        min=0,
        help="见证法定数 cosignatures needed (default: BANGFU_WITNESS_QUORUM)",
    ),
) -> None:
    """核对检查点 Refuse the server's checkpoint unless signed by the log key and cosigned by
    the witness quorum, or if it rewrites any history seen before."""
    res = check_url(url, state, log_key, witness_key or None, quorum)
    out.print(f"一致 consistent: size {res.size}, root 0x{res.root}")
    out.print(f"  日志签名 signed by the log key {res.log_key} ({res.key_source})")
    cosigned = ", ".join(res.witnesses) or "-"
    out.print(f"  见证 cosigned by {cosigned} (quorum {res.quorum})")
