"""Organization profiles over the API (机构简介): the public read and the write, signed here
with this client's ORG key (`ledger.workspace.profiles`). Only the next version number is
taken from the server; the fields, nonce and expiry are made here, and the fields are
checked before anything is signed, so a phone number in the contact role is never signed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ledger.core.errors import LedgerError
from ledger.library import auth, messages
from ledger.sdk.transport import ApiTransport
from ledger.workspace import profiles

__all__ = ["ProfilesApi"]


class ProfilesApi(ApiTransport):
    """`org_profile` (public) and `org_profile_update` (signed by the organization)."""

    def org_profile(self, org_code: str) -> dict[str, Any]:
        """The chain's name, type and authority and the signed profile (None before one)."""
        answer: dict[str, Any] = self.request(
            "GET", f"/api/v1/orgs/{quote(org_code.strip(), safe='')}/profile"
        )
        return answer

    def org_profile_update(
        self,
        org_code: str,
        *,
        description: str | None = None,
        contact_role: str | None = None,
        website: str | None = None,
        lifetime: int = messages.DEFAULT_LIFETIME,
    ) -> dict[str, Any]:
        """Signs and sends the next version of the profile; a field left None keeps its
        current value. Answers the stored profile."""
        if self.account is None:
            raise LedgerError(
                "a profile is signed by the organization's key; pass account= to BangfuClient",
                code="no_key",
            )
        code = org_code.strip().upper()
        path = f"/api/v1/orgs/{quote(code, safe='')}/profile"
        offered: dict[str, Any] = self.request("GET", path + "/to-sign")["message"]
        message = {
            "orgCode": code,
            "description": offered["description"] if description is None else description,
            "contactRole": offered["contactRole"] if contact_role is None else contact_role,
            "website": offered["website"] if website is None else website,
            "version": int(offered["version"]),
            "nonce": messages.new_nonce(),
            "expiry": auth.expiry(lifetime),
        }
        parsed = profiles.parse_profile(message)
        profiles.check_fields(parsed)
        signature = profiles.sign_profile(parsed, self.domain(), self.account.key)
        answer: dict[str, Any] = self.request(
            "PUT", path, json={"message": parsed, "signature": signature}
        )
        return answer
