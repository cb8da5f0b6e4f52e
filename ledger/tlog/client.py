"""The reading side of checkpoints: the trust policy a checkpoint must meet (the log's signature
and a witness quorum) and a client that remembers checkpoints and refuses rewritten history."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core.errors import ConfigError, ProofError
from ledger.core.merkle import EMPTY_ROOT, verify_consistency
from ledger.tlog.jsonfile import read_json, write_json_atomic
from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    VerifierKey,
    b64encode,
    open_note,
    parse_note,
)

__all__ = ["CheckpointClient", "TrustPolicy", "verify_checkpoint"]


@dataclass(frozen=True)
class TrustPolicy:
    """What a client requires of a checkpoint before it trusts its root: a valid signature by
    the log's own key (always), and valid cosignatures by at least `quorum` distinct witnesses
    among `witnesses`. The default, quorum 0, still requires the operator's signature."""

    log_key: VerifierKey
    witnesses: tuple[VerifierKey, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        if self.log_key.alg != ALG_ED25519:
            raise ConfigError(
                "日志密钥类型错误 / the log key must be a plain Ed25519 (0x01) note key",
                code="bad_log_key",
            )
        if self.quorum < 0 or self.quorum > len({w.name for w in self.witnesses}):
            raise ConfigError(
                f"见证法定数不可达 / a witness quorum of {self.quorum} needs at least as many "
                f"witness keys; {len(self.witnesses)} configured (BANGFU_WITNESS_KEYS)",
                code="bad_quorum",
            )

    @classmethod
    def from_texts(
        cls, log_key: str, witness_keys: Sequence[str] = (), quorum: int = 0
    ) -> TrustPolicy:
        """From vkey texts; a witness key given as plain Ed25519 is read as its cosignature/v1
        form, the type witnesses sign with."""
        witnesses = []
        for text in witness_keys:
            key = VerifierKey.parse(text)
            witnesses.append(key if key.alg == ALG_COSIGNATURE_V1 else key.as_cosignature_v1())
        return cls(VerifierKey.parse(log_key), tuple(witnesses), quorum)

    def describe(self) -> str:
        names = ", ".join(w.name for w in self.witnesses) or "-"
        return (
            f"log key {self.log_key.name}+{self.log_key.key_id.hex()}, "
            f"{self.quorum} of witnesses [{names}]"
        )


def verify_checkpoint(note_text: str | bytes, policy: TrustPolicy) -> tuple[Checkpoint, list[str]]:
    """Open a signed checkpoint under `policy`: its origin is the log key's name, the log key's
    signature is present and valid, and at least `policy.quorum` distinct configured witnesses
    cosigned it. Returns the checkpoint and the names of the witnesses whose cosignatures
    verified; raises ProofError with a code naming what is missing."""
    note = parse_note(note_text)
    checkpoint = note.checkpoint()
    log_key = policy.log_key
    if checkpoint.origin != log_key.name:
        raise ProofError(
            f"检查点来源不符 / the checkpoint is for {checkpoint.origin!r}, the log key for "
            f"{log_key.name!r}",
            code="wrong_origin",
        )
    known = {(k.name, k.key_id): k for k in (log_key, *policy.witnesses)}
    log_signed = False
    witnesses: set[str] = set()
    for sig in note.signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            continue
        if not key.verify(note.body, sig.signature):
            raise ProofError(
                f"检查点签名无效 / the signature by {sig.name!r} does not verify",
                code="bad_checkpoint_signature",
                key=sig.name,
            )
        if key is log_key:
            log_signed = True
        else:
            witnesses.add(key.name)
    if not log_signed:
        raise ProofError(
            f"检查点未经日志密钥签名 / the checkpoint carries no signature by the log key "
            f"{log_key.name}+{log_key.key_id.hex()}",
            code="checkpoint_unsigned",
        )
    if len(witnesses) < policy.quorum:
        raise ProofError(
            f"见证联署不足 / {len(witnesses)} of the {policy.quorum} witness cosignatures "
            f"required ({policy.describe()})",
            code="quorum_not_met",
            cosigned=sorted(witnesses),
        )
    return checkpoint, sorted(witnesses)


# ------------------------------------------------------------------------------------- client

CLIENT_STATE_FORMAT = "bangfu-checkpoints/1"
ConsistencyFetcher = Callable[[int, int], Sequence[bytes]]


class CheckpointClient:
    """Remembers every checkpoint seen per origin and refuses one inconsistent with any of them.

    Consistency is transitive, so checking a new checkpoint against the nearest smaller and
    nearest larger ones already accepted (all mutually consistent) is the same as checking it
    against every one, at two consistency proofs instead of n.
    """

    def __init__(
        self,
        verifiers: Iterable[VerifierKey] | None = None,
        path: str | os.PathLike[str] | None = None,
        get_consistency: ConsistencyFetcher | None = None,
        *,
        policy: TrustPolicy | None = None,
    ) -> None:
        self.verifiers = list(verifiers) if verifiers is not None else None
        self.path = Path(path) if path is not None else None
        self.get_consistency = get_consistency
        self.policy = policy
        self.witnessed: list[str] = []
        #: log keys (vkey text) pinned per origin on first use, see pin_log_key
        self.log_keys: dict[str, str] = {}
        self._seen: dict[str, dict[int, Checkpoint]] = {}
        if self.path is not None:
            self._load(self.path)

    def pin_log_key(self, key: VerifierKey) -> VerifierKey:
        """Trust on first use: remember `key` as the log key of its origin (its name), or
        raise ProofError "log_key_changed" if another key was pinned for that origin."""
        pinned = self.log_keys.get(key.name)
        if pinned is not None and pinned != key.encode():
            raise ProofError(
                f"日志密钥已变更 / the log {key.name} now publishes the key {key.encode()}, "
                f"but {pinned} was pinned on first use; a log does not change its key",
                code="log_key_changed",
            )
        if pinned is None:
            self.log_keys[key.name] = key.encode()
            if self.path is not None:
                self._save(self.path)
        return key

    def seen(self, origin: str) -> list[Checkpoint]:
        """Every checkpoint accepted for `origin`, by size."""
        by_size = self._seen.get(origin, {})
        return [by_size[s] for s in sorted(by_size)]

    def latest(self, origin: str) -> Checkpoint | None:
        by_size = self._seen.get(origin)
        return by_size[max(by_size)] if by_size else None

    def observe(
        self,
        checkpoint: Checkpoint | str | bytes,
        get_consistency: ConsistencyFetcher | None = None,
    ) -> Checkpoint:
        """Accept a checkpoint (or a signed note, verified if the client has verifier keys),
        or raise ProofError with code "inconsistent_checkpoint" if it rewrites history."""
        if not isinstance(checkpoint, Checkpoint):
            if self.policy is not None:
                checkpoint, self.witnessed = verify_checkpoint(checkpoint, self.policy)
            elif self.verifiers is not None:
                checkpoint = open_note(checkpoint, self.verifiers).checkpoint()
            else:
                checkpoint = Checkpoint.parse(checkpoint)
        fetch = get_consistency or self.get_consistency
        cp = checkpoint
        if cp.size == 0 and cp.root != EMPTY_ROOT:
            raise _inconsistent(cp, f"an empty tree's root is SHA-256(''), not {cp.root.hex()}")
        by_size = self._seen.setdefault(cp.origin, {})
        same = by_size.get(cp.size)
        if same is not None:
            if same.root != cp.root:
                roots = f"({same.root.hex()} and {cp.root.hex()})"
                why = f"two different roots for size {cp.size} {roots}: the log rewrote its history"
                raise _inconsistent(cp, why, size=cp.size)
            return same
        smaller = [s for s in by_size if s < cp.size]
        larger = [s for s in by_size if s > cp.size]
        if smaller:
            self._check(by_size[max(smaller)], cp, fetch)
        if larger:
            self._check(cp, by_size[min(larger)], fetch)
        by_size[cp.size] = cp
        if self.path is not None:
            self._save(self.path)
        return cp

    @staticmethod
    def _check(old: Checkpoint, new: Checkpoint, fetch: ConsistencyFetcher | None) -> None:
        if old.size == 0:
            return
        if fetch is None:
            raise ProofError(
                f"{new.origin}: a consistency proof from {old.size} to {new.size} is needed, "
                "but the client has no get_consistency"
            )
        proof = list(fetch(old.size, new.size))
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except ProofError as exc:
            why = (
                f"the checkpoint at size {new.size} is inconsistent with the one at size {old.size}"
            )
            raise _inconsistent(
                new, f"{why}: {exc.message}", old_size=old.size, new_size=new.size
            ) from exc

    def _load(self, path: Path) -> None:
        data = read_json(path)
        if data is None:
            return
        try:
            if data.get("format") != CLIENT_STATE_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}")
            self.log_keys = {str(k): str(v) for k, v in data.get("log_keys", {}).items()}
            for origin, entries in data["origins"].items():
                for e in entries:
                    cp = Checkpoint(
                        origin, int(e["size"]), base64.b64decode(e["root"]), tuple(e["extensions"])
                    )
                    self._seen.setdefault(origin, {})[cp.size] = cp
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ConfigError(f"{path} is not a checkpoint file: {exc}") from None

    def _save(self, path: Path) -> None:
        origins = {
            origin: [
                {"size": cp.size, "root": b64encode(cp.root), "extensions": list(cp.extensions)}
                for cp in self.seen(origin)
            ]
            for origin in sorted(self._seen)
        }
        state: dict[str, Any] = {"format": CLIENT_STATE_FORMAT, "origins": origins}
        if self.log_keys:
            state["log_keys"] = dict(sorted(self.log_keys.items()))
        write_json_atomic(path, state)


def _inconsistent(cp: Checkpoint, why: str, **fields: int) -> ProofError:
    """A checkpoint that contradicts what this client saw: the log forked or rewrote itself."""
    return ProofError(
        f"{cp.origin}: {why}", code="inconsistent_checkpoint", origin=cp.origin, **fields
    )
