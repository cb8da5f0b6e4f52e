"""Signing and broadcasting the relay worker's multicall transactions: the fees its gas
profile asks for, the next nonce, the signature, and a broadcast that shrugs off "already
known". The worker signs what it sends with them, and `replacing` what it re-signs."""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session
from web3 import Web3

from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import fee_fields
from ledger.evm.profiles import GasModel
from ledger.relayer.nonces import NonceManager

log = logging.getLogger("bangfu.relayer")


class MulticallSigning:
    """Signs and broadcasts multicalls of `ledger`'s submit calls (a part of `RelayWorker`,
    which sets these attributes)."""

    w3: Web3
    ledger: LedgerContract
    nonces: NonceManager
    chain_id: int
    gas_model: GasModel
    gas_margin: float

    def _fees(self) -> tuple[int, int]:
        """(max fee, tip) under EIP-1559; (gas price, 0) under legacy or zero-price gas."""
        fields = fee_fields(self.w3, self.gas_model)
        if "gasPrice" in fields:
            return fields["gasPrice"], 0
        return fields["maxFeePerGas"], fields["maxPriorityFeePerGas"]

    def _sign(
        self,
        session: Session,
        sender: LocalAccount,
        calls: list[bytes],
        gas: int,
        *,
        fees: tuple[int, int] | None = None,
        chain_nonce: int | None = None,
    ) -> tuple[bytes, str, int, int, int]:
        with self.nonces.lock(sender.address):
            nonce = self.nonces.next_nonce(session, sender.address, chain_nonce)
            self.nonces.advance(session, sender.address, nonce)
            max_fee, tip = fees or self._fees()
            raw, tx_hash = self._signed_tx(sender, calls, gas, nonce, (max_fee, tip))
            return raw, tx_hash, nonce, max_fee, tip

    def _signed_tx(
        self, sender: LocalAccount, calls: list[bytes], gas: int, nonce: int, fees: tuple[int, int]
    ) -> tuple[bytes, str]:
        """The raw bytes and hash of the multicall of `calls`, signed by `sender`."""
        tx = {
            "to": self.ledger.contract.address,
            "data": self.ledger.multicall_data(calls),
            "value": 0,
            "nonce": nonce,
            "gas": int(gas * self.gas_margin) + 50_000,
            "chainId": self.chain_id,
        }
        if self.gas_model == "eip1559":
            tx.update({"maxFeePerGas": fees[0], "maxPriorityFeePerGas": fees[1], "type": 2})
        else:  # a legacy transaction: the only kind FISCO BCOS and zero-price chains take
            tx["gasPrice"] = fees[0]
        signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
        return bytes(signed.raw_transaction), signed.hash.to_0x_hex()

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - "already known"/"nonce too low" are fine
            log.info("broadcast: %s", exc)
