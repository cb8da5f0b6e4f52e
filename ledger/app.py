"""The ledger as one object for the API and the workers: settings, database, relayer and a
lazily attached chain (connection, deployment, contract).

This is the composition root: the rules that span layers are wired here, explicitly (the
relayer's pre-check from the library), so importing a package has no side effects.
"""

from __future__ import annotations

import threading
from functools import cached_property

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.config import Settings, get_settings
from ledger.core.eip712 import Domain
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, check_deployed, connect, dev_accounts
from ledger.evm.localchain import load_localchain
from ledger.library.matching import require_accepted_match
from ledger.relayer.outbox import Relayer
from ledger.relayer.rules_followup import FollowUpChain
from ledger.store.db import Database


class LedgerService:
    """Everything a request handler or worker needs, created once per process."""

    def __init__(self, settings: Settings | None = None, db: Database | None = None) -> None:
        self.settings = settings or get_settings()
        self.db = db or Database(settings=self.settings)
        # A Commitment must cite an accepted library match (the library's rule); a follow-up
        # round or result must agree with the chain (the rate, the seed block, the sample).
        self.follow_up_chain = FollowUpChain(self.ledger, self.settings.confirmations)
        self.relayer = Relayer(
            self.db, pre_checks=[require_accepted_match, self.follow_up_chain.check]
        )
        self._chain_lock = threading.Lock()
        self._ledger: LedgerContract | None = None

    @cached_property
    def deployment(self) -> Deployment:
        return Deployment.load(self.settings)

    @cached_property
    def domain(self) -> Domain:
        return self.deployment.domain

    def w3(self) -> Web3:
        return self.ledger().w3

    def ledger(self) -> LedgerContract:
        """The contract handle, connected on first use (raises ChainError if unreachable)."""
        with self._chain_lock:
            if self._ledger is None:
                w3 = connect(self.settings)
                check_deployed(w3, self.deployment, self.settings)
                self._ledger = LedgerContract(w3, self.deployment)
            return self._ledger

    def relayer_accounts(self) -> list[LocalAccount]:
        """Accounts that pay gas: BANGFU_RELAYER_KEY, or dev accounts #7-#9 on anvil."""
        if self.settings.relayer_key:
            keys = self.settings.relayer_key.get_secret_value()
            return [Account.from_key(k.strip()) for k in keys.split(",")]
        return dev_accounts(load_localchain(self.settings))[7:10]

    def close(self) -> None:
        self.relayer.close()
        self.db.dispose()
