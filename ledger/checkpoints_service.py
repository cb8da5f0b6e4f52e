"""The operator's checkpointer: signs C2SP checkpoints of the indexed log at an interval, asks
each configured witness to cosign (tlog-witness add-checkpoint with a consistency proof from
the size it last cosigned), and stores notes and cosignatures for the API.

Files in var/: `checkpoint-key` (the operator's Ed25519 signer key, made on first use, mode
0600, never in git) and `witnesses.json` ({"witnesses": [{"name", "vkey", "url"}]}).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.checkpoint import (
    Checkpoint,
    SignerKey,
    VerifierKey,
    add_signatures,
    open_note,
)
from ledger.errors import ConfigError, NotFoundError
from ledger.proofs import LogProofs
from ledger.store.checkpoint_models import CheckpointRow, CosignatureRow, WitnessProgress
from ledger.store.models import IndexerCheckpoint

log = logging.getLogger("bangfu.checkpoints")
ORIGIN_HOST = "bangfu.example"


def origin_for(chain_id: int, contract: str) -> str:
    return f"{ORIGIN_HOST}/ledger/{chain_id}/{contract.lower()}"


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    vkey: VerifierKey
    url: str


def key_path(var_dir: Path) -> Path:
    return var_dir / "checkpoint-key"


def witnesses_path(var_dir: Path) -> Path:
    return var_dir / "witnesses.json"


def operator_key(var_dir: Path, origin: str) -> SignerKey:
    """The operator's signer key, generated on first use (named after the log's origin)."""
    path = key_path(var_dir)
    if path.exists():
        key = SignerKey.parse(path.read_text())
        if key.name != origin:
            raise ConfigError(
                f"{path} signs for {key.name!r}, not this log {origin!r}; move it away to make "
                "a new key for this deployment",
                code="wrong_checkpoint_key",
            )
        return key
    key = SignerKey.generate(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.encode() + "\n")
    return key


def load_witnesses(var_dir: Path) -> list[WitnessConfig]:
    path = witnesses_path(var_dir)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        return [
            WitnessConfig(w["name"], VerifierKey.parse(w["vkey"]), w["url"].rstrip("/"))
            for w in data["witnesses"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is malformed ({exc}); it holds "
            '{"witnesses": [{"name": ..., "vkey": ..., "url": ...}]}',
            code="bad_witnesses",
        ) from None


def add_witness(var_dir: Path, name: str, vkey: str, url: str) -> None:
    """Adds or replaces a witness in var/witnesses.json."""
    VerifierKey.parse(vkey)
    current = [w for w in load_witnesses(var_dir) if w.name != name]
    entries = [{"name": w.name, "vkey": w.vkey.encode(), "url": w.url} for w in current]
    entries.append({"name": name, "vkey": vkey, "url": url})
    path = witnesses_path(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"witnesses": entries}, indent=2) + "\n")


class Checkpointer:
    """Signs checkpoints of one deployment's indexed log and collects cosignatures."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.db = service.db
        self.var_dir: Path = service.settings.var_dir
        deployment = service.deployment
        self.origin = origin_for(deployment.chain_id, deployment.address)
        self.key = operator_key(self.var_dir, self.origin)
        self.proofs = LogProofs(self.db)

    @property
    def verifier(self) -> VerifierKey:
        return self.key.verifier()

    def sign(self) -> CheckpointRow | None:
        """Signs the indexed log's current size if it is new; then asks every witness."""
        with self.db.write() as session:
            cp = session.get(IndexerCheckpoint, "main")
            if cp is None:
                return None
            size, root_hex, block = int(cp.log_size), cp.log_root, int(cp.last_block)
            last = self._latest(session)
            if last is None or last.size != size or last.root != root_hex:
                note = Checkpoint(self.origin, size, bytes.fromhex(root_hex[2:])).sign(self.key)
                last = CheckpointRow(
                    origin=self.origin, size=size, root=root_hex, block_number=block, note=note
                )
                session.add(last)
                session.flush()
            row_id = last.id
        for witness in load_witnesses(self.var_dir):
            try:
                self.cosign(witness, row_id)
            except Exception as exc:  # noqa: BLE001 - one witness down must not stop the rest
                log.warning("witness %s: %s", witness.name, exc)
        with self.db.read() as session:
            return session.get(CheckpointRow, row_id)

    def _latest(self, session: Session) -> CheckpointRow | None:
        return session.scalar(
            select(CheckpointRow)
            .where(CheckpointRow.origin == self.origin)
            .order_by(CheckpointRow.id.desc())
            .limit(1)
        )

    def cosign(self, witness: WitnessConfig, row_id: int) -> str:
        """One add-checkpoint round; a 409 with the witness's size is retried once from it.

        Returns "cosigned", or raises ConfigError with the witness's refusal (a 409 for a
        different root or 422 for a failed consistency proof means history was rewritten).
        """
        with self.db.read() as session:
            row = session.get(CheckpointRow, row_id)
            if row is None:
                raise NotFoundError(f"no checkpoint {row_id}")
            note, size = row.note, row.size
            progress = session.get(WitnessProgress, witness.name)
            old = progress.size if progress else 0
        for _ in range(2):
            old = min(old, size)
            proof = self.proofs.consistency(old, size)["proof"] if old else []
            lines = [f"old {old}"] + [
                base64.b64encode(bytes.fromhex(h[2:])).decode() for h in proof
            ]
            body = "\n".join(lines) + "\n\n" + note
            resp = httpx.post(witness.url + "/add-checkpoint", content=body.encode(), timeout=30)
            if resp.status_code == 409 and resp.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                old = int(resp.text.strip())
                if old > size:
                    break
                continue
            if resp.status_code != 200:
                raise ConfigError(
                    f"witness {witness.name} refused the checkpoint at size {size}: "
                    f"{resp.status_code} {resp.text.strip()}",
                    code="witness_refused",
                    status=resp.status_code,
                )
            line = resp.text if resp.text.endswith("\n") else resp.text + "\n"
            cosigned = add_signatures(note, line)
            open_note(cosigned, [witness.vkey])  # refuse a line that is not its cosignature
            with self.db.write() as session:
                session.merge(CosignatureRow(checkpoint_id=row_id, witness=witness.name, line=line))
                session.merge(WitnessProgress(witness=witness.name, size=size))
            return "cosigned"
        raise ConfigError(
            f"witness {witness.name} has cosigned a larger size than the log has: the log was "
            "rolled back",
            code="witness_refused",
            status=409,
        )


def note_with_cosignatures(session: Session, row: CheckpointRow) -> str:
    lines = session.scalars(
        select(CosignatureRow.line).where(CosignatureRow.checkpoint_id == row.id)
    ).all()
    return add_signatures(row.note, "".join(lines)) if lines else row.note


def latest_note(session: Session) -> str:
    row = session.scalar(select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1))
    if row is None:
        raise NotFoundError(
            "no checkpoint has been signed yet; run `bangfu checkpoint sign`",
            code="no_checkpoint",
        )
    return note_with_cosignatures(session, row)


def list_checkpoints(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(limit)
    ).all()
    out = []
    for row in rows:
        witnesses = session.scalars(
            select(CosignatureRow.witness).where(CosignatureRow.checkpoint_id == row.id)
        ).all()
        out.append(
            {
                "id": row.id,
                "origin": row.origin,
                "size": row.size,
                "root": row.root,
                "block": row.block_number,
                "witnesses": list(witnesses),
                "note": note_with_cosignatures(session, row),
            }
        )
    return out


def run_checkpointer(stop: threading.Event, service: Any, interval: float = 60.0) -> None:
    """Signs and collects cosignatures every `interval` seconds until `stop` is set."""
    checkpointer = Checkpointer(service)
    while not stop.is_set():
        try:
            checkpointer.sign()
        except Exception:
            log.exception("checkpoint round failed")
        stop.wait(interval)
