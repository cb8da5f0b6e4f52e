"""`bangfu run` (chain, deploy, workers and API together), `bangfu relayer`, `bangfu indexer`."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

import typer
from rich.console import Console

from ledger.chain import LocalChain
from ledger.commands.core import ensure_deployed
from ledger.config import get_settings
from ledger.indexer import Indexer
from ledger.relayer import RelayWorker
from ledger.service import LedgerService

NAME = ""
out = Console()
app = typer.Typer()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@app.command("relayer")
def relayer_cmd() -> None:
    """运行中继 Run the relayer: send outbox records until confirmed (Ctrl-C stops)."""
    _logging()
    service = LedgerService()
    service.db.migrate()
    s = service.settings
    worker = RelayWorker(
        service.db,
        service.ledger(),
        service.relayer_accounts(),
        confirmations=s.confirmations,
        batch_size=s.relayer_batch_size,
        gas_margin=s.relayer_gas_margin,
        stuck_after=s.relayer_stuck_after,
    )
    worker.run_forever(_stop_on_signals(), poll=s.poll_interval)


@app.command("indexer")
def indexer_cmd() -> None:
    """运行索引 Run the indexer: chain events → SQL read model (Ctrl-C stops)."""
    _logging()
    service = LedgerService()
    service.db.migrate()
    s = service.settings
    indexer = Indexer(
        service.db, service.ledger(), confirmations=s.confirmations, block_range=s.indexer_range
    )
    indexer.run_forever(_stop_on_signals(), poll=s.poll_interval)


@app.command("checkpointer")
def checkpointer_cmd() -> None:
    """签署检查点 Sign C2SP checkpoints of the log at an interval and collect witnesses'
    cosignatures (Ctrl-C stops)."""
    from ledger.checkpoints_service import run_checkpointer

    _logging()
    service = LedgerService()
    service.db.migrate()
    run_checkpointer(_stop_on_signals(), service, service.settings.checkpoint_interval)


@app.command("run")
def run_cmd(
    no_chain: bool = typer.Option(False, help="不启动本地链 do not start the local anvil"),
) -> None:
    """一键运行 Start the local chain, deploy if needed, run the workers and the API."""
    settings = get_settings()
    if not settings.rpc_url and not no_chain:
        chain = LocalChain.from_settings(settings)
        pid = chain.up()
        out.print(f"本地链 local chain: {chain.cfg.rpc_url} (pid {pid}, state {chain.state_file})")
    deployment = ensure_deployed()
    out.print(f"合约 AidLedger: {deployment.address} on chain {deployment.chain_id}")
    LedgerService(settings).db.migrate()
    exe = sys.executable
    procs = {
        "relayer": subprocess.Popen([exe, "-m", "ledger.cli", "relayer"]),
        "indexer": subprocess.Popen([exe, "-m", "ledger.cli", "indexer"]),
        "checkpointer": subprocess.Popen([exe, "-m", "ledger.cli", "checkpointer"]),
        "api": subprocess.Popen(
            [
                exe,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                "--log-level",
                "warning",
                # Query strings of up to 500 record ids (GET /api/v1/records/status) pass
                # h11's default 16 KiB limit on a request head (api.app says why).
                "--h11-max-incomplete-event-size",
                "131072",
            ]
        ),
    }
    base = f"http://{settings.api_host}:{settings.api_port}"
    out.print(
        f"\n[bold green]帮扶链已运行 Bangfu Ledger is running[/]\n"
        f"  公开门户 portal:      {base}/\n"
        f"  接口文档 API docs:    {base}/docs\n"
        f"  就绪检查 readiness:   {base}/readyz\n"
        f"  示例数据 demo data:   bangfu demo   (in another terminal)\n"
        f"Ctrl-C 停止 stops the workers and the API; `bangfu chain down` stops the chain."
    )
    stop = _stop_on_signals()
    try:
        while not stop.is_set():
            for name, proc in procs.items():
                if proc.poll() is not None:
                    out.print(f"[red]{name} exited with {proc.returncode}[/]")
                    stop.set()
            stop.wait(1)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
