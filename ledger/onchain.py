"""A typed handle on a deployed AidLedger: roles, record submission, log views, and
contract errors decoded to their names (`OverDelivery(commitmentId, committed, …)`).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import BlockIdentifier

from ledger.chain import Deployment, ledger_contract, send_transaction
from ledger.compiler import Artifact, compile_contracts
from ledger.errors import RecordError
from ledger.records import SUBMIT_FUNCTION, SignedRecord

MULTICALL_SELECTOR = keccak(text="multicall(bytes[])")[:4]


def error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector → (error name, argument types) for every custom error in the ABI."""
    out: dict[bytes, tuple[str, list[str]]] = {}
    for item in abi:
        if item.get("type") == "error":
            types = [i["type"] for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            out[keccak(text=sig)[:4]] = (item["name"], types)
    return out


def decode_revert(abi: list[dict[str, Any]], data: bytes | str | None) -> tuple[str, list[Any]]:
    """The custom error's name and arguments from revert data, or ("Reverted", [])."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    if not data or len(data) < 4:
        return "Reverted", []
    known = error_selectors(abi)
    if data[:4] not in known:
        return "Reverted", [data.hex()]
    name, types = known[data[:4]]
    try:
        args = list(abi_decode(types, data[4:]))
    except Exception:  # noqa: BLE001
        args = []
    return name, [
        to_checksum_address(a)
        if t == "address"
        else ("0x" + a.hex())
        if isinstance(a, bytes)
        else a
        for t, a in zip(types, args, strict=False)
    ]


def revert_error(abi: list[dict[str, Any]], exc: Exception) -> RecordError:
    """A RecordError whose code is the contract's custom error name, e.g. `RecordIdUsed`."""
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None and exc.args:
        data = exc.args[-1] if isinstance(exc.args[-1], str | bytes) else None
    name, args = decode_revert(abi, data if isinstance(data, str | bytes) else None)
    message = f"the contract refused the record: {name}({', '.join(map(str, args))})"
    return RecordError(message, code=name, args=[str(a) for a in args])


class LedgerContract:
    """AidLedger at one address, with calls that raise named errors."""

    def __init__(self, w3: Web3, deployment: Deployment, artifact: Artifact | None = None):
        self.w3 = w3
        self.deployment = deployment
        self.artifact = artifact or compile_contracts()
        self.contract: Contract = ledger_contract(w3, deployment.address, self.artifact)

    @property
    def abi(self) -> list[dict[str, Any]]:
        return self.artifact.abi

    def role(self, name: str) -> bytes:
        return keccak(text=name)

    # ---- administration -------------------------------------------------------
    def _admin_tx(self, admin: LocalAccount, fn: Any) -> Any:
        try:
            tx = fn.build_transaction({"from": admin.address})
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.abi, exc) from None
        return send_transaction(self.w3, admin, dict(tx))

    def register_county(self, admin: LocalAccount, account: str, county: int) -> Any:
        return self._admin_tx(
            admin, self.contract.functions.registerCounty(Web3.to_checksum_address(account), county)
        )

    def register_organization(self, admin: LocalAccount, account: str, org_code: str) -> Any:
        code = org_code.encode("ascii").ljust(32, b"\0")
        return self._admin_tx(
            admin,
            self.contract.functions.registerOrganization(Web3.to_checksum_address(account), code),
        )

    def register_auditor(self, admin: LocalAccount, account: str) -> Any:
        return self._admin_tx(
            admin, self.contract.functions.registerAuditor(Web3.to_checksum_address(account))
        )

    def revoke(self, admin: LocalAccount, role: str, account: str) -> Any:
        return self._admin_tx(
            admin,
            self.contract.functions.revokeRole(self.role(role), Web3.to_checksum_address(account)),
        )

    # ---- records ----------------------------------------------------------------
    def submit_call(self, signed: SignedRecord) -> Any:
        """The contract function call that submits `signed` (not yet sent)."""
        fn = getattr(self.contract.functions, SUBMIT_FUNCTION[signed.kind])
        return fn(signed.record.call_args(), signed.signature)

    def submit_calldata(self, signed: SignedRecord) -> bytes:
        """Calldata of the submit function for `signed`, encoded directly with eth_abi
        (web3's contract encoder is ~50x slower and this is the relayer's hot path)."""
        rtype = type(signed.record)
        tuple_type = rtype.tuple_type()
        selector = keccak(text=f"{SUBMIT_FUNCTION[signed.kind]}({tuple_type},bytes)")[:4]
        return selector + abi_encode(
            [tuple_type, "bytes"], [signed.record.values(), signed.signature]
        )

    def multicall_data(self, calls: list[bytes]) -> bytes:
        """Calldata of `multicall(bytes[])` (OpenZeppelin Multicall) over submit calls."""
        return MULTICALL_SELECTOR + abi_encode(["bytes[]"], [calls])

    def multicall_tx(self, sender: str, calls: list[bytes]) -> dict[str, Any]:
        return {"from": sender, "to": self.contract.address, "data": self.multicall_data(calls)}

    def check(self, signed: SignedRecord, *, block: BlockIdentifier = "latest") -> None:
        """Simulates the submission (eth_call); raises the contract's named error if refused."""
        try:
            self.submit_call(signed).call(block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.abi, exc) from None

    def submit(self, signed: SignedRecord, payer: LocalAccount) -> Any:
        """Checks, then sends one record in its own transaction and waits for the receipt."""
        self.check(signed)
        tx = self.submit_call(signed).build_transaction({"from": payer.address})
        return send_transaction(self.w3, payer, dict(tx))

    # ---- views --------------------------------------------------------------------
    def log_size(self, block: BlockIdentifier = "latest") -> int:
        return int(self.contract.functions.logSize().call(block_identifier=block))

    def log_root(self, block: BlockIdentifier = "latest") -> bytes:
        return bytes(self.contract.functions.logRoot().call(block_identifier=block))

    def log_state(self, block: BlockIdentifier = "latest") -> tuple[int, bytes]:
        """`logSize()` and `logRoot()` read in ONE eth_call (a multicall), so both come from
        the same state even on a node that serves historical state unevenly."""
        calls = [keccak(text="logSize()")[:4], keccak(text="logRoot()")[:4]]
        raw = self.w3.eth.call(
            {"to": self.contract.address, "data": self.multicall_data(calls)},
            block_identifier=block,
        )
        (results,) = abi_decode(["bytes[]"], bytes(raw))
        return int.from_bytes(results[0], "big"), bytes(results[1])

    def record_kind(self, record_id: bytes) -> int:
        return int(self.contract.functions.recordKind(record_id).call())

    def commitment_totals(self, commitment_id: bytes) -> tuple[int, int, int]:
        a, b, c = self.contract.functions.commitmentTotals(commitment_id).call()
        return int(a), int(b), int(c)

    def county_of(self, account: str) -> int:
        return int(self.contract.functions.countyOf(Web3.to_checksum_address(account)).call())

    def has_role(self, role: str, account: str, block: BlockIdentifier = "latest") -> bool:
        return bool(
            self.contract.functions.hasRole(
                self.role(role), Web3.to_checksum_address(account)
            ).call(block_identifier=block)
        )
