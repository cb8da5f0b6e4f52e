"""A C2SP tlog-witness (c2sp.org/tlog-witness): cosigns a log's checkpoints only while they
extend what it cosigned before, with its add-checkpoint HTTP server."""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ledger.core.errors import ConfigError, ProofError
from ledger.core.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ledger.tlog.jsonfile import read_json, write_json_atomic
from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    MAX_NOTE_BYTES,
    SignerKey,
    VerifierKey,
    as_note_text,
    b64decode,
    b64encode,
    open_note,
    parse_note,
)

__all__ = ["Witness", "make_witness_server", "serve_witness"]

log = logging.getLogger(__name__)

TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more

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
        text = as_note_text(body, "the request")
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
            h = b64decode(line, f"consistency proof line {i + 1}")
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
        data = read_json(self.state_path)
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
            origin: {"size": size, "root": b64encode(root), "checkpoint": text}
            for origin, (size, root, text) in state.items()
        }
        write_json_atomic(self.state_path, {"format": WITNESS_STATE_FORMAT, "logs": logs})


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
