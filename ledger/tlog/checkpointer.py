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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.errors import ConfigError, ConflictError, LedgerError, NotFoundError, ProofError
from ledger.core.hexes import hex0x
from ledger.core.merkle import verify_consistency
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.store import alarms
from ledger.store.checkpoint_models import CheckpointRow, CosignatureRow, WitnessProgress
from ledger.store.models import IndexerCheckpoint, LogEntry
from ledger.store.proofs import LogProofs
from ledger.tlog.note import Checkpoint, SignerKey, VerifierKey, add_signatures, open_note

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


#: Reads the newest block a crash of the chain cannot lose (-1: none yet).
DurableBlock = Callable[[], int]


def saved_block_reader(settings: Any) -> DurableBlock | None:
    """For the local anvil, which its keeper saves every `state_interval` seconds: the block
    its saved state holds (a kill -9 loses every block after it, so a checkpoint over them
    would turn a crash into a rewritten history). None for any other node, whose mined
    blocks are final. Bounded by the saved block itself, not by a time: a save that runs
    late on a loaded machine, or a block stamped ahead of the clock, cannot outrun it."""
    try:
        cfg = load_localchain(settings)
    except ConfigError:
        return None
    local = {f"http://{h}:{cfg.port}" for h in (cfg.host, "127.0.0.1", "localhost")}
    url = (settings.rpc_url or cfg.rpc_url).rstrip("/")
    if url not in local:
        return None
    files = LocalChain(cfg, settings).files

    def saved() -> int:
        block = files.saved_block()
        return -1 if block is None else block

    return saved


_AUTO: Any = object()


class Checkpointer:
    """Signs checkpoints of one deployment's indexed log and collects cosignatures.

    A checkpoint covers only leaves in blocks the chain cannot lose (see
    `saved_block_reader`), so it never commits to what a crashed chain may still forget.
    `durable=None` covers every indexed leaf."""

    def __init__(self, service: Any, *, durable: DurableBlock | None = _AUTO) -> None:
        self.service = service
        self.db = service.db
        self.var_dir: Path = service.settings.var_dir
        deployment = service.deployment
        self.origin = origin_for(deployment.chain_id, deployment.address)
        self.key = operator_key(self.var_dir, self.origin)
        self.proofs = LogProofs(self.db)
        self.skipped: list[str] = []
        self.durable = saved_block_reader(service.settings) if durable is _AUTO else durable

    @property
    def verifier(self) -> VerifierKey:
        return self.key.verifier()

    def sign(self) -> CheckpointRow | None:
        """Signs the indexed log's current size if it is new, and asks every witness.

        Refuses (raises, stores nothing) when the ledger is in a divergence state, when the
        chain no longer holds the indexed log, when the new checkpoint is not consistent
        with the last one this operator signed, or when a witness refuses it. A witness that
        cannot be reached is skipped (named in `self.skipped`): the checkpoint is stored
        without its cosignature and it is asked again at the next round.
        """
        self.skipped = []
        with self.db.read() as session:
            halting = [a for a in alarms.active(session) if a.code in alarms.NOT_READY]
            if halting:
                raise ProofError(
                    f"拒绝签署检查点 / refusing to sign a checkpoint: {halting[0].message}",
                    code=halting[0].code,
                    **alarms.detail(halting[0]),
                )
            # The indexer's cursor: how far the read model has indexed the chain's log.
            cursor = session.get(IndexerCheckpoint, "main")
            if cursor is None:
                return None
            size, root_hex = int(cursor.log_size), cursor.log_root
            block, block_hash = int(cursor.last_block), cursor.last_block_hash
            if self.durable is not None:
                durable = self._durable(session, size, self.durable())
                if durable is None:
                    return self._latest_row(session)
                if durable[0] != size:
                    size, block, block_hash = durable
                    root_hex = self.proofs.consistency(0, size)["new_root"]
            last = alarms.binding_checkpoint(session)
            previous = (int(last.id), int(last.size), last.root) if last is not None else None
        self._check_chain(size, root_hex, block, block_hash, previous)
        if previous is not None and previous[1:] == (size, root_hex):
            row_id = previous[0]
            with self.db.read() as session:
                done = set(
                    session.scalars(
                        select(CosignatureRow.witness).where(CosignatureRow.checkpoint_id == row_id)
                    )
                )
            for witness in load_witnesses(self.var_dir):
                if witness.name not in done:
                    self._collect(witness, row_id)
            with self.db.read() as session:
                return session.get(CheckpointRow, row_id)
        if previous is not None:
            self._check_consistent(previous, size, root_hex)
        note = Checkpoint(self.origin, size, bytes.fromhex(root_hex[2:])).sign(self.key)
        lines: dict[str, str] = {}
        for witness in load_witnesses(self.var_dir):
            try:
                lines[witness.name] = self._ask(witness, note, size)
            except _Unreachable as exc:
                log.warning("witness %s unreachable: %s", witness.name, exc)
                self.skipped.append(witness.name)
            except ConfigError as exc:
                with self.db.write() as session:
                    alarms.raise_alarm(
                        session, alarms.WITNESS_REFUSED, "checkpointer", exc.message, **exc.fields
                    )
                raise
        with self.db.write() as session:
            now = alarms.binding_checkpoint(session)
            if (int(now.id) if now else None) != (previous[0] if previous else None):
                raise ConflictError(
                    "另一个检查点刚被签署 / another checkpoint was signed meanwhile; sign again",
                    code="checkpoint_raced",
                )
            row = CheckpointRow(
                origin=self.origin, size=size, root=root_hex, block_number=block, note=note
            )
            session.add(row)
            session.flush()
            for name, line in lines.items():
                session.add(CosignatureRow(checkpoint_id=row.id, witness=name, line=line))
                session.merge(WitnessProgress(witness=name, size=size))
            if lines:
                alarms.resolve(session, alarms.WITNESS_REFUSED, "a later checkpoint was cosigned")
            session.flush()
            session.expunge(row)
            return row

    def _durable(self, session: Session, size: int, saved: int) -> tuple[int, int, str] | None:
        """(size, block, block hash) of the longest prefix of the indexed log whose blocks
        are at or below the `saved` block; None when no leaf is."""
        n = int(
            session.scalar(
                select(func.count()).select_from(LogEntry).where(LogEntry.block_number <= saved)
            )
            or 0
        )
        if n == 0:
            return None
        last = session.scalars(select(LogEntry).where(LogEntry.leaf_index == n - 1)).first()
        if last is None:
            return None
        if n == size:
            return (size, -1, "")
        return (n, int(last.block_number), last.block_hash)

    def _latest_row(self, session: Session) -> CheckpointRow | None:
        row = alarms.binding_checkpoint(session)
        if row is not None:
            session.expunge(row)
        return row

    def _check_chain(
        self,
        size: int,
        root_hex: str,
        block: int,
        block_hash: str,
        previous: tuple[int, int, str] | None,
    ) -> None:
        """The chain must still hold the indexed log: the indexed block is canonical and the
        contract's log at it has this size and root; a chain whose log is now shorter than
        the last signed checkpoint has rewritten history."""
        ledger = self.service.ledger()
        w3 = ledger.w3
        chain_size, chain_root = ledger.log_state("latest")
        if previous is not None and chain_size < previous[1]:
            raise ProofError(
                f"历史被改写：链上日志只有 {chain_size} 条，少于已签名检查点 #{previous[0]} 的 "
                f"{previous[1]} 条 / history rewritten: the chain's log has {chain_size} leaves, "
                f"fewer than checkpoint #{previous[0]} this operator signed ({previous[1]}, root "
                f"{previous[2]}); run `bangfu recover`",
                code=alarms.HISTORY_REWRITTEN,
                checkpoint_size=previous[1],
                checkpoint_root=previous[2],
                chain_size=chain_size,
                chain_root=hex0x(chain_root),
            )
        try:
            canonical = w3.eth.get_block(block)["hash"].to_0x_hex() == block_hash
        except Exception:  # noqa: BLE001 - the block is gone
            canonical = False
        if block > 0 and not canonical:
            raise ProofError(
                f"链在索引之后重组 / the chain reorganized after block {block} was indexed: let "
                "the indexer catch up, then sign again",
                code="chain_reorganized",
                block=block,
            )
        at_size, at_root = ledger.log_state(block)
        if (at_size, hex0x(at_root)) != (size, root_hex):
            raise ProofError(
                f"索引与链上日志不一致 / index diverged: at block {block} the contract's log has "
                f"{at_size} leaves, root {hex0x(at_root)}, the index {size}, root {root_hex}",
                code=alarms.INDEX_DIVERGED,
                chain_size=at_size,
                chain_root=hex0x(at_root),
                index_size=size,
                index_root=root_hex,
            )

    def _check_consistent(self, previous: tuple[int, int, str], size: int, root_hex: str) -> None:
        """A new checkpoint must extend the last one this operator signed."""
        cid, old_size, old_root = previous
        refusal = ProofError(
            f"新检查点与已签名检查点 #{cid} 不一致 / the new checkpoint (size {size}, root "
            f"{root_hex}) is not consistent with checkpoint #{cid} this operator signed (size "
            f"{old_size}, root {old_root}): refusing to sign",
            code="inconsistent_checkpoint",
            checkpoint_size=old_size,
            checkpoint_root=old_root,
            new_size=size,
            new_root=root_hex,
        )
        if size < old_size:
            raise refusal
        proof = self.proofs.consistency(old_size, size)
        if proof["old_root"] != old_root or proof["new_root"] != root_hex:
            raise refusal
        try:
            verify_consistency(
                old_size,
                size,
                bytes.fromhex(old_root[2:]),
                bytes.fromhex(root_hex[2:]),
                [bytes.fromhex(h[2:]) for h in proof["proof"]],
            )
        except ProofError:
            raise refusal from None

    def _collect(self, witness: WitnessConfig, row_id: int) -> None:
        try:
            self.cosign(witness, row_id)
        except _Unreachable as exc:
            log.warning("witness %s unreachable: %s", witness.name, exc)
            self.skipped.append(witness.name)

    def cosign(self, witness: WitnessConfig, row_id: int) -> str:
        """Asks one witness to cosign a stored checkpoint and stores its cosignature.

        Returns "cosigned", or raises ConfigError with the witness's refusal (a 409 for a
        different root or 422 for a failed consistency proof means history was rewritten).
        """
        with self.db.read() as session:
            row = session.get(CheckpointRow, row_id)
            if row is None:
                raise NotFoundError(f"no checkpoint {row_id}")
            note, size = row.note, row.size
        line = self._ask(witness, note, size)
        with self.db.write() as session:
            session.merge(CosignatureRow(checkpoint_id=row_id, witness=witness.name, line=line))
            session.merge(WitnessProgress(witness=witness.name, size=size))
        return "cosigned"

    def _ask(self, witness: WitnessConfig, note: str, size: int) -> str:
        """One add-checkpoint round (a 409 with the witness's size is retried once from it);
        returns the witness's verified cosignature line. Raises ConfigError
        `witness_refused` when the witness refuses, `_Unreachable` when it cannot answer."""
        with self.db.read() as session:
            progress = session.get(WitnessProgress, witness.name)
            old = progress.size if progress else 0
        for _ in range(2):
            old = min(old, size)
            proof = self.proofs.consistency(old, size)["proof"] if old else []
            lines = [f"old {old}"] + [
                base64.b64encode(bytes.fromhex(h[2:])).decode() for h in proof
            ]
            body = "\n".join(lines) + "\n\n" + note
            try:
                resp = httpx.post(
                    witness.url + "/add-checkpoint", content=body.encode(), timeout=30
                )
            except httpx.HTTPError as exc:
                raise _Unreachable(str(exc)) from None
            if resp.status_code == 409 and resp.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                old = int(resp.text.strip())
                if old > size:
                    break
                continue
            if resp.status_code >= 500:
                raise _Unreachable(f"{resp.status_code} {resp.text.strip()[:200]}")
            if resp.status_code != 200:
                raise ConfigError(
                    f"见证人 {witness.name} 拒绝了检查点 / witness {witness.name} refused the "
                    f"checkpoint at size {size}: {resp.status_code} {resp.text.strip()[:200]}; "
                    "nothing was stored",
                    code="witness_refused",
                    status=resp.status_code,
                    witness=witness.name,
                )
            line = resp.text if resp.text.endswith("\n") else resp.text + "\n"
            cosigned = add_signatures(note, line)
            open_note(cosigned, [witness.vkey])  # refuse a line that is not its cosignature
            return line
        raise ConfigError(
            f"见证人 {witness.name} 已签过更大的日志 / witness {witness.name} has cosigned a "
            "larger size than the log has: the log was rolled back; nothing was stored",
            code="witness_refused",
            status=409,
            witness=witness.name,
        )


class _Unreachable(Exception):
    """A witness did not answer (connection error, timeout, 5xx): not a refusal."""


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
        except LedgerError as exc:
            log.error("checkpoint refused [%s] %s", exc.code, exc.message)
        except Exception:
            log.exception("checkpoint round failed")
        stop.wait(interval)
