"""C2SP signed notes and checkpoints: the text encodings, Ed25519 note keys and cosignatures.

Formats follow c2sp.org/tlog-checkpoint, signed-note and tlog-cosignature (cosignature/v1), so
that standard tools read our checkpoints and standard witnesses cosign them. The witness that
cosigns is in `ledger.tlog.witness`, the client that checks them in `ledger.tlog.client`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.core.errors import ConfigError, ProofError
from ledger.core.merkle import HASH_SIZE

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "SignerKey",
    "VerifierKey",
    "add_signatures",
    "as_note_text",
    "b64decode",
    "b64encode",
    "generate_key",
    "key_id",
    "open_note",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
]

ALG_ED25519 = 0x01
"""signed-note signature type: plain Ed25519 over the note text (what a log signs with)."""
ALG_COSIGNATURE_V1 = 0x04
"""signed-note signature type: timestamped Ed25519 witness cosignature (tlog-cosignature)."""
_ALGS = (ALG_ED25519, ALG_COSIGNATURE_V1)

SIGNATURE_PREFIX = "\u2014 "  # em dash and space, before the key name on a signature line
COSIGNATURE_HEADER = b"cosignature/v1\n"
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100  # the spec asks to accept at least 16
_MAX_TIMESTAMP = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


# ---------------------------------------------------------------------------------- encoding


def b64encode(data: bytes) -> str:
    """Standard padded base64, the only form the C2SP formats use."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Decode canonical base64, or raise ProofError naming `what`."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not valid base64") from None
    # Non-canonical encodings would let two different texts carry the same bytes.
    if b64encode(raw) != text:
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


def _check_key(name: str, key: bytes, alg: int, what: str) -> None:
    """The checks both key kinds share; `what` names the 32 bytes in the error."""
    _check_key_name(name)
    if len(key) != 32:
        raise ConfigError(f"an Ed25519 {what} is 32 bytes")
    if alg not in _ALGS:
        raise ConfigError(f"unsupported signature type 0x{alg:02x}")


def _key_data(data: str, what: str) -> tuple[int, bytes]:
    """(alg, key bytes) from a key text's base64 data; ConfigError when malformed."""
    try:
        raw = b64decode(data, f"the {what} key data")
    except ProofError as exc:
        raise ConfigError(exc.message) from None
    if not raw:
        raise ConfigError(f"the {what} key data is empty")
    return raw[0], raw[1:]


def _check_key_id(hex_id: str, name: str, expected: bytes) -> None:
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != expected:
        raise ConfigError(f"the key ID {hex_id!r} does not match the key {name!r}")


@dataclass(frozen=True)
class VerifierKey:
    """A public key that checks note signatures: plain Ed25519 (0x01) or cosignature/v1 (0x04)."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        _check_key(self.name, self.public_key, self.alg, "public key")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    def encode(self) -> str:
        """The vkey text form `<name>+<hex key ID>+<base64(alg || public key)>`."""
        return f"{self.name}+{self.key_id.hex()}+{b64encode(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse a vkey; raise ConfigError if it is malformed or its key ID is wrong."""
        # Only the base64 key data may contain '+': names and key IDs cannot.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise ConfigError("a verifier key has the form <name>+<key id>+<key data>")
        name, hex_id, data = parts
        alg, public_key = _key_data(data, "verifier")
        key = cls(name, public_key, alg)
        _check_key_id(hex_id, name, key.key_id)
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
        _check_key(self.name, self.seed, self.alg, "private key seed")

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
        data = b64encode(bytes([self.alg]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{data}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """Parse a signer key; raise ConfigError if it is malformed or its key ID is wrong."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ConfigError("a signer key has the form PRIVATE+KEY+<name>+<key id>+<key data>")
        _, _, name, hex_id, data = parts
        alg, seed = _key_data(data, "signer")
        key = cls(name, seed, alg)
        _check_key_id(hex_id, name, key.key_id)
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
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(self.key_id + self.signature)}\n"

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
        raw = b64decode(data, f"the signature by {name!r}")
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


def as_note_text(text: str | bytes, what: str) -> str:
    """`text` as a str, refused (ProofError naming `what`) if too large or not UTF-8."""
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
    text = as_note_text(text, "the note")
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
    text = as_note_text(raw, "the note text")
    _check_text(text, "the note text")
    if not text.endswith("\n"):
        raise ProofError("note text must end with a newline")
    if isinstance(signers, SignerKey):
        signers = [signers]
    return text + "\n" + "".join(s.sign(raw).line() for s in signers)


def add_signatures(note_text: str | bytes, signature_lines: str | bytes) -> str:
    """Append signature lines (e.g. a witness's response) to a signed note."""
    text = as_note_text(note_text, "the note")
    extra = as_note_text(signature_lines, "the signature lines")
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
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint body; a whole signed note is accepted too (its body is parsed)."""
        text = as_note_text(text, "the checkpoint")
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
        root = b64decode(root_line, "the checkpoint root hash")
        return cls(origin, int(size_line), root, tuple(extensions))

    def sign(self, signers: SignerKey | Sequence[SignerKey]) -> str:
        return sign_note(self.body(), signers)
