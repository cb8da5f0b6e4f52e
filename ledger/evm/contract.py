"""A typed handle on a deployed AidLedger: roles, record submission, log views, and
contract errors decoded to their names (`OverDelivery(commitmentId, committed, …)`).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import BlockIdentifier

from ledger.core.eip712 import SIGNATURE_LEN
from ledger.core.errors import RecordError
from ledger.core.fields import require_name, resolve_org_type
from ledger.core.hexes import hex0x
from ledger.core.record_types import RECORD_TYPES, TYPED_SUBMIT
from ledger.core.records import HEADER_LEN, Kind, SignedRecord
from ledger.evm.compiler import Artifact, compile_contracts
from ledger.evm.deploy import Deployment, fee_fields, ledger_contract, send_transaction

MULTICALL_SELECTOR = keccak(text="multicall(bytes[])")[:4]
SUBMIT_RECORD_SELECTOR = keccak(text="submitRecord(uint8,bytes,bytes)")[:4]


def _typed_selector(kind: Kind) -> bytes:
    tuple_type = RECORD_TYPES[kind].tuple_type()
    return keccak(text=f"{TYPED_SUBMIT[kind]}({tuple_type},bytes)")[:4]


#: Per kind with a typed submit function: its selector, and whether its struct is dynamic
#: (a string or an array among its fields: then `abi.encode` puts it behind an offset).
_TYPED: dict[int, tuple[bytes, bool]] = {
    int(kind): (
        _typed_selector(kind),
        any(t == "string" or t.endswith("[]") for _, t in RECORD_TYPES[kind].SCHEMA),
    )
    for kind in TYPED_SUBMIT
}


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _bytes_tail(data: bytes) -> bytes:
    """A `bytes` value's tail: its length, then the bytes padded to whole words."""
    return _word(len(data)) + data + b"\x00" * (-len(data) % 32)


def submit_calldata_of(data: bytes) -> bytes:
    """Calldata of the submit function for the canonical record bytes `data`, cut from them
    word by word (no decoding, no eth_abi: the relayer's hot path). The struct's ABI bytes
    are in the record bytes already; only the call's own offsets are added.
    tests/evm/test_calldata.py holds it equal to eth_abi for every kind."""
    kind = data[1]
    struct, signature = data[HEADER_LEN:-SIGNATURE_LEN], data[-SIGNATURE_LEN:]
    typed = _TYPED.get(kind)
    if typed is None:  # submitRecord(uint8 kind, bytes data, bytes signature)
        body = _bytes_tail(struct)
        return (
            SUBMIT_RECORD_SELECTOR
            + _word(kind)
            + _word(96)
            + _word(96 + len(body))
            + body
            + _bytes_tail(signature)
        )
    selector, dynamic = typed
    if not dynamic:  # submitX(struct, bytes): the struct's words inline, then the offset
        return selector + struct + _word(len(struct) + 32) + _bytes_tail(signature)
    inner = struct[32:]  # abi.encode of a dynamic struct starts with its offset, 0x20
    return selector + _word(64) + _word(64 + len(inner)) + inner + _bytes_tail(signature)


def multicall_calldata(calls: list[bytes]) -> bytes:
    """Calldata of `multicall(bytes[])` over `calls`, word by word (as eth_abi encodes it:
    the array's offset, its length, an offset per element, then each element's tail)."""
    tails = [_bytes_tail(c) for c in calls]
    heads: list[bytes] = []
    at = 32 * len(calls)
    for tail in tails:
        heads.append(_word(at))
        at += len(tail)
    return MULTICALL_SELECTOR + _word(32) + _word(len(calls)) + b"".join(heads) + b"".join(tails)


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
        to_checksum_address(a) if t == "address" else hex0x(a) if isinstance(a, bytes) else a
        for t, a in zip(types, args, strict=False)
    ]


#: What each of the contract's errors means, Chinese first: the message beside the code.
ERROR_MESSAGES: dict[str, str] = {
    "InvalidSignature": "签名无效 / the signature is malformed or malleable",
    "RecordIdUsed": "记录编号已被使用 / the record id is already used",
    "RecordIdNotScoped": "记录编号须以签名者地址开头 / the record id must start with its "
    "signer's address",
    "ProjectIdNotScoped": "项目编号须以项目所有者地址开头 / a new project's id must start with "
    "its owner's address",
    "InvalidTitle": "项目标题须为 1..200 字节的 UTF-8 / the title must be 1..200 bytes of UTF-8",
    "InvalidBudget": "预算超出范围 / the budget must be at most 2^63-1 fen",
    "InvalidEndDate": "截止日期须为 YYYYMMDD 或 0 / the end date must be YYYYMMDD or 0",
    "MissingRole": "签名者没有所需角色 / the signer lacks the role this record needs",
    "WrongCounty": "签名者不是该县的县级机构 / the signer is not the office of that county",
    "InvalidCategory": "领域编号须为 1..10 / the category must be 1..10",
    "InvalidProjectKind": "项目类型须为 1（需求）或 2（供给）/ projectKind must be 1 or 2",
    "ProjectKindChanged": "项目后续版本不能改变类型 / a later version cannot change the kind",
    "ProjectCountyChanged": "项目后续版本不能改变县 / a later version cannot change the county",
    "WrongProjectVersion": "项目版本号须为上一版加一 / the version must be the last one plus one",
    "NotProjectOwner": "只有项目所有者可以发布新版本 / only the project's owner may anchor it",
    "UnknownNeed": "需求项目不存在 / no such need project is anchored",
    "UnknownCommitment": "承诺不存在 / no such commitment is recorded",
    "UnknownDelivery": "交付不存在 / no such delivery is recorded",
    "UnknownRecord": "记录不存在 / no such record is recorded",
    "NotCommitmentOwner": "只有作出承诺的组织可以交付 / only the committing organization "
    "may deliver",
    "OverDelivery": "交付超过承诺 / this would deliver more than was committed",
    "InvalidQuantity": "数量须为 1..2^63-1 / the quantity must be 1..2^63-1",
    "InvalidResourceKind": "资源类型须为 1 资金、2 物资或 3 服务 / resourceKind must be 1, 2 or 3",
    "OverConfirmation": "签收数量超过交付数量 / the receipt confirms more than was delivered",
    "AlreadyReceipted": "该交付已签收 / the delivery already has a receipt",
    "SelfReceipt": "不能签收自己的交付 / nobody confirms their own delivery",
    "BatchReceiptNeedsSingleCommitment": "只能签收单一承诺的批次 / a receipt may confirm "
    "only a single-commitment batch",
    "EmptyBatch": "批次没有承诺或明细行 / the batch has no commitment or no line",
    "BatchLengthMismatch": "批次的承诺与数量个数不同 / commitments and quantities differ in length",
    "TooManyCommitments": "批次承诺过多（至多 256）/ a batch serves at most 256 commitments",
    "CommitmentsNotSorted": "批次承诺编号须严格递增 / commitment ids must strictly increase",
    "InvalidCountyCode": "县级代码须为六位数字 / a county code has six digits",
    "InvalidOrgCode": "统一社会信用代码为空 / the credit code is empty",
    "RoleConflict": "一个地址只能担任县、组织、审计之一 / one address holds only one of "
    "county, organization and auditor",
    "NotRegistered": "该地址未注册此角色 / the account does not hold this role",
    "RoleManagedByRegistration": "角色只能通过注册函数授予或撤销 / roles are granted and "
    "revoked only by registration",
    "InvalidName": "名称须为 1..200 字节的 UTF-8 / the name must be 1..200 bytes of UTF-8",
    "InvalidOrgType": "组织类型须为 1 社会团体、2 民办非企业单位 或 3 基金会 / the organization "
    "type must be 1, 2 or 3",
    "InvalidAuthority": "登记管理机关须为 1..200 字节的 UTF-8 / the registering authority "
    "must be 1..200 bytes of UTF-8",
    "AccessControlUnauthorizedAccount": "无权执行此操作 / this account may not do this",
    "AccessControlBadConfirmation": "只能放弃自己的角色 / a key renounces only its own role",
    "AccessControlEnforcedDefaultAdminDelay": "管理员移交尚未到期 / the admin transfer's "
    "delay has not passed",
    "AccessControlInvalidDefaultAdmin": "不是待接任的管理员 / not the pending admin",
    "AccessControlEnforcedDefaultAdminRules": "管理员只能分两步移交 / the admin moves only "
    "in two steps",
    "InvalidPeriod": "日期须为先后有序的 YYYYMMDD / the dates must be YYYYMMDD, in order",
    "InvalidCategories": "重点领域须为 1..10 中的至少一个 / the focus must name categories 1..10",
    "UnknownPairing": "没有这一结对帮扶 / no pairing with this id is recorded",
    "PairingAlreadyAccepted": "该结对已被接受 / the pairing was already accepted",
    "PairingNotAccepted": "该结对尚未被县接受 / the county has not accepted the pairing",
    "NotPairingParty": "只有发起结对的组织可引用它 / only the pairing's organization may cite it",
    "PairingCountyMismatch": "承诺所在县与结对县不同 / the commitment is in another county than "
    "the pairing",
    "InvalidFundName": "基金名称须为 1..200 字节的 UTF-8 / the fund's name must be 1..200 bytes "
    "of UTF-8",
    "InvalidSponsorKind": "出资方须为 1 企业或 2 个人 / the sponsor must be 1 a company or 2 a "
    "person",
    "UnknownFund": "没有这一专项基金 / no fund with this id is recorded",
    "NotFundOwner": "只有设立基金的组织可使用它 / only the fund's organization may use it",
    "FundOverCommitted": "超出基金认捐额 / this would commit more of the fund than was pledged",
    "CommitmentAlreadySourced": "该承诺的来源已登记 / the commitment's source is already recorded",
    "EmptySource": "须注明结对或基金（及金额）/ name a pairing or a fund with an amount",
    "InvalidRate": "回访比例须在 0..10000 基点之间 / the follow-up rate must be 0..10000 basis "
    "points",
    "WrongFollowUpRate": "回访比例与省级设定不符 / the rate is not the one the province set",
    "SeedBlockNotFuture": "抽样种子区块须在未来 / the seed block must lie in the future",
    "UnknownBatch": "没有这一批量交付 / no delivery batch with this id is recorded",
    "FollowUpRoundExists": "该县已为此批次开展回访 / the county already opened this batch's "
    "follow-up",
    "UnknownFollowUpRound": "没有这一回访轮次 / no follow-up round with this id is recorded",
    "FollowUpRepeated": "该户已有回访结果 / this line already has a follow-up result",
    "LineOutOfRange": "行号超出批次范围 / the line index lies outside the batch",
    "InvalidOutcome": "结果代码无效或数量不符 / the outcome is unknown or its quantity does not "
    "fit it",
    "UnknownGrievance": "没有这一申诉 / no grievance with this id is registered",
    "GrievanceAlreadyAnswered": "该申诉已答复 / the grievance already has an answer",
    "UnknownKind": "此类记录不经 submitRecord 提交 / submitRecord does not take this kind",
    "MalformedFields": "记录字段编码不规范 / the fields are not the canonical encoding",
}


def revert_error(abi: list[dict[str, Any]], exc: Exception) -> RecordError:
    """A RecordError whose code is the contract's custom error name, e.g. `RecordIdUsed`,
    with its meaning (Chinese, then English) and its arguments."""
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None and exc.args:
        data = exc.args[-1] if isinstance(exc.args[-1], str | bytes) else None
    name, args = decode_revert(abi, data if isinstance(data, str | bytes) else None)
    meaning = ERROR_MESSAGES.get(name, "合约拒绝 / the contract refused it")
    message = f"{meaning}: {name}({', '.join(map(str, args))})"
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
            tx = fn.build_transaction({"from": admin.address, **fee_fields(self.w3)})
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.abi, exc) from None
        return send_transaction(self.w3, admin, dict(tx))

    def register_county(self, admin: LocalAccount, account: str, county: int, name: str) -> Any:
        """Binds a county office's key to `county`, with the office's name on chain."""
        return self._admin_tx(
            admin,
            self.contract.functions.registerCounty(
                Web3.to_checksum_address(account), county, require_name(name)
            ),
        )

    def register_organization(
        self,
        admin: LocalAccount,
        account: str,
        org_code: str,
        name: str,
        org_type: int | str | None = None,
        authority: str = "",
    ) -> Any:
        """Binds an organization's key to its credit code, with its name, its type (checked
        against the code: `resolve_org_type`) and its registering authority on chain."""
        code = org_code.encode("ascii").ljust(32, b"\0")
        kind = resolve_org_type(org_code, org_type)
        where = require_name(authority, "authority") if authority.strip() else ""
        return self._admin_tx(
            admin,
            self.contract.functions.registerOrganization(
                Web3.to_checksum_address(account), code, require_name(name), kind, where
            ),
        )

    def register_auditor(self, admin: LocalAccount, account: str, name: str) -> Any:
        """Registers an auditor's key, with the auditor's name on chain."""
        return self._admin_tx(
            admin,
            self.contract.functions.registerAuditor(
                Web3.to_checksum_address(account), require_name(name)
            ),
        )

    def deregister(self, admin: LocalAccount, role: str, account: str) -> Any:
        """Takes a COUNTY, ORG or AUDITOR key off the ledger (the only way to revoke one)."""
        fn = {
            "COUNTY": self.contract.functions.deregisterCounty,
            "ORG": self.contract.functions.deregisterOrganization,
            "AUDITOR": self.contract.functions.deregisterAuditor,
        }.get(role)
        if fn is None:
            raise RecordError(
                f"角色只能是 COUNTY、ORG 或 AUDITOR / role {role!r} is not COUNTY, ORG or AUDITOR",
                code="unknown_role",
            )
        return self._admin_tx(admin, fn(Web3.to_checksum_address(account)))

    revoke = deregister

    def set_follow_up_rate(self, admin: LocalAccount, rate_bps: int) -> Any:
        """Sets the share of a batch's lines a follow-up round samples (basis points)."""
        if not 0 <= rate_bps <= 10_000:
            raise RecordError(
                f"回访比例须在 0..10000 基点之间 / the follow-up rate must be 0..10000 basis "
                f"points, not {rate_bps}",
                code="InvalidRate",
            )
        return self._admin_tx(admin, self.contract.functions.setFollowUpRate(rate_bps))

    def follow_up_rate(self, block: BlockIdentifier = "latest") -> int:
        return int(self.contract.functions.followUpRate().call(block_identifier=block))

    def fund_totals(self, fund_id: bytes) -> tuple[int, int]:
        """A fund's pledged and committed amounts (fen), as the contract keeps them."""
        pledged, committed = self.contract.functions.fundTotals(fund_id).call()
        return int(pledged), int(committed)

    def begin_admin_transfer(self, admin: LocalAccount, new_admin: str) -> Any:
        """Step one of moving the admin role: `new_admin` may accept after the delay."""
        return self._admin_tx(
            admin,
            self.contract.functions.beginDefaultAdminTransfer(Web3.to_checksum_address(new_admin)),
        )

    def accept_admin_transfer(self, new_admin: LocalAccount) -> Any:
        """Step two: the pending admin takes the role once the delay has passed."""
        return self._admin_tx(new_admin, self.contract.functions.acceptDefaultAdminTransfer())

    def default_admin(self) -> str:
        return str(self.contract.functions.defaultAdmin().call())

    def pending_admin(self) -> tuple[str, int]:
        """The pending admin (or the zero address) and when it may accept (unix seconds)."""
        address, schedule = self.contract.functions.pendingDefaultAdmin().call()
        return str(address), int(schedule)

    def admin_delay(self) -> int:
        return int(self.contract.functions.defaultAdminDelay().call())

    # ---- records ----------------------------------------------------------------
    def submit_call(self, signed: SignedRecord) -> Any:
        """The contract function call that submits `signed` (not yet sent)."""
        if signed.kind in TYPED_SUBMIT:
            fn = getattr(self.contract.functions, TYPED_SUBMIT[signed.kind])
            return fn(signed.record.call_args(), signed.signature)
        return self.contract.functions.submitRecord(
            int(signed.kind), signed.record.abi_encoded(), signed.signature
        )

    def submit_calldata(self, signed: SignedRecord) -> bytes:
        """Calldata of the submit function for `signed` (`submit_calldata_of` its bytes;
        web3's contract encoder is ~50x slower and this is the relayer's hot path)."""
        return submit_calldata_of(signed.canonical_bytes())

    def multicall_data(self, calls: list[bytes]) -> bytes:
        """Calldata of `multicall(bytes[])` (OpenZeppelin Multicall) over submit calls."""
        return multicall_calldata(calls)

    def multicall_tx(self, sender: str, calls: list[bytes]) -> dict[str, Any]:
        return {"from": sender, "to": self.contract.address, "data": self.multicall_data(calls)}

    def check(self, signed: SignedRecord, *, block: BlockIdentifier = "latest") -> None:
        """Simulates the submission (eth_call); raises the contract's named error if refused."""
        try:
            self.submit_call(signed).call(block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.abi, exc) from None

    def check_calldata(self, data: bytes, *, block: BlockIdentifier = "latest") -> None:
        """Simulates raw calldata to the contract; raises its named error if refused."""
        try:
            self.w3.eth.call({"to": self.contract.address, "data": data}, block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise revert_error(self.abi, exc) from None

    def submit(self, signed: SignedRecord, payer: LocalAccount) -> Any:
        """Checks, then sends one record in its own transaction and waits for the receipt."""
        self.check(signed)
        tx = self.submit_call(signed).build_transaction(
            {"from": payer.address, **fee_fields(self.w3)}
        )
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

    def org_code_of(self, account: str) -> str:
        """The credit code bound to an organization's key, or "" when none is."""
        raw = bytes(self.contract.functions.orgCodeOf(Web3.to_checksum_address(account)).call())
        return raw.rstrip(b"\0").decode("ascii", "replace")

    def has_role(self, role: str, account: str, block: BlockIdentifier = "latest") -> bool:
        return bool(
            self.contract.functions.hasRole(
                self.role(role), Web3.to_checksum_address(account)
            ).call(block_identifier=block)
        )
