"""Library writes over the API, each signed with this client's account
(`ledger.library.messages`): the SDK recomputes the content hash and human fields of whatever
the server hands it to sign, and refuses to sign when they differ (`to_sign_mismatch`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.core import codes
from ledger.core.errors import LedgerError, LibraryError
from ledger.core.fields import ProjectKind
from ledger.core.lines import new_id
from ledger.library import content as project_content
from ledger.library import messages, needlist, projects, sharing
from ledger.sdk.transport import ApiTransport

__all__ = ["LibraryApi", "need_list_refused"]

#: Errors of a refused need list that go into the exception's message (all are in `errors`).
SHOWN_ERRORS = 20


def need_list_refused(path: Path, errors: list[dict[str, Any]]) -> LibraryError:
    """The error of a need list with problems (nothing was created): `errors` holds every
    problem as `{row, column, code, message}`; the message lists the first as 第N行 列X: …"""
    lines = [needlist.error_line(e) for e in errors[:SHOWN_ERRORS]]
    more = len(errors) - len(lines)
    return LibraryError(
        f"需求表有 {len(errors)} 处错误，未发布任何需求 / the need list {path.name} has "
        f"{len(errors)} problem(s); nothing was published:\n"
        + "\n".join(lines)
        + (f"\n… 另有 {more} 处 / and {more} more" if more > 0 else ""),
        code=codes.NEED_LIST_REFUSED,
        errors=errors,
    )


class LibraryApi(ApiTransport):
    """The project libraries' writes and owner reads, signed locally."""

    def _library_key(self) -> LocalAccount:
        if self.account is None:
            raise LedgerError(
                "library writes are signed by their owner; pass account= to BangfuClient",
                code="no_key",
            )
        return self.account

    def library_read_header(self, project_id: str, lifetime: int = 300) -> dict[str, str]:
        """The `X-Bangfu-Read` header that lets this account read its own draft."""
        acct = self._library_key()
        message = {
            "projectId": project_id.lower(),
            "reader": acct.address,
            "expiry": int(time.time()) + lifetime,
        }
        sig = messages.sign(messages.LIBRARY_READ, message, self.domain(), acct.key)
        return {"X-Bangfu-Read": f"{acct.address}:{message['expiry']}:{sig}"}

    def library_project(self, project_id: str) -> dict[str, Any]:
        """One project (a draft only for its owner)."""
        headers = self.library_read_header(project_id) if self.account is not None else None
        answer: dict[str, Any] = self.request(
            "GET", f"/api/v1/library/projects/{project_id}", headers=headers
        )
        return answer

    def _project_message(
        self,
        kind: ProjectKind,
        project_id: str,
        content: Mapping[str, Any],
        *,
        action: str,
        status: str,
        version: int,
        org_code: str | None,
        lifetime: int,
    ) -> tuple[dict[str, Any], Any]:
        parsed = project_content.parse_content(kind, content)
        message = project_content.project_message(
            kind,
            project_id,
            parsed,
            action=action,
            status=status,
            version=version,
            org_code=org_code,
            nonce=messages.new_nonce(),
            expiry=int(time.time()) + lifetime,
        )
        return message, parsed

    def library_create(
        self,
        kind: str,
        content: Mapping[str, Any],
        *,
        org_code: str | None = None,
        lifetime: int = 600,
    ) -> dict[str, Any]:
        """A draft need (`kind="need"`, signed by the county) or supply project (`"supply"`,
        signed by the organization, whose credit code is `org_code`). Returns the draft and
        what to sign to publish it; the project id starts with this account's address."""
        acct = self._library_key()
        pk = ProjectKind.NEED if kind == "need" else ProjectKind.SUPPLY
        if pk == ProjectKind.SUPPLY and not org_code:
            raise LedgerError("a supply project needs org_code", code="missing_org")
        project_id = "0x" + new_id(acct.address).hex()
        message, _ = self._project_message(
            pk,
            project_id,
            content,
            action="draft",
            status="published",
            version=1,
            org_code=org_code if pk == ProjectKind.SUPPLY else None,
            lifetime=lifetime,
        )
        body = {
            "content": dict(content),
            "message": message,
            "signature": messages.sign(messages.LIBRARY_PROJECT, message, self.domain(), acct.key),
        }
        path = "/api/v1/library/needs" if pk == ProjectKind.NEED else "/api/v1/library/supply"
        answer: dict[str, Any] = self.request("POST", path, json=body)
        return answer

    def _sign_to_sign(self, to_sign: Mapping[str, Any]) -> tuple[str, str]:
        """Checks then signs the server's LibraryProject request and ProjectAnchor."""
        acct = self._library_key()
        request = to_sign["request_typed_data"]
        anchor = to_sign["typed_data"]
        msg = messages.parse(messages.LIBRARY_PROJECT, request["message"])
        doc = json.loads(str(to_sign["content_json"]))
        kind = ProjectKind.NEED if doc.get("kind") == "need" else ProjectKind.SUPPLY
        content = projects.content_from_json(kind, str(to_sign["content_json"]))
        expected = project_content.project_message(
            kind,
            str(doc["project_id"]),
            content,
            action=msg["action"],
            status=str(doc["status"]),
            version=int(to_sign["version"]),
            org_code=doc.get("org_code"),
            nonce=msg["nonce"],
            expiry=msg["expiry"],
        )
        digest = "0x" + hashlib.sha256(str(to_sign["content_json"]).encode("utf-8")).hexdigest()
        if (
            expected != msg
            or digest != msg["contentHash"]
            or anchor["message"].get("contentHash") != digest
            or request["domain"] != self.domain().as_dict()
            or anchor["domain"] != self.domain().as_dict()
        ):
            raise LedgerError(
                "服务器给出的待签数据与内容不符 / what the server asks to sign does not match "
                "the content it shows; not signing",
                code="to_sign_mismatch",
            )
        request_sig = messages.sign(messages.LIBRARY_PROJECT, msg, self.domain(), acct.key)
        anchor_sig = Account.sign_typed_data(acct.key, full_message=anchor).signature
        return request_sig, "0x" + bytes(anchor_sig).hex()

    def _signed_version(self, to_sign: Mapping[str, Any]) -> dict[str, Any]:
        """The signed part of a publish or transition body: the checked request and anchor."""
        request_sig, anchor_sig = self._sign_to_sign(to_sign)
        return {
            "message": to_sign["request_typed_data"]["message"],
            "signature": request_sig,
            "anchor_signature": anchor_sig,
        }

    def library_publish(self, project_id: str) -> dict[str, Any]:
        """Publishes this account's draft as version 1 (after checking what it signs)."""
        to_sign = self.request(
            "GET",
            f"/api/v1/library/projects/{project_id}/to-sign",
            headers=self.library_read_header(project_id),
        )
        answer: dict[str, Any] = self.request(
            "POST",
            f"/api/v1/library/projects/{project_id}/publish",
            json=self._signed_version(to_sign),
        )
        return answer

    def library_transition(self, project_id: str, status: str) -> dict[str, Any]:
        """A lifecycle move of a published project, as a new signed version."""
        to_sign = self.request(
            "GET", f"/api/v1/library/projects/{project_id}/to-sign", params={"status": status}
        )
        body = {"status": status, **self._signed_version(to_sign)}
        answer: dict[str, Any] = self.request(
            "POST", f"/api/v1/library/projects/{project_id}/transition", json=body
        )
        return answer

    def library_edit(
        self, project_id: str, content: Mapping[str, Any], *, lifetime: int = 600
    ) -> dict[str, Any]:
        """New content: a draft is edited in place; a published project gets a new version
        (the message and the ProjectAnchor are built and signed here, from `content`)."""
        acct = self._library_key()
        current = self.library_project(project_id)
        kind = ProjectKind.NEED if current["kind"] == "need" else ProjectKind.SUPPLY
        # the status the owner signed (the answer's `status` is moved on by the chain)
        anchored = str(current.get("anchored_status", current["status"]))
        draft = anchored == "draft"
        status = "published" if draft else anchored
        version = 1 if draft else int(current["version"]) + 1
        message, parsed = self._project_message(
            kind,
            project_id,
            content,
            action="draft" if draft else "edit",
            status=status,
            version=version,
            org_code=current.get("org_code"),
            lifetime=lifetime,
        )
        body: dict[str, Any] = {
            "content": dict(content),
            "message": message,
            "signature": messages.sign(messages.LIBRARY_PROJECT, message, self.domain(), acct.key),
        }
        if not draft:
            anchor = project_content.make_anchor(
                kind,
                project_id,
                parsed,
                status=status,
                version=version,
                org_code=current.get("org_code"),
            )
            body["anchor_signature"] = "0x" + anchor.sign(acct.key, self.domain()).signature.hex()
        answer: dict[str, Any] = self.request(
            "PUT", f"/api/v1/library/projects/{project_id}", json=body
        )
        return answer

    def library_push(self, project_id: str, *, limit: int = 5, lifetime: int = 600) -> list[str]:
        """Pushes this account's project to its best matches."""
        acct = self._library_key()
        current = self.library_project(project_id)
        message = {
            "projectId": project_id.lower(),
            "title": current["content"]["title"],
            "limit": limit,
            "nonce": messages.new_nonce(),
            "expiry": int(time.time()) + lifetime,
        }
        sig = messages.sign(messages.LIBRARY_PUSH, message, self.domain(), acct.key)
        answer: list[str] = self.request(
            "POST",
            f"/api/v1/library/projects/{project_id}/push",
            json={"message": message, "signature": sig},
        )
        return answer

    def library_propose(
        self,
        need_id: str,
        *,
        direction: str,
        supply_id: str | None = None,
        org_code: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """点单 (`direction="order"`, a county orders `supply_id`) or 接单 (`"take"`, an
        organization takes the need): signs the proposal after checking its fields."""
        acct = self._library_key()
        params: dict[str, Any] = {
            "direction": direction,
            "need_id": need_id,
            "proposer": acct.address,
            "note": note,
        }
        if supply_id:
            params["supply_id"] = supply_id
        if org_code:
            params["org_code"] = org_code
        prepared = self.request("GET", "/api/v1/library/matches/to-sign", params=params)
        msg = messages.parse(messages.LIBRARY_MATCH, prepared["message"])
        need = self.library_project(need_id)
        asked = messages.resources_of(need["content"]["resources"])
        if (
            msg["action"] != "propose"
            or msg["direction"] != direction
            or msg["needId"] != need_id.lower()
            or msg["needTitle"] != need["content"]["title"]
            or msg["resources"] != asked
            or msg["note"] != note
            or msg["matchId"][2:42] != acct.address[2:].lower()
            or (org_code is not None and msg["orgCode"] != org_code)
        ):
            raise LedgerError(
                "服务器给出的匹配与请求不符 / the match the server asks to sign is not the one "
                "asked for; not signing",
                code="to_sign_mismatch",
            )
        sig = messages.sign(messages.LIBRARY_MATCH, msg, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST", "/api/v1/library/matches", json={"message": msg, "signature": sig}
        )
        return answer

    def library_answer(self, match_id: str, action: str = "accept") -> dict[str, Any]:
        """The other side accepts (or declines) a proposal, signing the proposal's fields."""
        acct = self._library_key()
        detail = self.request("GET", f"/api/v1/library/matches/{match_id}")
        typed = detail.get(f"{action}_typed_data")
        if typed is None:
            raise LedgerError(f"match {match_id} is not open for an answer", code="match_closed")
        msg = messages.parse(messages.LIBRARY_MATCH, typed["message"])
        proposal = detail["match"]["proposal_message"]
        fixed = [k for k in msg if k not in ("action", "nonce", "expiry")]
        if msg["action"] != action or any(msg[k] != proposal[k] for k in fixed):
            raise LedgerError(
                "待签答复与提议不符 / the answer to sign differs from the proposal; not signing",
                code="to_sign_mismatch",
            )
        sig = messages.sign(messages.LIBRARY_MATCH, msg, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST",
            f"/api/v1/library/matches/{match_id}/respond",
            json={"message": msg, "signature": sig},
        )
        return answer

    def library_load_key_counties(
        self, codes: Sequence[int], *, source: str, version: int | None = None
    ) -> dict[str, Any]:
        """The admin's signed key-county list; `version` defaults to the loaded one + 1."""
        acct = self._library_key()
        if version is None:
            version = int(self.request("GET", "/api/v1/library/key-counties/version")["version"])
            version += 1
        message = {
            "version": version,
            "source": source,
            "counties": sorted(set(int(c) for c in codes)),
            "expiry": int(time.time()) + 600,
        }
        sig = messages.sign(messages.KEY_COUNTY_LIST, message, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "PUT", "/api/v1/library/key-counties", json={"message": message, "signature": sig}
        )
        return answer

    def library_import_bundle(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """The admin's signed import of a bundle (its exporter must be trusted by the server)."""
        acct = self._library_key()
        message = sharing.import_message(bundle, messages.new_nonce(), int(time.time()) + 600)
        sig = messages.sign(messages.LIBRARY_IMPORT, message, self.domain(), acct.key)
        answer: dict[str, Any] = self.request(
            "POST",
            "/api/v1/library/bundles/import",
            json={"bundle": dict(bundle), "message": message, "signature": sig},
        )
        return answer

    # ------------------------------------------------------------------ named actions

    def library_check_needs(self, path: Path | str, county: int | None = None) -> dict[str, Any]:
        """Checks a need list (CSV or XLSX) on the server, writing nothing: `{county, needs,
        rows, errors}`. Without `county`, the county is the one this client's key is the
        office of."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LedgerError(
                f"无法读取 / cannot read {path}: {exc.strerror}", code="file_not_found"
            ) from None
        form: dict[str, str] = {}
        if county is not None:
            form["county"] = str(county)
        elif self.account is not None:
            form["address"] = self.account.address
        answer: dict[str, Any] = self.request(
            "POST",
            "/api/v1/library/need-lists/check",
            files={"file": (path.name, data)},
            data=form,
        )
        return answer

    def library_import_needs(self, path: Path | str, county: int | None = None) -> list[str]:
        """Imports a need list: checks it on the server and refuses the whole list while any
        error stands (LibraryError need_list_refused, nothing created); else signs a draft
        of every need first, then publishes each. Returns the project ids, in the list's order.

        The drafts are made before any is published so that a need the server refuses
        leaves only private drafts behind; a publish that fails midway raises with the ids
        already `published` and the `drafts` left, so the import can be finished by hand."""
        self._library_key()
        checked = self.library_check_needs(path, county)
        if checked["errors"]:
            raise need_list_refused(Path(path), list(checked["errors"]))
        return self.library_publish_checked(checked)

    def library_publish_checked(self, checked: Mapping[str, Any]) -> list[str]:
        """Publishes the needs of a checked list (`library_check_needs`'s answer, with no
        errors): every draft signed first, then each published; the project ids in order."""
        if checked.get("errors"):
            raise need_list_refused(Path("list"), list(checked["errors"]))
        drafts = [str(self.library_create("need", need)["project_id"]) for need in checked["needs"]]
        published: list[str] = []
        for project_id in drafts:
            try:
                self.library_publish(project_id)
            except LedgerError as exc:
                exc.fields.update(
                    published=published, drafts=[d for d in drafts if d not in published]
                )
                exc.message += (
                    f" (已发布 published {len(published)} of {len(drafts)}; the rest are drafts)"
                )
                raise
            published.append(project_id)
        return published

    def library_order(self, need_id: str, supply_id: str, *, note: str = "") -> dict[str, Any]:
        """点单: this county orders the supply project `supply_id` for its need `need_id`."""
        return self.library_propose(need_id, direction="order", supply_id=supply_id, note=note)

    def library_take(self, need_id: str, org_code: str, *, note: str = "") -> dict[str, Any]:
        """接单: this organization (credit code `org_code`) takes the need `need_id`."""
        return self.library_propose(need_id, direction="take", org_code=org_code, note=note)

    def library_respond(self, match_id: str, accept: bool) -> dict[str, Any]:
        """The other side's answer to an order or a take: accept (True) or decline."""
        return self.library_answer(match_id, "accept" if accept else "decline")

    def library_inbox(self) -> dict[str, Any]:
        """This key's inbox (GET /api/v1/inbox), after signing in with a signed challenge.

        Sign-in and the inbox come with the workspace sessions; a server without them
        answers 404, raised as it is."""
        acct = self._library_key()
        challenge = self.request(
            "GET", "/api/v1/session/challenge", params={"address": acct.address}
        )
        typed = challenge["typed_data"]
        message = typed.get("message", {})
        if (
            typed.get("primaryType") != "SignIn"
            or str(message.get("address", "")).lower() != acct.address.lower()
            or typed.get("domain") != self.domain().as_dict()
        ):
            raise LedgerError(
                "登录挑战与本账户或账本不符 / the sign-in challenge is not for this key or "
                "this ledger; not signing",
                code="to_sign_mismatch",
            )
        signature = Account.sign_typed_data(acct.key, full_message=typed).signature
        self.request(
            "POST",
            "/api/v1/session",
            json={"message": challenge["message"], "signature": "0x" + bytes(signature).hex()},
        )
        answer: dict[str, Any] = self.request("GET", "/api/v1/inbox")
        return answer
