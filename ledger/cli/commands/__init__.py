"""Command groups of the `bangfu` CLI, one module each (loaded by ledger.cli.main on use).

`COMMANDS` names every top-level command and group with the module of this package that
defines it and the line `bangfu --help` shows for it, so that the top level lists them
without importing any of their modules (web3, SQLAlchemy, the audit...): `bangfu --help`
starts in a fraction of a second and a command imports only what it needs. A module with
`NAME = "x"` is the group `x`; one with `NAME = ""` adds its commands at the top level.
tests/cli/test_lazy_cli.py holds this table equal to what the modules define; a group
module makes its Typer with `group_app`, which takes the group's help from this table.
"""

from __future__ import annotations

import typer

#: name → (module in this package, the first paragraph of its help), in `--help` order.
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": (
        "audit",
        "独立审计 Audit the ledger from the chain alone: bytecode, signatures, roles, log "
        "roots, totals, the database and evidence files. Exit 0 clean, 1 integrity findings, "
        "2 anomalies (with --strict).",
    ),
    "keygen": ("client", "生成签名密钥 Make a new signing key, encrypted with a password."),
    "submit": ("client", "签名并提交记录 Sign records with your key and submit them."),
    "status": (
        "client",
        "查询记录状态 Show where submitted records are: queued, sent, confirmed or failed.",
    ),
    "query": ("client", "公开查询 List public records, newest first."),
    "totals": (
        "client",
        "汇总 Committed, delivered and confirmed amounts (funds in fen, services in hours).",
    ),
    "compile": ("core", "编译合约 Compile contracts/ with the pinned solc (cached under build/)."),
    "deploy": (
        "core",
        "部署合约 Deploy AidLedger (if not yet deployed) and write var/deployment.json.",
    ),
    "demo": (
        "demo",
        "演示数据 Fill the dev ledger through the API with a synthetic province (贵州, 52); "
        "rerun it safely: it adds only what is missing.",
    ),
    "rebuild": (
        "rebuild",
        "从链重建 Rebuild the read model from chain events alone into another database.",
    ),
    "recover": (
        "recover",
        "恢复 Report what a rollback or rewritten history lost; optionally accept it and re-send.",
    ),
    "report": (
        "report",
        "生成定期报告 Periodic report: report.pdf, report.html, figures (CSV, XLSX), provenance.",
    ),
    "indicators": ("report", "社会组织评价指标 An organization's evaluation indicators, as JSON."),
    "relayer": (
        "run",
        "运行中继 Run the relayer: send outbox records until confirmed (Ctrl-C stops).",
    ),
    "indexer": ("run", "运行索引 Run the indexer: chain events → SQL read model (Ctrl-C stops)."),
    "checkpointer": (
        "run",
        "签署检查点 Sign C2SP checkpoints of the log at an interval and collect witnesses' "
        "cosignatures (Ctrl-C stops).",
    ),
    "run": (
        "run",
        "一键运行 Start the local chain, deploy if needed, and run the workers and the API, "
        "each restarted with backoff if it dies.",
    ),
    "verify": (
        "verify",
        "核验证明 Verify a proof bundle and its signer; OK only against a trust anchor.",
    ),
    "batch": (
        "batch",
        "批量交付 Bulk deliveries: 模板 template, 检查 check, 签名上传 sign and upload.",
    ),
    "chain": ("chain", "本地链 Local chain (anvil from node_modules); 链检测 probe any node."),
    "checkpoint": ("checkpoint", "检查点 Signed checkpoints of the log."),
    "register": ("core", "登记角色 Register signing keys (civil-affairs admin only)."),
    "custodial": (
        "custodial",
        "托管签名（默认关闭）Custodial signing, off by default: the server holds the key.",
    ),
    "export": ("export", "导出 Exports: IATI 2.03 XML and CSV of every record kind."),
    "library": ("library", "项目库 Needs and supply project libraries."),
    "org": ("org", "社会组织 Organizations: the signed profile."),
    # programs (issue 18)
    "pairing": (
        "pairing",
        "结对帮扶 Pairings with counties: propose, accept, cite; progress and oversight.",
    ),
    "fund": ("fund", "专项基金 Special funds: open, record money received, draw on, show."),
    "follow-up": (
        "followup",
        "回访 Household follow-up: the province's rate, rounds on delivery batches drawn from "
        "a future block hash, and the county's signed results.",
    ),
    "witness": ("witness", "见证人 Witness: cosign checkpoints that extend what it saw before."),
    "grievance": (
        "grievance",
        "申诉 Grievances: file one (no account), read them; a county registers and answers.",
    ),
}


def group_app(name: str, *, no_args_is_help: bool = True) -> typer.Typer:
    """The Typer of the command group `name`, with its help from `COMMANDS`: the line
    `bangfu --help` lists and the one `bangfu <name> --help` starts with are one text."""
    return typer.Typer(help=COMMANDS[name][1], no_args_is_help=no_args_is_help)
