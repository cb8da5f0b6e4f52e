"""The organization's side of a bulk delivery: read keys, sign the batch, and stream the
lines to the API, resuming after an interruption from the count the server holds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from ledger.batches.build import build_batch
from ledger.batches.files import LineProblem, ParsedFile
from ledger.batches.wire import iter_frames
from ledger.config import Settings
from ledger.core.eip712 import Domain
from ledger.core.errors import BatchError, ConfigError, LedgerError
from ledger.core.lines import DeliveryLine
from ledger.core.records import SignedRecord

#: Answers after which the client asks the held count again and resumes.
RETRY_CODES = frozenset({"busy", "upload_gap", "upload_incomplete"})
#: (lines the server holds, lines in the batch) after each chunk sent.
Progress = Callable[[int, int], None]


def read_private_key(path: Path | str, password: str | None = None) -> bytes:
    """A signing key from a file: 0x-hex text, or an Ethereum keystore JSON (password from
    the argument or BANGFU_KEYSTORE_PASSWORD)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc}", code="bad_key_file") from None
    if text.startswith("{"):
        if not password:
            # Read afresh, as the SDK's caller may set it after the process started.
            secret = Settings().keystore_password
            password = secret.get_secret_value() if secret is not None else None
        if not password:
            raise ConfigError(
                "the key file is a keystore; set BANGFU_KEYSTORE_PASSWORD", code="bad_key_file"
            )
        try:
            return bytes(Account.decrypt(json.loads(text), password))
        except ValueError:
            raise ConfigError("the keystore password is wrong", code="bad_key_file") from None
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{path} must hold a 32-byte private key as hex, or a keystore JSON",
            code="bad_key_file",
        )
    return key


def read_county_key(path: Path | str) -> bytes:
    """The county's pseudonym key: a file of hex text (at least 16 bytes) or raw bytes."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the county key {path}: {exc}", code="bad_key_file"
        ) from None
    try:
        key = bytes.fromhex(raw.decode("ascii").strip().removeprefix("0x"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < 16:
        raise ConfigError("the county key must be at least 16 bytes", code="bad_key_file")
    return key


def sign_batch(
    lines: Sequence[DeliveryLine],
    key: bytes,
    domain: Domain,
    evidence_hash: bytes = bytes(32),
    line_bytes: Sequence[bytes] | None = None,
) -> SignedRecord:
    """Builds the batch tree of `lines` and signs its DeliveryBatch record (EIP-712).

    Pass `line_bytes` (the lines' bytes, as `upload` will send them) to make them once."""
    signer = Account.from_key(key).address
    return build_batch(lines, signer, evidence_hash, line_bytes).sign(key, domain)


def _raise_problem(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        body: dict[str, Any] = resp.json()
    except ValueError:
        body = {"code": f"http_{resp.status_code}", "detail": resp.text[:300]}
    fields = {
        k: v
        for k, v in body.items()
        if k not in ("type", "title", "status", "code", "detail", "message")
    }
    raise LedgerError(
        str(body.get("detail", body.get("message", resp.reason_phrase))),
        code=str(body.get("code", f"http_{resp.status_code}")),
        **fields,
    )


@dataclass
class UploadResult:
    upload_id: str
    batch_id: str
    status: str
    line_count: int
    lines_received: int
    attempts: int


class BatchClient:
    """Talks to /api/v1/batches over any httpx client (a TestClient in tests)."""

    def __init__(self, http: httpx.Client, *, retries: int = 20, backoff: float = 0.5) -> None:
        self.http = http
        self.retries = retries
        self.backoff = backoff

    def domain(self) -> Domain:
        resp = self.http.get("/api/v1/eip712")
        _raise_problem(resp)
        d = resp.json()["domain"]
        return Domain(int(d["chainId"]), d["verifyingContract"], d["name"], d["version"])

    def commitments(self, ids: Sequence[str]) -> dict[str, Any]:
        resp = self.http.get("/api/v1/batches/commitments", params={"ids": list(ids)})
        _raise_problem(resp)
        out: dict[str, Any] = resp.json()
        return out

    def open(self, signed: SignedRecord) -> dict[str, Any]:
        body = signed.to_json()
        body.pop("signer", None)
        resp = self.http.post("/api/v1/batches", json=body)
        _raise_problem(resp)
        out: dict[str, Any] = resp.json()
        return out

    def status(self, upload_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/api/v1/batches/uploads/{upload_id}")
        _raise_problem(resp)
        out: dict[str, Any] = resp.json()
        return out

    def send_lines(
        self,
        upload_id: str,
        lines: Sequence[bytes],
        start: int,
        progress: Progress | None = None,
        stop_after: int | None = None,
    ) -> dict[str, Any]:
        """One PUT of lines[start:] (or of `stop_after` of them, to test interruptions)."""
        end = len(lines) if stop_after is None else min(len(lines), start + stop_after)

        def body() -> Iterator[bytes]:
            sent = start
            for chunk_start in range(start, end, 2000):
                chunk_end = min(end, chunk_start + 2000)
                yield from iter_frames(lines[chunk_start:chunk_end])
                sent = chunk_end
                if progress:
                    progress(sent, len(lines))

        resp = self.http.put(
            f"/api/v1/batches/uploads/{upload_id}/lines",
            params={"start": start},
            content=body(),
            headers={"content-type": "application/vnd.bangfu.lines"},
            timeout=httpx.Timeout(60.0, read=600.0),
        )
        _raise_problem(resp)
        out: dict[str, Any] = resp.json()
        return out

    def upload(
        self, signed: SignedRecord, lines: Sequence[bytes], progress: Progress | None = None
    ) -> UploadResult:
        """Opens (or finds again) the upload and sends the lines until the server has them
        all, resuming from its held count after each network failure."""
        info = self.open(signed)
        attempts = 0
        while info["status"] == "receiving":
            attempts += 1
            try:
                if info["lines_received"] >= info["line_count"]:
                    resp = self.http.post(f"/api/v1/batches/uploads/{info['upload_id']}/finish")
                    _raise_problem(resp)
                    info = resp.json()
                else:
                    if progress:
                        progress(info["lines_received"], len(lines))
                    info = self.send_lines(
                        info["upload_id"], lines, info["lines_received"], progress
                    )
            except (httpx.TransportError, LedgerError) as exc:
                # "busy": an earlier, broken request of ours is still writing its last lines.
                retry = isinstance(exc, httpx.TransportError) or exc.code in RETRY_CODES
                if not retry or attempts > self.retries:
                    raise
                time.sleep(min(10.0, self.backoff * attempts))
                info = self.status(info["upload_id"])
        if info["status"] != "accepted":
            raise BatchError(
                info.get("error") or f"the upload ended {info['status']}",
                code=info.get("error_code") or "upload_refused",
            )
        return UploadResult(
            info["upload_id"],
            info["batch_id"],
            info["status"],
            info["line_count"],
            info["lines_received"],
            attempts,
        )

    def record_status(self, record_id: str) -> dict[str, Any]:
        resp = self.http.get("/api/v1/records/status", params={"ids": [record_id]})
        _raise_problem(resp)
        out: dict[str, Any] = resp.json()[0]
        return out


def api_problems(
    parsed: ParsedFile, commitments: dict[str, Any], signer: str | None = None
) -> list[LineProblem]:
    """Problems only the server's data shows: unknown commitments, commitments of another
    organization, and the first line that takes a commitment past what is left of it."""
    problems: list[LineProblem] = []
    running: dict[str, int] = {}
    reported: set[str] = set()
    for line, number in zip(parsed.lines, parsed.line_numbers, strict=True):
        cid = "0x" + line.commitment_id.hex()
        if cid in reported:
            continue
        info = commitments.get(cid)
        if info is None:
            reported.add(cid)
            problems.append(
                LineProblem(
                    number,
                    "UnknownCommitment",
                    f"no commitment {cid} is recorded; check the id",
                    "commitment_id",
                )
            )
            continue
        if signer is not None and str(info["org"]).lower() != signer.lower():
            reported.add(cid)
            problems.append(
                LineProblem(
                    number,
                    "NotCommitmentOwner",
                    f"commitment {cid} belongs to {info['org']}, not to the signing key",
                    "commitment_id",
                )
            )
            continue
        running[cid] = running.get(cid, 0) + line.quantity
        left = int(info["committed"]) - int(info["delivered"])
        if running[cid] > left:
            reported.add(cid)
            problems.append(
                LineProblem(
                    number,
                    "OverDelivery",
                    f"this line takes commitment {cid} to {running[cid]}, more than the {left} "
                    "left of it",
                    "quantity",
                )
            )
    return problems
