#!/usr/bin/env python3
"""Benchmark bulk deliveries end to end against the per-record path, and the API's peak
memory during a 1M-line upload. Prints a markdown table (docs/batches.md has the results).

    .venv/bin/python scripts/bench_batch.py [--sizes 1000,10000,100000] [--records 2000]
        [--memory-lines 1000000] [--database-url postgresql://...]

Everything is real: a private anvil (1 s blocks, 300M gas), the API under uvicorn, the
relayer and the indexer as separate processes, SQLite (default) or PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import (  # noqa: E402
    cpu_seconds,
    deploy_registered,
    free_port,
    private_chain,
    scratch,
    stop_process,
)

from ledger.batches.build import batch_id_for  # noqa: E402
from ledger.batches.tree import lines_root  # noqa: E402
from ledger.batches.wire import iter_frames  # noqa: E402
from ledger.config import PROJECT_ROOT, Settings  # noqa: E402
from ledger.core.aid_kinds import Delivery, DeliveryBatch  # noqa: E402
from ledger.core.eip712 import Domain  # noqa: E402
from ledger.core.lines import DeliveryLine, new_id  # noqa: E402
from ledger.evm.localchain import load_localchain  # noqa: E402
from ledger.evm.node import LocalChain  # noqa: E402
from ledger.sdk.batch_client import BatchClient  # noqa: E402
from ledger.store.db import Database  # noqa: E402
from tests.factories import need_with_commitments  # noqa: E402

COUNTY = 522327
ORG_CODE = "91520000MA6DKTQX0C"


def settings_for(tmp: Path, database_url: str | None) -> tuple[Settings, dict[str, str]]:
    return private_chain(tmp, database_url, poll_interval=0.1)


class Procs:
    """The API, relayer and indexer as child processes (ended by their own pids)."""

    def __init__(self, env: dict[str, str], api_port: int) -> None:
        self.env = {**os.environ, **env}
        self.api_port = api_port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        exe = sys.executable
        cmd = {
            "api": [
                exe, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
                "--port", str(self.api_port), "--log-level", "warning",
            ],
            "relayer": [exe, "-m", "ledger.cli", "relayer"],
            "indexer": [exe, "-m", "ledger.cli", "indexer"],
        }[name]  # fmt: skip
        log = open(Path(self.env["BANGFU_VAR"]) / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def revive(self) -> None:
        """Restarts a worker that exited (the indexer stops on a failed root check)."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                print(f"{name} exited ({proc.returncode}); restarting", file=sys.stderr)
                self.start(name)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {timeout}s")


def vm_hwm_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return float("nan")


WHEN = int(time.time()) - 3600


def gen_lines(commitment: bytes, n: int, salt: bytes) -> Iterator[bytes]:
    """Deterministic line bytes, so a 1M-line batch is made twice instead of held."""
    when = WHEN
    for i in range(n):
        ben = hashlib.sha256(salt + i.to_bytes(8, "big")).digest()
        yield DeliveryLine(commitment, "大米 rice", 1, "斤", when, ben, bytes(32)).line_bytes()


def signed_batch(
    commitment: bytes,
    n: int,
    salt: bytes,
    org: LocalAccount,
    domain: Domain,
    lines: list[bytes] | None = None,
) -> tuple[object, bytes]:
    """The signed DeliveryBatch of the lines (made again from the salt unless given)."""
    wire = lines if lines is not None else gen_lines(commitment, n, salt)
    root = lines_root(wire)
    record = DeliveryBatch(
        id=batch_id_for(org.address, root, bytes(32)),
        commitment_ids=(commitment,),
        quantities=(n,),
        line_count=n,
        batch_root=root,
    )
    return record.sign(org.key, domain), root


def wait_queryable(
    http: httpx.Client, record_ids: list[str], procs: Procs, timeout: float = 900
) -> None:
    """Waits until every record is confirmed and the last one's block is indexed."""
    deadline = time.monotonic() + timeout
    last: tuple[int, str] | None = None
    while last is None and time.monotonic() < deadline:
        statuses = []
        for i in range(0, len(record_ids), 100):
            resp = http.get("/api/v1/records/status", params={"ids": record_ids[i : i + 100]})
            statuses += resp.json()
        if all(s["status"] == "unknown" for s in statuses):  # not relayed by us: ask directly
            pending = [
                r for r in record_ids if http.get(f"/api/v1/public/record/{r}").status_code != 200
            ]
            if not pending:
                return
        elif all(s["status"] == "confirmed" for s in statuses):
            last = max((s["block_number"], s["record_id"]) for s in statuses)
            break
        procs.revive()
        time.sleep(0.1)
    while last is not None and time.monotonic() < deadline:
        if http.get(f"/api/v1/public/record/{last[1]}").status_code == 200:
            return
        procs.revive()
        time.sleep(0.05)
    raise SystemExit(f"records not queryable after {timeout}s")


def upload_batch(
    client: BatchClient, signed: object, commitment: bytes, n: int, salt: bytes
) -> dict[str, object]:
    from ledger.core.records import SignedRecord

    assert isinstance(signed, SignedRecord)
    info = client.open(signed)
    resp = client.http.put(
        f"/api/v1/batches/uploads/{info['upload_id']}/lines",
        content=iter_frames(gen_lines(commitment, n, salt), chunk=1 << 18),
        headers={"content-type": "application/vnd.bangfu.lines"},
        timeout=httpx.Timeout(60.0, read=3600.0),
    )
    resp.raise_for_status()
    out: dict[str, object] = resp.json()
    if out["status"] != "accepted":
        raise SystemExit(f"upload not accepted: {out}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--memory-lines", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = ap.parse_args()
    with scratch("bench-batch-", keep=args.keep) as tmp:
        return run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> int:
    """One run in the folder `tmp` (removed afterwards unless kept)."""
    sizes = [int(s) for s in args.sizes.split(",") if s]
    settings, env = settings_for(tmp, args.database_url)
    chain = LocalChain(load_localchain(settings), settings)
    chain.up()
    api_port = free_port()
    procs = Procs(env, api_port)
    rows: list[tuple[str, ...]] = []
    try:
        ledger, accts = deploy_registered(settings, chain, COUNTY, ORG_CODE)
        admin, county, org = accts[0], accts[1], accts[3]
        deployment = ledger.deployment
        domain = deployment.domain
        quantities = [*sizes, args.records, args.memory_lines or 1]
        print(f"setup: chain + {len(quantities)} commitments ...", file=sys.stderr)
        cids = need_with_commitments(
            ledger, domain, county, org, admin, quantities,
            category=10, title="民生保障 benchmark need", days=365,
        )  # fmt: skip

        # Migrate once here: three processes migrating a fresh database at once would race.
        Database(settings=settings).migrate()
        for name in ("api", "relayer", "indexer"):
            procs.start(name)
        base = f"http://127.0.0.1:{api_port}"
        wait_http(base + "/healthz", timeout=300)  # a loaded machine imports slowly
        http = httpx.Client(base_url=base, timeout=60)
        client = BatchClient(http)
        # The indexer must have seen the roles and commitments before the relayer's checks.
        wait_queryable(http, ["0x" + c.hex() for c in cids], procs)

        best = 0.0
        for n, cid in zip(sizes, cids, strict=False):
            salt = os.urandom(8)
            # An organization's system holds its lines (BatchClient.upload takes them as a
            # list): they are made once, hashed into the signed root, then sent as they are.
            # Making this benchmark's lines is not the ledger's work: it is timed apart (the
            # last column), and "total" runs from building the tree and signing, as above.
            made = time.perf_counter()
            lines = list(gen_lines(cid, n, salt))
            t0 = time.perf_counter()
            made = t0 - made
            signed, _ = signed_batch(cid, n, salt, org, domain, lines)
            t1 = time.perf_counter()
            api_cpu = cpu_seconds(procs.procs["api"].pid)
            result = client.upload(signed, lines)  # type: ignore[arg-type]
            if result.status != "accepted":
                raise SystemExit(f"upload not accepted: {result}")
            t2 = time.perf_counter()
            api_cpu = cpu_seconds(procs.procs["api"].pid) - api_cpu
            wait_queryable(http, ["0x" + signed.id.hex()], procs)  # type: ignore[attr-defined]
            t3 = time.perf_counter()
            rate = n / (t3 - t0)
            best = max(best, rate)
            rows.append(
                (
                    f"batch of {n:,} lines",
                    f"{t1 - t0:.2f} + {t2 - t1:.2f} + {t3 - t2:.2f}",
                    f"{t3 - t0:.2f}",
                    f"{rate:,.0f} lines/s",
                    "",
                    f"{api_cpu:.2f}",
                    f"{made:.2f}",
                )
            )
            print(rows[-1], file=sys.stderr)

        # The per-record path: one signed Delivery per API request, relayed and indexed.
        cid = cids[len(sizes)]
        when = int(time.time()) - 3600
        t0 = time.perf_counter()
        ids = []
        for _ in range(args.records):
            d = Delivery(
                id=new_id(org.address),
                commitment_id=cid,
                quantity=1,
                delivered_at=when,
                evidence_hash=bytes(32),
                beneficiary_count=1,
                beneficiary_root=os.urandom(32),
            ).sign(org.key, domain)
            body = d.to_json()
            body.pop("signer")
            resp = http.post("/api/v1/records", json={"records": [body]})
            resp.raise_for_status()
            ids.append("0x" + d.id.hex())
        t1 = time.perf_counter()
        wait_queryable(http, ids, procs)
        t2 = time.perf_counter()
        single = args.records / (t2 - t0)
        rows.append(
            (
                f"{args.records:,} single Delivery records",
                f"{t1 - t0:.2f} (API) + {t2 - t1:.2f}",
                f"{t2 - t0:.2f}",
                f"{single:,.0f} records/s",
                "",
            )
        )
        rows.append(("best batch ÷ per-record", "", "", f"{best / single:,.0f}×", "≥ 20×"))

        if args.memory_lines:
            # A fresh API process, so VmHWM is the peak of this upload alone.
            procs.stop("api")
            procs.start("api")
            wait_http(base + "/healthz", timeout=300)  # a loaded machine imports slowly
            n = args.memory_lines
            cid = cids[-1]
            salt = os.urandom(8)
            signed, _ = signed_batch(cid, n, salt, org, domain)
            t0 = time.perf_counter()
            upload_batch(client, signed, cid, n, salt)
            t1 = time.perf_counter()
            peak = vm_hwm_mb(procs.procs["api"].pid)
            rows.append(
                (
                    f"API peak RSS, {n:,}-line upload",
                    f"upload+accept {t1 - t0:.1f} s ({n / (t1 - t0):,.0f} lines/s)",
                    "",
                    f"{peak:,.0f} MB",
                    "< 500 MB",
                )
            )
        http.close()
    finally:
        procs.stop_all()
        chain.down()

    db = "PostgreSQL" if args.database_url else "SQLite"
    if procs.restarts:
        print(f"worker restarts during the run: {procs.restarts}", file=sys.stderr)
    print(f"\n{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {db}")
    print(
        "\n| what | prepare+sign + upload + to indexed (s) | total (s) | result | target "
        "| API CPU s in the upload | lines made (s, not in total) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join((*r, "", "", "")[:7]) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
