"""`bangfu verify proof.json`: check a proof bundle and who signed its record, and say OK only
against a trust anchor — the chain itself (`--rpc`), a root read from it (`--root`), or a
checkpoint signed by the log key and cosigned by the configured witness quorum
(`--checkpoint`). Without one it lists what it checked and what it could not, and exits 2
(0 with `--structure-only`, which says that only the structure was checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from eth_utils import to_checksum_address
from rich.console import Console
from rich.markup import escape

from ledger.config import Settings, get_settings
from ledger.core import codes
from ledger.core.errors import LedgerError, ProofError
from ledger.core.fields import from_text32
from ledger.core.record_types import signed_from_bytes
from ledger.tlog.checkpointer import origin_for
from ledger.tlog.client import TrustPolicy, verify_checkpoint
from ledger.tools.proofcheck import CODE_ZH, ProofCheckError, check_against_chain, verify_bundle

NAME = ""
app = typer.Typer()
out = Console()

#: exit status when every check passes but nothing anchors the bundle to the ledger
NOT_VERIFIED = 2


def _proof_error(exc: ProofCheckError) -> ProofError:
    zh = CODE_ZH.get(exc.code, "验证失败")
    return ProofError(f"{zh} / {exc}", code=exc.code)


def _read_note(source: str) -> str:
    """A signed checkpoint note from a file, or from an http(s) URL."""
    try:
        if source.startswith(("http://", "https://")):
            r = httpx.get(source, timeout=30)
            if r.status_code != 200:
                raise ProofError(
                    f"无法获取检查点 / {source} answered {r.status_code}", code=codes.NO_CHECKPOINT
                )
            return r.text
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, httpx.HTTPError) as exc:
        raise ProofError(
            f"无法读取检查点 / cannot read the checkpoint {source}: {exc}", code=codes.NO_CHECKPOINT
        ) from None


def checkpoint_policy(settings: Settings, log_key: str | None) -> TrustPolicy:
    key = log_key or settings.checkpoint_log_key
    if not key:
        raise ProofError(
            "未配置日志公钥 / no log key to check the checkpoint with: pass --log-key or set "
            "BANGFU_CHECKPOINT_LOG_KEY (the server publishes it at /api/v1/log/key)",
            code=codes.NO_LOG_KEY,
        )
    return TrustPolicy.from_texts(key, settings.witness_keys, settings.witness_quorum)


def verify_file(
    path: Path,
    root: str | None = None,
    rpc: str | None = None,
    contract: str | None = None,
    *,
    size: int | None = None,
    checkpoint: str | None = None,
    log_key: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Checks the bundle's proofs (the stdlib verifier), the record's EIP-712 signature, and
    every trust anchor given; `summary["verdict"]` is "ok" only if at least one was given."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProofError(
            f"无法读取证明包 / cannot read {path}: {exc}", code=codes.BAD_BUNDLE
        ) from None
    try:
        summary = verify_bundle(bundle)
    except ProofCheckError as exc:
        raise _proof_error(exc) from None
    checked: list[str] = summary["checked"]
    structural = len(checked)
    signed = signed_from_bytes(bytes.fromhex(bundle["record"]["bytes"].removeprefix("0x")))
    try:
        signer = signed.verify()
    except LedgerError as exc:
        raise ProofError(f"作者签名无效 / {exc.message}", code=codes.BAD_SIGNATURE) from None
    checked.append(f"作者签名 EIP-712 signature by {signer} ({signed.kind.slug})")
    not_checked = [
        "日志根 the log root: not compared with the chain or a trusted checkpoint, so this may "
        "be a self-consistent tree that someone made up"
    ]
    if contract is not None and signed.domain.verifying_contract != to_checksum_address(contract):
        raise ProofError(
            f"合约不符 / the record was signed for contract {signed.domain.verifying_contract}, "
            f"not {contract}",
            code=codes.WRONG_CONTRACT,
        )
    anchors: list[str] = []
    try:
        if rpc is not None:
            chained = check_against_chain(rpc, bundle)
            checked.extend(chained["checked"][structural:])
            summary["root_checked"] = chained["root_checked"]
            summary["chain_read"] = chained["chain_read"]
            anchors.append(f"rpc {rpc}")
        if root is not None:
            given = verify_bundle(bundle, root, size)
            checked.append(f"给定根 the given --root covers the leaf ({given['root_checked']})")
            summary["root_checked"] = given["root_checked"]
            anchors.append("--root")
        if checkpoint is not None:
            policy = checkpoint_policy(settings or get_settings(), log_key)
            cp, witnesses = verify_checkpoint(_read_note(checkpoint), policy)
            want = origin_for(signed.domain.chain_id, signed.domain.verifying_contract)
            if cp.origin != want:
                raise ProofError(
                    f"检查点不属于此日志 / the checkpoint is for {cp.origin!r}, the record's log "
                    f"is {want!r}",
                    code=codes.WRONG_ORIGIN,
                )
            anchored = verify_bundle(bundle, "0x" + cp.root.hex(), cp.size)
            checked.append(
                f"检查点 checkpoint of size {cp.size} signed by the log key, cosigned by "
                f"{', '.join(witnesses) or 'no witness'} (quorum {policy.quorum}), covers the "
                f"leaf ({anchored['root_checked']})"
            )
            summary["root_checked"] = anchored["root_checked"]
            summary["checkpoint"] = {
                "size": cp.size,
                "root": "0x" + cp.root.hex(),
                "witnesses": witnesses,
            }
            anchors.append("checkpoint")
    except ProofCheckError as exc:
        raise _proof_error(exc) from None
    if anchors:
        not_checked = []
    if rpc is None:
        not_checked.append("签名者角色 the signer's role on chain (pass --rpc)")
    summary["anchored"] = bool(anchors)
    summary["anchors"] = anchors
    summary["checked"] = checked
    summary["not_checked"] = not_checked
    summary["record"] = {
        "kind": signed.kind.slug,
        "id": "0x" + signed.id.hex(),
        "signer": signer,
        "chain_id": signed.domain.chain_id,
        "contract": signed.domain.verifying_contract,
        "fields": signed.record.to_json(),
    }
    summary["root_source"] = ", ".join(anchors) or None
    summary["verdict"] = "ok" if anchors else "not_verified"
    return summary


@app.command("verify")
def verify(
    bundle: Path = typer.Argument(..., help="证明包 a bangfu-proof/1 JSON file"),
    rpc: str | None = typer.Option(None, "--rpc", help="节点 read logRoot() and roles there"),
    root: str | None = typer.Option(None, "--root", help="日志根 a logRoot() you read yourself"),
    size: int | None = typer.Option(None, "--size", min=0, help="the log size of --root"),
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", help="检查点 a signed checkpoint note (file or URL)"
    ),
    log_key: str | None = typer.Option(
        None, "--log-key", help="日志公钥 vkey for --checkpoint (default BANGFU_CHECKPOINT_LOG_KEY)"
    ),
    contract: str | None = typer.Option(
        None, "--contract", help="合约地址 refuse a record signed for another AidLedger"
    ),
    structure_only: bool = typer.Option(
        False, "--structure-only", help="仅结构 check structure without a trust anchor"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """核验证明 Verify a proof bundle and its signer; OK only against a trust anchor."""
    summary = verify_file(
        bundle, root, rpc, contract, size=size, checkpoint=checkpoint, log_key=log_key
    )
    if not summary["anchored"] and structure_only:
        summary["verdict"] = "structure_only"
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        rec = summary["record"]
        unit = rec["fields"].get("unit")
        if isinstance(unit, str) and unit.startswith("0x"):
            rec["fields"]["unit"] = from_text32(bytes.fromhex(unit[2:]))
        verdict = {
            "ok": "[bold green]通过 OK[/]",
            "structure_only": "[bold yellow]仅结构 STRUCTURE ONLY[/]",
            "not_verified": "[bold red]未核验 NOT VERIFIED[/]",
        }[summary["verdict"]]
        out.print(f"{verdict} {rec['kind']} {rec['id']}")
        out.print(
            f"  签名者 signed by {rec['signer']} (chain {rec['chain_id']}, {rec['contract']})"
        )
        for line in summary["checked"]:
            out.print(f"  ✔ {escape(line)}")
        for line in summary["not_checked"]:
            out.print(f"  – 未检查 not checked: {escape(line)}")
        if summary["verdict"] == "structure_only":
            out.print(
                "  证明结构成立，但未对照信任锚，不能说明记录真实 / well formed, but not compared "
                "with any trust anchor: this does not show the record is genuine"
            )
        elif summary["verdict"] == "not_verified":
            out.print(
                "  没有信任锚：请加 --rpc <节点>、--root 0x… 或 --checkpoint <检查点> / no trust "
                "anchor: pass --rpc, --root or --checkpoint (or --structure-only)"
            )
    if summary["verdict"] == "not_verified":
        raise typer.Exit(NOT_VERIFIED)
