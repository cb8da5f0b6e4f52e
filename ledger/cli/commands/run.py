"""`bangfu run` (chain, deploy, supervised workers and API together), `bangfu relayer`,
`bangfu indexer`, `bangfu checkpointer`."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import requests
import typer
from rich.console import Console

from ledger.app import LedgerService
from ledger.cli.commands.core import ensure_deployed
from ledger.config import CHAIN_PROFILE_SETTINGS, Settings, get_settings
from ledger.evm.node import LocalChain
from ledger.indexer.worker import Indexer
from ledger.relayer.worker import RelayWorker
from ledger.supervisor import Heartbeat, Supervisor, beat_path
from ledger.tlog.checkpointer import run_checkpointer

NAME = ""
out = Console()
app = typer.Typer()


def _stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    stop = stop or threading.Event()

    def handler(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _heartbeat(settings: Settings, name: str) -> threading.Event:
    """The worker's stop event, which also beats var/workers/<name>.beat for /readyz."""
    return _stop_on_signals(Heartbeat(beat_path(settings.var_dir, name)))


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _worker_service() -> LedgerService:
    """A worker's start: logging on, the service built and its database migrated."""
    _logging()
    service = LedgerService()
    service.db.migrate()
    return service


@app.command("relayer")
def relayer_cmd() -> None:
    """运行中继 Run the relayer: send outbox records until confirmed (Ctrl-C stops)."""
    service = _worker_service()
    s = service.settings
    senders = service.relayer_accounts()
    wanted = CHAIN_PROFILE_SETTINGS.get(s.chain_profile or "", {}).get("accounts", 1)
    if len(senders) < wanted:
        logging.getLogger("bangfu.relayer").warning(
            "BANGFU_CHAIN_PROFILE=%s rotates %d sender accounts, BANGFU_RELAYER_KEY has %d: "
            "a per-sender pending limit caps the relayer",
            s.chain_profile,
            wanted,
            len(senders),
        )
    worker = RelayWorker(
        service.db,
        service.ledger(),
        senders,
        confirmations=s.confirmations,
        batch_size=s.relayer_batch_size,
        gas_margin=s.relayer_gas_margin,
        stuck_after=s.relayer_stuck_after,
        gas_model=s.gas_model,
    )
    worker.run_forever(_heartbeat(s, "relayer"), poll=s.poll_interval)


@app.command("indexer")
def indexer_cmd() -> None:
    """运行索引 Run the indexer: chain events → SQL read model (Ctrl-C stops)."""
    service = _worker_service()
    s = service.settings
    indexer = Indexer(
        service.db, service.ledger(), confirmations=s.confirmations, block_range=s.indexer_range
    )
    indexer.run_forever(_heartbeat(s, "indexer"), poll=s.poll_interval)


@app.command("checkpointer")
def checkpointer_cmd() -> None:
    """签署检查点 Sign C2SP checkpoints of the log at an interval and collect witnesses'
    cosignatures (Ctrl-C stops)."""
    service = _worker_service()
    s = service.settings
    run_checkpointer(_heartbeat(s, "checkpointer"), service, s.checkpoint_interval)


def _api_answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@app.command("run")
def run_cmd(
    no_chain: bool = typer.Option(False, help="不启动本地链 do not start the local anvil"),
) -> None:
    """一键运行 Start the local chain, deploy if needed, and run the workers and the API,
    each restarted with backoff if it dies."""
    _logging()
    settings = get_settings()
    chain: LocalChain | None = None
    chain_pid: int | None = None
    if not settings.rpc_url and not no_chain:
        chain = LocalChain.from_settings(settings)
        chain_pid, recovery = chain.start()
        if recovery is not None and recovery.message:
            out.print(f"[yellow]{recovery.message}[/]", soft_wrap=True)
        out.print(
            f"本地链 local chain: {chain.cfg.rpc_url} (pid {chain_pid}, state {chain.state_file})"
        )
    deployment = ensure_deployed()
    out.print(f"合约 AidLedger: {deployment.address} on chain {deployment.chain_id}")
    LedgerService(settings).db.migrate()
    exe = sys.executable
    base = f"http://{settings.api_host}:{settings.api_port}"
    workers = {
        "relayer": [exe, "-m", "ledger.cli", "relayer"],
        "indexer": [exe, "-m", "ledger.cli", "indexer"],
        "checkpointer": [exe, "-m", "ledger.cli", "checkpointer"],
        "api": [
            exe, "-m", "uvicorn", "--factory", "api.app:create_app",
            "--host", settings.api_host, "--port", str(settings.api_port),
            "--log-level", "warning",
            # Query strings of up to 500 record ids (GET /api/v1/records/status) pass
            # h11's default 16 KiB limit on a request head (api.app says why).
            "--h11-max-incomplete-event-size", "131072",
        ],
    }  # fmt: skip
    supervisor = Supervisor(
        settings.var_dir,
        workers,
        probes={"chain": chain.answers} if chain is not None else None,
        restarters={"chain": chain.up} if chain is not None else None,
        beats={"api": lambda: _api_answers(base)},
    )
    if chain is not None:
        supervisor.probed["chain"].pid = chain_pid
    out.print(
        f"\n[bold green]帮扶链已运行 Bangfu Ledger is running[/]\n"
        f"  公开门户 portal:      {base}/\n"
        f"  工作台 workspaces:    {base}/workspace   (keys: bangfu keygen; docs/workspaces.md)\n"
        f"  接口文档 API docs:    {base}/docs\n"
        f"  就绪检查 readiness:   {base}/readyz\n"
        f"  示例数据 demo data:   bangfu demo   (in another terminal)\n"
        f"A worker that dies is restarted (see /readyz → workers). "
        f"Ctrl-C 停止 stops the workers and the API; `bangfu chain down` stops the chain."
    )
    supervisor.run(_stop_on_signals())
