"""C2SP checkpoints, signed notes with Ed25519, witness cosignatures, a witness and a client.

Formats follow c2sp.org/tlog-checkpoint, signed-note, tlog-cosignature (cosignature/v1) and
tlog-witness, so that standard tools read our checkpoints and standard witnesses cosign them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.core.errors import ConfigError, ProofError
from ledger.core.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "Checkpoint",
    "CheckpointClient",
    "NoteSignature",
    "SignedNote",
    "SignerKey",
    "TrustPolicy",
    "VerifierKey",
    "Witness",
    "add_signatures",
    "generate_key",
    "key_id",
    "make_witness_server",
    "open_note",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "serve_witness",
    "sign_note",
    "verify_checkpoint",
]

log = logging.getLogger(__name__)

ALG_ED25519 = 0x01
"""signed-note signature type: plain Ed25519 over the note text (what a log signs with)."""
ALG_COSIGNATURE_V1 = 0x04
"""signed-note signature type: timestamped Ed25519 witness cosignature (tlog-cosignature)."""
_ALGS = (ALG_ED25519, ALG_COSIGNATURE_V1)

SIGNATURE_PREFIX = "\u2014 "  # em dash and space, before the key name on a signature line
COSIGNATURE_HEADER = b"cosignature/v1\n"
TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100  # the spec asks to accept at least 16
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
_MAX_TIMESTAMP = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


# ---------------------------------------------------------------------------------- encoding


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not valid base64") from None
    # Non-canonical encodings would let two different texts carry the same bytes.
    if _b64encode(raw) != text:
        raise ProofError(f"{what} is not canonical base64")
    return raw


def _check_text(text: str, what: str) -> None:
    if any(ch < " " and ch != "\n" for ch in text):
        raise ProofError(f"{what} contains a control character")


def _check_key_name(name: str) -> None:
    if not name or any(ch.isspace() or ch == "+" or ch < " " for ch in name):
        raise ConfigError(
            f"key name {name!r} must be non-empty, without spaces, '+' or control characters"
        )


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || alg || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


# --------------------------------------------------------------------------------------- keys


def _cosigned_message(body: bytes, timestamp: int) -> bytes:
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + body


@dataclass(frozen=True)
class VerifierKey:
    """A public key that checks note signatures: plain Ed25519 (0x01) or cosignature/v1 (0x04)."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != 32:
            raise ConfigError("an Ed25519 public key is 32 bytes")
        if self.alg not in _ALGS:
            raise ConfigError(f"unsupported signature type 0x{self.alg:02x}")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    def encode(self) -> str:
        """The vkey text form `<name>+<hex key ID>+<base64(alg || public key)>`."""
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse a vkey; raise ConfigError if it is malformed or its key ID is wrong."""
        # Only the base64 key data may contain '+': names and key IDs cannot.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise ConfigError("a verifier key has the form <name>+<key id>+<key data>")
        name, hex_id, data = parts
        try:
            raw = _b64decode(data, "the verifier key data")
        except ProofError as exc:
            raise ConfigError(exc.message) from None
        if not raw:
            raise ConfigError("the verifier key data is empty")
        key = cls(name, raw[1:], raw[0])
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != key.key_id:
            raise ConfigError(f"the key ID {hex_id!r} does not match the key {name!r}")
        return key

    def as_cosignature_v1(self) -> VerifierKey:
        """The same Ed25519 key, as a verifier of cosignature/v1 signatures."""
        return VerifierKey(self.name, self.public_key, ALG_COSIGNATURE_V1)

    def verify(self, body: bytes, signature: bytes) -> bool:
        """Whether `signature` (the bytes after the key ID) is valid for the note text `body`."""
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != 8 + 64:
                return False
            message = _cosigned_message(body, int.from_bytes(signature[:8], "big"))
            signature = signature[8:]
        else:
            if len(signature) != 64:
                return False
            message = body
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """An Ed25519 private key with its note name and signature type."""

    name: str
    seed: bytes = field(repr=False)
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.seed) != 32:
            raise ConfigError("an Ed25519 private key seed is 32 bytes")
        if self.alg not in _ALGS:
            raise ConfigError(f"unsupported signature type 0x{self.alg:02x}")

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> SignerKey:
        return cls(name, os.urandom(32), alg)

    @property
    def public_key(self) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.public_key, self.alg)

    def encode(self) -> str:
        """`PRIVATE+KEY+<name>+<hex key ID>+<base64(alg || seed)>`: keep it secret."""
        data = _b64encode(bytes([self.alg]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{data}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """Parse a signer key; raise ConfigError if it is malformed or its key ID is wrong."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ConfigError("a signer key has the form PRIVATE+KEY+<name>+<key id>+<key data>")
        _, _, name, hex_id, data = parts
        try:
            raw = _b64decode(data, "the signer key data")
        except ProofError as exc:
            raise ConfigError(exc.message) from None
        if not raw:
            raise ConfigError("the signer key data is empty")
        key = cls(name, raw[1:], raw[0])
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != key.key_id:
            raise ConfigError(f"the key ID {hex_id!r} does not match the key {name!r}")
        return key

    def sign(self, body: bytes, *, timestamp: int | None = None) -> NoteSignature:
        """Sign note text; cosignature/v1 keys stamp `timestamp` (default: now) into it."""
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.alg == ALG_COSIGNATURE_V1:
            ts = int(time.time()) if timestamp is None else timestamp
            if not 0 <= ts <= _MAX_TIMESTAMP:
                raise ValueError("a cosignature timestamp must fit in 63 bits")
            sig = ts.to_bytes(8, "big") + private.sign(_cosigned_message(body, ts))
        else:
            sig = private.sign(body)
        return NoteSignature(self.name, self.key_id, sig)


def generate_key(name: str, alg: int = ALG_ED25519) -> tuple[str, str]:
    """A new (signer key text, verifier key text) pair."""
    signer = SignerKey.generate(name, alg)
    return signer.encode(), signer.verifier().encode()


def parse_signer_key(text: str) -> SignerKey:
    return SignerKey.parse(text)


def parse_verifier_key(text: str) -> VerifierKey:
    return VerifierKey.parse(text)


# -------------------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"

    @property
    def timestamp(self) -> int | None:
        """The cosignature/v1 timestamp, if this has the shape of a timestamped Ed25519 one."""
        if len(self.signature) != 8 + 64:
            return None
        return int.from_bytes(self.signature[:8], "big")

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """Parse one signature line (with or without its final newline)."""
        line = line.removesuffix("\n")
        if not line.startswith(SIGNATURE_PREFIX):
            raise ProofError("a note signature line starts with an em dash and a space")
        name, sep, data = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or not name or " " in data:
            raise ProofError("a note signature line is '— <name> <base64 signature>'")
        raw = _b64decode(data, f"the signature by {name!r}")
        if len(raw) < 5:
            raise ProofError(f"the signature by {name!r} is too short")
        return cls(name, raw[:4], raw[4:])


@dataclass
class SignedNote:
    """Note text and its signatures; `verified` lists those checked against known keys."""

    body: bytes
    signatures: list[NoteSignature]
    verified: list[NoteSignature] = field(default_factory=list)

    def to_text(self) -> str:
        return self.body.decode() + "\n" + "".join(s.line() for s in self.signatures)

    def to_bytes(self) -> bytes:
        return self.to_text().encode()

    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse(self.body)


def _as_text(text: str | bytes, what: str) -> str:
    if isinstance(text, bytes):
        if len(text) > MAX_NOTE_BYTES:
            raise ProofError(f"{what} is too large")
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProofError(f"{what} is not valid UTF-8") from None
    if len(text) > MAX_NOTE_BYTES:
        raise ProofError(f"{what} is too large")
    return text


def parse_note(text: str | bytes) -> SignedNote:
    """Split a signed note into text and signatures, without verifying anything."""
    text = _as_text(text, "the note")
    _check_text(text, "the note")
    if not text.endswith("\n"):
        raise ProofError("a signed note ends with a newline")
    # The text is separated from the signatures by the last empty line.
    split = text.rfind("\n\n")
    if split < 0:
        raise ProofError("a signed note needs an empty line before its signatures")
    body, sig_block = text[: split + 1], text[split + 2 :]
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise ProofError("the note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"the note has more than {MAX_SIGNATURES} signatures")
    return SignedNote(body.encode(), [NoteSignature.parse_line(line) for line in lines])


def open_note(text: str | bytes, verifiers: Iterable[VerifierKey]) -> SignedNote:
    """Parse a note and verify it: every signature by a known key (same name and key ID) must
    verify, and at least one must be present; signatures by unknown keys are ignored."""
    note = parse_note(text)
    known = {(v.name, v.key_id): v for v in verifiers}
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.body, sig.signature):
            raise ProofError(f"the signature by {sig.name!r} does not verify", key=sig.name)
        note.verified.append(sig)
    if not note.verified:
        names = sorted({name for name, _ in known})
        raise ProofError(f"the note is not signed by any known key ({', '.join(names)})")
    return note


def sign_note(body: bytes | str, signers: SignerKey | Sequence[SignerKey]) -> str:
    """The signed note text: body, an empty line, one signature line per signer."""
    raw = body.encode() if isinstance(body, str) else body
    text = _as_text(raw, "the note text")
    _check_text(text, "the note text")
    if not text.endswith("\n"):
        raise ProofError("note text must end with a newline")
    if isinstance(signers, SignerKey):
        signers = [signers]
    return text + "\n" + "".join(s.sign(raw).line() for s in signers)


def add_signatures(note_text: str | bytes, signature_lines: str | bytes) -> str:
    """Append signature lines (e.g. a witness's response) to a signed note."""
    text = _as_text(note_text, "the note")
    extra = _as_text(signature_lines, "the signature lines")
    parse_note(text + extra)  # refuse to build something that would not parse
    return text + extra


# -------------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint note body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ProofError("a checkpoint origin is one non-empty line")
        _check_text(self.origin, "the checkpoint origin")
        if self.size < 0:
            raise ProofError("a checkpoint size is not negative")
        if len(self.root) != HASH_SIZE:
            raise ProofError(f"a checkpoint root is a {HASH_SIZE}-byte hash")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise ProofError("checkpoint extension lines are non-empty single lines")
            _check_text(ext, "a checkpoint extension line")

    def body(self) -> bytes:
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint body; a whole signed note is accepted too (its body is parsed)."""
        text = _as_text(text, "the checkpoint")
        if "\n\n" in text:
            text = parse_note(text).body.decode()
        if not text.endswith("\n"):
            raise ProofError("a checkpoint ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError("a checkpoint has an origin, a size and a root hash line")
        origin, size_line, root_line, *extensions = lines
        if not _DECIMAL.fullmatch(size_line):
            raise ProofError(f"checkpoint size {size_line!r} is not a decimal without zeros")
        root = _b64decode(root_line, "the checkpoint root hash")
        return cls(origin, int(size_line), root, tuple(extensions))

    def sign(self, signers: SignerKey | Sequence[SignerKey]) -> str:
        return sign_note(self.body(), signers)


# ------------------------------------------------------------------------- atomic JSON files


def _write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename itself is only durable once the directory entry is.
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


# ------------------------------------------------------------------------------------ witness

WITNESS_STATE_FORMAT = "bangfu-witness-state/1"


class Witness:
    """A C2SP tlog-witness: cosigns a log's checkpoint only if it extends what it cosigned before.

    `logs` maps each known origin to the log's verifier key(s). The state file holds, per origin,
    the latest cosigned size and root; it is re-read and rewritten under an exclusive lock on a
    sibling `<state>.lock` file, so that several processes or instances sharing one state file
    can never roll it back (the race the tlog-witness spec warns about).
    """

    def __init__(
        self,
        signer: SignerKey,
        logs: Mapping[str, VerifierKey | Sequence[VerifierKey]],
        state_path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signer.alg != ALG_COSIGNATURE_V1:
            raise ConfigError(
                "a witness signs cosignature/v1 signatures: its key must have type 0x04 "
                "(SignerKey.generate(name, ALG_COSIGNATURE_V1))"
            )
        self.signer = signer
        self.logs: dict[str, list[VerifierKey]] = {
            origin: [keys] if isinstance(keys, VerifierKey) else list(keys)
            for origin, keys in logs.items()
        }
        self.state_path = Path(state_path)
        self._clock = clock
        self._thread_lock = threading.Lock()
        self._load()  # fail at start-up, not at the first request, on a corrupt file

    @property
    def verifier(self) -> VerifierKey:
        """The key clients use to check this witness's cosignatures."""
        return self.signer.verifier()

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The latest cosigned (size, root) for a log, or None if there is none yet."""
        with self._locked():
            entry = self._load().get(origin)
        return None if entry is None else (entry[0], entry[1])

    def add_checkpoint(self, request_body: bytes) -> tuple[int, bytes, str]:
        """Handle a tlog-witness add-checkpoint request: (HTTP status, body, content type)."""
        try:
            old_size, proof, note_text = self._parse_request(request_body)
            note = parse_note(note_text)
            checkpoint = note.checkpoint()
        except ProofError as exc:
            return self._text(400, f"malformed request: {exc.message}")

        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return self._text(404, f"unknown log origin {checkpoint.origin!r}")
        try:
            open_note(note_text, keys)
        except ProofError as exc:
            return self._text(403, f"checkpoint not signed by the log's key: {exc.message}")
        if old_size > checkpoint.size:
            return self._text(400, f"old size {old_size} is larger than the checkpoint size")

        with self._locked():
            state = self._load()
            latest_size, latest_root, _ = state.get(checkpoint.origin, (0, EMPTY_ROOT, ""))
            if old_size != latest_size:
                return 409, f"{latest_size}\n".encode(), TLOG_SIZE_CONTENT_TYPE
            if checkpoint.size == latest_size:
                if checkpoint.root != latest_root:
                    log.warning(
                        "log %s signed two roots for size %d", checkpoint.origin, latest_size
                    )
                    return self._text(409, f"a different root for size {latest_size}")
                if proof:
                    return self._text(422, "the consistency proof for equal sizes is empty")
            else:
                try:
                    verify_consistency(
                        latest_size, checkpoint.size, latest_root, checkpoint.root, proof
                    )
                except ProofError as exc:
                    log.warning("inconsistent checkpoint from %s: %s", checkpoint.origin, exc)
                    return self._text(422, f"consistency proof does not verify: {exc.message}")
                state[checkpoint.origin] = (
                    checkpoint.size,
                    checkpoint.root,
                    note.to_text(),
                )
                # Persisted before the cosignature exists, so a crash cannot lose what we
                # have vouched for and a restart can never cosign a rolled-back tree.
                self._save(state)
            timestamp = int(self._clock())
        cosig = self.signer.sign(note.body, timestamp=timestamp)
        return 200, cosig.line().encode(), TEXT_CONTENT_TYPE

    @staticmethod
    def _text(status: int, message: str) -> tuple[int, bytes, str]:
        return status, (message + "\n").encode(), TEXT_CONTENT_TYPE

    @staticmethod
    def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
        text = _as_text(body, "the request")
        head, sep, note_text = text.partition("\n\n")
        if not sep:
            raise ProofError("the request needs an empty line before the checkpoint")
        lines = head.split("\n")
        match = re.fullmatch(r"old (0|[1-9][0-9]*)", lines[0])
        if match is None:
            raise ProofError("the first line must be 'old <size>'")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise ProofError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = []
        for i, line in enumerate(lines[1:]):
            h = _b64decode(line, f"consistency proof line {i + 1}")
            if len(h) != HASH_SIZE:
                raise ProofError(f"consistency proof line {i + 1} is not a {HASH_SIZE}-byte hash")
            proof.append(h)
        return int(match.group(1)), proof, note_text

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.state_path.with_name(self.state_path.name + ".lock")
        with self._thread_lock, open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _load(self) -> dict[str, tuple[int, bytes, str]]:
        data = _read_json(self.state_path)
        if data is None:
            return {}
        try:
            if data.get("format") != WITNESS_STATE_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}")
            return {
                origin: (int(e["size"]), base64.b64decode(e["root"]), str(e.get("checkpoint", "")))
                for origin, e in data["logs"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ConfigError(f"{self.state_path} is not a witness state file: {exc}") from None

    def _save(self, state: Mapping[str, tuple[int, bytes, str]]) -> None:
        logs = {
            origin: {"size": size, "root": _b64encode(root), "checkpoint": text}
            for origin, (size, root, text) in state.items()
        }
        _write_json_atomic(self.state_path, {"format": WITNESS_STATE_FORMAT, "logs": logs})


# ------------------------------------------------------------------------------ trust policy


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
            raise ProofError(
                f"{cp.origin}: an empty tree's root is SHA-256(''), not {cp.root.hex()}",
                code="inconsistent_checkpoint",
                origin=cp.origin,
            )
        by_size = self._seen.setdefault(cp.origin, {})
        same = by_size.get(cp.size)
        if same is not None:
            if same.root != cp.root:
                raise ProofError(
                    f"{cp.origin}: two different roots for size {cp.size} "
                    f"({same.root.hex()} and {cp.root.hex()}): the log rewrote its history",
                    code="inconsistent_checkpoint",
                    origin=cp.origin,
                    size=cp.size,
                )
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
            raise ProofError(
                f"{new.origin}: the checkpoint at size {new.size} is inconsistent with the one "
                f"at size {old.size}: {exc.message}",
                code="inconsistent_checkpoint",
                origin=new.origin,
                old_size=old.size,
                new_size=new.size,
            ) from exc

    def _load(self, path: Path) -> None:
        data = _read_json(path)
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
                {"size": cp.size, "root": _b64encode(cp.root), "extensions": list(cp.extensions)}
                for cp in self.seen(origin)
            ]
            for origin in sorted(self._seen)
        }
        state: dict[str, Any] = {"format": CLIENT_STATE_FORMAT, "origins": origins}
        if self.log_keys:
            state["log_keys"] = dict(sorted(self.log_keys.items()))
        _write_json_atomic(path, state)


# ---------------------------------------------------------------------------------- HTTP side


def make_witness_server(
    witness: Witness, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """An HTTP server answering POST /add-checkpoint; call serve_forever() on it."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "bangfu-witness/1"
        protocol_version = "HTTP/1.1"  # the spec asks witnesses to support keep-alive

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/add-checkpoint":
                self._reply(404, b"not found\n", TEXT_CONTENT_TYPE)
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None or not length_header.isdigit():
                self._reply(411, b"Content-Length required\n", TEXT_CONTENT_TYPE)
                return
            length = int(length_header)
            if length > MAX_NOTE_BYTES:
                self.close_connection = True
                self._reply(413, b"request too large\n", TEXT_CONTENT_TYPE)
                return
            body = self.rfile.read(length)
            try:
                status, payload, content_type = witness.add_checkpoint(body)
            except Exception:
                log.exception("add-checkpoint failed")
                status, payload, content_type = 500, b"internal error\n", TEXT_CONTENT_TYPE
            self._reply(status, payload, content_type)

        def do_GET(self) -> None:
            self._reply(405, b"use POST /add-checkpoint\n", TEXT_CONTENT_TYPE)

        def _reply(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)


def serve_witness(witness: Witness, host: str = "127.0.0.1", port: int = 7380) -> None:
    """Serve the witness's add-checkpoint endpoint until interrupted."""
    server = make_witness_server(witness, host, port)
    log.info("witness %s listening on http://%s:%d", witness.signer.name, host, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
